"""Gaussian-mixture EM vectorised over independent runs (paper §5.1, Figs 7 and 13).

The paper's GMM experiment refits ``GaussianMixture(2, covariance_type="full",
tol=1e-5, max_iter=2000)`` on 1,000 points every generation, for many chains. A
scikit-learn fit spends most of its time in Python overhead around small arrays, one
run at a time. :func:`fit` runs the *same estimator* on ``R`` runs at once with numpy:
every EM step is a handful of array operations on ``(runs, components, n)`` arrays.

The reference is scikit-learn 1.9.1, ``sklearn/mixture/_base.py`` (``BaseMixture.fit_predict``)
and ``sklearn/mixture/_gaussian_mixture.py``; three modules mirror it step by step:

- **Loop** (``fit_predict``, here): for ``n_iter = 1 … max_iter``: E-step, M-step,
  ``lower_bound = mean_i log p(x_i)`` (evaluated at the parameters *before* this
  M-step), stop when ``|lower_bound − previous| < tol`` (the first iteration compares
  with −∞, so it never stops there). The returned parameters are those of the last
  M-step; ``n_iter`` and ``converged`` are sklearn's ``n_iter_`` and ``converged_``.
  A covariance without a Cholesky factor is "ill-defined" (sklearn raises; see
  ``errors`` of :func:`fit`).
- **E- and M-steps**, precision Cholesky factors: :mod:`collapse.gmm_steps`.
- **Default start** (``init_params="kmeans"``, ``_initialize_parameters``): one k-means
  (:mod:`collapse.kmeans`: k-means++ seeding, then Lloyd iterations with KMeans'
  tolerance ``1e-4 × mean per-feature variance``, ``max_iter=300``, ``n_init=1``), its
  hard labels as one-hot responsibilities, then one M-step.

Floating point: the operations are sklearn's, in sklearn's order where it matters
(``x U − μ U`` rather than ``(x − μ) U``, the two-pass covariance, the log-sum-exp), but
sums and 2×2 factors are computed by numpy and closed forms instead of sklearn's BLAS and
LAPACK calls, so results agree to rounding, not bit for bit. Measured on 200 data sets
of the paper's size (``tests/test_gmm_em.py``): the same ``n_iter`` and ``converged``
everywhere, parameters within 1e-14 relative (4e-10 for nearly singular clusters, whose
precision factors are ill-conditioned). Both fits carry rounding errors of about
``1e-16 × (distance from the origin / spread)`` relative in ``x U − μ U``, so for data
that sit 1e8 spreads away from the origin they agree only to about 1e-7.

Runs are independent: a run's result does not depend on the other runs of the batch
(bit for bit). EM runs on a pool of ``block`` runs; a run that has converged leaves the
pool (its parameters are final) and a waiting run takes its place, so the pool stays
full until the last runs, and converged runs cost nothing. The pool is small on purpose:
its working arrays (20 rows of ``n`` doubles per run for ``d = 2``) should stay in the
CPU caches; ``block`` changes the speed, never the results.

Randomness (the k-means++ seeding only) comes from explicit generators: ``rng`` is
either one ``numpy.random.Generator`` for the batch (run ``r``'s start then depends on
its position in the batch) or a sequence of ``R`` generators, one per run (run ``r``
draws from ``rng[r]`` alone, so a batched fit equals ``R`` single-run fits); see
:mod:`collapse.kmeans`. Given sklearn's uniforms (:func:`kmeans` ``uniforms=``) the
start is sklearn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gmm_steps, validate
from .kmeans import (  # noqa: F401  (KMeans, kmeans: also gmm_em.kmeans, as before the split)
    BLOCK,
    KMeans,
    check_data,
    check_rng,
    draw_uniforms,
    draws,
    kmeans,
    kmeans_block,
)

__all__ = ["ERRORS", "Fit", "IllDefinedCovariance", "KMeans", "Start", "fit", "kmeans",
           "one_hot"]

ERRORS = ("raise", "flag")
# sklearn's message (``_compute_precision_cholesky``), with the runs named
ILL_DEFINED = ("Fitting the mixture model failed because some components have ill-defined "
               "empirical covariance (for instance caused by singleton or collapsed "
               "samples). Try to decrease the number of components, increase reg_covar, "
               "or scale the input data.")


@dataclass(frozen=True)
class Start:
    """A given start, as sklearn's ``weights_init (R, K)``, ``means_init (R, K, d)`` and
    ``precisions_init (R, K, d, d)`` (one row per run); a part left ``None`` comes from
    the k-means start, as in sklearn."""

    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    precisions: np.ndarray | None = None


@dataclass(frozen=True)
class Fit:
    """The fitted mixtures of ``R`` runs (sklearn's attributes, one row per run).

    ``weights (R, K)``, ``means (R, K, d)``, ``covariances (R, K, d, d)``,
    ``precisions_cholesky (R, K, d, d)`` (upper triangular, ``U Uᵀ = Σ⁻¹``),
    ``n_iter (R,)`` (``n_iter_``), ``converged (R,)`` (``converged_``), ``lower_bound
    (R,)`` (``lower_bound_``: the mean log-likelihood at the last E-step) and
    ``ill_defined (R,)``: runs stopped by an ill-defined covariance (only with
    ``errors="flag"``; their parameters are NaN).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    lower_bound: np.ndarray
    ill_defined: np.ndarray

    @property
    def runs(self) -> int:
        return self.weights.shape[0]



class IllDefinedCovariance(ValueError):
    """sklearn's ``ValueError`` for a covariance without a Cholesky factor; ``runs``
    lists the runs (indices into the batch) where it happened and ``iterations`` the EM
    iteration of each (0: the start's M-step)."""

    def __init__(self, runs, iterations):
        self.runs = [int(r) for r in runs]
        self.iterations = [int(i) for i in iterations]
        shown = ", ".join(f"{r} (iteration {i})" for r, i in
                          zip(self.runs[:10], self.iterations[:10], strict=True))
        more = " …" if len(self.runs) > 10 else ""
        super().__init__(f"{ILL_DEFINED} Run(s) {shown}{more} of the batch; "
                         f"errors='flag' returns the other runs.")


# ----------------------------------------------------------------------------- checks



# ----------------------------------------------------------------------------- checks


def _check_start(start: Start, runs: int, components: int, dim: int) -> Start:
    weights = means = precisions = None
    if start.weights is not None:
        weights = np.asarray(start.weights, dtype=np.float64)
        if weights.shape != (runs, components):
            raise ValueError(f"init.weights must have shape (runs, K) = {(runs, components)}, "
                             f"got {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any() or (weights > 1).any():
            raise ValueError("init.weights must be in [0, 1]")
        if (np.abs(1.0 - weights.sum(axis=1)) > 1e-8).any():  # sklearn's tolerance
            raise ValueError("init.weights must sum to 1 in every run (within 1e-8)")
    if start.means is not None:
        means = np.asarray(start.means, dtype=np.float64)
        if means.shape != (runs, components, dim):
            raise ValueError(f"init.means must have shape (runs, K, d) = "
                             f"{(runs, components, dim)}, got {means.shape}")
        if not np.isfinite(means).all():
            raise ValueError("init.means must be finite")
    if start.precisions is not None:
        precisions = np.asarray(start.precisions, dtype=np.float64)
        shape = (runs, components, dim, dim)
        if precisions.shape != shape:
            raise ValueError(f"init.precisions must have shape (runs, K, d, d) = {shape}, "
                             f"got {precisions.shape}")
        if not np.isfinite(precisions).all():
            raise ValueError("init.precisions must be finite")
        symmetric = np.isclose(precisions, np.swapaxes(precisions, -1, -2)).all()
        if not symmetric or np.linalg.eigvalsh(precisions).min() <= 0:
            raise ValueError("init.precisions must be symmetric, positive-definite")
    return Start(weights, means, precisions)


def _check_responsibilities(resp, runs: int, n: int, components: int) -> np.ndarray:
    resp = np.asarray(resp, dtype=np.float64)
    if resp.shape != (runs, n, components):
        raise ValueError(f"init (responsibilities) must have shape (runs, n, K) = "
                         f"{(runs, n, components)}, got {resp.shape}")
    if not np.isfinite(resp).all() or (resp < 0).any():
        raise ValueError("init (responsibilities) must be finite and non-negative")
    return resp


# ------------------------------------------------------------------ the public entry


def fit(data, components: int, *, tol: float = 1e-5, max_iter: int = 2000,
        reg_covar: float = 1e-6, init="kmeans", rng=None, errors: str = "raise",
        block: int = BLOCK) -> Fit:
    """EM fit of a ``components``-Gaussian, full-covariance mixture to every run's data.

    The estimator is scikit-learn's ``GaussianMixture(components, covariance_type="full",
    tol=tol, max_iter=max_iter, reg_covar=reg_covar, n_init=1)``, the authors' model of
    the paper's §5.1 (Figs 7 and 13); see the module docstring for the steps mirrored.

    Parameters
    ----------
    data : ``(R, n, d)`` array, ``R`` independent runs of ``n ≥ max(2, K)`` points.
    components : ``K ≥ 1``.
    tol, max_iter, reg_covar : as sklearn (``tol ≥ 0``, ``max_iter ≥ 1``, ``reg_covar ≥ 0``).
    init : ``"kmeans"`` (default, sklearn's ``init_params="kmeans"``; needs ``rng``), an
        ``(R, n, K)`` array of responsibilities (the start's M-step is run on them, as
        ``_initialize``), or a :class:`Start` (sklearn's ``weights_init``/``means_init``/
        ``precisions_init``; parts left ``None`` come from the k-means start).
    rng : a ``numpy.random.Generator`` for the batch or a sequence of one per run
        (k-means++ seeding only; see the module docstring).
    errors : what a covariance without a Cholesky factor does (sklearn raises
        ``ValueError``): ``"raise"`` raises :class:`IllDefinedCovariance` (a
        ``ValueError`` naming the runs) at the first EM iteration where a run of the
        batch hits it; ``"flag"`` stops only those runs, sets their parameters to NaN and
        marks them in ``Fit.ill_defined``, and fits the others.
    block : runs iterated together (a speed setting; results do not depend on it).
    """
    components = validate.integer("components", components, minimum=1)
    data = check_data(data, components)
    tol = validate.real("tol", tol, low=0.0)
    max_iter = validate.integer("max_iter", max_iter, minimum=1)
    reg_covar = validate.real("reg_covar", reg_covar, low=0.0)
    validate.choice("errors", errors, ERRORS)
    block = validate.integer("block", block, minimum=1)
    runs, n, dim = data.shape

    resp = start = None
    if isinstance(init, str):
        validate.choice("init", init, ("kmeans",))
    elif isinstance(init, Start):
        start = _check_start(init, runs, components, dim)
    else:
        resp = _check_responsibilities(init, runs, n, components)
    complete = start is not None and all(
        x is not None for x in (start.weights, start.means, start.precisions))
    uniforms = None
    if resp is None and not complete:  # sklearn's k-means start, drawn for all runs now
        uniforms = draw_uniforms(check_rng(rng, runs), runs, draws(components))

    out = _Output(runs, components, dim)
    # NaN and ±∞ of failed factors are flagged (``ok``), not warned about
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        _fit_blocks(data, components, resp, uniforms, start, tol, max_iter, reg_covar,
                    errors, block, out)
    return out.result()


def _fit_blocks(data, components, resp, uniforms, start, tol, max_iter, reg_covar, errors,
                block, out):
    """The starts block by block, then EM on a pool of ``block`` runs, refilled from the
    remaining runs as runs finish (so the pool stays full and the per-iteration cost of
    numpy calls is shared by ``block`` runs until the last ones)."""
    runs, n, dim = data.shape
    weights = np.empty((runs, components))
    means = np.empty((runs, components, dim))
    chol = np.empty((runs, components, dim, dim))
    ok = np.ones(runs, dtype=bool)
    ids = np.arange(components)[:, None]
    for lo in range(0, runs, block):
        rows = slice(lo, lo + block)
        x = data[rows]
        if uniforms is not None:
            labels = kmeans_block(x, components, uniforms[rows], None, 1e-4, 300)[0]
            block_resp = (labels[:, None, :] == ids).astype(np.float64)  # (B, K, n)
        elif resp is not None:
            block_resp = np.ascontiguousarray(np.swapaxes(resp[rows], 1, 2))
        else:
            block_resp = None
        if block_resp is not None:  # sklearn's _initialize: an M-step, weights nk / n
            engine = gmm_steps.engine(x, components)
            weights[rows], means[rows], _, chol[rows], good = engine.m_step(
                block_resp, reg_covar, n_divisor=n)
            ok[rows] = good.all(axis=1)
        if start is not None:
            if start.weights is not None:
                weights[rows] = start.weights[rows]
            if start.means is not None:
                means[rows] = start.means[rows]
            if start.precisions is not None:
                chol[rows] = gmm_steps.precision_cholesky_from_precisions(start.precisions[rows])
                ok[rows] = True
    if not ok.all():
        bad = np.flatnonzero(~ok)
        if errors == "raise":
            raise IllDefinedCovariance(bad, np.zeros(len(bad)))
        out.fail(bad, 0, -np.inf)
    _em(data, np.flatnonzero(ok), weights, means, chol, tol, max_iter, reg_covar, errors,
        block, out)


def _em(data, queue, weights, means, chol, tol, max_iter, reg_covar, errors, block, out):
    """sklearn's EM loop (``fit_predict``) for the runs ``queue`` from the given starts,
    ``block`` runs at a time; finished runs are replaced by waiting ones."""
    if not len(queue):
        return
    weights_start, means_start, chol_start = weights, means, chol
    active = queue[:block].copy()  # the run in each slot of the pool
    waiting = queue[block:]
    engine = gmm_steps.engine(data[active], weights.shape[1])
    weights, means, chol = weights[active], means[active], chol[active]
    lower_bound = np.full(len(active), -np.inf)
    iteration = np.zeros(len(active), dtype=np.int64)
    while len(active):
        previous = lower_bound
        lower_bound, resp = engine.e_step(weights, means, chol)
        weights, means, cov, chol, good = engine.m_step(resp, reg_covar)
        iteration += 1
        converged = np.abs(lower_bound - previous) < tol
        good = good.all(axis=1)
        done = converged | (iteration == max_iter) | ~good
        if not done.any():
            continue
        if not good.all():
            if errors == "raise":
                raise IllDefinedCovariance(active[~good], iteration[~good])
            out.fail(active[~good], iteration[~good], lower_bound[~good])
        finished = done & good
        out.store(active[finished], weights[finished], means[finished], cov[finished],
                  chol[finished], iteration[finished], converged[finished],
                  lower_bound[finished])
        slots = np.flatnonzero(done)
        refill, slots = slots[:len(waiting)], slots[len(waiting):]
        if len(refill):  # waiting runs take the finished runs' slots
            new, waiting = waiting[:len(refill)], waiting[len(refill):]
            engine.replace(refill, data[new])
            weights[refill], means[refill], chol[refill] = (weights_start[new],
                                                            means_start[new], chol_start[new])
            lower_bound[refill], iteration[refill], active[refill] = -np.inf, 0, new
        if len(slots):  # nothing left to wait for: the pool shrinks
            keep = np.ones(len(active), dtype=bool)
            keep[slots] = False
            engine.keep(keep)
            weights, means, chol = weights[keep], means[keep], chol[keep]
            active, lower_bound, iteration = active[keep], lower_bound[keep], iteration[keep]


def one_hot(labels, components: int) -> np.ndarray:
    """Hard labels ``(R, n)`` as responsibilities ``(R, n, K)`` (sklearn's k-means start)."""
    labels = np.asarray(labels)
    return (labels[..., None] == np.arange(components)).astype(np.float64)



# ------------------------------------------------------------------------------ EM


# ------------------------------------------------------------------------------ EM


class _Output:
    def __init__(self, runs, components, dim):
        nan = np.nan
        self.weights = np.full((runs, components), nan)
        self.means = np.full((runs, components, dim), nan)
        self.covariances = np.full((runs, components, dim, dim), nan)
        self.precisions_cholesky = np.full((runs, components, dim, dim), nan)
        self.n_iter = np.zeros(runs, dtype=np.int64)
        self.converged = np.zeros(runs, dtype=bool)
        self.lower_bound = np.full(runs, -np.inf)
        self.ill_defined = np.zeros(runs, dtype=bool)

    def store(self, rows, weights, means, covariances, chol, n_iter, converged, lower_bound):
        self.weights[rows] = weights
        self.means[rows] = means
        self.covariances[rows] = covariances
        self.precisions_cholesky[rows] = chol
        self.n_iter[rows] = n_iter
        self.converged[rows] = converged
        self.lower_bound[rows] = lower_bound

    def fail(self, rows, n_iter, lower_bound):
        self.n_iter[rows] = n_iter
        self.lower_bound[rows] = lower_bound
        self.ill_defined[rows] = True

    def result(self) -> Fit:
        return Fit(self.weights, self.means, self.covariances, self.precisions_cholesky,
                   self.n_iter, self.converged, self.lower_bound, self.ill_defined)
