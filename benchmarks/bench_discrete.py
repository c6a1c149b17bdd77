"""Speed of the discrete family and the exact absorbing chain (paper §4.1, App. A.1).

    python benchmarks/bench_discrete.py [--generations 200]

1. One experiment of the discrete chapter (``runs`` histograms over ``K`` states,
   ``M`` samples per generation) through the loop three ways: the multinomial counts
   (exact sufficient statistics), the loop's data path (every sample drawn, vectorised
   over runs), and a plain Python loop over runs as one would first write it
   (``rng.choice`` + ``np.bincount`` per run and generation), timed on a few runs and
   scaled.
2. Building and solving the exact chain (transition matrix, fundamental matrix,
   absorption times and probabilities) for growing numbers of states.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import timed

from collapse import discrete, loop, markov

CASES = [(1000, 100, 40), (1000, 1000, 40), (10000, 100, 10)]  # (runs, M, K)


def plain_loop(reference: np.ndarray, M: int, generations: int, runs: int,
               rng: np.random.Generator) -> np.ndarray:
    """One run at a time: draw M states, refit the histogram, record the support."""
    K = reference.size
    support = np.empty((runs, generations), dtype=int)
    for run in range(runs):
        probs = np.bincount(rng.choice(K, M, p=reference), minlength=K) / M
        for g in range(generations):
            support[run, g] = np.count_nonzero(probs)
            probs = np.bincount(rng.choice(K, M, p=probs), minlength=K) / M
    return support


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--plain-runs", type=int, default=20,
                        help="runs timed for the plain loop (scaled to the case's runs)")
    args = parser.parse_args()
    G = args.generations

    print(f"1. loop.simulate with the discrete family, {G} generations")
    print(f"{'runs':>6} {'M':>5} {'K':>4} {'counts (s)':>11} {'data path (s)':>14} "
          f"{'plain loop (s, scaled)':>23} {'speed-up':>9}")
    for runs, M, K in CASES:
        reference = discrete.binned(discrete.GaussianMixture1D(), np.linspace(-8, 8, K + 1))
        family = discrete.Discrete(reference)
        rng = np.random.default_rng(0)
        counts = discrete.initial_data(runs, M, rng, family.reference, exact=True)
        exact, _ = timed(loop.simulate, family, counts, G, M, rng, exact=True)
        states = discrete.initial_data(runs, M, rng, family.reference)
        data, _ = timed(loop.simulate, family, states, G, M, rng)
        plain, _ = timed(plain_loop, reference, M, G, args.plain_runs, rng)
        plain *= runs / args.plain_runs
        print(f"{runs:>6} {M:>5} {K:>4} {exact:>11.2f} {data:>14.2f} {plain:>23.1f} "
              f"{plain / exact:>8.0f}x")

    print("\n2. exact absorbing chain: build T, then N, t and B")
    print(f"{'M':>5} {'K':>3} {'states':>7} {'build (s)':>10} {'solve (s)':>10}")
    for M, K in [(10, 3), (1000, 2), (30, 3), (20, 4), (60, 3), (15, 5)]:
        build, chain = timed(markov.AbsorbingChain, M, K)

        def solve(chain=chain):
            return chain.expected_steps, chain.steps_variance, chain.absorption_probabilities

        seconds, _ = timed(solve)
        print(f"{M:>5} {K:>3} {len(chain.states):>7} {build:>10.3f} {seconds:>10.3f}")


if __name__ == "__main__":
    main()
