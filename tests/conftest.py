"""Shared fixtures: the smoke-profile book, executed once per test session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_configure(config):
    # Tests read the offline data copies; a user's own setting wins.
    if "COLLAPSE_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
        os.environ["COLLAPSE_DATA_DIR"] = str(SHARED_DATA)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    # The Ctrl-C tests need Ctrl-C to mean KeyboardInterrupt, in this process and in the
    # processes it starts, as in a terminal. A shell that starts the tests in the
    # background (`make test &`) ignores SIGINT, and children inherit that: restore it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """Every chapter of ``_toc.yml`` executed in the ``smoke`` profile into a scratch copy
    of the book, then built with jupyter-book (warnings are errors).

    Returns ``(site_root, html_dir, results)`` where ``results[name]`` is the chapter's
    status record or the exception it raised; ``html_dir`` is None if the build failed
    (the build log is in ``site_root / 'build.log'``).
    """
    from collapse.book import runner as book

    site = tmp_path_factory.mktemp("site")
    for name in ("_config.yml", "_toc.yml", "index.md", "teachers.md"):
        shutil.copy(ROOT / name, site / name)
    (site / "chapters").mkdir()
    results = {}
    for name in book.chapter_names(ROOT):
        try:
            results[name] = book.execute_chapter(name, "smoke", root=ROOT,
                                                 output_dir=site / "book", force=True,
                                                 log=lambda *_: None)
        except Exception as error:  # reported per chapter by the tests
            results[name] = error
    # each chapter run rewrote site/book/execution.md
    executable = Path(sys.executable).parent / "jupyter-book"
    build = subprocess.run(
        [str(executable), "build", str(site), "--warningiserror", "--keep-going"],
        capture_output=True, text=True,
    )
    (site / "build.log").write_text(build.stdout + build.stderr)
    html = site / "_build" / "html" if build.returncode == 0 else None
    return site, html, results
