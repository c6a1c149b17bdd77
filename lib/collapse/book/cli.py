"""Command line: ``python -m collapse {simulate,chapter,book,student,assignments} …``.

Examples::

    python -m collapse simulate gaussian --M 100 --generations 50 --runs 4000 \\
        --seed 0 --mixing replace --out results.csv
    python -m collapse chapter gaussian --profile smoke --set runs=100 --set sizes=[100,1000]
    python -m collapse book --profile quick

Every user error ends with exit code 2 and one line on stderr naming the flag or
option the user typed, the value and what is allowed, before any compute and with
nothing written; a file that cannot be written (disk full, a closed pipe) ends with one
line too (exit 1; 141 for a reader that closed the pipe, such as ``| head``). Ctrl-C and
SIGTERM end a command with one line saying what was saved or kept (exit 130 / 143).
Options are never abbreviated: ``--m`` is not ``--mixing``.
"""

from __future__ import annotations

import argparse
import difflib
import math
import numbers
import os
import signal
import sys
from pathlib import Path

import numpy as np
import yaml

from collapse import checkpoint, data, files, loop, mixing

from . import memory
from .families import FAMILIES, estimate_bytes, flag_names, in_user_terms

EXACT_FAMILIES = tuple(name for name, entry in FAMILIES.items() if entry.exact)
LARGEST = 1e100  # |number| allowed in --option/--set: its square stays a finite float
MIXING_WEIGHTS = {"fraction": ("keep-original",), "alpha": ("weighted",),
                  "beta": ("weighted",), "gamma": ("weighted",)}


# --------------------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit code 2), not the whole usage text."""

    def error(self, message):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _integer(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number >= {minimum} written with digits (like 1000), "
                f"got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _numbers_as_numbers(value):
    """YAML 1.1 reads ``1e-3`` as a string: turn numeric-looking strings (also inside
    lists) into int/float."""
    if isinstance(value, list):
        return [_numbers_as_numbers(v) for v in value]
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def _check_finite(name: str, value) -> None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, list):
            _check_finite(name, v)
        elif isinstance(v, numbers.Real) and not isinstance(v, bool) and \
                not (math.isfinite(v) and abs(v) <= LARGEST):
            raise ValueError(f"{name} must be a finite number with |value| <= {LARGEST:g}, "
                             f"got {v!r}")


def parse_value(name: str, text: str):
    """A ``NAME=VALUE`` value: YAML, numbers as numbers, finite and not absurdly large."""
    try:
        value = _numbers_as_numbers(yaml.safe_load(text)) if text else ""
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise ValueError(f"{name}: cannot read {text!r} as a value ({problem})") from None
    if value is None:
        raise ValueError(f"{name} needs a value, got {text!r}")
    _check_finite(name, value)
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m collapse", description=__doc__, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("simulate", help="run one generational experiment, write CSV",
                              allow_abbrev=False)
    sim.add_argument("family", help=f"one of {', '.join(FAMILIES)}")
    sim.add_argument("--M", type=_integer(2), default=100, help="samples per generation (>= 2)")
    sim.add_argument("--generations", type=_integer(1), default=50, help="models fitted (>= 1)")
    sim.add_argument("--runs", type=_integer(1), default=1, help="independent runs (>= 1)")
    sim.add_argument("--seed", type=_integer(0), default=0, help="random seed (>= 0)")
    sim.add_argument("--mixing", default="replace", help=f"one of {', '.join(mixing.RULES)}")
    sim.add_argument("--fraction", type=_weight, help="γ for --mixing keep-original (default 0.1)")
    sim.add_argument("--alpha", type=_weight, help="α for --mixing weighted (default 1)")
    sim.add_argument("--beta", type=_weight, help="β for --mixing weighted (default 0)")
    sim.add_argument("--gamma", type=_weight, help="γ for --mixing weighted (default 0)")
    sim.add_argument("--exact", action=argparse.BooleanOptionalAction, default=None,
                     help="draw exact sufficient statistics (default: when the family has them)")
    sim.add_argument("--option", action="append", default=[], type=_assignment,
                     metavar="NAME=VALUE", help="family option, e.g. estimator=mle")
    sim.add_argument("--checkpoint", help="resume file: a re-run continues where it stopped")
    sim.add_argument("--out", help="CSV file (default, or '-': standard output; a device or "
                                   "pipe is written in place)")

    chapter = commands.add_parser("chapter", help="execute one chapter with papermill",
                                  allow_abbrev=False)
    chapter.add_argument("name")
    chapter.add_argument("--profile", default="quick")
    chapter.add_argument("--set", action="append", default=[], type=_assignment,
                         metavar="NAME=VALUE", help="override one parameter (YAML value)")
    chapter.add_argument("--force", action="store_true", help="execute even if cached")

    book = commands.add_parser("book", help="execute every chapter, then build the HTML",
                               allow_abbrev=False)
    book.add_argument("--profile", default="quick")
    book.add_argument("--force", action="store_true", help="execute even if cached")
    book.add_argument("--no-build", action="store_true", help="execute only")
    book.add_argument("--chapters", nargs="*", help="only these chapters")
    book.add_argument("--jobs", type=int, default=None,
                      help="chapters executed side by side (default: the number of cores)")

    student = commands.add_parser("student", help="write every chapter without its solutions",
                                  allow_abbrev=False)
    student.add_argument("--out", default="student", help="folder for <chapter>.md/.ipynb")

    graded = commands.add_parser("assignments", help="graded assignments (otter-grader)",
                                 allow_abbrev=False)
    graded.add_argument("--out", default="assignments", help="folder for <chapter>/ and README")
    graded.add_argument("--profile", default="quick", help="the profile the notebooks run")
    graded.add_argument("--chapters", nargs="*", help="only these chapters")
    return parser


