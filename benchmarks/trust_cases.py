"""Hurried users, students and researchers: inputs nobody tested (issue 20), re-runnable.

    python benchmarks/trust_cases.py [--only PREFIX] [--verbose] [--json FILE]

Every case runs in a fresh scratch folder (a scratch book root for chapter commands, so
``book/`` of the checkout is never touched) and is sorted into one of

* ``clear``: an error that was expected, one short message naming what the user typed,
  no traceback, nothing written;
* ``correct``: a valid run that did what was asked (its check passed);
* ``silent``: a wrong result without a word (a setting dropped, a stale value, a run
  that should have been refused, a file destroyed or left behind);
* ``traceback``: a Python traceback, or an internal exception escaping a library call;
* ``unclear``: refused, but the message does not name what the user gave (or a valid
  input refused).

Cases are not copies of the project's tests. The counts are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = os.environ.get("TRUST_PYTHON") or (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists()
    else sys.executable)
DATA = Path(os.environ.get("COLLAPSE_DATA_DIR") or ROOT.parent / "shared" / "data")
OUTCOMES = ("clear", "correct", "silent", "traceback", "unclear")


@dataclass
class Case:
    name: str
    run: object  # callable(folder) -> Result
    expect: str = "error"  # "error" or "ok"
    words: tuple = ()  # an expected error's message must hold each (case-insensitive)
    check: object = None  # callable(result, folder) -> bool for "ok" cases
    allowed_files: tuple = ()  # files an error case may leave (globs)


@dataclass
class Result:
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    exception: tuple | None = None  # (module.type, message) from a library call
    extra: dict = field(default_factory=dict)


CASES: list[Case] = []


def environment(**changes) -> dict:
    env = dict(os.environ)
    env.setdefault("COLLAPSE_DATA_DIR", str(DATA))
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT / "lib")})
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def scratch_root(folder: Path) -> None:
    """A book root whose chapters are the checkout's: executed notebooks land here."""
    for name in ("_toc.yml", "_config.yml", "chapters", "index.md"):
        (folder / name).symlink_to(ROOT / name)


def run_cli(*args, env=None, timeout=600, stdin=None, shell=None):
    def run(folder: Path) -> Result:
        scratch_root(folder)
        command = [PYTHON, "-m", "collapse", *[str(a).replace("{dir}", str(folder)) for a in args]]
        if shell is not None:
            script = shell.replace("{python}", PYTHON).replace("{dir}", str(folder))
            command = ["bash", "-c", script]
        done = subprocess.run(command, cwd=folder, env=environment(**(env or {})),
                              capture_output=True, text=True, timeout=timeout, input=stdin)
        return Result(done.returncode, done.stdout, done.stderr)
    return run


def cli(name, *args, expect="error", words=(), env=None, check=None, allowed=(), **kw):
    # a refusal comes before any compute: a run still going after 5 minutes accepted the input
    kw.setdefault("timeout", 300 if expect == "error" else 900)
    CASES.append(Case(name, run_cli(*args, env=env, **kw), expect, tuple(words), check,
                      tuple(allowed)))


PRELUDE = """
import numpy as np
from collapse import (checkpoint, discrete, gaussian, gmm, loop, markov, metrics, mixing,
                      noisy, sweep, theory, validate)
rng = np.random.default_rng(0)
G = gaussian.Gaussian()
d0 = gaussian.initial_data(4, 20, np.random.default_rng(1))
"""

WRAPPER = """
import json, sys, traceback
try:
{body}
    print("@@OK")
except BaseException as error:
    print("@@EXC" + json.dumps([type(error).__module__ + "." + type(error).__qualname__,
                               str(error)]))
"""


def run_py(code, env=None, timeout=600):
    def run(folder: Path) -> Result:
        body = textwrap.indent(textwrap.dedent(PRELUDE) + textwrap.dedent(code), "    ")
        done = subprocess.run([PYTHON, "-c", WRAPPER.format(body=body)], cwd=folder,
                              env=environment(**(env or {})), capture_output=True, text=True,
                              timeout=timeout)
        exception = None
        for line in done.stdout.splitlines():
            if line.startswith("@@EXC"):
                exception = tuple(json.loads(line[5:]))
        ok = "@@OK" in done.stdout
        return Result(0 if ok else 1, done.stdout, done.stderr, exception)
    return run


def py(name, code, expect="error", words=(), env=None, allowed=()):
    CASES.append(Case(name, run_py(code, env=env), expect, tuple(words), None, tuple(allowed)))


def custom(name, function, expect="ok", words=(), allowed=()):
    CASES.append(Case(name, function, expect, tuple(words), None, tuple(allowed)))


# ------------------------------------------------------------------ checks of valid runs


def csv_rows(rows, column=None, finite=True):
    def check(result: Result, folder: Path) -> bool:
        import io

        import numpy as np
        import pandas as pd

        text = result.stdout
        out = folder / "out.csv"
        if out.is_file():
            text = out.read_text()
        try:
            table = pd.read_csv(io.StringIO(text))
        except Exception:
            return False
        if rows is not None and len(table) != rows:
            return False
        if column is not None and column not in table:
            return False
        numeric = table.select_dtypes("number").to_numpy()
        return not finite or bool(np.isfinite(numeric).all())
    return check


def file_kind(path, kind):
    def check(result: Result, folder: Path) -> bool:
        target = Path(str(path).replace("{dir}", str(folder)))
        mode = os.lstat(target).st_mode
        return {"chr": stat.S_ISCHR, "lnk": stat.S_ISLNK, "fifo": stat.S_ISFIFO,
                "reg": stat.S_ISREG}[kind](mode)
    return check


def both(*checks):
    return lambda result, folder: all(c(result, folder) for c in checks)


# ===================================================================== the cases

SIM = ("simulate", "gaussian", "--generations", "5", "--runs", "3")

# --- command line: numbers and flags -------------------------------------------------
cli("flag/M=1", *SIM, "--M", "1", words=["--M"])
cli("flag/M=abc", *SIM, "--M", "abc", words=["--M"])
cli("flag/M=1e3", *SIM, "--M", "1e3", words=["--M"])
cli("flag/M=1_000", *SIM, "--M", "1_000", expect="ok", check=csv_rows(15))
cli("flag/M=-3", *SIM, "--M", "-3", words=["--M"])
cli("flag/abbrev --m", *SIM, "--m", "10", words=["--m"])
cli("flag/abbrev --gen", "simulate", "gaussian", "--gen", "5", words=["--gen"])
cli("flag/abbrev --run", "simulate", "gaussian", "--run", "5", words=["--run"])
cli("flag/abbrev --out=", *SIM, "--ou", "x.csv", words=["--ou"])
cli("flag/runs=0", *SIM[:-1], "0", words=["--runs"])
cli("flag/runs=-5", "simulate", "gaussian", "--runs", "-5", words=["--runs"])
cli("flag/runs=2.5", "simulate", "gaussian", "--runs", "2.5", words=["--runs"])
cli("flag/seed=-1", *SIM, "--seed", "-1", words=["--seed"])
cli("flag/seed huge", *SIM, "--seed", str(2**80), expect="ok", check=csv_rows(15))
cli("flag/generations=0", "simulate", "gaussian", "--generations", "0", words=["--generations"])
cli("flag/generations=1", "simulate", "gaussian", "--generations", "1", "--runs", "2",
    expect="ok", check=csv_rows(2))
