"""The chapter "Reproduction notes" (every place where the paper's text, its equations,
its figures, the authors' code and this book disagree, each run both ways): its settings
and the small pieces that turn two runs of one claim (the paper's way and the other way)
into a row of the chapter's table, a Monte Carlo estimate with its standard error, a
z-score against each prediction, and a verdict in words.

Every experiment itself is a call of the families and the loop of the other chapters;
this module only summarises and formats what they return. Every experiment is small: the
Gaussian chains use exact sufficient statistics, the GMM chains are few and short, the
Markov chains are solved exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from collapse import validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import PROFILE_NAMES, ChapterSettings, check_list, listed


@dataclass(frozen=True)
class Settings(ChapterSettings):
    gaussian_M: int = 100
    gaussian_runs: int = 20000
    gaussian_generations: int = 50
    fig12_sizes: list[int] = listed(10, 10_000_000)
    fig12_repeats: list[int] = listed(1000, 10000)
    gmm_M: int = 1000
    gmm_runs: int = 4
    gmm_generations: int = 20
    gmm_separation: float = 6.0
    noisy_M: int = 20
    noisy_runs: int = 4000
    noisy_generations: int = 10
    noisy_K: float = 2.0
    noisy_dim: int = 3
    kimura_sizes: list[int] = listed(10, 100, 1000)
    fig3_M: int = 1000
    fig3_bins: int = 80
    fig3_draws: int = 4000
    lm_lines: int = 10000
    lm_vocab: int = 2000
    selection_repeats: int = 200
    lm_profile: str = "smoke"
    lm_seeds: int = 3

    def check(self) -> None:
        validate.integer("gaussian_M", self.gaussian_M, minimum=4)
        validate.integer("gaussian_runs", self.gaussian_runs, minimum=100)
        validate.integer("gaussian_generations", self.gaussian_generations, minimum=2)
        check_list("fig12_sizes", self.fig12_sizes,
                   lambda label, n: validate.integer(label, n, minimum=2), distinct=True,
                   label="fig12_sizes (each N)")
        check_list("fig12_repeats", self.fig12_repeats,
                   lambda label, r: validate.integer(label, r, minimum=10, maximum=10**7),
                   distinct=True, label="fig12_repeats (each)")
        validate.integer("gmm_M", self.gmm_M, minimum=20)
        validate.integer("gmm_runs", self.gmm_runs, minimum=2)
        validate.integer("gmm_generations", self.gmm_generations, minimum=3)
        validate.real("gmm_separation", self.gmm_separation, low=0.0, high=100.0)
        validate.integer("noisy_M", self.noisy_M, minimum=4)
        validate.integer("noisy_runs", self.noisy_runs, minimum=100)
        validate.integer("noisy_generations", self.noisy_generations, minimum=2)
        validate.real("noisy_K", self.noisy_K, low=1e-9)
        validate.integer("noisy_dim", self.noisy_dim, minimum=1, maximum=50)
        check_list("kimura_sizes", self.kimura_sizes,
                   lambda label, m: validate.integer(label, m, minimum=2, maximum=5000),
                   distinct=True, label="kimura_sizes (each M)")
        validate.integer("fig3_M", self.fig3_M, minimum=2)
        validate.integer("fig3_bins", self.fig3_bins, minimum=2, maximum=10000)
        validate.integer("fig3_draws", self.fig3_draws, minimum=10)
        validate.integer("lm_lines (0 = all)", self.lm_lines, minimum=0)
        if 0 < self.lm_lines < 200:
            raise ValueError(f"lm_lines must be 0 (all) or >= 200, got {self.lm_lines}")
        validate.integer("lm_vocab", self.lm_vocab, minimum=300, maximum=50272)
        validate.integer("selection_repeats", self.selection_repeats, minimum=10)
        validate.choice("lm_profile", self.lm_profile, PROFILE_NAMES)
        validate.integer("lm_seeds", self.lm_seeds, minimum=2, maximum=20)

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: the Gaussian loop's tables (about 90 bytes per run and
        generation, three chains: unbiased, maximum likelihood, and their joined copy), the
        Fig 3 counts (8 bytes per draw and bin) and the largest Markov chain (a dense
        ``(M + 1)²`` matrix, a few copies)."""
        terms = {
            "gaussian_runs": 3 * 90 * self.gaussian_runs * self.gaussian_generations,
            "fig3_draws": 16 * self.fig3_draws * self.fig3_bins,
            "kimura_sizes": 5 * 8 * (max(self.kimura_sizes) + 1) ** 2,
            "noisy_runs": 2 * 120 * self.noisy_runs * self.noisy_generations,
        }
        peak = BASE + TABLE_OVERHEAD * (sum(terms.values()) + max(terms.values()))
        return int(peak), max(terms, key=terms.get)


