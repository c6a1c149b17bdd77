"""Profiles of the chapter "Can collapse be avoided?" (mixing rules × sample-size
schedules × families; beyond the paper, §4 and §5)."""

from collapse import validate

PROFILES = {
    "smoke": dict(keep_fractions=[0.01, 0.1, 0.5], schedules=["constant", "linear", "quadratic"],
                  gaussian_M=20, gaussian_runs=50, gaussian_generations=8,
                  discrete_M=50, discrete_runs=50, discrete_generations=8, discrete_states=20,
                  gmm_M=60, gmm_runs=2, gmm_generations=3),
    "quick": dict(keep_fractions=[0.01, 0.1, 0.5], schedules=["constant", "linear", "quadratic"],
                  gaussian_M=50, gaussian_runs=200, gaussian_generations=20,
                  discrete_M=50, discrete_runs=200, discrete_generations=20, discrete_states=20,
                  gmm_M=100, gmm_runs=4, gmm_generations=8),
    "paper": dict(keep_fractions=[0.01, 0.1, 0.5], schedules=["constant", "linear", "quadratic"],
                  gaussian_M=50, gaussian_runs=200, gaussian_generations=40,
                  discrete_M=50, discrete_runs=200, discrete_generations=40,
                  discrete_states=20, gmm_M=100, gmm_runs=8, gmm_generations=12),
}

SCHEDULES = ("constant", "linear", "quadratic")


def check(config: dict) -> None:
    if not config["keep_fractions"]:
        raise ValueError("keep_fractions must name at least one fraction")
    for gamma in config["keep_fractions"]:
        validate.real("keep_fractions (each γ)", gamma, 0.0, 0.99)
    if not config["schedules"]:
        raise ValueError("schedules must name at least one schedule")
    for name in config["schedules"]:
        validate.choice("schedules (each)", name, SCHEDULES)
    for family in ("gaussian", "discrete", "gmm"):
        validate.integer(f"{family}_M", config[f"{family}_M"], minimum=10)
        validate.integer(f"{family}_runs", config[f"{family}_runs"], minimum=1)
        validate.integer(f"{family}_generations", config[f"{family}_generations"], minimum=2)
    validate.integer("discrete_states", config["discrete_states"], minimum=2, maximum=1000)


def peak_memory(config: dict) -> tuple[int, str]:
    """The pool rule holds every sample drawn: ``runs · Σ_g M_g`` numbers, with the
    quadratic schedule ``M Σ (g+1)² ≈ M G³/3`` per run; the Gaussian grid dominates."""
    G, M, runs = (config[f"gaussian_{k}"] for k in ("generations", "M", "runs"))
    per_run = M * G * (G + 1) * (2 * G + 1) / 6 if "quadratic" in config["schedules"] else M * G * G
    return int(500e6 + 4 * 8 * runs * per_run), "gaussian_generations"
