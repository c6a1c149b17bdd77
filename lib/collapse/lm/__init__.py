"""Language models fine-tuned on their own output (paper §5.2, Figs 10, 11, 14, 15).

Read in this order, as in nanoGPT:

* :mod:`.data`: WikiText-2 lines and 64-token blocks;
* :mod:`.corpus`: the offline stand-in's pre-training text (docstrings of pinned packages,
  or WikiText variants), distributed unlike its fine-tuning text;
* :mod:`.model`: the pre-trained base model (``facebook/opt-125m``, a local copy, the
  offline stand-in :func:`tiny_base`, or :func:`random_opt` for tests and benchmarks);
* :mod:`.train`: fine-tuning and perplexity;
* :mod:`.generate`: beam-search generation;
* :mod:`.family`: :class:`LanguageModel` for :func:`collapse.loop.simulate` and the
  authors' way of keeping 10 % original data, :class:`KeepOriginalBatches`.

The chapter's experiment (regimes, settings) is in
:mod:`collapse.book.chapters.language_models`.
"""

from .data import BLOCK, SPLITS, load_blocks, to_blocks, wikitext_lines
from .family import KeepOriginalBatches, LanguageModel
from .generate import beam_search, beam_search_supports, continue_blocks
from .model import (
    HUB_MODEL,
    OPT_125M,
    TinyOPT,
    base_model_source,
    device_name,
    load_model,
    opt_tokenizer,
    random_opt,
    tiny_base,
)
from .train import Training, perplexities, perplexity, token_nll, train

__all__ = [
    "BLOCK", "HUB_MODEL", "OPT_125M", "SPLITS", "KeepOriginalBatches", "LanguageModel",
    "TinyOPT", "Training", "base_model_source", "beam_search", "beam_search_supports",
    "continue_blocks", "device_name", "load_blocks", "load_model", "opt_tokenizer",
    "perplexities", "perplexity", "random_opt", "tiny_base", "to_blocks", "token_nll",
    "train", "wikitext_lines",
]
