"""Typed chapter settings and run profiles: ``smoke`` (seconds, for tests), ``quick`` (the
default book build, minutes on a 2-core CPU) and ``paper`` (the paper's sizes).

Each chapter ``chapters/<name>.md`` has a module ``collapse.book.chapters.<name>`` with

* ``Settings``, a frozen dataclass (a :class:`ChapterSettings`) whose defaults are the
  ``quick`` profile and whose :meth:`~ChapterSettings.check` validates every value, once,
  when the settings are built;
* ``SMOKE`` and ``PAPER``: only the values that differ from ``quick`` (as nanoGPT's
  override files);
* optionally ``REFERENCE`` (what the paper and the authors' code say, for
  :func:`settings_table`) and ``Settings.peak_memory()`` (bytes, parameter to lower).

:func:`resolve` builds the settings of a profile with overrides, checking each value's
type and range before any compute, so a bad papermill override fails at once with the
parameter's name. Chapters read settings as attributes (``config.runs``) or by name
(``config["runs"]``).
"""

from __future__ import annotations

import dataclasses
import importlib
import numbers
import pkgutil
from dataclasses import dataclass, field

import numpy as np

from collapse import validate

PROFILE_NAMES = ("smoke", "quick", "paper")


def listed(*values):
    """A list-valued default of a settings field (a fresh list per instance)."""
    return field(default_factory=lambda: list(values))


@dataclass(frozen=True)
class ChapterSettings:
    """Base of every chapter's ``Settings``: the profile it came from and the seed."""

    profile: str = "quick"
    seed: int = 0

    def __post_init__(self):
        validate.choice("profile", self.profile, PROFILE_NAMES)
        validate.integer("parameter 'seed'", self.seed, minimum=0)
        self.check()

    def check(self) -> None:
        """Range checks of the chapter's values (raise naming the parameter)."""

    def peak_memory(self) -> tuple[int, str] | None:
        """Estimated peak memory in bytes and the parameter to lower (None: no estimate)."""
        return None

    def scale_note(self) -> str | None:
        """What these settings cannot show of the paper's effect (a stand-in model, a
        smaller scale), for the landing and execution pages; None: they show it."""
        return None

    def work(self) -> tuple[str, float] | None:
        """The chapter's dominant work as ``(unit, amount)``, for estimating one profile's
        time from another's measured time (None: not estimated)."""
        return None

    def __getitem__(self, name: str):
        if name not in self.names():
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name) -> bool:
        return name in self.names()

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def _repr_pretty_(self, printer, cycle):  # shown in a notebook as the dict of its values
        printer.pretty(self.as_dict())

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # IPython takes the first of _repr_pretty_ and __repr__ along the MRO, and the
        # dataclass decorator gives every subclass a __repr__ of its own
        cls._repr_pretty_ = ChapterSettings._repr_pretty_

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.names()}

    def replace(self, **changes) -> ChapterSettings:
        """A copy with ``changes``, checked like any settings."""
        return dataclasses.replace(self, **changes)


def chapters() -> list[str]:
    """Names of the chapters that have settings."""
    from . import chapters as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__)
                  if hasattr(module(m.name, check_name=False), "Settings"))


def module(chapter: str, check_name: bool = True):
    """The module ``collapse.book.chapters.<chapter>``."""
    if check_name and chapter not in chapters():
        raise ValueError(f"chapter must be one of {', '.join(chapters())}; got {chapter!r}")
    return importlib.import_module(f"{__package__}.chapters.{chapter}")


def _profile_values(chapter: str, profile: str) -> dict:
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile must be one of {', '.join(PROFILE_NAMES)}; got {profile!r}")
    source = module(chapter)
    return dict({"smoke": getattr(source, "SMOKE", {}), "quick": {},
                 "paper": getattr(source, "PAPER", {})}[profile])


def defaults(chapter: str, profile: str) -> dict:
    """The parameters of ``chapter`` under ``profile``, as a dict (``profile`` and ``seed``
    included)."""
    return resolve(chapter, profile).as_dict()


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


