"""Speed of the VAE chain (paper §5.1) on this machine, and an estimate for the paper profile.

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/bench_vae.py [--profile quick]
        [--batches 40] [--skip-chain]

1. Training throughput (images per second, forward + backward + Adam step) of the
   28×28 ConvVAE at batch 256, on CPU and, if present, on the GPU, measured over
   ``--batches`` batches after a warm-up; sampling (decoding) throughput.
2. The estimated time of one generation of the ``paper`` profile (60,000 images ×
   30 epochs) from that throughput: an *estimate*, not a measurement.
3. The whole chain of the chosen profile (default ``quick``) through
   ``vae.recursive_training`` without the cache, timed per generation.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from collapse import mnist, profiles, vae


def training_throughput(images: np.ndarray, batches: int, device: str, batch_size: int = 256,
                        warmup: int = 3) -> float:
    """Images per second of ``loss_terms`` + backward + Adam on ``device``."""
    model = vae.ConvVAE(images.shape[1], images.shape[2]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator(device=device).manual_seed(0)
    data = torch.as_tensor(images[: batch_size * batches], device=device).unsqueeze(1)

    def step(batch):
        bce, kl = vae.loss_terms(model, batch, generator)
        optimiser.zero_grad(set_to_none=True)
        (bce + kl).backward()
        optimiser.step()

    for batch in data[: warmup * batch_size].split(batch_size):
        step(batch)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in data.split(batch_size):
        step(batch)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=profiles.PROFILE_NAMES)
    parser.add_argument("--batches", type=int, default=40, help="batches timed per device")
    parser.add_argument("--skip-chain", action="store_true", help="throughput only")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    images, _ = mnist.load("mnist", "train")
    paper = profiles.resolve("vae", "paper")
    work = paper["n_train"] * paper["epochs"]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        rate = training_throughput(images, args.batches, device)
        print(f"{device}: training {rate:,.0f} images/s at batch 256 "
              f"-> paper profile estimate {work / rate / 60:.1f} min per generation, "
              f"{paper['generations'] * work / rate / 3600:.1f} h for "
              f"{paper['generations']} generations (estimate from throughput)")
    params = vae.VAEParams(vae.ConvVAE(28, 28))
    start = time.perf_counter()
    vae.VAE().sample(params, 10000, np.random.default_rng(0))
    print(f"cpu: sampling {10000 / (time.perf_counter() - start):,.0f} images/s")

    if args.skip_chain:
        return
    config = profiles.resolve("vae", args.profile)
    start = time.perf_counter()
    history = vae.recursive_training(
        config["dataset"], config["n_train"], config["generations"], seed=config["seed"],
        epochs=config["epochs"], batch_size=config["batch_size"],
        latent_dim=config["latent_dim"], device=config["device"], cache_dir=None,
        progress=False)
    total = time.perf_counter() - start
    print(f"{args.profile} chain: {config['generations']} generations of "
          f"{config['n_train']} {config['dataset']} images × {config['epochs']} epochs "
          f"in {total:.1f} s (training per generation: "
          f"{', '.join(f'{s:.1f}' for s in history.table['train_seconds'])} s)")


if __name__ == "__main__":
    main()
