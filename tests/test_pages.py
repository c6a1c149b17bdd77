"""What a careful reader sees on the built pages (smoke profile, issue 18): no debris in the
tables (missing values, cut cells, float noise), no stderr, no machine paths, no history of
the book's own development, tables that fit their column or scroll, and figures whose
smallest text is readable at the width the page shows them (headless Chromium)."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pytest
from conftest import ROOT
from test_book import chromium

from collapse.book import plots
from collapse.book import runner as book

CHAPTERS = book.chapter_names(ROOT)
PAGES = ["index", *CHAPTERS]
pytestmark = pytest.mark.slow
# the smallest text a figure may show, in CSS pixels at a 1280-px-wide window: the size of
# the theme's small print (captions, footnotes) is 0.875 of a 16 px body text = 14 px,
# less one pixel of rounding in the PNG's scaling
SMALLEST_TEXT_PX = 13.0
HISTORY = re.compile(r"earlier version|as the book did|as it then was|previous version|"
                     r"used to show|this book used to", re.IGNORECASE)
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|usr|opt)/[\w./-]+")


@pytest.fixture(scope="module")
def html(request):
    """The smoke book's site, or a site built already (``COLLAPSE_TEST_SITE=_build/html``,
    e.g. the quick book, when working on the pages)."""
    import os
    from pathlib import Path

    if os.environ.get("COLLAPSE_TEST_SITE"):
        return Path(os.environ["COLLAPSE_TEST_SITE"]).resolve()
    _, html, _ = request.getfixturevalue("smoke_book")
    if html is None:
        pytest.skip("the build failed (reported by test_book_builds_with_warnings_as_errors)")
    return html


def page_of(html, name):
    return html / ("index.html" if name == "index" else f"book/{name}.html")


class _Cells(HTMLParser):
    """The text of every table cell in the cells' outputs, and the classes of outputs."""

    def __init__(self):
        super().__init__()
        self.cells, self.outputs, self.stack, self.depth, self.text = [], [], [], 0, None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div" and "cell_output" in classes:
            self.depth = 1
        elif tag == "div" and self.depth:
            self.depth += 1
        if self.depth and tag == "div" and "output" in classes:
            self.outputs.append(classes)
        if self.depth and tag in ("td", "th"):
            self.text = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.text is not None:
            self.cells.append("".join(self.text).strip())
            self.text = None
        if tag == "div" and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)


def parsed(html, name):
    parser = _Cells()
    parser.feed(page_of(html, name).read_text())
    return parser


def significant_digits(number: str) -> int:
    digits = number.replace(",", "").lstrip("-+").split("e")[0].replace(".", "").lstrip("0")
    return len(digits)


@pytest.mark.parametrize("name", CHAPTERS)
def test_table_cells_hold_no_missing_values_no_cut_text_and_no_float_noise(html, name):
    cells = parsed(html, name).cells
    missing = [c for c in cells if c in ("NaN", "nan", "<NA>", "None")]
    cut = [c for c in cells if c.endswith("...")]  # pandas' mark of a cut cell
    noisy = [c for c in cells for n in re.findall(r"-?\d[\d,]*\.\d+(?:e[-+]?\d+)?", c)
             if significant_digits(n) > plots.SIGNIFICANT_DIGITS]
    assert not missing, f"{name}: {len(missing)} table cells show a missing value"
    assert not cut, f"{name}: table cells cut short: {cut[:3]}"
    assert not noisy, (f"{name}: numbers with more than {plots.SIGNIFICANT_DIGITS} significant "
                       f"digits: {noisy[:5]}")


@pytest.mark.parametrize("name", PAGES)
def test_no_stderr_no_machine_path_no_development_history(html, name):
    page = page_of(html, name).read_text()
    stderr = [o for o in parsed(html, name).outputs if "stderr" in o]
    visible = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", page, flags=re.S)
    assert not stderr, f"{name}: {len(stderr)} stderr outputs on the page"
    assert not MACHINE_PATH.findall(visible), \
        f"{name}: machine paths on the page: {MACHINE_PATH.findall(visible)[:3]}"
    assert not HISTORY.findall(visible), \
        f"{name}: the book's own history on the page: {HISTORY.findall(visible)}"


