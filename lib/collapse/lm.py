"""Language models fine-tuned on their own output (paper §5.2, Figs 10, 11, 14, 15).

The family :class:`LanguageModel` has the book's verbs:

* ``fit(blocks) -> path``: fine-tune the *pre-trained* base model (every generation
  starts from it, §5.2) on token blocks ``(1, n, 64)`` and keep the epoch with the best
  validation perplexity; the result is a checkpoint directory, cached by a content hash
  of everything that determines it, so a re-run never trains the same model twice;
* ``sample(path, n, rng) -> blocks``: for ``n`` of the original training blocks (all of
  them when ``n`` is their number) the model writes the next 64 tokens with 5-way beam
  search; the 64 new tokens are the generated block (the authors' code keeps only them);
* ``describe(path)``: perplexity on the original test blocks (Fig 10).

``perplexities`` gives per-sequence perplexity (Figs 11, 14, 15). Models and data come
from the hub (``facebook/opt-125m``, ``wikitext-2-raw-v1``) or from local copies under
``COLLAPSE_DATA_DIR`` (:mod:`collapse.data`); :func:`tiny_base` builds the offline
stand-in for OPT-125m: a small OPT with a byte-level BPE tokenizer, briefly pre-trained
on a part of WikiText-2 that the experiment never uses.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as data_sources
from . import loop, validate
from .loop import KeepOriginal, Replace, simulate

BLOCK = 64
HUB_MODEL = "facebook/opt-125m"
HUB_DATASET = ("wikitext", "wikitext-2-raw-v1")
SPLITS = ("train", "validation", "test")
CACHE = Path(".cache") / "lm"
# Part of every cache key: bump it when training or generation changes what they produce.
ALGORITHM_VERSION = 1


def _digest(*parts) -> str:
    """A short content hash of arrays, strings and numbers."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:16]


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _quiet() -> None:
    """No transformers progress bar per weight file read or written (noise in a chapter)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


@contextmanager
def _threads_for(model):
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


# --------------------------------------------------------------------------- data


def wikitext_lines(split: str) -> list[str]:
    """The lines of a WikiText-2 split: the local copy under ``COLLAPSE_DATA_DIR``
    (``wikitext-2-v1``, rare words as ``<unk>``) or ``wikitext-2-raw-v1`` from the hub."""
    validate.choice("split", split, SPLITS)
    if data_sources.data_dir() is not None:  # checks all three files before any work
        return data_sources.read_wikitext_split(split)
    if not data_sources.hub_reachable():
        raise data_sources.unavailable("WikiText-2", "/".join(HUB_DATASET),
                                       data_sources.WIKITEXT_LOCAL)
    import datasets

    return list(datasets.load_dataset(*HUB_DATASET, split=split)["text"])


def base_model_source(name: str) -> str:
    """Where to load the pre-trained model ``name`` from: a local directory (given
    directly or as ``COLLAPSE_DATA_DIR/<last part of name>``) or the hub."""
    if Path(name).is_dir():
        return str(Path(name).resolve())
    local = data_sources.local_path(name.split("/")[-1])
    if local is not None:
        return str(local)
    if data_sources.data_dir() is None and data_sources.hub_reachable():
        return name
    data_sources.offline_hub()
    raise data_sources.unavailable(f"the pre-trained model {name}", name, name.split("/")[-1] + "/")


def to_blocks(tokenizer, lines: list[str], block: int = BLOCK) -> np.ndarray:
    """Tokenize every line, concatenate and cut into ``block``-token rows (the
    remainder is dropped), as Hugging Face's ``run_clm`` does."""
    ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32)
    usable = len(flat) // block * block
    return flat[:usable].reshape(-1, block)


def _blocks_path(source: str, split: str, block: int) -> Path:
    key = _digest(str(source), split, block, str(data_sources.data_dir()))
    return CACHE / "blocks" / f"{split}-{key}.npy"


def load_blocks(source: str, split: str, block: int = BLOCK) -> np.ndarray:
    """WikiText-2 ``split`` as token blocks of the tokenizer in ``source``, cached."""
    from transformers import AutoTokenizer

    path = _blocks_path(source, split, block)
    if path.exists():
        return np.load(path)
    lines = wikitext_lines(split)
    blocks = to_blocks(AutoTokenizer.from_pretrained(source), lines, block)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, blocks)
    return blocks


# --------------------------------------------------------------- the offline base model


