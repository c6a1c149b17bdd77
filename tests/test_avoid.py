"""The mean-error laws of the chapter "Can collapse be avoided?" against simulation."""

from __future__ import annotations

import numpy as np
import pytest

from collapse import gaussian, loop, theory

RUNS, M, G = 20_000, 20, 12


def squared_mean_error(mixing, schedule):
    rng = np.random.default_rng(7)
    family = gaussian.Gaussian()
    stats = family.sample_statistics(gaussian.params(0.0, 1.0, runs=RUNS), M, rng)
    table = loop.simulate(family, stats, G, schedule, rng, mixing, exact=True).table
    squared = (table["mean"] ** 2).groupby(table["generation"])
    return squared.mean().to_numpy(), (squared.std(ddof=1) / np.sqrt(RUNS)).to_numpy()


def test_closed_forms_for_a_constant_sample_size():
    sizes = np.full(50, 10)
    np.testing.assert_allclose(theory.mean_error_replace(sizes), np.arange(1, 51) / 10)
    accumulated = theory.mean_error_accumulate(sizes)
    np.testing.assert_allclose(accumulated, np.cumsum(1 / np.arange(1, 51) ** 2) / 10)
    assert accumulated[-1] < np.pi**2 / 60


@pytest.mark.parametrize("power", [0, 1, 2])
def test_replace_law_is_exact(power):
    schedule = lambda g: M * (g + 1) ** power  # noqa: E731
    simulated, error = squared_mean_error(loop.Replace(), schedule)
    law = theory.mean_error_replace(loop.sample_sizes(schedule, G, M))
    assert np.all(np.abs(simulated - law) < 4 * error)


def test_accumulate_law_holds_for_a_constant_sample_size():
    simulated, error = squared_mean_error(loop.Accumulate(), M)
    law = theory.mean_error_accumulate(np.full(G, M))
    assert np.all(np.abs(simulated - law) < 4 * error)
