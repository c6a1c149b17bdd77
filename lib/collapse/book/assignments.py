"""Graded assignments made from the chapters' exercises, with otter-grader.

Every chapter that has exercises is an assignment: the student notebook of
:mod:`.export` (install cell first, the whole chapter, figures shown) in which each
exercise is an otter question. Nothing is kept by hand: the master notebook that Otter
Assign reads is built from the chapter source on every run.

In the chapter source, everything of a question sits in the exercise's region:

- the stub after the exercise (a code cell tagged ``student-answer``) names the values
  the student computes (``half_way = ...``): it is the student's answer cell;
- the gated solution (``{solution-start}`` … ``{solution-end}``) holds the solution's
  code and prose, and the tests: code cells tagged ``remove-cell`` and
  :data:`PUBLIC` (``otter-public``, run by ``grader.check``) or :data:`HIDDEN`
  (``otter-hidden``, only in the autograder). A test cell holds one function
  ``def test_…(name, …)`` whose arguments are the notebook's variables of those names
  (otter's exception-based tests; it imports what it needs inside) and may call it, so
  that executing the chapter checks its own solution. The failed assertion's message is
  what the student reads;
- a MyST comment before the exercise, ``% assignment: {practises: …, needs: [section
  title, …], minutes: …}``, describes it on the teachers' page.

:func:`write_assignments` writes, per chapter, ``student/`` and ``autograder/`` (Otter
Assign's outputs, the zip renamed ``<name>-autograder.zip``) and a ``README.md`` for the
teacher: ``python -m collapse assignments --out DIR``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from . import export, runner
from . import student as _student
from .numbering import EXERCISE, Book, directive_options, make_id

PUBLIC, HIDDEN = "otter-public", "otter-hidden"
META = re.compile(r"^%\s*assignment:\s*(?P<yaml>.*)$", flags=re.MULTILINE)
INIT = """\
# The checks of this assignment (otter-grader): grader.check("q1") runs the tests of
# question 1 that you can see; your teacher grades with more.
import otter