cli("flag/unknown flag", *SIM, "--sample-size", "10", words=["--sample-size"])
cli("flag/missing value", *SIM, "--M", words=["--M"])
cli("flag/family missing", "simulate", words=["family"])
cli("flag/family typo", "simulate", "gausian", words=["gausian", "gaussian"])
cli("flag/family case", "simulate", "Gaussian", words=["Gaussian"])
cli("flag/no command", words=["command"])
cli("flag/unknown command", "simulte", words=["simulte"])
cli("flag/help", "simulate", "--help", expect="ok", check=lambda r, f: "--mixing" in r.stdout)

# --- mixing ---------------------------------------------------------------------------
cli("mix/Replace case", *SIM, "--mixing", "Replace", words=["--mixing", "replace"])
cli("mix/old name mixture", *SIM, "--mixing", "mixture", words=["--mixing", "weighted"])
cli("mix/weighted ok", *SIM, "--mixing", "weighted", "--alpha", "0.5", "--beta", "0.5",
    expect="ok", check=csv_rows(15))
cli("mix/weighted sum", *SIM, "--mixing", "weighted", "--alpha", "0.5", words=["sum to 1"])
cli("mix/fraction on replace", *SIM, "--fraction", "0.3", words=["--fraction"])
cli("mix/fraction 1.5", *SIM, "--mixing", "keep-original", "--fraction", "1.5",
    words=["--fraction"])
cli("mix/fraction nan", *SIM, "--mixing", "keep-original", "--fraction", "nan",
    words=["--fraction"])
cli("mix/fraction 0", *SIM, "--mixing", "keep-original", "--fraction", "0", expect="ok",
    check=csv_rows(15))
cli("mix/fraction percent", *SIM, "--mixing", "keep-original", "--fraction", "10%",
    words=["--fraction"])
cli("mix/alpha on pool", *SIM, "--mixing", "pool", "--alpha", "1", words=["--alpha"])
cli("mix/pool ok", *SIM, "--mixing", "pool", expect="ok", check=csv_rows(15))
cli("mix/accumulate ok", *SIM, "--mixing", "accumulate", expect="ok", check=csv_rows(15))
cli("mix/exact pool", *SIM, "--mixing", "pool", "--exact", words=["--exact"])
cli("mix/exact gmm", "simulate", "gmm", "--generations", "3", "--exact", words=["--exact"])
cli("mix/no-exact ok", *SIM, "--no-exact", expect="ok", check=csv_rows(15))
cli("mix/weighted beta too big", *SIM, "--mixing", "weighted", "--alpha", "0", "--beta", "1",
    "--M", "10", expect="ok", check=csv_rows(15))

# --- family options -------------------------------------------------------------------
cli("opt/estimator MLE", *SIM, "--option", "estimator=MLE", words=["estimator", "mle"])
cli("opt/estimator mle", *SIM, "--option", "estimator=mle", expect="ok", check=csv_rows(15))
cli("opt/std=-1", *SIM, "--option", "std=-1", words=["std"])
cli("opt/std=0", *SIM, "--option", "std=0", expect="ok", check=csv_rows(15))
cli("opt/mean=1e200", *SIM, "--option", "mean=1e200", words=["mean"])
cli("opt/std=1e99", *SIM, "--option", "std=1e99", expect="ok", check=csv_rows(15))
cli("opt/std=1e100 mean=1e100", *SIM, "--option", "std=1e100", "--option", "mean=1e100",
    expect="ok", check=csv_rows(15))
cli("opt/unknown", *SIM, "--option", "foo=1", words=["foo"])
cli("opt/no equals", *SIM, "--option", "estimator", words=["--option", "estimator"])
cli("opt/twice", *SIM, "--option", "std=1", "--option", "std=2", words=["std"])
cli("opt/std string", *SIM, "--option", "std=wide", words=["std"])
cli("opt/std list", *SIM, "--option", "std=[1,2]", words=["std"])
cli("opt/std bool", *SIM, "--option", "std=true", words=["std"])
cli("opt/mean nan", *SIM, "--option", "mean=nan", words=["mean"])
cli("opt/mean .inf", *SIM, "--option", "mean=.inf", words=["mean"])
cli("opt/discrete states=0", "simulate", "discrete", "--option", "states=0", words=["states"])
cli("opt/discrete states=1", "simulate", "discrete", "--option", "states=1", "--generations",
    "3", expect="ok", check=csv_rows(3))
cli("opt/discrete states huge vs limit", "simulate", "discrete", "--option",
    "states=20000000", "--M", "1000", env={"COLLAPSE_MEMORY_LIMIT": "200MB"},
    words=["states"])
cli("opt/discrete mixture", "simulate", "discrete", "--option", "distribution=mixture",
    "--option", "states=50", "--generations", "4", expect="ok", check=csv_rows(4))
cli("opt/discrete distribution typo", "simulate", "discrete", "--option",
    "distribution=gaussian", words=["distribution"])
cli("opt/discrete tail 2", "simulate", "discrete", "--option", "tail_threshold=2",
    words=["tail_threshold"])
cli("opt/discrete tail ok", "simulate", "discrete", "--option", "tail_threshold=0.05",
    "--generations", "3", expect="ok", check=csv_rows(3, "tail_mass"))
cli("opt/discrete states 2.5", "simulate", "discrete", "--option", "states=2.5",
    words=["states"])
cli("opt/gmm separation with blob", "simulate", "gmm", "--generations", "2", "--option",
    "data=blob", "--option", "separation=3", words=["separation"])
cli("opt/gmm blob", "simulate", "gmm", "--generations", "2", "--option", "data=blob",
    expect="ok", check=csv_rows(2))
cli("opt/gmm separation", "simulate", "gmm", "--generations", "2", "--option",
    "separation=3", expect="ok", check=csv_rows(2))
cli("opt/gmm components=0", "simulate", "gmm", "--option", "components=0",
    words=["components"])
cli("opt/gmm M=1", "simulate", "gmm", "--M", "1", words=["--M"])
cli("opt/gmm M < components", "simulate", "gmm", "--M", "3", "--option", "components=5",
    words=["--M"])
cli("opt/gmm data typo", "simulate", "gmm", "--option", "data=three", words=["data"])
cli("opt/gmm separation negative", "simulate", "gmm", "--option", "separation=-2",
    words=["separation"])
