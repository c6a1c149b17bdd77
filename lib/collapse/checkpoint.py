"""Resumable runs: what a checkpoint is keyed by, its file format, and the one interrupt
guard that turns Ctrl-C and SIGTERM into a clean stop (the loop and the command line
both use it).

A checkpoint holds the state after the last *finished* generation and the
:func:`fingerprint` of the run that wrote it. A re-run with the same fingerprint resumes
from it; any other run is refused with :class:`CheckpointError` naming the fields that
differ. It is never reused for a different run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import signal
import threading
import time
from pathlib import Path

import numpy as np

from . import files, hashing

FORMAT = "collapse.loop checkpoint"
VERSION = 4


class CheckpointError(ValueError):
    """A checkpoint file that is corrupt, not a checkpoint, from a newer format, or
    written by a different simulation (the message names the file and the field)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run; ``generation`` finished generations are saved in
    ``checkpoint`` (when one was given) and a re-run resumes from there."""

    def __init__(self, message: str, generation: int, checkpoint: str | None,
                 signum: int = signal.SIGINT):
        super().__init__(message)
        self.generation = generation
        self.checkpoint = checkpoint
        self.signum = signum  # SIGINT (Ctrl-C) or SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM (from ``timeout``, batch schedulers, ``kill``), raised like Ctrl-C so that
    a run saves its state."""

    signum = signal.SIGTERM


def interrupted(done: int, generations: int, path, interrupt: KeyboardInterrupt) -> Interrupted:
    """The :class:`Interrupted` a run raises after saving ``done`` of ``generations``."""
    if path is None:
        message = (f"interrupted after {done} of {generations} generations; nothing saved "
                   f"(pass checkpoint= to make the run resumable)")
    else:
        message = (f"interrupted after {done} of {generations} generations; they are "
                   f"saved in {path}: run the same command again to resume")
    signum = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
    return Interrupted(message, done, None if path is None else str(path), signum)


class InterruptGuard:
    """Turns Ctrl-C and SIGTERM into a KeyboardInterrupt (:class:`Terminated` for SIGTERM)
    that the code inside can catch to save its work.

    Inside ``deferred()`` a signal waits until the block ends, so an interrupt never
    lands half-way through committing a result or writing a checkpoint (with
    ``discard=True``, for the last save of a run that is stopping anyway, further
    signals are dropped: a second Ctrl-C never loses the save). Handlers are installed
    only in the main thread, and SIGINT only where Python's default Ctrl-C handler is in
    place (a guard inside another guard leaves the outer one's handler alone).

    ``final``: the process ends when the block does (a command's ``main``). Once a signal
    has stopped the block, further signals are ignored to the end of the process: a
    second or third Ctrl-C or SIGTERM can neither cut short the stop's clean-up and its
    one line nor kill the process with the signal instead of its exit code.
    """

    def __init__(self, sigint: bool = True, final: bool = False):
        self.sigint, self.final = sigint, final

    def __enter__(self):
        self.previous, self.pending, self.deferring, self.stopping = {}, None, False, False
        if threading.current_thread() is threading.main_thread():
            if self.sigint and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self.previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)
            self.previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.final and self.stopping:
            return
        if self.deferring:
            self.pending = self.pending or signum
        else:
            self.stopping = True
            self._raise(signum)

    @staticmethod
    def _raise(signum):
        if signum == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self, discard: bool = False):
        outer, self.deferring = self.deferring, True
        try:
            yield
        finally:
            self.deferring = outer
        if discard:
            self.pending = None
        if self.pending is not None and not outer:
            signum, self.pending = self.pending, None
            self.stopping = True
            self._raise(signum)

    def __exit__(self, kind, value, traceback):
        stopped = self.stopping or (kind is not None and issubclass(kind, KeyboardInterrupt))
        main = threading.current_thread() is threading.main_thread()
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.final and stopped and main:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)
        return False


