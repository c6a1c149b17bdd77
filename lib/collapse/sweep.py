"""Sweeps: many independent simulations (seeds × mixing rules × sizes × settings) run
by local processes, a Dask cluster or Ray, with the same results whatever the engine.

A sweep is a list of :class:`Task` (a module-level function and its keyword arguments)
handed to :func:`run`. Every task gets

* its own randomness from its own arguments (e.g. ``seed=[base_seed, index]``), never
  from the worker or the order in which tasks finish, so the results are byte-identical
  for any backend and any number of workers;
* a checkpoint file ``<checkpoint_dir>/<function>-<content hash of the task>.pkl``
  (passed as ``checkpoint=``): a task re-run after its worker died, or a whole sweep
  run again, resumes every chain from its last finished generation (put
  ``checkpoint_dir`` on storage that all workers share);
* on a machine with several GPUs, a GPU of its own: worker ``i`` of ``jobs`` sees only
  GPU ``i mod N`` (``CUDA_VISIBLE_DEVICES``), see :func:`device_plan`.

One setting picks the engine, the ``backend`` argument or else the environment
variable ``COLLAPSE_BACKEND``:

``local`` (default)
    ``jobs`` local worker processes.
``serial``
    in this process, one task after another.
``dask-local``
    a ``distributed`` cluster of ``jobs`` worker processes on this machine.
``dask://host:8786``
    the workers of a running ``dask scheduler`` (``tls://…`` and ``tcp://…`` also work).
``ray`` or ``ray://host:10001``
    a Ray cluster of ``jobs`` CPUs on this machine, or a running one (optional:
    ``pip install 'collapse[ray]'``).

Example (:func:`simulation` is a ready task function around :func:`loop.simulate`)::

    tasks = [sweep.task(sweep.simulation, family=family, initial_data=d0, generations=50,
                        sample_size=100, seed=[seed, 1], mixing=rule)
             for seed in range(5) for rule in (loop.Replace(), loop.Accumulate())]
    histories = sweep.run(tasks, backend="dask://scheduler:8786")
"""

from __future__ import annotations

import concurrent.futures
import difflib
import functools
import inspect
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import hashing, loop, validate

ENV_VAR = "COLLAPSE_BACKEND"
BACKENDS = ("serial", "local", "dask-local", "dask://HOST:PORT", "ray", "ray://HOST:PORT")
CHECKPOINT_DIR = Path(".cache") / "sweeps"


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True, eq=False)
class Task:
    """One independent job of a sweep: ``function(**kwargs, checkpoint=path)``.

    ``key`` is a content hash of the function (its code and its module's source), the
    arguments and the source files of their classes' modules: a changed setting or
    changed code gives a new checkpoint, never a stale one.
    """

    function: Callable
    kwargs: dict

    @functools.cached_property
    def key(self) -> str:
        code = hashing.code_digest(self.function, loop, *(
            value if callable(value) else type(value) for value in self.kwargs.values()))
        return hashing.digest(self.function, self.kwargs, code)

    @property
    def name(self) -> str:
        return f"{getattr(self.function, '__name__', 'task')}-{self.key}"

    def __call__(self, checkpoint=None):
        return self.function(**self.kwargs, checkpoint=checkpoint)


def task(function: Callable, **kwargs) -> Task:
    """A task; the arguments are checked against ``function``'s signature now, before any
    compute. ``function`` must take a keyword ``checkpoint`` (a path, or None), and for
    Dask, Ray and ``local`` it must be picklable (module-level or defined in a notebook)."""
    if not callable(function):
        raise TypeError(f"task function must be callable, got {function!r}")
    signature = inspect.signature(function)
    if "checkpoint" not in signature.parameters:
        raise TypeError(f"task function {function.__qualname__} must accept a checkpoint= "
                        f"keyword (the file that makes it resumable)")
    if "checkpoint" in kwargs:
        raise TypeError("task(): checkpoint is chosen by sweep.run (from checkpoint_dir); "
                        "do not pass it")
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    unknown = [name for name in kwargs if name not in signature.parameters]
    if unknown and not accepts_any:
        close = difflib.get_close_matches(unknown[0], list(signature.parameters), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"task(): {function.__qualname__} takes no argument {unknown[0]!r}"
                        f"{hint}; it takes {', '.join(signature.parameters)}")
    try:
        signature.bind(**kwargs, checkpoint=None)
    except TypeError as error:
        raise TypeError(f"task arguments do not fit {function.__qualname__}: {error}") from None
    return Task(function, dict(kwargs))


