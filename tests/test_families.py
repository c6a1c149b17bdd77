"""Every numeric family keeps the loop's contract (``collapse.testing.check_family``)."""

from __future__ import annotations

import numpy as np
import pytest

from collapse import discrete, gaussian, gmm, noisy
from collapse.testing import check_family

RUNS = 4


@pytest.mark.parametrize("exact", [False, True])
def test_gaussian_1d(tmp_path, exact):
    family = gaussian.Gaussian

    def initial(rng):
        data = family().sample(gaussian.params(0.0, 1.0, runs=RUNS), 20, rng)
        return family().summarize(data) if exact else data

    check_family(family, initial, size=10, exact=exact, checkpoint_dir=tmp_path)


def test_gaussian_nd(tmp_path):
    truth = gaussian.params([0.0, 1.0], cov=[[1.0, 0.3], [0.3, 2.0]], runs=RUNS)
    check_family(gaussian.Gaussian, lambda rng: gaussian.Gaussian().sample(truth, 20, rng),
                   size=10, checkpoint_dir=tmp_path)


@pytest.mark.parametrize("exact", [False, True])
def test_discrete(tmp_path, exact):
    edges = np.linspace(-8, 8, 11)
    reference = discrete.binned(discrete.GaussianMixture1D(), edges)

    def family():
        return discrete.Discrete(reference, tail_threshold=0.05)

    def initial(rng):
        return discrete.initial_data(RUNS, 20, rng, reference, exact=exact)

    check_family(family, initial, size=10, exact=exact, checkpoint_dir=tmp_path)


NOISY_CASES = [(noise, exact) for noise in noisy.NOISE_KINDS for exact in (False, True)
               if exact or noise != "pull"]  # the pull needs the parent's mean: exact only


@pytest.mark.parametrize("noise, exact", NOISY_CASES)
def test_noisy(tmp_path, noise, exact):
    cov = np.array([[1.0, 0.4], [0.4, 0.6]])

    def family():
        return noisy.NoisyGaussian(noise=noise, scale=1.5)

    def initial(rng):
        if exact:
            return noisy.initial_data(RUNS, 20, rng, cov)
        truth = gaussian.params(np.zeros(2), cov=cov, runs=RUNS)
        return family().sample(truth, 20, rng)

    check_family(family, initial, size=10, exact=exact, checkpoint_dir=tmp_path)


@pytest.mark.parametrize("backend", ["batched", "sklearn"])
def test_gmm(tmp_path, backend):
    check_family(lambda: gmm.GMM(seed=3, backend=backend),
                 lambda rng: gmm.initial_data(RUNS, 50, rng, "two"),
                 size=50, generations=3, checkpoint_dir=tmp_path)
