"""Student versions: no solution survives and nothing else is lost (that the student
notebooks run top to bottom in a plain kernel is tested in tests/test_notebooks.py)."""

import re
import subprocess
import sys

import jupytext
import nbformat
import pytest
from conftest import ROOT

from collapse.book import runner as book
from collapse.book import student

CHAPTERS = book.chapter_names(ROOT)
SOLUTION_TEXT = re.compile(r"\{solution(-start|-end)?\}")

# Both sphinx-exercise forms, with fences of different lengths and kinds, and code cells
# between the gated markers (which must go too).
EXAMPLE = """\
---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
# Title

```{code-cell} ipython3
:tags: [parameters]
profile = "quick"
```

```{exercise} One
:label: one

Question one.
```

```{solution} one
:class: dropdown

    print("answer one")

Answer one.
```

````{exercise} Two
:label: two

A question with a fence inside:

```python
x = 1
```
````

````{solution} two
```python
answer = 2
```
````

:::{solution} two
Colon-fenced answer.
:::

Between the exercises.

```{exercise-start} Three
:label: three
```

Question three.

```{exercise-end}
```

```{solution-start} three
:class: dropdown
```

Hidden prose.

```{code-cell} ipython3
hidden = 3
```

More hidden prose.

```{code-cell} ipython3
also_hidden = 4
```

```{solution-end}
```

```{code-cell} ipython3
visible = 5
```

The end.
"""

EXPECTED_CELLS = [
    ("markdown", "# Title"),
    ("code", 'profile = "quick"'),
    ("markdown", "```{exercise} One\n:label: one\n\nQuestion one.\n```\n\n"
                 "````{exercise} Two\n:label: two\n\nA question with a fence inside:\n\n"
                 "```python\nx = 1\n```\n````\n\nBetween the exercises.\n\n"
                 "```{exercise-start} Three\n:label: three\n```\n\nQuestion three.\n\n"
                 "```{exercise-end}\n```"),
    ("code", "visible = 5"),
    ("markdown", "The end."),
]


def cells(notebook):
    return [(c.cell_type, c.source.strip()) for c in notebook.cells]


def test_both_solution_forms_are_removed_and_everything_else_kept():
    notebook = student.student_notebook(EXAMPLE)
    assert cells(notebook) == EXPECTED_CELLS
    assert "tags" in notebook.cells[1].metadata  # the parameters cell keeps its tag
    text = student.strip_solutions(EXAMPLE)
    assert not SOLUTION_TEXT.search(text)
    assert "hidden" not in text and "answer" not in text.lower()


def test_a_text_without_solutions_is_unchanged():
    text = EXAMPLE.split("```{exercise} One")[0]
    assert student.strip_solutions(text) == text


@pytest.mark.parametrize("text", ["```{solution-start} a\n```\nopen forever\n",
                                  "```{solution-end}\n```\n",
                                  "```{solution-start} a\n```\n```{solution-start} b\n```\n"])
def test_unmatched_gates_are_errors(text):
    with pytest.raises(ValueError, match="solution-"):
        student.strip_solutions(text)


def source_cells_outside_solutions(notebook):
    """The cells of a chapter that a student version keeps, found cell by cell (an
    independent route from the text-level removal): markdown cells with no solution
    text, code cells outside a gated solution. Markdown cells that hold a solution are
    returned as None (their remaining text is checked separately)."""
    kept, gated = [], False
    for cell in notebook.cells:
        markers = SOLUTION_TEXT.findall(cell.source) if cell.cell_type == "markdown" else []
        if markers:
            kept.append(None)
            if markers[-1] in ("-start", "-end"):
                gated = markers[-1] == "-start"
        elif not gated:
            kept.append((cell.cell_type, cell.source.strip()))
    return kept


@pytest.mark.parametrize("name", CHAPTERS)
def test_student_version_of_every_chapter(tmp_path, name):
    student.write_student_versions(tmp_path, ROOT, [name])
    notebook = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    text = (tmp_path / f"{name}.md").read_text()  # the same notebook, as jupytext Markdown
    assert cells(notebook) == cells(jupytext.reads(text, fmt="md"))
    assert not SOLUTION_TEXT.search(text)
    assert not any(SOLUTION_TEXT.search(c.source) for c in notebook.cells)

    source = jupytext.read(ROOT / "chapters" / f"{name}.md")
    expected = source_cells_outside_solutions(source)
    got = cells(notebook)
    # every untouched code cell is present, in order (the Markdown is converted to plain
    # Markdown by collapse.book.export, tested in tests/test_export.py); the chapter's import
    # of myst-nb's glue gives way to a glue that prints
    position = 0
    for cell in expected:
        if cell is None or cell[0] != "code":
            continue
        cell = (cell[0], "\n".join(line for line in cell[1].splitlines()
                                    if line != "from myst_nb import glue"))
        assert cell in got[position:], f"{name}: lost a {cell[0]} cell: {cell[1][:80]!r}"
        position = got.index(cell, position) + 1
    # every exercise statement survives, as a heading
    exercises = re.findall(r"\{exercise(?:-start)?\}\s*([^\n]*)", (ROOT / "chapters" /
                                                                  f"{name}.md").read_text())
    for title in exercises:
        assert re.search(rf"^### .*Exercise \d+\.\d+ \({re.escape(title)}\)", text,
                         flags=re.M), f"{name}: exercise {title!r} lost"
    # the front matter and the parameters cell are kept
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)


def test_command_line_writes_every_chapter(tmp_path):
    done = subprocess.run([sys.executable, "-m", "collapse", "student", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        sorted(f"{n}{s}" for n in CHAPTERS for s in (".md", ".ipynb"))
