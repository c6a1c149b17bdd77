"""The word bigram model: sampling and scoring against brute force, §4.1's survival law
for words, the loop's contract."""

from __future__ import annotations

import numpy as np
import pytest

from collapse import loop, ngram
from collapse.testing import check_family

LINES = ["the cat sat on the mat", "the dog sat", "a cat and a dog", "", "the end"]


def small_blocks(runs=1, block=4):
    vocabulary = ngram.Vocabulary.from_lines(LINES)
    ids = vocabulary.encode(LINES)
    return vocabulary, np.repeat(ngram.to_blocks(ids, block)[None], runs, axis=0)


def test_vocabulary_round_trip_and_unknown_words():
    vocabulary = ngram.Vocabulary.from_lines(LINES)
    ids = vocabulary.encode(LINES)
    assert vocabulary.decode(ids).split() == " <eos> ".join(
        line for line in LINES if line).split() + ["<eos>"]
    with pytest.raises(ValueError, match="'zebra'"):
        vocabulary.encode(["the zebra"], strict=True)
    assert vocabulary.decode(vocabulary.encode(["the zebra"])) == "the <unk> <eos>"


def brute_force_conditional(family, counts, previous):
    """p(next | previous) written out from the definition."""
    word = counts.unigram / counts.unigram.sum()
    V = family.vocabulary_size
    pair = np.zeros(V)
    for key, count in zip(counts.keys, np.diff(np.concatenate([[0], counts.cumulative])),
                          strict=True):
        if key // V == previous:
            pair[key % V] = count
    if pair.sum() == 0:
        return word
    return family.interpolation * pair / pair.sum() + (1 - family.interpolation) * word


def test_scoring_matches_the_definition():
    vocabulary, blocks = small_blocks(block=4)
    family = ngram.BigramLM(len(vocabulary), interpolation=0.7, block=4)
    counts = family.fit(blocks).runs[0]
    word = counts.unigram / counts.unigram.sum()
    epsilon = 1e-3
    expected = []
    for row in blocks[0]:
        p = [word[row[0]]] + [brute_force_conditional(family, counts, a)[b]
                              for a, b in zip(row[:-1], row[1:], strict=True)]
        expected.append(np.log((1 - epsilon) * np.array(p) + epsilon / len(vocabulary)))
    np.testing.assert_allclose(family.log_probabilities(counts, blocks[0], epsilon),
                               np.array(expected), rtol=1e-12)


def test_sampled_transitions_follow_the_model():
    """Chi-square of 200,000 sampled transitions out of 'the' against the model's law."""
    from scipy import stats

    vocabulary, blocks = small_blocks(block=4)
    family = ngram.BigramLM(len(vocabulary), interpolation=0.7, block=2)
    params = family.fit(blocks)
    draws = family.sample(params, 400_000, np.random.default_rng(5))[0]
    the = vocabulary.words.index("the")
    following = draws[draws[:, 0] == the, 1]
    law = brute_force_conditional(family, params.runs[0], the)
    observed = np.bincount(following, minlength=len(vocabulary))
    keep = law > 0
    assert observed[~keep].sum() == 0
    p_value = stats.chisquare(observed[keep], law[keep] * len(following)).pvalue
    assert p_value > 1e-3
    first = np.bincount(draws[:, 0], minlength=len(vocabulary))
    word = params.runs[0].unigram / params.runs[0].unigram.sum()
    assert stats.chisquare(first[word > 0], word[word > 0] * len(draws)).pvalue > 1e-3


def test_word_survival_matches_the_exact_count():
    """λ = 0: tokens are i.i.d. from the unigram, so E[types after one generation] is
    Σ_w 1 − (1 − p_w)^N exactly; 4,000 runs must agree within 4 standard errors."""
    rng = np.random.default_rng(11)
    V, runs = 60, 4000
    zipf = np.maximum(1, np.round(200 / np.arange(1, V + 1))).astype(int)
    stream = np.repeat(np.arange(V), zipf)
    rng.shuffle(stream)
    blocks = ngram.to_blocks(stream.astype(np.int32), 8)
    family = ngram.BigramLM(V, interpolation=0.0, block=8)
    params = family.fit(blocks[None])
    params.runs = params.runs * runs
    draws = family.sample(params, len(blocks), rng)
    types = np.array([len(np.unique(run)) for run in draws])
    expected = ngram.expected_types_after_one_generation(params.runs[0].unigram, draws[0].size)
    standard_error = types.std(ddof=1) / np.sqrt(runs)
    assert abs(types.mean() - expected) < 4 * standard_error
    assert expected < V  # the rare words are expected to be lost


def test_vocabulary_only_shrinks_and_runs_are_deterministic():
    vocabulary, blocks = small_blocks(runs=3, block=4)
    family = ngram.BigramLM(len(vocabulary), block=4)

    def run(seed):
        rng = np.random.default_rng(seed)
        return loop.simulate(family, blocks, 12, blocks.shape[1], rng).table

    table = run(1)
    assert table.equals(run(1)) and not table.equals(run(2))
    for _, one in table.groupby("run"):
        assert np.all(np.diff(one["types"].to_numpy()) <= 0)


def test_family_contract(tmp_path):
    vocabulary, blocks = small_blocks(runs=2, block=4)

    def initial(rng):
        return blocks

    check_family(lambda: ngram.BigramLM(len(vocabulary), block=4), initial,
                   size=blocks.shape[1], checkpoint_dir=tmp_path)


@pytest.mark.parametrize("kwargs, name", [
    (dict(vocabulary_size=1), "vocabulary_size"),
    (dict(vocabulary_size=10, interpolation=1.5), "interpolation"),
    (dict(vocabulary_size=10, block=1), "block"),
])
def test_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ngram.BigramLM(**kwargs)


def test_bad_data():
    family = ngram.BigramLM(5, block=4)
    with pytest.raises(ValueError, match="token ids"):
        family.fit(np.full((1, 2, 4), 7))
    with pytest.raises(ValueError, match="integer blocks"):
        family.fit(np.zeros((2, 4)))
