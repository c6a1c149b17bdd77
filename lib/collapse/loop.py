"""The generational loop of the paper's Figure 2 and §4, written once for every family.

At generation ``g`` a model is fitted to the training set ``D_g`` (functional
approximation); the next training set ``D_{g+1}`` is built from samples of that
model, mixed with earlier data by a *mixing rule* (the sampling step, §4:
``p_{i+1} = α p_θ + β p_i + γ p_0``). ``D_0`` is the real data.

Conventions used by every family (see :class:`Family` and :class:`ExactFamily`):

* data are arrays whose axis 0 indexes independent runs and axis 1 indexes
  samples, so ``R`` runs of a family are simulated as one array operation;
* a family is any object with ``fit(data) -> params``,
  ``sample(params, n, rng) -> data`` and ``describe(params) -> {name: (R,) array}``;
* a family may also offer exact sufficient statistics (``summarize``,
  ``sample_statistics``, ``fit_statistics``, ``combine``); with ``exact=True``
  the loop then draws the statistics of ``M`` samples instead of ``M`` samples.

A family may also define ``check_mixing(mixing)`` to refuse, before any compute, a
mixing rule it cannot follow. The simplest complete example is
:class:`collapse.gaussian.Gaussian`.

"Generation ``g``" in the output is the model fitted on ``D_g``: the paper's
``θ_{g+1}`` (its ``µ_{g+1}, σ_{g+1}`` for the Gaussian).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from . import files, hashing, validate

# ------------------------------------------------------------------ the protocol


@runtime_checkable
class Family(Protocol):
    """What the loop needs of a model family (paper Fig 2: fit, then sample).

    ``data`` is an array ``(runs, n, ...)`` (or any object the family's ``fit`` reads
    and its ``sample`` returns); ``params`` describes ``runs`` fitted models.
    """

    def fit(self, data) -> Any:
        """Functional approximation: one model per run, fitted to its training set."""

    def sample(self, params, n: int, rng: np.random.Generator) -> Any:
        """Sampling: ``n`` new points per run, all randomness from ``rng``."""

    def describe(self, params) -> dict[str, np.ndarray]:
        """The columns of the tidy table: ``name -> (runs,)`` array (or a scalar)."""


@runtime_checkable
class ExactFamily(Family, Protocol):
    """A family whose fit depends on the data only through sufficient statistics that
    can be drawn exactly (``exact=True``): one generation costs the same for any ``M``."""

    def summarize(self, data) -> Any:
        """The sufficient statistics of ``data`` (an object with ``n``, the counts)."""

    def fit_statistics(self, stats) -> Any:
        """``fit`` from the statistics alone: ``fit(x) == fit_statistics(summarize(x))``."""

    def sample_statistics(self, params, n: int, rng: np.random.Generator) -> Any:
        """Draw the statistics of ``n`` samples without drawing the samples."""

    def combine(self, a, b) -> Any:
        """The statistics of the union of two samples (for accumulation)."""

# --------------------------------------------------------------------------- mixing


def _subset(data: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random subset of ``k`` samples (without replacement) for every run."""
    n = data.shape[1]
    if k == n:
        return data
    if k == 0:
        return data[:, :0]
    if 50 * k < n:  # small subset of a large pool: O(k) per run (numpy uses Floyd's method)
        index = np.stack([rng.choice(n, k, replace=False) for _ in range(data.shape[0])])
    else:
        index = np.argpartition(rng.random(data.shape[:2]), k - 1, axis=1)[:, :k]
    index = index.reshape(index.shape + (1,) * (data.ndim - 2))
    return np.take_along_axis(data, index, axis=1)


class _GrowingPool:
    """All data produced so far, in a buffer that doubles when full (appending is O(1)
    amortised instead of copying the whole pool every generation)."""

    def __init__(self, data: np.ndarray):
        self.size = data.shape[1]
        self.buffer = np.array(data, copy=True)

    def append(self, new: np.ndarray) -> None:
        needed = self.size + new.shape[1]
        if needed > self.buffer.shape[1]:
            shape = list(self.buffer.shape)
            shape[1] = max(needed, 2 * shape[1])
            grown = np.empty(shape, dtype=np.result_type(self.buffer, new))
            grown[:, : self.size] = self.buffer[:, : self.size]
            self.buffer = grown
        self.buffer[:, self.size : needed] = new
        self.size = needed

    @property
    def data(self) -> np.ndarray:
        return self.buffer[:, : self.size]


