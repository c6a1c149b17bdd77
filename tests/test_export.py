"""The notebooks people open (collapse.book.export): plain Jupyter Markdown with the site's
numbers, glued values or names, exercises as headings, the install cell first. Fast
tests; the executed and built versions are checked in tests/test_notebooks.py."""

import re

import jupytext
import nbformat
import pytest
import yaml
from conftest import ROOT

from collapse.book import export
from collapse.book import runner as book

CHAPTERS = book.chapter_names(ROOT)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"]


@pytest.fixture(scope="module")
def the_book():
    return export.Book.load(ROOT)


EXAMPLE = """\
# A chapter

(intro)=
## Introduction

Of {glue:text}`runs` runs, {glue:text}`share:.1%` collapsed
({numref}`fig-one`; see {numref}`Figure %s <fig-two>` and {ref}`the exercise <ex-one>`,
{ref}`intro`, {doc}`other` and {doc}`the other chapter <other>`). Math stays:
$\\sigma^{2}$ and

$$
x = {a}_1
$$

```python
print("{glue:text}`not a role in code`")
```

```{note}
A note with {glue:text}`runs`.
```

:::{admonition} Careful
Colons work too.
:::

```{list-table} A table.
:header-rows: 1
:name: table-one

* - a
  - b
* - {glue:text}`runs`
  - $|x|$
```

```{exercise-start} First
:label: ex-one
```

Do it.

```{exercise-end}
```

```{solution-start} ex-one
:class: dropdown
```

Done.

```{solution-end}
```
"""

OTHER = """\
# The other chapter

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: Other.
    name: fig-other
---
plt.show()
```
"""


@pytest.fixture
def tiny(tmp_path):
    """A two-chapter book: chapters/first.md (EXAMPLE plus two figure cells), other.md."""
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: index\ndefaults:\n  numbered: true\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: book/other\n"
        "  - caption: B\n    chapters:\n      - file: book/first\n")
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/someone/thebook\n  branch: notebooks\n")
    (tmp_path / "chapters").mkdir()
    figures = "".join(
        f"\n```{{code-cell}} ipython3\n---\nmystnb:\n  figure:\n    caption: Figure {n} of "
        f"{{glue:text}}`runs` runs.\n    name: fig-{n}\n  image:\n    alt: alt {n}\n---\n"
        f"plt.show()\n```\n" for n in ("one", "two"))
    (tmp_path / "chapters" / "first.md").write_text(EXAMPLE.replace("$$\n\n```python",
                                                                    "$$\n" + figures +
                                                                    "\n```python"))
    (tmp_path / "chapters" / "other.md").write_text(OTHER)
    return tmp_path


def test_numbers_titles_and_the_site_address(tiny):
    numbers = export.Book.load(tiny)
    assert numbers.numbers == {"other": 1, "first": 2}  # numbering runs on across parts
    assert numbers.site == "https://someone.github.io/thebook/"
    assert numbers.titles == {"first": "A chapter", "other": "The other chapter"}
    got = {k: (t.text, t.page, t.anchor) for k, t in numbers.targets.items()}
    assert got == {"intro": ("Introduction", "first", "intro"),
                   "fig-one": ("Fig. 2.1", "first", "fig-one"),
                   "fig-two": ("Fig. 2.2", "first", "fig-two"),
                   "table-one": ("Table 2.1", "first", "table-one"),
                   "ex-one": ("Exercise 2.1", "first", "ex-one"),
                   "fig-other": ("Fig. 1.1", "other", "fig-other")}


def test_executed_export_is_plain_markdown_with_the_runs_values(tiny):
    numbers = export.Book.load(tiny)
    notebook = jupytext.read(tiny / "chapters" / "first.md")
    glue = nbformat.v4.new_code_cell("glue(...)", metadata={"tags": ["remove-cell"]})
    glue.outputs = [
        nbformat.v4.new_output("display_data", data={export.GLUE_PREFIX + "text/plain": v},
                               metadata={"scrapbook": {"name": k,
                                                       "mime_prefix": export.GLUE_PREFIX}})
        for k, v in (("runs", "1000"), ("share", "0.1234"))]
    notebook.cells.insert(1, glue)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "# your code", metadata={"tags": ["remove-cell", "student-answer"]}))
    out = export.executed_notebook(notebook, numbers, "first")
    site = "https://someone.github.io/thebook/book/"
    assert "find_spec" in out.cells[0].source and "tags" not in out.cells[0].metadata
    assert "git+https://github.com/someone/thebook@notebooks" in out.cells[0].source
    assert not export.myst_left(out)
    assert not [o for c in out.cells if c.cell_type == "code" for o in c.outputs]  # glue gone
    assert not any("your code" in c.source for c in out.cells)  # the student's stub
    text = "\n\n".join(c.source for c in out.cells if c.cell_type == "markdown")
    assert "Of 1000 runs, 12.3% collapsed" in text
    assert f"([Fig. 2.1]({site}first.html#fig-one); see [Figure 2.2]({site}first.html#fig-two)" \
        in text
    assert f"[the exercise]({site}first.html#ex-one)" in text
    assert f"[Introduction]({site}first.html#intro)" in text
    assert f"[The other chapter]({site}other.html) and [the other chapter]({site}other.html)" \
        in text
    assert "$\\sigma^{2}$" in text and "$$\nx = {a}_1\n$$" in text
    assert 'print("{glue:text}`not a role in code`")' in text  # code blocks stay as they are
    assert "> **Note**\n>\n> A note with 1000." in text
    assert "> **Careful**\n>\n> Colons work too." in text
    assert "**Table 2.1** A table.\n\n| a | b |\n|---|---|\n| 1000 | $\\|x\\|$ |" in text
    assert '### <a id="ex-one"></a>Exercise 2.1 (First)\n\nDo it.' in text
    assert "### Solution to Exercise 2.1 (First)\n\nDone." in text
    assert '<a id="intro"></a>\n## Introduction' in text
    captions = [c.source for c in out.cells if c.source.startswith('<a id="fig-')]
    assert captions == ['<a id="fig-one"></a>**Fig. 2.1** Figure one of 1000 runs.',
                        '<a id="fig-two"></a>**Fig. 2.2** Figure two of 1000 runs.']


