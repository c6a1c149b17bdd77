"""The chapter "Gaussian mixture models" (paper §5.1, Figs 7 and 13): settings, the
checkpoint file of its runs and the ellipses it draws.

``generations`` and ``runs``: the chains of Figs 7 and 13 (for both data settings), all
runs of a setting in one :func:`collapse.loop.simulate` call (the batched EM fits them
together); ``snapshots``: the generations drawn in Fig 7 (the paper: 0, 50, 100, 150,
200, 350, 2000); ``mixing_*``: the comparison of replace, accumulate and
keep-10 %-original (accumulate refits on every sample ever drawn, so its cost grows with
the generation); ``backend``: how the EM fit is computed (:class:`collapse.gmm.GMM`).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collapse import checkpoint as checkpoints
from collapse import gmm, validate
from collapse.book.memory import BASE, TABLE_OVERHEAD
from collapse.book.settings import ChapterSettings, check_list, listed
from collapse.book.settings import resolve as resolve_settings

CODE = ("loop", "mixing", "gmm", "gmm_em", "gmm_steps", "kmeans")  # what a run's result depends on


@dataclass(frozen=True)
class Settings(ChapterSettings):
    M: int = 1000
    separation: float = 6.0
    generations: int = 601
    runs: int = 20
    snapshots: list[int] = listed(0, 50, 100, 150, 200, 350, 600)
    mixing_generations: int = 40
    mixing_runs: int = 20
    backend: str = "batched"  # the EM fit: "batched" (all chains at once) or "sklearn"
    checkpoint: bool = False  # cache the chains in .cache/gmm (resumable)

    def scale_note(self) -> str | None:
        paper = resolve_settings("gmm", "paper")
        if self.generations >= paper.generations:
            return None
        return (f"{self.generations:,} generations of the paper's {paper.generations:,}, "
                f"{self.runs} chains per setting")

    def work(self) -> tuple[str, float]:
        """EM fits of M points: two settings' chains and the three mixing rules."""
        return "EM fits", self.M / 1000 * (2 * self.runs * self.generations
                                           + 3 * self.mixing_runs * self.mixing_generations)

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
        validate.choice("backend", self.backend, gmm.BACKENDS)

    def peak_memory(self) -> tuple[int, str]:
        """Bytes at the peak: the tables (about 120 bytes per run and generation, two
        settings) with the kept training sets of the snapshots, or the accumulated
        training data of the mixing comparison (16 bytes a point, kept, joined and
        sampled: three copies) with the batched EM's working arrays (160 bytes a point
        of its pool, see ``gmm.POOL_POINTS``)."""
        accumulated = self.M * self.mixing_generations
        terms = {
            "runs": TABLE_OVERHEAD * 2 * self.runs * (
                120 * self.generations + 16 * self.M * len(self.snapshots)),
            "mixing_generations": 3 * 16 * accumulated * self.mixing_runs
            + 160 * max(gmm.POOL_POINTS, accumulated),
        }
        return int(BASE + sum(terms.values())), max(terms, key=terms.get)


SMOKE = dict(generations=21, runs=4, snapshots=[0, 2, 4, 6, 10, 15, 20], mixing_generations=6,
             mixing_runs=4)
PAPER = dict(generations=2050, runs=50, snapshots=[0, 50, 100, 150, 200, 350, 2000],
             mixing_generations=500, checkpoint=True)

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
                  book="the same estimator (EM from a k-means start)"),
    "backend": dict(setting="fit backend", paper="not stated",
                    code="sklearn (one fit per chain)"),
    "snapshots": dict(setting="Fig 7 panels", paper="0, 50, 100, 150, 200, 350, 2000",
                      code="samples drawn from the fit of that iteration"),
    "distance": dict(setting="Fig 13 distance", paper="L2",
                     code="squared L2 (L2_of_gmms), log scale",
                     book="squared L2, log scale"),
    "runs": dict(setting="independent chains", paper="not stated", code="1"),
}


def checkpoint_file(directory, family: gmm.GMM, initial_data, generations: int, sample_size,
                    rng: np.random.Generator, mixing, keep=()) -> Path:
    """The checkpoint of one ``loop.simulate`` call of the chapter, named by a hash of
    its arguments and of the code (:func:`collapse.checkpoint.path_for`): a finished
    run is read back at once, an interrupted one resumes, a changed one starts anew."""
    return checkpoints.path_for(directory, family, initial_data, generations, sample_size,
                                rng.bit_generator.state, mixing, sorted(keep), code=CODE)


def ellipse(params: gmm.GMMParams, run: int, component: int, radius: float = 2.0):
    """``(centre, width, height, angle in degrees)`` of the ``radius``-σ contour of one
    component, for ``matplotlib.patches.Ellipse``."""
    values, vectors = np.linalg.eigh(params.covariances[run, component])
    width, height = 2 * radius * np.sqrt(np.clip(values[::-1], 0.0, None))
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    return params.means[run, component], width, height, angle
