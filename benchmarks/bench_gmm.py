"""Speed of the GMM chapter's chains (paper §5.1): the quick profile's chain batch, the
batched EM backend side by side with the scikit-learn backend.

    python benchmarks/bench_gmm.py                      # both backends, then the quick batch
    python benchmarks/bench_gmm.py --generations 100 --no-full

A case is the chapter's experiment for one data setting (``chapters/gmm.md``): ``runs``
chains of ``M`` points drawn with ``gmm.initial_data``, the generation-0 fits as
``reference``, the L2 to the truth as a metric, and one ``loop.simulate`` call over all
chains (``Replace``). Both backends fit the same estimator (``tests/test_gmm_em.py``);
``sklearn`` is scikit-learn at its fastest (one BLAS thread, no re-validation), one run
after the other, as the family's fit was before issue 19.

Reported per case: seconds (wall clock and CPU time of this process), generations per
second, chain-generations per second (runs × generations / s: the throughput per chain),
mean EM iterations per fit, and the ratio of the batched to the sklearn throughput per
chain (wall, CPU), both backends over the same ``--generations`` from the same data
(EM iterations per fit change along a chain, so only equal spans compare). Then the
batched backend over the quick profile's generations (the chapter's chains of Figs 7
and 13) and what sklearn would take at its rates above. The machine's load average
(``os.getloadavg``) is printed before and after every case: on a shared machine the
wall clock moves with it, the CPU time much less.

Target (issue 19): batched ≥ 10× sklearn's throughput per chain; the whole chapter
≤ 60 s on 2 cores (``OMP_NUM_THREADS=1``, the book runner's setting).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from collapse import gmm, loop
from collapse.book import settings


def chain_batch(setting: str, runs: int, M: int, generations: int, backend: str,
                separation: float, seed: int = 0) -> dict:
    """The chapter's chains of one setting; seconds, rates and EM iterations."""
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng([seed, runs])
    initial = gmm.initial_data(runs, M, rng, setting, separation)
    family = gmm.GMM(seed=seed, backend=backend)
    family.reference = family.fit(initial)
    truth = gmm.initial_distribution(setting, separation)
    history = loop.simulate(family, initial, generations, M, rng,
                            metrics={"l2_to_truth": gmm.l2_to(truth)})
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return dict(wall=wall, cpu=cpu, generations=generations, runs=runs,
                iterations=history.table["em_iterations"].mean(),
                load=(load, os.getloadavg()[0]))


def main() -> None:
    quick = settings.resolve("gmm", "quick")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=quick.runs)
    parser.add_argument("--M", type=int, default=quick.M)
    parser.add_argument("--generations", type=int, default=60,
                        help="generations of each side-by-side case (both backends)")
    parser.add_argument("--settings", nargs="+", default=["blob", "two"])
    parser.add_argument("--no-full", action="store_true",
                        help="skip the batched backend over the quick profile's generations")
    args = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}; load average at start "
          f"{os.getloadavg()}")
    print(f"chain batch: {args.runs} chains × M = {args.M}, Replace; rates per second of "
          f"wall clock (CPU time of this process)")
    chain_batch("two", 2, 100, 2, "sklearn", quick.separation)  # imports, thread pools
    chain_batch("two", 2, 100, 2, "batched", quick.separation)
    print(f"{'setting':<6} {'backend':<8} {'gens':>5} {'seconds':>14} {'gen/s':>13} "
          f"{'chain-gen/s':>15} {'EM iter':>7} {'ratio':>13} {'load':>11}")
    cases = [(setting, backend, args.generations) for setting in args.settings
             for backend in ("sklearn", "batched")]
    if not args.no_full:
        cases += [(setting, "batched", quick.generations) for setting in args.settings]
    rates, total = {}, {"wall": 0.0, "cpu": 0.0}
    for setting, backend, generations in cases:
        r = chain_batch(setting, args.runs, args.M, generations, backend, quick.separation)
        rate = {k: generations / r[k] for k in ("wall", "cpu")}
        ratio = "1"
        if backend == "sklearn":
            rates[setting] = rate
        else:
            ratio = (f"{rate['wall'] / rates[setting]['wall']:5.1f}× "
                     f"({rate['cpu'] / rates[setting]['cpu']:4.1f}×)")
        if generations == quick.generations and backend == "batched":
            total = {k: total[k] + r[k] for k in total}
        print(f"{setting:<6} {backend:<8} {generations:5d} "
              f"{r['wall']:5.1f} ({r['cpu']:5.1f}) "
              f"{rate['wall']:5.1f} ({rate['cpu']:5.1f}) "
              f"{rate['wall'] * args.runs:6.0f} ({rate['cpu'] * args.runs:6.0f}) "
              f"{r['iterations']:7.1f} {ratio:>13} {r['load'][0]:5.2f}–{r['load'][1]:<5.2f}")
    if not args.no_full:
        estimate = {k: sum(quick.generations / rates[s][k] for s in args.settings)
                    for k in total}
        print(f"the quick profile's chains ({quick.generations} generations, all settings): "
              f"batched {total['wall']:.1f} s wall ({total['cpu']:.1f} s CPU); sklearn at "
              f"the rates above {estimate['wall']:.0f} s ({estimate['cpu']:.0f} s)")


if __name__ == "__main__":
    main()
