"""The GMM EM vectorised over runs (``collapse.gmm_em``) is scikit-learn's estimator.

scikit-learn 1.9.1's ``GaussianMixture(covariance_type="full")`` is the reference. From
the same start the batched fit reproduces sklearn's parameters to ``RTOL`` and its
``n_iter_``/``converged_`` exactly, on ``DATASETS`` random data sets of the paper's size
(1,000 points, d = 2, K = 2) of five kinds (below).

Why ``RTOL = 1e-6`` is tight yet safe: both fits do the same operations from the same
start; they differ only in rounding (numpy sums and closed-form 2×2 factors where sklearn
calls BLAS/LAPACK), about 1e-16 relative per step. EM is a contraction near its fixed
point, so these differences stay small over the ≤ 300 iterations seen here: the largest
measured is 1e-14, and 5e-10 for nearly singular clusters (their precision factors are
ill-conditioned: the thin direction's variance sits at ``reg_covar``). A wrong formula
or start shows up far above 1e-6 (one EM step before the end moves sklearn's parameters
by 1e-4 relative, median over these data sets), and ``n_iter``/``converged`` are
compared exactly. Relative means: the largest absolute difference of an array (weights,
means, covariances, precision Cholesky factors) over the largest entry of sklearn's
array, per run; the precision factors carry the thin direction of nearly singular
clusters (their largest entries, ≈ 1/√reg_covar).
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import pytest
import sklearn
from scipy import stats
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from collapse import gmm_em, kmeans

N, RTOL = 1000, 1e-6
KINDS = ("blob", "separated", "overlapping", "scales", "thin")
PER_KIND = 40
DATASETS = PER_KIND * len(KINDS)  # 200


def rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def gaussian(rng, count, mean, variances):
    """``count`` points of a 2-D Gaussian with the given eigenvalues, randomly rotated."""
    root = rotation(rng.uniform(0, np.pi)) @ np.diag(np.sqrt(variances))
    return mean + rng.standard_normal((count, 2)) @ root.T


def dataset(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One data set of ``N`` points.

    ``blob``: one standard Gaussian (the authors' code); ``separated``: two Gaussians 4–8
    standard deviations apart (the paper's text); ``overlapping``: 0.3–2 apart;
    ``scales``: two clusters whose scales differ by 100× (either way round, the data set
    anywhere from 1e-3 to 1e3 in size and offset); ``thin``: a nearly singular cluster
    (points within 1e-2 … 0 of a line: variances down to far below ``reg_covar``) next to
    a round or also thin one.
    """
    weight = rng.uniform(0.2, 0.8)
    first = rng.binomial(N, weight)
    direction = rotation(rng.uniform(0, 2 * np.pi))[:, 0]
    if kind == "blob":
        return rng.standard_normal((N, 2))
    if kind in ("separated", "overlapping"):
        gap = rng.uniform(4, 8) if kind == "separated" else rng.uniform(0.3, 2)
        return np.concatenate([
            gaussian(rng, first, -gap / 2 * direction, rng.uniform(0.3, 1.5, 2)),
            gaussian(rng, N - first, gap / 2 * direction, rng.uniform(0.3, 1.5, 2))])
    if kind == "scales":
        scale = 10.0 ** rng.uniform(-3, 3)
        small, large = rng.uniform(0.5, 1.5, 2), 1e4 * rng.uniform(0.5, 1.5, 2)
        spread = [small, large] if rng.random() < 0.5 else [large, small]
        points = np.concatenate([gaussian(rng, first, 0 * direction, spread[0]),
                                 gaussian(rng, N - first, rng.uniform(0, 300) * direction,
                                          spread[1])])
        return scale * (points + rng.uniform(-100, 100, 2))
    if kind == "thin":
        thinness = 10.0 ** rng.choice([-2, -4, -6, -8, -12, -np.inf])
        other = [1.0, 1.0] if rng.random() < 0.5 else [1.0, 1e-8]
        return np.concatenate([
            gaussian(rng, first, 0 * direction, [1.0, thinness]),
            gaussian(rng, N - first, rng.uniform(0, 4) * direction, other)])
    raise ValueError(kind)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20240519)
    return np.stack([dataset(kind, rng) for kind in KINDS for _ in range(PER_KIND)])


