"""The language-model family (paper §5.2), offline with the tiny smoke-profile OPT."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
import torch

from collapse import data, lm, loop
from collapse.book import settings
from collapse.book.chapters import language_models as lm_chapter
from collapse.loop import Replace, simulate
from collapse.testing import check_family

pytestmark = pytest.mark.skipif(data.local_path("wikitext-2") is None,
                                reason="no local WikiText-2 copy (set COLLAPSE_DATA_DIR)")


def smoke(**overrides):
    return settings.resolve("language_models", "smoke", **overrides)


@pytest.fixture(scope="module")
def setup():
    return lm_chapter.prepare(smoke(train_blocks=12, valid_blocks=6, test_blocks=8), progress=False)


def family(setup, workdir, **options):
    settings = dict(training=lm.Training(epochs=1, lr=1e-3, batch_size=6), num_beams=2,
                    generate_batch=12, progress=False, workdir=str(workdir))
    settings.update(options)
    return lm.LanguageModel(setup.base, setup.train, setup.valid, setup.test, **settings)


def test_authors_tokenisation_puts_bos_before_every_line_blank_ones_included(setup):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(setup.base)
    lines = [" = Heading = \n", "", " Some text .\n"]
    ids = tokenizer(lines)["input_ids"]
    assert [row[0] for row in ids] == [2, 2, 2] and ids[1] == [2]
    authors = lm.to_blocks(tokenizer, lines * 20, block=8)
    plain = lm.to_blocks(tokenizer, lines * 20, block=8, tokenisation="plain")
    assert (plain == 2).sum() == 0
    flat = [t for row in tokenizer(lines * 20)["input_ids"] for t in row]
    np.testing.assert_array_equal(authors.ravel(), flat[: len(flat) // 8 * 8])


def test_first_blocks_are_the_first_blocks_of_the_whole_text(setup):
    from transformers import AutoTokenizer

    from collapse.lm.data import first_blocks

    tokenizer = AutoTokenizer.from_pretrained(setup.base)
    lines = lm.wikitext_lines("validation")[:600]
    every = lm.to_blocks(tokenizer, lines)
    for n in (1, 37, len(every)):
        np.testing.assert_array_equal(first_blocks(tokenizer, lines, n, chunk=50), every[:n])
    assert len(first_blocks(tokenizer, lines, len(every) + 5, chunk=50)) == len(every)
    np.testing.assert_array_equal(first_blocks(tokenizer, lines, 0), every)


def test_per_sequence_perplexity_is_exp_mean_token_nll(setup):
    """Independent computation: one sequence at a time, log-softmax of the next token."""
    model = lm.load_model(setup.base)
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
    np.testing.assert_allclose(lm.perplexity(model, blocks),
                               np.exp(np.mean(np.log(expected))), rtol=1e-4)


def test_scoring_is_in_eval_mode_whatever_the_model_mode(setup):
    """Dropout off for validation and perplexity (the bug of issue 9): the same value from a
    model left in training mode, which is then still in training mode."""
    model = lm.load_model(setup.base)
    model.config.dropout = 0.5
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.5
    evaluated = lm.perplexity(model, setup.test)
    model.train()
    assert lm.perplexity(model, setup.test) == pytest.approx(evaluated, rel=1e-6)
    assert model.training


def test_cosine_schedule_is_stepped_once_per_epoch():
    model = torch.nn.Linear(2, 1)
    seen = []
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        assert self.param_groups[0]["weight_decay"] == 0.01
        return original(self, *args, **kwargs)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids, labels):
            return type("Out", (), {"loss": self.inner(input_ids.float()[:, :2]).pow(2).mean()})

    torch.optim.AdamW.step = spy
    try:
        lm.train(Wrapper(), np.ones((4, 3), dtype=np.int64), lm.Training(epochs=3, lr=1e-2,
                 batch_size=2), seed=0, progress=False)
    finally:
        torch.optim.AdamW.step = original
    expected = [1e-6 + (1e-2 - 1e-6) * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]
    np.testing.assert_allclose(seen, np.repeat(expected, 2), rtol=1e-9)


def test_fine_tuning_lowers_perplexity_on_the_training_data(setup, tmp_path):
    lm_family = family(setup, tmp_path, training=lm.Training(epochs=4, lr=1e-3, batch_size=6))
    before = lm.perplexity(setup.base, setup.train)
    after = lm.perplexity(lm_family.fit(setup.train[None]), setup.train)
    assert after < 0.9 * before


def test_generation_0_as_base_model_of_later_generations(setup, tmp_path):
    import json
    from pathlib import Path

    chain = family(setup, tmp_path, start_from="generation 0")
    first = chain.fit(setup.train[None])
    later = chain.fit(setup.train[::-1][None])
    assert json.loads((Path(later) / "train.json").read_text())["base"] == first
    fresh = family(setup, tmp_path, start_from="pretrained").fit(setup.train[::-1][None])
    assert json.loads((Path(fresh) / "train.json").read_text())["base"] == setup.base


def test_beam_width_one_is_greedy_decoding(setup):
    """With one beam, generation equals argmax decoding with end-of-text suppressed."""
    model = lm.load_model(setup.base)
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


@pytest.mark.parametrize("num_beams, penalty", [(3, 1.0), (5, 2.0)])
def test_beam_search_is_hugging_face_generate_token_for_token(setup, num_beams, penalty):
    """The written-out beam search (prompt keys stored once, beams masked to their
    ancestors) returns exactly what ``generate`` returns with the same settings."""
    from collapse.lm.generate import beam_search_supports

    model = lm.load_model(setup.base)
    assert beam_search_supports(model)
    prompts = setup.train[:, :24]
    generated = lm.continue_blocks(model, prompts, new_tokens=20, num_beams=num_beams,
                                   repetition_penalty=penalty, batch_size=5, progress=False)
    ids = torch.as_tensor(prompts, dtype=torch.long)
    with torch.inference_mode():
        expected = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
            num_beams=num_beams, max_new_tokens=20, min_new_tokens=20,
            repetition_penalty=penalty, pad_token_id=model.config.pad_token_id,
            eos_token_id=model.config.eos_token_id)[:, ids.shape[1]:]
    np.testing.assert_array_equal(generated, expected.numpy())


def test_sample_writes_one_block_per_prompt_with_beam_search(setup, tmp_path):
    lm_family = family(setup, tmp_path)
    model = lm_family.fit(setup.train[None])
    everything = lm_family.sample(model, len(setup.train), np.random.default_rng(0))
    assert everything.shape == (1, *setup.train.shape)
    assert everything.min() >= 0 and everything.max() < lm.load_model(model).config.vocab_size
    subset = lm_family.sample(model, 5, np.random.default_rng(1))
    chosen = np.sort(np.random.default_rng(1).choice(len(setup.train), 5, replace=False))
    np.testing.assert_array_equal(subset[0], everything[0, chosen])


def test_keep_original_batches_is_the_authors_disjoint_ten_percent():
    rule = lm.KeepOriginalBatches(0.1, batch_size=4)
    assert rule.kept(100) == 12  # ⌈0.1·100/4⌉ = 3 batches of 4
    assert rule.kept(8) == 4 and rule.counts(100) == (88, 0, 12)
    original = np.arange(100)[None, :, None] * np.ones((1, 1, 3), dtype=int)
    new = -original - 1  # continuation i of prompt i
    out = rule.training_set(new, loop.Sources(original, original), 100,
                            np.random.default_rng(0))
    kept = (out[0, :, 0] >= 0)
    assert kept.sum() == 12
    # each position holds either its original block or its continuation: disjoint prompts
    np.testing.assert_array_equal(np.where(kept[:, None], original[0], new[0]), out[0])


def test_lm_stand_in_keeps_the_family_contract(setup, tmp_path):
    def make():
        return family(setup, tmp_path / "models", training=lm.Training(epochs=1, lr=1e-3,
                      batch_size=12), num_beams=1)

    def initial(rng):  # D_0: the real blocks in a random order (the order drives training)
        return setup.train[rng.permutation(len(setup.train))][None]

    check_family(make, initial, size=len(setup.train), generations=2,
                   mixings=(Replace(), loop.KeepOriginal(0.25), lm.KeepOriginalBatches(0.25, 3)),
                   checkpoint_dir=tmp_path)


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
        return Counting(setup.base, setup.train, setup.valid, setup.test,
                        training=lm.Training(epochs=1, lr=1e-3, batch_size=6), num_beams=2,
                        generate_batch=12, progress=False, workdir=str(tmp_path / "models"))

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


def test_bad_input_fails_before_compute(setup, tmp_path):
    with pytest.raises(ValueError, match="repetition_penalty"):
        family(setup, tmp_path, repetition_penalty=0.5)
    with pytest.raises(ValueError, match="start_from"):
        family(setup, tmp_path, start_from="previous")
    with pytest.raises(ValueError, match="schedule"):
        lm.Training(schedule="constant")
    with pytest.raises(ValueError, match="heads"):
        smoke(hidden_size=30, heads=4)
    with pytest.raises(ValueError, match="keep_original"):
        smoke(keep_original="some")
    with pytest.raises(ValueError, match="train_blocks"):
        lm_chapter.prepare(smoke(train_blocks=10**9), progress=False)


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
    from collapse.book.cli import main

    out = tmp_path / "lm.csv"
    assert main(["simulate", "lm", "--runs", "1", "--M", "8", "--generations", "2",
                 "--mixing", "keep-original", "--fraction", "0.25", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.generation) == [0, 1] and (table.test_perplexity > 1).all()


def test_settings_table_and_memory_estimate_come_from_the_profiles():
    table = settings.settings_table("language_models").data
    assert list(table.columns) == ["paper", "authors' code", "this book: paper profile",
                                   "this book: quick profile"]
    assert table.loc["lr", "this book: paper profile"] == "2e-05"

    paper, driver = settings.resolve("language_models", "paper").peak_memory()
    quick, _ = settings.resolve("language_models", "quick").peak_memory()
    assert 3e9 < paper < 40e9 and quick < 2e9 and driver in {"model", "batch_size",
                                                              "generate_batch"}


def test_estimate_counts_the_work_of_a_profile_and_divides_by_measured_rates():
    from collapse.book import lm_estimate as estimate

    config = settings.resolve("language_models", "smoke")  # 24/8/16 blocks, 2 gens, 1 run
    tokens = estimate.work(config)
    # epochs [1, 2]: regimes train 1, 2 and 1 epochs on 24 blocks in each of 2 generations
    assert tokens["trained"] == (1 + 2 + 1) * 2 * 24 * 64
    assert tokens["generated"] == 3 * 1 * 24 * 64
    rates = {"train_tokens_per_s": 64.0, "score_tokens_per_s": 64.0,
             "generated_tokens_per_s": 64.0, "device": "cpu", "num_beams": 2}
    seconds = estimate.estimate(config, rates)
    assert seconds["train"] == (1 + 2 + 1) * 2 * 24
    assert "total" in estimate.report(config, rates)


# ----------------------------------------------------- the stand-in and the authors' code


def test_authors_tokenisation_fails_loudly_with_a_tokenizer_of_other_habits(setup):
    """A tokenizer that does not put </s> before every line (a hub tokenizer with other
    settings), or that adds more than that, stops block cutting instead of silently
    changing the blocks."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    lines = [" = Heading = \n", "", " Some text .\n"] * 4
    plain = AutoTokenizer.from_pretrained(setup.base)
    plain._tokenizer.post_processor = TemplateProcessing(single="$A", special_tokens=[])
    with pytest.raises(ValueError, match="puts </s> before every line"):
        lm.to_blocks(plain, lines, block=4)
    lm.to_blocks(plain, lines, block=4, tokenisation="plain")  # nothing expected: fine
    both_ends = AutoTokenizer.from_pretrained(setup.base)
    both_ends._tokenizer.post_processor = TemplateProcessing(
        single="</s> $A </s>", special_tokens=[("</s>", 2)])
    with pytest.raises(ValueError, match="adds only </s>"):
        lm.to_blocks(both_ends, lines, block=4)


