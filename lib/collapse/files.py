"""Writing a file so that it is never seen half-written: one helper for every result file
(checkpoints, executed notebooks, the execution page, stored fits, CSV tables)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends normally it
    replaces ``path`` (``os.replace``, atomic), and on any error or interrupt it is
    removed and ``path`` is left as it was. The temporary is hidden, per process and
    call (two runs never share one) and ends in ``.partial``, which no reader of the
    results, jupyter-book included, picks up."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
