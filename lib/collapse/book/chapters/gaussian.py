"""Settings of the chapter "A single-dimensional Gaussian" (paper §4.2, Figs 4, 5, 6, 12)."""

from dataclasses import dataclass

from collapse import validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import ChapterSettings, check_list, listed


@dataclass(frozen=True)
class Settings(ChapterSettings):
    sizes: list[int] = listed(100, 500, 1000, 10000)
    generations: int = 1000
    runs: int = 1000
    pool_generations: int = 300
    pool_runs: int = 100
    pool_band_sizes: list[int] = listed(100, 500, 1000)
    fig12_max_exponent: int = 7
    fig12_repeats: int = 10000
    theory_runs: int = 20000
    theory_generations: int = 200

    def check(self) -> None:
        def size(label, m):
            validate.integer(label, m, minimum=2)

        # sizes[0] is the M of the theory checks; a repeated M would merge two tables
        check_list("sizes", self.sizes, size, distinct=True, label="sizes (each M)")
        validate.integer("generations", self.generations, minimum=2)
        validate.integer("runs", self.runs, minimum=1)
        validate.integer("pool_generations", self.pool_generations, minimum=2)
        validate.integer("pool_runs", self.pool_runs, minimum=1)
        check_list("pool_band_sizes", self.pool_band_sizes, size, distinct=True,
                   label="pool_band_sizes (each M)")
        validate.integer("fig12_max_exponent", self.fig12_max_exponent, minimum=1, maximum=9)
        validate.integer("fig12_repeats", self.fig12_repeats, minimum=2)
        validate.integer("theory_runs", self.theory_runs, minimum=2)
        validate.integer("theory_generations", self.theory_generations, minimum=2)

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: the tables kept alive through the chapter (48 bytes per run
        and generation, 64 with the error columns of Fig 4), with room for pandas' copies,
        plus the largest pool of Fig 5 (8 bytes a sample, in a buffer that doubles)."""
        n = len(self.sizes)
        terms = {
            "runs": (64 + 48) * n * self.runs * self.generations,
            "theory_runs": (48 * 2 + 8) * self.theory_runs * self.theory_generations,
            "fig12_repeats": 100 * self.fig12_max_exponent * self.fig12_repeats,
        }
        pool = 16 * self.pool_generations * max(
            [max(self.sizes)] + [m * self.pool_runs for m in self.pool_band_sizes])
        terms["pool_runs"] = pool
        peak = BASE + TABLE_OVERHEAD * (sum(terms.values()) - pool) + pool
        return int(peak), max(terms, key=terms.get)


SMOKE = dict(sizes=[100, 1000], generations=50, runs=200, pool_generations=30, pool_runs=20,
             pool_band_sizes=[100], fig12_max_exponent=5, fig12_repeats=1000,
             theory_runs=2000, theory_generations=20)
PAPER = dict(runs=2000, pool_generations=1000, theory_generations=1000)
