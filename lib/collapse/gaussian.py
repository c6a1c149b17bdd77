"""The Gaussian family, 1-D and N-D (paper §4.2 and §4.3).

Shapes: 1-D data are ``(runs, n)`` and parameters are ``mean (runs,)``,
``cov (runs,)`` (the variance); N-D data are ``(runs, n, d)`` with ``mean (runs, d)``
and ``cov (runs, d, d)``. Every function works on all runs at once.

Besides ``fit`` and ``sample`` the family has *exact sufficient statistics*: the
sample mean and the scatter matrix ``Σ_j (x_j − x̄)(x_j − x̄)ᵀ`` of ``n`` Gaussian
points are independent, with ``x̄ ~ N(µ, Σ/n)`` and scatter ``~ Wishart(Σ, n − 1)``
(Cochran 1934; in 1-D ``σ² χ²_{n−1}``). :meth:`Gaussian.sample_statistics` draws
them directly, so one generation costs O(d³) per run instead of O(n d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import linalg, validate
from .loop import ExactFamily
from .theory import ESTIMATORS


@dataclass
class GaussianParams:
    """Fitted parameters of ``runs`` independent Gaussians."""

    mean: np.ndarray
    cov: np.ndarray  # variance in 1-D

    @property
    def runs(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int | None:
        """``None`` for the 1-D family, ``d`` for N-D."""
        return None if self.mean.ndim == 1 else self.mean.shape[1]

    @property
    def std(self) -> np.ndarray:
        if self.dim is not None:
            raise AttributeError("std is defined for the 1-D family; use cov")
        return np.sqrt(self.cov)


@dataclass
class GaussianStats:
    """Sufficient statistics of ``n`` samples per run: count, mean and scatter."""

    n: np.ndarray  # (runs,)
    mean: np.ndarray
    scatter: np.ndarray  # Σ (x − x̄)² in 1-D, Σ (x − x̄)(x − x̄)ᵀ in N-D

    @property
    def runs(self) -> int:
        return self.mean.shape[0]


def params(mean=0.0, std=None, cov=None, runs: int = 1) -> GaussianParams:
    """Parameters for ``runs`` copies of one Gaussian: 1-D with ``std``, N-D with ``cov``."""
    runs = validate.integer("runs", runs, minimum=1)
    if cov is None:
        std = 1.0 if std is None else validate.real("std", std, low=0.0)
        mean = validate.real("mean", mean)
        return GaussianParams(np.full(runs, mean), np.full(runs, std**2))
    cov = np.asarray(cov, dtype=float)
    if not (np.all(np.isfinite(cov)) and np.all(np.isfinite(mean))):
        raise ValueError("mean and cov must be finite")
    d = cov.shape[0]
    if cov.shape != (d, d) or not np.allclose(cov, cov.T):
        raise ValueError(f"cov must be a symmetric (d, d) matrix, got shape {cov.shape}")
    if np.linalg.eigvalsh(cov).min() < 0:
        raise ValueError("cov must be positive semi-definite")
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (d,))
    return GaussianParams(np.tile(mean, (runs, 1)), np.tile(cov, (runs, 1, 1)))


@dataclass
class Gaussian(ExactFamily):
    """A Gaussian model refitted every generation (Eq 1 and Eq 2).

    ``estimator="unbiased"`` divides the scatter by ``n − 1`` as in Eq 1;
    ``"mle"`` divides by ``n``, as the authors' code (``np.std``) does.
    """

    estimator: str = "unbiased"

    def __post_init__(self):
        validate.choice("estimator", self.estimator, ESTIMATORS)

    # -- the two verbs
    def fit(self, data: np.ndarray) -> GaussianParams:
        """Eq 1: sample mean and (unbiased or ML) variance of every run."""
        return self.fit_statistics(self.summarize(data))

    def sample(self, params: GaussianParams, n: int, rng: np.random.Generator) -> np.ndarray:
        """Eq 2: ``n`` new points from every run's fitted Gaussian."""
        n = validate.integer("n", n, minimum=0)
        validate.generator("rng", rng)
        if params.dim is None:
            z = rng.standard_normal((params.runs, n))
            return params.mean[:, None] + np.sqrt(params.cov)[:, None] * z
        z = rng.standard_normal((params.runs, n, params.dim))
        return params.mean[:, None, :] + z @ np.swapaxes(linalg.eigen_factor(params.cov), -1, -2)

    def describe(self, params: GaussianParams) -> dict[str, np.ndarray]:
        if params.dim is None:
            return {"mean": params.mean, "std": params.std}
        return {"mean_norm": np.linalg.norm(params.mean, axis=-1),
                "cov_trace": np.trace(params.cov, axis1=-2, axis2=-1)}

    # -- exact sufficient statistics
    def summarize(self, data: np.ndarray) -> GaussianStats:
        data = np.asarray(data, dtype=float)
        if data.ndim not in (2, 3):
            raise ValueError(f"data must be (runs, n) or (runs, n, d), got shape {data.shape}")
        n = data.shape[1]
        validate.integer("number of samples per run", n, minimum=2)
        validate.finite_arrays("data", data)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = data.mean(axis=1)
            centred = data - mean[:, None]
            if data.ndim == 2:
                scatter = np.einsum("rn,rn->r", centred, centred)
            else:
                scatter = np.einsum("rni,rnj->rij", centred, centred)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scatter))):
            raise ValueError(f"data: values up to {np.max(np.abs(data)):.3g} in magnitude "
                             f"overflow float64 in the mean or the scatter (its squares "
                             f"exceed 1.8e308); rescale the data (e.g. divide by "
                             f"{np.max(np.abs(data)):.0e})")
        return GaussianStats(np.full(data.shape[0], n), mean, scatter)

    def fit_statistics(self, stats: GaussianStats) -> GaussianParams:
        divisor = stats.n - 1 if self.estimator == "unbiased" else stats.n
        divisor = divisor.reshape((-1,) + (1,) * (stats.scatter.ndim - 1))
        return GaussianParams(stats.mean, stats.scatter / divisor)

    def sample_statistics(self, params: GaussianParams, n: int,
                          rng: np.random.Generator) -> GaussianStats:
        """Draw the statistics of ``n`` points exactly, without drawing the points."""
        n = validate.integer("n", n, minimum=2)
        validate.generator("rng", rng)
        runs = params.runs
        if params.dim is None:
            std = np.sqrt(params.cov)
            mean = params.mean + std / np.sqrt(n) * rng.standard_normal(runs)
            scatter = params.cov * rng.chisquare(n - 1, runs)
            return GaussianStats(np.full(runs, n), mean, scatter)
        d = params.dim
        root = linalg.eigen_factor(params.cov)
        noise = np.einsum("rij,rj->ri", root, rng.standard_normal((runs, d)))
        mean = params.mean + noise / np.sqrt(n)
        factor = linalg.wishart_factor(root, n - 1, rng)
        scatter = factor @ np.swapaxes(factor, -1, -2)
        return GaussianStats(np.full(runs, n), mean, scatter)

    def combine(self, a: GaussianStats, b: GaussianStats) -> GaussianStats:
        """Statistics of the union of two samples (Chan et al.'s parallel update)."""
        n = a.n + b.n
        shape = (-1,) + (1,) * (a.mean.ndim - 1)
        wa, wb = (a.n / n).reshape(shape), (b.n / n).reshape(shape)
        mean = wa * a.mean + wb * b.mean
        delta = b.mean - a.mean
        weight = (a.n * b.n / n).reshape((-1,) + (1,) * (a.scatter.ndim - 1))
        if a.mean.ndim == 1:
            cross = delta**2
        else:
            cross = delta[:, :, None] * delta[:, None, :]
        return GaussianStats(n, mean, a.scatter + b.scatter + weight * cross)


def initial_data(runs: int, M: int, rng: np.random.Generator, mean: float = 0.0,
                 std: float = 1.0, exact: bool = False):
    """``D_0`` of §4.2: ``M`` draws of ``N(mean, std²)`` for each of ``runs`` runs, or with
    ``exact=True`` their sufficient statistics (drawn without the points)."""
    M = validate.integer("M", M, minimum=2)
    validate.generator("rng", rng)
    truth = params(mean, std, runs=runs)
    family = Gaussian()
    return family.sample_statistics(truth, M, rng) if exact else family.sample(truth, M, rng)