def simulation(family, initial_data, generations: int, sample_size, seed, mixing=None, *,
               exact: bool = False, metrics=None, keep=(), checkpoint=None,
               checkpoint_seconds: float = 10.0) -> loop.History:
    """A task function: :func:`collapse.loop.simulate` with ``rng =
    numpy.random.default_rng(seed)`` (``seed`` an int or a list of ints, e.g.
    ``[base_seed, index]``), so the randomness belongs to the task, not the worker."""
    return loop.simulate(family, initial_data, generations, sample_size,
                         np.random.default_rng(seed), mixing, exact=exact, metrics=metrics,
                         keep=keep, checkpoint=checkpoint,
                         checkpoint_seconds=checkpoint_seconds)


def chains(family, initial_data, generations: int, sample_size, rng: np.random.Generator,
           mixing=None, *, backend: str | None = None, jobs: int | None = None,
           checkpoint_dir=None, progress: bool = False, **options) -> list[loop.History]:
    """Every run of ``initial_data`` as an independent chain, one task each: run ``r``
    starts from ``initial_data[r]`` with the family ``family.for_run(r)`` and its own
    random stream (the ``r``-th child of ``rng``'s seed sequence, as ``rng.spawn``
    gives), so the result does not depend on the backend or the number of workers.
    ``options`` go to :func:`collapse.loop.simulate` (``keep``, ``metrics``, ``exact``);
    ``checkpoint_dir`` (default: none) makes every chain resumable. Returns one
    ``History`` per run (see :func:`join`)."""
    generations = validate.integer("generations", generations, minimum=1)
    validate.generator("rng", rng)
    runs = np.shape(initial_data)[0]
    loop.sample_sizes(sample_size, generations, np.shape(initial_data)[1])  # fail fast
    for g in options.get("keep", ()):
        validate.integer("keep (each generation)", g, minimum=0, maximum=generations - 1)
    tasks = [task(simulation, family=family.for_run(r), initial_data=initial_data[r:r + 1],
                  generations=generations, sample_size=sample_size, seed=seed, mixing=mixing,
                  **options)
             for r, seed in enumerate(rng.bit_generator.seed_seq.spawn(runs))]
    return run(tasks, backend=backend, jobs=jobs, checkpoint_dir=checkpoint_dir,
               devices=[], progress=progress)


def join(histories: Sequence[loop.History], join_params=None) -> loop.History:
    """One ``History`` from one-run histories (e.g. of :func:`chains`): the tables with
    ``run = r``, and ``kept[g] = (join_params(params of every run), data of every run)``
    (``join_params`` default: the list of the runs' parameters)."""
    tables = [h.table.assign(run=r) for r, h in enumerate(histories)]
    combine = join_params or list
    kept = {g: (combine([h.kept[g][0] for h in histories]),
                np.concatenate([h.kept[g][1] for h in histories]))
            for g in histories[0].kept}
    return loop.History(table=pd.concat(tables, ignore_index=True), kept=kept)


# --------------------------------------------------------------------------- devices


def visible_devices() -> list[str]:
    """The CUDA devices this process may use, without initialising CUDA: the entries
    of ``CUDA_VISIBLE_DEVICES`` if it is set, else the GPUs the NVIDIA driver lists."""
    setting = os.environ.get("CUDA_VISIBLE_DEVICES")
    if setting is not None:
        return [d.strip() for d in setting.split(",") if d.strip() not in ("", "-1")]
    driver = Path("/proc/driver/nvidia/gpus")
    count = len(list(driver.iterdir())) if driver.is_dir() else 0
    return [str(i) for i in range(count)]


def device_plan(jobs: int, devices: Sequence[str]) -> list[str | None]:
    """Worker ``i`` of ``jobs`` gets device ``devices[i mod N]`` (``None`` when there are
    no devices: the worker's environment is left alone)."""
    jobs = validate.integer("jobs", jobs, minimum=1)
    devices = [str(d) for d in devices]
    return [devices[i % len(devices)] if devices else None for i in range(jobs)]


