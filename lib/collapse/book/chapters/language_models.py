"""The chapter "Language models" (paper §5.2, Figs 10, 11, 14, 15): its settings, one typed
object built once and read as attributes everywhere, and the experiment assembled from
them. The chapter runs every regime and run with the visible call ::

    family, mixing = chapter.regime(setup, config, name, run)
    rng = np.random.default_rng([config.seed, run])
    history = loop.simulate(family, setup.train[None], generations, len(setup.train), rng,
                            mixing, keep=range(generations),
                            checkpoint=chapter.checkpoint_path(family, mixing, rng, generations))

and :func:`regime_tables` turns the histories into the tables its figures read.

``model = "tiny"`` is the offline stand-in (a small OPT pre-trained on text unlike
WikiText-2, see :func:`collapse.lm.tiny_base` and :mod:`collapse.lm.corpus`); ``paper``
uses ``facebook/opt-125m`` (the hub, or a local directory ``COLLAPSE_DATA_DIR/opt-125m``).
``0`` blocks means the whole split.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from collapse import checkpoint, loop, validate
from collapse.book.settings import ChapterSettings, listed
from collapse.lm.corpus import uses_wikitext
from collapse.lm.data import (
    AUTHORS_GROUP,
    CACHE,
    SPLITS,
    TOKENISATIONS,
    first_blocks,
    load_blocks,
    text_lines,
)
from collapse.lm.family import START_FROM, KeepOriginalBatches, LanguageModel
from collapse.lm.model import TinyOPT, base_model_source, load_model, tiny_base
from collapse.lm.train import Training, perplexities, perplexity

# name: (index into the settings' epochs, keeps original data?, repetition penalty?)
REGIMES = {
    "no original data": (0, False, False),
    "10% original data": (1, True, False),
    "no original data, repetition penalty": (0, False, True),
}
MIXINGS = ("authors", "random")  # how the 10% of original blocks are kept


@dataclass(frozen=True)
class Settings(ChapterSettings):
    """The experiment's settings; defaults are the ``quick`` profile (the offline stand-in).
    The stand-in's size and pre-training (``vocab_size`` … ``pretrain_lr``) apply to
    ``model = "tiny"`` only."""

    model: str = "tiny"
    pretrain_text: str = "docstrings"
    vocab_size: int = 1024
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    tokenizer_chars: int = 2_000_000
    pretrain_steps: int = 800
    pretrain_batch: int = 16
    pretrain_lr: float = 2.5e-3
    train_blocks: int = 64
    valid_blocks: int = 32
    test_blocks: int = 64
    generations: int = 4
    runs: int = 2
    epochs: list[int] = listed(5, 10)  # [without original data, with 10% original data]
    lr: float = 5e-4
    batch_size: int = 8
    num_beams: int = 5
    generate_batch: int = 64
    repetition_penalty: float = 2.0
    # True: every regime's beam search uses repetition_penalty (the authors' main.py, 3.0);
    # False: only the Fig 14 regime does (the paper's text)
    penalty_everywhere: bool = False
    # the authors' choices (see REFERENCE)
    tokenisation: str = "authors"
    group_lines: int = AUTHORS_GROUP  # blocks cut per 1,000-line datasets.map batch; 0: whole split
    weight_decay: float = 0.01
    schedule: str = "cosine-epoch"
    precision: str = "fp32"
    start_from: str = "generation 0"
    keep_original: str = "authors"
    # the offline copy's "<unk>" markers removed (the paper's raw text has none)
    drop_unk: bool = True

    def scale_note(self) -> str | None:
        if self.model != "tiny":
            return None
        return ("a small offline stand-in for OPT-125m, pre-trained here on a CPU; the "
                "paper's model and scale are the `paper` profile (a GPU)")

    def work(self) -> tuple[str, float]:
        """Floating-point operations: 6 per parameter and trained token, 2 per parameter
        and scored or generated token (beams included)."""
        from collapse.book.lm_estimate import work

        tokens = work(self)
        return "FLOP", self.parameters() * (6 * tokens["trained"] + 2 * (
            tokens["scored"] + self.num_beams * tokens["generated"]))

    def check(self) -> None:
        if self.model == "tiny":
            self.tiny_spec()  # checks its sizes and pre-training values
        for name in ("train_blocks", "valid_blocks", "test_blocks"):
            validate.integer(name, getattr(self, name), minimum=0)
            if 0 < getattr(self, name) < 2:
                raise ValueError(f"{name} must be 0 (whole split) or >= 2, got "
                                 f"{getattr(self, name)}")
        validate.integer("generations", self.generations, minimum=2, maximum=100)
        validate.integer("runs", self.runs, minimum=1, maximum=100)
        if len(self.epochs) != 2:
            raise ValueError(f"epochs must be [epochs without original data, epochs with 10% "
                             f"original data], got {self.epochs}")
        for epochs in self.epochs:
            validate.integer("epochs (each)", epochs, minimum=1, maximum=100)
            self.training(epochs)  # checks lr, batch_size, weight_decay, schedule, precision
        validate.integer("num_beams", self.num_beams, minimum=1, maximum=32)
        validate.integer("generate_batch", self.generate_batch, minimum=1)
        validate.real("repetition_penalty", self.repetition_penalty, 1.0, 10.0)
        validate.choice("tokenisation", self.tokenisation, TOKENISATIONS)
        validate.integer("group_lines", self.group_lines, minimum=0)
        validate.choice("start_from", self.start_from, START_FROM)
        validate.choice("keep_original", self.keep_original, MIXINGS)
        for name in ("drop_unk", "penalty_everywhere"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def tiny_spec(self) -> TinyOPT:
        """The offline stand-in's size and pre-training."""
        return TinyOPT(text=self.pretrain_text, vocab_size=self.vocab_size,
                       hidden_size=self.hidden_size,
                       layers=self.layers, heads=self.heads, ffn_dim=4 * self.hidden_size,
                       tokenizer_chars=self.tokenizer_chars, pretrain_steps=self.pretrain_steps,
                       pretrain_batch=self.pretrain_batch, pretrain_lr=self.pretrain_lr)

    def training(self, epochs: int) -> Training:
        """How every generation is fine-tuned for ``epochs`` epochs."""
        return Training(epochs=epochs, lr=self.lr, batch_size=self.batch_size,
                        weight_decay=self.weight_decay, schedule=self.schedule,
                        precision=self.precision)

    def parameters(self) -> int:
        """Parameters of the base model (OPT-125m's count for a hub or local name)."""
        if self.model != "tiny":
            return 125_239_296
        h, v = self.hidden_size, self.vocab_size
        return v * h + 4 * 64 * h + self.layers * (4 * h * h + 2 * 4 * h * h + 13 * h)

    def peak_memory(self) -> tuple[int, str]:
        """Estimated peak memory (bytes) of one fine-tuning + generation step and the
        parameter that drives it: fp32 weights, gradients, two AdamW moments and the best
        epoch's copy (5 × 4 bytes per parameter), plus activations of one batch (≈ 34 values
        per token, layer and hidden unit, and the logits) and the beam-search cache."""
        tiny = self.model == "tiny"
        hidden = self.hidden_size if tiny else 768
        layers = self.layers if tiny else 12
        vocab = self.vocab_size if tiny else 50272
        tokens = self.batch_size * 64
        beams = self.generate_batch * self.num_beams
        parts = {"model": 5 * 4 * self.parameters(),
                 "batch_size": 4 * tokens * (34 * hidden * layers + 3 * vocab),
                 "generate_batch": 4 * beams * (2 * 128 * hidden * layers + 2 * vocab)}
        overhead = 600 * 2**20  # python, torch, transformers
        return int(sum(parts.values()) + overhead), max(parts, key=parts.get)


