"""Settings of the chapter "What is model collapse?" (paper §1, §3, Fig 2)."""

from dataclasses import dataclass

from collapse import validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import ChapterSettings, check_list, listed


@dataclass(frozen=True)
class Settings(ChapterSettings):
    stages_M: int = 100  # sample size of the early/late collapse illustration
    stages_bins: int = 40  # histogram bins on [-8, 8] in that illustration
    stages_generations: list[int] = listed(0, 10, 100, 1000)  # generations shown there
    M: int = 100  # finite sample size of the two-error-sources experiment
    huge_M: int = 10**12  # "no statistical error": a sample size whose error is negligible
    runs: int = 1000  # independent runs for the bands
    generations: int = 1000  # generations of the two-error-sources experiment

    def check(self) -> None:
        validate.integer("stages_M", self.stages_M, minimum=2)
        validate.integer("stages_bins", self.stages_bins, minimum=2, maximum=10000)
        # one panel each, side by side (a single panel is not a row of panels)
        check_list("stages_generations", self.stages_generations,
                   lambda label, g: validate.integer(label, g, minimum=0), minimum_length=2)
        validate.integer("M", self.M, minimum=2)
        # the exact statistics hold huge_M in a 64-bit integer
        validate.integer("huge_M", self.huge_M, minimum=2, maximum=10**18)
        validate.integer("runs", self.runs, minimum=1)
        validate.integer("generations", self.generations, minimum=2)

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: the two tables of the two-error-sources experiment (48 bytes
        per run and generation), with pandas' copies, the kept histograms of Fig 2 and the
        M × runs draws from the mixture."""
        terms = {
            "runs": 2 * 48 * self.runs * self.generations + 8 * self.M * self.runs,
            "stages_generations": (8 * self.stages_bins + 200) * (
                max(self.stages_generations) + 1),
        }
        return int(BASE + TABLE_OVERHEAD * sum(terms.values())), max(terms, key=terms.get)


SMOKE = dict(stages_M=50, stages_generations=[0, 5, 50, 300], runs=100, generations=100)
PAPER = dict(runs=2000, generations=2000)
