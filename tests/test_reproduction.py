"""The reproduction-notes helpers, its profiles, and the chapter's table: every row has
computed cells (glued from the run), a place in the paper and a link to its section."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ROOT

from collapse import gaussian, loop, theory
from collapse.book import settings
from collapse.book.chapters import language_models as lm_chapter
from collapse.book.chapters import reproduction as rp


def test_mean_and_se():
    mean, se = rp.mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    means, ses = rp.mean_and_se(np.arange(12.0).reshape(4, 3))
    assert means.shape == ses.shape == (3,)
    with pytest.raises(ValueError, match="at least 2"):
        rp.mean_and_se([1.0])


def test_z_score_and_verdict():
    assert rp.z_score(1.2, 0.1, 1.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="standard_error"):
        rp.z_score(1.0, 0.0, 1.0)
    assert rp.verdict(2.0, df=None).startswith("agrees (z = +2.0, normal test")
    assert rp.verdict(-3.5, df=None).startswith("disagrees (z = -3.5")
    assert rp.verdict(4.0, df=None, limit=5, agree="fits").startswith("fits (z = +4.0")
    with pytest.raises(ValueError, match="finite"):
        rp.verdict(float("nan"), df=10)
    # a t-test with few degrees of freedom asks for more: 3.9 SE over 3 seeds is not enough
    assert rp.verdict(3.9, df=2) == "agrees (t = +3.9, t-test, 2 df, p = 0.06)"
    assert rp.verdict(3.9, df=1999).startswith("disagrees (t = +3.9, t-test, 1,999 df")
    with pytest.raises(TypeError):
        rp.verdict(1.0)  # every verdict names its degrees of freedom (None: an exact SE)


def test_t_test_and_its_verdict_name_the_test_and_degrees_of_freedom():
    from scipy import stats

    values = np.array([0.5, 1.5, 1.0, 2.0])
    result = rp.t_test(values)
    expected = stats.ttest_1samp(values, 0.0)
    assert result["t"] == pytest.approx(expected.statistic)
    assert result["p"] == pytest.approx(expected.pvalue) and result["df"] == 3
    paired = stats.ttest_rel([3.0, 4.1, 5.2], [2.0, 2.9, 4.3])
    result = rp.t_test(np.array([3.0, 4.1, 5.2]) - np.array([2.0, 2.9, 4.3]))
    assert result["t"] == pytest.approx(paired.statistic) and result["df"] == 2
    # z = +3.9 from 3 seeds is not significant as a t with 2 degrees of freedom
    three = rp.t_from(3.9, 1.0, 2)
    assert 0.05 < three["p"] < 0.07
    assert rp.t_verdict(three) == "no measurable difference (paired t = +3.9, df = 2, p = 0.06)"
    assert rp.t_verdict(rp.t_from(-9.0, 1.0, 4), lower="lower").startswith("lower (paired t")
    assert "p < 0.001" in rp.t_verdict(rp.t_from(50.0, 1.0, 10))
    with pytest.raises(ValueError, match="spread"):
        rp.t_test([1.0, 1.0, 1.0])


def test_against_real_pairs_each_continuation_with_the_block_after_its_prompt():
    import pandas as pd

    real = np.array([10.0, 20.0, 30.0, 40.0])
    new = np.array([10.0, 15.0, 20.0, 99.0])  # continuation i against real block i + 1
    rows = pd.concat([pd.DataFrame({"penalty": 0.0, "block": range(4), "perplexity": real}),
                      pd.DataFrame({"penalty": 2.0, "block": range(4), "perplexity": new})])
    result = rp.against_real(rows, 2.0)
    ratios = new[:-1] / real[1:]
    assert result["ratio"] == pytest.approx(np.exp(np.mean(np.log(ratios))))
    assert result["df"] == 2


@pytest.mark.parametrize(("value", "se", "text"), [
    (0.75234, 0.00412, "0.7523 ± 0.0041"),
    (12.345, None, "12.3"),
    (1234.5, 56.0, "1234 ± 56"),
    (2.5e-4, 1.9e-6, "2.50e-04 ± 1.9e-06"),
])
def test_with_error(value, se, text):
    assert rp.with_error(value, se) == text


def test_with_error_rejects_a_bad_error():
    with pytest.raises(ValueError, match="standard_error"):
        rp.with_error(1.0, -1.0)


def test_data_variance_per_run_estimates_var_x_exactly():
    """Averaged over chains, (µ̂ − µ)² + σ̂² is Var(X^{g+1}) = σ²(1 + (g+1)/M) (unbiased)."""
    M, G, runs = 20, 6, 40000
    rng = np.random.default_rng(3)
    D0 = gaussian.initial_data(runs, M, rng, exact=True)
    table = loop.simulate(gaussian.Gaussian(), D0, G, M, rng, exact=True).table
    last = table[table["generation"] == G - 1]
    values = rp.data_variance_per_run(last["mean"].to_numpy(), last["std"].to_numpy())
    mean, se = rp.mean_and_se(values)
    expected = theory.data_variance(M, generations=G + 1)[-1]
    assert expected == pytest.approx(1 + G / M)
    assert abs(mean - expected) < 4 * se
    with pytest.raises(ValueError, match="same shape"):
        rp.data_variance_per_run(np.zeros(3), np.zeros(4))


def test_cloud_variance():
    points = np.random.default_rng(0).standard_normal((3, 5000, 2)) * [1.0, 2.0]
    assert rp.cloud_variance(points) == pytest.approx(np.full(3, 5.0), rel=0.06)
    with pytest.raises(ValueError, match="runs"):
        rp.cloud_variance(np.zeros((4, 2)))


def test_check_rows():
    good = {"a": {"ran": "x", "result": "1 ± 0.1", "verdict": "agrees"}}
    assert rp.check_rows(good) is good
    with pytest.raises(ValueError, match="row 'a' has no computed result"):
        rp.check_rows({"a": {"ran": "x", "result": " ", "verdict": "agrees"}})
    with pytest.raises(ValueError, match="unknown fields"):
        rp.check_rows({"a": {**good["a"], "note": "?"}})
    with pytest.raises(ValueError, match="no rows"):
        rp.check_rows({})


def test_profiles_are_checked():
    config = settings.resolve("reproduction", "smoke")
    assert config["gaussian_M"] >= 4
    with pytest.raises(ValueError, match="fig12_repeats"):
        settings.resolve("reproduction", "smoke", fig12_repeats=[])
    with pytest.raises(ValueError, match="kimura_sizes"):
        settings.resolve("reproduction", "smoke", kimura_sizes=[1])
    for name in settings.PROFILE_NAMES:
        config = settings.resolve("reproduction", name)
        peak, parameter = config.peak_memory()
        assert peak > 0 and parameter in settings.defaults("reproduction", name)


def _table_rows():
    text = (ROOT / "chapters" / "reproduction.md").read_text()
    table = re.search(r"```\{list-table\}.*?\n```", text, re.S).group(0)
    return text, re.split(r"\n\* - ", table)[2:]  # skip the options and the header row


def test_every_row_of_the_table_is_computed_and_linked():
    text, rows = _table_rows()
    assert len(rows) >= 12
    glued = set(re.findall(r'glue\(f"repro-\{key\}-\{field\}"', text))
    assert glued, "the chapter glues its rows' cells"
    for row in rows:
        cells = [c.strip() for c in re.split(r"\n  - ", row)]
        assert len(cells) == 6, f"row with {len(cells)} cells: {cells[0]!r}"
        claim, verdict, result, ran, where, shown = cells  # the verdict beside its claim
        assert claim and where
        if result == "see chapter":  # an expensive comparison, run in its own chapter
            assert verdict == "see chapter" and "{doc}`" in shown, claim
            assert "{glue:text}" not in ran, claim
            continue
        keys = {re.fullmatch(r"\{glue:text\}`repro-(\w+)-(\w+)`", c).groups()
                for c in (ran, result, verdict)}
        assert {field for _, field in keys} == set(rp.ROW_FIELDS), claim
        (key,) = {k for k, _ in keys}
        assert re.search(rf'rows\["{key}"\] = |\("{key}", ', text), f"row {key!r} never computed"
        assert re.search(r"\{ref\}`[^`<]*<reproduction-[\w-]+>`", shown), f"{key!r}: no link"
        for label in re.findall(r"\{ref\}`[^`<]*<(reproduction-[\w-]+)>`", shown):
            assert f"({label})=" in text, f"row {key!r} links a missing label {label}"


def test_decode_variants_differ_only_by_the_relu():
    torch = pytest.importorskip("torch")
    from collapse import vae

    torch.manual_seed(0)
    model = vae.ConvVAE(28, 28).eval()
    latents = np.random.default_rng(0).standard_normal((5, 20))
    plain, clipped, zeroed = rp.decode_variants(model, latents)
    with torch.no_grad():
        expected = model.decode(torch.as_tensor(latents, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(plain, expected, atol=1e-6)
    assert plain.shape == clipped.shape == (5, 1, 28, 28)
    assert 0.2 < zeroed < 0.8
    assert np.abs(plain - clipped).mean() > 1e-4


def test_selection_overlap_both_ways():
    from collapse.book.chapters import reproduction

    result = reproduction.selection_overlap(1000, 0.1, 128, np.random.default_rng(0), 400)
    assert result["kept_authors"] == 128  # ⌈0.1·1000/128⌉ = 1 batch
    assert result["kept_random"] == 100
    assert result["overlap_authors"] == 0.0  # disjoint by construction
    z = ((result["overlap_random"] - result["overlap_random_expected"])
         / result["overlap_random_se"])
    assert abs(z) < 4


def test_tokenisation_comparison_counts_separators():
    from collapse import lm
    from collapse.book.chapters import reproduction

    lines = [" = Title = \n", " \n", " some words here and there \n"] * 50
    tokenizer = lm.opt_tokenizer(lines, vocab_size=300, chars=10_000)
    result = reproduction.tokenisation_comparison(tokenizer, lines, block=8)
    assert result["blank_lines"] == 50
    assert result["blocks_authors"] > result["blocks_plain"]  # one more token per line
    assert 0 < result["separator_share"] < 1


def test_lm_training_readings_run_every_setting(tmp_path):
    """Schedule, repetition penalty and base model, each run every way on the tiny OPT."""
    pytest.importorskip("torch")
    from collapse import data
    from collapse.lm.family import START_FROM
    from collapse.lm.train import SCHEDULES

    if data.local_path("wikitext-2") is None:
        pytest.skip("no local WikiText-2 copy (set COLLAPSE_DATA_DIR)")
    config = settings.resolve("language_models", "smoke", train_blocks=8, valid_blocks=4,
                              test_blocks=6)
    setup = lm_chapter.prepare(config, progress=False)
    readings = rp.lm_training_readings(setup, config, [0, 1], penalties=(1.0, 2.0),
                                       workdir=tmp_path)
    schedule = readings["schedule"]
    assert sorted(schedule["schedule"].unique()) == sorted(SCHEDULES)
    assert len(schedule) == 2 * len(SCHEDULES) and (schedule["test_perplexity"] > 1).all()
    start = readings["start_from"]
    assert sorted(start["start_from"].unique()) == sorted(START_FROM) and len(start) == 4
    # the two readings differ only in the base model of generation 1
    assert start.groupby("start_from")["test_perplexity"].mean().diff().abs().iloc[-1] > 0
    penalty = readings["penalty"]
    assert sorted(penalty["penalty"].unique()) == [0.0, 1.0, 2.0]
    assert (penalty.groupby("penalty").size() == len(setup.train)).all()
    assert (penalty["distinct_tokens"] <= setup.train.shape[1]).all()
    # the code's penalty in every generation against the paper's none: generation 1 from
    # the chapter's base; the no-penalty one is the start_from row of the same base
    everywhere = readings["everywhere"]
    assert sorted(everywhere["penalty"].unique()) == [1.0, 3.0] and len(everywhere) == 4
    same = start.query("start_from == @config.start_from").set_index("seed").test_perplexity
    np.testing.assert_allclose(everywhere.query("penalty == 1.0").set_index("seed")
                               .test_perplexity, same)
    versus = rp.against_real(penalty, 2.0)
    assert versus["df"] == len(setup.train) - 2 and versus["ratio"] > 0