cli("opt/noisy pull no-exact", "simulate", "noisy", "--generations", "3", "--option",
    "noise=pull", "--no-exact", words=["pull", "exact"])
cli("opt/noisy pull", "simulate", "noisy", "--generations", "3", "--option", "noise=pull",
    expect="ok", check=csv_rows(3))
cli("opt/noisy pull pool", "simulate", "noisy", "--generations", "3", "--option",
    "noise=pull", "--mixing", "pool", words=["pull"])
cli("opt/noisy dim=0", "simulate", "noisy", "--option", "dim=0", words=["dim"])
cli("opt/noisy power=9", "simulate", "noisy", "--option", "power=9", words=["power"])
cli("opt/noisy bounded pool", "simulate", "noisy", "--generations", "3", "--option",
    "noise=bounded", "--mixing", "pool", expect="ok", check=csv_rows(3))
cli("opt/noisy noise typo", "simulate", "noisy", "--option", "noise=residuals",
    words=["noise"])
cli("opt/noisy scale=-1", "simulate", "noisy", "--option", "scale=-1", words=["scale"])
cli("opt/noisy dim=1", "simulate", "noisy", "--generations", "3", "--option", "dim=1",
    expect="ok", check=csv_rows(3))
cli("opt/vae runs 2", "simulate", "vae", "--runs", "2", words=["--runs"])
cli("opt/vae M 70000", "simulate", "vae", "--M", "70000", words=["--M"])
cli("opt/vae dataset", "simulate", "vae", "--option", "dataset=cifar", words=["dataset"])
cli("opt/vae lr 1e30", "simulate", "vae", "--M", "64", "--generations", "2", "--option",
    "epochs=1", "--option", "learning_rate=1e30", words=["learning_rate"])
cli("opt/vae weight decay 1e30", "simulate", "vae", "--M", "64", "--generations", "2",
    "--option", "epochs=1", "--option", "weight_decay=1e30", words=["weight_decay"])
cli("opt/vae cuda", "simulate", "vae", "--M", "64", "--generations", "2", "--option",
    "device=cuda", "--checkpoint", "ck.pkl", words=["cuda"])
cli("opt/vae synthetic typo", "simulate", "vae", "--option", "synthetic=streams",
    words=["synthetic"])
cli("opt/vae fit_cache file", "simulate", "vae", "--M", "64", "--generations", "2",
    "--option", "epochs=1", "--option", "fit_cache=/etc/hostname", words=["fit_cache"])
cli("opt/vae fit_cache proc", "simulate", "vae", "--M", "64", "--generations", "2",
    "--option", "epochs=1", "--option", "fit_cache=/proc/fits", words=["fit_cache"])
cli("opt/vae latent 0", "simulate", "vae", "--option", "latent_dim=0", words=["latent_dim"])
cli("opt/vae ok", "simulate", "vae", "--M", "64", "--generations", "2", "--option", "epochs=1",
    expect="ok", check=csv_rows(2))
# (a base model built before the refusal is a content-keyed cache the next run reuses)
cli("opt/lm M 100000", "simulate", "lm", "--M", "100000", words=["--M"], allowed=(".cache/",))
cli("opt/lm rep penalty 0.5", "simulate", "lm", "--option", "repetition_penalty=0.5",
    words=["repetition_penalty"])
cli("opt/lm profile huge", "simulate", "lm", "--option", "profile=huge", words=["profile"])
cli("opt/lm runs 2", "simulate", "lm", "--runs", "2", words=["--runs"])
cli("opt/lm lr 1e30", "simulate", "lm", "--option", "lr=1e30", words=["lr"])
cli("opt/lm unknown", "simulate", "lm", "--option", "temperature=0.7", words=["temperature"])
cli("opt/lm generations 1000", "simulate", "lm", "--generations", "1000",
    words=["--generations"])

# --- output files ---------------------------------------------------------------------
cli("out/dev null", *SIM, "--out", "/dev/null", expect="ok",
    check=file_kind("/dev/null", "chr"))
cli("out/dev stdout", *SIM, "--out", "/dev/stdout", expect="ok",
    check=both(file_kind("/dev/stdout", "lnk"), csv_rows(15)))
cli("out/dash", *SIM, "--out", "-", expect="ok", check=both(
    csv_rows(15), lambda r, f: not (f / "-").exists()))
cli("out/dev full", *SIM, "--out", "/dev/full", words=["/dev/full"])
cli("out/proc", *SIM, "--out", "/proc/self/x.csv", words=["/proc/self/x.csv"])
cli("out/missing folder", *SIM, "--out", "nowhere/x.csv", words=["nowhere"])
cli("out/is folder", *SIM, "--out", ".", words=["--out"])
cli("out/long name 250", *SIM, "--out", "a" * 246 + ".csv", expect="ok",
    check=lambda r, f: (f / ("a" * 246 + ".csv")).is_file())
cli("out/long name 300", *SIM, "--out", "a" * 296 + ".csv", words=["--out"])
cli("out/same as checkpoint", *SIM, "--out", "a.csv", "--checkpoint", "a.csv",
    words=["--checkpoint"])
cli("out/symlink kept", *SIM, "--out", "link.csv", expect="ok",
    shell="ln -s target.csv link.csv && {python} -m collapse simulate gaussian --generations 5 "
          "--runs 3 --out link.csv && test -L link.csv && test -s target.csv",
    check=file_kind("{dir}/link.csv", "lnk"))
cli("out/fifo", *SIM, expect="ok", shell="mkfifo pipe.csv && (cat pipe.csv > got.csv &) && "
    "{python} -m collapse simulate gaussian --generations 5 --runs 3 --out pipe.csv && "
    "sleep 0.5 && test -p pipe.csv && test $(wc -l < got.csv) -eq 16",
    check=file_kind("{dir}/pipe.csv", "fifo"))
cli("out/read-only file", *SIM, shell="touch ro.csv && chmod 444 ro.csv && "
    "{python} -m collapse simulate gaussian --generations 5 --runs 3 --out ro.csv",
    words=["ro.csv"], allowed=("ro.csv",))
cli("out/closed pipe", *SIM, expect="ok", shell="set -o pipefail; {python} -m collapse "
    "simulate gaussian --generations 400 --runs 300 | head -2 > /dev/null; echo rc=$?",
    check=lambda r, f: not r.stderr.strip())
cli("out/existing replaced", *SIM, expect="ok", shell="echo old > out.csv && {python} -m "
    "collapse simulate gaussian --generations 5 --runs 3 --out out.csv",
    check=csv_rows(15))
cli("ckpt/dev null", *SIM, "--checkpoint", "/dev/null", words=["--checkpoint"])
cli("ckpt/dev full", *SIM, "--checkpoint", "/dev/full", words=["--checkpoint"])
cli("ckpt/folder", *SIM, "--checkpoint", ".", words=["--checkpoint"])
cli("ckpt/corrupt", *SIM, shell="echo junk > ck.pkl && {python} -m collapse simulate gaussian "
    "--generations 5 --runs 3 --checkpoint ck.pkl", words=["ck.pkl"], allowed=("ck.pkl",))
