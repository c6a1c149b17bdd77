"""collapse: the thin library behind the book "The Curse of Recursion", reproduced.

Modules: :mod:`loop` (the generational loop and mixing rules), one module per model
family with the verbs ``fit`` and ``sample`` (:mod:`gaussian`, …), :mod:`theory`
(the paper's closed forms), :mod:`metrics`, :mod:`plots`, :mod:`data`,
:mod:`profiles` and :mod:`book` (execution and build).
"""

from .loop import (
    Accumulate,
    History,
    KeepOriginal,
    Mixture,
    Pool,
    Replace,
    mixing_rule,
    simulate,
)

__all__ = ["Accumulate", "History", "KeepOriginal", "Mixture", "Pool", "Replace",
           "mixing_rule", "simulate"]
