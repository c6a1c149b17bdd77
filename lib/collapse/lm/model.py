"""The pre-trained base model: ``facebook/opt-125m`` (hub or a local directory), the
offline stand-in :func:`tiny_base`, and :func:`random_opt` (OPT-125m's architecture with
random weights, for tests and benchmarks of the paper's code path)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import data as data_sources
from .. import hashing, validate
from .corpus import PRETRAIN_TEXTS, fingerprint, pretraining_lines
from .data import BLOCK, CACHE, to_blocks, wikitext_lines

HUB_MODEL = "facebook/opt-125m"
# OPT's special-token ids
BOS_EOS, PAD, UNK, START = 2, 1, 3, 0


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def quiet() -> None:
    """No transformers progress bar per weight file read or written, and no warning that a
    notebook without ipywidgets cannot draw tqdm's widget bars (noise in a chapter: the
    library's own bars are text)."""
    import warnings

    with warnings.catch_warnings():  # tqdm.auto warns once, when it is first imported
        warnings.filterwarnings("ignore", message="IProgress not found")
        from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


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


def load_model(model_or_path):
    """A model object as given, or the model in a directory (or hub name), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    quiet()
    if not isinstance(model_or_path, (str, Path)):
        return model_or_path
    model = AutoModelForCausalLM.from_pretrained(model_or_path, dtype=torch.float32)
    return model.to(device_name()).eval()


# --------------------------------------------------------------- the offline base model


@dataclass(frozen=True)
class TinyOPT:
    """Size and pre-training of the offline stand-in for OPT-125m (which has 768 / 12 / 12 /
    3072, 50k tokens, pre-trained on web text); ``text`` is its pre-training text
    (:mod:`.corpus`), from which its tokenizer is learnt too."""

    text: str = "docstrings"
    vocab_size: int = 2048
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    ffn_dim: int = 512
    tokenizer_chars: int = 2_000_000  # text used to learn the BPE merges
    pretrain_steps: int = 300
    pretrain_batch: int = 32
    pretrain_lr: float = 1e-3

    def __post_init__(self):
        validate.choice("pretrain_text", self.text, PRETRAIN_TEXTS)
        validate.integer("vocab_size", self.vocab_size, minimum=300, maximum=65_000)
        validate.integer("hidden_size", self.hidden_size, minimum=8)
        validate.integer("layers", self.layers, minimum=1)
        validate.integer("heads", self.heads, minimum=1)
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of "
                             f"heads ({self.heads})")
        validate.integer("ffn_dim", self.ffn_dim, minimum=1)
        validate.integer("tokenizer_chars", self.tokenizer_chars, minimum=10_000)
        validate.integer("pretrain_steps", self.pretrain_steps, minimum=0)
        validate.integer("pretrain_batch", self.pretrain_batch, minimum=1)
        validate.real("pretrain_lr", self.pretrain_lr, 1e-7, 1.0)


def opt_tokenizer(lines: list[str], vocab_size: int, chars: int):
    """A byte-level BPE learnt from the first ``chars`` characters of ``lines``, with OPT's
    special tokens (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3) and OPT's habit of
    putting ``</s>`` before every text it tokenizes (``add_special_tokens=True``)."""
    quiet()
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    text, used = [], 0
    for line in lines:
        if used >= chars:
            break
        text.append(line)
        used += len(line)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(text, vocab_size=vocab_size, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False)
    bpe.post_processor = TemplateProcessing(single="</s> $A", pair="</s> $A $B",
                                            special_tokens=[("</s>", BOS_EOS)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="</s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def opt_config(vocab_size: int, hidden_size: int, layers: int, heads: int, ffn_dim: int,
               positions: int = 2048):
    """An ``OPTConfig`` with OPT's token ids; OPT-125m is (50272, 768, 12, 12, 3072, 2048)."""
    from transformers import OPTConfig

    return OPTConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=layers,
                     num_attention_heads=heads, ffn_dim=ffn_dim, word_embed_proj_dim=hidden_size,
                     max_position_embeddings=positions, pad_token_id=PAD, bos_token_id=BOS_EOS,
                     eos_token_id=BOS_EOS, dropout=0.1)


OPT_125M = dict(vocab_size=50272, hidden_size=768, layers=12, heads=12, ffn_dim=3072)


def random_opt(directory: str | Path, seed: int = 0, **sizes) -> str:
    """Save OPT-125m's architecture (or ``sizes`` overriding some of it) with random weights
    and a small local tokenizer with OPT's special tokens and BOS behaviour as a Hugging Face
    model directory, loadable exactly like ``facebook/opt-125m``. Returns the directory."""
    import torch
    from transformers import OPTForCausalLM

    quiet()
    directory = Path(directory)
    if (directory / "done").exists():
        return str(directory.resolve())
    spec = {**OPT_125M, **sizes}
    tokenizer = opt_tokenizer(wikitext_lines("train"), vocab_size=1024, chars=300_000)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = OPTForCausalLM(opt_config(**spec))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / "done").write_text("ok\n")
    return str(directory.resolve())


def tiny_base_path(spec: TinyOPT, seed: int, tokenisation: str, drop_unk: bool,
                   lines: list[str] | None = None) -> Path:
    """Where :func:`tiny_base` stores its model: keyed by the content of its pre-training
    text (:func:`.corpus.fingerprint`: every line of WikiText-2's training split, read when
    ``lines`` is not given, or the versions of the packages whose docstrings are read),
    the settings and the code."""
    key = hashing.digest(spec, seed, tokenisation, fingerprint(spec.text, drop_unk, lines),
                         hashing.code_digest("lm.corpus", "lm.data", "lm.model", "lm.train"))
    return CACHE / f"base-{key}"


def tiny_base(spec: TinyOPT = TinyOPT(), seed: int = 0, tokenisation: str = "authors",
              drop_unk: bool = False, progress: bool = True) -> str:
    """Build (once; cached by content hash under ``.cache/lm``) a small OPT and its
    tokenizer, both learnt from the pre-training text ``spec.text`` (:mod:`.corpus`; the
    WikiText texts use the *second half* of the training split's lines, and the experiment
    then fine-tunes on blocks from the first half). Returns the directory."""
    import torch

    from .train import Training, train

    if not isinstance(spec, TinyOPT):
        raise TypeError(f"spec must be an lm.TinyOPT, got {spec!r}")
    quiet()
    out = tiny_base_path(spec, seed, tokenisation, drop_unk)
    if (out / "done").exists():
        return str(out.resolve())
    lines = pretraining_lines(spec.text, drop_unk)
    tokenizer = opt_tokenizer(lines, spec.vocab_size, spec.tokenizer_chars)
    blocks = to_blocks(tokenizer, lines, BLOCK, tokenisation)
    config = opt_config(len(tokenizer), spec.hidden_size, spec.layers, spec.heads, spec.ffn_dim,
                        positions=4 * BLOCK)
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(seed)
        from transformers import OPTForCausalLM

        model = OPTForCausalLM(config)
        schedule = Training(epochs=1, lr=spec.pretrain_lr, batch_size=spec.pretrain_batch,
                            weight_decay=0.0, schedule="linear", steps=spec.pretrain_steps)
        train(model, blocks, schedule, seed=seed, progress=progress,
              desc="pre-training the tiny base model")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "done").write_text("ok\n")
    return str(out.resolve())
