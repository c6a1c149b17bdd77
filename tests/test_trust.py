"""Trust under inputs nobody tested (issue 20), one table per class of failure:

* no stale result: every checkpoint and cache is keyed by the content of what
  determines it (a metric's values, the data files, the tokenizer, the base model), or
  refused when that content cannot be known;
* no setting dropped: a value the user gave is applied or refused, and the record says
  what ran;
* no file destroyed: devices, pipes and links are written through or refused, exports
  never write into the project, temporaries never outlive their writer;
* no NaN out of finite input; memory estimates are upper bounds of the measured peak;
* no work lost to a second signal, and one clear line for every fault.
"""

from __future__ import annotations

import functools
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from collapse import checkpoint, discrete, files, gaussian, hashing, loop, mixing, validate
from collapse.book import cli, families, memory, records, settings, student
from collapse.book import runner as book

ROOT = Path(__file__).resolve().parents[1]
G = gaussian.Gaussian()


def d0(runs=3, M=20, seed=0):
    return gaussian.initial_data(runs, M, np.random.default_rng(seed))


def simulate(checkpoint_path=None, generations=4, **options):
    return loop.simulate(G, d0(), generations, 20, np.random.default_rng(1),
                         checkpoint=checkpoint_path, **options)


def run_cli(*argv, cwd, env=None, **options):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "collapse", *map(str, argv)], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=300,
                          **options)


def one_clear_line(stderr: str, *words: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


# =========================================================== stale results: checkpoints

SCALE = 1.0  # a module-level value a metric reads (as a script's or notebook's would)


def scaled_by_global(params, data):
    return params.mean * SCALE


def scaled(params, data, scale=1.0):
    return params.mean * scale


def closure(scale):
    return lambda params, data: params.mean * scale


def with_default(scale):
    def metric(params, data, factor=scale):
        return params.mean * factor
    return metric


@pytest.mark.parametrize("first, second", [
    (closure(1.0), closure(1000.0)),  # the case: a captured value changes
    (with_default(1.0), with_default(2.0)),
    (functools.partial(scaled, scale=1.0), functools.partial(scaled, scale=3.0)),
    (lambda p, d: p.mean, lambda p, d: p.std),  # same bytecode, another attribute
], ids=["closure", "default", "partial", "attribute"])
def test_a_metric_with_other_values_never_meets_the_old_checkpoint(tmp_path, first, second):
    path = tmp_path / "ck.pkl"
    simulate(path, metrics={"m": first})
    again = simulate(path, metrics={"m": first})  # the same metric: resumed, identical
    assert np.array_equal(again.table["m"], simulate(metrics={"m": first}).table["m"])
    with pytest.raises(checkpoint.CheckpointError, match="differs in: metrics"):
        simulate(path, metrics={"m": second})


def test_a_module_level_value_a_metric_reads_is_part_of_the_fingerprint(tmp_path,
                                                                       monkeypatch):
    path = tmp_path / "ck.pkl"
    simulate(path, metrics={"m": scaled_by_global})
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 1000.0)
    with pytest.raises(checkpoint.CheckpointError, match="differs in: metrics"):
        simulate(path, metrics={"m": scaled_by_global})


def lock_metric():
    lock = threading.Lock()

    def metric(params, data):
        with lock:
            return params.mean
    return metric


def generator_metric():
    counter = iter(range(10**9))
    return lambda params, data: params.mean + 0 * next(counter)


@pytest.mark.parametrize("make", [lock_metric, generator_metric], ids=["lock", "generator"])
def test_a_metric_that_cannot_be_fingerprinted_refuses_the_checkpoint(tmp_path, make):
    path = tmp_path / "ck.pkl"
    with pytest.raises(checkpoint.CheckpointError, match="metric 'm' cannot be fingerprinted"):
        simulate(path, metrics={"m": make()})
    assert not path.exists()
    assert len(simulate(metrics={"m": make()}).table) == 12  # without a checkpoint: runs


