"""Bad input fails before any compute, with a message naming the parameter and range."""

import re
import subprocess
import sys

import numpy as np
import pytest

from collapse import gaussian, loop, theory
from collapse.book import cli, memory, settings
from collapse.book import runner as book
from collapse.book.families import FAMILIES


class CountingFamily(gaussian.Gaussian):
    """A Gaussian that counts its fits, to prove that validation comes first."""

    def __init__(self):
        super().__init__()
        self.fits = 0

    def fit(self, data):
        self.fits += 1
        return super().fit(data)


def data(M=10):
    return np.zeros((2, M))


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_size=1), "sample size M_1 must be >= 2"),
    (dict(sample_size=[5, 1, 5]), "sample size M_2 must be >= 2"),
    (dict(sample_size=lambda g: 2 - g), "sample size M_1 must be >= 2"),
    (dict(sample_size=[5, 5]), "schedule must have generations - 1 = 3 entries"),
    (dict(generations=0), "generations must be >= 1"),
    (dict(rng=0), "rng must be a numpy.random.Generator"),
    (dict(mixing=loop.Weighted(0.5, 0.5, 0.0), sample_size=50),
     "mixing needs 25 previous and 0 original samples at generation 1"),
])
def test_loop_rejects_bad_arguments_before_fitting(kwargs, message):
    family = CountingFamily()
    arguments = dict(generations=4, sample_size=10, rng=np.random.default_rng(0))
    arguments.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        loop.simulate(family, data(), **arguments)
    assert family.fits == 0


def test_initial_data_with_fewer_than_two_points():
    with pytest.raises(ValueError, match="must be >= 2"):
        loop.simulate(CountingFamily(), data(M=1), 3, 10, np.random.default_rng(0))


@pytest.mark.parametrize("weights, message", [
    (dict(alpha=-0.1, beta=0.6, gamma=0.5), "mixing weight alpha must be >= 0.0"),
    (dict(alpha=0.5, beta=0.2, gamma=0.2), "must sum to 1"),
    (dict(alpha=1.2, beta=0.0, gamma=-0.2), "mixing weight alpha must be <= 1.0"),
])
def test_mixing_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        loop.Weighted(**weights)


def test_keep_original_fraction_range():
    with pytest.raises(ValueError, match="fraction must be <= 1.0"):
        loop.KeepOriginal(1.5)


def test_unknown_names():
    with pytest.raises(ValueError, match="mixing must be one of"):
        loop.mixing_rule("shuffle")
    with pytest.raises(ValueError, match="estimator must be one of 'unbiased', 'mle'"):
        gaussian.Gaussian("bayes")
    with pytest.raises(ValueError, match="profile must be one of smoke, quick, paper; got 'huge'"):
        settings.resolve("gaussian", "huge")
    with pytest.raises(ValueError, match="chapter must be one of"):
        settings.resolve("no-such-chapter", "quick")


def test_theory_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sample size M_1 must be an integer >= 2"):
        theory.expected_w2([10, 1, 10])


