"""Speed of the VAE family (paper §5.1) against a plain PyTorch loop of the same network,
side by side in one run, and an estimate for the paper profile.

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/bench_vae.py [--batch 64 256]
        [--batches 12] [--repeats 5] [--threads 1] [--compile] [--skip-chain]
        [--profile quick]

1. Side by side: every variant trains a fresh copy of the authors' 28×28 network (the
   same initial weights) for one epoch of the same ``--batches`` minibatches of MNIST,
   on fixed images and on a synthetic stream (every slot a fresh decoding of an
   ``N(0, I)`` latent by a previous decoder, as generations ≥ 1 train). The variants run
   one after the other in every round, ``--repeats`` rounds; each round gives each
   variant's speed-up over the plain loop *of that round*, in wall-clock time and in
   this process's CPU time (less sensitive to other processes on a shared machine).
   Printed: the median speed-up and its range over the rounds, the images per second
   (median, wall clock), and the load average before each round.
   The variants: ``plain``: the authors' loop written out in plain PyTorch (float32,
   default layout, ``.item()`` every minibatch, the stream decoded minibatch by
   minibatch); ``VAE.fit fp32`` / ``VAE.fit bf16``: the library, both precisions; the
   kept design's loop in channels-last memory, in float32 and in bf16; with
   ``--compile``, ``torch.compile`` of the kept training step, its compile time printed
   apart (the step is compiled once and reused, as a chapter would have to).
2. The estimated time of one generation of the ``paper`` profile and of the whole
   profile from the library's throughput at the paper's batch size: an *estimate*.
3. The whole chain of the chosen profile through ``loop.simulate`` without a
   checkpoint, timed per generation.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from timing import timed
from torch.nn import functional as F  # noqa: N812

from collapse import loop, mnist, vae, vae_train
from collapse.book import settings
from collapse.book.chapters import vae as vae_chapter


def fresh_model(layout=torch.contiguous_format) -> vae.ConvVAE:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return vae.ConvVAE(28, 28, 20).to(memory_format=layout)


def plain_loop(images: torch.Tensor, batch: int, previous: vae.ConvVAE | None) -> float:
    """The authors' loop in plain PyTorch, one epoch; ``previous``: train on its stream."""
    model = fresh_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(0)
    total = 0.0
    for x in images.split(batch):
        if previous is not None:
            with torch.no_grad():
                x = previous.decode(torch.randn(len(x), 20, generator=generator))
        mean, logvar = model.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
        bce = F.binary_cross_entropy(model.decode(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
        optimiser.zero_grad()
        (bce + kl).backward()
        optimiser.step()
        total += bce.item() + kl.item()
    return total


def partial_design(images, batch, previous, layout, bf16: bool, step=None) -> float:
    """The kept design's loop (logit BCE, fused Adam, sums kept as tensors, the stream
    decoded per epoch in the variant's own arithmetic) with another memory ``layout``
    and arithmetic; ``step``: a compiled training step instead of the eager one."""
    model = fresh_model(layout)
    optimiser = vae_train.fast_optimiser(model, 1e-3, 1e-5)
    generator = torch.Generator().manual_seed(0)
    if previous is not None:
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            z = torch.randn(len(images), 20, generator=generator)
            images = torch.sigmoid(vae_train.decoder_logits(previous, z))
    step = step or train_step
    total = torch.zeros(())
    for x in images.split(batch):
        total += step(model, optimiser, x.contiguous(memory_format=layout), generator, bf16)
    return float(total)


def train_step(model, optimiser, x, generator, bf16: bool):
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        mean, logvar = (t.float() for t in model.encode(x))
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
        logits = vae_train.decoder_logits(model, z)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    optimiser.zero_grad()
    (bce + kl).backward()
    optimiser.step()
    return (bce + kl).detach()


def library(images, batch, previous, precision: str) -> float:
    family = vae.VAE(epochs=1, batch_size=batch, precision=precision)
    if previous is None:
        params = family.fit(images.numpy()[None, :, 0])
    else:
        stream = family.sample(vae.VAEParams(previous), len(images), np.random.default_rng(0))
        params = family.fit(stream)
    return params.bce[0]


def variants(compiled) -> dict:
    cl, cf = torch.channels_last, torch.contiguous_format
    found = {
        "plain loop (fp32)": plain_loop,
        "VAE.fit fp32": lambda x, b, p: library(x, b, p, "fp32"),
        "channels-last fp32": lambda x, b, p: partial_design(x, b, p, cl, False),
        "channels-last bf16": lambda x, b, p: partial_design(x, b, p, cl, True),
        "VAE.fit bf16 (kept)": lambda x, b, p: library(x, b, p, "bf16"),
    }
    if compiled is not None:
        found["torch.compile bf16"] = lambda x, b, p: partial_design(x, b, p, cf, True,
                                                                     compiled)
    return found


def side_by_side(images: torch.Tensor, batch: int, repeats: int, compiled) -> None:
    previous = vae.ConvVAE(28, 28, 20).eval()
    for data, prev in (("fixed images", None), ("stream", previous)):
        wall = {name: [] for name in variants(compiled)}
        cpu = {name: [] for name in variants(compiled)}
        loads = []
        for _ in range(repeats):
            loads.append(os.getloadavg()[0])
            for name, run in variants(compiled).items():
                start = time.process_time()
                seconds, _ = timed(run, images, batch, prev)
                cpu[name].append(time.process_time() - start)
                wall[name].append(seconds)
        print(f"\nbatch {batch}, {data}, {len(images)} images, {repeats} rounds, "
              f"load average {min(loads):.1f}–{max(loads):.1f} "
              f"({os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads)")
        print(f"{'variant':>22} {'images/s':>9} {'speed-up: wall clock':>24} "
              f"{'CPU time':>22}   (median [range] over rounds)")
        for name in wall:
            ratios = [np.array(t["plain loop (fp32)"]) / np.array(t[name]) for t in (wall, cpu)]
            print(f"{name:>22} {len(images) / np.median(wall[name]):9,.0f} " + " ".join(
                f"{np.median(r):11.2f}× [{r.min():.2f}–{r.max():.2f}]" for r in ratios))


def compile_step(images: torch.Tensor, batch: int):
    """``torch.compile`` of the fast training step, warmed up; prints its compile time."""
    compiled = torch.compile(train_step)
    seconds, _ = timed(partial_design, images[: 2 * batch], batch, None,
                       torch.contiguous_format, True, compiled)
    print(f"torch.compile: first two steps (compilation) {seconds:.1f} s")
    return compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=settings.PROFILE_NAMES)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batches", type=int, default=12, help="minibatches per variant")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of all variants")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the book "
                        "runner gives each of its two chapters one)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile")
    parser.add_argument("--skip-chain", action="store_true", help="throughput only")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    images, _ = mnist.load("mnist", "train")
    for batch in args.batch:
        x = torch.as_tensor(images[: batch * args.batches]).unsqueeze(1)
        library(x[: 2 * batch], batch, None, "bf16")  # warm-up
        compiled = compile_step(x, batch) if args.compile else None
        side_by_side(x, batch, args.repeats, compiled)

    paper = settings.resolve("vae", "paper")
    work = paper["n_train"] * paper["epochs"]
    x = torch.as_tensor(images[: paper["batch_size"] * args.batches]).unsqueeze(1)
    for precision in ("fp32", "bf16"):
        seconds, _ = timed(library, x, paper["batch_size"], vae.ConvVAE(28, 28, 20).eval(),
                           precision)
        rate = len(x) / seconds
        print(f"\ncpu {precision}: paper profile estimate {work / rate / 60:.1f} min per "
              f"generation, {paper['generations'] * work / rate / 3600:.2f} h for "
              f"{paper['generations']} generations (stream, {rate:,.0f} images/s)")

    if args.skip_chain:
        return
    config = settings.resolve("vae", args.profile)
    rng = np.random.default_rng(config["seed"])
    family, real = vae_chapter.family_and_data(config, rng, fit_cache=None)
    start = time.perf_counter()
    history = loop.simulate(family, real, config["generations"], config["n_train"], rng,
                            loop.Replace(), keep=range(config["generations"]))
    total = time.perf_counter() - start
    fits = ", ".join(f"{history.kept[g][0].seconds:.1f}" for g in sorted(history.kept))
    print(f"\n{args.profile} chain ({config['synthetic']}, {family.precision}): "
          f"{config['generations']} generations of {config['n_train']} {config['dataset']} "
          f"images × {config['epochs']} epochs in {total:.1f} s (training per generation: "
          f"{fits} s)")


if __name__ == "__main__":
    main()