@dataclass(frozen=True)
class TinyOPT:
    """Size of the offline stand-in for OPT-125m (which has 768 / 12 / 12 / 3072, 50k tokens)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    ffn_dim: int = 512
    tokenizer_chars: int = 2_000_000  # text used to learn the BPE merges
    pretrain_steps: int = 300
    pretrain_batch: int = 32
    pretrain_lr: float = 1e-3


def _train_tokenizer(lines: list[str], spec: TinyOPT):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    text, used = [], 0
    for line in lines:
        if used >= spec.tokenizer_chars:
            break
        text.append(line)
        used += len(line)
    bpe = ByteLevelBPETokenizer()
    # OPT's special-token ids: <s>=0, <pad>=1, </s>=2, <unk>=3
    bpe.train_from_iterator(text, vocab_size=spec.vocab_size, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="</s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def tiny_base(spec: TinyOPT = TinyOPT(), seed: int = 0, progress: bool = True) -> str:
    """Build (once; cached by content hash under ``.cache/lm``) a small OPT and its
    tokenizer, pre-trained on the *second half* of the WikiText-2 training split; the
    experiment fine-tunes on blocks from the first half. Returns the directory."""
    import torch
    from transformers import OPTConfig, OPTForCausalLM

    validate.integer("vocab_size", spec.vocab_size, minimum=300)
    validate.integer("pretrain_steps", spec.pretrain_steps, minimum=0)
    _quiet()
    lines = wikitext_lines("train")
    key = _digest(ALGORITHM_VERSION, spec, seed, len(lines), lines[:50], lines[-50:])
    out = CACHE / f"base-{key}"
    if (out / "done").exists():
        return str(out.resolve())
    tokenizer = _train_tokenizer(lines, spec)
    every_block = to_blocks(tokenizer, lines)
    blocks = every_block[len(every_block) // 2:]
    config = OPTConfig(vocab_size=len(tokenizer), hidden_size=spec.hidden_size,
                       num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                       ffn_dim=spec.ffn_dim, word_embed_proj_dim=spec.hidden_size,
                       max_position_embeddings=4 * BLOCK, pad_token_id=1, bos_token_id=2,
                       eos_token_id=2)
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(seed)
        model = OPTForCausalLM(config)
        _train(model, blocks, epochs=None, steps=spec.pretrain_steps,
               batch_size=spec.pretrain_batch, lr=spec.pretrain_lr, seed=seed,
               progress=progress, desc="pre-training the tiny base model")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    blocks_path = _blocks_path(out.resolve(), "train", BLOCK)  # spare load_blocks the work
    blocks_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(blocks_path, every_block)
    (out / "done").write_text("ok\n")
    return str(out.resolve())


# ------------------------------------------------------------------ training and scoring


def _train(model, blocks: np.ndarray, *args, **kwargs) -> dict:
    with _threads_for(model):
        return _train_loop(model, blocks, *args, **kwargs)


def _train_loop(model, blocks: np.ndarray, epochs: int | None, batch_size: int, lr: float,
                seed: int, steps: int | None = None, valid: np.ndarray | None = None,
                progress: bool = True, desc: str = "fine-tuning") -> dict:
    """AdamW with linear decay (the Hugging Face Trainer default). With ``valid``, the
    weights of the epoch with the lowest validation perplexity are kept (§5.2: "we use
    the best performing model … evaluated using the original wikitext2 validation set")."""
    import torch
    from tqdm import tqdm

    device = device_name()
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.as_tensor(blocks, dtype=torch.long)
    per_epoch = math.ceil(len(tokens) / batch_size)
    total = steps if steps is not None else epochs * per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / max(total, 1))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    best = (math.inf, None, -1)
    history, step, seen, start = [], 0, 0, time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    while step < total:
        order = torch.randperm(len(tokens), generator=generator)
        for i in range(0, len(tokens), batch_size):
            if step >= total:
                break
            batch = tokens[order[i:i + batch_size]].to(device)
            with autocast:
                loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += batch.numel()
            bar.update(1)
        if valid is not None:
            score = perplexity(model, valid)
            model.train()
            history.append(score)
            if score < best[0]:
                best = (score, copy.deepcopy(model.state_dict()), len(history) - 1)
    bar.close()
    seconds = time.perf_counter() - start
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    return {"valid_perplexity": history, "best_epoch": best[2], "seconds": seconds,
            "tokens_per_second": seen / seconds}


def _load(model_or_path):
    import torch
    from transformers import AutoModelForCausalLM

    _quiet()
    if not isinstance(model_or_path, (str, Path)):
        return model_or_path
    model = AutoModelForCausalLM.from_pretrained(model_or_path, dtype=torch.float32)
    return model.to(device_name()).eval()


