"""The `paper` profile's code path, end to end on CPU (issue 9, "Prove the paper path runs").

A model with OPT-125m's architecture and random weights is saved once as a local Hugging
Face directory ``COLLAPSE_DATA_DIR/opt-125m`` with a local tokenizer that has OPT's special
tokens and puts ``</s>`` before every line; the `paper` profile's ``facebook/opt-125m`` is
then loaded through the same path as a local copy of the real model. Every setting of the
profile is kept (AdamW with cosine schedule, batch 128, 5 beams, 64 new tokens, the authors'
tokenisation and 10 % rule, generation 0 as later base model) except the sizes: 8 training
blocks, 2 generations, 1 run. The loop below is the chapter's cell, line for line.

Sizes: OPT-125m's vocabulary (50,272) and layout, but hidden size 64, 2 layers, 4 heads and
feed-forward 256 (3.4 M parameters), because 125 M parameters take minutes per step on
this project's shared 2-core CPU. ``COLLAPSE_FULL_OPT=1`` uses the full 125 M sizes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from collapse import data, lm, loop
from collapse.book import settings
from collapse.book.chapters import language_models as lm_chapter

pytestmark = pytest.mark.skipif(data.local_path("wikitext-2") is None,
                                reason="no local WikiText-2 copy (set COLLAPSE_DATA_DIR)")
SMALL = dict(hidden_size=64, layers=2, heads=4, ffn_dim=256)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "wikitext-2").symlink_to(data.local_path("wikitext-2"))
    sizes = {} if os.environ.get("COLLAPSE_FULL_OPT") == "1" else SMALL
    lm.random_opt(root / "opt-125m", seed=0, **sizes)
    return root


def run_chapter_loop(setup, config, regimes):
    """The chapter's experiment cell (chapters/language_models.md), line for line."""
    results = {}
    for name in regimes:
        histories = []
        for run in range(config["runs"]):
            family, mixing = lm_chapter.regime(setup, config, name, run)
            rng = np.random.default_rng([config["seed"], run])
            histories.append(loop.simulate(
                family, setup.train[None], config["generations"], len(setup.train), rng,
                mixing, keep=range(config["generations"]),
                checkpoint=lm_chapter.checkpoint_path(family, mixing, rng, config["generations"])))
        results[name] = lm_chapter.regime_tables(histories)
    return results


def test_paper_profile_runs_end_to_end_and_resumes(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)  # a fresh .cache/lm
    config = settings.resolve("language_models", "paper", train_blocks=8, valid_blocks=4,
                              test_blocks=4, generations=2, runs=1)
    assert config["model"] == "facebook/opt-125m"
    setup = lm_chapter.prepare(config, progress=False)
    assert setup.base == str((data_dir / "opt-125m").resolve())
    assert setup.train.shape == (8, 64) and (setup.train == 2).any()  # </s> per line
    model = lm.load_model(setup.base)
    assert model.config.vocab_size == 50272 and model.config.eos_token_id == 2
    regimes = ["no original data", "10% original data"]

    # An interruption while generation 1 fine-tunes (SIGINT/SIGTERM become this).
    calls = {"train": 0}
    real_train = lm.family.train

    def interrupted_train(*args, **kwargs):
        calls["train"] += 1
        if calls["train"] == 2:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(lm.family, "train", interrupted_train)
    with pytest.raises(loop.Interrupted, match="run the same command again"):
        run_chapter_loop(setup, config, regimes)

    def counting_train(*args, **kwargs):
        calls["train"] += 1
        return real_train(*args, **kwargs)

    calls["train"] = 0
    monkeypatch.setattr(lm.family, "train", counting_train)
    results = run_chapter_loop(setup, config, regimes)
    # resumed: generation 1 of the first regime, then generation 0 of the second; its
    # generation 1 keeps all 8 real blocks (one batch of 128), the same fit, from the cache
    assert calls["train"] == 2

    for result in results.values():
        table = result["table"]
        assert list(table.generation) == [0, 1] and (table.test_perplexity > 1).all()
        per_sequence = result["perplexities"]
        assert per_sequence.groupby("generation").size().tolist() == [8, 8]
        assert lm_chapter.tail_share(per_sequence).loc[0] <= 0.125
        assert result["data"][0][1].shape == (8, 64)
    # the authors' 10 %: ⌈0.1·8/128⌉ = 1 batch of 128 > 8 blocks, so all 8 are kept
    np.testing.assert_array_equal(results["10% original data"]["data"][0][1], setup.train)
    kept = results["no original data"]["data"][0][1]
    assert not np.array_equal(kept, setup.train)
