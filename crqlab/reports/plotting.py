"""The house plot style: one look for every report, axes labelled with units and n.

Every study notebook calls :func:`apply_style` once (after its imports) and labels each axis
through :func:`label_axes` (or builds its plot with :func:`ci_plot`), so that each figure says
what was measured, on which scale, and on how many respondents::

    from crqlab.reports import plotting
    plotting.apply_style()
    ax = plotting.ci_plot(table, label="wave", unit="1-7 scale", title="CRQ index by wave")

Suppressed rows (``suppressed`` true: a group below the minimum cell size) are never drawn;
:func:`ci_plot` lists them in a note under the axis instead.

Figures a reader trusts: :func:`legend` builds a legend from the labelled series only (so its
colours are those of the lines) and puts it beside the plot, never over the data;
:func:`caption` gives a figure a caption (every reference line explained there; :func:`ci_plot`
writes its own). In a kernel, :func:`apply_style` makes every figure carry its title and
caption in the output's metadata, from which the report renderer writes the image's alt text
and a visible caption (:func:`figure_notes`).
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PALETTE", "STATUS_COLOURS", "UNITS", "apply_style", "axis_label", "label_axes",
           "n_text", "ci_plot", "share_bars", "trend_plot", "rate_plot", "benchmark_plot", "legend",
           "caption", "figure_notes"]

#: Colour-blind-safe qualitative palette (seaborn "colorblind").
PALETTE = "colorblind"
#: Fixed colours for recurring categories, so a promoter is the same green in every report.
STATUS_COLOURS: dict[str, str] = {
    "promoter": "#029e73", "passive": "#949494", "detractor": "#d55e00",
    "Ambassadors": "#029e73", "Rationals": "#0173b2", "Ambivalents": "#de8f05",
    "Stalkers": "#cc78bc", "Opponents": "#d55e00",
}
#: Units of the recurring measures, for axis labels.
UNITS: dict[str, str] = {
    "crq_index": "1-7 scale", "nps": "NPS, -100 to +100", "nps_mean": "0-10 scale",
    "response_rate": "%", "share": "%",
}


def _kernel_shell():
    """The IPython shell of a Jupyter kernel, else ``None``."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    return shell if shell is not None and "IPKernelApp" in getattr(shell, "config", {}) else None


def _inline_in_kernel() -> None:
    """In a Jupyter kernel, draw figures inline whatever MPLBACKEND says (a headless ``Agg``
    inherited from the shell would silently drop every figure from the executed notebook)."""
    shell = _kernel_shell()
    if shell is not None:
        import matplotlib as mpl

        if "inline" not in mpl.get_backend().lower():
            shell.run_line_magic("matplotlib", "inline")


#: Captions given with :func:`caption`, by figure (forgotten with the figure).
_CAPTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _figure_of(fig_or_ax):
    from matplotlib.figure import FigureBase

    return fig_or_ax if isinstance(fig_or_ax, FigureBase) else fig_or_ax.figure


def caption(fig_or_ax, text: str, *, append: bool = True):
    """Give a figure a caption: shown under it in the report and read into its alt text.

    Every reference line, band or marker that is not in the legend is explained here
    ("The dashed line marks the overall score, 5.93."). With ``append`` a second call adds a
    sentence, once: panels sharing a reference line explain it once. Returns the figure.
    """
    fig = _figure_of(fig_or_ax)
    text = " ".join(str(text).split())
    old = _CAPTIONS.get(fig, "")
    if append and text in old:
        return fig
    _CAPTIONS[fig] = f"{old} {text}".strip() if append and old else text
    return fig


def figure_notes(fig) -> dict[str, str]:
    """``title`` (the figure's suptitle, else its axes' titles joined by "; ") and ``caption``
    of a figure: what the report renderer writes as alt text and caption."""
    titles = []
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text().strip():
        titles.append(sup.get_text().strip())
    else:
        for ax in fig.axes:
            for loc in ("left", "center", "right"):
                t = ax.get_title(loc=loc).strip()
                if t:
                    titles.append(t)
    return {"title": "; ".join(titles), "caption": _CAPTIONS.get(fig, "")}


def _describing_printer(printer):
    """Wrap a PNG printer of figures so that it also returns the figure's title and caption
    as the output's metadata (IPython formatters may return ``(data, metadata)``)."""
    def describe(fig):
        data = printer(fig)
        if data is None or isinstance(data, tuple):
            return data
        return data, figure_notes(fig)

    describe._crqlab_describes = True
    return describe


