"""Plot helpers shared by the chapters: one style, bands over runs, theory overlays."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns


def use_book_style() -> None:
    """The book's figure style (call once at the top of a chapter)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (8, 4.5),
                         "axes.titlesize": "medium"})
    try:  # crisp PNGs in the executed notebooks (the book shows them as images)
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # outside a notebook
        pass


def band(ax, x, values, label=None, color=None, quantiles=(0.05, 0.95), center="median",
         alpha=0.2, **line):
    """Plot the centre (median or mean) of ``values`` (shape ``(runs, len(x))``) and a
    shaded band between two quantiles over runs."""
    values = np.asarray(values)
    middle = np.median(values, axis=0) if center == "median" else values.mean(axis=0)
    (drawn,) = ax.plot(x, middle, label=label, color=color, **line)
    low, high = np.quantile(values, quantiles, axis=0)
    ax.fill_between(x, low, high, color=drawn.get_color(), alpha=alpha, linewidth=0)
    return drawn


def wide(table, column, index="generation", columns="run"):
    """A tidy table's ``column`` as an array ``(runs, generations)``."""
    return table.pivot(index=index, columns=columns, values=column).to_numpy().T