grader = otter.Notebook("{name}.ipynb")"""
# where a teacher's --out may not go: the project's sources and results
PROTECTED = ("chapters", "lib", "tests", "book", "benchmarks", "_build", ".cache", ".git",
             ".github", ".ci", "_static")


@dataclass
class Question:
    """One exercise of a chapter as an otter question."""

    label: str
    title: str = ""  # "Exercise 3.1 (…)", as on the site
    code: list[str] = field(default_factory=list)  # the solution's code cells
    prose: list[str] = field(default_factory=list)  # the solution's Markdown (MyST)
    tests: list[tuple[bool, str]] = field(default_factory=list)  # (hidden, source)
    about: dict = field(default_factory=dict)  # practises, needs, minutes

    @property
    def points(self) -> int:
        return len(self.tests)


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _solutions(text: str) -> dict[str, list]:
    """``{exercise label: cells}`` of every gated solution of a chapter source."""
    import jupytext

    lines, found, index = text.splitlines(keepends=True), {}, 0
    while index < len(lines):
        match = _student._OPENING.match(lines[index])
        if not (match and match["name"] == _student.START):
            index += 1
            continue
        label = lines[index][match.end():].strip()
        start = _student._directive_end(lines, index, match["fence"]) + 1
        end = start
        while end < len(lines):
            closing = _student._OPENING.match(lines[end])
            if closing and closing["name"] == _student.END:
                break
            if closing:  # a code cell (or other directive): skip to its end
                end = _student._directive_end(lines, end, closing["fence"])
            end += 1
        found[label] = jupytext.reads("".join(lines[start:end]), fmt="md:myst").cells
        index = end + 1
    return found


def questions(text: str, book: Book | None = None) -> list[Question]:
    """The chapter source's exercises as questions, in order (their solutions, tests and
    the description of the ``% assignment:`` comment before each)."""
    solutions = _solutions(text)
    abouts = [yaml.safe_load(m["yaml"]) or {} for m in META.finditer(text)]
    found = []
    for number, (args, options) in enumerate(EXERCISE.findall(text)):
        label = directive_options(options.splitlines()).get("label", "")
        question = Question(label, about=abouts[number] if number < len(abouts) else {})
        if book is not None:
            question.title = export.Converter(book, "", None).exercise_title(label,
                                                                             args.strip())
        for cell in solutions.get(label, []):
            tags = _tags(cell)
            if cell.cell_type == "code" and (PUBLIC in tags or HIDDEN in tags):
                question.tests.append((HIDDEN in tags, cell.source.strip()))
            elif cell.cell_type == "code":
                question.code.append(cell.source.strip())
            elif cell.source.strip():
                question.prose.append(cell.source.strip())
        found.append(question)
    return found


def check(name: str, found: list[Question]) -> None:
    """Every exercise must be a complete question: a solution, public and hidden tests
    (each one test function) and its description."""
    for question in found:
        where = f"{name}: exercise {question.label!r}"
        if not question.code:
            raise ValueError(f"{where} has no gated solution with code")
        if not any(not hidden for hidden, _ in question.tests) or \
                not any(hidden for hidden, _ in question.tests):
            raise ValueError(f"{where} needs code cells tagged {PUBLIC} and {HIDDEN} in its "
                             "solution")
        for _, source in question.tests:
            if not re.match(r"def test_\w+\(", source):
                raise ValueError(f"{where}: a test cell must start with def test_…(…):")
        missing = {"practises", "needs", "minutes"} - set(question.about)
        if missing:
            raise ValueError(f"{where}: its '% assignment:' comment lacks "
                             f"{', '.join(sorted(missing))}")


def _raw(text: str):
    return nbformat.v4.new_raw_cell(text)


def _set_profile(cell, profile: str) -> None:
    cell.source = re.sub(r"^profile = \"\w+\"", f'profile = "{profile}"', cell.source,
                         count=1, flags=re.MULTILINE)


def master_notebook(text: str, book: Book, name: str, profile: str = "quick"):
    """The Otter Assign master notebook of chapter ``name`` (its source ``text``)."""
    found = questions(text, book)
    check(name, found)
    notebook = export.student_notebook(text, book, name)
    converter = export.Converter(book, name, lambda key, fmt: f"`{key}`")
    settings = {
        "name": f"collapse-{name}", "init_cell": False, "check_all_cell": True,
        "export_cell": False, "run_tests": False, "solutions_pdf": False,
        "show_question_points": True,
        "tests": {"files": False, "ok_format": False}, "python_version": "3.11",
        "generate": {"pdf": False, "show_stdout": True},
        "requirements": [f"collapse @ git+{book.repository}@{book.branch}"]
        if book.repository else [],
    }
    install, *rest = notebook.cells
    cells = [install, _raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(settings, sort_keys=False)),
             nbformat.v4.new_code_cell(INIT.format(name=name))]
    waiting, current = list(found), None
    for cell in rest:
        if "parameters" in _tags(cell):
            _set_profile(cell, profile)
        heading = f'### <a id="{make_id(waiting[0].label)}"></a>' if waiting else None
        if cell.cell_type == "markdown" and heading and heading in cell.source:
            before, _, prompt = cell.source.partition(heading)
            if before.strip():
                cells.append(nbformat.v4.new_markdown_cell(before.strip()))
            current = waiting.pop(0)
            number = len(found) - len(waiting)
            cells += [_raw(f"# BEGIN QUESTION\nname: q{number}\npoints: {current.points}"),
                      nbformat.v4.new_markdown_cell(heading + prompt)]
            continue
        if cell.cell_type == "code" and export.ANSWER_TAG in _tags(cell) and current:
            answer = (cell.source.rstrip() + "\n# BEGIN SOLUTION NO PROMPT\n"
                      + "\n\n".join(current.code) + "\n# END SOLUTION")
            cells += [_raw("# BEGIN SOLUTION"), nbformat.v4.new_code_cell(answer),
                      *[nbformat.v4.new_markdown_cell(converter.markdown(p))
                        for p in current.prose],
                      _raw("# END SOLUTION"), _raw("# BEGIN TESTS")]
            for hidden, source in current.tests:
                cells.append(nbformat.v4.new_code_cell(
                    f'""" # BEGIN TEST CONFIG\nhidden: {str(hidden).lower()}\npoints: 1\n'
                    f'""" # END TEST CONFIG\n{source}'))
            cells += [_raw("# END TESTS"), _raw("# END QUESTION")]
            current = None
            continue
        cells.append(cell)
    if waiting or current:
        raise ValueError(f"{name}: exercise {(current or waiting[0]).label!r} has no stub "
                         f"(a code cell tagged {export.ANSWER_TAG})")
    notebook.cells = cells
    return notebook


def chapters_with_exercises(book: Book) -> list[str]:
    return [n for n, path in book.chapters.items() if EXERCISE.search(path.read_text())]


