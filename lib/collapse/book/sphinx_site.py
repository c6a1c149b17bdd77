"""Sphinx extension: the book's publishing features on top of sphinx-book-theme.

- every chapter page's download menu offers, beside the executed ``.ipynb`` (replaced
  by its plain-Markdown export, ``collapse.book.export``), the chapter's source ``.md``
  (jupytext MyST) and the student versions (``collapse.book.export``: solutions removed, plain
  Markdown) as ``.ipynb`` and ``.md``;
- the ``student-downloads`` directive lists every chapter's student files in
  table-of-contents order (used on the landing page); ``assignment-list`` lists the
  graded assignments (``collapse.book.assignments``) with their student notebooks,
  written into ``_static/assignments/`` (the "For teachers" page);
- ``{{ repository_url }}`` is the one repository setting of ``_config.yml``
  (``repository: url:``) as a MyST substitution, ``{{ repository_link }}`` the same as a link;
- wide display equations scroll horizontally with a visible scrollbar instead of being
  clipped at the column edge.

The files are written into the built site: ``_sources/book/<name>.{ipynb,md}`` and
``_static/student/<name>.{ipynb,md}``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from . import export, runner

STUDENT = "_static/student"
ASSIGNMENTS = "_static/assignments"  # the student notebooks of the graded assignments
CSS_FILE = "collapse-site.css"
CSS = """\
/* collapse: wide display math scrolls inside the column, with a visible scrollbar */
mjx-container[jax="CHTML"][display="true"] {
  display: block;
  max-width: 100%;
  overflow-x: auto;
  overflow-y: hidden;
  padding-bottom: 2px;
  scrollbar-width: thin;
}
mjx-container[jax="CHTML"][display="true"]::-webkit-scrollbar { height: 6px; }
mjx-container[jax="CHTML"][display="true"]::-webkit-scrollbar-thumb {
  background: #999; border-radius: 3px;
}
/* collapse: a table wider than the column scrolls inside it, with a visible scrollbar and
   a shadow on the side that has more */