# ================================================== stale results: content-keyed caches


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """A data folder (WikiText-2 and MNIST files), a tokenizer and a base model folder, as
    the caches read them; ``COLLAPSE_DATA_DIR`` points at the data."""
    data = tmp_path / "data"
    (data / "wikitext-2").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        lines = [f" = {split} {i} =\n" if i % 5 == 0 else f" words of {split} line {i}\n"
                 for i in range(200)]
        (data / "wikitext-2" / f"wiki.{split}.tokens").write_text("".join(lines))
    (data / "mnist").mkdir()
    (data / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"labels")
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    (tokenizer / "tokenizer.json").write_text('{"model": "bpe"}')
    (tokenizer / "tokenizer_config.json").write_text('{"bos": "</s>"}')
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    (base / "config.json").write_text('{"hidden": 8}')
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    return data, tokenizer, base


def cache_keys(tokenizer, base) -> dict:
    """Every content-keyed cache and its key, computed as the library computes it."""
    from collapse.lm import data as lm_data
    from collapse.lm.family import LanguageModel
    from collapse.lm.model import TinyOPT, tiny_base_path

    blocks = np.arange(4 * 8).reshape(4, 8)
    family = LanguageModel(base=str(base), prompts=blocks, valid=blocks, test=blocks,
                           progress=False)
    keys = {f"blocks {split}": str(lm_data.blocks_path(str(tokenizer), split, 64, "authors"))
            for split in lm_data.SPLITS}
    # the stand-in pre-trained on WikiText's training lines depends on them; the default,
    # pre-trained on package docstrings, on none of these files
    keys["tiny base"] = str(tiny_base_path(TinyOPT(text="wikitext"), 0, "authors", False))
    keys["tiny base (docstrings)"] = str(tiny_base_path(TinyOPT(), 0, "authors", False))
    keys["language-model fit"] = str(family.fit_path(blocks, str(base)))
    keys["language-model family"] = hashing.digest(family)
    keys["chapter notebook"] = book.cache_key(ROOT, "gaussian", {"profile": "smoke"})
    return keys


def test_every_cache_key_changes_when_any_input_file_changes(inputs):
    """The property, file by file: changing any byte of an input changes every key that
    depends on it (and none that does not: a cache stays shared)."""
    data, tokenizer, base = inputs
    wiki = data / "wikitext-2"
    depends = {
        wiki / "wiki.train.tokens": {"blocks train", "tiny base", "chapter notebook"},
        wiki / "wiki.valid.tokens": {"blocks validation", "chapter notebook"},
        wiki / "wiki.test.tokens": {"blocks test", "chapter notebook"},
        data / "mnist" / "train-labels-idx1-ubyte.gz": {"chapter notebook"},
        tokenizer / "tokenizer.json": {"blocks train", "blocks validation", "blocks test"},
        tokenizer / "tokenizer_config.json": {"blocks train", "blocks validation",
                                              "blocks test"},
        base / "model.safetensors": {"language-model fit", "language-model family"},
        base / "config.json": {"language-model fit", "language-model family"},
    }
    rng = np.random.default_rng(0)
    for path, dependent in depends.items():
        before = cache_keys(tokenizer, base)
        content = bytearray(path.read_bytes())
        position = int(rng.integers(len(content)))
        content[position] = (content[position] + 1) % 128 or 65  # stays UTF-8 text
        path.write_bytes(bytes(content))
        after = cache_keys(tokenizer, base)
        changed = {name for name in before if before[name] != after[name]}
        assert changed == dependent, (path.name, changed)


def test_a_moved_data_folder_keeps_its_cache_keys(inputs, tmp_path, monkeypatch):
    data, tokenizer, base = inputs
    before = cache_keys(tokenizer, base)
    moved = tmp_path / "elsewhere"
    data.rename(moved)
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(moved))
    assert cache_keys(tokenizer, base) == before


def test_a_record_shipped_with_the_library_is_part_of_the_chapters_key(tmp_path):
    """A chapter that reads a CSV of measured trials from the library (the language-model
    stand-ins, the VAE's training lengths) is re-executed when a row is added: the
    chapters' key hashes every file of the library but compiled bytecode."""
    library = tmp_path / "collapse"
    (library / "book" / "__pycache__").mkdir(parents=True)
    (library / "book" / "chapters.py").write_text("x = 1\n")
    record = library / "book" / "trials.csv"
    record.write_text("variant,value\nquick,1\n")
    before = hashing.code_digest(library)
    (library / "book" / "__pycache__" / "chapters.cpython-311.pyc").write_bytes(b"\0")
    assert hashing.code_digest(library) == before  # bytecode is not content
    record.write_text("variant,value\nquick,1\nlonger,2\n")
    assert hashing.code_digest(library) != before
    shipped = list((ROOT / "lib" / "collapse").rglob("*.csv"))
    assert shipped and all(path in hashing._source_files(hashing.LIBRARY) for path in shipped)


