"""A word-level bigram language model: the recursion of §5.2 at full WikiText-2 scale.

The OPT experiments of §5.2 need a GPU; a count-based language model trained on the
*whole* WikiText-2 training split (2 million words) is refitted on its own samples in
seconds on a laptop. It is also §4.1 made concrete: its fit is a histogram of words
(and of word pairs), so a word whose count falls to zero is never generated again,
and the rare words of Zipf's tail disappear first.

The model (Jelinek–Mercer interpolation, Jurafsky & Martin ch. 3)::

    p(w_t | w_{t-1}) = λ c(w_{t-1} w_t) / c(w_{t-1} ·) + (1 − λ) c(w_t) / N

with maximum-likelihood counts ``c`` from the training blocks; a previous word with no
recorded successor uses the unigram alone. For *scoring* real text, which may contain
words the model has forgotten, a share ``ε`` of the probability is spread uniformly
over the original vocabulary, so perplexities stay finite (:func:`perplexities`).

Data are blocks of token ids, ``(runs, blocks, block_length)`` like the language
model's 64-token blocks, so the loop's mixing rules keep or subsample whole blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validate
from .loop import Family

BLOCK = 64
END_OF_LINE = "<eos>"
UNKNOWN = "<unk>"  # WikiText-2 (v1) already writes rare words so


# ----------------------------------------------------------------- the vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Word types in order of first appearance; id 0 is the end-of-line token and id 1
    the unknown word."""

    words: tuple[str, ...]

    @classmethod
    def from_lines(cls, lines) -> Vocabulary:
        seen = {END_OF_LINE: 0, UNKNOWN: 1}
        for line in lines:
            for word in line.split():
                seen.setdefault(word, len(seen))
        return cls(tuple(seen))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, lines, strict: bool = False) -> np.ndarray:
        """Token ids of the non-empty lines, each followed by ``<eos>`` (the usual
        word-level WikiText setup). A word outside the vocabulary becomes ``<unk>``, or
        with ``strict`` is an error naming it."""
        index = {w: i for i, w in enumerate(self.words)}
        ids = []
        for line in lines:
            words = line.split()
            if not words:
                continue
            if strict:
                unknown = [w for w in words if w not in index]
                if unknown:
                    raise ValueError(f"word {unknown[0]!r} is not in the vocabulary")
            ids.extend(index.get(w, 1) for w in words)
            ids.append(0)
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids) -> str:
        return " ".join(self.words[i] for i in np.asarray(ids).ravel())


def load_lines(split: str, max_lines: int = 0) -> list[str]:
    """The lines of a WikiText-2 split (``COLLAPSE_DATA_DIR`` or the hub), the first
    ``max_lines`` of them when that is positive."""
    from .lm.data import wikitext_lines  # the book's one WikiText reader

    validate.integer("max_lines", max_lines, minimum=0)
    lines = wikitext_lines(split)
    return lines[:max_lines] if max_lines else lines


