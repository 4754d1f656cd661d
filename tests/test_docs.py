"""The code in the docs runs, on asyncio and on trio, and prints what the docs say.

Conventions (stated in the documents themselves):

* README.md: the ```python block right after the ``<!-- quickstart -->`` marker
  is a complete program taking the backend name as its first argument; the
  ```text block after it is its exact output.
* docs/migrating-from-asyncio.md: every ```python block starts with a marker
  line. ``# runnable: header`` is prepended to every ``# runnable`` block,
  which is then run once per backend (``sys.argv[1]`` is the backend name);
  ``# runnable: asyncio`` blocks are plain-asyncio programs, run once. The
  ```text block after a runnable block is its exact output.
* docs/structured-concurrency.md and the site's other guide pages (GUIDES
  below: concepts, migrating from anyio, FAQ) follow the same markers; every
  ```python block of docs/ is run by some test, except on the pages of
  signatures (api.md).

These are plain sync tests (no anyio_backend fixture): each program starts its
own event loop, through ``unicancel.run`` or ``asyncio.run``.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import unicancel

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MIGRATING = ROOT / "docs" / "migrating-from-asyncio.md"
API = ROOT / "docs" / "api.md"
BACKENDS = ("asyncio", "trio")
QUICKSTART_MARKER = "<!-- quickstart -->"
HEADER = "# runnable: header"
BOTH = "# runnable"
ASYNCIO_ONLY = "# runnable: asyncio"

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """A fenced code block, where it starts, and the ```text block after it."""

    lang: str
    body: str
    start: int  # offset of the opening fence
    line: int  # line number of the first line of the body (1-based)
    output: str | None

    @property
    def marker(self) -> str:
        return self.body.split("\n", 1)[0].strip()


def _blocks(text: str) -> list[Block]:
    fences = list(_FENCE.finditer(text))
    blocks = []
    for i, fence in enumerate(fences):
        output = None
        if i + 1 < len(fences):
            after = fences[i + 1]
            if after.group("lang") == "text" and not text[fence.end() : after.start()].strip():
                output = after.group("body")
        blocks.append(
            Block(
                lang=fence.group("lang"),
                body=fence.group("body"),
                start=fence.start(),
                line=text.count("\n", 0, fence.start("body")) + 1,
                output=output,
            )
        )
    return blocks


def _python_blocks(path: Path) -> list[Block]:
    return [block for block in _blocks(path.read_text(encoding="utf-8")) if block.lang == "python"]


def _quickstart() -> Block:
    text = README.read_text(encoding="utf-8")
    marker = text.find(QUICKSTART_MARKER)
    assert marker >= 0, f"README.md has no {QUICKSTART_MARKER} marker"
    after = [block for block in _blocks(text) if block.start > marker]
    assert after, "no code block after the quickstart marker"
    block = after[0]
    assert block.lang == "python", "the quickstart marker must precede a ```python block"
    return block


def _exec(block: Block, path: Path, namespace: dict[str, object]) -> None:
    # Pad with newlines so that tracebacks point at the line in the document.
    source = "\n" * (block.line - 1) + block.body
    exec(compile(source, str(path), "exec"), namespace)


