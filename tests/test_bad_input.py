"""Every public entry point rejects bad input at the call, clearly, and the same way
on every backend.

The walker discovers the entry points by introspection of ``unicancel.__all__``
(functions, constructors, public methods, settable properties), so a new one
cannot skip this check: each of its parameters must be given a kind in
``PARAMS`` and a way to call it in ``CALLS``. Each kind has a list of wrong
values; every (entry point, parameter, wrong value) must raise TypeError or
ValueError (RuntimeError where the state is wrong) whose text starts with
``unicancel:`` and names the parameter, with the same text on asyncio and trio.
"""

from __future__ import annotations

import inspect
import math
import re
import signal
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

import unicancel
from unicancel import CancelScope, StopSource, TaskGroup

BACKENDS = ("asyncio", "trio")

# -- wrong values, by kind of parameter ----------------------------------------


async def _async_fn(*args: Any, **kwargs: Any) -> None:
    pass


async def _async_gen_fn(*args: Any, **kwargs: Any) -> Any:
    yield  # pragma: no cover


def _sync_fn(*args: Any, **kwargs: Any) -> None:
    pass


def _sync_fn_returning_int(*args: Any, **kwargs: Any) -> int:
    return 5


def _needs_one_arg(x: object) -> None:
    pass  # pragma: no cover


Maker = Callable[[], object]

_NUMBER_BAD: list[tuple[str, Maker]] = [
    ("'5'", lambda: "5"),
    ("'inf'", lambda: "inf"),
    ("b'5'", lambda: b"5"),
    ("None", lambda: None),
    ("nan", lambda: math.nan),
    ("10**400", lambda: 10**400),
    ("Decimal('sNaN')", lambda: Decimal("sNaN")),
    ("[]", lambda: []),
]

WRONG: dict[str, list[tuple[str, Maker]]] = {
    # A duration: also no negative values.
    "seconds": [*_NUMBER_BAD, ("-1", lambda: -1), ("-inf", lambda: -math.inf)],
    # A point on the clock: the past is a valid deadline.
    "deadline": _NUMBER_BAD,
    "bool": [("'no'", lambda: "no"), ("None", lambda: None), ("1", lambda: 1)],
    "reason": [("5", lambda: 5), ("b'x'", lambda: b"x")],
    # A function that returns a coroutine (start_soon, start, run, ...).
    "async_fn": [
        ("coroutine object", lambda: _async_fn()),
        ("sync function", lambda: _sync_fn),
        ("sync function returning 5", lambda: _sync_fn_returning_int),
        ("async generator function", lambda: _async_gen_fn),
        ("None", lambda: None),
        ("'5'", lambda: "5"),
    ],
    # A coroutine object (create_task).
    "coro": [
        ("async function", lambda: _async_fn),
        ("sync function", lambda: _sync_fn),
        ("None", lambda: None),
        ("'5'", lambda: "5"),
    ],
    # A plain function run in a worker thread (to_thread).
    "sync_fn": [
        ("async function", lambda: _async_fn),
        ("coroutine object", lambda: _async_fn()),
        ("None", lambda: None),
        ("'5'", lambda: "5"),
    ],
    # A callback taking no arguments (on_stop).
    "callback": [
        ("async function", lambda: _async_fn),
        ("coroutine object", lambda: _async_fn()),
        ("function taking one argument", lambda: _needs_one_arg),
        ("None", lambda: None),
        ("'5'", lambda: "5"),
    ],
    "backend": [("'curio'", lambda: "curio"), ("5", lambda: 5), ("b'trio'", lambda: b"trio")],
    "token": [("a StopSource", lambda: StopSource()), ("None", lambda: None), ("'5'", lambda: "5")],
    "signals": [
        ("[SIGKILL]", lambda: [signal.SIGKILL]),
        ("[SIGSTOP]", lambda: [signal.SIGSTOP]),
        ("['x']", lambda: ["x"]),
        ("5", lambda: 5),
        ("[0]", lambda: [0]),
    ],
    # Objects the library hands out: building one by hand must fail.
    "private": [("(None, None)", lambda: None)],
    # Anything goes (names, exception payloads, *args passed through).
    "any": [],
}

