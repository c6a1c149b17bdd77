"""What an executed chapter records about its run, and the execution page built from
those records: profile, seed, overrides, wall time, the code's commit, package versions
and the device (``book/execution.md``)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from collapse import data, files, hashing

PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "transformers")


def read_record(notebook: Path) -> dict | None:
    """The run record stored in an executed notebook (None if unreadable or absent)."""
    import nbformat

    try:
        return nbformat.read(notebook, as_version=4).metadata.get("collapse")
    except (OSError, ValueError, AttributeError):
        return None


def environment(root: Path) -> dict:
    """What a result depends on besides its parameters: the code's commit, the key
    package versions and the device."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {"commit": git_commit(root), "versions": versions, "device": device()}


def git_commit(root: Path) -> str:
    """Short hash of HEAD, with ``+dirty`` for uncommitted changes; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain"], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if changes else "")


def device() -> str:
    """The CPU model, and the CUDA device torch sees (torch is imported only where an
    NVIDIA driver is present)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpu = f"{cpu} ({os.cpu_count()} cores)"
    if Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi"):
        try:
            import torch

            if torch.cuda.is_available():
                return f"{cpu}; CUDA: {torch.cuda.get_device_name(0)}"
        except ImportError:
            pass
    return cpu


def write_execution_page(root: Path, output_dir: Path) -> Path:
    """``<output_dir>/execution.md``: how each executed notebook there was produced
    (profile, seed, overrides, time, commit, package versions, device)."""
    output_dir = Path(output_dir)
    from .runner import chapter_names

    order = chapter_names(root)
    found = sorted(output_dir.glob("*.ipynb"),
                   key=lambda p: (order.index(p.stem) if p.stem in order else len(order),
                                  p.stem))
    lines = ["# Execution statistics", "",
             "Each chapter is executed by papermill before the book is built; a chapter whose",
             "source, library code and parameters are unchanged is taken from the cache.", "",
             "| chapter | profile | seed | parameters | wall time (s) | executed at | commit |",
             "|---|---|---|---|---|---|---|"]
    details = []
    for path in found:
        r = read_record(path)
        if not r:
            continue
        overrides = {k: v for k, v in r["parameters"].items() if k != "profile"}
        lines.append(f"| {path.stem} | {r['profile']} | {r.get('seed', 'unknown')} "
                     f"| {overrides or 'profile defaults'} | {r['seconds']} "
                     f"| {r['executed_at']} | {r.get('commit', 'unknown')} |")
        versions = ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items())
        details.append(f"- **{path.stem}**: {versions or 'versions unknown'}; "
                       f"device: {r.get('device', 'unknown')}")
    if details:
        lines += ["", "Package versions and device of each run:", "", *details]
    lines += paper_profile_section(found)
    page = output_dir / "execution.md"
    output_dir.mkdir(parents=True, exist_ok=True)
    with files.replacing(page) as partial:
        partial.write_text("\n".join(lines) + "\n")
    return page


GPU_FLOPS = 100e12  # an assumed effective rate for a current data-centre GPU (not measured)


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"about {seconds / size:,.0f} {unit}"
    return f"about {seconds:,.0f} s"


def paper_profile_section(notebooks: list[Path]) -> list[str]:
    """What the ``paper`` profile would take, for the chapters whose run here cannot show
    the paper's effect (``Settings.SCALE_NOTE``): the measured time of this build scaled
    by the ratio of the two profiles' work (``Settings.work``)."""
    from . import settings

    rows = []
    for path in notebooks:
        record = read_record(path)
        if not record or path.stem not in settings.chapters():
            continue
        here = settings.resolve(path.stem, record["profile"],
                                **{k: v for k, v in record["parameters"].items()
                                   if k != "profile"})
        if here.scale_note() is None or here.work() is None:
            continue
        paper = settings.resolve(path.stem, "paper")
        unit, amount = here.work()
        ratio = paper.work()[1] / amount
        cpu = _duration(record["seconds"] * ratio)
        gpu = (f"{_duration(paper.work()[1] / GPU_FLOPS)} at an assumed {GPU_FLOPS / 1e12:.0f} "
               f"TFLOP/s" if unit == "FLOP" else "not measured here (no GPU)")
        rows.append(f"| {path.stem} | {record['seconds']} s ({record['profile']}) | "
                    f"{ratio:,.0f}× the {unit} | {cpu} | {gpu} |")
    if not rows:
        return []
    return ["", "## The paper profile", "",
            "These chapters run scaled down here (see each chapter's captions). The paper",
            "profile's time on this machine is estimated from this build's measured time",
            "and the ratio of the two profiles' work:", "",
            "| chapter | this build | paper profile's work | on this CPU | on a GPU |",
            "|---|---|---|---|---|", *rows]


def data_digest() -> str:
    """The content of the data the chapters read: every file under ``COLLAPSE_DATA_DIR``
    (:func:`collapse.hashing.content_digest`), or ``hub`` when the data come from the hub."""
    try:
        folder = data.data_dir()
    except data.DataUnavailable as error:  # reported by the chapters that read data
        return f"unavailable: {error}"
    return "hub" if folder is None else hashing.content_digest(folder)


def seed_used(name: str, parameters: dict, notebook: Path):
    """The seed the run used: the override, else the profile's, else the default of the
    notebook's parameters cell (None if it has none)."""
    import papermill

    if "seed" in parameters:
        return parameters["seed"]
    from . import settings

    if name in settings.chapters():
        return settings.resolve(name, parameters["profile"]).seed
    default = papermill.inspect_notebook(str(notebook)).get("seed", {}).get("default")
    try:
        return int(default)
    except (TypeError, ValueError):
        return None


def settings_used(name: str, parameters: dict) -> dict | None:
    """Every setting the run used (the profile's values with the overrides applied): what
    the chapter's ``resolve_cell`` builds from the injected parameters."""
    from . import settings

    if name not in settings.chapters():
        return None
    overrides = {k: v for k, v in parameters.items() if k != "profile"}
    return settings.resolve(name, parameters["profile"], **overrides).as_dict()


# IPython marks the failing line of a cell with an arrow: "----> 7 x = f()" or, from
# line 10 on, "---> 12 x = f()" (the arrow shortens as the number grows)
_ARROW = re.compile(r"^\s*-+>\s*(\d+)\s?(.*)$")


def describe_failure(name: str, error) -> str:
    """Chapter, cell, the cell's first lines, the failing line and the error, without the
    traceback."""
    from papermill.exceptions import strip_color

    lines = (error.source or "").strip().splitlines()
    head = "\n".join(f"    {line}" for line in lines[:6])
    more = f"\n    … ({len(lines) - 6} more lines)" if len(lines) > 6 else ""
    arrows = [match for line in strip_color("\n".join(error.traceback or [])).splitlines()
              if (match := _ARROW.match(line))]
    where = (f"\n  failing line {arrows[0].group(1)}: {arrows[0].group(2).strip()}"
             if arrows else "")
    return (f"chapter {name!r} failed in cell In [{error.exec_count}]; the previous "
            f"book/{name}.ipynb is unchanged.\n  cell source:\n{head}{more}{where}\n"
            f"  {error.ename}: {error.evalue}")