def check_out(out: Path, root: Path) -> Path:
    """``out`` resolved, unless it would hold the project's own sources or results."""
    out, root = Path(out).resolve(), Path(root).resolve()
    if out == root or root.is_relative_to(out):
        raise ValueError(f"--out {str(out)!r} holds the project itself; give a folder of its own "
                         "(e.g. --out assignments)")
    for name in PROTECTED:
        if out.is_relative_to(root / name):
            raise ValueError(f"--out {str(out)!r} is inside the project's {name}/; give a "
                             "folder of its own (e.g. --out assignments)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    return out


def write_assignment(name: str, out: Path, book: Book, profile: str = "quick") -> Path:
    """``out/<name>/{student,autograder}`` by Otter Assign from chapter ``name``."""
    from otter.assign import main as otter_assign

    notebook = master_notebook(book.chapters[name].read_text(), book, name, profile)
    target = Path(out) / name
    with tempfile.TemporaryDirectory() as scratch:
        master = Path(scratch) / f"{name}.ipynb"
        nbformat.write(notebook, master)
        otter_assign(str(master), str(Path(scratch) / "dist"), no_pdfs=True, no_run_tests=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(scratch) / "dist", target)
    for archive in (target / "autograder").glob(f"{name}-autograder_*.zip"):
        archive.rename(archive.with_name(f"{name}-autograder.zip"))
    return target


def write_student_notebooks(out: Path, book: Book, profile: str = "quick") -> list[Path]:
    """``out/<name>.ipynb``: the student notebook of every assignment (for the site)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in chapters_with_exercises(book):
            folder = write_assignment(name, Path(scratch), book, profile)
            shutil.copy(folder / "student" / f"{name}.ipynb", out / f"{name}.ipynb")
            written.append(out / f"{name}.ipynb")
    return written


def catalogue(book: Book) -> list[dict]:
    """What the teachers' page lists: per assignment its chapter, title and questions
    (title, what it practises, the sections it needs, minutes)."""
    entries = []
    for name in chapters_with_exercises(book):
        found = questions(book.chapters[name].read_text(), book)
        entries.append({"name": name, "title": book.titles.get(name, name), "questions": [
            {"title": q.title, "label": q.label, "points": q.points, **q.about} for q in found]})
    return entries


README = """\
# Assignments: {title}

One assignment per chapter with exercises, made from the book's chapters by
`python -m collapse assignments` (profile `{profile}`) with
[otter-grader](https://otter-grader.readthedocs.io). Each folder holds:

- `student/<name>.ipynb`: what you hand out. It installs the book's library where it is
  missing (Colab), runs the whole chapter with its figures, and after each exercise has
  an answer cell and `grader.check("q1")`, which runs the public tests (the hidden ones
  are only in the autograder). Students keep the file name: the checks read the tests
  from the notebook file beside the kernel (in Colab, upload it to the session's files).
- `autograder/`: the solutions notebook `<name>.ipynb` (solutions and every test),
  `<name>-autograder.zip` (all tests, for grading), `otter_config.json`,
  `requirements.txt`.

Written parts ("Why?") are answered in the Markdown cell after each exercise: read them.

**Grade on your machine** (no Docker), in the book's environment (`make setup`), one
submission at a time:

```bash
otter run -a {example}/autograder/{example}-autograder.zip -o results/ submission.ipynb
```

It executes the submission from top to bottom (as long as the chapter takes in the
`{profile}` profile) and writes `results/results.json` (the score of every test, with its
message); the total is printed. A whole class, one folder of results per student:

```bash
for f in submissions/*.ipynb; do
    mkdir -p "results/$(basename "$f" .ipynb)"
    otter run -a {example}/autograder/{example}-autograder.zip \\
        -o "results/$(basename "$f" .ipynb)" "$f"
done
```

**Gradescope**: create a "Programming Assignment", upload
`<name>/autograder/<name>-autograder.zip` as its autograder (the image installs the
library from `requirements.txt`), and let students upload their `.ipynb`.

| assignment | questions | points | minutes |
|---|---|---|---|
{rows}
"""


def write_assignments(out: Path, root: Path | None = None, profile: str = "quick",
                      chapters: list[str] | None = None, log=print) -> list[Path]:
    """Every assignment (or ``chapters``) into ``out`` and its ``README.md``."""
    from .settings import PROFILE_NAMES

    if profile not in PROFILE_NAMES:
        raise ValueError(f"--profile must be one of {', '.join(PROFILE_NAMES)}; got {profile!r}")
    root = runner.project_root(root)
    out = check_out(out, root)
    book = Book.load(root)
    names = chapters_with_exercises(book)
    for name in chapters or []:
        runner.check_chapter_name(name, names)
    names = [n for n in names if not chapters or n in chapters]
    out.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for name in names:
        written.append(write_assignment(name, out, book, profile))
        found = questions(book.chapters[name].read_text(), book)
        rows.append(f"| `{name}/`: {book.titles.get(name, name)} | {len(found)} | "
                    f"{sum(q.points for q in found)} | "
                    f"{sum(int(q.about.get('minutes', 0)) for q in found)} |")
        log(f"{name}: {len(found)} questions")
    (out / "README.md").write_text(README.format(
        title=yaml.safe_load((root / "_config.yml").read_text()).get("title", "the book"),
        profile=profile, example=names[0] if names else "gaussian", rows="\n".join(rows)))
    return written


def cli(args) -> int:
    write_assignments(args.out, profile=args.profile, chapters=args.chapters)
    print(f"wrote the assignments and README.md to {args.out}")
    return 0
