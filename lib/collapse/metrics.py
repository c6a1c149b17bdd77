"""Distances between distributions used across the book."""

from __future__ import annotations

import numpy as np


def w2_squared_gaussian_1d(mean_a, std_a, mean_b, std_b):
    """Squared Wasserstein-2 distance between 1-D normals: ``(µa − µb)² + (σa − σb)²`` (§4.2)."""
    return (np.asarray(mean_a) - mean_b) ** 2 + (np.asarray(std_a) - std_b) ** 2


def _psd_sqrt(matrix):
    w, v = np.linalg.eigh(matrix)
    return (v * np.sqrt(np.clip(w, 0, None))[..., None, :]) @ np.swapaxes(v, -1, -2)


def w2_squared_gaussian(mean_a, cov_a, mean_b, cov_b):
    """Squared W2 between N-D normals (the Gelbrich bound of §4.3 holds with equality):
    ``‖µa − µb‖² + Tr(Σa + Σb − 2 (Σa^{1/2} Σb Σa^{1/2})^{1/2})``; batched over leading axes."""
    mean_a, mean_b = np.asarray(mean_a, float), np.asarray(mean_b, float)
    cov_a, cov_b = np.asarray(cov_a, float), np.asarray(cov_b, float)
    root_a = _psd_sqrt(cov_a)
    cross = _psd_sqrt(root_a @ cov_b @ root_a)
    trace = np.trace(cov_a + cov_b - 2 * cross, axis1=-2, axis2=-1)
    return np.sum((mean_a - mean_b) ** 2, axis=-1) + trace


def _gmm_overlap(weights_a, means_a, covs_a, weights_b, means_b, covs_b):
    """``∫ f_a f_b dx = Σ_ij wa_i wb_j N(ma_i − mb_j; 0, Ca_i + Cb_j)`` over component pairs."""
    total = covs_a[..., :, None, :, :] + covs_b[..., None, :, :, :]  # (..., K, L, d, d)
    gap = means_a[..., :, None, :] - means_b[..., None, :, :]  # (..., K, L, d)
    factor = np.linalg.cholesky(total)
    solved = np.linalg.solve(factor, gap[..., None])[..., 0]
    log_det = 2 * np.log(np.diagonal(factor, axis1=-2, axis2=-1)).sum(-1)
    d = gap.shape[-1]
    log_density = -0.5 * ((solved**2).sum(-1) + log_det + d * np.log(2 * np.pi))
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
