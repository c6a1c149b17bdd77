"""Profiles of the chapter "What is model collapse?" (paper §1, §3, Fig 2)."""

from collapse import validate
from collapse.profiles import BASE, TABLE_OVERHEAD, check_list

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
    # one panel each, side by side (a single panel is not a row of panels)
    check_list("stages_generations", config["stages_generations"],
               lambda label, g: validate.integer(label, g, minimum=0), minimum_length=2)
    validate.integer("M", config["M"], minimum=2)
    # the exact statistics hold huge_M in a 64-bit integer
    validate.integer("huge_M", config["huge_M"], minimum=2, maximum=10**18)
    validate.integer("runs", config["runs"], minimum=1)
    validate.integer("generations", config["generations"], minimum=2)


def peak_memory(config: dict) -> tuple[int, str]:
    """Bytes at the peak: the two tables of the two-error-sources experiment (48 bytes
    per run and generation), with pandas' copies, the kept histograms of Fig 2 and the
    M × runs draws from the mixture."""
    terms = {
        "runs": 2 * 48 * config["runs"] * config["generations"] + 8 * config["M"] * config["runs"],
        "stages_generations": (8 * config["stages_bins"] + 200) * (
            max(config["stages_generations"]) + 1),
    }
    return int(BASE + TABLE_OVERHEAD * sum(terms.values())), max(terms, key=terms.get)
