"""Every numeric family keeps the loop's contract (see ``family_contract.py``)."""

from __future__ import annotations

import numpy as np
import pytest
from family_contract import check_contract

from collapse import discrete, gaussian, gmm, noisy

RUNS = 4


@pytest.mark.parametrize("exact", [False, True])
def test_gaussian_1d(tmp_path, exact):
    family = gaussian.Gaussian

    def initial(rng):
        data = family().sample(gaussian.params(0.0, 1.0, runs=RUNS), 20, rng)
        return family().summarize(data) if exact else data

    check_contract(family, initial, size=10, exact=exact, tmp_path=tmp_path)


def test_gaussian_nd(tmp_path):
    truth = gaussian.params([0.0, 1.0], cov=[[1.0, 0.3], [0.3, 2.0]], runs=RUNS)
    check_contract(gaussian.Gaussian, lambda rng: gaussian.Gaussian().sample(truth, 20, rng),
                   size=10, tmp_path=tmp_path)


@pytest.mark.parametrize("exact", [False, True])
def test_discrete(tmp_path, exact):
    edges = np.linspace(-8, 8, 11)
    reference = discrete.binned(discrete.GaussianMixture1D(), edges)

    def family():
        return discrete.Discrete(reference, tail_threshold=0.05)

    def initial(rng):
        return (family().initial_counts(20, RUNS, rng) if exact
                else family().initial_data(20, RUNS, rng))

    check_contract(family, initial, size=10, exact=exact, tmp_path=tmp_path)


NOISY_CASES = [(noise, exact) for noise in noisy.NOISE_KINDS for exact in (False, True)
               if exact or noise != "pull"]  # the pull needs the parent's mean: exact only


@pytest.mark.parametrize("noise, exact", NOISY_CASES)
def test_noisy(tmp_path, noise, exact):
    cov = np.array([[1.0, 0.4], [0.4, 0.6]])

    def family():
        return noisy.NoisyGaussian(noise=noise, scale=1.5)

    def initial(rng):
        if exact:
            return noisy.initial_data(cov, 20, RUNS, rng)
        truth = gaussian.params(np.zeros(2), cov=cov, runs=RUNS)
        return family().sample(truth, 20, rng)

    check_contract(family, initial, size=10, exact=exact, tmp_path=tmp_path)


def test_gmm(tmp_path):
    check_contract(lambda: gmm.GMM(seed=3), lambda rng: gmm.initial_data("two", 2, 50, rng),
                   size=50, generations=3, tmp_path=tmp_path)
