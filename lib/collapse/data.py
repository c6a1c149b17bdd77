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

ENV_VAR = "COLLAPSE_DATA_DIR"


class DataUnavailable(RuntimeError):
    """Neither a local copy nor the hub could provide a data set or model."""


def data_dir() -> Path | None:
    """The local data directory from ``COLLAPSE_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise DataUnavailable(f"{ENV_VAR}={value!r} is not a directory")
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