# ------------------------------------------------------------------------ checking


def _choice(name: str, value: str, allowed) -> str:
    if value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}{hint}")
    return value


def _unique(flag: str, assignments: list[tuple[str, str]]) -> dict[str, str]:
    names = [name for name, _ in assignments]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{flag} {name} is given {names.count(name)} times; give it once")
    return dict(assignments)


def family_options(family: str, assignments: list[tuple[str, str]]) -> dict:
    """``--option NAME=VALUE`` pairs as typed keyword arguments for the family's ``build``
    (:mod:`collapse.book.families`): names checked against the family's options, values
    against the type of their default."""
    raw = _unique("--option", assignments)
    defaults = FAMILIES[family].options()
    options = {}
    for name, text in raw.items():
        label = f"--option {name}"
        if name not in defaults:
            raise ValueError(f"{label}: unknown option for family {family!r}; "
                             f"allowed: {', '.join(sorted(defaults))}")
        default = defaults[name]
        if isinstance(default, str):
            options[name] = text  # a name, taken literally (no YAML: `no` stays "no")
            continue
        value = parse_value(label, text)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            kind = "true or false"
        elif isinstance(default, numbers.Integral):
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            kind = "an integer"
        elif isinstance(default, numbers.Real):
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            kind, value = "a number", float(value) if ok else value
        elif isinstance(default, list):
            ok, kind = isinstance(value, list), "a list like [1, 2]"
        else:  # no typed default (e.g. None): the library checks it
            ok, kind = True, ""
        if not ok:
            raise TypeError(f"{label} must be {kind} (like {default!r}), got {text!r}")
        options[name] = value
    return options


def mixing_rule(args) -> mixing.MixingRule:
    """The ``--mixing`` rule; a weight given for another rule is an error, not ignored."""
    _choice("--mixing", args.mixing, list(mixing.RULES))
    weights = {}
    for name, rules in MIXING_WEIGHTS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if args.mixing not in rules:
            raise ValueError(f"--{name} {value} applies only to --mixing {' or '.join(rules)}, "
                             f"not to --mixing {args.mixing}")
        weights[name] = value
    try:
        return mixing.mixing_rule(args.mixing, **weights)
    except ValueError as error:
        raise ValueError(f"--mixing {args.mixing}: {error}") from None


def check_output(name: str, path: str | None, create_folder: bool = False,
                 special: bool = True) -> None:
    """Fail now, not after the run, if ``path`` cannot be written (see
    :func:`collapse.files.check_writable`)."""
    files.check_writable(name, path, create_folder=create_folder, special=special)


def write_csv(table, path: str) -> None:
    """Write ``table`` to ``path``: atomically for a regular file (a failure never leaves
    half a file), in place for a device or pipe, to standard output for ``-`` (see
    :func:`collapse.files.writing`)."""
    try:
        with files.writing(path, "w", newline="") as stream:
            table.to_csv(stream, index=False)
    except BrokenPipeError:
        raise
    except OSError as error:  # e.g. ENOSPC at the last flush, which names no file
        if error.errno is not None and error.filename is None:  # else str(error) is garbled
            error.filename = "standard output" if path == files.STDOUT else path
        raise


# ------------------------------------------------------------------------ commands


