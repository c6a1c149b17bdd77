"""Does longer training close the gap between a VAE's prior samples and real digits
(issue 19)? Trains generation 0 of the VAE chapter at one variant of its ``quick``
profile and measures what the chapter measures of it.

    COLLAPSE_DATA_DIR=../shared/data python benchmarks/vae_training_length.py NAME '{"epochs": 12}'

The JSON overrides any of the chapter's settings (``n_train``, ``epochs``, ``batch_size``,
``learning_rate``, ...). Generation 0 is trained on ``n_train`` real images drawn as the
chapter draws them (same seed), without the fit cache, and the chapter's digit classifier
(trained on ``classifier_train`` real images) reads its outputs. One row is appended to
``lib/collapse/book/chapters/vae_training_length.csv`` (shipped with the library, so the
chapter reads it wherever it runs):

* ``confidence_real``, ``confidence_reconstructed``, ``confidence_prior``: the classifier's
  mean confidence (:func:`collapse.mnist.class_confidence`) on ``n_eval`` real training
  images, on generation 0's reconstructions (encoded, then decoded) of ``n_eval`` real test
  images, and on its decodings of ``n_eval`` latents drawn from N(0, I);
* ``tail``: the share of those prior samples whose generation-0 latent lies in the real
  images' outer 5 % shell (:func:`collapse.book.chapters.vae.latent_spread`; 0.05 for real
  images);
* ``bce``, ``kl``: the last epoch's training loss per image (nats);
* ``image_epochs``: ``n_train × epochs``; ``train_seconds``: wall time of the training, on
  ``threads`` torch threads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from collapse import mnist
from collapse.book import trials
from collapse.book.chapters import vae as vae_chapter
from collapse.vae import VAE

OUT = (Path(__file__).resolve().parents[1] / "lib" / "collapse" / "book" / "chapters"
       / "vae_training_length.csv")


def main() -> None:
    name, overrides, config = trials.variant_from_command_line(
        "vae", __doc__.splitlines()[0])
    import torch

    torch.set_num_threads(1)  # as the book runner gives each chapter
    family, real = vae_chapter.family_and_data(config, np.random.default_rng(config.seed),
                                               fit_cache=None)
    params = family.fit(real)

    rng = np.random.default_rng(config.seed + 1)  # the chapter's classifier and evaluation
    train_images, train_labels = mnist.load(config.dataset, "train")
    classifier = mnist.train_classifier(
        *mnist.subset(train_images, train_labels, config.classifier_train, rng))
    _, summary = vae_chapter.generation_summary({0: (params, None)}, train_images, classifier,
                                                config.n_eval, rng, precision=config.precision)
    summary = summary.set_index("generation")
    test_images, _ = mnist.load(config.dataset, "test")
    arithmetic = dict(precision=config.precision)
    reconstructed = VAE.decode(params, VAE.encode(params, test_images[: config.n_eval],
                                                  **arithmetic), **arithmetic)
    row = {"variant": name, "settings": json.dumps(overrides), "n_train": config.n_train,
           "epochs": config.epochs, "batch_size": config.batch_size,
           "learning_rate": config.learning_rate,
           "image_epochs": config.n_train * config.epochs,
           "confidence_real": round(float(summary.loc["real", "confidence"]), 3),
           "confidence_reconstructed": round(mnist.class_confidence(classifier,
                                                                    reconstructed), 3),
           "confidence_prior": round(float(summary.loc[0, "confidence"]), 3),
           "tail": round(float(summary.loc[0, "tail"]), 4),
           "bce": round(params.bce[-1], 1), "kl": round(params.kl[-1], 1),
           "train_seconds": round(params.seconds), "date": time.strftime("%Y-%m-%d"),
           "settings_digest": vae_chapter.generation0_digest(config)}
    trials.append(OUT, row)
    print(row)


if __name__ == "__main__":
    main()
