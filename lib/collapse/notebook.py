"""Two small helpers every chapter uses: independent random streams and cache paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import hashing, validate


def streams(seed: int):
    """``stream(*key)``: an independent, reproducible generator for each experiment of a
    chapter, ``np.random.default_rng([seed, *key])`` (one experiment's draws never
    depend on how many another made)."""
    seed = validate.integer("seed", seed, minimum=0)

    def stream(*key: int) -> np.random.Generator:
        return np.random.default_rng([seed, *key])

    return stream


def checkpoint_path(directory, *parts, modules=("loop",)) -> Path:
    """A checkpoint file in ``directory`` named by a content hash of ``parts`` (the
    experiment's settings) and of the library ``modules``' source: other settings or
    changed code get another file, so a cached run is never met by a different one."""
    key = hashing.digest(parts, hashing.source_digest(*modules))
    return Path(directory) / key
