"""Time of ``make book`` from a fresh clone, as a newcomer runs it (issue: under 5 minutes
on a 2-core machine).

    python benchmarks/bench_book.py [--keep DIR]

Clones the committed ``HEAD`` of this repository into a temporary directory beside it
(so that ``../shared/data`` is found as in the project), runs ``make book`` there (setup
of ``.venv``, every chapter at the quick profile, the HTML build) and prints the wall
time of each phase and of each chapter (from the executed notebooks' records).
Uncommitted changes are not measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="clone into DIR and keep it")
    args = parser.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="bench-book-", dir=ROOT.parent))
    if args.keep and scratch.exists():
        parser.error(f"--keep: {scratch} exists")
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(scratch)], check=True)
        commit = subprocess.check_output(["git", "-C", str(scratch), "rev-parse", "--short",
                                          "HEAD"], text=True).strip()
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, clone of {commit}")
        phases = {}
        for phase, target in (("setup", "setup"), ("chapters and HTML", "book")):
            start = time.perf_counter()
            log = subprocess.run(["make", target], cwd=scratch, capture_output=True, text=True)
            phases[phase] = time.perf_counter() - start
            if log.returncode:
                raise SystemExit(f"make {target} failed:\n{log.stdout[-3000:]}"
                                 f"{log.stderr[-3000:]}")
        for phase, seconds in phases.items():
            print(f"{phase:>20}: {seconds:6.1f} s")
        print(f"{'make book in all':>20}: {sum(phases.values()):6.1f} s")
        for notebook in sorted((scratch / "book").glob("*.ipynb")):
            record = nbformat.read(notebook, as_version=4).metadata.get("collapse", {})
            print(f"{notebook.stem:>20}: {record.get('seconds', float('nan')):6.1f} s")
        started = re.findall(r"^(\w+): started", log.stdout, flags=re.MULTILINE)
        print("start order:", ", ".join(started))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
