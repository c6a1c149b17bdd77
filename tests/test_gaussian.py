"""The Gaussian family: fit, sample, and the exact sufficient-statistics fast path."""

import numpy as np
import pytest
from scipy import stats

from collapse import gaussian, loop

# A two-sample KS test at this level fails by chance once in 10^4 runs; the seeds are
# fixed, so a failure means the two samplers differ.
ALPHA = 1e-4


def test_fit_is_eq1_unbiased_or_maximum_likelihood():
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 50))
    unbiased = gaussian.Gaussian().fit(data)
    mle = gaussian.Gaussian("mle").fit(data)
    np.testing.assert_allclose(unbiased.mean, data.mean(axis=1))
    np.testing.assert_allclose(unbiased.cov, data.var(axis=1, ddof=1))
    np.testing.assert_allclose(mle.cov, data.var(axis=1, ddof=0))


def test_fit_n_dimensional_matches_numpy_cov():
    data = np.random.default_rng(1).normal(size=(3, 40, 4))
    fitted = gaussian.Gaussian().fit(data)
    for r in range(3):
        np.testing.assert_allclose(fitted.cov[r], np.cov(data[r].T), atol=1e-12)
        np.testing.assert_allclose(fitted.mean[r], data[r].mean(axis=0))


def test_sample_shapes_and_moments():
    family = gaussian.Gaussian()
    rng = np.random.default_rng(2)
    draws = family.sample(gaussian.params(1.0, 2.0, runs=2), 200_000, rng)
    assert draws.shape == (2, 200_000)
    # standard errors: sd/sqrt(n) for the mean, about sd^2 sqrt(2/n) for the variance
    np.testing.assert_allclose(draws.mean(axis=1), 1.0, atol=4 * 2 / np.sqrt(2e5))
    np.testing.assert_allclose(draws.var(axis=1), 4.0, atol=4 * 4 * np.sqrt(2 / 2e5))
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    nd = family.sample(gaussian.params([1, -1], cov=cov, runs=3), 1000, rng)
    assert nd.shape == (3, 1000, 2)


def test_combine_equals_statistics_of_the_union():
    family = gaussian.Gaussian()
    rng = np.random.default_rng(3)
    for shape in [(5, 30), (5, 30, 3)]:
        a, b = rng.normal(size=shape), rng.normal(1.0, 2.0, size=shape)
        merged = family.combine(family.summarize(a), family.summarize(b))
        direct = family.summarize(np.concatenate([a, b], axis=1))
        np.testing.assert_allclose(merged.mean, direct.mean)
        np.testing.assert_allclose(merged.scatter, direct.scatter)
        assert (merged.n == 60).all()


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_exact_statistics_match_brute_force_1d(estimator):
    family = gaussian.Gaussian(estimator)
    truth = gaussian.params(0.5, 1.5, runs=20_000)
    brute = family.fit(family.sample(truth, 12, np.random.default_rng(10)))
    fast = family.fit_statistics(family.sample_statistics(truth, 12, np.random.default_rng(11)))
    assert stats.ks_2samp(brute.mean, fast.mean).pvalue > ALPHA
    assert stats.ks_2samp(brute.cov, fast.cov).pvalue > ALPHA


def test_exact_statistics_match_brute_force_nd():
    family = gaussian.Gaussian()
    cov = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]])
    truth = gaussian.params([1.0, 0.0, -1.0], cov=cov, runs=20_000)
    brute = family.fit(family.sample(truth, 8, np.random.default_rng(12)))
    fast = family.fit_statistics(family.sample_statistics(truth, 8, np.random.default_rng(13)))
    for i in range(3):
        assert stats.ks_2samp(brute.mean[:, i], fast.mean[:, i]).pvalue > ALPHA
        for j in range(i, 3):
            assert stats.ks_2samp(brute.cov[:, i, j], fast.cov[:, i, j]).pvalue > ALPHA
    brute_det, fast_det = np.linalg.det(brute.cov), np.linalg.det(fast.cov)
    assert stats.ks_2samp(brute_det, fast_det).pvalue > ALPHA


@pytest.mark.parametrize("mixing", [loop.Replace(), loop.Accumulate()])
def test_exact_loop_matches_the_data_loop_after_many_generations(mixing):
    """The whole chain, not one step: µ̂ and σ̂ of generation 6 agree in distribution."""
    def run(seed, exact):
        rng = np.random.default_rng(seed)
        initial = gaussian.initial_data(20_000, 10, rng, exact=exact)
        return loop.simulate(gaussian.Gaussian(), initial, 7, 10, rng, mixing,
                             exact=exact).table

    exact, brute = run(20, True), run(21, False)
    last_exact, last_brute = exact[exact.generation == 6], brute[brute.generation == 6]
    for column in ["mean", "std"]:
        assert stats.ks_2samp(last_exact[column], last_brute[column]).pvalue > ALPHA


def test_fast_path_refuses_rules_that_need_data():
    family = gaussian.Gaussian()
    initial = family.sample(gaussian.params(runs=2), 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="replace or accumulate"):
        loop.simulate(family, initial, 3, 10, np.random.default_rng(0), loop.Pool(), exact=True)


def test_collapsed_covariance_still_samples():
    family = gaussian.Gaussian()
    collapsed = gaussian.GaussianParams(np.zeros((1, 2)), np.zeros((1, 2, 2)))
    assert np.all(family.sample(collapsed, 5, np.random.default_rng(0)) == 0)


def test_initial_data_is_d0_or_its_statistics():
    data = gaussian.initial_data(3, 50, np.random.default_rng(0), mean=2.0, std=3.0)
    assert data.shape == (3, 50)
    stats_ = gaussian.initial_data(3, 50, np.random.default_rng(0), exact=True)
    assert np.array_equal(stats_.n, [50] * 3) and stats_.mean.shape == (3,)
    with pytest.raises(ValueError, match="M must be >= 2"):
        gaussian.initial_data(3, 1, np.random.default_rng(0))
