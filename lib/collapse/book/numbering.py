"""The site's own numbers and titles, computed from the sources as Sphinx numbers them:
chapter numbers from ``_toc.yml`` (``numbered: true``, running on across parts), then
figure, table and exercise numbers and section titles within each chapter, and the
site's address (for the links of the exported notebooks)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import runner

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
        names = runner.chapter_names(root)
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