cli("ckpt/other run", *SIM, shell="{python} -m collapse simulate gaussian --generations 5 "
    "--runs 3 --checkpoint ck.pkl > /dev/null && {python} -m collapse simulate gaussian "
    "--generations 5 --runs 4 --checkpoint ck.pkl", words=["ck.pkl", "differ"],
    allowed=("ck.pkl",))
cli("ckpt/resume same", *SIM, expect="ok", shell="{python} -m collapse simulate gaussian "
    "--generations 5 --runs 3 --checkpoint ck.pkl > a.csv && {python} -m collapse simulate "
    "gaussian --generations 5 --runs 3 --checkpoint ck.pkl > b.csv && cmp a.csv b.csv && "
    "cat b.csv", check=csv_rows(15))
cli("ckpt/new folder", *SIM, "--checkpoint", "deep/er/ck.pkl", expect="ok",
    check=lambda r, f: (f / "deep/er/ck.pkl").is_file())
cli("ckpt/proc", *SIM, "--checkpoint", "/proc/ck.pkl", words=["/proc/ck.pkl"])
cli("ckpt/refused run writes none", "simulate", "gaussian", "--checkpoint", "ck.pkl",
    "--mixing", "weighted", "--alpha", "0.2", "--beta", "0.8", "--M", "10",
    expect="ok", check=csv_rows(50))
cli("ckpt/long name", *SIM, "--checkpoint", "c" * 250, expect="ok",
    check=lambda r, f: (f / ("c" * 250)).is_file())
cli("student/out chapters", "student", "--out", "chapters", words=["chapters"])
cli("student/out book", "student", "--out", "book", words=["book"])
cli("student/out root", "student", "--out", ".", words=["--out"])
cli("student/out file", "student", "--out", "/etc/hostname", words=["/etc/hostname"])
cli("student/out proc", "student", "--out", "/proc/student", words=["/proc/student"])
cli("student/out lib", "student", "--out", str(ROOT / "lib" / "collapse" / "student"),
    words=["--out"])
cli("student/out fresh", "student", "--out", "mine", expect="ok",
    check=lambda r, f: (f / "mine" / "gaussian.ipynb").is_file())

# --- environment ----------------------------------------------------------------------
for value, ok in (("1.2.3GB", False), ("1e400", False), ("0", False), ("-5GB", False),
                  ("abc", False), ("inf", False), ("nan", False), ("8gb", True),
                  (" 2 GiB ", True), ("1e10", True), ("10", False), ("4 GB RAM", False)):
    if ok:
        cli(f"env/memory limit {value!r}", *SIM, env={"COLLAPSE_MEMORY_LIMIT": value},
            expect="ok", check=csv_rows(15))
    else:
        cli(f"env/memory limit {value!r}", *SIM, env={"COLLAPSE_MEMORY_LIMIT": value},
            words=["COLLAPSE_MEMORY_LIMIT"] if value != "10" else ["memory"])
cli("env/data dir missing", "simulate", "lm", env={"COLLAPSE_DATA_DIR": "/nonexistent"},
    words=["COLLAPSE_DATA_DIR"])
cli("env/data dir file", "simulate", "vae", "--option", "dataset=mnist",
    env={"COLLAPSE_DATA_DIR": "/etc/hostname"}, words=["COLLAPSE_DATA_DIR"])
cli("env/data dir empty", "simulate", "vae", "--option", "dataset=mnist",
    env={"COLLAPSE_DATA_DIR": "/tmp"}, words=["COLLAPSE_DATA_DIR"])
cli("env/data dir unused by digits", "simulate", "vae", "--M", "64", "--generations", "2",
    "--option", "epochs=1", env={"COLLAPSE_DATA_DIR": "/etc/hostname"}, expect="ok",
    check=csv_rows(2))
cli("env/chapter memory", "chapter", "gaussian", "--profile", "smoke",
    env={"COLLAPSE_MEMORY_LIMIT": "1MB"}, words=["memory"])
cli("env/chapter memory 1e400", "chapter", "gaussian", "--profile", "smoke",
    env={"COLLAPSE_MEMORY_LIMIT": "1e400"}, words=["COLLAPSE_MEMORY_LIMIT"])
py("env/backend typo", """
tasks = [sweep.task(sweep.simulation, family=G, initial_data=d0, generations=2,
                    sample_size=20, seed=1)]
sweep.run(tasks, checkpoint_dir=None)
""", env={"COLLAPSE_BACKEND": "dask"}, words=["COLLAPSE_BACKEND"])

# --- chapters and --set ---------------------------------------------------------------
cli("set/profile via set", "chapter", "gaussian", "--set", "profile=paper", words=["--profile"])
cli("set/runs abc", "chapter", "gaussian", "--set", "runs=abc", words=["runs"])
cli("set/runs -1", "chapter", "gaussian", "--set", "runs=-1", words=["runs"])
cli("set/runs 1.5", "chapter", "gaussian", "--set", "runs=1.5", words=["runs"])
cli("set/runs 1e3", "chapter", "gaussian", "--set", "runs=1e3", words=["runs"])
cli("set/unknown name", "chapter", "gaussian", "--set", "nruns=10", words=["nruns"])
cli("set/no equals", "chapter", "gaussian", "--set", "runs", words=["runs"])
cli("set/bad yaml", "chapter", "gaussian", "--set", "sizes=[100,", words=["sizes"])
cli("set/twice", "chapter", "gaussian", "--set", "runs=1", "--set", "runs=2", words=["runs"])
cli("set/seed -1", "chapter", "gaussian", "--set", "seed=-1", words=["seed"])
cli("set/seed abc", "chapter", "gaussian", "--set", "seed=abc", words=["seed"])
cli("set/runs true", "chapter", "gaussian", "--set", "runs=true", words=["runs"])
cli("set/sizes scalar", "chapter", "gaussian", "--set", "sizes=100", words=["sizes"])
cli("set/sizes empty", "chapter", "gaussian", "--set", "sizes=[]", words=["sizes"])
cli("set/space in value", "chapter", "gaussian", "--set", "sizes=[100, 1000]",
    "--profile", "huge", words=["profile"])
cli("set/runs 10**9", "chapter", "gaussian", "--set", "runs=10**9", words=["runs"])
cli("chapter/unknown", "chapter", "gausian", words=["gausian", "gaussian"])
cli("chapter/profile huge", "chapter", "gaussian", "--profile", "huge", words=["profile"])
cli("chapter/profile Paper", "chapter", "gaussian", "--profile", "Paper", words=["profile"])
cli("chapter/index", "chapter", "index", words=["index"])
cli("chapter/execution page", "chapter", "execution", words=["execution"])
cli("chapter/md suffix", "chapter", "gaussian.md", words=["gaussian.md"])
cli("chapter/vae dataset", "chapter", "vae", "--set", "dataset=cifar", words=["dataset"])
cli("chapter/vae n_train string", "chapter", "vae", "--set", "n_train=lots", words=["n_train"])
cli("chapter/lm train_blocks", "chapter", "language_models", "--set", "train_blocks=100000",
    words=["train_blocks"], allowed=(".cache/",))
