"""Sweeps: the same results from every engine and any number of workers; a killed Dask
worker loses no finished generation; one GPU per worker; bad settings fail up front."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from collapse import gaussian, loop, sweep

# Worker processes rebuild this module's metric from its pickle, whatever their sys.path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class LoggedMetric:
    """A metric that appends this process's id to ``log`` once per generation (one fit
    each) and then sleeps ``delay`` seconds: a slow chain whose fits can be counted."""

    log: str
    delay: float = 0.0

    def __call__(self, params, data):
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(self.delay)
        return params.mean


def gaussian_tasks(runs=20, generations=15):
    """2 seeds × 3 mixing rules for the Gaussian family, as in the README."""
    family = gaussian.Gaussian()
    tasks = []
    for seed in range(2):
        d0 = family.sample(gaussian.params(0.0, 1.0, runs=runs), 50,
                           np.random.default_rng([seed, 0]))
        for rule in (loop.Replace(), loop.Accumulate(), loop.KeepOriginal(0.1)):
            tasks.append(sweep.task(sweep.simulation, family=family, initial_data=d0,
                                    generations=generations, sample_size=50, seed=[seed, 1],
                                    mixing=rule))
    return tasks


def slow_task(log, delay, generations=20):
    family = gaussian.Gaussian()
    d0 = family.sample(gaussian.params(0.0, 1.0, runs=10), 30, np.random.default_rng(7))
    return sweep.task(sweep.simulation, family=family, initial_data=d0,
                      generations=generations, sample_size=30, seed=8,
                      metrics={"logged": LoggedMetric(str(log), delay)},
                      checkpoint_seconds=0.0)


def assert_identical(histories, expected):
    assert len(histories) == len(expected)
    for got, want in zip(histories, expected, strict=True):
        pd.testing.assert_frame_equal(got.table, want.table)
        assert got.table.to_csv() == want.table.to_csv()


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The reference: every Gaussian task run one after another in this process."""
    return sweep.run(gaussian_tasks(), backend="serial",
                     checkpoint_dir=tmp_path_factory.mktemp("serial"))


# ------------------------------------------------------------------- pure functions


