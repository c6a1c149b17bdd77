"""Writing files so that none is ever seen half-written, destroyed or replaced by mistake:
one helper for every result file (checkpoints, executed notebooks, the execution page,
stored fits, CSV tables) and the checks that refuse a path before any compute.

* :func:`replacing` writes a regular file atomically (a temporary beside it, then
  ``os.replace``). A symbolic link is followed: its target is replaced and the link kept.
  A device, a pipe or a socket is refused: renaming over ``/dev/null`` would destroy it.
* :func:`writing` opens any output a user may name: ``-`` is standard output, a device
  or a named pipe is written through (never replaced), anything else goes through
  :func:`replacing`.
* :func:`check_writable` refuses, naming the option, a path that cannot be written
  (missing folder, a folder given for a file, ``/proc``, a name too long), before any
  compute; :func:`check_folder_outside` refuses a folder that holds a project's sources.
* Temporaries are hidden, carry this machine and process and end in ``.partial``;
  :func:`clean_stale` (called by :func:`replacing`) removes those that a killed process of
  this machine left beside the file it writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import stat
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

STDOUT = "-"
NAME_MAX = 255
# /proc and /sys hold the kernel's files: writing one there is never a result
KERNEL_FOLDERS = (Path("/proc"), Path("/sys"))
DEVICES = Path("/dev")  # /dev/stdout, /dev/null…: written in place, even when a link
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"


def kind(path) -> str:
    """``"missing"``, ``"regular"``, ``"directory"`` or ``"special"`` (a device, pipe or
    socket) for what ``path`` is, following symbolic links (a dangling link: missing)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return "missing"
        raise
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special"


