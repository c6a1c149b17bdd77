"""The generational loop of the paper's Figure 2 and §4, written once for every family.

At generation ``g`` a model is fitted to the training set ``D_g`` (functional
approximation); the next training set ``D_{g+1}`` is built from samples of that
model, mixed with earlier data by a *mixing rule* (the sampling step, §4:
``p_{i+1} = α p_θ + β p_i + γ p_0``). ``D_0`` is the real data.

Conventions used by every family:

* data are arrays whose axis 0 indexes independent runs and axis 1 indexes
  samples, so ``R`` runs of a family are simulated as one array operation;
* a family is any object with ``fit(data) -> params``,
  ``sample(params, n, rng) -> data`` and ``describe(params) -> {name: (R,) array}``;
* a family may also offer exact sufficient statistics (``summarize``,
  ``sample_statistics``, ``fit_statistics``, ``combine``); with ``exact=True``
  the loop then draws the statistics of ``M`` samples instead of ``M`` samples.

"Generation ``g``" in the output is the model fitted on ``D_g``: the paper's
``θ_{g+1}`` (its ``µ_{g+1}, σ_{g+1}`` for the Gaussian).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import validate

# --------------------------------------------------------------------------- mixing


def _subset(data: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random subset of ``k`` samples (without replacement) for every run."""
    n = data.shape[1]
    if k == n:
        return data
    if k == 0:
        return data[:, :0]
    if 50 * k < n:  # small subset of a large pool: O(k) per run (numpy uses Floyd's method)
        index = np.stack([rng.choice(n, k, replace=False) for _ in range(data.shape[0])])
    else:
        index = np.argpartition(rng.random(data.shape[:2]), k - 1, axis=1)[:, :k]
    index = index.reshape(index.shape + (1,) * (data.ndim - 2))
    return np.take_along_axis(data, index, axis=1)


class _GrowingPool:
    """All data produced so far, in a buffer that doubles when full (appending is O(1)
    amortised instead of copying the whole pool every generation)."""

    def __init__(self, data: np.ndarray):
        self.size = data.shape[1]
        self.buffer = np.array(data, copy=True)

    def append(self, new: np.ndarray) -> None:
        needed = self.size + new.shape[1]
        if needed > self.buffer.shape[1]:
            shape = list(self.buffer.shape)
            shape[1] = max(needed, 2 * shape[1])
            grown = np.empty(shape, dtype=np.result_type(self.buffer, new))
            grown[:, : self.size] = self.buffer[:, : self.size]
            self.buffer = grown
        self.buffer[:, self.size : needed] = new
        self.size = needed

    @property
    def data(self) -> np.ndarray:
        return self.buffer[:, : self.size]


def _join(a, b):
    return np.concatenate([a, b], axis=1)


@dataclass
class Memory:
    """What a mixing rule may draw on: the real data, the last training set, the pool."""

    original: object
    previous: object
    pool: object | None = None


@dataclass(frozen=True)
class Replace:
    """α = 1: the next model sees only data from the current model (paper §4, Fig 4)."""

    exact = True
    needs_pool = False

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return new


@dataclass(frozen=True)
class Accumulate:
    """All data ever produced is kept and used to fit (paper Fig 6): D_{g+1} = D_g ∪ new."""

    exact = True
    needs_pool = False

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return join(memory.previous, new)


@dataclass(frozen=True)
class Pool:
    """New samples join a pool of all earlier data (D_0 included); a fixed-size
    training set is drawn from the pool without replacement (paper Fig 5)."""

    exact = False
    needs_pool = True

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return _subset(memory.pool.data, size, rng)


@dataclass(frozen=True)
class Mixture:
    """The general rule of §4: a fraction ``alpha`` of fresh model samples, ``beta`` of
    the previous training set and ``gamma`` of the original data (both drawn without
    replacement). Counts are rounded; the model supplies whatever remains."""

    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.0

    exact = False
    needs_pool = False

    def __post_init__(self):
        for name in ("alpha", "beta", "gamma"):
            validate.real(f"mixing weight {name}", getattr(self, name), 0.0, 1.0)
        total = self.alpha + self.beta + self.gamma
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"mixing weights alpha + beta + gamma must sum to 1, got "
                f"{self.alpha} + {self.beta} + {self.gamma} = {total}"
            )

    def counts(self, size: int) -> tuple[int, int, int]:
        """(from the model, from the previous set, from the original data)."""
        previous = int(round(self.beta * size))
        original = int(round(self.gamma * size))
        return size - previous - original, previous, original

    def model_draws(self, size: int) -> int:
        return self.counts(size)[0]

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        _, previous, original = self.counts(size)
        parts = [new]
        if previous:
            parts.append(_subset(memory.previous, previous, rng))
        if original:
            parts.append(_subset(memory.original, original, rng))
        return np.concatenate(parts, axis=1)