def _join(a, b):
    return np.concatenate([a, b], axis=1)


@dataclass
class Memory:
    """What a mixing rule may draw on: the real data, the last training set, the pool."""

    original: object
    previous: object
    pool: object | None = None


@dataclass(frozen=True)
class Replace:
    """α = 1: the next model sees only data from the current model (paper §4, Fig 4)."""

    exact = True
    needs_pool = False

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return new


@dataclass(frozen=True)
class Accumulate:
    """All data ever produced is kept and used to fit (paper Fig 6): D_{g+1} = D_g ∪ new."""

    exact = True
    needs_pool = False

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return join(memory.previous, new)


@dataclass(frozen=True)
class Pool:
    """New samples join a pool of all earlier data (D_0 included); a fixed-size
    training set is drawn from the pool without replacement (paper Fig 5)."""

    exact = False
    needs_pool = True

    def model_draws(self, size: int) -> int:
        return size

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return _subset(memory.pool.data, size, rng)


@dataclass(frozen=True)
class Mixture:
    """The general rule of §4: a fraction ``alpha`` of fresh model samples, ``beta`` of
    the previous training set and ``gamma`` of the original data (both drawn without
    replacement). Counts are rounded; the model supplies whatever remains."""

    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.0

    exact = False
    needs_pool = False

    def __post_init__(self):
        for name in ("alpha", "beta", "gamma"):
            validate.real(f"mixing weight {name}", getattr(self, name), 0.0, 1.0)
        total = self.alpha + self.beta + self.gamma
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"mixing weights alpha + beta + gamma must sum to 1, got "
                f"{self.alpha} + {self.beta} + {self.gamma} = {total}"
            )

    def counts(self, size: int) -> tuple[int, int, int]:
        """(from the model, from the previous set, from the original data)."""
        previous = int(round(self.beta * size))
        original = int(round(self.gamma * size))
        return size - previous - original, previous, original

    def model_draws(self, size: int) -> int:
        return self.counts(size)[0]

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        _, previous, original = self.counts(size)
        parts = [new]
        if previous:
            parts.append(_subset(memory.previous, previous, rng))
        if original:
            parts.append(_subset(memory.original, original, rng))
        return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class KeepOriginal:
    """Keep a random ``fraction`` γ of the original data in every training set (§5.2);
    the model supplies the rest: :class:`Mixture` with α = 1 − γ, β = 0."""

    fraction: float = 0.1

    exact = False
    needs_pool = False

    def __post_init__(self):
        validate.real("fraction", self.fraction, 0.0, 1.0)

    @property
    def mixture(self) -> Mixture:
        return Mixture(alpha=1.0 - self.fraction, beta=0.0, gamma=self.fraction)

    def counts(self, size: int) -> tuple[int, int, int]:
        return self.mixture.counts(size)

    def model_draws(self, size: int) -> int:
        return self.mixture.model_draws(size)

    def training_set(self, new, memory: Memory, size: int, rng, join=_join):
        return self.mixture.training_set(new, memory, size, rng, join)


MIXING_RULES = {
    "replace": Replace,
    "accumulate": Accumulate,
    "pool": Pool,
    "keep-original": KeepOriginal,
    "mixture": Mixture,
}


def mixing_rule(name: str, **weights):
    """Build a mixing rule by name, e.g. ``mixing_rule("keep-original", fraction=0.1)``."""
    validate.choice("mixing", name, MIXING_RULES)
    rule = MIXING_RULES[name]
    allowed = [f.name for f in dataclasses.fields(rule)]
    unknown = sorted(set(weights) - set(allowed))
    if unknown:
        raise ValueError(f"mixing rule {name!r} takes {', '.join(allowed) or 'no weights'}; "
                         f"got {', '.join(unknown)}")
    return rule(**weights)


# ------------------------------------------------------------------ sample sizes


