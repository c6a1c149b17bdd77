"""Discrete distributions with exact approximation (paper §4.1, Fig 3).

The model of a distribution over ``K`` states is its histogram: ``fit`` returns the
empirical frequencies, so the functional approximation is exact (``F(p) = p``) and
every change between generations comes from the sampling step (statistical error).

Shapes: data are integer states ``(runs, M)`` in ``0 … K−1``; parameters are
probabilities ``(runs, K)``. The histogram counts are sufficient statistics, and the
counts of ``M`` i.i.d. draws are ``Multinomial(M, p)``: :meth:`Discrete.sample_statistics`
draws them directly (O(K) per run instead of O(M)). The counts then form the
resampling Markov chain of §4.1 and App. A.1 (see :mod:`collapse.markov`), which
population geneticists know as the neutral Wright–Fisher model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import validate
from .loop import ExactFamily


@dataclass
class DiscreteParams:
    """Fitted probabilities of ``runs`` independent histograms, shape ``(runs, K)``."""

    probs: np.ndarray

    def __post_init__(self):
        p = np.asarray(self.probs, dtype=float)
        if p.ndim != 2 or p.shape[1] < 1:
            raise ValueError(f"probs must be (runs, K) probabilities (one row per run), got "
                             f"shape {p.shape}")
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError("probs must hold finite probabilities >= 0")
        sums = p.sum(axis=1)
        worst = int(np.argmax(np.abs(sums - 1.0)))
        if abs(sums[worst] - 1.0) > 1e-6:
            raise ValueError(f"probs: every run's probabilities must sum to 1; run {worst} "
                             f"sums to {sums[worst]:.6g}")
        self.probs = p

    @property
    def runs(self) -> int:
        return self.probs.shape[0]


@dataclass
class DiscreteCounts:
    """Sufficient statistics of ``n`` samples per run: the histogram counts ``(runs, K)``."""

    counts: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    @property
    def runs(self) -> int:
        return self.counts.shape[0]


def probabilities(values, name: str = "reference") -> np.ndarray:
    """Check a probability vector: 1-D, finite, non-negative, sums to one (within 1e-9)."""
    p = np.asarray(values, dtype=float)
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"{name} must be a 1-D array of K >= 1 probabilities, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must hold finite probabilities >= 0")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1, got {p.sum()!r}")
    return p / p.sum()


def uniform(states: int) -> np.ndarray:
    """The uniform distribution over ``states`` states."""
    states = validate.integer("states", states, minimum=1)
    return np.full(states, 1.0 / states)


def binned(distribution, edges) -> np.ndarray:
    """Probabilities of the bins ``[edges[k], edges[k+1])`` under a continuous
    ``distribution`` (anything with a ``cdf``), renormalised to the covered range.

    This is how a histogram "model" of a continuous distribution is built for Fig 3.
    """
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be a strictly increasing 1-D array of >= 2 bin edges")
    mass = np.diff(distribution.cdf(edges))
    return mass / mass.sum()


class GaussianMixture1D:
    """A 1-D mixture of location–scale components (Fig 3: means −4 and 4, unit variance).

    ``tail_dof=None`` gives Gaussian components; a finite ``tail_dof`` gives Student-t
    components with that many degrees of freedom, scaled to the same variance: the
    "fatter-tailed" distribution of Fig 3.
    """

    def __init__(self, means=(-4.0, 4.0), stds=(1.0, 1.0), weights=(0.5, 0.5),
                 tail_dof: float | None = None):
        self.means = np.asarray(means, dtype=float)
        self.stds = np.asarray(stds, dtype=float)
        self.weights = probabilities(weights, "weights")
        if not (self.means.shape == self.stds.shape == self.weights.shape):
            raise ValueError("means, stds and weights must have the same length")
        if np.any(self.stds <= 0):
            raise ValueError("stds must be > 0")
        if tail_dof is not None:
            tail_dof = validate.real("tail_dof", tail_dof, low=2.0 + 1e-9)
        self.tail_dof = tail_dof

    def _component(self, k: int):
        if self.tail_dof is None:
            return stats.norm(self.means[k], self.stds[k])
        scale = self.stds[k] * np.sqrt((self.tail_dof - 2) / self.tail_dof)  # same variance
        return stats.t(self.tail_dof, self.means[k], scale)

    def cdf(self, x):
        return sum(w * self._component(k).cdf(x) for k, w in enumerate(self.weights))

    def pdf(self, x):
        return sum(w * self._component(k).pdf(x) for k, w in enumerate(self.weights))

    def sample(self, n: int, rng: np.random.Generator, runs: int = 1) -> np.ndarray:
        """``(runs, n)`` i.i.d. draws: a component by its weight, then a draw from it."""
        n = validate.integer("n", n, minimum=0)
        runs = validate.integer("runs", runs, minimum=1)
        validate.generator("rng", rng)
        component = rng.choice(self.weights.size, size=(runs, n), p=self.weights)
        if self.tail_dof is None:
            noise = rng.standard_normal((runs, n))
        else:
            noise = rng.standard_t(self.tail_dof, (runs, n)) * np.sqrt(
                (self.tail_dof - 2) / self.tail_dof)
        return self.means[component] + self.stds[component] * noise

    @property
    def mean(self) -> float:
        return float(self.weights @ self.means)

    @property
    def variance(self) -> float:
        """Exact variance of the mixture (both component kinds have variance ``std²``)."""
        return float(self.weights @ (self.stds**2 + self.means**2) - self.mean**2)


@dataclass
class Discrete(ExactFamily):
    """A histogram over ``K = len(reference)`` states, refitted every generation (§4.1).

    ``reference`` is the original distribution ``p_0``; ``describe`` measures every
    generation against it. ``positions`` are the states' locations on the real line
    (default ``0 … K−1``), used by the Wasserstein-1 distance. States whose reference
    probability is below ``tail_threshold`` form the "tails" whose mass is reported
    (the paper's rule of thumb: states with ``p ≤ 1/M`` are lost first).
    """

    reference: np.ndarray
    positions: np.ndarray | None = None
    tail_threshold: float | None = None

    def __post_init__(self):
        self.reference = probabilities(self.reference)
        if self.positions is None:
            self.positions = np.arange(self.states, dtype=float)
        self.positions = np.asarray(self.positions, dtype=float)
        if self.positions.shape != self.reference.shape or np.any(np.diff(self.positions) <= 0):
            raise ValueError(f"positions must be {self.states} strictly increasing numbers")
        if self.tail_threshold is not None:
            self.tail_threshold = validate.real("tail_threshold", self.tail_threshold, 0.0, 1.0)

    @property
    def states(self) -> int:
        return self.reference.size

    # -- the two verbs
    def fit(self, data: np.ndarray) -> DiscreteParams:
        """The exact approximation ``F(p) = p``: the empirical frequencies of every run."""
        return self.fit_statistics(self.summarize(data))

    def sample(self, params: DiscreteParams, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` i.i.d. states per run: multinomial counts, laid out in a random order."""
        n = validate.integer("n", n, minimum=0)
        validate.generator("rng", rng)
        counts = self.sample_statistics(params, n, rng).counts
        states = np.tile(np.arange(self.states), params.runs)
        data = np.repeat(states, counts.ravel()).reshape(params.runs, n)
        return rng.permuted(data, axis=1)

    def describe(self, params: DiscreteParams) -> dict[str, np.ndarray]:
        """Per run: surviving support, entropy (nats), the mode and its mass, and the
        distance to ``p_0`` (total variation, Wasserstein-1; plus tail mass if set)."""
        p = params.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = 0.0 - np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)  # no −0.0
        columns = {
            "support": np.count_nonzero(p > 0, axis=1),
            "entropy": entropy,
            "mode": np.argmax(p, axis=1),
            "mode_mass": p.max(axis=1),
            "tv": 0.5 * np.abs(p - self.reference).sum(axis=1),
            "w1": wasserstein1(p, self.reference, self.positions),
        }
        if self.tail_threshold is not None:
            tails = self.reference < self.tail_threshold
            columns["tail_mass"] = p[:, tails].sum(axis=1)
        return columns

    # -- exact sufficient statistics
    def summarize(self, data: np.ndarray) -> DiscreteCounts:
        data = np.asarray(data)
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.integer):
            raise ValueError(f"data must be integer states of shape (runs, n), got "
                             f"{data.dtype} {data.shape}")
        validate.integer("number of samples per run", data.shape[1], minimum=1)
        if data.min() < 0 or data.max() >= self.states:
            raise ValueError(f"data must be states in 0 … {self.states - 1}, got values in "
                             f"{data.min()} … {data.max()}")
        runs = data.shape[0]
        offsets = (np.arange(runs) * self.states)[:, None]
        counts = np.bincount((data + offsets).ravel(), minlength=runs * self.states)
        return DiscreteCounts(counts.reshape(runs, self.states))

    def fit_statistics(self, stats: DiscreteCounts) -> DiscreteParams:
        return DiscreteParams(stats.counts / stats.n[:, None])

    def sample_statistics(self, params: DiscreteParams, n: int,
                          rng: np.random.Generator) -> DiscreteCounts:
        """The histogram of ``n`` i.i.d. draws: ``Multinomial(n, p)`` for every run."""
        n = validate.integer("n", n, minimum=0)
        validate.generator("rng", rng)
        return DiscreteCounts(rng.multinomial(n, params.probs))

    def combine(self, a: DiscreteCounts, b: DiscreteCounts) -> DiscreteCounts:
        return DiscreteCounts(a.counts + b.counts)


