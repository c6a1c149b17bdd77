"""Every numeric family keeps the loop's contract (see ``family_contract.py``)."""

from __future__ import annotations

import pytest
from family_contract import check_contract

from collapse import gaussian

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