def token_nll(model_or_path, blocks: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Negative log-likelihood (nats) of tokens 2 … L of every block given the tokens
    before it, shape ``(n, L - 1)``."""
    import torch

    model = _load(model_or_path)
    device = next(model.parameters()).device
    blocks = np.asarray(blocks)
    if blocks.ndim != 2 or blocks.shape[1] < 2:
        raise ValueError(f"blocks must be (n, L) with L >= 2, got shape {blocks.shape}")
    out = []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.inference_mode(), autocast, _threads_for(model):
        for i in range(0, len(blocks), batch_size):
            batch = torch.as_tensor(blocks[i:i + batch_size], dtype=torch.long, device=device)
            logits = model(input_ids=batch).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch[:, 1:],
                                                    reduction="none")
            out.append(nll.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, blocks.shape[1] - 1))


def perplexity(model_or_path, blocks: np.ndarray, batch_size: int = 64) -> float:
    """Perplexity of a data set: exp of the mean token NLL over all its blocks (Fig 10)."""
    return float(np.exp(token_nll(model_or_path, blocks, batch_size).mean()))


def perplexities(model_or_path, blocks: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Per-sequence perplexity: exp of each block's mean token NLL (Figs 11, 14, 15)."""
    return np.exp(token_nll(model_or_path, blocks, batch_size).mean(axis=1))


def continue_blocks(model_or_path, prompts: np.ndarray, new_tokens: int = BLOCK,
                    num_beams: int = 5, repetition_penalty: float = 1.0,
                    batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """The next ``new_tokens`` tokens after every prompt by beam search (§5.2), shape
    ``(n, new_tokens)``. All prompts have the same length, so batches need no padding;
    EOS is suppressed until ``new_tokens`` are written so every block is full."""
    import torch
    from tqdm import tqdm

    model = _load(model_or_path)
    device = next(model.parameters()).device
    prompts = np.asarray(prompts)
    out = []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    batches = range(0, len(prompts), batch_size)
    with torch.inference_mode(), autocast, _threads_for(model):
        for i in tqdm(batches, desc="beam search", disable=not progress, leave=False):
            batch = torch.as_tensor(prompts[i:i + batch_size], dtype=torch.long, device=device)
            generated = model.generate(
                input_ids=batch, attention_mask=torch.ones_like(batch), do_sample=False,
                num_beams=num_beams, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                repetition_penalty=repetition_penalty, pad_token_id=model.config.pad_token_id,
                eos_token_id=model.config.eos_token_id, use_cache=True)
            out.append(generated[:, batch.shape[1]:].cpu().numpy().astype(np.int32))
    return np.concatenate(out) if out else np.zeros((0, new_tokens), dtype=np.int32)


# -------------------------------------------------------------------------- the family


@dataclass
class LanguageModel:
    """A pre-trained causal LM fine-tuned every generation on the previous generation's
    text (§5.2). ``runs = 1``: data are ``(1, n_blocks, 64)`` token arrays.

    ``prompts`` are the original training blocks; ``valid`` picks the best epoch;
    ``test`` is what :meth:`describe` scores. ``seed`` makes independent runs differ
    (training order and dropout), as the paper's 5 runs do.
    """

    base: str
    prompts: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    epochs: int = 5
    lr: float = 2e-5
    batch_size: int = 128
    num_beams: int = 5
    repetition_penalty: float = 1.0
    generate_batch: int = 64
    seed: int = 0
    workdir: str = str(CACHE / "models")
    progress: bool = True

    def __post_init__(self):
        validate.integer("epochs", self.epochs, minimum=1)
        validate.real("lr", self.lr, 0.0, 1.0)
        validate.integer("batch_size", self.batch_size, minimum=1)
        validate.integer("num_beams", self.num_beams, minimum=1)
        validate.real("repetition_penalty", self.repetition_penalty, 1.0, 10.0)
        validate.integer("generate_batch", self.generate_batch, minimum=1)
        validate.integer("seed", self.seed, minimum=0)
        for name in ("prompts", "valid", "test"):
            value = np.asarray(getattr(self, name))
            if value.ndim != 2 or value.shape[1] < 2:
                raise ValueError(f"{name} must be token blocks (n, L), got shape {value.shape}")
            setattr(self, name, value)

    @staticmethod
    def _blocks(data) -> np.ndarray:
        data = np.asarray(data)
        if data.ndim != 3 or data.shape[0] != 1:
            raise ValueError(f"language-model data must be (1, n_blocks, L), got {data.shape}")
        return data[0]

    def fit(self, data) -> str:
        """Fine-tune the base model on ``data`` (§5.2); cached by content hash."""
        import torch

        blocks = self._blocks(data)
        key = _digest(ALGORITHM_VERSION, blocks, self.base, self.epochs, self.lr,
                      self.batch_size, self.seed, self.valid)
        out = Path(self.workdir) / f"fit-{key}"
        if (out / "done").exists():
            return str(out)
        seed = int(key[:8], 16)
        # dropout draws from torch's global RNGs: fork them, seed, restore afterwards
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            torch.manual_seed(seed)
            model = _load(self.base)
            model.train()
            report = _train(model, blocks, self.epochs, self.batch_size, self.lr, seed,
                            valid=self.valid, progress=self.progress)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        (out / "train.json").write_text(json.dumps(report))
        (out / "done").write_text("ok\n")
        return str(out)

    def sample(self, params: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """Continue ``n`` original training blocks (all of them, in order, when ``n`` is
        their number; else a random subset) with beam search; returns ``(1, n, L)``."""
        n = validate.integer("n", n, minimum=0, maximum=len(self.prompts))
        index = (np.arange(n) if n == len(self.prompts)
                 else np.sort(rng.choice(len(self.prompts), n, replace=False)))
        new = continue_blocks(params, self.prompts[index], self.prompts.shape[1],
                              self.num_beams, self.repetition_penalty, self.generate_batch,
                              self.progress)
        return new[None]

    def describe(self, params: str) -> dict[str, np.ndarray]:
        report = json.loads((Path(params) / "train.json").read_text())
        return {"test_perplexity": np.array([perplexity(params, self.test)]),
                "best_epoch": np.array([report["best_epoch"]]),
                "train_tokens_per_second": np.array([report["tokens_per_second"]])}


# ---------------------------------------------------------------------- the experiment


@dataclass
class Setup:
    """Everything an experiment needs: the base model and the token blocks."""

    base: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def prepare(model: str, train_blocks: int, valid_blocks: int, test_blocks: int,
            spec: TinyOPT = TinyOPT(), progress: bool = True) -> Setup:
    """Load (or, for ``model="tiny"``, build) the base model and cut WikiText-2 into
    64-token blocks. ``0`` blocks means the whole split. For the tiny model only the
    first half of the training split is used (the second half pre-trained it)."""
    for name, value in (("train_blocks", train_blocks), ("valid_blocks", valid_blocks),
                        ("test_blocks", test_blocks)):
        validate.integer(name, value, minimum=0)
    source = tiny_base(spec, progress=progress) if model == "tiny" else base_model_source(model)
    train = load_blocks(source, "train")
    if model == "tiny":
        train = train[: len(train) // 2]
    splits = [train, load_blocks(source, "validation"), load_blocks(source, "test")]
    wanted = [train_blocks, valid_blocks, test_blocks]
    for name, blocks, n in zip(SPLITS, splits, wanted, strict=True):
        if n > len(blocks):
            raise ValueError(f"{name}_blocks must be <= {len(blocks)} (the {name} split has "
                             f"{len(blocks)} blocks), got {n}")
    train, valid, test = (b[:n] if n else b for b, n in zip(splits, wanted, strict=True))
    return Setup(source, train, valid, test)


def run_regime(setup: Setup, runs: int, generations: int, epochs: int, keep_original: float,
               repetition_penalty: float = 1.0, lr: float = 2e-5, batch_size: int = 128,
               num_beams: int = 5, generate_batch: int = 64, seed: int = 0,
               progress: bool = True, cache: str | Path = CACHE) -> tuple[pd.DataFrame, dict]:
    """``runs`` independent runs of §5.2's loop (each through :func:`collapse.loop.simulate`
    with a checkpoint, so an interrupted run resumes at its last finished generation).

    Returns the tidy table (run, generation, test perplexity, …) and, per run, the
    training blocks and model directory of every generation:
    ``{run: {"data": {g: (n, L) blocks}, "models": {g: path}}}``. For ``Replace``,
    block ``i`` of ``data[g + 1]`` is generation ``g``'s continuation of prompt ``i``.
    """
    runs = validate.integer("runs", runs, minimum=1)
    generations = validate.integer("generations", generations, minimum=1)
    keep_original = validate.real("keep_original", keep_original, 0.0, 0.5)
    mixing = KeepOriginal(keep_original) if keep_original > 0 else Replace()
    tables, kept = [], {}
    for run in range(runs):
        family = LanguageModel(setup.base, setup.train, setup.valid, setup.test, epochs=epochs,
                               lr=lr, batch_size=batch_size, num_beams=num_beams,
                               repetition_penalty=repetition_penalty,
                               generate_batch=generate_batch, seed=run, progress=progress,
                               workdir=str(Path(cache) / "models"))
        # the loop's source is part of the key: its checkpoint format may change with it
        key = _digest(ALGORITHM_VERSION, Path(loop.__file__).read_bytes(), setup.base,
                      setup.train, setup.valid, setup.test, epochs, lr, batch_size, num_beams,
                      repetition_penalty, keep_original, generations, seed, run)
        history = simulate(family, setup.train[None], generations, len(setup.train),
                           np.random.default_rng([seed, run]), mixing,
                           keep=range(generations), checkpoint=Path(cache) / "runs" / f"{key}.pkl",
                           progress=progress)
        tables.append(history.table.assign(run=run))
        kept[run] = {"data": {g: data[0] for g, (_, data) in history.kept.items()},
                     "models": {g: model for g, (model, _) in history.kept.items()}}
    return pd.concat(tables, ignore_index=True), kept


def generation_perplexities(kept: dict) -> pd.DataFrame:
    """Per-sequence perplexity of every generation's training data under the run's
    generation-0 model (Figs 11, 14, 15): a tidy table (run, generation, perplexity)."""
    rows = []
    for run, record in kept.items():
        model = _load(record["models"][0])
        for g, blocks in record["data"].items():
            values = perplexities(model, blocks)
            rows.append(pd.DataFrame({"run": run, "generation": g, "perplexity": values}))
    return pd.concat(rows, ignore_index=True)


REGIMES = {  # name: (index into the profile's epochs, fraction of original data kept, penalty?)
    "no original data": (0, 0.0, False),
    "10% original data": (1, 0.1, False),
    "no original data, repetition penalty": (0, 0.0, True),
}


def experiment(config: dict, regimes=tuple(REGIMES), progress: bool = False) -> dict:
    """Run the chapter's experiment for a resolved profile ``config``
    (:mod:`collapse.profiles.language_models`): the base model, its zero-shot test
    perplexity and, per regime, the table, the kept data and models, and the
    per-sequence perplexities under each run's generation-0 model."""
    for name in regimes:
        validate.choice("regime", name, REGIMES)
    setup = prepare(config["model"], config["train_blocks"], config["valid_blocks"],
                    config["test_blocks"], spec=tiny_spec(config), progress=progress)
    result = {"setup": setup, "zero_shot": perplexity(setup.base, setup.test), "regimes": {}}
    for name in regimes:
        epochs_index, keep_original, penalised = REGIMES[name]
        table, kept = run_regime(
            setup, config["runs"], config["generations"], config["epochs"][epochs_index],
            keep_original, config["repetition_penalty"] if penalised else 1.0, config["lr"],
            config["batch_size"], config["num_beams"], config["generate_batch"],
            config["seed"], progress)
        result["regimes"][name] = {"table": table, "kept": kept,
                                   "perplexities": generation_perplexities(kept)}
    return result


def tiny_spec(config: dict) -> TinyOPT:
    """The tiny base model described by a chapter profile's parameters."""
    return TinyOPT(vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
                   layers=config["layers"], heads=config["heads"],
                   ffn_dim=4 * config["hidden_size"], tokenizer_chars=config["tokenizer_chars"],
                   pretrain_steps=config["pretrain_steps"])


def cli_setup(runs: int, M: int, rng: np.random.Generator, profile: str = "smoke",
              **overrides):
    """``python -m collapse simulate lm --runs 1 --M 64 --option profile=quick
    --option repetition_penalty=2.0``: the model and settings of a chapter profile
    (any profile parameter can be overridden), ``D_0`` = the first ``M`` training blocks.
    Each run is one process: ``runs`` must be 1."""
    from . import profiles

    validate.integer("runs", runs, minimum=1, maximum=1)
    config = profiles.resolve("language_models", profile, train_blocks=M, **overrides)
    setup = prepare(config["model"], config["train_blocks"], config["valid_blocks"],
                    config["test_blocks"], spec=tiny_spec(config))
    family = LanguageModel(setup.base, setup.train, setup.valid, setup.test,
                           epochs=config["epochs"][0], lr=config["lr"],
                           batch_size=config["batch_size"], num_beams=config["num_beams"],
                           repetition_penalty=config["repetition_penalty"],
                           generate_batch=config["generate_batch"], seed=config["seed"])
    return family, setup.train[None], False
