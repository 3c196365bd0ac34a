"""Path diagrams of structural models with matplotlib (no graphviz).

A path diagram shows each construct as an ellipse (latent variable) or a box (observed
variable), each hypothesised path as an arrow labelled with its standardised estimate, solid
when the path is significant and dashed when it is not::

    from crqlab.reports import pathdiagram
    fit = sem.fit_sem(sem.kmv_crq_model(), data)
    table = fit.hypotheses(alpha=0.05)                 # source, target, std_all, p_value
    pathdiagram.path_diagram(table, latent=fit.model.indicators, alpha=0.05, n=fit.n,
                             r_squared=fit.r_squared.set_index("variable")["r2"])

Nodes are placed in columns (:func:`layered_layout`): constructs without incoming paths on the
left, constructs without outgoing paths on the right, every other construct one column after
its furthest predecessor; within a column, nodes sit near the mean height of their
predecessors. An arrow that would cross another node is drawn as an arc around it.
"""
from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = ["layered_layout", "path_diagram", "fit_diagram"]

#: Width and height of a node in data units (the diagram is drawn with equal aspect).
NODE_WIDTH = 2.3
NODE_HEIGHT = 1.05


def _order(edges: list[tuple[str, str]], nodes: Iterable[str] | None) -> list[str]:
    seen: dict[str, None] = {}
    for v in nodes or ():
        seen.setdefault(v, None)
    for s, t in edges:
        seen.setdefault(s, None)
        seen.setdefault(t, None)
    return list(seen)


