"""Profiles of the chapter "Discrete distributions" (paper §4.1, Fig 3).

The loop keeps one table row per run and generation (about 80 bytes), so runs ×
generations is kept below a few million rows per experiment.
"""

from collapse import validate
from collapse.profiles import BASE, TABLE_OVERHEAD, check_list

PROFILES = {
    "smoke": dict(
        fig3_M=1000, fig3_bins=80, collapse_M=50, collapse_bins=40, collapse_generations=200,
        collapse_runs=200, final_M=10, final_bins=12, final_runs=1000, final_generations=250,
        time_sizes=[5, 10, 20], time_states=[2, 5], time_runs=100, time_horizon=15,
    ),
    "quick": dict(
        fig3_M=1000, fig3_bins=80, collapse_M=100, collapse_bins=40, collapse_generations=1000,
        collapse_runs=1000, final_M=20, final_bins=12, final_runs=4000, final_generations=400,
        time_sizes=[5, 10, 20, 50, 100], time_states=[2, 5, 10], time_runs=300, time_horizon=15,
    ),
    "paper": dict(
        fig3_M=1000, fig3_bins=80, collapse_M=1000, collapse_bins=40, collapse_generations=8000,
        collapse_runs=300, final_M=20, final_bins=12, final_runs=10000, final_generations=400,
        time_sizes=[5, 10, 20, 50, 100, 200], time_states=[2, 5, 10, 50], time_runs=500,
        time_horizon=20,
    ),
}


def check(config: dict) -> None:
    validate.integer("fig3_M", config["fig3_M"], minimum=2)
    validate.integer("fig3_bins", config["fig3_bins"], minimum=2, maximum=10000)
    validate.integer("collapse_M", config["collapse_M"], minimum=2)
    validate.integer("collapse_bins", config["collapse_bins"], minimum=2, maximum=10000)
    # Fig 3 draws generations 0, 3 and 30 (and later ones)
    validate.integer("collapse_generations", config["collapse_generations"], minimum=31)
    validate.integer("collapse_runs", config["collapse_runs"], minimum=1)
    validate.integer("final_M", config["final_M"], minimum=2)
    validate.integer("final_bins", config["final_bins"], minimum=2, maximum=10000)
    validate.integer("final_runs", config["final_runs"], minimum=10)
    validate.integer("final_generations", config["final_generations"], minimum=2)
    check_list("time_sizes", config["time_sizes"],
               lambda label, m: validate.integer(label, m, minimum=2), distinct=True,
               label="time_sizes (each M)")
    # one colour of the colour-blind palette per K
    check_list("time_states", config["time_states"],
               lambda label, k: validate.integer(label, k, minimum=2, maximum=10000),
               maximum_length=10, distinct=True, label="time_states (each K)")
    validate.integer("time_runs", config["time_runs"], minimum=2)
    validate.integer("time_horizon", config["time_horizon"], minimum=1)


def peak_memory(config: dict) -> tuple[int, str]:
    """Bytes at the peak: the loop's table (88 bytes per run and generation, built from
    per-generation pieces, so twice that while it is joined) of the largest experiment,
    the tables of Figs 4 and 5 staying alive, and the runs × bins counts."""
    time_rows = config["time_runs"] * (config["time_horizon"] * max(config["time_sizes"]) + 1)
    terms = {
        "collapse_runs": config["collapse_runs"] * (
            88 * config["collapse_generations"] + 16 * config["collapse_bins"]),
        "final_runs": config["final_runs"] * (
            88 * config["final_generations"] + 16 * config["final_bins"]),
        "time_runs": 88 * time_rows + 16 * config["time_runs"] * max(config["time_states"]),
    }
    peak = BASE + TABLE_OVERHEAD * (sum(terms.values()) + max(terms.values()))
    return int(peak), max(terms, key=terms.get)