def KeepOriginal(fraction: float) -> Mixture:  # noqa: N802 (reads as a rule name)
    """Keep a random ``fraction`` γ of the original data in every training set (§5.2)."""
    fraction = validate.real("fraction", fraction, 0.0, 1.0)
    return Mixture(alpha=1.0 - fraction, beta=0.0, gamma=fraction)


MIXING_RULES = {
    "replace": Replace,
    "accumulate": Accumulate,
    "pool": Pool,
    "keep-original": KeepOriginal,
    "mixture": Mixture,
}


def mixing_rule(name: str, **weights):
    """Build a mixing rule by name, e.g. ``mixing_rule("keep-original", fraction=0.1)``."""
    validate.choice("mixing", name, MIXING_RULES)
    return MIXING_RULES[name](**weights)


# ------------------------------------------------------------------ sample sizes


def sample_sizes(sample_size, generations: int, initial_size: int) -> np.ndarray:
    """The sizes ``M_0 … M_{G-1}`` of the training sets, validated before any compute.

    ``sample_size`` is an int (constant ``M``), a sequence of ``generations - 1`` sizes
    for ``D_1 … D_{G-1}``, or a callable ``g -> M_g``. ``M_0`` is the size of the
    initial data.
    """
    if callable(sample_size):
        later = [sample_size(g) for g in range(1, generations)]
    elif isinstance(sample_size, Iterable) and not isinstance(sample_size, str):
        later = list(sample_size)
        if len(later) != generations - 1:
            raise ValueError(
                f"sample_size schedule must have generations - 1 = {generations - 1} entries "
                f"(sizes of D_1 … D_{generations - 1}), got {len(later)}"
            )
    else:
        later = [sample_size] * (generations - 1)
    sizes = [initial_size, *later]
    for g, m in enumerate(sizes):
        validate.integer(f"sample size M_{g}", m, minimum=2)
    return np.asarray(sizes, dtype=np.int64)


# ----------------------------------------------------------------------- the loop


@dataclass
class History:
    """Result of :func:`simulate`: a tidy table (one row per run × generation) and the
    parameters and training data of the generations asked for with ``keep``."""

    table: pd.DataFrame
    kept: dict[int, tuple[object, object]] = field(default_factory=dict)


def _runs_of(data) -> int:
    return int(data.runs if hasattr(data, "runs") else np.shape(data)[0])


def _size_of(data) -> int:
    return int(np.max(data.n)) if hasattr(data, "n") else int(np.shape(data)[1])