def fingerprint(family, initial_data, rng: np.random.Generator, sizes, mixing, exact: bool,
                metrics: dict, keep, strict: bool = False) -> dict[str, str]:
    """Everything that determines a run's result, field by field (each a content hash):
    the family with all its parameters and its code (the source of every class it is
    built from, and of the loop), the initial data, the generator's starting state, the
    sample sizes, the mixing rule with its weights, the metrics (their code and every
    value they read: closures and, for functions written outside the library, the
    module-level names they use) and the kept generations. Progress bars, paths and
    checkpoint timing are not in it.

    ``strict`` (a run with a checkpoint): a value whose content cannot be hashed (a lock,
    an open generator, an object known only by its address) raises
    :class:`CheckpointError` naming it, rather than a checkpoint being met by a run it
    does not describe."""
    from . import loop
    from . import mixing as mixing_module

    fields = {
        "family": (type(family).__module__, type(family).__qualname__,
                   family if dataclasses.is_dataclass(family) else vars(family)),
        "code": hashing.code_digest(loop, mixing_module, type(family), type(mixing),
                                    *metrics.values()),
        "initial_data": initial_data,
        "rng": (type(rng.bit_generator).__name__, rng.bit_generator.state),
        "sample_sizes": np.asarray(sizes),
        "mixing": mixing,
        "exact": bool(exact),
        "keep": sorted(keep),
    }
    labels = {"family": f"the family {type(family).__name__}", "mixing": "the mixing rule",
              "initial_data": "the initial data"}
    signature = {}
    for name, value in fields.items():
        try:
            signature[name] = hashing.digest(value, strict=strict)
        except hashing.Unfingerprintable as error:
            raise CheckpointError(_unhashable(labels.get(name, name), error)) from None
    metric_digests = {}
    for name, metric in metrics.items():
        try:
            metric_digests[name] = hashing.digest(metric, strict=strict)
        except hashing.Unfingerprintable as error:
            raise CheckpointError(_unhashable(f"metric {name!r}", error)) from None
    signature["metrics"] = hashing.digest(metric_digests)
    return signature


def _unhashable(what: str, error) -> str:
    return (f"{what} cannot be fingerprinted for the checkpoint: it uses {error.what}, whose "
            f"content cannot be hashed, so a checkpoint could not tell whether it was written "
            f"by the same run; pass checkpoint=None, or give it plain values (numbers, "
            f"arrays, functools.partial) instead")


def check_path(path) -> None:
    """Refuse now, with :class:`CheckpointError`, a checkpoint path that cannot hold one: a
    folder, a device or pipe, a path under /proc, a missing parent that cannot be made."""
    try:
        files.check_writable("checkpoint", path, create_folder=True, special=False)
    except ValueError as error:
        raise CheckpointError(str(error)) from None


def read(path) -> dict | None:
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
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a collapse.loop checkpoint; delete it "
                              f"or pass another checkpoint path")
    if saved.get("version", 0) > VERSION:
        raise CheckpointError(f"checkpoint {path} was written by a newer collapse (format "
                              f"{saved['version']} > {VERSION}); upgrade or delete it")
    if saved.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has the old format {saved.get('version')}; "
                              f"delete it to start again")
    return saved


def load(path, signature: dict[str, str]):
    """The state saved at ``path`` by the run with this ``signature`` (None: no file);
    :class:`CheckpointError` if it belongs to another run."""
    saved = read(path)
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


def save(path, signature: dict[str, str], state) -> None:
    """Write ``state`` atomically: two runs on one checkpoint never share a temporary, and
    the file is always one complete checkpoint (``None``: nothing to write). A device,
    pipe or folder is refused (:func:`collapse.files.replacing`)."""
    if path is None:
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with files.replacing(path) as partial, open(partial, "wb") as handle:
            pickle.dump({"format": FORMAT, "version": VERSION, "identity": signature,
                         "state": state}, handle)
    except OSError as error:  # disk full: name the checkpoint, not its temporary
        raise OSError(error.errno, f"{error.strerror} (checkpoint not updated; the "
                      f"previous one, if any, is intact)", str(path)) from None


class Progress:
    """When and what a run saves: the state after its last finished generation, at most
    every ``seconds`` and at the end; never twice for the same generation, never before a
    generation has finished (a run refused in its first generation writes nothing), and
    with signals deferred, so a second Ctrl-C or SIGTERM cannot abort the save. The last
    save of a finished run keeps only what a re-run returns (the table's columns, the
    kept generations): no training set, no pool."""

    RESUME_ONLY = ("data", "sources")

    def __init__(self, path, signature: dict[str, str], generations: int, seconds: float,
                 start: int = 0):
        self.path, self.signature, self.generations = path, signature, generations
        self.seconds, self.saved, self.last = seconds, start, time.monotonic()

    def due(self, state) -> bool:
        return (state["generation"] == self.generations
                or time.monotonic() - self.last >= self.seconds)

    def save(self, state, guard: InterruptGuard, stopping: bool = False) -> None:
        if self.path is None or state["generation"] == self.saved:
            return
        if state["generation"] == self.generations:
            state = {k: v for k, v in state.items() if k not in self.RESUME_ONLY}
        with guard.deferred(discard=stopping):
            save(self.path, self.signature, state)
            self.saved, self.last = state["generation"], time.monotonic()


def path_for(directory, *parts, code=("loop",)) -> Path:
    """A checkpoint file in ``directory`` named by a content hash of ``parts`` (the
    experiment's settings) and of the library ``code`` (see
    :func:`collapse.hashing.code_digest`): other settings or changed code get another
    file, so a cached run is never met by a different one."""
    return Path(directory) / hashing.digest(parts, hashing.code_digest(*code))

