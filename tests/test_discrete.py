"""The discrete family (paper §4.1): exact fit, multinomial sampling, exact statistics."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from collapse import discrete, loop, markov
from collapse.book.cli import main
from collapse.book.families import FAMILIES


@pytest.fixture
def family():
    return discrete.Discrete([0.6, 0.3, 0.1], tail_threshold=0.2)


def test_fit_is_the_empirical_histogram(family):
    data = np.array([[0, 0, 1, 2], [2, 2, 2, 2]])
    np.testing.assert_allclose(family.fit(data).probs, [[0.5, 0.25, 0.25], [0, 0, 1]])


def test_sample_shape_and_range(family):
    params = discrete.DiscreteParams(np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]]))
    data = family.sample(params, 50, np.random.default_rng(0))
    assert data.shape == (2, 50) and np.issubdtype(data.dtype, np.integer)
    assert set(np.unique(data[0])) <= {0, 1} and np.all(data[1] == 2)


def test_sample_is_iid_categorical(family):
    """Every position of a sample is distributed as p (the random layout makes the draws
    exchangeable): chi-square goodness of fit at a fixed position and over all draws."""
    runs, n = 20000, 5
    params = discrete.DiscreteParams(np.tile(family.reference, (runs, 1)))
    data = family.sample(params, n, np.random.default_rng(1))
    for column in (data[:, 0], data[:, -1], data.ravel()):
        observed = np.bincount(column, minlength=3)
        assert stats.chisquare(observed, family.reference * column.size).pvalue > 1e-4


def test_exact_statistics_match_brute_force_in_distribution(family):
    """The counts of fit(sample) and sample_statistics are both Multinomial(n, p):
    compare the means and covariance of the counts with the multinomial's within 4 SE."""
    runs, n = 20000, 7
    params = discrete.DiscreteParams(np.tile(family.reference, (runs, 1)))
    for counts in (family.summarize(family.sample(params, n, np.random.default_rng(2))).counts,
                   family.sample_statistics(params, n, np.random.default_rng(3)).counts):
        assert np.all(counts.sum(axis=1) == n)
        p = family.reference
        expected_mean, expected_var = n * p, n * p * (1 - p)
        assert np.all(np.abs(counts.mean(axis=0) - expected_mean)
                      < 4 * np.sqrt(expected_var / runs))
        covariance = np.mean((counts[:, 0] - n * p[0]) * (counts[:, 1] - n * p[1]))
        product = (counts[:, 0] - n * p[0]) * (counts[:, 1] - n * p[1])
        assert abs(covariance + n * p[0] * p[1]) < 4 * product.std() / np.sqrt(runs)


def test_exact_and_brute_force_loops_agree(family):
    """The support over generations, run through the loop both ways, agrees within MC error."""
    runs, M, generations = 3000, 8, 12
    supports = []
    for exact, seed in ((True, 4), (False, 5)):
        rng = np.random.default_rng(seed)
        initial = discrete.initial_data(runs, M, rng, family.reference)
        table = loop.simulate(family, initial, generations, M, rng, exact=exact).table
        supports.append(table.pivot(index="run", columns="generation", values="support"))
    a, b = (s.to_numpy(float) for s in supports)
    standard_error = np.sqrt((a.var(axis=0) + b.var(axis=0)) / runs)
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 4 * standard_error + 1e-12)


def test_final_state_probability_equals_original_probability(family):
    """§4.1: the chain ends in a delta at state i with probability p_0(i)."""
    runs, M = 6000, 10
    rng = np.random.default_rng(6)
    counts = discrete.initial_data(runs, M, rng, family.reference, exact=True)
    history = loop.simulate(family, counts, 250, M, rng, exact=True)
    result = discrete.absorption(history.table)
    assert result["absorbed"].all()
    observed = np.bincount(result["state"].astype(int), minlength=3) / runs
    p = family.reference
    assert np.all(np.abs(observed - p) < 4 * np.sqrt(p * (1 - p) / runs))
    # and the mean absorption generation is the exact chain's, averaged over D_0 ~ p_0
    expected = markov.AbsorbingChain(M, 3).mean_time_from(p)
    times = result["generation"]
    assert abs(times.mean() - expected) < 4 * times.std() / np.sqrt(runs)


def test_describe_metrics(family):
    params = discrete.DiscreteParams(np.array([[0.6, 0.3, 0.1], [0.0, 1.0, 0.0]]))
    columns = family.describe(params)
    np.testing.assert_array_equal(columns["support"], [3, 1])
    np.testing.assert_allclose(columns["entropy"], [stats.entropy([0.6, 0.3, 0.1]), 0.0])
    assert not np.signbit(columns["entropy"][1])
    np.testing.assert_allclose(columns["tv"], [0.0, 0.7], atol=1e-12)
    np.testing.assert_array_equal(columns["mode"], [0, 1])
    np.testing.assert_allclose(columns["tail_mass"], [0.1, 0.0])
    w1 = stats.wasserstein_distance([0, 1, 2], [0, 1, 2], [0, 1, 0], [0.6, 0.3, 0.1])
    assert columns["w1"][1] == pytest.approx(w1)


def test_expected_support_matches_simulation():
    p = discrete.binned(discrete.GaussianMixture1D(), np.linspace(-8, 8, 41))
    family = discrete.Discrete(p)
    runs, M = 4000, 100
    counts = discrete.initial_data(runs, M, np.random.default_rng(7), family.reference,
                                   exact=True)
    support = family.describe(family.fit_statistics(counts))["support"]
    expected = discrete.expected_support(p, M)
    assert abs(support.mean() - expected) < 4 * support.std() / np.sqrt(runs)


