"""Search for an offline stand-in whose fine-tuning helps, as OPT-125m's does (paper: zero-shot
perplexity 115, fine-tuned 34), and which shows the paper's effects (issues 9 and 19).

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/lm_stand_in.py NAME '{"lr": 3e-4}'

Runs one variant of the language-model chapter's ``quick`` profile (the JSON overrides any
of its settings) in a fresh cache, so that the base model is pre-trained too: the
chapter's runs and generations of the regime without original data and of the
repetition-penalty regime (the profile's ``repetition_penalty``), and appends one row to
``lib/collapse/book/chapters/lm_stand_in.csv`` (shipped with the library, so the chapter
reads it wherever it runs):

* ``zero_shot``, ``gen0``: test perplexity of the pre-trained base and of generation 0
  (fine-tuned on the real blocks, mean over runs); ``last``, ``last_penalty``: of the last
  generation of each regime (mean over runs); ``penalty_ratio``: ``last_penalty / gen0``
  (the chapter's Fig 14 number; the paper: 2);
* ``tail``, ``tail_penalty``: the largest share, over the later generations, of generated
  blocks above the 95th percentile of the real blocks' perplexity under generation 0
  (0.05 for real text; the paper's long right tail makes it grow);
* ``cpu_seconds``: processor time of the whole row on one thread (pre-training, both
  chains, scoring), ``example``: a piece of the last generation's text (no penalty);
* ``settings_digest``: :func:`collapse.book.trials.record_digest` of the settings the row
  ran with (a test checks it against what the ``quick`` profile and the row's overrides
  resolve to today, so a changed profile cannot leave the chapter's table stale).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from collapse import loop
from collapse.book import trials
from collapse.book.chapters import language_models as lm_chapter

OUT = (Path(__file__).resolve().parents[1] / "lib" / "collapse" / "book" / "chapters"
       / "lm_stand_in.csv")
PLAIN, PENALTY = "no original data", "no original data, repetition penalty"


def chain(setup, config, name, run):
    """One run of one regime, as the chapter runs it."""
    family, mixing = lm_chapter.regime(setup, config, name, run)
    return loop.simulate(family, setup.train[None], config.generations, len(setup.train),
                         np.random.default_rng([config.seed, run]), mixing,
                         keep=range(config.generations))


def main() -> None:
    name, overrides, config = trials.variant_from_command_line(
        "language_models", __doc__.splitlines()[0])
    import torch

    torch.set_num_threads(1)  # as the book runner gives each chapter
    here, start = os.getcwd(), time.process_time()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # a fresh cache: each variant pre-trains its own base
        try:
            setup = lm_chapter.prepare(config, progress=False)
            from collapse import lm

            zero_shot = lm.perplexity(setup.base, setup.test)
            results = {regime: lm_chapter.regime_tables([chain(setup, config, regime, run)
                                                         for run in range(config.runs)])
                       for regime in (PLAIN, PENALTY)}
            from transformers import AutoTokenizer

            last = config.generations - 1
            example = AutoTokenizer.from_pretrained(setup.base).decode(
                results[PLAIN]["data"][0][last][5])
        finally:
            os.chdir(here)
    test = {regime: r["table"].groupby("generation").test_perplexity.mean()
            for regime, r in results.items()}
    tail = {regime: lm_chapter.tail_share(r["perplexities"]).loc[1:].max()
            for regime, r in results.items()}
    row = {"variant": name, "settings": json.dumps(overrides),
           "train_blocks": len(setup.train), "zero_shot": round(zero_shot, 1),
           "gen0": round(float(test[PLAIN][0]), 1), "last": round(float(test[PLAIN][last]), 1),
           "last_penalty": round(float(test[PENALTY][last]), 1),
           "penalty_ratio": round(float(test[PENALTY][last] / test[PLAIN][0]), 2),
           "tail": round(float(tail[PLAIN]), 3), "tail_penalty": round(float(tail[PENALTY]), 3),
           "cpu_seconds": round(time.process_time() - start),
           "example": " ".join(example.split())[:160],
           "settings_digest": trials.record_digest(config)}
    trials.append(OUT, row)
    print(row)


if __name__ == "__main__":
    main()
