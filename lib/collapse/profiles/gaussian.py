"""Profiles of the chapter "A single-dimensional Gaussian" (paper §4.2, Figs 4, 5, 6, 12)."""

from collapse import validate

PROFILES = {
    "smoke": dict(
        sizes=[100, 1000], generations=50, runs=200, pool_generations=30, pool_runs=20,
        pool_band_sizes=[100], fig12_max_exponent=5, fig12_repeats=1000, theory_runs=2000,
        theory_generations=20,
    ),
    "quick": dict(
        sizes=[100, 500, 1000, 10000], generations=1000, runs=1000, pool_generations=300,
        pool_runs=100, pool_band_sizes=[100, 500, 1000], fig12_max_exponent=7,
        fig12_repeats=10000, theory_runs=20000,
        theory_generations=200,
    ),
    "paper": dict(
        sizes=[100, 500, 1000, 10000], generations=1000, runs=2000, pool_generations=1000,
        pool_runs=100, pool_band_sizes=[100, 500, 1000], fig12_max_exponent=7,
        fig12_repeats=10000, theory_runs=20000, theory_generations=1000,
    ),
}


def check(config: dict) -> None:
    for m in config["sizes"]:
        validate.integer("sizes (each M)", m, minimum=2)
    validate.integer("generations", config["generations"], minimum=2)
    validate.integer("runs", config["runs"], minimum=1)
    validate.integer("pool_generations", config["pool_generations"], minimum=2)
    validate.integer("pool_runs", config["pool_runs"], minimum=1)
    for m in config["pool_band_sizes"]:
        validate.integer("pool_band_sizes (each M)", m, minimum=2)
    validate.integer("fig12_max_exponent", config["fig12_max_exponent"], minimum=1, maximum=9)
    validate.integer("fig12_repeats", config["fig12_repeats"], minimum=2)
    validate.integer("theory_runs", config["theory_runs"], minimum=2)
    validate.integer("theory_generations", config["theory_generations"], minimum=2)
