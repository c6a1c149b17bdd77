"""The chapter "Variational autoencoders" (paper §5.1, Figs 8 and 9): its settings, the
paper's and the authors' settings beside them (:data:`REFERENCE`, rendered by
:func:`collapse.book.settings.settings_table`), a peak-memory estimate, and what the
chapter reads off the trained networks (latent spread, digit classes, image tiles)."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collapse import checkpoint, mnist, validate
from collapse.book.settings import ChapterSettings, listed
from collapse.book.settings import resolve as resolve_settings
from collapse.book.trials import record_digest
from collapse.vae import VAE
from collapse.vae_train import PRECISIONS


def resolve_paper(chapter: str):
    return resolve_settings(chapter, "paper")


MODEL_BYTES = 647_081 * 4  # one 28×28 VAE's float32 weights


@dataclass(frozen=True)
class Settings(ChapterSettings):
    dataset: str = "mnist"
    n_train: int = 3000
    generations: int = 5
    epochs: int = 3
    batch_size: int = 32
    latent_dim: int = 20
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    synthetic: str = "stream"
    show_generations: list[int] = listed(0, 1, 2, 3, 4)
    compare_generations: int = 3
    n_eval: int = 2000
    classifier_train: int = 3000
    device: str = "cpu"
    precision: str = "auto"

    def scale_note(self) -> str | None:
        paper = resolve_paper("vae")
        if self.n_train >= paper.n_train and self.epochs >= paper.epochs:
            return None
        data = {"mnist": "MNIST", "digits": "8×8 digit"}[self.dataset]
        return (f"{self.n_train:,} {data} images and {self.epochs} epochs per "
                f"generation; the authors' scale ({paper.n_train:,} images, {paper.epochs} "
                f"epochs, {paper.generations - 1} generations) is the `paper` profile")

    def work(self) -> tuple[str, float]:
        """Images passed through the network in training, over all fits."""
        return "image-epochs", self.n_train * self.epochs * (self.generations
                                                             + self.compare_generations)

    def check(self) -> None:
        validate.choice("dataset", self.dataset, mnist.DATASETS)
        size = 60000 if self.dataset == "mnist" else mnist.DIGITS_TRAIN
        validate.integer("n_train", self.n_train, minimum=2, maximum=size)
        validate.integer("generations", self.generations, minimum=1)
        validate.integer("epochs", self.epochs, minimum=1)
        validate.integer("batch_size", self.batch_size, minimum=1)
        validate.integer("latent_dim", self.latent_dim, minimum=1)
        validate.real("learning_rate", self.learning_rate, low=0.0, high=1.0)
        validate.real("weight_decay", self.weight_decay, low=0.0, high=1.0)
        validate.choice("synthetic", self.synthetic, ("stream", "fixed"))
        if not self.show_generations or 0 not in self.show_generations:
            raise ValueError("show_generations must include generation 0 (the reference "
                             "encoder)")
        for g in self.show_generations:
            validate.integer("show_generations (each)", g, minimum=0,
                             maximum=self.generations - 1)
        validate.integer("compare_generations", self.compare_generations, minimum=0)
        validate.integer("n_eval", self.n_eval, minimum=10)
        validate.integer("classifier_train", self.classifier_train, minimum=10, maximum=size)
        validate.choice("device", self.device, ("cpu", "cuda", "auto"))
        validate.choice("precision", self.precision, PRECISIONS)

    def peak_memory(self) -> tuple[int, str]:
        """Estimated peak resident memory (bytes) of the chapter under ``config``, and the
        parameter that contributes most (to name in a refusal).

        An estimate from the sizes that scale: the loaded training split (float32, with
        its uint8 original while loading), ``D_0`` and its copy in the loop's state (held
        twice while a checkpoint is pickled), the fixed decoded sets of ``synthetic="fixed"``
        kept for every shown or compared generation (and, for the bf16 loop, one epoch of
        the stream, decoded at once), the training activations of one
        minibatch (about 40,000 floats per 28×28 image for forward and backward), the
        evaluation images, and about 700 MB for Python, torch and the plotting libraries.
        """
        side = 28 if self.dataset == "mnist" else 8
        image = side * side * 4
        split = (60000 if self.dataset == "mnist" else mnist.DIGITS_TRAIN) * image * 5 // 4
        # Fixed decoded sets (synthetic="fixed") stay in the loop's state for every kept
        # generation: the shown ones and those compared with the other setting.
        compared = self.compare_generations
        kept = len(set(self.show_generations) | set(range(min(compared,
                                                                   self.generations))))
        fixed_sets = kept if self.synthetic == "fixed" else compared
        if self.synthetic == "stream" and self.precision != "fp32":
            fixed_sets += 1  # the fast loop decodes a whole epoch of the stream at once
        parts = {
            "n_train": self.n_train * image * (3 + fixed_sets),
            "batch_size": self.batch_size * image * 50,
            "n_eval": self.n_eval * image * 4,
            "classifier_train": self.classifier_train * image * 3,
            "generations": (self.generations + self.compare_generations) * MODEL_BYTES
                           * side * side // 784,
            "dataset": split,
        }
        base = 700 * 2**20
        return base + sum(parts.values()), max(parts, key=parts.get)


SMOKE = dict(dataset="digits", n_train=1500, generations=3, epochs=3, batch_size=256,
             show_generations=[0, 1, 2], compare_generations=2, n_eval=500,
             classifier_train=1500)
PAPER = dict(n_train=60000, generations=21, epochs=30, batch_size=256, learning_rate=1e-3,
             show_generations=[0, 5, 10, 20], compare_generations=6, n_eval=10000,
             classifier_train=20000, device="auto", precision="fp32")

# What the paper (§5.1, Figs 8-9) and the authors' VAE_experiments.ipynb say, per setting
# (DESIGN.md §4). Keys that are profile parameters get the profiles' values beside them.
REFERENCE = {
    "dataset": dict(setting="data", paper="handwritten digits (as Kingma & Welling)",
                    code="MNIST, ToTensor() in [0, 1]"),
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
    "precision": dict(setting="arithmetic (auto: bf16 where the hardware has it)",
                      paper="not stated", code="fp32 (plain PyTorch loop)"),
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



def family_and_data(settings: Settings, rng: np.random.Generator,
                    synthetic: str | None = None, fit_cache: str | None = ".cache/vae/fits"):
    """The chapter's family and ``D_0``: the VAE family with the settings' training values
    (``synthetic`` overrides the settings'; fits stored in ``fit_cache``, see
    :class:`collapse.vae.VAE`), and ``n_train`` real images ``(1, n_train, H, W)`` drawn
    with ``rng``."""
    family = VAE(latent_dim=settings.latent_dim, epochs=settings.epochs,
                 batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                 weight_decay=settings.weight_decay,
                 synthetic=synthetic or settings.synthetic, device=settings.device,
                 precision=settings.precision, fit_cache=fit_cache)
    images, labels = mnist.load(settings.dataset, "train")
    real, _ = mnist.subset(images, labels, settings.n_train, rng)
    return family, real[None]


def checkpoint_path(family, initial_data, generations: int, sample_size,
                    rng: np.random.Generator, mixing, keep=(), cache_dir=".cache/vae"):
    """A checkpoint file for ``loop.simulate`` with these arguments, named by their
    content hash (and the library code's): a changed setting gets a new file, and the
    same call finds its finished or interrupted run again."""
    stem = checkpoint.path_for(cache_dir, family, initial_data, generations, sample_size,
                               rng.bit_generator.state, mixing, sorted(keep),
                               code=("loop", "vae", "vae_stream", "vae_train"))
    return stem.with_name(f"{family.synthetic}-{stem.name}.pkl")


def latent_spread(latents: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How spread out latent means are, relative to the real data's latents ``reference``.

    ``std``: the root-mean-square standard deviation over the latent dimensions;
    ``tail``: the fraction of points whose distance from the reference centre exceeds
    the reference's 95th percentile (0.05 for data distributed like the reference).
    """
    centre = reference.mean(axis=0)
    radius = np.quantile(np.linalg.norm(reference - centre, axis=1), 0.95)
    return {"std": float(np.sqrt(latents.var(axis=0).mean())),
            "tail": float(np.mean(np.linalg.norm(latents - centre, axis=1) > radius))}


def tile(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Lay ``(n, H, W)`` images out as one ``(rows·H, columns·W)`` picture; missing
    images at the end are blank (0, no ink)."""
    n, height, width = images.shape
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, height, width), images.dtype)
    padded[:n] = images
    return padded.reshape(rows, columns, height, width).swapaxes(1, 2).reshape(
        rows * height, columns * width)


def generation_summary(kept: dict, real: np.ndarray, classifier, n_eval: int,
                       rng: np.random.Generator, precision: str = "fp32"):
    """What each kept generation's VAE produces, seen through the generation-0 encoder.

    ``kept`` is ``History.kept`` of a VAE run: ``{g: (params, training data)}`` with
    generation 0 among them. For every ``g``: ``n_eval`` images decoded from
    ``N(0, I)`` latents by VAE ``g``, their latent means under the *generation-0*
    encoder (paper Fig 8), the spread of those latents (:func:`latent_spread`, relative
    to the encoder's latents of ``n_eval`` real images), the fraction of the images a
    classifier trained on real digits assigns to each digit and its mean confidence
    (:func:`collapse.mnist.class_confidence`). Returns
    ``(latents, table)``: ``latents`` maps ``"real"`` and every ``g`` to an
    ``(n_eval, latent_dim)`` array; ``table`` has one row per generation. ``precision``:
    the arithmetic of the encoder and decoders (see :meth:`collapse.vae.VAE.decode`).
    """
    if 0 not in kept:
        raise ValueError("generation_summary needs the generation-0 model (the reference)")
    n_eval = validate.integer("n_eval", n_eval, minimum=2, maximum=len(real))
    models = {g: params for g, (params, _) in kept.items()}
    reference_images = real[rng.choice(len(real), n_eval, replace=False)]
    latents = {"real": VAE.encode(models[0], reference_images, precision=precision)}
    rows = [dict(generation="real", **latent_spread(latents["real"], latents["real"]),
                 confidence=mnist.class_confidence(classifier, reference_images),
                 **_class_columns(mnist.class_fractions(classifier, reference_images)))]
    for g in sorted(models):
        z = rng.standard_normal((n_eval, models[g].model.latent_dim)).astype(np.float32)
        images = VAE.decode(models[g], z, precision=precision)
        latents[g] = VAE.encode(models[0], images, precision=precision)
        rows.append(dict(generation=g, **latent_spread(latents[g], latents["real"]),
                         confidence=mnist.class_confidence(classifier, images),
                         **_class_columns(mnist.class_fractions(classifier, images))))
    return latents, pd.DataFrame(rows)


def _class_columns(fractions: np.ndarray) -> dict[str, float]:
    positive = fractions[fractions > 0]
    return {"class_entropy_bits": float(-(positive * np.log2(positive)).sum()) + 0.0,
            **{f"digit {k}": float(f) for k, f in enumerate(fractions)}}


def generation0_digest(settings: Settings) -> str:
    """A hash of the settings that determine generation 0 and what the chapter measures of
    it (not those of later generations or of the figures): keys the rows of the record
    ``vae_training_length.csv`` (:mod:`collapse.book.trials`) to the profile they ran from."""
    return record_digest(settings, ignore=("generations", "synthetic", "show_generations",
                                           "compare_generations"))

