"""Bad input fails before any compute, with a message naming the parameter and range."""

import subprocess
import sys

import numpy as np
import pytest

from collapse import __main__ as cli
from collapse import book, gaussian, loop, profiles, theory


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
    (dict(mixing=loop.Mixture(0.5, 0.5, 0.0), sample_size=50),
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
        loop.Mixture(**weights)


def test_keep_original_fraction_range():
    with pytest.raises(ValueError, match="fraction must be <= 1.0"):
        loop.KeepOriginal(1.5)


def test_unknown_names():
    with pytest.raises(ValueError, match="mixing must be one of"):
        loop.mixing_rule("shuffle")
    with pytest.raises(ValueError, match="estimator must be one of 'unbiased', 'mle'"):
        gaussian.Gaussian("bayes")
    with pytest.raises(ValueError, match="profile must be one of smoke, quick, paper; got 'huge'"):
        profiles.resolve("gaussian", "huge")
    with pytest.raises(ValueError, match="chapter must be one of"):
        profiles.resolve("no-such-chapter", "quick")


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


@pytest.mark.parametrize("arguments, message", [
    (["simulate", "gaussian", "--M", "1"], "--M must be >= 2"),
    (["simulate", "weibull"], "family must be one of"),
    (["simulate", "gaussian", "--mixing", "shuffle"], "mixing must be one of"),
    (["simulate", "gaussian", "--mixing", "mixture", "--alpha", "0.3"], "must sum to 1"),
    (["chapter", "gaussian", "--profile", "huge"], "profile must be one of"),
    (["chapter", "gaussian", "--set", "runs=lots"], "must be an integer"),
])
def test_cli_reports_errors_with_exit_code_2(arguments, message):
    result = run_cli(*arguments)
    assert result.returncode == 2
    assert message in result.stderr


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
    for chapter in profiles.chapters():
        assert profiles.resolve(chapter, "smoke", seed=3)["seed"] == 3
    with pytest.raises(ValueError, match="parameter 'seed' must be >= 0"):
        profiles.resolve("gaussian", "smoke", seed=-1)
    with pytest.raises(TypeError, match="parameter 'seed' must be an integer"):
        profiles.resolve("gaussian", "smoke", seed="one")
