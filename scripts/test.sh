#!/usr/bin/env bash
# Run the whole test suite on every Python >= 3.11 this machine has.
#
#   bash scripts/test.sh [pytest args...]     e.g. bash scripts/test.sh -x -k deadline
#
# For each interpreter found (pyenv versions, then python3.N / python3 on PATH,
# after ../shared/pythons/install.sh, where present, has put the CPython 3.14/3.15
# builds shipped beside the project on PATH; one per minor version), a venv
# .venv/py3.N is created or reused and `pip install -e '.[test]'` is run into it
# (`.[test,docs]` for the newest Python, which also builds the docs site)
# only when the install-relevant parts of pyproject.toml (or the interpreter)
# changed since the last install. Then `python -m pytest -q` runs with the given
# args. With the newest Python, `ruff format --check` and `ruff check` and `lint-imports`
# (the layering contracts) run once and `python -m mypy --python-version 3.N` once
# for every Python found (config for all three in pyproject.toml).
# A summary is printed at the end; the exit status is 1 if anything failed
# (pytest exit 5, "no tests collected", counts as a failure).
#
# Environment knobs:
#   TEST_PYTHONS="3.12 3.13"   only these minor versions
#   SKIP_LINT=1                skip ruff, mypy and lint-imports
#   UNICANCEL_NO_SHARED_PYTHONS=1  do not run ../shared/pythons/install.sh
#   TEST_JOBS=1                one Python at a time, output on the terminal
#                              (default: as many as there are cores, at most 2)
# Full logs of the last run are kept in .venv/test-logs/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
MIN_MINOR=11
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

now() { local t=${EPOCHREALTIME:-$SECONDS}; printf '%s' "${t/,/.}"; }  # any locale
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
strip_ansi() { sed -E $'s/\x1b\\[[0-9;]*[A-Za-z]//g'; }
# closing_line <log> [regex [fallback]]: the last line matching regex (else
# fallback, else the last non-blank line), without colours and "===" padding.
closing_line() {
    strip_ansi <"$1" | awk -v re="${2:-.}" -v fb="${3:-}" 'NF { last = $0 } NF && $0 ~ re { hit = $0 }
        END { print (hit != "" ? hit : fb != "" ? fb : last) }' | sed -E 's/^=+ //; s/ =+$//'
}
# pip on some machines warns about every unusable index location; hide that.
quiet_pip() { grep -vE "^WARNING: Location '.*' is ignored: it is neither a file nor a directory" || true; }
if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
heading() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
# junit_counts <python> <junit xml>: "N passed, M failed" (errors count as
# failures), independent of pytest's verbosity; fails if there is no report.
junit_counts() {
    "$1" - "$2" <<'PY'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    sys.exit(1)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "errors", "failures", "skipped")}
bad = n["errors"] + n["failures"]
print(f"{n['tests'] - bad - n['skipped']} passed, {bad} failed")
PY
}
LINT_LAST='^(Found [0-9]+ error|All checks passed|Success:|Contracts: |[0-9]+ files? would be reformatted)'  # ruff, mypy, lint-imports
# pytest's closing line ("2 failed, 10 passed in 1.2s") or its error message.
PYTEST_LAST=' in [0-9.]+s( \([0-9:]+\))?( =+)?$|: error: |^(INTERNAL)?ERROR:'