# -- which kind each parameter is ---------------------------------------------
# Key: (entry point, parameter). Entry points: "name" for functions, "Class()"
# for constructors, "Class.method", "Class.attribute=" for setters (parameter
# "value").

PARAMS: dict[tuple[str, str], str] = {
    ("CancelOrigin()", "*"): "any",  # an Enum: lookup by value raises ValueError itself
    ("CancelScope()", "deadline"): "deadline",
    ("CancelScope()", "relative_deadline"): "seconds",
    ("CancelScope()", "shield"): "bool",
    ("CancelScope.cancel", "reason"): "reason",
    ("CancelScope.deadline=", "value"): "deadline",
    ("CancelScope.relative_deadline=", "value"): "seconds",
    ("CancelScope.shield=", "value"): "bool",
    ("ForcedShutdown()", "*"): "any",  # an exception the library raises
    ("StopRequested()", "*"): "any",  # likewise
    ("GracefulShutdown()", "grace"): "seconds",
    ("GracefulShutdown()", "signals"): "signals",
    ("GracefulShutdown.request_stop", "reason"): "reason",
    ("StopRegistration()", "*"): "private",
    ("StopSource()", "parents"): "token",
    ("StopSource.request_stop", "reason"): "reason",
    ("StopSource.stop_at", "deadline"): "deadline",
    ("StopSource.stop_after", "seconds"): "seconds",
    ("StopToken.on_stop", "fn"): "callback",
    ("TaskGroup.start_soon", "fn"): "async_fn",
    ("TaskGroup.start_soon", "args"): "any",
    ("TaskGroup.start_soon", "name"): "any",
    ("TaskGroup.start", "fn"): "async_fn",
    ("TaskGroup.start", "args"): "any",
    ("TaskGroup.start", "name"): "any",
    ("TaskGroup.create_task", "coro"): "coro",
    ("TaskGroup.create_task", "name"): "any",
    ("TaskGroup.cancel", "reason"): "reason",
    ("TaskHandle()", "*"): "private",
    ("TaskHandle.cancel", "reason"): "reason",
    ("TaskStatus.started", "value"): "any",  # a Protocol; any value is handed over
    ("fail_after", "seconds"): "seconds",
    ("fail_after", "shield"): "bool",
    ("fail_at", "deadline"): "deadline",
    ("fail_at", "shield"): "bool",
    ("move_on_after", "seconds"): "seconds",
    ("move_on_after", "shield"): "bool",
    ("move_on_at", "deadline"): "deadline",
    ("move_on_at", "shield"): "bool",
    ("fail_when", "token"): "token",
    ("fail_when", "shield"): "bool",
    ("move_on_when", "token"): "token",
    ("move_on_when", "shield"): "bool",
    ("get_cancelled_exc_class", "backend"): "backend",
    ("run", "async_fn"): "async_fn",
    ("run", "args"): "any",
    ("run", "backend"): "backend",
    ("run_graceful", "main"): "async_fn",
    ("run_graceful", "args"): "any",
    ("run_graceful", "backend"): "backend",
    ("run_graceful", "grace"): "seconds",
    ("run_graceful", "signals"): "signals",
    ("to_thread", "fn"): "sync_fn",
    ("to_thread", "args"): "any",
    ("to_thread", "abandon_on_cancel"): "bool",
}


