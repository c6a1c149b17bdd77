"""Profiles of the chapter "Language models" (paper §5.2, Figs 10, 11, 14, 15).

``model = "tiny"`` is the offline stand-in (a small OPT pre-trained on half of
WikiText-2, see :func:`collapse.lm.tiny_base`); ``paper`` uses ``facebook/opt-125m``
(the hub, or a local directory ``COLLAPSE_DATA_DIR/opt-125m``). ``0`` blocks means the
whole split. ``REFERENCE`` holds what the paper and the authors' code say, for the
settings table (:func:`collapse.profiles.settings_table`); :func:`peak_memory`
estimates a run's memory.
"""

from __future__ import annotations

import math

from collapse import validate

_AUTHORS = dict(  # the authors' choices in every profile unless a profile says otherwise
    tokenisation="authors", weight_decay=0.01, schedule="cosine-epoch", precision="fp32",
    start_from="generation 0", keep_original="authors",
)
# the offline copy's "<unk>" markers removed (the paper's raw text has none); no-op on raw text
_OFFLINE = dict(drop_unk=True)

PROFILES = {
    "smoke": dict(
        model="tiny", vocab_size=512, hidden_size=32, layers=1, heads=2, tokenizer_chars=300_000,
        pretrain_steps=60, pretrain_batch=32, pretrain_lr=1e-3, train_blocks=24, valid_blocks=8,
        test_blocks=16, generations=2, runs=1, epochs=[1, 2], lr=1e-3, batch_size=8,
        num_beams=2, generate_batch=24, repetition_penalty=2.0, seed=0, **_AUTHORS, **_OFFLINE,
    ),
    "quick": dict(
        model="tiny", vocab_size=1024, hidden_size=64, layers=2, heads=4,
        tokenizer_chars=2_000_000, pretrain_steps=400, pretrain_batch=16, pretrain_lr=2.5e-3,
        train_blocks=64, valid_blocks=32, test_blocks=64, generations=4, runs=2,
        epochs=[5, 10], lr=3e-4, batch_size=8, num_beams=5, generate_batch=64,
        repetition_penalty=2.0, seed=0, **_AUTHORS, **_OFFLINE,
    ),
    "paper": dict(
        model="facebook/opt-125m", vocab_size=0, hidden_size=0, layers=0, heads=0,
        tokenizer_chars=0, pretrain_steps=0, pretrain_batch=0, pretrain_lr=0.0, train_blocks=0,
        valid_blocks=0, test_blocks=0, generations=10, runs=5, epochs=[5, 10], lr=2e-5,
        batch_size=128, num_beams=5, generate_batch=128, repetition_penalty=2.0, seed=0,
        **_AUTHORS, drop_unk=False,
    ),
}

# key: the setting's row in the chapter's settings table (collapse.profiles.settings_table):
# what the paper's text says and what the authors' code iliaishacked/curse_recurse does.
REFERENCE = {
    "model": dict(setting="model", paper="OPT-125m", code="facebook/opt-125m"),
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
    "start_from": dict(setting="start_from", paper="both readings",
                       code="a --load-name checkpoint (scripts not published)"),
    "keep_original": dict(setting="keep_original", paper="a random 10%",
                          code="authors (first ⌈0.1·N/128⌉ shuffled batches)"),
    "drop_unk": dict(setting="drop_unk", paper="False (raw text)",
                     code="False (wikitext-2-raw-v1)"),
}


def _parameters(config: dict) -> int:
    """Parameters of the base model (OPT-125m's count for a hub or local name)."""
    if config["model"] != "tiny":
        return 125_239_296
    h, layers, v = config["hidden_size"], config["layers"], config["vocab_size"]
    return v * h + 4 * 64 * h + layers * (4 * h * h + 2 * 4 * h * h + 13 * h)


def peak_memory(config: dict) -> tuple[int, str]:
    """Estimated peak memory (bytes) of one fine-tuning + generation step of ``config`` and
    the parameter that drives it: fp32 weights, gradients, two AdamW moments and the best
    epoch's copy (5 × 4 bytes per parameter), plus activations of one batch (≈ 34 values
    per token, layer and hidden unit, and the logits) and the beam-search cache."""
    parameters = _parameters(config)
    hidden = 768 if config["model"] != "tiny" else config["hidden_size"]
    layers = 12 if config["model"] != "tiny" else config["layers"]
    vocab = 50272 if config["model"] != "tiny" else config["vocab_size"]
    tokens = config["batch_size"] * 64
    weights = 5 * 4 * parameters
    activations = 4 * tokens * (34 * hidden * layers + 3 * vocab)
    beams = config["generate_batch"] * config["num_beams"]
    generation = 4 * beams * (2 * 128 * hidden * layers + 2 * vocab)
    overhead = 600 * 2**20  # python, torch, transformers
    parts = {"model": weights, "batch_size": activations, "generate_batch": generation}
    return int(sum(parts.values()) + overhead), max(parts, key=parts.get)


def check(config: dict) -> None:
    tiny = config["model"] == "tiny"
    if tiny:
        validate.integer("vocab_size", config["vocab_size"], minimum=300, maximum=65_000)
        validate.integer("hidden_size", config["hidden_size"], minimum=8)
        validate.integer("layers", config["layers"], minimum=1)
        validate.integer("heads", config["heads"], minimum=1)
        if config["hidden_size"] % config["heads"]:
            raise ValueError(f"hidden_size ({config['hidden_size']}) must be a multiple of "
                             f"heads ({config['heads']})")
        validate.integer("tokenizer_chars", config["tokenizer_chars"], minimum=10_000)
        validate.integer("pretrain_steps", config["pretrain_steps"], minimum=0)
        validate.integer("pretrain_batch", config["pretrain_batch"], minimum=1)
        validate.real("pretrain_lr", config["pretrain_lr"], 1e-7, 1.0)
    for name in ("train_blocks", "valid_blocks", "test_blocks"):
        validate.integer(name, config[name], minimum=0)
        if 0 < config[name] < 2:
            raise ValueError(f"{name} must be 0 (whole split) or >= 2, got {config[name]}")
    validate.integer("generations", config["generations"], minimum=2, maximum=100)
    validate.integer("runs", config["runs"], minimum=1, maximum=100)
    if len(config["epochs"]) != 2:
        raise ValueError(f"epochs must be [epochs without original data, epochs with 10% "
                         f"original data], got {config['epochs']}")
    for e in config["epochs"]:
        validate.integer("epochs (each)", e, minimum=1, maximum=100)
    validate.real("lr", config["lr"], 1e-7, 1.0)
    validate.integer("batch_size", config["batch_size"], minimum=1)
    validate.integer("num_beams", config["num_beams"], minimum=1, maximum=32)
    validate.integer("generate_batch", config["generate_batch"], minimum=1)
    validate.real("repetition_penalty", config["repetition_penalty"], 1.0, 10.0)
    validate.integer("seed", config["seed"], minimum=0)
    validate.choice("tokenisation", config["tokenisation"], ("authors", "plain"))
    validate.real("weight_decay", config["weight_decay"], 0.0, 1.0)
    validate.choice("schedule", config["schedule"], ("cosine-epoch", "linear"))
    validate.choice("precision", config["precision"], ("fp32", "bf16"))
    validate.choice("start_from", config["start_from"], ("pretrained", "generation 0"))
    validate.choice("keep_original", config["keep_original"], ("authors", "random"))
    if not isinstance(config["drop_unk"], bool):
        raise TypeError(f"drop_unk must be True or False, got {config['drop_unk']!r}")
    if not math.isfinite(config["lr"]):
        raise ValueError("lr must be finite")
