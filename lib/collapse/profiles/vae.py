"""Profiles of the chapter "Variational autoencoders" (paper §5.1, Figs 8 and 9)."""

from collapse import mnist, validate

PROFILES = {
    "smoke": dict(
        dataset="digits", n_train=1500, generations=3, epochs=3, batch_size=256, latent_dim=20,
        seed=0, show_generations=[0, 1, 2], n_eval=500, classifier_train=1500,
        device="cpu",
    ),
    "quick": dict(
        dataset="mnist", n_train=2000, generations=6, epochs=20, batch_size=64, latent_dim=20,
        seed=0, show_generations=[0, 1, 2, 3, 4, 5], n_eval=2000, classifier_train=3000,
        device="cpu",
    ),
    "paper": dict(
        dataset="mnist", n_train=60000, generations=21, epochs=30, batch_size=256,
        latent_dim=20, seed=0, show_generations=[0, 5, 10, 20], n_eval=10000,
        classifier_train=20000, device="auto",
    ),
}


def check(config: dict) -> None:
    validate.choice("dataset", config["dataset"], mnist.DATASETS)
    size = 60000 if config["dataset"] == "mnist" else mnist.DIGITS_TRAIN
    validate.integer("n_train", config["n_train"], minimum=2, maximum=size)
    validate.integer("generations", config["generations"], minimum=1)
    validate.integer("epochs", config["epochs"], minimum=1)
    validate.integer("batch_size", config["batch_size"], minimum=1)
    validate.integer("latent_dim", config["latent_dim"], minimum=1)
    validate.integer("seed", config["seed"], minimum=0)
    if not config["show_generations"] or 0 not in config["show_generations"]:
        raise ValueError("show_generations must include generation 0 (the reference encoder)")
    for g in config["show_generations"]:
        validate.integer("show_generations (each)", g, minimum=0,
                         maximum=config["generations"] - 1)
    validate.integer("n_eval", config["n_eval"], minimum=10)
    validate.integer("classifier_train", config["classifier_train"], minimum=10, maximum=size)
    validate.choice("device", config["device"], ("cpu", "cuda", "auto"))
