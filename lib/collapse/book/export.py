"""Notebooks as people open them: plain Jupyter Markdown, every figure shown.

The site is built from MyST: numbers glued into the prose (``{glue:text}``),
cross-references (``{numref}``, ``{ref}``, ``{doc}``), exercise and solution directives,
figure captions in the cells' ``mystnb`` metadata. Jupyter, JupyterLab, Colab and VS
Code show all of that as raw text. This module writes the notebooks a person downloads
or launches, in the manner of QuantEcon's ``sphinx-tojupyter`` notebooks:

- :func:`executed_notebook`: an executed chapter (``book/<name>.ipynb``) for the site's
  ``.ipynb`` download and for the ``notebooks`` branch that the Colab and Binder buttons
  open. Glued numbers become their values from that run.
- :func:`student_notebook`: a chapter without its solutions (``collapse.book.student``), which
  runs top to bottom in a plain kernel; glued numbers become their names, and ``glue``
  prints each one, by name, under the cell that computes it. Each exercise is followed
  by the chapter's stub for it (a code cell tagged ``student-answer``) and a Markdown
  cell for the written answer.

In both, references show the site's own numbers and titles (``Fig. 3.2``, ``Exercise
5.2``, a chapter's title) with a link to the page, computed as the site numbers them
(:class:`Book`); exercises and solutions become headings, admonitions block quotes, a
``list-table`` a Markdown table, each figure's caption a Markdown cell under it; math
stays ``$…$``. Every notebook starts with the install cell (``book.install_cell``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from collapse import files

from . import runner
from . import student as _student
from .myst import Converter, escape, myst_left  # noqa: F401 (myst_left: export.myst_left)
from .numbering import EXERCISE, Book, directive_options, make_id

GLUE_PREFIX = "application/papermill.record/"
ANSWER_TAG = "student-answer"


def glued_values(notebook) -> dict[str, dict]:
    """``{key: mime bundle}`` of every value glued in an executed notebook."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if not scrapbook:
                continue
            prefix = scrapbook.get("mime_prefix", "")
            values[scrapbook["name"]] = {k[len(prefix):]: v
                                         for k, v in output.get("data", {}).items()}
    return values


def _is_glue_record(output) -> bool:
    data = output.get("data", {})
    return bool(data) and all(key.startswith(GLUE_PREFIX) for key in data)


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _install_first(notebook, root: Path) -> None:
    """The install cell first, shown (the site hides it)."""
    install = runner.install_cell(root)
    cells = [c for c in notebook.cells if not (c.cell_type == "code" and (
        c.source == install.source or "find_spec(\"collapse\")" in c.source))]
    install.metadata.pop("tags", None)
    notebook.cells = [install, *cells]


def _caption_cell(cell, converter: Converter):
    figure = cell.metadata.get("mystnb", {}).get("figure") or {}
    if not figure.get("caption"):
        return None
    found = converter.target(figure.get("name", ""))
    number = f"**{found.text}** " if found else ""
    anchor = f'<a id="{make_id(figure["name"])}"></a>' if figure.get("name") else ""
    return nbformat.v4.new_markdown_cell(
        anchor + number + converter.markdown(str(figure["caption"])))


def executed_notebook(notebook, book: Book, name: str):
    """The plain-Markdown copy of the executed chapter ``name`` (an nbformat notebook),
    for downloads and the launch buttons: glued numbers are this run's values."""
    from myst_nb.core.variables import format_plain_text

    notebook = copy.deepcopy(notebook)
    values = glued_values(notebook)

    def glue(key, fmt):
        data = values.get(key, {})
        if "text/plain" not in data:
            return f"`{key}`"
        try:
            return escape(format_plain_text(data["text/plain"], fmt))
        except (ValueError, TypeError):
            return escape(str(data["text/plain"]))

    converter = Converter(book, name, glue)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            if {ANSWER_TAG, "otter-public", "otter-hidden"} & set(_tags(cell)):
                continue  # a student's stub, an assignment's test: not part of the chapter
            cell.outputs = [o for o in cell.get("outputs", []) if not _is_glue_record(o)]
            cells.append(cell)
            caption = _caption_cell(cell, converter)
            if caption is not None:
                cells.append(caption)
        elif cell.cell_type == "markdown":
            cell.source = converter.markdown(cell.source)
            if cell.source.strip():
                cells.append(cell)
        else:
            cells.append(cell)
    notebook.cells = cells
    _install_first(notebook, book.root)
    notebook.metadata.pop("jupytext", None)
    return notebook


