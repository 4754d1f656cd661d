"""The pytest plugin of unicancel.diagnostics (``--unicancel-diagnose``, the
``unicancel_diagnose`` marker): a test that swallowed or stalled a
cancellation fails, and its failure names the file and line at fault; a clean
test passes; nothing changes without the option or the marker.

Each case runs a small test file in a separate pytest process (pytester),
with anyio's plugin on every backend of this suite (asyncio, uvloop, eager,
trio), as a user's suite would. Plugin autoloading is off in those runs and
both plugins are named with ``-p``, so that the runs are the same whether or
not the installed unicancel already declares the entry point (that
declaration is checked on the built wheel, in tests/test_packaging.py).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "unicancel.diagnostics._pytest_plugin"
#: What swallowed catch sites need: sys.monitoring (Python 3.12+).
CATCH_SITES = sys.version_info >= (3, 12)

CONFTEST = """
import asyncio
import sys

import pytest

_params = [pytest.param(("asyncio", {}), id="asyncio")]
try:
    import uvloop
except ImportError:
    pass
else:
    _params.append(pytest.param(("asyncio", {"loop_factory": uvloop.new_event_loop}), id="uvloop"))
if sys.version_info >= (3, 12):

    def _eager_loop():
        loop = asyncio.new_event_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        return loop

    _params.append(pytest.param(("asyncio", {"loop_factory": _eager_loop}), id="eager"))
_params.append(pytest.param(("trio", {}), id="trio"))


@pytest.fixture(params=_params)
def anyio_backend(request):
    return request.param
"""

TESTS = """
import anyio
import pytest

import unicancel


async def test_swallows():
    with unicancel.CancelScope() as scope:  # SCOPE-swallows
        scope.cancel("test over")
        try:
            await unicancel.checkpoint()
        except unicancel.get_cancelled_exc_class():  # CATCH-swallows
            pass
    await anyio.sleep(0)


async def test_stalls():
    with unicancel.CancelScope() as scope:  # SCOPE-stalls
        scope.cancel("test over")
        with unicancel.CancelScope(shield=True):
            await anyio.sleep(0.4)  # STALL
        await unicancel.checkpoint()


async def test_reraises():
    with unicancel.CancelScope() as scope:
        scope.cancel("test over")
        try:
            await unicancel.checkpoint()
        except unicancel.get_cancelled_exc_class():
            raise
    assert scope.cancelled_caught


@pytest.mark.unicancel_diagnose
async def test_marked_swallows():
    with unicancel.CancelScope() as scope:  # SCOPE-marked
        scope.cancel("test over")
        try:
            await unicancel.checkpoint()
        except unicancel.get_cancelled_exc_class():  # CATCH-marked
            pass
    await anyio.sleep(0)


@pytest.mark.unicancel_diagnose
async def test_marked_fails_anyway():
    with unicancel.CancelScope() as scope:
        scope.cancel("test over")
        try:
            await unicancel.checkpoint()
        except unicancel.get_cancelled_exc_class():  # CATCH-fails-anyway
            pass
    await anyio.sleep(0)
    raise AssertionError("the test's own failure")