@pytest.mark.parametrize("override, message", [
    (dict(runs="many"), "parameter 'runs' of chapter 'gaussian' must be an integer"),
    (dict(runs=2.5), "must be an integer"),
    (dict(sizes=[100, "a"]), "must be a list of integers"),
    (dict(sizes=[100, 1]), "sizes \\(each M\\) must be >= 2"),
    (dict(generations=True), "must be an integer"),
    (dict(colour="red"), "unknown parameter 'colour'"),
])
def test_papermill_overrides_are_checked_before_execution(tmp_path, override, message):
    with pytest.raises((ValueError, TypeError), match=message):
        book.execute_chapter("gaussian", "smoke", override, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing was executed or written


def run_cli(*arguments):
    return subprocess.run([sys.executable, "-m", "collapse", *arguments],
                          capture_output=True, text=True, timeout=60)


def test_cli_simulate_writes_the_tidy_table(tmp_path):
    out = tmp_path / "results.csv"
    result = run_cli("simulate", "gaussian", "--M", "100", "--generations", "50", "--runs",
                     "40", "--seed", "0", "--mixing", "replace", "--out", str(out))
    assert result.returncode == 0, result.stderr
    import pandas as pd

    table = pd.read_csv(out)
    assert len(table) == 40 * 50
    assert list(table.columns[:3]) == ["run", "generation", "n_train"]
    again = tmp_path / "again.csv"
    run_cli("simulate", "gaussian", "--M", "100", "--generations", "50", "--runs", "40",
            "--seed", "0", "--out", str(again))
    assert out.read_bytes() == again.read_bytes()


def test_cli_main_is_importable():
    assert "gaussian" in cli.FAMILIES


def test_every_chapter_accepts_a_seed_override():
    for chapter in settings.chapters():
        assert settings.resolve(chapter, "smoke", seed=3)["seed"] == 3
    with pytest.raises(ValueError, match="parameter 'seed' must be >= 0"):
        settings.resolve("gaussian", "smoke", seed=-1)
    with pytest.raises(TypeError, match="parameter 'seed' must be an integer"):
        settings.resolve("gaussian", "smoke", seed="one")


# The command line's bad inputs are the table in test_cli.py; these are the library's
# entry points that the command line reaches, and chapter overrides given with --set.

RNG = np.random.default_rng(0)
NAN, INF = float("nan"), float("inf")


def _noisy(**kwargs):
    from collapse import noisy

    return noisy.NoisyGaussian(**kwargs)


def _discrete(**kwargs):

    return FAMILIES["discrete"].build(2, 10, RNG, **kwargs)


def _gmm(**kwargs):

    return FAMILIES["gmm"].build(2, 10, RNG, **kwargs)


def _mnist(*args):
    from collapse import mnist

    return mnist.load(*args)


def _vae(**kwargs):
    from collapse import vae

    return vae.VAE(**kwargs)


@pytest.mark.parametrize("call, error, message", [
    (lambda: loop.mixing_rule("shuffle"), ValueError, "mixing must be one of"),
    (lambda: loop.KeepOriginal(NAN), ValueError, "fraction must be finite"),
    (lambda: loop.Weighted(alpha=INF), ValueError, "mixing weight alpha must be finite"),
    (lambda: loop.Weighted(alpha="1"), TypeError, "mixing weight alpha must be a number"),
    (lambda: gaussian.params(std=-1.0), ValueError, "std must be >= 0.0"),
    (lambda: gaussian.params(std=INF), ValueError, "std must be finite"),
    (lambda: gaussian.params(std=1.0, runs=0), ValueError, "runs must be >= 1"),
    (lambda: gaussian.Gaussian("bayes"), ValueError, "estimator must be one of"),
    (lambda: _noisy(noise="loud"), ValueError, "noise must be one of"),
    (lambda: _noisy(power=NAN), ValueError, "power p must be finite"),
    (lambda: _noisy(scale=-1.0), ValueError, "scale (κ or K) must be >= 0.0"),
    (lambda: _discrete(states=0), ValueError, "states must be >= 1"),
    (lambda: _discrete(distribution="zipf"), ValueError, "distribution must be one of"),
    (lambda: _discrete(tail_threshold=NAN), ValueError, "tail_threshold must be finite"),
    (lambda: _gmm(components=0), ValueError, "components must be >= 1"),
    (lambda: _gmm(data="three"), ValueError, "data must be one of"),
    (lambda: _mnist("cifar"), ValueError, "dataset must be one of"),
    (lambda: _mnist("digits", "dev"), ValueError, "split must be one of"),
    (lambda: _vae(epochs=0), ValueError, "epochs must be >= 1"),
    (lambda: _vae(learning_rate=NAN), ValueError, "learning_rate must be finite"),
    (lambda: _vae(device="tpu"), ValueError, "device must be one of"),
    (lambda: cli.parse_value("--set lr", ".nan"), ValueError, "--set lr must be a finite"),
    (lambda: cli.parse_value("--set sizes", "[10, 1e999]"), ValueError, "--set sizes must be"),
    (lambda: cli.parse_value("--set runs", "null"), ValueError, "--set runs needs a value"),
    (lambda: memory.check(2e9, "lower --runs", limit=10**9), ValueError,
     "this run would need 2.0 GB of memory, 1.0 GB available; lower --runs"),
    (lambda: gaussian.params(mean=NAN), ValueError, "mean must be finite"),
    (lambda: loop.simulate(gaussian.Gaussian(), np.full((1, 5), NAN), 2, 5, RNG),
     ValueError, "initial data"),
])
def test_library_entry_points_reject_bad_values(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


@pytest.mark.parametrize("chapter, name, text, message", [
    ("gaussian", "runs", "0", "runs must be >= 1"),
    ("gaussian", "runs", "-5", "runs must be >= 1"),
    ("gaussian", "runs", "1e3", "parameter 'runs' of chapter 'gaussian' must be an integer"),
    ("gaussian", "generations", "0", "generations must be >= 2"),
    ("gaussian", "sizes", "[1e3]", "parameter 'sizes' of chapter 'gaussian' must be a list"),
    ("gaussian", "keep", "[99]", "unknown parameter 'keep' for chapter 'gaussian'"),
    ("markov", "generations", "0", "generations must be >= 2"),
    ("noisy", "runs", "0", "runs must be >= 2"),
    ("gmm", "runs", "0", "runs must be >= 1"),
    ("what_is_collapse", "runs", "0", "runs must be >= 1"),
    ("discrete", "runs", "3", "unknown parameter 'runs' for chapter 'discrete'; known: "),
    ("vae", "lr", "1e-4", "unknown parameter 'lr' for chapter 'vae'; known: batch_size"),
    ("language_models", "lr", "5", "lr must be <= 1.0"),
    ("language_models", "lr", "abc", "parameter 'lr' of chapter 'language_models' must be"),
    ("gaussian", "sizes", "[]", "sizes must list at least 1 value"),
    ("gaussian", "runs", "100000000000", "lower runs"),
])
def test_set_overrides_are_checked(chapter, name, text, message):
    value = cli.parse_value(f"--set {name}", text)
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        # what the chapter runner does before executing: check the values, then the memory
        memory.check_chapter(chapter, settings.resolve(chapter, "smoke", **{name: value}))


def test_set_reads_numbers_as_numbers():
    lr = cli.parse_value("--set lr", "1e-4")
    assert settings.resolve("language_models", "smoke", lr=lr)["lr"] == 1e-4
