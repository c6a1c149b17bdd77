"""Distances between distributions used across the book: W2 between Gaussians (§4.2,
§4.3), the Gelbrich bound and exact 1-D W2 through quantile functions (§4.3), the L2
distance between Gaussian mixtures (§5.1), and the one Gaussian log-density."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from . import linalg, validate


def w2_squared_gaussian_1d(mean_a, std_a, mean_b, std_b):
    """Squared Wasserstein-2 distance between 1-D normals: ``(µa − µb)² + (σa − σb)²`` (§4.2)."""
    return (np.asarray(mean_a) - mean_b) ** 2 + (np.asarray(std_a) - std_b) ** 2


def w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b):
    """Squared W2 between N-D normals (the Gelbrich bound of §4.3 holds with equality):
    ``‖µa − µb‖² + Tr(Σa + Σb − 2 (Σa^{1/2} Σb Σa^{1/2})^{1/2})``; batched over leading axes."""
    mean_a, mean_b = np.asarray(mean_a, float), np.asarray(mean_b, float)
    cov_a, cov_b = np.asarray(cov_a, float), np.asarray(cov_b, float)
    root_a = linalg.psd_sqrt(cov_a)
    cross = linalg.psd_sqrt(root_a @ cov_b @ root_a)
    trace = np.trace(cov_a + cov_b - 2 * cross, axis1=-2, axis2=-1)
    return np.sum((mean_a - mean_b) ** 2, axis=-1) + trace


def gaussian_log_density(centred, factor):
    """``log N(x; m, C)`` from the centred points ``x − m`` (``(..., d)``) and the Cholesky
    factor ``L`` of ``C = L Lᵀ`` (``(..., d, d)``, broadcast against the points):
    ``−½ (‖L⁻¹(x − m)‖² + log det C + d log 2π)``."""
    centred, factor = np.asarray(centred, dtype=float), np.asarray(factor, dtype=float)
    solved = np.linalg.solve(factor, centred[..., None])[..., 0]
    log_det = 2 * np.log(np.abs(np.diagonal(factor, axis1=-2, axis2=-1))).sum(-1)
    d = centred.shape[-1]
    return -0.5 * ((solved**2).sum(-1) + log_det + d * np.log(2 * np.pi))


def _gmm_overlap(weights_a, means_a, covs_a, weights_b, means_b, covs_b):
    """``∫ f_a f_b dx = Σ_ij wa_i wb_j N(ma_i − mb_j; 0, Ca_i + Cb_j)`` over component pairs."""
    total = covs_a[..., :, None, :, :] + covs_b[..., None, :, :, :]  # (..., K, L, d, d)
    gap = means_a[..., :, None, :] - means_b[..., None, :, :]  # (..., K, L, d)
    log_density = gaussian_log_density(gap, np.linalg.cholesky(total))
    pair_weights = weights_a[..., :, None] * weights_b[..., None, :]
    return (pair_weights * np.exp(log_density)).sum(axis=(-2, -1))


def l2_squared_gmm(weights_a, means_a, covs_a, weights_b, means_b, covs_b):
    """Squared L2 distance ``∫ (f_a − f_b)² dx`` between Gaussian mixtures, in closed form
    (§5.1, Fig 13): ``⟨f_a, f_a⟩ + ⟨f_b, f_b⟩ − 2 ⟨f_a, f_b⟩`` with ``⟨f, g⟩`` a sum of
    Gaussian densities over component pairs. Shapes ``(..., K)``, ``(..., K, d)``,
    ``(..., K, d, d)`` (the two mixtures may have different K); batched over ``...``.
    Rounding can leave a tiny negative number for equal mixtures; it is clipped to 0."""
    a = [np.asarray(x, dtype=float) for x in (weights_a, means_a, covs_a)]
    b = [np.asarray(x, dtype=float) for x in (weights_b, means_b, covs_b)]
    squared = _gmm_overlap(*a, *a) + _gmm_overlap(*b, *b) - 2 * _gmm_overlap(*a, *b)
    return np.maximum(squared, 0.0)


# ------------------------------------------- §4.3: Gelbrich bound, exact W2 in 1-D


def gelbrich_bound(mean_a, cov_a, mean_b, cov_b):
    """§4.3 (Gelbrich 1990): ``W2² ≥ ‖µa − µb‖² + Tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½)``,
    equal for Gaussians. 1-D inputs: means ``(…,)`` and variances ``(…,)``."""
    mean_a, mean_b = np.asarray(mean_a, float), np.asarray(mean_b, float)
    cov_a, cov_b = np.asarray(cov_a, float), np.asarray(cov_b, float)
    if not (cov_a.ndim >= 2 and cov_a.ndim == mean_a.ndim + 1):  # 1-D: variances
        return (mean_a - mean_b) ** 2 + (np.sqrt(cov_a) - np.sqrt(cov_b)) ** 2
    return w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b)


def w2_squared_to(mean, cov):
    """``f(means, covs) -> W2²`` to one fixed Gaussian ``N(mean, cov)``, batched over runs.

    Same value as :func:`w2_squared_gaussian` with the fixed law first,
    but its square root ``S = cov^½`` is computed once and only the eigenvalues of
    ``S Σ_g S`` are needed per call: ``Tr (S Σ_g S)^½ = Σ √λ``.
    """
    mean, cov = np.asarray(mean, dtype=float), np.asarray(cov, dtype=float)
    root = linalg.psd_sqrt(cov)
    trace = np.trace(cov)

    def distance(means, covs):
        eigenvalues = np.linalg.eigvalsh(root @ covs @ root)
        cross = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)), axis=-1)
        bures = trace + np.trace(covs, axis1=-2, axis2=-1) - 2 * cross
        return np.sum((means - mean) ** 2, axis=-1) + bures

    return distance


def w2_squared_empirical_normal(samples, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Exact ``W2²`` between the empirical measure of ``samples`` (``(runs, n)``) and
    ``N(mean, std²)`` in 1-D, through quantile functions: the j-th order statistic is
    transported onto the normal's mass in ``((j−1)/n, j/n]``."""
    samples = np.sort(np.asarray(samples, dtype=float), axis=-1)
    validate.real("std", std, low=0.0)
    n = samples.shape[-1]
    z = ndtri(np.arange(n + 1) / n)  # −inf … +inf
    density = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    zd = np.where(np.isfinite(z), z, 0.0) * density  # z φ(z) → 0 in the tails
    first = -np.diff(density)  # ∫ Φ⁻¹(u) du over each cell
    second = np.diff(ndtr(z) - zd)  # ∫ Φ⁻¹(u)² du over each cell
    quantile_first = mean / n + std * first
    quantile_second = mean**2 / n + 2 * mean * std * first + std**2 * second
    return np.sum(samples**2 / n - 2 * samples * quantile_first + quantile_second, axis=-1)


def w2_squared_quantiles(quantile_a, quantile_b, points: int = 200_000) -> float:
    """``W2² = ∫₀¹ (F_a⁻¹(u) − F_b⁻¹(u))² du`` in 1-D (midpoint rule on ``points`` cells)."""
    points = validate.integer("points", points, minimum=10)
    u = (np.arange(points) + 0.5) / points
    return float(np.mean((quantile_a(u) - quantile_b(u)) ** 2))


def mixture_quantile(means, stds, weights, grid: int = 400_001):
    """The quantile function of a 1-D Gaussian mixture (CDF inverted on a dense grid)."""
    means, stds, weights = (np.asarray(v, dtype=float) for v in (means, stds, weights))
    if np.any(stds <= 0) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError("mixture needs stds > 0 and non-negative weights summing to 1")
    low, high = np.min(means - 12 * stds), np.max(means + 12 * stds)
    x = np.linspace(low, high, grid)
    cdf = np.sum(weights * ndtr((x[:, None] - means) / stds), axis=1)
    return lambda u: np.interp(u, cdf, x)
