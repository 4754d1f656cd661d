"""Native binding: cancel scopes cancelled when a token stops, and
``StopToken.wait()``.

A stop may be requested from any thread or from a signal handler, where
touching a scope is unsafe, so a bound scope is always cancelled on its own
event loop. Per token and event loop there is one :class:`Binding`: one
registration on the token, whose callback only hops onto the loop
(:meth:`Loop.soon`), where every scope bound there is cancelled in one
batch. 10,000 bound scopes cost one hop, not 10,000.

The token reaches a Binding only through a weak reference (``State.bindings``
and the registration's callback): the bound scopes, that is the ``with``
blocks still open, keep it alive. A long-lived token must not keep alive the
tasks (and their loop) of a scope whose loop was closed while it was open;
when such a Binding is collected, its registration is dropped.
"""

from __future__ import annotations

import weakref
from types import TracebackType
from typing import TYPE_CHECKING, final

from .._facade._functions import checkpoint
from .._facade._scope import CancelScope
from ._errors import StopRequested
from ._loop import Loop
from ._loop_current import current_loop
from ._state import State

if TYPE_CHECKING:
    from ._callbacks import StopRegistration

__all__ = ["Binding", "wait"]


@final
class Binding:
    """The scopes bound to one token on one event loop (touched only there)."""

    __slots__ = ("__weakref__", "_loop", "_registration", "_state", "scopes")

    def __init__(self, state: State, loop: Loop) -> None:
        self._loop = loop
        self._state = state
        self.scopes: dict[_StopScope, None] = {}
        hop = _Hop(state.bindings, loop.key)
        me = hop.binding = weakref.ref(self, hop.collected)
        state.bindings[loop.key] = me
        # Runs at once (and so hops at once) if the token stopped meanwhile.
        self._registration: StopRegistration = state.on_stop(hop)
        hop.reg = self._registration

    def _hop(self) -> None:
        self._loop.soon(self._fire)

    def _fire(self) -> None:
        self._unlist()
        record = self._state.record()
        reason = None if record is None else record.reason
        for bound in list(self.scopes):
            bound._stop(reason)

    def remove(self, bound: _StopScope) -> None:
        scopes = self.scopes
        del scopes[bound]
        if not scopes and self._unlist():
            self._registration.cancel()

    def _unlist(self) -> bool:
        """Stop being the token's binding for this loop; False if it was not."""
        bindings = self._state.bindings
        me = bindings.get(self._loop.key)
        if me is None or me() is not self:
            return False
        del bindings[self._loop.key]
        return True


@final
class _Hop:
    """The registration's callback: hops to the Binding's loop, if the
    Binding is still alive (held weakly: see the module docstring)."""

    __slots__ = ("binding", "bindings", "key", "reg")

    def __init__(self, bindings: dict[object, weakref.ref[Binding]], key: object) -> None:
        self.bindings = bindings
        self.key = key
        self.binding: weakref.ref[Binding] | None = None
        self.reg: StopRegistration | None = None

    def __call__(self) -> None:
        me = self.binding
        binding = me() if me is not None else None
        if binding is not None:
            binding._hop()

    def collected(self, me: weakref.ref[Binding]) -> None:
        """The Binding was collected: normally after its last scope left
        (nothing left to do), or with scopes still bound because their tasks
        were dropped unfinished: then forget it, and its registration."""
        self.binding = None  # breaks the cycle through the weakref's callback
        if self.bindings.get(self.key) is me:
            del self.bindings[self.key]
        reg, self.reg = self.reg, None
        if reg is not None:
            reg._forget()


@final
class _StopScope:
    """The context manager of :func:`move_on_when`/:func:`fail_when`."""

    __slots__ = ("_binding", "_fail", "_scope", "_state", "_stopped")

    def __init__(self, state: State, scope: CancelScope, fail: bool) -> None:
        self._state = state
        self._scope = scope
        self._fail = fail
        self._stopped = False
        self._binding: Binding | None = None

    def __enter__(self) -> CancelScope:
        scope = self._scope.__enter__()
        state = self._state
        record = state.record()
        if record is not None:
            self._stop(record.reason)  # in this task, before its first await
        elif not state.box:  # a closed token never stops: nothing to bind
            loop = current_loop(scope._backend.name)
            me = state.bindings.get(loop.key)
            binding = (me() if me is not None else None) or Binding(state, loop)
            binding.scopes[self] = None
            self._binding = binding
        return scope

    def _stop(self, reason: str | None) -> None:
        scope = self._scope
        if not scope.cancel_called:
            self._stopped = True
            scope.cancel(reason)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        binding, self._binding = self._binding, None
        if binding is not None:
            binding.remove(self)
        scope = self._scope
        swallowed = scope.__exit__(exc_type, exc, tb)
        if swallowed and self._fail and self._stopped and scope.cancelled_caught:
            raise StopRequested(scope.cancel_reason) from exc
        return swallowed


async def wait(state: State) -> None:
    """``StopToken.wait()`` of the token whose state is *state*."""
    if state.record() is not None:
        await checkpoint()
        return
    loop = current_loop()
    with _StopScope(state, CancelScope(), False):
        await loop.sleep_forever()