SMOKE = dict(gaussian_runs=4000, gaussian_generations=20, gmm_M=300, gmm_runs=2,
             gmm_generations=4, noisy_runs=1000, noisy_generations=8, kimura_sizes=[10, 100],
             fig3_draws=500, lm_lines=2000, lm_vocab=1000, selection_repeats=50)
PAPER = dict(gaussian_runs=100000, gaussian_generations=100, gmm_runs=10,
             gmm_generations=100, noisy_runs=20000, fig3_draws=20000, lm_lines=0,
             lm_vocab=8000, selection_repeats=1000, lm_profile="quick", lm_seeds=5)

ROW_FIELDS = ("ran", "result", "verdict")


def mean_and_se(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and its standard error ``s / √n`` (``ddof = 1``)."""
    values = np.asarray(values, dtype=float)
    count = values.shape[axis]
    if count < 2:
        raise ValueError(f"need at least 2 values along axis {axis} for a standard error, "
                         f"got {count}")
    return values.mean(axis=axis), values.std(axis=axis, ddof=1) / np.sqrt(count)


def z_score(estimate, standard_error, reference):
    """``(estimate − reference) / standard_error``: how many standard errors apart."""
    standard_error = np.asarray(standard_error, dtype=float)
    if np.any(standard_error <= 0):
        raise ValueError("standard_error must be > 0")
    return (np.asarray(estimate, dtype=float) - reference) / standard_error


def _significant(value: float, digits: int) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.{digits}g}"


def with_error(value: float, standard_error: float | None = None, digits: int = 3) -> str:
    """``"0.752 ± 0.0041"``: the value to ``digits`` significant digits, or, with a
    standard error, to the decimal of the error's second significant digit."""
    value = float(value)
    if standard_error is None:
        return _significant(value, digits)
    standard_error = float(standard_error)
    if not standard_error > 0 or not math.isfinite(standard_error):
        raise ValueError(f"standard_error must be a positive number, got {standard_error}")
    decimals = 1 - math.floor(math.log10(standard_error))
    if decimals <= 0:
        return f"{round(value, decimals):.0f} ± {round(standard_error, decimals):.0f}"
    if abs(value) < 1e-3 or standard_error < 1e-4:
        return f"{value:.2e} ± {standard_error:.1e}"
    return f"{value:.{decimals}f} ± {standard_error:.{decimals}f}"


def verdict(z: float, *, df: int | None, limit: float = 3.0, agree: str = "agrees",
            differ: str = "disagrees") -> str:
    """``agree`` or ``differ``, with the test that decided it: a two-sided Student t-test of
    ``z`` with ``df`` degrees of freedom (an estimate and its standard error from
    ``df + 1`` independent values), or, with ``df=None``, a normal (z) test for a
    standard error known exactly. The two agree when the p-value is at least that of
    ``limit`` standard errors of a normal (p ≥ 0.0027 for 3), so a t-test with few
    degrees of freedom asks for a larger ``|t|``."""
    from scipy import stats

    z = float(z)
    if not math.isfinite(z):
        raise ValueError(f"z must be finite, got {z}")
    if df is not None:
        df = int(df)
        if df < 1:
            raise ValueError(f"df must be >= 1, got {df}")
    threshold = 2 * stats.norm.sf(limit)
    p = 2 * (stats.norm.sf(abs(z)) if df is None else stats.t.sf(abs(z), df))
    test = "normal test, exact SE" if df is None else f"t-test, {df:,} df"
    shown = f"p = {p:.2g}" if p >= 1e-4 else "p < 1e-4"
    return (f"{agree if p >= threshold else differ} "
            f"({'z' if df is None else 't'} = {z:+.1f}, {test}, {shown})")


def t_test(differences, reference: float = 0.0) -> dict[str, float]:
    """One-sample (or, on differences, paired) Student t-test of mean ``reference``: the
    mean, its standard error, ``t``, the degrees of freedom ``n − 1`` and the two-sided
    p-value."""
    differences = np.asarray(differences, dtype=float).ravel()
    mean, se = mean_and_se(differences)
    if not se > 0:
        raise ValueError("the values have no spread: a t-test needs some")
    return t_from(mean, se, len(differences) - 1, reference)


def t_from(mean: float, se: float, df: int, reference: float = 0.0) -> dict[str, float]:
    """:func:`t_test` from a mean, its standard error and the degrees of freedom."""
    from scipy import stats

    t = float(z_score(mean, se, reference))
    return {"mean": float(mean), "se": float(se), "t": t, "df": int(df),
            "p": float(2 * stats.t.sf(abs(t), df))}


def t_verdict(result: dict, agree: str = "no measurable difference",
              higher: str = "higher", lower: str = "lower", level: float = 0.05,
              test: str = "paired t") -> str:
    """``agree`` unless the two-sided t-test ``result`` (:func:`t_test`, :func:`t_from`)
    rejects at ``level``, else ``higher``/``lower`` by the sign of ``t``; the test, ``t``,
    its degrees of freedom and p quoted: ``"no measurable difference (paired t = +3.9,
    df = 2, p = 0.06)"``."""
    words = agree if result["p"] > level else (higher if result["t"] > 0 else lower)
    return f"{words} ({test} = {result['t']:+.1f}, df = {result['df']}, {_p_value(result['p'])})"


def _p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def data_variance_per_run(means, stds, mean: float = 0.0) -> np.ndarray:
    """Per run, ``(µ̂_g − µ)² + σ̂²_g``. A point of ``D_{g+1}`` is ``µ̂_g + σ̂_g Z``, so the
    average of these over runs estimates ``Var(X^{g+1})`` without bias (§4.2) and, unlike
    the pooled variance, comes with a plain standard error."""
    means = np.asarray(means, dtype=float)
    stds = np.asarray(stds, dtype=float)
    if means.shape != stds.shape:
        raise ValueError(f"means and stds must have the same shape, got {means.shape} "
                         f"and {stds.shape}")
    return (means - mean) ** 2 + stds**2


def cloud_variance(points) -> np.ndarray:
    """Total variance (trace of the sample covariance, ``ddof = 1``) of every run's
    point cloud ``(runs, n, d)``: how spread out a panel of Fig 7 looks."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 3 or points.shape[1] < 2:
        raise ValueError(f"points must be (runs, n >= 2, d), got shape {points.shape}")
    return points.var(axis=1, ddof=1).sum(axis=-1)


def check_rows(rows: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Every row of the table has a non-empty ``ran``, ``result`` and ``verdict`` (the
    cells the chapter computes); returns ``rows``. An empty cell raises, naming it."""
    if not rows:
        raise ValueError("the table has no rows")
    for key, row in rows.items():
        missing = [f for f in ROW_FIELDS if not str(row.get(f, "")).strip()]
        if missing:
            raise ValueError(f"row {key!r} has no computed {', '.join(missing)}")
        extra = sorted(set(row) - set(ROW_FIELDS))
        if extra:
            raise ValueError(f"row {key!r} has unknown fields {extra}")
    return rows


def decode_variants(model, latents) -> tuple[np.ndarray, np.ndarray, float]:
    """Decode ``latents`` with one VAE's weights two ways: the authors' decoder (no
    activation after the first linear layer, :meth:`collapse.vae.ConvVAE.decode`) and
    with an extra ReLU there. Returns both images and the share of the linear layer's
    outputs that the ReLU sets to zero."""
    import torch

    with torch.no_grad():
        z = torch.as_tensor(np.asarray(latents, dtype=np.float32))
        hidden = model.from_latent(z)
        plain = model.decoder(hidden.view(-1, *model.grid))
        clipped = model.decoder(torch.relu(hidden).view(-1, *model.grid))
        zeroed = float((hidden < 0).float().mean())
    return plain.numpy(), clipped.numpy(), zeroed


def tokenisation_comparison(tokenizer, lines, block: int = 64) -> dict[str, float]:
    """The same lines cut into ``block``-token rows with OPT's ``</s>`` before every line
    (``tokenisation="authors"``, the authors' ``dataset.py``) and without it (``"plain"``),
    and, the authors' way, cut per 1,000-line ``datasets.map`` batch (``group_lines``)
    rather than over the whole text: row counts, the share of tokens that are the
    separator, and the blank lines that the authors' way turns into a lone ``</s>``."""
    from collapse.lm.data import AUTHORS_GROUP, to_blocks

    authors = to_blocks(tokenizer, lines, block, "authors")
    plain = to_blocks(tokenizer, lines, block, "plain")
    grouped = to_blocks(tokenizer, lines, block, "authors", group_lines=AUTHORS_GROUP)
    separator = tokenizer.bos_token_id
    return {"blocks_authors": int(len(authors)), "blocks_plain": int(len(plain)),
            "blocks_grouped": int(len(grouped)),
            "separator_share": float(np.mean(authors == separator)),
            "blank_lines": int(sum(1 for line in lines if not line.strip()))}


def selection_overlap(blocks: int, fraction: float, batch_size: int,
                      rng: np.random.Generator, repeats: int = 200) -> dict[str, float]:
    """§5.2's "10 % of the original data", both ways, over ``repeats`` shuffles of
    ``blocks`` training blocks: the authors keep the first ⌈f·N/B⌉ batches of the shuffled
    loader and continue only the others (``lm.KeepOriginalBatches``); a random rule keeps
    a random f·N blocks and continues an independent random (1 − f)·N. Returns the
    number kept and the share of kept blocks whose prompt is also continued (mean, SE)."""
    import math

    kept_authors = min(blocks, math.ceil(fraction * blocks / batch_size) * batch_size)
    kept_random = int(round(fraction * blocks))
    shares_authors, shares_random = [], []
    for _ in range(repeats):
        order = rng.permutation(blocks)
        kept, continued = order[:kept_authors], order[kept_authors:]
        shares_authors.append(np.isin(kept, continued).mean())
        kept = rng.choice(blocks, kept_random, replace=False)
        continued = rng.choice(blocks, blocks - kept_random, replace=False)
        shares_random.append(np.isin(kept, continued).mean())
    authors_mean, authors_se = mean_and_se(np.array(shares_authors))
    random_mean, random_se = mean_and_se(np.array(shares_random))
    return {"kept_authors": kept_authors, "kept_random": kept_random,
            "overlap_authors": float(authors_mean), "overlap_authors_se": float(authors_se),
            "overlap_random": float(random_mean), "overlap_random_se": float(random_se),
            "overlap_random_expected": (blocks - kept_random) / blocks}


def lm_training_readings(setup, lm_settings, seeds, penalties=(1.0, 2.0, 3.0),
                         workdir=None, code_penalty: float = 3.0) -> dict:
    """Four of §5.2's training choices, each run both (or all) ways on one language-model
    ``setup`` (:func:`collapse.book.chapters.language_models.prepare`) with the settings
    ``lm_settings`` of that chapter and the epochs of its "no original data" regime:

    * ``schedule``: generation 0 fine-tuned with every schedule of ``lm.train.SCHEDULES``
      (the authors' cosine stepped per epoch, a linear decay per step), once per seed;
      rows (seed, schedule, test perplexity);
    * ``penalty``: the authors' generation 0 (first seed) continues every training block
      with each repetition ``penalties``; rows (penalty, block, perplexity of the
      continuation under that generation 0, its number of distinct tokens), penalty
      ``0`` holding the real blocks;
    * ``start_from``: per seed and reading of ``lm.family.START_FROM``, generation 1 fitted
      on generation 0's continuations; rows (seed, start_from, test perplexity);
    * ``everywhere``: per seed, generation 1 (from ``lm_settings.start_from``) fitted on
      generation 0's continuations written without a penalty (the paper's text) and with
      ``code_penalty`` (the authors' ``main.py``, which uses it in every generation); rows
      (seed, penalty, test perplexity).
    """
    from dataclasses import replace

    import pandas as pd

    from collapse.lm.family import START_FROM, LanguageModel
    from collapse.lm.generate import continue_blocks
    from collapse.lm.train import SCHEDULES, perplexities, perplexity

    training = lm_settings.training(lm_settings.epochs[0])
    options = dict(num_beams=lm_settings.num_beams, generate_batch=lm_settings.generate_batch,
                   progress=False)
    if workdir is not None:
        options["workdir"] = str(workdir)

    def family(seed, schedule=training.schedule, start_from=START_FROM[0], penalty=1.0):
        return LanguageModel(setup.base, setup.train, setup.valid, setup.test,
                             training=replace(training, schedule=schedule),
                             start_from=start_from, seed=seed, repetition_penalty=penalty,
                             **options)

    schedule_rows, start_rows, everywhere_rows, first = [], [], [], None
    for seed in seeds:
        for schedule in SCHEDULES:
            fitted = family(seed, schedule).fit(setup.train[None])
            schedule_rows.append({"seed": seed, "schedule": schedule,
                                  "test_perplexity": perplexity(fitted, setup.test)})
        generation0 = family(seed).fit(setup.train[None])
        first = first or generation0
        for penalty in (1.0, code_penalty):
            continued = family(seed, penalty=penalty).sample(
                generation0, len(setup.train), np.random.default_rng(seed))
            readings = START_FROM if penalty == 1.0 else (lm_settings.start_from,)
            for reading in readings:
                fitted = family(seed, start_from=reading).fit(continued)
                row = {"seed": seed, "test_perplexity": perplexity(fitted, setup.test)}
                if penalty == 1.0:
                    start_rows.append({**row, "start_from": reading})
                if reading == lm_settings.start_from:
                    everywhere_rows.append({**row, "penalty": penalty})

    def distinct(blocks):
        return [len(np.unique(block)) for block in blocks]

    penalty_rows = [pd.DataFrame({"penalty": 0.0, "block": np.arange(len(setup.train)),
                                  "perplexity": perplexities(first, setup.train),
                                  "distinct_tokens": distinct(setup.train)})]
    for penalty in penalties:
        new = continue_blocks(first, setup.train, setup.train.shape[1], lm_settings.num_beams,
                              penalty, lm_settings.generate_batch, progress=False)
        penalty_rows.append(pd.DataFrame({"penalty": float(penalty),
                                          "block": np.arange(len(new)),
                                          "perplexity": perplexities(first, new),
                                          "distinct_tokens": distinct(new)}))
    return {"schedule": pd.DataFrame(schedule_rows),
            "penalty": pd.concat(penalty_rows, ignore_index=True),
            "start_from": pd.DataFrame(start_rows),
            "everywhere": pd.DataFrame(everywhere_rows)}


def against_real(penalty_rows, penalty: float) -> dict[str, float]:
    """The continuations written with ``penalty`` against the original text, as the paper
    compares them: continuation ``i`` (of prompt block ``i``) paired with the real block
    that follows the prompt, block ``i + 1``; both scored by the same generation 0.
    Returns the geometric-mean perplexity ratio and the paired t-test of the log ratios
    (:func:`t_test`: ``n − 2`` degrees of freedom for ``n`` blocks)."""
    real = penalty_rows.query("penalty == 0").sort_values("block").perplexity.to_numpy()
    new = penalty_rows.query("penalty == @penalty").sort_values("block").perplexity.to_numpy()
    log_ratio = np.log(new[:-1]) - np.log(real[1:])
    return {"ratio": float(np.exp(log_ratio.mean())), **t_test(log_ratio)}
