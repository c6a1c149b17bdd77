"""The GMM family (paper §5.1): L2 distance, fit/sample, seeding, both backends, a batch
of chains equal to chains run alone, argument checks."""

import functools
import time

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from collapse import gmm, loop, metrics
from collapse.book import settings
from collapse.book.chapters import gmm as gmm_chapter
from collapse.book.families import FAMILIES


def mixture(weights, means, covariances, runs=1):
    return gmm.params(weights, means, covariances, runs=runs)


A = dict(weights=[0.3, 0.7], means=[[-1.0, 0.5], [1.5, -0.5]],
         covariances=[[[1.0, 0.3], [0.3, 0.5]], [[0.4, -0.1], [-0.1, 0.8]]])
B = dict(weights=[0.2, 0.5, 0.3], means=[[0.0, 0.0], [2.0, 1.0], [-2.0, -1.0]],
         covariances=[np.eye(2), [[0.6, 0.2], [0.2, 0.3]], 0.5 * np.eye(2)])


def density_on_grid(p, x, y):
    points = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1)
    return sum(w * multivariate_normal(m, c).pdf(points)
               for w, m, c in zip(p["weights"], p["means"], p["covariances"], strict=True))


def test_l2_matches_numerical_integration():
    # Riemann sum of a smooth, fast-decaying integrand on a fine grid: error far below 1e-8
    x = np.linspace(-12, 12, 1201)
    step = x[1] - x[0]
    f, g = density_on_grid(A, x, x), density_on_grid(B, x, x)
    numeric = ((f - g) ** 2).sum() * step**2
    closed = metrics.l2_squared_gmm(*(np.asarray(A[k], float) for k in A),
                                    *(np.asarray(B[k], float) for k in B))
    assert closed == pytest.approx(numeric, rel=1e-8)
    np.testing.assert_allclose(gmm.l2_distance(mixture(**A), mixture(**B)), np.sqrt(numeric),
                               rtol=1e-8)


def test_l2_is_zero_for_identical_mixtures_and_symmetric():
    a, b = mixture(**A, runs=3), mixture(**B, runs=3)
    np.testing.assert_allclose(gmm.l2_distance(a, a), 0.0, atol=1e-7)
    # the same mixture with its components listed in the other order
    swapped = mixture([0.7, 0.3], A["means"][::-1], A["covariances"][::-1], runs=3)
    np.testing.assert_allclose(gmm.l2_distance(a, swapped), 0.0, atol=1e-7)
    np.testing.assert_allclose(gmm.l2_distance(a, b), gmm.l2_distance(b, a), rtol=1e-12)
    # one-run parameters broadcast against many runs
    assert gmm.l2_distance(a, mixture(**B)).shape == (3,)


@pytest.mark.parametrize("backend", gmm.BACKENDS)
def test_fit_and_sample_shapes(backend):
    rng = np.random.default_rng(0)
    family = gmm.GMM(backend=backend)
    data = gmm.initial_data(3, 200, rng, "two")
    assert data.shape == (3, 200, 2)
    fitted = family.fit(data)
    assert fitted.weights.shape == (3, 2)
    assert fitted.means.shape == (3, 2, 2)
    assert fitted.covariances.shape == (3, 2, 2, 2)
    new = family.sample(fitted, 50, rng)
    assert new.shape == (3, 50, 2)
    described = family.describe(fitted)
    assert all(np.shape(v) == (3,) for v in described.values())


@pytest.mark.parametrize("backend", gmm.BACKENDS)
def test_fit_recovers_two_separated_gaussians(backend):
    rng = np.random.default_rng(1)
    fitted = gmm.GMM(backend=backend).fit(gmm.initial_data(2, 4000, rng, "two"))
    order = np.argsort(fitted.means[:, :, 0], axis=1)
    means = np.take_along_axis(fitted.means, order[:, :, None], 1)
    # standard error of a component mean with 2,000 unit-variance points: 0.022
    np.testing.assert_allclose(means, [[[-3, 0], [3, 0]]] * 2, atol=5 * 0.0224)


