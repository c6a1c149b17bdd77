"""Speed of the language-model family (paper §5.2): training and beam-search throughput,
and optionally the whole ``quick`` experiment of the chapter from an empty cache.

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/bench_lm.py [--profile quick]
        [--experiment]

Training tokens/s counts the tokens of the training blocks seen per second (forward,
backward and AdamW step); generated tokens/s counts the *kept* new tokens (64 per prompt)
per second of beam search, whatever the beam width. On CUDA the same code runs in bf16
autocast; this script reports which device it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from collapse import lm, profiles


def spec_of(config: dict) -> lm.TinyOPT:
    return lm.TinyOPT(vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
                      layers=config["layers"], heads=config["heads"],
                      ffn_dim=4 * config["hidden_size"],
                      tokenizer_chars=config["tokenizer_chars"],
                      pretrain_steps=config["pretrain_steps"])


def throughput(config: dict) -> dict:
    setup = lm.prepare(config["model"], config["train_blocks"], config["valid_blocks"],
                       config["test_blocks"], spec=spec_of(config), progress=False)
    with tempfile.TemporaryDirectory() as scratch:
        family = lm.LanguageModel(setup.base, setup.train, setup.valid, setup.test, epochs=1,
                                  lr=config["lr"], batch_size=config["batch_size"],
                                  num_beams=config["num_beams"], workdir=scratch,
                                  progress=False)
        model = family.fit(setup.train[None])
        trained = (Path(model) / "train.json").read_text()
        prompts = setup.train[: config["generate_batch"]]
        lm.continue_blocks(model, prompts[:2], 4, config["num_beams"], progress=False)  # warm-up
        start = time.perf_counter()
        new = lm.continue_blocks(model, prompts, lm.BLOCK, config["num_beams"],
                                 batch_size=config["generate_batch"], progress=False)
        seconds = time.perf_counter() - start

    return {"device": lm.device_name(),
            "train tokens/s (1 epoch incl. validation)":
                round(json.loads(trained)["tokens_per_second"]),
            "generated tokens/s (beam search)": round(new.size / seconds),
            "beams": config["num_beams"], "prompts": len(prompts)}


def experiment_seconds(config: dict) -> float:
    """The chapter's whole experiment from an empty cache (tokenizer, base model, all
    regimes): the work a fresh book build does."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # lm.CACHE is relative: a fresh .cache/lm
        try:
            start = time.perf_counter()
            lm.experiment(config)
            return time.perf_counter() - start
        finally:
            os.chdir(here)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=["smoke", "quick"])
    parser.add_argument("--experiment", action="store_true",
                        help="also time the whole experiment from an empty cache")
    args = parser.parse_args()
    config = profiles.resolve("language_models", args.profile)
    for name, value in throughput(config).items():
        print(f"{name}: {value}")
    if args.experiment:
        print(f"{args.profile} experiment from an empty cache: "
              f"{experiment_seconds(config):.0f} s")


if __name__ == "__main__":
    main()