cli("chapter/gmm n_jobs 0", "chapter", "gmm", "--set", "n_jobs=0", words=["n_jobs"])
cli("book/unknown chapter", "book", "--chapters", "gausian", words=["gausian"])
cli("book/jobs 0", "book", "--jobs", "0", words=["jobs"])
cli("book/jobs -1", "book", "--jobs", "-1", words=["jobs"])
cli("book/jobs abc", "book", "--jobs", "abc", words=["--jobs"])
cli("book/profile via set", "book", "--set", "runs=3", words=["--set"])


def notebook_says(name, text):
    def check(result, folder):
        path = folder / "book" / f"{name}.ipynb"
        return path.is_file() and text in path.read_text()
    return check


cli("run/smoke runs=1000 applied", "chapter", "what_is_collapse", "--profile", "smoke",
    "--set", "runs=1000", expect="ok",
    check=notebook_says("what_is_collapse", "'runs': 1000"))
def glued(name, key, value):
    """The executed notebook glued ``key`` with ``value`` (what the chapter computed with,
    not only what was injected)."""
    def check(result, folder):
        import nbformat

        path = folder / "book" / f"{name}.ipynb"
        outputs = [o for c in nbformat.read(path, as_version=4).cells
                   for o in c.get("outputs", [])] if path.is_file() else []
        return any(o.get("metadata", {}).get("scrapbook", {}).get("name") == key and
                   o.get("data", {}).get("application/papermill.record/text/plain") == value
                   for o in outputs)
    return check


# the markov chapter shows no settings dict: its glued number of generations says it
cli("run/smoke M=10 markov", "chapter", "markov", "--profile", "smoke", "--set",
    "generations=200", expect="ok", check=glued("markov", "markov-generations", "200"))


# --- library --------------------------------------------------------------------------
py("lib/rng None", "loop.simulate(G, d0, 3, 20, rng=None)", words=["rng"])
py("lib/rng int", "loop.simulate(G, d0, 3, 20, rng=0)", words=["rng"])
py("lib/rng RandomState", "loop.simulate(G, d0, 3, 20, rng=np.random.RandomState(0))",
   words=["rng"])
py("lib/sample rng None", "G.sample(gaussian.params(runs=2), 10, None)", words=["rng"])
py("lib/sample rng int", "G.sample(gaussian.params(runs=2), 10, 7)", words=["rng"])
py("lib/initial_data rng int", "gaussian.initial_data(4, 20, 0)", words=["rng"])
py("lib/discrete initial rng None", "discrete.initial_data(2, 10, None, discrete.uniform(3))",
   words=["rng"])
py("lib/gmm initial rng int", "gmm.initial_data(2, 10, 3)", words=["rng"])
py("lib/noisy sample rng int", """
f = noisy.NoisyGaussian()
f.sample_statistics(gaussian.params(np.zeros(2), cov=np.eye(2), runs=2), 10, 5)
""", words=["rng"])
py("lib/chains rng int", "sweep.chains(G, d0, 3, 20, rng=0)", words=["rng"])
py("lib/mixing class", "loop.simulate(G, d0, 3, 20, rng, mixing=loop.Replace)",
   words=["mixing", "Replace()"])
py("lib/mixing string", "loop.simulate(G, d0, 3, 20, rng, mixing='replace')",
   words=["mixing"])
py("lib/mixing class KeepOriginal", "loop.simulate(G, d0, 3, 20, rng, mixing=loop.KeepOriginal)",
   words=["mixing", "KeepOriginal"])
py("lib/keep int", "loop.simulate(G, d0, 3, 20, rng, keep=2)", words=["keep"])
py("lib/keep too large", "loop.simulate(G, d0, 3, 20, rng, keep=[5])", words=["keep"])
py("lib/keep range ok", """
h = loop.simulate(G, d0, 3, 20, rng, keep=range(3))
assert sorted(h.kept) == [0, 1, 2]
""", expect="ok")
py("lib/keep string", "loop.simulate(G, d0, 3, 20, rng, keep='all')", words=["keep"])
py("lib/generations float", "loop.simulate(G, d0, 2.5, 20, rng)", words=["generations"])
py("lib/generations str", "loop.simulate(G, d0, '3', 20, rng)", words=["generations"])
py("lib/sample_size 0", "loop.simulate(G, d0, 3, 0, rng)", words=["sample size"])
py("lib/sample_size float", "loop.simulate(G, d0, 3, 20.0, rng)", words=["sample size"])
py("lib/sample_size numpy int ok", """
h = loop.simulate(G, d0, 3, np.int64(20), rng)
assert len(h.table) == 12
""", expect="ok")
py("lib/initial 1-D", "loop.simulate(G, np.zeros(20), 3, 20, rng)", words=["initial"])
py("lib/initial NaN", "loop.simulate(G, np.full((2, 5), np.nan), 3, 5, rng)",
   words=["initial"])
py("lib/initial 1e200", "loop.simulate(G, d0 * 1e200, 3, 20, rng)", words=["initial"])
py("lib/initial 1e149 ok", """
h = loop.simulate(G, d0 * 1e149, 3, 20, rng)
assert np.isfinite(h.table.to_numpy(float)).all()
""", expect="ok")
py("lib/initial list ok", """
h = loop.simulate(G, d0.tolist(), 3, 20, rng)
assert len(h.table) == 12
""", expect="ok")
py("lib/initial ints ok", """
h = loop.simulate(G, np.arange(40).reshape(2, 20), 3, 20, rng)
assert np.isfinite(h.table.to_numpy(float)).all()
""", expect="ok")
py("lib/fit NaN", "G.fit(np.array([[1.0, np.nan, 2.0]]))", words=["data"])
py("lib/fit inf", "G.fit(np.array([[1.0, np.inf, 2.0]]))", words=["data"])
py("lib/fit 1e200", """
p = G.fit(np.array([[1e200, -1e200, 3e200]]))
assert np.isfinite(p.cov).all()
""", words=["data"])
py("lib/fit one sample", "G.fit(np.zeros((2, 1)))", words=["samples"])
py("lib/fit 1-D", "G.fit(np.zeros(5))", words=["data"])
py("lib/sample n=-1", "G.sample(gaussian.params(runs=2), -1, rng)", words=["n"])
py("lib/params std -1", "gaussian.params(std=-1)", words=["std"])
py("lib/params cov not PSD", "gaussian.params(cov=[[1, 2], [2, 1]])", words=["cov"])
py("lib/params cov NaN", "gaussian.params(cov=[[np.nan, 0], [0, 1]])", words=["cov"])
py("lib/params cov 1-D", "gaussian.params(cov=[1, 2])", words=["cov"])
py("lib/params runs 0", "gaussian.params(runs=0)", words=["runs"])
py("lib/discrete params sum 1.4", "discrete.DiscreteParams(np.array([[0.7, 0.7]]))",
   words=["probs"])
