"""Fine-tuning and scoring of a causal language model (§5.2).

``train`` is the authors' PyTorch-Lightning setup written out: AdamW (weight decay 0.01),
a cosine learning rate stepped once per epoch from ``lr`` to ``eta_min`` over the epochs,
fp32, and the weights of the epoch with the lowest validation loss kept. Validation,
perplexity and generation always run in eval mode (dropout off).
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from .. import validate

SCHEDULES = ("cosine-epoch", "linear")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Training:
    """How a model is fine-tuned. Defaults: the authors' ``plt_model.py``/``main.py``.

    ``schedule="cosine-epoch"`` is ``CosineAnnealingLR(T_max=epochs, eta_min)`` stepped per
    epoch; ``"linear"`` decays per step to 0 (the Hugging Face Trainer's default). ``steps``
    stops after that many optimiser steps (pre-training); ``precision="bf16"`` autocasts on
    CUDA only.
    """

    epochs: int = 5
    lr: float = 2e-5
    batch_size: int = 128
    weight_decay: float = 0.01
    schedule: str = "cosine-epoch"
    eta_min: float = 1e-6
    steps: int | None = None
    precision: str = "fp32"

    def __post_init__(self):
        validate.integer("epochs", self.epochs, minimum=1)
        validate.real("lr", self.lr, 1e-7, 1.0)
        validate.integer("batch_size", self.batch_size, minimum=1)
        validate.real("weight_decay", self.weight_decay, 0.0, 1.0)
        validate.choice("schedule", self.schedule, SCHEDULES)
        validate.real("eta_min", self.eta_min, 0.0, 1.0)
        if self.steps is not None:
            validate.integer("steps", self.steps, minimum=0)
        validate.choice("precision", self.precision, PRECISIONS)


@contextmanager
def threads_for(model):
    """One CPU thread for small models, restored afterwards: their matrices are too small
    to gain from a second thread, and on a busy machine OpenMP's spinning threads make a
    training step 30 times slower (measured: 22 ms vs 700 ms for the quick model)."""
    import torch

    small = sum(p.numel() for p in model.parameters()) < 5_000_000
    on_cpu = next(model.parameters()).device.type == "cpu"
    before = torch.get_num_threads()
    if small and on_cpu:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def autocast(device, precision: str):
    import torch

    if precision == "bf16" and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def evaluating(model):
    """Eval mode (dropout off) for the block, the model's former mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def train(model, blocks: np.ndarray, training: Training, seed: int,
          valid: np.ndarray | None = None, progress: bool = True,
          desc: str = "fine-tuning") -> dict:
    """Fine-tune ``model`` in place on token ``blocks`` (n, L). With ``valid``, each epoch
    ends with the validation loss in eval mode and the best epoch's weights are kept
    (§5.2: "the best performing model … evaluated using the original wikitext2 validation
    set"). Dropout draws from torch's global generator: seed it before calling."""
    import torch
    from tqdm import tqdm

    from .model import device_name

    device = device_name()
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.as_tensor(np.ascontiguousarray(blocks), dtype=torch.long)
    per_epoch = math.ceil(len(tokens) / training.batch_size)
    total = training.steps if training.steps is not None else training.epochs * per_epoch
    epochs = math.ceil(total / per_epoch) if per_epoch else 0
    # fused: one kernel for all parameters, the same update (a step of the small models
    # otherwise spends a tenth of its time in the optimiser's Python loop)
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.lr,
                                  weight_decay=training.weight_decay,
                                  fused=torch.device(device).type in ("cpu", "cuda"))
    if training.schedule == "cosine-epoch":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=training.epochs,
                                                              eta_min=training.eta_min)
    else:
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                     lambda s: 1.0 - s / max(total, 1))
    best = (math.inf, None, -1)
    history, step, seen, start = [], 0, 0, time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    with threads_for(model):
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(tokens), generator=generator)
            for i in range(0, len(tokens), training.batch_size):
                if step >= total:
                    break
                batch = tokens[order[i:i + training.batch_size]].to(device)
                with autocast(device, training.precision):
                    loss = model(input_ids=batch, labels=batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if training.schedule == "linear":
                    schedule.step()
                step += 1
                seen += batch.numel()
                bar.update(1)
            if training.schedule == "cosine-epoch":
                schedule.step()
            if valid is not None:
                loss = float(np.log(perplexity(model, valid, precision=training.precision)))
                history.append(loss)
                if loss < best[0]:
                    best = (loss, copy.deepcopy(model.state_dict()), len(history) - 1)
    bar.close()
    seconds = time.perf_counter() - start
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    return {"valid_loss": history, "best_epoch": best[2], "seconds": seconds,
            "tokens_per_second": seen / max(seconds, 1e-9)}


def token_nll(model_or_path, blocks: np.ndarray, batch_size: int = 64,
              precision: str = "fp32") -> np.ndarray:
    """Negative log-likelihood (nats) of tokens 2 … L of every block given the tokens
    before it, in eval mode, shape ``(n, L - 1)``."""
    import torch

    from .model import load_model

    model = load_model(model_or_path)
    device = next(model.parameters()).device
    blocks = np.asarray(blocks)
    if blocks.ndim != 2 or blocks.shape[1] < 2:
        raise ValueError(f"blocks must be (n, L) with L >= 2, got shape {blocks.shape}")
    out = []
    with (torch.inference_mode(), evaluating(model), autocast(device, precision),
          threads_for(model)):
        for i in range(0, len(blocks), batch_size):
            batch = torch.as_tensor(blocks[i:i + batch_size], dtype=torch.long, device=device)
            logits = model(input_ids=batch).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(  # (tokens, V): the fast layout
                logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                reduction="none")
            out.append(nll.view(len(batch), -1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, blocks.shape[1] - 1))


AVERAGES = ("tokens", "batches")


def perplexity(model_or_path, blocks: np.ndarray, batch_size: int = 64,
               precision: str = "fp32", average: str = "tokens") -> float:
    """Perplexity of a data set (Fig 10): exp of the mean token NLL over all its blocks
    (``average="tokens"``), or exp of the mean of the per-batch mean losses of batches of
    ``batch_size`` blocks, the last one possibly partial (``"batches"``: what the authors'
    Lightning code averages, with batches of 128; the two agree when every batch is full)."""
    validate.choice("average", average, AVERAGES)
    nll = token_nll(model_or_path, blocks, batch_size, precision)
    if average == "tokens":
        return float(np.exp(nll.mean()))
    means = [nll[i:i + batch_size].mean() for i in range(0, len(nll), batch_size)]
    return float(np.exp(np.mean(means)))


def perplexities(model_or_path, blocks: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Per-sequence perplexity: exp of each block's mean token NLL (Figs 11, 14, 15)."""
    return np.exp(token_nll(model_or_path, blocks, batch_size).mean(axis=1))
