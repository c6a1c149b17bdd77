"""Every chapter follows the book's conventions (issues 10 and 16): the parameters cell
shows the quick profile's literal values, figures are shown by their cells and carry
captions, names and alt text instead of numbers typed into plot titles, every exercise
has a stub for the student, and solutions are gated so their code runs with the
chapter."""

from __future__ import annotations

import ast
import re

import jupytext
import pytest
from conftest import ROOT

from collapse.book import runner as book
from collapse.book import settings

CHAPTERS = book.chapter_names(ROOT)


def cells(name):
    return jupytext.read(ROOT / "chapters" / f"{name}.md").cells


def parameters_cell(name):
    found = [c for c in cells(name) if "parameters" in c.metadata.get("tags", [])]
    assert len(found) == 1, f"{name}: exactly one cell tagged 'parameters'"
    return found[0].source


@pytest.mark.parametrize("name", [n for n in CHAPTERS if n in settings.chapters()])
def test_parameters_cell_shows_the_quick_profile(name):
    namespace = {}
    exec(compile(ast.parse(parameters_cell(name)), name, "exec"), namespace)
    quick = settings.defaults(name, "quick")
    assert namespace.get("profile") == "quick"
    for key, value in quick.items():
        assert key in namespace, f"{name}: parameter {key!r} missing from the parameters cell"
        assert namespace[key] == value, f"{name}: {key} = {namespace[key]!r}, quick has {value!r}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_figure_numbers_are_not_typed_into_plots(name):
    code = "\n".join(c.source for c in cells(name) if c.cell_type == "code")
    typed = re.findall(r"(?:title|suptitle|set_title)\([^)]*\bFig(?:ure)?\.? ?\d", code)
    assert not typed, f"{name}: figure numbers typed into plot titles: {typed}"


def figure_cells(name):
    return [c for c in cells(name) if c.cell_type == "code" and "mystnb" in c.metadata]


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_is_shown_by_its_cell_with_a_caption_a_name_and_alt_text(name):
    """A figure is displayed by the cell that draws it (so it shows in any notebook front
    end), and that cell's myst-nb metadata gives the site its caption, its ``fig-`` name
    (numbered, for ``{numref}``) and its alt text, as in QuantEcon's lectures."""
    figures = figure_cells(name)
    assert figures, f"{name}: no captioned figure"
    for cell in figures:
        options = cell.metadata["mystnb"]
        label = options.get("figure", {}).get("name", "")
        assert label.startswith("fig-"), f"{name}: a figure cell without a fig- name"
        assert str(options["figure"].get("caption", "")).strip(), f"{name}: {label}: no caption"
        assert str(options.get("image", {}).get("alt", "")).strip(), f"{name}: {label}: no alt"
        last = [line for line in cell.source.splitlines() if line.strip()][-1]
        assert last == "plt.show()", f"{name}: {label}: the cell must end by showing its figure"
    text = (ROOT / "chapters" / f"{name}.md").read_text()
    assert "{glue:figure}" not in text, f"{name}: a glued figure (shown on the site only)"
    code = "\n".join(c.source for c in cells(name) if c.cell_type == "code")
    assert not re.search(r"glue\([^)]*\b(fig|figure)\b", code), f"{name}: a figure glued"
    assert "plt.close(" not in code, f"{name}: a figure closed instead of shown"


SCALED_DOWN = [n for n in CHAPTERS if n in settings.chapters()
               and settings.resolve(n, "quick").scale_note() is not None]


@pytest.mark.parametrize("name", SCALED_DOWN)
def test_figures_of_a_scaled_down_chapter_say_so_in_their_caption(name):
    """A figure made with a stand-in model or at a scale that cannot show the paper's
    effect says so where a reader looks, in its caption (issue 18): it names the `paper`
    profile that would run the paper's scale."""
    for cell in figure_cells(name):
        figure = cell.metadata["mystnb"]["figure"]
        caption = str(figure.get("caption", ""))
        # or a glued sentence that names the model the run used (its text is tested with
        # its chapter, e.g. test_lm.py::test_stand_in_captions_say_so)
        assert "`paper` profile" in caption or re.match(r"\{glue:text\}`[\w-]*scale-", caption), \
            f"{name}: {figure.get('name')}: the caption does not say what runs scaled down"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_exercise_has_a_stub_for_the_student(name):
    """After each exercise comes a code cell tagged ``student-answer`` (hidden on the
    site, dropped from the executed download) whose comments say what to write: the
    student notebook keeps it as the student's cell."""
    chapter = cells(name)
    exercises = [i for i, c in enumerate(chapter) if c.cell_type == "markdown"
                 and re.search(r"\{exercise(-start)?\}", c.source)]
    assert exercises, f"{name}: no exercise"
    for index in exercises:
        assert not re.search(r"\{exercise(-start)?\}", chapter[index].source.split(
            "{exercise-end}")[-1]), f"{name}: two exercises in one cell: stub the first"
        stub = chapter[index + 1] if index + 1 < len(chapter) else None
        assert stub is not None and stub.cell_type == "code" and \
            {"student-answer", "remove-cell"} <= set(stub.metadata.get("tags", [])), \
            f"{name}: exercise {chapter[index].source[:60]!r} has no student-answer stub"
        lines = [line for line in stub.source.splitlines() if line.strip()]
        assert lines and all(line.startswith("#") or re.match(r"^\w+ = \.\.\.\s+# \S", line)
                             for line in lines), \
            f"{name}: a stub is comments that say what to write, and `value = ...  # what " \
            "it is` for each value the student computes (the assignment's answers)"


@pytest.mark.parametrize("name", CHAPTERS)
def test_solutions_are_gated_and_executed(name):
    text = (ROOT / "chapters" / f"{name}.md").read_text()
    assert not re.search(r"```\{solution\}", text), (
        f"{name}: a single-block {{solution}}; use solution-start/solution-end so its code runs")
