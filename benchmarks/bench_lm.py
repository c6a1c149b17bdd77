"""Speed of the language-model family (paper §5.2).

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/bench_lm.py [--profile quick]
        [--experiment]
    python benchmarks/bench_lm.py --paper-size [--train-steps 2 --prompts 2 --batch 8]

Default: training and beam-search throughput of a profile's model (and, with
``--experiment``, the whole chapter experiment from an empty cache).

``--paper-size``: one generation of the ``paper`` profile (fine-tune 5 epochs over ≈37k
blocks with validation, beam-generate ≈37k continuations of 64 tokens with 5 beams, score
the test set) for OPT-125m's architecture with random weights (the cost does not depend
on the weights). Only a slice is timed (``--train-steps`` batches of ``--batch`` blocks,
``--prompts`` prompts per beam search) and extrapolated. On a GPU, time a larger slice at
the paper's batch size, e.g.::

    python benchmarks/bench_lm.py --paper-size --batch 128 --train-steps 20 --prompts 128

Training tokens/s count the tokens of the training blocks per second (forward, backward,
AdamW step, fp32); generated tokens/s count the *kept* new tokens (64 per prompt) per
second of beam search, whatever the beam width.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from collapse import lm
from collapse.book import lm_estimate as estimate
from collapse.book import settings
from collapse.book.chapters import language_models as lm_chapter


def throughput(config: dict) -> dict:
    setup = lm_chapter.prepare(config, progress=False)
    with tempfile.TemporaryDirectory() as scratch:
        family, _ = lm_chapter.regime(setup, config, "no original data", run=0, workdir=scratch)
        model = family.fit(setup.train[None])
        trained = json.loads((Path(model) / "train.json").read_text())
        prompts = setup.train[: config["generate_batch"]]
        lm.continue_blocks(model, prompts[:2], 4, config["num_beams"], progress=False)  # warm-up
        start = time.perf_counter()
        new = lm.continue_blocks(model, prompts, lm.BLOCK, config["num_beams"],
                                 batch_size=config["generate_batch"], progress=False)
        seconds = time.perf_counter() - start
    return {"device": lm.device_name(),
            "train tokens/s (incl. validation)": round(trained["tokens_per_second"]),
            "generated tokens/s (beam search)": round(new.size / seconds),
            "beams": config["num_beams"], "prompts": len(prompts)}


def experiment_seconds(config: dict) -> float:
    """The chapter's experiment from an empty cache (tokenizer, base model, all regimes),
    as the chapter runs it: the work a fresh book build does."""
    import numpy as np

    from collapse import loop

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # lm's cache is relative: a fresh .cache/lm
        try:
            start = time.perf_counter()
            setup = lm_chapter.prepare(config, progress=False)
            for name in lm_chapter.REGIMES:
                for run in range(config["runs"]):
                    family, mixing = lm_chapter.regime(setup, config, name, run)
                    rng = np.random.default_rng([config["seed"], run])
                    history = loop.simulate(family, setup.train[None], config["generations"],
                                            len(setup.train), rng, mixing,
                                            keep=range(config["generations"]))
                    lm_chapter.generation_perplexities([history])
            return time.perf_counter() - start
        finally:
            os.chdir(here)


def paper_size(batch: int, train_steps: int, prompts: int) -> None:
    config = settings.resolve("language_models", "paper")
    with tempfile.TemporaryDirectory() as scratch:
        model = lm.random_opt(Path(scratch) / "opt-125m", **lm.OPT_125M)
        rates = estimate.measure(model, batch, config["num_beams"], train_steps, prompts)
    n = estimate.block_counts(config)
    train_s = 5 * n["train"] * lm.BLOCK / rates["train_tokens_per_s"]
    score_s = (5 * n["valid"] + n["test"]) * lm.BLOCK / rates["score_tokens_per_s"]
    generate_s = n["train"] * lm.BLOCK / rates["generated_tokens_per_s"]
    print(f"device: {rates['device']}; OPT-125m architecture, random weights, fp32; timed "
          f"{train_steps} training steps of {batch} blocks and beam search of {prompts} "
          f"prompts ({config['num_beams']} beams)")
    for name in ("train_tokens_per_s", "score_tokens_per_s", "generated_tokens_per_s"):
        print(f"{name}: {rates[name]:,.0f}")
    print(f"one paper generation ({n['train']:,} blocks): fine-tune 5 epochs "
          f"{train_s / 60:.0f} min + validate/test {score_s / 60:.0f} min + generate "
          f"{generate_s / 60:.0f} min = {(train_s + score_s + generate_s) / 60:.0f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=["smoke", "quick"])
    parser.add_argument("--experiment", action="store_true",
                        help="also time the whole experiment from an empty cache")
    parser.add_argument("--paper-size", action="store_true",
                        help="time a slice of one paper-profile generation and extrapolate")
    parser.add_argument("--batch", type=int, default=8, help="--paper-size: blocks per step")
    parser.add_argument("--train-steps", type=int, default=2, help="--paper-size: steps timed")
    parser.add_argument("--prompts", type=int, default=2, help="--paper-size: prompts timed")
    args = parser.parse_args()
    if args.paper_size:
        paper_size(args.batch, args.train_steps, args.prompts)
        return
    config = settings.resolve("language_models", args.profile)
    for name, value in throughput(config).items():
        print(f"{name}: {value}")
    if args.experiment:
        print(f"{args.profile} experiment from an empty cache: "
              f"{experiment_seconds(config):.0f} s")


if __name__ == "__main__":
    main()
