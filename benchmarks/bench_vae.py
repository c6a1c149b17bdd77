"""Speed of the VAE chain (paper §5.1) on this machine, and an estimate for the paper profile.

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/bench_vae.py [--profile quick]
        [--batches 40] [--skip-chain]

1. Throughput of ``VAE.fit`` on the 28×28 network at the paper profile's batch size,
   on CPU and, if present, on the GPU, over ``--batches`` batches per epoch: training
   on fixed images, and training on the synthetic stream (every minibatch decoded
   from fresh latents by a previous decoder, as the paper profile does for
   generations ≥ 1); decoding throughput of ``VAE.decode``.
2. The estimated time of one generation of the ``paper`` profile (``n_train`` images ×
   ``epochs``, stream mode) and of the whole profile: an *estimate* from that
   throughput, not a measurement.
3. The whole chain of the chosen profile (default ``quick``) through ``loop.simulate``
   without a checkpoint, timed per generation.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from timing import timed

from collapse import loop, mnist, vae
from collapse.book import settings
from collapse.book.chapters import vae as vae_chapter


def fit_throughput(family: vae.VAE, data) -> float:
    """Images per second of ``family.fit`` (all of its epochs) on ``data``."""
    _, params = timed(family.fit, data)
    return family.epochs * data.shape[1] / params.seconds if params.seconds else np.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=settings.PROFILE_NAMES)
    parser.add_argument("--batches", type=int, default=40, help="batches timed per device")
    parser.add_argument("--skip-chain", action="store_true", help="throughput only")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    paper = settings.resolve("vae", "paper")
    images, _ = mnist.load(paper["dataset"], "train")
    n = paper["batch_size"] * args.batches
    fixed = images[None, :n]
    previous = vae.VAEParams(vae.ConvVAE(28, 28, paper["latent_dim"]).eval())
    work = paper["n_train"] * paper["epochs"]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        family = vae.VAE(latent_dim=paper["latent_dim"], epochs=1,
                         batch_size=paper["batch_size"], device=device)
        family.fit(images[None, : 3 * paper["batch_size"]])  # warm-up
        fixed_rate = fit_throughput(family, fixed)
        stream = family.sample(previous, n, np.random.default_rng(0))
        stream_rate = fit_throughput(family, stream)
        print(f"{device}: training {fixed_rate:,.0f} images/s on fixed images, "
              f"{stream_rate:,.0f} images/s on the stream (batch {paper['batch_size']})")
        print(f"{device}: paper profile estimate {work / stream_rate / 60:.1f} min per "
              f"generation, {paper['generations'] * work / stream_rate / 3600:.2f} h for "
              f"{paper['generations']} generations, plus "
              f"{paper['compare_generations']} of the fixed-set comparison "
              f"(estimate from throughput)")
    latents = np.random.default_rng(0).standard_normal((10000, paper["latent_dim"]))
    seconds, _ = timed(vae.VAE.decode, previous, latents.astype(np.float32))
    print(f"cpu: decoding {10000 / seconds:,.0f} images/s")

    if args.skip_chain:
        return
    config = settings.resolve("vae", args.profile)
    rng = np.random.default_rng(config["seed"])
    family, real = vae_chapter.family_and_data(config, rng)
    start = time.perf_counter()
    history = loop.simulate(family, real, config["generations"], config["n_train"], rng,
                            loop.Replace(), keep=range(config["generations"]))
    total = time.perf_counter() - start
    fits = ", ".join(f"{history.kept[g][0].seconds:.1f}" for g in sorted(history.kept))
    print(f"{args.profile} chain ({config['synthetic']}): {config['generations']} generations "
          f"of {config['n_train']} {config['dataset']} images × {config['epochs']} epochs in "
          f"{total:.1f} s (training per generation: {fits} s)")


if __name__ == "__main__":
    main()
