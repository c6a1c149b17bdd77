"""Records of measured trials that chapters read: a script in ``benchmarks/`` runs one
variant of a chapter's ``quick`` profile and appends a row; the chapter shows the table
and glues its numbers from it. The records ship with the library
(``collapse/book/chapters/*.csv``): the language-model stand-ins (``lm_stand_in.csv``,
``benchmarks/lm_stand_in.py``) and the VAE's training lengths
(``vae_training_length.csv``, ``benchmarks/vae_training_length.py``).

A row names its ``variant``, its overrides of the ``quick`` profile (``settings``, JSON)
and the digest of the settings it ran with (``settings_digest``, :func:`record_digest`),
so that :func:`stale` can tell a row of an older profile from a current one.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
from importlib import resources

import pandas as pd

from collapse import hashing
from collapse.book import settings as book_settings


def variant_from_command_line(chapter: str, description: str, argv=None):
    """``NAME ['JSON']`` of a trial script: the variant's name, its overrides of the
    ``quick`` profile and the settings they resolve to; a usage message naming the fault
    (not JSON, not an object, a parameter out of range) before any compute."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("name", help="the variant's name (a re-run replaces its row)")
    parser.add_argument("overrides", nargs="?", default="{}",
                        help="JSON object of settings that differ from the quick profile, "
                             "e.g. '{\"epochs\": 12}'")
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as error:
        parser.error(f"overrides {args.overrides!r} are not JSON ({error})")
    if not isinstance(overrides, dict):
        parser.error(f"overrides must be a JSON object, got {args.overrides!r}")
    try:
        config = book_settings.resolve(chapter, "quick", **overrides)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    return args.name, overrides, config


def record_digest(settings, ignore=()) -> str:
    """A hash of resolved chapter ``settings`` but ``profile`` and the names in ``ignore``
    (settings that do not change what the trial measures)."""
    skipped = {"profile", *ignore}
    return hashing.digest(type(settings).__name__, type(settings).__module__,
                          {name: value for name, value in dataclasses.asdict(settings).items()
                           if name not in skipped})


def read(filename: str) -> pd.DataFrame:
    """The record ``filename`` as shipped with the library, one row per variant (a re-run
    variant replaces its earlier row), indexed by variant name, in the order first run."""
    table = pd.read_csv(resources.files("collapse.book.chapters") / filename)
    return table.drop_duplicates("variant", keep="last").set_index("variant")


def append(path: str | os.PathLike, row: dict) -> None:
    """Append ``row`` to the record at ``path`` (with a header if the file is new)."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def stale(table: pd.DataFrame, chapter: str, digest=record_digest) -> list[str]:
    """The variants of ``table`` (from :func:`read`) whose ``settings_digest`` is not the
    ``digest`` of what the ``quick`` profile and the row's overrides resolve to today."""
    return [variant for variant, row in table.iterrows()
            if row["settings_digest"] != digest(book_settings.resolve(
                chapter, "quick", **json.loads(row["settings"])))]