def entry_points() -> Iterator[tuple[str, list[str]]]:
    """Every public callable and setter reachable from ``unicancel.__all__``,
    with its parameter names (``"*"`` for a constructor taken as a whole)."""
    for name in unicancel.__all__:
        obj = getattr(unicancel, name)
        if not inspect.isclass(obj):
            yield name, _params(obj)
            continue
        if (
            issubclass(obj, BaseException)
            or obj.__module__ == "enum"
            or _is_enum(obj)
            or (name, "*") in {(e[:-2], p) for e, p in PARAMS if p == "*"}
        ):
            yield f"{name}()", ["*"]
        elif _own_init(obj) and not getattr(obj, "_is_protocol", False):
            yield f"{name}()", _params(obj)
        for attr, member in vars(obj).items():
            if attr.startswith("_") or issubclass(obj, BaseException):
                continue
            if isinstance(member, property):
                if member.fset is not None:
                    yield f"{name}.{attr}=", ["value"]
            elif inspect.isfunction(member) and _params(member):
                # (A method without parameters takes no input to check.)
                yield f"{name}.{attr}", _params(member)


def _is_enum(cls: type) -> bool:
    import enum

    return issubclass(cls, enum.Enum)


def _own_init(cls: type) -> bool:
    return "__init__" in vars(cls)


