"""How chapter runs stop on Ctrl-C or SIGTERM: at once, quietly, keeping every previous
notebook that was not replaced, and saying which were.

* In a parallel build the parent handles the signal (pool workers ignore Ctrl-C) and
  stops its workers with SIGTERM; a worker running a chapter stops it like an interrupt
  (its temporary is removed, the previous notebook kept), an idle worker just exits.
* An interrupted chapter's kernel is killed: left alone it would finish its cell and then
  complain, with a zmq traceback, about the sockets its client closed.
* :func:`stopped` builds the one line the command prints (exit code 128 + signal).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from collapse import checkpoint


class Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a chapter or the book; the message says which notebooks
    are new and which kept their previous version."""

    def __init__(self, message: str, interrupt: BaseException):
        super().__init__(message)
        self.signum = getattr(interrupt, "signum", signal.SIGINT)


def stopped(interrupt, records: dict, names: list[str], output_dir) -> Stopped:
    """The :class:`Stopped` of a run of ``names`` interrupted with ``records`` done; quiet
    about what the dying kernel clients leave behind (asyncio tasks, zmq sockets)."""
    finished = [n for n in names if records.get(n, {}).get("status") == "executed"]
    unfinished = [n for n in names if n not in records]
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    sys.unraisablehook = lambda *_: None
    folder = Path(output_dir).name
    parts = [f"new {', '.join(f'{folder}/{n}.ipynb' for n in finished)}"] if finished else []
    if unfinished:
        parts.append(f"not finished, previous notebook kept: {', '.join(unfinished)}")
    return Stopped(f"stopped; {'; '.join(parts) or 'nothing had started'}", interrupt)


def kill_children() -> None:
    """SIGKILL this process's child processes (the kernels papermill started; the
    command's workers are stopped by SIGTERM instead, before this runs in them)."""
    me = os.getpid()
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:  # "pid (name) state ppid …": the name may hold spaces and parentheses
            parent = int(status.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == me:
            with contextlib.suppress(OSError):
                os.kill(int(status.parent.name), signal.SIGKILL)


def worker_start() -> None:
    """Initializer of a pool worker: Ctrl-C is the parent's to handle (it stops the workers
    with SIGTERM); SIGTERM ends an idle worker quietly (no "Process ForkProcess-1"
    traceback), and a running chapter as an interrupt (see :func:`kernels_die_first`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))


@contextlib.contextmanager
def kernels_die_first():
    """While a chapter runs: Ctrl-C or SIGTERM first kills its kernel, then stops the run
    as an interrupt (KeyboardInterrupt, or :class:`collapse.checkpoint.Terminated`). Left
    alive, the kernel would be shut down gracefully by its client, finish its cell and
    print a zmq traceback about the sockets already closed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        kill_children()
        raise checkpoint.Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
