"""WikiText-2 as 64-token blocks (paper §5.2; the authors' ``dataset.py``).

Every line of a split is tokenized on its own, the lines are concatenated and cut into
``BLOCK``-token rows, and the remainder is dropped. Two tokenisations:

* ``"authors"``: ``tokenizer(line)`` with the tokenizer's special tokens, as the authors'
  code does; OPT's tokenizer then puts ``</s>`` before *every* line, blank lines included;
* ``"plain"``: ``add_special_tokens=False``, the text alone (this book's first version).
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


def to_blocks(tokenizer, lines: list[str], block: int = BLOCK,
              tokenisation: str = "authors") -> np.ndarray:
    """Tokenize every line (see the module docstring), concatenate, cut into
    ``block``-token rows; the remainder is dropped (Hugging Face's ``run_clm``)."""
    validate.choice("tokenisation", tokenisation, TOKENISATIONS)
    ids = tokenizer(lines, add_special_tokens=tokenisation == "authors")["input_ids"]
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32)
    usable = len(flat) // block * block
    return flat[:usable].reshape(-1, block)


def first_blocks(tokenizer, lines: list[str], n: int, block: int = BLOCK,
                 tokenisation: str = "authors", chunk: int = 1000) -> np.ndarray:
    """``to_blocks(tokenizer, lines, block, tokenisation)[:n]`` (all blocks for ``n = 0``),
    tokenizing only as many lines, ``chunk`` at a time, as the first ``n`` blocks need."""
    if n == 0:
        return to_blocks(tokenizer, lines, block, tokenisation)
    parts, tokens = [], 0
    for start in range(0, len(lines), chunk):
        parts.append(to_blocks(tokenizer, lines[start:start + chunk], 1, tokenisation).ravel())
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
                drop_unk: bool = False, lines: list[str] | None = None) -> Path:
    """The cache file of a split's blocks, keyed by the *content* of what determines them:
    the split's text (``lines``, read when not given), the tokenizer's files, the block
    length, the tokenisation and this module's code. A changed data file, or a tokenizer
    rebuilt in place, gives another file; a moved data folder keeps its cache."""
    lines = text_lines(split, drop_unk) if lines is None else lines
    text = hashing.digest("".join(lines).encode())
    key = hashing.digest(text, tokenizer_digest(source), split, block, tokenisation, drop_unk,
                         hashing.code_digest("lm.data"))
    return CACHE / "blocks" / f"{split}-{key}.npy"


def load_blocks(source: str, split: str, block: int = BLOCK,
                tokenisation: str = "authors", drop_unk: bool = False) -> np.ndarray:
    """WikiText-2 ``split`` as token blocks of the tokenizer in ``source``, cached."""
    from transformers import AutoTokenizer

    lines = text_lines(split, drop_unk)
    path = blocks_path(source, split, block, tokenisation, drop_unk, lines)
    if path.exists():
        return np.load(path)
    blocks = to_blocks(AutoTokenizer.from_pretrained(source), lines, block, tokenisation)
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(path) as partial, open(partial, "wb") as handle:
        np.save(handle, blocks)
    return blocks
