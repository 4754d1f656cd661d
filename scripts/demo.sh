#!/usr/bin/env bash
# The main job. First the cross-backend demo: the same cancel-scope code on
# asyncio, uvloop and trio, traces printed side by side. Then the comparison:
# `python -m unicancel compare` runs every scenario of the catalogue on plain
# asyncio, uvloop, trio, anyio (both backends) and unicancel (both backends)
# and prints the scenario x system table. Exit 1 if the demo's columns differ
# or unicancel's two columns disagree on a scenario (both run to the end),
# except the documented ones, where the behaviour belongs to a native primitive
# unicancel does not wrap (flagged with a warning sign in the table).
#
#   bash scripts/demo.sh
#
# Uses the newest Python >= 3.11 found (pyenv versions, then python3.N /
# python3 on PATH) and a venv at .venv/demo, created on first use and
# reinstalled (-e '.[compare]': trio, anyio, uvloop) only when the
# install-relevant parts of pyproject.toml or the interpreter changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
MIN_MINOR=11
VENV=$ROOT/.venv/demo
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The parts of pyproject.toml that affect the installed environment (not
# tool settings such as [tool.ruff]): a change there means reinstall.
install_config() {
    awk '/^\[/ { keep = ($0 ~ /^\[(build-system|project|tool\.setuptools)[].]/) } keep' pyproject.toml
}

best_minor=-1 best=
consider() {  # consider <candidate>: keep it if it is the newest Python 3 so far
    local out minor exe
    out=$("$1" -c 'import sys
print(sys.version_info[1] if sys.version_info[0] == 3 else -1)
print(getattr(sys, "_base_executable", "") or sys.executable)' </dev/null 2>/dev/null) || return 0
    minor=${out%%$'\n'*} exe=${out#*$'\n'}
    [[ $minor =~ ^[0-9]+$ ]] || return 0
    case "$exe" in "$ROOT"/.venv/*) return 0 ;; esac
    if ((minor >= MIN_MINOR && minor > best_minor)); then best_minor=$minor best=$exe; fi
}
for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3.*; do
    [[ $cand =~ /python3\.[0-9]+$ && -x $cand ]] && consider "$cand"
done
for minor in $(seq "$MIN_MINOR" 30) ""; do
    cand=$(command -v "python3${minor:+.$minor}" 2>/dev/null) && consider "$cand"
done
if [[ -z $best ]]; then
    echo "demo.sh: no Python >= 3.$MIN_MINOR found" >&2
    exit 1
fi

mkdir -p "$ROOT/.venv"
exec {lock_fd}>"$ROOT/.venv/.demo.lock"
flock "$lock_fd" 2>/dev/null || true
extras="compare"  # trio, anyio and (where it builds) uvloop
packages=(-e ".[$extras]")
want=$({ install_config; echo "${packages[*]}"; "$best" -VV; } | sha256sum | cut -c1-64)
stamp=$VENV/.unicancel-stamp
if ! [[ -f $stamp && $(<"$stamp") == "$want" ]] || ! "$VENV/bin/python" -c \
    'import sys, unicancel; sys.exit(not unicancel.__file__.startswith(sys.argv[1]))' \
    "$ROOT/src/" </dev/null 2>/dev/null; then
    if ! "$VENV/bin/python" -c '' </dev/null 2>/dev/null \
        || [[ $("$VENV/bin/python" -VV 2>&1) != "$("$best" -VV 2>&1)" ]]; then
        echo "creating $VENV with $best" >&2
        "$best" -m venv --clear "$VENV" </dev/null
    fi
    echo "installing ${packages[*]} into $VENV" >&2
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install -q "${packages[@]}" </dev/null 2>&1 \
        | { grep -vE "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }
    echo "$want" >"$stamp"
fi
exec {lock_fd}>&-

status=0
"$VENV/bin/python" -m unicancel demo </dev/null || status=1
echo
"$VENV/bin/python" -m unicancel compare </dev/null || status=1
exit $status
