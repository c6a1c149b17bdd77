"""How the VAE family trains its network: two loops over the same epochs, minibatches,
seeds and loss (summed BCE + KL, Adam).

* ``precision="fp32"``, :func:`plain_epochs`: the plain PyTorch loop of the authors'
  notebook, in float32, with the network in torch's default (channels-first) layout
  and the stream decoded minibatch by minibatch. It is the reference: the same weights,
  bit for bit, as the book's VAE before the fast loop existed (a test checks it).
* ``precision="bf16"``, :func:`fast_epochs`: the same training, arranged for a CPU
  (measured side by side in ``benchmarks/bench_vae.py``): convolutions and matrix
  products in bfloat16 under autocast (fp32 weights, optimiser state, latents, loss and
  sums), the reconstruction loss from the decoder's logits (one fused, numerically
  stable ``binary_cross_entropy_with_logits`` instead of a sigmoid followed by a
  clamped log), Adam's fused kernel (one pass over each parameter instead of a dozen
  tensor operations), the loss sums kept as tensors (no ``.item()`` per minibatch), and
  a synthetic stream decoded once per epoch in large batches
  (:class:`collapse.vae_stream.EpochBatches`). It trains to the same loss as the fp32
  loop within its run-to-run spread (a statistical test checks it). Measured and left
  out: channels-last memory (no gain in training here; it is used for the large
  inference batches, where it is) and ``torch.compile`` (half a minute or more of
  compilation per process, and a slower step).

Both leave the network in float32, in eval mode. ``precision="auto"`` picks bf16 where
the hardware has bf16 arithmetic and fp32 elsewhere (:func:`resolve`): without it bf16 is
emulated, and the fast loop is the slow one.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F  # noqa: N812 (the usual torch spelling)

PRECISIONS = ("fp32", "bf16", "auto")


def bf16_in_hardware(device: torch.device) -> bool:
    """Whether ``device`` does bfloat16 arithmetic in hardware: a CUDA GPU that supports
    it, or a CPU with AVX-512 BF16 or AMX instructions. Elsewhere oneDNN emulates bf16
    (measured here with oneDNN limited to AVX2: the bf16 loop 14 times slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return device.type == "cpu" and any(getattr(torch.cpu, name, lambda: False)()
                                        for name in checks)


def resolve(precision: str, device: torch.device) -> str:
    """The loop a ``precision`` setting runs on ``device``: ``"auto"`` is ``"bf16"`` where
    :func:`bf16_in_hardware`, else ``"fp32"``; the others are themselves."""
    if precision != "auto":
        return precision
    return "bf16" if bf16_in_hardware(device) else "fp32"


def loss_terms(model, images: torch.Tensor, generator: torch.Generator):
    """Summed BCE reconstruction loss and KL(q(z|x) || N(0, I)) of a batch (Kingma &
    Welling 2014, Eq 10), with one reparameterised latent sample per image."""
    mean, logvar = model.encode(images)
    noise = torch.randn(mean.shape, generator=generator, device=mean.device)
    reconstruction = model.decode(mean + torch.exp(0.5 * logvar) * noise)
    bce = F.binary_cross_entropy(reconstruction, images, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    return bce, kl


def diverged(loss: float, advice: str) -> ValueError:
    """The error of a training whose loss is no longer finite, ending with ``advice`` (what
    to change)."""
    return ValueError(f"VAE training diverged (the loss is {loss}): {advice}")


def checked(terms, model, images: torch.Tensor, generator: torch.Generator, advice: str):
    """``terms(model, images, generator)``, or :func:`diverged` when training diverged:
    the loss is not finite, or the weights overflowed to NaN and torch failed inside the
    loss (the sigmoid's BCE refuses NaN probabilities)."""
    try:
        bce, kl = terms(model, images, generator)
    except RuntimeError:
        if all(torch.isfinite(p).all() for p in model.parameters()):
            raise
        bce = kl = torch.tensor(float("nan"))
    if not torch.isfinite(bce + kl):
        raise diverged(float(bce + kl), advice)
    return bce, kl


def plain_epochs(model, optimiser, batches, n: int, epochs: int, batch_size: int,
                 noise: torch.Generator, shuffle: torch.Generator,
                 advice: str = "lower the learning rate"):
    """Train ``model`` in float32; the per-image BCE and KL of every epoch. A loss that is
    no longer finite stops it at once (:func:`checked`; ``advice`` ends the message)."""
    bce_curve, kl_curve = [], []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        bce_total = kl_total = 0.0
        for slots in order.split(batch_size):
            bce, kl = checked(loss_terms, model, batches(slots), noise, advice)
            optimiser.zero_grad(set_to_none=True)
            (bce + kl).backward()
            optimiser.step()
            bce_total, kl_total = bce_total + bce.item(), kl_total + kl.item()
        bce_curve.append(bce_total / n)
        kl_curve.append(kl_total / n)
    model.eval()
    return bce_curve, kl_curve


def autocast(device: torch.device):
    """bfloat16 autocast on the device (matrix products and convolutions in bf16)."""
    return torch.autocast(device.type, dtype=torch.bfloat16)


def decoder_logits(model, latents: torch.Tensor) -> torch.Tensor:
    """The decoder's output before its final sigmoid, in float32."""
    hidden = model.from_latent(latents).view(-1, *model.grid)
    return model.decoder[:-1](hidden).float()


def fast_loss_terms(model, images: torch.Tensor, generator: torch.Generator):
    """:func:`loss_terms` with bf16 convolutions: the same summed BCE (from logits) and KL,
    computed in float32 from the network's bf16 outputs."""
    with autocast(images.device):
        mean, logvar = (t.float() for t in model.encode(images))
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        logits = decoder_logits(model, mean + torch.exp(0.5 * logvar) * noise)
    bce = F.binary_cross_entropy_with_logits(logits, images, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    return bce, kl


def fast_optimiser(model, learning_rate: float, weight_decay: float):
    """Adam with its fused kernel (one pass over each parameter for the whole update)."""
    return torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay,
                            fused=True)


def fast_epochs(model, optimiser, batches, n: int, epochs: int, batch_size: int,
                noise: torch.Generator, shuffle: torch.Generator,
                advice: str = "lower the learning rate"):
    """Train ``model`` with bf16 convolutions; the per-image BCE and KL of every epoch. A
    loss that is no longer finite stops it at the end of the epoch (checked once per
    epoch, not per minibatch, which would wait for the device; ``advice`` ends the
    message)."""
    bce_curve, kl_curve = [], []
    device = next(model.parameters()).device
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        batches.start_epoch()
        totals = torch.zeros(2, dtype=torch.float64, device=device)
        for slots in order.split(batch_size):
            bce, kl = fast_loss_terms(model, batches(slots), noise)
            optimiser.zero_grad(set_to_none=True)
            (bce + kl).backward()
            optimiser.step()
            totals += torch.stack((bce.detach(), kl.detach()))
        bce_total, kl_total = totals.tolist()
        if not math.isfinite(bce_total + kl_total):
            raise diverged(bce_total + kl_total, advice)
        bce_curve.append(bce_total / n)
        kl_curve.append(kl_total / n)
    model.eval()
    return bce_curve, kl_curve