"""


def _ids() -> list[str]:
    ids = ["asyncio"]
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        pass
    else:
        ids.append("uvloop")
    if sys.version_info >= (3, 12):
        ids.append("eager")
    return [*ids, "trio"]


IDS = _ids()


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A directory holding the buggy test file, and an environment without
    plugin autoloading or UNICANCEL_DEBUG."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_buggy=TESTS)
    pytester.makeini("[pytest]\nanyio_mode = auto\nfilterwarnings = error\n")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("UNICANCEL_DEBUG", raising=False)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "anyio", "-p", PLUGIN, "-p", "no:cacheprovider", "-rA", *args, timeout=120
    )


def _line(marker: str) -> int:
    (number,) = [i for i, line in enumerate(TESTS.splitlines()) if f"# {marker}" in line]
    return number


def _sections(result: pytest.RunResult) -> dict[str, str]:
    """The failure section of each failed test, by test id."""
    text = result.stdout.str()
    parts = re.split(r"^_{3,} (test_\w+\[\w+\]) _{3,}$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _outcomes(result: pytest.RunResult) -> dict[str, str]:
    found = re.findall(r"^(PASSED|FAILED) test_buggy\.py::(\S+)", result.stdout.str(), re.M)
    return {test: outcome for outcome, test in found}


def test_without_the_option_only_marked_tests_run_with_diagnostics(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester)
    outcomes = _outcomes(result)
    for backend in IDS:
        assert outcomes[f"test_swallows[{backend}]"] == "PASSED", result.stdout.str()
        assert outcomes[f"test_stalls[{backend}]"] == "PASSED"
        assert outcomes[f"test_reraises[{backend}]"] == "PASSED"
        assert outcomes[f"test_marked_fails_anyway[{backend}]"] == "FAILED"
    sections = _sections(result)
    for backend in IDS:
        if backend == "trio" and not CATCH_SITES:
            continue  # trio's swallows need the catch site: 3.12+
        assert outcomes[f"test_marked_swallows[{backend}]"] == "FAILED"
        section = sections[f"test_marked_swallows[{backend}]"]
        assert "unicancel diagnostics: this test swallowed 1 cancellation(s)" in section
        scope = f"test_buggy.py:{_line('SCOPE-marked')}"
        if CATCH_SITES:
            catch = f"test_buggy.py:{_line('CATCH-marked')}"
            assert f"swallowed: caught at {catch}, scope at {scope}" in section, section
        else:
            assert f"swallowed: scope at {scope}" in section, section
        # A test that fails anyway keeps its own error, the reports shown next to it.
        section = sections[f"test_marked_fails_anyway[{backend}]"]
        assert "AssertionError: the test's own failure" in section
        assert "Captured unicancel diagnostics call" in section, section
        if CATCH_SITES:
            assert f"test_buggy.py:{_line('CATCH-fails-anyway')}" in section


def test_the_option_fails_tests_that_swallow_or_stall_naming_the_site(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, "--unicancel-diagnose", "--unicancel-stuck-after=0.1")
    outcomes = _outcomes(result)
    sections = _sections(result)
    for backend in IDS:
        assert outcomes[f"test_reraises[{backend}]"] == "PASSED", result.stdout.str()
        assert outcomes[f"test_stalls[{backend}]"] == "FAILED"
        section = sections[f"test_stalls[{backend}]"]
        assert "unicancel diagnostics: this test stalled 1 cancellation(s)" in section, section
        # Where the task waits: the shielded sleep, in the test file.
        assert f"stuck: now at test_buggy.py:{_line('STALL')}" in section
        if backend == "trio" and not CATCH_SITES:
            continue
        assert outcomes[f"test_swallows[{backend}]"] == "FAILED"
        section = sections[f"test_swallows[{backend}]"]
        scope = f"test_buggy.py:{_line('SCOPE-swallows')}"
        if CATCH_SITES:
            catch = f"test_buggy.py:{_line('CATCH-swallows')}"
            assert f"swallowed: caught at {catch}, scope at {scope}" in section, section
        else:
            assert f"swallowed: scope at {scope}" in section, section


def test_bad_threshold_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--unicancel-stuck-after=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*argument --unicancel-stuck-after: unicancel: --unicancel-stuck-after must be a "
            "positive number of seconds (or inf to never report stuck cancellations), got 0"
        ]
    )


def test_an_infinite_threshold_is_accepted_as_everywhere(pytester: pytest.Pytester) -> None:
    # inf: never report stuck cancellations, as enable(stuck_after=math.inf),
    # UNICANCEL_DEBUG_STUCK_AFTER=inf and `diagnose --stuck-after inf` take it.
    result = _run(pytester, "--unicancel-diagnose", "--unicancel-stuck-after=inf", "-k", "stalls")
    assert result.ret != pytest.ExitCode.USAGE_ERROR, result.stderr.str()
    outcomes = _outcomes(result)
    assert outcomes and set(outcomes.values()) == {"PASSED"}, result.stdout.str()


def test_the_ini_options_turn_it_on(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nanyio_mode = auto\nfilterwarnings = error\n"
        "unicancel_diagnose = true\nunicancel_stuck_after = 0.1\n"
    )
    result = _run(pytester, "-k", "asyncio and (swallows or stalls or reraises)")
    outcomes = _outcomes(result)
    assert outcomes == {
        "test_swallows[asyncio]": "FAILED",
        "test_stalls[asyncio]": "FAILED",
        "test_reraises[asyncio]": "PASSED",
        "test_marked_swallows[asyncio]": "FAILED",
    }, result.stdout.str()
    # The stuck report came after 0.1 s, not after the default 1 s (the sleep is 0.4 s).
    assert "stuck: now at" in _sections(result)["test_stalls[asyncio]"]


def test_a_bad_ini_threshold_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nanyio_mode = auto\nunicancel_stuck_after = soon\n")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unicancel: the ini option unicancel_stuck_after must be a number of seconds, got 'soon'"]
    )


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    """--strict-markers accepts it; --markers documents it."""
    result = _run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.unicancel_diagnose(stuck_after=None): *"])


def test_the_options_are_documented(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--help")
    text = result.stdout.str()
    assert "--unicancel-diagnose" in text and "--unicancel-stuck-after=SECONDS" in text
    assert textwrap.dedent("unicancel cancellation diagnostics:") in text


def test_the_plugin_module_is_where_the_entry_point_says() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    assert declared["project"]["entry-points"]["pytest11"] == {"unicancel": PLUGIN}
    module = __import__(PLUGIN, fromlist=["pytest_addoption"])
    assert callable(module.pytest_addoption)


OFF_TESTS = """
import unicancel
from unicancel import diagnostics


