"""collapse: the thin library behind the book "The Curse of Recursion", reproduced.

Three floors, each using only the ones below it:

* **core**: :mod:`loop` (the generational loop of Fig 2 and the family protocol),
  :mod:`mixing` (the sampling step's rules), :mod:`checkpoint` (resumable runs),
  :mod:`sweep` (independent runs in parallel), :mod:`theory` (the paper's closed forms),
  :mod:`metrics`, :mod:`linalg`, :mod:`hashing`, :mod:`files`, :mod:`validate`;
* **families**: one module per model family with the verbs ``fit`` and ``sample``
  (:mod:`gaussian`, :mod:`discrete`, :mod:`noisy`, :mod:`gmm`, :mod:`vae`,
  :mod:`ngram`, :mod:`lm`), :mod:`markov` (the exact chain of App. A.1) and their data
  (:mod:`data`, :mod:`mnist`);
* **book**: :mod:`collapse.book` (chapter settings and helpers, the runner, the command
  line, the site).

:mod:`collapse.testing` checks that a family keeps the loop's contract.
"""

from .loop import ExactFamily, Family, History, simulate
from .mixing import Accumulate, KeepOriginal, MixingRule, Pool, Replace, Weighted, mixing_rule

__all__ = ["Accumulate", "ExactFamily", "Family", "History", "KeepOriginal", "MixingRule",
           "Pool", "Replace", "Weighted", "mixing_rule", "simulate"]