py("lib/discrete params negative", "discrete.DiscreteParams(np.array([[1.5, -0.5]]))",
   words=["probs"])
py("lib/discrete params NaN", "discrete.DiscreteParams(np.array([[np.nan, 1.0]]))",
   words=["probs"])
py("lib/discrete params 1-D", "discrete.DiscreteParams(np.array([0.5, 0.5]))",
   words=["probs"])
py("lib/discrete params ok", """
p = discrete.DiscreteParams(np.array([[0.25, 0.75]]))
assert p.runs == 1
""", expect="ok")
py("lib/discrete reference sum", "discrete.Discrete([0.5, 0.6])", words=["reference"])
py("lib/discrete fit out of range", "discrete.Discrete([0.5, 0.5]).fit(np.array([[0, 2]]))",
   words=["states"])
py("lib/discrete fit floats", "discrete.Discrete([0.5, 0.5]).fit(np.array([[0.0, 1.0]]))",
   words=["data"])
py("lib/discrete sample sum 1.4", """
f = discrete.Discrete([0.5, 0.5])
f.sample(discrete.DiscreteParams(np.array([[0.7, 0.7]])), 10, rng)
""", words=["probs"])
py("lib/uniform 0", "discrete.uniform(0)", words=["states"])
py("lib/expected_support", "discrete.expected_support([0.5, 0.6], 10)", words=["probs"])
py("lib/weighted half", "mixing.Weighted(0.5)", words=["sum to 1"])
py("lib/weighted strings", "mixing.Weighted('0.5', '0.5')", words=["alpha"])
py("lib/keep-original 2", "mixing.KeepOriginal(2)", words=["fraction"])
py("lib/keep-original str", "mixing.KeepOriginal('0.1')", words=["fraction"])
py("lib/mixing_rule pool weights", "mixing.mixing_rule('pool', fraction=0.1)",
   words=["fraction"])
py("lib/pool exact", "loop.simulate(G, d0, 3, 20, rng, mixing.Pool(), exact=True)",
   words=["exact"])
py("lib/metrics not callable", "loop.simulate(G, d0, 3, 20, rng, metrics={'m': 5})",
   words=["metrics", "m"])
py("lib/metrics list", "loop.simulate(G, d0, 3, 20, rng, metrics=[lambda p, d: 1])",
   words=["metrics"])
py("lib/metrics wrong arity", "loop.simulate(G, d0, 3, 20, rng, metrics={'m': lambda p: 1})",
   words=["m"])
py("lib/metric closure stale", """
import tempfile, os
path = os.path.join(tempfile.mkdtemp(), 'ck.pkl')
def run(scale):
    metrics = {'m': lambda p, d: p.mean * scale}
    return loop.simulate(G, d0, 3, 20, np.random.default_rng(0), metrics=metrics,
                         checkpoint=path).table['m'].to_numpy()
a = run(1)
b = run(1000)
assert np.allclose(b, 1000 * a)
""", words=["m"])
py("lib/metric closure unhashable", """
import tempfile, os, threading
path = os.path.join(tempfile.mkdtemp(), 'ck.pkl')
lock = threading.Lock()
def m(p, d):
    with lock:
        return p.mean
loop.simulate(G, d0, 3, 20, np.random.default_rng(0), metrics={'m': m}, checkpoint=path)
h = loop.simulate(G, d0, 3, 20, np.random.default_rng(0), metrics={'m': m}, checkpoint=path)
""", words=["m"])
py("lib/checkpoint folder", """
import tempfile
loop.simulate(G, d0, 3, 20, rng, checkpoint=tempfile.mkdtemp())
""", words=["checkpoint"])
py("lib/checkpoint_seconds str", "loop.simulate(G, d0, 3, 20, rng, checkpoint_seconds='10')",
   words=["checkpoint_seconds"])
py("lib/checkpoint dev null", "loop.simulate(G, d0, 3, 20, rng, checkpoint='/dev/null')",
   words=["checkpoint"])
py("lib/family class", "loop.simulate(gaussian.Gaussian, d0, 3, 20, rng)", words=["family"])
py("lib/family None", "loop.simulate(None, d0, 3, 20, rng)", words=["family"])
py("lib/estimator typo", "gaussian.Gaussian('MLE')", words=["estimator"])
py("lib/noisy pull not exact", """
f = noisy.NoisyGaussian(noise='pull')
loop.simulate(f, gaussian.initial_data(2, 10, rng, ).reshape(2, 5, 2), 3, 5, rng)
""", words=["pull"])
py("lib/noisy stats not exact", """
f = noisy.NoisyGaussian()
d = noisy.initial_data(2, 10, rng, np.eye(2))
loop.simulate(f, d, 3, 10, rng)
""", words=["exact"])
py("lib/noisy mle", "noisy.NoisyGaussian(estimator='mle')", words=["estimator"])
py("lib/gmm components 0", "gmm.GMM(components=0)", words=["components"])
py("lib/gmm setting typo", "gmm.initial_data(2, 10, rng, 'blobs')", words=["blobs"])
py("lib/sweep jobs 0", """
t = [sweep.task(sweep.simulation, family=G, initial_data=d0, generations=2, sample_size=20,
                seed=1)]
sweep.run(t, jobs=0, checkpoint_dir=None)
""", words=["jobs"])
py("lib/sweep backend", """
t = [sweep.task(sweep.simulation, family=G, initial_data=d0, generations=2, sample_size=20,
                seed=1)]
sweep.run(t, backend='threads', checkpoint_dir=None)
""", words=["backend"])
py("lib/sweep task typo", """
sweep.task(sweep.simulation, famly=G, initial_data=d0, generations=2, sample_size=20, seed=1)
""", words=["famly"])
py("lib/sweep not a task", "sweep.run([lambda: 1], checkpoint_dir=None)", words=["tasks[0]"])
py("lib/sweep checkpoint_dir file", """
t = [sweep.task(sweep.simulation, family=G, initial_data=d0, generations=2, sample_size=20,
                seed=1)]
sweep.run(t, checkpoint_dir='/etc/hostname', backend='serial')
""", words=["checkpoint_dir"])
py("lib/sweep serial ok", """
t = [sweep.task(sweep.simulation, family=G, initial_data=d0, generations=2, sample_size=20,
                seed=s) for s in range(2)]
h = sweep.run(t, backend='serial', checkpoint_dir=None)
assert len(h) == 2 and not h[0].table.equals(h[1].table)
""", expect="ok")
py("lib/markov chain bad", "markov.AbsorbingChain(0, 3)", words=["M"])
py("lib/theory bad", "theory.gaussian_variance_after(-1, 10)" if False else
   "validate.real('x', float('nan'))", words=["x"])