def _describe_figures(shell) -> None:
    """In a kernel: every figure's PNG output carries its title and caption (metadata)."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.switch_backend(mpl.get_backend())  # the inline backend registers its printer now
    formatter = shell.display_formatter.formatters["image/png"]
    try:
        printer = formatter.lookup_by_type(Figure)
    except KeyError:
        return
    if not getattr(printer, "_crqlab_describes", False):
        formatter.for_type(Figure, _describing_printer(printer))


def apply_style(context: str = "notebook", font_scale: float = 1.0) -> None:
    """Apply the house style to matplotlib (seaborn "whitegrid", colour-blind palette).

    Also fixes figure size and resolution so report figures look alike, removes
    matplotlib's random SVG ids and dates so saved figures are reproducible, and turns off
    mathtext so that a ``$`` in a client's label is shown as it is. In a Jupyter kernel every
    figure shown carries its title and caption in the output's metadata (:func:`figure_notes`),
    for the report's alt text and caption.
    """
    import matplotlib as mpl
    import seaborn as sns

    _inline_in_kernel()
    shell = _kernel_shell()
    if shell is not None:
        _describe_figures(shell)
    sns.set_theme(context=context, style="whitegrid", palette=PALETTE, font_scale=font_scale)
    mpl.rcParams.update({
        "figure.figsize": (7.0, 4.2), "figure.dpi": 100, "savefig.dpi": 150,
        "savefig.bbox": "tight", "axes.titleweight": "bold", "axes.titlelocation": "left",
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "svg.hashsalt": "crqlab",
        # labels carry client strings (wave labels, roles, segment levels): "$...$" in one
        # is text, not mathtext (which would typeset it, or fail the figure on bad TeX)
        "text.parse_math": False,
    })


def axis_label(name: str, unit: str | None = None) -> str:
    """``"CRQ index (1-7 scale)"``: a quantity with its unit (looked up in :data:`UNITS`)."""
    unit = unit if unit is not None else UNITS.get(name)
    text = name.replace("_", " ") if name.islower() else name
    if name == "crq_index":
        text = "CRQ index"
    elif name == "nps":
        text = "Net Promoter Score"
    return f"{text} ({unit})" if unit else text


def n_text(n: Any, n_accounts: Any = None, what: str = "respondents") -> str:
    """``"n = 1,234 respondents in 56 accounts"``."""
    text = f"n = {int(n):,} {what}"
    if n_accounts is not None:
        text += f" in {int(n_accounts):,} accounts"
    return text


def label_axes(ax, *, x: str | None = None, y: str | None = None, x_unit: str | None = None,
               y_unit: str | None = None, n: Any = None, n_accounts: Any = None,
               n_what: str = "respondents", title: str | None = None, note: str | None = None):
    """Label a plot: axis names with units, a title, and n (and notes) under the x axis label.

    Parameters
    ----------
    ax : matplotlib Axes
    x, y : str, optional
        Quantity names (``"crq_index"``) or free text; units are appended.
    n, n_accounts : int, optional
        Respondents (and accounts) behind the plot, shown as ``n = ...``.
    n_what : str
        What ``n`` counts (``"respondents"``, ``"invited contacts"``, ``"accounts"``).
    note : str, optional
        Extra line under the n (e.g. "groups below 5 respondents suppressed").
    """
    if y is not None:
        ax.set_ylabel(axis_label(y, y_unit))
    if title:
        ax.set_title(title)
    lines = [axis_label(x, x_unit)] if x is not None else [ax.get_xlabel()]
    if n is not None:
        lines.append(n_text(n, n_accounts, n_what))
    if note:
        lines.append(note)
    ax.set_xlabel("\n".join(line for line in lines if line))
    return ax


def _visible(table: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    if "suppressed" in table:
        hidden = table["suppressed"].fillna(False).astype(bool).to_numpy()
    else:
        hidden = np.zeros(len(table), dtype=bool)
    hidden = hidden | table["est"].isna().to_numpy()
    return table.loc[~hidden], list(table.index[hidden])


def ci_plot(table: pd.DataFrame, label: str, *, quantity: str = "est", unit: str | None = None,
            value_name: str | None = None, title: str | None = None, ax=None,
            reference: float | None = None, colour: str | Mapping[str, str] | None = None,
            n_col: str = "n", n: int | None = None, n_accounts: int | None = None,
            n_what: str = "respondents", min_cell_size: int | None = None,
            reference_label: str | None = None):
    """Estimates with confidence intervals, one row per group (a horizontal "forest" plot).

    Parameters
    ----------
    table : DataFrame
        Tidy result with ``est``, ``ci_low``, ``ci_high`` and ``n`` (docs/naming.md) and a
        column ``label`` naming each row; ``suppressed`` rows are not drawn.
    label : str
        Column that names the rows (``"wave"``, ``"role"``, ``"element"``).
    value_name : str, optional
        Quantity name for the value axis (``"crq_index"``); default ``label`` is not used.
    reference : float, optional
        A vertical reference line (e.g. the overall score), explained in the caption.
    reference_label : str, optional
        What the reference line marks (``"the score of all respondents"``).
    n, n_accounts : int, optional
        Respondents (accounts) behind the whole plot; each row's ``n`` is in its tick label.
    """
    import matplotlib.pyplot as plt

    shown, hidden = _visible(table)
    if ax is None:
        height = max(2.2, 0.45 * len(shown) + 1.4)
        _, ax = plt.subplots(figsize=(7.0, height))
    names = shown[label].astype(str).tolist()
    ypos = np.arange(len(shown))[::-1]
    est = shown[quantity].astype(float).to_numpy()
    lo = shown["ci_low"].astype(float).to_numpy() if "ci_low" in shown else est
    hi = shown["ci_high"].astype(float).to_numpy() if "ci_high" in shown else est
    colours = ([colour.get(nm, "C0") for nm in names] if isinstance(colour, Mapping)
               else [colour or "C0"] * len(names))
    for y, e, a, b, c in zip(ypos, est, lo, hi, colours):
        _interval(ax, y, a, b, horizontal=True, colour=c)
        ax.plot([e], [y], "o", color=c)
    if n_col in shown:
        names = [f"{nm}  (n={int(k):,})" for nm, k in zip(names, shown[n_col])]
    ax.set_yticks(ypos, names)
    ax.set_ylim(-0.6, max(len(shown), 1) - 0.4)
    if reference is not None:
        ax.axvline(reference, color="0.5", ls="--", lw=1)
        caption(ax.figure, f"The dashed grey line marks {reference_label or 'the reference value'}"
                           f" ({reference:.2f}).")
    ax.grid(axis="y", visible=False)
    note = None
    if hidden:
        note = (f"{len(hidden)} group(s) not shown: below the minimum cell size"
                + (f" of {min_cell_size}" if min_cell_size else ""))
    label_axes(ax, x=value_name or quantity, x_unit=unit, title=title, note=note, n=n,
               n_accounts=n_accounts, n_what=n_what)
    return ax


def _interval(ax, pos, low: float, high: float, *, horizontal: bool, colour) -> None:
    """Draw the interval [low, high] at ``pos`` as a capped line, exactly where it lies.

    Unlike ``errorbar``, which takes distances from the estimate and refuses negative ones,
    this draws an interval that does not contain its estimate (a percentile bootstrap can
    give one) where it is, rather than failing or clipping it. A missing bound draws nothing.
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return
    if horizontal:
        xs, ys, cap = [low, high], [pos, pos], "|"
    else:
        xs, ys, cap = [pos, pos], [low, high], "_"
    ax.plot(xs, ys, color=colour, lw=1.5, gid="ci")
    ax.plot(xs, ys, cap, color=colour, ms=8, gid="ci_cap")


