"""Fine-tuning, scoring and beam-search generation of a causal language model (§5.2).

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
from .data import BLOCK

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
        validate.real("lr", self.lr, 0.0, 1.0)
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


def _autocast(device, precision: str):
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
                with _autocast(device, training.precision):
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
    with (torch.inference_mode(), evaluating(model), _autocast(device, precision),
          threads_for(model)):
        for i in range(0, len(blocks), batch_size):
            batch = torch.as_tensor(blocks[i:i + batch_size], dtype=torch.long, device=device)
            logits = model(input_ids=batch).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(  # (tokens, V): the fast layout
                logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                reduction="none")
            out.append(nll.view(len(batch), -1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, blocks.shape[1] - 1))


def perplexity(model_or_path, blocks: np.ndarray, batch_size: int = 64,
               precision: str = "fp32") -> float:
    """Perplexity of a data set: exp of the mean token NLL over all its blocks (Fig 10)."""
    return float(np.exp(token_nll(model_or_path, blocks, batch_size, precision).mean()))


def perplexities(model_or_path, blocks: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Per-sequence perplexity: exp of each block's mean token NLL (Figs 11, 14, 15)."""
    return np.exp(token_nll(model_or_path, blocks, batch_size).mean(axis=1))


def continue_blocks(model_or_path, prompts: np.ndarray, new_tokens: int = BLOCK,
                    num_beams: int = 5, repetition_penalty: float = 1.0,
                    batch_size: int = 64, progress: bool = True,
                    precision: str = "fp32") -> np.ndarray:
    """The next ``new_tokens`` tokens after every prompt by beam search in eval mode (§5.2),
    shape ``(n, new_tokens)``: only the new tokens are kept. All prompts have the same
    length, so batches need no padding; EOS is suppressed until ``new_tokens`` are written
    (the authors' ``min_new_tokens=64``), so every block is full. OPT models (the paper's
    and the stand-in) run :func:`beam_search`, others Hugging Face's ``generate`` with
    the same settings; the two agree token for token (``tests/test_lm.py``)."""
    import torch
    from tqdm import tqdm

    from .model import load_model

    model = load_model(model_or_path)
    device = next(model.parameters()).device
    prompts = np.asarray(prompts)
    out = []
    batches = range(0, len(prompts), batch_size)
    with (torch.inference_mode(), evaluating(model), _autocast(device, precision),
          threads_for(model)):
        for i in tqdm(batches, desc="beam search", disable=not progress, leave=False):
            batch = torch.as_tensor(prompts[i:i + batch_size], dtype=torch.long, device=device)
            if beam_search_supports(model):
                generated = beam_search(model, batch, new_tokens, num_beams, repetition_penalty)
            else:
                generated = model.generate(
                    input_ids=batch, attention_mask=torch.ones_like(batch), do_sample=False,
                    num_beams=num_beams, max_new_tokens=new_tokens,
                    min_new_tokens=new_tokens, repetition_penalty=repetition_penalty,
                    pad_token_id=model.config.pad_token_id,
                    eos_token_id=model.config.eos_token_id, use_cache=True,
                )[:, batch.shape[1]:]
            out.append(generated.cpu().numpy().astype(np.int32))
    return np.concatenate(out) if out else np.zeros((0, new_tokens), dtype=np.int32)


def beam_search_supports(model) -> bool:
    """Whether :func:`beam_search` knows ``model``'s architecture: OPT with layer norm
    before attention and no embedding projection (OPT-125m and the tiny stand-in)."""
    from transformers import OPTForCausalLM

    if not isinstance(model, OPTForCausalLM):
        return False
    config, decoder = model.config, model.model.decoder
    return (config.do_layer_norm_before and config.activation_function == "relu"
            and decoder.project_in is None and decoder.project_out is None
            and decoder.final_layer_norm is not None)


