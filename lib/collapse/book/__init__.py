"""The book's floor: everything that turns the library into the executed, rendered book.

* :mod:`.settings` and :mod:`.chapters`: typed chapter settings and run profiles, and the
  per-chapter helpers;
* :mod:`.runner`: execute chapters with papermill (in parallel, cached by content hash,
  never replacing a good notebook) and build the site;
* :mod:`.cli` and :mod:`.families`: the command line ``python -m collapse`` and its
  registry of model families;
* :mod:`.memory`: memory available and needed; :mod:`.lm_estimate`: time of a
  language-model profile;
* :mod:`.plots`: the figure style; :mod:`.student`: versions without solutions;
  :mod:`.sphinx_site`, :mod:`.sphinx_mathjax`: the site's Sphinx extensions.

Nothing in the core (:mod:`collapse.loop`, :mod:`collapse.mixing`, …) or in a family
module imports this package.
"""

from .runner import (
    ChapterFailed,
    build_html,
    cache_key,
    chapter_names,
    check_chapter_name,
    execute_all,
    execute_chapter,
    install_cell,
    project_root,
    start_order,
    write_execution_page,
)

__all__ = ["ChapterFailed", "build_html", "cache_key", "chapter_names", "check_chapter_name",
           "execute_all", "execute_chapter", "install_cell", "project_root", "start_order",
           "write_execution_page"]
