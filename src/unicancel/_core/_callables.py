"""Checks of the functions and coroutines users hand to unicancel.

A wrong callable must fail at the call that received it, with the same text
on every backend, not later inside a task with "object X can't be used in
'await' expression" (trio's ``coroutine_or_error`` is the model). A
coroutine object refused here is closed, so no "never awaited" warning
follows the error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from functools import partial
from types import CoroutineType, FunctionType
from typing import Any

__all__ = [
    "check_async_fn",
    "check_callback",
    "check_coro",
    "check_sync_fn",
    "child_name",
    "coroutine_or_error",
]


def _name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else _short(fn)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:45] + "..." + text[-10:]


def _close(obj: object) -> None:
    close = getattr(obj, "close", None)
    if close is not None:
        close()


def _parentheses(where: str, param: str, coro: object) -> str:
    return (
        f"unicancel: {where}() expected an async function for {param}, but got a coroutine "
        f"object {_short(coro)} (it has been closed). Notice the parentheses: pass the "
        f"function and its arguments, {where}(fn, arg), not {where}(fn(arg))"
    )


def check_async_fn(fn: object, where: str, param: str) -> None:
    """Refuse, before anything runs, what can never be an async function: a
    coroutine object (closed here), a non-callable, an async generator function."""
    if callable(fn) and not inspect.isasyncgenfunction(fn):
        return
    raise TypeError(_not_async(fn, where, param))


def _not_async(fn: object, where: str, param: str) -> str:
    if isinstance(fn, Coroutine):
        _close(fn)
        return _parentheses(where, param, fn)
    if inspect.isasyncgenfunction(fn):
        return (
            f"unicancel: {where}() expected an async function for {param}, but "
            f"{_name(fn)} is an async generator function; iterate it inside an async function"
        )
    return f"unicancel: {where}() expected an async function for {param}, got {_short(fn)}"


def coroutine_or_error(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    where: str,
    param: str,
    kwargs: dict[str, Any] | None = None,
) -> Coroutine[Any, Any, Any]:
    """``fn(*args, **kwargs)``, which must be a coroutine; a clear TypeError
    naming *param* of *where* otherwise (only the error path costs extra)."""
    try:
        coro = fn(*args, **kwargs) if kwargs else fn(*args)
    except TypeError:
        if not callable(fn):
            raise TypeError(_not_async(fn, where, param)) from None
        raise
    if type(coro) is CoroutineType or isinstance(coro, Coroutine):
        return coro
    if inspect.isasyncgen(coro):
        raise TypeError(_not_async(fn, where, param))
    if inspect.isawaitable(coro):
        _close(coro)
        what = f"the awaitable {_short(coro)}, not a coroutine; wrap it in an async function"
    else:
        what = (
            f"{_short(coro)}, not a coroutine: is it a sync function? Define it with "
            "'async def', or run blocking code with unicancel.to_thread()"
        )
    raise TypeError(
        f"unicancel: {where}() expected an async function for {param}, but {_name(fn)} "
        f"returned {what}"
    )


def check_coro(coro: object, where: str, param: str) -> None:
    """Refuse anything but a coroutine object (create_task)."""
    if type(coro) is CoroutineType or isinstance(coro, Coroutine):
        return
    hint = ""
    if inspect.iscoroutinefunction(coro):
        hint = f"; call it: {where}({_name(coro)}(...)), or use start_soon({_name(coro)}, ...)"
    raise TypeError(
        f"unicancel: {where}() expected a coroutine object for {param}, got {_short(coro)}{hint}"
    )


def _is_async(fn: object) -> bool:
    """An async function, or an object whose class defines ``async def
    __call__`` (which inspect.iscoroutinefunction does not see)."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


def check_sync_fn(fn: object, where: str, param: str) -> None:
    """Refuse what cannot run in a worker thread: an async function, a
    coroutine object (closed here), a non-callable."""
    if isinstance(fn, Coroutine):
        _close(fn)
        raise TypeError(
            f"unicancel: {where}() expected a sync function for {param}, but got a coroutine "
            f"object {_short(fn)} (it has been closed); await it directly instead"
        )
    if not callable(fn):
        raise TypeError(
            f"unicancel: {where}() expected a sync function for {param}, got {_short(fn)}"
        )
    if _is_async(fn):
        raise TypeError(
            f"unicancel: {where}() expected a sync function for {param}, but {_name(fn)} is "
            "asynchronous; await it directly instead"
        )


# Code flags of functions whose call does not run the body.
_NOT_SYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE


def check_callback(fn: object, where: str, param: str) -> None:
    """Refuse what cannot be called as ``fn()`` and run to completion: a
    non-callable, an async function (its coroutine would never be awaited),
    a function with required arguments (checked at registration, not when
    the callback finally runs). Callables without a signature pass."""
    if type(fn) is FunctionType:
        # The usual case, read straight from the code object (on_stop is hot).
        code = fn.__code__
        flags = code.co_flags
        required = code.co_argcount - len(fn.__defaults__ or ())
        kwonly = code.co_kwonlyargcount - len(fn.__kwdefaults__ or ())
        if not flags & _NOT_SYNC and required <= 0 and kwonly <= 0:
            return
    elif not callable(fn):
        raise TypeError(_callback_error(fn, where, param, "is not callable"))
    if _is_async(fn):
        raise TypeError(
            _callback_error(
                fn, where, param, "is asynchronous; its coroutine would never be awaited"
            )
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: trust it
    try:
        signature.bind()
    except TypeError as error:
        raise TypeError(
            _callback_error(fn, where, param, f"cannot be called without arguments ({error})")
        ) from None


def _callback_error(fn: object, where: str, param: str, problem: str) -> str:
    return (
        f"unicancel: {where}() needs a sync callable taking no arguments for {param}, but "
        f"{_name(fn)} {problem}; use functools.partial(fn, arg) to pass arguments"
    )


def child_name(name: object, target: object) -> str | None:
    """The name of a task group's child, the same on both backends: *name* if
    given (a str, else its ``__qualname__`` or repr), else the ``__qualname__``
    of *target* (the function it runs, or its coroutine), so that reports say
    ``'worker'`` where asyncio alone says ``'Task-4'`` and trio
    ``'__main__.worker'``. None: no name to give (the backend's default)."""
    if name is not None:
        if isinstance(name, str):
            return name
        return getattr(name, "__qualname__", None) or repr(name)
    while isinstance(target, partial):
        target = target.func
    qualname = getattr(target, "__qualname__", None)
    return qualname if isinstance(qualname, str) else None