def sample_sizes(sample_size, generations: int, initial_size: int) -> np.ndarray:
    """The sizes ``M_0 … M_{G-1}`` of the training sets, validated before any compute.

    ``sample_size`` is an int (constant ``M``), a sequence of ``generations - 1`` sizes
    for ``D_1 … D_{G-1}``, or a callable ``g -> M_g``. ``M_0`` is the size of the
    initial data.
    """
    if callable(sample_size):
        later = [sample_size(g) for g in range(1, generations)]
    elif isinstance(sample_size, Iterable) and not isinstance(sample_size, str):
        later = list(sample_size)
        if len(later) != generations - 1:
            raise ValueError(
                f"sample_size schedule must have generations - 1 = {generations - 1} entries "
                f"(sizes of D_1 … D_{generations - 1}), got {len(later)}"
            )
    else:
        later = [sample_size] * (generations - 1)
    sizes = [initial_size, *later]
    for g, m in enumerate(sizes):
        validate.integer(f"sample size M_{g}", m, minimum=2)
    return np.asarray(sizes, dtype=np.int64)


# ----------------------------------------------------------------------- the loop


@dataclass
class History:
    """Result of :func:`simulate`: a tidy table (one row per run × generation) and the
    parameters and training data of the generations asked for with ``keep``."""

    table: pd.DataFrame
    kept: dict[int, tuple[object, object]] = field(default_factory=dict)


def _runs_of(data) -> int:
    return int(data.runs if hasattr(data, "runs") else np.shape(data)[0])


def _size_of(data) -> int:
    return int(np.max(data.n)) if hasattr(data, "n") else int(np.shape(data)[1])


class CheckpointError(ValueError):
    """A checkpoint file that is corrupt, not a checkpoint, from a newer format, or
    written by a different simulation (the message names the file and the field)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped :func:`simulate`; ``generation`` finished generations
    are saved in ``checkpoint`` (when one was given) and a re-run resumes from there."""

    def __init__(self, message: str, generation: int, checkpoint: str | None,
                 signum: int = signal.SIGINT):
        super().__init__(message)
        self.generation = generation
        self.checkpoint = checkpoint
        self.signum = signum  # SIGINT (Ctrl-C) or SIGTERM


def _check_finite(name: str, value) -> None:
    """Reject NaN or infinite numbers in an array or in the array fields of a dataclass."""
    arrays = [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        arrays = [getattr(value, f.name) for f in dataclasses.fields(value)]
    for array in arrays:
        if isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.number):
            if not np.all(np.isfinite(array)):
                raise ValueError(f"{name} contains NaN or infinite values")


def identity(family, initial_data, rng: np.random.Generator, sizes, mixing, exact: bool,
             metrics: dict, keep) -> dict[str, str]:
    """Everything that determines a run's result, field by field (each a content hash):
    the family with all its parameters and its code, the initial data, the generator's
    starting state, the sample sizes, the mixing rule with its weights, the metrics and
    the kept generations. Progress bars, paths and checkpoint timing are not in it."""
    code = {Path(__file__).name: Path(__file__).read_bytes()}
    for cls in type(family).__mro__:  # the family's module and those of its base classes
        source = inspect.getsourcefile(cls) if cls.__module__ != "builtins" else None
        if source and Path(source).exists():
            code[Path(source).name] = Path(source).read_bytes()
    fields = {
        "family": (type(family).__module__, type(family).__qualname__,
                   family if dataclasses.is_dataclass(family) else vars(family)),
        "code": code,
        "initial_data": initial_data,
        "rng": (type(rng.bit_generator).__name__, rng.bit_generator.state),
        "sample_sizes": np.asarray(sizes),
        "mixing": mixing,
        "exact": bool(exact),
        # Metrics by name and code; what they close over (often a counter or a cache) is not
        # hashed, so a metric must not close over settings that change its values.
        "metrics": {name: (getattr(f, "__qualname__", repr(f)),
                           getattr(getattr(f, "__code__", None), "co_code", b""))
                    for name, f in metrics.items()},
        "keep": sorted(keep),
    }
    return {name: hashing.digest(value) for name, value in fields.items()}


