"""A slow, checkpointed run for the kill tests: ``python checkpoint_worker.py PATH``.

It prints each finished generation on stdout, so a test can interrupt it part-way.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from collapse import gaussian, loop

GENERATIONS = 40


def slow(params, data):
    """A metric that makes each generation take a moment and reports it."""
    time.sleep(0.05)
    print("generation", flush=True)
    return np.zeros(params.runs)


def run(checkpoint=None, checkpoint_seconds: float = 10.0):
    rng = np.random.default_rng(2024)
    family = gaussian.Gaussian()
    initial = family.sample(gaussian.params(0.0, 1.0, runs=50), 100, rng)
    return loop.simulate(family, initial, GENERATIONS, 100, rng, loop.Pool(),
                         metrics={"slow": slow}, checkpoint=checkpoint,
                         checkpoint_seconds=checkpoint_seconds)


if __name__ == "__main__":
    try:
        run(sys.argv[1], checkpoint_seconds=float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
    except loop.Interrupted as stop:
        print(stop, file=sys.stderr)
        sys.exit(128 + stop.signum)