def test_student_export_names_the_numbers_and_leaves_cells_for_answers(tiny):
    numbers = export.Book.load(tiny)
    text = (tiny / "chapters" / "first.md").read_text().replace(
        "```{solution-start}", "```{code-cell} ipython3\n:tags: [remove-cell, student-answer]"
        "\n\n# write the thing\n```\n\n```{solution-start}")
    out = export.student_notebook(text, numbers, "first")
    assert not export.myst_left(out)
    sources = [c.source for c in out.cells]
    assert "find_spec" in sources[0]
    assert "Done." not in "\n".join(sources)  # the solution is gone
    markdown = "\n\n".join(c.source for c in out.cells if c.cell_type == "markdown")
    assert "Of `runs` runs, `share` collapsed" in markdown
    assert sources[1].startswith("# A chapter\n\n> **Student version.**")
    assert "(like `runs`)" in sources[1]
    stub = sources.index("# write the thing")
    assert out.cells[stub].metadata["tags"] == ["student-answer"]  # shown to the student
    assert sources[stub - 1].endswith("Do it.")
    assert sources[stub + 1].startswith("**Your answer to Exercise 2.1 (First).**")


def test_markdown_roles_and_directives_left_are_found():
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source) for source in (
        "a {glue:text}`x`", "```{exercise} T\n```", ":::{note}\n:::", "(label)=\n# T",
        "see {numref}`fig-a`", "{doc}`x`")])
    assert len(export.myst_left(bad)) == 6
    fine = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "$x^{2}$ and `code {not}` and ```python\nx = {1}\n```")])
    assert not export.myst_left(fine)


def test_every_reference_of_every_chapter_resolves(the_book):
    for name in CHAPTERS:
        text = (ROOT / "chapters" / f"{name}.md").read_text()
        for role, content in re.findall(r"\{(numref|ref)\}`([^`]+)`", text):
            label = re.sub(r"^.*<([^>]+)>$", r"\1", content)
            assert label in the_book.targets, f"{name}: {{{role}}}`{content}` unresolved"
        for content in re.findall(r"\{doc\}`([^`]+)`", text):
            page = re.sub(r"^.*<([^>]+)>$", r"\1", content).split("/")[-1]
            assert page in the_book.titles, f"{name}: {{doc}}`{content}` unresolved"


@pytest.mark.parametrize("name", CHAPTERS)
def test_student_notebook_of_every_chapter(the_book, name):
    text = (ROOT / "chapters" / f"{name}.md").read_text()
    notebook = export.student_notebook(text, the_book, name)
    nbformat.validate(notebook)
    assert not export.myst_left(notebook)
    first = notebook.cells[0]
    assert first.cell_type == "code" and f"git+{REPOSITORY}@" in first.source
    everything = "\n".join(c.source for c in notebook.cells)
    assert not re.search(r"<(this )?repository>|\{solution", everything)
    assert "from myst_nb import glue" not in everything  # glue prints instead
    # one stub and one answer cell per exercise, right after it
    exercises = len(re.findall(r"\{exercise(?:-start)?\}", text))
    answers = [i for i, c in enumerate(notebook.cells)
               if "student-answer" in c.metadata.get("tags", [])]
    assert len([i for i in answers if notebook.cells[i].cell_type == "code"]) == exercises
    assert len([i for i in answers if notebook.cells[i].cell_type == "markdown"]) == exercises
    # every figure cell is followed by its caption, numbered as on the site
    for index, cell in enumerate(notebook.cells):
        figure = cell.metadata.get("mystnb", {}).get("figure")
        if figure:
            caption = notebook.cells[index + 1].source
            assert the_book.targets[figure["name"]].text in caption


def test_the_landing_page_has_no_placeholder_and_says_how_to_run_a_chapter():
    text = (ROOT / "index.md").read_text()
    assert not re.search(r"<(this )?repository>", text)
    for where in ("Colab", "Binder", "jupytext"):
        assert where in text
