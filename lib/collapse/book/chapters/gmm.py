"""The chapter "Gaussian mixture models" (paper §5.1, Figs 7 and 13): settings, the
chains it runs (through :mod:`collapse.sweep`) and the ellipses it draws.

``generations`` and ``runs``: the chains of Figs 7 and 13 (for both data settings);
``snapshots``: the generations drawn in Fig 7 (the paper: 0, 50, 100, 150, 200, 350,
2000); ``mixing_*``: the comparison of replace, accumulate and keep-10 %-original
(accumulate refits on every sample ever drawn, so its cost grows with the generation).
"""

from dataclasses import dataclass

import numpy as np

from collapse import gmm, sweep, validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import ChapterSettings, check_list, listed

WORKER = 250 * 10**6  # a worker process with numpy and scikit-learn


@dataclass(frozen=True)
class Settings(ChapterSettings):
    M: int = 1000
    separation: float = 6.0
    generations: int = 601
    runs: int = 2
    snapshots: list[int] = listed(0, 50, 100, 150, 200, 350, 600)
    mixing_generations: int = 60
    mixing_runs: int = 2
    n_jobs: int = 1  # chains run side by side in worker processes
    checkpoint: bool = False  # cache the chains in .cache/gmm (resumable)

    def check(self) -> None:
        validate.integer("M", self.M, minimum=2)
        validate.real("separation", self.separation, low=0.0, high=1000.0)
        validate.integer("generations", self.generations, minimum=2)
        validate.integer("runs", self.runs, minimum=1)
        # Fig 7 draws a row of panels per setting: at least two
        check_list("snapshots", self.snapshots,
                   lambda label, g: validate.integer(label, g, minimum=0,
                                                     maximum=self.generations - 1),
                   minimum_length=2, label="snapshots (each generation)")
        validate.integer("mixing_generations", self.mixing_generations, minimum=2)
        validate.integer("mixing_runs", self.mixing_runs, minimum=1)
        validate.integer("n_jobs", self.n_jobs, minimum=1, maximum=64)

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: a worker process per job, the tables (about 120 bytes per
        run and generation, two settings), the kept training sets of the snapshots, and
        the accumulated training data of the mixing comparison (16 bytes a point, a
        doubling buffer and EM's temporaries), one chain per worker at a time."""
        jobs = self.n_jobs
        terms = {
            "n_jobs": WORKER * (jobs if jobs > 1 else 0),
            "runs": TABLE_OVERHEAD * 2 * self.runs * (
                120 * self.generations + 16 * self.M * len(self.snapshots)),
            "mixing_generations": 6 * 16 * self.M * self.mixing_generations
            * min(jobs, self.mixing_runs),
        }
        return int(BASE + sum(terms.values())), max(terms, key=terms.get)


SMOKE = dict(generations=21, snapshots=[0, 2, 4, 6, 10, 15, 20], mixing_generations=6,
             mixing_runs=1)
PAPER = dict(generations=2050, runs=10, snapshots=[0, 50, 100, 150, 200, 350, 2000],
             mixing_generations=500, mixing_runs=5, n_jobs=2, checkpoint=True)

# key: the row of the chapter's settings table (collapse.book.settings.settings_table):
# what the paper's text says and what the authors' code iliaishacked/curse_recurse does
# (facts from ../shared/DESIGN.md §4). Rows without a settings field show ``book``.
REFERENCE = {
    "data": dict(setting="data of generation 0", paper="two artificially generated Gaussians",
                 code="one 2-D blob (make_blobs, cluster_std 1)",
                 book="two Gaussians (separation apart) and the authors' blob"),
    "M": dict(setting="points per generation", paper="1,000 (\"sampled a thousand times\")",
              code="1,000"),
    "generations": dict(setting="generations", paper="2,000 (Fig 7)", code="2,050"),
    "model": dict(setting="model", paper="a 2-component GMM",
                  code="GaussianMixture(2, full covariance, tol 1e-5, max_iter 2000)",
                  book="scikit-learn GaussianMixture(2, full, tol 1e-5, max_iter 2000)"),
    "snapshots": dict(setting="Fig 7 panels", paper="0, 50, 100, 150, 200, 350, 2000",
                      code="samples drawn from the fit of that iteration"),
    "distance": dict(setting="Fig 13 distance", paper="L2",
                     code="squared L2 (L2_of_gmms), log scale",
                     book="squared L2, log scale"),
    "runs": dict(setting="independent chains", paper="not stated", code="1"),
}


def chains(family, initial_data, generations: int, sample_size, rng, mixing=None, *,
           jobs: int = 1, checkpoint_dir=None, progress: bool = False, **options):
    """Every run of ``initial_data`` as an independent chain (:func:`collapse.sweep.chains`
    on ``jobs`` local processes, serial for one), joined into one ``History`` whose
    ``kept`` parameters hold all runs. The result does not depend on ``jobs``."""
    jobs = validate.integer("jobs", jobs, minimum=1)
    histories = sweep.chains(family, initial_data, generations, sample_size, rng, mixing,
                             backend="serial" if jobs == 1 else "local", jobs=jobs,
                             checkpoint_dir=checkpoint_dir, progress=progress, **options)
    return sweep.join(histories, gmm.concatenate)


def ellipse(params: gmm.GMMParams, run: int, component: int, radius: float = 2.0):
    """``(centre, width, height, angle in degrees)`` of the ``radius``-σ contour of one
    component, for ``matplotlib.patches.Ellipse``."""
    values, vectors = np.linalg.eigh(params.covariances[run, component])
    width, height = 2 * radius * np.sqrt(np.clip(values[::-1], 0.0, None))
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    return params.means[run, component], width, height, angle
