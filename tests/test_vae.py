"""The VAE family (paper §5.1) and the digit loaders, on scikit-learn's 8×8 digits."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import time

import numpy as np
import pandas as pd
import pytest
import torch

from collapse import data, loop, mnist, vae, vae_train
from collapse.book import settings
from collapse.book.chapters import vae as vae_chapter
from collapse.book.families import FAMILIES
from collapse.testing import check_family

MNIST_SHA256 = {  # of the decompressed files, from the data README
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


@pytest.fixture(scope="module")
def digits():
    images, labels = mnist.load("digits", "train")
    return images[:256], labels[:256]


@pytest.fixture(scope="module")
def tiny_family():
    return vae.VAE(epochs=2, batch_size=128, latent_dim=4, synthetic="fixed")


@pytest.fixture(scope="module")
def trained(digits, tiny_family):
    return tiny_family.fit(digits[0][None])


def test_fit_and_sample_shapes_and_range(trained, tiny_family):
    samples = tiny_family.sample(trained, 37, np.random.default_rng(0))
    assert samples.shape == (1, 37, 8, 8)
    assert samples.dtype == np.float32
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert len(trained.bce) == len(trained.kl) == 2
    described = tiny_family.describe(trained)
    assert set(described) == {"bce", "kl", "loss"}
    assert all(v.shape == (1,) for v in described.values())
    assert np.isfinite(described["loss"]).all() and described["kl"][0] >= 0


def test_fit_is_reproducible_and_leaves_global_torch_state_alone(digits, trained, tiny_family):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    again = tiny_family.fit(digits[0][None])
    assert torch.equal(before, torch.random.get_rng_state())
    for a, b in zip(trained.model.state_dict().values(), again.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert again.bce == trained.bce
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(tiny_family.sample(trained, 9, rng_a),
                                  tiny_family.sample(again, 9, rng_b))


def test_different_data_give_different_models(digits):
    images = digits[0][None, :64]
    family = vae.VAE(epochs=1, latent_dim=4)
    reference = family.fit(images).model.to_mean.weight
    other_data = family.fit(images[:, ::-1])  # same images, other order
    assert not torch.equal(other_data.model.to_mean.weight, reference)


def test_architecture_is_the_authors():
    model = vae.ConvVAE(28, 28, latent_dim=20)
    assert sum(p.numel() for p in model.parameters()) == 647_081  # as VAE_experiments.ipynb
    mean, logvar = model.encode(torch.zeros(3, 1, 28, 28))
    assert mean.shape == logvar.shape == (3, 20)
    assert model.decode(mean).shape == (3, 1, 28, 28)
    # Decoder: Linear → reshape → ReLU(ConvT) → Sigmoid(ConvT); nothing between the linear
    # layer and the first transposed convolution (negative linear outputs reach it).
    layers = [type(m) for m in model.decoder]
    assert layers == [torch.nn.ConvTranspose2d, torch.nn.ReLU, torch.nn.ConvTranspose2d,
                      torch.nn.Sigmoid]
    z = torch.randn(2, 20, generator=torch.Generator().manual_seed(0))
    hidden = model.from_latent(z).view(-1, 128, 7, 7)
    assert (hidden < 0).any()
    expected = torch.sigmoid(model.decoder[2](torch.relu(model.decoder[0](hidden))))
    torch.testing.assert_close(model.decode(z), expected)


def test_encode_decode_shapes(trained, digits):
    latents = vae.VAE.encode(trained, digits[0][:10])
    assert latents.shape == (10, 4)
    assert vae.VAE.decode(trained, latents).shape == (10, 8, 8)


@pytest.mark.parametrize("synthetic", ["stream", "fixed"])
def test_runs_in_the_generational_loop(digits, synthetic):
    family = vae.VAE(epochs=1, batch_size=128, latent_dim=4, synthetic=synthetic)
    images = digits[0][:128]
    history = loop.simulate(family, images[None], 2, 100, np.random.default_rng(0),
                            keep=[0, 1])
    assert list(history.table["generation"]) == [0, 1]
    assert list(history.table["n_train"]) == [128, 100]
    params, training = history.kept[1]
    assert isinstance(params, vae.VAEParams)
    assert history.kept[0][1].shape == (1, 128, 8, 8)  # (params, data) as in every family
    if synthetic == "fixed":
        assert isinstance(training, np.ndarray) and training.shape == (1, 100, 8, 8)
    else:
        assert isinstance(training, vae.DecoderStream) and training.shape == (1, 100, 8, 8)
        assert training.decoders[0] is history.kept[0][0]


def test_the_stream_decodes_fresh_latents_for_every_minibatch(digits, trained, monkeypatch):
    family = vae.VAE(epochs=2, batch_size=50, latent_dim=4)
    stream = family.sample(trained, 120, np.random.default_rng(1))
    assert stream.n == 120 and stream.runs == 1
    seen = []
    original = vae.ConvVAE.decode

    def spy(self, latents):
        if not self.training:  # the previous generation's decoder (in eval mode)
            seen.append(latents.clone())
        return original(self, latents)

    monkeypatch.setattr(vae.ConvVAE, "decode", spy)
    family.fit(stream)
    assert [len(z) for z in seen] == [50, 50, 20] * 2  # every batch of every epoch
    assert len({tuple(z[0].tolist()) for z in seen}) == 6  # all different latents


def test_stream_with_kept_real_images(digits, trained):
    family = vae.VAE(epochs=1, batch_size=64, latent_dim=4)
    stream = family.sample(trained, 60, np.random.default_rng(2))
    mixed = loop.KeepOriginal(0.5).training_set(
        stream, loop.Sources(original=digits[0][None], previous=None), 120,
        np.random.default_rng(3))
    assert isinstance(mixed, vae.DecoderStream)
    assert mixed.counts == (60,) and mixed.fixed.shape == (1, 60, 8, 8) and mixed.n == 120
    part = np.take_along_axis(mixed, np.arange(50, 80)[None, :, None, None], axis=1)
    assert part.counts == (10,) and part.fixed.shape == (1, 20, 8, 8)
    assert np.isfinite(family.describe(family.fit(mixed))["loss"]).all()
    with pytest.raises(TypeError, match="synthetic='fixed'"):
        np.asarray(mixed)


@pytest.mark.parametrize("synthetic", ["stream", "fixed"])
def test_family_contract(tmp_path, digits, synthetic):
    def make_family():
        return vae.VAE(epochs=1, batch_size=32, latent_dim=2, synthetic=synthetic)

    def initial(rng):
        return digits[0][None, rng.choice(len(digits[0]), 40, replace=False)]

    check_family(make_family, initial, size=30, generations=3, checkpoint_dir=tmp_path,
                   mixings=(loop.Replace(), loop.KeepOriginal(0.5), loop.Accumulate(),
                            loop.Weighted(0.5, 0.25, 0.25)))


def test_bad_input_is_rejected_before_training(digits):
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        vae.VAE(epochs=0)
    with pytest.raises(ValueError, match="device must be one of"):
        vae.VAE(device="tpu")
    with pytest.raises(ValueError, match="synthetic must be one of"):
        vae.VAE(synthetic="decoded")
    with pytest.raises(ValueError, match="fit_cache must be a directory path or None"):
        vae.VAE(fit_cache=3)
    family = vae.VAE(epochs=1)
    with pytest.raises(ValueError, match=r"shape \(1, n, H, W\)"):
        family.fit(digits[0])
    with pytest.raises(ValueError, match="multiples of 4"):
        family.fit(np.zeros((1, 5, 10, 10)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        family.fit(2 * digits[0][None])
    with pytest.raises(ValueError, match="n_train must be <= 1500"):
        settings.resolve("vae", "smoke", n_train=5000)
    with pytest.raises(ValueError, match="show_generations must include generation 0"):
        settings.resolve("vae", "smoke", show_generations=[1])


def test_generation_summary(trained, digits):
    classifier = mnist.train_classifier(*digits)
    latents, table = vae_chapter.generation_summary({0: (trained, None)}, digits[0], classifier,
                                                    100, np.random.default_rng(0))
    assert set(latents) == {"real", 0} and latents[0].shape == (100, 4)
    assert list(table["generation"]) == ["real", 0]
    fractions = table.filter(like="digit").to_numpy()
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)
    assert table["tail"][0] == pytest.approx(0.05, abs=0.011)  # 95th percentile of 100 points
    entropy = table["class_entropy_bits"]
    assert 0 <= entropy.min() <= entropy.max() <= np.log2(10)


def test_tile():
    images = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    picture = vae_chapter.tile(images, columns=2)
    assert picture.shape == (3 * 2, 2 * 3)
    np.testing.assert_array_equal(picture[0:2, 3:6], images[1])
    np.testing.assert_array_equal(picture[4:6, 3:6], np.zeros((2, 3)))  # blank padding


# ------------------------------------------------------------------------- loaders


def test_digits_loader():
    train, train_labels = mnist.load("digits", "train")
    test, test_labels = mnist.load("digits", "test")
    assert train.shape == (1500, 8, 8) and test.shape == (297, 8, 8)
    assert train.min() == 0.0 and train.max() == 1.0 and train.dtype == np.float32
    assert set(np.unique(train_labels)) == set(range(10))


@pytest.mark.skipif(data.local_path("mnist") is None, reason="no local MNIST copy")
def test_idx_reader_against_the_headers():
    folder = data.local_path("mnist")
    for split, count in (("train", 60000), ("test", 10000)):
        images_file, labels_file = mnist.IDX_FILES[split]
        with gzip.open(folder / images_file, "rb") as handle:
            header = handle.read(16)
        assert int.from_bytes(header[:4], "big") == 0x00000803  # ubyte, 3 dimensions
        assert [int.from_bytes(header[i : i + 4], "big") for i in (4, 8, 12)] == [count, 28, 28]
        images, labels = mnist.read_idx(folder / images_file), mnist.read_idx(folder / labels_file)
        assert images.shape == (count, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (count,) and labels.min() == 0 and labels.max() == 9
    for name, digest in MNIST_SHA256.items():
        with gzip.open(folder / f"{name}.gz", "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == digest


@pytest.mark.skipif(data.local_path("mnist") is None, reason="no local MNIST copy")
def test_mnist_loader_values():
    images, labels = mnist.load("mnist", "test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels).tolist()[:2] == [980, 1135]  # the known test-set class counts


def test_idx_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        mnist.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="header says shape"):
        mnist.read_idx(short)


def test_no_source_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))  # a data directory without mnist/
    start = time.perf_counter()
    with pytest.raises(data.DataUnavailable, match="MNIST is not available.*mnist/"):
        mnist.load("mnist")
    monkeypatch.delenv(data.ENV_VAR)  # no local copy, and a hub that refuses connections
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(data.DataUnavailable, match="ylecun/mnist"):
        mnist.load("mnist")
    assert time.perf_counter() - start < 5


def test_bad_loader_arguments():
    with pytest.raises(ValueError, match="dataset must be one of"):
        mnist.load("cifar")
    with pytest.raises(ValueError, match="split must be one of"):
        mnist.load("digits", "validation")


def test_command_line_gives_one_run_of_real_digits():
    family, initial = FAMILIES["vae"].build(1, 50, np.random.default_rng(0), epochs=1)
    assert isinstance(family, vae.VAE) and family.epochs == 1
    assert FAMILIES["vae"].exact is False and initial.shape == (1, 50, 8, 8)
    with pytest.raises(ValueError, match="runs must be <= 1"):
        FAMILIES["vae"].build(2, 50, np.random.default_rng(0))


@pytest.mark.skipif(data.local_path("mnist") is None, reason="no local MNIST copy")
def test_paper_profile_path_runs_and_resumes(tmp_path, monkeypatch):
    """The chapter's calls under the ``paper`` profile (MNIST 28×28, the authors' network,
    the per-minibatch synthetic stream, Replace, the checkpoint) with only the sizes made
    small: 300 images, 1 epoch, 2 generations. An interruption in generation 1 resumes
    to the same models as an uninterrupted run."""
    sizes = dict(n_train=300, generations=2, epochs=1, show_generations=[0, 1],
                 n_eval=100, classifier_train=300)
    config = settings.resolve("vae", "paper", **sizes)
    paper = settings.resolve("vae", "paper")
    assert {k: v for k, v in config.as_dict().items() if k not in sizes} == \
        {k: v for k, v in paper.as_dict().items() if k not in sizes}
    assert config["synthetic"] == "stream" and config["batch_size"] == 256

    def chapter_run(cache):  # the chapter's code, cell by cell
        rng = np.random.default_rng(config["seed"])
        family, real = vae_chapter.family_and_data(config, rng)
        mixing = loop.Replace()
        keep = config["show_generations"]
        checkpoint = vae_chapter.checkpoint_path(family, real, config["generations"],
                                         config["n_train"], rng, mixing, keep=keep,
                                         cache_dir=cache)
        history = loop.simulate(family, real, config["generations"], config["n_train"], rng,
                                mixing, keep=keep, checkpoint=checkpoint)
        return history, checkpoint

    uninterrupted, _ = chapter_run(tmp_path / "a")
    assert uninterrupted.kept[0][1].shape == (1, 300, 28, 28)  # D_0: real MNIST
    assert isinstance(uninterrupted.kept[1][1], vae.DecoderStream)
    train = vae.VAE.fit

    def interrupted_in_generation_1(self, data):
        if isinstance(data, vae.DecoderStream):
            raise KeyboardInterrupt
        return train(self, data)

    monkeypatch.setattr(vae.VAE, "fit", interrupted_in_generation_1)
    with pytest.raises(loop.Interrupted, match="interrupted after 1 of 2 generations"):
        chapter_run(tmp_path / "b")
    monkeypatch.setattr(vae.VAE, "fit", train)
    resumed, checkpoint = chapter_run(tmp_path / "b")
    assert checkpoint.exists() and checkpoint.parent == tmp_path / "b"
    pd.testing.assert_frame_equal(resumed.table, uninterrupted.table)
    for g in (0, 1):
        for a, b in zip(resumed.kept[g][0].model.state_dict().values(),
                        uninterrupted.kept[g][0].model.state_dict().values(), strict=True):
            assert torch.equal(a, b)

    images, labels = mnist.load(config["dataset"], "train")
    classifier = mnist.train_classifier(images[:300], labels[:300])
    _, summary = vae_chapter.generation_summary(resumed.kept, images, classifier, config["n_eval"],
                                        np.random.default_rng(0))
    assert list(summary["generation"]) == ["real", 0, 1]


def test_settings_table_and_memory_estimate():
    table = settings.settings_table("vae").data
    assert list(table.columns) == ["paper", "authors' code", "this book: paper profile",
                                   "this book: quick profile"]
    assert table.loc["training data of generation ≥ 1", "this book: paper profile"] == "stream"
    assert table.loc["epochs per generation", "this book: paper profile"] == "30"
    assert table.loc["generations shown (Fig 9)", "this book: paper profile"] == "0, 5, 10, 20"

    quick, name = settings.resolve("vae", "quick").peak_memory()
    paper, paper_name = settings.resolve("vae", "paper").peak_memory()
    assert 2**29 < quick < paper < 2**33 and paper_name == "n_train"
    bigger, _ = settings.resolve("vae", "paper", synthetic="fixed").peak_memory()
    assert bigger > paper  # fixed decoded sets are kept for every shown generation


def test_training_trials_are_variants_of_the_current_quick_profile():
    """The chapter's table of longer-training trials (benchmarks/vae_training_length.py)
    is not stale: every row was recorded with the settings that the quick profile and the
    row's overrides resolve to today (the `quick` row with none)."""
    import json

    from collapse.book import trials as book_trials

    trials = book_trials.read("vae_training_length.csv")
    assert trials.loc["quick", "settings"] == "{}"
    assert book_trials.stale(trials, "vae", vae_chapter.generation0_digest) == [], (
        "recorded with other settings; re-run benchmarks/vae_training_length.py for these")
    for _, row in trials.iterrows():
        config = settings.resolve("vae", "quick", **json.loads(row["settings"]))
        assert row["image_epochs"] == config.n_train * config.epochs
        assert 0.1 <= row["confidence_prior"] <= 1 and 0 <= row["tail"] <= 1
    # the chapter names one trial at the authors' scale
    paper = settings.resolve("vae", "paper")
    assert trials.loc["authors", ["n_train", "epochs", "batch_size", "learning_rate"]].tolist() \
        == [paper.n_train, paper.epochs, paper.batch_size, paper.learning_rate]
    # the chapter's reading of them: in every trial, prior samples are read far less
    # surely than reconstructions (a gap of 0.1 is over 10 standard errors of a mean
    # confidence over 2,000 images, whose spread is at most 0.5)
    assert (trials.confidence_reconstructed - trials.confidence_prior > 0.1).all()


