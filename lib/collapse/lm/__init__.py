"""Language models fine-tuned on their own output (paper §5.2, Figs 10, 11, 14, 15).

Read in this order, as in nanoGPT:

* :mod:`.data`: WikiText-2 lines and 64-token blocks;
* :mod:`.model`: the pre-trained base model (``facebook/opt-125m``, a local copy, the
  offline stand-in :func:`tiny_base`, or :func:`random_opt` for tests and benchmarks);
* :mod:`.train`: fine-tuning, perplexity and beam-search generation;
* :mod:`.family`: :class:`LanguageModel` for :func:`collapse.loop.simulate` and the
  authors' way of keeping 10 % original data, :class:`KeepOriginalBatches`;
* :mod:`.experiment`: the chapter's regimes built from a profile's settings;
* :mod:`.estimate`: time of a profile on this machine from measured throughput.
"""

from .data import BLOCK, SPLITS, load_blocks, to_blocks, wikitext_lines
from .experiment import (
    REGIMES,
    Setup,
    checkpoint_path,
    cli_setup,
    generation_perplexities,
    prepare,
    regime,
    summarise,
    tail_share,
    tiny_spec,
)
from .family import KeepOriginalBatches, LanguageModel
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
from .train import Training, continue_blocks, perplexities, perplexity, token_nll, train

__all__ = [
    "BLOCK", "HUB_MODEL", "OPT_125M", "REGIMES", "SPLITS", "KeepOriginalBatches",
    "LanguageModel", "Setup", "TinyOPT", "Training", "base_model_source", "checkpoint_path",
    "cli_setup", "continue_blocks", "device_name", "generation_perplexities", "load_blocks",
    "load_model", "opt_tokenizer", "perplexities", "perplexity", "prepare", "random_opt",
    "regime", "summarise", "tail_share", "tiny_base", "tiny_spec", "to_blocks", "token_nll",
    "train", "wikitext_lines",
]
