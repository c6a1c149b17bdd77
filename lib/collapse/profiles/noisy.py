"""Profiles of the chapter "Noisy approximation and lower bounds" (paper §4.3, App. A.2).

Memory: the loop's table holds ``runs × generations`` rows while a noise and schedule run
(the chapter keeps only averages over runs afterwards); the assumption check draws
``assumption_draws`` data sets of ``assumption_size`` points at once; the Gelbrich
illustration draws its samples in chunks of ``noisy.CHUNK_ELEMENTS`` numbers.
"""

from collapse import validate

PROFILES = {
    "smoke": dict(
        dim=2, runs=500, generations=60, base_size=20, kappa=1.0, power=0.5, bound_K=2.0,
        assumption_size=20, assumption_draws=20000, empirical_sizes=[10, 100, 1000],
        empirical_runs=200,
    ),
    "quick": dict(
        dim=3, runs=2000, generations=500, base_size=100, kappa=1.0, power=0.5, bound_K=2.0,
        assumption_size=20, assumption_draws=200000,
        empirical_sizes=[10, 30, 100, 300, 1000, 3000, 10000], empirical_runs=2000,
    ),
    "paper": dict(
        dim=3, runs=10000, generations=1000, base_size=100, kappa=1.0, power=0.5, bound_K=2.0,
        assumption_size=20, assumption_draws=500000,
        empirical_sizes=[10, 30, 100, 300, 1000, 3000, 10000, 100000], empirical_runs=10000,
    ),
}


def check(config: dict) -> None:
    validate.integer("dim", config["dim"], minimum=1, maximum=10)
    validate.integer("runs", config["runs"], minimum=2)
    validate.integer("generations", config["generations"], minimum=4)
    validate.integer("base_size", config["base_size"], minimum=max(2, config["dim"] + 2))
    validate.real("kappa", config["kappa"], low=0.0)
    validate.real("power", config["power"], low=0.0, high=5.0)
    validate.real("bound_K", config["bound_K"], low=0.0)
    validate.integer("assumption_size", config["assumption_size"], minimum=2)
    validate.integer("assumption_draws", config["assumption_draws"], minimum=100)
    if not config["empirical_sizes"]:
        raise ValueError("empirical_sizes must list at least one sample size")
    for m in config["empirical_sizes"]:
        validate.integer("empirical_sizes (each M)", m, minimum=2)
    validate.integer("empirical_runs", config["empirical_runs"], minimum=2)


BASE_BYTES = 400 * 2**20  # Python, numpy, pandas, matplotlib and the kernel


def peak_memory(config: dict) -> tuple[int, str]:
    """Estimated peak resident memory of the chapter in bytes, and the parameter that
    drives it (the one to lower when it does not fit)."""
    from collapse.noisy import CHUNK_ELEMENTS

    number = 8  # bytes of a float64 or int64
    parts = {
        # 7 columns per row, held as the loop's per-generation columns and once more as
        # the table, plus the temporaries of the group-by that averages over runs:
        # measured 2.56 GB peak RSS for the paper profile (10,000 runs × 1,000
        # generations), i.e. about 28 numbers per row; 32 leaves a margin
        "runs": 32 * number * config["runs"] * config["generations"],
        # the drawn points, their centred copy and a temporary (measured: 3 numbers each)
        "assumption_draws": (4 * number * config["assumption_draws"]
                             * config["assumption_size"] * config["dim"]),
        # a chunk of whole rows, its sorted copy and four temporaries of the W2 formula
        "empirical_runs": 6 * number * max(
            min(config["empirical_runs"] * m, max(CHUNK_ELEMENTS, m))
            for m in config["empirical_sizes"]),
    }
    name = max(parts, key=parts.get)
    return BASE_BYTES + parts[name], name
