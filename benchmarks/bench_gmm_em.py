"""Throughput per chain of the GMM fit (paper §5.1): scikit-learn one run at a time vs the
EM vectorised over runs (``collapse.gmm_em``), side by side in one process.

    python benchmarks/bench_gmm_em.py                 # 3 repeats, blob and two
    python benchmarks/bench_gmm_em.py --repeats 5 --sklearn-fits 100

The paper's size: 1,000 points, d = 2, K = 2 (tol 1e-5, max_iter 2000). Every case fits
the same data sets (``gmm.initial_data``: the authors' single blob, and the paper's two
Gaussians), so EM iteration counts are comparable; each line gives fits per second per
chain (min–max over repeats), the mean EM iterations, and the ratio to sklearn at its
fastest. Cases:

- ``sklearn fastest``: as ``gmm._fit_sklearn`` (the family's fit before issue 19; one
  BLAS/OpenMP thread, ``skip_parameter_validation``; copied here so that the reference
  stays put), on the first ``--sklearn-fits`` data sets;
- ``sklearn defaults``: ``GaussianMixture(...).fit(X)`` with its defaults otherwise;
- ``batched R=…``: ``gmm_em.fit`` on R runs at once, one generator per run
  (``default_rng(seed)``, created inside the timing, as the family does).

Target (issue 19): batched ≥ 10× sklearn-at-its-fastest throughput per chain. The
machine's load average (``os.getloadavg``) is printed before and after every case:
on a shared machine the wall clock moves with it, so the CPU time of this process is
given too.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import warnings

import numpy as np

from collapse import gmm, gmm_em

OPTIONS = dict(n_components=2, tol=1e-5, max_iter=2000, reg_covar=1e-6)


@functools.cache
def threadpools():
    import sklearn.mixture  # noqa: F401  (load sklearn's libraries before the scan)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def sklearn_fastest(data: np.ndarray, seeds: list[int]) -> np.ndarray:
    """A copy of ``gmm._fit_runs`` before issue 19 (``gmm._fit_sklearn`` now): BLAS/OpenMP on
    one thread (the pools scanned once), sklearn's parameter re-validation skipped."""
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    iterations = []
    fast = sklearn.config_context(assume_finite=True, skip_parameter_validation=True)
    with threadpools().limit(limits=1), fast, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for run, seed in zip(data, seeds, strict=True):
            model = GaussianMixture(covariance_type="full", random_state=seed, **OPTIONS)
            iterations.append(model.fit(run).n_iter_)
    return np.array(iterations)


def sklearn_defaults(data: np.ndarray, seeds: list[int]) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    iterations = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for run, seed in zip(data, seeds, strict=True):
            model = GaussianMixture(covariance_type="full", random_state=seed, **OPTIONS)
            iterations.append(model.fit(run).n_iter_)
    return np.array(iterations)


def batched(data: np.ndarray, seeds: list[int]) -> np.ndarray:
    generators = [np.random.default_rng(seed) for seed in seeds]
    return gmm_em.fit(data, 2, rng=generators).n_iter


def measure(function, data, seeds, repeats):
    """(fits/s wall per repeat, fits/s CPU per repeat, mean EM iterations, load range)."""
    wall, cpu, loads = [], [], [os.getloadavg()[0]]
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        iterations = function(data, seeds)
        wall.append(len(data) / (time.perf_counter() - start))
        cpu.append(len(data) / (time.process_time() - start_cpu))
        loads.append(os.getloadavg()[0])
    return np.array(wall), np.array(cpu), iterations.mean(), (min(loads), max(loads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sklearn-fits", type=int, default=40,
                        help="data sets fitted by each sklearn case per repeat")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 20, 100, 1000],
                        help="batch sizes R of the batched fit")
    parser.add_argument("--settings", nargs="+", default=["blob", "two"])
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()}")
    print("fits per second per chain, min–max over repeats (wall clock; CPU time of this "
          "process); ratio = case / sklearn fastest (medians over repeats, wall and CPU); "
          "EM iter: mean EM iterations of the case's fits (the batched starts are its own "
          "draws, so its iterations differ from sklearn's by chance)")
    pool = max([args.sklearn_fits, *args.runs])
    for setting in args.settings:
        data = gmm.initial_data(pool, 1000, np.random.default_rng(0), setting)
        seeds = list(range(pool))
        sklearn_fastest(data[:2], seeds[:2])  # imports, thread pools
        batched(data[:2], seeds[:2])
        print(f"\n{setting}: 1,000 points, d=2, K=2")
        header = (f"{'case':<18} {'fits/s wall':>17} {'fits/s CPU':>17} {'EM iter':>8} "
                  f"{'ratio':>7} {'CPU ratio':>9} {'load':>11}")
        print(header)
        cases = [("sklearn fastest", sklearn_fastest, args.sklearn_fits),
                 ("sklearn defaults", sklearn_defaults, max(args.sklearn_fits // 2, 1))]
        cases += [(f"batched R={r}", batched, r) for r in args.runs]
        reference = None
        for name, function, count in cases:
            # R=1: as many one-run calls as sklearn's fits (a loop over chains)
            if function is batched and count == 1:
                calls = args.sklearn_fits

                def function(d, s):
                    return np.concatenate([batched(d[i:i + 1], s[i:i + 1])
                                           for i in range(len(d))])

                count = calls
            wall, cpu, iterations, load = measure(function, data[:count], seeds[:count],
                                                  args.repeats)
            if reference is None:
                reference = np.median(wall), np.median(cpu)
            ratio, cpu_ratio = np.median(wall) / reference[0], np.median(cpu) / reference[1]
            print(f"{name:<18} {wall.min():8.1f}–{wall.max():<8.1f} "
                  f"{cpu.min():8.1f}–{cpu.max():<8.1f} {iterations:8.1f} {ratio:6.1f}× "
                  f"{cpu_ratio:8.1f}× {load[0]:5.2f}–{load[1]:<5.2f}")


if __name__ == "__main__":
    main()
