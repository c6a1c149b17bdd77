"""The model families of ``python -m collapse simulate <family>``: one registry entry each,
declaring its options (name → default), whether it has exact sufficient statistics,
how its data grow with the options (for the memory estimate), and how ``D_0`` and the
family are built from ``--runs``, ``--M``, a generator and the options; and how a
message's library names become the flags the user typed (:func:`in_user_terms`).

Adding a family to the command line is one entry in :data:`FAMILIES`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from collapse import data, validate

# The command's process before any data: Python with numpy, scipy, pandas (and sklearn)
# and this library (150 to 250 MB measured); torch's families add their own (see below).
BASE = 300e6
TORCH_BASE = 700e6  # torch, a VAE and its optimiser (500 MB measured for the digits)


@dataclass(frozen=True)
class Entry:
    """How the command line builds one family.

    ``build(runs, M, rng, **options) -> (family, initial_data)``; ``options()`` maps
    every ``--option`` name to its default (its type is the type a value must have);
    ``exact``: the family has exact sufficient statistics; ``width(options)``: numbers
    per sample, ``params_per_run(options)``: numbers per fitted model (memory estimate);
    ``size_options``: the options to name when a run does not fit; ``check_data``: a
    check of the local data files, run before any set-up; ``check(options, exact,
    generations)``: refuses, before any set-up, a combination the family cannot run
    (naming the flags); ``flags``: the library's names for what the user typed (the
    language model's ``train_blocks`` is ``--M``), so that its messages name the flag."""

    build: Callable
    options: Callable[[], dict]
    exact: bool = False
    width: Callable = lambda options: 1
    params_per_run: Callable = lambda options: 2
    size_options: str = ""
    check_data: Callable = field(default=lambda: None)
    check: Callable = field(default=lambda options, exact, generations: None)
    flags: dict = field(default_factory=dict)
    base: Callable = lambda options: BASE


def _gaussian(runs, M, rng, estimator="unbiased", mean=0.0, std=1.0):
    from collapse import gaussian

    return gaussian.Gaussian(estimator=estimator), gaussian.initial_data(runs, M, rng, mean, std)


def _noisy(runs, M, rng, noise="residual", scale=1.0, power=0.5, dim=3):
    """``D_0`` = M draws of ``N(0, default_cov(dim))`` per run (drawn as exact statistics
    for ``noise="pull"``, which needs the parent's mean)."""
    from collapse import noisy
    from collapse.gaussian import GaussianParams

    family = noisy.NoisyGaussian(noise=noise, scale=scale, power=power)
    cov = noisy.default_cov(dim)
    truth = GaussianParams(np.zeros((runs, dim)), np.broadcast_to(cov, (runs, dim, dim)))
    if noise == "pull":
        return family, family.sample_statistics(truth, M, rng)
    return family, family.sample(truth, M, rng)


def _noisy_check(options, exact, generations):
    if options.get("noise") == "pull" and not exact:
        raise ValueError("--option noise=pull needs exact statistics (the pull uses the mean "
                         "of the model that generated the data, which only they carry): drop "
                         "--no-exact and use --mixing replace or accumulate")


def _discrete(runs, M, rng, states=10, distribution="uniform", tail_threshold=None):
    """``p_0`` uniform, or the Fig 3 mixture binned into ``states`` bins on [−8, 8]."""
    from collapse import discrete

    states = validate.integer("states", states, minimum=1)
    validate.choice("distribution", distribution, ("uniform", "mixture"))
    positions = None
    if distribution == "uniform":
        reference = discrete.uniform(states)
    else:
        edges = np.linspace(-8, 8, states + 1)
        reference = discrete.binned(discrete.GaussianMixture1D(), edges)
        positions = 0.5 * (edges[1:] + edges[:-1])
    family = discrete.Discrete(reference, positions, tail_threshold)
    return family, discrete.initial_data(runs, M, rng, family.reference)


def _gmm(runs, M, rng, data="two", separation=None, components=2, backend="batched"):
    """The table gets ``l2_to_reference``, the L2 distance to generation 0."""
    from collapse import gmm

    validate.choice("data", data, gmm.SETTINGS)
    if data == "blob" and separation is not None:
        raise ValueError("--option separation applies to data=two (the distance between its "
                         "two Gaussians); data=blob is one Gaussian: drop --option separation")
    separation = 6.0 if separation is None else separation
    family = gmm.GMM(components=components, seed=int(rng.integers(2**32)), backend=backend)
    validate.integer("M", M, minimum=family.components)
    initial = gmm.initial_data(runs, M, rng, data, separation)
    family.reference = family.fit(initial)  # the loop's generation 0, bit for bit
    return family, initial


def _vae_options() -> dict:
    from collapse.vae import VAE

    return {"dataset": "digits", **{f.name: f.default for f in dataclasses.fields(VAE)}}


def _vae(runs, M, rng, dataset="digits", **options):
    """``D_0`` = M real images drawn with ``rng`` (one run)."""
    from collapse import mnist
    from collapse.vae import VAE

    validate.integer("runs", runs, minimum=1, maximum=1)
    family = VAE(**options)
    images, labels = mnist.load(dataset, "train")
    validate.integer("--M", M, maximum=len(images))  # the data set's training images
    real, _ = mnist.subset(images, labels, M, rng)
    return family, real[None]


LM_FROM_FLAGS = ("train_blocks", "runs", "generations")  # --M, --runs, --generations


def _lm_options() -> dict:
    from collapse.book import settings

    defaults = settings.defaults("language_models", "smoke")
    for name in (*LM_FROM_FLAGS, "profile"):
        del defaults[name]
    return {"profile": "smoke", **defaults}


