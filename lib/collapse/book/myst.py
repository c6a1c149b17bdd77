"""MyST Markdown → plain Jupyter Markdown (for the notebooks of :mod:`.export`): the
directives and roles of a chapter's Markdown, converted the way the site renders them
(numbers and titles from :mod:`.numbering`, links to the site's pages), and
:func:`myst_left`, which finds any MyST a notebook still holds."""

from __future__ import annotations

import re

from .numbering import (
    ADMONITIONS,
    FENCE,
    OPENING,
    ROLE,
    SUBSTITUTION,
    TARGET,
    Book,
    Target,
    directive_options,
    make_id,
)


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
