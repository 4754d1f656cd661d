"""Helpers for the tests that run external tools (build, twine, mypy,
basedpyright) on the newest Python only."""

from __future__ import annotations

import os
import sys

import pytest


def newest_python_only() -> None:
    """Skip unless this is the newest Python of the run.

    scripts/test.sh exports UNICANCEL_NEWEST_PYTHON=3.N (the newest Python it
    found); the slow tool checks then run once, there. Run by hand, without the
    variable, they run on whatever Python runs pytest.
    """
    newest = os.environ.get("UNICANCEL_NEWEST_PYTHON")
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if newest and newest != here:
        pytest.skip(f"tool checks run once, on the newest Python of the run ({newest}), not {here}")
