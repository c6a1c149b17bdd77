"""Settings of the appendix chapter "Absorbing Markov chains" (paper App. A.1)."""

from dataclasses import dataclass

from collapse import markov, validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import ChapterSettings, check_list, listed


@dataclass(frozen=True)
class Settings(ChapterSettings):
    M: int = 10
    K: int = 3
    starts: list[list[int]] = listed([5, 3, 2], [8, 1, 1], [4, 3, 3])
    runs: int = 5000
    generations: int = 150
    wf_sizes: list[int] = listed(10, 20, 50, 100, 200, 500, 1000)

    def check(self) -> None:
        M = validate.integer("M", self.M, minimum=2)
        K = validate.integer("K", self.K, minimum=2)
        if markov.number_of_states(M, K) > markov.MAX_STATES:
            raise ValueError(f"M={M}, K={K} gives {markov.number_of_states(M, K)} chain "
                             f"states; at most {markov.MAX_STATES} are supported")

        def start(label, counts):
            if (len(counts) != K or sum(counts) != M
                    or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                               for c in counts)):
                raise ValueError(f"{label} must be {K} non-negative integer counts summing "
                                 f"to M={M}, got {counts}")

        # one colour of the colour-blind palette per start
        check_list("starts", self.starts, start, maximum_length=10, distinct=True)
        validate.integer("runs", self.runs, minimum=10)
        validate.integer("generations", self.generations, minimum=2)
        check_list("wf_sizes", self.wf_sizes,
                   lambda label, size: validate.integer(label, size, minimum=2,
                                                        maximum=markov.MAX_STATES - 1),
                   distinct=True, label="wf_sizes (each M)")

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: one start's loop table (100 bytes per run and generation,
        twice that while it is joined) or the dense S × S matrices of the largest chain."""
        states = max(markov.number_of_states(self.M, self.K), max(self.wf_sizes) + 1)
        terms = {"runs": 2 * 100 * self.runs * self.generations, "wf_sizes": 6 * 8 * states**2}
        return int(BASE + TABLE_OVERHEAD * max(terms.values())), max(terms, key=terms.get)


SMOKE = dict(starts=[[5, 3, 2], [8, 1, 1]], runs=1000, wf_sizes=[10, 20, 50, 100])
PAPER = dict(M=20, starts=[[10, 6, 4], [16, 2, 2], [7, 7, 6]], runs=10000, generations=300,
             wf_sizes=[10, 20, 50, 100, 200, 500, 1000, 2000])
