"""What an executed chapter records about its run, and the execution page built from
those records: profile, seed, overrides, wall time, the code's commit, package versions
and the device (``book/execution.md``)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from collapse import files

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
    page = output_dir / "execution.md"
    output_dir.mkdir(parents=True, exist_ok=True)
    with files.replacing(page) as partial:
        partial.write_text("\n".join(lines) + "\n")
    return page


