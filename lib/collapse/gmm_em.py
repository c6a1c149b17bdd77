"""Gaussian-mixture EM vectorised over independent runs (paper §5.1, Figs 7 and 13).

The paper's GMM experiment refits ``GaussianMixture(2, covariance_type="full",
tol=1e-5, max_iter=2000)`` on 1,000 points every generation, for many chains. A
scikit-learn fit spends most of its time in Python overhead around small arrays, one
run at a time. :func:`fit` runs the *same estimator* on ``R`` runs at once with numpy:
every EM step is a handful of array operations on ``(runs, components, n)`` arrays.

The reference is scikit-learn 1.9.1, ``sklearn/mixture/_base.py`` (``BaseMixture.fit_predict``)
and ``sklearn/mixture/_gaussian_mixture.py``; this module mirrors it step by step:

- **M-step** (``_estimate_gaussian_parameters``): ``nk = Σ_i r_ik + 10 ε``,
  ``μ_k = Σ_i r_ik x_i / nk``, ``Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / nk + reg_covar I``;
  weights ``nk / Σ_k nk`` (``nk / n`` in the initialisation, as ``_initialize``).
- **Precision Cholesky** (``_compute_precision_cholesky``): ``U_k = (L_k⁻¹)ᵀ`` with
  ``L_k`` the lower Cholesky factor of ``Σ_k``; a covariance that has no Cholesky factor
  is "ill-defined" (sklearn raises; see ``errors`` below). From given precisions ``P_k``
  (``_compute_precision_cholesky_from_precisions``): ``U_k = J chol(J P_k J) J``.
- **E-step** (``_estimate_log_gaussian_prob``): ``y = x U_k − μ_k U_k``,
  ``log N = −½ (d log 2π + ‖y‖²) + Σ log diag U_k``, plus ``log w_k``; the log-sum-exp
  over components as sklearn's ``_logsumexp``.
- **Loop** (``fit_predict``): for ``n_iter = 1 … max_iter``: E-step, M-step,
  ``lower_bound = mean_i log p(x_i)`` (evaluated at the parameters *before* this
  M-step), stop when ``|lower_bound − previous| < tol`` (the first iteration compares
  with −∞, so it never stops there). The returned parameters are those of the last
  M-step; ``n_iter`` and ``converged`` are sklearn's ``n_iter_`` and ``converged_``.
- **Default start** (``init_params="kmeans"``, ``_initialize_parameters``): one k-means
  (:func:`kmeans`: k-means++ seeding as ``sklearn.cluster._kmeans._kmeans_plusplus`` with
  ``2 + int(log K)`` local trials, then Lloyd iterations with KMeans' tolerance
  ``1e-4 × mean per-feature variance``, ``max_iter=300``, ``n_init=1``), its hard labels
  as one-hot responsibilities, then one M-step.

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
either one ``numpy.random.Generator`` for the batch (one draw of shape ``(R, m)``: run
``r`` takes row ``r``, so its start depends on its position in the batch) or a sequence
of ``R`` generators, one per run (run ``r`` draws from ``rng[r]`` alone, so a batched
fit equals ``R`` single-run fits). Each run consumes ``1 + (K − 1)(2 + int(log K))``
uniforms, exactly as many as sklearn draws from its ``RandomState``; given sklearn's
uniforms (:func:`kmeans` ``uniforms=``) the start is sklearn's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import validate

LOG_2PI = math.log(2 * math.pi)
EPS10 = 10 * np.finfo(np.float64).eps  # sklearn adds 10 ε to every nk
ERRORS = ("raise", "flag")
# sklearn's message (``_compute_precision_cholesky``), with the runs named
ILL_DEFINED = ("Fitting the mixture model failed because some components have ill-defined "
               "empirical covariance (for instance caused by singleton or collapsed "
               "samples). Try to decrease the number of components, increase reg_covar, "
               "or scale the input data.")
BLOCK = 32  # runs iterated together (measured best on a 2-core machine with 1 MB L2 per core)


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


@dataclass(frozen=True)
class KMeans:
    """One k-means per run: ``labels (R, n)``, ``centers (R, K, d)``, ``n_iter (R,)``
    (sklearn's ``labels_``, ``cluster_centers_``, ``n_iter_``) and the k-means++ seeds
    ``initial_centers (R, K, d)``."""

    labels: np.ndarray
    centers: np.ndarray
    n_iter: np.ndarray
    initial_centers: np.ndarray


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


def _check_data(data, components: int) -> np.ndarray:
    try:
        data = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"data must be a numeric array (runs, n, d): {error}") from None
    if data.ndim != 3 or 0 in data.shape:
        raise ValueError(f"data must be a non-empty array (runs, n, d), got shape {data.shape}")
    validate.integer("data.shape[1] (points per run)", data.shape[1],
                     minimum=max(2, components))
    if not np.isfinite(data).all():
        bad = np.flatnonzero(~np.isfinite(data).all(axis=(1, 2)))
        raise ValueError(f"data must be finite; run(s) {bad[:10].tolist()} hold NaN or inf")
    return np.ascontiguousarray(data)


def _check_rng(rng, runs: int):
    """A generator for the batch, or one per run."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Sequence) and not isinstance(rng, str):
        if len(rng) != runs:
            raise ValueError(f"rng must be one Generator or a sequence of one Generator per "
                             f"run ({runs}), got a sequence of {len(rng)}")
        for r, g in enumerate(rng):
            validate.generator(f"rng[{r}]", g)
        return list(rng)
    if rng is None:
        raise TypeError("rng is required for init='kmeans' (the k-means++ seeding): a "
                        "numpy.random.Generator, or a sequence of one per run")
    return validate.generator("rng", rng)


def _uniforms(rng, runs: int, count: int) -> np.ndarray:
    if isinstance(rng, np.random.Generator):
        return rng.random((runs, count))
    return np.stack([g.random(count) for g in rng])


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
    data = _check_data(data, components)
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
        uniforms = _uniforms(_check_rng(rng, runs), runs, _draws(components))

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
            labels = _kmeans_block(x, components, uniforms[rows], None, 1e-4, 300)[0]
            block_resp = (labels[:, None, :] == ids).astype(np.float64)  # (B, K, n)
        elif resp is not None:
            block_resp = np.ascontiguousarray(np.swapaxes(resp[rows], 1, 2))
        else:
            block_resp = None
        if block_resp is not None:  # sklearn's _initialize: an M-step, weights nk / n
            engine = _engine(x, components)
            weights[rows], means[rows], _, chol[rows], good = engine.m_step(
                block_resp, reg_covar, n_divisor=n)
            ok[rows] = good.all(axis=1)
        if start is not None:
            if start.weights is not None:
                weights[rows] = start.weights[rows]
            if start.means is not None:
                means[rows] = start.means[rows]
            if start.precisions is not None:
                chol[rows] = _precision_cholesky_from_precisions(start.precisions[rows])
                ok[rows] = True
    if not ok.all():
        bad = np.flatnonzero(~ok)
        if errors == "raise":
            raise IllDefinedCovariance(bad, np.zeros(len(bad)))
        out.fail(bad, 0, -np.inf)
    _em(data, np.flatnonzero(ok), weights, means, chol, tol, max_iter, reg_covar, errors,
        block, out)


def _engine(x, components):
    return _Plane(x, components) if x.shape[2] == 2 else _General(x)


def _em(data, queue, weights, means, chol, tol, max_iter, reg_covar, errors, block, out):
    """sklearn's EM loop (``fit_predict``) for the runs ``queue`` from the given starts,
    ``block`` runs at a time; finished runs are replaced by waiting ones."""
    if not len(queue):
        return
    weights_start, means_start, chol_start = weights, means, chol
    active = queue[:block].copy()  # the run in each slot of the pool
    waiting = queue[block:]
    engine = _engine(data[active], weights.shape[1])
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


# ---------------------------------------------------------------------------- k-means


def kmeans(data, clusters: int, *, rng=None, uniforms=None, centers=None, tol: float = 1e-4,
           max_iter: int = 300, block: int = BLOCK) -> KMeans:
    """k-means of every run, as sklearn's ``KMeans(clusters, n_init=1, tol, max_iter)``
    (Lloyd): the start of ``GaussianMixture(init_params="kmeans")``.

    The centers start from ``centers (R, K, d)`` if given, else from k-means++ seeding
    (``_kmeans_plusplus``: the first center uniformly among the points, each next one
    the best of ``2 + int(log K)`` candidates drawn with probability ∝ squared distance)
    driven by ``uniforms (R, 1 + (K − 1)(2 + int(log K)))`` in [0, 1), or drawn from ``rng``
    (see the module docstring). sklearn draws the same number of uniforms from its
    ``RandomState`` (``choice`` then ``uniform``): fed those, the seeds are sklearn's.
    Lloyd iterations stop on unchanged labels ("strict convergence") or when the squared
    centre shift is ``≤ tol × mean per-feature variance``; empty clusters are relocated
    to the farthest points (``_relocate_empty_clusters_dense``). Distances are computed
    on centred data with sklearn's formula ``‖c‖² − 2 x·c``.
    """
    clusters = validate.integer("clusters", clusters, minimum=1)
    data = _check_data(data, clusters)
    tol = validate.real("tol", tol, low=0.0)
    max_iter = validate.integer("max_iter", max_iter, minimum=1)
    block = validate.integer("block", block, minimum=1)
    runs, n, dim = data.shape
    if centers is not None:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.shape != (runs, clusters, dim):
            raise ValueError(f"centers must have shape (runs, K, d) = {(runs, clusters, dim)}, "
                             f"got {centers.shape}")
        if not np.isfinite(centers).all():
            raise ValueError("centers must be finite")
    elif uniforms is None:
        uniforms = _uniforms(_check_rng(rng, runs), runs, _draws(clusters))
    else:
        uniforms = np.asarray(uniforms, dtype=np.float64)
        if uniforms.shape != (runs, _draws(clusters)):
            raise ValueError(f"uniforms must have shape (runs, {_draws(clusters)}), got "
                             f"{uniforms.shape}")
        if not ((uniforms >= 0) & (uniforms < 1)).all():
            raise ValueError("uniforms must lie in [0, 1)")
    parts = [_kmeans_block(data[lo:lo + block], clusters,
                           None if uniforms is None else uniforms[lo:lo + block],
                           None if centers is None else centers[lo:lo + block], tol, max_iter)
             for lo in range(0, runs, block)]
    return KMeans(*(np.concatenate(a) for a in zip(*parts, strict=True)))


def _draws(clusters: int) -> int:
    """Uniforms one k-means++ seeding takes (sklearn: ``choice``, then ``uniform`` of
    ``2 + int(log K)`` local trials per further centre)."""
    return 1 + (clusters - 1) * (2 + int(np.log(clusters)))


def _kmeans_block(x, clusters, uniforms, centers, tol, max_iter):
    """:func:`kmeans` of a block of runs: ``(labels, centers, n_iter, initial centers)``."""
    xt = np.ascontiguousarray(np.swapaxes(x, 1, 2))  # (B, d, n)
    shift = xt.mean(axis=2)  # sklearn centres the data first
    xt -= shift[:, :, None]
    if centers is None:
        initial = _kmeans_plusplus(xt, clusters, uniforms)
    else:
        initial = centers - shift[:, None, :]
    if tol > 0:  # sklearn's _tolerance: tol × mean of the per-feature variances
        tol = np.einsum("rdn,rdn->r", xt, xt) / xt.shape[1] / xt.shape[2] * tol
    else:
        tol = np.zeros(len(x))
    labels, final, n_iter = _lloyd(xt, initial, tol, max_iter)
    return labels, final + shift[:, None, :], n_iter, initial + shift[:, None, :]


def _squared_distances(points, xt, x_sq):
    """sklearn's ``_euclidean_distances(points, x, Y_norm_squared=x_sq, squared=True)``
    per run: ``(R, m, d), (R, d, n) -> (R, m, n)``."""
    distances = points @ xt
    distances *= -2
    distances += np.einsum("rmd,rmd->rm", points, points)[:, :, None]
    distances += x_sq[:, None, :]
    return np.maximum(distances, 0, out=distances)


def _kmeans_plusplus(xt, clusters, uniforms):
    runs, dim, n = xt.shape
    trials = 2 + int(np.log(clusters))
    every = np.arange(runs)
    x_sq = np.einsum("rdn,rdn->rn", xt, xt)
    centers = np.empty((runs, clusters, dim))
    first = np.minimum((uniforms[:, 0] * n).astype(np.int64), n - 1)  # choice(n), uniform p
    centers[:, 0] = xt[every, :, first]
    closest = _squared_distances(centers[:, :1], xt, x_sq)[:, 0]  # (R, n)
    potential = closest.sum(axis=1)
    for c in range(1, clusters):
        draws = uniforms[:, 1 + (c - 1) * trials: 1 + c * trials] * potential[:, None]
        cumulative = np.cumsum(closest, axis=1)
        # searchsorted(cumulative, draws) for every run: the count of entries below
        ids = (cumulative[:, None, :] < draws[:, :, None]).sum(axis=2)
        np.minimum(ids, n - 1, out=ids)
        candidates = xt[every[:, None], :, ids]  # (R, trials, d)
        distances = np.minimum(closest[:, None, :], _squared_distances(candidates, xt, x_sq))
        potentials = distances.sum(axis=2)
        best = potentials.argmin(axis=1)
        potential = potentials[every, best]
        closest = distances[every, best]
        centers[:, c] = candidates[every, best]
    return centers


def _assign(xt, centers):
    """Labels of the nearest centre (first on ties), by sklearn's ``‖c‖² − 2 x·c``."""
    distances = centers @ xt  # (R, K, n)
    distances *= -2
    distances += np.einsum("rkd,rkd->rk", centers, centers)[:, :, None]
    if distances.shape[1] == 2:
        return (distances[:, 1] < distances[:, 0]).view(np.int8)
    labels = np.zeros(distances.shape[::2], dtype=np.int32)  # any K
    best = distances[:, 0]
    for k in range(1, distances.shape[1]):  # sklearn's scan: a later centre must be closer
        closer = distances[:, k] < best
        labels[closer] = k
        best = np.minimum(best, distances[:, k])
    return labels


def _lloyd(xt, centers, tol, max_iter):
    """Lloyd iterations on centred data ``xt (R, d, n)`` from ``centers (R, K, d)``."""
    runs, _, n = xt.shape
    clusters = centers.shape[1]
    labels_out = np.empty((runs, n), dtype=np.int64)
    centers_out = np.empty_like(centers)
    n_iter = np.zeros(runs, dtype=np.int64)
    active = np.arange(runs)
    previous = np.full((runs, n), -1, dtype=np.int8 if clusters == 2 else np.int32)
    ids = np.arange(clusters)[:, None]
    for i in range(max_iter):
        labels = _assign(xt, centers)
        member = (labels[:, None, :] == ids).astype(np.float64)  # (R, K, n)
        weight = member.sum(axis=2)  # (R, K)
        sums = member @ np.swapaxes(xt, 1, 2)  # (R, K, d)
        empty = (weight == 0).any(axis=1)
        for r in np.flatnonzero(empty):
            _relocate_empty(xt[r].T, centers[r], sums[r], weight[r], labels[r])
        new = _average(sums, weight)
        shift = np.sqrt(((new - centers) ** 2).sum(axis=2))
        centers = new
        strict = (labels == previous).all(axis=1)
        done = strict | ((shift**2).sum(axis=1) <= tol)
        if i == max_iter - 1:
            done[:] = True
        if done.any():
            # not strictly converged: labels of the final centres (sklearn's last E-step)
            stale = done & ~strict
            if stale.any():
                labels[stale] = _assign(xt[stale], centers[stale])
            rows = active[done]
            labels_out[rows], centers_out[rows], n_iter[rows] = labels[done], centers[done], i + 1
            keep = ~done
            if not keep.any():
                break
            xt, centers, labels, tol, active = (xt[keep], centers[keep], labels[keep],
                                                tol[keep], active[keep])
        previous = labels
    return labels_out, centers_out, n_iter


def _relocate_empty(x, centers_old, sums, weight, labels):
    """sklearn's ``_relocate_empty_clusters_dense`` for one run (in place; rare)."""
    empty = np.flatnonzero(weight == 0)
    distances = ((x - centers_old[labels]) ** 2).sum(axis=1)
    if distances.max() == 0:
        return
    far = np.argpartition(distances, -len(empty))[:-len(empty) - 1:-1]
    for new, point in zip(empty, far, strict=True):
        old = labels[point]
        sums[old] -= x[point]
        sums[new] = x[point]
        weight[new] = 1.0
        weight[old] -= 1.0


def _average(sums, weight):
    """sklearn's ``_average_centers``: multiply by ``1 / weight``; an empty cluster sits
    on the heaviest one."""
    with np.errstate(divide="ignore", invalid="ignore"):  # empty clusters: set below
        centers = sums * (1.0 / weight)[:, :, None]
    empty = weight == 0
    if empty.any():
        heaviest = weight.argmax(axis=1)
        for r, k in zip(*np.nonzero(empty), strict=True):
            centers[r, k] = centers[r, heaviest[r]]
    return centers


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


def _cholesky_2x2(a, b, c):
    """Lower Cholesky factor ``[[l11, 0], [l21, l22]]`` of ``[[a, b], [b, c]]`` (LAPACK's
    recurrence) and where it exists: LAPACK's test (``a > 0``, ``c − l21² > 0``; NaN
    fails) and scipy's ``check_finite`` (sklearn raises on both)."""
    l11 = np.sqrt(a)
    l21 = b / l11
    rest = c - l21 * l21
    ok = (a > 0) & (rest > 0) & (a + c < np.inf)
    return l11, l21, np.sqrt(rest), ok


def _precision_cholesky(cov):
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


def _precision_cholesky_from_precisions(precisions):
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


class _General:
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


class _Plane(_General):
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
    chol, ok = _precision_cholesky(cov)
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
