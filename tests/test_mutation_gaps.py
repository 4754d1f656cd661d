"""Behaviour that mutation testing (scripts/mutate.py, issue 17) found unpinned.

Each test here was seen failing on the mutant it kills (docs/mutation-testing.md).
"""

from __future__ import annotations