def _pin_device(devices) -> None:
    """Initializer of a local worker process: take one device from the queue."""
    device = devices.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device


# -------------------------------------------------------------------------- backends


def _execute(task_: Task, checkpoint: str | None):
    return task_(checkpoint=checkpoint)


def _execute_pickled(payload: bytes, checkpoint: str | None):
    import cloudpickle

    return _execute(cloudpickle.loads(payload), checkpoint)


def _bar(total: int, progress: bool):
    if not progress:
        return None
    from tqdm.std import tqdm

    return tqdm(total=total, desc="tasks")


def _run_serial(tasks, paths, progress, **_):
    bar = _bar(len(tasks), progress)
    results = []
    for task_, path in zip(tasks, paths, strict=True):
        results.append(_execute(task_, path))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return results


def _run_local(tasks, paths, progress, jobs, devices, retries, **_):
    """Worker processes (spawned: safe with CUDA and threads). A worker that dies breaks
    the pool; the unfinished tasks then run again in a new pool, from their checkpoints."""
    import cloudpickle

    context = multiprocessing.get_context("spawn")
    payloads = [cloudpickle.dumps(t) for t in tasks]
    results: dict[int, object] = {}
    bar = _bar(len(tasks), progress)
    for attempt in range(retries + 1):
        queue = context.Queue()
        for device in device_plan(jobs, devices):
            queue.put(device)
        try:
            with concurrent.futures.ProcessPoolExecutor(
                    max_workers=jobs, mp_context=context, initializer=_pin_device,
                    initargs=(queue,)) as pool:
                futures = {pool.submit(_execute_pickled, payloads[i], paths[i]): i
                           for i in range(len(tasks)) if i not in results}
                for future in concurrent.futures.as_completed(futures):
                    results[futures[future]] = future.result()
                    if bar is not None:
                        bar.update(1)
            break
        except concurrent.futures.process.BrokenProcessPool:
            if attempt == retries:
                raise
    if bar is not None:
        bar.close()
    return [results[i] for i in range(len(tasks))]


def _run_dask(tasks, paths, progress, jobs, devices, retries, address=None, **_):
    """On a running scheduler (``address``), or on a cluster of ``jobs`` worker processes
    on this machine, each with its own device. A task on a worker that dies is run again
    elsewhere (Dask's ``allowed-failures``; exceptions are retried ``retries`` times)."""
    from contextlib import ExitStack

    from distributed import Client, Nanny, Scheduler, SpecCluster, as_completed

    with ExitStack() as stack:
        if address is None:
            workers = {i: {"cls": Nanny,
                           "options": {"nthreads": 1, "host": "127.0.0.1", "dashboard": False,
                                       "silence_logs": logging.ERROR,
                                       "env": {} if device is None
                                       else {"CUDA_VISIBLE_DEVICES": device}}}
                       for i, device in enumerate(device_plan(jobs, devices))}
            scheduler = {"cls": Scheduler,
                         "options": {"host": "127.0.0.1", "port": 0, "dashboard": False}}
            cluster = stack.enter_context(SpecCluster(workers=workers, scheduler=scheduler,
                                                      silence_logs=logging.ERROR))
            address = cluster.scheduler_address
        client = stack.enter_context(Client(address))
        futures = [client.submit(_execute, t, p, key=f"collapse-{t.name}", retries=retries)
                   for t, p in zip(tasks, paths, strict=True)]
        bar = _bar(len(tasks), progress)
        if bar is not None:
            for _ in as_completed(futures):
                bar.update(1)
            bar.close()
        return client.gather(futures)