def _params(fn: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


# -- how to call each entry point with one wrong value -------------------------
# An invoker gets (parameter, value) and calls the entry point with that value
# and valid values elsewhere. Async invokers run inside the backend; "sync"
# ones (run, run_graceful) outside it, given the backend name.

Invoker = Callable[[str, object], Awaitable[object]]


async def _scope_setter(attr: str, value: object) -> object:
    with CancelScope() as scope:
        setattr(scope, attr, value)
    return None


async def _unentered_setter(attr: str, value: object) -> object:
    setattr(CancelScope(), attr, value)
    return None


async def _in_group(call: Callable[[TaskGroup], Awaitable[object]]) -> object:
    result = None
    async with TaskGroup() as tg:
        result = await call(tg)
    return result


async def _start(param: str, value: object) -> object:
    async def go(tg: TaskGroup) -> object:
        return await tg.start(value)  # type: ignore[arg-type]

    return await _in_group(go)


async def _start_soon(param: str, value: object) -> object:
    async def go(tg: TaskGroup) -> object:
        tg.start_soon(value)  # type: ignore[arg-type]
        return None

    return await _in_group(go)


async def _create_task(param: str, value: object) -> object:
    async def go(tg: TaskGroup) -> object:
        return tg.create_task(value)  # type: ignore[arg-type]

    return await _in_group(go)


def _plain(call: Callable[..., Any], **valid: object) -> Invoker:
    """Call ``call(**{...valid, param: value})``; await the result if needed."""

    async def invoke(param: str, value: object) -> object:
        result = call(**{**valid, param: value})
        if inspect.isawaitable(result):
            return await result
        return result

    return invoke


def _in_scope(make: Callable[..., Any], **valid: object) -> Invoker:
    """Build a scope (or binding) with the wrong value, then enter it."""

    async def invoke(param: str, value: object) -> object:
        with make(**{**valid, param: value}):
            await unicancel.checkpoint()
        return None

    return invoke


async def _private(cls: type) -> object:
    return cls(None, None)


CALLS: dict[str, list[Invoker]] = {
    "CancelScope()": [_in_scope(CancelScope)],
    "CancelScope.cancel": [
        lambda p, v: _plain(CancelScope().cancel)(p, v),
        lambda p, v: _cancel_entered(v),
    ],
    "CancelScope.deadline=": [
        lambda p, v: _scope_setter("deadline", v),
        lambda p, v: _unentered_setter("deadline", v),
    ],
    "CancelScope.relative_deadline=": [
        lambda p, v: _scope_setter("relative_deadline", v),
        lambda p, v: _unentered_setter("relative_deadline", v),
    ],
    "CancelScope.shield=": [
        lambda p, v: _scope_setter("shield", v),
        lambda p, v: _unentered_setter("shield", v),
    ],
    "GracefulShutdown()": [_plain(unicancel.GracefulShutdown, signals=())],
    "GracefulShutdown.request_stop": [
        lambda p, v: _plain(unicancel.GracefulShutdown(signals=()).request_stop)(p, v)
    ],
    "StopRegistration()": [lambda p, v: _private(unicancel.StopRegistration)],
    "StopSource()": [lambda p, v: _plain(lambda parents: StopSource(parents))(p, v)],
    "StopSource.request_stop": [lambda p, v: _plain(StopSource().request_stop)(p, v)],
    "StopSource.stop_at": [lambda p, v: _plain(StopSource().stop_at)(p, v)],
    "StopSource.stop_after": [lambda p, v: _plain(StopSource().stop_after)(p, v)],
    "StopToken.on_stop": [
        lambda p, v: _plain(StopSource().token.on_stop)(p, v),
        lambda p, v: _on_stop_stopped(v),
    ],
    "TaskGroup.start_soon": [_start_soon],
    "TaskGroup.start": [_start],
    "TaskGroup.create_task": [_create_task],
    "TaskGroup.cancel": [lambda p, v: _in_group(lambda tg: _plain(tg.cancel)(p, v))],
    "TaskHandle()": [lambda p, v: _private(unicancel.TaskHandle)],
    "TaskHandle.cancel": [lambda p, v: _handle_cancel(v)],
    "fail_after": [_in_scope(unicancel.fail_after, seconds=1)],
    "fail_at": [_in_scope(unicancel.fail_at, deadline=math.inf)],
    "move_on_after": [_in_scope(unicancel.move_on_after, seconds=1)],
    "move_on_at": [_in_scope(unicancel.move_on_at, deadline=math.inf)],
    "fail_when": [lambda p, v: _in_scope(unicancel.fail_when, token=StopSource().token)(p, v)],
    "move_on_when": [
        lambda p, v: _in_scope(unicancel.move_on_when, token=StopSource().token)(p, v)
    ],
    "get_cancelled_exc_class": [_plain(unicancel.get_cancelled_exc_class)],
    "to_thread": [_plain(unicancel.to_thread, fn=_sync_fn)],
}

# Entry points called outside async code, with the backend's name.
SYNC_CALLS: dict[str, Callable[[str, object, str], object]] = {
    "run": lambda p, v, b: (
        unicancel.run(v, backend=b)  # type: ignore[arg-type]
        if p == "async_fn"
        else unicancel.run(_async_fn, backend=v)  # type: ignore[arg-type]
    ),
    "run_graceful": lambda p, v, b: unicancel.run_graceful(
        **{"main": _async_fn, "backend": b, "signals": (), p: v}  # type: ignore[arg-type]
    ),
}


async def _cancel_entered(reason: object) -> object:
    with CancelScope() as scope:
        scope.cancel(reason)  # type: ignore[arg-type]
    return None


async def _on_stop_stopped(fn: object) -> object:
    source = StopSource()
    source.request_stop()
    return source.token.on_stop(fn)  # type: ignore[arg-type]


async def _handle_cancel(reason: object) -> object:
    async def go(tg: TaskGroup) -> object:
        handle = tg.create_task(_async_fn())
        if isinstance(handle, unicancel.TaskHandle):
            handle.cancel(reason)  # type: ignore[arg-type]
        else:  # an asyncio.Task on asyncio: the same check through its scope
            CancelScope().cancel(reason)  # type: ignore[arg-type]
        return None

    return await _in_group(go)


# -- the sweep ---------------------------------------------------------------


def _normalize(text: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x?", text)


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {_normalize(str(exc))}"


def _label(entry: str, param: str) -> str:
    if entry.endswith("="):
        return entry.split(".")[-1][:-1]  # a setter: the attribute's name
    if param == "*":
        return entry[:-2]  # a whole constructor: the class's name
    return param


def _clear(entry: str, param: str, outcome: str) -> bool:
    kind, _, text = outcome.partition(": ")
    if kind not in ("builtins.TypeError", "builtins.ValueError", "builtins.RuntimeError"):
        return False
    return (
        text.startswith("unicancel:")
        and re.search(rf"\b{re.escape(_label(entry, param))}\b", text) is not None
    )


def _cases() -> Iterator[tuple[str, str, int, str, Maker]]:
    for entry, params in entry_points():
        for param in params:
            kind = PARAMS[entry, param]
            invokers = len(CALLS.get(entry, ())) or (1 if entry in SYNC_CALLS else 0)
            for label, make in WRONG[kind]:
                for index in range(invokers):
                    yield entry, param, index, label, make


def _close(value: object) -> None:
    if inspect.iscoroutine(value):
        value.close()


async def _sweep_async() -> dict[tuple[str, str, int, str], str]:
    results = {}
    for entry, param, index, label, make in _cases():
        if entry in SYNC_CALLS:
            continue
        value = make()
        error: BaseException | None = None
        try:
            with unicancel.move_on_after(5):
                await CALLS[entry][index](param, value)
        except Exception as exc:
            error = exc
        finally:
            _close(value)
        results[entry, param, index, label] = _outcome(error)
    return results


def _sweep(backend: str) -> dict[tuple[str, str, int, str], str]:
    results = unicancel.run(_sweep_async, backend=backend)
    for entry, param, index, label, make in _cases():
        if entry not in SYNC_CALLS:
            continue
        value = make()
        error: BaseException | None = None
        try:
            SYNC_CALLS[entry](param, value, backend)
        except Exception as exc:
            error = exc
        finally:
            _close(value)
        results[entry, param, index, label] = _outcome(error)
    return results


def test_every_parameter_has_a_kind_and_a_caller() -> None:
    missing = [
        f"{entry} {param}"
        for entry, params in entry_points()
        for param in params
        if (entry, param) not in PARAMS
    ]
    assert not missing, (
        f"new public entry points or parameters {missing}: add each to PARAMS in "
        "tests/test_bad_input.py (the kind of value it takes), and the entry point "
        "to CALLS (how to call it), so that bad input to it is checked"
    )
    uncallable = [
        entry
        for entry, params in entry_points()
        if any(WRONG[PARAMS.get((entry, p), "any")] for p in params)
        and entry not in CALLS
        and entry not in SYNC_CALLS
    ]
    assert not uncallable, f"add to CALLS in tests/test_bad_input.py: {uncallable}"
    stale = {entry for entry, _ in PARAMS} - {entry for entry, _ in entry_points()}
    assert not stale, f"PARAMS names entry points that no longer exist: {stale}"


def test_bad_input_gets_a_clear_error_at_the_call_on_every_backend() -> None:
    by_backend = {backend: _sweep(backend) for backend in BACKENDS}
    tried = len(by_backend["asyncio"])
    unclear = []
    for key, outcome in by_backend["asyncio"].items():
        entry, param, index, label = key
        other = by_backend["trio"][key]
        if outcome != other or not _clear(entry, param, outcome):
            where = f"{entry}[{index}] {param}={label}"
            unclear.append(f"{where}:\n    asyncio: {outcome}\n    trio:    {other}")
    clear = tried - len(unclear)
    assert not unclear, f"tried {tried}, clear {clear}, other {len(unclear)}:\n" + "\n".join(
        unclear
    )


# -- what the sweep cannot see -------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_coroutine_object_passed_for_a_function_is_closed(backend: str) -> None:
    """The asyncio.run habit: the error says what to write instead, and the
    refused coroutine is closed (no "never awaited" warning, an error here)."""
    coros = []

    def coro() -> Any:
        made = _async_fn()
        coros.append(made)
        return made

    async def in_group() -> None:
        async with TaskGroup() as tg:
            for call in (tg.start_soon, tg.start, unicancel.to_thread):
                with pytest.raises(TypeError, match="coroutine object"):
                    await _maybe(call(coro()))

    with pytest.raises(TypeError, match=r"Notice the parentheses: pass the function and its"):
        unicancel.run(coro(), backend=backend)
    with pytest.raises(TypeError, match=r"run_graceful\(\) expected an async function for main"):
        unicancel.run_graceful(coro(), backend=backend, signals=())
    unicancel.run(in_group, backend=backend)
    assert [inspect.getcoroutinestate(c) for c in coros] == [inspect.CORO_CLOSED] * 5


async def _maybe(value: object) -> object:
    return await value if inspect.isawaitable(value) else value


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sync_function_fails_at_the_call_not_in_the_task(backend: str) -> None:
    ran = []

    def not_async(*args: object, **kwargs: object) -> None:
        ran.append(args)

    groups: list[TaskGroup] = []

    async def main() -> None:
        async with TaskGroup() as tg:
            groups.append(tg)
            with pytest.raises(TypeError, match=r"start_soon\(\) .* is it a sync function"):
                tg.start_soon(not_async, 1)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"start\(\) .* is it a sync function"):
                await tg.start(not_async, 2)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"create_task\(\) expected a coroutine .*call it"):
                tg.create_task(_async_fn)  # type: ignore[arg-type]

    unicancel.run(main, backend=backend)
    if backend == "asyncio":  # a refused start() left nothing registered below the group
        from unicancel._backends.asyncio import _reach as _asyncio_reach

        assert not _asyncio_reach.members_under(groups[0].cancel_scope)
    with pytest.raises(TypeError, match=r"run\(\) expected an async function for async_fn"):
        unicancel.run(not_async, 3, backend=backend)  # type: ignore[arg-type]
    assert ran == [(1,), (2,), (3,)]  # called once each, as trio does, then refused