PROBE = """
<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var report = {images: [], tables: []};
    document.querySelectorAll(".cell_output img").forEach(function (img) {
      report.images.push({src: img.getAttribute("src"), natural: img.naturalWidth,
                          shown: img.getBoundingClientRect().width});
    });
    document.querySelectorAll(".cell_output table, .table-wrapper table").forEach(
      function (table) {
        var box = table.parentElement, scrolls = false;
        for (var node = table.parentElement; node && node !== document.body;
             node = node.parentElement) {
          var style = getComputedStyle(node).overflowX;
          if (style === "auto" || style === "scroll") { box = node; scrolls = true; break; }
        }
        var column = document.querySelector("main") || document.body;
        report.tables.push({width: table.getBoundingClientRect().width,
                            room: box.clientWidth, scrolls: scrolls,
                            column: column.getBoundingClientRect().width});
      });
    var out = document.createElement("pre");
    out.id = "collapse-page-report";
    out.textContent = JSON.stringify(report);
    document.body.appendChild(out);
  }, 300);
});
</script>
"""


_REPORTS: dict = {}


def page_report(browser, page, tmp_path, width: int):
    """The probe's report of ``page`` at ``width`` (one Chromium run per page and width)."""
    if (page, width) not in _REPORTS:
        _REPORTS[page, width] = _run_probe(browser, page, tmp_path, width)
    return _REPORTS[page, width]


def _run_probe(browser, page, tmp_path, width: int):
    import subprocess

    probe = page.with_name(f"_pagecheck_{width}_{page.name}")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        for attempt in range(3):
            dom = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={tmp_path / f'profile{width}{attempt}'}",
                 f"--window-size={width},2000", f"--virtual-time-budget={30000 * 2**attempt}",
                 "--dump-dom", probe.as_uri()],
                check=True, capture_output=True, text=True, timeout=180,
            ).stdout
            match = re.search(r'<pre id="collapse-page-report">(.*?)</pre>', dom, flags=re.S)
            if match:
                break
    finally:
        probe.unlink()
    assert match, f"the page check did not run in {page.name}"
    return json.loads(match[1].replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


@pytest.fixture(scope="module")
def browser():
    found = chromium()
    if found is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


@pytest.mark.parametrize("name", CHAPTERS)
def test_figure_text_is_readable_at_the_page_width(html, browser, tmp_path, name):
    """Each figure's smallest text (recorded in its PNG by ``plots.png``) times the scale at
    which the page shows the image is at least the theme's small print."""
    from PIL import Image

    page = page_of(html, name)
    report = page_report(browser, page, tmp_path, 1280)
    assert report["images"], f"{name}: no figure on the page"
    small = []
    for image in report["images"]:
        png = Image.open(io.BytesIO((page.parent / image["src"]).resolve().read_bytes()))
        points = png.info.get("Smallest-Text-Pt")
        assert points, f"{name}: {image['src']} was not drawn by plots.png (no text size)"
        shown_px = float(points) * 100 / 72 * image["shown"] / image["natural"]
        if shown_px < SMALLEST_TEXT_PX:
            small.append((image["src"], round(shown_px, 1)))
    assert not small, f"{name}: figure text smaller than {SMALLEST_TEXT_PX} px: {small}"


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("name", CHAPTERS)
def test_every_table_fits_its_column_or_scrolls(html, browser, tmp_path, name, width):
    report = page_report(browser, page_of(html, name), tmp_path, width)
    overflowing = [t for t in report["tables"] if t["width"] > t["room"] + 1 and not t["scrolls"]]
    assert not overflowing, f"{name} at {width} px: tables wider than their column: {overflowing}"
