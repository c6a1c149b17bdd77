"""Settings of the chapter "Discrete distributions" (paper §4.1, Fig 3).

The loop keeps one table row per run and generation (about 80 bytes), so runs ×
generations is kept below a few million rows per experiment.
"""

from dataclasses import dataclass

from collapse import validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import ChapterSettings, check_list, listed


@dataclass(frozen=True)
class Settings(ChapterSettings):
    fig3_M: int = 1000
    fig3_bins: int = 80
    collapse_M: int = 100
    collapse_bins: int = 40
    collapse_generations: int = 1000
    collapse_runs: int = 1000
    final_M: int = 20
    final_bins: int = 12
    final_runs: int = 4000
    final_generations: int = 400
    time_sizes: list[int] = listed(5, 10, 20, 50, 100)
    time_states: list[int] = listed(2, 5, 10)
    time_runs: int = 300
    time_horizon: int = 15

    def check(self) -> None:
        validate.integer("fig3_M", self.fig3_M, minimum=2)
        validate.integer("fig3_bins", self.fig3_bins, minimum=2, maximum=10000)
        validate.integer("collapse_M", self.collapse_M, minimum=2)
        validate.integer("collapse_bins", self.collapse_bins, minimum=2, maximum=10000)
        # Fig 3 draws generations 0, 3 and 30 (and later ones)
        validate.integer("collapse_generations", self.collapse_generations, minimum=31)
        validate.integer("collapse_runs", self.collapse_runs, minimum=1)
        validate.integer("final_M", self.final_M, minimum=2)
        validate.integer("final_bins", self.final_bins, minimum=2, maximum=10000)
        validate.integer("final_runs", self.final_runs, minimum=10)
        validate.integer("final_generations", self.final_generations, minimum=2)
        check_list("time_sizes", self.time_sizes,
                   lambda label, m: validate.integer(label, m, minimum=2), distinct=True,
                   label="time_sizes (each M)")
        # one colour of the colour-blind palette per K
        check_list("time_states", self.time_states,
                   lambda label, k: validate.integer(label, k, minimum=2, maximum=10000),
                   maximum_length=10, distinct=True, label="time_states (each K)")
        validate.integer("time_runs", self.time_runs, minimum=2)
        validate.integer("time_horizon", self.time_horizon, minimum=1)

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: the loop's table (88 bytes per run and generation, built from
        per-generation pieces, so twice that while it is joined) of the largest experiment,
        the tables of Figs 4 and 5 staying alive, and the runs × bins counts."""
        time_rows = self.time_runs * (self.time_horizon * max(self.time_sizes) + 1)
        terms = {
            "collapse_runs": self.collapse_runs * (
                88 * self.collapse_generations + 16 * self.collapse_bins),
            "final_runs": self.final_runs * (88 * self.final_generations + 16 * self.final_bins),
            "time_runs": 88 * time_rows + 16 * self.time_runs * max(self.time_states),
        }
        peak = BASE + TABLE_OVERHEAD * (sum(terms.values()) + max(terms.values()))
        return int(peak), max(terms, key=terms.get)


SMOKE = dict(collapse_M=50, collapse_generations=200, collapse_runs=200, final_M=10,
             final_runs=1000, final_generations=250, time_sizes=[5, 10, 20],
             time_states=[2, 5], time_runs=100)
PAPER = dict(collapse_M=1000, collapse_generations=8000, collapse_runs=300, final_runs=10000,
             time_sizes=[5, 10, 20, 50, 100, 200], time_states=[2, 5, 10, 50], time_runs=500,
             time_horizon=20)