def test_on_stop_checks_the_callback_when_it_is_registered() -> None:
    token = StopSource().token
    with pytest.raises(TypeError, match=r"for fn, but _needs_one_arg cannot be called without"):
        token.on_stop(_needs_one_arg)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"_async_fn is asynchronous; its coroutine would never"):
        token.on_stop(_async_fn)
    # Builtins without a signature, bound methods and partials still pass.
    token.on_stop(print).cancel()
    token.on_stop([].clear).cancel()
    token.on_stop(__import__("functools").partial(_needs_one_arg, 1)).cancel()


def test_objects_the_library_hands_out_cannot_be_built_by_hand() -> None:
    coro = _async_fn()
    with pytest.raises(TypeError, match=r"created by TaskGroup\.create_task\(coro\) on trio"):
        unicancel.TaskHandle(coro, "x")
    coro.close()
    with pytest.raises(TypeError, match=r"created by StopToken\.on_stop\(fn\), not directly"):
        unicancel.StopRegistration(print, None)


def test_uncatchable_signals_and_grace_hint() -> None:
    with pytest.raises(ValueError, match=r"signals cannot include SIGKILL: the operating system"):
        unicancel.GracefulShutdown(signals=[signal.SIGTERM, signal.SIGKILL])
    with pytest.raises(ValueError, match=r"grace must be non-negative, got -1.0; use 0 for no"):
        unicancel.GracefulShutdown(grace=-1)


