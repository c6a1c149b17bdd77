"""The resampling chain of §4.1 as an absorbing Markov chain (paper App. A.1).

With exact approximation (``F(p) = p``) the histogram of ``D_{g+1}`` depends only on
the histogram of ``D_g``: the counts ``c`` of ``M`` samples over ``K`` states move to
``c' ~ Multinomial(M, c/M)``. The states of the chain are the ``C(M+K−1, K−1)``
count vectors summing to ``M``; the absorbing ones are exactly the ``K`` delta
functions ``M e_k``. This is the neutral Wright–Fisher model of population genetics
(a haploid population of ``M`` individuals and ``K`` alleles).

Ordering the states transient first, the row-stochastic transition matrix is
``[[Q, R], [0, I]]`` (the paper's Eq 16 is its transpose, acting on columns). The
fundamental matrix ``N = (I − Q)^{−1}`` gives the expected number of generations
before absorption, ``t = N 1``, and the absorption probabilities ``B = N R``
(Kemeny and Snell 1960, ch. III).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import comb

import numpy as np
from scipy.linalg import lu_factor, lu_solve
from scipy.special import gammaln

from . import validate

MAX_STATES = 4000  # a dense S × S solve; 4000 states take seconds


def count_vectors(M: int, K: int) -> np.ndarray:
    """All ``(S, K)`` vectors of non-negative integers summing to ``M`` (S = C(M+K−1, K−1)),
    in lexicographic order."""
    M = validate.integer("M", M, minimum=1)
    K = validate.integer("K", K, minimum=1)
    if K == 1:
        return np.array([[M]], dtype=np.int64)
    rows = []
    for first in range(M, -1, -1):
        rest = count_vectors(M - first, K - 1) if first < M else np.zeros((1, K - 1), np.int64)
        rows.append(np.column_stack([np.full(len(rest), first, np.int64), rest]))
    return np.concatenate(rows)


def number_of_states(M: int, K: int) -> int:
    return comb(M + K - 1, K - 1)


def transition_matrix(states: np.ndarray, frequencies: np.ndarray | None = None) -> np.ndarray:
    """``P[i, j] = Multinomial(M, frequencies[i]).pmf(states[j])`` for count vectors summing
    to ``M``; ``frequencies`` defaults to ``states / M`` (the chain itself, rows sum to one)."""
    states = np.asarray(states, dtype=np.int64)
    M = int(states[0].sum())
    frequencies = states / M if frequencies is None else np.atleast_2d(frequencies)
    log_freq = np.log(np.where(frequencies > 0, frequencies, 1.0))
    log_freq[frequencies == 0] = -1e300  # 0 · log 0 = 0, but drawing an absent state has pmf 0
    log_coefficient = gammaln(M + 1) - gammaln(states + 1).sum(axis=1)
    log_pmf = log_freq @ states.T.astype(float) + log_coefficient[None, :]
    return np.exp(log_pmf)


@dataclass
class AbsorbingChain:
    """The exact resampling chain for sample size ``M`` and ``K`` states."""

    M: int
    K: int

    def __post_init__(self):
        self.M = validate.integer("M", self.M, minimum=1)
        self.K = validate.integer("K", self.K, minimum=2)
        size = number_of_states(self.M, self.K)
        if size > MAX_STATES:
            raise ValueError(
                f"the chain for M={self.M}, K={self.K} has C(M+K-1, K-1) = {size} states; "
                f"at most {MAX_STATES} are supported (lower M or K)"
            )
        states = count_vectors(self.M, self.K)
        is_absorbing = (states == self.M).any(axis=1)  # the delta functions
        order = np.concatenate([np.flatnonzero(~is_absorbing), np.flatnonzero(is_absorbing)])
        self.states = states[order]
        self.transient_count = int((~is_absorbing).sum())
        self.transition = transition_matrix(self.states)
        self._index = {tuple(c): i for i, c in enumerate(self.states.tolist())}

    # -- the blocks of Eq 16 (row-stochastic)
    @property
    def Q(self) -> np.ndarray:  # noqa: N802 (the paper's name)
        r = self.transient_count
        return self.transition[:r, :r]

    @property
    def R(self) -> np.ndarray:  # noqa: N802
        r = self.transient_count
        return self.transition[:r, r:]

    @property
    def absorbing_states(self) -> np.ndarray:
        """The count vectors of the absorbing states (``M e_k``), in column order of ``R``."""
        return self.states[self.transient_count:]

    @cached_property
    def _factor(self):
        """LU factors of ``I − Q``, shared by every quantity below (no explicit inverse)."""
        return lu_factor(np.eye(self.transient_count) - self.Q)

    @cached_property
    def fundamental(self) -> np.ndarray:
        """``N = (I − Q)^{−1}``: expected visits to each transient state."""
        return lu_solve(self._factor, np.eye(self.transient_count))

    @cached_property
    def expected_steps(self) -> np.ndarray:
        """``t = N 1`` for every transient state: expected generations before absorption."""
        return lu_solve(self._factor, np.ones(self.transient_count))

    @cached_property
    def steps_variance(self) -> np.ndarray:
        """Variance of the absorption time: ``(2N − I) t − t∘t`` (Kemeny–Snell Thm 3.3.5)."""
        t = self.expected_steps
        return 2 * lu_solve(self._factor, t) - t - t**2

    @cached_property
    def absorption_probabilities(self) -> np.ndarray:
        """``B = N R``: ``B[i, k]`` = probability of collapsing onto ``absorbing_states[k]``."""
        return lu_solve(self._factor, self.R)

    def index(self, counts) -> int:
        """Row of the state with these counts."""
        key = tuple(int(c) for c in counts)
        if key not in self._index:
            raise ValueError(f"counts must be {self.K} non-negative integers summing to "
                             f"M={self.M}, got {list(key)}")
        return self._index[key]

    def time(self, counts) -> tuple[float, float]:
        """Mean and variance of the absorption generation starting from ``counts``
        (0 for a delta function)."""
        i = self.index(counts)
        if i >= self.transient_count:
            return 0.0, 0.0
        return float(self.expected_steps[i]), float(self.steps_variance[i])

    def final_state_probabilities(self, counts) -> np.ndarray:
        """Probability of collapsing onto each state ``0 … K−1`` starting from ``counts``."""
        i = self.index(counts)
        if i >= self.transient_count:
            return (self.states[i] == self.M).astype(float)
        winners = np.argmax(self.absorbing_states, axis=1)
        result = np.zeros(self.K)
        result[winners] = self.absorption_probabilities[i]
        return result

    def initial_distribution(self, frequencies) -> np.ndarray:
        """Probability of each chain state for ``D_0`` = ``M`` draws from ``frequencies``."""
        p = np.asarray(frequencies, dtype=float)
        if p.shape != (self.K,) or np.any(p < 0) or abs(p.sum() - 1) > 1e-9:
            raise ValueError(f"frequencies must be {self.K} probabilities summing to 1")
        return transition_matrix(self.states, p / p.sum())[0]

    def mean_time_from(self, frequencies) -> float:
        """Expected absorption generation when ``D_0`` is ``M`` fresh draws from ``frequencies``
        (as in the loop): ``Σ_c P(D_0 = c) t(c)``."""
        weights = self.initial_distribution(frequencies)
        return float(weights[: self.transient_count] @ self.expected_steps)

    def absorbed_by(self, counts, generations: int) -> np.ndarray:
        """``P(T ≤ g)`` for ``g = 0 … generations − 1`` starting from ``counts``."""
        generations = validate.integer("generations", generations, minimum=1)
        distribution = np.zeros(len(self.states))
        distribution[self.index(counts)] = 1.0
        result = np.empty(generations)
        for g in range(generations):
            result[g] = distribution[self.transient_count:].sum()
            distribution = distribution @ self.transition
        return result


def fixation_time_diffusion(frequencies, M: int):
    """Kimura's diffusion approximation of the mean time until one state takes over, for a
    haploid Wright–Fisher population of ``M``: ``−2M Σ_k (1 − p_k) ln(1 − p_k)``.

    For ``K = 2`` this is ``−2M [p ln p + (1 − p) ln(1 − p)]`` (Kimura and Ohta 1969,
    whose ``−4N`` is for ``2N`` gene copies); the ``K``-state form is Littler's (1975).
    ``frequencies`` is one probability vector ``(K,)`` (returns a float) or a batch
    ``(..., K)`` (returns an array ``(...)``).
    """
    p = np.asarray(frequencies, dtype=float)
    M = validate.integer("M", M, minimum=1)
    if p.ndim < 1 or p.shape[-1] < 1 or np.any(p < 0) or np.any(np.abs(p.sum(-1) - 1) > 1e-9):
        raise ValueError("frequencies must be probability vectors (..., K) that sum to 1")
    q = 1 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    times = 0.0 - 2 * M * terms.sum(axis=-1)
    return float(times) if p.ndim == 1 else times
