"""Every case: one system running one workload on one backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench_cpu import (
    a_cpu_anyio,
    a_cpu_asyncio,
    a_cpu_quattro,
    a_cpu_unicancel,
    t_cpu_anyio,
    t_cpu_trio,
    t_cpu_unicancel,
)
from bench_floor import a_unarmed_floor, t_unarmed_floor
from bench_registry import AIO_RAISE, FLOOR, STARRED, UC_TG, WORKLOAD_BY_KEY, Case
from bench_scopes import (
    a_armed_asyncio,
    a_armed_quattro,
    a_nesting_asyncio,
    a_nesting_quattro,
    a_roundtrip_anyio,
    a_roundtrip_asyncio,
    a_roundtrip_quattro,
    a_roundtrip_unicancel,
    a_unarmed_asyncio,
    a_unarmed_quattro,
    armed_anyio,
    armed_unicancel,
    nesting_anyio,
    nesting_unicancel,
    t_armed_trio,
    t_nesting_trio,
    t_roundtrip_anyio,
    t_roundtrip_trio,
    t_roundtrip_unicancel,
    t_unarmed_trio,
    unarmed_anyio,
    unarmed_unicancel,
)
from bench_stop import (
    a_onstop_future,
    a_stop_event,
    a_stop_scopes,
    a_stop_task_cancel,
    a_stop_unicancel,
    onstop_unicancel,
    t_stop_event,
    t_stop_scopes,
    t_stop_uc_scopes,
    t_stop_unicancel,
)
from bench_taskgroups import (
    GROUP_SLEEP,
    a_cond_anyio,
    a_cond_asyncio,
    a_cond_unicancel,
    a_group_anyio,
    a_group_asyncio,
    a_group_asyncio_raise,
    a_group_unicancel,
    a_late_anyio,
    a_late_asyncio,
    a_late_unicancel,
    a_late_unicancel_tg,
    t_group_anyio,
    t_group_trio,
    t_group_unicancel,
    t_late_trio,
    t_late_unicancel_tg,
)


def _cases() -> list[Case]:
    uc, aio, any_, qua, tri = "unicancel", "asyncio", "anyio", "quattro", "trio"
    cases: list[Case] = []

    def case(
        workload: str,
        backend: str,
        system: str,
        expr: str,
        requires: tuple[str, ...],
        fn: Any,
        phase: int,
        at_once: Sequence[str],
    ) -> Case:
        if WORKLOAD_BY_KEY[workload].cpu:
            return Case(
                workload,
                backend,
                system,
                expr,
                requires,
                cpu=fn,
                phase=phase,
                at_once=system in at_once,
            )
        return Case(workload, backend, system, expr, requires, op=fn, phase=phase)

    def asyncio_cases(
        workload: str,
        rows: Sequence[tuple[str, str, tuple[str, ...], Any]],
        *,
        uvloop: Sequence[str] = (uc, aio),
        at_once: Sequence[str] = (),
    ) -> None:
        """The rows on asyncio; those of the *uvloop* systems again on uvloop."""
        for backend in ("asyncio", "uvloop"):
            for system, expr, requires, fn in rows:
                if backend == "uvloop":
                    if system not in uvloop:
                        continue
                    requires = (*requires, "uvloop")
                cases.append(case(workload, backend, system, expr, requires, fn, 0, at_once))
            if backend == "asyncio" and workload in STARRED:
                # Again at the end, with trio imported: unicancel and asyncio.timeout.
                for system, expr, _, fn in rows:
                    if system in (uc, aio):
                        star = Case(
                            workload, backend, f"{system}*", expr, ("trio",), op=fn, phase=2
                        )
                        cases.append(star)

    def trio_cases(
        workload: str,
        rows: Sequence[tuple[str, str, tuple[str, ...], Any]],
        *,
        at_once: Sequence[str] = (),
    ) -> None:
        for system, expr, requires, fn in rows:
            requires = ("trio", *requires)
            cases.append(case(workload, "trio", system, expr, requires, fn, 1, at_once))

    asyncio_cases(
        "unarmed",
        [
            (uc, "with CancelScope()", (), unarmed_unicancel),
            (aio, "async with asyncio.timeout(None)", (), a_unarmed_asyncio),
            (any_, "with anyio.CancelScope()", ("anyio",), unarmed_anyio),
            (qua, "with quattro.CancelScope()", ("quattro",), a_unarmed_quattro),
            (FLOOR, "with FloorScope()", (), a_unarmed_floor),
        ],
        uvloop=(uc, aio, FLOOR),
    )
    trio_cases(
        "unarmed",
        [
            (uc, "with CancelScope()", (), unarmed_unicancel),
            (tri, "with trio.CancelScope()", (), t_unarmed_trio),
            (any_, "with anyio.CancelScope()", ("anyio",), unarmed_anyio),
            (FLOOR, "with TrioFloorScope()", (), t_unarmed_floor),
        ],
    )
    asyncio_cases(
        "armed",
        [
            (uc, "with move_on_after(10)", (), armed_unicancel),
            (aio, "async with asyncio.timeout(10)", (), a_armed_asyncio),
            (any_, "with anyio.move_on_after(10)", ("anyio",), armed_anyio),
            (qua, "with quattro.move_on_after(10)", ("quattro",), a_armed_quattro),
        ],
    )
    trio_cases(
        "armed",
        [
            (uc, "with move_on_after(10)", (), armed_unicancel),
            (tri, "with trio.move_on_after(10)", (), t_armed_trio),
            (any_, "with anyio.move_on_after(10)", ("anyio",), armed_anyio),
        ],
    )
    asyncio_cases(
        "roundtrip",
        [
            (uc, "with move_on_after(0): await asyncio.sleep(1)", (), a_roundtrip_unicancel),
            (
                aio,
                "async with asyncio.timeout(0): ... (+ except TimeoutError)",
                (),
                a_roundtrip_asyncio,
            ),
            (any_, "with anyio.move_on_after(0): ...", ("anyio",), a_roundtrip_anyio),
            (qua, "with quattro.move_on_after(0): ...", ("quattro",), a_roundtrip_quattro),
        ],
    )
    trio_cases(
        "roundtrip",
        [
            (uc, "with move_on_after(0): await trio.sleep(1)", (), t_roundtrip_unicancel),
            (tri, "with trio.move_on_after(0): ...", (), t_roundtrip_trio),
            (any_, "with anyio.move_on_after(0): ...", ("anyio",), t_roundtrip_anyio),
        ],
    )
    asyncio_cases(
        "nesting",
        [
            (uc, "CancelScope().__enter__() x1000", (), nesting_unicancel),
            (aio, "await asyncio.timeout(None).__aenter__() x1000", (), a_nesting_asyncio),
            (any_, "anyio.CancelScope().__enter__() x1000", ("anyio",), nesting_anyio),
            (qua, "quattro.CancelScope().__enter__() x1000", ("quattro",), a_nesting_quattro),
        ],
    )
    trio_cases(
        "nesting",
        [
            (uc, "CancelScope().__enter__() x1000", (), nesting_unicancel),
            (tri, "trio.CancelScope().__enter__() x1000", (), t_nesting_trio),
            (any_, "anyio.CancelScope().__enter__() x1000", ("anyio",), nesting_anyio),
        ],
    )
    asyncio_cases(
        "cpu",
        [
            (uc, "CancelScope() + asyncio.TaskGroup", (), a_cpu_unicancel),
            (aio, "asyncio.timeout(None) + reschedule(now)", (), a_cpu_asyncio),
            (any_, "anyio.CancelScope() + asyncio.TaskGroup", ("anyio",), a_cpu_anyio),
            (qua, "quattro.CancelScope() + asyncio.TaskGroup", ("quattro",), a_cpu_quattro),
        ],
    )
    trio_cases(
        "cpu",
        [
            (uc, "CancelScope() + nursery, child shields with CancelScope", (), t_cpu_unicancel),
            (tri, "trio.CancelScope() + nursery, trio shield", (), t_cpu_trio),
            (any_, "anyio.CancelScope() + nursery, anyio shield", ("anyio",), t_cpu_anyio),
        ],
    )
    sleeps = f"start_soon(asyncio.sleep, {GROUP_SLEEP:g}) xN"
    asyncio_cases(
        "group",
        [
            (uc, f"CancelScope > TaskGroup, {sleeps}, scope.cancel()", (), a_group_unicancel),
            (
                aio,
                "timeout(None) > asyncio.TaskGroup, create_task xN, reschedule(now)",
                (),
                a_group_asyncio,
            ),
            (
                AIO_RAISE,
                "asyncio.TaskGroup, create_task xN, raise out of body + except*",
                (),
                a_group_asyncio_raise,
            ),
            (
                any_,
                f"anyio.create_task_group(), {sleeps}, cancel_scope.cancel()",
                ("anyio",),
                a_group_anyio,
            ),
        ],
    )
    sleeps = f"start_soon(trio.sleep, {GROUP_SLEEP:g}) xN"
    trio_cases(
        "group",
        [
            (uc, f"CancelScope > TaskGroup, {sleeps}, scope.cancel()", (), t_group_unicancel),
            (tri, f"open_nursery(), {sleeps}, cancel_scope.cancel()", (), t_group_trio),
            (
                any_,
                f"anyio.create_task_group(), {sleeps}, cancel_scope.cancel()",
                ("anyio",),
                t_group_anyio,
            ),
        ],
    )
    asyncio_cases(
        "cond",
        [
            (uc, "CancelScope() > cond.wait(), scope.cancel()", (), a_cond_unicancel),
            (aio, "asyncio.timeout(None) > cond.wait(), reschedule(now)", (), a_cond_asyncio),
            (any_, "anyio.CancelScope() > cond.wait(), scope.cancel()", ("anyio",), a_cond_anyio),
        ],
    )
    asyncio_cases(
        "late",
        [
            (uc, "CancelScope() > asyncio.TaskGroup", (), a_late_unicancel),
            (aio, "asyncio.timeout(None) > asyncio.TaskGroup", (), a_late_asyncio),
            (any_, "anyio.CancelScope() > asyncio.TaskGroup", ("anyio",), a_late_anyio),
            (UC_TG, "CancelScope() > unicancel.TaskGroup", (), a_late_unicancel_tg),
        ],
        uvloop=(uc, aio, UC_TG),
        at_once=(UC_TG,),
    )
    trio_cases(
        "late",
        [
            (UC_TG, "CancelScope() > unicancel.TaskGroup", (), t_late_unicancel_tg),
            (tri, "trio.CancelScope() > nursery", (), t_late_trio),
        ],
        at_once=(UC_TG, tri),
    )
    ev, tc, ucs = "asyncio.Event", "task.cancel()", "unicancel scopes"
    scopes_expr = "CancelScope > sleep xN, cancel() xN"
    asyncio_cases(
        "stop",
        [
            (uc, "move_on_when(token) > sleep xN, request_stop()", (), a_stop_unicancel),
            (ev, "await stop.wait() xN, stop.set()", (), a_stop_event),
            (tc, "sleep xN, task.cancel() xN", (), a_stop_task_cancel),
            (ucs, scopes_expr, (), a_stop_scopes),
        ],
        uvloop=(uc, ev, tc, ucs),
    )
    trio_cases(
        "stop",
        [
            (uc, "move_on_when(token) > sleep xN, request_stop()", (), t_stop_unicancel),
            ("trio.Event", "await stop.wait() xN, stop.set()", (), t_stop_event),
            ("trio.CancelScope", f"trio.{scopes_expr}", (), t_stop_scopes),
            (ucs, scopes_expr, (), t_stop_uc_scopes),
        ],
    )
    asyncio_cases(
        "onstop",
        [
            (uc, "token.on_stop(fn).cancel()", (), onstop_unicancel),
            (
                "Future callback",
                "fut.add_done_callback(fn); fut.remove_done_callback(fn)",
                (),
                a_onstop_future,
            ),
        ],
        uvloop=(),
    )
    return cases
