"""The exact absorbing chain of App. A.1 against the discrete family run through the loop."""

from math import comb

import numpy as np
import pytest

from collapse import discrete, loop, markov

M, K, START = 10, 3, (5, 3, 2)
RUNS, GENERATIONS = 4000, 200


@pytest.fixture(scope="module")
def chain():
    return markov.AbsorbingChain(M, K)


def test_states_are_all_count_vectors(chain):
    assert len(chain.states) == comb(M + K - 1, K - 1) == 66
    assert np.all(chain.states.sum(axis=1) == M)
    assert len({tuple(s) for s in chain.states.tolist()}) == len(chain.states)


def test_rows_sum_to_one(chain):
    np.testing.assert_allclose(chain.transition.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(chain.transition >= 0)


def test_absorbing_states_are_exactly_the_delta_functions(chain):
    stays = np.isclose(np.diag(chain.transition), 1.0)
    is_delta = (chain.states == M).any(axis=1)
    np.testing.assert_array_equal(stays, is_delta)
    assert is_delta.sum() == K
    # every transient state reaches absorption: Q^g -> 0
    assert chain.absorbed_by(START, 400)[-1] > 1 - 1e-12


def test_absorption_probability_is_the_initial_frequency(chain):
    """Fixation probability = initial frequency: the counts are a martingale."""
    for i in range(chain.transient_count):
        counts = chain.states[i]
        np.testing.assert_allclose(chain.final_state_probabilities(counts), counts / M,
                                   atol=1e-10)


def test_two_state_chain_matches_binomial_transitions():
    from scipy import stats

    chain = markov.AbsorbingChain(6, 2)
    i, j = chain.index([2, 4]), chain.index([5, 1])
    assert chain.transition[i, j] == pytest.approx(stats.binom.pmf(5, 6, 2 / 6))


def test_diffusion_approximation_improves_with_M():
    """Kimura's −2M[p ln p + (1−p) ln(1−p)] approaches the exact mean time as M grows."""
    errors = []
    for size in (20, 200):
        exact = markov.AbsorbingChain(size, 2).time([size // 2, size - size // 2])[0]
        errors.append(abs(markov.fixation_time_diffusion([0.5, 0.5], size) / exact - 1))
    assert errors[1] < errors[0] / 5
    assert errors[1] < 0.01


@pytest.fixture(scope="module", params=[True, False], ids=["exact", "brute-force"])
def simulated(request):
    """Absorption of RUNS runs started from the same D_0, with exact counts or real samples."""
    family = discrete.Discrete(discrete.uniform(K))
    if request.param:
        initial = discrete.fixed_counts(START, RUNS)
    else:  # the samples themselves, with exactly the START counts
        initial = np.repeat(np.arange(K), START)[None].repeat(RUNS, axis=0)
    history = loop.simulate(family, initial, GENERATIONS, M, np.random.default_rng(2),
                            exact=request.param)
    return discrete.absorption(history.table)


def test_simulated_absorption_time_matches_chain(chain, simulated):
    assert chain.absorbed_by(START, GENERATIONS)[-1] > 1 - 1e-8  # truncation is negligible
    assert simulated["absorbed"].all()
    mean, variance = chain.time(START)
    standard_error = np.sqrt(variance / RUNS)
    assert abs(simulated["generation"].mean() - mean) < 4 * standard_error
    squared = (simulated["generation"] - simulated["generation"].mean()) ** 2
    variance_error = squared.std() / np.sqrt(RUNS)  # standard error of the sample variance
    assert abs(squared.mean() * RUNS / (RUNS - 1) - variance) < 4 * variance_error


def test_simulated_absorption_time_distribution_matches_chain(chain, simulated):
    cdf = chain.absorbed_by(START, 41)
    for g in (1, 5, 10, 20, 40):
        observed = (simulated["generation"] <= g).mean()
        standard_error = np.sqrt(cdf[g] * (1 - cdf[g]) / RUNS)
        assert abs(observed - cdf[g]) < 4 * standard_error, g


def test_simulated_final_state_matches_chain(chain, simulated):
    expected = chain.final_state_probabilities(START)
    observed = np.bincount(simulated["state"].astype(int), minlength=K) / RUNS
    standard_error = np.sqrt(expected * (1 - expected) / RUNS)
    assert np.all(np.abs(observed - expected) < 4 * standard_error)


def test_bad_parameters_fail_before_compute():
    with pytest.raises(ValueError, match="at most"):
        markov.AbsorbingChain(200, 5)
    with pytest.raises(ValueError, match="K must be >= 2"):
        markov.AbsorbingChain(10, 1)
    with pytest.raises(ValueError, match="M must be >= 1"):
        markov.AbsorbingChain(0, 3)
    with pytest.raises(TypeError, match="M must be an integer"):
        markov.AbsorbingChain(2.5, 3)
    with pytest.raises(ValueError, match="summing to M=10"):
        markov.AbsorbingChain(10, 3).index([5, 5, 5])
    with pytest.raises(ValueError, match="frequencies"):
        markov.fixation_time_diffusion([0.5, 0.6], 10)


def test_diffusion_approximation_is_vectorised():
    p = np.linspace(0.01, 0.99, 7)
    batch = np.stack([p, 1 - p], axis=-1)
    one_by_one = [markov.fixation_time_diffusion(row, 30) for row in batch]
    assert isinstance(one_by_one[0], float)
    np.testing.assert_allclose(markov.fixation_time_diffusion(batch, 30), one_by_one, rtol=1e-15)
    np.testing.assert_allclose(markov.fixation_time_diffusion(batch, 1),
                               -2 * (p * np.log(p) + (1 - p) * np.log(1 - p)), rtol=1e-12)
    with pytest.raises(ValueError, match="frequencies"):
        markov.fixation_time_diffusion(np.array([[0.5, 0.5], [0.5, 0.6]]), 10)
