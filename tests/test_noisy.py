"""The noisy approximation model (§4.3, App. A.2): assumptions, lower bounds, Gelbrich.

Statistical checks use fixed seeds and a tolerance of Z standard errors of the
Monte Carlo mean (Z = 4: a false alarm has probability ~6e-5 per comparison).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri

from collapse import gaussian, loop, metrics, noisy, theory
from collapse.book import settings
from collapse.book.chapters import noisy as noisy_chapter
from collapse.book.families import FAMILIES
from collapse.gaussian import GaussianParams

Z = 4.0
COV = np.array([[1.0, 0.4], [0.4, 0.6]])
TRACE = float(np.trace(COV))


def truth(runs=1, cov=COV):
    return gaussian.params(np.zeros(cov.shape[0]), cov=cov, runs=runs)


def simulate(family, kind, base, generations, runs, rng):
    """The chapter's experiment: ``runs`` chains from ``N(0, COV)`` with the schedule
    ``kind``; the table with ``M`` (the training-set size) added."""
    D0 = noisy.initial_data(runs, base, rng, COV)
    history = loop.simulate(family, D0, generations, noisy.schedule(kind, base), rng,
                            exact=True, metrics=noisy.truth_metrics(COV))
    return history.table.assign(M=history.table["n_train"])


@pytest.mark.parametrize("noise, scale", [("residual", 1.5), ("bounded", 2.0)])
def test_noise_satisfies_the_assumptions(noise, scale):
    """Eq 7 (E[ε] = 0), Eq 9 (Cov(ε, T) = 0), and for "bounded" Eq 18 (‖ε‖ ≤ K/M)."""
    family = noisy.NoisyGaussian(noise=noise, scale=scale)
    n = 12
    moments = noisy.assumption_moments(family, truth(), n, 100_000, np.random.default_rng(1))
    assert np.all(np.abs(moments["mean"]) <= Z * moments["mean_se"])
    assert np.all(np.abs(moments["cov"]) <= Z * moments["cov_se"])
    assert abs(moments["cross"]) <= Z * moments["cross_se"]
    assert np.allclose(moments["t_cov"], np.eye(2), atol=0.03)
    if noise == "bounded":
        assert moments["max_norm"] <= scale / n + 1e-12


def test_pull_noise_breaks_assumption_3_but_keeps_1_and_3_star():
    """The pull towards the parent's mean: E[ε] = 0 (Eq 7) and ‖ε‖ = K/M (Eq 18), but
    the cross term E[εᵀ Σ^½ T] of Eq 20 is negative (Eq 9 fails) and ε is not a function of the
    data (Eq 8 fails: the data path refuses it)."""
    family = noisy.NoisyGaussian(noise="pull", scale=2.0)
    n = 12
    moments = noisy.assumption_moments(family, truth(), n, 100_000, np.random.default_rng(11),
                                       exact=True)
    assert np.all(np.abs(moments["mean"]) <= Z * moments["mean_se"])
    assert moments["cross"] < -Z * moments["cross_se"]
    assert moments["max_norm"] == pytest.approx(2.0 / n)
    with pytest.raises(ValueError, match="generated the data"):
        family.fit(np.zeros((1, 5, 2)))


def test_pull_noise_falls_below_eq15_but_not_below_eq24():
    """App. A.2: with a noise correlated with T the mean error drops below Eq 15 (and
    below the leading term of Eq 25) yet stays above Eq 24 summed over generations."""
    K, runs, generations, base = 2.0, 2000, 30, 100
    family = noisy.NoisyGaussian(noise="pull", scale=K)
    table = simulate(family, "constant", base, generations, runs,
                     np.random.default_rng(12))
    by_generation = table.groupby("generation").mean_error
    mean = by_generation.mean().to_numpy()
    se = by_generation.std().to_numpy() / np.sqrt(runs)
    sizes = table.groupby("generation").M.first().to_numpy()
    energy = family.expected_noise_energy(sizes, TRACE)
    assert np.all(mean + Z * se >= theory.bounded_noise_bound(sizes, TRACE, 2, K, energy))
    leading = theory.noisy_mean_error_bound(sizes, TRACE)
    assert mean[-1] + Z * se[-1] < leading[-1]


def test_exact_statistics_survive_a_collapsed_covariance():
    family = noisy.NoisyGaussian()
    collapsed = GaussianParams(np.ones((4, 2)), np.zeros((4, 2, 2)))
    stats = family.sample_statistics(collapsed, 10, np.random.default_rng(0))
    assert np.allclose(stats.mean, 1.0) and np.allclose(stats.scatter, 0.0)


def test_noise_depends_on_the_data_only():
    """Eq 8: the same data give the same ε whatever the generating parameters were."""
    family = noisy.NoisyGaussian(noise="residual", scale=1.0)
    data = np.random.default_rng(2).standard_normal((5, 10, 2))
    first, again = family.fit(data), family.fit(data.copy())
    assert np.array_equal(first.mean, again.mean)


@pytest.mark.parametrize("noise", ["residual", "bounded"])
def test_noise_energy_formula(noise):
    family = noisy.NoisyGaussian(noise=noise, scale=1.3, power=0.7)
    n, runs = 9, 200_000
    stats = family.sample_statistics(truth(runs), n, np.random.default_rng(3))
    energy = np.sum(family.noise_of(stats.pair, stats.n) ** 2, axis=-1)
    expected = family.expected_noise_energy([n], TRACE)[0]
    assert abs(energy.mean() - expected) <= Z * energy.std(ddof=1) / np.sqrt(runs) + 1e-15


@pytest.mark.parametrize("n", [2, 3, 7])
def test_exact_statistics_match_the_data_path(n):
    """Drawing (x̄, y, scatter) exactly gives the same law as fitting n drawn points:
    the first two moments of the fitted mean and covariance agree within MC error."""
    family = noisy.NoisyGaussian(noise="residual", scale=1.0, power=0.5)
    runs = 100_000
    rng = np.random.default_rng(4)
    exact = family.fit_statistics(family.sample_statistics(truth(runs), n, rng))
    sampled = family.fit(family.sample(truth(runs), n, rng))
    for fitted in (exact, sampled):
        error = np.sum(fitted.mean**2, axis=-1)  # E = Tr Σ / n + κ² Tr Σ / n
        assert abs(error.mean() - 2 * TRACE / n) <= Z * error.std(ddof=1) / np.sqrt(runs)
        cov_se = fitted.cov.std(axis=0, ddof=1) / np.sqrt(runs)
        assert np.all(np.abs(fitted.cov.mean(axis=0) - COV) <= Z * cov_se)
        second = fitted.cov[:, 0, 0] ** 2  # E[s⁴] = σ⁴ (1 + 2/(n − 1)) for the unbiased s²
        expected = COV[0, 0] ** 2 * (1 + 2 / (n - 1))
        assert abs(second.mean() - expected) <= Z * second.std(ddof=1) / np.sqrt(runs)


@pytest.mark.parametrize("kind", noisy.SCHEDULES)
def test_simulated_risk_respects_eq15(kind):
    """Eq 15 is an equality for the mean error under Assumptions 1 and 3 (two-sided
    check) and a lower bound for E[W2²] (one-sided), at every generation.

    M_0 = 100 over 40 generations keeps Var(log Tr Σ_g) ≈ 2g/M below 1: with longer
    runs at constant M the covariance is so heavy-tailed that the sample mean over runs
    is no longer approximately normal and a standard-error tolerance would mislead."""
    family = noisy.NoisyGaussian(noise="residual", scale=1.0, power=0.5)
    runs, generations, base = 2000, 40, 100
    table = simulate(family, kind, base, generations, runs,
                     np.random.default_rng(5))
    sizes = table.groupby("generation").M.first().to_numpy()
    bound = theory.noisy_mean_error_bound(sizes, TRACE,
                                          family.expected_noise_energy(sizes, TRACE))
    by_generation = table.groupby("generation")
    for column, two_sided in (("mean_error", True), ("w2", False)):
        mean = by_generation[column].mean().to_numpy()
        se = by_generation[column].std().to_numpy() / np.sqrt(runs)
        assert np.all(mean + Z * se >= bound), column
        if two_sided:
            assert np.all(mean - Z * se <= bound), column


def test_bounded_noise_respects_eq24():
    """App. A.2: with ‖ε‖ = K/M, E[W2²] stays above Eq 24 summed over generations."""
    family = noisy.NoisyGaussian(noise="bounded", scale=1.0)
    runs, generations, base = 2000, 40, 30
    table = simulate(family, "constant", base, generations, runs,
                     np.random.default_rng(6))
    sizes = table.groupby("generation").M.first().to_numpy()
    bound = theory.bounded_noise_bound(sizes, TRACE, 2, 1.0,
                                       family.expected_noise_energy(sizes, TRACE))
    w2 = table.groupby("generation").w2
    assert np.all(w2.mean().to_numpy() + Z * w2.std().to_numpy() / np.sqrt(runs) >= bound)


def test_growth_of_the_bound_with_the_schedule():
    """§4.3: constant M → linear growth; linear M → log growth; quadratic → converges."""
    base, n = 100, np.arange(1, 2001)
    sizes = {kind: [noisy.schedule(kind, base)(g) for g in range(1, 2000)]
             for kind in noisy.SCHEDULES}
    bound = {k: theory.noisy_mean_error_bound([base, *s], TRACE) for k, s in sizes.items()}
    assert np.allclose(bound["constant"], TRACE * n / base)
    harmonic = bound["linear"] * base / TRACE  # H_n = ln n + γ + 1/(2n) − 1/(12n²) + …
    assert np.all(np.abs(harmonic - (np.log(n) + np.euler_gamma + 0.5 / n)) <= 1 / (12 * n**2))
    assert abs(bound["quadratic"][-1] - TRACE / base * np.pi**2 / 6) < TRACE / base / 1000


def test_constant_size_risk_grows_at_least_linearly():
    """Simulated E[W2²] grows over the second half at least as fast as Eq 15: the mean
    part grows exactly as Eq 15, and the covariance part's expectation cannot decrease
    (Σ_g is a martingale and Σ ↦ Tr(Σ_true^½ Σ Σ_true^½)^½ is concave)."""
    family = noisy.NoisyGaussian(noise="none")
    runs, generations, base = 2000, 60, 100
    table = simulate(family, "constant", base, generations, runs,
                     np.random.default_rng(7))
    w2 = table.pivot(index="run", columns="generation", values="w2").to_numpy()
    growth = w2[:, -1] - w2[:, generations // 2]
    expected = TRACE * (generations - 1 - generations // 2) / base
    assert growth.mean() + Z * growth.std(ddof=1) / np.sqrt(runs) >= expected


def test_bounded_bound_is_below_eq15_and_equal_without_noise_bound():
    sizes = [10, 20, 40, 80]
    assert np.all(theory.bounded_noise_bound(sizes, 2.0, 2, 1.0)
                  < theory.noisy_mean_error_bound(sizes, 2.0))
    assert np.allclose(theory.bounded_noise_bound(sizes, 2.0, 2, 0.0),
                       theory.noisy_mean_error_bound(sizes, 2.0))


# ------------------------------------------------------------------- Gelbrich


def test_w2_to_a_fixed_gaussian_matches_the_general_formula():
    rng = np.random.default_rng(10)
    factors = rng.standard_normal((50, 2, 4))
    covs = factors @ np.swapaxes(factors, -1, -2) / 4
    covs[0] = 0.0  # a fully collapsed model
    means = rng.standard_normal((50, 2))
    general = metrics.w2_squared_gaussian(np.zeros(2), COV, means, covs)
    assert np.allclose(metrics.w2_squared_to(np.zeros(2), COV)(means, covs), general)


def test_empirical_w2_matches_quantile_integration():
    samples = np.random.default_rng(8).normal(0.3, 1.4, (1, 25))
    exact = metrics.w2_squared_empirical_normal(samples, 0.0, 1.0)[0]
    ordered = np.sort(samples[0])
    numeric = metrics.w2_squared_quantiles(
        lambda u: ordered[np.minimum((u * 25).astype(int), 24)], ndtri, points=2_000_000)
    assert exact == pytest.approx(numeric, rel=1e-4)


def test_gelbrich_bound_is_a_lower_bound_and_tight_for_gaussians():
    rng = np.random.default_rng(9)
    samples = rng.standard_normal((500, 50))
    exact = metrics.w2_squared_empirical_normal(samples)
    bound = metrics.gelbrich_bound(samples.mean(1), samples.var(1), 0.0, 1.0)
    assert np.all(exact >= bound - 1e-12)
    uniform = metrics.w2_squared_quantiles(lambda u: np.sqrt(3) * (2 * u - 1), ndtri)
    assert uniform > 1e-3 and metrics.gelbrich_bound(0.0, 1.0, 0.0, 1.0) == 0.0
    mixture = metrics.mixture_quantile([-1.0, 1.0], [0.5, 0.5], [0.5, 0.5])
    w2 = metrics.w2_squared_quantiles(mixture, ndtri)
    assert w2 >= metrics.gelbrich_bound(0.0, 1.25, 0.0, 1.0)
    gaussian_w2 = metrics.w2_squared_quantiles(lambda u: 1.0 + 2.0 * ndtri(u), ndtri)
    assert gaussian_w2 == pytest.approx(metrics.gelbrich_bound(1.0, 4.0, 0.0, 1.0), rel=1e-3)


def test_empirical_gelbrich_does_not_depend_on_the_chunks():
    """Drawing whole rows in chunks gives the draws of one (runs, M) array: same numbers."""
    whole = noisy_chapter.empirical_gelbrich(40, 30, np.random.default_rng(3), chunk_elements=10**6)
    chunked = noisy_chapter.empirical_gelbrich(40, 30, np.random.default_rng(3), chunk_elements=100)
    assert whole == chunked
    samples = np.random.default_rng(3).standard_normal((30, 40))
    assert whole["exact"] == metrics.w2_squared_empirical_normal(samples).mean()
    assert whole["exact"] >= whole["Gelbrich"] > 0


# ------------------------------------------------------- the chapter's summaries


def test_averages_bounds_and_agreement():
    family = noisy.NoisyGaussian(noise="bounded", scale=1.0)
    runs, generations, base = 400, 8, 30
    tables = {kind: simulate(family, kind, base, generations, runs, np.random.default_rng(i))
              for i, kind in enumerate(noisy.SCHEDULES)}
    summary = pd.concat({k: noisy_chapter.averages(t) for k, t in tables.items()},
                        names=["schedule"])
    table = tables["linear"]
    part = summary.loc["linear"]
    assert len(part) == generations
    assert np.allclose(part["w2"], table.groupby("generation")["w2"].mean())
    assert np.allclose(part["w2_se"], table.groupby("generation")["w2"].std() / np.sqrt(runs))
    assert np.array_equal(part["M"], base * np.arange(1, generations + 1))
    last = table[table["generation"] == generations - 1]
    assert part["cov_trace_median"].iloc[-1] == last["cov_trace"].median()

    lines = noisy.bounds(family, part["M"].to_numpy(), COV)
    assert set(lines) == {"Eq 15", "Eq 25 leading term", "Eq 24 summed"}
    energy = family.expected_noise_energy(part["M"].to_numpy(), TRACE)
    assert np.allclose(lines["Eq 15"], theory.noisy_mean_error_bound(part["M"], TRACE, energy))
    assert set(noisy.bounds(noisy.NoisyGaussian(), [10, 20], COV)) == {
        "Eq 15", "Eq 25 leading term"}

    result = noisy_chapter.agreement(summary, family, COV)
    assert list(result.index) == list(noisy.SCHEDULES)
    z = ((part["mean_error"] - lines["Eq 15"]) / part["mean_error_se"]).to_numpy()
    assert result.loc["linear", "worst (mean error − Eq 15) / SE"] == z[np.argmax(np.abs(z))]
    assert abs(result.loc["linear", "worst (mean error − Eq 15) / SE"]) <= Z
    assert result.loc["linear", f"E W2² at g={generations - 1}"] == part["w2"].iloc[-1]
    assert (result["min (mean error − Eq 24) / SE"] >= -Z).all()


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize("options, message", [
    (dict(noise="gaussian"), "noise"), (dict(scale=-1.0), "scale"),
    (dict(power=-0.5), "power"), (dict(estimator="mle"), "unbiased"),
])
def test_bad_family_options(options, message):
    with pytest.raises(ValueError, match=message):
        noisy.NoisyGaussian(**options)


def test_bad_experiment_arguments_fail_before_compute():
    family = noisy.NoisyGaussian()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="schedule"):
        noisy.schedule("cubic", 10)
    with pytest.raises(ValueError, match="base_size"):
        noisy.schedule("constant", 1)
    with pytest.raises(ValueError, match="generations"):
        simulate(family, "constant", 10, 0, 10, rng)
    with pytest.raises(ValueError, match="runs"):
        noisy.initial_data(0, 10, rng, COV)
    with pytest.raises(ValueError, match="runs = 1"):
        noisy.assumption_moments(family, truth(2), 10, 100, rng)
    with pytest.raises(ValueError, match="M_0"):
        theory.noisy_mean_error_bound([1, 10])
    with pytest.raises(ValueError, match="N-D"):
        family.sample_statistics(GaussianParams(np.zeros(3), np.ones(3)), 10, rng)


@pytest.mark.parametrize("override, message", [
    (dict(dim=0), "dim"), (dict(base_size=3, dim=3), "base_size"),
    (dict(empirical_sizes=[1]), "empirical_sizes"), (dict(kappa=-1.0), "kappa"),
])
def test_bad_profile_values(override, message):
    with pytest.raises(ValueError, match=message):
        settings.resolve("noisy", "smoke", **override)


@pytest.mark.parametrize("noise", noisy.NOISE_KINDS)
def test_command_line_family_runs_in_the_loop(noise):
    family, initial = FAMILIES["noisy"].build(4, 30, np.random.default_rng(0), noise=noise,
                                              dim=2)
    history = loop.simulate(family, initial, 3, 30, np.random.default_rng(1), exact=True)
    assert len(history.table) == 12 and np.all(np.isfinite(history.table["mean_norm"]))


def test_peak_memory_estimate():
    from collapse.book.chapters import noisy as noisy_profiles

    estimates = {}
    for name in settings.PROFILE_NAMES:
        config = settings.resolve("noisy", name)
        estimates[name], parameter = config.peak_memory()
        assert isinstance(estimates[name], int) and parameter in config
    assert estimates["smoke"] < estimates["quick"] < estimates["paper"] < 4 * 2**30
    more_runs = settings.resolve("noisy", "paper", runs=100_000)
    assert more_runs.peak_memory() == (
        noisy_profiles.BASE_BYTES + 32 * 8 * 100_000 * 1000, "runs")