# ====================================================== settings applied, or refused


class FakeShell:
    def __init__(self, *cells):
        self.user_ns = {"In": ["", *cells]}


@pytest.mark.parametrize("injected, runs", [
    ('# Parameters\nprofile = "smoke"\nruns = 1000\n', 1000),  # equal to the quick default
    ('# Parameters\nprofile = "smoke"\n', 100),  # not set: the smoke profile's value
    (None, 100),  # no papermill: a value equal to the cell's literal follows the profile
])
def test_a_value_papermill_injected_is_applied_even_when_it_equals_the_quick_default(
        monkeypatch, injected, runs):
    ipython = type(sys)("IPython")
    ipython.get_ipython = lambda: FakeShell(*([injected] if injected else []))
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    config = settings.resolve_cell("what_is_collapse", "smoke", seed=0, runs=1000)
    assert config.runs == runs


def test_names_given_explicitly_are_applied():
    config = settings.resolve_cell("what_is_collapse", "smoke", parameters_set=["runs"],
                                   runs=1000, generations=1000)
    assert (config.runs, config.generations) == (1000, 100)  # generations left to smoke


def test_the_record_says_every_setting_that_ran():
    used = records.settings_used("what_is_collapse", {"profile": "smoke", "runs": 1000})
    assert used["runs"] == 1000 and used["generations"] == 100 and used["profile"] == "smoke"