def test_blocks_cut_per_group_of_lines_as_the_authors_datasets_map(setup):
    """``group_lines``: every group of lines is cut on its own and drops its remainder (the
    authors' group_texts inside datasets.map batches of 1,000 lines)."""
    from transformers import AutoTokenizer

    from collapse.lm.data import first_blocks

    tokenizer = AutoTokenizer.from_pretrained(setup.base)
    lines = lm.wikitext_lines("validation")[:700]
    grouped = lm.to_blocks(tokenizer, lines, group_lines=100)
    expected = np.concatenate([lm.to_blocks(tokenizer, lines[i:i + 100])
                               for i in range(0, 700, 100)])
    np.testing.assert_array_equal(grouped, expected)
    whole = lm.to_blocks(tokenizer, lines)
    assert len(whole) - 7 <= len(grouped) <= len(whole)  # at most one block lost per group
    np.testing.assert_array_equal(first_blocks(tokenizer, lines, 9, group_lines=100),
                                  grouped[:9])
    np.testing.assert_array_equal(first_blocks(tokenizer, lines, 0, group_lines=100), grouped)


def test_the_authors_perplexity_averages_per_batch_losses(setup):
    """``average="batches"``: exp of the mean of per-batch mean losses (the last batch
    partial); equal to the token average when every batch is full."""
    model = lm.load_model(setup.base)
    blocks = setup.test[:7]
    nll = lm.token_nll(model, blocks)
    expected = np.exp(np.mean([nll[:3].mean(), nll[3:6].mean(), nll[6:].mean()]))
    assert lm.perplexity(model, blocks, batch_size=3, average="batches") == \
        pytest.approx(expected, rel=1e-6)
    assert lm.perplexity(model, blocks[:6], batch_size=3, average="batches") == \
        pytest.approx(lm.perplexity(model, blocks[:6]), rel=1e-6)
    with pytest.raises(ValueError, match="average"):
        lm.perplexity(model, blocks, average="runs")


