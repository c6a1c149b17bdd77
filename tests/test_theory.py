"""Closed forms (paper §4.2) against Monte Carlo at fixed seeds.

Tolerances are Monte Carlo standard errors: a sample mean is within ``Z`` standard
errors ``sd / sqrt(N)``; a sample variance within ``Z`` of ``sqrt((m4 - var²) / N)``.
"""

import numpy as np
import pytest

from collapse import gaussian, loop, theory

Z = 4.0
RUNS = 100_000
GENERATIONS = 40
CHECKED = [0, 1, 5, 20, 39]


def simulate_risk(sizes_or_M, estimator, seed):
    schedule = sizes_or_M if np.isscalar(sizes_or_M) else list(sizes_or_M[1:])
    M0 = sizes_or_M if np.isscalar(sizes_or_M) else sizes_or_M[0]
    family = gaussian.Gaussian(estimator)
    rng = np.random.default_rng(seed)
    initial = family.sample_statistics(gaussian.params(0, 1, runs=RUNS), M0, rng)
    table = loop.simulate(family, initial, GENERATIONS, schedule, rng, exact=True).table
    table["R"] = table["mean"] ** 2 + (table["std"] - 1) ** 2
    table["mean_error"] = table["mean"] ** 2
    table["std_error"] = (table["std"] - 1) ** 2
    return table.groupby("generation")


def mean_and_se(groups, column):
    values = groups[column]
    return values.mean().to_numpy(), values.std().to_numpy() / np.sqrt(RUNS)


SCHEDULES = {"constant M=100": 100, "growing M=50(k+1)": 50 * (np.arange(GENERATIONS) + 1)}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_exact_expected_w2_and_its_parts(schedule, estimator):
    sizes = SCHEDULES[schedule]
    sizes_array = np.broadcast_to(sizes, GENERATIONS)
    groups = simulate_risk(sizes, estimator, seed=100)
    for column, exact in [("R", theory.expected_w2),
                          ("mean_error", theory.expected_mean_error),
                          ("std_error", theory.expected_std_error)]:
        mc, se = mean_and_se(groups, column)
        predicted = exact(sizes_array, estimator=estimator)
        np.testing.assert_array_less(np.abs(mc - predicted)[CHECKED], Z * se[CHECKED])


def test_exact_variance_of_w2():
    groups = simulate_risk(100, "unbiased", seed=101)
    risk = groups["R"]
    variance = risk.var().to_numpy()
    fourth = risk.apply(lambda r: ((r - r.mean()) ** 4).mean()).to_numpy()
    se = np.sqrt((fourth - variance**2) / RUNS)
    predicted = theory.variance_w2(100, generations=GENERATIONS)
    np.testing.assert_array_less(np.abs(variance - predicted)[CHECKED], Z * se[CHECKED])


def test_data_variance_sigma2_times_one_plus_n_over_M():
    """Var(X^n) = Var(µ̂_{n-1}) + E[σ̂²_{n-1}]; the paper's σ²(1 + n/M) is exact if unbiased."""
    groups = simulate_risk(100, "unbiased", seed=102)
    variance_of_mean = groups["mean"].var().to_numpy()
    mean_of_variance = groups["std"].apply(lambda s: (s**2).mean()).to_numpy()
    mc = np.concatenate([[1.0], (variance_of_mean + mean_of_variance)[:-1]])
    paper = theory.data_variance_paper(100, generations=GENERATIONS)
    np.testing.assert_allclose(theory.data_variance(100, generations=GENERATIONS), paper)
    # SE of the sum, conservatively from the two parts' standard errors
    se_mean = groups["mean"].var().to_numpy() * np.sqrt(2 / RUNS)
    se_var = groups["std"].apply(lambda s: (s**2).std()).to_numpy() / np.sqrt(RUNS)
    se = np.concatenate([[1e-12], (se_mean + se_var)[:-1]])
    np.testing.assert_array_less(np.abs(mc - paper)[CHECKED[1:]], Z * se[CHECKED[1:]])