def search(haystack: np.ndarray, needles: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(haystack, needles, side)``, the same indices, with the needles
    searched in sorted order: random needles in a large array miss the cache at every
    step of the binary search, sorted ones walk it in order (several times faster for a
    million pair counts)."""
    needles = np.asarray(needles)
    flat = needles.ravel()
    order = np.argsort(flat)
    found = np.empty(flat.shape, dtype=np.intp)
    found[order] = np.searchsorted(haystack, flat[order], side=side)
    return found.reshape(needles.shape)


def to_blocks(ids: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Cut a token stream into ``block``-token rows; the remainder is dropped."""
    block = validate.integer("block", block, minimum=2)
    usable = len(ids) // block * block
    if usable == 0:
        raise ValueError(f"need at least block = {block} tokens, got {len(ids)}")
    return ids[:usable].reshape(-1, block)


# ----------------------------------------------------------------- the family


@dataclass
class BigramCounts:
    """The fitted counts of one run: word counts and the sorted pair keys
    ``previous · V + next`` with their counts (pairs of one previous word are
    contiguous, which makes sampling a search in a cumulative sum)."""

    unigram: np.ndarray  # (V,) counts of every word
    keys: np.ndarray  # (P,) sorted pair keys
    cumulative: np.ndarray  # (P,) running sum of the pair counts
    row_start: np.ndarray  # (V + 1,) first key index of each previous word

    @property
    def types(self) -> int:
        return int(np.count_nonzero(self.unigram))


@dataclass
class BigramParams:
    runs: list[BigramCounts]


@dataclass
class BigramLM(Family):
    """Word bigram model over a fixed vocabulary of ``vocabulary_size`` types."""

    vocabulary_size: int
    interpolation: float = 0.9  # λ, the weight of the bigram estimate
    block: int = BLOCK  # tokens per sampled block

    def __post_init__(self):
        validate.integer("vocabulary_size", self.vocabulary_size, minimum=2)
        validate.real("interpolation", self.interpolation, 0.0, 1.0)
        validate.integer("block", self.block, minimum=2)

    def _check(self, data) -> np.ndarray:
        data = np.asarray(data)
        if data.ndim != 3 or not np.issubdtype(data.dtype, np.integer):
            raise ValueError(f"data must be integer blocks (runs, blocks, length), got "
                             f"{data.dtype} {data.shape}")
        if data.size and (data.min() < 0 or data.max() >= self.vocabulary_size):
            raise ValueError(f"token ids must lie in 0 … {self.vocabulary_size - 1}")
        return data

    def fit(self, data) -> BigramParams:
        """Maximum-likelihood word and word-pair counts of each run's blocks."""
        data = self._check(data)
        V = self.vocabulary_size
        fitted = []
        for blocks in data:
            unigram = np.bincount(blocks.ravel(), minlength=V)
            pairs = blocks[:, :-1].astype(np.int64) * V + blocks[:, 1:]
            keys, counts = np.unique(pairs.ravel(), return_counts=True)
            row_start = np.searchsorted(keys, np.arange(V + 1, dtype=np.int64) * V)
            fitted.append(BigramCounts(unigram, keys, np.cumsum(counts), row_start))
        return BigramParams(fitted)

    def sample(self, params: BigramParams, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` blocks per run: the first word from the unigram, then the chain."""
        n = validate.integer("n", n, minimum=0)
        validate.generator("rng", rng)
        length = self.block
        out = np.empty((len(params.runs), n, length), dtype=np.int32)
        for r, counts in enumerate(params.runs):
            word_cumulative = np.cumsum(counts.unigram)
            total = word_cumulative[-1]

            def unigram_draw(size, word_cumulative=word_cumulative, total=total):
                return search(word_cumulative, rng.random(size) * total, side="right")

            # per previous word (small arrays, unlike the pairs): whether it has pairs,
            # its last pair and the running sum of the pair counts before and at its end
            start, end = counts.row_start[:-1], counts.row_start[1:]
            has_pairs = end > start
            row_last = end - 1
            running = np.concatenate([[0], counts.cumulative])  # running[i]: pairs before i
            row_before, row_upper = running[start], running[end]
            next_word = counts.keys % self.vocabulary_size
            current = unigram_draw(n)
            out[r, :, 0] = current
            for t in range(1, length):
                use_bigram = has_pairs[current] & (rng.random(n) < self.interpolation)
                chained = np.flatnonzero(use_bigram)
                previous = current[chained]
                before = row_before[previous]
                target = before + rng.random(len(chained)) * (row_upper[previous] - before)
                # the pair whose count interval holds the target
                picked = np.minimum(search(counts.cumulative, target, side="right"),
                                    row_last[previous])
                following = np.empty(n, dtype=np.int64)
                following[chained] = next_word[picked]
                backoff = np.flatnonzero(~use_bigram)
                following[backoff] = unigram_draw(len(backoff))
                current = following
                out[r, :, t] = current
        return out

    def describe(self, params: BigramParams) -> dict[str, np.ndarray]:
        return {"types": np.array([c.types for c in params.runs]),
                "pairs": np.array([len(c.keys) for c in params.runs])}

    # ------------------------------------------------------------------ scoring

    def log_probabilities(self, counts: BigramCounts, blocks: np.ndarray,
                          epsilon: float = 1e-4) -> np.ndarray:
        """``log p`` of every token of ``blocks`` ``(n, length)`` under one run's model,
        with a share ``epsilon`` spread over the whole vocabulary (see module docs)."""
        epsilon = validate.real("epsilon", epsilon, 0.0, 1.0)
        blocks = np.asarray(blocks, dtype=np.int64)
        V = self.vocabulary_size
        word = counts.unigram / counts.unigram.sum()
        previous, following = blocks[:, :-1], blocks[:, 1:]
        keys = previous * V + following
        found = search(counts.keys, keys)
        found = np.minimum(found, len(counts.keys) - 1)
        pair_count = np.where(counts.keys[found] == keys,
                              np.diff(np.concatenate([[0], counts.cumulative]))[found], 0)
        start, end = counts.row_start[previous], counts.row_start[previous + 1]
        before = np.where(start > 0, counts.cumulative[np.maximum(start - 1, 0)], 0)
        row_total = np.where(end > start, counts.cumulative[np.maximum(end - 1, 0)] - before, 0)
        bigram = np.divide(pair_count, row_total, out=np.zeros(keys.shape),
                           where=row_total > 0)
        weight = np.where(row_total > 0, self.interpolation, 0.0)
        chain = weight * bigram + (1 - weight) * word[following]
        first = word[blocks[:, :1]]
        p = np.concatenate([first, chain], axis=1)
        return np.log((1 - epsilon) * p + epsilon / V)

    def perplexities(self, counts: BigramCounts, blocks: np.ndarray,
                     epsilon: float = 1e-4) -> np.ndarray:
        """Per-block perplexity ``exp(−mean log p)`` (the analogue of Figs 11 and 15)."""
        return np.exp(-self.log_probabilities(counts, blocks, epsilon).mean(axis=1))

    def perplexity(self, counts: BigramCounts, blocks: np.ndarray,
                   epsilon: float = 1e-4) -> float:
        """Perplexity of a whole data set (all tokens pooled)."""
        return float(np.exp(-self.log_probabilities(counts, blocks, epsilon).mean()))


def expected_types_after_one_generation(unigram_counts, draws: int) -> float:
    """§4.1 for words: with pure unigram sampling (λ = 0) of ``draws`` tokens from the
    counts ``c``, word ``w`` survives with probability ``1 − (1 − c_w/N)^draws``."""
    counts = np.asarray(unigram_counts, dtype=float)
    p = counts / counts.sum()
    return float(np.sum(1.0 - (1.0 - p) ** draws))
