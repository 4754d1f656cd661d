#!/usr/bin/env bash
# The interop fuzzer's deep mode: N random programs mixing unicancel scopes
# and groups with asyncio.timeout, wait_for, asyncio.TaskGroup, anyio scopes
# and groups and outside Task.cancel(), on a virtual-clock asyncio loop (a
# quarter of them with the eager task factory on 3.12+). See
# tests/interop_fuzz/__init__.py; the bounded CI run is tests/test_interop_fuzz.py.
#
#   bash scripts/interop-fuzz.sh [--programs N] [--seed S] [--show K] [-v]
#
#   --programs N   programs to run (default 10000); program i uses seed S+i
#   --seed S       first seed (default 0): same seed, same programs, same verdicts
#   --show K       reports printed per failure kind that is unicancel's (default 3)
#   -v             print every program with its verdict
#
# Each failure is classified: "ours" unless the same program with native
# stand-ins for the unicancel parts (anyio scopes, asyncio.TaskGroup) fails
# the same check too, or it happened in a task that ran no unicancel part;
# then it is asyncio's or anyio's ("native"). The summary lists programs run,
# verdicts, and per failure kind the count and first seed; every "ours"
# report shows the program as pseudo-Python, the event log and the
# reproduction command. Exit status: 0 when no failure is ours, 1 otherwise.
#
# Python: $INTEROP_PYTHON, else the newest python3.N on PATH; it needs anyio
# and trio installed (pip install -e '.[test]').
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${INTEROP_PYTHON:-}
if [[ -z $PY ]]; then
    for minor in 15 14 13 12 11; do
        if command -v "python3.$minor" >/dev/null 2>&1; then
            PY=python3.$minor
            break
        fi
    done
fi
PY=${PY:-python3}
echo "Python: $("$PY" -VV)"
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m tests.interop_fuzz "$@"