def share_bars(table: pd.DataFrame, label: str, *, title: str | None = None, ax=None,
               order: list[str] | None = None, n: int | None = None,
               n_what: str = "respondents"):
    """Shares (``est`` in 0-1, with ``ci_low``/``ci_high``) as horizontal bars in percent.

    Colours come from :data:`STATUS_COLOURS` where the label is a known category.
    """
    import matplotlib.pyplot as plt

    shown, hidden = _visible(table)
    if order is not None:
        shown = shown.set_index(label).reindex([o for o in order if o in set(shown[label])]
                                               ).reset_index()
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, max(2.2, 0.45 * len(shown) + 1.4)))
    names = shown[label].astype(str).tolist()
    ypos = np.arange(len(shown))[::-1]
    est = 100 * shown["est"].astype(float).to_numpy()
    ax.barh(ypos, est, color=[STATUS_COLOURS.get(nm, "C0") for nm in names])
    if {"ci_low", "ci_high"} <= set(shown.columns):
        for y, a, b in zip(ypos, 100 * shown["ci_low"].astype(float).to_numpy(),
                           100 * shown["ci_high"].astype(float).to_numpy()):
            _interval(ax, y, a, b, horizontal=True, colour="0.2")
    ax.set_yticks(ypos, names)
    ax.grid(axis="y", visible=False)
    note = f"{len(hidden)} group(s) suppressed (below the minimum cell size)" if hidden else None
    label_axes(ax, x="share", x_unit="%", title=title, n=n, n_what=n_what, note=note)
    return ax


