"""Speed of the GMM family (paper §5.1): one chain of 2,000 generations × 1,000 samples,
and several chains with the runs of each generation fitted in parallel processes.

    python benchmarks/bench_gmm.py                      # the full benchmark
    python benchmarks/bench_gmm.py --generations 200    # a shorter one

Target (issue): one run of 2,000 generations in under 30 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from collapse import gmm
from collapse.book.chapters import gmm as gmm_chapter


def chain(runs: int, generations: int, n_jobs: int, setting: str, seed: int = 0,
          checkpoint=None):
    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(seed)
    initial = gmm.initial_data(runs, 1000, rng, setting)
    family = gmm.GMM()
    family.reference = family.fit(initial)
    history = gmm_chapter.chains(family, initial, generations, 1000, rng, jobs=n_jobs,
                                  checkpoint=checkpoint)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    iterations = history.table["em_iterations"].mean()
    return seconds, cpu, iterations


def fit_only(repeats: int = 200) -> float:
    """Milliseconds per sklearn fit of 1,000 points (the cost that dominates)."""
    family = gmm.GMM()
    data = gmm.initial_data(1, 1000, np.random.default_rng(1), "blob")
    family.fit(data)  # import and warm up
    start = time.process_time()
    for seed in range(repeats):
        gmm.GMM(seed=seed).fit(data)
    return (time.process_time() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=4, help="runs for the parallel case")
    args = parser.parse_args()
    print("wall-clock seconds; 'CPU' is this process's CPU time, close to the wall-clock time "
          "of an idle machine when everything runs in this process")
    chain(1, 2, 1, "blob")  # imports
    print(f"one sklearn fit (1,000 points, blob): {fit_only():.1f} ms CPU")
    for setting in ("blob", "two"):
        seconds, cpu, iterations = chain(1, args.generations, 1, setting)
        print(f"{setting}: 1 run × {args.generations} generations: {seconds:.1f} s, CPU "
              f"{cpu:.1f} s ({cpu / args.generations * 1e3:.1f} ms/generation, "
              f"{iterations:.0f} EM iterations on average)")
    for n_jobs in (1, 2):
        seconds, *_ = chain(args.runs, args.generations, n_jobs, "blob")
        print(f"blob: {args.runs} chains × {args.generations} generations, n_jobs={n_jobs}: "
              f"{seconds:.1f} s")
    # the loop pickles its whole state after every generation: the cost grows with g
    with tempfile.TemporaryDirectory() as folder:
        seconds, cpu, _ = chain(1, args.generations, 1, "two",
                                checkpoint=Path(folder) / "chain")
    plain, plain_cpu, _ = chain(1, args.generations, 1, "two")
    print(f"two: 1 run × {args.generations} generations with checkpoint: {seconds:.1f} s, "
          f"CPU {cpu:.1f} s (without: {plain:.1f} s, CPU {plain_cpu:.1f} s)")


if __name__ == "__main__":
    main()
