"""Profiles of the chapter "Gaussian mixture models" (paper §5.1, Figs 7 and 13).

``generations`` and ``runs``: the chains of Figs 7 and 13 (for both data settings);
``snapshots``: the generations drawn in Fig 7 (the paper: 0, 50, 100, 150, 200, 350,
2000); ``mixing_*``: the comparison of replace, accumulate and keep-10 %-original
(accumulate refits on every sample ever drawn, so its cost grows with the generation).
"""

from collapse import validate
from collapse.profiles import BASE, TABLE_OVERHEAD, check_list

WORKER = 250 * 10**6  # a joblib worker with numpy and scikit-learn

PROFILES = {
    "smoke": dict(
        M=1000, separation=6.0, generations=21, runs=2, snapshots=[0, 2, 4, 6, 10, 15, 20],
        mixing_generations=6, mixing_runs=1, n_jobs=1, checkpoint=False, seed=0,
    ),
    "quick": dict(
        M=1000, separation=6.0, generations=601, runs=2,
        snapshots=[0, 50, 100, 150, 200, 350, 600], mixing_generations=60, mixing_runs=2,
        n_jobs=1, checkpoint=False, seed=0,
    ),
    "paper": dict(
        M=1000, separation=6.0, generations=2050, runs=10,
        snapshots=[0, 50, 100, 150, 200, 350, 2000], mixing_generations=500, mixing_runs=5,
        n_jobs=2, checkpoint=True, seed=0,
    ),
}

# key: the row of the chapter's settings table (collapse.profiles.settings_table): what
# the paper's text says and what the authors' code iliaishacked/curse_recurse does
# (facts from ../shared/DESIGN.md §4). Rows without a profile key show ``book``.
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


def check(config: dict) -> None:
    validate.integer("M", config["M"], minimum=2)
    validate.real("separation", config["separation"], low=0.0, high=1000.0)
    validate.integer("generations", config["generations"], minimum=2)
    validate.integer("runs", config["runs"], minimum=1)
    # Fig 7 draws a row of panels per setting: at least two
    check_list("snapshots", config["snapshots"],
               lambda label, g: validate.integer(label, g, minimum=0,
                                                 maximum=config["generations"] - 1),
               minimum_length=2, label="snapshots (each generation)")
    validate.integer("mixing_generations", config["mixing_generations"], minimum=2)
    validate.integer("mixing_runs", config["mixing_runs"], minimum=1)
    validate.integer("n_jobs", config["n_jobs"], minimum=1, maximum=64)
    validate.integer("seed", config["seed"], minimum=0)


def peak_memory(config: dict) -> tuple[int, str]:
    """Bytes at the peak: a worker process per job, the tables (about 120 bytes per run
    and generation, two settings), the kept training sets of the snapshots, and the
    accumulated training data of the mixing comparison (16 bytes a point, a doubling
    buffer and EM's temporaries), one chain per worker at a time."""
    jobs = config["n_jobs"]
    terms = {
        "n_jobs": WORKER * (jobs if jobs > 1 else 0),
        "runs": TABLE_OVERHEAD * 2 * config["runs"] * (
            120 * config["generations"] + 16 * config["M"] * len(config["snapshots"])),
        "mixing_generations": 6 * 16 * config["M"] * config["mixing_generations"]
        * min(jobs, config["mixing_runs"]),
    }
    return int(BASE + sum(terms.values())), max(terms, key=terms.get)
