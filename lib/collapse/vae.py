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
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the usual torch spelling)

from . import files, hashing, notebook, validate

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


# ------------------------------------------------------------------ the synthetic stream


@dataclass(frozen=True, eq=False)
class DecoderStream:
    """A lazy training set of ``n`` images per epoch: ``counts[i]`` fresh decodings of
    ``N(0, I)`` latents by ``decoders[i]`` in every epoch, plus the ``fixed`` images
    ``(1, k, H, W)`` (e.g. real images kept by a mixing rule), which stay the same.

    It behaves like loop data of shape ``(1, n, H, W)`` for the mixing rules:
    ``np.concatenate`` along axis 1 joins streams and arrays (Accumulate, KeepOriginal)
    and ``np.take_along_axis`` keeps a subset of its slots (Mixture's β part). It
    cannot be materialised into an array (the Pool rule needs ``synthetic="fixed"``).
    """

    decoders: tuple = ()
    counts: tuple = ()
    fixed: np.ndarray = field(default_factory=lambda: np.zeros((1, 0, 4, 4), np.float32))
    seed: int = 0

    def __post_init__(self):
        if len(self.decoders) != len(self.counts):
            raise ValueError("DecoderStream needs one count per decoder")
        for params in self.decoders:
            size = (params.model.height, params.model.width)
            if size != self.fixed.shape[2:]:
                raise ValueError(f"decoder images {size} and fixed images "
                                 f"{self.fixed.shape[2:]} differ in size")

    @property
    def runs(self) -> int:
        return 1

    @property
    def n(self) -> int:
        return int(sum(self.counts)) + self.fixed.shape[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.n, *self.fixed.shape[2:])

    @property
    def ndim(self) -> int:
        return 4

    def key(self) -> tuple:
        """What determines the stream's images (for seeds): its seed, counts and fixed
        images; the decoders are determined by the run that drew the seed."""
        return ("DecoderStream", self.seed, tuple(self.counts), self.fixed)

    def __getitem__(self, index):
        if isinstance(index, tuple) and index == (slice(None), slice(None, 0)):  # empty subset
            return DecoderStream(fixed=self.fixed[:, :0], seed=self.seed)
        raise TypeError("a DecoderStream cannot be indexed; fit() reads it batch by batch")

    def __array__(self, *args, **kwargs):
        raise TypeError("a DecoderStream (synthetic='stream') cannot be turned into an "
                        "array; use synthetic='fixed' for mixing rules that need one (Pool)")

    def __array_function__(self, func, types, args, kwargs):
        if func is np.concatenate:
            return _concatenate(*args, **kwargs)
        if func is np.take_along_axis:
            return _take(*args, **kwargs)
        return NotImplemented


def _as_stream(part) -> DecoderStream:
    if isinstance(part, DecoderStream):
        return part
    return DecoderStream(fixed=np.asarray(part, np.float32), seed=0)


def _concatenate(parts, axis=0, **kwargs):
    if axis != 1 or kwargs:
        raise TypeError("DecoderStreams concatenate along axis 1 only")
    streams = [_as_stream(p) for p in parts]
    return DecoderStream(
        decoders=sum((s.decoders for s in streams), ()),
        counts=sum((tuple(s.counts) for s in streams), ()),
        fixed=np.concatenate([s.fixed for s in streams], axis=1),
        seed=hashing.derive_seed(*(s.key() for s in streams)))


def _take(stream: DecoderStream, index: np.ndarray, axis: int):
    """Keep the slots ``index[0]`` of the stream (slots ``0 … Σcounts-1`` belong to the
    decoders in order, the rest are the fixed images)."""
    if axis != 1:
        raise TypeError("DecoderStreams are subset along axis 1 only")
    slots = np.asarray(index).reshape(index.shape[:2])[0]
    edges = np.cumsum((0, *stream.counts))
    counts = tuple(int(np.sum((slots >= a) & (slots < b))) for a, b in pairwise(edges))
    fixed = stream.fixed[:, np.sort(slots[slots >= edges[-1]] - edges[-1])]
    return DecoderStream(stream.decoders, counts, fixed,
                         hashing.derive_seed(stream.key(), np.sort(slots)))


# ------------------------------------------------------------------ the family


