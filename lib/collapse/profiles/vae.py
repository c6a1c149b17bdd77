"""Profiles of the chapter "Variational autoencoders" (paper §5.1, Figs 8 and 9), the
paper's and the authors' settings beside them (:data:`REFERENCE`, rendered by
:func:`collapse.profiles.settings_table`) and a peak-memory estimate."""

from collapse import mnist, validate

PROFILES = {
    "smoke": dict(
        dataset="digits", n_train=1500, generations=3, epochs=3, batch_size=256, latent_dim=20,
        learning_rate=1e-3, weight_decay=1e-5, synthetic="stream", seed=0,
        show_generations=[0, 1, 2], compare_generations=2, n_eval=500, classifier_train=1500,
        device="cpu",
    ),
    "quick": dict(
        dataset="mnist", n_train=2000, generations=5, epochs=8, batch_size=64, latent_dim=20,
        learning_rate=1e-3, weight_decay=1e-5, synthetic="stream", seed=0,
        show_generations=[0, 1, 2, 3, 4], compare_generations=3, n_eval=2000,
        classifier_train=3000, device="cpu",
    ),
    "paper": dict(
        dataset="mnist", n_train=60000, generations=21, epochs=30, batch_size=256,
        latent_dim=20, learning_rate=1e-3, weight_decay=1e-5, synthetic="stream", seed=0,
        show_generations=[0, 5, 10, 20], compare_generations=6, n_eval=10000,
        classifier_train=20000, device="auto",
    ),
}

# What the paper (§5.1, Figs 8-9) and the authors' VAE_experiments.ipynb say, per setting
# (DESIGN.md §4). Keys that are profile parameters get the profiles' values beside them.
REFERENCE = {
    "dataset": dict(setting="data", paper="MNIST", code="MNIST, ToTensor() in [0, 1]"),
    "n_train": dict(setting="real training images (generation 0)", paper="not stated",
                    code="60000"),
    "synthetic": dict(setting="training data of generation ≥ 1", paper="not stated",
                      code="stream: fresh N(0, I) latents decoded by the previous decoder "
                           "for every minibatch"),
    "generations": dict(setting="generations trained", paper="21 (0 … 20 shown)",
                        code="6 (the original and 5 more)"),
    "show_generations": dict(setting="generations shown (Fig 9)", paper="0, 5, 10, 20",
                             code="every one"),
    "epochs": dict(setting="epochs per generation", paper="not stated", code="30"),
    "batch_size": dict(setting="batch size", paper="not stated", code="256"),
    "latent_dim": dict(setting="latent dimension", paper="not stated", code="20"),
    "learning_rate": dict(setting="Adam learning rate", paper="not stated", code="0.001"),
    "weight_decay": dict(setting="Adam weight decay", paper="not stated", code="1e-05"),
    "architecture": dict(setting="network", paper="convolutional VAE (not detailed)",
                         code="conv 64, 128 / linear 20 / convT 128→64→1, 647,081 parameters",
                         book="the authors' (a test checks 647,081 parameters)"),
    "loss": dict(setting="loss", paper="not stated", code="summed BCE + KL (β = 1)",
                 book="summed BCE + KL (β = 1)"),
    "n_eval": dict(setting="images per generation for Fig 8", paper="not stated",
                   code="100 (latent means, histogram over (−3, 3))"),
}


def check(config: dict) -> None:
    validate.choice("dataset", config["dataset"], mnist.DATASETS)
    size = 60000 if config["dataset"] == "mnist" else mnist.DIGITS_TRAIN
    validate.integer("n_train", config["n_train"], minimum=2, maximum=size)
    validate.integer("generations", config["generations"], minimum=1)
    validate.integer("epochs", config["epochs"], minimum=1)
    validate.integer("batch_size", config["batch_size"], minimum=1)
    validate.integer("latent_dim", config["latent_dim"], minimum=1)
    validate.real("learning_rate", config["learning_rate"], low=0.0)
    validate.real("weight_decay", config["weight_decay"], low=0.0)
    validate.choice("synthetic", config["synthetic"], ("stream", "fixed"))
    validate.integer("seed", config["seed"], minimum=0)
    if not config["show_generations"] or 0 not in config["show_generations"]:
        raise ValueError("show_generations must include generation 0 (the reference encoder)")
    for g in config["show_generations"]:
        validate.integer("show_generations (each)", g, minimum=0,
                         maximum=config["generations"] - 1)
    validate.integer("compare_generations", config["compare_generations"], minimum=0)
    validate.integer("n_eval", config["n_eval"], minimum=10)
    validate.integer("classifier_train", config["classifier_train"], minimum=10, maximum=size)
    validate.choice("device", config["device"], ("cpu", "cuda", "auto"))


MODEL_BYTES = 647_081 * 4  # one 28×28 VAE's float32 weights


def peak_memory(config: dict) -> tuple[int, str]:
    """Estimated peak resident memory (bytes) of the chapter under ``config``, and the
    parameter that contributes most (to name in a refusal).

    An estimate from the sizes that scale: the loaded training split (float32, with
    its uint8 original while loading), ``D_0`` and its copy in the loop's state (held
    twice while a checkpoint is pickled), the fixed decoded sets of ``synthetic="fixed"``
    kept for every shown or compared generation, the training activations of one
    minibatch (about 40,000 floats per 28×28 image for forward and backward), the
    evaluation images, and about 700 MB for Python, torch and the plotting libraries.
    """
    side = 28 if config["dataset"] == "mnist" else 8
    image = side * side * 4
    split = (60000 if config["dataset"] == "mnist" else mnist.DIGITS_TRAIN) * image * 5 // 4
    # Fixed decoded sets (synthetic="fixed") stay in the loop's state for every kept
    # generation: the shown ones and those compared with the other setting.
    compared = config["compare_generations"]
    kept = len(set(config["show_generations"]) | set(range(min(compared,
                                                               config["generations"]))))
    fixed_sets = kept if config["synthetic"] == "fixed" else compared
    parts = {
        "n_train": config["n_train"] * image * (3 + fixed_sets),
        "batch_size": config["batch_size"] * image * 50,
        "n_eval": config["n_eval"] * image * 4,
        "classifier_train": config["classifier_train"] * image * 3,
        "generations": (config["generations"] + config["compare_generations"]) * MODEL_BYTES
                       * side * side // 784,
        "dataset": split,
    }
    base = 700 * 2**20
    return base + sum(parts.values()), max(parts, key=parts.get)