def _run_in_process(blocks: list[Block], backend: str) -> str:
    """Run *blocks* one after the other in one namespace, with ``sys.argv[1]``
    set to *backend*; return what they printed."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    out = io.StringIO()
    argv = sys.argv
    sys.argv = ["example.py", backend]
    try:
        with contextlib.redirect_stdout(out):
            for block in blocks:
                _exec(block, MIGRATING, namespace)
    finally:
        sys.argv = argv
    return out.getvalue()


# -- README quickstart ---------------------------------------------------------


def test_readme_quickstart_runs_unchanged_on_both_backends(tmp_path: Path) -> None:
    """The quickstart, saved as a file and run from the command line, exits 0
    and prints the documented output on every backend."""
    block = _quickstart()
    assert block.output is not None, "the quickstart must be followed by its ```text output"
    script = tmp_path / "quickstart.py"
    script.write_text(block.body, encoding="utf-8")
    # Start both at once: the run is mostly interpreter start-up.
    procs = {
        backend: subprocess.Popen(
            [sys.executable, str(script), backend],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for backend in BACKENDS
    }
    outputs = {}
    for backend, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, f"{backend}: exit {proc.returncode}\n{stderr}"
        assert stderr == "", f"{backend}: {stderr}"
        outputs[backend] = stdout
    assert outputs["asyncio"] == outputs["trio"], outputs
    assert outputs["asyncio"] == block.output


def test_readme_quickstart_is_backend_neutral() -> None:
    """The only backend-specific code in the quickstart is reading the backend
    name and choosing ``sleep``."""
    body = _quickstart().body
    assert "unicancel.run(main, backend=backend)" in body
    specific = [line for line in body.splitlines() if re.search(r"\b(asyncio|trio)\b", line)]
    assert len(specific) <= 2, specific


# -- docs/migrating-from-asyncio.md ----------------------------------------------

_MIGRATING_BLOCKS = _python_blocks(MIGRATING)
_HEADERS = [block for block in _MIGRATING_BLOCKS if block.marker == HEADER]
_BOTH = [block for block in _MIGRATING_BLOCKS if block.marker == BOTH]
_ASYNCIO_ONLY = [block for block in _MIGRATING_BLOCKS if block.marker == ASYNCIO_ONLY]


def test_migration_guide_blocks_are_all_marked() -> None:
    """Every ```python block in the guide is run by the tests below."""
    unmarked = [
        block.line
        for block in _MIGRATING_BLOCKS
        if block.marker not in (HEADER, BOTH, ASYNCIO_ONLY)
    ]
    assert not unmarked, f"python blocks without a '# runnable' marker at lines {unmarked}"
    assert len(_HEADERS) == 1
    # Problems 1 to 9 each have a unicancel version (10 is a list of tools).
    assert len(_BOTH) >= 9
    assert len(_ASYNCIO_ONLY) >= 9


def test_migration_guide_covers_the_ten_problems_without_placeholders() -> None:
    """One section per asyncio cancellation problem the guide promises (1-10),
    none of them a 'planned' placeholder."""
    text = MIGRATING.read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.M)]
    assert numbers == list(range(1, 11)), numbers
    assert not re.search(r"\bplanned\b|not part of unicancel yet", text, re.I)


@pytest.mark.parametrize("block", _BOTH, ids=[f"line{block.line}" for block in _BOTH])
def test_migration_example_runs_on_both_backends(block: Block) -> None:
    outputs = {backend: _run_in_process([*_HEADERS, block], backend) for backend in BACKENDS}
    assert outputs["asyncio"] == outputs["trio"], outputs
    assert block.output is not None, f"line {block.line}: no ```text output block after it"
    assert outputs["asyncio"] == block.output


@pytest.mark.parametrize(
    "block", _ASYNCIO_ONLY, ids=[f"line{block.line}" for block in _ASYNCIO_ONLY]
)
def test_migration_asyncio_example_prints_what_the_guide_says(block: Block) -> None:
    output = _run_in_process([block], "asyncio")
    assert block.output is not None, f"line {block.line}: no ```text output block after it"
    assert output == block.output


# -- docs/structured-concurrency.md ---------------------------------------------

STRUCTURED = ROOT / "docs" / "structured-concurrency.md"
_SC_BLOCKS = _python_blocks(STRUCTURED)
_SC_HEADERS = [block for block in _SC_BLOCKS if block.marker == HEADER]
_SC_BOTH = [block for block in _SC_BLOCKS if block.marker == BOTH]
_SC_ASYNCIO = [block for block in _SC_BLOCKS if block.marker == ASYNCIO_ONLY]


def test_structured_concurrency_blocks_are_all_marked() -> None:
    unmarked = [b.line for b in _SC_BLOCKS if b.marker not in (HEADER, BOTH, ASYNCIO_ONLY)]
    assert not unmarked, f"python blocks without a '# runnable' marker at lines {unmarked}"
    assert _SC_BOTH


@pytest.mark.parametrize("block", _SC_BOTH, ids=[f"line{b.line}" for b in _SC_BOTH])
def test_structured_concurrency_example_runs_on_both_backends(block: Block) -> None:
    outputs = {backend: _run_in_process([*_SC_HEADERS, block], backend) for backend in BACKENDS}
    assert outputs["asyncio"] == outputs["trio"], outputs
    assert block.output is not None, f"line {block.line}: no ```text output block after it"
    assert outputs["asyncio"] == block.output


@pytest.mark.parametrize("block", _SC_ASYNCIO, ids=[f"line{b.line}" for b in _SC_ASYNCIO])
def test_structured_concurrency_asyncio_example(block: Block) -> None:
    output = _run_in_process([block], "asyncio")
    assert block.output is not None, f"line {block.line}: no ```text output block after it"
    assert output == block.output


# -- docs/api.md and the README's API list -------------------------------------


def _headings(path: Path, level: str) -> set[str]:
    """Names in backticks in the headings of *level* (e.g. "###")."""
    text = path.read_text(encoding="utf-8")
    names: set[str] = set()
    for heading in re.findall(rf"^{level} (.*)$", text, re.M):
        names.update(re.findall(r"`(\w+)", heading))
    return names


def test_api_reference_covers_every_public_name() -> None:
    missing = set(unicancel.__all__) - _headings(API, "###")
    assert not missing, f"docs/api.md has no '### `name`' section for {sorted(missing)}"


def test_api_reference_covers_every_cancel_scope_member() -> None:
    members = {name for name in vars(unicancel.CancelScope) if not name.startswith("_")}
    missing = members - _headings(API, "####")
    assert not missing, f"docs/api.md has no '#### `member`' section for {sorted(missing)}"