def test_absorption_table():
    family = discrete.Discrete(discrete.uniform(2))
    params = [np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0.5, 0.5], [1.0, 0.0]])]
    rows = []
    for g, p in enumerate(params):
        described = family.describe(discrete.DiscreteParams(p))
        rows.append(pd.DataFrame({"run": [0, 1], "generation": g, **described}))
    result = discrete.absorption(pd.concat(rows))
    assert list(result["absorbed"]) == [False, True]
    assert np.isnan(result.loc[0, "generation"]) and result.loc[1, "generation"] == 0
    assert result.loc[1, "state"] == 0


def test_fig3_mixture_and_fat_tails():
    edges = np.linspace(-10, 10, 81)
    gaussian = discrete.GaussianMixture1D()
    fat = discrete.GaussianMixture1D(tail_dof=3)
    p, q = discrete.binned(gaussian, edges), discrete.binned(fat, edges)
    assert p.sum() == pytest.approx(1) and q.sum() == pytest.approx(1)
    assert gaussian.variance == pytest.approx(17.0)
    assert q[0] > 100 * p[0]  # the fat-tailed variant has far more mass in the outer bins


@pytest.mark.parametrize("tail_dof", [None, 5.0])
def test_mixture_sample_matches_its_cdf(tail_dof):
    mixture = discrete.GaussianMixture1D(tail_dof=tail_dof)
    draws = mixture.sample(20000, np.random.default_rng(8), runs=1)[0]
    assert stats.kstest(draws, mixture.cdf).pvalue > 1e-4
    squared = (draws - mixture.mean) ** 2
    assert abs(squared.mean() - mixture.variance) < 4 * squared.std() / np.sqrt(draws.size)


def test_cli_simulate(tmp_path):
    out = tmp_path / "d.csv"
    code = main(["simulate", "discrete", "--M", "20", "--generations", "30", "--runs", "50",
                 "--option", "states=10", "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out)
    assert len(table) == 50 * 30 and table["support"].max() <= 10
    assert (table.groupby("run")["support"].apply(lambda s: s.is_monotonic_decreasing)).all()


class Interrupted(Exception):
    pass


class Stopping(discrete.Discrete):
    """The same family both times (its counter is not a setting, so a checkpoint's
    fingerprint ignores it; a counter in a metric's closure would make the resumed run
    another run): stops the run at a chosen generation, like a Ctrl-C."""

    def __init__(self, reference, stop_at=None):
        super().__init__(reference)
        self.generation, self.stop_at = 0, stop_at

    def describe(self, params):
        if self.generation == self.stop_at:
            raise Interrupted
        self.generation += 1
        return super().describe(params)


def test_checkpoint_resumes_an_interrupted_run(tmp_path):
    arguments = (discrete.fixed_counts([4, 3, 2, 1], 50), 30, 10)
    full = loop.simulate(Stopping(discrete.uniform(4)), *arguments, np.random.default_rng(9),
                         exact=True).table
    path = tmp_path / "chain.pkl"
    with pytest.raises(Interrupted):
        loop.simulate(Stopping(discrete.uniform(4), stop_at=12), *arguments,
                      np.random.default_rng(9), exact=True, checkpoint=path)
    resuming = Stopping(discrete.uniform(4))
    resumed = loop.simulate(resuming, *arguments, np.random.default_rng(9), exact=True,
                            checkpoint=path).table
    assert resuming.generation == 30 - 12  # generations 12 … 29 only
    pd.testing.assert_frame_equal(resumed, full)


def test_chapter_profiles_reject_bad_values():
    from collapse.book import settings

    with pytest.raises(ValueError, match="time_sizes"):
        settings.resolve("discrete", "smoke", time_sizes=[1, 10])
    with pytest.raises(TypeError, match="collapse_runs"):
        settings.resolve("discrete", "smoke", collapse_runs=1.5)
    with pytest.raises(ValueError, match="starts"):
        settings.resolve("markov", "smoke", starts=[[5, 5]])
    with pytest.raises(ValueError, match="chain states"):
        settings.resolve("markov", "smoke", M=100, K=5, starts=[[20] * 5])
    with pytest.raises(ValueError, match="stages_generations"):
        settings.resolve("what_is_collapse", "smoke", stages_generations=[-1])


def test_bad_parameters_fail_early(family):
    with pytest.raises(ValueError, match="reference must sum to 1"):
        discrete.Discrete([0.5, 0.6])
    with pytest.raises(ValueError, match="reference must hold"):
        discrete.Discrete([1.5, -0.5])
    with pytest.raises(ValueError, match="positions"):
        discrete.Discrete([0.5, 0.5], positions=[1.0, 0.0])
    with pytest.raises(ValueError, match="tail_threshold must be <= 1"):
        discrete.Discrete([0.5, 0.5], tail_threshold=2.0)
    with pytest.raises(ValueError, match="states in 0"):
        family.summarize(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="integer states"):
        family.summarize(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="n must be >= 0"):
        family.sample(discrete.DiscreteParams(np.array([[1.0, 0, 0]])), -1,
                      np.random.default_rng(0))
    with pytest.raises(ValueError, match="states must be >= 1"):
        FAMILIES["discrete"].build(5, 10, np.random.default_rng(0), states=0)
    with pytest.raises(ValueError, match="distribution must be one of"):
        FAMILIES["discrete"].build(5, 10, np.random.default_rng(0), distribution="zipf")
    with pytest.raises(ValueError, match="tail_dof"):
        discrete.GaussianMixture1D(tail_dof=1)
