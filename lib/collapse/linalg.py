"""Square roots of covariance matrices, batched over leading axes.

A collapsing model ends with singular covariances, so every helper here tolerates
positive *semi*-definite input.
"""

from __future__ import annotations

import numpy as np


def eigen_factor(cov: np.ndarray) -> np.ndarray:
    """``L = V diag(√λ)`` with ``L Lᵀ = cov`` (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]


def cholesky_factor(cov: np.ndarray) -> np.ndarray:
    """Any ``L`` with ``L Lᵀ = cov``: Cholesky (about ten times faster than an
    eigendecomposition for a batch of small matrices), or :func:`eigen_factor` when a
    covariance in the batch is singular."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return eigen_factor(cov)


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root ``S = cov^½`` (``S = Sᵀ``, ``S S = cov``)."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(v, -1, -2)
