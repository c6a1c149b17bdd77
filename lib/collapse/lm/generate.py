"""Beam-search generation of a causal language model (§5.2): the authors'
``generate(num_beams=5, min_new_tokens=max_new_tokens=64, repetition_penalty=…)``, and the
same search written out for OPT models (:func:`beam_search`), about four times faster."""

from __future__ import annotations

import numpy as np

from .data import BLOCK
from .train import autocast, evaluating, threads_for


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
    with (torch.inference_mode(), evaluating(model), autocast(device, precision),
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
