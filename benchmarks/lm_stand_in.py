"""Search for an offline stand-in that shows the paper's right tail (issue 9).

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/lm_stand_in.py NAME '{"hidden_size": 128}'

Runs one variant of the ``quick`` profile (96 training blocks, 3 generations, one run,
no original data) and appends one row to ``lib/collapse/book/chapters/lm_stand_in.csv`` (shipped
with the library, so the language-model chapter reads it wherever it runs): the share of
generated blocks above the 95th percentile of the real blocks' perplexity under
generation 0 (the paper's right tail), medians, test perplexities, CPU seconds and an
example continuation. Extra keys in the JSON: ``penalty`` (repetition penalty of beam
search); everything else is a profile parameter.

The rows in the file were measured with the ``quick`` profile of that time: a base
pre-trained for 1000 steps of 32 blocks at learning rate 1e-3.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from collapse import loop
from collapse.book import settings
from collapse.book.chapters import language_models as lm_chapter

OUT = (Path(__file__).resolve().parents[1] / "lib" / "collapse" / "book" / "chapters"
       / "lm_stand_in.csv")
GENERATIONS = 3


def main() -> None:
    name, overrides = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    penalty = overrides.pop("penalty", 1.0)
    config = settings.resolve("language_models", "quick", generations=GENERATIONS, runs=1,
                              train_blocks=96, **overrides)
    here, start = os.getcwd(), time.process_time()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # a fresh cache: each variant pre-trains its own base
        try:
            setup = lm_chapter.prepare(config, progress=False)
            family, mixing = lm_chapter.regime(setup, config, "no original data", 0)
            family.repetition_penalty = penalty
            history = loop.simulate(family, setup.train[None], GENERATIONS, len(setup.train),
                                    np.random.default_rng(0), mixing, keep=range(GENERATIONS))
            result = lm_chapter.regime_tables([history])
            from transformers import AutoTokenizer

            example = AutoTokenizer.from_pretrained(setup.base).decode(result["data"][0][2][5])
        finally:
            os.chdir(here)
    per_sequence, table = result["perplexities"], result["table"]
    tail = lm_chapter.tail_share(per_sequence)
    median = per_sequence.groupby("generation").perplexity.median()
    row = {"variant": name, "settings": json.dumps({**overrides, "penalty": penalty}),
           **{f"tail_g{g}": round(float(tail[g]), 3) for g in range(GENERATIONS)},
           **{f"median_g{g}": round(float(median[g]), 1) for g in range(GENERATIONS)},
           **{f"test_ppl_g{g}": round(float(v), 1) for g, v in enumerate(table.test_perplexity)},
           "cpu_seconds": round(time.process_time() - start),
           "example_g2": " ".join(example.split())[:160]}
    new = not OUT.exists()
    with open(OUT, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
    print(row)


if __name__ == "__main__":
    main()
