"""Speed of the Gaussian chapter's experiments (paper §4.2, Figs 4 and 12).

    python benchmarks/bench_gaussian.py [--loop-runs 10]

1. Fig 4 at the paper's sizes (M = 100, 500, 1000, 10000; 1,000 generations) with 1,000
   runs per M, through the loop's exact sufficient statistics, in one process.
2. The authors' approach, side by side: a plain Python loop that draws M points and
   refits one run at a time (np.random.normal, np.mean, np.std). It is timed on
   ``--loop-runs`` runs per M and scaled to 1,000 runs (its cost is linear in runs).
3. The loop's data path (vectorised over runs, drawing every point) on the same task.
4. Fig 12 at the paper's scale: 10,000 repeats for each of 10 … 10^7 samples.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import timed

from collapse import gaussian, loop

SIZES = (100, 500, 1000, 10000)
GENERATIONS = 1000
RUNS = 1000


def authors_loop(M: int, runs: int, rng: np.random.Generator) -> np.ndarray:
    """One run at a time, as in the authors' notebook (ML estimator, np.std)."""
    estimates = np.empty((runs, GENERATIONS, 2))
    for run in range(runs):
        mean, std = 0.0, 1.0
        data = rng.normal(mean, std, M)
        for g in range(GENERATIONS):
            mean, std = np.mean(data), np.std(data)
            estimates[run, g] = mean, std
            data = rng.normal(mean, std, M)
    return estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-runs", type=int, default=10,
                        help="runs per M timed for the plain loop (scaled to 1,000)")
    parser.add_argument("--data-path-runs", type=int, default=20,
                        help="runs per M timed for the vectorised data path (scaled)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    exact_total = 0.0
    loop_total = 0.0
    data_total = 0.0
    print(f"Fig 4: {GENERATIONS} generations, {RUNS} runs per M")
    print(f"{'M':>6} {'exact (s)':>10} {'data path (s, scaled)':>22} "
          f"{'plain loop (s, scaled)':>23}")
    def simulate(M, runs, exact):
        initial = gaussian.initial_data(runs, M, rng, exact=exact)
        return loop.simulate(gaussian.Gaussian(), initial, GENERATIONS, M, rng, exact=exact)

    for M in SIZES:
        exact, _ = timed(simulate, M, RUNS, True)
        data, _ = timed(simulate, M, args.data_path_runs, False)
        plain, _ = timed(authors_loop, M, args.loop_runs, rng)
        data *= RUNS / args.data_path_runs
        plain *= RUNS / args.loop_runs
        exact_total, data_total, loop_total = exact_total + exact, data_total + data, \
            loop_total + plain
        print(f"{M:>6} {exact:>10.2f} {data:>22.1f} {plain:>23.1f}")
    print(f"{'all':>6} {exact_total:>10.2f} {data_total:>22.1f} {loop_total:>23.1f}")
    print(f"speed-up of the exact loop over the plain Python loop: "
          f"{loop_total / exact_total:,.0f}x; over the vectorised data path: "
          f"{data_total / exact_total:,.0f}x")

    family = gaussian.Gaussian()
    truth = gaussian.params(0, 1, runs=10_000)

    def fig12():
        return [family.fit_statistics(family.sample_statistics(truth, 10**k, rng))
                for k in range(1, 8)]

    seconds, _ = timed(fig12)
    print(f"Fig 12: 10,000 repeats x 7 sample sizes (10 ... 10^7): {seconds:.3f} s")


if __name__ == "__main__":
    main()