def simulate(
    family,
    initial_data,
    generations: int,
    sample_size,
    rng: np.random.Generator,
    mixing=None,
    *,
    exact: bool = False,
    metrics: dict[str, Callable] | None = None,
    keep: Sequence[int] = (),
    checkpoint: str | os.PathLike | None = None,
    checkpoint_seconds: float = 10.0,
    progress: bool = False,
) -> History:
    """Run "fit → sample → mix" for ``generations`` generations (paper Fig 2, §4).

    Parameters
    ----------
    family: the model family (see module docstring).
    initial_data: ``D_0``, an array ``(runs, M_0, ...)`` or, with ``exact=True``, the
        family's sufficient statistics of it.
    generations: number of models fitted, ``G >= 1``; rows are ``g = 0 … G-1``.
    sample_size: ``M`` (int), a schedule of ``G-1`` sizes, or a callable ``g -> M_g``.
    rng: the only source of randomness.
    mixing: a rule from this module; default :class:`Replace`.
    exact: draw sufficient statistics instead of samples (Replace and Accumulate only).
    metrics: extra columns, ``name -> f(params, training_data) -> (runs,) array``.
    keep: generations whose ``(params, training data)`` are returned in ``History.kept``.
    checkpoint: a file; the state is written when a generation finishes (at most every
        ``checkpoint_seconds``, always at the end and when interrupted) and a re-run
        with the same arguments resumes from the last finished generation.
    progress: show a progress bar over generations.
    """
    mixing = Replace() if mixing is None else mixing
    generations = validate.integer("generations", generations, minimum=1)
    validate.generator("rng", rng)
    if exact and not getattr(mixing, "exact", False):
        raise ValueError(
            f"exact=True needs a mixing rule with exact sufficient statistics "
            f"(replace or accumulate), got {type(mixing).__name__}"
        )
    if exact and not hasattr(family, "sample_statistics"):
        raise ValueError(f"exact=True: family {type(family).__name__} has no exact statistics")
    sizes = sample_sizes(sample_size, generations, _size_of(initial_data))
    if isinstance(mixing, Mixture):
        for g in range(1, generations):
            _, previous, original = mixing.counts(int(sizes[g]))
            if previous > sizes[g - 1] or original > sizes[0]:
                raise ValueError(
                    f"mixing needs {previous} previous and {original} original samples at "
                    f"generation {g}, but D_{g - 1} has {sizes[g - 1]} and D_0 has {sizes[0]}"
                )
    metrics = dict(metrics or {})
    keep = {int(g) for g in keep}

    if exact:
        data = initial_data if hasattr(initial_data, "n") else family.summarize(initial_data)
        fit, draw, join = family.fit_statistics, family.sample_statistics, family.combine
    else:
        data = initial_data
        fit, draw, join = family.fit, family.sample, _join

    signature = _fingerprint((type(family).__name__, getattr(family, "__dict__", {}),
                              generations, sizes.tolist(), repr(mixing), exact, sorted(metrics)))
    state = _load_checkpoint(checkpoint, signature)
    if state is None:
        state = dict(generation=0, data=data,
                     memory=Memory(original=data, previous=data,
                                   pool=_GrowingPool(data) if mixing.needs_pool else None),
                     columns=[], kept={}, rng=rng.bit_generator.state)
    else:
        rng.bit_generator.state = state["rng"]

    bar = None
    if progress:
        from tqdm.std import tqdm  # a text bar: no ipywidgets needed in notebooks

        bar = tqdm(total=generations, initial=state["generation"], desc="generations")
    runs = _runs_of(data)
    last_save = time.monotonic()
    committing = False
    try:
        while state["generation"] < generations:
            g, data = state["generation"], state["data"]
            params = fit(data)
            columns = {"run": np.arange(runs), "generation": np.full(runs, g),
                       "n_train": np.full(runs, _size_of(data))}
            columns.update({k: np.broadcast_to(v, runs)
                            for k, v in family.describe(params).items()})
            for name, metric in metrics.items():
                columns[name] = np.broadcast_to(metric(params, data), runs)
            if g + 1 < generations:
                size = int(sizes[g + 1])
                new = draw(params, mixing.model_draws(size), rng)
            # Commit generation g; until here the state is exactly as after g - 1.
            committing = True
            state["columns"].append(columns)
            if g in keep:
                state["kept"][g] = (params, data)
            if g + 1 < generations:
                memory = state["memory"]
                if mixing.needs_pool:
                    memory.pool.append(new)
                memory.previous = state["data"] = mixing.training_set(new, memory, size, rng,
                                                                      join)
            state["generation"] = g + 1
            state["rng"] = rng.bit_generator.state
            committing = False
            if bar is not None:
                bar.update(1)
            # Pickling the whole state costs O(generations); writing at most every
            # `checkpoint_seconds` keeps long runs of cheap generations linear.
            finished = state["generation"] == generations
            if finished or time.monotonic() - last_save >= checkpoint_seconds:
                _save_checkpoint(checkpoint, signature, state)
                last_save = time.monotonic()
    except BaseException:
        if not committing:  # interrupted: keep every finished generation
            _save_checkpoint(checkpoint, signature, state)
        raise
    finally:
        if bar is not None:
            bar.close()

    table = pd.DataFrame({k: np.concatenate([c[k] for c in state["columns"]])
                          for k in state["columns"][0]})
    return History(table=table, kept=state["kept"])


def _load_checkpoint(path, signature):
    if path is None or not Path(path).exists():
        return None
    with open(path, "rb") as handle:
        saved = pickle.load(handle)
    if saved["signature"] != signature:
        raise ValueError(
            f"checkpoint {path} belongs to a different simulation; delete it or pass "
            f"another checkpoint path"
        )
    return saved["state"]


def _fingerprint(value) -> str:
    """A stable text identity of the arguments (arrays by a hash of their bytes, which
    ``repr`` would abbreviate)."""
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array{value.shape}{value.dtype}:{digest}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_fingerprint(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fingerprint(v) for v in value) + ")"
    return repr(value)


def _save_checkpoint(path, signature, state):
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with open(partial, "wb") as handle:
        pickle.dump({"signature": signature, "state": state}, handle)
    os.replace(partial, path)  # atomic: an interrupted write never corrupts the checkpoint
