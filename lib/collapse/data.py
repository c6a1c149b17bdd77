"""Where data and models come from: the hub for users with internet, or local copies.

The setting is the environment variable ``COLLAPSE_DATA_DIR`` (for example
``COLLAPSE_DATA_DIR=../shared/data``): a directory holding ``wikitext-2/`` and
``mnist/`` as described in the project README. When it is set, nothing is fetched
from a hub. When it is not set, loaders use the hub names (``wikitext``,
``ylecun/mnist``, ``facebook/opt-125m``) and fail fast, with this message, if the
hub cannot be reached.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from . import validate

ENV_VAR = "COLLAPSE_DATA_DIR"


class DataUnavailable(RuntimeError):
    """Neither a local copy nor the hub could provide a data set or model."""


class DataError(ValueError):
    """A local data file is there but unusable (empty, truncated, corrupt, mismatched)."""


def data_dir() -> Path | None:
    """The local data directory from ``COLLAPSE_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.exists():
        raise DataUnavailable(f"{ENV_VAR}={value!r} does not exist; it must name the data "
                              f"directory (e.g. {ENV_VAR}=../shared/data)")
    if not path.is_dir():
        raise DataUnavailable(f"{ENV_VAR}={value!r} is a file, not a directory; it must name "
                              f"the data directory (e.g. {ENV_VAR}=../shared/data)")
    return path


def local_path(*parts: str) -> Path | None:
    """``COLLAPSE_DATA_DIR/parts…`` if the setting is on and the path exists, else None."""
    root = data_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


def unavailable(what: str, hub_name: str, local: str) -> DataUnavailable:
    """The one error every loader raises when it has no source."""
    root = data_dir()
    if root is not None:
        return DataUnavailable(f"{what} is not available: {ENV_VAR}={root} has no {local} "
                               f"(the hub is not used while {ENV_VAR} is set)")
    return DataUnavailable(
        f"{what} is not available: set {ENV_VAR} to a directory containing {local} "
        f"(e.g. {ENV_VAR}=../shared/data), or give this machine access to the hub "
        f"for {hub_name!r}."
    )


def offline_hub() -> None:
    """Make transformers/datasets fail at once instead of retrying a hub that is not there."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def hub_reachable(timeout: float = 2.0) -> bool:
    """One quick probe of the hub (honours proxies, ``HF_ENDPOINT`` and the HF offline
    flags), instead of a library's retry loop."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        urllib.request.urlopen(endpoint, timeout=timeout).close()
    except urllib.error.HTTPError:
        return True  # the server answered
    except (OSError, ValueError):
        return False
    return True


# ------------------------------------------------------------------ WikiText-2 files

WIKITEXT_FILES = {"train": "wiki.train.tokens", "validation": "wiki.valid.tokens",
                  "test": "wiki.test.tokens"}
WIKITEXT_LOCAL = "wikitext-2/wiki.{train,valid,test}.tokens"


def wikitext_files() -> dict[str, Path]:
    """The three local WikiText-2 files, each checked to exist and be non-empty (cheap:
    no reading), so a bad copy fails before any pre-training. ``DataUnavailable`` when
    ``COLLAPSE_DATA_DIR`` has no ``wikitext-2/``; ``DataError`` naming the bad file."""
    folder = local_path("wikitext-2")
    if folder is None:
        raise unavailable("WikiText-2", "wikitext", WIKITEXT_LOCAL)
    files = {split: folder / name for split, name in WIKITEXT_FILES.items()}
    for path in files.values():
        if not path.is_file():
            raise DataError(f"WikiText-2 file {path} is missing (expected {WIKITEXT_LOCAL})")
        if path.stat().st_size == 0:
            raise DataError(f"WikiText-2 file {path} is empty (0 bytes)")
    return files


def read_wikitext_split(split: str) -> list[str]:
    """The lines (with their newlines) of a local WikiText-2 split, after checking all
    three files with :func:`wikitext_files`; the split must decode as UTF-8 and hold text."""
    validate.choice("split", split, WIKITEXT_FILES)
    path = wikitext_files()[split]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"WikiText-2 file {path} is not UTF-8 text (byte {error.start}: "
                        f"{error.reason})") from None
    if not text.strip():
        raise DataError(f"WikiText-2 file {path} holds no text (only whitespace)")
    return text.splitlines(True)