def test_unentered_scope_does_not_switch_between_relative_and_absolute() -> None:
    """As trio: before entry, a scope made with a relative deadline refuses an
    absolute one (and the reverse) instead of silently switching kind."""
    relative = CancelScope(relative_deadline=5)
    with pytest.raises(RuntimeError, match=r"^unicancel: this scope has a relative deadline"):
        relative.deadline = 3
    absolute = CancelScope(deadline=5)
    with pytest.raises(RuntimeError, match=r"^unicancel: this scope has an absolute deadline"):
        absolute.relative_deadline = 3
    assert (relative.relative_deadline, absolute.deadline) == (5, 5)
    # Same kind, or a scope without a deadline yet: allowed, as on trio.
    relative.relative_deadline = 3
    absolute.deadline = 3
    fresh = CancelScope()
    fresh.deadline = math.inf
    fresh.relative_deadline = 2
    assert (relative.relative_deadline, absolute.deadline, fresh.relative_deadline) == (3, 3, 2)


def test_trio_refuses_the_same_switches() -> None:
    trio = pytest.importorskip("trio")
    with pytest.raises(RuntimeError):
        trio.CancelScope(relative_deadline=5).deadline = 3
    with pytest.raises(RuntimeError):
        trio.CancelScope(deadline=5).relative_deadline = 3