def test_worker_i_gets_device_i_mod_n():
    assert sweep.device_plan(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert sweep.device_plan(2, ["GPU-a", "GPU-b", "GPU-c"]) == ["GPU-a", "GPU-b"]
    assert sweep.device_plan(3, []) == [None, None, None]
    with pytest.raises(ValueError, match="jobs"):
        sweep.device_plan(0, ["0"])


def test_visible_devices_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert sweep.visible_devices() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert sweep.visible_devices() == []


def test_one_setting_picks_the_engine(monkeypatch):
    monkeypatch.delenv(sweep.ENV_VAR, raising=False)
    assert sweep.parse_backend(None) == ("local", None)
    assert sweep.parse_backend("dask://host:8786") == ("dask", "tcp://host:8786")
    assert sweep.parse_backend("tls://host:8786") == ("dask", "tls://host:8786")
    assert sweep.parse_backend("ray://head:10001") == ("ray", "ray://head:10001")
    monkeypatch.setenv(sweep.ENV_VAR, "dask-local")
    assert sweep.parse_backend(None) == ("dask-local", None)
    monkeypatch.setenv(sweep.ENV_VAR, "spark://x")
    with pytest.raises(ValueError, match=sweep.ENV_VAR):
        sweep.parse_backend(None)
    with pytest.raises(ValueError, match="backend must be one of"):
        sweep.parse_backend("dask://")


def test_environment_variable_chooses_the_backend(monkeypatch, tmp_path, serial):
    monkeypatch.setenv(sweep.ENV_VAR, "serial")
    assert_identical(sweep.run(gaussian_tasks(), checkpoint_dir=tmp_path), serial)


def test_bad_input_fails_before_compute(tmp_path):
    def no_checkpoint(x):
        return x

    with pytest.raises(TypeError, match="checkpoint= keyword"):
        sweep.task(no_checkpoint, x=1)
    with pytest.raises(TypeError, match="do not fit simulation"):
        sweep.task(sweep.simulation, family=gaussian.Gaussian(), generations=3)
    with pytest.raises(TypeError, match="chosen by sweep.run"):
        sweep.task(sweep.simulation, checkpoint="x.pkl")
    tasks = gaussian_tasks()
    with pytest.raises(TypeError, match=r"tasks\[1\]"):
        sweep.run([tasks[0], "not a task"], backend="serial")
    with pytest.raises(ValueError, match="jobs"):
        sweep.run(tasks, backend="serial", jobs=0)
    with pytest.raises(ValueError, match="backend"):
        sweep.run(tasks, backend="slurm")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        sweep.run(tasks, backend="serial", checkpoint_dir=tmp_path / "file")


def test_task_key_changes_with_every_argument():
    family = gaussian.Gaussian()
    data = np.zeros((2, 5))
    base = dict(family=family, initial_data=data, generations=3, sample_size=5, seed=[0, 1])
    keys = {sweep.task(sweep.simulation, **base).key,
            sweep.task(sweep.simulation, **{**base, "seed": [0, 2]}).key,
            sweep.task(sweep.simulation, **{**base, "initial_data": data + 1}).key,
            sweep.task(sweep.simulation, **{**base, "mixing": loop.KeepOriginal(0.2)}).key,
            sweep.task(sweep.simulation, **{**base, "mixing": loop.KeepOriginal(0.3)}).key,
            sweep.task(sweep.simulation, **{**base, "family": gaussian.Gaussian("mle")}).key,
            sweep.task(sweep.simulation,
                       **{**base, "sample_size": functools.partial(max, 5)}).key,
            sweep.task(sweep.simulation,
                       **{**base, "sample_size": functools.partial(max, 6)}).key}
    assert len(keys) == 8
    assert sweep.task(sweep.simulation, **base).key == sweep.task(sweep.simulation, **base).key


# ----------------------------------------------------------------------- the engines


def test_a_finished_sweep_run_again_fits_nothing(tmp_path):
    log = tmp_path / "fits.log"
    tasks = [slow_task(log, 0.0, generations=6)]
    first = sweep.run(tasks, backend="serial", checkpoint_dir=tmp_path / "ck")
    assert len(log.read_text().split()) == 6
    again = sweep.run(tasks, backend="serial", checkpoint_dir=tmp_path / "ck")
    assert len(log.read_text().split()) == 6  # every chain resumed at its end
    assert_identical(again, first)


def test_local_processes_equal_serial(tmp_path, serial):
    assert_identical(sweep.run(gaussian_tasks(), backend="local", jobs=2,
                               checkpoint_dir=tmp_path, devices=[]), serial)


def test_dask_scheduler_address_equals_serial(tmp_path, serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        histories = sweep.run(gaussian_tasks(), backend=address, checkpoint_dir=tmp_path)
    assert_identical(histories, serial)


def _kill_when(log: Path, lines: int, timeout: float, killed: list) -> None:
    """Kill (SIGKILL) the process that wrote ``log`` once it holds ``lines`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = log.read_text().split() if log.exists() else []
        if len(pids) >= lines:
            os.kill(int(pids[-1]), signal.SIGKILL)
            killed.append(int(pids[-1]))
            return
        time.sleep(0.005)


def test_killed_dask_worker_loses_no_finished_generation(tmp_path, serial):
    """A local Dask cluster (2 worker processes, 1 thread each): the worker running a
    slow chain (0.05 s per generation, checkpoint after each) is killed halfway; Dask
    runs the task again on a worker, it resumes from its checkpoint, and every table
    equals the serial run's."""
    pytest.importorskip("distributed")
    generations = 20
    log = tmp_path / "slow.log"
    tasks = [slow_task(log, 0.05, generations), *gaussian_tasks()]
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when, args=(log, generations // 2, 120, killed),
                              daemon=True)
    killer.start()
    histories = sweep.run(tasks, backend="dask-local", jobs=2, devices=[],
                          checkpoint_dir=tmp_path / "ck")
    killer.join()
    assert killed, "the slow chain was never killed"
    fits = log.read_text().split()
    before = sum(int(pid) == killed[0] for pid in fits)
    after = len(fits) - before
    assert before >= generations // 2
    # only the generation in flight when the worker died may be fitted twice
    assert before + after <= generations + 1, (before, after)
    reference = sweep.run([slow_task(tmp_path / "serial.log", 0.0, generations)],
                          backend="serial", checkpoint_dir=tmp_path / "serial")
    assert_identical(histories, reference + serial)


def test_ray_equals_serial(tmp_path, serial):
    """Ray is an optional extra (not in the pins): this runs where it is installed."""
    pytest.importorskip("ray")
    assert_identical(sweep.run(gaussian_tasks(), backend="ray", jobs=2, devices=[],
                               checkpoint_dir=tmp_path), serial)
