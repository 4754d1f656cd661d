"""Differential testing: random cancellation programs on native trio (the
oracle) and on unicancel over trio, asyncio and asyncio+uvloop.

See docs/differential-testing.md. Entry points: :func:`.generate.programs`
(the hypothesis strategy), :func:`.check.check` (run one program everywhere
and compare), ``python -m tests.differential`` (the deep check).
"""
