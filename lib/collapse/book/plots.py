"""Plot helpers shared by the chapters: one style, readable at the page's width, bands over
runs, and the book's number format for tables."""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

# The text column of a chapter page at a 1280-px-wide window is 660 px; a figure is
# shown at most that wide. Text drawn at TEXT_POINTS on a figure COLUMN_INCHES wide (at
# 100 dpi) is TEXT_POINTS · 100/72 px on the page; a wider figure is shrunk to the column,
# so its text is enlarged in proportion (see readable()).
COLUMN_INCHES = 6.6
TEXT_POINTS = 10.0
SIGNIFICANT_DIGITS = 4  # numbers in tables: four significant digits unless a chapter rounds


def use_book_style() -> None:
    """The book's figure and table style (call once at the top of a chapter): seaborn's
    colour-blind palette, every figure made readable at the page's width when it is shown
    (:func:`readable`), and tables that print numbers to four significant digits and
    never cut a cell short."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (6.6, 4),
                         "axes.titlesize": "medium"})
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.float_format", number)
    try:  # PNGs in notebooks, every figure made readable first
        # the inline backend sets its own figure formatters when it is first imported:
        # import it now, so that the book's formatter below replaces them
        import matplotlib_inline.backend_inline  # noqa: F401
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:  # outside IPython
        return
    shell = get_ipython()
    if shell is not None:
        for formatter in shell.display_formatter.formatters.values():
            formatter.pop(Figure, None)
        shell.display_formatter.formatters["image/png"].for_type(Figure, png)
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)


def png(fig) -> bytes:
    """The figure as the book shows it: :func:`readable`, then a PNG (100 dpi, tight
    bounding box) that records its smallest text size in points (``Smallest-Text-Pt``),
    so a test can check how large that text is on the page."""
    from IPython.core.pylabtools import print_figure

    smallest = smallest_text(readable(fig))
    return print_figure(fig, "png", base64=True, metadata={"Smallest-Text-Pt": f"{smallest:g}"})


def smallest_text(fig) -> float:
    """The size in points of the smallest non-empty text of ``fig`` (tick labels included)."""
    fig.canvas.draw()  # ticks and their labels exist once drawn
    sizes = [text.get_fontsize() for text in _texts(fig)]
    return min(sizes) if sizes else TEXT_POINTS


def readable(fig):
    """Enlarge every text of ``fig`` smaller than ``TEXT_POINTS`` on a figure of the page's
    column width (more on a wider figure, which the page shrinks to the column): titles,
    labels, legends and the major and minor tick labels. The width is that of the saved
    PNG, the tight bounding box (a legend outside the axes widens it), so it is measured
    again after each enlargement. Titles wrap at the figure's edge: a title wider than the
    figure would widen the PNG as it grows, and the page would shrink it back. Returns
    ``fig``."""
    for title in [*fig.texts, *(ax.title for ax in fig.axes)]:  # fig.texts: the suptitle
        title.set_wrap(True)
    for _ in range(4):
        fig.canvas.draw()  # tick labels exist once drawn
        shown = fig.get_tightbbox().width + 2 * 0.1  # print_figure pads 0.1 in each side
        smallest = TEXT_POINTS * max(1.0, max(fig.get_figwidth(), shown) / COLUMN_INCHES)
        grew = False
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                for which in ("major", "minor"):
                    labels = [t for t in axis.get_ticklabels(which=which)
                              if t.get_text().strip()]
                    if labels and min(t.get_fontsize() for t in labels) < smallest - 1e-9:
                        axis.set_tick_params(which=which, labelsize=smallest)
                        grew = True
        for text in _texts(fig):
            if text.get_fontsize() < smallest - 1e-9:
                text.set_fontsize(smallest)
                grew = True
        if not grew:
            break
        with warnings.catch_warnings():  # a layout tight_layout cannot improve stays
            warnings.simplefilter("ignore")
            fig.tight_layout()
    return fig


def _texts(fig):
    """Every visible, non-empty text of ``fig``: titles, labels, tick labels, legends."""
    from matplotlib.text import Text

    return [text for text in fig.findobj(Text)
            if text.get_visible() and text.get_text().strip()]


def table_html(table: pd.DataFrame) -> str:
    """A table as the book shows it: numbers by :func:`number`, "—" for a missing value,
    every cell whole (the site scrolls a table wider than the column)."""
    return table.to_html(na_rep="—", float_format=number, border=0,
                         classes="collapse-table")


def number(value) -> str:
    """A table's number: integers with thousands separators, other numbers to
    ``SIGNIFICANT_DIGITS`` significant digits (no float noise such as 146.800003),
    scientific only below 1e-4 or from 1e7, and "—" for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    magnitude = abs(value)
    if magnitude < 1e-4 or magnitude >= 1e7:
        mantissa, exponent = f"{value:.{SIGNIFICANT_DIGITS - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    decimals = max(0, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(magnitude)))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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


def ordered_palette(values) -> dict:
    """Colours for an ordered quantity (sample sizes, generations): ``value → colour`` along
    viridis, which stays distinct in lightness for colour-blind readers and in greyscale;
    its pale yellow end is left out so that every line shows on white."""
    values = list(values)
    points = np.linspace(0.0, 0.85, len(values)) if len(values) > 1 else [0.4]
    colors = plt.get_cmap("viridis")(points)
    return dict(zip(values, (tuple(c) for c in colors), strict=True))