SMOKE = dict(vocab_size=512, hidden_size=32, layers=1, heads=2, tokenizer_chars=300_000,
             pretrain_steps=60, pretrain_batch=32, pretrain_lr=1e-3, train_blocks=24,
             valid_blocks=8, test_blocks=16, generations=2, runs=1, epochs=[1, 2], lr=1e-3,
             num_beams=2, generate_batch=24)
PAPER = dict(model="facebook/opt-125m", train_blocks=0, valid_blocks=0, test_blocks=0,
             generations=10, runs=5, lr=2e-5, batch_size=128, generate_batch=128,
             drop_unk=False)

# key: the setting's row in the chapter's settings table (collapse.profiles.settings_table):
# what the paper's text says and what the authors' code iliaishacked/curse_recurse does.
REFERENCE = {
    "model": dict(setting="model", paper="OPT-125m", code="facebook/opt-125m"),
    "pretrain_text": dict(setting="pretrain_text (stand-in only)",
                          paper="OPT's pre-training corpus (web text)", code="—"),
    "tokenisation": dict(setting="tokenisation", paper="64-token blocks",
                         code="tokenizer(line), </s> before every line (authors)"),
    "train_blocks": dict(setting="train_blocks", paper="all (≈37k blocks)", code="0 (all)"),
    "generations": dict(setting="generations", paper=10, code="one per call of main.py"),
    "runs": dict(setting="runs", paper=5, code="5 (runme_base.py names r00 … r44)"),
    "epochs": dict(setting="epochs", paper="[5, 10]", code="5 (--max-epochs)"),
    "lr": dict(setting="lr", paper="—", code=2e-5),
    "weight_decay": dict(setting="weight_decay", paper="—", code="0.01 (AdamW default)"),
    "schedule": dict(setting="schedule", paper="—",
                     code="cosine-epoch (CosineAnnealingLR, T_max=epochs, eta_min=1e-6)"),
    "batch_size": dict(setting="batch_size", paper="—", code=128),
    "precision": dict(setting="precision", paper="—", code="fp32"),
    "num_beams": dict(setting="num_beams", paper=5, code=5),
    "repetition_penalty": dict(setting="repetition_penalty", paper="2.0 (Fig 14)", code=3.0),
    "penalty_everywhere": dict(setting="penalty_everywhere",
                               paper="False (a penalty in the Fig 14 regime only)",
                               code="True (main.py: 3.0 in every generation of every run)"),
    "group_lines": dict(setting="group_lines", paper="—",
                        code="1000 (group_texts per datasets.map batch)"),
    "start_from": dict(setting="start_from", paper="both readings",
                       code="a --load-name checkpoint (scripts not published)"),
    "keep_original": dict(setting="keep_original", paper="a random 10%",
                          code="authors (first ⌈0.1·N/128⌉ shuffled batches)"),
    "drop_unk": dict(setting="drop_unk", paper="False (raw text)",
                     code="False (wikitext-2-raw-v1)"),
}



