"""Memory a run may use and what it would need: one reader of the memory available
(``COLLAPSE_MEMORY_LIMIT``, else ``MemAvailable`` capped by a cgroup limit), the
estimates of the command line's simulations, and the checks that refuse, before any
compute, a run that would not fit (naming the parameter to lower)."""

from __future__ import annotations

import os
import re

MEMORY_LIMIT = "COLLAPSE_MEMORY_LIMIT"
# for the chapters' ``peak_memory``: a kernel with the scientific stack and matplotlib,
# and the factor by which pandas' temporary copies exceed the tables kept
BASE = 400 * 10**6
TABLE_OVERHEAD = 1.5
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12,
          "tib": 2**40}


def parse_bytes(name: str, text: str) -> int:
    """``"8GB"``, ``"512 MiB"``, ``"2e9"`` → bytes; a ``ValueError`` naming ``name``."""
    match = re.fullmatch(r"\s*((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)\s*",
                         str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"{name} must be a size such as 8000000000, 8GB or 512MiB; "
                         f"got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {text!r}")
    if not value < 2**63:  # also an overflow to inf (1e400)
        raise ValueError(f"{name} must be a size below 9.2e18 bytes, got {text!r}")
    return int(value)


def system_available() -> int:
    """Bytes of memory available now: ``MemAvailable`` of ``/proc/meminfo`` (or the
    free physical pages), capped by a cgroup limit when one is set."""
    available = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, \
                open("/sys/fs/cgroup/memory.current") as used:
            text = limit.read().strip()
            if text != "max":
                available = min(available, int(text) - int(used.read()))
    except (OSError, ValueError):
        pass
    return max(int(available), 0)


def available() -> int:
    """Bytes a run may use: ``$COLLAPSE_MEMORY_LIMIT`` if set, else :func:`system_available`."""
    if os.environ.get(MEMORY_LIMIT):
        return parse_bytes(MEMORY_LIMIT, os.environ[MEMORY_LIMIT])
    return system_available()


def format_bytes(count: float) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"


def check(needed: float, hint: str, limit: int | None = None) -> None:
    """Refuse, before any compute, a run whose estimated peak ``needed`` bytes exceed the
    memory available (or ``limit``); ``hint`` says which parameters to lower."""
    limit = available() if limit is None else limit
    if needed > limit:
        raise ValueError(f"this run would need {_gigabytes(needed)} GB of memory, "
                         f"{_gigabytes(limit)} GB available; {hint}")


def _gigabytes(n: float) -> str:
    value = n / 1e9
    return f"{value:.1f}" if value < 1e4 else f"{value:.2g}"


def check_chapter(chapter: str, settings) -> int:
    """Refuse, naming the parameter to lower, a chapter run whose estimated peak memory
    (``settings.peak_memory()``) exceeds the memory available; return the estimate in
    bytes (0 when the chapter has none)."""
    estimate = settings.peak_memory()
    if estimate is None:
        return 0
    peak, parameter = estimate
    limit = available()
    if peak > limit:
        source = MEMORY_LIMIT if os.environ.get(MEMORY_LIMIT) else "MemAvailable"
        raise ValueError(
            f"chapter {chapter!r} ({settings.profile} profile) would need about "
            f"{format_bytes(peak)} of memory, more than the {format_bytes(limit)} "
            f"available ({source}); lower {parameter} (now {getattr(settings, parameter)!r})"
        )
    return peak