# --- find interpreters ------------------------------------------------------
declare -A PY_BY_MINOR=()
add_python() {  # add_python <candidate>: record it if it runs and is >= 3.MIN_MINOR
    local out minor exe
    out=$("$1" -c 'import sys
print(sys.version_info[0] * 1000 + sys.version_info[1])
print(getattr(sys, "_base_executable", "") or sys.executable)' </dev/null 2>/dev/null) || return 0
    minor=${out%%$'\n'*} exe=${out#*$'\n'}
    [[ $minor =~ ^[0-9]+$ ]] || return 0
    ((minor >= 3000 + MIN_MINOR && minor < 4000)) || return 0
    minor=$((minor - 3000))
    case "$exe" in "$ROOT"/.venv/*) return 0 ;; esac  # never build a venv from our own venvs
    [[ -n ${PY_BY_MINOR[$minor]:-} ]] || PY_BY_MINOR[$minor]=$exe
}
# CPython builds shipped beside the project (3.14, 3.15): install.sh unpacks them
# (root only) and prints their bin folders; it prints nothing where it cannot.
if [[ -f $ROOT/../shared/pythons/install.sh && ${UNICANCEL_NO_SHARED_PYTHONS:-0} != 1 ]]; then
    while IFS= read -r bin; do
        [[ -d $bin ]] && PATH=$bin:$PATH
    done < <(bash "$ROOT/../shared/pythons/install.sh" </dev/null 2>/dev/null || true)
fi
for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3.*; do
    [[ $cand =~ /python3\.[0-9]+$ && -x $cand ]] && add_python "$cand"
done
for minor in $(seq "$MIN_MINOR" 30) ""; do
    cand=$(command -v "python3${minor:+.$minor}" 2>/dev/null) && add_python "$cand"
done
mapfile -t MINORS < <(printf '%s\n' "${!PY_BY_MINOR[@]}" | sort -n)
if [[ -n ${TEST_PYTHONS:-} ]]; then
    wanted=" ${TEST_PYTHONS//3./} "
    mapfile -t MINORS < <(for m in "${MINORS[@]}"; do [[ $wanted == *" $m "* ]] && echo "$m"; done)
fi
if ((${#MINORS[@]} == 0)); then
    echo "test.sh: no Python >= 3.$MIN_MINOR found${TEST_PYTHONS:+ matching TEST_PYTHONS=$TEST_PYTHONS}" >&2
    exit 1
fi
echo "Pythons:$(for m in "${MINORS[@]}"; do printf '  3.%s (%s)' "$m" "${PY_BY_MINOR[$m]}"; done)"

# --- venvs ------------------------------------------------------------------
# The parts of pyproject.toml that affect the installed environment (not
# tool settings such as [tool.ruff]): a change there means reinstall.
install_config() {
    awk '/^\[/ { keep = ($0 ~ /^\[(build-system|project|tool\.setuptools)[].]/) } keep' pyproject.toml
}
# ensure_venv <base python> <venv dir> <extras>: create the venv if missing or
# broken; (re)install the project when the stamp (hash of install_config, the
# extras and the interpreter) changed or the editable install points elsewhere.
ensure_venv() {
    local py=$1 venv=$2 extras=$3 want stamp lock_fd
    mkdir -p "$ROOT/.venv"
    exec {lock_fd}>"$ROOT/.venv/.$(basename "$venv").lock"
    flock "$lock_fd" 2>/dev/null || true  # concurrent runs: one installer at a time
    want=$({ install_config; echo "$extras"; "$py" -VV; } | sha256sum | cut -c1-64)
    stamp=$venv/.unicancel-stamp
    if [[ -f $stamp && $(<"$stamp") == "$want" ]] && "$venv/bin/python" -c \
        'import sys, unicancel; sys.exit(not unicancel.__file__.startswith(sys.argv[1]))' \
        "$ROOT/src/" </dev/null 2>/dev/null; then
        exec {lock_fd}>&-
        return 0
    fi
    if ! "$venv/bin/python" -c '' </dev/null 2>/dev/null \
        || [[ $("$venv/bin/python" -VV 2>&1) != "$("$py" -VV 2>&1)" ]]; then
        echo "creating $venv" >&2
        "$py" -m venv --clear "$venv" </dev/null || { exec {lock_fd}>&-; return 1; }
    fi
    echo "installing -e '.[$extras]' into $venv" >&2
    rm -f "$stamp"
    if "$venv/bin/python" -m pip install -q -e ".[$extras]" </dev/null 2>&1 | quiet_pip; then
        echo "$want" >"$stamp"
        exec {lock_fd}>&-
        return 0
    fi
    exec {lock_fd}>&-
    return 1
}

# --- run --------------------------------------------------------------------
LOGS=$ROOT/.venv/test-logs
mkdir -p "$LOGS"
rm -f "$LOGS"/py3.*.summary "$LOGS"/py3.*.status
PYTEST_OPTS=(-q --color=no)
[[ -t 1 ]] && PYTEST_OPTS=(-q --color=yes)
# No .pytest_cache, unless an option needs it (--lf, --ff, --sw, --nf, ...).
[[ " $* " =~ \ --(lf|ff|nf|sw|last-failed|failed-first|new-first|stepwise|cache-) ]] \
    || PYTEST_OPTS+=(-p no:cacheprovider)
T_ALL=$(now)
# tests/_tools.py: the slow tool checks (packaging, type checkers) run on this one only.
export UNICANCEL_NEWEST_PYTHON=3.${MINORS[-1]}
FAILED=0
declare -a SUMMARY=()

# --- docs site (tests/test_docs_site.py) -------------------------------------
# The newest Python's venv also gets the `docs` extra (mkdocs, mkdocstrings,
# selenium): the strict site build and the browser test run once, there, and
# skip elsewhere. Chromium comes from Debian, as root only; if apt fails the
# browser test skips and says why.
extras_for() { if [[ $1 == "${MINORS[-1]}" ]]; then echo test,docs; else echo test; fi; }
if [[ $(id -u) == 0 ]] && ! command -v chromium >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1; then
    heading "apt-get install chromium chromium-driver (for tests/test_docs_site.py)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium chromium-driver; } </dev/null >"$LOGS/apt-chromium.log" 2>&1 \
        || echo "apt-get failed (see $LOGS/apt-chromium.log): the browser test will skip"
fi

# Venvs first, one at a time (concurrent editable installs of one checkout
# would race on its build files); then pytest on up to TEST_JOBS Pythons at
# once, slowest (newest, which also runs the docs and packaging checks) first.
declare -A READY=() T0=()
for m in "${MINORS[@]}"; do
    ver=3.$m venv=$ROOT/.venv/py3.$m log=$LOGS/py3.$m.log T0[$m]=$(now)
    heading "Python $ver: $venv"
    : >"$log"
    if ensure_venv "${PY_BY_MINOR[$m]}" "$venv" "$(extras_for "$m")" 2>&1 | tee -a "$log"; then
        READY[$m]=1
    else
        SUMMARY+=("$(printf '%-12s %-7s %-30s %7s  %s' "python $ver" FAILED "venv/install failed" \
            "$(elapsed "${T0[$m]}")" "see $log")")
        FAILED=1
    fi
done

# run_pytest <minor> <show>: pytest on one Python; its summary line goes to
# $LOGS/py3.N.summary, its output to the log (and the terminal if <show>).
run_pytest() {
    local m=$1 show=$2 ver=3.$1 venv=$ROOT/.venv/py3.$1 log=$LOGS/py3.$1.log rc=0 t0
    local xml=$LOGS/py3.$1.junit.xml last counts status
    t0=$(now)
    rm -f "$xml"
    if [[ $show == 1 ]]; then
        "$venv/bin/python" -m pytest "${PYTEST_OPTS[@]}" --junitxml="$xml" "${@:3}" </dev/null 2>&1 \
            | tee -a "$log" || rc=${PIPESTATUS[0]}
    else
        "$venv/bin/python" -m pytest "${PYTEST_OPTS[@]}" --junitxml="$xml" "${@:3}" </dev/null \
            >>"$log" 2>&1 || rc=$?
    fi
    last=$(closing_line "$log" "$PYTEST_LAST" "(no closing line: see ${log#"$ROOT"/})")
    counts=$(junit_counts "$venv/bin/python" "$xml" 2>/dev/null) || counts="no results"
    case $rc in
        0) status=ok ;;
        1) status=FAILED ;;
        5) status=FAILED counts="no tests collected (exit 5)" ;;
        *) status=FAILED counts+=" (pytest exit $rc)" ;;
    esac
    printf '%-12s %-7s %-30s %7s  pytest: %s\n' "python $ver" "$status" "$counts" \
        "$(elapsed "$t0")" "$last" >"$LOGS/py3.$m.summary"
    echo "$status" >"$LOGS/py3.$m.status"
}
JOBS=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
((JOBS >= 1)) || JOBS=1
((JOBS <= 2)) || JOBS=2  # each run starts servers and subprocesses of its own
mapfile -t TODO < <(for m in "${MINORS[@]}"; do [[ -n ${READY[$m]:-} ]] && echo "$m"; done | sort -rn)
if ((JOBS == 1 || ${#TODO[@]} <= 1)); then
    for m in "${TODO[@]}"; do
        heading "Python 3.$m: pytest"
        run_pytest "$m" 1 "$@"
    done
else
    heading "pytest on ${#TODO[@]} Pythons, $JOBS at a time (output in ${LOGS#"$ROOT"/}/py3.N.log)"
    declare -A RUNNING=()  # pid -> minor
    reap() {  # report the runs that have ended
        local pid
        for pid in "${!RUNNING[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "  done: $(cat "$LOGS/py3.${RUNNING[$pid]}.summary" 2>/dev/null)"
                unset "RUNNING[$pid]"
            fi
        done
    }
    for m in "${TODO[@]}"; do
        while ((${#RUNNING[@]} >= JOBS)); do
            wait -n 2>/dev/null || true
            reap
        done
        echo "  start: Python 3.$m"
        run_pytest "$m" 0 "$@" &
        RUNNING[$!]=$m
    done
    wait || true
    reap
fi
for m in "${TODO[@]}"; do
    if [[ $(cat "$LOGS/py3.$m.status" 2>/dev/null) != ok ]]; then
        FAILED=1
        if ((JOBS > 1 && ${#TODO[@]} > 1)); then  # show a failed run's output where CI shows it
            heading "Python 3.$m: pytest output (failed; whole log in ${LOGS#"$ROOT"/}/py3.$m.log)"
            strip_ansi <"$LOGS/py3.$m.log" | tail -n 300
        fi
    fi
done
for m in "${MINORS[@]}"; do
    [[ -f $LOGS/py3.$m.summary ]] && SUMMARY+=("$(<"$LOGS/py3.$m.summary")")
done

if [[ ${SKIP_LINT:-0} != 1 ]]; then
    m=${MINORS[-1]} venv=$ROOT/.venv/py3.${MINORS[-1]}
    # mypy once per Python found, so version-specific stdlib stubs are all checked.
    for tool in ruff lint-imports $(for mm in "${MINORS[@]}"; do printf 'mypy-3.%s ' "$mm"; done); do
        log=$LOGS/$tool.log t0=$(now)
        heading "$tool (Python 3.$m)"
        if [[ ! -f $venv/.unicancel-stamp ]]; then
            SUMMARY+=("$(printf '%-12s %-7s %-30s' "$tool" FAILED "no usable venv for Python 3.$m")")
            FAILED=1
            continue
        fi
        rc=0
        if [[ $tool == ruff ]]; then
            # The formatter first: a file it would change fails the step too.
            { "$venv/bin/python" -m ruff format --check src tests benchmarks scripts &&
                "$venv/bin/python" -m ruff check --output-format=concise src tests benchmarks; } \
                </dev/null 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
        elif [[ $tool == lint-imports ]]; then
            "$venv/bin/lint-imports" --no-cache </dev/null 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
        else
            "$venv/bin/python" -m mypy --python-version "${tool#mypy-}" </dev/null 2>&1 \
                | tee "$log" || rc=${PIPESTATUS[0]}
        fi
        status=ok
        ((rc == 0)) || { status=FAILED; FAILED=1; }
        SUMMARY+=("$(printf '%-12s %-7s %-30s %7s  %s' "$tool" "$status" "exit $rc" \
            "$(elapsed "$t0")" "$(closing_line "$log" "$LINT_LAST")")")
    done
fi

heading "Summary (logs in ${LOGS#"$ROOT"/}/)"
printf '%s\n' "${SUMMARY[@]}"
if ((FAILED)); then
    echo "RESULT: FAILED ($(elapsed "$T_ALL") total)"
    exit 1
fi
echo "RESULT: all passed ($(elapsed "$T_ALL") total)"