def test_sample_has_the_mixture_moments():
    rng = np.random.default_rng(2)
    p = mixture(**A, runs=2)
    points, labels = gmm.sample_with_labels(p, 200_000, rng)
    # component frequencies: binomial standard error sqrt(0.3 * 0.7 / n) = 0.001
    np.testing.assert_allclose((labels == 0).mean(axis=1), 0.3, atol=5 * 0.00103)
    expected_mean = np.einsum("k,kd->d", A["weights"], A["means"])
    # mean of each coordinate: standard error sqrt(var / n) < 0.003
    np.testing.assert_allclose(points.mean(axis=1), [expected_mean] * 2, atol=5 * 0.003)
    covariance = gmm.mixture_covariance(p)[0]
    np.testing.assert_allclose(np.cov(points[0].T), covariance, atol=0.02)


@pytest.mark.parametrize("backend", gmm.BACKENDS)
def test_fit_is_a_pure_function_of_seed_and_data(backend):
    rng = np.random.default_rng(3)
    data = gmm.initial_data(3, 300, rng, "blob")
    family = gmm.GMM(seed=5, backend=backend)
    one, two = family.fit(data), gmm.GMM(seed=5, backend=backend).fit(data)
    assert np.array_equal(one.means, two.means) and np.array_equal(one.weights, two.weights)
    # the same data in another run position, or alone, gives the same fit
    swapped = family.fit(data[::-1])
    assert np.array_equal(swapped.means[::-1], one.means)
    alone = family.fit(data[1:2])
    assert np.array_equal(alone.covariances[0], one.covariances[1])
    assert not np.array_equal(gmm.GMM(seed=6, backend=backend).fit(data).means, one.means)


def test_both_backends_fit_the_same_mixture():
    """The batched EM is sklearn's estimator (tests/test_gmm_em.py: the same parameters
    from the same start). Here each backend draws its own k-means start, so they agree
    where EM has one clear optimum: well-separated clusters (the paper's two Gaussians)."""
    data = gmm.initial_data(6, 1000, np.random.default_rng(10), "two")
    fits = [gmm.GMM(backend=backend).fit(data) for backend in gmm.BACKENDS]
    order = [np.argsort(f.means[:, :, 0], axis=1) for f in fits]
    for name in ("weights", "means", "covariances"):
        a, b = (np.take_along_axis(getattr(f, name), o.reshape(o.shape + (1,) * (getattr(
            f, name).ndim - 2)), 1) for f, o in zip(fits, order, strict=True))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)


def test_each_run_samples_from_its_own_stream():
    """Run r of a batch draws what the family of run r alone draws from the same state."""
    family = gmm.GMM()
    p = mixture(**A, runs=3)
    batch = family.sample(p, 100, np.random.default_rng(11))
    for r in range(3):
        alone = family.for_run(r).sample(p.run(r), 100, np.random.default_rng(11))
        np.testing.assert_array_equal(alone[0], batch[r])
    assert not np.array_equal(batch[0], batch[1])
    # a one-run reference (e.g. the truth) broadcasts to every run, also to one run alone
    truth = gmm.initial_distribution("two")
    assert gmm.GMM(reference=truth).for_run(2).reference is truth
    # and the next generation's key comes from the loop's generator: another state, other points
    rng = np.random.default_rng(11)
    family.sample(p, 100, rng)
    assert not np.array_equal(family.sample(p, 100, rng), batch)


def chains(M, generations, runs, rng, setting="two", mixing=None, keep=(), checkpoint=None,
           backend="batched"):
    """The chapter's experiment: D_0, the generation-0 fit as reference, all chains in
    one loop."""
    D0 = gmm.initial_data(runs, M, rng, setting)
    family = gmm.GMM(seed=1, backend=backend)
    family.reference = family.fit(D0)
    truth = gmm.initial_distribution(setting)
    return loop.simulate(family, D0, generations, M, rng, mixing, keep=keep,
                         metrics={"l2_to_truth": gmm.l2_to(truth)}, checkpoint=checkpoint)


