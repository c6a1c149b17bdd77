"""Profiles of the chapter "What is model collapse?" (paper §1, §3, Fig 2)."""

from collapse import validate

PROFILES = {
    "smoke": dict(stages_M=50, stages_bins=40, stages_generations=[0, 5, 50, 300],
                  M=100, huge_M=10**12, runs=100, generations=100),
    "quick": dict(stages_M=100, stages_bins=40, stages_generations=[0, 10, 100, 1000],
                  M=100, huge_M=10**12, runs=1000, generations=1000),
    "paper": dict(stages_M=100, stages_bins=40, stages_generations=[0, 10, 100, 1000],
                  M=100, huge_M=10**12, runs=2000, generations=2000),
}


def check(config: dict) -> None:
    validate.integer("stages_M", config["stages_M"], minimum=2)
    validate.integer("stages_bins", config["stages_bins"], minimum=2, maximum=10000)
    for g in config["stages_generations"]:
        validate.integer("stages_generations (each)", g, minimum=0)
    validate.integer("M", config["M"], minimum=2)
    validate.integer("huge_M", config["huge_M"], minimum=2)
    validate.integer("runs", config["runs"], minimum=1)
    validate.integer("generations", config["generations"], minimum=2)