def simulate(
    family: Family,
    initial_data,
    generations: int,
    sample_size,
    rng: np.random.Generator,
    mixing=None,
    *,
    exact: bool = False,
    metrics: dict[str, Callable] | None = None,
    keep: Sequence[int] = (),
    checkpoint: str | os.PathLike | None = None,
    checkpoint_seconds: float = 10.0,
    progress: bool = False,
) -> History:
    """Run "fit → sample → mix" for ``generations`` generations (paper Fig 2, §4).

    Parameters
    ----------
    family: the model family (:class:`Family`; :class:`ExactFamily` for ``exact``).
    initial_data: ``D_0``, an array ``(runs, M_0, ...)`` or, with ``exact=True``, the
        family's sufficient statistics of it.
    generations: number of models fitted, ``G >= 1``; rows are ``g = 0 … G-1``.
    sample_size: ``M`` (int), a schedule of ``G-1`` sizes, or a callable ``g -> M_g``.
    rng: the only source of randomness.
    mixing: a rule from this module; default :class:`Replace`.
    exact: draw sufficient statistics instead of samples (Replace and Accumulate only).
    metrics: extra columns, ``name -> f(params, training_data) -> (runs,) array``.
    keep: generations whose ``(params, training data)`` are returned in ``History.kept``.
    checkpoint: a file; the state is written when a generation finishes (at most every
        ``checkpoint_seconds``, always at the end and when interrupted by SIGINT or
        SIGTERM) and a re-run with the same arguments resumes from the last finished
        generation. A checkpoint of a different run (any field of :func:`identity`
        differs) raises :class:`CheckpointError` naming the field; it is never reused.
    progress: show a progress bar over generations.
    """
    mixing = Replace() if mixing is None else mixing
    generations = validate.integer("generations", generations, minimum=1)
    validate.generator("rng", rng)
    for verb in ("fit", "sample", "describe"):
        if not callable(getattr(family, verb, None)):
            raise TypeError(f"family {type(family).__name__} has no {verb}(); see loop.Family")
    if not callable(getattr(mixing, "training_set", None)):
        raise TypeError(f"mixing must be a rule such as loop.Replace(), got {mixing!r}")
    if callable(getattr(family, "check_mixing", None)):  # a family may refuse a rule
        family.check_mixing(mixing)
    if exact and not getattr(mixing, "exact", False):
        raise ValueError(
            f"exact=True needs a mixing rule with exact sufficient statistics "
            f"(replace or accumulate), got {type(mixing).__name__}"
        )
    if exact and not isinstance(family, ExactFamily):
        raise ValueError(f"exact=True: family {type(family).__name__} has no exact statistics")
    _check_finite("initial data", initial_data)
    sizes = sample_sizes(sample_size, generations, _size_of(initial_data))
    if hasattr(mixing, "counts"):
        for g in range(1, generations):
            _, previous, original = mixing.counts(int(sizes[g]))
            if previous > sizes[g - 1] or original > sizes[0]:
                raise ValueError(
                    f"mixing needs {previous} previous and {original} original samples at "
                    f"generation {g}, but D_{g - 1} has {sizes[g - 1]} and D_0 has {sizes[0]}"
                )
    metrics = dict(metrics or {})
    keep = {validate.integer("keep (each generation)", g, minimum=0, maximum=generations - 1)
            for g in keep}

    if exact:
        data = initial_data if hasattr(initial_data, "n") else family.summarize(initial_data)
        fit, draw, join = family.fit_statistics, family.sample_statistics, family.combine
    else:
        data = initial_data
        fit, draw, join = family.fit, family.sample, _join

    signature = identity(family, initial_data, rng, sizes, mixing, exact, metrics, keep)
    state = _load_checkpoint(checkpoint, signature)
    if state is None:
        state = dict(generation=0, data=data,
                     memory=Memory(original=data, previous=data,
                                   pool=_GrowingPool(data) if mixing.needs_pool else None),
                     columns=[], kept={}, rng=rng.bit_generator.state)
    else:
        rng.bit_generator.state = state["rng"]

    bar = None
    if progress:
        from tqdm.std import tqdm  # a text bar: no ipywidgets needed in notebooks

        bar = tqdm(total=generations, initial=state["generation"], desc="generations")
    runs = _runs_of(data)
    last_save = time.monotonic()
    committing = False
    try:
        with _InterruptGuard() as guard:
            while state["generation"] < generations:
                g, data = state["generation"], state["data"]
                params = fit(data)
                columns = {"run": np.arange(runs), "generation": np.full(runs, g),
                           "n_train": np.full(runs, _size_of(data))}
                columns.update({k: np.broadcast_to(v, runs)
                                for k, v in family.describe(params).items()})
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
                        memory = state["memory"]
                        if mixing.needs_pool:
                            memory.pool.append(new)
                        memory.previous = state["data"] = mixing.training_set(
                            new, memory, size, rng, join)
                    state["generation"] = g + 1
                    state["rng"] = rng.bit_generator.state
                    committing = False
                if bar is not None:
                    bar.update(1)
                # Pickling the whole state costs O(generations); writing at most every
                # `checkpoint_seconds` keeps long runs of cheap generations linear.
                finished = state["generation"] == generations
                if finished or time.monotonic() - last_save >= checkpoint_seconds:
                    _save_checkpoint(checkpoint, signature, state)
                    last_save = time.monotonic()
    except KeyboardInterrupt as interrupt:
        if committing:  # raised by code, not by a signal: the state is half-updated
            raise
        _save_checkpoint(checkpoint, signature, state)
        done = state["generation"]
        if checkpoint is None:
            message = (f"interrupted after {done} of {generations} generations; nothing saved "
                       f"(pass checkpoint= to make the run resumable)")
        else:
            message = (f"interrupted after {done} of {generations} generations; they are "
                       f"saved in {checkpoint}: run the same command again to resume")
        signum = signal.SIGTERM if isinstance(interrupt, _Terminated) else signal.SIGINT
        raise Interrupted(message, done, None if checkpoint is None else str(checkpoint),
                          signum) from interrupt
    except BaseException:
        if not committing:  # a failed generation: keep every finished one
            _save_checkpoint(checkpoint, signature, state)
        raise
    finally:
        if bar is not None:
            bar.close()

    table = pd.DataFrame({k: np.concatenate([c[k] for c in state["columns"]])
                          for k in state["columns"][0]})
    return History(table=table, kept=state["kept"])


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the loop saves its state."""


class _InterruptGuard:
    """Turns Ctrl-C and SIGTERM (what ``timeout`` and batch schedulers send) into a
    KeyboardInterrupt the loop catches to save its last finished generation.

    Inside ``deferred()`` a signal waits until the block ends, so an interrupt never
    lands half-way through committing a generation. Handlers are installed only in the
    main thread, and SIGINT only where Python's default Ctrl-C handler is in place.
    """

    def __enter__(self):
        self.previous, self.pending, self.deferring = {}, None, False
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self.previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)
            self.previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.deferring:
            self.pending = self.pending or signum
        else:
            self._raise(signum)

    @staticmethod
    def _raise(signum):
        if signum == signal.SIGTERM:
            raise _Terminated("SIGTERM")
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self):
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            self._raise(signum)

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


CHECKPOINT_FORMAT = "collapse.loop checkpoint"
CHECKPOINT_VERSION = 2


def read_checkpoint(path) -> dict | None:
    """The saved checkpoint at ``path`` (None if there is none), after checking that it is
    a readable checkpoint of this format; a corrupt, foreign or newer file raises
    :class:`CheckpointError` naming it. Callers may check a file before any compute."""
    if path is None or not Path(path).exists():
        return None
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory; pass a file path")
    try:
        with open(path, "rb") as handle:
            saved = pickle.load(handle)
    except Exception as error:  # truncated, empty, not a pickle, unknown classes
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); it is "
            f"corrupt or not a checkpoint: delete it or pass another checkpoint path"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a collapse.loop checkpoint; delete it "
                              f"or pass another checkpoint path")
    if saved.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} was written by a newer collapse (format "
                              f"{saved['version']} > {CHECKPOINT_VERSION}); upgrade or delete it")
    if saved.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has the old format {saved.get('version')}; "
                              f"delete it to start again")
    return saved


def _load_checkpoint(path, signature: dict[str, str]):
    saved = read_checkpoint(path)
    if saved is None:
        return None
    differing = [k for k in signature if saved["identity"].get(k) != signature[k]]
    if differing:
        raise CheckpointError(
            f"checkpoint {path} belongs to a different run (differs in: "
            f"{', '.join(differing)}); it is not reused: delete it or pass another "
            f"checkpoint path"
        )
    return saved["state"]


def _save_checkpoint(path, signature: dict[str, str], state) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # two runs on one checkpoint never share a temporary, and the file is always one
    # complete checkpoint
    with files.replacing(path) as partial, open(partial, "wb") as handle:
        pickle.dump({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                     "identity": signature, "state": state}, handle)
