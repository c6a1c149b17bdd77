"""Notebooks as people open them: plain Jupyter Markdown, every figure shown.

The site is built from MyST: numbers glued into the prose (``{glue:text}``),
cross-references (``{numref}``, ``{ref}``, ``{doc}``), exercise and solution directives,
figure captions in the cells' ``mystnb`` metadata. Jupyter, JupyterLab, Colab and VS
Code show all of that as raw text. This module writes the notebooks a person downloads
or launches, in the manner of QuantEcon's ``sphinx-tojupyter`` notebooks:

- :func:`executed_notebook`: an executed chapter (``book/<name>.ipynb``) for the site's
  ``.ipynb`` download and for the ``notebooks`` branch that the Colab and Binder buttons
  open. Glued numbers become their values from that run.
- :func:`student_notebook`: a chapter without its solutions (``collapse.student``), which
  runs top to bottom in a plain kernel; glued numbers become their names, and ``glue``
  prints each one, by name, under the cell that computes it. Each exercise is followed
  by the chapter's stub for it (a code cell tagged ``student-answer``) and a Markdown
  cell for the written answer.

In both, references show the site's own numbers and titles (``Fig. 3.2``, ``Exercise
5.2``, a chapter's title) with a link to the page, computed as the site numbers them
(:class:`Book`); exercises and solutions become headings, admonitions block quotes, a
``list-table`` a Markdown table, each figure's caption a Markdown cell under it; math
stays ``$…$``. Every notebook starts with the install cell (``book.install_cell``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from . import book as _book
from . import student as _student

GLUE_PREFIX = "application/papermill.record/"
ANSWER_TAG = "student-answer"
# A directive's opening fence: three or more backticks or colons, a name in braces.
OPENING = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<args>.*)$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})")
ROLE = re.compile(r"\{(?P<name>[a-zA-Z][\w:-]*)\}`(?P<content>[^`]+)`")
EXERCISE = re.compile(r"^(?:`{3,}|:{3,})\{exercise(?:-start)?\}\s*(.*)\n((?:\s*:[\w-]+:.*\n)*)",
                      flags=re.MULTILINE)  # an exercise's title and options
TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$", flags=re.MULTILINE)
SUBSTITUTION = re.compile(r"\{\{\s*(?P<name>\w+)\s*\}\}")
ADMONITIONS = {"note", "warning", "tip", "important", "hint", "seealso", "attention",
               "caution", "danger", "error", "admonition", "dropdown"}


def make_id(label: str) -> str:
    """The HTML id Sphinx gives a label (docutils' ``make_id``)."""
    from docutils.nodes import make_id as docutils_make_id

    return docutils_make_id(label)


@dataclass(frozen=True)
class Target:
    """Something a reference points at: the text the site shows for it and where it is."""

    text: str  # "Fig. 3.2", "Exercise 5.2", "Table 10.1", or a section's title
    page: str  # the chapter (book/<page>.html)
    anchor: str = ""  # the element's id on the page ("" for the page itself)
    title: str = ""  # an exercise's title, a figure's caption


@dataclass
class Book:
    """What the site shows for every chapter: its number (its place in ``_toc.yml``,
    numbered), its title, and the numbers of its figures, tables and exercises (in the
    order they appear, per chapter, as Sphinx's ``numfig`` counts them); plus the
    repository, its branch and the site's address from ``_config.yml``."""

    root: Path
    chapters: dict[str, Path] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    repository: str = ""
    branch: str = "main"
    site: str = ""

    @classmethod
    def load(cls, root: Path, sources: dict[str, Path] | None = None) -> Book:
        """The book at ``root`` (``_toc.yml``, ``_config.yml``); the chapters' MyST
        sources are ``sources`` (default ``root/chapters/<name>.md``)."""
        root = Path(root)
        settings = yaml.safe_load((root / "_config.yml").read_text()) or {}
        repository = settings.get("repository") or {}
        url = str(repository.get("url") or "").rstrip("/")
        html = settings.get("html") or {}
        site = str(html.get("baseurl") or "") or github_pages(url)
        self = cls(root=root, repository=url, branch=repository.get("branch") or "main",
                   site=site.rstrip("/") + "/" if site else "")
        self.numbers = chapter_numbers(root)
        names = _book.chapter_names(root)
        self.chapters = sources or {n: root / "chapters" / f"{n}.md" for n in names}
        for name, source in self.chapters.items():
            self._index(name, source.read_text())
        return self

    def _index(self, name: str, text: str) -> None:
        import jupytext

        number = self.numbers.get(name)
        prefix = f"{number}." if number is not None else ""
        counts = {"Fig.": 0, "Table": 0, "Exercise": 0}

        def numbered(kind, label, anchor, title=""):
            counts[kind] += 1
            self.targets[label] = Target(f"{kind} {prefix}{counts[kind]}", name, anchor, title)

        notebook = jupytext.reads(text, fmt="md:myst")
        for cell in notebook.cells:
            if cell.cell_type == "code":
                figure = cell.metadata.get("mystnb", {}).get("figure") or {}
                if figure.get("name"):
                    numbered("Fig.", figure["name"], make_id(figure["name"]),
                             str(figure.get("caption") or ""))
                continue
            lines = cell.source.splitlines()
            for index, line in enumerate(lines):
                if name not in self.titles and line.startswith("# "):
                    self.titles[name] = line[2:].strip()
                target = TARGET.match(line)
                if target:
                    heading = next((item for item in lines[index + 1:] if item.strip()), "")
                    title = heading.lstrip("#").strip() if heading.startswith("#") else \
                        target["label"]
                    self.targets[target["label"]] = Target(title, name,
                                                           make_id(target["label"]))
                opening = OPENING.match(line)
                if not opening:
                    continue
                options = directive_options(lines[index + 1:])
                kind = opening["name"]
                label = options.get("label") or options.get("name")
                if kind in ("exercise", "exercise-start") and label:
                    numbered("Exercise", label, make_id(label), opening["args"].strip())
                elif kind in ("figure", "glue:figure") and options.get("name"):
                    numbered("Fig.", options["name"], make_id(options["name"]))
                elif kind in ("list-table", "table", "csv-table") and options.get("name"):
                    numbered("Table", options["name"], make_id(options["name"]),
                             opening["args"].strip())
        self.titles.setdefault(name, name)

    def url(self, page: str, anchor: str = "") -> str:
        """The address of a chapter page (and an element on it) on the site."""
        return f"{self.site}book/{page}.html" + (f"#{anchor}" if anchor else "")


def github_pages(repository: str) -> str:
    """``https://<owner>.github.io/<name>/`` for ``https://github.com/<owner>/<name>``."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", repository)
    return f"https://{match[1].lower()}.github.io/{match[2]}/" if match else ""


def chapter_numbers(root: Path) -> dict[str, int]:
    """``{name: number}`` for every ``book/<name>`` entry of ``_toc.yml``, numbered as
    jupyter-book numbers them: the files of numbered parts (``defaults: numbered`` or the
    part's own ``numbered``) in order, continuing from part to part."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text()) or {}
    default = bool((toc.get("defaults") or {}).get("numbered", False))
    numbers, count = {}, 0
    parts = toc.get("parts") or [{"chapters": toc.get("chapters") or []}]
    for part in parts:
        numbered = bool(part.get("numbered", default))
        for entry in part.get("chapters") or []:
            path = entry.get("file") if isinstance(entry, dict) else None
            if not path or not numbered:
                continue
            count += 1
            if path.startswith("book/"):
                numbers[path.removeprefix("book/")] = count
    return numbers


def directive_options(lines: list[str]) -> dict[str, str]:
    """The ``:key: value`` options (or the ``---`` YAML block) opening a directive body."""
    options = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            loaded = yaml.safe_load("\n".join(lines[1:end])) or {}
            return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) \
                else {}
    for line in lines:
        match = re.match(r"^\s*:([\w-]+):\s*(.*)$", line)
        if not match:
            break
        options[match[1]] = match[2].strip()
    return options


def _directive_end(lines: list[str], start: int, fence: str) -> int:
    closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for index in range(start + 1, len(lines)):
        if closing.match(lines[index]):
            return index
    return len(lines)


def _split_directive(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Options and body lines of a directive's content."""
    options = directive_options(lines)
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        body = lines[end + 1:]
    else:
        body = lines[len(options):]
    while body and not body[0].strip():
        body = body[1:]
    return options, body


def escape(text: str) -> str:
    """``text`` as literal Markdown (a glued value is text on the site, never markup)."""
    return re.sub(r"([\\`*_\[\]<>$])", r"\\\1", text)


class Converter:
    """MyST Markdown → plain Jupyter Markdown for one chapter.

    ``glue(key, fmt)`` returns the Markdown that replaces a glued value."""

    def __init__(self, book: Book, page: str, glue):
        self.book, self.page, self.glue = book, page, glue

    # -- inline --------------------------------------------------------------------------
    def link(self, text: str, page: str, anchor: str = "") -> str:
        url = self.book.url(page, anchor)
        return f"[{text}]({url})" if self.book.site else text

    def target(self, label: str) -> Target | None:
        return self.book.targets.get(label) or self.book.targets.get(make_id(label))

    def role(self, match: re.Match) -> str:
        name, content = match["name"], match["content"]
        explicit = re.fullmatch(r"(?s)(?P<text>.*?)\s*<(?P<target>[^<>]+)>", content)
        text, label = (explicit["text"], explicit["target"]) if explicit else ("", content)
        if name in ("glue", "glue:text", "glue:any", "glue:md"):
            key = content.split("::", 1)[-1]  # a key glued in another notebook: doc::key
            key, _, fmt = key.partition(":")
            return self.glue(key, fmt)
        if name in ("numref", "ref", "numref:", "std:ref", "std:numref"):
            found = self.target(label.strip())
            if found is None:
                return text or label
            if name.endswith("numref") and text:
                number = found.text.split(" ", 1)[-1]
                shown = text.replace("%s", number).replace("{number}", number) \
                    .replace("{name}", found.title or found.text)
            else:
                shown = text or found.text
            return self.link(shown, found.page, found.anchor)
        if name == "doc":
            page = label.strip().removesuffix(".md").removesuffix(".ipynb").split("/")[-1]
            title = text or self.book.titles.get(page, page)
            return self.link(title, page) if page in self.book.titles else title
        if name in ("math", "eq"):
            return f"${content}$" if name == "math" else content
        if name in ("abbr",):
            return re.sub(r"\s*\(.*\)\s*$", "", content)
        return text or content

    def inline(self, line: str) -> str:
        line = ROLE.sub(self.role, line)
        return SUBSTITUTION.sub(
            lambda m: self.book.repository if m["name"] == "repository_url" else m[0], line)

    # -- blocks --------------------------------------------------------------------------
    def markdown(self, source: str) -> str:
        text = "\n".join(self.lines(source.splitlines())).strip("\n")
        return re.sub(r"\n{3,}", "\n\n", text)

    def lines(self, lines: list[str]) -> list[str]:
        out, index = [], 0
        while index < len(lines):
            line = lines[index]
            opening = OPENING.match(line)
            if opening:
                end = _directive_end(lines, index, opening["fence"])
                content = [item[len(opening["indent"]):] if item.startswith(opening["indent"])
                           else item for item in lines[index + 1:end]]
                out += self.directive(opening["name"], opening["args"].strip(), content)
                index = end + 1
                continue
            fence = FENCE.match(line)
            if fence:  # a code block: copied as it is
                end = _directive_end(lines, index, fence["fence"])
                out += lines[index:end + 1]
                index = end + 1
                continue
            if line.strip() == "$$":  # display math: copied as it is
                end = next((i for i in range(index + 1, len(lines))
                            if lines[i].strip().startswith("$$")), len(lines) - 1)
                out += lines[index:end + 1]
                index = end + 1
                continue
            target = TARGET.match(line)
            if target:
                out.append(f'<a id="{make_id(target["label"])}"></a>')
            elif re.match(r"^%(\s|$)", line):
                pass  # a MyST comment
            else:
                out.append(self.inline(line))
            index += 1
        return out

    def heading(self, text: str, label: str = "") -> list[str]:
        anchor = f'<a id="{make_id(label)}"></a>' if label else ""
        return ["", f"### {anchor}{text}", ""]

    def exercise_title(self, label: str, args: str) -> str:
        found = self.target(label) if label else None
        title = found.text if found else "Exercise"
        return f"{title} ({self.inline(args)})" if args else title

    def directive(self, name: str, args: str, content: list[str]) -> list[str]:
        options, body = _split_directive(content)
        if name in ("exercise", "exercise-start"):
            label = options.get("label", "")
            head = self.heading(self.exercise_title(label, args), label)
            return head + (self.lines(body) if name == "exercise" else [])
        if name in ("solution", "solution-start"):
            found = self.target(args)
            title = found.text + (f" ({self.inline(found.title)})" if found.title else "") \
                if found else "the exercise"
            head = self.heading(f"Solution to {title}")
            return head + (self.lines(body) if name == "solution" else [])
        if name in ("exercise-end", "solution-end"):
            return []
        if name in ADMONITIONS:
            title = self.inline(args) if args else name.capitalize()
            inner = self.lines(body)
            return ["", f"> **{title}**", ">", *[f"> {item}".rstrip() for item in inner], ""]
        if name == "list-table":
            return self.table(args, options, body)
        if name in ("math",):
            return ["$$", *body, "$$"]
        if name in ("code-block", "code", "sourcecode", "code-cell"):
            return [f"```{args.split()[0] if args else ''}", *body, "```"]
        if name in ("figure", "image"):
            return [f"![{options.get('alt', '')}]({args})", "", *self.lines(body)]
        if name in ("glue:figure", "glue", "glue:any", "glue:md", "glue:math"):
            key = args.split("::")[-1]
            found = self.target(options.get("name", ""))
            caption = self.lines(body)
            prefix = f"**{found.text}** " if found else ""
            value = self.glue(key, "") if name != "glue:figure" else ""
            return [value, "", prefix + " ".join(caption)] if caption else [value]
        if name in ("raw",):
            return body if args.strip() == "html" else []
        return self.lines(body)  # margin, sidebar, div, topic, …: the content

    def table(self, caption: str, options: dict, body: list[str]) -> list[str]:
        rows: list[list[str]] = []
        for line in body:
            if re.match(r"^\*\s+-\s", line):
                rows.append([line.split("-", 1)[1].strip()])
            elif re.match(r"^\s+-\s", line) and rows:
                rows[-1].append(line.split("-", 1)[1].strip())
            elif line.strip() and rows:
                rows[-1][-1] += " " + line.strip()
        if not rows:
            return self.lines(body)
        width = max(len(row) for row in rows)
        cells = [[self.inline(cell).replace("|", "\\|") for cell in row] + [""] *
                 (width - len(row)) for row in rows]
        header = int(options.get("header-rows", "0") or 0)
        head, rest = (cells[0], cells[1:]) if header else ([""] * width, cells)
        found = self.target(options.get("name", ""))
        anchor = f'<a id="{make_id(options["name"])}"></a>' if options.get("name") else ""
        title = f"{anchor}**{found.text}** {self.inline(caption)}" if found else \
            anchor + self.inline(caption)
        return ["", title, "", "| " + " | ".join(head) + " |", "|" + "---|" * width,
                *["| " + " | ".join(row) + " |" for row in rest], ""]


def glued_values(notebook) -> dict[str, dict]:
    """``{key: mime bundle}`` of every value glued in an executed notebook."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if not scrapbook:
                continue
            prefix = scrapbook.get("mime_prefix", "")
            values[scrapbook["name"]] = {k[len(prefix):]: v
                                         for k, v in output.get("data", {}).items()}
    return values


def _is_glue_record(output) -> bool:
    data = output.get("data", {})
    return bool(data) and all(key.startswith(GLUE_PREFIX) for key in data)


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _install_first(notebook, root: Path) -> None:
    """The install cell first, shown (the site hides it)."""
    install = _book.install_cell(root)
    cells = [c for c in notebook.cells if not (c.cell_type == "code" and (
        c.source == install.source or "find_spec(\"collapse\")" in c.source))]
    install.metadata.pop("tags", None)
    notebook.cells = [install, *cells]


def _caption_cell(cell, converter: Converter):
    figure = cell.metadata.get("mystnb", {}).get("figure") or {}
    if not figure.get("caption"):
        return None
    found = converter.target(figure.get("name", ""))
    number = f"**{found.text}** " if found else ""
    anchor = f'<a id="{make_id(figure["name"])}"></a>' if figure.get("name") else ""
    return nbformat.v4.new_markdown_cell(
        anchor + number + converter.markdown(str(figure["caption"])))


def executed_notebook(notebook, book: Book, name: str):
    """The plain-Markdown copy of the executed chapter ``name`` (an nbformat notebook),
    for downloads and the launch buttons: glued numbers are this run's values."""
    from myst_nb.core.variables import format_plain_text

    notebook = copy.deepcopy(notebook)
    values = glued_values(notebook)

    def glue(key, fmt):
        data = values.get(key, {})
        if "text/plain" not in data:
            return f"`{key}`"
        try:
            return escape(format_plain_text(data["text/plain"], fmt))
        except (ValueError, TypeError):
            return escape(str(data["text/plain"]))

    converter = Converter(book, name, glue)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            if ANSWER_TAG in _tags(cell):
                continue  # a student's stub: not part of the executed chapter
            cell.outputs = [o for o in cell.get("outputs", []) if not _is_glue_record(o)]
            cells.append(cell)
            caption = _caption_cell(cell, converter)
            if caption is not None:
                cells.append(caption)
        elif cell.cell_type == "markdown":
            cell.source = converter.markdown(cell.source)
            if cell.source.strip():
                cells.append(cell)
        else:
            cells.append(cell)
    notebook.cells = cells
    _install_first(notebook, book.root)
    notebook.metadata.pop("jupytext", None)
    return notebook


STUDENT_NOTE = """\
> **Student version.** The solutions are removed: after each exercise comes a code cell
> that says what to write and a Markdown cell for your answer. Where the book's text
> quotes a number computed by this notebook, it names it instead (like `{example}`);
> run the notebook and the cell that computes each number prints it with its name.
> Figure and exercise numbers are those of the chapter's page on the book's site:
> [{title}]({url})."""

GLUE_HELPER = """\
# The book writes the numbers its cells compute into the text (myst-nb's glue). Here
# the text names them, and glue prints each one with its name under the cell that
# computes it.
def glue(name, value, display=True):
    print(f"{name}: {value}")"""


def student_notebook(text: str, book: Book, name: str):
    """The student version of the chapter source ``text``: no solutions, plain Markdown,
    the install cell first, a stub and an answer cell after each exercise."""
    import jupytext

    notebook = jupytext.reads(_student.strip_solutions(text), fmt="md:myst")
    examples = re.findall(r"\{glue:text\}`([^`:]+)", text)

    def glue(key, fmt):
        return f"`{key}`"

    converter = Converter(book, name, glue)
    cells, pending = [], None  # pending: the exercise whose answer cell is still due

    def answer():
        nonlocal pending
        if pending is not None:
            cells.append(nbformat.v4.new_markdown_cell(
                f"**Your answer to {pending}.** *Write it here: what you found, and why.*",
                metadata={"tags": [ANSWER_TAG]}))
            pending = None

    uses_glue = False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            if ANSWER_TAG in _tags(cell):
                cell.metadata["tags"] = [t for t in _tags(cell) if t != "remove-cell"]
                cells.append(cell)
                continue
            answer()
            if re.search(r"^from myst_nb import glue[ \t]*$", cell.source, flags=re.M):
                if not uses_glue:  # a glue that prints, defined where the chapter imports it
                    cells.append(nbformat.v4.new_code_cell(GLUE_HELPER))
                uses_glue = True
                cell.source = re.sub(r"^from myst_nb import glue[ \t]*(\n|$)", "", cell.source,
                                     flags=re.M)
            cells.append(cell)
            caption = _caption_cell(cell, converter)
            if caption is not None:
                cells.append(caption)
            continue
        answer()
        exercises = EXERCISE.findall(cell.source)
        cell.source = converter.markdown(cell.source)
        if cell.source.strip():
            cells.append(cell)
        for args, options in exercises:
            label = directive_options(options.splitlines()).get("label", "")
            pending = converter.exercise_title(label, args.strip())
    answer()
    title = book.titles.get(name, name)
    note = STUDENT_NOTE.format(example=examples[0] if examples else "name", title=title,
                               url=book.url(name))
    first = next((c for c in cells if c.cell_type == "markdown"), None)
    if first is not None and first.source.startswith("# "):  # right under the title
        heading, _, rest = first.source.partition("\n")
        first.source = f"{heading}\n\n{note}\n\n{rest.lstrip()}".rstrip()
    else:
        cells.insert(0, nbformat.v4.new_markdown_cell(note))
    notebook.cells = cells
    _install_first(notebook, book.root)
    notebook.metadata.pop("jupytext", None)
    return notebook


# left to right: a role (a name in braces, then a code span) or a plain code span
SPAN = re.compile(r"(?P<role>\{[a-zA-Z][\w:-]*\})?(?P<ticks>`+)(?P<code>.+?)(?P=ticks)",
                  flags=re.DOTALL)


def _directives_and_prose(text: str) -> tuple[list[str], str]:
    """The directive openings of a Markdown text, and its text less code blocks (whose
    content shows as it is); a directive's content is prose."""
    lines, directives, prose, open_fences, index = text.splitlines(), [], [], [], 0
    while index < len(lines):
        line = lines[index]
        fence = re.match(r"^\s*(`{3,}|~{3,}|:{3,})(.*)$", line)
        if fence:
            marks, info = fence[1], fence[2].strip()
            if open_fences and not info and marks[0] == open_fences[-1][0] and \
                    len(marks) >= len(open_fences[-1]):
                open_fences.pop()  # a directive closes
            elif info.startswith("{"):
                directives.append(line.strip())
                open_fences.append(marks)
            elif marks[0] != ":":  # a code block: skipped to its closing fence
                index = _directive_end(lines, index, marks)
            else:
                prose.append(line)
            index += 1
            continue
        prose.append(line)
        index += 1
    return directives, "\n".join(prose)


def myst_left(notebook) -> list[str]:
    """The MyST roles, directives and targets left in a notebook's Markdown cells (code
    blocks and code spans, which show their text as it is, aside)."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            directives, prose = _directives_and_prose(cell.source)
            found += directives
            found += [m[0] for m in TARGET.finditer(prose)]
            found += [m["role"] + "`" for m in SPAN.finditer(prose) if m["role"]]
    return found


def write_student(out: Path, book: Book, chapters: list[str] | None = None) -> list[Path]:
    """``<name>.ipynb`` and ``<name>.md`` (jupytext Markdown of the same notebook) of
    each chapter's student version (all of the book by default, in toc order) into
    ``out``; return the paths written."""
    import jupytext

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in chapters or list(book.chapters):
        notebook = student_notebook(book.chapters[name].read_text(), book, name)
        nbformat.write(notebook, out / f"{name}.ipynb")
        (out / f"{name}.md").write_text(jupytext.writes(notebook, fmt="md"))
        written += [out / f"{name}.ipynb", out / f"{name}.md"]
    return written


def write_executed(executed: Path, out: Path, book: Book) -> list[Path]:
    """The export of every executed chapter ``executed/<name>.ipynb`` of the book into
    ``out/<name>.ipynb``; return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in book.chapters:
        source = Path(executed) / f"{name}.ipynb"
        if source.exists():
            notebook = executed_notebook(nbformat.read(source, as_version=4), book, name)
            nbformat.write(notebook, out / f"{name}.ipynb")
            written.append(out / f"{name}.ipynb")
    return written
