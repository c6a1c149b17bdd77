"""The noisy approximation model of §4.3 and App. A.2: an N-D Gaussian whose fitted mean
is the sample mean plus a noise term ``ε`` (Eq 6), and the Gelbrich bound.

Eq 6: ``µ_{i+1} = x̄_i + ε_{i+1}`` and ``E[Σ_{i+1} | Σ_i] = Σ_i`` (unbiased covariance).
The noise must satisfy Assumption 1 (Eq 7, ``E[ε | µ_i, Σ_i] = 0``), Assumption 2
(Eq 8, ``ε`` is a function of the data only) and either Assumption 3 (Eq 9,
``Cov(ε, T | µ_i, Σ_i) = 0`` with ``T = Σ_i^{−1/2} √M_i (x̄_i − µ_i)``) or
Assumption 3* (Eq 18, ``‖ε‖ ≤ K / M_i``).

Our construction uses the first two points of the training set,
``y = (x_1 − x_2)/√2 ~ N(0, Σ_i)``. For Gaussian data every function of the residuals
``x_j − x̄`` is independent of ``x̄`` (Cochran), so any odd function of ``y`` satisfies
all of Eqs 7–9:

* ``noise="residual"``: ``ε = κ y / M_i^p`` (so ``E‖ε‖² = κ² Tr Σ_i / M_i^{2p}``);
* ``noise="bounded"``: ``ε = (K / M_i) y/‖y‖``, of norm exactly ``K / M_i`` (Eq 18).

By completeness of the Gaussian location family, *every* noise that satisfies Eqs 7 and 8
on Gaussian data also satisfies Eq 9. To see the cross term of App. A.2 (Eq 20) at work
we add a noise that breaks Assumption 2 on purpose:

* ``noise="pull"``: ``ε = −(K / M_i) (x̄ − µ_i)/‖x̄ − µ_i‖``, a step of length ``K / M_i``
  back towards the parent model's mean ``µ_i`` (a model fine-tuned from its parent).
  It satisfies Eqs 7 and 18 but not 8 or 9 (``Cov(ε, T) ≠ 0``), and it needs ``µ_i``,
  which only the exact statistics carry (``NoisyStats.parent_mean``).

Exact statistics: in the Helmert basis of the residual space one axis is
``(e_1 − e_2)/√2``, so the scatter matrix is ``y yᵀ + W`` with
``W ~ Wishart(Σ_i, M_i − 2)`` independent of ``y`` and of ``x̄``.
:meth:`NoisyGaussian.sample_statistics` draws ``(x̄, y, W)`` directly: one generation
costs O(d³) per run whatever ``M_i`` is, so quadratically growing sample sizes are free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import linalg, metrics, theory, validate
from .gaussian import Gaussian, GaussianParams, GaussianStats

NOISE_KINDS = ("none", "residual", "bounded", "pull")


@dataclass
class NoisyStats(GaussianStats):
    """Gaussian sufficient statistics plus ``y = (x_1 − x_2)/√2`` (``(runs, d)``), the
    only extra information the data-only noises use, and the mean of the model that
    generated the data (known only to :meth:`NoisyGaussian.sample_statistics`)."""

    pair: np.ndarray = None
    parent_mean: np.ndarray | None = None


@dataclass
class NoisyGaussian(Gaussian):
    """An N-D Gaussian fitted with a noisy mean (Eq 6) and the unbiased covariance.

    ``noise``: ``"residual"`` (``ε = κ y / M^p``, Assumption 3), ``"bounded"``
    (``ε = K y / (‖y‖ M)``, Assumption 3*), ``"pull"`` (``ε = −K u / M`` with ``u`` the
    unit vector from the parent's mean to ``x̄``: Assumption 3* without 2 and 3; exact
    statistics only) or ``"none"`` (the plain sample mean).
    ``scale`` is κ or K; ``power`` is p (``"residual"`` only).
    """

    noise: str = "residual"
    scale: float = 1.0
    power: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if self.estimator != "unbiased":
            raise ValueError(
                "estimator must be 'unbiased' for the noisy model: Eq 6 needs "
                f"E[Σ_(i+1) | Σ_i] = Σ_i; got {self.estimator!r}"
            )
        validate.choice("noise", self.noise, NOISE_KINDS)
        validate.real("scale (κ or K)", self.scale, low=0.0)
        validate.real("power p", self.power, low=0.0, high=5.0)

    # -- the noise ε (Eqs 7-9, 18)
    def noise_of(self, pair: np.ndarray, n) -> np.ndarray:
        """``ε`` from ``y = (x_1 − x_2)/√2`` (``(runs, d)``) and the sample sizes ``n``."""
        n = np.asarray(n, dtype=float).reshape(-1, 1)
        if self.noise == "none":
            return np.zeros_like(pair)
        if self.noise == "residual":
            return self.scale * pair / n**self.power
        if self.noise == "pull":
            raise ValueError("noise='pull' depends on the parent's mean, not on the data "
                             "only; use fit_statistics on exact statistics")
        return self.scale * _unit(pair) / n

    def pull_of(self, stats: NoisyStats) -> np.ndarray:
        """``ε = −(K/M) (x̄ − µ_i)/‖x̄ − µ_i‖`` for ``noise="pull"``."""
        if stats.parent_mean is None:
            raise ValueError(
                "noise='pull' needs the mean of the model that generated the data: fit "
                "exact statistics from sample_statistics (exact=True in the loop)"
            )
        n = np.asarray(stats.n, dtype=float).reshape(-1, 1)
        return -self.scale * _unit(stats.mean - stats.parent_mean) / n

    def expected_noise_energy(self, sizes, trace_cov: float) -> np.ndarray:
        """``E‖ε_g‖²`` for training sets of sizes ``sizes`` (``E Tr Σ_g = Tr Σ``)."""
        sizes = np.asarray(sizes, dtype=float)
        if self.noise == "none":
            return np.zeros_like(sizes)
        if self.noise == "residual":
            return self.scale**2 * trace_cov / sizes ** (2 * self.power)
        return (self.scale / sizes) ** 2  # bounded and pull: ‖ε‖ = K/M exactly

    # -- the two verbs
    def fit(self, data: np.ndarray) -> GaussianParams:
        """Eq 6: sample mean plus ``ε``, unbiased covariance."""
        return self.fit_statistics(self.summarize(data))

    def summarize(self, data: np.ndarray) -> NoisyStats:
        data = np.asarray(data, dtype=float)
        if data.ndim != 3:
            raise ValueError(f"data must be (runs, n, d) for the N-D noisy model, got "
                             f"shape {data.shape}")
        stats = super().summarize(data)
        pair = (data[:, 0] - data[:, 1]) / np.sqrt(2)
        return NoisyStats(stats.n, stats.mean, stats.scatter, pair)

    def fit_statistics(self, stats: NoisyStats) -> GaussianParams:
        params = super().fit_statistics(stats)
        if self.noise == "pull":
            noise = self.pull_of(stats)
        else:
            noise = self.noise_of(stats.pair, stats.n)
        return GaussianParams(params.mean + noise, params.cov)

    def sample_statistics(self, params: GaussianParams, n: int,
                          rng: np.random.Generator) -> NoisyStats:
        """Draw ``x̄ ~ N(µ, Σ/n)``, ``y ~ N(0, Σ)`` and scatter ``y yᵀ + Wishart(Σ, n − 2)``
        exactly, without drawing the ``n`` points."""
        n = validate.integer("n", n, minimum=2)
        validate.generator("rng", rng)
        if params.dim is None:
            raise ValueError("the noisy model is N-D: give mean (runs, d) and cov (runs, d, d)")
        runs, d = params.runs, params.dim
        root = linalg.cholesky_factor(params.cov)
        normal = rng.standard_normal((runs, 2, d))
        mean = params.mean + np.einsum("rij,rj->ri", root, normal[:, 0]) / np.sqrt(n)
        pair = np.einsum("rij,rj->ri", root, normal[:, 1])
        scatter = pair[:, :, None] * pair[:, None, :]
        if n > 2:
            factor = linalg.wishart_factor(root, n - 2, rng)
            scatter = scatter + factor @ np.swapaxes(factor, -1, -2)
        return NoisyStats(np.full(runs, n), mean, scatter, pair, params.mean)

    def combine(self, a: NoisyStats, b: NoisyStats) -> NoisyStats:
        """Statistics of the union ``a ∪ b``; its first two points are ``a``'s."""
        joint = super().combine(a, b)
        return NoisyStats(joint.n, joint.mean, joint.scatter, a.pair, a.parent_mean)


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    length = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, length, out=np.zeros_like(vectors), where=length > 0)


