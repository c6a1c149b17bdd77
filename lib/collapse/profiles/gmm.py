"""Profiles of the chapter "Gaussian mixture models" (paper §5.1, Figs 7 and 13).

``generations`` and ``runs``: the chains of Figs 7 and 13 (for both data settings);
``snapshots``: the generations drawn in Fig 7 (the paper: 0, 50, 100, 150, 200, 350,
2000); ``mixing_*``: the comparison of replace, accumulate and keep-10 %-original
(accumulate refits on every sample ever drawn, so its cost grows with the generation).
"""

from collapse import validate

PROFILES = {
    "smoke": dict(
        M=1000, separation=6.0, generations=21, runs=2, snapshots=[0, 2, 4, 6, 10, 15, 20],
        mixing_generations=6, mixing_runs=1, n_jobs=1, checkpoint=False, seed=0,
    ),
    "quick": dict(
        M=1000, separation=6.0, generations=1001, runs=4,
        snapshots=[0, 50, 100, 150, 200, 350, 1000], mixing_generations=150, mixing_runs=2,
        n_jobs=2, checkpoint=False, seed=0,
    ),
    "paper": dict(
        M=1000, separation=6.0, generations=2050, runs=10,
        snapshots=[0, 50, 100, 150, 200, 350, 2000], mixing_generations=500, mixing_runs=5,
        n_jobs=2, checkpoint=True, seed=0,
    ),
}


def check(config: dict) -> None:
    validate.integer("M", config["M"], minimum=2)
    validate.real("separation", config["separation"], low=0.0)
    validate.integer("generations", config["generations"], minimum=2)
    validate.integer("runs", config["runs"], minimum=1)
    if not config["snapshots"]:
        raise ValueError("snapshots must list at least one generation")
    for g in config["snapshots"]:
        validate.integer("snapshots (each generation)", g, minimum=0,
                         maximum=config["generations"] - 1)
    validate.integer("mixing_generations", config["mixing_generations"], minimum=2)
    validate.integer("mixing_runs", config["mixing_runs"], minimum=1)
    validate.integer("n_jobs", config["n_jobs"], minimum=1)
    validate.integer("seed", config["seed"], minimum=0)