STUDENT_NOTE = """\
> **Student version.** The solutions are removed: after each exercise comes a code cell
> that says what to write and a Markdown cell for your answer. Where the book's text
> quotes a number computed by this notebook, it names it instead (like `{example}`);
> run the notebook and the cell that computes each number prints it with its name.
> Figure and exercise numbers are those of the chapter's page on the book's site:
> [{title}]({url})."""

GLUE_HELPER = """\
# The book writes the numbers its cells compute into the text (myst-nb's glue). Here
# the text names them, and glue prints each one with its name under the cell that
# computes it.
def glue(name, value, display=True):
    print(f"{name}: {value}")"""


def student_notebook(text: str, book: Book, name: str):
    """The student version of the chapter source ``text``: no solutions, plain Markdown,
    the install cell first, a stub and an answer cell after each exercise."""
    import jupytext

    notebook = jupytext.reads(_student.strip_solutions(text), fmt="md:myst")
    examples = re.findall(r"\{glue:text\}`([^`:]+)", text)

    def glue(key, fmt):
        return f"`{key}`"

    converter = Converter(book, name, glue)
    cells, pending = [], None  # pending: the exercise whose answer cell is still due

    def answer():
        nonlocal pending
        if pending is not None:
            cells.append(nbformat.v4.new_markdown_cell(
                f"**Your answer to {pending}.** *Write it here: what you found, and why.*",
                metadata={"tags": [ANSWER_TAG]}))
            pending = None

    uses_glue = False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            if ANSWER_TAG in _tags(cell):
                cell.metadata["tags"] = [t for t in _tags(cell) if t != "remove-cell"]
                cells.append(cell)
                continue
            answer()
            if re.search(r"^from myst_nb import glue[ \t]*$", cell.source, flags=re.M):
                if not uses_glue:  # a glue that prints, defined where the chapter imports it
                    cells.append(nbformat.v4.new_code_cell(GLUE_HELPER))
                uses_glue = True
                cell.source = re.sub(r"^from myst_nb import glue[ \t]*(\n|$)", "", cell.source,
                                     flags=re.M)
            cells.append(cell)
            caption = _caption_cell(cell, converter)
            if caption is not None:
                cells.append(caption)
            continue
        answer()
        exercises = EXERCISE.findall(cell.source)
        cell.source = converter.markdown(cell.source)
        if cell.source.strip():
            cells.append(cell)
        for args, options in exercises:
            label = directive_options(options.splitlines()).get("label", "")
            pending = converter.exercise_title(label, args.strip())
    answer()
    title = book.titles.get(name, name)
    note = STUDENT_NOTE.format(example=examples[0] if examples else "name", title=title,
                               url=book.url(name))
    first = next((c for c in cells if c.cell_type == "markdown"), None)
    if first is not None and first.source.startswith("# "):  # right under the title
        heading, _, rest = first.source.partition("\n")
        first.source = f"{heading}\n\n{note}\n\n{rest.lstrip()}".rstrip()
    else:
        cells.insert(0, nbformat.v4.new_markdown_cell(note))
    notebook.cells = cells
    _install_first(notebook, book.root)
    notebook.metadata.pop("jupytext", None)
    return notebook


def write_student(out: Path, book: Book, chapters: list[str] | None = None) -> list[Path]:
    """``<name>.ipynb`` and ``<name>.md`` (jupytext Markdown of the same notebook) of
    each chapter's student version (all of the book by default, in toc order) into
    ``out``, each file atomically (:func:`collapse.files.replacing`); return the paths
    written."""
    import jupytext

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in chapters or list(book.chapters):
        notebook = student_notebook(book.chapters[name].read_text(), book, name)
        with files.replacing(out / f"{name}.ipynb") as partial:
            nbformat.write(notebook, partial)
        with files.replacing(out / f"{name}.md") as partial:
            partial.write_text(jupytext.writes(notebook, fmt="md"))
        written += [out / f"{name}.ipynb", out / f"{name}.md"]
    return written


def write_executed(executed: Path, out: Path, book: Book) -> list[Path]:
    """The export of every executed chapter ``executed/<name>.ipynb`` of the book into
    ``out/<name>.ipynb``; return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in book.chapters:
        source = Path(executed) / f"{name}.ipynb"
        if source.exists():
            notebook = executed_notebook(nbformat.read(source, as_version=4), book, name)
            with files.replacing(out / f"{name}.ipynb") as partial:
                nbformat.write(notebook, partial)
            written.append(out / f"{name}.ipynb")
    return written
