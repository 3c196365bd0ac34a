"""Measurement validity of a CFA: loadings, composite reliability, AVE, Fornell-Larcker, HTMT.

Build the measurement model from an instrument with :func:`cfa_model`, fit it with
:func:`crqlab.models.sem.fit_sem`, then read convergent validity (standardised loadings, composite
reliability, average variance extracted) and discriminant validity (the Fornell-Larcker
criterion and the heterotrait-monotrait ratio, HTMT) from the fit and the item data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crqlab.data.instruments import Instrument
from crqlab.errors import InsufficientDataError
from crqlab.models.sem import SemFit, SemModel, _as_instrument, _assemble, _element_indicators
from crqlab.stats import cluster_bootstrap_weights, htmt_matrix

__all__ = ["cfa_model", "standardized_loadings", "composite_reliability", "latent_correlations",
           "fornell_larcker", "htmt", "validity_summary"]


def cfa_model(instrument: Instrument | str = "crq", elements=None) -> SemModel:
    """Confirmatory factor model of an instrument: one factor per multi-item element, all
    factors correlated (single-item elements cannot be assessed and are left out).

    Notes
    -----
    The syntax is :func:`crqlab.models.sem.measurement_syntax`; fitted like lavaan's ``cfa()``.
    """
    inst = _as_instrument(instrument)
    indicators, alias = _element_indicators(inst, list(elements or inst.elements))
    notes = tuple(f"single-item element {e!r} ({i!r}) left out of the CFA"
                  for e, i in alias.items())
    return _assemble(f"{inst.name}_cfa", indicators, (), {}, (), notes)


def _indicators(fit: SemFit) -> dict[str, list[str]]:
    lam = fit.parameters[fit.parameters["op"] == "=~"]
    return {lat: list(g["rhs"]) for lat, g in lam.groupby("lhs", sort=False)}


def standardized_loadings(fit: SemFit) -> pd.DataFrame:
    """Loadings of every indicator: ``latent, item, est, se, p_value, std_all, r2``.

    ``r2`` is the indicator's squared standardised loading when it loads on one factor (the
    share of its variance the factor explains).
    """
    lam = fit.parameters[fit.parameters["op"] == "=~"]
    out = lam.rename(columns={"lhs": "latent", "rhs": "item"})[
        ["latent", "item", "est", "se", "p_value", "std_all"]].reset_index(drop=True)
    out["r2"] = out["std_all"] ** 2
    return out


def composite_reliability(fit: SemFit) -> pd.DataFrame:
    """Composite reliability and average variance extracted per latent variable.

    Returns
    -------
    DataFrame
        ``latent, n_items, cr, ave, sqrt_ave, min_loading, max_loading`` where, with
        standardised loadings ``l`` and standardised residual variances ``t``,
        ``cr = (sum l)^2 / ((sum l)^2 + sum t)`` and ``ave = mean(l^2)`` (Fornell & Larcker
        1981). Conventional thresholds: CR >= 0.7, AVE >= 0.5.

    Notes
    -----
    Validated against the same formulas applied to lavaan's ``standardizedSolution()`` of the
    HolzingerSwineford1939 CFA (``tests/models/test_validity.py``).
    """
    p = fit.parameters
    resid = p[(p["op"] == "~~") & (p["lhs"] == p["rhs"])].set_index("lhs")["std_all"]
    rows = []
    for lat, items in _indicators(fit).items():
        lam = p[(p["op"] == "=~") & (p["lhs"] == lat)]["std_all"].to_numpy()
        theta = resid.reindex(items).to_numpy()
        s = lam.sum() ** 2
        rows.append({"latent": lat, "n_items": len(items), "cr": s / (s + theta.sum()),
                     "ave": float(np.mean(lam ** 2)), "min_loading": lam.min(),
                     "max_loading": lam.max()})
    out = pd.DataFrame(rows)
    out.insert(4, "sqrt_ave", np.sqrt(out["ave"]))
    return out


def latent_correlations(fit: SemFit) -> pd.DataFrame:
    """Model-implied correlation matrix of the latent variables (lavaan's ``cor.lv``)."""
    from crqlab.models.sem import _variances

    grp = fit._problem.groups[0]
    grp.sm.update_matrices(fit._theta)
    _, inner_cov, _ = _variances(grp)
    names = list(grp.sm.vars["inner"])
    lat = [v for v in _indicators(fit)]
    idx = [names.index(v) for v in lat]
    c = inner_cov[np.ix_(idx, idx)]
    d = 1 / np.sqrt(np.diag(c))
    return pd.DataFrame(c * np.outer(d, d), index=lat, columns=lat)


def fornell_larcker(fit: SemFit) -> pd.DataFrame:
    """Fornell-Larcker criterion, one row per pair of latent variables.

    Returns
    -------
    DataFrame
        ``latent_a, latent_b, r`` (latent correlation), ``sqrt_ave_a, sqrt_ave_b`` and
        ``passes``: discriminant validity holds for the pair when ``|r|`` is below both square
        roots of AVE (Fornell & Larcker 1981).
    """
    cr = composite_reliability(fit).set_index("latent")["sqrt_ave"]
    cor = latent_correlations(fit)
    lat = list(cor.index)
    rows = []
    for i, a in enumerate(lat):
        for b in lat[i + 1:]:
            r = float(cor.loc[a, b])
            rows.append({"latent_a": a, "latent_b": b, "r": r, "sqrt_ave_a": cr[a],
                         "sqrt_ave_b": cr[b], "passes": bool(abs(r) < min(cr[a], cr[b]))})
    return pd.DataFrame(rows, columns=["latent_a", "latent_b", "r", "sqrt_ave_a", "sqrt_ave_b",
                                       "passes"])


def _weighted_corr(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    mean = w @ x / w.sum()
    xc = x - mean
    cov = (xc * w[:, None]).T @ xc / w.sum()
    d = 1 / np.sqrt(np.diag(cov))
    return cov * np.outer(d, d)


def htmt(data: pd.DataFrame, indicators, *, absolute: bool = False, n_boot: int = 0,
         cluster=None, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt 2015).

    ``HTMT(a, b)`` = mean correlation between the items of ``a`` and ``b`` divided by the
    geometric mean of the average within-construct item correlations of ``a`` and ``b``.

    Parameters
    ----------
    data : DataFrame
        Item responses; rows missing any item are dropped (listwise).
    indicators : dict, SemModel, SemFit or Instrument
        Construct -> items (each construct needs at least two items).
    absolute : bool
        Use absolute correlations (for scales with reverse-keyed items left unrecoded).
    n_boot : int
        If positive, a percentile bootstrap interval (rows, or whole ``cluster`` groups).
    cluster : str, optional
        Column of ``data`` whose groups (accounts) are resampled together.
    ci : float
        Interval level; the usual inference is "upper bound below 0.85 (or 0.90)".
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    DataFrame
        ``latent_a, latent_b, htmt, below_085, below_090, n`` (+ ``ci_low, ci_high, n_boot``
        when bootstrapped).

    Notes
    -----
    Validated against the formula computed in R on HolzingerSwineford1939
    (``tests/results/lavaan/make_lavaan.R``, ``tests/models/test_validity.py``).
    """
    blocks_map = _indicator_map(indicators)
    short = [k for k, v in blocks_map.items() if len(v) < 2]
    if short:
        raise InsufficientDataError(f"HTMT needs at least two items per construct; {short} "
                                    f"have one (n = {len(data)})")
    items = [i for v in blocks_map.values() for i in v]
    x = data[items].apply(pd.to_numeric, errors="coerce")
    keep = x.notna().all(axis=1)
    x = x[keep].to_numpy(dtype=float)
    if len(x) < 3:
        raise InsufficientDataError(f"HTMT needs complete item responses; n = {len(x)}")
    pos, blocks = 0, []
    for v in blocks_map.values():
        blocks.append(np.arange(pos, pos + len(v)))
        pos += len(v)
    point = htmt_matrix(np.corrcoef(x, rowvar=False), blocks, absolute)
    names = list(blocks_map)
    iu = np.triu_indices(len(names), 1)
    out = pd.DataFrame({"latent_a": [names[i] for i in iu[0]],
                        "latent_b": [names[j] for j in iu[1]], "htmt": point[iu]})
    out["below_085"] = out["htmt"] < 0.85
    out["below_090"] = out["htmt"] < 0.90
    out["n"] = len(x)
    if n_boot > 0:
        labels = (np.arange(len(x)) if cluster is None
                  else data.loc[keep, cluster].to_numpy())
        codes, weights = cluster_bootstrap_weights(labels, n_boot, seed)
        draws = np.array([htmt_matrix(_weighted_corr(x, w[codes]), blocks, absolute)[iu]
                          for w in weights])
        out["ci_low"] = np.nanpercentile(draws, 50 * (1 - ci), axis=0)
        out["ci_high"] = np.nanpercentile(draws, 50 * (1 + ci), axis=0)
        out["n_boot"] = n_boot
    return out


def _indicator_map(indicators) -> dict[str, list[str]]:
    if isinstance(indicators, SemFit):
        return _indicators(indicators)
    if isinstance(indicators, SemModel):
        return {k: list(v) for k, v in indicators.indicators.items()}
    if isinstance(indicators, Instrument):
        return indicators.element_items()
    return {k: list(v) for k, v in dict(indicators).items()}


def validity_summary(fit: SemFit, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per latent variable: convergent and discriminant validity at a glance.

    Returns
    -------
    DataFrame
        ``latent, n_items, cr, ave, sqrt_ave, max_r`` (largest absolute correlation with
        another latent), ``fornell_larcker`` (sqrt AVE above every such correlation),
        ``max_htmt`` (with ``data``, else NaN), ``cr_ok`` (>= 0.7), ``ave_ok`` (>= 0.5).
    """
    out = composite_reliability(fit)[["latent", "n_items", "cr", "ave", "sqrt_ave"]]
    cor = latent_correlations(fit).abs()
    cor = cor.mask(np.eye(len(cor), dtype=bool))
    out["max_r"] = out["latent"].map(cor.max(axis=1))
    out["fornell_larcker"] = out["sqrt_ave"] > out["max_r"]
    if data is not None:
        h = htmt(data, fit)
        both = pd.concat([h[["latent_a", "htmt"]].rename(columns={"latent_a": "latent"}),
                          h[["latent_b", "htmt"]].rename(columns={"latent_b": "latent"})])
        out["max_htmt"] = out["latent"].map(both.groupby("latent")["htmt"].max())
    else:
        out["max_htmt"] = np.nan
    out["cr_ok"] = out["cr"] >= 0.7
    out["ave_ok"] = out["ave"] >= 0.5
    return out