.cell_output .output.text_html, .table-wrapper, .pst-scrollable-table-container {
  max-width: 100%;
  overflow-x: auto;
  scrollbar-width: thin;
  background:
    linear-gradient(to right, white 30%, rgba(255,255,255,0)) left / 2em 100% no-repeat local,
    linear-gradient(to left, white 30%, rgba(255,255,255,0)) right / 2em 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.25), transparent)
      left / 1em 100% no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.25), transparent)
      right / 1em 100% no-repeat scroll;
}
.cell_output .output.text_html::-webkit-scrollbar, .table-wrapper::-webkit-scrollbar,
.pst-scrollable-table-container::-webkit-scrollbar {
  height: 8px;
}
.cell_output .output.text_html::-webkit-scrollbar-thumb, .table-wrapper::-webkit-scrollbar-thumb,
.pst-scrollable-table-container::-webkit-scrollbar-thumb {
  background: #999; border-radius: 4px;
}
/* collapse: a figure opens full size on click (phones: then zoom) */
a.collapse-zoom img { cursor: zoom-in; }
"""
JS_FILE = "collapse-site.js"
JS = """// collapse: every figure of a chapter opens full size on click
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".cell_output img, figure img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.src;
    link.className = "collapse-zoom";
    link.title = "open the figure full size";
    img.parentNode.insertBefore(link, img);
    link.appendChild(img);
  });
});
"""


@functools.cache
def chapter_sources(confdir: str) -> dict[str, Path]:
    """``{name: chapters/<name>.md}`` in toc order. The sources are looked up next to the
    book's configuration, else in the repository of an editable install (a scratch copy
    of the book, such as the tests build, holds only the executed notebooks)."""
    for root in (Path(confdir), runner.LIBRARY.parents[1]):
        names = runner.chapter_names(root) if (root / "_toc.yml").exists() else []
        if names:
            return {n: root / "chapters" / f"{n}.md" for n in names}
    return {}


def chapter_title(source: Path) -> str:
    match = re.search(r"^# (.+)$", source.read_text(), flags=re.MULTILINE)
    return match[1].strip() if match else source.stem


def _add_downloads(app, pagename, templatename, context, doctree):
    """Runs after sphinx-book-theme has filled ``header_buttons`` (priority 501)."""
    if not pagename.startswith("book/"):
        return
    name = pagename.removeprefix("book/")
    if name not in chapter_sources(str(app.confdir)):
        return
    pathto = context["pathto"]
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        extra = [
            (f"{pathto('_sources', 1)}/book/{name}.md", ".md", "fas fa-file-lines",
             "Download the chapter source (jupytext MyST markdown)", "download-md-button"),
            (f"{pathto(STUDENT, 1)}/{name}.ipynb", "student .ipynb", "fas fa-graduation-cap",
             "Download the student notebook (no solutions)", "download-student-ipynb-button"),
            (f"{pathto(STUDENT, 1)}/{name}.md", "student .md", "fas fa-graduation-cap",
             "Download the student markdown (no solutions)", "download-student-md-button"),
        ]
        position = len(group["buttons"]) - 1  # before "print to PDF"
        group["buttons"][position:position] = [
            {"type": "link", "url": url, "text": text, "icon": icon, "tooltip": tooltip,
             "label": label} for url, text, icon, tooltip, label in extra]


class StudentDownloads(SphinxDirective):
    """A list of every chapter with links to its student notebook and markdown."""

    def run(self):
        prefix = "../" * self.env.docname.count("/")
        items = nodes.bullet_list()
        for name, source in chapter_sources(str(self.env.app.confdir)).items():
            self.env.note_dependency(str(source))
            paragraph = nodes.paragraph()
            paragraph += nodes.Text(f"{chapter_title(source)}: ")
            for suffix, text in ((".ipynb", "notebook"), (".md", "markdown")):
                if suffix == ".md":
                    paragraph += nodes.Text(" · ")
                paragraph += nodes.reference(text=f"{text} ({suffix})",
                                             refuri=f"{prefix}{STUDENT}/{name}{suffix}")
            items += nodes.list_item("", paragraph)
        return [items]


class AssignmentList(SphinxDirective):
    """Every graded assignment (``collapse.book.assignments``): its questions, what each
    practises, the chapter sections it needs, the expected time, and the student notebook
    to download."""

    def run(self):
        from . import assignments

        prefix = "../" * self.env.docname.count("/")
        sources = chapter_sources(str(self.env.app.confdir))
        items = nodes.bullet_list()
        for entry in assignments.catalogue(export.Book.load(Path(self.env.app.confdir),
                                                            sources)):
            self.env.note_dependency(str(sources[entry["name"]]))
            minutes = sum(int(q["minutes"]) for q in entry["questions"])
            head = nodes.paragraph()
            head += nodes.reference(text=entry["title"],
                                    refuri=f"{prefix}book/{entry['name']}.html")
            head += nodes.Text(f": {len(entry['questions'])} autograded question(s), about "
                               f"{minutes} minutes. Student notebook: ")
            head += nodes.reference(text=f"{entry['name']}.ipynb",
                                    refuri=f"{prefix}{ASSIGNMENTS}/{entry['name']}.ipynb")
            questions = nodes.bullet_list()
            for question in entry["questions"]:
                line = nodes.paragraph()
                line += nodes.strong(text=question["title"])
                line += nodes.Text(f" ({question['minutes']} min): practises "
                                   f"{question['practises']}; needs the sections "
                                   + "; ".join(f"“{s}”" for s in question["needs"]) + ".")
                questions += nodes.list_item("", line)
            items += nodes.list_item("", head, questions)
        return [items]


def _substitutions(app, config):
    url = config.html_theme_options.get("repository_url", "")
    config.myst_substitutions = {"repository_url": url, "repository_link": f"[{url}]({url})",
                                 "scaled_down": scaled_down(app.confdir),
                                 **(config.myst_substitutions or {})}


def scaled_down(confdir) -> str:
    """The chapters whose quick profile cannot show the paper's effect, with why, from
    their settings (``Settings.scale_note``): a Markdown list for the landing page."""
    from . import settings

    sources = chapter_sources(str(confdir))
    items = []
    for name, source in sources.items():
        if name in settings.chapters():
            note = settings.resolve(name, "quick").scale_note()
            if note:
                items.append(f"- {{doc}}`{chapter_title(source)} <book/{name}>`: {note}.")
    return "\n".join(items)


def _write_files(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    (out / "_static").mkdir(exist_ok=True)
    (out / "_static" / CSS_FILE).write_text(CSS)
    (out / "_static" / JS_FILE).write_text(JS)
    sources = chapter_sources(str(app.confdir))
    (out / STUDENT).mkdir(parents=True, exist_ok=True)
    (out / "_sources" / "book").mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        (out / "_sources" / "book" / f"{name}.md").write_text(source.read_text())
    # the notebooks people download or launch: plain Markdown (collapse.book.export)
    notebooks = export.Book.load(Path(app.confdir), sources)
    export.write_student(out / STUDENT, notebooks)
    export.write_executed(Path(app.srcdir) / "book", out / "_sources" / "book", notebooks)
    if (Path(app.outdir) / "teachers.html").exists():  # the page that links to them
        from . import assignments

        assignments.write_student_notebooks(out / ASSIGNMENTS, notebooks)


def _singlehtml_support(app):
    """myst-nb renders hidden code cells for the `html` builder only; `make pdf` builds
    `singlehtml`, so give it the same HTML."""
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput

    app.add_node(HideCodeCellNode, override=True,
                 singlehtml=(visit_HideCellInput, depart_HideCellInput))


def setup(app):
    _singlehtml_support(app)
    app.add_directive("student-downloads", StudentDownloads)
    app.add_directive("assignment-list", AssignmentList)
    app.add_css_file(CSS_FILE)
    app.add_js_file(JS_FILE)
    app.connect("config-inited", _substitutions)
    app.connect("html-page-context", _add_downloads, priority=502)
    app.connect("build-finished", _write_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