@pytest.mark.parametrize("mixing", [loop.Replace(), loop.Accumulate()])
@pytest.mark.parametrize("backend", gmm.BACKENDS)
def test_a_batch_of_chains_is_its_chains_run_alone(mixing, backend):
    """R chains in one loop give, bit for bit, the table and kept data of R one-chain
    loops (``family.for_run(r)``, the same generator state): a chain never depends on the
    others (fit: its data's own seed; sample: its own stream; these rules draw nothing)."""
    runs, generations, M = 5, 6, 150
    D0 = gmm.initial_data(runs, M, np.random.default_rng(12), "blob")
    family = gmm.GMM(seed=2, backend=backend)
    family.reference = family.fit(D0)
    metrics = {"l2_to_truth": gmm.l2_to(gmm.initial_distribution("blob"))}

    def run(f, data):
        return loop.simulate(f, data, generations, M, np.random.default_rng(13), mixing,
                             metrics=metrics, keep=[generations - 1])

    batch = run(family, D0)
    alone = [run(family.for_run(r), D0[r:r + 1]) for r in range(runs)]
    joined = (pd.concat([h.table.assign(run=r) for r, h in enumerate(alone)])
              .sort_values(["generation", "run"], kind="stable").reset_index(drop=True))
    pd.testing.assert_frame_equal(batch.table, joined, check_exact=True)
    last = generations - 1
    np.testing.assert_array_equal(batch.kept[last][1],
                                  np.concatenate([h.kept[last][1] for h in alone]))
    assert batch.table.query(f"generation == {last}")["l2_to_reference"].nunique() == runs


def test_chains_are_reproducible():
    kwargs = dict(M=200, generations=4, runs=2, setting="blob", keep=[3])
    first = chains(rng=np.random.default_rng(4), **kwargs)
    again = chains(rng=np.random.default_rng(4), **kwargs)
    assert first.table.equals(again.table)
    assert np.array_equal(first.kept[3][1], again.kept[3][1])
    # the generation-0 reference is the loop's own generation-0 fit
    assert (first.table.query("generation == 0")["l2_to_reference"] == 0).all()
    assert (first.table.query("generation > 0")["l2_to_reference"] > 0).all()
    assert (first.table["l2_to_truth"] > 0).all()
    assert sorted(first.table["run"].unique()) == [0, 1]
    assert first.kept[3][1].shape == (2, 200, 2) and first.kept[3][0].runs == 2


@pytest.mark.parametrize("backend", gmm.BACKENDS)
def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, backend):
    kwargs = dict(M=100, generations=4, runs=3, setting="two", backend=backend)
    fresh = chains(rng=np.random.default_rng(5), **kwargs)
    name = f"_fit_{backend}"
    real_fit, calls = getattr(gmm, name), []

    def interrupted_fit(*args):
        calls.append(1)
        if len(calls) == 4:  # reference, generations 0 and 1 done; stop in generation 2
            raise KeyboardInterrupt
        return real_fit(*args)

    monkeypatch.setattr(gmm, name, interrupted_fit)
    path = tmp_path / "chain.pkl"
    with pytest.raises(KeyboardInterrupt):
        chains(rng=np.random.default_rng(5), checkpoint=path, **kwargs)
    calls.clear()
    resumed = chains(rng=np.random.default_rng(5), checkpoint=path, **kwargs)
    assert len(calls) == 1 + 2  # the reference, then generations 2 and 3 only
    assert resumed.table.equals(fresh.table)
    calls.clear()
    finished = chains(rng=np.random.default_rng(5), checkpoint=path, **kwargs)
    assert len(calls) == 1 and finished.table.equals(fresh.table)


def test_the_chapters_checkpoint_file_is_named_by_the_run():
    D0 = gmm.initial_data(2, 50, np.random.default_rng(0), "two")
    name = functools.partial(gmm_chapter.checkpoint_file, "cache", sample_size=50,
                             mixing=loop.Replace(), keep=[3])
    first = name(gmm.GMM(), D0, 10, rng=np.random.default_rng(1))
    assert first == name(gmm.GMM(), D0, 10, rng=np.random.default_rng(1))
    assert first.parent.name == "cache"
    for other in (name(gmm.GMM(backend="sklearn"), D0, 10, rng=np.random.default_rng(1)),
                  name(gmm.GMM(), D0, 11, rng=np.random.default_rng(1)),
                  name(gmm.GMM(), D0, 10, rng=np.random.default_rng(2))):
        assert other != first


def test_mixing_rules_run():
    for rule in (loop.Replace(), loop.Accumulate(), loop.KeepOriginal(0.1)):
        history = chains(100, 3, 1, np.random.default_rng(6), mixing=rule)
        sizes = history.table["n_train"].tolist()
        assert sizes == ([100, 200, 300] if isinstance(rule, loop.Accumulate) else [100] * 3)


