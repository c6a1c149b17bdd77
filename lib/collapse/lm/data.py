"""WikiText-2 as 64-token blocks (paper §5.2; the authors' ``dataset.py``).

Every line of a split is tokenized on its own, the lines are concatenated and cut into
``BLOCK``-token rows, and the remainder is dropped. Two tokenisations:

* ``"authors"``: ``tokenizer(line)`` with the tokenizer's special tokens, as the authors'
  code does; OPT's tokenizer then puts ``</s>`` before *every* line, blank lines included
  (checked at run time: a tokenizer that does otherwise raises, see
  :func:`check_separator`);
* ``"plain"``: ``add_special_tokens=False``, the text alone.

Where blocks are cut (``group_lines``): the authors' ``group_texts`` runs inside
``datasets.map(batched=True)``, whose batches are 1,000 lines, so their blocks never cross
a batch and each batch drops its own remainder (``group_lines=1000``; 42,838 training
blocks of WikiText-2-raw with OPT's tokenizer); ``group_lines=0`` cuts the whole split
as one stream (42,856).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data as data_sources
from .. import files, hashing, validate

BLOCK = 64
HUB_DATASET = ("wikitext", "wikitext-2-raw-v1")
SPLITS = ("train", "validation", "test")
TOKENISATIONS = ("authors", "plain")
AUTHORS_GROUP = 1000  # datasets.map's default batch size: the authors' group_texts batches
SEPARATOR = "</s>"
CACHE = Path(".cache") / "lm"


def wikitext_lines(split: str) -> list[str]:
    """The lines of a WikiText-2 split: the local copy under ``COLLAPSE_DATA_DIR``
    (``wikitext-2-v1``, rare words as ``<unk>``) or ``wikitext-2-raw-v1`` from the hub."""
    validate.choice("split", split, SPLITS)
    if data_sources.data_dir() is not None:  # checks all three files before any work
        return data_sources.read_wikitext_split(split)
    if not data_sources.hub_reachable():
        raise data_sources.unavailable("WikiText-2", "/".join(HUB_DATASET),
                                       data_sources.WIKITEXT_LOCAL)
    import datasets

    return list(datasets.load_dataset(*HUB_DATASET, split=split)["text"])


def text_lines(split: str, drop_unk: bool = False) -> list[str]:
    """:func:`wikitext_lines`, optionally without the offline copy's ``<unk>`` markers
    (``wikitext-2-v1`` replaces rare words by ``<unk>``; the paper's raw text has none, and
    a small model's beam search otherwise writes little but ``<unk> <unk> …``)."""
    lines = wikitext_lines(split)
    return [line.replace(" <unk>", "") for line in lines] if drop_unk else lines


def check_separator(tokenizer, lines: list[str], ids: list[list[int]]) -> None:
    """``tokenisation="authors"`` means OPT's habit: ``</s>`` before every line and nothing
    else added. Raise if ``tokenizer`` does otherwise (another hub tokenizer, other
    settings), instead of silently changing the blocks."""
    separator = tokenizer.convert_tokens_to_ids(SEPARATOR)
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    for i, row in enumerate(ids):
        if not row or row[0] != separator:
            raise ValueError(f"tokenisation='authors' needs a tokenizer that puts {SEPARATOR} "
                             f"before every line, as OPT's does; {name} starts line {i} "
                             f"({lines[i][:40]!r}) with {row[:1]}; use tokenisation='plain'")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        text = tokenizer(lines[first], add_special_tokens=False)["input_ids"]
        if ids[first][1:] != text:
            raise ValueError(f"tokenisation='authors' needs a tokenizer that adds only "
                             f"{SEPARATOR} before each line, as OPT's does; {name} adds "
                             f"more to line {first} ({lines[first][:40]!r})")


def to_blocks(tokenizer, lines: list[str], block: int = BLOCK,
              tokenisation: str = "authors", group_lines: int = 0) -> np.ndarray:
    """Tokenize every line (see the module docstring), concatenate, cut into
    ``block``-token rows; the remainder is dropped (Hugging Face's ``run_clm``). With
    ``group_lines``, every ``group_lines`` lines are cut on their own (the authors' 1,000)."""
    validate.choice("tokenisation", tokenisation, TOKENISATIONS)
    validate.integer("group_lines", group_lines, minimum=0)
    if group_lines and len(lines) > group_lines:
        groups = [to_blocks(tokenizer, lines[start:start + group_lines], block, tokenisation)
                  for start in range(0, len(lines), group_lines)]
        return np.concatenate(groups)
    ids = tokenizer(lines, add_special_tokens=tokenisation == "authors")["input_ids"]
    if tokenisation == "authors":
        check_separator(tokenizer, lines, ids)
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32)
    usable = len(flat) // block * block
    return flat[:usable].reshape(-1, block)


def first_blocks(tokenizer, lines: list[str], n: int, block: int = BLOCK,
                 tokenisation: str = "authors", group_lines: int = 0,
                 chunk: int = 1000) -> np.ndarray:
    """``to_blocks(tokenizer, lines, block, tokenisation, group_lines)[:n]`` (all blocks for
    ``n = 0``), tokenizing only as many lines, ``chunk`` (or ``group_lines``) at a time, as
    the first ``n`` blocks need."""
    if n == 0:
        return to_blocks(tokenizer, lines, block, tokenisation, group_lines)
    parts, tokens = [], 0
    step = group_lines or chunk
    for start in range(0, len(lines), step):
        piece = lines[start:start + step]
        parts.append(to_blocks(tokenizer, piece, block if group_lines else 1,
                               tokenisation).ravel())
        tokens += len(parts[-1])
        if tokens >= n * block:
            break
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return flat[: len(flat) // block * block].reshape(-1, block)[:n]


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.json", "merges.txt", "added_tokens.json", "config.json")


def tokenizer_digest(source) -> str:
    """What the tokenizer in ``source`` is: the content of its files when ``source`` is a
    local folder (not its path), else the hub name."""
    folder = Path(source)
    if folder.is_dir():
        return hashing.content_digest(*(folder / name for name in TOKENIZER_FILES))
    return hashing.source_digest(source)


def blocks_path(source: str, split: str, block: int, tokenisation: str,
                drop_unk: bool = False, group_lines: int = 0,
                lines: list[str] | None = None) -> Path:
    """The cache file of a split's blocks, keyed by the *content* of what determines them:
    the split's text (``lines``, read when not given), the tokenizer's files, the block
    length, the tokenisation, where blocks are cut (``group_lines``) and this module's
    code. A changed data file, or a tokenizer rebuilt in place, gives another file; a
    moved data folder keeps its cache."""
    lines = text_lines(split, drop_unk) if lines is None else lines
    text = hashing.digest("".join(lines).encode())
    key = hashing.digest(text, tokenizer_digest(source), split, block, tokenisation, drop_unk,
                         group_lines, hashing.code_digest("lm.data"))
    return CACHE / "blocks" / f"{split}-{key}.npy"


def load_blocks(source: str, split: str, block: int = BLOCK,
                tokenisation: str = "authors", drop_unk: bool = False,
                group_lines: int = 0) -> np.ndarray:
    """WikiText-2 ``split`` as token blocks of the tokenizer in ``source``, cached."""
    from transformers import AutoTokenizer

    lines = text_lines(split, drop_unk)
    path = blocks_path(source, split, block, tokenisation, drop_unk, group_lines, lines)
    if path.exists():
        return np.load(path)
    blocks = to_blocks(AutoTokenizer.from_pretrained(source), lines, block, tokenisation,
                       group_lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(path) as partial, open(partial, "wb") as handle:
        np.save(handle, blocks)
    return blocks
