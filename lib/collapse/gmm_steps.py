"""The E- and M-steps of scikit-learn's full-covariance Gaussian mixture, batched over
runs: the engines of :func:`collapse.gmm_em.fit` (paper §5.1, Figs 7 and 13).

The reference is scikit-learn 1.9.1, ``sklearn/mixture/_gaussian_mixture.py``:

- **M-step** (``_estimate_gaussian_parameters``): ``nk = Σ_i r_ik + 10 ε``,
  ``μ_k = Σ_i r_ik x_i / nk``, ``Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / nk + reg_covar I``;
  weights ``nk / Σ_k nk`` (``nk / n`` in the initialisation, as ``_initialize``).
- **Precision Cholesky** (``_compute_precision_cholesky``): ``U_k = (L_k⁻¹)ᵀ`` with
  ``L_k`` the lower Cholesky factor of ``Σ_k``; a covariance that has no Cholesky factor
  is "ill-defined" (``ok`` is False for it). From given precisions ``P_k``
  (``_compute_precision_cholesky_from_precisions``): ``U_k = J chol(J P_k J) J``.
- **E-step** (``_estimate_log_gaussian_prob``): ``y = x U_k − μ_k U_k``,
  ``log N = −½ (d log 2π + ‖y‖²) + Σ log diag U_k``, plus ``log w_k``; the log-sum-exp
  over components as sklearn's ``_logsumexp``; the lower bound ``mean_i log p(x_i)``.

:func:`engine` picks :class:`Plane` for ``d = 2`` (the paper's case, in fewer passes
over the data, 2×2 factors in closed form) and :class:`General` otherwise. An engine
holds the data of a pool of runs; ``keep`` and ``replace`` shrink or refill the pool.
"""

from __future__ import annotations

import math

import numpy as np

LOG_2PI = math.log(2 * math.pi)
EPS10 = 10 * np.finfo(np.float64).eps  # sklearn adds 10 ε to every nk


def engine(x, components):
    """The EM steps for the runs ``x (B, n, d)`` of a pool."""
    return Plane(x, components) if x.shape[2] == 2 else General(x)


def _cholesky_2x2(a, b, c):
    """Lower Cholesky factor ``[[l11, 0], [l21, l22]]`` of ``[[a, b], [b, c]]`` (LAPACK's
    recurrence) and where it exists: LAPACK's test (``a > 0``, ``c − l21² > 0``; NaN
    fails) and scipy's ``check_finite`` (sklearn raises on both)."""
    l11 = np.sqrt(a)
    l21 = b / l11
    rest = c - l21 * l21
    ok = (a > 0) & (rest > 0) & (a + c < np.inf)
    return l11, l21, np.sqrt(rest), ok


def precision_cholesky(cov):
    """``U = (L⁻¹)ᵀ`` with ``L Lᵀ = Σ`` for ``cov (B, K, d, d)``, and ``ok (B, K)``."""
    dim = cov.shape[-1]
    if dim == 2:
        l11, l21, l22, ok = _cholesky_2x2(cov[..., 0, 0], cov[..., 1, 0], cov[..., 1, 1])
        chol = np.empty_like(cov)
        # forward substitution L X = I, transposed: sklearn's solve_triangular(L, I).T
        u11 = np.divide(1.0, l11, out=chol[..., 0, 0])
        np.multiply(l21, u11, out=chol[..., 0, 1])
        chol[..., 0, 1] /= -l22  # −(l21 u11) / l22
        np.divide(1.0, l22, out=chol[..., 1, 1])
        chol[..., 1, 0] = 0.0
        return chol, ok
    ok = np.ones(cov.shape[:-2], dtype=bool)
    safe = cov.copy()
    try:
        lower = np.linalg.cholesky(safe)
    except np.linalg.LinAlgError:
        for index in np.ndindex(*cov.shape[:-2]):
            try:
                np.linalg.cholesky(cov[index])
            except np.linalg.LinAlgError:
                ok[index] = False
                safe[index] = np.eye(dim)
        lower = np.linalg.cholesky(safe)
    chol = np.swapaxes(np.linalg.solve(lower, np.broadcast_to(np.eye(dim), lower.shape)), -1, -2)
    chol[~ok] = np.nan
    return chol, ok


def precision_cholesky_from_precisions(precisions):
    """sklearn's ``_compute_precision_cholesky_from_precisions``: ``J chol(J P J) J``."""
    flipped = precisions[..., ::-1, ::-1]
    if precisions.shape[-1] == 2:
        l11, l21, l22, _ = _cholesky_2x2(flipped[..., 0, 0], flipped[..., 1, 0],
                                         flipped[..., 1, 1])
        lower = np.zeros_like(precisions)
        lower[..., 0, 0], lower[..., 1, 0], lower[..., 1, 1] = l11, l21, l22
    else:
        lower = np.linalg.cholesky(flipped)
    return np.ascontiguousarray(lower[..., ::-1, ::-1])


