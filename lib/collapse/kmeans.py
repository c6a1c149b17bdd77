"""k-means vectorised over independent runs: the start of the batched GMM EM
(:mod:`collapse.gmm_em`, paper §5.1).

scikit-learn's ``GaussianMixture(init_params="kmeans")`` starts EM from the hard labels of
one ``KMeans(K, n_init=1)``; :func:`kmeans` is that k-means for ``R`` runs at once, as
``sklearn.cluster._kmeans`` (scikit-learn 1.9.1):

- **k-means++ seeding** (``_kmeans_plusplus``): the first centre uniformly among the
  points, each next one the best of ``2 + int(log K)`` candidates drawn with probability
  ∝ squared distance to the nearest centre so far;
- **Lloyd iterations** (``lloyd_iter_chunked_dense``) on data centred by their mean, with
  sklearn's distances ``‖c‖² − 2 x·c``, until the labels no longer change or the squared
  centre shift is ``≤ tol × mean per-feature variance`` (``max_iter=300``); empty
  clusters are relocated to the farthest points (``_relocate_empty_clusters_dense``).

Randomness (the seeding only) comes from explicit generators: ``rng`` is either one
``numpy.random.Generator`` for the batch (one draw of shape ``(R, m)``: run ``r`` takes
row ``r``, so its start depends on its position in the batch) or a sequence of ``R``
generators, one per run (run ``r`` draws from ``rng[r]`` alone, so a batched k-means
equals ``R`` single-run ones). Each run consumes ``draws(K) = 1 + (K − 1)(2 + int(log K))``
uniforms, exactly as many as sklearn draws from its ``RandomState``; given sklearn's
uniforms (``uniforms=``) the seeds are sklearn's.

Runs are processed ``block`` at a time (a speed setting: results never depend on it).
The helpers :func:`check_data`, :func:`check_rng` and :func:`draw_uniforms` are shared
with :mod:`collapse.gmm_em`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import validate

BLOCK = 32  # runs iterated together (measured best on a 2-core machine with 1 MB L2 per core)


@dataclass(frozen=True)
class KMeans:
    """One k-means per run: ``labels (R, n)``, ``centers (R, K, d)``, ``n_iter (R,)``
    (sklearn's ``labels_``, ``cluster_centers_``, ``n_iter_``) and the k-means++ seeds
    ``initial_centers (R, K, d)``."""

    labels: np.ndarray
    centers: np.ndarray
    n_iter: np.ndarray
    initial_centers: np.ndarray


# ----------------------------------------------------------------------------- checks


def check_data(data, components: int) -> np.ndarray:
    """``data`` as a contiguous float64 ``(R, n, d)`` array of finite values with
    ``n ≥ max(2, components)``; a clear error otherwise."""
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


def check_rng(rng, runs: int):
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


def draw_uniforms(rng, runs: int, count: int) -> np.ndarray:
    """``(runs, count)`` uniforms: one draw from a batch generator, or a row per run from
    each run's own generator."""
    if isinstance(rng, np.random.Generator):
        return rng.random((runs, count))
    return np.stack([g.random(count) for g in rng])


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
    data = check_data(data, clusters)
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
        uniforms = draw_uniforms(check_rng(rng, runs), runs, draws(clusters))
    else:
        uniforms = np.asarray(uniforms, dtype=np.float64)
        if uniforms.shape != (runs, draws(clusters)):
            raise ValueError(f"uniforms must have shape (runs, {draws(clusters)}), got "
                             f"{uniforms.shape}")
        if not ((uniforms >= 0) & (uniforms < 1)).all():
            raise ValueError("uniforms must lie in [0, 1)")
    parts = [kmeans_block(data[lo:lo + block], clusters,
                           None if uniforms is None else uniforms[lo:lo + block],
                           None if centers is None else centers[lo:lo + block], tol, max_iter)
             for lo in range(0, runs, block)]
    return KMeans(*(np.concatenate(a) for a in zip(*parts, strict=True)))


def draws(clusters: int) -> int:
    """Uniforms one k-means++ seeding takes (sklearn: ``choice``, then ``uniform`` of
    ``2 + int(log K)`` local trials per further centre)."""
    return 1 + (clusters - 1) * (2 + int(np.log(clusters)))


def kmeans_block(x, clusters, uniforms, centers, tol, max_iter):
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
