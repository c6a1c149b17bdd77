"""The language-model family of the generational loop (:class:`collapse.loop.Family`).

* ``fit(blocks) -> path``: fine-tune a base model on token blocks ``(1, n, 64)`` and keep
  the epoch with the lowest validation loss; the result is a model directory, cached by a
  content hash of everything that determines it (a re-run never trains a model twice);
* ``sample(path, n, rng) -> blocks``: for ``n`` of the original training blocks (all of
  them, in order, when ``n`` is their number) the model writes the next 64 tokens by beam
  search; the new tokens are the generated block (the authors keep ``outputs[:, 64:]``);
* ``describe(path)``: perplexity on the original test blocks (Fig 10).

The base model of generation 0 is the pre-trained model. For later generations §5.2 says
both "each of the training cycles starts from a pre-trained model" (``start_from=
"pretrained"``) and "we use the best performing model on the original task … as the base
model for the subsequent generations" (``start_from="generation 0"``: the model fitted to
the original blocks, which are the prompts).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import hashing, validate
from ..loop import Family
from ..mixing import MixingRule, Sources
from .data import CACHE
from .generate import continue_blocks
from .train import Training, perplexity, train

START_FROM = ("pretrained", "generation 0")


def _code() -> str:
    return hashing.code_digest("lm.data", "lm.model", "lm.train", "lm.generate", "lm.family")


@dataclass
class LanguageModel(Family):
    """A pre-trained causal LM fine-tuned every generation on the previous generation's
    text (§5.2). ``runs = 1``: data are ``(1, n_blocks, 64)`` token arrays.

    ``prompts`` are the original training blocks; ``valid`` picks the best epoch; ``test``
    is what :meth:`describe` scores. ``seed`` makes independent runs differ (training
    order and dropout), as the paper's 5 runs do. ``code`` (a hash of this package's
    source) is part of the family's identity, so changed code never resumes a stale run.
    """

    base: str
    prompts: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    training: Training = field(default_factory=Training)
    start_from: str = "pretrained"
    num_beams: int = 5
    repetition_penalty: float = 1.0
    generate_batch: int = 64
    seed: int = 0
    workdir: str = str(CACHE / "models")
    progress: bool = True
    code: str = field(default_factory=_code)
    # the base model's content (its files, when it is a local folder): part of the
    # family's identity, so a base rebuilt in place never meets a stale fit or checkpoint
    base_content: str = field(default="", init=False)

    def __post_init__(self):
        validate.choice("start_from", self.start_from, START_FROM)
        validate.integer("num_beams", self.num_beams, minimum=1)
        validate.real("repetition_penalty", self.repetition_penalty, 1.0, 10.0)
        validate.integer("generate_batch", self.generate_batch, minimum=1)
        validate.integer("seed", self.seed, minimum=0)
        if not isinstance(self.training, Training):
            raise TypeError(f"training must be an lm.Training, got {self.training!r}")
        for name in ("prompts", "valid", "test"):
            value = np.asarray(getattr(self, name))
            if value.ndim != 2 or value.shape[1] < 2:
                raise ValueError(f"{name} must be token blocks (n, L), got shape {value.shape}")
            setattr(self, name, value)
        self.base_content = hashing.source_digest(self.base)

    @staticmethod
    def _blocks(data) -> np.ndarray:
        data = np.asarray(data)
        if data.ndim != 3 or data.shape[0] != 1:
            raise ValueError(f"language-model data must be (1, n_blocks, L), got {data.shape}")
        return data[0]

    def base_for(self, blocks: np.ndarray) -> str:
        """The model that fine-tuning on ``blocks`` starts from (see the module docstring)."""
        original = blocks.shape == self.prompts.shape and np.array_equal(blocks, self.prompts)
        if self.start_from == "pretrained" or original:
            return self.base
        return self.fit(self.prompts[None])

    def fit_path(self, blocks: np.ndarray, base: str) -> Path:
        """Where the fit of ``blocks`` from ``base`` is stored: keyed by their content (the
        base model's files, not its path), the training settings, the run's seed, the
        validation blocks and the code."""
        key = hashing.digest(blocks, hashing.source_digest(base), self.training, self.seed,
                             self.valid, self.code)
        return Path(self.workdir) / f"fit-{key}"

    def fit(self, data) -> str:
        """Fine-tune the base model on ``data`` (§5.2); cached by content hash."""
        import torch

        from .model import load_model

        blocks = self._blocks(data)
        base = self.base_for(blocks)
        out = self.fit_path(blocks, base)
        if (out / "done").exists():
            return str(out)
        # the training's randomness (order, dropout) depends on the data, the settings and
        # the run, not on the code or on where the base model is stored
        seed = hashing.derive_seed("lm fit", blocks, self.training, self.seed) % 2**32
        # dropout draws from torch's global RNGs: fork them, seed, restore afterwards
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            torch.manual_seed(seed)
            model = load_model(base)
            report = train(model, blocks, self.training, seed, valid=self.valid,
                           progress=self.progress)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        (out / "train.json").write_text(json.dumps({**report, "base": str(base)}))
        (out / "done").write_text("ok\n")
        return str(out)

    def sample(self, params: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """Continue ``n`` original training blocks (all of them, in order, when ``n`` is
        their number; else a random subset) with beam search; returns ``(1, n, L)``."""
        n = validate.integer("n", n, minimum=0, maximum=len(self.prompts))
        validate.generator("rng", rng)
        index = (np.arange(n) if n == len(self.prompts)
                 else np.sort(rng.choice(len(self.prompts), n, replace=False)))
        new = continue_blocks(params, self.prompts[index], self.prompts.shape[1],
                              self.num_beams, self.repetition_penalty, self.generate_batch,
                              self.progress, self.training.precision)
        return new[None]

    def describe(self, params: str) -> dict[str, np.ndarray]:
        report = json.loads((Path(params) / "train.json").read_text())
        return {"test_perplexity": np.array([perplexity(params, self.test,
                                                        precision=self.training.precision)]),
                "best_epoch": np.array([report["best_epoch"]]),
                "train_tokens_per_second": np.array([report["tokens_per_second"]])}


@dataclass(frozen=True)
class KeepOriginalBatches(MixingRule):
    """The authors' "10 % original data": the training loader is shuffled, its first
    ⌈fraction·N / batch_size⌉ batches are kept verbatim and only the other blocks are
    continued by the model, so kept and generated blocks come from disjoint prompts.

    The family continues every prompt (block ``i`` of the sample is the continuation of
    original block ``i``); this rule then puts the original block back at the kept
    positions. (The continuations of the kept prompts are computed and discarded: about
    ``fraction`` extra generation time, the price of a rule that needs no help from the
    family.)
    """

    fraction: float = 0.1
    batch_size: int = 128

    def __post_init__(self):
        validate.real("fraction", self.fraction, 0.0, 1.0)
        validate.integer("batch_size", self.batch_size, minimum=1)

    def kept(self, size: int) -> int:
        return min(size, math.ceil(self.fraction * size / self.batch_size) * self.batch_size)

    def counts(self, size: int) -> tuple[int, int, int]:
        """(from the model, from the previous set, from the original data)."""
        return size - self.kept(size), 0, self.kept(size)

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, sources: Sources, size: int, rng, join=None):
        original = np.asarray(sources.original)
        if new.shape != original.shape:
            raise ValueError(f"KeepOriginalBatches needs one continuation per original block "
                             f"({original.shape}), got {new.shape}")
        order = rng.permutation(size)  # the shuffled loader
        out = np.array(new, copy=True)
        keep = order[: self.kept(size)]
        out[:, keep] = original[:, keep]
        return out
