"""Profiles of the chapter "Language models" (paper §5.2, Figs 10, 11, 14, 15).

``model = "tiny"`` is the offline stand-in (a small OPT pre-trained on half of
WikiText-2, see :func:`collapse.lm.tiny_base`); ``paper`` uses ``facebook/opt-125m``.
``0`` blocks means the whole split.
"""

from collapse import validate

PROFILES = {
    "smoke": dict(
        model="tiny", vocab_size=512, hidden_size=32, layers=1, heads=2, tokenizer_chars=300_000,
        pretrain_steps=60, train_blocks=24, valid_blocks=8, test_blocks=16, generations=2,
        runs=1, epochs=[1, 2], lr=1e-3, batch_size=8, num_beams=2, generate_batch=24,
        repetition_penalty=2.0, seed=0,
    ),
    "quick": dict(
        model="tiny", vocab_size=1024, hidden_size=64, layers=2, heads=4,
        tokenizer_chars=2_000_000, pretrain_steps=1000, train_blocks=128, valid_blocks=32,
        test_blocks=128, generations=5, runs=2, epochs=[5, 10], lr=3e-4, batch_size=16,
        num_beams=5, generate_batch=64, repetition_penalty=2.0, seed=0,
    ),
    "paper": dict(
        model="facebook/opt-125m", vocab_size=0, hidden_size=0, layers=0, heads=0,
        tokenizer_chars=0, pretrain_steps=0, train_blocks=0, valid_blocks=0, test_blocks=0,
        generations=10, runs=5, epochs=[5, 10], lr=2e-5, batch_size=128, num_beams=5,
        generate_batch=128, repetition_penalty=2.0, seed=0,
    ),
}


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
