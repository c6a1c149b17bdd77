"""The notebooks people download, launch and hand out (issue 16), taken from the built
smoke site and run as a person would run them: with nbclient in a plain Jupyter kernel
(no papermill run, no jupyter-book), from an empty directory. Every figure the site
shows must show there, no MyST may be left in their Markdown, the figure and exercise
numbers must be the site's, and nbconvert's HTML of a downloaded notebook must show
every figure as an image in headless Chromium."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from conftest import ROOT

from collapse.book import export
from collapse.book import runner as book

CHAPTERS = book.chapter_names(ROOT)
REPOSITORY = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def html(smoke_book):
    _, html, _ = smoke_book
    if html is None:
        pytest.skip("the build failed (reported by test_book_builds_with_warnings_as_errors)")
    return html


def downloaded(html, name):
    """The executed notebook the site offers for download (and the notebooks branch holds)."""
    return html / "_sources" / "book" / f"{name}.ipynb"


def student(html, name):
    return html / "_static" / "student" / f"{name}.ipynb"


def site_figures(html, name) -> int:
    return len(re.findall(r'<span class="caption-number">Fig\. ',
                          (html / "book" / f"{name}.html").read_text()))


def images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells
               if cell.cell_type == "code" for output in cell.get("outputs", []))


def run_plain(path: str, cwd: str, profile: str | None) -> dict:
    """Execute a notebook with nbclient in a fresh python3 kernel, one thread each (two
    run side by side); a student notebook gets ``profile`` as a papermill parameter
    (the injected cell only: the execution is nbclient's)."""
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    notebook = load_notebook_node(path)
    if profile:
        notebook = parameterize_notebook(notebook, {"profile": profile})
    start, error = time.perf_counter(), None
    try:
        NotebookClient(notebook, kernel_name="python3", timeout=1200,
                       resources={"metadata": {"path": cwd}},
                       extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    except Exception as failure:  # reported by the test of that notebook
        error = f"{type(failure).__name__}: {str(failure)[-3000:]}"
    return {"notebook": nbformat.writes(notebook), "error": error,
            "seconds": round(time.perf_counter() - start, 1)}


@pytest.fixture(scope="module")
def plain_runs(html, tmp_path_factory):
    """``{(kind, name): run}`` for every downloaded (``executed``) and ``student`` notebook
    of the site, two at a time, the slowest chapters first; the downloaded notebooks run
    with the profile they were executed with (smoke), the student ones with smoke."""
    cwd = tmp_path_factory.mktemp("plain-kernel")
    order = book.start_order(CHAPTERS, html.parents[1] / "book")  # by their smoke run times
    jobs = [(kind, name) for name in order for kind in ("executed", "student")]
    paths = {("executed", n): downloaded(html, n) for n in CHAPTERS} | \
        {("student", n): student(html, n) for n in CHAPTERS}
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {job: pool.submit(run_plain, str(paths[job]), str(cwd),
                                    "smoke" if job[0] == "student" else None) for job in jobs}
        runs = {job: future.result() for job, future in futures.items()}
    for run in runs.values():
        run["notebook"] = nbformat.reads(run["notebook"], as_version=4)
    return runs


@pytest.mark.parametrize("kind", ["executed", "student"])
@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_runs_in_a_plain_kernel_and_shows_every_figure(html, plain_runs, kind, name):
    run = plain_runs[(kind, name)]
    assert run["error"] is None, f"{kind} {name} failed in a plain kernel:\n{run['error']}"
    shown, on_site = images(run["notebook"]), site_figures(html, name)
    assert on_site > 0
    assert shown >= on_site, f"{kind} {name}: {shown} figures shown, the site shows {on_site}"


def test_the_figures_shown_per_chapter(html, plain_runs):
    """The table of the closing note of issue 16 (printed with -s)."""
    rows = [f"{name:18} site {site_figures(html, name):2}  downloaded "
            f"{images(plain_runs[('executed', name)]['notebook']):2}  student "
            f"{images(plain_runs[('student', name)]['notebook']):2}  "
            f"({plain_runs[('executed', name)]['seconds']} s, "
            f"{plain_runs[('student', name)]['seconds']} s)" for name in CHAPTERS]
    print("\n" + "\n".join(rows))
    assert len(rows) == len(CHAPTERS)


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_myst_left_and_the_install_cell_first(html, name):
    for path in (downloaded(html, name), student(html, name)):
        notebook = nbformat.read(path, as_version=4)
        assert not export.myst_left(notebook), f"{path.name}: raw MyST left"
        first = notebook.cells[0]
        assert first.cell_type == "code" and f"git+{REPOSITORY}@" in first.source
        assert not first.metadata.get("tags"), "the install cell is shown in a notebook"
        text = "\n".join(cell.source for cell in notebook.cells)
        assert not re.search(r"<(this )?repository>", text)
    # the student markdown is the same notebook as jupytext Markdown
    markdown = jupytext.read(html / "_static" / "student" / f"{name}.md")
    assert not export.myst_left(markdown)
    assert [c.source for c in markdown.cells] == \
        [c.source for c in nbformat.read(student(html, name), as_version=4).cells]


def numbers_on(page: Path) -> dict[str, str]:
    """``{id: number}`` of every numbered figure, table and exercise of a built page."""
    found = re.findall(r'id="([^"]+)"[^>]*>(?:(?!id=").){0,2000}?'
                       r'<span class="caption-number">([^<]+?)\s*</span>',
                       page.read_text(), flags=re.S)
    return dict(found)


def test_numbers_in_the_notebooks_are_the_sites(html):
    """collapse.book.export numbers figures, tables and exercises from _toc.yml and the chapter
    sources; the built site's numbers must be the same."""
    computed = export.Book.load(ROOT)
    numbered = re.compile(r"^(Fig\.|Table|Exercise) ")
    for name in CHAPTERS:
        on_site = numbers_on(html / "book" / f"{name}.html")
        expected = {t.anchor: t.text for t in computed.targets.values()
                    if t.page == name and numbered.match(t.text)}
        assert expected, f"{name}: nothing numbered"
        assert {k: v for k, v in on_site.items() if k in expected} == expected, name
        assert set(expected) >= {k for k, v in on_site.items() if numbered.match(v)}, name


def chromium():
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(candidate):
            return shutil.which(candidate)
    if os.environ.get("COLLAPSE_REQUIRE_CHROMIUM"):
        pytest.fail("Chromium is required (COLLAPSE_REQUIRE_CHROMIUM) but not installed")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


REPORT = """
<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var shown = Array.from(document.images).filter(function (image) {
      return image.complete && image.naturalWidth > 0 && image.src.startsWith("data:image/png");
    }).length;
    var out = document.createElement("pre");
    out.id = "collapse-report";
    out.textContent = JSON.stringify({images: shown, text: document.body.innerText});
    document.body.appendChild(out);
  }, 500);
});
</script>
"""


def test_nbconvert_html_of_a_downloaded_notebook_in_chromium(html, tmp_path):
    """The downloaded markov notebook, rendered by ``jupyter nbconvert --to html`` and
    opened in headless Chromium: every figure of the site page is an image, and the text
    holds no MyST (the numbers and references read as on the site)."""
    browser = chromium()
    name = "markov"
    source = tmp_path / f"{name}.ipynb"
    source.write_bytes(downloaded(html, name).read_bytes())
    subprocess.run([str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "html",
                    str(source)], check=True, capture_output=True, timeout=300)
    page = source.with_suffix(".html")
    page.write_text(page.read_text().replace("</body>", REPORT + "</body>"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=30000",
         "--dump-dom", page.as_uri()],
        check=True, capture_output=True, text=True, timeout=180).stdout
    match = re.search(r'<pre id="collapse-report">(.*?)</pre>', dom, flags=re.S)
    assert match, "the report did not run in the page"
    report = json.loads(match[1].replace("&quot;", '"').replace("&lt;", "<")
                        .replace("&gt;", ">").replace("&amp;", "&"))
    assert report["images"] >= site_figures(html, name)
    text = report["text"]
    assert not re.search(r"\{(glue|numref|ref|doc)[^}]*\}|```\{|:::\{", text), \
        "raw MyST in the rendered notebook"
    assert "Fig. 11.1" in text and "Exercise 11.1" in text
