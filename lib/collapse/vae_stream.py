"""The VAE family's synthetic training stream (paper §5.1; the authors' code decodes fresh
latents for every minibatch): :class:`DecoderStream`, a lazy data set of decoded
images, and the two ways training reads it: :class:`StreamBatches` decodes every
minibatch as it comes (the fp32 loop), :class:`EpochBatches` a whole epoch at once in large
batches (the bf16 loop).

A :class:`DecoderStream` behaves like loop data of shape ``(1, n, H, W)`` for the
mixing rules of :mod:`collapse.mixing`: ``np.concatenate`` along axis 1 joins streams
and arrays (Accumulate, KeepOriginal) and ``np.take_along_axis`` keeps a subset of its
slots (the β part of ``Weighted``), through numpy's ``__array_function__`` protocol.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import torch

from . import hashing
from .vae_train import autocast, decoder_logits


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


class StreamBatches:
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

    def start_epoch(self) -> None:
        """Nothing to prepare: every minibatch decodes its own latents."""

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


class EpochBatches:
    """Minibatches of a :class:`DecoderStream` for the fast loop (``precision="bf16"``):
    at the start of every epoch, one fresh latent for every decoder slot, all decoded at
    once in large batches (bf16 convolutions, channels-last); a minibatch then takes
    its slots' images. Every slot still gets a fresh image in every epoch, as in
    :class:`StreamBatches`; only the order of the random draws differs."""

    def __init__(self, stream: DecoderStream, device: torch.device, seed: int,
                 chunk: int = 256):
        self.decoders = [copy.deepcopy(p.model).to(device)
                         .to(memory_format=torch.channels_last).eval()
                         for p in stream.decoders]
        self.counts = tuple(int(c) for c in stream.counts)
        self.fixed = torch.as_tensor(stream.fixed[0], dtype=torch.float32,
                                     device=device).unsqueeze(1)
        self.latents = torch.Generator(device=device).manual_seed(seed)
        self.device, self.chunk = device, chunk
        self.images = self.fixed

    def start_epoch(self) -> None:
        """Decode this epoch's images: slot ``i`` of the stream is ``images[i]``."""
        parts = []
        with torch.no_grad(), autocast(self.device):
            for decoder, count in zip(self.decoders, self.counts, strict=True):
                if not count:
                    continue
                z = torch.randn((count, decoder.latent_dim), generator=self.latents,
                                device=self.device)
                parts += [torch.sigmoid(decoder_logits(decoder, part))
                          for part in z.split(self.chunk)]
        self.images = torch.cat([*parts, self.fixed])

    def __call__(self, slots: torch.Tensor) -> torch.Tensor:
        return self.images[slots.to(self.device)]
