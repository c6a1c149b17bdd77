"""Profiles of the chapter "Reproduction notes" (every place where the paper's text, its
equations, its figures, the authors' code and this book disagree, each run both ways).

Every experiment is small: the Gaussian chains use exact sufficient statistics, the
GMM chains are few and short, the Markov chains are solved exactly.
"""

from collapse import validate
from collapse.profiles import BASE, PROFILE_NAMES, TABLE_OVERHEAD, check_list

PROFILES = {
    "smoke": dict(
        gaussian_M=100, gaussian_runs=4000, gaussian_generations=20,
        fig12_sizes=[10, 10_000_000], fig12_repeats=[1000, 10000],
        gmm_M=300, gmm_runs=2, gmm_generations=4, gmm_separation=6.0,
        noisy_M=20, noisy_runs=1000, noisy_generations=8, noisy_K=2.0, noisy_dim=3,
        kimura_sizes=[10, 100], fig3_M=1000, fig3_bins=80, fig3_draws=500,
        lm_lines=2000, lm_vocab=1000, selection_repeats=50, lm_profile="smoke", lm_seeds=3,
    ),
    "quick": dict(
        gaussian_M=100, gaussian_runs=20000, gaussian_generations=50,
        fig12_sizes=[10, 10_000_000], fig12_repeats=[1000, 10000],
        gmm_M=1000, gmm_runs=4, gmm_generations=20, gmm_separation=6.0,
        noisy_M=20, noisy_runs=4000, noisy_generations=10, noisy_K=2.0, noisy_dim=3,
        kimura_sizes=[10, 100, 1000], fig3_M=1000, fig3_bins=80, fig3_draws=4000,
        lm_lines=10000, lm_vocab=2000, selection_repeats=200, lm_profile="smoke",
        lm_seeds=3,
    ),
    "paper": dict(
        gaussian_M=100, gaussian_runs=100000, gaussian_generations=100,
        fig12_sizes=[10, 10_000_000], fig12_repeats=[1000, 10000],
        gmm_M=1000, gmm_runs=10, gmm_generations=100, gmm_separation=6.0,
        noisy_M=20, noisy_runs=20000, noisy_generations=10, noisy_K=2.0, noisy_dim=3,
        kimura_sizes=[10, 100, 1000], fig3_M=1000, fig3_bins=80, fig3_draws=20000,
        lm_lines=0, lm_vocab=8000, selection_repeats=1000, lm_profile="quick",
        lm_seeds=5,
    ),
}


def check(config: dict) -> None:
    validate.integer("gaussian_M", config["gaussian_M"], minimum=4)
    validate.integer("gaussian_runs", config["gaussian_runs"], minimum=100)
    validate.integer("gaussian_generations", config["gaussian_generations"], minimum=2)
    check_list("fig12_sizes", config["fig12_sizes"],
               lambda label, n: validate.integer(label, n, minimum=2), distinct=True,
               label="fig12_sizes (each N)")
    check_list("fig12_repeats", config["fig12_repeats"],
               lambda label, r: validate.integer(label, r, minimum=10, maximum=10**7),
               distinct=True, label="fig12_repeats (each)")
    validate.integer("gmm_M", config["gmm_M"], minimum=20)
    validate.integer("gmm_runs", config["gmm_runs"], minimum=2)
    validate.integer("gmm_generations", config["gmm_generations"], minimum=3)
    validate.real("gmm_separation", config["gmm_separation"], low=0.0, high=100.0)
    validate.integer("noisy_M", config["noisy_M"], minimum=4)
    validate.integer("noisy_runs", config["noisy_runs"], minimum=100)
    validate.integer("noisy_generations", config["noisy_generations"], minimum=2)
    validate.real("noisy_K", config["noisy_K"], low=1e-9)
    validate.integer("noisy_dim", config["noisy_dim"], minimum=1, maximum=50)
    check_list("kimura_sizes", config["kimura_sizes"],
               lambda label, m: validate.integer(label, m, minimum=2, maximum=5000),
               distinct=True, label="kimura_sizes (each M)")
    validate.integer("fig3_M", config["fig3_M"], minimum=2)
    validate.integer("fig3_bins", config["fig3_bins"], minimum=2, maximum=10000)
    validate.integer("fig3_draws", config["fig3_draws"], minimum=10)
    validate.integer("lm_lines (0 = all)", config["lm_lines"], minimum=0)
    if 0 < config["lm_lines"] < 200:
        raise ValueError(f"lm_lines must be 0 (all) or >= 200, got {config['lm_lines']}")
    validate.integer("lm_vocab", config["lm_vocab"], minimum=300, maximum=50272)
    validate.integer("selection_repeats", config["selection_repeats"], minimum=10)
    validate.choice("lm_profile", config["lm_profile"], PROFILE_NAMES)
    validate.integer("lm_seeds", config["lm_seeds"], minimum=2, maximum=20)


def peak_memory(config: dict) -> tuple[int, str]:
    """Bytes at the peak: the Gaussian loop's tables (about 90 bytes per run and
    generation, three chains: unbiased, maximum likelihood, and their joined copy), the
    Fig 3 counts (8 bytes per draw and bin) and the largest Markov chain (a dense
    ``(M + 1)²`` matrix, a few copies)."""
    terms = {
        "gaussian_runs": 3 * 90 * config["gaussian_runs"] * config["gaussian_generations"],
        "fig3_draws": 16 * config["fig3_draws"] * config["fig3_bins"],
        "kimura_sizes": 5 * 8 * (max(config["kimura_sizes"]) + 1) ** 2,
        "noisy_runs": 2 * 120 * config["noisy_runs"] * config["noisy_generations"],
    }
    peak = BASE + TABLE_OVERHEAD * (sum(terms.values()) + max(terms.values()))
    return int(peak), max(terms, key=terms.get)
