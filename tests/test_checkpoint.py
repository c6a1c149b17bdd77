"""Checkpoints: never another run's result, nothing lost on SIGINT/SIGTERM, no crash when
two processes share one file, a clear error for a corrupt or foreign file (issue 12)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import checkpoint_worker
import numpy as np
import pandas as pd
import pytest

from collapse import checkpoint as checkpoint_format
from collapse import discrete, gaussian, loop

HERE = Path(__file__).resolve().parent


def gaussian_run(checkpoint=None, seed=0, runs=3, M=20, generations=5, mean=0.0, std=1.0,
                 estimator="unbiased", mixing=None, keep=(), initial=None):
    rng = np.random.default_rng(seed)
    family = gaussian.Gaussian(estimator=estimator)
    if initial is None:
        initial = family.sample(gaussian.params(mean, std, runs=runs), M, rng)
    return loop.simulate(family, initial, generations, M, rng, mixing or loop.Replace(),
                         keep=keep, checkpoint=checkpoint)


# Each change of a field that determines the result: (name, settings, field in the error).
CHANGES = [
    ("seed", dict(seed=1), "rng"),
    ("runs", dict(runs=7), "initial_data"),
    ("mean of D_0", dict(mean=5.0), "initial_data"),
    ("std of D_0", dict(std=2.0), "initial_data"),
    ("M", dict(M=30), "initial_data"),
    ("generations", dict(generations=6), "sample_sizes"),
    ("estimator", dict(estimator="mle"), "family"),
    ("mixing rule", dict(mixing=loop.Accumulate()), "mixing"),
    ("mixing weight", dict(mixing=loop.Weighted(0.5, 0.5, 0.0)), "mixing"),
    ("kept generations", dict(keep=[1]), "keep"),
]


@pytest.mark.parametrize("name, settings, field", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_setting_never_gets_the_old_result(tmp_path, name, settings, field):
    checkpoint = tmp_path / "run.pkl"
    first = gaussian_run(checkpoint)
    before = checkpoint.read_bytes()
    with pytest.raises(loop.CheckpointError, match=field) as error:
        gaussian_run(checkpoint, **settings)
    assert str(checkpoint) in str(error.value)
    assert checkpoint.read_bytes() == before, "the other run's checkpoint is left alone"
    fresh = gaussian_run(tmp_path / "fresh.pkl", **settings)
    assert not fresh.table.equals(first.table) or settings.get("keep")


def test_same_settings_reuse_the_checkpoint(tmp_path):
    checkpoint = tmp_path / "run.pkl"
    first = gaussian_run(checkpoint)
    pd.testing.assert_frame_equal(gaussian_run(checkpoint).table, first.table)


def test_family_parameters_are_part_of_the_identity(tmp_path):
    checkpoint = tmp_path / "run.pkl"
    rng = np.random.default_rng(0)
    counts = discrete.fixed_counts([5, 5, 5, 5], 3)
    loop.simulate(discrete.Discrete(discrete.uniform(4)), counts, 4, 20, rng, exact=True,
                  checkpoint=checkpoint)
    other = discrete.Discrete(np.array([0.4, 0.3, 0.2, 0.1]))
    with pytest.raises(loop.CheckpointError, match="family"):
        loop.simulate(other, counts, 4, 20, np.random.default_rng(0), exact=True,
                      checkpoint=checkpoint)


@pytest.mark.parametrize("content, why", [
    (b"", "empty"),
    (b"not a pickle at all", "garbage"),
    (pickle.dumps({"some": "dict"}), "a foreign pickle"),
])
def test_unreadable_checkpoints_are_a_clear_error(tmp_path, content, why):
    checkpoint = tmp_path / "run.pkl"
    checkpoint.write_bytes(content)
    with pytest.raises(loop.CheckpointError, match="run.pkl"):
        gaussian_run(checkpoint)
    assert checkpoint.read_bytes() == content


def test_truncated_and_newer_checkpoints_are_a_clear_error(tmp_path):
    checkpoint = tmp_path / "run.pkl"
    gaussian_run(checkpoint)
    whole = checkpoint.read_bytes()
    checkpoint.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(loop.CheckpointError, match="corrupt"):
        gaussian_run(checkpoint)
    saved = pickle.loads(whole)
    saved["version"] = checkpoint_format.VERSION + 1
    checkpoint.write_bytes(pickle.dumps(saved))
    with pytest.raises(loop.CheckpointError, match="newer"):
        gaussian_run(checkpoint)


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(loop.CheckpointError, match="directory"):
        gaussian_run(tmp_path)


def _start_worker(checkpoint, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen([sys.executable, str(HERE / "checkpoint_worker.py"),
                             str(checkpoint), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_killed_run_resumes_to_the_same_table(tmp_path, signum, code):
    checkpoint = tmp_path / "run.pkl"
    worker = _start_worker(checkpoint)
    finished = 0
    for line in worker.stdout:  # wait until some generations are done
        finished += line.startswith("generation")
        if finished == 8:
            worker.send_signal(signum)
            break
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == code, stderr
    assert "Traceback" not in stderr
    assert "run the same command again to resume" in stderr
    saved = pickle.loads(checkpoint.read_bytes())["state"]["generation"]
    assert finished - 1 <= saved < checkpoint_worker.GENERATIONS  # nothing finished is lost
    resumed = checkpoint_worker.run(checkpoint).table
    pd.testing.assert_frame_equal(resumed, checkpoint_worker.run().table)


def test_two_processes_on_one_checkpoint(tmp_path):
    checkpoint = tmp_path / "run.pkl"
    workers = [_start_worker(checkpoint, "0") for _ in range(2)]  # save every generation
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*.partial"))
    reference = checkpoint_worker.run().table
    pd.testing.assert_frame_equal(checkpoint_worker.run(checkpoint).table, reference)


def test_nan_initial_data_and_unknown_kept_generations_are_refused():
    rng = np.random.default_rng(0)
    data = np.full((2, 10), np.nan)
    with pytest.raises(ValueError, match="initial data"):
        loop.simulate(gaussian.Gaussian(), data, 3, 10, rng)
    with pytest.raises(ValueError, match="keep"):
        gaussian_run(keep=[99])


_signals_sent = []


@dataclass(frozen=True)
class _SignalWhileCommitting(loop.Replace):
    """Replace, but sends a signal to this process once, in the middle of committing a
    generation (from inside the mixing rule), as an unlucky Ctrl-C would."""

    signum: int = signal.SIGINT
    at_generation: int = 3

    def training_set(self, new, memory, size, rng, join=None):
        _signals_sent.append(None)
        if len(_signals_sent) == self.at_generation:
            os.kill(os.getpid(), self.signum)
        return new


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_committing_waits_for_the_whole_generation(tmp_path, signum):
    checkpoint = tmp_path / "run.pkl"
    _signals_sent.clear()
    rule = _SignalWhileCommitting(signum=signum)
    family = gaussian.Gaussian()
    initial = family.sample(gaussian.params(0.0, 1.0, runs=4), 30, np.random.default_rng(1))

    def run():
        return loop.simulate(family, initial, 8, 30, np.random.default_rng(2), rule,
                             checkpoint=checkpoint)

    with pytest.raises(loop.Interrupted) as stop:
        run()
    assert stop.value.signum == signum
    assert stop.value.generation == rule.at_generation  # the commit was finished
    resumed = run().table
    _signals_sent.clear()
    uninterrupted = loop.simulate(family, initial, 8, 30, np.random.default_rng(2),
                                  _SignalWhileCommitting(signum=signum, at_generation=0)).table
    pd.testing.assert_frame_equal(resumed, uninterrupted)