def resolve(chapter: str, profile: str = "quick", **overrides) -> ChapterSettings:
    """The chapter's settings under ``profile`` with ``overrides`` (``None`` means "use the
    profile"), every value checked. Raises naming the parameter."""
    cls = module(chapter).Settings
    values = _profile_values(chapter, profile)
    quick = cls()
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in cls.names() or name == "profile":
            raise ValueError(
                f"unknown parameter {name!r} for chapter {chapter!r}; "
                f"known: {', '.join(sorted(n for n in cls.names() if n != 'profile'))}"
            )
        default = getattr(quick, name)
        if name != "seed" and not _type_matches(default, value):
            raise TypeError(
                f"parameter {name!r} of chapter {chapter!r} must be "
                f"{_describe_type(default)} (like {default!r}), got {value!r}"
            )
        values[name] = list(value) if isinstance(value, tuple) else value
    return cls(profile=profile, **values)


def resolve_cell(chapter: str, profile: str = "quick", parameters_set=None,
                 **values) -> ChapterSettings:
    """:func:`resolve` for a parameters cell that shows the ``quick`` profile's literal
    values. A value overrides the profile when it was *set*: injected by papermill (the
    runner, ``python -m collapse chapter --set``, or plain ``papermill -p``; read from the
    injected-parameters cell of this IPython session, or given as ``parameters_set``, a
    list of names), or edited in the cell (it differs from its quick default). A value
    left as the cell shows it follows ``profile``; so ``--profile smoke --set runs=1000``
    runs 1000 even though 1000 is also the quick default."""
    quick = module(chapter).Settings()
    given = set(injected_names() if parameters_set is None else parameters_set)
    overrides = {name: value for name, value in values.items()
                 if name in given or name not in quick.names() or value != getattr(quick, name)}
    return resolve(chapter, profile, **overrides)


INJECTED_HEADER = "# Parameters"  # the first line of papermill's injected-parameters cell


def injected_names() -> set[str]:
    """The names papermill assigned in the injected-parameters cell of the running IPython
    kernel (the last executed cell that starts with ``# Parameters``); empty outside
    IPython or when nothing was injected."""
    import ast
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    history = getattr(shell, "user_ns", {}).get("In") or []
    for source in reversed(history):
        if isinstance(source, str) and source.lstrip().startswith(INJECTED_HEADER):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return set()
            return {target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
    return set()


def streams(seed: int):
    """``stream(*key)``: an independent, reproducible generator for each experiment of a
    chapter, ``np.random.default_rng([seed, *key])`` (one experiment's draws never
    depend on how many another made)."""
    seed = validate.integer("seed", seed, minimum=0)

    def stream(*key: int) -> np.random.Generator:
        return np.random.default_rng([seed, *key])

    return stream


def settings_table(chapter: str):
    """The chapter's settings beside the paper's and the authors' code's: one row per
    entry of the chapter module's ``REFERENCE`` (``{key: {setting, paper, code[, book]}}``),
    with the ``paper`` and ``quick`` profiles' values of ``key`` (or ``book``, for what
    is fixed in the library rather than set by a profile). A pandas ``Styler`` (its
    ``.data`` is the ``DataFrame``), so that no cell is cut short on the page."""
    import pandas as pd

    reference = module(chapter).REFERENCE
    profiles = {name: resolve(chapter, name) for name in ("paper", "quick")}

    def shown(profile, key, entry):
        settings = profiles[profile]
        value = getattr(settings, key) if key in settings.names() else entry.get("book", "—")
        return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    rows = [{"setting": entry["setting"], "paper": str(entry["paper"]),
             "authors' code": str(entry["code"]),
             "this book: paper profile": shown("paper", key, entry),
             "this book: quick profile": shown("quick", key, entry)}
            for key, entry in reference.items()]
    table = pd.DataFrame(rows).set_index("setting")
    # a Styler shows every cell whole, whatever pandas' display options (no "…" cut)
    return table.style.set_uuid(f"settings-{chapter}").set_table_attributes(
        'class="dataframe collapse-table"')