@pytest.mark.parametrize("everywhere", [False, True])
def test_penalty_everywhere_is_the_authors_main_py_in_every_regime(setup, everywhere):
    config = smoke(repetition_penalty=3.0, penalty_everywhere=everywhere)
    penalties = {name: lm_chapter.regime(setup, config, name, 0)[0].repetition_penalty
                 for name in lm_chapter.REGIMES}
    expected = {name: 3.0 if everywhere or "penalty" in name else 1.0
                for name in lm_chapter.REGIMES}
    assert penalties == expected


def test_stand_in_captions_say_so():
    """Every language-model figure says on which model it ran: the stand-in's captions
    say that the paper's scale needs the paper profile (issue 18.1)."""
    import jupytext
    from conftest import ROOT

    note = lm_chapter.caption_note(smoke(), "Fig 10")
    assert "offline stand-in" in note and "paper profile" in note
    assert "facebook/opt-125m" in lm_chapter.caption_note(
        settings.resolve("language_models", "paper"), "Fig 10")
    figures = [c for c in jupytext.read(ROOT / "chapters" / "language_models.md").cells
               if "mystnb" in c.metadata]
    assert len(figures) == 4
    for cell in figures:
        caption = cell.metadata["mystnb"]["figure"]["caption"]
        assert caption.startswith("{glue:text}`lm-scale-"), caption
        assert "Reproduces" not in caption


