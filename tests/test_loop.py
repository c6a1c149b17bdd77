"""The generational loop and its mixing rules (paper Fig 2, §4)."""

import numpy as np
import pytest

from collapse import gaussian, loop

FAMILY = gaussian.Gaussian()


def initial(runs=3, M=20, seed=0):
    return FAMILY.sample(gaussian.params(0, 1, runs=runs), M, np.random.default_rng(seed))


def run(mixing, generations=6, M=20, seed=1, **options):
    return loop.simulate(FAMILY, initial(M=M), generations, M, np.random.default_rng(seed),
                         mixing, keep=range(generations), **options)


def test_table_is_tidy_one_row_per_run_and_generation():
    history = run(loop.Replace(), generations=5)
    table = history.table
    assert len(table) == 3 * 5
    assert set(table.columns) >= {"run", "generation", "n_train", "mean", "std"}
    assert table.groupby(["run", "generation"]).size().eq(1).all()


@pytest.mark.parametrize("mixing, expected", [
    (loop.Replace(), lambda g: 20),
    (loop.Accumulate(), lambda g: 20 * (g + 1)),
    (loop.Pool(), lambda g: 20),
    (loop.KeepOriginal(0.25), lambda g: 20),
    (loop.Weighted(0.5, 0.25, 0.25), lambda g: 20),
])
def test_each_rule_keeps_the_sample_sizes_it_promises(mixing, expected):
    history = run(mixing)
    for g, (_, data) in history.kept.items():
        assert data.shape == (3, expected(g))
    assert (history.table.groupby("generation")["n_train"].first().to_numpy()
            == [expected(g) for g in range(6)]).all()


def test_keep_original_holds_exactly_the_fraction_of_real_points():
    history = run(loop.KeepOriginal(0.25))
    original = history.kept[0][1]
    for g in range(1, 6):
        data = history.kept[g][1]
        for r in range(3):
            assert np.isin(data[r], original[r]).sum() == 5  # 25 % of 20, no repeats


def test_accumulate_contains_all_earlier_training_sets():
    history = run(loop.Accumulate())
    for g in range(1, 6):
        assert np.array_equal(history.kept[g][1][:, : 20 * g], history.kept[g - 1][1])


def test_pool_draws_from_all_earlier_data_without_replacement():
    history = run(loop.Pool(), generations=8)
    original = history.kept[0][1]
    reused = 0
    for g in range(1, 8):
        data = history.kept[g][1]
        for r in range(3):
            assert len(np.unique(data[r])) == 20  # no point drawn twice
            reused += np.isin(data[r], original[r]).sum()
    assert reused > 0  # the real data stay in the pool


def test_schedule_of_sample_sizes():
    sizes = [30, 40, 50]
    history = loop.simulate(FAMILY, initial(M=20), 4, sizes, np.random.default_rng(0),
                            keep=range(4))
    assert [history.kept[g][1].shape[1] for g in range(4)] == [20, 30, 40, 50]
    history = loop.simulate(FAMILY, initial(M=20), 4, lambda g: 10 * g + 5,
                            np.random.default_rng(0))
    assert history.table.groupby("generation")["n_train"].first().tolist() == [20, 15, 25, 35]


@pytest.mark.parametrize("mixing", [loop.Replace(), loop.Pool(), loop.KeepOriginal(0.1)])
def test_seeded_runs_are_reproducible_bit_for_bit(mixing):
    a, b = run(mixing, seed=7).table, run(mixing, seed=7).table
    assert a.equals(b)
    assert not a.equals(run(mixing, seed=8).table)


def test_exact_path_is_reproducible_bit_for_bit():
    def once():
        rng = np.random.default_rng(3)
        initial = gaussian.initial_data(100, 50, rng, exact=True)
        return loop.simulate(gaussian.Gaussian(), initial, 30, 50, rng, exact=True).table

    assert once().equals(once())


class Interrupt(Exception):
    pass


class Probe(gaussian.Gaussian):
    """The same family both times (its counters are not settings, so not fingerprinted):
    counts fits, and fails at the ``stop_at``-th."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.fits, self.stop_at = 0, stop_at

    def fit(self, data):
        self.fits += 1
        if self.fits == self.stop_at:
            raise Interrupt
        return super().fit(data)


@pytest.mark.parametrize("mixing", [loop.Replace(), loop.Pool(), loop.Accumulate()])
def test_an_interrupted_run_resumes_and_loses_nothing(tmp_path, mixing):
    checkpoint = tmp_path / "state.pkl"
    reference = run(mixing, generations=8, seed=5).table

    with pytest.raises(Interrupt):
        loop.simulate(Probe(stop_at=6), initial(), 8, 20, np.random.default_rng(5), mixing,
                      checkpoint=checkpoint)
    probe = Probe()
    resumed = loop.simulate(probe, initial(), 8, 20, np.random.default_rng(5), mixing,
                            checkpoint=checkpoint)
    assert probe.fits == 3  # generations 5, 6, 7 only: 0 … 4 were finished before
    assert resumed.table.equals(reference)


def test_checkpoint_of_another_simulation_is_refused(tmp_path):
    checkpoint = tmp_path / "state.pkl"
    loop.simulate(FAMILY, initial(), 3, 20, np.random.default_rng(0), checkpoint=checkpoint)
    with pytest.raises(ValueError, match="different run"):
        loop.simulate(FAMILY, initial(), 4, 20, np.random.default_rng(0), checkpoint=checkpoint)


class FailingSampler(gaussian.Gaussian):
    """Raises inside ``sample`` once, on the 4th call: after the rng has moved on. The
    switch lives outside the instance so that the resumed run has the same signature."""

    switch = {"calls": 0, "fail_at": 4}

    def sample(self, params, n, rng):
        self.switch["calls"] += 1
        drawn = super().sample(params, n, rng)
        if self.switch["calls"] == self.switch["fail_at"]:
            raise Interrupt
        return drawn


@pytest.mark.parametrize("seconds", [0.0, 3600.0])
def test_interrupted_inside_sampling_resumes_bit_for_bit(tmp_path, seconds):
    checkpoint = tmp_path / "state.pkl"
    reference = loop.simulate(gaussian.Gaussian(), initial(), 8, 20, np.random.default_rng(9),
                              loop.Pool()).table
    FailingSampler.switch.update(calls=0, fail_at=4)
    with pytest.raises(Interrupt):
        loop.simulate(FailingSampler(), initial(), 8, 20, np.random.default_rng(9),
                      loop.Pool(), checkpoint=checkpoint, checkpoint_seconds=seconds)
    FailingSampler.switch.update(fail_at=-1)
    resumed = loop.simulate(FailingSampler(), initial(), 8, 20, np.random.default_rng(9),
                            loop.Pool(), checkpoint=checkpoint, checkpoint_seconds=seconds)
    assert resumed.table.equals(reference)


def test_chapter_streams_and_checkpoint_paths(tmp_path):
    from collapse import checkpoint
    from collapse.book import settings

    stream = settings.streams(7)
    assert stream(1, 2).random() == np.random.default_rng([7, 1, 2]).random()
    assert stream(1, 2).random() != stream(2, 1).random()
    with pytest.raises(ValueError, match="seed"):
        settings.streams(-1)
    path = checkpoint.path_for(tmp_path, {"M": 100}, "two")
    assert path.parent == tmp_path
    assert path == checkpoint.path_for(tmp_path, {"M": 100}, "two")
    assert path != checkpoint.path_for(tmp_path, {"M": 101}, "two")
    assert path != checkpoint.path_for(tmp_path, {"M": 100}, "two", code=("loop", "gmm"))