def trend_plot(table: pd.DataFrame, x: str = "wave", *, value_name: str | None = None,
               unit: str | None = None, labels: Mapping[Any, str] | None = None,
               title: str | None = None, ax=None, colour: str = "C0", n: int | None = None,
               n_what: str = "respondents", label: str | None = None):
    """Estimates with confidence intervals over waves (or any ordered ``x``), joined by a line.

    Suppressed rows are left out (a gap, with a note). ``labels`` maps x values to tick labels
    (e.g. wave number -> year). ``label`` names the series for :func:`legend` (its interval
    bars stay out of the legend).
    """
    import matplotlib.pyplot as plt

    shown, hidden = _visible(table)
    if ax is None:
        _, ax = plt.subplots()
    xs = shown[x].to_numpy()
    est = shown["est"].astype(float).to_numpy()
    ax.plot(xs, est, "-o", color=colour, lw=1.5, label=label if label else "_nolegend_")
    if {"ci_low", "ci_high"} <= set(shown.columns):
        for xv, a, b in zip(xs, shown["ci_low"].astype(float).to_numpy(),
                            shown["ci_high"].astype(float).to_numpy()):
            _interval(ax, xv, a, b, horizontal=False, colour=colour)
    ticks = list(table[x])
    ax.set_xticks(ticks, [labels.get(t, str(t)) if labels else str(t) for t in ticks])
    note = f"{len(hidden)} point(s) suppressed (below the minimum cell size)" if hidden else None
    label_axes(ax, x=x, y=value_name or "est", y_unit=unit, title=title, n=n, n_what=n_what,
               note=note)
    return ax


def benchmark_plot(bench: pd.DataFrame, placed: Sequence[tuple[str, float, str]], *,
                   title: str | None = None):
    """Where each score falls among the benchmark's companies: one histogram per placed
    ``(column, estimate, unit)``, the estimate as a red line and the top decile's edge dotted.
    Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(placed), figsize=(5 * len(placed), 3.6), squeeze=False)
    for ax, (name, est, unit) in zip(axes[0], placed):
        values = bench[name].dropna()
        ax.hist(values, bins=20, color="0.75")
        ax.axvline(np.quantile(values, 0.9), color="0.3", ls=":", lw=1)
        ax.axvline(est, color="C3", lw=2)
        label_axes(ax, x=name, x_unit=unit, y="companies", n=len(values),
                   n_what="benchmark companies")
    if title:
        axes[0][0].set_title(title, loc="left")
    return fig


def rate_plot(table: pd.DataFrame, label: str, *, measure: str = "response_rate",
              title: str | None = None, reference: float | None = None,
              min_cell_size: int | None = None, n: int | None = None,
              n_what: str = "invited contacts", ax=None):
    """One rate per group in percent, with intervals, on a 0-100 axis (a :func:`ci_plot`).

    Parameters
    ----------
    table : DataFrame
        Long rate table (``crqlab.models.nonresponse.response_rates``): ``label``, ``measure``,
        ``est, ci_low, ci_high`` as shares 0-1, ``n`` and ``suppressed``.
    measure : str
        The rows drawn (``"response_rate"`` or ``"completion_rate"``).
    reference : float, optional
        A share (0-1) drawn as a dashed line, e.g. the overall rate.
    """
    t = table[table["measure"] == measure].copy()
    t[["est", "ci_low", "ci_high"]] = 100 * t[["est", "ci_low", "ci_high"]]
    ax = ci_plot(t, label, value_name=measure, unit="% of invited contacts", title=title,
                 reference=None if reference is None else 100 * reference,
                 min_cell_size=min_cell_size, n=n, n_what=n_what, ax=ax)
    ax.set_xlim(0, 100)
    return ax


def legend(ax, *, where: str = "right", title: str | None = None):
    """A legend of the labelled series only, beside the plot (never over the data).

    Built from the artists that carry a label (interval bars and reference lines carry none),
    so each entry has the colour of its series; ``where`` is ``"right"`` (outside the axes,
    top right) or ``"below"`` (under the x-axis label). Returns the legend, or ``None`` when
    nothing is labelled.

    Notes
    -----
    Tested in ``tests/reports/test_plotting.py``: handle colours equal the colours of the lines
    they name, and the legend's bounding box overlaps no data artist's once drawn.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    if where == "below":
        place = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.22), "ncol": min(len(handles), 4)}
    else:
        place = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0)}
    return ax.legend(handles, labels, title=title, borderaxespad=0.0, frameon=False, **place)
