"""Square roots of covariance matrices and Wishart draws, batched over leading axes.

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


def wishart_factor(root: np.ndarray, dof, rng: np.random.Generator) -> np.ndarray:
    """``F`` with ``F Fᵀ ~ Wishart(root rootᵀ, dof)`` for every matrix of the batch ``root``
    ``(runs, d, d)``, by the Bartlett decomposition: ``Wishart(I, ν) = A Aᵀ`` with ``A``
    lower triangular, ``A_ii² ~ χ²_{ν−i}`` and ``A_ij ~ N(0, 1)`` below the diagonal.
    For ``dof < d`` (a rank-deficient scatter) the missing columns of ``A`` are zero."""
    runs, d = root.shape[0], root.shape[-1]
    dof = dof - np.arange(d)
    bartlett = np.tril(rng.standard_normal((runs, d, d)), k=-1)
    diagonal = np.sqrt(rng.chisquare(np.maximum(dof, 1), (runs, d)) * (dof > 0))
    bartlett[:, np.arange(d), np.arange(d)] = diagonal
    bartlett[:, :, dof <= 0] = 0.0
    return root @ bartlett
