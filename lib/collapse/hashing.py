"""Content hashes and seeds derived from them: one scheme for the whole library.

Caches, checkpoints and the seeds of fits that must not depend on how runs are
split across processes (a GMM's k-means start, a VAE's weights, a language
model's dropout) are all keyed by :func:`digest` of everything that determines
them. Arrays are hashed by dtype, shape and bytes (``repr`` would abbreviate
them); dataclasses by their type and fields; callables by their code and the
values they close over.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import sys
import types
from pathlib import Path

import numpy as np

LIBRARY = Path(__file__).resolve().parent


def _feed(hasher, value, seen: frozenset = frozenset()) -> None:
    """Write an unambiguous encoding of ``value`` into ``hasher``."""
    if id(value) in seen:  # a cycle: name it instead of recursing forever
        hasher.update(f"cycle:{type(value).__qualname__}".encode())
        return
    if isinstance(value, (dict, list, tuple)) or hasattr(value, "__dict__"):
        seen = seen | {id(value)}
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        hasher.update(f"ndarray{value.dtype.str}{value.shape}:".encode())
        hasher.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (bytes, bytearray)):
        hasher.update(b"bytes%d:" % len(value))
        hasher.update(value)
    elif isinstance(value, dict):
        hasher.update(b"dict{")
        for key in sorted(value, key=repr):
            _feed(hasher, key, seen)
            _feed(hasher, value[key], seen)
        hasher.update(b"}")
    elif isinstance(value, (list, tuple)):
        hasher.update(f"{type(value).__name__}[{len(value)}](".encode())
        for item in value:
            _feed(hasher, item, seen)
        hasher.update(b")")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        hasher.update(f"{type(value).__module__}.{type(value).__qualname__}(".encode())
        _feed(hasher, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, seen)
        hasher.update(b")")
    elif isinstance(value, functools.partial):  # its __dict__ holds none of its arguments
        _feed(hasher, ("partial", value.func, value.args, value.keywords), seen)
    elif isinstance(value, types.MethodType):
        _feed(hasher, ("method", value.__func__, value.__self__), seen)
    elif isinstance(value, types.FunctionType):
        closure = [cell.cell_contents for cell in value.__closure__ or ()]
        _feed(hasher, ("function", value.__module__, value.__qualname__, value.__code__.co_code,
                       repr(value.__code__.co_consts), value.__defaults__, closure), seen)
    elif isinstance(value, np.generic):
        _feed(hasher, value.item(), seen)
    elif isinstance(value, Path):
        hasher.update(f"path:{value}".encode())
    elif isinstance(value, types.ModuleType):
        hasher.update(f"module:{value.__name__}".encode())
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        # Plain objects by type and attributes: their repr may hold a memory address.
        hasher.update(f"{type(value).__module__}.{type(value).__qualname__}(".encode())
        _feed(hasher, vars(value), seen)
        hasher.update(b")")
    else:
        hasher.update(f"{type(value).__name__}:{value!r}".encode())


def digest(*parts, length: int = 16) -> str:
    """A hex content hash of ``parts`` (arrays, dataclasses, containers, scalars)."""
    hasher = hashlib.sha256()
    for part in parts:
        _feed(hasher, part)
    return hasher.hexdigest()[:length]


def derive_seed(*parts) -> int:
    """A seed in ``[0, 2**63)`` that is a pure function of ``parts``: the same data and
    settings give the same seed in any process, whatever the order of the runs."""
    return int(digest(*parts, length=16), 16) & (2**63 - 1)


def _source_files(thing) -> list[Path]:
    """The source files that define ``thing``: a library module name (``"lm.train"``), a
    module, a class (every class it inherits from), a function, or a directory (every
    ``.py`` file in it)."""
    if isinstance(thing, Path):
        return sorted(thing.rglob("*.py")) if thing.is_dir() else [thing]
    if isinstance(thing, str):
        path = LIBRARY / (thing.replace(".", "/") + ".py")
        return [path if path.exists() else LIBRARY / thing.replace(".", "/") / "__init__.py"]
    if isinstance(thing, type):
        return [path for cls in thing.__mro__ if cls.__module__ != "builtins"
                for path in _source_files(sys.modules.get(cls.__module__))]
    if isinstance(thing, types.ModuleType):
        path = getattr(thing, "__file__", None)
        return [Path(path)] if path and Path(path).is_file() else []
    module = sys.modules.get(getattr(thing, "__module__", None) or "")
    return _source_files(module) if isinstance(module, types.ModuleType) else []


def code_digest(*things) -> str:
    """Hash of the source files that define ``things`` (see :func:`_source_files`): part of
    every cache key and checkpoint fingerprint, so changed code never meets a result it
    did not produce. The one place the library's code is hashed."""
    hasher = hashlib.sha256()
    seen = set()
    for thing in things:
        for path in _source_files(thing):
            if path in seen:
                continue
            seen.add(path)
            name = path.resolve().relative_to(LIBRARY).as_posix() \
                if path.resolve().is_relative_to(LIBRARY) else path.name
            hasher.update(name.encode())
            hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]