@dataclass
class VAE:
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
    # A directory: every trained network is stored there under a content hash of its
    # training data, its settings, the library code and torch's version, and a fit with
    # the same hash is read back instead of trained (e.g. the generation 0 that two
    # chains with the same real data share). None: no cache.
    fit_cache: str | os.PathLike | None = None

    def __post_init__(self):
        validate.integer("latent_dim", self.latent_dim, minimum=1)
        validate.integer("epochs", self.epochs, minimum=1)
        validate.integer("batch_size", self.batch_size, minimum=1)
        validate.real("learning_rate", self.learning_rate, low=0.0)
        validate.real("weight_decay", self.weight_decay, low=0.0)
        validate.choice("synthetic", self.synthetic, SYNTHETIC)
        validate.choice("device", self.device, DEVICES)
        if self.fit_cache is not None and not isinstance(self.fit_cache, (str, os.PathLike)):
            raise ValueError(f"fit_cache must be a directory path or None, got "
                             f"{self.fit_cache!r}")

    def check_mixing(self, mixing) -> None:
        """Called by ``loop.simulate`` before any compute: a stream cannot be pooled."""
        if self.synthetic == "stream" and getattr(mixing, "needs_pool", False):
            raise ValueError(f"mixing rule {type(mixing).__name__} keeps every sample in a "
                             f"pool, which a synthetic stream cannot be; use "
                             f"synthetic='fixed' (or another mixing rule)")

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
        if stream is None:
            fixed = torch.as_tensor(np.ascontiguousarray(data[0]), dtype=torch.float32,
                                    device=device).unsqueeze(1)
            batches = _FixedBatches(fixed)
        else:
            batches = _StreamBatches(stream, device, seed ^ 2)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.learning_rate,
                                     weight_decay=self.weight_decay)
        params = VAEParams(model)
        n = data.shape[1]
        start = time.perf_counter()
        model.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=shuffle)
            bce_total = kl_total = 0.0
            for slots in order.split(self.batch_size):
                bce, kl = loss_terms(model, batches(slots), noise)
                optimiser.zero_grad(set_to_none=True)
                (bce + kl).backward()
                optimiser.step()
                bce_total, kl_total = bce_total + bce.item(), kl_total + kl.item()
            params.bce.append(bce_total / n)
            params.kl.append(kl_total / n)
        params.seconds = time.perf_counter() - start
        model.eval()
        params.model = model.cpu()
        if cache_file is not None:
            _write_fit(cache_file, params)
        return params

    def _cache_file(self, data, device: torch.device) -> Path | None:
        """Where the fit of ``data`` with these settings is stored (None: no cache)."""
        if self.fit_cache is None:
            return None
        settings = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.name not in ("fit_cache", "device", "synthetic")}
        if isinstance(data, DecoderStream):  # the images are a function of these
            content = ("stream", data.seed, tuple(data.counts), data.fixed,
                       [p.model.state_dict() for p in data.decoders])
        else:
            content = ("images", data)
        key = hashing.digest("vae.fit", settings, device.type, content, torch.__version__,
                             hashing.source_digest("vae"))
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
        return self.decode(params, latents)[None]

    @staticmethod
    def decode(params: VAEParams, latents: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Decoder outputs (pixel probabilities) ``(n, H, W)`` of the given latents."""
        model = params.model.cpu().eval()
        parts = [np.empty((0, model.height, model.width), np.float32)]
        with torch.no_grad():
            for start in range(0, len(latents), batch):
                z = torch.as_tensor(np.asarray(latents[start : start + batch], np.float32))
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
        """Last-epoch training loss per image: BCE, KL and their sum (in nats)."""
        return {"bce": np.array([params.bce[-1]]), "kl": np.array([params.kl[-1]]),
                "loss": np.array([params.bce[-1] + params.kl[-1]])}


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

    def __call__(self, slots: torch.Tensor) -> torch.Tensor:
        return self.images[slots.to(self.images.device)]


class _StreamBatches:
    """Minibatches of a :class:`DecoderStream`: for every slot of a decoder, a fresh
    latent decoded by that decoder (as the authors' code does for every minibatch);
    for every fixed slot, that fixed image."""

    def __init__(self, stream: DecoderStream, device: torch.device, seed: int):
        self.decoders = [copy.deepcopy(p.model).to(device).eval() for p in stream.decoders]
        self.edges = np.cumsum((0, *stream.counts))
        self.fixed = torch.as_tensor(stream.fixed[0], dtype=torch.float32,
                                     device=device).unsqueeze(1)
        self.latents = torch.Generator(device=device).manual_seed(seed)
        self.device = device

    def __call__(self, slots: torch.Tensor) -> torch.Tensor:
        slots = slots.numpy()
        parts = []
        with torch.no_grad():
            for decoder, (a, b) in zip(self.decoders, pairwise(self.edges), strict=True):
                count = int(np.sum((slots >= a) & (slots < b)))
                if count:
                    z = torch.randn((count, decoder.latent_dim), generator=self.latents,
                                    device=self.device)
                    parts.append(decoder.decode(z))
        own = slots[slots >= self.edges[-1]] - self.edges[-1]
        if len(own):
            parts.append(self.fixed[torch.as_tensor(own, device=self.device)])
        return torch.cat(parts)


# ------------------------------------------------------------------ the experiment


def setup(config: dict, rng: np.random.Generator, synthetic: str | None = None,
          fit_cache: str | None = ".cache/vae/fits"):
    """The chapter's family and ``D_0`` from a resolved profile ``config``: the VAE family
    with the profile's training settings (``synthetic`` overrides the profile's; fits
    stored in ``fit_cache``, see :class:`VAE`), and ``n_train`` real images
    ``(1, n_train, H, W)`` drawn with ``rng``."""
    from . import mnist

    family = VAE(latent_dim=config["latent_dim"], epochs=config["epochs"],
                 batch_size=config["batch_size"], learning_rate=config["learning_rate"],
                 weight_decay=config["weight_decay"],
                 synthetic=synthetic or config["synthetic"], device=config["device"],
                 fit_cache=fit_cache)
    images, labels = mnist.load(config["dataset"], "train")
    real, _ = mnist.subset(images, labels, config["n_train"], rng)
    return family, real[None]


def checkpoint_path(family, initial_data, generations: int, sample_size,
                    rng: np.random.Generator, mixing, keep=(), cache_dir=".cache/vae"):
    """A checkpoint file for ``loop.simulate`` with these arguments, named by their
    content hash (and the library code's): a changed setting gets a new file, and the
    same call finds its finished or interrupted run again."""
    stem = notebook.checkpoint_path(cache_dir, family, initial_data, generations, sample_size,
                                    rng.bit_generator.state, mixing, sorted(keep),
                                    modules=("loop", "vae"))
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
                       rng: np.random.Generator):
    """What each kept generation's VAE produces, seen through the generation-0 encoder.

    ``kept`` is ``History.kept`` of a VAE run: ``{g: (params, training data)}`` with
    generation 0 among them. For every ``g``: ``n_eval`` images decoded from
    ``N(0, I)`` latents by VAE ``g``, their latent means under the *generation-0*
    encoder (paper Fig 8), the spread of those latents (:func:`latent_spread`, relative
    to the encoder's latents of ``n_eval`` real images) and the fraction of the images a
    classifier trained on real digits assigns to each digit. Returns
    ``(latents, table)``: ``latents`` maps ``"real"`` and every ``g`` to an
    ``(n_eval, latent_dim)`` array; ``table`` has one row per generation.
    """
    import pandas as pd

    from . import mnist

    if 0 not in kept:
        raise ValueError("generation_summary needs the generation-0 model (the reference)")
    n_eval = validate.integer("n_eval", n_eval, minimum=2, maximum=len(real))
    models = {g: params for g, (params, _) in kept.items()}
    reference_images = real[rng.choice(len(real), n_eval, replace=False)]
    latents = {"real": VAE.encode(models[0], reference_images)}
    rows = [dict(generation="real", **latent_spread(latents["real"], latents["real"]),
                 **_class_columns(mnist.class_fractions(classifier, reference_images)))]
    for g in sorted(models):
        z = rng.standard_normal((n_eval, models[g].model.latent_dim)).astype(np.float32)
        images = VAE.decode(models[g], z)
        latents[g] = VAE.encode(models[0], images)
        rows.append(dict(generation=g, **latent_spread(latents[g], latents["real"]),
                         **_class_columns(mnist.class_fractions(classifier, images))))
    return latents, pd.DataFrame(rows)


def _class_columns(fractions: np.ndarray) -> dict[str, float]:
    positive = fractions[fractions > 0]
    return {"class_entropy_bits": float(-(positive * np.log2(positive)).sum()) + 0.0,
            **{f"digit {k}": float(f) for k, f in enumerate(fractions)}}


def cli_setup(runs: int, M: int, rng: np.random.Generator, dataset: str = "digits",
              **options):
    """``python -m collapse simulate vae --M 1000 --option dataset=mnist --option epochs=5``:
    ``D_0`` = M real images drawn with ``rng`` (one run)."""
    from . import mnist

    validate.integer("runs", runs, minimum=1, maximum=1)
    family = VAE(**options)
    images, labels = mnist.load(dataset, "train")
    real, _ = mnist.subset(images, labels, M, rng)
    return family, real[None], False