# ---------------------------------------------------------------- the assumptions


def assumption_moments(family: NoisyGaussian, params: GaussianParams, n: int, draws: int,
                       rng: np.random.Generator, exact: bool = False) -> dict[str, np.ndarray]:
    """Monte Carlo estimates (with standard errors) of the quantities in Eqs 7, 9, 18
    for ``draws`` data sets of size ``n`` from one Gaussian ``params`` (``runs = 1``).

    Returns ``mean`` (E[ε], Eq 7), ``cov`` (Cov(ε, T), Eq 9, ``(d, d)``), ``cross``
    (E[εᵀ Σ^½ T], the cross term of Eqs 14 and 20), their standard errors
    ``mean_se``/``cov_se``/``cross_se``, ``max_norm`` (max ‖ε‖, Eq 18) and ``T``
    moments ``t_mean``/``t_cov`` (T has mean 0 and covariance I). ``exact=True`` draws
    the sufficient statistics instead of the points (needed for ``noise="pull"``).
    """
    draws = validate.integer("draws", draws, minimum=2)
    if params.runs != 1:
        raise ValueError(f"params must describe one Gaussian (runs = 1), got runs = {params.runs}")
    batch = GaussianParams(np.repeat(params.mean, draws, 0), np.repeat(params.cov, draws, 0))
    if exact:
        stats = family.sample_statistics(batch, n, rng)
    else:
        stats = family.summarize(family.sample(batch, n, rng))
    fitted = family.fit_statistics(stats)
    epsilon = fitted.mean - stats.mean
    root = linalg.eigen_factor(params.cov[0])
    t = np.sqrt(n) * (stats.mean - params.mean) @ np.linalg.inv(root).T
    products = epsilon[:, :, None] * t[:, None, :]
    cross = np.einsum("ri,ij,rj->r", epsilon, root, t)  # εᵀ Σ^½ T, the term of Eqs 14, 20
    return {
        "mean": epsilon.mean(0), "mean_se": epsilon.std(0, ddof=1) / np.sqrt(draws),
        "cov": products.mean(0), "cov_se": products.std(0, ddof=1) / np.sqrt(draws),
        "cross": cross.mean(), "cross_se": cross.std(ddof=1) / np.sqrt(draws),
        "max_norm": np.linalg.norm(epsilon, axis=-1).max(),
        "t_mean": t.mean(0), "t_cov": np.cov(t.T),
    }


