"""Run profiles for the chapters: ``smoke`` (seconds, for tests), ``quick`` (the default
book build, minutes on a 2-core CPU) and ``paper`` (the paper's sizes).

Each chapter ``chapters/<name>.md`` has a module ``collapse.profiles.<name>`` holding
``PROFILES = {"smoke": {...}, "quick": {...}, "paper": {...}}`` (every profile has the
same keys) and, optionally, ``check(config)`` for range checks. :func:`resolve` merges
a profile with overrides and checks every value's type and range before any compute,
so a bad papermill override fails at once with the parameter's name.
"""

from __future__ import annotations

import importlib
import numbers
import pkgutil

from collapse import validate

PROFILE_NAMES = ("smoke", "quick", "paper")


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
