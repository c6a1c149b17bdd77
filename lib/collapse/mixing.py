"""The sampling step of the generational loop (paper §4, Fig 2): how the next training
set ``D_{g+1}`` is built from fresh model samples and earlier data,

    p_{i+1} = α p_θ + β p_i + γ p_0 ,    α + β + γ = 1.

Every rule is a :class:`MixingRule`. It declares what the loop must know before any
compute (``exact``: the rule allows exact sufficient statistics; ``needs_pool``: it
draws on every sample ever made; ``counts``: how many points come from the model, the
previous set and the original data) and builds the training set in
:meth:`MixingRule.training_set`. The rules: :class:`Replace` (α = 1), :class:`Accumulate`,
:class:`Pool`, :class:`Weighted` (any α, β, γ) and :class:`KeepOriginal` (γ of the real
data).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import validate


def subset(data: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
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


def join(a, b):
    """Two training sets as one (along the samples axis)."""
    return np.concatenate([a, b], axis=1)


class GrowingPool:
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

    def __getstate__(self):  # a checkpoint holds the samples, not the spare room
        return {"size": self.size, "buffer": np.ascontiguousarray(self.data)}

    def __setstate__(self, state):
        self.size, self.buffer = state["size"], state["buffer"]


@dataclass
class Sources:
    """What a mixing rule may draw on besides the fresh samples: the original data
    ``D_0``, the previous training set ``D_g`` and (for rules with ``needs_pool``) the
    pool of every sample so far."""

    original: object
    previous: object
    pool: GrowingPool | None = None


class MixingRule:
    """Base of every mixing rule, with the defaults a rule overrides only where it differs.

    ``exact``: the rule keeps the training set a function of sufficient statistics, so
    ``simulate(exact=True)`` may draw statistics instead of samples. ``needs_pool``: the
    loop keeps every sample ever drawn for it.
    """

    exact = False
    needs_pool = False

    def counts(self, size: int) -> tuple[int, int, int]:
        """How a training set of ``size`` points is made: (drawn from the model, drawn
        without replacement from the previous set, drawn from the original data). The
        loop checks before any compute that the sets drawn from are large enough."""
        return size, 0, 0

    def model_draws(self, size: int) -> int:
        """Points the model is asked for, for a training set of ``size``."""
        return self.counts(size)[0]

    def training_set(self, new, sources: Sources, size: int, rng: np.random.Generator,
                     join=join):
        """The next training set from the model's ``new`` points (``join`` concatenates
        two sets; for exact statistics it combines them)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Replace(MixingRule):
    """α = 1: the next model sees only data from the current model (paper §4, Fig 4)."""

    exact = True

    def training_set(self, new, sources, size, rng, join=join):
        return new


@dataclass(frozen=True)
class Accumulate(MixingRule):
    """All data ever produced is kept and used to fit (paper Fig 6): D_{g+1} = D_g ∪ new."""

    exact = True

    def training_set(self, new, sources, size, rng, join=join):
        return join(sources.previous, new)


@dataclass(frozen=True)
class Pool(MixingRule):
    """New samples join a pool of all earlier data (D_0 included); a fixed-size
    training set is drawn from the pool without replacement (paper Fig 5)."""

    needs_pool = True

    def training_set(self, new, sources, size, rng, join=join):
        return subset(sources.pool.data, size, rng)


@dataclass(frozen=True)
class Weighted(MixingRule):
    """The general rule of §4: a fraction ``alpha`` of fresh model samples, ``beta`` of
    the previous training set and ``gamma`` of the original data (both drawn without
    replacement). Counts are rounded; the model supplies whatever remains."""

    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.0

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
        previous = int(round(self.beta * size))
        original = int(round(self.gamma * size))
        return size - previous - original, previous, original

    def training_set(self, new, sources, size, rng, join=join):
        _, previous, original = self.counts(size)
        parts = [new]
        if previous:
            parts.append(subset(sources.previous, previous, rng))
        if original:
            parts.append(subset(sources.original, original, rng))
        return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class KeepOriginal(MixingRule):
    """Keep a random ``fraction`` γ of the original data in every training set (§5.2);
    the model supplies the rest: :class:`Weighted` with α = 1 − γ, β = 0."""

    fraction: float = 0.1

    def __post_init__(self):
        validate.real("fraction", self.fraction, 0.0, 1.0)

    @property
    def weighted(self) -> Weighted:
        return Weighted(alpha=1.0 - self.fraction, beta=0.0, gamma=self.fraction)

    def counts(self, size: int) -> tuple[int, int, int]:
        return self.weighted.counts(size)

    def training_set(self, new, sources, size, rng, join=join):
        return self.weighted.training_set(new, sources, size, rng, join)


RULES = {
    "replace": Replace,
    "accumulate": Accumulate,
    "pool": Pool,
    "keep-original": KeepOriginal,
    "weighted": Weighted,
}


def mixing_rule(name: str, **weights) -> MixingRule:
    """Build a mixing rule by name, e.g. ``mixing_rule("keep-original", fraction=0.1)``."""
    validate.choice("mixing", name, RULES)
    rule = RULES[name]
    allowed = [f.name for f in dataclasses.fields(rule)]
    unknown = sorted(set(weights) - set(allowed))
    if unknown:
        raise ValueError(f"mixing rule {name!r} takes {', '.join(allowed) or 'no weights'}; "
                         f"got {', '.join(unknown)}")
    return rule(**weights)


def check(mixing) -> MixingRule:
    """``mixing`` if it is a rule instance; a clear error for a class or anything else."""
    if isinstance(mixing, type) and issubclass(mixing, MixingRule):
        raise TypeError(f"mixing must be a rule instance such as {mixing.__name__}(), "
                        f"got the class {mixing.__name__}")
    if not isinstance(mixing, MixingRule):
        raise TypeError(f"mixing must be a mixing rule such as mixing.Replace() (a "
                        f"collapse.mixing.MixingRule), got {mixing!r}")
    return mixing
