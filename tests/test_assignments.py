"""Graded assignments (issue 17, collapse.book.assignments): every chapter with exercises
is an otter-grader assignment made from its source. Fast tests check the questions, the
teacher's command and that no solution or hidden test reaches a student file; the slow
ones grade with ``otter run`` (no Docker, the smoke profile): the solutions get full
marks, the untouched student notebooks zero (and run top to bottom with their figures),
a different correct answer full marks and a typical wrong one the public test's message."""

import os
import re
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest
from conftest import ROOT

from collapse.book import assignments, export
from collapse.book import student as student_module

BOOK = export.Book.load(ROOT)
NAMES = assignments.chapters_with_exercises(BOOK)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every assignment of the smoke profile, written by the teacher's command."""
    out = tmp_path_factory.mktemp("assignments") / "out"
    result = subprocess.run([sys.executable, "-m", "collapse", "assignments", "--out", str(out),
                             "--profile", "smoke"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_every_chapter_with_exercises_is_an_assignment_of_complete_questions():
    assert len(NAMES) >= 10
    for name in NAMES:
        text = BOOK.chapters[name].read_text()
        found = assignments.questions(text, BOOK)
        assignments.check(name, found)  # solution, public and hidden tests, description
        assert len(found) == len(re.findall(r"\{exercise(?:-start)?\}", text))
        sections = set(re.findall(r"^## (.+)$", text, flags=re.MULTILINE))
        for question in found:
            assert set(question.about["needs"]) <= sections, (name, question.about["needs"])
            assert 5 <= int(question.about["minutes"]) <= 90


def test_the_teacher_command_writes_student_autograder_and_readme(written):
    readme = (written / "README.md").read_text()
    assert "otter run" in readme and "Gradescope" in readme and "Docker" in readme
    for name in NAMES:
        assert (written / name / "student" / f"{name}.ipynb").is_file()
        for path in (f"{name}.ipynb", f"{name}-autograder.zip", "requirements.txt"):
            assert (written / name / "autograder" / path).is_file(), (name, path)
        assert f"`{name}/`" in readme
        student = nbformat.read(written / name / "student" / f"{name}.ipynb", as_version=4)
        assert "find_spec" in student.cells[0].source  # the install cell first
        assert 'grader = otter.Notebook(' in student.cells[1].source
        found = assignments.questions(BOOK.chapters[name].read_text())
        checks = [c.source for c in student.cells if c.source.startswith("grader.check(")]
        assert checks == [f'grader.check("q{i}")' for i in range(1, len(found) + 1)]
        assert 'profile = "smoke"' in "\n".join(c.source for c in student.cells)


def _solution_lines(name: str) -> set[str]:
    """Lines of the chapter's solutions that the chapter shows nowhere else."""
    text = BOOK.chapters[name].read_text()
    elsewhere = {line.strip() for line in student_module.strip_solutions(text).splitlines()}
    lines = set()
    for question in assignments.questions(text):
        elsewhere |= {line.strip() for hidden, source in question.tests if not hidden
                      for line in source.splitlines()}
        for block in question.code + question.prose:
            lines |= {line.strip() for line in block.splitlines()
                      if len(line.strip()) > 25 and line.strip() not in elsewhere}
    return lines


def test_no_solution_and_no_hidden_test_in_any_student_file(written):
    for name in NAMES:
        files = [p for p in (written / name / "student").rglob("*") if p.is_file()]
        text = "\n".join(p.read_text() for p in files)
        notebook = nbformat.read(written / name / "student" / f"{name}.ipynb", as_version=4)
        sources = {line.strip() for c in notebook.cells for line in c.source.splitlines()}
        sources |= {line.strip() for test in notebook.metadata["otter"]["tests"].values()
                    for line in test.splitlines()}
        leaked = [line for line in _solution_lines(name) if line in sources]
        assert not leaked, f"{name}: solution lines in the student notebook: {leaked[:3]}"
        for question in assignments.questions(BOOK.chapters[name].read_text()):
            for hidden, source in question.tests:
                function = re.match(r"def (test_\w+)", source)[1]
                assert (function in text) == (not hidden), (name, function, hidden)
        assert "BEGIN SOLUTION" not in text and "hidden=True" not in text


def test_an_out_folder_that_holds_the_project_is_refused(tmp_path):
    for bad in (ROOT, ROOT.parent, ROOT / "chapters", ROOT / "book" / "x", ROOT / "lib"):
        with pytest.raises(ValueError, match="--out"):
            assignments.check_out(bad, ROOT)
    assert assignments.check_out(tmp_path / "new", ROOT) == (tmp_path / "new").resolve()
    result = subprocess.run([sys.executable, "-m", "collapse", "assignments", "--out", "chapters"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "--out" in result.stderr
    assert not list((ROOT / "chapters").glob("*/autograder"))


def test_the_tests_are_neither_on_the_site_nor_in_the_downloaded_notebook():
    for name in NAMES:
        notebook = jupytext.read(BOOK.chapters[name])
        for cell in notebook.cells:
            tags = cell.metadata.get("tags", [])
            if {assignments.PUBLIC, assignments.HIDDEN} & set(tags):
                assert "remove-cell" in tags, (name, cell.source[:60])
        out = export.executed_notebook(notebook, BOOK, name)
        functions = {re.match(r"def (test_\w+)", source)[1] for question in
                     assignments.questions(BOOK.chapters[name].read_text())
                     for _, source in question.tests}
        assert not [f for f in functions for c in out.cells if f"def {f}(" in c.source], name


# ------------------------------------------------------------------ grading (slow)

# A different correct answer and a typical wrong one for two assignments: the answer
# cells (tagged otter_answer_cell, in question order) replaced by these sources.
ALTERNATIVE = {
    "gaussian": [
        # the closed form of E√S instead of the library's exact curve
        "from scipy.special import gammaln\nM = 100\n"
        "c = np.sqrt(2 / (M - 1)) * np.exp(gammaln(M / 2) - gammaln((M - 1) / 2))\n"
        "g = np.arange(4000)\nhalf_way = int(g[2 - 2 * c ** (g + 1) >= 1][0])",
        # the expected distance summed by hand, generation by generation
        "distance = {}\nfor key, power in (('constant', 0), ('linear', 1), ('quadratic', 2)):\n"
        "    sizes = 100 * (np.arange(1000) + 1) ** power\n"
        "    mean_part, sqrt_p = 0.0, 1.0\n"
        "    for M in sizes:\n"
        "        mean_part += 1 / M\n"
        "        sqrt_p *= np.sqrt(2 / (M - 1)) * np.exp(\n"
        "            __import__('scipy.special').special.gammaln(M / 2)\n"
        "            - __import__('scipy.special').special.gammaln((M - 1) / 2))\n"
        "    distance[key] = mean_part + 2 - 2 * sqrt_p\n"
        "bounded = ['quadratic']",
    ],
    "markov": [
        # power iteration on Q, survival from Q's powers
        "largest = {}\nfor M, K in [(10, 2), (10, 3), (20, 3), (8, 4)]:\n"
        "    Q = markov.AbsorbingChain(M, K).Q\n    v = np.ones(len(Q))\n"
        "    for _ in range(3000):\n        v = Q @ v\n        v /= np.linalg.norm(v)\n"
        "    largest[(M, K)] = float(np.linalg.norm(Q @ v))\n"
        "chain = markov.AbsorbingChain(10, 3)\n"
        "start = np.zeros(len(chain.Q))\nstart[chain.index([4, 3, 3])] = 1.0\n"
        "survive = [start @ np.linalg.matrix_power(chain.Q, g) @ np.ones(len(chain.Q))\n"
        "           for g in (149, 150)]\nsurvival_ratio = float(survive[1] / survive[0])",
    ],
}
WRONG = {
    # the biased (maximum-likelihood) estimator where the chapter's unbiased one is asked for
    "gaussian": ("half_way = int(np.argmax(theory.expected_std_error(100, estimator='mle', "
                 "generations=4000) >= 1.0))", "q1", "the chapter's unbiased estimator (Eq 1)"),
    # the eigenvalues of the whole transition matrix instead of its transient block Q
    "markov": ("largest = {(M, K): np.max(np.abs(np.linalg.eigvals("
               "markov.AbsorbingChain(M, K).transition)))\n"
               "           for M, K in [(10, 2), (10, 3), (20, 3), (8, 4)]}\n"
               "survival_ratio = 0.9", "q1", "did you take the whole transition matrix?"),
}


def _answered(path: Path, answers: list[str], out: Path) -> Path:
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells
             if "otter_answer_cell" in c.metadata.get("tags", []) and c.cell_type == "code"]
    for cell, source in zip(cells, answers, strict=False):
        cell.source = source
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / path.name)
    return out / path.name


def grade(autograder: str, submission: str) -> dict:
    """``otter run`` (no container) of one submission, one thread per kernel: the score
    and messages of every question, the figures of the executed notebook."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    from otter.run import main as otter_run

    results = otter_run(submission, autograder=autograder, output_dir=None, no_logo=True)
    scores = {name: {"score": r.score, "possible": r.possible,
                     "messages": "\n".join(t.message for t in r.test_case_results)}
              for name, r in results.results.items()}
    notebook = getattr(results, "notebook", None)
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for output in cell.get("outputs", [])) \
        if notebook is not None else 0
    errors = [output.get("ename") for cell in (notebook.cells if notebook else [])
              if cell.cell_type == "code" for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    return {"scores": scores, "images": images, "errors": errors}


@pytest.fixture(scope="module")
def graded(written, tmp_path_factory):
    """``{(kind, name): grade}`` for every assignment's solution and untouched student
    notebook and the alternative and wrong answers, two gradings at a time."""
    scratch = tmp_path_factory.mktemp("submissions")
    jobs = {}
    for name in NAMES:
        zip_path = str(written / name / "autograder" / f"{name}-autograder.zip")
        jobs[("solution", name)] = (zip_path, str(written / name / "autograder" / f"{name}.ipynb"))
        jobs[("student", name)] = (zip_path, str(written / name / "student" / f"{name}.ipynb"))
    for name, answers in ALTERNATIVE.items():
        zip_path = jobs[("solution", name)][0]
        student = written / name / "student" / f"{name}.ipynb"
        jobs[("alternative", name)] = (
            zip_path, str(_answered(student, answers, scratch / "alternative" / name)))
        jobs[("wrong", name)] = (
            zip_path, str(_answered(student, [WRONG[name][0]], scratch / "wrong" / name)))
    order = sorted(jobs, key=lambda job: job[1] not in ("vae", "language_models", "gmm"))
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {job: pool.submit(grade, *jobs[job]) for job in order}
        return {job: future.result() for job, future in futures.items()}


def figures(name: str) -> int:
    notebook = jupytext.read(BOOK.chapters[name])
    return sum(bool(c.metadata.get("mystnb", {}).get("figure")) for c in notebook.cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_solution_gets_full_marks(graded, name):
    scores = graded[("solution", name)]["scores"]
    assert scores, f"{name}: nothing graded"
    for question, result in scores.items():
        assert result["score"] == result["possible"] > 0, \
            f"{name} {question}: {result['score']}/{result['possible']}\n{result['messages']}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_untouched_student_notebook_gets_zero_and_runs_with_its_figures(graded, name):
    run = graded[("student", name)]
    assert len(run["scores"]) == len(assignments.questions(BOOK.chapters[name].read_text()))
    for question, result in run["scores"].items():
        assert result["score"] == 0 < result["possible"], (name, question, result)
    assert not run["errors"], f"{name}: the student notebook raised {run['errors']}"
    assert run["images"] >= figures(name) > 0, (name, run["images"], figures(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALTERNATIVE))
def test_a_different_correct_answer_gets_full_marks(graded, name):
    scores = graded[("alternative", name)]["scores"]
    for question, result in scores.items():
        assert result["score"] == result["possible"], (name, question, result["messages"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_typical_wrong_answer_fails_with_the_public_message(graded, name):
    _, question, message = WRONG[name]
    result = graded[("wrong", name)]["scores"][question]
    assert result["score"] < result["possible"]
    assert message in result["messages"], result["messages"]


@pytest.mark.slow
def test_the_grades(graded):
    """The table of the closing note of issue 17 (printed with -s)."""
    rows = []
    for (kind, name), run in sorted(graded.items(), key=lambda item: (item[0][1], item[0][0])):
        marks = ", ".join(f"{q} {r['score']:g}/{r['possible']:g}"
                          for q, r in run["scores"].items())
        rows.append(f"{name:16} {kind:12} {marks}  ({run['images']} figures)")
    print("\n" + "\n".join(rows))
    assert len(rows) == 2 * len(NAMES) + len(ALTERNATIVE) + len(WRONG)


@pytest.mark.slow
def test_the_teachers_page_lists_every_assignment_and_its_notebook(smoke_book):
    _, html, _ = smoke_book
    if html is None:
        pytest.skip("the build failed (reported by test_book_builds_with_warnings_as_errors)")
    page = (html / "teachers.html").read_text()
    for entry in assignments.catalogue(BOOK):
        link = f"_static/assignments/{entry['name']}.ipynb"
        assert f'href="{link}"' in page, entry["name"]
        notebook = nbformat.read(html / link, as_version=4)
        assert any(c.source.startswith('grader.check("q1")') for c in notebook.cells)
        for question in entry["questions"]:
            assert question["title"] in page and str(question["minutes"]) in page
            for section in question["needs"]:
                assert section.replace("'", "’") in page or section in page, section