async def test_turns_them_off():
    diagnostics.disable()
    with unicancel.CancelScope() as scope:  # a swallow nobody sees now
        scope.cancel()
        try:
            await unicancel.checkpoint()
        except unicancel.get_cancelled_exc_class():
            pass


async def test_turns_them_off_and_on_again():
    diagnostics.disable()
    diagnostics.enable(warn=False, log=False)


async def test_leaves_them_on():
    await unicancel.checkpoint()
"""


@pytest.mark.parametrize("as_errors", [False, True], ids=["warnings", "errors"])
def test_a_test_that_turns_diagnostics_off_is_told_so(
    pytester: pytest.Pytester, as_errors: bool
) -> None:
    # Its pass would claim a check that did not happen (what came after
    # disable() was not checked): a warning naming the test, an error under
    # filterwarnings = error.
    pytester.makepyfile(test_off=OFF_TESTS)
    errors = "filterwarnings = error\n" if as_errors else ""
    pytester.makeini(f"[pytest]\nanyio_mode = auto\n{errors}")
    result = _run(pytester, "--unicancel-diagnose", "test_off.py", "-k", "asyncio or trio")
    text = result.stdout.str()
    found = re.findall(r"^(PASSED|FAILED) test_off\.py::(\S+)", text, re.M)
    outcomes = {test: outcome for outcome, test in found}
    told = "FAILED" if as_errors else "PASSED"
    assert outcomes == {
        "test_turns_them_off[asyncio]": told,
        "test_turns_them_off[trio]": told,
        "test_turns_them_off_and_on_again[asyncio]": told,
        "test_turns_them_off_and_on_again[trio]": told,
        "test_leaves_them_on[asyncio]": "PASSED",
        "test_leaves_them_on[trio]": "PASSED",
    }, text
    for test in ("test_turns_them_off", "test_turns_them_off_and_on_again"):
        for backend in ("asyncio", "trio"):
            assert (
                f"unicancel: test_off.py::{test}[{backend}] turned diagnostics off while it "
                "ran (unicancel.diagnostics.disable()): nothing after that was checked"
            ) in text, text
    assert "test_leaves_them_on[asyncio] turned" not in text
