"""The type checkers reason about unicancel as about asyncio and trio.

mypy --strict and basedpyright (pyright, from the package index with its own
Node) check tests/typing/user_code.py, which must pass cleanly, and a few
snippets that must fail with a given message: a checker that stopped
reporting them would hide real bugs (a `return` inside `move_on_after` does
not always return). Newest Python only (tests/_tools.py): each checker run
takes seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import unicancel

from ._tools import newest_python_only

USER_CODE = Path(__file__).parent / "typing" / "user_code.py"
SRC = Path(unicancel.__file__).parent.parent

# Code that must NOT type-check, with the message each checker must give.
MUST_FAIL = {
    # move_on_after swallows its deadline: the block may end without returning.
    "move_on_after_needs_return": (
        "import unicancel\n\n\ndef f() -> int:\n    with unicancel.move_on_after(1):\n"
        "        return 1\n",
        "Missing return statement",
        "must return value on all code paths",
    ),
    # So does a bare CancelScope (cancel() swallows).
    "cancel_scope_needs_return": (
        "import unicancel\n\n\ndef f() -> int:\n    with unicancel.CancelScope():\n"
        "        return 1\n",
        "Missing return statement",
        "must return value on all code paths",
    ),
}


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    newest_python_only()
    pytest.importorskip("mypy", reason="mypy missing: needs the `test` extra")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unreachable", "--no-incremental",
         "--config-file", "", "--python-version", "3.11", str(path)],
        capture_output=True, text=True, timeout=300, cwd=path.parent,
        env={"PATH": "", "MYPYPATH": str(SRC)},
    )  # fmt: skip


def _pyright(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    newest_python_only()
    exe = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("basedpyright missing: needs the `test` extra (pip install basedpyright)")
    config = tmp_path / "pyrightconfig.json"
    settings = {"typeCheckingMode": "strict", "pythonVersion": "3.11", "extraPaths": [str(SRC)]}
    config.write_text(json.dumps(settings), encoding="utf-8")
    return subprocess.run(
        [exe, "--pythonpath", sys.executable, "--project", str(config), str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_user_code_passes_mypy_strict() -> None:
    result = _mypy(USER_CODE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_user_code_passes_pyright_strict(tmp_path: Path) -> None:
    result = _pyright(USER_CODE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout


@pytest.mark.parametrize("name", sorted(MUST_FAIL))
def test_mypy_still_reports(name: str, tmp_path: Path) -> None:
    source, mypy_message, _ = MUST_FAIL[name]
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    result = _mypy(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert mypy_message in result.stdout


@pytest.mark.parametrize("name", sorted(MUST_FAIL))
def test_pyright_still_reports(name: str, tmp_path: Path) -> None:
    source, _, pyright_message = MUST_FAIL[name]
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    result = _pyright(path, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert pyright_message in result.stdout


def test_fail_scopes_are_plain_cancel_scopes_at_run_time() -> None:
    # _TimeoutScope exists for the checkers only; what users get is a CancelScope,
    # which cannot be subclassed (it was @final, which the typing-only subclass needs lifted).
    assert type(unicancel.fail_after(1)) is unicancel.CancelScope
    assert type(unicancel.fail_at(1)) is unicancel.CancelScope
    with pytest.raises(TypeError, match="CancelScope cannot be subclassed"):
        type("Mine", (unicancel.CancelScope,), {})