@dataclass
class Setup:
    """Everything an experiment needs: the base model and the token blocks."""

    base: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def prepare(settings: Settings, progress: bool = True) -> Setup:
    """Load (or, for ``model="tiny"``, build) the base model and cut WikiText-2 into
    64-token blocks. ``0`` blocks means the whole split. When the tiny model was
    pre-trained on the second half of the training split's lines, only the first half
    gives training blocks."""
    wanted = [settings.train_blocks, settings.valid_blocks, settings.test_blocks]
    tiny = settings.model == "tiny"
    tokenisation, drop_unk = settings.tokenisation, settings.drop_unk
    cutting = dict(tokenisation=tokenisation, group_lines=settings.group_lines)
    source = (tiny_base(settings.tiny_spec(), tokenisation=tokenisation, drop_unk=drop_unk,
                        progress=progress)
              if tiny else base_model_source(settings.model))
    if tiny:  # tokenized only as far as the blocks asked for
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
        splits = []
        for split, n in zip(SPLITS, wanted, strict=True):
            lines = text_lines(split, drop_unk)
            if split == "train" and uses_wikitext(settings.pretrain_text):
                lines = lines[: len(lines) // 2]
            splits.append(first_blocks(tokenizer, lines, n, **cutting))
    else:
        splits = [load_blocks(source, split, drop_unk=drop_unk, **cutting) for split in SPLITS]
    for name, blocks, n in zip(SPLITS, splits, wanted, strict=True):
        if n > len(blocks):
            raise ValueError(f"{name}_blocks must be <= {len(blocks)} (the {name} split has "
                             f"{len(blocks)} blocks), got {n}")
    train, valid, test = (b[:n] if n else b for b, n in zip(splits, wanted, strict=True))
    return Setup(source, train, valid, test)


def regime(setup: Setup, settings: Settings, name: str, run: int,
           workdir: str | Path = CACHE / "models", progress: bool = False):
    """The family and mixing rule of one regime and run: ``(LanguageModel, rule)``."""
    validate.choice("regime", name, REGIMES)
    epochs_index, keeps_original, penalised = REGIMES[name]
    family = LanguageModel(
        setup.base, setup.train, setup.valid, setup.test,
        training=settings.training(settings.epochs[epochs_index]),
        start_from=settings.start_from, num_beams=settings.num_beams,
        repetition_penalty=(settings.repetition_penalty
                            if penalised or settings.penalty_everywhere else 1.0),
        generate_batch=settings.generate_batch, seed=run, workdir=str(workdir),
        progress=progress)
    if not keeps_original:
        mixing = loop.Replace()
    elif settings.keep_original == "authors":
        mixing = KeepOriginalBatches(0.1, settings.batch_size)
    else:
        mixing = loop.KeepOriginal(0.1)
    return family, mixing


def fine_tuning_gain(setup: Setup, settings: Settings,
                     workdir: str | Path = CACHE / "models") -> tuple[float, float]:
    """(zero-shot, generation 0): the test perplexity of the pre-trained base and the mean
    over runs of generation 0's (fine-tuned on the real blocks, as the regime without
    original data fits it): the chapter's glued ``zero_shot`` and ``gen0``. The fits are
    the chapter's own (cached by content hash)."""
    fitted = [regime(setup, settings, "no original data", run, workdir)[0].fit(setup.train[None])
              for run in range(settings.runs)]
    return (perplexity(setup.base, setup.test, precision=settings.precision),
            float(np.mean([perplexity(model, setup.test, precision=settings.precision)
                           for model in fitted])))


def checkpoint_path(family, mixing, rng: np.random.Generator, generations: int,
                    cache: str | Path = CACHE) -> Path:
    """A run's checkpoint file, named by a content hash of what determines the run,
    the loop's code included (the family carries the package's in its ``code`` field), so
    changed code gets a new file instead of meeting a checkpoint it did not write."""
    stem = checkpoint.path_for(Path(cache) / "runs", family, mixing, rng.bit_generator.state,
                               generations, code=("loop", "mixing"))
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


def regime_tables(histories: list) -> dict:
    """The tables of one regime: ``table`` (run, generation, test perplexity, …),
    ``perplexities`` (per-sequence, under each run's generation 0), ``data`` and ``models``
    per run and generation."""
    return {"table": pd.concat([h.table.assign(run=r) for r, h in enumerate(histories)],
                               ignore_index=True),
            "perplexities": generation_perplexities(histories),
            "data": [{g: d[0] for g, (_, d) in h.kept.items()} for h in histories],
            "models": [{g: m for g, (m, _) in h.kept.items()} for h in histories]}


def caption_note(settings: Settings, figure: str) -> str:
    """The sentence a figure's caption starts with: on which model ``figure``'s experiment
    ran, and, for the offline stand-in, that the paper's scale needs the paper profile."""
    if settings.model == "tiny":
        return (f"{figure}'s experiment on the offline stand-in; the paper's scale needs the "
                f"paper profile.")
    return f"{figure}'s experiment with {settings.model} ({settings.profile} profile)."


def tail_share(per_sequence: pd.DataFrame, quantile: float = 0.95) -> pd.Series:
    """Per generation, the share of blocks whose perplexity under generation 0 is above the
    ``quantile`` of the real blocks' (generation 0's data): the paper's right tail."""
    threshold = per_sequence.query("generation == 0").perplexity.quantile(quantile)
    above = per_sequence.perplexity > threshold
    return above.groupby(per_sequence.generation).mean().rename("tail")
