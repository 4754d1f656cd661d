"""The package builds and installs as a user would get it.

`python -m build` makes the sdist and the wheel (offline: --no-isolation, with
the venv's setuptools), `twine check --strict` accepts both, the README renders
through the package index's Markdown renderer without a warning, the wheel
holds every module and py.typed but no tests or docs, and a fresh venv with
only the wheel installed imports it and reports its version. Newest Python only
(tests/_tools.py): a build takes seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import unicancel

from ._tools import newest_python_only

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "src" / "unicancel"
README = ROOT / "README.md"


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    # Without PYTHONPATH: a source tree on it would make pip see unicancel as installed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel built from a copy of the source (no build/ or egg-info
    left in the checkout); the wheel is built from the sdist, as build does."""
    newest_python_only()
    for module in ("build", "setuptools", "twine"):
        pytest.importorskip(module, reason=f"{module} missing: needs the `test` extra")
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "site", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    out = tmp / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source)
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_twine_check_strict(dist: Path) -> None:
    files = sorted(dist.iterdir())
    assert sorted(f.suffix for f in files) == [".gz", ".whl"], files
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *files)
    assert output.count("PASSED") == 2, output


def test_readme_renders_on_the_package_index() -> None:
    newest_python_only()
    markdown = pytest.importorskip(
        "readme_renderer.markdown", reason="readme_renderer missing: needs the `test` extra"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "renderers are not available" would pass silently
        html = markdown.render(README.read_text(encoding="utf-8"), variant="GFM")
    assert html is not None
    assert re.search(r"<h2[^>]*>Install<", html), html[:2000]
    text = re.sub(r"<[^>]+>", "", html)  # the code block is split by highlighting
    assert "pip install unicancel" in text
    assert "pip install 'unicancel[trio]'" in text.replace("&#39;", "'")


def test_readme_links_resolve_in_the_sdist(dist: Path) -> None:
    # The package index renders the README without the repository around it, so a
    # relative link there is a 404. There is no public hosting yet: the README names
    # the documents it points to (`docs/x.md`) instead, and the sdist must ship them.
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    readme = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert not [link for link in links if "://" not in link], "relative links break on the index"
    named = set(re.findall(r"`((?:docs/[\w./-]+\.md)|CHANGELOG\.md)`", readme))
    assert "docs/api.md" in named
    assert not sorted(named - names), "the README names documents the sdist does not ship"
    assert "LICENSE" in names


def test_wheel_contents(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = set(wheel.namelist())
    modules = {p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.rglob("*.py")}
    assert modules, PACKAGE
    assert modules - names == set(), "modules missing from the wheel"
    assert "unicancel/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "benchmarks/"))]
    version = unicancel.__version__
    assert f"unicancel-{version}.dist-info/licenses/LICENSE" in names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        text = wheel.read(meta).decode()
    assert f"Version: {version}\n" in text
    assert "License-Expression: MIT\n" in text
    # The pytest plugin of unicancel.diagnostics, offered to every pytest run.
    points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        entry_points = wheel.read(points).decode()
    assert "[pytest11]\nunicancel = unicancel.diagnostics._pytest_plugin\n" in entry_points


def test_wheel_installs_into_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    # symlinks: a copied interpreter cannot find its own libraries where they are
    # relative to it (the CPython builds unpacked at /opt).
    venv.create(env, with_pip=False, symlinks=True)  # the outer pip installs: no download
    python = env / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", _wheel(dist))  # fmt: skip
    code = (
        "import unicancel, importlib.metadata as m; "
        "print(unicancel.__file__); print(unicancel.__version__, m.version('unicancel'))"
    )
    where, versions = _run(python, "-I", "-c", code, cwd=tmp_path).splitlines()
    assert where.startswith(str(env))
    assert versions == f"{unicancel.__version__} {unicancel.__version__}"


def test_version_is_the_metadata_version() -> None:
    # The single source is src/unicancel/_version.py; pyproject reads it.
    try:
        installed = metadata.version("unicancel")
    except metadata.PackageNotFoundError:
        pytest.skip("unicancel is not installed (run from a source tree)")
    assert unicancel.__version__ == installed
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", installed)
