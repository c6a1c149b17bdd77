"""Execute the chapters with papermill and build the book with jupyter-book.

Flow: ``chapters/<name>.md`` (jupytext MyST) → notebook → papermill with the
profile and overrides → ``book/<name>.ipynb`` → ``jupyter-book build`` → ``_build/html``.

An executed notebook records a content hash of its chapter source, the library
source and its parameters; a chapter whose hash is unchanged is not executed again.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from . import profiles

LIBRARY = Path(__file__).resolve().parent


def project_root(start: Path | None = None) -> Path:
    """The directory holding ``_toc.yml``: searched upward from ``start`` (or the cwd),
    then next to the library (an editable install)."""
    for folder in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (folder / "_toc.yml").exists() and (folder / "chapters").is_dir():
            return folder
    fallback = LIBRARY.parents[1]
    if (fallback / "_toc.yml").exists():
        return fallback
    raise FileNotFoundError("cannot find the book: no _toc.yml with chapters/ above the cwd")


def chapter_names(root: Path) -> list[str]:
    """Chapters in table-of-contents order: every ``book/<name>`` entry of ``_toc.yml``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = []

    def walk(node):
        if isinstance(node, dict):
            entry = node.get("file") or node.get("root")
            if isinstance(entry, str) and entry.startswith("book/"):
                names.append(entry.removeprefix("book/"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return names


def cache_key(root: Path, name: str, parameters: dict) -> str:
    """Hash of the chapter source, every library source file and the parameters."""
    digest = hashlib.sha256()
    digest.update((root / "chapters" / f"{name}.md").read_bytes())
    for path in sorted(LIBRARY.rglob("*.py")):
        digest.update(path.relative_to(LIBRARY).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    return digest.hexdigest()


def execute_chapter(name: str, profile: str = "quick", overrides: dict | None = None,
                    root: Path | None = None, output_dir: Path | None = None,
                    force: bool = False, log=print) -> dict:
    """Execute one chapter unless its cached output is current; return a status record."""
    import jupytext
    import nbformat
    import papermill

    root = project_root(root)
    overrides = dict(overrides or {})
    source = root / "chapters" / f"{name}.md"
    if not source.exists():
        raise FileNotFoundError(f"chapter {name!r} has no source {source}")
    if name in profiles.chapters():
        profiles.resolve(name, profile, **overrides)  # fail before any compute
    elif overrides:
        raise ValueError(f"chapter {name!r} has no parameters to override")
    parameters = {"profile": profile, **overrides}
    output_dir = Path(output_dir or root / "book")
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{name}.ipynb"
    key = cache_key(root, name, parameters)
    if output.exists() and not force:
        cached = nbformat.read(output, as_version=4).metadata.get("collapse", {})
        if cached.get("cache_key") == key:
            log(f"{name}: unchanged, using {output.relative_to(output_dir.parent)}")
            return {"chapter": name, "status": "cached", **cached}

    log(f"{name}: executing ({profile} profile{', ' + str(overrides) if overrides else ''})")
    notebook = jupytext.read(source)
    with tempfile.TemporaryDirectory() as scratch:
        unexecuted = Path(scratch) / f"{name}.ipynb"
        nbformat.write(notebook, unexecuted)
        start = time.perf_counter()
        papermill.execute_notebook(
            str(unexecuted), str(output), parameters=parameters, kernel_name="python3",
            cwd=str(root), progress_bar=False, log_output=False,
        )
        seconds = time.perf_counter() - start
    executed = nbformat.read(output, as_version=4)
    record = {"cache_key": key, "profile": profile, "parameters": parameters,
              "seconds": round(seconds, 1),
              "executed_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    executed.metadata["collapse"] = record
    nbformat.write(executed, output)
    log(f"{name}: done in {seconds:.1f} s")
    return {"chapter": name, "status": "executed", **record}


def execute_all(profile: str = "quick", root: Path | None = None, output_dir: Path | None = None,
                force: bool = False, only: list[str] | None = None, log=print) -> list[dict]:
    root = project_root(root)
    names = chapter_names(root)
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"unknown chapters {unknown}; the book has {names}")
        names = [n for n in names if n in only]
    for name in names:  # check every profile before executing anything
        if name in profiles.chapters():
            profiles.resolve(name, profile)
    records = [execute_chapter(n, profile, root=root, output_dir=output_dir, force=force,
                               log=log) for n in names]
    _write_execution_page(root, output_dir or root / "book", records)
    return records


def _write_execution_page(root: Path, output_dir: Path, records: list[dict]) -> None:
    """A page listing when and how each chapter was executed (like QuantEcon's)."""
    lines = ["# Execution statistics", "",
             "Each chapter is executed by papermill before the book is built; a chapter whose",
             "source, library code and parameters are unchanged is taken from the cache.", "",
             "| chapter | profile | parameters | executed at | seconds |",
             "|---|---|---|---|---|"]
    for r in records:
        overrides = {k: v for k, v in r["parameters"].items() if k != "profile"}
        lines.append(f"| {r['chapter']} | {r['profile']} | {overrides or 'profile defaults'} "
                     f"| {r['executed_at']} | {r['seconds']} |")
    (Path(output_dir) / "execution.md").write_text("\n".join(lines) + "\n")


def build_html(root: Path | None = None, strict: bool = True) -> Path:
    """``jupyter-book build`` the project (warnings are errors when ``strict``)."""
    root = project_root(root)
    executable = Path(sys.executable).parent / "jupyter-book"
    command = [str(executable), "build", str(root), "--keep-going"]
    if strict:
        command.append("--warningiserror")
    subprocess.run(command, check=True, cwd=root)
    return root / "_build" / "html"