def _run_ray(tasks, paths, progress, jobs, devices, retries, address=None, **_):
    """On a running Ray cluster (``address``) or a local one of ``jobs`` CPUs. Each task
    asks Ray for one GPU when ``devices`` is not empty (Ray then sets its
    ``CUDA_VISIBLE_DEVICES``); a task whose worker died is run again ``retries`` times."""
    try:
        import ray
    except ImportError:
        raise ImportError("backend 'ray' needs Ray: pip install 'collapse[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, **({"num_cpus": jobs} if address is None else {}),
                 include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=1 if devices else 0, max_retries=retries,
                            retry_exceptions=retries > 0)(_execute)
        futures = [remote.remote(t, p) for t, p in zip(tasks, paths, strict=True)]
        bar = _bar(len(tasks), progress)
        if bar is not None:
            pending = list(futures)
            while pending:
                done, pending = ray.wait(pending)
                bar.update(len(done))
            bar.close()
        return ray.get(futures)
    finally:
        if started:
            ray.shutdown()


def parse_backend(backend: str | None) -> tuple[str, str | None]:
    """``(engine, address)`` of a backend setting; ``None`` reads ``COLLAPSE_BACKEND``."""
    source = "backend"
    if backend is None:
        backend, source = os.environ.get(ENV_VAR) or "local", ENV_VAR
    if not isinstance(backend, str):
        raise TypeError(f"{source} must be a string such as 'local' or 'dask://host:8786', "
                        f"got {backend!r}")
    if backend in ("serial", "local", "dask-local", "ray"):
        return backend, None
    for prefix, engine, scheme in (("dask://", "dask", "tcp://"), ("tcp://", "dask", "tcp://"),
                                   ("tls://", "dask", "tls://"), ("ray://", "ray", "ray://")):
        if backend.startswith(prefix) and len(backend) > len(prefix):
            return engine, scheme + backend[len(prefix):]
    raise ValueError(f"{source} must be one of {', '.join(BACKENDS)}; got {backend!r}")


ENGINES = {"serial": _run_serial, "local": _run_local, "dask-local": _run_dask,
           "dask": _run_dask, "ray": _run_ray}


def run(tasks: Sequence[Task], backend: str | None = None, jobs: int | None = None,
        checkpoint_dir: str | os.PathLike | None = CHECKPOINT_DIR, *,
        devices: Sequence[str] | None = None, retries: int = 3,
        progress: bool = False) -> list:
    """Run every task; return their results in the order of ``tasks``.

    backend: ``serial``, ``local``, ``dask-local``, ``dask://host:port``, ``ray`` or
        ``ray://host:port``; ``None`` reads ``COLLAPSE_BACKEND`` (default ``local``).
    jobs: worker processes for ``local`` and ``dask-local`` (default: one per visible
        GPU, else one per CPU core). A remote cluster has the workers it was started with.
    checkpoint_dir: where each task's checkpoint lives (shared by all workers; relative
        paths are taken from this process's working directory); ``None`` for none.
    devices: the CUDA devices to share out (default :func:`visible_devices`; ``[]``
        leaves the workers' environment alone).
    retries: how often a task that raised, or a local pool that lost a worker, is run
        again (each time from its checkpoint).
    """
    tasks = list(tasks)
    for i, t in enumerate(tasks):
        if not isinstance(t, Task):
            raise TypeError(f"tasks[{i}] must be a sweep.Task (made by sweep.task), "
                            f"got {type(t).__name__}")
    engine, address = parse_backend(backend)
    devices = visible_devices() if devices is None else [str(d) for d in devices]
    jobs = (len(devices) or os.cpu_count() or 1) if jobs is None else jobs
    jobs = validate.integer("jobs", jobs, minimum=1)
    retries = validate.integer("retries", retries, minimum=0)
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir).absolute()
        if checkpoint_dir.exists() and not checkpoint_dir.is_dir():
            raise ValueError(f"checkpoint_dir {checkpoint_dir} exists and is not a directory")
    # Identical tasks run once (they would share a checkpoint and give the same result).
    unique: dict[str, Task] = {}
    for t in tasks:
        unique.setdefault(t.key, t)
    keys = list(unique)
    paths = [None if checkpoint_dir is None else str(checkpoint_dir / f"{unique[k].name}.pkl")
             for k in keys]
    results = ENGINES[engine]([unique[k] for k in keys], paths, progress=progress, jobs=jobs,
                              devices=devices, retries=retries, address=address)
    by_key = dict(zip(keys, results, strict=True))
    return [by_key[t.key] for t in tasks]
