"""Draw the benchmark ratios as an SVG bar chart for the docs site.

    python scripts/benchmark_chart.py           # rewrite docs/assets/benchmark-ratios.svg
    python scripts/benchmark_chart.py --check   # exit 1 if the committed chart is stale

The numbers come from the results pages that ``benchmarks/run.py`` writes
(docs/benchmarks.md, docs/benchmarks-py3.13.md, docs/benchmarks-py3.14.md): for each
workload that compares unicancel with the backend's own primitive, the "unicancel/this" ratio
of the native row (``asyncio`` on the asyncio loops, ``trio`` on trio), one bar
per Python version and backend. Plain SVG text, no plotting library, and
deterministic output so that tests/test_docs_site.py can check it is current.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
RESULTS = (
    ROOT / "docs" / "benchmarks.md",
    ROOT / "docs" / "benchmarks-py3.13.md",
    ROOT / "docs" / "benchmarks-py3.14.md",
)
CHART = ROOT / "docs" / "assets" / "benchmark-ratios.svg"
# The backend column of the results tables, and the native system measured there.
BACKENDS = {"asyncio (default loop)": "asyncio", "asyncio on uvloop": "uvloop", "trio": "trio"}
NATIVE = {"asyncio": "asyncio", "uvloop": "asyncio", "trio": "trio"}
COLOURS = {"asyncio": "#3f51b5", "uvloop": "#26a69a", "trio": "#ef6c00"}


@dataclass(frozen=True)
class Bar:
    workload: str  # "1. Unarmed scope, enter+exit"
    python: str  # "3.11"
    backend: str  # "asyncio", "uvloop", "trio"
    ratio: float  # unicancel / native


def parse(text: str) -> list[Bar]:
    """The native-row ratios of one results page."""
    version = re.search(r"^- Python: \w+ (\d+\.\d+)", text, re.M)
    if version is None:
        raise ValueError("no '- Python: CPython 3.N.M' line in the results")
    bars = []
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        title, _, body = section.partition("\n")
        rows = [line for line in body.splitlines() if line.startswith("|")]
        if not rows:
            continue
        header = [cell.strip() for cell in rows[0].strip("|").split("|")]
        if "unicancel/this" not in header:
            continue
        col = {name: header.index(name) for name in ("backend", "system", "unicancel/this")}
        for row in rows[2:]:
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            if len(cells) != len(header):
                continue  # a row of another shape (not a result)
            backend = BACKENDS.get(cells[col["backend"]])
            ratio = cells[col["unicancel/this"]]
            if backend and cells[col["system"]] == NATIVE[backend] and ratio.endswith("x"):
                bars.append(Bar(title.strip(), version.group(1), backend, float(ratio[:-1])))
    return bars


TITLE = "unicancel time / native primitive (lower is faster)"


def render(bars: list[Bar], *, title: str = TITLE) -> str:
    """A horizontal grouped bar chart: one group per workload, one bar per
    (Python, backend), a dashed line at 1.0x (as fast as the native primitive).
    *title* heads it (benchmarks/scale.py draws its ratios with another)."""
    workloads = list(dict.fromkeys(bar.workload for bar in bars))
    series = sorted({(bar.python, bar.backend) for bar in bars}, key=_series_order)
    scale_max = max(2.0, max((bar.ratio for bar in bars), default=1.0) * 1.1)
    left, width, bar_h, gap = 260, 420, 12, 14
    group_h = len(series) * bar_h + gap
    top = 56
    height = top + len(workloads) * group_h + 24 + 18 * len(series)

    def x(value: float) -> float:
        return left + width * value / scale_max

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 70}" '
        f'height="{height}" viewBox="0 0 {left + width + 70} {height}" '
        'font-family="sans-serif" font-size="12" role="img" '
        'aria-label="unicancel time relative to the native primitive">',
        "<title>unicancel / native primitive, per workload, Python and backend "
        "(lower is faster; 1.0x = as fast)</title>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for tick in _ticks(scale_max):
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{top - 8}" x2="{x(tick):.1f}" '
            f'y2="{top + len(workloads) * group_h}" stroke="#dddddd"/>'
        )
        out.append(f'<text x="{x(tick):.1f}" y="{top - 12}" text-anchor="middle">{tick:g}x</text>')
    for i, workload in enumerate(workloads):
        y0 = top + i * group_h
        out.append(
            f'<text x="{left - 8}" y="{y0 + len(series) * bar_h / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(_short(workload))}</text>'
        )
        for j, (python, backend) in enumerate(series):
            match = [
                b for b in bars if (b.workload, b.python, b.backend) == (workload, python, backend)
            ]
            if not match:
                continue
            ratio = match[0].ratio
            y = y0 + j * bar_h
            opacity = "1" if python == series[-1][0] else "0.55"
            out.append(
                f'<rect x="{left}" y="{y}" width="{x(ratio) - left:.1f}" height="{bar_h - 2}" '
                f'fill="{COLOURS[backend]}" fill-opacity="{opacity}">'
                f"<title>{escape(workload)}: Python {python}, {backend}: {ratio:.2f}x"
                "</title></rect>"
            )
            out.append(
                f'<text x="{x(ratio) + 4:.1f}" y="{y + bar_h - 3}" font-size="10">'
                f"{ratio:.2f}x</text>"
            )
    out.append(
        f'<line x1="{x(1.0):.1f}" y1="{top - 8}" x2="{x(1.0):.1f}" '
        f'y2="{top + len(workloads) * group_h}" stroke="#333333" stroke-dasharray="4 3"/>'
    )
    legend_y = top + len(workloads) * group_h + 16
    for k, (python, backend) in enumerate(series):
        y = legend_y + 18 * k
        opacity = "1" if python == series[-1][0] else "0.55"
        out.append(
            f'<rect x="{left}" y="{y - 10}" width="12" height="12" '
            f'fill="{COLOURS[backend]}" fill-opacity="{opacity}"/>'
        )
        out.append(f'<text x="{left + 18}" y="{y}">Python {python}, {backend}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _series_order(key: tuple[str, str]) -> tuple[tuple[int, ...], int]:
    python, backend = key
    return tuple(int(part) for part in python.split(".")), list(COLOURS).index(backend)


def _ticks(scale_max: float) -> list[float]:
    step = 0.5 if scale_max <= 3 else 1.0
    return [step * i for i in range(int(scale_max / step) + 1)]


def _short(workload: str) -> str:
    return workload if len(workload) <= 40 else workload[:38].rstrip() + "…"


def build(results: tuple[Path, ...] = RESULTS) -> str:
    bars = [bar for path in results for bar in parse(path.read_text(encoding="utf-8"))]
    if not bars:
        raise ValueError("no ratios found in the benchmark results")
    return render(bars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the chart is stale")
    args = parser.parse_args(argv)
    svg = build()
    if args.check:
        current = CHART.read_text(encoding="utf-8") if CHART.exists() else ""
        if current != svg:
            print(f"{CHART.relative_to(ROOT)} is stale: run python scripts/benchmark_chart.py")
            return 1
        return 0
    CHART.parent.mkdir(parents=True, exist_ok=True)
    CHART.write_text(svg, encoding="utf-8")
    print(f"wrote {CHART.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
