"""The chapter "Can collapse be avoided?" (mixing rules × sample-size schedules ×
families; beyond the paper, §4 and §5): its settings and the grid it runs, one
:mod:`collapse.sweep` task per cell."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collapse import discrete, gaussian, gmm, loop, metrics, mixing, sweep, validate
from collapse.book.settings import ChapterSettings, listed

SCHEDULES = ("constant", "linear", "quadratic")


@dataclass(frozen=True)
class Settings(ChapterSettings):
    keep_fractions: list[float] = listed(0.01, 0.1, 0.5)
    schedules: list[str] = listed("constant", "linear", "quadratic")
    gaussian_M: int = 50
    gaussian_runs: int = 200
    gaussian_generations: int = 20
    discrete_M: int = 50
    discrete_runs: int = 200
    discrete_generations: int = 20
    discrete_states: int = 20
    gmm_M: int = 100
    gmm_runs: int = 4
    gmm_generations: int = 8

    def check(self) -> None:
        if not self.keep_fractions:
            raise ValueError("keep_fractions must name at least one fraction")
        for gamma in self.keep_fractions:
            validate.real("keep_fractions (each γ)", gamma, 0.0, 0.99)
        if not self.schedules:
            raise ValueError("schedules must name at least one schedule")
        for name in self.schedules:
            validate.choice("schedules (each)", name, SCHEDULES)
        for family in ("gaussian", "discrete", "gmm"):
            validate.integer(f"{family}_M", getattr(self, f"{family}_M"), minimum=10)
            validate.integer(f"{family}_runs", getattr(self, f"{family}_runs"), minimum=1)
            validate.integer(f"{family}_generations", getattr(self, f"{family}_generations"),
                             minimum=2)
        validate.integer("discrete_states", self.discrete_states, minimum=2, maximum=1000)

    def peak_memory(self) -> tuple[int, str]:
        """The pool rule holds every sample drawn: ``runs · Σ_g M_g`` numbers, with the
        quadratic schedule ``M Σ (g+1)² ≈ M G³/3`` per run; the Gaussian grid dominates."""
        G, M, runs = self.gaussian_generations, self.gaussian_M, self.gaussian_runs
        per_run = (M * G * (G + 1) * (2 * G + 1) / 6 if "quadratic" in self.schedules
                   else M * G * G)
        return int(500e6 + 4 * 8 * runs * per_run), "gaussian_generations"


SMOKE = dict(gaussian_M=20, gaussian_runs=50, gaussian_generations=8, discrete_runs=50,
             discrete_generations=8, gmm_M=60, gmm_runs=2, gmm_generations=3)
PAPER = dict(gaussian_generations=40, discrete_generations=40, gmm_runs=8, gmm_generations=12)


# ------------------------------------------------------------------- the grid
RULES = ("replace", "accumulate", "pool")  # then one "keep γ original" row per fraction
GROWTH = {"constant": 0, "linear": 1, "quadratic": 2}
FAMILY_KEYS = {"Gaussian (W2²)": "gaussian", "histogram (TV)": "discrete",
               "GMM (squared L2)": "gmm"}


def rules(settings: Settings) -> dict:
    """The grid's rows: name → mixing rule."""
    return {"replace": mixing.Replace(), "accumulate": mixing.Accumulate(),
            "pool": mixing.Pool(),
            **{f"keep {gamma:.0%} original": mixing.KeepOriginal(gamma)
               for gamma in settings.keep_fractions}}


def family_and_data(key: str, runs: int, M: int, rng, states: int):
    """The family of a grid row and its ``D_0``: a standard Gaussian, the Fig 3 mixture
    binned into ``states`` bins, or the two-Gaussian mixture (its L2 to the truth)."""
    if key == "gaussian":
        family = gaussian.Gaussian()
        return family, family.sample(gaussian.params(0.0, 1.0, runs=runs), M, rng)
    if key == "discrete":
        truth = discrete.binned(discrete.GaussianMixture1D(), np.linspace(-8, 8, states + 1))
        return discrete.Discrete(truth), discrete.initial_data(runs, M, rng, truth)
    return (gmm.GMM(reference=gmm.initial_distribution("two")),
            gmm.initial_data(runs, M, rng, "two"))


def error(key: str, table: pd.DataFrame) -> pd.Series:
    """Distance of every fit to the truth: W2² (Gaussian), TV (histogram), squared L2 (GMM)."""
    if key == "gaussian":
        return metrics.w2_squared_gaussian_1d(table["mean"], table["std"], 0.0, 1.0)
    return table["tv"] if key == "discrete" else table["l2_to_reference"] ** 2


def cell(family_name: str, rule_name: str, rule, schedule: str, M: int, runs: int,
         generations: int, states: int, seed: list[int], checkpoint=None):
    """One cell of the grid (a :mod:`collapse.sweep` task): ``runs`` chains of the family
    under the rule and the schedule ``M_g = M (g + 1)^p``; its table with the error
    column, or None when ``γ M_g`` would need more original points than ``D_0`` has."""
    key = FAMILY_KEYS[family_name]
    rng = np.random.default_rng(seed)
    family, initial = family_and_data(key, runs, M, rng, states)
    exact = rule.exact and isinstance(family, loop.ExactFamily)
    if exact:
        initial = family.summarize(initial)
    power = GROWTH[schedule]
    sizes = loop.sample_sizes(lambda g: M * (g + 1) ** power, generations, M)
    if max(rule.counts(int(m))[2] for m in sizes) > M:
        return None
    history = loop.simulate(family, initial, generations, list(sizes[1:]), rng, rule,
                            exact=exact, checkpoint=checkpoint)
    return history.table.assign(error=error(key, history.table), family=family_name,
                                rule=rule_name, schedule=schedule)


def grid_tasks(settings: Settings) -> list:
    """Every cell of the grid as a :func:`collapse.sweep.task`; each cell's randomness
    comes from ``[seed, family, rule, schedule]`` indices, so any backend gives the same
    grid."""
    tasks = []
    for f, (family_name, key) in enumerate(FAMILY_KEYS.items()):
        M, runs, G = (getattr(settings, f"{key}_{k}") for k in ("M", "runs", "generations"))
        for r, (rule_name, rule) in enumerate(rules(settings).items()):
            for s, schedule in enumerate(settings.schedules):
                tasks.append(sweep.task(cell, family_name=family_name, rule_name=rule_name,
                                        rule=rule, schedule=schedule, M=M, runs=runs,
                                        generations=G, states=settings.discrete_states,
                                        seed=[settings.seed, f, r, s]))
    return tasks
