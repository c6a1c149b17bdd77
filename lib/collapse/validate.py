"""Up-front argument checks: every error names the parameter and the allowed range.

Library entry points call these before any compute, so a bad value fails in
milliseconds instead of after an hour of simulation. (Memory checks are in
:mod:`collapse.book.memory`.)
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
from collections.abc import Iterable, Mapping

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


def finite_arrays(name: str, value, largest: float | None = None) -> None:
    """Reject NaN or infinite numbers in an array or in the array fields of a dataclass
    (such as a family's sufficient statistics), and with ``largest`` floats beyond it
    (see :func:`magnitude`)."""
    arrays = [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        arrays = [getattr(value, f.name) for f in dataclasses.fields(value)]
    for array in arrays:
        if isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.number) \
                and not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values")
    if largest is not None:
        magnitude(name, value, largest)


def magnitude(name: str, value, largest: float = 1e150) -> None:
    """Refuse numbers so large that their squares overflow float64 in any fit of a
    variance or a loss (NaN out of finite input): name them and say to rescale."""
    arrays = [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        arrays = [getattr(value, f.name) for f in dataclasses.fields(value)]
    for array in arrays:
        if isinstance(array, np.ndarray) and np.issubdtype(array.dtype, np.floating) \
                and array.size and float(np.max(np.abs(array))) > largest:
            # float(): a float32 maximum compared with 1e150 would cast 1e150 to float32
            top = float(np.max(np.abs(array)))
            raise ValueError(f"{name} holds values up to {top:.3g} in magnitude: beyond "
                             f"{largest:g} the sums of squares in a fit overflow float64; "
                             f"rescale the data (e.g. divide by {top:.0e})")


def generator(name: str, rng) -> np.random.Generator:
    """Insist on an explicit ``numpy.random.Generator`` (no global random state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


def generation_list(name: str, values, generations: int) -> set[int]:
    """A collection of generations ``0 … generations-1`` (such as ``keep=[0, 10]``)."""
    if isinstance(values, (str, bytes, numbers.Number)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of generations such as [0, {generations - 1}] "
                        f"(each an integer in 0 … {generations - 1}), got {values!r}")
    return {integer(f"{name} (each generation)", g, minimum=0, maximum=generations - 1)
            for g in values}


def metric_functions(metrics) -> dict:
    """``metrics``: a dict ``name -> f(params, data)`` (each called once per generation)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict name -> f(params, data), got "
                        f"{type(metrics).__name__}")
    for name, metric in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"metrics: each name must be a string, got {name!r}")
        if not callable(metric):
            raise TypeError(f"metrics[{name!r}] must be a function f(params, data), got "
                            f"{metric!r} ({type(metric).__name__})")
        try:
            inspect.signature(metric).bind(None, None)
        except TypeError:
            raise TypeError(f"metrics[{name!r}] must accept two arguments (params, data)") \
                from None
        except ValueError:  # a builtin without a signature: called as it is
            pass
    return dict(metrics)


def finite_columns(generation: int, columns: dict, family) -> None:
    """Refuse a fitted model whose described values are NaN or infinite although its
    training data were finite: the numbers overflowed float64 (data of huge magnitude, or
    a setting such as a learning rate far too large). Named, instead of a table of NaN."""
    for name, values in columns.items():
        values = np.asarray(values)
        if np.issubdtype(values.dtype, np.number) and not np.all(np.isfinite(values)):
            bad = values[~np.isfinite(values)].ravel()[0]
            source = "the initial data" if generation == 0 else f"D_{generation}"
            raise ValueError(
                f"generation {generation}: {type(family).__name__}'s fitted {name} is {bad} "
                f"although {source} were finite: the numbers overflowed float64 (data of "
                f"huge magnitude, or a setting such as a learning rate far too large); "
                f"rescale the initial data or lower that setting")
