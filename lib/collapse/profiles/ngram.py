"""Profiles of the chapter "A language model at full scale on a laptop" (word bigrams on
the whole WikiText-2, the analogue of paper §5.2, Figs 10, 11, 15)."""

from collapse import validate

PROFILES = {
    "smoke": dict(train_lines=2000, generations=4, runs=1, keep_fraction=0.1,
                  interpolation=0.9, epsilon=1e-4, histogram_generations=[1, 3]),
    "quick": dict(train_lines=0, generations=10, runs=1, keep_fraction=0.1,
                  interpolation=0.9, epsilon=1e-4, histogram_generations=[1, 5, 9]),
    "paper": dict(train_lines=0, generations=20, runs=3, keep_fraction=0.1,
                  interpolation=0.9, epsilon=1e-4, histogram_generations=[1, 5, 10, 19]),
}


def check(config: dict) -> None:
    validate.integer("train_lines (0 = all)", config["train_lines"], minimum=0)
    generations = validate.integer("generations", config["generations"], minimum=2)
    validate.integer("runs", config["runs"], minimum=1, maximum=20)
    validate.real("keep_fraction", config["keep_fraction"], 0.0, 0.9)
    validate.real("interpolation", config["interpolation"], 0.0, 1.0)
    validate.real("epsilon", config["epsilon"], 1e-12, 0.5)
    if not config["histogram_generations"]:
        raise ValueError("histogram_generations must name at least one generation")
    for g in config["histogram_generations"]:
        validate.integer("histogram_generations (each)", g, minimum=1, maximum=generations - 1)


def peak_memory(config: dict) -> tuple[int, str]:
    """About 40 bytes per training token per run (blocks, pair keys, the pool of the
    mixing rule, kept generations), plus the data set itself."""
    tokens = 2_100_000  # WikiText-2 train, with an end-of-line token per line
    kept = len(config["histogram_generations"]) + 3
    return int(400e6 + config["runs"] * tokens * 8 * kept * 2), "runs"