@pytest.mark.parametrize("argv, message", [
    ([], "required: name"),
    (["x", "{bad"], "are not JSON"),
    (["x", "[1]"], "must be a JSON object"),
    (["x", '{"epochs": -1}'], "epochs must be >= 1"),
    (["x", '{"epoch": 3}'], "unknown parameter 'epoch'"),
])
def test_a_trial_script_refuses_bad_arguments_before_any_compute(argv, message, capsys):
    from collapse.book import trials

    with pytest.raises(SystemExit) as stop:
        trials.variant_from_command_line("vae", "a trial", argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err
    name, overrides, config = trials.variant_from_command_line("vae", "a trial",
                                                               ["longer", '{"epochs": 12}'])
    assert (name, overrides, config.epochs, config.n_train) == ("longer", {"epochs": 12}, 12,
                                                                 3000)


def test_a_stream_refuses_the_pool_rule_before_any_training():
    family = vae.VAE(synthetic="stream")
    images = np.zeros((1, 8, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="synthetic='fixed'"):
        loop.simulate(family, images, 2, 8, np.random.default_rng(0), loop.Pool())


def _weights_equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                  b.model.state_dict().values(), strict=True))


def test_the_fit_cache_reads_back_the_same_network_and_misses_on_any_change(
        tmp_path, digits, trained, monkeypatch):
    images = digits[0][None, :96]
    family = vae.VAE(epochs=1, batch_size=32, latent_dim=4, fit_cache=tmp_path)
    first = family.fit(images)
    assert len(list(tmp_path.glob("fit-*.pt"))) == 1 and not list(tmp_path.glob(".*"))
    # The same data and settings are read back, not trained: even as another family's
    # generation 0 (synthetic only changes what sample hands on).
    monkeypatch.setattr(vae_train, "plain_epochs", lambda *a: pytest.fail("trained again"))
    for same in (family, vae.VAE(epochs=1, batch_size=32, latent_dim=4, synthetic="fixed",
                                 fit_cache=tmp_path)):
        again = same.fit(images)
        assert _weights_equal(first, again) and again.bce == first.bce
    monkeypatch.undo()
    uncached = vae.VAE(epochs=1, batch_size=32, latent_dim=4).fit(images)
    assert _weights_equal(first, uncached)  # the cache changes nothing but the time
    # Other data, other settings or another previous decoder: another file.
    family.fit(digits[0][None, 96:192])
    vae.VAE(epochs=2, batch_size=32, latent_dim=4, fit_cache=tmp_path).fit(images)
    stream = family.sample(first, 64, np.random.default_rng(0))
    family.fit(stream)
    family.fit(dataclasses.replace(stream, decoders=(trained,)))
    assert len(list(tmp_path.glob("fit-*.pt"))) == 5


def test_an_unreadable_fit_cache_entry_is_retrained(tmp_path, digits):
    images = digits[0][None, :64]
    family = vae.VAE(epochs=1, batch_size=32, latent_dim=4, fit_cache=tmp_path)
    first = family.fit(images)
    (entry,) = tmp_path.glob("fit-*.pt")
    entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable VAE fit cache"):
        again = family.fit(images)
    assert _weights_equal(first, again)
    assert entry.stat().st_size > 100  # rewritten with the good fit
