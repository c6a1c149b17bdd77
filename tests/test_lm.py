"""The language-model family (paper §5.2), offline with the tiny smoke-profile OPT."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from collapse import data, lm, profiles
from collapse.loop import Replace, simulate

pytestmark = pytest.mark.skipif(data.local_path("wikitext-2") is None,
                                reason="no local WikiText-2 copy (set COLLAPSE_DATA_DIR)")


def smoke_spec():
    return lm.tiny_spec(profiles.resolve("language_models", "smoke"))


@pytest.fixture(scope="module")
def setup():
    return lm.prepare("tiny", 12, 6, 8, spec=smoke_spec(), progress=False)


def family(setup, workdir, **options):
    settings = dict(epochs=1, lr=1e-3, batch_size=6, num_beams=2, generate_batch=12,
                    progress=False, workdir=str(workdir))
    settings.update(options)
    return lm.LanguageModel(setup.base, setup.train, setup.valid, setup.test, **settings)


def test_per_sequence_perplexity_is_exp_mean_token_nll(setup):
    """Independent computation: one sequence at a time, log-softmax of the next token."""
    model = lm._load(setup.base)
    blocks = setup.test[:3, :20]
    expected = []
    with torch.no_grad():
        for row in blocks:
            ids = torch.as_tensor(row[None], dtype=torch.long)
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
            nll = [-logp[t - 1, row[t]].item() for t in range(1, len(row))]
            expected.append(np.exp(np.mean(nll)))
    np.testing.assert_allclose(lm.perplexities(model, blocks, batch_size=2), expected,
                               rtol=1e-4)
    # equal-length blocks: the data set's perplexity is the geometric mean of the blocks'
    np.testing.assert_allclose(lm.perplexity(model, blocks),
                               np.exp(np.mean(np.log(expected))), rtol=1e-4)


def test_fine_tuning_lowers_perplexity_on_the_training_data(setup, tmp_path):
    lm_family = family(setup, tmp_path, epochs=4)
    before = lm.perplexity(setup.base, setup.train)
    after = lm.perplexity(lm_family.fit(setup.train[None]), setup.train)
    assert after < 0.9 * before


def test_beam_width_one_is_greedy_decoding(setup):
    """With one beam, generation equals argmax decoding with end-of-text suppressed."""
    model = lm._load(setup.base)
    prompts = setup.train[:2, :16]
    generated = lm.continue_blocks(model, prompts, new_tokens=6, num_beams=1, progress=False)
    eos = model.config.eos_token_id
    with torch.no_grad():
        for prompt, row in zip(prompts, generated, strict=True):
            ids = torch.as_tensor(prompt[None], dtype=torch.long)
            for _ in range(6):
                logits = model(input_ids=ids).logits[0, -1]
                logits[eos] = -torch.inf
                ids = torch.cat([ids, logits.argmax().view(1, 1)], dim=1)
            np.testing.assert_array_equal(row, ids[0, len(prompt):].numpy())


def test_sample_writes_one_block_per_prompt_with_beam_search(setup, tmp_path):
    lm_family = family(setup, tmp_path)
    model = lm_family.fit(setup.train[None])
    everything = lm_family.sample(model, len(setup.train), np.random.default_rng(0))
    assert everything.shape == (1, *setup.train.shape)
    assert everything.min() >= 0 and everything.max() < lm._load(model).config.vocab_size
    # beam search is deterministic: a subset of prompts gets the same continuations
    rng = np.random.default_rng(1)
    subset = lm_family.sample(model, 5, rng)
    chosen = np.sort(np.random.default_rng(1).choice(len(setup.train), 5, replace=False))
    np.testing.assert_array_equal(subset[0], everything[0, chosen])


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_without_redoing_finished_generations(setup, tmp_path):
    checkpoint = tmp_path / "run.pkl"
    fitted, budget = [], {"samples": None}  # outside the family: not part of its signature

    class Counting(lm.LanguageModel):
        def fit(self, data):
            fitted.append(data.copy())
            return super().fit(data)

        def sample(self, params, n, rng):
            if budget["samples"] is not None:
                if budget["samples"] == 0:
                    raise Interrupted
                budget["samples"] -= 1
            return super().sample(params, n, rng)

    def make(calls_left=None):
        budget["samples"] = calls_left
        return Counting(setup.base, setup.train, setup.valid, setup.test, epochs=1, lr=1e-3,
                        batch_size=6, num_beams=2, generate_batch=12, progress=False,
                        workdir=str(tmp_path / "models"))

    arguments = dict(generations=3, sample_size=len(setup.train), mixing=Replace())
    with pytest.raises(Interrupted):  # dies while generation 1 writes D_2
        simulate(make(calls_left=1), setup.train[None], rng=np.random.default_rng(0),
                 checkpoint=checkpoint, **arguments)
    assert len(fitted) == 2
    first_d1 = fitted[1]
    fitted.clear()
    resumed = simulate(make(), setup.train[None], rng=np.random.default_rng(0),
                       checkpoint=checkpoint, **arguments)
    assert len(fitted) == 2  # generations 1 and 2 only; generation 0 is not refitted
    np.testing.assert_array_equal(fitted[0], first_d1)
    fitted.clear()
    straight = simulate(make(), setup.train[None], rng=np.random.default_rng(0),
                        checkpoint=None, **arguments)
    assert list(resumed.table.generation) == [0, 1, 2]
    np.testing.assert_allclose(resumed.table.test_perplexity, straight.table.test_perplexity,
                               rtol=1e-6)


def test_run_regime_keeps_ten_percent_original_blocks(setup, tmp_path):
    table, kept = lm.run_regime(setup, runs=1, generations=2, epochs=1, keep_original=0.25,
                                lr=1e-3, batch_size=6, num_beams=2, generate_batch=12,
                                progress=False, cache=tmp_path)
    assert list(table.generation) == [0, 1]
    second = kept[0]["data"][1]
    assert second.shape == setup.train.shape
    originals = {row.tobytes() for row in setup.train}
    assert sum(row.tobytes() in originals for row in second[-3:]) == 3  # 25% of 12 blocks
    per_sequence = lm.generation_perplexities(kept)
    assert per_sequence.groupby("generation").size().tolist() == [12, 12]


def test_bad_input_fails_before_compute(setup, tmp_path):
    with pytest.raises(ValueError, match="repetition_penalty"):
        family(setup, tmp_path, repetition_penalty=0.5)
    with pytest.raises(ValueError, match="heads"):
        profiles.resolve("language_models", "smoke", hidden_size=30, heads=4)
    with pytest.raises(ValueError, match="train_blocks"):
        lm.prepare("tiny", 10**9, 2, 2, spec=smoke_spec(), progress=False)


def test_missing_data_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataUnavailable, match="WikiText-2"):
        lm.wikitext_lines("train")
    with pytest.raises(data.DataUnavailable, match="opt-125m"):
        lm.base_model_source("facebook/opt-125m")
    monkeypatch.delenv("COLLAPSE_DATA_DIR")
    start = time.perf_counter()
    if not data.hub_reachable():  # this machine: no hub
        with pytest.raises(data.DataUnavailable, match="COLLAPSE_DATA_DIR"):
            lm.wikitext_lines("test")
    assert time.perf_counter() - start < 10


def test_command_line_runs_the_language_model_family(tmp_path):
    from collapse.__main__ import main

    out = tmp_path / "lm.csv"
    assert main(["simulate", "lm", "--runs", "1", "--M", "8", "--generations", "2",
                 "--mixing", "keep-original", "--fraction", "0.25", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.generation) == [0, 1] and (table.test_perplexity > 1).all()


def test_a_local_pretrained_model_directory_takes_the_paper_path(setup):
    """``model=<directory>`` (e.g. a local copy of facebook/opt-125m) is loaded as given,
    with its own tokenizer, and the experiment may use the whole training split."""
    assert lm.base_model_source(setup.base) == setup.base
    local = lm.prepare(setup.base, 8, 4, 4, progress=False)
    assert local.base == setup.base and local.train.shape == (8, lm.BLOCK)
    whole = lm.load_blocks(setup.base, "train")
    np.testing.assert_array_equal(local.train, whole[:8])
    assert len(whole) > 2 * len(lm.prepare("tiny", 0, 4, 4, spec=smoke_spec(),
                                           progress=False).train) - 2