class General:
    """EM steps for any ``d`` and ``K`` on the active runs of a block: sklearn's matrix
    operations, batched with ``matmul``."""

    def __init__(self, x):
        self.x = x  # (B, n, d)
        self.xt = np.ascontiguousarray(np.swapaxes(x, 1, 2))  # (B, d, n)

    def keep(self, keep):
        self.x, self.xt = self.x[keep], self.xt[keep]

    def replace(self, slots, x):
        """Put the runs ``x`` into the pool's ``slots``."""
        self.x[slots] = x
        self.xt[slots] = np.swapaxes(x, 1, 2)

    def m_step(self, resp, reg_covar, n_divisor=None):
        """sklearn's ``_estimate_gaussian_parameters`` and ``_compute_precision_cholesky``
        for ``resp (B, K, n)``: weights, means, covariances, precision Cholesky factors
        and ``ok (B, K)``. Weights are ``nk / Σ nk`` (``_m_step``) or ``nk / n_divisor``
        (``_initialize``)."""
        nk = resp.sum(axis=2)
        nk += EPS10
        means = resp @ self.x  # (B, K, d)
        means /= nk[:, :, None]
        diff = self.xt[:, None, :, :] - means[:, :, :, None]  # (B, K, d, n)
        weighted = diff * resp[:, :, None, :]
        cov = weighted @ np.swapaxes(diff, -1, -2)  # (B, K, d, d)
        return _finish_m_step(nk, means, cov, reg_covar, n_divisor)

    def e_step(self, weights, means, chol):
        """sklearn's ``_e_step``: mean log-likelihood ``(B,)`` and responsibilities
        ``(B, K, n)`` (``exp(log_resp)``)."""
        y = self.x[:, None] @ chol  # (B, K, n, d)
        y -= means[:, :, None, :] @ chol
        log_prob = np.square(y, out=y).sum(axis=3)
        log_prob += self.x.shape[2] * LOG_2PI
        log_prob *= -0.5
        log_det = np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(axis=2)
        log_prob += log_det[..., None]
        log_prob += np.log(weights)[..., None]
        log_norm = _logsumexp(log_prob)  # (B, n)
        log_prob -= log_norm[:, None, :]
        return _mean_log_norm(log_norm), np.exp(log_prob, out=log_prob)