def test_readme_lists_every_public_name() -> None:
    text = README.read_text(encoding="utf-8")
    listed = text[text.index("## What you get") : text.index("## How it works")]
    missing = [name for name in unicancel.__all__ if f"`{name}" not in listed]
    assert not missing, f"README 'What you get' does not mention {missing}"


# -- the other guide pages, and every example on the site ---------------------------

DOCS = ROOT / "docs"
# Pages written with the ``# runnable`` markers, and run here; stop-tokens.md
# is run by tests/test_stop_docs.py, services.md by tests/services/test_docs_services.py.
GUIDES = ("concepts.md", "migrating-from-anyio.md", "faq.md")
# Pages whose ```python blocks are signatures, not programs.
SIGNATURES_ONLY = ("api.md",)
_RUN_ELSEWHERE = (
    "migrating-from-asyncio.md",
    "structured-concurrency.md",
    "stop-tokens.md",
    "services.md",  # tests/services/test_docs_services.py
    "diagnostics.md",  # tests/test_docs_diagnostics.py
)


def _guide_blocks(kind: str) -> list[tuple[str, Block]]:
    return [
        (page, block)
        for page in GUIDES
        for block in _python_blocks(DOCS / page)
        if block.marker == kind
    ]


_GUIDE_BOTH = _guide_blocks(BOTH)
_GUIDE_ASYNCIO = _guide_blocks(ASYNCIO_ONLY)


def _guide_header(page: str) -> list[Block]:
    return [b for b in _python_blocks(DOCS / page) if b.marker == HEADER]


def test_every_python_block_on_the_site_is_run() -> None:
    """A ```python block in docs/ is a program that some test runs, except on
    the pages of signatures; a new page must be added to a runner."""
    pages = {path.name for path in DOCS.glob("*.md")}
    known = set(GUIDES) | set(SIGNATURES_ONLY) | set(_RUN_ELSEWHERE)
    with_code = {page for page in pages if _python_blocks(DOCS / page)}
    assert with_code <= known, f"pages with python blocks that no test runs: {with_code - known}"
    for page in GUIDES:
        blocks = _python_blocks(DOCS / page)
        unmarked = [b.line for b in blocks if b.marker not in (HEADER, BOTH, ASYNCIO_ONLY)]
        assert not unmarked, f"{page}: python blocks without a '# runnable' marker: {unmarked}"
        assert len(_guide_header(page)) <= 1, page


@pytest.mark.parametrize(
    ("page", "block"), _GUIDE_BOTH, ids=[f"{p}:line{b.line}" for p, b in _GUIDE_BOTH]
)
def test_guide_example_runs_on_both_backends(page: str, block: Block) -> None:
    header = _guide_header(page)
    outputs = {backend: _run_in_process([*header, block], backend) for backend in BACKENDS}
    assert outputs["asyncio"] == outputs["trio"], outputs
    assert block.output is not None, f"{page}:{block.line}: no ```text output block after it"
    assert outputs["asyncio"] == block.output


@pytest.mark.parametrize(
    ("page", "block"), _GUIDE_ASYNCIO, ids=[f"{p}:line{b.line}" for p, b in _GUIDE_ASYNCIO]
)
def test_guide_asyncio_example(page: str, block: Block) -> None:
    output = _run_in_process([block], "asyncio")
    assert block.output is not None, f"{page}:{block.line}: no ```text output block after it"
    assert output == block.output


# Files a user cannot look up: the project's internal notes.
_INTERNAL = re.compile(r"ANCHORS|SCENARIOS(\.md| item)|\btraps? \d|\b[ST]\d{1,2}/[ST]\d{1,2}\b")


def test_user_facing_text_cites_no_internal_notes() -> None:
    """The docs, the README and the texts of `python -m unicancel compare`
    (descriptions, `--explain`, the generated page) say what they mean instead
    of citing internal notes such as "ANCHORS trap 7" or "SCENARIOS item 5"."""
    texts = {f"docs/{path.name}": path.read_text(encoding="utf-8") for path in DOCS.glob("*.md")}
    texts["README.md"] = README.read_text(encoding="utf-8")
    # What the CLI shows (also with --explain): each scenario's title, description, topics.
    command = ["compare", "--format", "json", "--systems", "unicancel-asyncio"]
    report = subprocess.run(
        [sys.executable, "-m", "unicancel", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for scenario in json.loads(report.stdout)["scenarios"]:
        texts[f"compare {scenario['name']}"] = " ".join(
            (scenario["title"], scenario["description"], *scenario["covers"])
        )
    assert len(texts) > 40, sorted(texts)
    cited = {
        where: match.group(0) for where, text in texts.items() if (match := _INTERNAL.search(text))
    }
    assert not cited, cited
