"""The chapter runner: a failed or interrupted run keeps the previous notebook, the
execution page is rewritten after every run, chapters run side by side with the same
results, and every bad parameter or chapter name is refused before any compute."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import numpy as np
import pytest

from collapse.book import memory, records, settings
from collapse.book import runner as book

FAKE_CHAPTER = textwrap.dedent('''\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # A fake chapter

    ```{code-cell} ipython3
    :tags: [parameters]

    profile = "quick"
    seed = 3
    ```

    ```{code-cell} ipython3
    import time
    from pathlib import Path

    if Path("SLOW").exists():
        Path("STARTED").touch()
        time.sleep(120)
    if Path("FAIL").exists():
        raise RuntimeError("deliberate failure")
    if Path("DIE").exists():  # the kernel dies, as when the kernel runs out of memory
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
    print("profile", profile, "seed", seed)
    ```
    ''')


@pytest.fixture
def fake_book(tmp_path):
    """A project with two tiny chapters, ``fake_a`` and ``fake_b`` (outside git)."""
    root = tmp_path / "project"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n"
                                   "  - file: book/fake_a\n  - file: book/fake_b\n"
                                   "  - file: book/execution\n")
    for name in ("fake_a", "fake_b"):
        (root / "chapters" / f"{name}.md").write_text(FAKE_CHAPTER)
    return root


def quiet(root, **options):
    return {"root": root, "output_dir": root / "book", "log": lambda *_: None, **options}


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


@pytest.mark.slow
def test_failing_run_keeps_the_old_notebook_and_names_the_cell(fake_book):
    book.execute_chapter("fake_a", "smoke", **quiet(fake_book))
    published = fake_book / "book" / "fake_a.ipynb"
    before = published.read_bytes()
    (fake_book / "FAIL").touch()
    with pytest.raises(book.ChapterFailed) as failure:
        book.execute_chapter("fake_a", "quick", **quiet(fake_book, force=True))
    message = str(failure.value)
    # In [4]: after the hidden install cell and papermill's injected-parameters cell
    assert "chapter 'fake_a' failed in cell In [4]" in message
    assert 'failing line 8: raise RuntimeError("deliberate failure")' in message
    assert "RuntimeError: deliberate failure" in message
    assert 'if Path("SLOW").exists():' in message  # the cell's source head
    assert "Traceback" not in message and len(message) < 1500
    assert published.read_bytes() == before
    assert not leftovers(fake_book / "book")


@pytest.mark.slow
def test_dead_kernel_keeps_the_old_notebook(fake_book):
    output = fake_book / "book"
    output.mkdir()
    (output / "fake_a.ipynb").write_text("the previous good result")
    (fake_book / "DIE").touch()
    with pytest.raises(book.ChapterFailed, match="chapter 'fake_a': the kernel died"):
        book.execute_chapter("fake_a", "quick", **quiet(fake_book))
    assert (output / "fake_a.ipynb").read_text() == "the previous good result"
    assert not leftovers(output)


def test_unreadable_notebook_is_left_out_of_the_execution_page(fake_book):
    output = fake_book / "book"
    output.mkdir()
    (output / "fake_a.ipynb").write_text("{ not a notebook")
    page = book.write_execution_page(fake_book, output).read_text()
    assert "| fake_a" not in page and page.startswith("# Execution statistics")


def test_interrupted_run_keeps_the_old_notebook(fake_book, monkeypatch):
    import papermill

    output = fake_book / "book"
    output.mkdir()
    (output / "fake_a.ipynb").write_text("the previous good result")

    def interrupted(source, target, **_):
        assert os.path.dirname(target) == str(output)  # the temporary sits next to it
        open(target, "w").write("half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        book.execute_chapter("fake_a", "quick", **quiet(fake_book, force=True))
    assert (output / "fake_a.ipynb").read_text() == "the previous good result"
    assert not leftovers(output)


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_keeps_the_old_notebook(fake_book):
    book.execute_chapter("fake_a", "smoke", **quiet(fake_book))
    published = fake_book / "book" / "fake_a.ipynb"
    before = published.read_bytes()
    (fake_book / "SLOW").touch()
    process = subprocess.Popen([sys.executable, "-m", "collapse", "chapter", "fake_a",
                                "--force"], cwd=fake_book, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while not (fake_book / "STARTED").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (fake_book / "STARTED").exists(), "the chapter never started"
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130
    # one line from the runner (the dying kernel may log its own complaints around it)
    assert [line for line in error.splitlines() if line.startswith("interrupted by SIGINT: ")]
    assert "collapse/book.py" not in error
    assert published.read_bytes() == before
    assert not leftovers(fake_book / "book")


@pytest.mark.slow
def test_execution_page_after_a_single_chapter_run_lists_every_executed_chapter(fake_book):
    book.execute_chapter("fake_a", "smoke", **quiet(fake_book))
    page = fake_book / "book" / "execution.md"
    assert "fake_a" in page.read_text() and "fake_b" not in page.read_text()
    book.execute_chapter("fake_b", "quick", **quiet(fake_book))
    text = page.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| fake_")]
    assert [row.split("|")[1].strip() for row in rows] == ["fake_a", "fake_b"]
    assert "| smoke | 3 |" in rows[0] and "| quick | 3 |" in rows[1]  # profile, seed
    assert all(row.rstrip(" |").endswith("unknown") for row in rows)  # commit: not in git
    assert f"numpy {np.__version__}" in text and "scikit-learn" in text
    assert "device:" in text
    record = nbformat.read(fake_book / "book" / "fake_b.ipynb", as_version=4).metadata["collapse"]
    assert record["versions"]["numpy"] == np.__version__
    assert record["seed"] == 3 and record["commit"] == "unknown"


def test_commit_is_short_hash_with_dirty_flag(tmp_path):
    assert records.git_commit(tmp_path) == "unknown"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert records.git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("changed")
    assert records.git_commit(tmp_path) == head + "+dirty"


@pytest.mark.slow
def test_parallel_run_equals_serial_run_apart_from_timings(fake_book, tmp_path):
    serial = book.execute_all("smoke", jobs=1, **quiet(fake_book, output_dir=tmp_path / "s"))
    parallel = book.execute_all("smoke", jobs=2, **quiet(fake_book, output_dir=tmp_path / "p"))
    assert [r["chapter"] for r in serial] == [r["chapter"] for r in parallel] == \
        ["fake_a", "fake_b"]
    for name in ("fake_a", "fake_b"):
        one, two = (nbformat.read(tmp_path / d / f"{name}.ipynb", as_version=4)
                    for d in ("s", "p"))
        assert [c.get("outputs") for c in one.cells] == [c.get("outputs") for c in two.cells]
        assert one.metadata.collapse.cache_key == two.metadata.collapse.cache_key

    def without_timings(folder):
        return [line.split("|")[1:5] + line.split("|")[7:]
                for line in (folder / "execution.md").read_text().splitlines()]

    assert without_timings(tmp_path / "s") == without_timings(tmp_path / "p")


def test_misspelt_chapter_name_lists_the_chapters(tmp_path):
    with pytest.raises(ValueError, match="chapter must be one of .*gaussian.*"
                                         "did you mean 'gaussian'"):
        book.execute_chapter("gausian", "smoke", output_dir=tmp_path)
    with pytest.raises(ValueError, match="chapter must be one of"):
        book.execute_all("smoke", only=["gaussian", "nosuch"], output_dir=tmp_path)
    command = subprocess.run([sys.executable, "-m", "collapse", "chapter", "nosuch"],
                             capture_output=True, text=True, timeout=60)
    assert command.returncode == 2
    assert "chapter must be one of" in command.stderr and "Traceback" not in command.stderr
    assert not list(tmp_path.iterdir())


# (chapter, override, text the message must contain); each is refused before any compute
BAD = [
    ("gaussian", dict(sizes=[]), "sizes must list at least 1"),
    ("gaussian", dict(sizes=[100, 100]), "sizes must not repeat"),
    ("gaussian", dict(sizes=[1]), "sizes (each M) must be >= 2"),
    ("gaussian", dict(pool_band_sizes=[]), "pool_band_sizes must list"),
    ("gaussian", dict(generations=1), "generations must be >= 2"),
    ("gaussian", dict(runs=0), "runs must be >= 1"),
    ("gaussian", dict(fig12_max_exponent=10), "fig12_max_exponent must be <= 9"),
    ("gaussian", dict(theory_runs=1), "theory_runs must be >= 2"),
    ("discrete", dict(time_sizes=[]), "time_sizes must list"),
    ("discrete", dict(time_states=[]), "time_states must list"),
    ("discrete", dict(time_states=list(range(2, 14))), "time_states must list at most 10"),
    ("discrete", dict(time_sizes=[5, 5]), "time_sizes must not repeat"),
    ("discrete", dict(collapse_generations=30), "collapse_generations must be >= 31"),
    ("discrete", dict(final_runs=5), "final_runs must be >= 10"),
    ("discrete", dict(fig3_bins=1), "fig3_bins must be >= 2"),
    ("markov", dict(starts=[]), "starts must list at least 1"),
    ("markov", dict(starts=[[5, 3, 2], [5, 3, 2]]), "starts must not repeat"),
    ("markov", dict(starts=[[5, 3, 3]]), "summing to M=10"),
    ("markov", dict(starts=[[5, 5]]), "starts (each) must be 3"),
    ("markov", dict(starts=[[12, -1, -1]]), "non-negative"),
    ("markov", dict(wf_sizes=[]), "wf_sizes must list"),
    ("markov", dict(wf_sizes=[1]), "wf_sizes (each M) must be >= 2"),
    ("markov", dict(M=200, K=10), "chain states"),
    ("what_is_collapse", dict(stages_generations=[]), "stages_generations must list at least 2"),
    ("what_is_collapse", dict(stages_generations=[5]), "stages_generations must list at least 2"),
    ("what_is_collapse", dict(stages_generations=[0, -1]), "must be >= 0"),
    ("what_is_collapse", dict(huge_M=10**19), "huge_M must be <= "),
    ("what_is_collapse", dict(generations=1), "generations must be >= 2"),
    ("gmm", dict(snapshots=[]), "snapshots must list at least 2"),
    ("gmm", dict(snapshots=[0]), "snapshots must list at least 2"),
    ("gmm", dict(snapshots=[0, 21]), "snapshots (each generation) must be <= 20"),
    ("gmm", dict(backend="gpu"), "backend must be one of"),
    ("gmm", dict(separation=float("nan")), "separation must be finite"),
    ("gmm", dict(mixing_generations=1), "mixing_generations must be >= 2"),
]


@pytest.mark.parametrize("chapter, override, message", BAD,
                         ids=[f"{c}-{next(iter(o))}-{i}" for i, (c, o, _) in enumerate(BAD)])
def test_bad_parameters_are_refused_before_any_compute(tmp_path, chapter, override, message):
    with pytest.raises(ValueError) as refusal:
        book.execute_chapter(chapter, "smoke", override, output_dir=tmp_path)
    assert message in str(refusal.value)
    assert not list(tmp_path.iterdir())


def test_the_command_line_refuses_an_empty_list_before_any_compute(tmp_path):
    command = subprocess.run([sys.executable, "-m", "collapse", "chapter", "gaussian",
                              "--set", "sizes=[]"], capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert command.returncode == 2
    assert "sizes must list at least 1" in command.stderr
    assert "Traceback" not in command.stderr


OWNED = ["gaussian", "discrete", "markov", "what_is_collapse", "gmm"]


@pytest.mark.parametrize("chapter", OWNED)
def test_memory_refusal_names_the_parameter(tmp_path, monkeypatch, chapter):
    monkeypatch.setenv(memory.MEMORY_LIMIT, "1MB")
    with pytest.raises(ValueError) as refusal:
        book.execute_chapter(chapter, "smoke", output_dir=tmp_path)
    _, parameter = settings.resolve(chapter, "smoke").peak_memory()
    assert f"lower {parameter} (now " in str(refusal.value)
    assert "1 MB available (COLLAPSE_MEMORY_LIMIT)" in str(refusal.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("chapter", OWNED)
def test_memory_estimate_grows_with_the_named_parameter(chapter):
    config = settings.resolve(chapter, "quick")
    peak, parameter = config.peak_memory()
    bigger = settings.resolve(chapter, "quick", **{parameter: config[parameter] * 4})
    assert bigger.peak_memory()[0] > peak
    for profile in settings.PROFILE_NAMES:  # every profile fits a 24 GB machine
        assert settings.resolve(chapter, profile).peak_memory()[0] < 20e9


@pytest.mark.parametrize("text, expected", [("8GB", 8 * 10**9), ("512MiB", 512 * 2**20),
                                            ("2e9", 2 * 10**9), ("1000", 1000)])
def test_memory_limit_parsing(text, expected):
    assert memory.parse_bytes("COLLAPSE_MEMORY_LIMIT", text) == expected


@pytest.mark.parametrize("text", ["lots", "8 parsecs", "0", ""])
def test_bad_memory_limit_is_named(text):
    with pytest.raises(ValueError, match="COLLAPSE_MEMORY_LIMIT must be"):
        memory.parse_bytes("COLLAPSE_MEMORY_LIMIT", text)


def test_a_parallel_build_starts_the_longest_chapters_first(tmp_path):
    names = ["what_is_collapse", "gmm", "vae", "markov", "language_models"]
    assert book.start_order(names, tmp_path) == ["vae", "language_models", "gmm",
                                                 "what_is_collapse", "markov"]
    for name, seconds in (("markov", 50.0), ("vae", 10.0)):  # recorded times come first
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["collapse"] = {"seconds": seconds}
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")
    assert book.start_order(names, tmp_path) == ["markov", "vae", "language_models", "gmm",
                                                 "what_is_collapse"]


@pytest.mark.slow
def test_executed_notebooks_start_with_a_hidden_install_cell_for_colab(fake_book):
    (fake_book / "_config.yml").write_text(
        "repository:\n  url: https://github.com/someone/collapse\n  branch: notebooks\n")
    book.execute_chapter("fake_a", "smoke", **quiet(fake_book))
    first = nbformat.read(fake_book / "book" / "fake_a.ipynb", as_version=4).cells[0]
    assert first.metadata["tags"] == ["remove-cell"]  # not shown on the site
    assert '"collapse @ git+https://github.com/someone/collapse@notebooks"' in first.source
    assert first.outputs == []  # collapse is installed here: it did nothing
