"""Student versions of the chapters: every chapter with its exercise solutions removed.

Solutions are ``sphinx-exercise`` blocks in the chapter source ``chapters/<name>.md``, in
either of its two forms:

- one directive, ```` ```{solution} label ```` … ```` ``` ```` (or ``:::{solution}`` …
  ``:::``), whose body is text and indented code;
- the gated form, a ``{solution-start}`` directive, then any markdown and code cells,
  then a ``{solution-end}`` directive: everything from the start to the end goes.

Removal works on the text of the chapter, so everything outside a solution is kept
byte for byte (front matter, parameters cell, exercises, prose, code cells); the
notebook is then read from that text with jupytext. ``python -m collapse student --out
DIR`` writes ``DIR/<name>.md`` and ``DIR/<name>.ipynb`` for every chapter in
table-of-contents order.
"""

from __future__ import annotations

import re
from pathlib import Path

from collapse import files, hashing

# An opening fence: three or more backticks or colons, then a directive name in braces.
_OPENING = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}")
SINGLE, START, END = "solution", "solution-start", "solution-end"


def _closing(fence: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")


def _directive_end(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the directive opened at ``lines[start]``; as in
    CommonMark, a fence left open runs to the end of the document."""
    closing = _closing(fence)
    for index in range(start + 1, len(lines)):
        if closing.match(lines[index]):
            return index
    return len(lines) - 1


def strip_solutions(text: str) -> str:
    """The chapter text without its solutions (both forms); everything else unchanged.

    Raises ValueError on an unmatched ``solution-start`` / ``solution-end``, so a
    malformed chapter never yields a student version that leaks.
    """
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    index, gate_opened_at = 0, None
    while index < len(lines):
        match = _OPENING.match(lines[index])
        name = match["name"] if match else None
        if name in (SINGLE, START, END):
            end = _directive_end(lines, index, match["fence"])
            if name == START:
                if gate_opened_at is not None:
                    raise ValueError(f"line {index + 1}: solution-start inside the "
                                     f"solution opened on line {gate_opened_at + 1}")
                gate_opened_at = index
            elif name == END:
                if gate_opened_at is None:
                    raise ValueError(f"line {index + 1}: solution-end without solution-start")
                gate_opened_at = None
            index = end + 1
            # one blank line after a removed block goes with it (no doubled blank lines)
            if index < len(lines) and not lines[index].strip() and kept and \
                    not kept[-1].strip():
                index += 1
            continue
        if match and gate_opened_at is None:  # another directive (code-cell, exercise…)
            end = _directive_end(lines, index, match["fence"])
            kept.extend(lines[index:end + 1])
            index = end + 1
            continue
        if gate_opened_at is None:
            kept.append(lines[index])
        index += 1
    if gate_opened_at is not None:
        raise ValueError(f"line {gate_opened_at + 1}: solution-start without solution-end")
    return "".join(kept)


def student_notebook(text: str):
    """The student version of a chapter as an nbformat notebook (no outputs)."""
    import jupytext

    return jupytext.reads(strip_solutions(text), fmt="md:myst")


# the project's sources and results: an export never writes into them (nor into the root)
PROJECT_FOLDERS = ("chapters", "book", "lib", "tests", "benchmarks", "_build", ".cache",
                   ".git", ".github", ".ci")


def check_export_folder(name: str, out, root: Path) -> Path:
    """Refuse (``ValueError`` naming ``name``) an output folder that is the project's root,
    one of :data:`PROJECT_FOLDERS` or inside one (of ``root`` and of the checkout this
    library is installed from), a file, or under ``/proc``: writing there would
    overwrite the chapter sources, the library or the executed notebooks."""
    roots = {Path(root), hashing.LIBRARY.parents[1]}
    return files.check_folder_outside(
        name, out, [r / folder for r in roots for folder in PROJECT_FOLDERS] +
        [hashing.LIBRARY], "the project's sources or results", exact=roots)


def write_student_versions(out: Path, root: Path | None = None,
                           chapters: list[str] | None = None) -> list[Path]:
    """Write ``<name>.ipynb`` and ``<name>.md`` for each chapter (all of the toc by
    default, in toc order) into ``out``, each file atomically: the plain-Markdown student
    notebooks of ``collapse.book.export``; return the paths written. ``out`` must be a
    folder of its own (see :func:`check_export_folder`)."""
    from . import export, runner

    root = runner.project_root(root)
    check_export_folder("--out", out, root)
    return export.write_student(out, export.Book.load(root), chapters)
