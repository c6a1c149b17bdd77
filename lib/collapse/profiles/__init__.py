"""Run profiles for the chapters: ``smoke`` (seconds, for tests), ``quick`` (the default
book build, minutes on a 2-core CPU) and ``paper`` (the paper's sizes).

Each chapter ``chapters/<name>.md`` has a module ``collapse.profiles.<name>`` holding
``PROFILES = {"smoke": {...}, "quick": {...}, "paper": {...}}`` (every profile has the
same keys) and, optionally, ``check(config)`` for range checks and
``peak_memory(config) -> (bytes, parameter)``, the estimated peak memory of the run and
the parameter to lower. :func:`resolve` merges a profile with overrides and checks every
value's type and range before any compute, so a bad papermill override fails at once
with the parameter's name; :func:`check_memory` refuses a run that would not fit.
"""

from __future__ import annotations

import importlib
import numbers
import os
import pkgutil
import re

from collapse import validate

PROFILE_NAMES = ("smoke", "quick", "paper")
# for the profiles' ``peak_memory``: a kernel with the scientific stack and matplotlib,
# and the factor by which pandas' temporary copies exceed the tables kept
BASE = 400 * 10**6
TABLE_OVERHEAD = 1.5


def chapters() -> list[str]:
    """Names of the chapters that have profiles."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__))


def _module(chapter: str):
    if chapter not in chapters():
        raise ValueError(f"chapter must be one of {', '.join(chapters())}; got {chapter!r}")
    return importlib.import_module(f"{__name__}.{chapter}")


def defaults(chapter: str, profile: str) -> dict:
    """The parameters of ``chapter`` under ``profile`` (a copy)."""
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile must be one of {', '.join(PROFILE_NAMES)}; got {profile!r}")
    return dict(_module(chapter).PROFILES[profile])


def _type_matches(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, numbers.Integral):
        return isinstance(value, numbers.Integral)
    if isinstance(default, numbers.Real):
        return isinstance(value, numbers.Real)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        if default and value:
            return all(_type_matches(default[0], v) for v in value)
        return True
    if default is None:
        return True
    return isinstance(value, type(default))


def _describe_type(default) -> str:
    if isinstance(default, bool):
        return "a bool"
    if isinstance(default, numbers.Integral):
        return "an integer"
    if isinstance(default, numbers.Real):
        return "a number"
    if isinstance(default, (list, tuple)):
        inner = _describe_type(default[0]) if default else "values"
        return f"a list of {inner.split(' ', 1)[1]}s"
    return f"a {type(default).__name__}"


def check_list(name: str, values, check, minimum_length: int = 1,
               maximum_length: int | None = None, distinct: bool = False,
               label: str | None = None) -> list:
    """Check a list parameter: its length, no repeats (if ``distinct``) and each element
    by ``check(label, element)``, the label reading like ``"sizes (each)"``."""
    values = list(values)
    if len(values) < minimum_length:
        raise ValueError(f"{name} must list at least {minimum_length} "
                         f"value{'s' if minimum_length > 1 else ''}, got {values!r}")
    if maximum_length is not None and len(values) > maximum_length:
        raise ValueError(f"{name} must list at most {maximum_length} values, "
                         f"got {len(values)}")
    for value in values:
        check(label or f"{name} (each)", value)
    if distinct:
        keys = [tuple(v) if isinstance(v, list) else v for v in values]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{name} must not repeat a value, got {values!r}")
    return values


def resolve(chapter: str, profile: str = "quick", **overrides) -> dict:
    """Merge ``overrides`` (``None`` means "use the profile") into the profile and check
    every value. Returns the configuration dict, with ``profile`` included."""
    config = defaults(chapter, profile)
    for name, value in overrides.items():
        if value is None:
            continue
        if name == "seed":  # every chapter's parameters cell has a seed
            config["seed"] = validate.integer("parameter 'seed'", value, minimum=0)
            continue
        if name not in config:
            raise ValueError(
                f"unknown parameter {name!r} for chapter {chapter!r}; "
                f"known: {', '.join(sorted(config))}"
            )
        if not _type_matches(config[name], value):
            raise TypeError(
                f"parameter {name!r} of chapter {chapter!r} must be "
                f"{_describe_type(config[name])} (like {config[name]!r}), got {value!r}"
            )
        config[name] = list(value) if isinstance(value, tuple) else value
    check = getattr(_module(chapter), "check", None)
    if check is not None:
        check(config)
    config["profile"] = profile
    return config


def resolve_cell(chapter: str, profile: str = "quick", **values) -> dict:
    """:func:`resolve` for a parameters cell that shows the ``quick`` profile's literal
    values: a value equal to its quick default is left to ``profile``; any other value
    (set in the cell or injected by papermill) overrides the profile."""
    quick = defaults(chapter, "quick")
    overrides = {name: value for name, value in values.items()
                 if name not in quick or value != quick[name]}
    return resolve(chapter, profile, **overrides)


MEMORY_LIMIT = "COLLAPSE_MEMORY_LIMIT"
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}


def parse_bytes(name: str, text: str) -> int:
    """``"8GB"``, ``"512 MiB"``, ``"2e9"`` → bytes; a ``ValueError`` naming ``name``."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"{name} must be a size such as 8000000000, 8GB or 512MiB; "
                         f"got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {text!r}")
    return int(value)


def available_memory() -> int:
    """Bytes a run may use: ``$COLLAPSE_MEMORY_LIMIT`` if set, else what
    :func:`collapse.validate.available_memory` reads (``MemAvailable``, capped by a
    cgroup limit)."""
    if os.environ.get(MEMORY_LIMIT):
        return parse_bytes(MEMORY_LIMIT, os.environ[MEMORY_LIMIT])
    return validate.available_memory()


def format_bytes(count: float) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"


def peak_memory(chapter: str, config: dict) -> tuple[int, str] | None:
    """The chapter's estimated peak memory and the parameter to lower (None: no estimate)."""
    estimate = getattr(_module(chapter), "peak_memory", None)
    return None if estimate is None else estimate(config)


def check_memory(chapter: str, config: dict) -> int:
    """Refuse, naming the parameter to lower, a run whose estimated peak memory exceeds
    the memory available; return the estimate in bytes (0 when unknown)."""
    estimate = peak_memory(chapter, config)
    if estimate is None:
        return 0
    peak, parameter = estimate
    available = available_memory()
    if available is not None and peak > available:
        source = MEMORY_LIMIT if os.environ.get(MEMORY_LIMIT) else "MemAvailable"
        raise ValueError(
            f"chapter {chapter!r} ({config.get('profile', '?')} profile) would need about "
            f"{format_bytes(peak)} of memory, more than the {format_bytes(available)} "
            f"available ({source}); lower {parameter} (now {config[parameter]!r})"
        )
    return peak


def settings_table(chapter: str):
    """The chapter's settings beside the paper's and the authors' code's: one row per
    entry of the profile module's ``REFERENCE`` (``{key: {setting, paper, code[, book]}}``),
    with the ``paper`` and ``quick`` profiles' values of ``key`` (or ``book``, for what
    is fixed in the library rather than set by a profile). A ``pandas.DataFrame``."""
    import pandas as pd

    module = _module(chapter)

    def shown(profile, key, entry):
        value = module.PROFILES[profile].get(key, entry.get("book", "—"))
        return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    rows = [{"setting": entry["setting"], "paper": entry["paper"],
             "authors' code": entry["code"], "this book: paper profile": shown("paper", key, entry),
             "this book: quick profile": shown("quick", key, entry)}
            for key, entry in module.REFERENCE.items()]
    return pd.DataFrame(rows).set_index("setting")