# ------------------------------------------------------------- the experiment of §4.3

SCHEDULES = ("constant", "linear", "quadratic")


def schedule(kind: str, base_size: int):
    """Sample sizes ``M_g`` for ``g ≥ 1``: ``M_0``, ``M_0 (g + 1)`` or ``M_0 (g + 1)²``."""
    validate.choice("schedule", kind, SCHEDULES)
    base_size = validate.integer("base_size", base_size, minimum=2)
    power = SCHEDULES.index(kind)
    return lambda g: base_size * (g + 1) ** power


def default_cov(dim: int) -> np.ndarray:
    """The chapter's true covariance: a fixed, correlated ``dim × dim`` matrix with
    ``Tr Σ = dim`` (eigenvalues spread over [0.25, 1.75])."""
    dim = validate.integer("dim", dim, minimum=1)
    eigenvalues = np.linspace(0.25, 1.75, dim) if dim > 1 else np.ones(1)
    angle = np.linspace(0, np.pi / 3, dim)
    basis, _ = np.linalg.qr(np.cos(np.add.outer(angle, np.arange(dim))) + np.eye(dim))
    return (basis * eigenvalues) @ basis.T


def initial_data(runs: int, M: int, rng: np.random.Generator, cov) -> NoisyStats:
    """``D_0``: the exact statistics of ``M`` draws of ``N(0, cov)`` for each of ``runs`` runs
    (exact, so that ``noise="pull"`` knows the parent's mean)."""
    cov = np.asarray(cov, dtype=float)
    runs = validate.integer("runs", runs, minimum=1)
    validate.generator("rng", rng)
    dim = cov.shape[0]
    truth = GaussianParams(np.zeros((runs, dim)), np.broadcast_to(cov, (runs, dim, dim)))
    return NoisyGaussian(noise="none").sample_statistics(truth, M, rng)


def truth_metrics(cov) -> dict:
    """The loop's extra columns against the truth ``N(0, cov)``: ``mean_error``
    (``‖µ̂_g − µ‖²``, the left side of Eq 15) and ``w2`` (the risk ``W2²``)."""
    cov = np.asarray(cov, dtype=float)
    w2_to_truth = metrics.w2_squared_to(np.zeros(cov.shape[0]), cov)
    return {"mean_error": lambda params, data: np.sum(params.mean**2, axis=-1),
            "w2": lambda params, data: w2_to_truth(params.mean, params.cov)}


def bounds(family: NoisyGaussian, sizes, cov) -> dict[str, np.ndarray]:
    """The lower bounds on the mean error for training-set sizes ``sizes``: Eq 15 with the
    family's noise energy, its noise-free part (the leading term of Eq 25), and for a
    bounded noise (``"bounded"``, ``"pull"``) Eq 24 summed over generations."""
    cov = np.asarray(cov, dtype=float)
    trace = float(np.trace(cov))
    energy = family.expected_noise_energy(sizes, trace)
    lines = {"Eq 15": theory.noisy_mean_error_bound(sizes, trace, energy),
             "Eq 25 leading term": theory.noisy_mean_error_bound(sizes, trace)}
    if family.noise in ("bounded", "pull"):
        lines["Eq 24 summed"] = theory.bounded_noise_bound(sizes, trace, cov.shape[0],
                                                           family.scale, energy)
    return lines
