"""The documentation site (mkdocs.yml) builds in strict mode and works in a
real browser.

* The benchmark chart (docs/assets/benchmark-ratios.svg) is what
  scripts/benchmark_chart.py draws from the results pages: runs everywhere.
* ``mkdocs build --strict`` succeeds without a warning (a broken link, anchor
  or API cross-reference is a warning). Needs the ``docs`` extra, which
  scripts/test.sh installs into the newest Python's venv only: elsewhere the
  test is skipped, saying so.
* The built site, served on 127.0.0.1, is loaded page by page in headless
  Chromium through selenium and chromedriver (Debian's ``chromium`` and
  ``chromium-driver``; scripts/test.sh installs them when it runs as root):
  every page has a title and a heading, a navigation link leads to its page,
  the search box finds a page, and the browser logs no error. Skipped, saying
  why, where Chromium, chromedriver or selenium is missing.

Set UNICANCEL_DOCS_SCREENSHOTS=DIR to keep screenshots of the home page and a
search result.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS_EXTRA = (
    "the docs extra (pip install -e '.[docs]'; "
    "scripts/test.sh installs it into the newest Python's venv only)"
)


def _load_chart_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "benchmark_chart", ROOT / "scripts" / "benchmark_chart.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_chart", module)
    spec.loader.exec_module(module)
    return module


def test_benchmark_chart_is_drawn_from_the_results() -> None:
    chart = _load_chart_script()
    bars = [bar for path in chart.RESULTS for bar in chart.parse(path.read_text(encoding="utf-8"))]
    # Every results page gives a ratio per backend for the timed workloads.
    assert {bar.python for bar in bars} == {"3.11", "3.13", "3.14"}
    assert {bar.backend for bar in bars} == {"asyncio", "uvloop", "trio"}
    assert len({bar.workload for bar in bars}) >= 5
    assert chart.CHART.read_text(encoding="utf-8") == chart.build(), (
        "docs/assets/benchmark-ratios.svg is stale: run python scripts/benchmark_chart.py"
    )


def test_benchmark_chart_follows_a_changed_result() -> None:
    """The chart is computed, not copied: a different ratio draws a different bar."""
    chart = _load_chart_script()
    text = chart.RESULTS[0].read_text(encoding="utf-8")
    bars = chart.parse(text)
    first = bars[0]
    label = f"Python {first.python}, {first.backend}: {first.ratio:.2f}x"
    assert label in chart.render(bars)
    changed = [chart.Bar(first.workload, first.python, first.backend, 9.87), *bars[1:]]
    assert f"Python {first.python}, {first.backend}: 9.87x" in chart.render(changed)


# -- strict build ----------------------------------------------------------------------


def _have_docs_deps() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per module with ``mkdocs build --strict``."""
    if not _have_docs_deps():
        pytest.skip(f"mkdocs, mkdocs-material or mkdocstrings missing: needs {DOCS_EXTRA}")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return out


def _pages(site: Path) -> list[str]:
    return sorted(p.name for p in site.glob("*.html") if p.name != "404.html")


def test_site_builds_strictly_with_every_page(site: Path) -> None:
    pages = _pages(site)
    sources = {p.stem for p in (ROOT / "docs").glob("*.md")}
    assert {Path(page).stem for page in pages} == sources
    reference = (site / "reference.html").read_text(encoding="utf-8")
    import unicancel

    missing = [name for name in unicancel.__all__ if f'id="unicancel.{name}"' not in reference]
    assert not missing, f"the API reference has no entry for {missing}"
    assert ":class:`" not in reference and ":meth:`" not in reference  # roles were converted
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "quickstart" in home.lower() and 'href="docs/' not in home


# -- real browser -------------------------------------------------------------------------


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/lib/chromium/chromedriver"
        if Path("/usr/lib/chromium/chromedriver").exists()
        else None
    )
    return (browser, driver) if browser and driver else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on a free port of 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    found = _chromium()
    if found is None:
        pytest.skip(
            "Chromium or chromedriver not found: apt-get install chromium chromium-driver "
            "(scripts/test.sh does it when run as root)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(f"selenium missing: needs {DOCS_EXTRA}")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=found[1]))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _severe(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("UNICANCEL_DOCS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_every_page_renders_in_chromium(site: Path, served: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    errors: dict[str, list[str]] = {}
    for page in _pages(site):
        browser.get(served + page)
        assert browser.title.endswith("unicancel"), (page, browser.title)
        headings = browser.find_elements(By.CSS_SELECTOR, "article h1")
        assert headings and headings[0].text.strip(), f"{page}: no h1"
        if page == "benchmarks-overview.html":
            chart = browser.find_element(
                By.CSS_SELECTOR, "article img[src$='benchmark-ratios.svg']"
            )
            assert browser.execute_script("return arguments[0].naturalWidth", chart) > 0
        if page == "index.html":
            _screenshot(browser, "home.png")
        if severe := _severe(browser):
            errors[page] = severe
    assert not errors, f"browser errors: {errors}"


def test_navigation_and_search_work_in_chromium(served: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(served + "index.html")
    link = browser.find_element(
        By.CSS_SELECTOR, "nav.md-nav--primary a.md-nav__link[href$='concepts.html']"
    )
    link.click()
    wait.until(ec.url_contains("concepts.html"))
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text.strip() == "Concepts"

    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    if not box.is_displayed():  # a narrow window: the search button opens it
        browser.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__search']").click()
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
    box.click()
    box.send_keys("graceful shutdown")
    results = wait.until(
        ec.visibility_of_any_elements_located((By.CSS_SELECTOR, ".md-search-result__item a"))
    )
    assert results
    targets = [a.get_attribute("href") or "" for a in results]
    assert any(
        "stop-tokens.html" in href or "migrating-from-asyncio.html" in href for href in targets
    ), targets
    _screenshot(browser, "search.png")
    results[0].click()
    wait.until(lambda driver: driver.current_url.split("#")[0] != served + "concepts.html")
    assert not _severe(browser)
