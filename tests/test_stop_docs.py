"""The stop-token examples in the docs run on asyncio and on trio and print
what the docs say: every ``# runnable`` block of docs/stop-tokens.md (after
its ``# runnable: header`` block), and the README's graceful-shutdown
program (the ```python block after ``<!-- stop-tokens -->``), which sends
itself a real SIGTERM and so runs in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .test_docs import BACKENDS, README, Block, _blocks, _python_blocks, _run_in_process

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "stop-tokens.md"
MARKER = "<!-- stop-tokens -->"

_GUIDE_BLOCKS = _python_blocks(GUIDE)
_HEADER = [block for block in _GUIDE_BLOCKS if block.marker == "# runnable: header"]
_RUNNABLE = [block for block in _GUIDE_BLOCKS if block.marker == "# runnable"]


def test_every_guide_block_is_run() -> None:
    markers = ("# runnable", "# runnable: header")
    unmarked = [b.line for b in _GUIDE_BLOCKS if b.marker not in markers]
    assert not unmarked, f"python blocks without a '# runnable' marker at lines {unmarked}"
    assert len(_HEADER) == 1
    assert len(_RUNNABLE) >= 4


@pytest.mark.parametrize("block", _RUNNABLE, ids=[f"line{b.line}" for b in _RUNNABLE])
def test_guide_example_runs_on_both_backends(block: Block) -> None:
    outputs = {backend: _run_in_process([*_HEADER, block], backend) for backend in BACKENDS}
    assert outputs["asyncio"] == outputs["trio"], outputs
    assert block.output is not None, f"line {block.line}: no ```text output block after it"
    assert outputs["asyncio"] == block.output


def _readme_example() -> Block:
    text = README.read_text(encoding="utf-8")
    marker = text.find(MARKER)
    assert marker >= 0, f"README.md has no {MARKER} marker"
    block = next(block for block in _blocks(text) if block.start > marker)
    assert block.lang == "python"
    assert block.output is not None, "the example must be followed by its ```text output"
    return block


@pytest.mark.skipif(sys.platform == "win32", reason="the example sends itself SIGTERM")
@pytest.mark.parametrize("backend", BACKENDS)
def test_readme_graceful_shutdown_example(tmp_path: Path, backend: str) -> None:
    block = _readme_example()
    script = tmp_path / "shutdown.py"
    script.write_text(block.body, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), backend],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == block.output