INJECTION_CHAPTER = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    ---
    # Which names did papermill set?

    ```{code-cell} ipython3
    :tags: [parameters]

    profile = "quick"
    seed = 0
    runs = 1000
    ```

    ```{code-cell} ipython3
    from collapse.book import settings
    print("injected:", sorted(settings.injected_names()))
    ```
    ''')


@pytest.mark.slow
def test_a_real_kernel_sees_which_names_papermill_injected(tmp_path):
    root = tmp_path / "project"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n"
                                   "  - file: book/names\n")
    (root / "chapters" / "names.md").write_text(INJECTION_CHAPTER)
    record = book.execute_chapter("names", "smoke", root=root, output_dir=root / "book",
                                  log=lambda *_: None)
    assert record["status"] == "executed"
    assert "injected: ['profile']" in (root / "book" / "names.ipynb").read_text()


@pytest.mark.parametrize("argv, words", [
    (["chapter", "gaussian", "--set", "profile=paper"], ["--profile paper"]),
    (["simulate", "gmm", "--option", "data=blob", "--option", "separation=3"],
     ["--option separation", "data=blob"]),
    (["simulate", "noisy", "--option", "noise=pull", "--no-exact"], ["noise=pull",
                                                                     "--no-exact"]),
    (["simulate", "noisy", "--option", "noise=pull", "--mixing", "pool"], ["noise=pull"]),
    (["simulate", "lm", "--generations", "1000"], ["--generations", "100"]),
    (["simulate", "gaussian", "--m", "10"], ["unrecognized arguments: --m 10"]),
    (["simulate", "gaussian", "--gen", "5"], ["unrecognized arguments: --gen"]),
    (["simulate", "vae", "--M", "70000"], ["--M must be <= 1500"]),
    (["simulate", "vae", "--runs", "2"], ["--runs must be <= 1"]),
    (["simulate", "gmm", "--M", "3", "--option", "components=5"], ["--M must be >= 5"]),
    (["simulate", "vae", "--option", "learning_rate=1e30"], ["learning_rate must be <= 1"]),
    (["simulate", "vae", "--option", "weight_decay=1e30"], ["weight_decay must be <= 1"]),
])
def test_a_setting_is_applied_or_refused_naming_what_the_user_typed(argv, words, tmp_path,
                                                                     monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("loop.simulate was reached")

    monkeypatch.setattr(loop, "simulate", refuse)
    assert cli.main(argv) == 2
    one_clear_line(capsys.readouterr().err, *words)
    assert not list(tmp_path.iterdir())  # nothing written


# ================================================================ files never destroyed

SIM = ["simulate", "gaussian", "--generations", "3", "--runs", "2"]


def test_a_named_pipe_is_written_through_not_replaced(tmp_path):
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    reader = subprocess.Popen(["cat", str(pipe)], stdout=subprocess.PIPE, text=True)
    done = run_cli(*SIM, "--out", pipe, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert reader.communicate(timeout=60)[0].count("\n") == 7  # header and 6 rows
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


def test_a_symbolic_link_is_followed_and_kept(tmp_path):
    (tmp_path / "results").mkdir()
    link = tmp_path / "latest.csv"
    link.symlink_to(tmp_path / "results" / "run.csv")
    assert run_cli(*SIM, "--out", link, cwd=tmp_path).returncode == 0
    assert link.is_symlink() and (tmp_path / "results" / "run.csv").read_text().count("\n") == 7


def test_dev_null_and_dash(tmp_path):
    done = run_cli(*SIM, "--out", "/dev/null", cwd=tmp_path)
    null = os.lstat("/dev/null").st_mode
    if not stat.S_ISCHR(null) and os.geteuid() == 0:  # put it back before failing
        os.unlink("/dev/null")
        os.mknod("/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod("/dev/null", 0o666)
    assert done.returncode == 0 and stat.S_ISCHR(null)
    done = run_cli(*SIM, "--out", "-", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.count("\n") == 7
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("argv, code, words", [
    (SIM + ["--out", "/dev/full"], 1, ["/dev/full", "No space left"]),
    (SIM + ["--checkpoint", "/dev/null"], 2, ["--checkpoint", "device"]),
    (SIM + ["--out", "/proc/self/out.csv"], 2, ["--out", "/proc"]),
    (SIM + ["--checkpoint", "/proc/ck.pkl"], 2, ["--checkpoint", "/proc"]),
    (SIM + ["--out", "x" * 300 + ".csv"], 2, ["--out", "bytes"]),
    (SIM + ["--out", "missing/out.csv"], 2, ["--out", "does not exist"]),
    (["student", "--out", "chapters"], 2, ["--out", "chapters"]),
    (["student", "--out", "book"], 2, ["--out", "book"]),
    (["student", "--out", "."], 2, ["--out", "project"]),
    (["student", "--out", str(ROOT / "lib" / "collapse" / "x")], 2, ["--out", "lib"]),
    (["student", "--out", "/etc/hostname"], 2, ["--out", "file"]),
    (["student", "--out", "/proc/student"], 2, ["--out", "/proc"]),
    (["simulate", "vae", "--option", "fit_cache=/etc/hostname"], 2, ["fit_cache", "file"]),
    (["simulate", "vae", "--option", "fit_cache=/proc/fits"], 2, ["fit_cache", "/proc"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_an_output_that_cannot_be_written_is_one_line_and_writes_nothing(tmp_path, argv, code,
                                                                         words):
    for name in ("_toc.yml", "_config.yml", "index.md", "chapters"):  # a book root
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "book").mkdir()
    sources = {p: p.stat().st_mtime_ns for p in (ROOT / "chapters").iterdir()}
    before = sorted(p.name for p in tmp_path.rglob("*"))
    done = run_cli(*argv, cwd=tmp_path)
    assert done.returncode == code
    one_clear_line(done.stderr, *words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "chapters").iterdir()} == sources


def test_a_file_name_as_long_as_the_file_system_allows_is_written(tmp_path):
    name = "r" * 251 + ".csv"  # 255 bytes: the temporary must not be longer
    assert run_cli(*SIM, "--out", name, cwd=tmp_path).returncode == 0
    assert (tmp_path / name).read_text().count("\n") == 7
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_replacing_refuses_a_device(tmp_path):
    with pytest.raises(ValueError, match="never replaced"):
        with files.replacing("/dev/null"):
            pass


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    target = tmp_path / "result.csv"
    live = files._partial_name(target)  # ours: kept until we finish
    stale = live.replace(f"-{os.getpid()}-", f"-{dead.pid}-")
    (tmp_path / stale).write_text("650 MB of a pool checkpoint")
    with files.replacing(target) as partial:
        partial.write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_a_full_disk_during_a_save_names_the_checkpoint_and_keeps_the_previous(tmp_path,
                                                                              monkeypatch):
    import errno
    import pickle

    path = tmp_path / "ck.pkl"
    real_dump, calls = pickle.dump, []

    def dump(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_dump(*args, **kwargs)

    monkeypatch.setattr(checkpoint.pickle, "dump", dump)
    with pytest.raises(OSError, match="No space left") as raised:
        simulate(path, generations=5, checkpoint_seconds=0)
    assert raised.value.filename == str(path)
    assert checkpoint.read(path)["state"]["generation"] == 1  # the first save, intact
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pkl"]


def test_a_refused_run_writes_no_checkpoint(tmp_path):
    class Refusing(gaussian.Gaussian):
        def fit(self, data):
            raise ValueError("device='cuda' but torch sees no GPU")

    with pytest.raises(ValueError, match="cuda"):
        loop.simulate(Refusing(), d0(), 4, 20, np.random.default_rng(0),
                      checkpoint=tmp_path / "ck.pkl")
    assert not list(tmp_path.iterdir())


def test_a_finished_pool_checkpoint_holds_only_what_a_rerun_returns(tmp_path):
    path = tmp_path / "ck.pkl"
    history = loop.simulate(G, d0(runs=50, M=100), 60, 100, np.random.default_rng(0),
                            mixing.Pool(), checkpoint=path)
    pool_bytes = 50 * 100 * 60 * 8
    assert path.stat().st_size < pool_bytes / 4  # the table, not the pool
    again = loop.simulate(G, d0(runs=50, M=100), 60, 100, np.random.default_rng(0),
                          mixing.Pool(), checkpoint=path)
    assert again.table.equals(history.table)


# ========================================================= no NaN out of finite input


@pytest.mark.parametrize("call, error, words", [
    (lambda: G.fit(np.array([[1.0, np.nan, 2.0]])), ValueError, ["data", "NaN"]),
    (lambda: G.fit(np.array([[1e200, -1e200, 3e200]])), ValueError, ["data", "rescale"]),
    (lambda: loop.simulate(G, d0() * 1e200, 3, 20, np.random.default_rng(0)), ValueError,
     ["data", "rescale"]),
    (lambda: loop.simulate(G, np.full((2, 5), np.nan), 3, 5, np.random.default_rng(0)),
     ValueError, ["initial data"]),
    (lambda: discrete.DiscreteParams(np.array([[0.7, 0.7]])), ValueError,
     ["probs", "sum to 1", "1.4"]),
    (lambda: discrete.DiscreteParams(np.array([[1.5, -0.5]])), ValueError, ["probs", ">= 0"]),
    (lambda: discrete.DiscreteParams(np.array([0.5, 0.5])), ValueError, ["probs", "(runs, K)"]),
])
def test_nan_is_never_made_from_finite_input(call, error, words):
    with pytest.raises(error) as raised:
        call()
    for word in words:
        assert word in str(raised.value)


def test_a_fit_that_overflows_is_named_not_tabulated():
    class Overflowing(gaussian.Gaussian):
        def describe(self, params):
            return {"std": np.full(params.runs, np.inf)}

    with pytest.raises(ValueError, match="generation 0: Overflowing's fitted std is inf"):
        loop.simulate(Overflowing(), d0(), 3, 20, np.random.default_rng(0))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_diverging_vae_is_named(precision):
    """Both training loops (``collapse.vae_train``: the fp32 reference checks every
    minibatch, the bf16 loop every epoch) name the settings to change."""
    import torch

    from collapse import vae, vae_train

    family = vae.VAE(epochs=1, learning_rate=1.0)
    model = vae.ConvVAE(8, 8, 2)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    images = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match="diverged.*learning_rate"):
        vae_train.checked(vae_train.loss_terms, model, images,
                          torch.Generator().manual_seed(0), family._advice())
    loop = vae_train.fast_epochs if precision == "bf16" else vae_train.plain_epochs
    optimiser = (vae_train.fast_optimiser(model, 1.0, 0.0) if precision == "bf16"
                 else torch.optim.Adam(model.parameters(), lr=1.0))
    with pytest.raises(ValueError, match=r"diverged.*learning_rate \(now 1.0\)"):
        loop(model, optimiser, vae._FixedBatches(images), 4, 1, 2,
             torch.Generator().manual_seed(0), torch.Generator().manual_seed(1),
             family._advice())


# =========================================================== library arguments named


@pytest.mark.parametrize("call, words", [
    (lambda: loop.simulate(G, d0(), 3, 20, None), ["rng", "numpy.random.Generator"]),
    (lambda: loop.simulate(G, d0(), 3, 20, 0), ["rng", "int"]),
    (lambda: G.sample(gaussian.params(runs=2), 10, None), ["rng"]),
    (lambda: gaussian.initial_data(4, 20, 7), ["rng"]),
    (lambda: discrete.initial_data(2, 10, None, discrete.uniform(3)), ["rng"]),
    (lambda: loop.simulate(G, d0(), 3, 20, np.random.default_rng(0), loop.Replace),
     ["mixing", "Replace()"]),
    (lambda: loop.simulate(G, d0(), 3, 20, np.random.default_rng(0), keep=2),
     ["keep", "list of generations"]),
    (lambda: loop.simulate(G, d0(), 3, 20, np.random.default_rng(0), metrics={"m": 5}),
     ["metrics['m']", "f(params, data)"]),
    (lambda: loop.simulate(G, d0(), 3, 20, np.random.default_rng(0),
                           metrics={"m": lambda p: 1}), ["metrics['m']", "two arguments"]),
    (lambda: loop.simulate(gaussian.Gaussian, d0(), 3, 20, np.random.default_rng(0)),
     ["family", "Gaussian()"]),
    (lambda: loop.simulate(G, np.zeros(20), 3, 20, np.random.default_rng(0)),
     ["initial_data", "(runs, n, ...)"]),
    (lambda: loop.simulate(G, d0(), 3, 20, np.random.default_rng(0),
                           checkpoint_seconds="10"), ["checkpoint_seconds"]),
    (lambda: memory.parse_bytes(memory.MEMORY_LIMIT, "1.2.3GB"), ["COLLAPSE_MEMORY_LIMIT"]),
    (lambda: memory.parse_bytes(memory.MEMORY_LIMIT, "1e400"), ["COLLAPSE_MEMORY_LIMIT"]),
    (lambda: student.check_export_folder("out", ROOT / "chapters", ROOT), ["out", "chapters"]),
    (lambda: validate.generation_list("keep", 2, 5), ["keep", "[0, 4]"]),
])
def test_a_bad_library_argument_is_named_with_what_it_accepts(call, words):
    with pytest.raises((ValueError, TypeError)) as raised:
        call()
    for word in words:
        assert word in str(raised.value), str(raised.value)


# ============================================================= memory: upper bounds

# Each run reports its own peak (VmHWM of its own memory map: ru_maxrss would include
# the parent's memory at the fork).
PEAK = textwrap.dedent("""\
    import atexit, runpy, sys
    target = sys.argv[1]
    def report():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                open(target, "w").write(line.split()[1])
    atexit.register(report)
    sys.argv = ["collapse", *sys.argv[2:]]
    runpy.run_module("collapse", run_name="__main__")
    """)

GRID = [  # family, options, runs, M, generations, mixing, exact: each term of the estimate
    ("gaussian", {}, 100000, 100, 3, "replace", True),  # the table; D_0 drawn as samples
    ("gaussian", {}, 1000, 2000, 3, "replace", False),  # the training sets
    ("gaussian", {}, 500, 100, 60, "pool", False),  # the pool
    ("gaussian", {}, 500, 100, 60, "accumulate", False),
    ("discrete", {"states": 2000000}, 1, 100, 2, "replace", True),  # the parameters
    ("noisy", {"dim": 30}, 1000, 100, 3, "replace", True),
    ("vae", {"epochs": 1}, 1, 64, 2, "replace", False),  # torch
]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_every_memory_estimate_is_at_least_the_measured_peak(tmp_path):
    def measure(index):
        family, options, runs, M, generations, rule, exact = GRID[index]
        report = tmp_path / f"peak{index}"
        argv = ["simulate", family, "--runs", runs, "--M", M, "--generations", generations,
                "--mixing", rule, "--exact" if exact else "--no-exact",
                "--out", tmp_path / f"out{index}.csv"]
        for name, value in options.items():
            argv += ["--option", f"{name}={value}"]
        done = subprocess.run([sys.executable, "-c", PEAK, report, *map(str, argv)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "COLLAPSE_MEMORY_LIMIT": "1TB"})
        assert done.returncode == 0, done.stderr
        peak = int(report.read_text()) * 1024
        settings_ = {**families.FAMILIES[family].options(), **options}
        estimate = families.estimate_bytes(family, settings_, runs, M, generations,
                                           mixing.mixing_rule(rule), exact)
        return GRID[index], peak, estimate

    with ThreadPoolExecutor(2) as pool:
        for case, peak, estimate in pool.map(measure, range(len(GRID))):
            assert peak <= estimate, (case, peak, estimate)
            assert estimate <= 4 * peak, (case, peak, estimate)  # and still useful


# ============================================================= signals and faults

TRIPWIRE_RUN = textwrap.dedent("""\
    import os, signal, sys, time
    import numpy as np
    from collapse import gaussian, loop

    SECOND = signal.Signals[sys.argv[2]]
    FIRED = []

    class Tripwire:
        # pickled only when a checkpoint is written; the second signal lands in the save
        def __reduce__(self):
            if os.path.exists("ARMED") and not FIRED:
                FIRED.append(True)
                os.kill(os.getpid(), SECOND)
                time.sleep(0.05)
            return (Tripwire, ())

    def slow(params, data):
        time.sleep(0.01)
        print("generation", flush=True)
        return np.array([Tripwire()] * params.runs, dtype=object)

    rng = np.random.default_rng(7)
    initial = gaussian.initial_data(20, 50, rng)
    try:
        history = loop.simulate(gaussian.Gaussian(), initial, 200, 50, rng, loop.Pool(),
                                metrics={"slow": slow}, checkpoint=sys.argv[1],
                                checkpoint_seconds=1e9)
    except loop.Interrupted as stop:
        print(stop, file=sys.stderr)
        sys.exit(128 + stop.signum)
    history.table.drop(columns="slow").to_csv(sys.argv[3], index=False)
    """)


@pytest.mark.slow
@pytest.mark.parametrize("first, second", [("SIGTERM", "SIGINT"), ("SIGINT", "SIGINT"),
                                           ("SIGINT", "SIGTERM")])
def test_a_second_signal_during_the_save_never_loses_it(tmp_path, first, second):
    path = tmp_path / "ck.pkl"
    command = [sys.executable, "-c", TRIPWIRE_RUN, str(path), second]
    process = subprocess.Popen(command + [str(tmp_path / "never.csv")], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(20):  # 19 generations finished (the 20th printed, maybe not committed)
        process.stdout.readline()
    (tmp_path / "ARMED").touch()
    process.send_signal(signal.Signals[first])
    _, error = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.Signals[first], error
    assert "saved in" in error and "Traceback" not in error
    saved = int(error.split("interrupted after ")[1].split(" ")[0])
    assert saved >= 19
    assert not list(tmp_path.glob(".*partial"))
    (tmp_path / "ARMED").unlink()
    resumed = subprocess.run(command + [str(tmp_path / "resumed.csv")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    fresh = subprocess.run([sys.executable, "-c", TRIPWIRE_RUN, str(tmp_path / "other.pkl"),
                            second, str(tmp_path / "fresh.csv")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and fresh.returncode == 0, resumed.stderr + fresh.stderr
    assert resumed.stdout.count("generation") == 200 - saved  # every finished one was saved
    assert (tmp_path / "resumed.csv").read_bytes() == (tmp_path / "fresh.csv").read_bytes()


MORE_SIGNALS = textwrap.dedent("""\
    import os, signal, sys
    from collapse import loop
    from collapse.book import cli

    def stopped_run(*args, **kwargs):  # the first SIGTERM stops the run
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not stopped")

    report = cli._interrupted

    def more_signals(error, args):  # and more arrive while the stop is being reported
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        return report(error, args)

    loop.simulate, cli._interrupted = stopped_run, more_signals
    sys.exit(cli.main(["simulate", "gaussian", "--generations", "3", "--out", "x.csv"],
                      process=True))
    """)


def test_more_signals_while_a_command_stops_change_nothing(tmp_path):
    """A second or third Ctrl-C or SIGTERM, once a command is stopping, neither kills it
    with the signal (exit -15) nor adds a traceback: its exit code is the first's."""
    done = subprocess.run([sys.executable, "-c", MORE_SIGNALS], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 128 + signal.SIGTERM, (done.returncode, done.stderr)
    one_clear_line(done.stderr, "interrupted by SIGTERM")
    assert not (tmp_path / "x.csv").exists()


SLOW_CHAPTER = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    ---
    # A slow chapter

    ```{code-cell} ipython3
    :tags: [parameters]

    profile = "quick"
    seed = 0
    ```

    ```{code-cell} ipython3
    import time
    from pathlib import Path

    Path(f"STARTED-{time.time_ns()}").touch()
    if Path("SLOW").exists():
        time.sleep(120)
    ```
    ''')