def test_printed_eq4_disagrees_with_simulation():
    """The book's claim, asserted: Eq 4 as printed misses the σ-error of earlier generations."""
    groups = simulate_risk(100, "unbiased", seed=103)
    mc, se = mean_and_se(groups, "R")
    printed = theory.expected_w2_paper(100, generations=GENERATIONS)
    z = (mc - printed) / se
    assert z[20] > 10 and z[39] > 10
    first_order = theory.expected_w2_first_order(100, generations=GENERATIONS)
    assert abs(mc[5] - first_order[5]) < Z * se[5]


def test_eq5_leading_order_is_two_and_a_half_not_three():
    M = 10_000
    assert theory.variance_w2(M, generations=1)[0] == pytest.approx(2.5 / M**2, rel=1e-3)
    assert theory.variance_w2_paper(M, generations=1)[0] == pytest.approx(3 / M**2)
    assert theory.variance_w2_leading_order(M, generations=1)[0] == pytest.approx(2.5 / M**2)


def test_paper_forms_for_constant_M():
    M, n = 100, np.arange(5)
    np.testing.assert_allclose(theory.data_variance_paper(M, generations=5), 1 + n / M)
    np.testing.assert_allclose(theory.expected_w2_paper(M, generations=5), (n + 1.5) / M)


def test_half_normal_error_of_the_mean_fig12():
    N, repeats = 1000, 200_000
    means = np.random.default_rng(104).standard_normal(repeats) / np.sqrt(N)
    errors = np.abs(means)
    se = errors.std() / np.sqrt(repeats)
    assert abs(errors.mean() - theory.mean_abs_error_of_mean(N)) < Z * se
    assert errors.std() == pytest.approx(theory.std_abs_error_of_mean(N), rel=0.01)


def test_w2_between_gaussians_is_gelbrich_for_normals():
    from collapse import metrics

    assert metrics.w2_squared_gaussian_1d(1.0, 2.0, 0.0, 1.0) == 2.0
    cov_a, cov_b = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    # commuting covariances: trace term is sum (sqrt(a) - sqrt(b))^2
    value = metrics.w2_squared_gaussian([0, 0], cov_a, [1, 1], cov_b)
    assert value == pytest.approx(2 + (2 - 1) ** 2 + (1 - 3) ** 2)


def test_monte_carlo_helpers_match_the_tidy_table():
    """theory.data_variance_from_runs and moments_from_runs against pandas by hand."""
    rng = np.random.default_rng(104)
    family = gaussian.Gaussian()
    initial = family.sample_statistics(gaussian.params(0, 1, runs=500), 30, rng)
    table = loop.simulate(family, initial, 6, 30, rng, exact=True).table
    wide = {c: table.pivot(index="run", columns="generation", values=c).to_numpy()
            for c in ("mean", "std")}
    by_generation = table.groupby("generation")
    total = by_generation["mean"].var() + by_generation["std"].apply(lambda s: (s**2).mean())
    expected = np.concatenate([[4.0], total.to_numpy()[:-1]])
    got = theory.data_variance_from_runs(wide["mean"], wide["std"], sigma=2.0)
    np.testing.assert_allclose(got, expected, rtol=1e-12)

    risk = (table["mean"] ** 2 + (table["std"] - 1) ** 2).groupby(table["generation"])
    mean, mean_se, variance, variance_se = theory.moments_from_runs(
        wide["mean"] ** 2 + (wide["std"] - 1) ** 2)
    np.testing.assert_allclose(mean, risk.mean(), rtol=1e-12)
    np.testing.assert_allclose(mean_se, risk.std() / np.sqrt(500), rtol=1e-12)
    np.testing.assert_allclose(variance, risk.var(), rtol=1e-12)
    fourth = risk.apply(lambda r: ((r - r.mean()) ** 4).mean()).to_numpy()
    np.testing.assert_allclose(variance_se, np.sqrt((fourth - risk.var() ** 2) / 500),
                               rtol=1e-9)
    with pytest.raises(ValueError, match=r"runs >= 2"):
        theory.moments_from_runs(np.zeros(5))