@functools.cache
def threadpools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # scanned once: a scan costs more than a small fit


def fast():
    """sklearn at its fastest (as the GMM family calls it): one thread, no re-validation."""
    with threadpools().limit(limits=1), sklearn.config_context(
            assume_finite=True, skip_parameter_validation=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


fast = contextlib.contextmanager(fast)


def sklearn_fit(x, seed=0, components=2, **options):
    """sklearn's fit (``options``: ``*_init``, ``max_iter``, …)."""
    options = dict(tol=1e-5, max_iter=2000, reg_covar=1e-6) | options
    with fast():
        return GaussianMixture(components, covariance_type="full", random_state=seed,
                               **options).fit(x)


def sklearn_labels(data, components=2, **options):
    """The labels of sklearn's k-means start (``KMeans`` with the fit's seed)."""
    with fast():
        return np.stack([KMeans(components, n_init=1, random_state=seed, **options)
                         .fit(x).labels_ for seed, x in enumerate(data)])


@pytest.fixture(scope="module")
def reference(data):
    """sklearn's fit of every data set from its own k-means start (seed = index)."""
    return [sklearn_fit(x, seed) for seed, x in enumerate(data)]


def relative_differences(ours: gmm_em.Fit, models) -> np.ndarray:
    """Per run, the largest scale-relative difference over the fitted arrays."""
    out = []
    for r, model in enumerate(models):
        pairs = [(ours.weights[r], model.weights_), (ours.means[r], model.means_),
                 (ours.covariances[r], model.covariances_),
                 (ours.precisions_cholesky[r], model.precisions_cholesky_)]
        out.append(max(np.abs(a - b).max() / np.abs(b).max() for a, b in pairs))
    return np.array(out)


def assert_same_fit(ours: gmm_em.Fit, models, rtol=RTOL):
    diff = relative_differences(ours, models)
    worst = int(diff.argmax())
    assert diff.max() <= rtol, f"run {worst} ({KINDS[worst // PER_KIND]}): {diff.max():.3g}"
    np.testing.assert_array_equal(ours.n_iter, [m.n_iter_ for m in models])
    np.testing.assert_array_equal(ours.converged, [m.converged_ for m in models])
    np.testing.assert_allclose(ours.lower_bound, [m.lower_bound_ for m in models],
                               rtol=rtol, atol=rtol)
    assert not ours.ill_defined.any()


# ----------------------------------------------------------- same start as sklearn


def test_the_data_sets_cover_the_hard_cases(data, reference):
    assert data.shape == (DATASETS, N, 2) and DATASETS >= 200
    iterations = np.array([m.n_iter_ for m in reference]).reshape(len(KINDS), PER_KIND)
    assert iterations.max() > 100  # slowly converging fits are among them
    covariances = np.array([m.covariances_ for m in reference])
    smallest = np.linalg.eigvalsh(covariances)[..., 0].reshape(len(KINDS), -1)
    assert (smallest[KINDS.index("thin")] < 2e-6).mean() > 0.3  # at the reg_covar floor


def test_from_sklearns_kmeans_labels_the_fit_is_sklearns(data, reference):
    # the start sklearn used: KMeans with the same seed on the same data
    ours = gmm_em.fit(data, 2, init=gmm_em.one_hot(sklearn_labels(data), 2))
    assert_same_fit(ours, reference)


def test_the_default_start_with_sklearns_uniforms_is_sklearns(data, reference):
    # sklearn's RandomState(seed) draws 3 uniforms for k-means++ (choice, then 2 trials)
    start = gmm_em.kmeans(data, 2, uniforms=sklearns_uniforms(len(data)))
    ours = gmm_em.fit(data, 2, init=gmm_em.one_hot(start.labels, 2))
    assert_same_fit(ours, reference)


def random_start(rng, data):
    """Random weights, means among the points and precisions of random covariances."""
    runs = len(data)
    weights = rng.dirichlet([2, 2], runs)
    means = data[np.arange(runs)[:, None], rng.integers(0, N, (runs, 2))]
    scale = data.std(axis=1).mean(axis=1)[:, None, None, None]
    roots = rng.normal(size=(runs, 2, 2, 2))
    covariances = scale**2 * (roots @ np.swapaxes(roots, -1, -2) + 0.1 * np.eye(2))
    return gmm_em.Start(weights, means, np.linalg.inv(covariances))


def test_from_given_weights_means_precisions_the_fit_is_sklearns(data):
    rng = np.random.default_rng(7)
    subset = data[::8]  # 25 data sets, every kind
    start = random_start(rng, subset)
    models = [sklearn_fit(x, weights_init=w, means_init=m, precisions_init=p)
              for x, w, m, p in zip(subset, start.weights, start.means, start.precisions,
                                    strict=True)]
    assert_same_fit(gmm_em.fit(subset, 2, init=start), models)


def sklearns_uniforms(runs, components=2):
    """The uniforms sklearn's ``RandomState(seed)`` gives k-means++, run ``r`` seed ``r``."""
    return np.stack([np.random.RandomState(seed).random_sample(kmeans.draws(components))
                     for seed in range(runs)])


@pytest.mark.parametrize("given", ["weights", "means", "precisions"])
def test_a_partial_start_is_completed_by_kmeans_as_sklearn(data, monkeypatch, given):
    # sklearn fills the parts not given from its k-means start; ours too, here fed
    # sklearn's uniforms (the generators' draws replaced)
    subset = data[::25]  # 8 data sets, every kind
    full = random_start(np.random.default_rng(8), subset)
    start = gmm_em.Start(**{given: getattr(full, given)})
    models = [sklearn_fit(x, seed, **{f"{given}_init": part})
              for seed, (x, part) in enumerate(zip(subset, getattr(full, given), strict=True))]
    monkeypatch.setattr(gmm_em, "draw_uniforms",
                        lambda rng, runs, count: sklearns_uniforms(runs)[:, :count])
    assert_same_fit(gmm_em.fit(subset, 2, init=start, rng=np.random.default_rng(0)), models)


def degenerate():
    rng = np.random.default_rng(3)
    return {
        "identical points": np.full((N, 2), 3.0),
        "two points, repeated": np.repeat([[0.0, 0.0], [5.0, 1.0]], N // 2, axis=0),
        "three points, repeated": np.repeat([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                                            [400, 300, 300], axis=0),
        "exactly on a line": np.outer(rng.normal(size=N), [1.0, 2.0]),
        "integer grid": rng.integers(0, 3, (N, 2)).astype(float),
        "one outlier": np.vstack([np.zeros((N - 1, 2)), [[1e3, 1e3]]]),
        "tiny scale": rng.normal(size=(N, 2)) * 1e-9,
    }


@pytest.mark.parametrize("name", degenerate())
def test_degenerate_data_as_sklearn(name):
    # duplicates and empty k-means clusters, rank-one data, covariances at reg_covar
    x = degenerate()[name][None]
    start = gmm_em.kmeans(x, 2, uniforms=sklearns_uniforms(1))
    np.testing.assert_array_equal(start.labels, sklearn_labels(x))
    assert_same_fit(gmm_em.fit(x, 2, init=gmm_em.one_hot(start.labels, 2)), [sklearn_fit(x[0])])


def test_max_iter_stops_unconverged_runs_as_sklearn(data, reference):
    labels = sklearn_labels(data[:10])
    models = [sklearn_fit(x, seed, max_iter=5) for seed, x in enumerate(data[:10])]
    ours = gmm_em.fit(data[:10], 2, init=gmm_em.one_hot(labels, 2), max_iter=5)
    assert_same_fit(ours, models)
    assert not ours.converged.all() and (ours.n_iter == 5).any()


@pytest.mark.parametrize("dim, components", [(1, 2), (3, 3), (2, 3), (2, 1)])
def test_other_dimensions_and_component_counts(dim, components):
    rng = np.random.default_rng(dim * 10 + components)
    data = np.stack([np.concatenate([rng.normal(k * 2.5, 1.0 + k, (300, dim))
                                     for k in range(components)]) for _ in range(8)])
    labels = sklearn_labels(data, components)
    models = [sklearn_fit(x, seed, components) for seed, x in enumerate(data)]
    ours = gmm_em.fit(data, components, init=gmm_em.one_hot(labels, components))
    assert_same_fit(ours, models)
    uniforms = sklearns_uniforms(len(data), components)
    np.testing.assert_array_equal(gmm_em.kmeans(data, components, uniforms=uniforms).labels,
                                  labels)


# -------------------------------------------------------------- independence of runs


def test_a_batch_is_its_runs_fitted_one_by_one(data):
    picks = data[::10]  # 20 runs of every kind
    seeds = range(len(picks))
    batch = gmm_em.fit(picks, 2, rng=[np.random.default_rng(s) for s in seeds])
    other_blocks = gmm_em.fit(picks, 2, rng=[np.random.default_rng(s) for s in seeds], block=3)
    singles = [gmm_em.fit(x[None], 2, rng=[np.random.default_rng(s)])
               for s, x in zip(seeds, picks, strict=True)]
    for name in ("weights", "means", "covariances", "precisions_cholesky", "n_iter",
                 "converged", "lower_bound"):
        together = getattr(batch, name)
        np.testing.assert_array_equal(together, getattr(other_blocks, name))
        np.testing.assert_array_equal(together, np.concatenate([getattr(s, name)
                                                                for s in singles]))


def test_one_generator_for_the_batch_is_reproducible():
    data = np.random.default_rng(1).standard_normal((6, 200, 2))
    one = gmm_em.fit(data, 2, rng=np.random.default_rng(3))
    two = gmm_em.fit(data, 2, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(one.means, two.means)
    other = gmm_em.fit(data, 2, rng=np.random.default_rng(4))
    assert not np.array_equal(one.means, other.means)


# ------------------------------------------------------------------------ k-means


def test_kmeans_labels_partition_the_points_by_the_nearest_centre(data):
    result = gmm_em.kmeans(data[::5], 2, rng=np.random.default_rng(0))
    assert result.labels.shape == (len(data[::5]), N)
    assert set(np.unique(result.labels)) == {0, 1}
    for x, labels, centers in zip(data[::5], result.labels, result.centers, strict=True):
        assert 0 < (labels == 1).sum() < N
        distances = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
        gap = np.abs(distances[:, 0] - distances[:, 1])
        clear = gap > 1e-9 * distances.max()  # not a rounding tie
        np.testing.assert_array_equal(labels[clear], distances[clear].argmin(1))


def test_kmeans_from_the_same_centres_is_sklearns(data):
    rng = np.random.default_rng(5)
    subset = data[::8]
    centers = subset[np.arange(len(subset))[:, None], rng.integers(0, N, (len(subset), 2))]
    ours = gmm_em.kmeans(subset, 2, centers=centers)
    for x, c, labels, found, n_iter in zip(subset, centers, ours.labels, ours.centers,
                                           ours.n_iter, strict=True):
        with fast():
            model = KMeans(2, init=c, n_init=1).fit(x)
        np.testing.assert_array_equal(labels, model.labels_)
        assert n_iter == model.n_iter_
        scale = np.abs(model.cluster_centers_).max()
        np.testing.assert_allclose(found, model.cluster_centers_, rtol=0, atol=1e-12 * scale)


def test_kmeans_plusplus_with_sklearns_uniforms_picks_sklearns_seeds(data):
    subset = data[::8]
    ours = gmm_em.kmeans(subset, 2, uniforms=sklearns_uniforms(len(subset)))
    for seed, (x, start) in enumerate(zip(subset, ours.initial_centers, strict=True)):
        centred = x - x.mean(axis=0)
        with fast():
            _, indices = kmeans_plusplus(centred, 2, random_state=seed)
        np.testing.assert_allclose(start, x[indices], rtol=1e-12, atol=1e-12)


def outcome_counts(*lower_bounds):
    """How often each distinct optimum (lower bound to 1e-3) is reached, per sample."""
    values = np.unique(np.round(np.concatenate(lower_bounds), 3))
    return np.array([[np.isclose(b, v, atol=1e-3).sum() for v in values]
                     for b in lower_bounds])


def test_kmeans_start_gives_sklearns_distribution_of_fits():
    # Three clusters fitted with K = 2: which two merge depends on the start (three
    # optima). 150 starts from our generators vs sklearn's seeds 1000…1149: the same law
    # of starts gives the same frequencies (chi-square, fixed seeds, so deterministic;
    # random responsibilities instead of k-means give p ≈ 1e-34 here) and the same
    # distribution of lower bounds (Kolmogorov–Smirnov).
    rng = np.random.default_rng(11)
    corners = 6 * np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]])
    x = np.concatenate([rng.normal(c, 1, (k, 2)) for c, k in zip(corners, (400, 300, 300),
                                                                 strict=True)])
    starts = 150
    ours = gmm_em.fit(np.broadcast_to(x, (starts, N, 2)), 2,
                      rng=[np.random.default_rng(s) for s in range(starts)])
    models = [sklearn_fit(x, seed=1000 + s) for s in range(starts)]
    theirs = np.array([m.lower_bound_ for m in models])
    counts = outcome_counts(ours.lower_bound, theirs)
    assert counts.shape == (2, 3) and counts.min() >= 20
    assert stats.chi2_contingency(counts).pvalue > 0.01
    assert stats.ks_2samp(ours.lower_bound, theirs).pvalue > 0.01
    assert np.median(ours.n_iter) == np.median([m.n_iter_ for m in models])


# ---------------------------------------------------------- ill-defined covariances


def collapsed(runs=3):
    """Run 1: two points repeated 500 times each; with reg_covar = 0 the covariances
    are zero (sklearn raises). The other runs are ordinary."""
    rng = np.random.default_rng(2)
    data = rng.normal(size=(runs, N, 2))
    data[1] = np.repeat([[0.0, 0.0], [5.0, 1.0]], N // 2, axis=0)
    return data


def test_an_ill_defined_covariance_raises_as_sklearn():
    data = collapsed()
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(data[1])
    with pytest.raises(gmm_em.IllDefinedCovariance, match=r"Run\(s\) 1 \(iteration") as caught:
        gmm_em.fit(data, 2, reg_covar=0.0, rng=np.random.default_rng(0))
    assert caught.value.runs == [1] and isinstance(caught.value, ValueError)


def test_flagged_runs_leave_the_others_untouched():
    data = collapsed()
    rngs = [np.random.default_rng(s) for s in range(3)]
    flagged = gmm_em.fit(data, 2, reg_covar=0.0, rng=rngs, errors="flag")
    assert flagged.ill_defined.tolist() == [False, True, False]
    assert np.isnan(flagged.means[1]).all() and not flagged.converged[1]
    for r in (0, 2):
        alone = gmm_em.fit(data[r:r + 1], 2, reg_covar=0.0, rng=[np.random.default_rng(r)])
        np.testing.assert_array_equal(flagged.means[r], alone.means[0])
    # with sklearn's default reg_covar the same data are fine
    assert not gmm_em.fit(data, 2, rng=np.random.default_rng(0)).ill_defined.any()


# ------------------------------------------------------------------------ bad input


GOOD = np.random.default_rng(0).normal(size=(2, 10, 2))
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gmm_em.fit(GOOD[0], 2, rng=RNG), ValueError, r"data must be .*\(runs, n, d\)"),
    (lambda: gmm_em.fit(np.zeros((2, 0, 2)), 2, rng=RNG), ValueError, "data must be"),
    (lambda: gmm_em.fit(GOOD[:, :1], 1, rng=RNG), ValueError, "points per run"),
    (lambda: gmm_em.fit(GOOD[:, :3], 4, rng=RNG), ValueError, r"points per run.* >= 4"),
    (lambda: gmm_em.fit(np.where(np.arange(10)[:, None] == 3, np.nan, GOOD), 2, rng=RNG),
     ValueError, r"data must be finite; run\(s\) \[0, 1\]"),
    (lambda: gmm_em.fit(GOOD, 2, tol=-1e-3, rng=RNG), ValueError, "tol must be >= 0"),
    (lambda: gmm_em.fit(GOOD, 2, tol=np.inf, rng=RNG), ValueError, "tol must be finite"),
    (lambda: gmm_em.fit(GOOD, 2, max_iter=0, rng=RNG), ValueError, "max_iter must be >= 1"),
    (lambda: gmm_em.fit(GOOD, 2, max_iter=2.5, rng=RNG), TypeError, "max_iter must be an int"),
    (lambda: gmm_em.fit(GOOD, 2, reg_covar=-1.0, rng=RNG), ValueError, "reg_covar must be"),
    (lambda: gmm_em.fit(GOOD, 0, rng=RNG), ValueError, "components must be >= 1"),
    (lambda: gmm_em.fit(GOOD, True, rng=RNG), TypeError, "components must be an integer"),
    (lambda: gmm_em.fit(GOOD, 2), TypeError, "rng is required"),
    (lambda: gmm_em.fit(GOOD, 2, rng=0), TypeError, "rng must be a numpy.random.Generator"),
    (lambda: gmm_em.fit(GOOD, 2, rng=[RNG]), ValueError, "one Generator per run"),
    (lambda: gmm_em.fit(GOOD, 2, rng=[RNG, 1]), TypeError, r"rng\[1\] must be"),
    (lambda: gmm_em.fit(GOOD, 2, rng=RNG, init="random"), ValueError, "init must be one of"),
    (lambda: gmm_em.fit(GOOD, 2, init=np.ones((2, 10, 3))), ValueError,
     r"init \(responsibilities\) must have shape"),
    (lambda: gmm_em.fit(GOOD, 2, init=-np.ones((2, 10, 2))), ValueError, "non-negative"),
    (lambda: gmm_em.fit(GOOD, 2, init=gmm_em.Start(weights=[[0.5, 0.6]] * 2), rng=RNG),
     ValueError, "init.weights must sum to 1"),
    (lambda: gmm_em.fit(GOOD, 2, init=gmm_em.Start(means=np.zeros((2, 2, 3))), rng=RNG),
     ValueError, r"init.means must have shape"),
    (lambda: gmm_em.fit(GOOD, 2, rng=RNG, init=gmm_em.Start(
        precisions=np.tile(-np.eye(2), (2, 2, 1, 1)))), ValueError, "init.precisions must be"),
    (lambda: gmm_em.fit(GOOD, 2, rng=RNG, errors="ignore"), ValueError, "errors must be one"),
    (lambda: gmm_em.fit(GOOD, 2, rng=RNG, block=0), ValueError, "block must be >= 1"),
    (lambda: gmm_em.kmeans(GOOD, 2, uniforms=np.ones((2, 3))), ValueError, "uniforms must lie"),
    (lambda: gmm_em.kmeans(GOOD, 2, uniforms=np.zeros((2, 2))), ValueError, "uniforms must have"),
    (lambda: gmm_em.kmeans(GOOD, 2, centers=np.zeros((2, 3, 2))), ValueError, "centers must"),
    (lambda: gmm_em.kmeans(GOOD, 2), TypeError, "rng is required"),
])
def test_bad_input_names_the_parameter(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_fit_output_shapes():
    fitted = gmm_em.fit(GOOD, 2, rng=np.random.default_rng(0))
    assert fitted.weights.shape == (2, 2) and fitted.means.shape == (2, 2, 2)
    assert fitted.covariances.shape == (2, 2, 2, 2) and fitted.n_iter.shape == (2,)
    assert fitted.converged.dtype == bool and fitted.runs == 2
    np.testing.assert_allclose(fitted.weights.sum(axis=1), 1.0)
