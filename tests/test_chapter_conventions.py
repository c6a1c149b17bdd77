"""Every chapter follows the book's conventions (issue 10): the parameters cell shows the
quick profile's literal values, figures carry captions and labels instead of numbers
typed into plot titles, and solutions are gated so their code runs with the chapter."""

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


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_figure_has_a_caption_and_a_label(name):
    text = (ROOT / "chapters" / f"{name}.md").read_text()
    figures = re.findall(r"```\{glue:figure\}[^\n]*\n((?::[^\n]*\n)*)", text)
    assert figures, f"{name}: no captioned figure"
    for options in figures:
        assert ":name: fig-" in options, f"{name}: a figure without a :name: label"
        assert ":alt:" in options, f"{name}: a figure without alt text"


@pytest.mark.parametrize("name", CHAPTERS)
def test_solutions_are_gated_and_executed(name):
    text = (ROOT / "chapters" / f"{name}.md").read_text()
    assert not re.search(r"```\{solution\}", text), (
        f"{name}: a single-block {{solution}}; use solution-start/solution-end so its code runs")
