"""Gaussian mixture models refitted on their own samples (paper §5.1, Figs 7 and 13).

Shapes: data are ``(runs, n, d)``; parameters hold ``weights (runs, K)``,
``means (runs, K, d)`` and ``covariances (runs, K, d, d)``.

``fit`` is the authors' estimator, scikit-learn's ``GaussianMixture`` (EM with a k-means
start): 2 components, full covariances, ``tol=1e-5``, ``max_iter=2000``. Two backends
compute it. ``"batched"`` (the default) is :func:`collapse.gmm_em.fit`, the same EM
vectorised over runs: all runs of a generation in a few numpy operations per EM
iteration, so ``R`` chains cost little more than one. ``"sklearn"`` calls
``GaussianMixture`` once per run (the reference of ``tests/test_gmm_em.py``, which shows
that from the same start both give the same parameters to rounding). The two draw their
k-means starts from different generators, so their chains differ by chance, not in law.
``sample`` draws from the fitted mixtures with numpy.

Reproducibility. The loop calls ``fit(data)`` without a generator, yet EM needs a
random k-means start. The family therefore derives each run's start from its own
``seed`` and a hash of that run's data (:func:`collapse.hashing.derive_seed`): a fit is a
pure function of ``(seed, data)``. Two fits of the same data give the same mixture bit
for bit, whatever the run's position in the batch, the process that runs the chain or a
resumed checkpoint; the generation-0 fit can be recomputed outside the loop to serve as
the reference of the L2 distance (Fig 13).

Sampling per run. ``sample`` takes one key per generation from the loop's generator and
draws run ``r`` from its own generator ``default_rng([key, first_run + r])``;
``for_run(r)`` gives the family of run ``r`` alone (``first_run + r``). So run ``r`` of a
batch never depends on the other runs: with a rule whose mixing draws no randomness
(``Replace``, ``Accumulate``), ``simulate`` over ``R`` runs gives, bit for bit, the table
of ``R`` one-run simulations ``simulate(family.for_run(r), data[r:r + 1], …)`` with
generators in the same state (``tests/test_gmm.py``). Rules that subsample
(``KeepOriginal``, ``Weighted``, ``Pool``) draw their subsets for all runs at once from the
loop's generator, as in every family; their runs stay reproducible and independent, but
a batched run then differs from a one-run chain by chance.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import gmm_em, hashing, linalg, metrics, validate
from .loop import Family

SETTINGS = ("two", "blob")
BACKENDS = ("batched", "sklearn")
POOL_POINTS = 2**19  # points in the batched EM's pool (a speed and memory setting only)


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


def _fit_sklearn(data: np.ndarray, seeds: list[int], options: dict) -> GMMParams:
    """sklearn fits of the runs in ``data``, one after the other, with BLAS/OpenMP on one
    thread (faster for 1,000 points than the default thread pool, and never
    oversubscribed) and without sklearn's re-validation (the options are checked by
    :class:`GMM`): sklearn at its fastest."""
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    fitted = []
    fast = sklearn.config_context(assume_finite=True, skip_parameter_validation=True)
    with _threadpools().limit(limits=1), fast, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in `converged`
        for run, seed in zip(data, seeds, strict=True):
            model = GaussianMixture(covariance_type="full", random_state=seed % 2**32,
                                    **options)
            model.fit(run)
            fitted.append((model.weights_, model.means_, model.covariances_, model.n_iter_,
                           model.converged_))
    return GMMParams(*map(np.array, zip(*fitted, strict=True)))


def _fit_batched(data: np.ndarray, seeds: list[int], options: dict) -> GMMParams:
    """:func:`collapse.gmm_em.fit` of all runs at once, run ``r``'s k-means start drawn
    from ``default_rng(seeds[r])``; an ill-defined covariance raises, as in sklearn. EM's
    pool holds at most ``POOL_POINTS`` points (fewer runs for large training sets, as
    accumulating ones: its working arrays take about 160 bytes a point for d = 2)."""
    block = max(1, min(gmm_em.BLOCK, POOL_POINTS // data.shape[1]))
    fitted = gmm_em.fit(data, options["n_components"], tol=options["tol"],
                        max_iter=options["max_iter"], reg_covar=options["reg_covar"],
                        rng=[np.random.default_rng(seed) for seed in seeds], block=block)
    return GMMParams(fitted.weights, fitted.means, fitted.covariances, fitted.n_iter,
                     fitted.converged)


def _code() -> str:
    return hashing.code_digest("gmm", "gmm_em", "gmm_steps", "kmeans")


@dataclass
class GMM(Family):
    """A Gaussian mixture refitted every generation (paper §5.1).

    ``components``, ``tol``, ``max_iter`` and ``reg_covar`` are those of scikit-learn's
    ``GaussianMixture`` (``reg_covar`` is added to the diagonal of every covariance, so a
    component's variance cannot fall below it). ``backend``: ``"batched"`` (EM vectorised
    over runs, :mod:`collapse.gmm_em`) or ``"sklearn"`` (one ``GaussianMixture`` per run);
    the same estimator (see the module docstring). ``seed`` fixes the EM starts (see
    :func:`collapse.hashing.derive_seed`). ``reference``: a mixture per run (e.g. the
    generation-0 fit) to which :meth:`describe` reports the L2 distance. ``first_run``:
    the index of the first run, which names each run's sampling stream (set by
    :meth:`for_run`). ``code`` (a hash of the modules that compute the fit) is part of
    the family's identity, so a checkpoint is never resumed by changed code.
    """

    components: int = 2
    seed: int = 0
    tol: float = 1e-5
    max_iter: int = 2000
    reg_covar: float = 1e-6
    backend: str = "batched"
    reference: GMMParams | None = field(default=None, repr=False)
    first_run: int = 0
    code: str = field(default_factory=_code, repr=False)

    def __post_init__(self):
        validate.integer("components", self.components, minimum=1, maximum=50)
        validate.integer("seed", self.seed, minimum=0)
        validate.real("tol", self.tol, low=0.0)
        validate.integer("max_iter", self.max_iter, minimum=1)
        validate.real("reg_covar", self.reg_covar, low=0.0)
        validate.choice("backend", self.backend, BACKENDS)
        validate.integer("first_run", self.first_run, minimum=0)

    # -- the two verbs
    def fit(self, data: np.ndarray) -> GMMParams:
        """EM fit of a ``components``-Gaussian mixture to every run's data."""
        data = np.asarray(data, dtype=float)
        if data.ndim != 3:
            raise ValueError(f"data must be (runs, n, d), got shape {data.shape}")
        validate.integer("number of samples per run", data.shape[1], minimum=self.components)
        # the hash covers the run's bytes, dtype and shape
        seeds = [hashing.derive_seed(self.seed, run) for run in data]
        options = dict(n_components=self.components, tol=self.tol, max_iter=self.max_iter,
                       reg_covar=self.reg_covar)
        fitter = _fit_batched if self.backend == "batched" else _fit_sklearn
        return fitter(data, seeds, options)

    def sample(self, params: GMMParams, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points from every run's mixture: a component by its weight, then a
        Gaussian draw ``mean + L z`` with ``L Lᵀ`` the component's covariance. One key
        from ``rng`` per call; run ``r`` draws from ``default_rng([key, first_run + r])``
        (see the module docstring)."""
        validate.generator("rng", rng)
        key = int(rng.integers(2**63))
        streams = [np.random.default_rng([key, self.first_run + r]) for r in range(params.runs)]
        return sample_with_labels(params, n, streams)[0]

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
        """The family of run ``r`` alone (its row of ``reference``, its sampling stream),
        for one chain."""
        reference = self.reference
        if reference is not None and reference.runs > 1:  # one run broadcasts to all
            reference = reference.run(r)
        return dataclasses.replace(self, reference=reference, first_run=self.first_run + r)


def sample_with_labels(params: GMMParams, n: int,
                       rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``(runs, n, d)`` from every run's mixture and the component each came
    from ``(runs, n)``. ``rng``: one generator for all runs, or a sequence of one per run
    (run ``r`` then draws from ``rng[r]`` alone)."""
    n = validate.integer("n", n, minimum=0)
    if isinstance(rng, np.random.Generator) or not isinstance(rng, (list, tuple)):
        validate.generator("rng", rng)
        u = rng.random((params.runs, n))
        z = rng.standard_normal((params.runs, n, params.dim))
    else:
        if len(rng) != params.runs:
            raise ValueError(f"rng must be one generator or one per run ({params.runs}), "
                             f"got {len(rng)}")
        u = np.empty((params.runs, n))
        z = np.empty((params.runs, n, params.dim))
        for r, generator in enumerate(rng):
            validate.generator(f"rng[{r}]", generator)
            u[r] = generator.random(n)
            z[r] = generator.standard_normal((n, params.dim))
    cumulative = np.cumsum(params.weights, axis=1)
    cumulative[:, -1] = np.inf  # weights that sum to 1 - 1e-16 must not lose a point
    labels = (u[:, :, None] >= cumulative[:, None, :-1]).sum(-1)
    factors = linalg.cholesky_factor(params.covariances)
    points = np.empty_like(z)
    for k in range(params.components):  # every point through every component, then pick
        drawn = z @ np.swapaxes(factors[:, k], 1, 2)  # L z, run by run
        drawn += params.means[:, k, None, :]
        np.copyto(points, drawn, where=(labels == k)[..., None])
    return points, labels


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