def _partial_name(path: Path) -> str:
    """A hidden temporary name for ``path`` that fits in NAME_MAX bytes."""
    tail = f".{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.partial"
    stem = path.name
    room = NAME_MAX - len(tail) - 1
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return f".{stem}{tail}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(path) -> list[Path]:
    """Remove the temporaries that processes of this machine, no longer running, left
    while writing ``path`` (killed by SIGKILL or a power cut); return them."""
    path = Path(path)
    tail = f".{_HOST}-"
    stem = _partial_name(path).split(tail)[0]  # the (possibly shortened) hidden name
    removed = []
    try:
        candidates = list(path.parent.glob(f"{glob_escape(stem)}{tail}*.partial"))
    except OSError:
        return removed
    for candidate in candidates:
        try:
            pid = int(candidate.name[len(stem) + len(tail):].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


@contextlib.contextmanager
def replacing(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends normally it
    replaces ``path`` (``os.replace``, atomic), and on any error or interrupt it is
    removed and ``path`` is left as it was. ``path`` must be a regular file or not exist
    yet; a symbolic link is followed (its target is replaced, the link stays); a device,
    pipe or socket raises ``ValueError`` (see :func:`writing` for those). The temporary
    is hidden, per process and call (two runs never share one), named to fit the file
    system's 255 bytes, and ends in ``.partial``, which no reader of the results,
    jupyter-book included, picks up."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    found = kind(path)
    if found == "directory":
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", str(path))
    if found == "special":
        raise ValueError(f"{path} is a device, pipe or socket, not a regular file: it is "
                         f"never replaced")
    clean_stale(path)
    partial = path.with_name(_partial_name(path))
    try:
        yield partial
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


@contextlib.contextmanager
def writing(path, mode: str = "w", **options):
    """An open stream for an output file the user named: ``-`` is standard output, a
    device (``/dev/null``, ``/dev/stdout``) or a named pipe is written through in place,
    anything else is written atomically (:func:`replacing`). ``options`` go to ``open``."""
    if str(path) == STDOUT:
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    if kind(path) == "special" or _under(Path(path).absolute(), DEVICES):
        with open(path, mode, **options) as stream:
            yield stream
        return
    with replacing(path) as partial, open(partial, mode, **options) as stream:
        yield stream


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_writable(name: str, path, create_folder: bool = False, special: bool = True) -> None:
    """Refuse now, not after the run, an output ``path`` (option ``name``) that cannot be
    written: a folder, a path under ``/proc`` or ``/sys``, a missing folder (unless
    ``create_folder``: then its nearest existing ancestor must take a new folder), a name
    longer than the file system allows, a read-only file, or (``special=False``) a
    device or pipe. ``-`` (standard output) always passes. Raises ``ValueError``."""
    if path is None or (special and str(path) == STDOUT):
        return
    target = Path(path)
    found = kind(target)
    resolved = Path(os.path.realpath(target))
    if _under(target.absolute(), DEVICES) or found == "special":
        if not special:
            raise ValueError(f"{name} {str(path)!r} is a device or pipe, not a regular file; "
                             f"give a file name")
        if found == "missing":
            raise ValueError(f"{name} {str(path)!r} does not exist")
        if not os.access(target, os.W_OK):
            raise ValueError(f"{name} {str(path)!r} is not writable")
        return
    for folder in KERNEL_FOLDERS:
        if _under(target.absolute(), folder) or _under(resolved, folder):
            raise ValueError(f"{name} {str(path)!r} is under {folder}, which holds the "
                             f"kernel's files, not results; give another path")
    if found == "directory":
        raise ValueError(f"{name} {str(path)!r} is a directory; give a file name")
    too_long = [part for part in resolved.parts if len(part.encode()) > NAME_MAX]
    if too_long:
        raise ValueError(f"{name} {str(path)[:40]!r}…: a name in it has "
                         f"{len(too_long[0].encode())} bytes, more than the {NAME_MAX} a "
                         f"file system allows")
    folder = resolved.parent
    while create_folder and not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        problem = "is not a directory" if folder.exists() else "does not exist"
        raise ValueError(f"{name} {str(path)!r}: the folder {str(folder)!r} {problem}")
    probe = folder / _partial_name(Path("probe"))
    try:
        probe.open("x").close()
    except OSError as error:
        raise ValueError(f"{name} {str(path)!r}: cannot write in {str(folder)!r} "
                         f"({error.strerror or error})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if found == "regular" and (not os.access(resolved, os.W_OK)
                               or not os.stat(resolved).st_mode & 0o222):
        raise ValueError(f"{name} {str(path)!r} exists and is read-only; it is not replaced")


def check_folder_outside(name: str, folder, protected=(), why: str = "", exact=()) -> Path:
    """Refuse an output ``folder`` that is, or lies inside, one of ``protected``, or is one
    of ``exact`` (e.g. a project's root): writing there would overwrite ``why``. Returns
    the folder, resolved."""
    target = Path(os.path.realpath(folder))
    hits = [Path(os.path.realpath(kept)) for kept in protected
            if _under(target, Path(os.path.realpath(kept)))]
    hits += [Path(os.path.realpath(kept)) for kept in exact
             if target == Path(os.path.realpath(kept))]
    if hits:
        raise ValueError(f"{name} {str(folder)!r} would write into {hits[0]}, which holds "
                         f"{why}; give a folder of its own")
    if kind(target) not in ("missing", "directory"):
        raise ValueError(f"{name} {str(folder)!r} is a file, not a folder")
    if any(_under(target, kernel) for kernel in KERNEL_FOLDERS):
        raise ValueError(f"{name} {str(folder)!r} is under /{target.parts[1]}, which holds "
                         f"the kernel's files; give another folder")
    return target


def describe_os_error(error: OSError, name: str | None = None) -> str:
    """One line for a failed write: the option, the file and the reason (ENOSPC, EPIPE…)."""
    where = f" {error.filename}" if getattr(error, "filename", None) else ""
    label = f"{name}: " if name else ""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason += " (the disk is full)"
    return f"{label}cannot write{where}: {reason}; nothing was written"