def _lm(runs, M, rng, profile="smoke", **overrides):
    """The model and settings of a chapter profile (any of its parameters can be set),
    ``D_0`` = the first ``M`` training blocks. Each run is one process: ``runs`` = 1."""
    from collapse.book import settings
    from collapse.book.chapters import language_models as chapter

    _lm_profile(profile)
    validate.integer("runs", runs, minimum=1, maximum=1)
    config = settings.resolve("language_models", profile, train_blocks=M, **overrides)
    bars = sys.stderr.isatty()  # as the loop's: progress bars for a person, not a log
    setup = chapter.prepare(config, progress=bars)
    family, _ = chapter.regime(setup, config, "no original data", config.seed, progress=bars)
    if "repetition_penalty" in overrides:  # the regime without it has no penalty
        family = dataclasses.replace(family, repetition_penalty=config.repetition_penalty)
    return family, setup.train[None]


def _lm_profile(profile) -> str:
    from collapse.book import settings

    if profile not in settings.PROFILE_NAMES:
        raise ValueError(f"--option profile must be one of {', '.join(settings.PROFILE_NAMES)}; "
                         f"got {profile!r}")
    return profile


def _lm_check(options, exact, generations):
    """The chapter's own limits on what the flags set (before minutes of pre-training and
    before the memory estimate, which resolves the same settings)."""
    from collapse.book import settings

    overrides = {k: v for k, v in options.items() if k != "profile"}
    settings.resolve("language_models", _lm_profile(options.get("profile", "smoke")),
                     generations=max(generations, 2), **overrides)


def _lm_base(options) -> float:
    """The chapter's estimate of one fine-tuning and generation step, plus the text."""
    from collapse.book import settings

    overrides = {k: v for k, v in options.items() if k != "profile"}
    config = settings.resolve("language_models", options.get("profile", "smoke"), **overrides)
    return config.peak_memory()[0] + 500e6  # WikiText-2's lines and their tokens


def _lm_data() -> None:
    """Check every local file the language model reads before it pre-trains for minutes."""
    if data.data_dir() is not None:
        for split in data.WIKITEXT_FILES:
            data.read_wikitext_split(split)


FAMILIES = {
    "gaussian": Entry(_gaussian, lambda: dict(estimator="unbiased", mean=0.0, std=1.0),
                      exact=True),
    "noisy": Entry(_noisy, lambda: dict(noise="residual", scale=1.0, power=0.5, dim=3),
                   exact=True, check=_noisy_check,
                   width=lambda o: o.get("dim", 3),
                   params_per_run=lambda o: o.get("dim", 3) ** 2, size_options=", --option dim"),
    "discrete": Entry(_discrete,
                      lambda: dict(states=10, distribution="uniform", tail_threshold=None),
                      exact=True, params_per_run=lambda o: o.get("states", 10),
                      size_options=", --option states"),
    "gmm": Entry(_gmm, lambda: dict(data="two", separation=6.0, components=2,
                                    backend="batched"),
                 width=lambda o: 2,
                 params_per_run=lambda o: 7 * o.get("components", 2)),
    "vae": Entry(_vae, _vae_options, flags={"n": "--M"},
                 width=lambda o: 784 if o.get("dataset") == "mnist" else 64,
                 # MNIST is read whole: 60,000 images as bytes, then float32 twice
                 base=lambda o: TORCH_BASE + (60000 * 784 * 9 if o.get("dataset") == "mnist"
                                              else 0)),
    "lm": Entry(_lm, _lm_options, width=lambda o: 64, check_data=_lm_data, check=_lm_check,
                flags={"train_blocks": "--M"}, base=lambda o: _lm_base(o)),
}


def flag_names(entry, options: dict) -> dict[str, str]:
    """The library's names for what the user typed: ``M`` is ``--M``, ``std`` is
    ``--option std`` (and the entry's own, such as the language model's ``train_blocks``)."""
    names = {name: f"--option {name}" for name in options}
    names.update({"M": "--M", "runs": "--runs", "generations": "--generations"})
    names.update(entry.flags)
    return names


def in_user_terms(error: Exception, names: dict[str, str]) -> Exception:
    """``error`` with the library's parameter name at the start of its message replaced by
    the flag the user typed (``n must be <= 1500`` → ``--M must be <= 1500``)."""
    message = str(error)
    for name in sorted(names, key=len, reverse=True):
        match = re.match(rf"(parameter )?'?{re.escape(name)}'?(?=[\s:,(])", message)
        if match:
            return type(error)(names[name] + message[match.end():])
    return error


def estimate_bytes(family: str, options: dict, runs: int, M: int, generations: int,
                   mixing, exact: bool) -> float:
    """An upper bound on a run's peak resident memory (``tests/test_trust.py`` checks it
    against the measured peak over a grid of sizes): the process itself
    (:attr:`Entry.base`), the training sets (``runs × M`` samples: the draws, the training
    set, the previous and the original data and the fit's temporaries; only ``D_0`` with
    exact statistics; a pool or an accumulated set grows with ``generations``, and a pool
    is sampled through index arrays as large as itself), the fitted parameters with the
    temporaries of ``describe`` (about ten arrays of them), and the table with pandas'
    copies."""
    from collapse import mixing as rules

    entry = FAMILIES[family]
    sample = 8.0 * runs * M * entry.width(options)
    copies = 3 if exact else 8  # exact: D_0 is drawn as samples, then summarised
    grows = {rules.Accumulate: 3, rules.Pool: 4}.get(type(mixing), 0) if not exact else 0
    params = 8.0 * runs * entry.params_per_run(options) * 16
    table = 8.0 * runs * generations * 16 * 3
    return (entry.base(options) + copies * sample + grows * sample * generations + params
            + table)
