"""The generational loop of the paper's Figure 2 and §4, written once for every family.

At generation ``g`` a model is fitted to the training set ``D_g`` (functional
approximation); the next training set ``D_{g+1}`` is built from samples of that model,
mixed with earlier data by a rule of :mod:`collapse.mixing` (the sampling step, §4).
``D_0`` is the real data. Data are arrays whose axis 0 indexes independent runs and
axis 1 samples, so ``R`` runs of a family are one array operation. "Generation ``g``"
in the output is the model fitted on ``D_g``: the paper's ``θ_{g+1}``. The simplest
complete family is :class:`collapse.gaussian.Gaussian`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import checkpoint as checkpoints
from . import mixing as mixing_rules
from . import validate
from .checkpoint import CheckpointError, Interrupted  # noqa: F401
from .mixing import (  # noqa: F401  (the rules, also as loop.Replace() etc.)
    Accumulate,
    KeepOriginal,
    MixingRule,
    Pool,
    Replace,
    Sources,
    Weighted,
    mixing_rule,
)


class Family:
    """Base class of a model family: what the loop needs (paper Fig 2: fit, then sample).
    ``data`` is ``(runs, n, ...)`` (or any object ``fit`` reads and ``sample`` returns);
    ``params`` describes ``runs`` fitted models."""

    def fit(self, data) -> Any:
        """Functional approximation: one model per run, fitted to its training set."""
        raise NotImplementedError

    def sample(self, params, n: int, rng: np.random.Generator) -> Any:
        """Sampling: ``n`` new points per run, all randomness from ``rng``."""
        raise NotImplementedError

    def describe(self, params) -> dict[str, np.ndarray]:
        """The columns of the tidy table: ``name -> (runs,)`` array (or a scalar)."""
        raise NotImplementedError

    def check_mixing(self, mixing: MixingRule) -> None:
        """Refuse, before any compute, a rule the family cannot follow (default: none)."""

    def for_run(self, run: int) -> Family:
        """The family of run ``run`` alone, for runs as separate chains (default: self)."""
        return self


class ExactFamily(Family):
    """A family whose fit depends on the data only through sufficient statistics drawn
    exactly with ``exact=True``: one generation then costs the same for any ``M``."""

    def summarize(self, data) -> Any:
        """The sufficient statistics of ``data`` (an object with ``n``, the counts)."""
        raise NotImplementedError

    def fit_statistics(self, stats) -> Any:
        """``fit`` from the statistics alone: ``fit(x) == fit_statistics(summarize(x))``."""
        raise NotImplementedError

    def sample_statistics(self, params, n: int, rng: np.random.Generator) -> Any:
        """Draw the statistics of ``n`` samples without drawing the samples."""
        raise NotImplementedError

    def combine(self, a, b) -> Any:
        """The statistics of the union of two samples (for accumulation)."""
        raise NotImplementedError


def sample_sizes(sample_size, generations: int, initial_size: int) -> np.ndarray:
    """The sizes ``M_0 … M_{G-1}`` of the training sets, checked before any compute:
    ``M_0`` is the initial data's; ``sample_size`` is an int (constant ``M``), a sequence
    of ``generations - 1`` sizes for ``D_1 … D_{G-1}``, or a callable ``g -> M_g``."""
    if callable(sample_size):
        later = [sample_size(g) for g in range(1, generations)]
    elif isinstance(sample_size, Iterable) and not isinstance(sample_size, str):
        later = list(sample_size)
        if len(later) != generations - 1:
            raise ValueError(f"sample_size schedule must have generations - 1 = "
                             f"{generations - 1} entries (sizes of D_1 … D_{generations - 1}), "
                             f"got {len(later)}")
    else:
        later = [sample_size] * (generations - 1)
    sizes = [initial_size, *later]
    for g, m in enumerate(sizes):
        validate.integer(f"sample size M_{g}", m, minimum=2)
    return np.asarray(sizes, dtype=np.int64)


@dataclass
class History:
    """Result of :func:`simulate`: a tidy table (one row per run × generation) and the
    parameters and training data of the generations asked for with ``keep``."""

    table: pd.DataFrame
    kept: dict[int, tuple[object, object]] = field(default_factory=dict)


def _runs_of(data) -> int:  # statistics objects carry `runs` and `n`
    return int(data.runs if hasattr(data, "runs") else np.shape(data)[0])


def _size_of(data) -> int:
    return int(np.max(data.n)) if hasattr(data, "n") else int(np.shape(data)[1])


def _check(family, mixing, generations, rng, exact, initial_data, sample_size, keep):
    """Every argument of :func:`simulate`, before any compute; returns the sizes and keep."""
    validate.generator("rng", rng)
    if isinstance(family, type):
        raise TypeError(f"family must be an instance such as {family.__name__}(), got the "
                        f"class {family.__name__}")
    if not isinstance(family, Family):
        raise TypeError(f"family must be a collapse.loop.Family (subclass it and implement "
                        f"fit, sample and describe), got {type(family).__name__}")
    family.check_mixing(mixing)
    if exact and not mixing.exact:
        raise ValueError(f"exact=True needs a mixing rule with exact sufficient statistics "
                         f"(replace or accumulate), got {type(mixing).__name__}")
    if exact and not isinstance(family, ExactFamily):
        raise ValueError(f"exact=True: family {type(family).__name__} has no exact statistics")
    if hasattr(initial_data, "n") and not exact:
        raise ValueError(f"initial_data are sufficient statistics "
                         f"({type(initial_data).__name__}): pass exact=True, or give samples")
    if not hasattr(initial_data, "n") and len(getattr(initial_data, "shape",
                                                      np.shape(initial_data))) < 2:
        raise ValueError(f"initial_data must be an array (runs, n, ...): axis 0 the runs, "
                         f"axis 1 the samples; got shape {np.shape(initial_data)}")
    validate.finite_arrays("initial data", initial_data, largest=1e150)
    sizes = sample_sizes(sample_size, generations, _size_of(initial_data))
    for g in range(1, generations):
        _, previous, original = mixing.counts(int(sizes[g]))
        if previous > sizes[g - 1] or original > sizes[0]:
            raise ValueError(f"mixing needs {previous} previous and {original} original "
                             f"samples at generation {g}, but D_{g - 1} has {sizes[g - 1]} "
                             f"and D_0 has {sizes[0]}")
    return sizes, validate.generation_list("keep", keep, generations)


def simulate(family: Family, initial_data, generations: int, sample_size,
             rng: np.random.Generator, mixing: MixingRule | None = None, *, exact: bool = False,
             metrics: dict[str, Callable] | None = None, keep: Sequence[int] = (),
             checkpoint: str | os.PathLike | None = None, checkpoint_seconds: float = 10.0,
             progress: bool = False) -> History:
    """Run "fit → sample → mix" for ``generations`` generations ``G`` (paper Fig 2, §4):
    rows ``g = 0 … G-1``, with ``D_0 = initial_data`` (``(runs, M_0, ...)``, or its
    sufficient statistics with ``exact=True``: then statistics are drawn instead of
    samples). ``sample_size``: ``M``, a schedule of ``G-1`` sizes, or ``g -> M_g``.
    ``rng`` is the only source of randomness; ``mixing`` defaults to ``Replace()``.
    ``metrics``: extra columns ``name -> f(params, training_data)``; ``keep``:
    generations whose ``(params, training data)`` are returned in ``History.kept``.
    ``checkpoint``: a file written as generations finish (at most every
    ``checkpoint_seconds``, at the end and on SIGINT/SIGTERM); a re-run with the same
    arguments resumes from it, and one of another run (see
    :func:`collapse.checkpoint.fingerprint`) is refused with ``CheckpointError``.
    """
    mixing = mixing_rules.check(Replace() if mixing is None else mixing)
    generations = validate.integer("generations", generations, minimum=1)
    sizes, keep = _check(family, mixing, generations, rng, exact, initial_data, sample_size,
                         keep)
    metrics = validate.metric_functions(metrics)
    validate.real("checkpoint_seconds", checkpoint_seconds, low=0.0)
    checkpoints.check_path(checkpoint)
    data, fit, draw, join = initial_data, family.fit, family.sample, mixing_rules.join
    if exact:
        data = initial_data if hasattr(initial_data, "n") else family.summarize(initial_data)
        fit, draw, join = family.fit_statistics, family.sample_statistics, family.combine

    signature = checkpoints.fingerprint(family, initial_data, rng, sizes, mixing, exact,
                                        metrics, keep, strict=checkpoint is not None)
    state = checkpoints.load(checkpoint, signature)
    if state is None:
        pool = mixing_rules.GrowingPool(data) if mixing.needs_pool else None
        state = dict(generation=0, data=data, sources=Sources(data, data, pool),
                     columns=[], kept={}, rng=rng.bit_generator.state)
    else:
        rng.bit_generator.state = state["rng"]
    progress_bar = None
    if progress:  # a text bar: no ipywidgets needed in notebooks
        from tqdm.std import tqdm
        progress_bar = tqdm(total=generations, initial=state["generation"], desc="generations")
    saver = checkpoints.Progress(checkpoint, signature, generations, checkpoint_seconds,
                                 state["generation"])
    runs, committing = _runs_of(data), False
    with checkpoints.InterruptGuard() as guard:
        try:
            while state["generation"] < generations:
                g, data = state["generation"], state["data"]
                params = fit(data)
                columns = {"run": np.arange(runs), "generation": np.full(runs, g),
                           "n_train": np.full(runs, _size_of(data))}
                described = family.describe(params)
                validate.finite_columns(g, described, family)
                columns.update({k: np.broadcast_to(v, runs) for k, v in described.items()})
                for name, metric in metrics.items():
                    columns[name] = np.broadcast_to(metric(params, data), runs)
                if g + 1 < generations:
                    size = int(sizes[g + 1])
                    new = draw(params, mixing.model_draws(size), rng)
                # Commit generation g; until here the state is exactly as after g - 1.
                # A Ctrl-C or SIGTERM that arrives now waits until the commit is whole.
                with guard.deferred():
                    committing = True
                    state["columns"].append(columns)
                    if g in keep:
                        state["kept"][g] = (params, data)
                    if g + 1 < generations:
                        sources = state["sources"]
                        if mixing.needs_pool:
                            sources.pool.append(new)
                        sources.previous = state["data"] = mixing.training_set(
                            new, sources, size, rng, join)
                    state["generation"], state["rng"] = g + 1, rng.bit_generator.state
                    committing = False
                if progress_bar is not None:
                    progress_bar.update(1)
                # Saving costs O(generations): at most every `checkpoint_seconds`.
                if saver.due(state):
                    saver.save(state, guard)
        except KeyboardInterrupt as interrupt:
            if committing:  # raised by code, not by a signal: the state is half-updated
                raise
            saver.save(state, guard, stopping=True)  # a second signal cannot abort it
            raise checkpoints.interrupted(state["generation"], generations, checkpoint,
                                          interrupt) from interrupt
        except BaseException:
            if not committing:  # a failed generation: keep every finished one
                saver.save(state, guard, stopping=True)
            raise
        finally:
            if progress_bar is not None:
                progress_bar.close()

    table = pd.DataFrame({k: np.concatenate([c[k] for c in state["columns"]])
                          for k in state["columns"][0]})
    return History(table=table, kept=state["kept"])
