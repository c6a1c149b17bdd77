"""Speed of the noisy-approximation chapter (paper §4.3, App. A.2).

    python benchmarks/bench_noisy.py [--runs 2000] [--generations 500] [--dim 3]

1. One generation of the noisy model for ``--runs`` runs: exact statistics
   (draw x̄, y = (x_1 − x_2)/√2 and a Wishart(Σ, M − 2) scatter) against the data path
   (draw M points, then fit), for growing M. The exact path does not depend on M.
2. The chapter's main experiment: ``loop.simulate`` for the three schedules (constant,
   linear, quadratic M_g) with ``--runs`` runs and ``--generations`` generations, and
   the same quadratic schedule's cost had it drawn every point (extrapolated from the
   data path's time per point, as the real thing would need ~10^10 points per run).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from collapse import gaussian, loop, noisy


def timed(function, *args, repeat: int = 3, **kwargs):
    """Best of ``repeat`` wall-clock times (seconds) and the last result."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--generations", type=int, default=500)
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--base-size", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cov = noisy.default_cov(args.dim)
    family = noisy.NoisyGaussian(noise="residual")
    truth = gaussian.params(np.zeros(args.dim), cov=cov, runs=args.runs)

    print(f"1. one generation, {args.runs} runs, d = {args.dim}")
    print(f"{'M':>8} {'exact (ms)':>11} {'data path (ms)':>15} {'ratio':>7}")
    per_point = []
    for m in (100, 1000, 10000):
        exact, _ = timed(lambda m=m: family.fit_statistics(
            family.sample_statistics(truth, m, rng)))
        data, _ = timed(lambda m=m: family.fit(family.sample(truth, m, rng)), repeat=1)
        per_point.append(data / (args.runs * m))
        print(f"{m:>8} {1e3 * exact:>11.2f} {1e3 * data:>15.1f} {data / exact:>7.0f}")

    print(f"\n2. the loop (exact statistics): {args.generations} generations, {args.runs} runs, "
          f"M_0 = {args.base_size}")
    total = 0.0
    for kind in noisy.SCHEDULES:
        def simulate(kind=kind):
            initial = noisy.initial_data(args.runs, args.base_size, rng, cov)
            return loop.simulate(family, initial, args.generations,
                                 noisy.schedule(kind, args.base_size), rng, exact=True,
                                 metrics=noisy.truth_metrics(cov))

        seconds, history = timed(simulate, repeat=1)
        total += seconds
        points = history.table.groupby("generation").n_train.first().sum()
        extrapolated = points * args.runs * per_point[-1]
        print(f"{kind:>10}: {seconds:6.2f} s exact; the data path would draw "
              f"{points:.2e} points per run, ~{extrapolated:.1e} s")
    print(f"{'total':>10}: {total:6.2f} s (the chapter runs this three times: residual, "
          f"bounded and pull noise)")


if __name__ == "__main__":
    main()
