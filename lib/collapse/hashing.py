"""Content hashes and seeds derived from them: one scheme for the whole library.

Caches, checkpoints and the seeds of fits that must not depend on how runs are
split across processes (a GMM's k-means start, a VAE's weights, a language
model's dropout) are all keyed by :func:`digest` of everything that determines
them. Arrays are hashed by dtype, shape and bytes (``repr`` would abbreviate
them); dataclasses by their type and fields; callables by their code and the
values they close over; files and folders by their content (:func:`content_digest`).

A value that has no content to hash (its ``repr`` holds a memory address: a lock, an
open file, a generator) makes :func:`digest` with ``strict=True`` raise
:class:`Unfingerprintable`, so that a checkpoint is refused rather than met by a run
whose result it does not determine.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import sys
import time
import types
from pathlib import Path

import numpy as np

LIBRARY = Path(__file__).resolve().parent
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class Unfingerprintable(TypeError):
    """A value whose content cannot be hashed (``what`` names it and its type)."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def _feed(hasher, value, seen: frozenset = frozenset(), strict: bool = False) -> None:
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
            _feed(hasher, key, seen, strict)
            _feed(hasher, value[key], seen, strict)
        hasher.update(b"}")
    elif isinstance(value, (list, tuple)):
        hasher.update(f"{type(value).__name__}[{len(value)}](".encode())
        for item in value:
            _feed(hasher, item, seen, strict)
        hasher.update(b")")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        hasher.update(f"{type(value).__module__}.{type(value).__qualname__}(".encode())
        _feed(hasher, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
              seen, strict)
        hasher.update(b")")
    elif isinstance(value, functools.partial):  # its __dict__ holds none of its arguments
        _feed(hasher, ("partial", value.func, value.args, value.keywords), seen, strict)
    elif isinstance(value, types.MethodType):
        _feed(hasher, ("method", value.__func__, value.__self__), seen, strict)
    elif isinstance(value, types.FunctionType):
        # the code (with the names it reads), its defaults and the values it closes over;
        # not where it was defined (a script's __main__ or the same file imported)
        closure = [_cell(cell) for cell in value.__closure__ or ()]
        _feed(hasher, ("function", _code_content(value.__code__), value.__defaults__,
                       value.__kwdefaults__, closure, _globals_read(value)), seen, strict)
    elif isinstance(value, types.CodeType):
        _feed(hasher, _code_content(value), seen, strict)
    elif isinstance(value, np.generic):
        _feed(hasher, value.item(), seen, strict)
    elif isinstance(value, Path):
        hasher.update(f"path:{value}".encode())
    elif isinstance(value, types.ModuleType):
        hasher.update(f"module:{value.__name__}".encode())
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        # Plain objects by type and attributes: their repr may hold a memory address.
        hasher.update(f"{type(value).__module__}.{type(value).__qualname__}(".encode())
        _feed(hasher, vars(value), seen, strict)
        hasher.update(b")")
    else:
        text = f"{type(value).__name__}:{value!r}"
        if strict and _ADDRESS.search(text):
            raise Unfingerprintable(f"a {type(value).__module__}.{type(value).__qualname__} "
                                    f"({_ADDRESS.sub('', repr(value))[:60]})")
        hasher.update(text.encode())


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return "empty cell"


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _globals_read(function: types.FunctionType) -> dict:
    """The module-level values a function outside the library reads (``scale`` in
    ``lambda p, d: p.mean * scale`` written in a script or notebook): part of what it
    computes. The library's own functions are covered by :func:`code_digest`."""
    if (function.__module__ or "").split(".")[0] == __package__:
        return {}
    space = function.__globals__
    return {name: space[name] for name in sorted(_names(function.__code__)) if name in space}


def _code_content(code: types.CodeType) -> tuple:
    """A function's code as content: bytecode, constants (nested code too) and the names
    it reads, without the addresses that ``repr`` of a nested code object shows."""
    consts = tuple(_code_content(c) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return ("code", code.co_code, consts, code.co_names, code.co_varnames)


def digest(*parts, length: int = 16, strict: bool = False) -> str:
    """A hex content hash of ``parts`` (arrays, dataclasses, containers, scalars).
    ``strict``: raise :class:`Unfingerprintable` for a value with no content to hash
    (its ``repr`` holds a memory address) instead of hashing that address."""
    hasher = hashlib.sha256()
    for part in parts:
        _feed(hasher, part, strict=strict)
    return hasher.hexdigest()[:length]


_CONTENT_MEMO: dict[tuple, str] = {}


def _file_digest(path: Path) -> str:
    info = path.stat()
    memo = (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
            info.st_ctime_ns)
    if memo in _CONTENT_MEMO:
        return _CONTENT_MEMO[memo]
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    # a file changed within the last seconds may change again within the same timestamp
    # tick (coarse clocks): remember only older ones, as git does with "racy" files
    if time.time() - info.st_mtime > 2.0:
        _CONTENT_MEMO[memo] = hasher.hexdigest()
    return hasher.hexdigest()


def content_digest(*paths, length: int = 16) -> str:
    """A hash of the *content* of files and folders (every file below a folder, by its
    path relative to that folder and its bytes); a missing path is hashed as missing.
    The key of every cache whose result depends on input files: a changed file gives a
    new key wherever the file lives, and a moved folder keeps its key. (Each file's
    hash is remembered in this process while its size and modification time stay.)"""
    hasher = hashlib.sha256()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            hasher.update(b"folder{")
            for item in sorted(p for p in path.rglob("*") if p.is_file()):
                hasher.update(item.relative_to(path).as_posix().encode() + b"\0")
                hasher.update(_file_digest(item).encode())
            hasher.update(b"}")
        elif path.is_file():
            hasher.update(b"file:" + _file_digest(path).encode())
        else:
            hasher.update(b"missing:" + os.fsencode(str(path)))
    return hasher.hexdigest()[:length]


def source_digest(source) -> str:
    """What a model or tokenizer named by ``source`` is: the content of a local file or
    folder (:func:`content_digest`), else the name itself (a hub name)."""
    if isinstance(source, (str, os.PathLike)) and Path(source).exists():
        return "content:" + content_digest(source)
    return f"name:{source}"


def derive_seed(*parts) -> int:
    """A seed in ``[0, 2**63)`` that is a pure function of ``parts``: the same data and
    settings give the same seed in any process, whatever the order of the runs."""
    return int(digest(*parts, length=16), 16) & (2**63 - 1)


def _source_files(thing) -> list[Path]:
    """The source files that define ``thing``: a library module name (``"lm.train"``), a
    module, a class (every class it inherits from), a function, or a directory (every
    file in it but compiled bytecode: the records shipped with the library, such as a
    chapter's CSV of measured trials, determine results as the code does)."""
    if isinstance(thing, Path):
        if not thing.is_dir():
            return [thing]
        return sorted(path for path in thing.rglob("*") if path.is_file()
                      and "__pycache__" not in path.parts and path.suffix != ".pyc")
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