py("lib/checkpoint read json", """
import tempfile, os
p = os.path.join(tempfile.mkdtemp(), 'c.json'); open(p, 'w').write('{}')
checkpoint.read(p)
""", words=["c.json"])
py("lib/settings resolve str runs", """
from collapse.book import settings
settings.resolve('gaussian', 'smoke', runs='100')
""", words=["runs"])
py("lib/settings resolve profile kw", """
from collapse.book import settings
settings.resolve('gaussian', 'smoke', profile='paper')
""", words=["profile"])
py("lib/resolve_cell equal to quick", """
from collapse.book import settings
c = settings.resolve_cell('what_is_collapse', 'smoke', runs=1000, parameters_set=['runs'])
assert c.runs == 1000
""", expect="ok")
py("lib/student into chapters", """
from collapse.book import student, runner
student.write_student_versions(runner.project_root() / 'chapters')
""", words=["chapters"])
py("lib/vae lr 1e30", """
from collapse import vae
vae.VAE(learning_rate=1e30, epochs=1)
""", words=["learning_rate"])
py("lib/vae fit cache file", """
from collapse import vae
f = vae.VAE(epochs=1, fit_cache='/etc/hostname')
f.fit(np.zeros((1, 8, 8, 8), np.float32))
""", words=["fit_cache"])
py("lib/lm training lr", """
from collapse.lm.train import Training
Training(lr=1e30)
""", words=["lr"])
py("lib/memory parse", """
from collapse.book import memory
memory.parse_bytes('COLLAPSE_MEMORY_LIMIT', '1.2.3GB')
""", words=["COLLAPSE_MEMORY_LIMIT"])
py("lib/hashing cache key file content", """
import tempfile, os
from collapse import hashing
d = tempfile.mkdtemp(); p = os.path.join(d, 'f.txt'); open(p, 'w').write('a')
k1 = hashing.content_digest(p); open(p, 'w').write('b'); k2 = hashing.content_digest(p)
assert k1 != k2
""", expect="ok")


# --- signals --------------------------------------------------------------------------


