"""Sphinx extension: serve MathJax 3 from the built site, so the book's mathematics
renders without internet (jupyter-book's default loads MathJax from a CDN).

MathJax comes from the pinned PyPI package ``django-static-mathjax`` (MathJax 3.2.2);
only the combined TeX/CHTML component and its web fonts are copied into ``_static``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

TARGET = Path("_static") / "mathjax"


def _mathjax_source() -> Path:
    spec = importlib.util.find_spec("mathjax")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is missing: pip install django-static-mathjax==3.2.2.1")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"


def _set_path(app, config):
    config.mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source, target = _mathjax_source(), Path(app.outdir) / TARGET
    fonts = Path("output") / "chtml" / "fonts" / "woff-v2"
    (target / fonts).mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "tex-mml-chtml.js", target / "tex-mml-chtml.js")
    for font in (source / fonts).glob("*.woff"):
        shutil.copy2(font, target / fonts / font.name)


def setup(app):
    _mathjax_source()  # fail at the start of the build, not at the end
    app.connect("config-inited", _set_path)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
