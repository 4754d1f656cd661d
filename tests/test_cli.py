"""``python -m unicancel``: what a user sees at the terminal.

The compare table fits the terminal and names the systems that are not
installed; bad arguments give argparse-style errors (exit status 2), never a
traceback; ``--version``; the demo names where its code is. The table is read
through the CLI and its JSON only, as a user sees it.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import pytest

import unicancel
from unicancel.__main__ import main

COLUMN_HEADERS = ("asyncio", "+uvloop", "trio", "anyio", "/asyncio", "/trio", "unicancel")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole catalogue on every installed system, saved as JSON."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["compare", "--format", "json"])
    path = tmp_path_factory.mktemp("cli") / "report.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's own errors, --version
        status = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return status, out, err


def _available(saved: Path) -> list[str]:
    report = json.loads(saved.read_text(encoding="utf-8"))
    return [s["name"] for s in report["systems"] if s["available"]]


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_compare_table_fits_the_terminal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    saved: Path,
    columns: int,
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    status, out, _ = _cli(capsys, "compare", "--from-json", str(saved))
    assert status == 0, out
    widest = max(len(line) for line in out.splitlines())
    assert widest <= columns, (widest, [li for li in out.splitlines() if len(li) > columns][:3])
    # Nothing is lost: every scenario has a row in every block, every system a column.
    report = json.loads(saved.read_text(encoding="utf-8"))
    blocks = out.count("\n  same trace as trio ")
    for entry in report["scenarios"]:
        rows = re.findall(rf"^[!⚠* ]{{2}}{re.escape(entry['name'])} ", out, re.M)
        assert len(rows) == blocks, entry["name"]
    headers = " ".join(re.findall(r"^ {20,}(\S.*)$", out, re.M)).split()
    assert len([h for h in headers if h in ("asyncio", "trio", "anyio", "unicancel")]) == len(
        [s for s in report["systems"] if s["available"]]
    )


def test_compare_wide_prints_every_column_side_by_side(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, saved: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = _cli(capsys, "compare", "--from-json", str(saved), "--wide")
    assert status == 0
    assert out.count("same trace as trio") == 1  # one block: one footer
    (header,) = [line for line in out.splitlines() if line.lstrip().startswith("asyncio ")]
    assert len(header.split()) == len(_available(saved))


def test_compare_names_missing_systems_and_how_to_install_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "anyio", None)  # import anyio now fails
    status, out, _ = _cli(capsys, "compare", "--scenario", "edge-vs-level", "--wide")
    assert status == 0, out
    assert (
        "note: anyio not installed, so no anyio-asyncio, anyio-trio columns: "
        "pip install 'unicancel[compare]'" in out
    )
    (row,) = [line for line in out.splitlines() if "edge-vs-level" in line and "of 3" in line]
    cells = re.split(r" {2,}", row.strip())[1:]
    assert "-" not in cells and "A 1 of 3" in cells
    assert len(cells) == 5  # 7 systems, the two anyio columns left out
    assert "/asyncio" in out  # unicancel/asyncio's header
    assert not re.search(r"^ +anyio\b", out, re.M)


def test_compare_footer_lines_up_with_narrow_columns(capsys: pytest.CaptureFixture[str]) -> None:
    # A short scenario name made the first column narrower than the footer's label.
    status, out, _ = _cli(
        capsys, "compare", "--scenario", "double-cancel", "--systems", "asyncio", "trio"
    )
    assert status == 0
    lines = out.splitlines()
    (row,) = [li for li in lines if re.match(r"[* ] double-cancel +A first", li)]
    (footer,) = [li for li in lines if li.startswith("  same trace as trio")]
    assert row.index("A first") == footer.index("0/1")
    assert row.index("B first") == footer.index("1/1")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_compare_rejects_a_timeout_that_is_not_positive(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    status, out, err = _cli(capsys, "compare", f"--timeout={value}", "--scenario", "double-cancel")
    assert status == 2
    assert out == ""
    assert "error: argument --timeout: " in err
    assert "seconds" in err and "Traceback" not in err


def test_compare_from_json_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.json": "cannot read {}: No such file or directory",
        tmp_path / "empty.json": "{} is not a compare report of schema 1: save one with",
        tmp_path / "list.json": "{} is not a compare report of schema 1",
        tmp_path / "text.json": "{} is not JSON (",
        tmp_path / "partial.json": "{} lacks versions, systems, scenarios, elapsed",
    }
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "text.json").write_text("not json")
    (tmp_path / "partial.json").write_text('{"schema": 1, "python": {}}')
    for path, message in cases.items():
        status, out, err = _cli(capsys, "compare", "--from-json", str(path))
        assert status == 2, path
        assert out == ""
        assert err.startswith("usage: python -m unicancel compare")
        assert f"python -m unicancel compare: error: --from-json: {message.format(path)}" in err


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(capsys)
    assert status == 2
    assert err.startswith("usage: python -m unicancel")
    assert "error: the following arguments are required: command" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "--version")
    assert status == 0
    assert out == f"unicancel {unicancel.__version__}\n"


def test_demo_names_a_file_that_exists(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _cli(capsys, "demo")
    assert status == 0
    (line,) = [li for li in out.splitlines() if li.startswith("Each column ran the same code")]
    found = re.fullmatch(r"Each column ran the same code: (unicancel\.[\w.]+) \((.+)\)\.", line)
    assert found, line
    module, path = found.groups()
    assert sys.modules[module].__file__ == path
    assert Path(path).is_file()
