"""A convolutional variational autoencoder trained from scratch each generation (paper §5.1,
Figs 8 and 9; Kingma & Welling 2014).

Architecture (the authors' ``VAE_experiments.ipynb``, DESIGN.md §4): the encoder has two
4×4 stride-2 convolutions with 64 and 128 channels (ReLU), then two linear heads to the
mean and log-variance of a 20-dimensional Gaussian latent; the decoder is
``Linear(20 → 128·7·7)`` → reshape → ``ReLU(ConvT 128→64)`` → ``Sigmoid(ConvT 64→1)``,
with no activation between the linear layer and the first transposed convolution
(647,081 parameters at 28×28). The loss is the summed binary cross-entropy plus the KL
divergence to N(0, I), minimised with Adam (lr 1e-3, weight decay 1e-5), batch 256.

Each stride-2 convolution halves the image side, so the network adapts to any image
whose height and width are multiples of 4: 28×28 MNIST (28 → 14 → 7) and scikit-learn's
8×8 digits (8 → 4 → 2) run through the same code without padding or resizing.

The family follows the loop's protocol (:class:`collapse.loop.Family`) with one run.
What ``sample`` hands to the next generation depends on ``synthetic``:

* ``"stream"`` (the authors' code): a :class:`DecoderStream`, a lazy data set. ``fit``
  consumes it batch by batch, and every minibatch of every epoch is decoded from fresh
  latents ``z ~ N(0, I)`` by the previous generation's decoder (continuous pixel
  probabilities). ``n`` is the number of images per epoch, so 30 epochs of 60,000 show
  the new model 1.8 M different synthetic images.
* ``"fixed"``: one set of ``n`` decoded images ``(1, n, H, W)``, reused every epoch.

Randomness. ``sample`` draws its latents (fixed) or the stream's seed (stream) from the
generator the loop passes in. ``fit(data)`` receives no generator, so the seed of a
training run (weight initialisation, minibatch order, reparameterisation noise, the
stream's latents) is :func:`collapse.hashing.derive_seed` of the training data (of the
stream's seed and contents for a stream): the same data give the same model on the same
hardware, so a resumed run equals an uninterrupted one. Nothing touches torch's global
random state: initialisation runs inside ``torch.random.fork_rng`` and everything else
uses its own ``torch.Generator``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import files, hashing, vae_train, validate
from .loop import Family
from .vae_stream import DecoderStream, EpochBatches, StreamBatches
from .vae_train import PRECISIONS, autocast, decoder_logits

DEVICES = ("cpu", "cuda", "auto")
SYNTHETIC = ("stream", "fixed")


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
        self.decoder = nn.Sequential(  # no activation after from_latent (as the authors')
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(images)
        return self.to_mean(hidden), self.to_logvar(hidden)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(latents).view(-1, *self.grid))


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


# ------------------------------------------------------------------ the family


@dataclass
class VAE(Family):
    """The VAE family: ``fit`` trains a fresh network on the current images, ``sample``
    hands the next generation the decoder's outputs for latents ``z ~ N(0, I)`` (pixel
    probabilities, not binarised): a :class:`DecoderStream` (``synthetic="stream"``,
    the authors' code) or one fixed decoded set (``synthetic="fixed"``)."""

    latent_dim: int = 20
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    synthetic: str = "stream"
    device: str = "cpu"
    # "fp32": the plain float32 loop (the reference); "bf16": the fast loop, bf16
    # convolutions under autocast; "auto": bf16 where the hardware has it, else fp32
    # (see collapse.vae_train).
    precision: str = "fp32"
    # A directory: every trained network is stored there under a content hash of its
    # training data, its settings, the library code and torch's version, and a fit with
    # the same hash is read back instead of trained (e.g. the generation 0 that two
    # chains with the same real data share). None: no cache.
    fit_cache: str | os.PathLike | None = None

    def __post_init__(self):
        validate.integer("latent_dim", self.latent_dim, minimum=1)
        validate.integer("epochs", self.epochs, minimum=1)
        validate.integer("batch_size", self.batch_size, minimum=1)
        # Adam's steps are about learning_rate in size: beyond 1 the weights overflow
        validate.real("learning_rate", self.learning_rate, low=0.0, high=1.0)
        validate.real("weight_decay", self.weight_decay, low=0.0, high=1.0)
        validate.choice("synthetic", self.synthetic, SYNTHETIC)
        validate.choice("device", self.device, DEVICES)
        validate.choice("precision", self.precision, PRECISIONS)
        self._device()  # device="cuda" without a GPU: refused now, not in the first fit
        if self.fit_cache is not None and not isinstance(self.fit_cache, (str, os.PathLike)):
            raise ValueError(f"fit_cache must be a directory path or None, got "
                             f"{self.fit_cache!r}")
        if self.fit_cache is not None:
            files.check_folder_outside("fit_cache", self.fit_cache)

    def check_mixing(self, mixing) -> None:
        """Called by ``loop.simulate`` before any compute: a stream cannot be pooled."""
        if self.synthetic == "stream" and mixing.needs_pool:
            raise ValueError(f"mixing rule {type(mixing).__name__} keeps every sample in a "
                             f"pool, which a synthetic stream cannot be; use "
                             f"synthetic='fixed' (or another mixing rule)")

    def _advice(self) -> str:
        """What to change when training diverges (the end of its message)."""
        return (f"lower learning_rate (now {self.learning_rate}) or weight_decay (now "
                f"{self.weight_decay})")

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

    def fit(self, data) -> VAEParams:
        """Train a fresh VAE for ``epochs`` epochs on ``data``: images ``(1, n, H, W)``
        or a :class:`DecoderStream` (``n`` images per epoch, decoded batch by batch)."""
        stream = data if isinstance(data, DecoderStream) else None
        if stream is None:
            data = self.check_images(data)
        validate.integer("number of training images", data.shape[1], minimum=1)
        device = self._device()
        cache_file = self._cache_file(data, device)
        if cache_file is not None and cache_file.exists():
            cached = _read_fit(cache_file)
            if cached is not None:
                return cached
        seed = hashing.derive_seed("vae.fit", stream.key() if stream else data)
        height, width = data.shape[2:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ConvVAE(height, width, self.latent_dim).to(device)
        noise = torch.Generator(device=device).manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed ^ 1)
        fast = vae_train.resolve(self.precision, device) == "bf16"
        if stream is not None:
            batches = (EpochBatches if fast else StreamBatches)(stream, device, seed ^ 2)
        else:
            batches = _FixedBatches(torch.as_tensor(np.ascontiguousarray(data[0]),
                                                    dtype=torch.float32,
                                                    device=device).unsqueeze(1))
        if fast:
            optimiser = vae_train.fast_optimiser(model, self.learning_rate, self.weight_decay)
        else:
            optimiser = torch.optim.Adam(model.parameters(), lr=self.learning_rate,
                                         weight_decay=self.weight_decay)
        params = VAEParams(model)
        start = time.perf_counter()
        params.bce, params.kl = (vae_train.fast_epochs if fast else vae_train.plain_epochs)(
            model, optimiser, batches, data.shape[1], self.epochs, self.batch_size, noise,
            shuffle, self._advice())
        params.seconds = time.perf_counter() - start
        params.model = model.cpu()
        if cache_file is not None:
            _write_fit(cache_file, params)
        return params

    def _cache_file(self, data, device: torch.device) -> Path | None:
        """Where the fit of ``data`` with these settings is stored (None: no cache)."""
        if self.fit_cache is None:
            return None
        ran = vae_train.resolve(self.precision, device)  # the loop that runs, not "auto"
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("fit_cache", "device", "synthetic")}
        fields.update(precision=ran)
        if isinstance(data, DecoderStream):  # the images are a function of these
            content = ("stream", data.seed, tuple(data.counts), data.fixed,
                       [p.model.state_dict() for p in data.decoders])
        else:
            content = ("images", data)
        key = hashing.digest("vae.fit", fields, device.type, content, torch.__version__,
                             hashing.code_digest("vae", "vae_stream", "vae_train"))
        return Path(self.fit_cache) / f"fit-{key}.pt"

    def sample(self, params: VAEParams, n: int, rng: np.random.Generator):
        """The next generation's training data from ``n`` latents ``z ~ N(0, I)``: a
        :class:`DecoderStream` of ``n`` images per epoch seeded from ``rng``
        (``synthetic="stream"``) or ``n`` decoded images ``(1, n, H, W)`` (``"fixed"``)."""
        n = validate.integer("n", n, minimum=0)
        validate.generator("rng", rng)
        if self.synthetic == "stream":
            model = params.model
            return DecoderStream((params,), (n,), np.zeros((1, 0, model.height, model.width),
                                                           np.float32),
                                 int(rng.integers(2**63)))
        latents = rng.standard_normal((n, params.model.latent_dim)).astype(np.float32)
        return self.decode(params, latents, precision=self.precision)[None]

    @staticmethod
    def decode(params: VAEParams, latents: np.ndarray, batch: int = 4096,
               precision: str = "fp32") -> np.ndarray:
        """Decoder outputs (pixel probabilities) ``(n, H, W)`` of the given latents;
        ``precision="bf16"`` (or ``"auto"`` on a CPU with bf16 arithmetic): bf16
        convolutions in channels-last layout (there about three times faster, pixel
        values within about 0.01)."""
        model, fast = _inference_model(params, precision)
        parts = [np.empty((0, model.height, model.width), np.float32)]
        with torch.no_grad(), (autocast(torch.device("cpu")) if fast else nullcontext()):
            for start in range(0, len(latents), batch):
                z = torch.as_tensor(np.asarray(latents[start : start + batch], np.float32))
                images = torch.sigmoid(decoder_logits(model, z)) if fast else model.decode(z)
                parts.append(images[:, 0].numpy())
        return np.concatenate(parts)

    @staticmethod
    def encode(params: VAEParams, images: np.ndarray, batch: int = 4096,
               precision: str = "fp32") -> np.ndarray:
        """Latent means ``(n, latent_dim)`` of images ``(n, H, W)`` under this encoder
        (the paper's Fig 8 feeds later generations' data to the generation-0 encoder);
        ``precision`` as for :meth:`decode`."""
        model, fast = _inference_model(params, precision)
        images = np.asarray(images, dtype=np.float32)
        parts = [np.empty((0, model.latent_dim), np.float32)]
        with torch.no_grad(), (autocast(torch.device("cpu")) if fast else nullcontext()):
            for start in range(0, len(images), batch):
                x = torch.as_tensor(images[start : start + batch]).unsqueeze(1)
                if fast:
                    x = x.contiguous(memory_format=torch.channels_last)
                parts.append(model.encode(x)[0].float().numpy())
        return np.concatenate(parts)

    def describe(self, params: VAEParams) -> dict[str, np.ndarray]:
        """Last-epoch training loss per image: BCE, KL and their sum (in nats)."""
        return {"bce": np.array([params.bce[-1]]), "kl": np.array([params.kl[-1]]),
                "loss": np.array([params.bce[-1] + params.kl[-1]])}