def _layers(order: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    preds = {v: [s for s, t in edges if t == v] for v in order}
    succs = {v: [t for s, t in edges if s == v] for v in order}
    layer: dict[str, int] = {}
    pending = list(order)
    while pending:
        ready = [v for v in pending if all(p in layer for p in preds[v])]
        if not ready:
            raise ValueError(f"the paths form a cycle among {sorted(pending)}; a path diagram "
                             "needs a recursive (acyclic) model")
        for v in ready:
            layer[v] = max((layer[p] + 1 for p in preds[v]), default=0)
        pending = [v for v in pending if v not in ready]
    last = max(layer.values(), default=0)
    for v in order:  # outcomes (no outgoing path) share the last column
        if preds[v] and not succs[v]:
            layer[v] = last
    return layer


def _spread(target: list[float], gap: float) -> list[float]:
    """Positions as close to ``target`` (sorted, descending) as a minimum ``gap`` allows."""
    y = list(target)
    for i in range(1, len(y)):
        y[i] = min(y[i], y[i - 1] - gap)
    shift = float(np.mean(target) - np.mean(y))
    return [v + shift for v in y]


def layered_layout(edges: Iterable[tuple[str, str]], nodes: Iterable[str] | None = None, *,
                   x_gap: float = 3.4, y_gap: float = 1.5) -> dict[str, tuple[float, float]]:
    """Node positions for a path diagram: columns by path depth, rows by predecessor height.

    Parameters
    ----------
    edges : iterable of (source, target)
        The directed paths; they must not form a cycle.
    nodes : iterable of str, optional
        All nodes in display order (default: order of first appearance in ``edges``).
        Isolated nodes go in the first column.
    x_gap, y_gap : float
        Distance between columns; smallest vertical distance between nodes of a column.

    Returns
    -------
    dict
        Node -> ``(x, y)``; column ``k`` is at ``x = k * x_gap``, the first column runs from
        the top down in display order and is centred on ``y = 0``.

    Raises
    ------
    ValueError
        The paths form a cycle.

    Notes
    -----
    Sources (no incoming path) are in column 0, sinks (no outgoing path) in the last column,
    every other node one column after its furthest predecessor (longest-path layering). In
    later columns nodes are sorted by the mean height of their predecessors (the barycentre
    heuristic, which reduces crossings) and pushed apart to at least ``y_gap``. Checked in
    ``tests/reports/test_pathdiagram.py`` on the CRQ form of KMV, Morgan & Hunt's model and its rival.
    """
    edges = [(str(s), str(t)) for s, t in edges]
    order = _order(edges, nodes)
    layer = _layers(order, edges)
    pos: dict[str, tuple[float, float]] = {}
    for k in range(max(layer.values(), default=-1) + 1):
        members = [v for v in order if layer[v] == k]
        if k == 0:
            ys = [(len(members) - 1) / 2 * y_gap - i * y_gap for i in range(len(members))]
            pos.update({v: (0.0, y) for v, y in zip(members, ys)})
            continue
        centre = {v: float(np.mean([pos[s][1] for s, t in edges if t == v and s in pos]))
                  if any(t == v and s in pos for s, t in edges) else 0.0 for v in members}
        members.sort(key=lambda v: (-centre[v], order.index(v)))
        ys = _spread([centre[v] for v in members], y_gap)
        pos.update({v: (k * x_gap, y) for v, y in zip(members, ys)})
    return pos


def _boundary(centre, towards, latent: bool) -> np.ndarray:
    """Where the segment from a node's centre towards ``towards`` leaves the node."""
    c = np.asarray(centre, float)
    d = np.asarray(towards, float) - c
    a, b = NODE_WIDTH / 2, NODE_HEIGHT / 2
    if not d.any():
        return c
    if latent:
        t = 1 / np.sqrt((d[0] / a) ** 2 + (d[1] / b) ** 2)
    else:
        t = min(a / abs(d[0]) if d[0] else np.inf, b / abs(d[1]) if d[1] else np.inf)
    return c + t * d


def _curve_points(p1, p2, rad: float, k: int = 40) -> np.ndarray:
    """Points on matplotlib's ``arc3`` connection (a quadratic Bezier) in data units."""
    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    dx, dy = p2 - p1
    ctrl = (p1 + p2) / 2 + rad * np.array([dy, -dx])
    t = np.linspace(0, 1, k)[:, None]
    return (1 - t) ** 2 * p1 + 2 * (1 - t) * t * ctrl + t ** 2 * p2


def _hits(points: np.ndarray, pos: Mapping, skip: set[str], margin: float = 0.12) -> int:
    """How many nodes (other than ``skip``) the points pass through (with a margin)."""
    a, b = NODE_WIDTH / 2 + margin, NODE_HEIGHT / 2 + margin
    return sum(bool(np.any((np.abs(points[:, 0] - x) < a) & (np.abs(points[:, 1] - y) < b)))
               for v, (x, y) in pos.items() if v not in skip)


def _route(start, end, pos, skip) -> float:
    """Curvature (``arc3`` rad) of an arrow: 0 unless a straight line crosses another node,
    else the smallest bend that avoids every node (the fewest nodes crossed if none does)."""
    options = (0.0, 0.2, -0.2, 0.35, -0.35, 0.5, -0.5)
    crossed = [_hits(_curve_points(start, end, rad), pos, skip) for rad in options]
    return options[int(np.argmin(crossed))]


def _place_label(points: np.ndarray, placed: list[np.ndarray]) -> np.ndarray:
    """A point along an arrow (its middle if free) whose label does not cover another's."""
    k = len(points) - 1
    best, best_gap = points[k // 2], -np.inf
    for frac in (0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8):
        p = points[int(round(frac * k))]
        # overlap measure: label boxes are about 0.7 x 0.35 data units
        gap = min((max(abs(p[0] - q[0]) / 0.7, abs(p[1] - q[1]) / 0.35) for q in placed),
                  default=np.inf)
        if gap >= 1.0:
            return p
        if gap > best_gap:
            best, best_gap = p, gap
    return best


def _label(name: str, labels: Mapping | None, width: int = 16) -> str:
    text = (labels or {}).get(name) or name.replace("_", " ")
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _number(x, digits: int) -> str:
    return "–" if x is None or pd.isna(x) else f"{float(x):.{digits}f}".replace("-", "−")


def path_diagram(paths: pd.DataFrame, *, latent: Iterable[str] = (), alpha: float = 0.05,
                 r_squared: Mapping | pd.Series | None = None, labels: Mapping | None = None,
                 positions: Mapping | None = None, ax=None, title: str | None = None,
                 n: int | None = None, n_accounts: int | None = None, note: str | None = None,
                 digits: int = 2):
    """Draw a path diagram with standardised estimates.

    Parameters
    ----------
    paths : DataFrame
        One row per path: ``source, target, std_all, p_value`` (what
        :meth:`crqlab.models.sem.SemFit.hypotheses` returns).
    latent : iterable of str
        Latent variables (drawn as ellipses); every other node is observed (a box). A dict of
        latent -> indicators (``SemModel.indicators``) works too.
    alpha : float
        A path with ``p_value < alpha`` is drawn solid, any other (including a missing
        p-value) dashed and grey.
    r_squared : mapping, optional
        Node -> R-squared, printed under the name of endogenous nodes.
    labels : mapping, optional
        Node -> display name (default: the name with underscores as spaces).
    positions : mapping, optional
        Node -> (x, y); default :func:`layered_layout`.
    ax : matplotlib Axes, optional
        Drawn into a new figure sized to the diagram when omitted.
    title, note : str, optional
        Title; a line under the diagram (e.g. what the numbers are).
    n, n_accounts : int, optional
        Respondents (accounts) behind the estimates, stated under the diagram.
    digits : int
        Decimals of the estimates.

    Returns
    -------
    matplotlib Axes
        Each arrow is a ``FancyArrowPatch`` and each estimate a ``Text`` with ``gid``
        ``"source->target"``; each node patch and name has ``gid`` ``"node:<name>"``.

    Raises
    ------
    ValueError
        Empty ``paths``, missing columns, or paths that form a cycle.

    Notes
    -----
    Drawing only; the numbers are the caller's. ``tests/reports/test_pathdiagram.py`` checks that
    every path of the input becomes one arrow with its estimate, in the right style, between
    the right shapes, and that no arrow crosses a node on the KMV models.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch

    from crqlab.reports.plotting import n_text

    need = {"source", "target", "std_all", "p_value"}
    if not need <= set(paths.columns):
        raise ValueError(f"paths needs columns {sorted(need)}; got {list(paths.columns)}")
    if paths.empty:
        raise ValueError("no paths to draw")
    edges = list(zip(paths["source"].astype(str), paths["target"].astype(str)))
    latent = set(latent)
    if positions is None:
        fan_in = max(sum(t == v for _, t in edges) for v in {t for _, t in edges})
        positions = layered_layout(edges, x_gap=max(3.4, 0.75 * fan_in + 1.0))
    pos = dict(positions)
    missing = {v for e in edges for v in e} - set(pos)
    if missing:
        raise ValueError(f"no position for {sorted(missing)}")
    xs = np.array([p[0] for p in pos.values()])
    ys = np.array([p[1] for p in pos.values()])
    pad = 0.5
    x_lim = (xs.min() - NODE_WIDTH / 2 - pad, xs.max() + NODE_WIDTH / 2 + pad)
    y_lim = (ys.min() - NODE_HEIGHT / 2 - pad, ys.max() + NODE_HEIGHT / 2 + pad)
    if ax is None:
        w, h = x_lim[1] - x_lim[0], y_lim[1] - y_lim[0]
        scale = min(1.0, 11.0 / w)
        _, ax = plt.subplots(figsize=(max(5.0, w * scale), max(2.5, h * scale + 0.9)))
    r2 = dict(r_squared.items()) if r_squared is not None else {}

    for v, (x, y) in pos.items():
        style = dict(facecolor="#eef4fa" if v in latent else "#f7f7f7", edgecolor="0.2", lw=1.2,
                     gid=f"node:{v}", zorder=2)
        if v in latent:
            ax.add_patch(Ellipse((x, y), NODE_WIDTH, NODE_HEIGHT, **style))
        else:
            ax.add_patch(FancyBboxPatch((x - NODE_WIDTH / 2, y - NODE_HEIGHT / 2), NODE_WIDTH,
                                        NODE_HEIGHT, boxstyle="square,pad=0", **style))
        text = _label(v, labels)
        if v in r2 and not pd.isna(r2[v]) and any(t == v for _, t in edges):
            text += f"\nR² = {_number(r2[v], digits)}"
        ax.text(x, y, text, ha="center", va="center", fontsize=8, linespacing=1.1, zorder=3, gid=f"node:{v}")

    placed: list[np.ndarray] = []
    for row in paths.itertuples(index=False):
        s, t = str(row.source), str(row.target)
        significant = bool(pd.notna(row.p_value) and row.p_value < alpha)
        start = _boundary(pos[s], pos[t], s in latent)
        end = _boundary(pos[t], pos[s], t in latent)
        rad = _route(start, end, pos, {s, t})
        colour = "0.15" if significant else "0.45"
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                     connectionstyle=f"arc3,rad={rad}", color=colour, lw=1.3,
                                     linestyle="-" if significant else "--", zorder=1,
                                     gid=f"{s}->{t}", shrinkA=0, shrinkB=0))
        mid = _place_label(_curve_points(start, end, rad), placed)
        placed.append(mid)
        ax.text(mid[0], mid[1], _number(row.std_all, digits), ha="center", va="center",
                fontsize=8, color=colour, zorder=4, gid=f"{s}->{t}",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))

    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    lines = [f"standardised estimates; solid: p < {alpha:g}, dashed: not significant"]
    if n is not None:
        lines.append(n_text(n, n_accounts))
    if note:
        lines.append(note)
    ax.set_xlabel("\n".join(lines), fontsize=8.5)
    if title:
        ax.set_title(title)
    return ax


def fit_diagram(fit, paths: pd.DataFrame | None = None, *, alpha: float = 0.05,
                labels: Mapping | None = None, title: str | None = None,
                note: str | None = None, cluster: str | None = "account_id", ax=None):
    """:func:`path_diagram` of a fitted structural model, with its R², n and clusters.

    Parameters
    ----------
    fit : crqlab.models.sem.SemFit
        The fit: its latent variables are ellipses, ``fit.r_squared`` is printed on the
        endogenous nodes, ``fit.n`` (and the number of ``cluster`` values among the rows it
        used, when ``fit.data`` has that column) under the diagram.
    paths : DataFrame, optional
        ``source, target, std_all, p_value`` per path; default ``fit.hypotheses(alpha)``.
    alpha, labels, title, note, ax
        As in :func:`path_diagram`.
    cluster : str, optional
        Column of ``fit.data`` counted as clusters (accounts); ``None`` for none.

    Returns
    -------
    matplotlib Axes

    Notes
    -----
    Tested in ``tests/reports/test_pathdiagram.py`` on a fit of the CRQ form of KMV: the
    same arrows, R² and n as :func:`path_diagram` given them by hand.
    """
    table = fit.hypotheses(alpha) if paths is None else paths
    r2 = fit.r_squared.set_index("variable")["r2"]
    n_accounts = (fit.data[cluster].nunique()
                  if cluster is not None and cluster in fit.data.columns else None)
    return path_diagram(table, latent=fit.model.indicators, alpha=alpha, r_squared=r2,
                        labels=labels, title=title, n=fit.n, n_accounts=n_accounts, note=note,
                        ax=ax)