def initial_data(runs: int, M: int, rng: np.random.Generator, reference,
                 exact: bool = False):
    """``D_0``: ``M`` states drawn from ``p_0 = reference`` for each of ``runs`` runs, or with
    ``exact=True`` their histogram (drawn without the states)."""
    M = validate.integer("M", M, minimum=1)
    runs = validate.integer("runs", runs, minimum=1)
    validate.generator("rng", rng)
    family = Discrete(reference)
    truth = DiscreteParams(np.tile(family.reference, (runs, 1)))
    return family.sample_statistics(truth, M, rng) if exact else family.sample(truth, M, rng)


def fixed_counts(counts, runs: int) -> DiscreteCounts:
    """``runs`` copies of one histogram (every run starts from the same ``D_0``)."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or np.any(counts < 0) or counts.sum() < 1:
        raise ValueError("counts must be a 1-D array of non-negative integers with a positive sum")
    return DiscreteCounts(np.tile(counts.astype(np.int64), (validate.integer("runs", runs, 1), 1)))


def wasserstein1(probs: np.ndarray, reference: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """W1 between distributions on the same sorted points: ``∫ |F_p − F_ref| dx``."""
    gap = np.abs(np.cumsum(probs, axis=-1) - np.cumsum(reference))[..., :-1]
    return gap @ np.diff(positions)


def expected_support(probs, M: int) -> float:
    """Expected number of states seen in ``M`` draws: ``Σ_k 1 − (1 − p_k)^M`` (§4.1: a state
    of probability ``q`` is missed by one generation with probability ``(1 − q)^M``)."""
    p = probabilities(probs, "probs")
    M = validate.integer("M", M, minimum=0)
    return float(np.sum(1 - (1 - p) ** M))


def absorption(table: pd.DataFrame) -> pd.DataFrame:
    """Per run: whether the histogram became a delta function (support 1), the first
    generation at which it did (NaN if never), and the state it collapsed onto."""
    absorbed = table[table["support"] == 1]
    first = absorbed.sort_values("generation").groupby("run").first()
    result = pd.DataFrame(index=pd.Index(np.sort(table["run"].unique()), name="run"))
    result["absorbed"] = result.index.isin(first.index)
    result["generation"] = first["generation"].reindex(result.index).astype(float)
    result["state"] = first["mode"].reindex(result.index).astype("Int64")
    return result
