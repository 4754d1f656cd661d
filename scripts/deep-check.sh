#!/usr/bin/env bash
# The differential deep check: 100,000 random cancellation programs on native
# trio (the oracle) and on unicancel over trio, asyncio and asyncio+uvloop,
# plus the checks that need no oracle (cyclic garbage and global-table entries
# left behind, outside cancels on asyncio). See docs/differential-testing.md.
#
#   bash scripts/deep-check.sh [options]        e.g. bash scripts/deep-check.sh --programs 20000
#
# Options are passed to `python -m tests.differential`:
#   --programs N   programs to generate (default 100000, or $DIFFERENTIAL_PROGRAMS)
#   --seed S       base seed (default 0, or $DIFFERENTIAL_SEED); same seed, same programs
#   --jobs J       worker processes (default: number of CPUs)
#   --chunk C      programs per hypothesis run (default 5000)
#   --no-shrink    only count divergences, do not shrink them
#   --json FILE    also write the summary as JSON
#
# A venv .venv/deep-py3.N is created or reused for the newest Python >= 3.11
# found (or $DEEP_PYTHON), and `pip install -e '.[test]'` is run into it when
# pyproject.toml or the interpreter changed. The summary lists programs run,
# how many agreed, diverged or were excluded (and by which rule), and one line
# per divergence signature; every signature is then shrunk to a minimal
# program, printed with its traces and as ready-to-paste regression-test
# source (tests/test_differential_regressions.py). Exit status: 0 when no
# program diverged, 1 otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {
    local cand minor best="" best_minor=0
    if [[ -n ${DEEP_PYTHON:-} ]]; then
        echo "$DEEP_PYTHON"
        return
    fi
    for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3.* $(compgen -c python3. | sort -u) python3; do
        [[ $cand == */* ]] || cand=$(command -v "$cand" 2>/dev/null) || continue
        [[ -x $cand && $cand =~ python3(\.[0-9]+)?$ ]] || continue
        case "$cand" in "$ROOT"/.venv/*) continue ;; esac
        minor=$("$cand" -c 'import sys; print(sys.version_info[1] if sys.version_info[0] == 3 else 0)' \
            </dev/null 2>/dev/null) || continue
        if ((minor >= 11 && minor > best_minor)); then
            best=$cand best_minor=$minor
        fi
    done
    [[ -n $best ]] || { echo "deep-check.sh: no Python >= 3.11 found (set DEEP_PYTHON)" >&2; exit 1; }
    echo "$best"
}

PY=$(find_python)
MINOR=$("$PY" -c 'import sys; print(sys.version_info[1])')
VENV=$ROOT/.venv/deep-py3.$MINOR
STAMP=$VENV/.unicancel-stamp
want=$({ awk '/^\[/ { keep = ($0 ~ /^\[(build-system|project|tool\.setuptools)[].]/) } keep' pyproject.toml
    "$PY" -VV; } | sha256sum | cut -c1-64)
if [[ ! -f $STAMP || $(<"$STAMP") != "$want" ]] || ! "$VENV/bin/python" -c 'import unicancel' 2>/dev/null; then
    echo "deep-check.sh: preparing $VENV ($("$PY" -V))" >&2
    [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
    # (pip on some machines warns about every unusable index location; hide that)
    "$VENV/bin/python" -m pip install -q -e ".[test]" 2>&1 \
        | { grep -vE "^WARNING: Location '.*' is ignored" || true; }
    [[ ${PIPESTATUS[0]} == 0 ]] || { echo "deep-check.sh: pip install failed" >&2; exit 1; }
    echo "$want" >"$STAMP"
fi

echo "Python: $("$VENV/bin/python" -VV)"
exec "$VENV/bin/python" -m tests.differential "$@"
