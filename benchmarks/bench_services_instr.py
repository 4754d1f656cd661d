"""Instructions per request of DeadlineMiddleware, counted by callgrind.

CPU time per request on a shared machine moves by more than the 5 % being
measured (bench_services.py). Instruction counts do not depend on the load,
so this counts them with valgrind's callgrind (valgrind must be installed):

* ``server``: each app kind of bench_services_load.py (``bare``, ``wrap``,
  ``watch``, ``deadline``) runs under uvicorn in a process of its own under
  callgrind; this process sends the same keep-alive GET as the load generator,
  one request at a time on one connection (at 1,000 req/s a server that spends
  0.2 ms on a request also sees them one at a time). The counters are zeroed
  after a warm-up and dumped after N requests, by the server's control thread
  (``os.getpgrp()`` and ``os.getsid()``, callgrind's --zero-before and
  --dump-before functions), so startup is not counted.
* ``parts``: bench_services_parts.py's in-process parts, each counted the
  same way (``--marks``).

Instruction counts are not time: a cache miss costs many instructions' worth,
so they show what code runs, and the CPU figures what it costs. Run:
``python benchmarks/bench_services_instr.py [server|parts] [--n N]``.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile

import bench_services_load as load

HERE = os.path.dirname(os.path.abspath(__file__))
# Floors beside bench_services_load's kinds: the part of DeadlineMiddleware
# that its features need whatever the code (server kinds "module:Middleware").
FLOORS = ("bench_services_instr:Scoped", "bench_services_instr:DeadlineScoped")
KINDS = ("bare", "wrap", *FLOORS, "watch", "deadline")


class Scoped:
    """A middleware that runs the app in a plain CancelScope."""

    def __init__(self, app: load.App) -> None:
        self.app = app

    async def __call__(self, scope: load.Scope, receive: load.Receive, send: load.Send) -> None:
        import unicancel

        with unicancel.CancelScope():
            await self.app(scope, receive, send)


class DeadlineScoped(Scoped):
    """The app in a CancelScope with a deadline (the budget's, 5 s)."""

    async def __call__(self, scope: load.Scope, receive: load.Receive, send: load.Send) -> None:
        import unicancel

        with unicancel.CancelScope(relative_deadline=5.0):
            await self.app(scope, receive, send)


SIM: list[str] = []  # --sim: callgrind's cache and branch simulation too


def _valgrind(out: str) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--zero-before=os_getpgrp",
        "--dump-before=os_getsid",
        *SIM,
    ]


def _events(path: str) -> dict[str, int]:
    """A dump's totals by event (Ir; with --sim also cache and branch misses)."""
    names: list[str] = []
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("totals:"):
                return dict(zip(names, map(int, line.split()[1:]), strict=False))
    raise RuntimeError(f"no totals in {path}")


def _totals(path: str) -> int:
    return _events(path)["Ir"]


def _misses(path: str, n: int) -> str:
    """Per request: first-level instruction and data cache misses, last-level
    misses, mispredicted branches (callgrind's model of this machine)."""
    e = _events(path)
    if "I1mr" not in e:
        return ""
    d1 = e["D1mr"] + e["D1mw"]
    ll = e["ILmr"] + e["DLmr"] + e["DLmw"]
    branches = e["Bcm"] + e["Bim"]
    return f"  I1 miss {e['I1mr'] / n:,.0f}, D1 miss {d1 / n:,.0f}, LL miss {ll / n:,.0f}, " + (
        f"branch miss {branches / n:,.0f}"
    )


def _dumps(out: str) -> list[str]:
    """The dump files of a run, in order (out.1, out.2, ...)."""
    return sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))


def _get(sock: socket.socket, buffer: bytearray) -> None:
    """One request and its whole response (by content-length)."""
    sock.sendall(load.REQUEST)
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[: end + 2]).lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15 : head.find(b"\r\n", start)])
            if len(buffer) >= end + 4 + length:
                if not head.startswith(b"http/1.1 200"):
                    raise RuntimeError(bytes(buffer[:200]).decode())
                del buffer[: end + 4 + length]
                return
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data


