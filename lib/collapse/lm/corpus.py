"""What the offline stand-in is pre-trained on (paper §5.2: OPT-125m is pre-trained on a
large web corpus and *then* fine-tuned on WikiText-2; fine-tuning helps, 115 → 34).

The stand-in needs pre-training text distributed unlike its fine-tuning text, or
fine-tuning has nothing to teach it. What every machine that runs the book has offline:

* ``"docstrings"``: the prose paragraphs of the docstrings of pinned packages
  (``DOCSTRING_PACKAGES``): English technical documentation, not encyclopedia articles,
  and none of WikiText's conventions (``@-@``, `` , ``, ``= = Heading = =``);
* ``"wikitext-prose"``: the second half of WikiText-2's training lines with WikiText's
  tokenisation undone (:func:`detokenize`): the same articles in ordinary punctuation;
* ``"wikitext"``: the second half of the training lines as they are (the same
  distribution as the fine-tuning blocks, which come from the first half);
* ``"wikitext-shuffled"``: the second half with the words of every line in random order
  (word frequencies without word order).

Every text is a list of lines (``"docstrings"``: one per paragraph), tokenized as the
authors tokenize WikiText (:mod:`.data`).
"""

from __future__ import annotations

import random
import re
from importlib import metadata, util
from pathlib import Path

from .. import hashing, validate
from .data import text_lines

PRETRAIN_TEXTS = ("docstrings", "wikitext-prose", "wikitext", "wikitext-shuffled")
DOCSTRING_PACKAGES = ("numpy", "scipy", "scikit-learn")
_MODULES = {"scikit-learn": "sklearn"}
_DOCSTRING = re.compile(r'(?:^|\n)[ \t]*[rRuU]?"""(.*?)"""', re.S)
_RULE = re.compile(r"[-=~^*]{3,}")


def uses_wikitext(text: str) -> bool:
    """Whether ``text`` is made of WikiText-2's training lines (their second half; the
    experiment then fine-tunes on blocks of the first half only)."""
    return validate.choice("pretrain_text", text, PRETRAIN_TEXTS).startswith("wikitext")


def fingerprint(text: str, drop_unk: bool, lines: list[str] | None = None) -> tuple:
    """What determines :func:`pretraining_lines` (a cache key): the content of every line
    of WikiText-2's training split (``lines``, read when not given; a changed data file
    gives another key, a moved data folder the same), or the versions of the packages
    whose docstrings are read."""
    if uses_wikitext(text):
        lines = text_lines("train", drop_unk) if lines is None else lines
        return text, drop_unk, hashing.digest("".join(lines).encode())
    return text, tuple((name, metadata.version(name)) for name in DOCSTRING_PACKAGES)


def pretraining_lines(text: str, drop_unk: bool = True) -> list[str]:
    """The lines of the pre-training text ``text`` (see the module docstring)."""
    if not uses_wikitext(text):
        return docstring_paragraphs(DOCSTRING_PACKAGES)
    lines = text_lines("train", drop_unk)
    half = lines[len(lines) // 2:]
    if text == "wikitext-prose":
        return [detokenize(line) for line in half]
    if text == "wikitext-shuffled":
        shuffler = random.Random(0)
        shuffled = []
        for line in half:
            words = line.split()
            shuffler.shuffle(words)
            shuffled.append(f" {' '.join(words)} \n" if words else line)
        return shuffled
    return half


def detokenize(line: str) -> str:
    """A WikiText line in ordinary punctuation: ``@-@``, ``@,@``, ``@.@`` joined, no space
    before ``, . : ; ! ?``, ``'s`` or ``'t``, none inside brackets and quotes, and a
    heading ``= = Title = =`` as the bare title (as lm-evaluation-harness's
    ``wikitext_detokenizer``)."""
    heading = re.fullmatch(r"\s*(?:= )+(.*?)(?: =)+\s*", line)
    if heading:
        return f" {heading.group(1)}\n"
    text = line.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    for mark in (",", ".", ":", ";", "!", "?"):
        text = text.replace(f" {mark} ", f"{mark} ")
    text = re.sub(r" ([.,])\s*$", r"\1", text.rstrip("\n")) + ("\n" if line.endswith("\n")
                                                               else "")
    text = re.sub(r"\( (.*?) \)", r"(\1)", text)
    text = re.sub(r'" (.*?) "', r'"\1"', text)
    for clitic in ("'s", "'t", "'re", "'ve", "'ll", "'d", "'m"):  # WikiText: "isn 't"
        text = text.replace(f" {clitic}", clitic)
    return text


def docstring_paragraphs(packages=DOCSTRING_PACKAGES) -> list[str]:
    """The prose paragraphs of the triple-quoted strings in the source of ``packages``
    (files in sorted order, tests left out), one line each: paragraphs with a doctest,
    a reST rule (``-----``) or under 85 % letters and spaces, or shorter than 60
    characters, are skipped. About 3.9 million characters from the pinned numpy, SciPy
    and scikit-learn, read in about 5 seconds."""
    lines = []
    for package in packages:
        spec = util.find_spec(_MODULES.get(package, package))
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"the stand-in's pre-training text needs {package}")
        root = Path(spec.origin).parent
        for path in sorted(root.rglob("*.py")):
            if "tests" in path.relative_to(root).parts:
                continue
            source = path.read_text(encoding="utf-8", errors="replace")
            for docstring in _DOCSTRING.finditer(source):
                lines.extend(_prose(docstring.group(1)))
    return lines


def _prose(docstring: str) -> list[str]:
    out = []
    for paragraph in re.split(r"\n\s*\n", docstring):
        rows = [row.strip() for row in paragraph.splitlines() if row.strip()]
        if not rows or any(row.startswith((">>>", "...")) or _RULE.fullmatch(row)
                           for row in rows):
            continue
        text = " ".join(rows)
        if len(text) >= 60 and sum(c.isalpha() or c == " " for c in text) >= 0.85 * len(text):
            out.append(f" {text}\n")
    return out