def simulate_command(args) -> int:
    _choice("family", args.family, list(FAMILIES))
    entry = FAMILIES[args.family]
    rule = mixing_rule(args)
    if args.exact and (not entry.exact or not rule.exact):
        raise ValueError(f"--exact needs a family with exact statistics "
                         f"({', '.join(EXACT_FAMILIES)}) and --mixing replace or accumulate; "
                         f"got {args.family} with --mixing {args.mixing}")
    options = family_options(args.family, args.option)
    exact = args.exact if args.exact is not None else (entry.exact and rule.exact)
    try:
        entry.check(options, exact, args.generations)
    except (ValueError, TypeError) as error:
        raise in_user_terms(error, flag_names(entry, entry.options())) from None
    settings = {**entry.options(), **options}
    memory.check(estimate_bytes(args.family, settings, args.runs, args.M, args.generations,
                                rule, exact),
                 f"lower --runs, --M{entry.size_options} or --generations")
    check_output("--out", args.out)
    check_output("--checkpoint", args.checkpoint, create_folder=True, special=False)
    checkpoint.read(args.checkpoint)  # a corrupt or foreign file: before any setup
    if args.out and args.checkpoint and Path(args.out).resolve() == \
            Path(args.checkpoint).resolve():
        raise ValueError(f"--out and --checkpoint must be different files, both are {args.out!r}")
    entry.check_data()

    rng = np.random.default_rng(args.seed)
    names = flag_names(entry, entry.options())
    try:
        family, initial = entry.build(args.runs, args.M, rng, **options)
        history = loop.simulate(family, initial, args.generations, args.M, rng, rule,
                                exact=exact, checkpoint=args.checkpoint,
                                progress=sys.stderr.isatty())
    except (ValueError, TypeError) as error:
        if isinstance(error, checkpoint.CheckpointError):
            raise
        raise in_user_terms(error, names) from None
    write_csv(history.table, args.out or files.STDOUT)
    if args.out and args.out != files.STDOUT:
        print(f"wrote {len(history.table)} rows to {args.out}", file=sys.stderr)
    return 0


def _interrupted(error: KeyboardInterrupt, args) -> int:
    """One line on what was saved and how to resume; the exit code 128 + signal."""
    signum = int(getattr(error, "signum", signal.SIGINT))
    name = signal.Signals(signum).name
    checkpoint = getattr(error, "checkpoint", getattr(args, "checkpoint", None))
    if args.command != "simulate":  # the runner's message says which notebooks are new
        message = f"{args.command} {str(error) or 'stopped'}"
    elif str(error):  # the loop's own message says what it saved
        message = str(error)
    elif checkpoint and Path(checkpoint).exists():
        message = (f"finished generations are saved in {checkpoint}; run the same command "
                   f"again to resume")
    elif checkpoint:
        message = "stopped before the first generation finished; nothing was saved"
    else:
        message = "nothing was saved (give --checkpoint FILE to make a run resumable)"
    print(f"interrupted by {name}: {message}", file=sys.stderr)
    return 128 + signum


def _broken_pipe() -> int:
    """The reader of standard output went away (``| head``): stop quietly, as ``cat``
    does, without Python's "Exception ignored" at exit."""
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def main(argv=None, process: bool = False) -> int:
    """Run a command; its exit code. ``process``: this command is the whole process
    (``python -m collapse``), so once a signal stops it, further ones are ignored to its
    end (see :class:`collapse.checkpoint.InterruptGuard`'s ``final``)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already reported in one line
        return int(stop.code or 0)
    try:
        # SIGTERM (from timeout, batch schedulers, kill) stops a command like Ctrl-C
        with checkpoint.InterruptGuard(sigint=False, final=process):
            if args.command == "simulate":
                return simulate_command(args)
            if args.command == "student":
                from . import student

                written = student.write_student_versions(args.out)
                print(f"wrote {len(written)} files to {args.out}")
                return 0
            if args.command == "assignments":
                from . import assignments

                return assignments.cli(args)
            from . import runner

            if args.command == "chapter":
                args.set = list({name: parse_value(f"--set {name}", text)
                                 for name, text in _unique("--set", args.set).items()}.items())
                if "profile" in dict(args.set):
                    raise ValueError(f"--set profile={dict(args.set)['profile']}: the profile "
                                     f"is chosen with --profile, not --set (e.g. --profile "
                                     f"{dict(args.set)['profile']})")
            return runner.cli(args)
    except (ValueError, TypeError, data.DataUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:
        return _interrupted(error, args)
    except BrokenPipeError:
        return _broken_pipe()
    except OSError as error:  # disk full, a file that vanished: one line, nothing half-written
        print(f"error: {files.describe_os_error(error)}", file=sys.stderr)
        return 1
