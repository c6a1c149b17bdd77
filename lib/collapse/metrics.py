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
