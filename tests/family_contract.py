"""The contract every model family keeps with the generational loop (``loop.Family``).

Each family's test module calls :func:`check_contract` with a factory for the family
and for its initial data ``D_0``; the same checks then hold for every family:
shapes of the tidy table, determinism from an explicit generator, resume after an
interruption, and the training-set sizes each mixing rule promises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collapse import loop


class StopHere(Exception):
    """Raised by the probe metric to interrupt a run, like Ctrl-C."""


def expected_sizes(mixing, initial_size: int, size: int, generations: int) -> list[int]:
    """``n_train`` of generations ``0 … G-1`` under ``mixing`` with constant ``M``."""
    if isinstance(mixing, loop.Accumulate):
        return [initial_size + g * size for g in range(generations)]
    return [initial_size] + [size] * (generations - 1)


ALL_RULES = (loop.Replace(), loop.Accumulate(), loop.Pool(), loop.KeepOriginal(0.5),
             loop.Mixture(0.5, 0.25, 0.25))
REPLACE = loop.Replace()


def check_contract(make_family, make_initial, *, size: int, generations: int = 3,
                   mixings=ALL_RULES, exact: bool = False, tmp_path=None) -> None:
    """Run ``make_family()`` through the loop's contract.

    ``make_initial(rng)`` returns ``D_0`` for the family (arrays ``(runs, M_0, ...)``
    or, with ``exact``, its sufficient statistics); ``size`` is ``M`` of later
    generations. ``tmp_path`` enables the resume check.
    """
    family = make_family()
    assert isinstance(family, loop.Family), "fit, sample and describe are the contract"
    if exact:
        assert isinstance(family, loop.ExactFamily)

    def run(seed, mixing=REPLACE, **options):
        rng = np.random.default_rng(seed)
        initial = make_initial(rng)
        return loop.simulate(make_family(), initial, generations, size, rng, mixing,
                             exact=exact, **options)

    # Shapes: one row per run and generation, the family's own columns present.
    first = run(0)
    table = first.table
    runs = table["run"].nunique()
    assert len(table) == runs * generations
    assert sorted(table["generation"].unique()) == list(range(generations))
    described = family.describe(family.fit_statistics(make_initial(np.random.default_rng(0)))
                                if exact else family.fit(make_initial(np.random.default_rng(0))))
    for name, column in described.items():
        assert name in table.columns
        assert np.shape(np.broadcast_to(column, runs)) == (runs,)

    # Determinism from the generator alone.
    pd.testing.assert_frame_equal(run(0).table, table)
    assert not run(1).table.equals(table), "another seed must give another run"

    # Each mixing rule keeps its sample sizes.
    initial_size = int(table.loc[table["generation"] == 0, "n_train"].iloc[0])
    for mixing in mixings:
        if exact and not mixing.exact:
            continue
        sizes = run(2, mixing).table.groupby("generation")["n_train"].first().tolist()
        assert sizes == expected_sizes(mixing, initial_size, size, generations), mixing

    # Resume: an interrupted run continues to the same table bit for bit.
    if tmp_path is not None:
        checkpoint = tmp_path / f"{type(family).__name__}.pkl"
        calls = {"count": 0, "stop_at": -1}

        def probe(params, data):
            calls["count"] += 1
            if calls["count"] - 1 == calls["stop_at"]:
                raise StopHere
            return 0.0

        reference = run(3, metrics={"probe": probe}).table
        calls.update(count=0, stop_at=generations - 1)
        try:
            run(3, metrics={"probe": probe}, checkpoint=checkpoint)
        except StopHere:
            pass
        else:
            raise AssertionError("the probe should have interrupted the run")
        calls.update(count=0, stop_at=-1)
        resumed = run(3, metrics={"probe": probe}, checkpoint=checkpoint).table
        assert calls["count"] == 1, "only the unfinished generation is fitted again"
        pd.testing.assert_frame_equal(resumed, reference)