class Plane(General):
    """The same steps for ``d = 2``, in fewer passes over the data: the affine maps
    ``x U − μ U`` and ``x − μ`` of all components are one small ``matmul`` per run on
    ``[x₁; x₂; 1]`` (the latter exact), the quadratic forms and ``−½(2 log 2π + ‖y‖²) +
    log det + log w`` another, ``Σ_i r_ik [x_i, 1]`` (means and ``nk``) a third, the 2×2
    factors closed forms. Buffers (20 rows of ``n`` doubles per run) are reused across
    iterations. (Measured and dropped: ``√r (x − μ)`` to save a buffer, 20 % slower;
    contiguous squares without the row of ones, no faster.)"""

    def __init__(self, x, components):
        runs, n, _ = x.shape
        k = self.k = components
        self.xa = np.empty((runs, 3, n))  # [x₁; x₂; 1], the only copy of the data
        self.xa[:, :2] = np.swapaxes(x, 1, 2)
        self.xa[:, 2] = 1.0
        self.y = np.empty((runs, 2 * k + 1, n))  # y = x U_k − μ_k U_k for every k, ones
        self.y[:, 2 * k] = 1.0
        self.map = np.empty((runs, k, 2, 3))  # y_kj = [U_k[0, j], U_k[1, j], −(μ_k U_k)_j]
        self.mix = np.zeros((runs, k, 2 * k + 1))  # −½ on the two y² of k, constant last
        self.mix[:, np.arange(k), 2 * np.arange(k)] = -0.5
        self.mix[:, np.arange(k), 2 * np.arange(k) + 1] = -0.5
        self.centre = np.zeros((runs, k, 2, 3))  # x_j − μ_kj = [δ_0j, δ_1j, −μ_kj]
        self.centre[:, :, [0, 1], [0, 1]] = 1.0
        self.log_prob = np.empty((runs, k, n))
        self.diff = np.empty((runs, 2 * k, n))
        self.weighted = np.empty((runs, k, 2, n))
        self.top = np.empty((runs, n))
        self.norm = np.empty((runs, n))

    def keep(self, keep):
        self.xa = self.xa[keep]

    def replace(self, slots, x):
        self.xa[slots, :2] = np.swapaxes(x, 1, 2)

    def e_step(self, weights, means, chol):
        b, k = len(weights), self.k
        affine = self.map[:b]
        affine[..., :2] = np.swapaxes(chol, 2, 3)
        affine[..., 2] = -(means[:, :, None, :] @ chol)[:, :, 0]  # sklearn's mu @ prec_chol
        y = self.y[:b]
        squares = y[:, :2 * k]
        np.matmul(affine.reshape(b, 2 * k, 3), self.xa, out=squares)
        np.square(squares, out=squares)
        mix = self.mix[:b]
        log_det = np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(axis=2)
        mix[:, :, 2 * k] = -LOG_2PI + log_det + np.log(weights)
        log_prob = np.matmul(mix, y, out=self.log_prob[:b])  # (b, K, n)
        if k == 2:
            top = self.top[:b]
            log_norm = _logsumexp_two(log_prob, top, self.norm[:b])
            lower_bound = _mean_log_norm(log_norm, top)
        else:
            log_norm = _logsumexp(log_prob)
            lower_bound = _mean_log_norm(log_norm)
        log_prob -= log_norm[:, None, :]
        return lower_bound, np.exp(log_prob, out=log_prob)

    def m_step(self, resp, reg_covar, n_divisor=None):
        b, k, n = resp.shape
        sums = resp @ np.swapaxes(self.xa, 1, 2)  # (b, K, 3): Σ r x₁, Σ r x₂, Σ r
        nk = sums[:, :, 2] + EPS10
        means = sums[:, :, :2] / nk[:, :, None]
        centre = self.centre[:b]
        np.negative(means, out=centre[..., 2])
        diff = np.matmul(centre.reshape(b, 2 * k, 3), self.xa, out=self.diff[:b])  # exact
        diff = diff.reshape(b, k, 2, n)
        weighted = np.multiply(diff, resp[:, :, None, :], out=self.weighted[:b])
        cov = weighted @ np.swapaxes(diff, -1, -2)  # (b, K, 2, 2)
        return _finish_m_step(nk, means, cov, reg_covar, n_divisor)


def _finish_m_step(nk, means, cov, reg_covar, n_divisor):
    cov /= nk[:, :, None, None]
    np.einsum("...ii->...i", cov)[...] += reg_covar  # the diagonal, in place
    if n_divisor is None:
        weights = nk / nk.sum(axis=1, keepdims=True)
    else:
        weights = nk / n_divisor
    chol, ok = precision_cholesky(cov)
    return weights, means, cov, chol, ok


def _logsumexp_two(a, top, s):
    """:func:`_logsumexp` for ``K = 2`` into the buffers ``top``, ``s`` ``(B, n)``: one
    maximum gives ``log1p(exp(min − max)) + max``; two equal give ``log1p(1) + max``
    (sklearn: ``log(2) + max``, the same double)."""
    a0, a1 = a[:, 0], a[:, 1]
    np.maximum(a0, a1, out=top)
    np.minimum(a0, a1, out=s)
    s -= top  # NaN where both are −∞: see _mean_log_norm
    np.exp(s, out=s)
    np.log1p(s, out=s)
    s += top
    return s


def _mean_log_norm(log_norm, top=None):
    """sklearn's lower bound ``mean_i log p(x_i)``; where every component gave −∞,
    sklearn's log-sum-exp is −∞ and :func:`_logsumexp_two` gave NaN: repaired here."""
    total = log_norm.sum(axis=1)
    if top is not None and np.isnan(total).any():
        log_norm[top == -np.inf] = -np.inf
        total = log_norm.sum(axis=1)
    return total / log_norm.shape[1]


def _logsumexp(a):
    """sklearn's ``_logsumexp(a, axis=1)`` for ``a (B, K, n)``: ``max + log1p(Σ_others
    exp(a − max) / m) + log m`` with ``m`` the number of maxima."""
    if a.shape[1] == 1:
        return a[:, 0].copy()
    top = a.max(axis=1, keepdims=True)
    is_top = a == top
    others = np.where(is_top, -np.inf, a)
    count = is_top.sum(axis=1, keepdims=True, dtype=np.float64)
    shift = np.where(np.isfinite(top), top, 0)
    s = np.exp(others - shift).sum(axis=1, keepdims=True)
    s = np.where(s == 0, s, s / count)
    return (np.log1p(s) + np.log(count) + top)[:, 0]
