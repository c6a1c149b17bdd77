"""Command line: ``python -m collapse {simulate,chapter,book} …``.

Examples::

    python -m collapse simulate gaussian --M 100 --generations 50 --runs 4000 \\
        --seed 0 --mixing replace --out results.csv
    python -m collapse chapter gaussian --profile smoke --set runs=100 --set sizes=[100,1000]
    python -m collapse book --profile quick
"""

from __future__ import annotations

import argparse
import importlib
import sys

import numpy as np
import yaml

from . import loop, validate

# family name -> module; each module offers ``cli_setup(runs, M, rng, **options)``
# returning ``(family, initial_data, exact_supported)``.
FAMILIES = {
    "gaussian": "collapse.gaussian",
    "noisy": "collapse.noisy",
    "discrete": "collapse.discrete",
    "gmm": "collapse.gmm",
    "vae": "collapse.vae",
    "lm": "collapse.lm",
}


def _parse_assignment(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), yaml.safe_load(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m collapse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("simulate", help="run one generational experiment, write CSV")
    sim.add_argument("family", help=f"one of {', '.join(FAMILIES)}")
    sim.add_argument("--M", type=int, default=100, help="samples per generation (>= 2)")
    sim.add_argument("--generations", type=int, default=50, help="models fitted (>= 1)")
    sim.add_argument("--runs", type=int, default=1, help="independent runs (>= 1)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--mixing", default="replace", help=f"one of {', '.join(loop.MIXING_RULES)}")
    sim.add_argument("--fraction", type=float, default=0.1,
                     help="γ for --mixing keep-original (0 … 1)")
    sim.add_argument("--alpha", type=float, default=1.0, help="α for --mixing mixture")
    sim.add_argument("--beta", type=float, default=0.0, help="β for --mixing mixture")
    sim.add_argument("--gamma", type=float, default=0.0, help="γ for --mixing mixture")
    sim.add_argument("--exact", action=argparse.BooleanOptionalAction, default=None,
                     help="draw exact sufficient statistics (default: when the family has them)")
    sim.add_argument("--option", action="append", default=[], type=_parse_assignment,
                     metavar="NAME=VALUE", help="family option, e.g. estimator=mle")
    sim.add_argument("--checkpoint", help="resume file: a re-run continues where it stopped")
    sim.add_argument("--out", help="CSV file (default: standard output)")

    chapter = commands.add_parser("chapter", help="execute one chapter with papermill")
    chapter.add_argument("name")
    chapter.add_argument("--profile", default="quick")
    chapter.add_argument("--set", action="append", default=[], type=_parse_assignment,
                         metavar="NAME=VALUE", help="override one parameter (YAML value)")
    chapter.add_argument("--force", action="store_true", help="execute even if cached")

    book = commands.add_parser("book", help="execute every chapter, then build the HTML")
    book.add_argument("--profile", default="quick")
    book.add_argument("--force", action="store_true", help="execute even if cached")
    book.add_argument("--no-build", action="store_true", help="execute only")
    book.add_argument("--chapters", nargs="*", help="only these chapters")
    book.add_argument("--jobs", type=int, default=None,
                      help="chapters executed side by side (default: the number of cores)")
    return parser


def simulate_command(args) -> int:
    validate.choice("family", args.family, FAMILIES)
    validate.choice("mixing", args.mixing, loop.MIXING_RULES)
    validate.integer("--M", args.M, minimum=2)
    validate.integer("--generations", args.generations, minimum=1)
    validate.integer("--runs", args.runs, minimum=1)
    weights = {"keep-original": {"fraction": args.fraction},
               "mixture": {"alpha": args.alpha, "beta": args.beta, "gamma": args.gamma}}
    mixing = loop.mixing_rule(args.mixing, **weights.get(args.mixing, {}))
    try:
        module = importlib.import_module(FAMILIES[args.family])
    except ModuleNotFoundError as error:
        raise SystemExit(f"family {args.family!r} is not available yet ({error})") from None
    rng = np.random.default_rng(args.seed)
    family, initial, exact_supported = module.cli_setup(args.runs, args.M, rng,
                                                        **dict(args.option))
    exact = (exact_supported and mixing.exact) if args.exact is None else args.exact
    history = loop.simulate(family, initial, args.generations, args.M, rng, mixing,
                            exact=exact, checkpoint=args.checkpoint,
                            progress=sys.stderr.isatty())
    history.table.to_csv(args.out or sys.stdout, index=False)
    if args.out:
        print(f"wrote {len(history.table)} rows to {args.out}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "simulate":
            return simulate_command(args)
        from . import book

        return book.cli(args)
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