def test_command_line_reference_is_generation_zero():
    family, initial = FAMILIES["gmm"].build(2, 150, np.random.default_rng(7), data="blob")
    assert FAMILIES["gmm"].exact is False and initial.shape == (2, 150, 2)
    history = loop.simulate(family, initial, 2, 150, np.random.default_rng(8))
    assert (history.table.query("generation == 0")["l2_to_reference"] == 0).all()


@pytest.mark.parametrize("call, message", [
    (lambda: gmm.GMM(components=0), "components must be >= 1"),
    (lambda: gmm.GMM(tol=-1.0), "tol must be >= 0"),
    (lambda: gmm.GMM(max_iter=0), "max_iter must be >= 1"),
    (lambda: gmm.GMM(backend="gpu"), "backend must be one of"),
    (lambda: gmm.GMM().sample(mixture(**A), 10, 0), "rng must be a numpy.random.Generator"),
    (lambda: gmm.GMM().fit(np.zeros((1, 1, 2))), "number of samples per run must be >= 2"),
    (lambda: gmm.GMM().fit(np.zeros((5, 2))), r"data must be \(runs, n, d\)"),
    (lambda: gmm.initial_data(1, 1, np.random.default_rng(0), "two"), "M must be >= 2"),
    (lambda: loop.simulate(gmm.GMM(), np.zeros((1, 100, 2)), 0, 100,
                           np.random.default_rng(0)), "generations must be"),
    (lambda: gmm.initial_data(1, 100, np.random.default_rng(0), "three"),
     "setting must be one of"),
    (lambda: gmm.initial_distribution("two", separation=-1.0), "separation must be >= 0"),
    (lambda: loop.simulate(gmm.GMM(), np.zeros((1, 100, 2)), 10, 100,
                           np.random.default_rng(0), keep=[10]), "keep .* must be <= 9"),
    (lambda: loop.simulate(gmm.GMM(), np.zeros((1, 100, 2)), 10, 100, 0),
     "rng must be a numpy.random.Generator"),
    (lambda: loop.simulate(gmm.GMM(), np.zeros((1, 100, 2)), 10, 1,
                           np.random.default_rng(0)), "sample size M_1 must be >= 2"),
    (lambda: FAMILIES["gmm"].build(1, 100, np.random.default_rng(0), data="moons"),
     "data must be one of"),
    (lambda: gmm.params([0.5, 0.6], [[0, 0], [1, 1]], [np.eye(2)] * 2), "sum to 1"),
])
def test_bad_arguments_fail_before_compute(call, message):
    start = time.perf_counter()
    with pytest.raises((ValueError, TypeError), match=message):
        call()
    assert time.perf_counter() - start < 1.0


def test_profiles_are_checked():
    for name in settings.PROFILE_NAMES:
        settings.resolve("gmm", name)
    with pytest.raises(ValueError, match="runs"):
        settings.resolve("gmm", "smoke", runs=0)
    with pytest.raises(ValueError, match="backend must be one of"):
        settings.resolve("gmm", "smoke", backend="gpu")


def test_one_gaussian_log_density():
    """metrics.gaussian_log_density (used by gmm.log_densities and the L2 overlap)."""
    rng = np.random.default_rng(9)
    p = mixture(**A, runs=2)
    x = rng.standard_normal((2, 5, 2))
    expected = np.stack([[np.log(w) + multivariate_normal(m, c).logpdf(x[r])
                          for w, m, c in zip(p.weights[r], p.means[r], p.covariances[r],
                                             strict=True)] for r in range(2)])
    np.testing.assert_allclose(gmm.log_densities(p, x), np.swapaxes(expected, 1, 2),
                               rtol=1e-12)
    cov = np.array([[2.0, 0.3], [0.3, 0.5]])
    log_n = metrics.gaussian_log_density(x[0] - 1.0, np.linalg.cholesky(cov))
    np.testing.assert_allclose(log_n, multivariate_normal([1.0, 1.0], cov).logpdf(x[0]),
                               rtol=1e-12)


def test_settings_table_comes_from_the_profiles():
    from collapse.book import settings

    table = settings.settings_table("gmm").data
    assert table.loc["generations", "this book: paper profile"] == "2050"
    assert table.loc["generations", "authors' code"] == "2,050"
    assert table.loc["Fig 13 distance", "this book: quick profile"] == "squared L2, log scale"
