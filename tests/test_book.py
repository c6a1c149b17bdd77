"""Every chapter executes in the smoke profile; the book builds with warnings as errors;
pages and images exist; headless Chromium renders a chapter."""

import os
import re
import shutil
import subprocess

import jupytext
import nbformat
import numpy as np
import pytest
from conftest import ROOT

from collapse.book import runner as book

CHAPTERS = book.chapter_names(ROOT)
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_executes_in_smoke_profile(smoke_book, name):
    site, _, results = smoke_book
    result = results[name]
    if isinstance(result, Exception):
        pytest.fail(f"chapter {name} failed in the smoke profile:\n{result}")
    notebook = nbformat.read(site / "book" / f"{name}.ipynb", as_version=4)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # every figure cell of the chapter shows its figure (a PNG any notebook front end
    # displays), so the chapter run as a plain notebook shows every figure too
    figures = [c for c in jupytext.read(ROOT / "chapters" / f"{name}.md").cells
               if c.cell_type == "code" and "mystnb" in c.metadata]
    shown = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures and shown >= len(figures), f"{name}: {shown} of {len(figures)} figures shown"
    assert notebook.metadata["collapse"]["profile"] == "smoke"


def test_book_builds_with_warnings_as_errors(smoke_book):
    site, html, _ = smoke_book
    if html is None:
        log = (site / "build.log").read_text()
        pytest.fail("jupyter-book build failed:\n" + log[-5000:])


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_page_and_image_exists(smoke_book, name):
    _, html, _ = smoke_book
    if html is None:
        pytest.skip("the build failed (reported by test_book_builds_with_warnings_as_errors)")
    page = html / "book" / f"{name}.html"
    assert page.exists()
    assert "find_spec" not in page.read_text()  # the notebooks' install cell is hidden
    sources = re.findall(r'<img[^>]+src="([^"]+)"', page.read_text())
    local = [s for s in sources if not s.startswith(("http:", "https:", "data:"))]
    assert local, f"{page.name} shows no figure"
    for source in local:
        assert (page.parent / source).resolve().exists(), f"{page.name}: missing {source}"


def test_landing_and_execution_pages_exist(smoke_book):
    _, html, _ = smoke_book
    if html is None:
        pytest.skip("the build failed")
    assert (html / "index.html").exists()
    # MathJax is served from the site itself, so formulas render without internet
    assert "_static/mathjax/tex-mml-chtml.js" in (html / "index.html").read_text()
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").exists()
    statistics = (html / "book" / "execution.html").read_text()
    for name in CHAPTERS:
        assert name in statistics


def chromium() -> str | None:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(candidate):
            return shutil.which(candidate)
    return None


def test_headless_chromium_renders_the_gaussian_chapter(smoke_book, tmp_path):
    _, html, _ = smoke_book
    if html is None:
        pytest.skip("the build failed")
    browser = chromium()
    if browser is None:
        if os.environ.get("COLLAPSE_REQUIRE_CHROMIUM"):
            pytest.fail("Chromium is required (COLLAPSE_REQUIRE_CHROMIUM) but not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    screenshot = tmp_path / "gaussian.png"
    page = (html / "book" / "gaussian.html").resolve()
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
         "--window-size=1280,4000", f"--screenshot={screenshot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    assert pixels.shape == (4000, 1280)
    not_white = (pixels < 240).mean()
    assert not_white > 0.02, f"the rendered page is nearly blank ({not_white:.1%} ink)"
    assert pixels.std() > 10
    # colour, not only text: figures draw in the colorblind palette
    rgb = np.asarray(Image.open(screenshot).convert("RGB"), dtype=float)
    saturated = (rgb.max(axis=2) - rgb.min(axis=2) > 60).mean()
    assert saturated > 0.002, "no coloured figure was rendered"


def test_an_unchanged_chapter_is_not_executed_again(tmp_path):
    quiet = {"log": lambda *_: None, "output_dir": tmp_path}
    first = book.execute_chapter("gaussian", "smoke", {"runs": 20}, **quiet)
    again = book.execute_chapter("gaussian", "smoke", {"runs": 20}, **quiet)
    changed = book.execute_chapter("gaussian", "smoke", {"runs": 21}, **quiet)
    assert (first["status"], again["status"], changed["status"]) == \
        ("executed", "cached", "executed")
    assert again["cache_key"] == first["cache_key"] != changed["cache_key"]
