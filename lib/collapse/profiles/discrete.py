"""Profiles of the chapter "Discrete distributions" (paper §4.1, Fig 3).

The loop keeps one table row per run and generation (about 80 bytes), so runs ×
generations is kept below a few million rows per experiment.
"""

from collapse import validate

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
    validate.integer("collapse_generations", config["collapse_generations"], minimum=2)
    validate.integer("collapse_runs", config["collapse_runs"], minimum=1)
    validate.integer("final_M", config["final_M"], minimum=2)
    validate.integer("final_bins", config["final_bins"], minimum=2, maximum=10000)
    validate.integer("final_runs", config["final_runs"], minimum=10)
    validate.integer("final_generations", config["final_generations"], minimum=2)
    for M in config["time_sizes"]:
        validate.integer("time_sizes (each M)", M, minimum=2)
    for K in config["time_states"]:
        validate.integer("time_states (each K)", K, minimum=2, maximum=10000)
    validate.integer("time_runs", config["time_runs"], minimum=2)
    validate.integer("time_horizon", config["time_horizon"], minimum=1)
