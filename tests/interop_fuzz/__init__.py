"""The interop fuzzer: random nests of unicancel scopes and groups with
``asyncio.timeout``, ``wait_for``, ``asyncio.TaskGroup``, anyio scopes and
groups and outside ``Task.cancel()``, checked after every program (see
:mod:`.run`). A failure is *ours* unless the same program with native
stand-ins for the unicancel parts fails too (:func:`.fuzz.check`).

Bounded run in CI: tests/test_interop_fuzz.py. Deep mode:
``scripts/interop-fuzz.sh`` (``python -m tests.interop_fuzz``).
"""
