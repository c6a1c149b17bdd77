"""Gaussian mixture models refitted on their own samples (paper §5.1, Figs 7 and 13).

Shapes: data are ``(runs, n, d)``; parameters hold ``weights (runs, K)``,
``means (runs, K, d)`` and ``covariances (runs, K, d, d)``.

``fit`` is scikit-learn's ``GaussianMixture`` (EM with a k-means start), one fit per
run, as in the authors' code: 2 components, full covariances, ``tol=1e-5``,
``max_iter=2000``. ``sample`` draws from the fitted mixtures with numpy, all runs at
once, from the generator the loop passes in.

Reproducibility. The loop calls ``fit(data)`` without a generator, yet EM needs a
random k-means start. The family therefore derives the start's seed from its own
``seed`` and a hash of the run's data (:func:`collapse.hashing.derive_seed`): a fit is a
pure function of
``(seed, data)``. Two fits of the same data give the same mixture bit for bit, whatever
the run index, the process that runs the chain or a resumed checkpoint; the
generation-0 fit can be recomputed outside the loop to serve as the reference of the
L2 distance (Fig 13).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import hashing, linalg, metrics, validate
from .loop import Family

SETTINGS = ("two", "blob")


@dataclass
class GMMParams:
    """Fitted (or given) mixtures of ``runs`` independent runs."""

    weights: np.ndarray  # (runs, K)
    means: np.ndarray  # (runs, K, d)
    covariances: np.ndarray  # (runs, K, d, d)
    em_iterations: np.ndarray | None = None  # (runs,) EM iterations of the fit
    converged: np.ndarray | None = None  # (runs,) EM stopped by tol, not max_iter

    @property
    def runs(self) -> int:
        return self.weights.shape[0]

    @property
    def components(self) -> int:
        return self.weights.shape[1]

    @property
    def dim(self) -> int:
        return self.means.shape[2]

    def run(self, r: int) -> GMMParams:
        """The parameters of run ``r`` alone (as a one-run ``GMMParams``)."""
        pick = slice(r, r + 1)
        extra = {k: None if v is None else v[pick]
                 for k, v in (("em_iterations", self.em_iterations),
                              ("converged", self.converged))}
        return GMMParams(self.weights[pick], self.means[pick], self.covariances[pick], **extra)


def params(weights, means, covariances, runs: int = 1) -> GMMParams:
    """``runs`` copies of one mixture: ``weights (K,)``, ``means (K, d)``, ``covariances
    (K, d, d)``; checked (weights a probability vector, covariances positive definite)."""
    runs = validate.integer("runs", runs, minimum=1)
    weights = np.asarray(weights, dtype=float)
    means = np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    if weights.ndim != 1 or means.ndim != 2 or means.shape[0] != weights.shape[0]:
        raise ValueError(f"weights must be (K,) and means (K, d); got {weights.shape} and "
                         f"{means.shape}")
    k, d = means.shape
    if covariances.shape != (k, d, d):
        raise ValueError(f"covariances must be (K, d, d) = {(k, d, d)}, got {covariances.shape}")
    if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must be non-negative and sum to 1, got {weights}")
    if not np.allclose(covariances, np.swapaxes(covariances, -1, -2)):
        raise ValueError("covariances must be symmetric")
    if np.linalg.eigvalsh(covariances).min() <= 0:
        raise ValueError("covariances must be positive definite")
    tile = lambda a: np.tile(a, (runs,) + (1,) * a.ndim)  # noqa: E731
    return GMMParams(tile(weights), tile(means), tile(covariances))


def initial_distribution(setting: str = "two", separation: float = 6.0) -> GMMParams:
    """The real distribution of ``D_0`` (one run).

    ``"two"``: two equally weighted unit-variance Gaussians whose means are
    ``separation`` apart on the x axis (the paper's text: "two artificially-generated
    Gaussians"). ``"blob"``: one standard 2-D Gaussian, the authors' code
    (``make_blobs(centers=[[0, 0]], cluster_std=1)``), written as a 1-component mixture.
    """
    validate.choice("setting", setting, SETTINGS)
    if setting == "blob":
        return params([1.0], [[0.0, 0.0]], [np.eye(2)])
    separation = validate.real("separation", separation, low=0.0)
    half = separation / 2
    return params([0.5, 0.5], [[-half, 0.0], [half, 0.0]], [np.eye(2), np.eye(2)])


@functools.cache
def _threadpools():
    """The BLAS/OpenMP pools of this process, found once: ``threadpool_limits`` scans the
    loaded libraries on every call, which cost a quarter of a 1,000-point fit."""
    import sklearn.mixture  # noqa: F401  (load sklearn's libraries before the scan)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _fit_runs(data: np.ndarray, seeds: list[int], options: dict) -> list[tuple]:
    """sklearn fits of the runs in ``data``, with BLAS/OpenMP on one thread: faster for
    1,000 points than the default thread pool, and never oversubscribed by joblib."""
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    fitted = []
    # the options are checked by GMM; skipping sklearn's re-checks saves ~10% per fit
    fast = sklearn.config_context(assume_finite=True, skip_parameter_validation=True)
    with _threadpools().limit(limits=1), fast, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in `converged`
        for run, seed in zip(data, seeds, strict=True):
            model = GaussianMixture(covariance_type="full", random_state=seed, **options)
            model.fit(run)
            fitted.append((model.weights_, model.means_, model.covariances_, model.n_iter_,
                           model.converged_))
    return fitted


@dataclass
class GMM(Family):
    """A Gaussian mixture refitted every generation (paper §5.1).

    ``components``, ``tol``, ``max_iter`` and ``reg_covar`` are passed to scikit-learn's
    ``GaussianMixture`` (``reg_covar`` is added to the diagonal of every covariance, so a
    component's variance cannot fall below it). ``seed`` fixes the EM starts (see
    :func:`collapse.hashing.derive_seed`). ``reference``: a mixture per run (e.g. the
    generation-0 fit) to which :meth:`describe` reports the L2 distance.

    The runs of one generation are fitted one after the other: handing them to worker
    processes every generation cost more than it saved (see ``benchmarks/bench_gmm.py``);
    :func:`collapse.sweep.chains` runs whole chains in parallel instead.
    """

    components: int = 2
    seed: int = 0
    tol: float = 1e-5
    max_iter: int = 2000
    reg_covar: float = 1e-6
    reference: GMMParams | None = field(default=None, repr=False)

    def __post_init__(self):
        validate.integer("components", self.components, minimum=1, maximum=50)
        validate.integer("seed", self.seed, minimum=0)
        validate.real("tol", self.tol, low=0.0)
        validate.integer("max_iter", self.max_iter, minimum=1)
        validate.real("reg_covar", self.reg_covar, low=0.0)

    # -- the two verbs
    def fit(self, data: np.ndarray) -> GMMParams:
        """EM fit of a ``components``-Gaussian mixture to every run's data."""
        data = np.asarray(data, dtype=float)
        if data.ndim != 3:
            raise ValueError(f"data must be (runs, n, d), got shape {data.shape}")
        validate.integer("number of samples per run", data.shape[1], minimum=self.components)
        # sklearn takes 32-bit seeds; the hash covers the run's bytes, dtype and shape
        seeds = [hashing.derive_seed(self.seed, run) % 2**32 for run in data]
        options = dict(n_components=self.components, tol=self.tol, max_iter=self.max_iter,
                       reg_covar=self.reg_covar)
        fitted = _fit_runs(data, seeds, options)
        weights, means, covariances, iterations, converged = map(np.array, zip(*fitted,
                                                                               strict=True))
        return GMMParams(weights, means, covariances, iterations, converged)

    def sample(self, params: GMMParams, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points from every run's mixture: a component by its weight, then a
        Gaussian draw ``mean + L z`` with ``L Lᵀ`` the component's covariance."""
        return sample_with_labels(params, n, rng)[0]

    def describe(self, params: GMMParams) -> dict[str, np.ndarray]:
        """Per-run summaries: weight of the smallest component, total variance (trace of
        the mixture's covariance), largest distance between component means, smallest
        component variance (trace), EM iterations, and L2 to ``reference`` if set."""
        columns = {
            "weight_min": params.weights.min(axis=1),
            "total_variance": np.trace(mixture_covariance(params), axis1=-2, axis2=-1),
            "mean_separation": _max_pairwise_distance(params.means),
            "component_variance_min": np.trace(params.covariances, axis1=-2,
                                               axis2=-1).min(axis=1),
        }
        if params.em_iterations is not None:
            columns["em_iterations"] = params.em_iterations
            columns["converged"] = params.converged
        if self.reference is not None:
            columns["l2_to_reference"] = l2_distance(params, self.reference)
        return columns

    def for_run(self, r: int) -> GMM:
        """The family of run ``r`` alone (its row of ``reference``), for one chain."""
        reference = None if self.reference is None else self.reference.run(r)
        return dataclasses.replace(self, reference=reference)


def sample_with_labels(params: GMMParams, n: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``(runs, n, d)`` from every run's mixture and the component each came
    from ``(runs, n)``."""
    n = validate.integer("n", n, minimum=0)
    validate.generator("rng", rng)
    cumulative = np.cumsum(params.weights, axis=1)
    cumulative[:, -1] = np.inf  # weights that sum to 1 - 1e-16 must not lose a point
    labels = (rng.random((params.runs, n))[:, :, None] >= cumulative[:, None, :-1]).sum(-1)
    z = rng.standard_normal((params.runs, n, params.dim))
    factors = linalg.cholesky_factor(params.covariances)
    factor = np.take_along_axis(factors, labels[:, :, None, None], 1)
    centre = np.take_along_axis(params.means, labels[:, :, None], 1)
    return centre + np.einsum("rnij,rnj->rni", factor, z), labels


def log_densities(params: GMMParams, x: np.ndarray) -> np.ndarray:
    """``log w_k + log N(x; m_k, C_k)`` for points ``x (runs, n, d)``: ``(runs, n, K)``."""
    x = np.asarray(x, dtype=float)
    factor = linalg.cholesky_factor(params.covariances)  # (R, K, d, d)
    centred = x[:, None, :, :] - params.means[:, :, None, :]  # (R, K, n, d)
    log_n = metrics.gaussian_log_density(centred, factor[:, :, None])  # (R, K, n)
    return np.swapaxes(np.log(params.weights)[..., None] + log_n, 1, 2)


def predict(params: GMMParams, x: np.ndarray) -> np.ndarray:
    """The most probable component of every point (EM's hard assignment): ``(runs, n)``."""
    return log_densities(params, x).argmax(axis=-1)


def mixture_covariance(params: GMMParams) -> np.ndarray:
    """Covariance of the whole mixture (law of total covariance): ``(runs, d, d)``."""
    w = params.weights[..., None]
    mean = (w * params.means).sum(axis=1)
    second = np.einsum("rk,rkij->rij", params.weights,
                       params.covariances + params.means[..., :, None] * params.means[..., None, :])
    return second - mean[:, :, None] * mean[:, None, :]


def _max_pairwise_distance(means: np.ndarray) -> np.ndarray:
    gaps = means[:, :, None, :] - means[:, None, :, :]
    return np.sqrt((gaps**2).sum(-1)).max(axis=(1, 2))


def l2_distance(a: GMMParams, b: GMMParams) -> np.ndarray:
    """L2 distance ``(∫ (f_a − f_b)² dx)^{1/2}`` between the mixtures of every run
    (Fig 13); one-run parameters broadcast against many runs."""
    return np.sqrt(metrics.l2_squared_gmm(a.weights, a.means, a.covariances,
                                          b.weights, b.means, b.covariances))


# ------------------------------------------------------------------- experiments


def initial_data(runs: int, M: int, rng: np.random.Generator, setting: str = "two",
                 separation: float = 6.0) -> np.ndarray:
    """``D_0``: ``M`` draws per run from :func:`initial_distribution` ``(runs, M, 2)``."""
    runs = validate.integer("runs", runs, minimum=1)
    M = validate.integer("M", M, minimum=2)
    validate.generator("rng", rng)
    truth = initial_distribution(setting, separation)
    return sample_with_labels(params(truth.weights[0], truth.means[0], truth.covariances[0],
                                     runs=runs), M, rng)[0]


def _l2_metric(params: GMMParams, data, reference: GMMParams) -> np.ndarray:
    return l2_distance(params, reference)


def l2_to(reference: GMMParams):
    """A loop metric: the L2 distance of every run's fit to ``reference`` (Fig 13); a
    ``functools.partial``, so it can be sent to worker processes."""
    return functools.partial(_l2_metric, reference=reference)


def concatenate(parts: list[GMMParams]) -> GMMParams:
    """The runs of several ``GMMParams`` as one."""
    def join(name):
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    return GMMParams(*(join(name) for name in ("weights", "means", "covariances",
                                              "em_iterations", "converged")))