@pytest.fixture
def slow_book(tmp_path):
    root = tmp_path / "project"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n"
                                   "  - file: book/slow_a\n  - file: book/slow_b\n")
    for name in ("slow_a", "slow_b"):
        (root / "chapters" / f"{name}.md").write_text(SLOW_CHAPTER)
    return root


@pytest.mark.slow
def test_sigterm_stops_a_parallel_book_and_says_what_it_kept(slow_book):
    output = slow_book / "book"
    output.mkdir()
    for name in ("slow_a", "slow_b"):
        (output / f"{name}.ipynb").write_text("the previous good result")
    (slow_book / "SLOW").touch()
    process = subprocess.Popen([sys.executable, "-m", "collapse", "book", "--jobs", "2",
                                "--no-build", "--force"], cwd=slow_book,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(slow_book.glob("STARTED-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(slow_book.glob("STARTED-*"))) == 2, "the chapters never started"
    process.send_signal(signal.SIGTERM)
    start = time.monotonic()
    _, error = process.communicate(timeout=120)
    assert time.monotonic() - start < 60  # stopped, not left to finish its 120 s chapters
    assert process.returncode == 143
    assert "Traceback" not in error and "ForkProcess" not in error, error
    assert "interrupted by SIGTERM: book stopped; not finished, previous notebook kept: " \
           "slow_a, slow_b" in error
    for name in ("slow_a", "slow_b"):
        assert (output / f"{name}.ipynb").read_text() == "the previous good result"
    assert not list(output.glob(".*partial"))


FAILING_LATE = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    ---
    # Fails on line 12 of its cell

    ```{code-cell} ipython3
    :tags: [parameters]

    profile = "quick"
    seed = 0
    ```

    ```{code-cell} ipython3
    a = 1
    b = 2
    c = 3
    d = 4
    e = 5
    f = 6
    g = 7
    h = 8
    i = 9
    j = 10
    k = 11
    first, second, third = (1, 2)
    ```
    ''')


@pytest.mark.slow
def test_a_failure_on_a_late_line_is_reported_and_the_other_chapters_still_run(slow_book):
    (slow_book / "chapters" / "slow_a.md").write_text(FAILING_LATE)
    with pytest.raises(book.ChapterFailed) as failed:
        book.execute_all("smoke", root=slow_book, output_dir=slow_book / "book", jobs=1,
                         log=lambda *_: None)
    message = str(failed.value)
    assert "failing line 12: first, second, third = (1, 2)" in message
    assert "ValueError: not enough values to unpack (expected 3, got 2)" in message
    assert (slow_book / "book" / "slow_b.ipynb").exists()  # the next chapter ran


def test_the_failure_report_reads_every_arrow_ipython_draws():
    class Failure:
        source = "\n".join(f"x{i} = {i}" for i in range(14))
        exec_count, ename, evalue = 3, "KeyError", "'x'"
        traceback = ["\x1b[0;31mKeyError\x1b[0m", "Cell In[3], line 12",
                     "     10 x9 = 9", "     11 x10 = 10", "---> 12 x11 = 11"]

    message = records.describe_failure("chapter", Failure())
    assert "failing line 12: x11 = 11" in message and "KeyError: 'x'" in message
    Failure.traceback = []  # no arrow at all
    assert "KeyError: 'x'" in records.describe_failure("chapter", Failure())


def test_a_reader_that_closes_the_pipe_ends_the_run_quietly(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "collapse", "simulate", "gaussian",
                                "--runs", "200", "--generations", "500"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    error = process.stderr.read().decode()
    process.wait(timeout=120)
    assert process.returncode == 128 + signal.SIGPIPE
    assert error == ""


@pytest.mark.parametrize("value", ["1.2.3GB", "1e400", "-5GB", "inf", "4 GB RAM"])
def test_a_bad_memory_limit_is_one_line(tmp_path, value):
    done = run_cli(*SIM, cwd=tmp_path, env={"COLLAPSE_MEMORY_LIMIT": value})
    assert done.returncode == 2
    one_clear_line(done.stderr, "COLLAPSE_MEMORY_LIMIT", repr(value))
    assert not list(tmp_path.iterdir())
