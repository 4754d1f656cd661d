"""unicancel: one cancellation API over asyncio and trio.

Cancel scopes, shields and deadlines with trio's semantics, implemented on
each backend's native mechanism (``Task.cancel()``/``uncancel()`` on asyncio,
``trio.CancelScope`` on trio). See the README for a tour.
"""

from typing import TYPE_CHECKING

from ._backends.trio._handle import TaskHandle as TaskHandle
from ._core._public import publish as _publish
from ._facade._functions import cancel_shielded_checkpoint as cancel_shielded_checkpoint
from ._facade._functions import checkpoint as checkpoint
from ._facade._functions import checkpoint_if_cancelled as checkpoint_if_cancelled
from ._facade._functions import current_effective_deadline as current_effective_deadline
from ._facade._functions import current_time as current_time
from ._facade._functions import get_cancelled_exc_class as get_cancelled_exc_class
from ._facade._run import run as run
from ._facade._scope import CancelOrigin as CancelOrigin
from ._facade._scope import CancelScope as CancelScope
from ._facade._sync import Event as Event
from ._facade._taskgroup import TaskGroup as TaskGroup
from ._facade._taskgroup import TaskStatus as TaskStatus
from ._facade._threads import to_thread as to_thread
from ._facade._timeouts import fail_after as fail_after
from ._facade._timeouts import fail_at as fail_at
from ._facade._timeouts import move_on_after as move_on_after
from ._facade._timeouts import move_on_at as move_on_at
from ._stop._callbacks import StopRegistration as StopRegistration
from ._stop._errors import StopRequested as StopRequested
from ._stop._scopes import fail_when as fail_when
from ._stop._scopes import move_on_when as move_on_when
from ._stop._shutdown import ForcedShutdown as ForcedShutdown
from ._stop._shutdown import GracefulShutdown as GracefulShutdown
from ._stop._shutdown import run_graceful as run_graceful
from ._stop._token import StopSource as StopSource
from ._stop._token import StopToken as StopToken
from ._version import __version__ as _VERSION

#: The installed version (equal to the package metadata's), e.g. ``"0.1.0"``.
__version__: str = _VERSION

__all__ = [
    "CancelOrigin",
    "CancelScope",
    "Event",
    "ForcedShutdown",
    "GracefulShutdown",
    "StopRegistration",
    "StopRequested",
    "StopSource",
    "StopToken",
    "TaskGroup",
    "TaskHandle",
    "TaskStatus",
    "cancel_shielded_checkpoint",
    "checkpoint",
    "checkpoint_if_cancelled",
    "current_effective_deadline",
    "current_time",
    "fail_after",
    "fail_at",
    "fail_when",
    "get_cancelled_exc_class",
    "move_on_after",
    "move_on_at",
    "move_on_when",
    "run",
    "run_graceful",
    "to_thread",
]


_publish(globals())

if TYPE_CHECKING:
    from . import diagnostics as diagnostics
else:

    def __getattr__(name: str) -> object:
        # `unicancel.diagnostics` after a bare `import unicancel` (as the docs
        # write it), imported on first use: the engine stays out of import
        # unicancel. Hidden from type checkers, which would otherwise accept
        # any attribute of the package.
        if name == "diagnostics":
            import importlib  # (`from . import` would ask this function again)

            return importlib.import_module(".diagnostics", __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _diagnostics_from_environment() -> None:
    # UNICANCEL_DEBUG=1: diagnostics on from the start (unicancel.diagnostics).
    import os

    if os.environ.get("UNICANCEL_DEBUG"):
        from ._diagnostics._control import enable_from_environment

        enable_from_environment()


_diagnostics_from_environment()
del _diagnostics_from_environment
