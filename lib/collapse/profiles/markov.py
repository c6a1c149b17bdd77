"""Profiles of the appendix chapter "Absorbing Markov chains" (paper App. A.1)."""

from collapse import markov, validate
from collapse.profiles import BASE, TABLE_OVERHEAD, check_list

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

    def start(label, counts):
        if (len(counts) != K or sum(counts) != M
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                           for c in counts)):
            raise ValueError(f"{label} must be {K} non-negative integer counts summing to "
                             f"M={M}, got {counts}")

    # one colour of the colour-blind palette per start
    check_list("starts", config["starts"], start, maximum_length=10, distinct=True)
    validate.integer("runs", config["runs"], minimum=10)
    validate.integer("generations", config["generations"], minimum=2)
    check_list("wf_sizes", config["wf_sizes"],
               lambda label, size: validate.integer(label, size, minimum=2,
                                                    maximum=markov.MAX_STATES - 1),
               distinct=True, label="wf_sizes (each M)")


def peak_memory(config: dict) -> tuple[int, str]:
    """Bytes at the peak: one start's loop table (100 bytes per run and generation, twice
    that while it is joined) or the dense S × S matrices of the largest chain."""
    states = max(markov.number_of_states(config["M"], config["K"]),
                 max(config["wf_sizes"]) + 1)
    terms = {"runs": 2 * 100 * config["runs"] * config["generations"],
             "wf_sizes": 6 * 8 * states**2}
    return int(BASE + TABLE_OVERHEAD * max(terms.values())), max(terms, key=terms.get)