def beam_search(model, prompts, new_tokens: int, num_beams: int,
                repetition_penalty: float = 1.0):
    """Hugging Face's beam search for an OPT model (``generate(num_beams=k,
    min_new_tokens=max_new_tokens=new_tokens, repetition_penalty=…)``) written out for
    speed: ``(B, L)`` prompts to the best beam's ``(B, new_tokens)`` new tokens.

    Each step scores log-softmax plus the beam's running sum, multiplies the scores of
    tokens already in the beam's text by the penalty, forbids EOS, and keeps the ``k``
    best of the ``k·V`` continuations. Where ``generate`` copies every beam's keys and
    values (prompt included) and reorders them at every step, here the prompt's are
    computed and stored once, each step's ``k`` new keys go into the next ``k`` slots of
    one buffer and never move, and a mask lets every beam attend to its own ancestors'
    slots only (about four times faster for the stand-in on a CPU)."""
    import torch
    import torch.nn.functional as F

    decoder, config = model.model.decoder, model.config
    B, L = prompts.shape
    k, H, D = num_beams, config.num_attention_heads, config.hidden_size
    head, V, device = D // H, model.lm_head.out_features, prompts.device
    positions = decoder.embed_positions.weight[decoder.embed_positions.offset:]
    slots = L + k * (new_tokens - 1)  # the prompt, then k slots per generated token
    keys = [torch.empty(B, H, slots, head, device=device) for _ in decoder.layers]
    values = [torch.empty(B, H, slots, head, device=device) for _ in decoder.layers]

    def log_probs(x, start, mask):
        """Run ``x`` (B, n, D) written at slots ``start …``; log-probs of the last k."""
        n = x.shape[1]
        for layer, key, value in zip(decoder.layers, keys, values, strict=True):
            attention = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            q = (attention.q_proj(h) * attention.scaling).view(B, n, H, head).transpose(1, 2)
            key[:, :, start:start + n] = attention.k_proj(h).view(B, n, H, head).transpose(1, 2)
            value[:, :, start:start + n] = (attention.v_proj(h).view(B, n, H, head)
                                            .transpose(1, 2))
            a = F.scaled_dot_product_attention(q, key[:, :, :start + n],
                                               value[:, :, :start + n], attn_mask=mask,
                                               is_causal=mask is None, scale=1.0)
            x = x + attention.out_proj(a.transpose(1, 2).reshape(B, n, D))
            x = x + layer.fc2(F.relu(layer.fc1(layer.final_layer_norm(x))))
        logits = model.lm_head(decoder.final_layer_norm(x[:, -k:])).float()
        return torch.log_softmax(logits, dim=-1)

    def processed(scores, seen):  # generate's repetition penalty and min_new_tokens
        if repetition_penalty != 1.0:
            scores = torch.where(seen, torch.where(scores < 0, scores * repetition_penalty,
                                                   scores / repetition_penalty), scores)
        scores[..., config.eos_token_id] = -torch.inf
        return scores

    seen = torch.zeros(B, 1, V, dtype=torch.bool, device=device).scatter_(2, prompts[:, None],
                                                                         True)
    x = decoder.embed_tokens(prompts) + positions[:L]
    running, tokens = processed(log_probs(x, 0, None)[:, -1:], seen)[:, 0].topk(k, dim=-1)
    seen = seen.expand(B, k, V).clone().scatter_(2, tokens[..., None], True)
    written = tokens[..., None]  # (B, k, t): the beams' tokens so far
    ancestry = torch.arange(k, device=device).expand(B, k)[..., None]  # slot per token
    beams = torch.arange(k, device=device)
    prompt_visible = torch.ones(B, k, L, dtype=torch.bool, device=device)
    for t in range(1, new_tokens):
        own = (ancestry[..., None] == beams).reshape(B, k, t * k)  # ancestors' slots only
        mask = torch.cat([prompt_visible, own], -1)[:, None]
        x = decoder.embed_tokens(tokens) + positions[L + t - 1]
        scores = processed(log_probs(x, L + k * (t - 1), mask), seen) + running[..., None]
        running, best = scores.view(B, k * V).topk(k, dim=-1)
        parent, tokens = best // V, best % V
        ancestry = torch.cat([ancestry.gather(1, parent[..., None].expand(-1, -1, t)),
                              beams.expand(B, k)[..., None]], -1)
        written = torch.cat([written.gather(1, parent[..., None].expand(-1, -1, t)),
                             tokens[..., None]], -1)
        if repetition_penalty != 1.0:
            seen = seen.gather(1, parent[..., None].expand(-1, -1, V))
            seen.scatter_(2, tokens[..., None], True)
    return written[:, 0]
