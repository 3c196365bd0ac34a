"""CRQ scoring: element scores, facet composites, level scores and the CRQ index.

Everything is read from the :class:`~crqlab.data.instruments.Instrument`: which items make an element,
which elements are facet composites, which items are reverse-keyed, the index weights.

Scoring rules (defaults, all configurable):

- an item answered "don't know" is missing, never zero;
- reverse-keyed items are scored ``min + max - x`` first;
- a facet score is the mean of its answered items; an element with facets (Solution, Service) is
  the mean of its answered facets; an element with items is the mean of its answered items;
- an element is scored when at least ``min_answered`` of its items (or facets) are answered:
  a fraction (default 0.5: at least half) or a whole number;
- a level score is the mean of its scored elements;
- the CRQ index is the weighted mean of the element scores (equal weights by default) and is
  scored only when every weighted element is scored (``index_min_elements`` relaxes that).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crqlab.data.instruments import Instrument
from crqlab.data.privacy import suppress_small
from crqlab.errors import InsufficientDataError
from crqlab.stats import z_crit

__all__ = ["score_items", "summarise_scores", "score_columns", "cluster_mean"]


def _required(k: int, min_answered: float) -> int:
    if min_answered <= 0:
        return 1
    if min_answered < 1:
        return max(1, math.ceil(min_answered * k - 1e-9))
    return min(int(min_answered), k)


def _group_means(values: np.ndarray, groups: list[list[int]], need: list[int]) -> np.ndarray:
    """Row means of column groups, NaN-aware, as two matrix products (one pass over the data).

    ``values`` is n x p with NaN for missing; ``groups[g]`` lists the columns of group g; a
    group is scored where at least ``need[g]`` of its columns are answered.
    """
    member = np.zeros((values.shape[1], len(groups)))
    for g, cols in enumerate(groups):
        member[cols, g] = 1.0
    answered = ~np.isnan(values)
    sums = np.where(answered, values, 0.0) @ member
    counts = answered.astype(np.float64) @ member
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return np.where(counts >= np.asarray(need, dtype=float), means, np.nan)


def score_items(df: pd.DataFrame, instrument: Instrument, *, min_answered: float = 0.5,
                index_min_elements: int | None = None, facets: bool = True,
                levels: bool = True) -> pd.DataFrame:
    """Score every respondent on the instrument's elements, facets, levels and index.

    Parameters
    ----------
    df : DataFrame
        One row per respondent with the instrument's item columns (1-7, missing allowed).
    instrument : Instrument
        E.g. ``load_instrument("crq")``.
    min_answered : float
        Minimum share (< 1) or number (>= 1) of answered items/facets to score an element.
    index_min_elements : int, optional
        Elements that must be scored for the index; default all weighted elements.
    facets, levels : bool
        Also return facet scores (``<facet>``) and level scores (``level_<name>``).

    Returns
    -------
    DataFrame
        Same index as ``df``; element columns in instrument order, then the index
        (``crq_index`` for CRQ), facets and levels. Float64 with NaN where not scored.

    Notes
    -----
    Validated in ``tests/measures/test_scoring.py`` against hand-computed scores (missing items,
    reverse keying, facet composites, the minimum-answered rule) and against a plain pandas
    row-mean implementation on generated data.
    """
    missing = [i for i in instrument.items if i not in df.columns]
    if missing:
        raise InsufficientDataError(f"items missing from the data: {missing}")
    lo, hi = instrument.scale_min, instrument.scale_max
    items = instrument.items
    col = {item: j for j, item in enumerate(items)}
    x = np.empty((len(df), len(items)))
    for j, item in enumerate(items):
        c = df[item]
        if not pd.api.types.is_numeric_dtype(c):
            c = pd.to_numeric(c, errors="coerce")
        x[:, j] = c.to_numpy(dtype=np.float64, na_value=np.nan)
    rev = [col[i] for i in instrument.reverse_keyed]
    if rev:
        x[:, rev] = lo + hi - x[:, rev]
    # facets and item-level elements from the items, then composite elements from facets
    direct = [(name, el) for name, el in instrument.elements.items() if not el.is_composite]
    facet_list = [(f, fitems) for el in instrument.elements.values() if el.is_composite
                  for f, fitems in el.facets.items()]
    level1 = [[col[i] for i in el.items] for _, el in direct] + \
        [[col[i] for i in fitems] for _, fitems in facet_list]
    need1 = [_required(len(g), min_answered) for g in level1]
    first = _group_means(x, level1, need1) if level1 else np.empty((len(df), 0))
    out: dict[str, np.ndarray] = {name: first[:, g] for g, (name, _) in enumerate(direct)}
    facet_out = {f: first[:, len(direct) + k] for k, (f, _) in enumerate(facet_list)}
    composites = [(name, el) for name, el in instrument.elements.items() if el.is_composite]
    if composites:
        fidx = {f: k for k, (f, _) in enumerate(facet_list)}
        fmat = first[:, len(direct):]
        groups = [[fidx[f] for f in el.facets] for _, el in composites]
        comp = _group_means(fmat, groups, [_required(len(g), min_answered) for g in groups])
        out.update({name: comp[:, g] for g, (name, _) in enumerate(composites)})
    out = {name: out[name] for name in instrument.elements}  # instrument order
    if instrument.index_name:
        weights = instrument.index_weights or {e: 1.0 for e in instrument.elements}
        names = [e for e, w in weights.items() if w != 0]
        w = np.array([weights[e] for e in names], dtype=float)
        block = np.column_stack([out[e] for e in names])
        ok = ~np.isnan(block)
        need = len(names) if index_min_elements is None else int(index_min_elements)
        with np.errstate(invalid="ignore", divide="ignore"):
            idx = np.nansum(block * w, axis=1) / (ok * w).sum(axis=1)
        out[instrument.index_name] = np.where(ok.sum(axis=1) >= need, idx, np.nan)
    result = pd.DataFrame(out, index=df.index)
    if facets and facet_out:
        result = result.join(pd.DataFrame(facet_out, index=df.index))
    if levels:
        names = list(instrument.elements)
        lv = instrument.levels
        els = np.column_stack([out[e] for e in names])
        means = _group_means(els, [[names.index(e) for e in lv[k]] for k in lv], [1] * len(lv))
        for g, level in enumerate(lv):
            result[f"level_{level}"] = means[:, g]
    return result


def score_columns(instrument: Instrument, *, facets: bool = False, levels: bool = False) -> list[str]:
    """Names of the score columns :func:`score_items` produces (elements, then the index)."""
    cols = list(instrument.elements)
    if instrument.index_name:
        cols.append(instrument.index_name)
    if facets:
        cols += [f for el in instrument.elements.values() for f in el.facets]
    if levels:
        cols += [f"level_{lv}" for lv in instrument.levels]
    return cols


def cluster_mean(values, clusters=None, ci: float = 0.95) -> dict:
    """Mean with a CI; cluster-robust (respondents within accounts) when clusters are given.

    Without clusters: t interval on n - 1 df. With clusters: the linearised (ratio-estimator)
    variance ``k / (k - 1) * sum_c (sum_{i in c} (y_i - ybar))^2 / n^2`` and a t interval on
    k - 1 df, as in survey-package cluster designs with equal weights.

    Notes
    -----
    The clustered SE equals the cluster-robust (CR1-free, HC0-style with the k/(k-1)
    correction) SE of an intercept-only OLS; checked against statsmodels in
    ``tests/measures/test_scoring.py``.
    """
    y = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
    mask = y.notna().to_numpy()
    yv = y.to_numpy()[mask]
    n = int(yv.size)
    res = {"est": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": n}
    if n == 0:
        return res
    est = float(yv.mean())
    res["est"] = est
    if clusters is None:
        if n < 2:
            return res
        se, dof = float(yv.std(ddof=1) / np.sqrt(n)), n - 1
    else:
        cl = pd.Series(clusters).to_numpy()[mask]
        codes, uniq = pd.factorize(cl)
        k = len(uniq)
        res["n_accounts"] = k
        if k < 2:
            return res
        sums = np.bincount(codes, weights=yv - est, minlength=k)
        se, dof = float(np.sqrt(k / (k - 1) * np.sum(sums**2)) / n), k - 1
    from scipy import stats as st

    t = float(st.t.ppf(0.5 + ci / 2, dof)) if dof > 0 else z_crit(ci)
    res.update(se=se, ci_low=est - t * se, ci_high=est + t * se)
    return res


def summarise_scores(scored: pd.DataFrame, columns: list[str] | None = None, by=None,
                     cluster: str | pd.Series | None = None, ci: float = 0.95,
                     min_cell_size: int = 0) -> pd.DataFrame:
    """Tidy table of mean scores with CIs: one row per (group, score).

    Parameters
    ----------
    scored : DataFrame
        Output of :func:`score_items`, possibly with grouping columns joined.
    columns : list of str, optional
        Score columns to summarise (default: every numeric column not used for grouping).
    by : str or list of str, optional
        Grouping columns (``wave``, ``role``, ``account_id``...).
    cluster : str, optional
        Column of cluster labels (``account_id``) for cluster-robust intervals.
    min_cell_size : int
        Groups with fewer respondents are kept as rows with ``suppressed`` True and their
        numbers (``n`` too) blanked; the groups of the last ``by`` column partition each value
        of the others (per score), so a second group is suppressed wherever one alone would be
        recoverable from the total (complementary suppression,
        :func:`crqlab.data.privacy.suppress_small`).

    Returns
    -------
    DataFrame
        Columns ``[*by, score, est, se, ci_low, ci_high, n, (n_accounts), suppressed]``.
    """
    by = [by] if isinstance(by, str) else list(by or [])
    clus = scored[cluster] if isinstance(cluster, str) else cluster
    if columns is None:
        columns = [c for c in scored.columns if c not in by and c != cluster
                   and pd.api.types.is_numeric_dtype(scored[c])]
    rows = []
    groups = scored.groupby(by, observed=True, sort=True, dropna=False) if by else [((), scored)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        for c in columns:
            stats = cluster_mean(g[c], None if clus is None else clus.loc[g.index], ci)
            rows.append(dict(zip(by, key)) | {"score": c} | stats)
    out = pd.DataFrame(rows)
    order = [*by, "score", "est", "se", "ci_low", "ci_high", "n"]
    if "n_accounts" in out:
        order.append("n_accounts")
    out = out[order].assign(suppressed=False)
    if min_cell_size:
        out = suppress_small(out, "n", min_cell_size, value_cols=order[len(by) + 1:],
                             partition=[*by[:-1], "score"] if by else False)
    return out
