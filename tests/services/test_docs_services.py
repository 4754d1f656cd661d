"""docs/services.md: its ```python block is a complete program (three services
on loopback and a client); run as a file, it prints the ```text block after it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..test_docs import _python_blocks

PAGE = Path(__file__).resolve().parent.parent.parent / "docs" / "services.md"


def test_three_service_example_prints_what_the_page_says(tmp_path: Path) -> None:
    for module in ("httpx", "uvicorn", "starlette"):
        pytest.importorskip(module, reason=f"{module} missing: needs the `test` extra")
    blocks = _python_blocks(PAGE)
    assert len(blocks) == 1, "docs/services.md has one program"
    block = blocks[0]
    assert block.output is not None, "the program must be followed by its ```text output"
    script = tmp_path / "services_example.py"
    script.write_text(block.body, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == block.output