def server_instr(kind: str, n: int, loop: str, workdir: str, keep: bool) -> float:
    out = os.path.join(workdir, f"cg.{kind}")
    proc = subprocess.Popen(
        [*_valgrind(out), sys.executable, load.SCRIPT, "--serve", kind, "--loop", loop],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None

    def command(line: str) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == line

    try:
        port = int(proc.stdout.readline())
        buffer = bytearray()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for _ in range(max(50, n // 5)):  # warm up (the adaptive interpreter too)
                _get(sock, buffer)
            command("zero")
            for _ in range(n):
                _get(sock, buffer)
            command("dump")
    finally:
        proc.stdin.close()
        proc.wait(60)
        proc.stdout.close()
    dumps = _dumps(out)
    instr = _totals(dumps[0]) / n
    if SIM:
        print(f"  ({kind}){_misses(dumps[0], n)}")
    if not keep:
        for path in (*dumps, out):
            if os.path.exists(path):
                os.remove(path)
    return instr


def parts_instr(n: int, repeats: int, workdir: str) -> dict[str, list[float]]:
    out = os.path.join(workdir, "cg.parts")
    script = os.path.join(HERE, "bench_services_parts.py")
    argv = [script, "--marks", "--n", str(n), "--repeats", str(repeats)]
    result = subprocess.run(
        [*_valgrind(out), sys.executable, *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [line[len("part: ") :] for line in result.stdout.splitlines() if line[:6] == "part: "]
    dumps = _dumps(out)
    if len(dumps) != len(names):
        raise RuntimeError(f"{len(dumps)} dumps for {len(names)} parts")
    counts: dict[str, list[float]] = {}
    for name, path in zip(names, dumps, strict=True):
        counts.setdefault(name, []).append(_totals(path) / n)
        if SIM:
            print(f"  ({name}){_misses(path, n)}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("what", choices=("server", "parts"), nargs="?", default="server")
    parser.add_argument("--n", type=int, default=2000, help="requests counted")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the parts")
    parser.add_argument("--loop", default="auto", help="uvicorn's loop: auto, asyncio, uvloop")
    parser.add_argument("--kinds", default=",".join(KINDS), help="server kinds")
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind files in DIR")
    parser.add_argument("--sim", action="store_true", help="also simulate caches and branches")
    args = parser.parse_args()
    if args.sim:
        SIM.extend(["--cache-sim=yes", "--branch-sim=yes"])
    workdir = args.keep or tempfile.mkdtemp(prefix="unicancel-instr-")
    version = sys.version.split()[0]
    if args.what == "parts":
        runs = parts_instr(args.n, args.repeats, workdir)
        counts = {name: statistics.median(values) for name, values in runs.items()}
        print(
            f"Python {version}, in-process, instructions per request ({args.n} requests, "
            f"median of {args.repeats} interleaved repeats, their range in brackets):"
        )
        for name, value in counts.items():
            over = "bare" if not name.startswith("httpx") else "httpx, plain"
            extra = f" ({value - counts[over]:+,.0f})" if over in counts and name != over else ""
            spread = f"[{min(runs[name]):,.0f}..{max(runs[name]):,.0f}]"
            print(f"  {name:30s} {value:10,.0f}{extra:12s} {spread}")
    else:
        print(f"Python {version}, uvicorn loop {args.loop!r}, instructions per request of the")
        print(f"server process ({args.n} requests, one at a time on one connection):")
        counts = {}
        for kind in args.kinds.split(","):
            counts[kind] = server_instr(kind, args.n, args.loop, workdir, args.keep is not None)
            extra = ""
            if kind != "bare" and "bare" in counts:
                extra = f" ({counts[kind] - counts['bare']:+,.0f}, "
                extra += f"{(counts[kind] / counts['bare'] - 1) * 100:+.1f}%)"
            print(f"  {kind.split(':')[-1]:14s} {counts[kind]:10,.0f}{extra}", flush=True)
    if args.keep is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