def test_pretraining_texts():
    from collapse.lm import corpus

    line = (' The game \'s " battle system " ( BSS ) , 1 @,@ 000 @-@ year , '
            "isn 't over .\n")
    assert corpus.detokenize(line) == \
        ' The game\'s "battle system" (BSS), 1,000-year, isn\'t over.\n'
    assert corpus.detokenize(" = = Gameplay = = \n") == " Gameplay\n"
    paragraphs = corpus._prose('Short.\n\n    A long enough paragraph of plain words that '
                               'reads as English prose, more than sixty characters.\n\n'
                               '    >>> np.sum([1, 2])\n    3\n\n    Parameters\n    ------'
                               '----\n')
    assert paragraphs == [" A long enough paragraph of plain words that reads as English "
                          "prose, more than sixty characters.\n"]
    half = corpus.pretraining_lines("wikitext", drop_unk=True)
    every = lm.data.text_lines("train", True)
    assert half == every[len(every) // 2:]
    shuffled = corpus.pretraining_lines("wikitext-shuffled")
    assert [sorted(a.split()) for a in shuffled[:50]] == [sorted(b.split()) for b in half[:50]]
    assert corpus.uses_wikitext("wikitext-prose") and not corpus.uses_wikitext("docstrings")
    with pytest.raises(ValueError, match="pretrain_text"):
        smoke(pretrain_text="the web")


def test_fine_tuning_helps_the_smoke_stand_in(tmp_path, monkeypatch):
    """Generation 0 is better than zero-shot on the test set at the smoke profile's size,
    computed as the chapter glues them (mean over runs of generation 0's test perplexity):
    the stand-in is pre-trained on docstrings, not on WikiText-2."""
    monkeypatch.chdir(tmp_path)  # its own cache
    config = smoke()
    assert config.pretrain_text == "docstrings"
    zero_shot, gen0 = lm_chapter.fine_tuning_gain(lm_chapter.prepare(config, progress=False),
                                                  config)
    assert gen0 < 0.97 * zero_shot


@pytest.mark.slow
def test_fine_tuning_helps_the_quick_stand_in():
    """The quick profile's glued numbers: generation 0 clearly below zero-shot (about
    half). Pre-trains the quick base once (about 20 s on one core) into .cache/lm, which
    the chapter then reuses."""
    config = settings.resolve("language_models", "quick")
    zero_shot, gen0 = lm_chapter.fine_tuning_gain(lm_chapter.prepare(config, progress=False),
                                                  config)
    assert gen0 < 0.75 * zero_shot


def test_stand_in_search_rows_are_variants_of_the_current_quick_profile():
    """The chapter's "what we tried" table (benchmarks/lm_stand_in.py) is not stale: every
    row ran with what the quick profile and the row's overrides resolve to today, and the
    profile's own row (no overrides) is there."""
    from collapse.book import trials

    search = trials.read("lm_stand_in.csv")
    assert "{}" in set(search.settings)
    assert trials.stale(search, "language_models") == [], (
        "recorded with other settings; re-run benchmarks/lm_stand_in.py for these")
