"""Profiles of the chapter "A single-dimensional Gaussian" (paper §4.2, Figs 4, 5, 6, 12)."""

from collapse import validate
from collapse.profiles import BASE, TABLE_OVERHEAD, check_list

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
    def size(label, m):
        validate.integer(label, m, minimum=2)

    # sizes[0] is the M of the theory checks; a repeated M would merge two tables
    check_list("sizes", config["sizes"], size, distinct=True, label="sizes (each M)")
    validate.integer("generations", config["generations"], minimum=2)
    validate.integer("runs", config["runs"], minimum=1)
    validate.integer("pool_generations", config["pool_generations"], minimum=2)
    validate.integer("pool_runs", config["pool_runs"], minimum=1)
    check_list("pool_band_sizes", config["pool_band_sizes"], size, distinct=True,
               label="pool_band_sizes (each M)")
    validate.integer("fig12_max_exponent", config["fig12_max_exponent"], minimum=1, maximum=9)
    validate.integer("fig12_repeats", config["fig12_repeats"], minimum=2)
    validate.integer("theory_runs", config["theory_runs"], minimum=2)
    validate.integer("theory_generations", config["theory_generations"], minimum=2)


def peak_memory(config: dict) -> tuple[int, str]:
    """Bytes at the peak: the tables kept alive through the chapter (48 bytes per run
    and generation, 64 with the error columns of Fig 4), with room for pandas' copies,
    plus the largest pool of Fig 5 (8 bytes a sample, in a buffer that doubles)."""
    n = len(config["sizes"])
    terms = {
        "runs": (64 + 48) * n * config["runs"] * config["generations"],
        "theory_runs": (48 * 2 + 8) * config["theory_runs"] * config["theory_generations"],
        "fig12_repeats": 100 * config["fig12_max_exponent"] * config["fig12_repeats"],
    }
    pool = 16 * config["pool_generations"] * max(
        [max(config["sizes"])] + [m * config["pool_runs"] for m in config["pool_band_sizes"]])
    terms["pool_runs"] = pool
    peak = BASE + TABLE_OVERHEAD * (sum(terms.values()) - pool) + pool
    return int(peak), max(terms, key=terms.get)
