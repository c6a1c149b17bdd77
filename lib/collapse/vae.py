"""A convolutional variational autoencoder trained from scratch each generation (paper §5.1,
Figs 8 and 9; Kingma & Welling 2014).

Architecture (as in the authors' notebook, see DESIGN.md): the encoder has two 4×4
stride-2 convolutions with 64 and 128 channels (ReLU), then two linear heads to the
mean and log-variance of a 20-dimensional Gaussian latent; the decoder is the mirror
image (linear, two 4×4 stride-2 transposed convolutions) with a sigmoid output. The
loss is the summed binary cross-entropy plus the KL divergence to N(0, I), minimised
with Adam (lr 1e-3, weight decay 1e-5), batch 256.

Each stride-2 convolution halves the image side, so the network adapts to any image
whose height and width are multiples of 4: 28×28 MNIST (28 → 14 → 7) and scikit-learn's
8×8 digits (8 → 4 → 2) run through the same code without padding or resizing.

Shapes follow the loop's convention with one run: data are ``(1, n, H, W)`` float
arrays in [0, 1]. The family cannot vectorise over runs (one network per run), so
``runs`` must be 1.

Randomness. ``sample`` draws its latents from the numpy generator the loop passes in.
``fit(data)`` receives no generator, so the seed of a training run (weight
initialisation, minibatch order, reparameterisation noise) is derived from the
family's ``seed`` and a hash of the training data. The same data therefore always give
the same model on the same hardware, which keeps a resumed run identical to an
uninterrupted one, and different generations (different data) get different seeds.
Nothing touches torch's global random state: initialisation runs inside
``torch.random.fork_rng`` and training uses its own ``torch.Generator``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch spelling)

from . import loop, validate

DEVICES = ("cpu", "cuda", "auto")


class ConvVAE(nn.Module):
    """The network: ``encode`` → (mean, log-variance); ``decode`` → pixel probabilities."""

    def __init__(self, height: int, width: int, latent_dim: int = 20):
        super().__init__()
        self.height, self.width, self.latent_dim = height, width, latent_dim
        self.grid = (128, height // 4, width // 4)
        features = int(np.prod(self.grid))
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.to_mean = nn.Linear(features, latent_dim)
        self.to_logvar = nn.Linear(features, latent_dim)
        self.from_latent = nn.Linear(latent_dim, features)
        self.decoder = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(images)
        return self.to_mean(hidden), self.to_logvar(hidden)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(latents).view(-1, *self.grid))


def loss_terms(model: ConvVAE, images: torch.Tensor, generator: torch.Generator):
    """Summed BCE reconstruction loss and KL(q(z|x) || N(0, I)) of a batch (Kingma &
    Welling 2014, Eq 10), with one reparameterised latent sample per image."""
    mean, logvar = model.encode(images)
    noise = torch.randn(mean.shape, generator=generator, device=mean.device)
    reconstruction = model.decode(mean + torch.exp(0.5 * logvar) * noise)
    bce = F.binary_cross_entropy(reconstruction, images, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    return bce, kl


@dataclass
class VAEParams:
    """A trained network and its per-epoch training curve (loss per image)."""

    model: ConvVAE
    bce: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def runs(self) -> int:
        return 1


def _seed_from(seed: int, data: np.ndarray) -> int:
    digest = hashlib.blake2b(np.ascontiguousarray(data).tobytes(), digest_size=8,
                             key=str(seed).encode())
    return int.from_bytes(digest.digest(), "little") & (2**62 - 1)


@dataclass
class VAE:
    """The VAE family: ``fit`` trains a fresh network on the current images, ``sample``
    decodes latents drawn from N(0, I) (the generated images are the decoder's pixel
    probabilities, not binarised)."""

    latent_dim: int = 20
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        validate.integer("latent_dim", self.latent_dim, minimum=1)
        validate.integer("epochs", self.epochs, minimum=1)
        validate.integer("batch_size", self.batch_size, minimum=1)
        validate.real("learning_rate", self.learning_rate, low=0.0)
        validate.real("weight_decay", self.weight_decay, low=0.0)
        validate.integer("seed", self.seed, minimum=0)
        validate.choice("device", self.device, DEVICES)

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no GPU; use device='cpu' or 'auto'")
        return torch.device(self.device)

    @staticmethod
    def check_images(data: np.ndarray) -> np.ndarray:
        """``data`` must be ``(1, n, H, W)`` with H, W multiples of 4 and values in [0, 1]."""
        data = np.asarray(data)
        if data.ndim != 4 or data.shape[0] != 1:
            raise ValueError(f"VAE data must have shape (1, n, H, W) (one run), got {data.shape}")
        if data.shape[2] % 4 or data.shape[3] % 4:
            raise ValueError(f"image height and width must be multiples of 4 (two stride-2 "
                             f"convolutions), got {data.shape[2]}×{data.shape[3]}")
        if data.size and (data.min() < 0 or data.max() > 1):
            raise ValueError("pixel values must lie in [0, 1]")
        return data

    def fit(self, data: np.ndarray) -> VAEParams:
        """Train a fresh VAE on ``data`` ``(1, n, H, W)`` for ``epochs`` epochs."""
        data = self.check_images(data)
        validate.integer("number of training images", data.shape[1], minimum=1)
        device = self._device()
        seed = _seed_from(self.seed, data)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ConvVAE(data.shape[2], data.shape[3], self.latent_dim).to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed + 1)
        images = torch.as_tensor(np.ascontiguousarray(data[0]), dtype=torch.float32,
                                 device=device).unsqueeze(1)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.learning_rate,
                                     weight_decay=self.weight_decay)
        params = VAEParams(model)
        epochs = range(self.epochs)
        if self.progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="VAE epochs", leave=False)
        start = time.perf_counter()
        model.train()
        for _ in epochs:
            order = torch.randperm(len(images), generator=shuffle).to(device)
            bce_total = kl_total = 0.0
            for batch in order.split(self.batch_size):
                bce, kl = loss_terms(model, images[batch], generator)
                optimiser.zero_grad(set_to_none=True)
                (bce + kl).backward()
                optimiser.step()
                bce_total, kl_total = bce_total + bce.item(), kl_total + kl.item()
            params.bce.append(bce_total / len(images))
            params.kl.append(kl_total / len(images))
            if self.progress:
                epochs.set_postfix(loss=params.bce[-1] + params.kl[-1])
        params.seconds = time.perf_counter() - start
        model.eval()
        params.model = model.cpu()
        return params

    def sample(self, params: VAEParams, n: int, rng: np.random.Generator) -> np.ndarray:
        """Decode ``n`` latents ``z ~ N(0, I)`` drawn from ``rng``: images ``(1, n, H, W)``."""
        n = validate.integer("n", n, minimum=0)
        validate.generator("rng", rng)
        latents = rng.standard_normal((n, params.model.latent_dim)).astype(np.float32)
        return self.decode(params, latents)[None]

    @staticmethod
    def decode(params: VAEParams, latents: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Decoder outputs (pixel probabilities) ``(n, H, W)`` of the given latents."""
        model = params.model.cpu().eval()
        parts = [np.empty((0, model.height, model.width), np.float32)]
        with torch.no_grad():
            for start in range(0, len(latents), batch):
                z = torch.as_tensor(latents[start : start + batch])
                parts.append(model.decode(z)[:, 0].numpy())
        return np.concatenate(parts)

    @staticmethod
    def encode(params: VAEParams, images: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Latent means ``(n, latent_dim)`` of images ``(n, H, W)`` under this encoder
        (the paper's Fig 8 feeds later generations' data to the generation-0 encoder)."""
        model = params.model.cpu().eval()
        images = np.asarray(images, dtype=np.float32)
        parts = [np.empty((0, model.latent_dim), np.float32)]
        with torch.no_grad():
            for start in range(0, len(images), batch):
                x = torch.as_tensor(images[start : start + batch]).unsqueeze(1)
                parts.append(model.encode(x)[0].numpy())
        return np.concatenate(parts)

    def describe(self, params: VAEParams) -> dict[str, np.ndarray]:
        """Last-epoch training loss per image (BCE, KL, their sum) and training time."""
        return {"bce": np.array([params.bce[-1]]), "kl": np.array([params.kl[-1]]),
                "loss": np.array([params.bce[-1] + params.kl[-1]]),
                "train_seconds": np.array([params.seconds])}


# ------------------------------------------------------------------ the experiment


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


def generation_summary(models: dict, real: np.ndarray, classifier, n_eval: int,
                       rng: np.random.Generator):
    """What each kept generation's VAE produces, seen through the generation-0 encoder.

    For every generation ``g`` in ``models`` (generation 0 must be there): ``n_eval``
    images sampled from VAE ``g``, their latent means under the *generation-0* encoder
    (paper Fig 8), the spread of those latents (:func:`latent_spread`, relative to
    the encoder's latents of ``n_eval`` real images) and the fraction of the images a
    classifier trained on real digits assigns to each digit. Returns
    ``(latents, table)``: ``latents`` maps ``"real"`` and every ``g`` to an
    ``(n_eval, latent_dim)`` array; ``table`` has one row per generation.
    """
    import pandas as pd

    from . import mnist

    if 0 not in models:
        raise ValueError("generation_summary needs the generation-0 model (the reference)")
    n_eval = validate.integer("n_eval", n_eval, minimum=2, maximum=len(real))
    reference_images = real[rng.choice(len(real), n_eval, replace=False)]
    latents = {"real": VAE.encode(models[0], reference_images)}
    rows = [dict(generation="real", **latent_spread(latents["real"], latents["real"]),
                 **_class_columns(mnist.class_fractions(classifier, reference_images)))]
    family = VAE(latent_dim=models[0].model.latent_dim)
    for g in sorted(models):
        images = family.sample(models[g], n_eval, rng)[0]
        latents[g] = VAE.encode(models[0], images)
        rows.append(dict(generation=g, **latent_spread(latents[g], latents["real"]),
                         **_class_columns(mnist.class_fractions(classifier, images))))
    return latents, pd.DataFrame(rows)


def _class_columns(fractions: np.ndarray) -> dict[str, float]:
    positive = fractions[fractions > 0]
    return {"class_entropy_bits": float(-(positive * np.log2(positive)).sum()) + 0.0,
            **{f"digit {k}": float(f) for k, f in enumerate(fractions)}}


def _source_digest() -> str:
    digest = hashlib.sha256()
    for module in ("vae.py", "mnist.py", "loop.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    return digest.hexdigest()


def recursive_training(dataset: str, n_train: int, generations: int, *, seed: int = 0,
                       keep=(), cache_dir: str | Path | None = ".cache/vae",
                       progress: bool = True, **family_options) -> loop.History:
    """§5.1 in one call: train a VAE on ``n_train`` real images (generation 0), then
    ``generations - 1`` times train a fresh VAE on ``n_train`` images decoded from the
    previous VAE (no real data after generation 0).

    The run is cached and resumable: its loop checkpoint lives in ``cache_dir`` under a
    hash of the arguments and the library sources, so a finished run is read back at
    once and an interrupted one continues from its last finished generation.
    ``keep`` lists the generations whose trained networks are returned.
    """
    from . import mnist

    family = VAE(seed=seed, progress=False, **family_options)  # the loop shows generations
    generations = validate.integer("generations", generations, minimum=1)
    n_train = validate.integer("n_train", n_train, minimum=1)
    keep = sorted({validate.integer("keep (each generation)", g, 0, generations - 1)
                   for g in keep})
    rng = np.random.default_rng(seed)
    images, labels = mnist.load(dataset, "train")
    real, _ = mnist.subset(images, labels, n_train, rng)
    checkpoint = None
    if cache_dir is not None:
        options = asdict(family)
        key = json.dumps(dict(dataset=dataset, n_train=n_train, generations=generations,
                              keep=keep, options=options, source=_source_digest()),
                         sort_keys=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:16]
        checkpoint = Path(cache_dir) / f"{dataset}-{name}.pkl"
    history = loop.simulate(family, real[None], generations, n_train, rng, keep=keep,
                            checkpoint=checkpoint, progress=progress)
    for g in history.kept:  # drop the kept training sets: only the networks are needed
        history.kept[g] = history.kept[g][0]
    return history


def cli_setup(runs: int, M: int, rng: np.random.Generator, dataset: str = "digits",
              **options):
    """``python -m collapse simulate vae --M 1000 --option dataset=mnist --option epochs=5``:
    ``D_0`` = M real images drawn with ``rng`` (one run)."""
    from . import mnist

    validate.integer("runs", runs, minimum=1, maximum=1)
    images, labels = mnist.load(dataset, "train")
    real, _ = mnist.subset(images, labels, M, rng)
    return VAE(**options), real[None], False