def _inference_model(params: VAEParams, precision: str) -> tuple[ConvVAE, bool]:
    """The network on the CPU in eval mode; for bf16 a channels-last copy."""
    validate.choice("precision", precision, PRECISIONS)
    model = params.model.cpu().eval()
    if vae_train.resolve(precision, torch.device("cpu")) == "fp32":
        return model, False
    return copy.deepcopy(model).to(memory_format=torch.channels_last), True


def _write_fit(path: Path, params: VAEParams) -> None:
    """Store a trained network atomically (see :func:`collapse.files.replacing`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model = params.model
    record = {"state": model.state_dict(), "height": model.height, "width": model.width,
              "latent_dim": model.latent_dim, "bce": params.bce, "kl": params.kl,
              "seconds": params.seconds}
    with files.replacing(path) as partial:
        torch.save(record, partial)


def _read_fit(path: Path) -> VAEParams | None:
    """A stored network, or None (with a warning) if the file cannot be read."""
    try:
        record = torch.load(path, weights_only=True)
        model = ConvVAE(record["height"], record["width"], record["latent_dim"])
        model.load_state_dict(record["state"])
    except Exception as error:  # truncated, foreign or from another architecture
        warnings.warn(f"ignoring unreadable VAE fit cache {path}: {error}", stacklevel=3)
        return None
    return VAEParams(model.eval(), list(record["bce"]), list(record["kl"]),
                     float(record["seconds"]))


class _FixedBatches:
    """Minibatches of a fixed training set: the images in the given slots."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def start_epoch(self) -> None:
        """Nothing to prepare: the images stay the same."""

    def __call__(self, slots: torch.Tensor) -> torch.Tensor:
        return self.images[slots.to(self.images.device)]
