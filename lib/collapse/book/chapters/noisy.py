"""The chapter "Noisy approximation and lower bounds" (paper §4.3, App. A.2): its settings
and the tables it reads off the simulations.

Memory: the loop's table holds ``runs × generations`` rows while a noise and schedule run
(the chapter keeps only averages over runs afterwards); the assumption check draws
``assumption_draws`` data sets of ``assumption_size`` points at once; the Gelbrich
illustration draws its samples in chunks of :data:`CHUNK_ELEMENTS` numbers.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collapse import metrics, validate
from collapse.book.settings import ChapterSettings, listed
from collapse.noisy import NoisyGaussian, bounds

BASE_BYTES = 400 * 2**20  # Python, numpy, pandas, matplotlib and the kernel
CHUNK_ELEMENTS = 2**22  # numbers drawn at once by empirical_gelbrich (32 MB)


@dataclass(frozen=True)
class Settings(ChapterSettings):
    dim: int = 3
    runs: int = 2000
    generations: int = 500
    base_size: int = 100
    kappa: float = 1.0
    power: float = 0.5
    bound_K: float = 2.0
    assumption_size: int = 20
    assumption_draws: int = 200000
    empirical_sizes: list[int] = listed(10, 30, 100, 300, 1000, 3000, 10000)
    empirical_runs: int = 2000

    def check(self) -> None:
        validate.integer("dim", self.dim, minimum=1, maximum=10)
        validate.integer("runs", self.runs, minimum=2)
        validate.integer("generations", self.generations, minimum=4)
        validate.integer("base_size", self.base_size, minimum=max(2, self.dim + 2))
        validate.real("kappa", self.kappa, low=0.0)
        validate.real("power", self.power, low=0.0, high=5.0)
        validate.real("bound_K", self.bound_K, low=0.0)
        validate.integer("assumption_size", self.assumption_size, minimum=2)
        validate.integer("assumption_draws", self.assumption_draws, minimum=100)
        if not self.empirical_sizes:
            raise ValueError("empirical_sizes must list at least one sample size")
        for m in self.empirical_sizes:
            validate.integer("empirical_sizes (each M)", m, minimum=2)
        validate.integer("empirical_runs", self.empirical_runs, minimum=2)

    def peak_memory(self) -> tuple[int, str]:
        """Estimated peak resident memory of the chapter in bytes, and the parameter that
        drives it (the one to lower when it does not fit)."""
        number = 8  # bytes of a float64 or int64
        parts = {
            # 7 columns per row, held as the loop's per-generation columns and once more as
            # the table, plus the temporaries of the group-by that averages over runs:
            # measured 2.56 GB peak RSS for the paper profile (10,000 runs × 1,000
            # generations), i.e. about 28 numbers per row; 32 leaves a margin
            "runs": 32 * number * self.runs * self.generations,
            # the drawn points, their centred copy and a temporary (measured: 3 numbers each)
            "assumption_draws": (4 * number * self.assumption_draws * self.assumption_size
                                 * self.dim),
            # a chunk of whole rows, its sorted copy and four temporaries of the W2 formula
            "empirical_runs": 6 * number * max(
                min(self.empirical_runs * m, max(CHUNK_ELEMENTS, m))
                for m in self.empirical_sizes),
        }
        name = max(parts, key=parts.get)
        return BASE_BYTES + parts[name], name


SMOKE = dict(dim=2, runs=500, generations=60, base_size=20, assumption_draws=20000,
             empirical_sizes=[10, 100, 1000], empirical_runs=200)
PAPER = dict(runs=10000, generations=1000, assumption_draws=500000,
             empirical_sizes=[10, 30, 100, 300, 1000, 3000, 10000, 100000],
             empirical_runs=10000)


def averages(table: pd.DataFrame) -> pd.DataFrame:
    """Per generation, over runs: the means of ``mean_error``, ``w2`` and the sample size
    ``M``, their standard errors (``*_se``) and the median of ``cov_trace``. The
    chapter keeps only this (a few numbers per generation), not the table of every run."""
    grouped = table.groupby("generation")
    summary = grouped[["mean_error", "w2", "n_train"]].mean().rename(columns={"n_train": "M"})
    for column in ("mean_error", "w2"):
        summary[column + "_se"] = grouped[column].std() / np.sqrt(grouped[column].count())
    summary["cov_trace_median"] = grouped["cov_trace"].median()
    return summary


def agreement(summary: pd.DataFrame, family: NoisyGaussian, cov) -> pd.DataFrame:
    """How the simulation (``summary``: :func:`averages` with a ``schedule`` index level)
    meets the bounds, per schedule: the worst deviation of the mean error from Eq 15 in
    standard errors and its generation, the smallest margin of the risk above Eq 15, the
    median ``Tr Σ_g`` at the last generation, the risk after G/4, G/2 and G generations
    and, for a bounded noise, the smallest margin of the mean error above Eq 24."""
    rows = {}
    for kind, part in summary.groupby(level="schedule", sort=False):
        part = part.droplevel("schedule")
        G = len(part)
        lines = bounds(family, part["M"].to_numpy(), cov)
        eq15 = lines["Eq 15"]
        z = ((part["mean_error"] - eq15) / part["mean_error_se"]).to_numpy()
        w2 = part["w2"].to_numpy()
        row = rows[kind] = {
            "worst (mean error − Eq 15) / SE": z[np.argmax(np.abs(z))],
            "at generation": np.argmax(np.abs(z)),
            "min (E W2² − Eq 15) / SE": ((part["w2"] - eq15) / part["w2_se"]).min(),
            "median Tr Σ_g, last": part["cov_trace_median"].iloc[-1],
            f"E W2² at g={G // 4 - 1}": w2[G // 4 - 1],
            f"E W2² at g={G // 2 - 1}": w2[G // 2 - 1],
            f"E W2² at g={G - 1}": w2[G - 1]}
        if "Eq 24 summed" in lines:
            row["min (mean error − Eq 24) / SE"] = (
                (part["mean_error"] - lines["Eq 24 summed"]) / part["mean_error_se"]).min()
    return pd.DataFrame(rows).T


def empirical_gelbrich(M: int, runs: int, rng: np.random.Generator,
                       chunk_elements: int = CHUNK_ELEMENTS) -> dict[str, float]:
    """Fig 3 (right): the mean exact ``W2²`` between the empirical measure of ``M`` draws
    of ``N(0, 1)`` and ``N(0, 1)``, and the mean Gelbrich bound (the Gaussian with the
    sample mean and unbiased variance), over ``runs`` samples. The samples are drawn
    ``chunk_elements`` numbers at a time (whole rows), so memory stays bounded for any
    ``runs × M``; the draws, and so the result, are those of one ``(runs, M)`` array."""
    M = validate.integer("M", M, minimum=2)
    runs = validate.integer("runs", runs, minimum=1)
    chunk_elements = validate.integer("chunk_elements", chunk_elements, minimum=1)
    rows = max(1, chunk_elements // M)
    exact, gelbrich = np.empty(runs), np.empty(runs)
    for start in range(0, runs, rows):
        samples = rng.standard_normal((min(rows, runs - start), M))
        part = slice(start, start + len(samples))
        exact[part] = metrics.w2_squared_empirical_normal(samples)
        gelbrich[part] = metrics.gelbrich_bound(samples.mean(1), samples.var(1, ddof=1),
                                                0.0, 1.0)
    return {"M": M, "exact": exact.mean(), "Gelbrich": gelbrich.mean()}