def signal_run(signals, generations=20000, runs=100, mixing="replace", checkpoint=True,
               gap=0.05, command=None):
    """Start a long simulate, send ``signals`` (once it has saved a first checkpoint, i.e.
    is computing; ``gap`` seconds apart), then check: exit code 128+first signal, one
    line on stderr, no traceback, and a resume from the checkpoint gives the CSV of an
    uninterrupted run."""
    def run(folder: Path) -> Result:
        args = command or ["simulate", "gaussian", "--no-exact", "--M", "100", "--generations",
                           str(generations), "--runs", str(runs), "--mixing", mixing]
        ck = ["--checkpoint", "ck.pkl"] if checkpoint else []
        process = subprocess.Popen([PYTHON, "-m", "collapse", *args, *ck, "--out", "a.csv"],
                                   cwd=folder, env=environment(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.time() + (120 if checkpoint else 10)
        while time.time() < deadline and not (checkpoint and (folder / "ck.pkl").exists()):
            time.sleep(0.1)
        time.sleep(0.5)
        for signum in signals:
            process.send_signal(signum)
            time.sleep(gap)
        out, err = process.communicate(timeout=600)
        extra = {"first": signals[0]}
        if checkpoint and (folder / "ck.pkl").exists():
            resumed = subprocess.run([PYTHON, "-m", "collapse", *args, *ck, "--out", "b.csv"],
                                     cwd=folder, env=environment(), capture_output=True,
                                     text=True)
            fresh = subprocess.run([PYTHON, "-m", "collapse", *args, "--out", "c.csv"],
                                   cwd=folder, env=environment(), capture_output=True,
                                   text=True)
            extra["same"] = resumed.returncode == 0 and fresh.returncode == 0 and \
                (folder / "b.csv").read_bytes() == (folder / "c.csv").read_bytes()
            extra["resumed_stderr"] = resumed.stderr
        return Result(process.returncode, out, err, extra=extra)
    return run


def signal_check(saved=True):
    def check(result: Result, folder: Path) -> bool:
        code = 128 + int(result.extra["first"])
        partials = list(folder.glob(".*partial*"))
        if result.rc != code or partials or (folder / "a.csv").exists():
            return False
        if saved:
            return "saved" in result.stderr and result.extra.get("same", False)
        return True
    return check


for label, signals in (("SIGTERM", [signal.SIGTERM]), ("SIGINT", [signal.SIGINT]),
                       ("SIGTERM then SIGINT", [signal.SIGTERM, signal.SIGINT]),
                       ("double SIGINT", [signal.SIGINT, signal.SIGINT]),
                       ("triple SIGTERM", [signal.SIGTERM] * 3)):
    CASES.append(Case(f"signal/{label}", signal_run(signals), "ok", check=signal_check()))
CASES.append(Case("signal/pool SIGTERM then SIGINT",
                  signal_run([signal.SIGTERM, signal.SIGINT], generations=3000, runs=100,
                             mixing="pool", gap=0.01), "ok", check=signal_check()))
CASES.append(Case("signal/no checkpoint", signal_run([signal.SIGTERM], checkpoint=False),
                  "ok", check=lambda r, f: r.rc == 143 and "nothing" in r.stderr
                  and "Traceback" not in r.stderr))


def sigkill_then_rerun(folder: Path) -> Result:
    args = ["simulate", "gaussian", "--no-exact", "--M", "100", "--generations", "3000",
            "--runs", "300", "--mixing", "pool", "--checkpoint", "ck.pkl"]
    process = subprocess.Popen([PYTHON, "-m", "collapse", *args, "--out", "a.csv"], cwd=folder,
                               env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # kill while a checkpoint is being written: after the first save (10 s) has begun
    deadline = time.time() + 60
    while time.time() < deadline and not list(folder.glob(".*partial*")):
        time.sleep(0.02)
    process.kill()
    process.wait()
    left = [p.name for p in folder.glob(".*partial*")]
    # the same command with 10 generations: it writes the checkpoint the killed run never
    # completed, and so removes the temporary that run left (files.clean_stale)
    again = subprocess.run([PYTHON, "-m", "collapse", *args[:6], "10", *args[7:],
                            "--out", "b.csv"], cwd=folder,
                           env=environment(), capture_output=True, text=True)
    return Result(again.returncode, again.stdout, again.stderr,
                  extra={"left": left, "after": [p.name for p in folder.glob(".*partial*")]})


CASES.append(Case("signal/SIGKILL partial cleaned", sigkill_then_rerun, "ok",
                  check=lambda r, f: r.rc == 0 and not r.extra["after"]))


def chapter_sigterm(folder: Path) -> Result:
    scratch_root(folder)
    process = subprocess.Popen([PYTHON, "-m", "collapse", "chapter", "gaussian", "--profile",
                                "smoke"], cwd=folder, env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(12)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    return Result(process.returncode, out, err,
                  extra={"partials": [p.name for p in (folder / "book").glob(".*partial*")]
                         if (folder / "book").exists() else []})


CASES.append(Case("signal/chapter SIGTERM", chapter_sigterm, "ok",
                  check=lambda r, f: r.rc == 143 and not r.extra["partials"]
                  and len(r.stderr.strip().splitlines()) <= 3))


def book_sigterm(folder: Path) -> Result:
    scratch_root(folder)
    process = subprocess.Popen([PYTHON, "-m", "collapse", "book", "--profile", "smoke",
                                "--jobs", "2", "--no-build", "--chapters", "gaussian",
                                "discrete", "markov"], cwd=folder, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(12)
    process.send_signal(signal.SIGTERM)
    start = time.time()
    out, err = process.communicate(timeout=300)
    notebooks = sorted(p.name for p in (folder / "book").glob("*.ipynb")) \
        if (folder / "book").exists() else []
    return Result(process.returncode, out, err,
                  extra={"seconds": time.time() - start, "notebooks": notebooks})


CASES.append(Case("signal/book --jobs 2 SIGTERM", book_sigterm, "ok",
                  check=lambda r, f: r.rc == 143 and r.extra["seconds"] < 20
                  and "Traceback" not in r.stderr and "kept" in r.stderr
                  and len(r.extra["notebooks"]) < 3))


# ===================================================================== classification


def snapshot(folder: Path) -> dict:
    found = {}
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        found[str(path.relative_to(folder))] = path.stat().st_mtime_ns
    return found


def mentions(text: str, word: str) -> bool:
    """``word`` in ``text`` (case-insensitive); a flag such as ``--m`` only as itself, not
    as the start of ``--mixing``."""
    if word.startswith("--"):
        return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE) \
            is not None
    return word.lower() in text.lower()


def classify(case: Case, result: Result, before: dict, after: dict, folder: Path) -> tuple:
    text = result.stderr
    if "Traceback (most recent call last)" in text or "Exception ignored" in text:
        return "traceback", text.strip().splitlines()[-1] if text.strip() else ""
    if result.exception is not None:
        kind, message = result.exception
        if case.expect == "ok":
            if kind.endswith("AssertionError"):
                return "silent", "wrong result"
            return ("traceback" if not kind.endswith(("ValueError", "TypeError"))
                    else "unclear"), f"{kind}: {message}"
        user_kinds = ("ValueError", "TypeError", "CheckpointError", "DataUnavailable",
                      "DataError", "FileExistsError", "NotADirectoryError")
        if not kind.split(".")[-1].endswith(user_kinds):
            return "traceback", f"{kind}: {message}"
        missing = [w for w in case.words if not mentions(message, w)]
        return ("unclear", f"{kind}: {message} (no {missing})") if missing \
            else ("clear", message)
    written = sorted(set(after) - set(before) - {"out.csv"})
    written = [w for w in written if not any(Path(w).match(a) or w.startswith(a)
                                             for a in case.allowed_files)]
    if case.expect == "error":
        if result.rc == 0:
            return "silent", "accepted"
        if written:
            return "silent", f"refused but wrote {written}"
        lines = [line for line in text.strip().splitlines() if line.strip()]
        missing = [w for w in case.words if not mentions(text, w)]
        if missing or len(lines) > 3:
            return "unclear", f"{text.strip()[:300]} (no {missing})"
        return "clear", lines[-1] if lines else ""
    try:
        good = case.check is None or case.check(result, folder)
    except Exception as error:  # a check that cannot even read the output
        good = False
        text = f"{text}\n(check: {error!r})"
    if good:
        return "correct", ""
    if result.rc not in (0, None) and "error:" in text and "Traceback" not in text:
        return "unclear", f"refused a valid run: {text.strip()[:300]}"
    return "silent", f"rc={result.rc} {text.strip()[:300]}"


DEVICES = {"/dev/null": ("chr", 1, 3), "/dev/full": ("chr", 1, 7),
           "/dev/stdout": ("lnk", "/proc/self/fd/1")}


def devices_destroyed() -> list[str]:
    """The device nodes a case replaced, restored at once (as root) so that nothing else
    on the machine writes into a regular file named /dev/null."""
    broken = []
    for path, spec in DEVICES.items():
        mode = os.lstat(path).st_mode if os.path.lexists(path) else 0
        intact = stat.S_ISCHR(mode) if spec[0] == "chr" else stat.S_ISLNK(mode)
        if not intact:
            broken.append(path)
            if os.geteuid() == 0:
                os.unlink(path) if os.path.lexists(path) else None
                if spec[0] == "chr":
                    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(spec[1], spec[2]))
                    os.chmod(path, 0o666)
                else:
                    os.symlink(spec[1], path)
    return broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the cases whose name starts so")
    parser.add_argument("--verbose", action="store_true", help="print every case's outcome")
    parser.add_argument("--json", type=Path, help="write every outcome to this file")
    parser.add_argument("--skip", default="", help="comma-separated cases counted as silent "
                        "without running them (ones known to destroy a device node)")
    args = parser.parse_args()
    selected = [c for c in CASES if c.name.startswith(args.only)]
    skipped = set(filter(None, args.skip.split(",")))
    counts = dict.fromkeys(OUTCOMES, 0)
    outcomes = []
    scratch = Path(tempfile.mkdtemp(prefix="trust-cases-"))
    try:
        for index, case in enumerate(selected):
            folder = scratch / f"case{index}"
            folder.mkdir()
            before = snapshot(folder)
            start = time.perf_counter()
            if case.name in skipped:
                outcome, note = "silent", "not run (--skip: known to replace a device node)"
            else:
                try:
                    result = case.run(folder)
                except subprocess.TimeoutExpired:  # still running: it accepted the input
                    result = Result(0, "", "", extra={"timed out": True})
                after = snapshot(folder)
                outcome, note = classify(case, result, before, after, folder)
                destroyed = devices_destroyed()
                if destroyed:
                    outcome, note = "silent", f"replaced {destroyed} by regular files (restored)"
            counts[outcome] += 1
            outcomes.append({"case": case.name, "outcome": outcome, "note": note,
                             "seconds": round(time.perf_counter() - start, 1)})
            if args.verbose or outcome not in ("clear", "correct"):
                print(f"{outcome:>9}  {case.name}: {note[:300]}", flush=True)
            if args.json:  # after every case: a stopped run keeps what it measured
                args.json.write_text(json.dumps({"counts": counts, "cases": outcomes},
                                                indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = sum(counts.values())
    print(f"\n{total} cases: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES))


if __name__ == "__main__":
    main()
