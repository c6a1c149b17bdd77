"""Settings of the chapter "A language model at full scale on a laptop" (word bigrams on
the whole WikiText-2, the analogue of paper §5.2, Figs 10, 11, 15)."""

from dataclasses import dataclass

from collapse import validate
from collapse.book.settings import ChapterSettings, listed


@dataclass(frozen=True)
class Settings(ChapterSettings):
    train_lines: int = 0  # 0: all of them
    generations: int = 10
    runs: int = 1
    keep_fraction: float = 0.1
    interpolation: float = 0.9
    epsilon: float = 1e-4
    histogram_generations: list[int] = listed(1, 5, 9)

    def check(self) -> None:
        validate.integer("train_lines (0 = all)", self.train_lines, minimum=0)
        generations = validate.integer("generations", self.generations, minimum=2)
        validate.integer("runs", self.runs, minimum=1, maximum=20)
        validate.real("keep_fraction", self.keep_fraction, 0.0, 0.9)
        validate.real("interpolation", self.interpolation, 0.0, 1.0)
        validate.real("epsilon", self.epsilon, 1e-12, 0.5)
        if not self.histogram_generations:
            raise ValueError("histogram_generations must name at least one generation")
        for g in self.histogram_generations:
            validate.integer("histogram_generations (each)", g, minimum=1,
                             maximum=generations - 1)

    def peak_memory(self) -> tuple[int, str]:
        """About 40 bytes per training token per run (blocks, pair keys, the pool of the
        mixing rule, kept generations), plus the data set itself."""
        tokens = 2_100_000  # WikiText-2 train, with an end-of-line token per line
        kept = len(self.histogram_generations) + 3
        return int(400e6 + self.runs * tokens * 8 * kept * 2), "runs"


SMOKE = dict(train_lines=2000, generations=4, histogram_generations=[1, 3])
PAPER = dict(generations=20, runs=3, histogram_generations=[1, 5, 10, 19])
