"""The chapter's experiment, assembled from a resolved profile ``config`` (a plain dict:
this module never imports :mod:`collapse.profiles`).

The chapter runs every regime and run with the visible call ::

    family, mixing = lm.regime(setup, config, name, run)
    rng = np.random.default_rng([config["seed"], run])
    history = loop.simulate(family, setup.train[None], generations, len(setup.train), rng,
                            mixing, keep=range(generations),
                            checkpoint=lm.checkpoint_path(family, mixing, rng, generations))

and :func:`summarise` turns the histories into the tables its figures read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import loop, notebook, validate
from .data import CACHE, SPLITS, first_blocks, load_blocks, text_lines
from .family import KeepOriginalBatches, LanguageModel
from .model import TinyOPT, base_model_source, load_model, tiny_base
from .train import Training, perplexities

# name: (index into the profile's epochs, keeps original data?, repetition penalty?)
REGIMES = {
    "no original data": (0, False, False),
    "10% original data": (1, True, False),
    "no original data, repetition penalty": (0, False, True),
}
MIXINGS = ("authors", "random")  # how the 10% of original blocks are kept


@dataclass
class Setup:
    """Everything an experiment needs: the base model and the token blocks."""

    base: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def tiny_spec(config: dict) -> TinyOPT:
    """The tiny base model described by a chapter profile's parameters."""
    return TinyOPT(vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
                   layers=config["layers"], heads=config["heads"],
                   ffn_dim=4 * config["hidden_size"], tokenizer_chars=config["tokenizer_chars"],
                   pretrain_steps=config["pretrain_steps"],
                   pretrain_batch=config["pretrain_batch"], pretrain_lr=config["pretrain_lr"])


def prepare(config: dict, progress: bool = True) -> Setup:
    """Load (or, for ``model="tiny"``, build) the base model and cut WikiText-2 into
    64-token blocks. ``0`` blocks means the whole split. For the tiny model only the first
    half of the training split's lines is used (the second half pre-trained it)."""
    wanted = [config["train_blocks"], config["valid_blocks"], config["test_blocks"]]
    for name, n in zip(SPLITS, wanted, strict=True):
        validate.integer(f"{name}_blocks", n, minimum=0)
    tiny = config["model"] == "tiny"
    tokenisation = config["tokenisation"]
    drop_unk = config["drop_unk"]
    source = (tiny_base(tiny_spec(config), tokenisation=tokenisation, drop_unk=drop_unk,
                        progress=progress)
              if tiny else base_model_source(config["model"]))
    if tiny:  # the first half of the training lines (the second pre-trained the base),
        # tokenized only as far as the blocks asked for
        from transformers import AutoTokenizer

        lines = text_lines("train", drop_unk)
        train = first_blocks(AutoTokenizer.from_pretrained(source), lines[: len(lines) // 2],
                             wanted[0], tokenisation=tokenisation)
        splits = [train] + [load_blocks(source, split, tokenisation=tokenisation,
                                        drop_unk=drop_unk) for split in SPLITS[1:]]
    else:
        splits = [load_blocks(source, split, tokenisation=tokenisation, drop_unk=drop_unk)
                  for split in SPLITS]
    for name, blocks, n in zip(SPLITS, splits, wanted, strict=True):
        if n > len(blocks):
            raise ValueError(f"{name}_blocks must be <= {len(blocks)} (the {name} split has "
                             f"{len(blocks)} blocks), got {n}")
    train, valid, test = (b[:n] if n else b for b, n in zip(splits, wanted, strict=True))
    return Setup(source, train, valid, test)


def training(config: dict, epochs: int) -> Training:
    return Training(epochs=epochs, lr=config["lr"], batch_size=config["batch_size"],
                    weight_decay=config["weight_decay"], schedule=config["schedule"],
                    precision=config["precision"])


def regime(setup: Setup, config: dict, name: str, run: int,
           workdir: str | Path = CACHE / "models", progress: bool = False):
    """The family and mixing rule of one regime and run: ``(LanguageModel, rule)``."""
    validate.choice("regime", name, REGIMES)
    validate.choice("keep_original", config["keep_original"], MIXINGS)
    epochs_index, keeps_original, penalised = REGIMES[name]
    family = LanguageModel(
        setup.base, setup.train, setup.valid, setup.test,
        training=training(config, config["epochs"][epochs_index]),
        start_from=config["start_from"], num_beams=config["num_beams"],
        repetition_penalty=config["repetition_penalty"] if penalised else 1.0,
        generate_batch=config["generate_batch"], seed=run, workdir=str(workdir),
        progress=progress)
    if not keeps_original:
        mixing = loop.Replace()
    elif config["keep_original"] == "authors":
        mixing = KeepOriginalBatches(0.1, config["batch_size"])
    else:
        mixing = loop.KeepOriginal(0.1)
    return family, mixing


def checkpoint_path(family, mixing, rng: np.random.Generator, generations: int,
                    cache: str | Path = CACHE) -> Path:
    """A run's checkpoint file, named by a content hash of what determines the run,
    the loop's code included (the family carries the package's in its ``code`` field), so
    changed code gets a new file instead of meeting a checkpoint it did not write."""
    stem = notebook.checkpoint_path(Path(cache) / "runs", family, mixing,
                                    rng.bit_generator.state, generations, modules=("loop",))
    return stem.with_suffix(".pkl")


def generation_perplexities(histories: list) -> pd.DataFrame:
    """Per-sequence perplexity of every generation's training data under the run's
    generation-0 model (Figs 11, 14, 15): a tidy table (run, generation, perplexity)."""
    rows = []
    for run, history in enumerate(histories):
        model = load_model(history.kept[0][0])
        for g, (_, data) in sorted(history.kept.items()):
            rows.append(pd.DataFrame({"run": run, "generation": g,
                                      "perplexity": perplexities(model, data[0])}))
    return pd.concat(rows, ignore_index=True)


def summarise(histories: list) -> dict:
    """The tables of one regime: ``table`` (run, generation, test perplexity, …),
    ``perplexities`` (per-sequence, under each run's generation 0), ``data`` and ``models``
    per run and generation."""
    return {"table": pd.concat([h.table.assign(run=r) for r, h in enumerate(histories)],
                               ignore_index=True),
            "perplexities": generation_perplexities(histories),
            "data": [{g: d[0] for g, (_, d) in h.kept.items()} for h in histories],
            "models": [{g: m for g, (m, _) in h.kept.items()} for h in histories]}


def tail_share(per_sequence: pd.DataFrame, quantile: float = 0.95) -> pd.Series:
    """Per generation, the share of blocks whose perplexity under generation 0 is above the
    ``quantile`` of the real blocks' (generation 0's data): the paper's right tail."""
    threshold = per_sequence.query("generation == 0").perplexity.quantile(quantile)
    above = per_sequence.perplexity > threshold
    return above.groupby(per_sequence.generation).mean().rename("tail")


def cli_setup(runs: int, M: int, rng: np.random.Generator, profile: str = "smoke",
              **overrides):
    """``python -m collapse simulate lm --runs 1 --M 64 --option profile=quick
    --option repetition_penalty=2.0``: the model and settings of a chapter profile
    (any profile parameter can be overridden), ``D_0`` = the first ``M`` training blocks.
    Each run is one process: ``runs`` must be 1."""
    from .. import profiles  # the command line reads profiles; the model code does not

    validate.integer("runs", runs, minimum=1, maximum=1)
    config = profiles.resolve("language_models", profile, train_blocks=M, **overrides)
    setup = prepare(config)
    family, _ = regime(setup, config, "no original data", config["seed"], progress=True)
    return family, setup.train[None], False
