"""Profiles of the appendix chapter "Absorbing Markov chains" (paper App. A.1)."""

from collapse import markov, validate

PROFILES = {
    "smoke": dict(M=10, K=3, starts=[[5, 3, 2], [8, 1, 1]], runs=1000, generations=150,
                  wf_sizes=[10, 20, 50, 100]),
    "quick": dict(M=10, K=3, starts=[[5, 3, 2], [8, 1, 1], [4, 3, 3]], runs=5000,
                  generations=150, wf_sizes=[10, 20, 50, 100, 200, 500, 1000]),
    "paper": dict(M=20, K=3, starts=[[10, 6, 4], [16, 2, 2], [7, 7, 6]], runs=10000,
                  generations=300, wf_sizes=[10, 20, 50, 100, 200, 500, 1000, 2000]),
}


def check(config: dict) -> None:
    M = validate.integer("M", config["M"], minimum=2)
    K = validate.integer("K", config["K"], minimum=2)
    if markov.number_of_states(M, K) > markov.MAX_STATES:
        raise ValueError(f"M={M}, K={K} gives {markov.number_of_states(M, K)} chain states; "
                         f"at most {markov.MAX_STATES} are supported")
    for start in config["starts"]:
        if len(start) != K or sum(start) != M or min(start) < 0:
            raise ValueError(f"starts (each) must be {K} non-negative counts summing to "
                             f"M={M}, got {start}")
    validate.integer("runs", config["runs"], minimum=10)
    validate.integer("generations", config["generations"], minimum=2)
    for size in config["wf_sizes"]:
        validate.integer("wf_sizes (each M)", size, minimum=2, maximum=markov.MAX_STATES - 1)
