"""No tracked file keeps a merge's conflict markers (one was once committed in
CHANGELOG.md by a merge whose resolution step failed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(rb"^(<{7}|>{7}) ", re.MULTILINE)


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_has_conflict_markers() -> None:
    files = _tracked()
    assert files
    bad = [str(p.relative_to(ROOT)) for p in files if p.is_file() and MARKER.search(p.read_bytes())]
    assert bad == [], f"conflict markers left in: {bad}"
