"""The contract every model family keeps with the generational loop, as a test you can run
on your own family (as scikit-learn's ``check_estimator``)::

    from collapse.testing import check_family
    check_family(MyFamily, lambda rng: my_initial_data(runs=4, M=20, rng=rng), size=10)

It checks the shapes of the tidy table, determinism from an explicit generator (and a
different run for another seed), the training-set sizes every mixing rule promises, and
that an interrupted run resumes from its checkpoint to the same table bit for bit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import loop, mixing


class _StopHere(Exception):
    """Raised by the probe metric to interrupt a run, like Ctrl-C."""


def expected_sizes(rule, initial_size: int, size: int, generations: int) -> list[int]:
    """``n_train`` of generations ``0 … G-1`` under ``rule`` with constant ``M``."""
    if isinstance(rule, mixing.Accumulate):
        return [initial_size + g * size for g in range(generations)]
    return [initial_size] + [size] * (generations - 1)


ALL_RULES = (mixing.Replace(), mixing.Accumulate(), mixing.Pool(), mixing.KeepOriginal(0.5),
             mixing.Weighted(0.5, 0.25, 0.25))


# The resume check's counter: state of a library function, which a checkpoint's
# fingerprint covers by its code, not its values (a counter in a closure would make the
# resumed run a different one).
_PROBE = {"count": 0, "stop_at": -1}


def _probe(params, data):
    _PROBE["count"] += 1
    if _PROBE["count"] - 1 == _PROBE["stop_at"]:
        raise _StopHere
    return 0.0


def check_family(make_family, make_initial, *, size: int, generations: int = 3,
                 mixings=ALL_RULES, exact: bool = False, checkpoint_dir=None) -> None:
    """Run ``make_family()`` through the loop's contract; an ``AssertionError`` says what
    is broken.

    ``make_initial(rng)`` returns ``D_0`` for the family (arrays ``(runs, M_0, ...)``
    or, with ``exact``, its sufficient statistics); ``size`` is ``M`` of later
    generations; ``mixings``: the rules the family must follow. The resume check writes
    its checkpoint in ``checkpoint_dir`` (default: a temporary directory).
    """
    family = make_family()
    assert isinstance(family, loop.Family), \
        f"{type(family).__name__} must subclass collapse.loop.Family"
    if exact:
        assert isinstance(family, loop.ExactFamily), \
            f"{type(family).__name__} must subclass collapse.loop.ExactFamily for exact=True"

    def run(seed, rule=None, **options):
        rng = np.random.default_rng(seed)
        initial = make_initial(rng)
        return loop.simulate(make_family(), initial, generations, size, rng, rule,
                             exact=exact, **options)

    # Shapes: one row per run and generation, the family's own columns present.
    table = run(0).table
    runs = table["run"].nunique()
    assert len(table) == runs * generations, "one row per run and generation"
    assert sorted(table["generation"].unique()) == list(range(generations))
    initial = make_initial(np.random.default_rng(0))
    described = family.describe(family.fit_statistics(initial) if exact else family.fit(initial))
    for name, column in described.items():
        assert name in table.columns, f"describe() column {name!r} missing from the table"
        assert np.shape(np.broadcast_to(column, runs)) == (runs,), \
            f"describe() column {name!r} must have one value per run"

    # Determinism from the generator alone.
    pd.testing.assert_frame_equal(run(0).table, table)
    assert not run(1).table.equals(table), "another seed must give another run"

    # Each mixing rule keeps its sample sizes.
    initial_size = int(table.loc[table["generation"] == 0, "n_train"].iloc[0])
    for rule in mixings:
        if exact and not rule.exact:
            continue
        sizes = run(2, rule).table.groupby("generation")["n_train"].first().tolist()
        assert sizes == expected_sizes(rule, initial_size, size, generations), \
            f"{rule}: training-set sizes {sizes}"

    # Resume: an interrupted run continues to the same table bit for bit.
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(checkpoint_dir or scratch) / f"{type(family).__name__}.pkl"
        calls, probe = _PROBE, _probe
        calls.update(count=0, stop_at=-1)
        reference = run(3, metrics={"probe": probe}).table
        calls.update(count=0, stop_at=generations - 1)
        try:
            run(3, metrics={"probe": probe}, checkpoint=path)
        except _StopHere:
            pass
        else:
            raise AssertionError("the probe should have interrupted the run")
        calls.update(count=0, stop_at=-1)
        resumed = run(3, metrics={"probe": probe}, checkpoint=path).table
        assert calls["count"] == 1, "only the unfinished generation is fitted again on resume"
        pd.testing.assert_frame_equal(resumed, reference)
