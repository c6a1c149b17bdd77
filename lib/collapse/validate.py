"""Up-front argument checks: every error names the parameter and the allowed range.

Library entry points call these before any compute, so a bad value fails in
milliseconds instead of after an hour of simulation. (Memory checks are in
:mod:`collapse.book.memory`.)
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError``/``TypeError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def real(name: str, value, low: float | None = None, high: float | None = None) -> float:
    """Return ``value`` as a float in the closed interval [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def choice(name: str, value, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def finite_arrays(name: str, value) -> None:
    """Reject NaN or infinite numbers in an array or in the array fields of a dataclass
    (such as a family's sufficient statistics)."""
    arrays = [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        arrays = [getattr(value, f.name) for f in dataclasses.fields(value)]
    for array in arrays:
        if isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.number) \
                and not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values")


def generator(name: str, rng) -> np.random.Generator:
    """Insist on an explicit ``numpy.random.Generator`` (no global random state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng
