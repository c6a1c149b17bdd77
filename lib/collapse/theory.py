"""Closed forms of the paper (§4.2) and exact counterparts derived in this book.

Indexing follows :mod:`collapse.loop`: ``sizes = [M_0, …, M_{G−1}]`` are the sizes
of the training sets and generation ``g`` is the model fitted on ``D_g`` (the
paper's ``µ_{g+1}, σ_{g+1}``; its ``R^{n+1}_{W2}`` is our generation ``n``).

The exact results rest on one fact (Cochran's theorem): the fitted variance
evolves as ``σ̂²_g = σ² P_g`` with ``P_g = S_0 ⋯ S_g`` a product of independent
scaled chi-squares ``S_k = c_k χ²_{M_k − 1}`` (``c_k = 1/(M_k − 1)`` unbiased,
``1/M_k`` maximum likelihood), and every fitted mean given the variances is
Gaussian: ``µ̂_g − µ ~ N(0, σ² Q_g)`` with ``Q_g = Σ_{k≤g} P_{k−1} / M_k``
(``P_{−1} = 1``). All Z's and S's are mutually independent, so every moment below
is a finite sum of products of chi-square moments.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from . import validate

ESTIMATORS = ("unbiased", "mle")  # Eq 1 divides the scatter by n − 1; np.std by n


def _sizes(sizes, generations: int | None = None) -> np.ndarray:
    sizes = np.atleast_1d(np.asarray(sizes))
    if generations is not None:
        if sizes.size != 1:
            raise ValueError("give either a constant M with generations, or a schedule")
        sizes = np.full(validate.integer("generations", generations, minimum=1), sizes[0])
    bad = np.flatnonzero((sizes < 2) | (sizes != np.round(sizes)))
    if bad.size:
        g = bad[0]
        raise ValueError(f"sample size M_{g} must be an integer >= 2, got {sizes[g]}")
    return sizes.astype(float)


def _log_moments(sizes: np.ndarray, power: float, estimator: str) -> np.ndarray:
    """``log E[S_k^power]`` for ``S_k = c_k χ²_{M_k−1}``."""
    validate.choice("estimator", estimator, ESTIMATORS)
    dof = sizes - 1
    scale = 1 / dof if estimator == "unbiased" else 1 / sizes
    return power * np.log(2 * scale) + gammaln(dof / 2 + power) - gammaln(dof / 2)


def _cumulative(sizes, power, estimator) -> np.ndarray:
    """``log E[P_j^power]`` for ``j = −1 … G−1`` (index 0 holds ``P_{−1} = 1``)."""
    return np.concatenate([[0.0], np.cumsum(_log_moments(sizes, power, estimator))])


# ------------------------------------------------------------------ the paper's forms


def data_variance_paper(sizes, sigma: float = 1.0, generations: int | None = None):
    """§4.2: ``Var(X^n) = σ²(1 + 1/M_0 + … + 1/M_{n−1})`` (``σ²(1 + n/M)`` for constant M).

    Returned for the data ``D_0 … D_{G−1}``. The paper states it to second order in
    ``1/M``; for the unbiased estimator it is in fact exact (see :func:`data_variance`).
    """
    sizes = _sizes(sizes, generations)
    return sigma**2 * (1 + np.concatenate([[0.0], np.cumsum(1 / sizes[:-1])]))


def expected_w2_paper(sizes, sigma: float = 1.0, generations: int | None = None):
    """Eq 4 as printed: ``E[R_W2] = σ²(1/M_0 + … + 1/M_{n−1} + 3/(2M_n))``."""
    sizes = _sizes(sizes, generations)
    earlier = np.concatenate([[0.0], np.cumsum(1 / sizes[:-1])])
    return sigma**2 * (earlier + 1.5 / sizes)


def variance_w2_paper(sizes, sigma: float = 1.0, generations: int | None = None):
    """Eq 5 as printed: ``σ⁴(2/M_0² + … + 2/M_{n−1}² + 3/M_n² + Σ_{i≠j} 3/(M_i M_j))``."""
    sizes = _sizes(sizes, generations)
    inverse = 1 / sizes
    squares = np.cumsum(inverse**2)
    linear = np.cumsum(inverse)
    off_diagonal = linear**2 - squares  # Σ_{i≠j} over i, j ≤ n
    earlier = squares - inverse**2
    return sigma**4 * (2 * earlier + 3 * inverse**2 + 3 * off_diagonal)


# ------------------------------------------------------------------- exact results


def data_variance(sizes, sigma: float = 1.0, estimator: str = "unbiased",
                  generations: int | None = None):
    """Exact ``Var(X^g)`` of a point of ``D_g``: ``σ²(E[Q_{g−1}] + E[P_{g−1}])``."""
    sizes = _sizes(sizes, generations)
    expected_p = np.exp(_cumulative(sizes, 1.0, estimator))  # E[P_{j}], j = −1 …
    expected_q = np.cumsum(expected_p[:-1] / sizes)  # E[Q_g], g = 0 … G−1
    return sigma**2 * np.concatenate([[1.0], expected_q[:-1] + expected_p[1:-1]])


def expected_variance_estimate(sizes, sigma=1.0, estimator="unbiased", generations=None):
    """Exact ``E[σ̂²_g] = σ² E[P_g]``: ``σ²`` if unbiased, ``σ² ∏ (M_k − 1)/M_k`` for ML."""
    sizes = _sizes(sizes, generations)
    return sigma**2 * np.exp(_cumulative(sizes, 1.0, estimator))[1:]


def expected_mean_error(sizes, sigma=1.0, estimator="unbiased", generations=None):
    """Exact ``E[(µ̂_g − µ)²] = σ² Σ_{k≤g} E[P_{k−1}]/M_k`` (``σ² Σ 1/M_k`` if unbiased)."""
    sizes = _sizes(sizes, generations)
    expected_p = np.exp(_cumulative(sizes, 1.0, estimator))
    return sigma**2 * np.cumsum(expected_p[:-1] / sizes)


def expected_std_error(sizes, sigma=1.0, estimator="unbiased", generations=None):
    """Exact ``E[(σ̂_g − σ)²] = σ²(E[P_g] − 2 E[√P_g] + 1)``."""
    sizes = _sizes(sizes, generations)
    p1 = np.exp(_cumulative(sizes, 1.0, estimator))[1:]
    p_half = np.exp(_cumulative(sizes, 0.5, estimator))[1:]
    return sigma**2 * (p1 - 2 * p_half + 1)


def expected_w2(sizes, sigma=1.0, estimator="unbiased", generations=None):
    """Exact ``E[R_W2]`` of generation g: the sum of the two errors above.

    Expanding to first order in 1/M gives ``σ² Σ_{k≤g} 3/(2M_k)``
    (:func:`expected_w2_first_order`): the variance term accumulates over all
    generations, not only the last one as Eq 4 prints.
    """
    return (expected_mean_error(sizes, sigma, estimator, generations)
            + expected_std_error(sizes, sigma, estimator, generations))


def expected_w2_first_order(sizes, sigma: float = 1.0, generations: int | None = None):
    """Corrected Eq 4 to first order: ``E[R_W2] = σ² Σ_{k≤n} 3/(2M_k) + O(1/M²)``."""
    sizes = _sizes(sizes, generations)
    return sigma**2 * np.cumsum(1.5 / sizes)


def variance_w2_leading_order(sizes, sigma: float = 1.0, generations: int | None = None):
    """Corrected Eq 5 to leading order: ``σ⁴(2a² + 2b²)`` with ``a = Σ 1/M_k``,
    ``b = Σ 1/(2M_k)``: the mean error is ``σ²a χ²_1`` and the std error ``σ²b χ²_1``."""
    sizes = _sizes(sizes, generations)
    a = np.cumsum(1 / sizes)
    return sigma**4 * (2 * a**2 + 2 * (a / 2) ** 2)


def variance_w2(sizes, sigma=1.0, estimator="unbiased", generations=None):
    """Exact ``Var[R_W2]`` from ``E[R²] = σ⁴(3E[Q²] + 2E[Q B²] + E[B⁴])``, ``B = √P_g − 1``."""
    sizes = _sizes(sizes, generations)
    count = sizes.size
    log = {p: _cumulative(sizes, p, estimator) for p in (0.5, 1.0, 1.5, 2.0)}
    # E[P_i P_j] for i <= j (indices shifted by one: 0 is P_{-1} = 1)
    i, j = np.meshgrid(np.arange(count + 1), np.arange(count + 1), indexing="ij")
    low, high = np.minimum(i, j), np.maximum(i, j)
    pair = np.exp(log[2.0][low] + log[1.0][high] - log[1.0][low])
    weights = np.concatenate([1 / sizes, [0.0]])  # P_{k−1} enters Q with weight 1/M_k
    w = pair[:count, :count] * weights[:count, None] * weights[None, :count]
    expected_q2 = np.diagonal(np.cumsum(np.cumsum(w, axis=0), axis=1))

    g = np.arange(count)
    # E[P_{k−1} P_g] and E[P_{k−1} √P_g] for k ≤ g: index k (shifted) ≤ g+1 (shifted)
    k = np.arange(count)
    p_kg = np.exp(log[2.0][k][None, :] + log[1.0][g + 1][:, None] - log[1.0][k][None, :])
    h_kg = np.exp(log[1.5][k][None, :] + log[0.5][g + 1][:, None] - log[0.5][k][None, :])
    e_k = np.exp(log[1.0][k])[None, :]
    mask = (k[None, :] <= g[:, None]) / sizes[None, :]
    expected_qb2 = np.sum(mask * (p_kg - 2 * h_kg + e_k), axis=1)

    moment = {p: np.exp(log[p][g + 1]) for p in (0.5, 1.0, 1.5, 2.0)}
    expected_b4 = moment[2.0] - 4 * moment[1.5] + 6 * moment[1.0] - 4 * moment[0.5] + 1
    second = 3 * expected_q2 + 2 * expected_qb2 + expected_b4
    return sigma**4 * (second - (expected_w2(sizes, 1.0, estimator) ** 2))


# ------------------------------------------------ Monte Carlo counterparts (§4.2)


def _runs_by_generations(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"{name} must be an array (runs >= 2, generations), got shape "
                         f"{values.shape}")
    return values


def data_variance_from_runs(means, stds, sigma: float = 1.0) -> np.ndarray:
    """Monte Carlo ``Var(X^g)`` of a point of ``D_g`` (law of total variance, §4.2):
    ``Var(µ̂_{g−1}) + E[σ̂²_{g−1}]`` over runs, and ``σ²`` for ``D_0``. ``means`` and
    ``stds`` are the fitted parameters, arrays ``(runs, generations)``."""
    means = _runs_by_generations("means", means)
    stds = _runs_by_generations("stds", stds)
    total = means.var(axis=0, ddof=1) + (stds**2).mean(axis=0)
    return np.concatenate([[sigma**2], total[:-1]])


def moments_from_runs(values):
    """Per generation, over runs (``values (runs, generations)``): the mean and its
    standard error, and the unbiased variance and its standard error
    ``√((m₄ − s⁴)/N)`` (``m₄`` the fourth central moment): what Eqs 4 and 5 predict."""
    values = _runs_by_generations("values", values)
    runs = values.shape[0]
    mean = values.mean(axis=0)
    variance = values.var(axis=0, ddof=1)
    mean_se = values.std(axis=0, ddof=1) / np.sqrt(runs)
    centred4 = ((values - mean) ** 4).mean(axis=0)
    variance_se = np.sqrt(np.maximum(centred4 - variance**2, 0) / runs)
    return mean, mean_se, variance, variance_se


# --------------------------------------------------------------------- Figure 12


def mean_abs_error_of_mean(n, sigma: float = 1.0):
    """``E|µ̂ − µ| = σ √(2/(π n))`` for the mean of ``n`` Gaussian points (Fig 12)."""
    n = np.asarray(n, dtype=float)
    return sigma * np.sqrt(2 / (np.pi * n))


def std_abs_error_of_mean(n, sigma: float = 1.0):
    """Standard deviation of ``|µ̂ − µ|``: ``σ √((1 − 2/π)/n)`` (half-normal)."""
    n = np.asarray(n, dtype=float)
    return sigma * np.sqrt((1 - 2 / np.pi) / n)


# ----------------------------------------------- §4.3 and App. A.2: noisy approximation


def noisy_mean_error_bound(sizes, trace_cov: float = 1.0, noise_energy=0.0,
                           generations: int | None = None):
    """Eq 15: ``E[R_W2] ≥ E‖µ̂_g − µ‖² = Tr Σ Σ_{k≤g} 1/M_k + Σ_{k≤g} E‖ε_k‖²``.

    Under Assumptions 1 and 3 (Eqs 7, 9) with an unbiased covariance the middle
    expression is an equality for the mean error; the Gelbrich bound (§4.3) turns it
    into a lower bound on ``E[W2²]``. ``noise_energy`` is ``E‖ε_g‖²`` per generation
    (a number or one value per generation); 0 gives the leading term of Eq 25.
    """
    sizes = _sizes(sizes, generations)
    validate.real("trace_cov", trace_cov, low=0.0)
    noise = np.broadcast_to(np.asarray(noise_energy, dtype=float), sizes.shape)
    if np.any(noise < 0):
        raise ValueError("noise_energy (E‖ε‖²) must be >= 0")
    return trace_cov * np.cumsum(1 / sizes) + np.cumsum(noise)


def bounded_noise_bound(sizes, trace_cov: float, dim: int, bound: float, noise_energy=0.0,
                        generations: int | None = None):
    """Eq 24 summed over generations: Eq 25 with its ``O(M^{−3/2})`` remainder written out,
    ``Tr Σ Σ 1/M_k + Σ E‖ε_k‖² − 2K √(N Tr Σ) Σ M_k^{−3/2}`` (Assumption 3*, ‖ε‖ ≤ K/M)."""
    sizes = _sizes(sizes, generations)
    validate.integer("dim", dim, minimum=1)
    validate.real("bound K", bound, low=0.0)
    leading = noisy_mean_error_bound(sizes, trace_cov, noise_energy)
    return leading - 2 * bound * np.sqrt(dim * trace_cov) * np.cumsum(sizes**-1.5)


# ------------------------------------------- can collapse be avoided? (mixing rules)


def mean_error_replace(sizes, variance: float = 1.0) -> np.ndarray:
    """``E[(µ_g − µ)²] = σ² Σ_{i≤g} 1/M_i`` for the unbiased fit (Eq 1) when every training
    set is replaced by ``M_i`` new samples: the variance estimates form a martingale with
    ``E σ_i² = σ²``, so the mean is a random walk with independent steps of variance
    ``σ²/M_i`` (exact; ``sizes`` are ``M_0 … M_g``)."""
    sizes = np.asarray(sizes, dtype=float)
    return variance * np.cumsum(1.0 / sizes)


def mean_error_accumulate(sizes, variance: float = 1.0) -> np.ndarray:
    """``E[(µ_g − µ)²] ≈ σ² Σ_{j≤g} M_j / N_j²`` when all data is kept (``N_j = M_0 + … +
    M_j``): the pooled mean moves by ``(M_j/N_j) e_j`` with ``Var e_j = σ_{j−1}²/M_j``.
    Taking ``E σ_j² = σ²`` makes it approximate; with constant ``M`` it is
    ``σ²/M Σ 1/(j+1)² < σ² π²/(6M)``, bounded for ever (Gerstgrasser et al. 2024)."""
    sizes = np.asarray(sizes, dtype=float)
    return variance * np.cumsum(sizes / np.cumsum(sizes) ** 2)
