"""Internal-consistency reliability per instrument element.

Cronbach's alpha (raw and standardised) with Feldt intervals, McDonald's omega total and
composite reliability from a one-factor minres model, and the average variance extracted.
Which columns make an element is read from the :class:`~crqlab.data.instruments.Instrument`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize as _opt
from scipy import stats as _st

from crqlab.data.instruments import Instrument
from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.measures.scoring import score_items

__all__ = ["feldt_ci", "scale_reliability", "element_components", "reliability",
           "one_factor_minres"]

_MAX_H2 = 0.995  # psych::fa bounds uniquenesses at 0.005 (communality at most 0.995)


def feldt_ci(alpha, n, k, ci: float = 0.95):
    """Feldt (1965) interval for coefficient alpha.

    ``1 - alpha`` is scaled by F quantiles with ``n - 1`` and ``(n - 1)(k - 1)`` degrees of
    freedom: ``low = 1 - (1 - alpha) F(1 - a/2)``, ``high = 1 - (1 - alpha) F(a/2)``, where
    ``a = 1 - ci``. This is psych's ``alpha.ci`` (reported by ``psych::alpha`` as "Feldt").

    Returns
    -------
    tuple of float
        ``(ci_low, ci_high)``; NaN when ``n < 2`` or ``k < 2``.
    """
    if n < 2 or k < 2 or not np.isfinite(alpha):
        return np.nan, np.nan
    a = 1 - ci
    df1, df2 = n - 1, (n - 1) * (k - 1)
    low = 1 - (1 - alpha) * _st.f.ppf(1 - a / 2, df1, df2)
    high = 1 - (1 - alpha) * _st.f.ppf(a / 2, df1, df2)
    return float(low), float(high)


def one_factor_minres(r: np.ndarray) -> np.ndarray:
    """Loadings of a one-factor minres (unweighted least squares) model of a correlation matrix.

    Minimises the sum of squared off-diagonal residuals ``sum_{i<j} (r_ij - l_i l_j)^2`` with
    communalities bounded at 0.995 (as ``psych::fa``); the sign is set so loadings sum >= 0.

    Raises
    ------
    ConvergenceError
        When the optimiser does not converge.
    InsufficientDataError
        With fewer than 3 variables (a one-factor model is not identified).
    """
    r = np.asarray(r, dtype=float)
    k = r.shape[0]
    if k < 3:
        raise InsufficientDataError(f"a one-factor model needs 3+ items, got {k}")
    iu = np.triu_indices(k, 1)
    target = r[iu]

    def resid(lam):
        return target - np.outer(lam, lam)[iu]

    def jac(lam):
        j = np.zeros((iu[0].size, k))
        rows = np.arange(iu[0].size)
        j[rows, iu[0]] = -lam[iu[1]]
        j[rows, iu[1]] = -lam[iu[0]]
        return j

    w, v = np.linalg.eigh(r)
    start = np.clip(np.abs(v[:, -1]) * np.sqrt(max(w[-1], 1e-6)), 0.05, 0.95)
    bound = np.sqrt(_MAX_H2)
    fit = _opt.least_squares(resid, start, jac=jac, bounds=(-bound, bound), method="trf",
                             xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=10_000)
    if fit.status <= 0:
        raise ConvergenceError(f"one-factor minres did not converge: {fit.message}")
    lam = fit.x
    return -lam if lam.sum() < 0 else lam


def _matrices(x: pd.DataFrame, missing: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Covariances, correlations (each pair's own means and SDs under pairwise) and n."""
    if missing == "listwise":
        x = x.dropna()
        n = len(x)
    elif missing == "pairwise":
        n = int(x.notna().any(axis=1).sum())
    else:
        raise ValueError(f"missing must be 'pairwise' or 'listwise', got {missing!r}")
    return x.cov(ddof=1).to_numpy(), x.corr().to_numpy(), n


def scale_reliability(items: pd.DataFrame, ci: float = 0.95,
                      missing: str = "pairwise") -> pd.Series:
    """Reliability of one scale from its item (or component) columns.

    Parameters
    ----------
    items : pandas.DataFrame
        One column per item, already keyed (reverse-keyed items reversed); NaN = missing.
    ci : float
        Confidence level of the Feldt intervals.
    missing : {"pairwise", "listwise"}
        ``"pairwise"`` (psych's default): covariances from all pairs answered; ``n`` counts
        respondents who answered at least one item. ``"listwise"``: complete rows only.

    Returns
    -------
    pandas.Series
        ``n_items, n, alpha, alpha_ci_low, alpha_ci_high, alpha_std, alpha_std_ci_low,
        alpha_std_ci_high, omega_total, composite_reliability, ave``.

    Notes
    -----
    ``alpha = k/(k-1) (1 - tr(C)/sum(C))`` on the covariance matrix C; ``alpha_std`` the same on
    the correlation matrix R. Intervals: Feldt (see :func:`feldt_ci`), with the respondents
    ``n``; for ``alpha_std`` the same F formula is applied (psych ``alpha.ci``), an
    approximation since Feldt derived it for raw alpha.
    Omega total is McDonald's omega from a one-factor minres model of the correlation matrix,
    computed as ``psych::omega``: ``(sum(R) - sum(1 - l^2)) / sum(R)`` (total variance
    observed). As in psych, ``alpha_std`` uses ``cov2cor`` of the pairwise covariances while
    omega uses pairwise correlations (each pair's own means and SDs); the two coincide for
    listwise or complete data.
    Composite reliability uses the model-implied total instead:
    ``(sum l)^2 / ((sum l)^2 + sum(1 - l^2))``; ``ave`` is ``mean(l^2)``. Omega, CR and AVE
    need 3+ items (NaN otherwise); alpha needs 2+.
    Validated against ``psych::alpha`` (raw, std, Feldt bounds; pairwise and listwise) and
    ``psych::omega(nfactors = 1, fm = "minres")`` on psych's bfi five scales
    (``tests/results/psych/make_psych.R``).
    """
    x = items.apply(pd.to_numeric, errors="coerce").astype(float)
    k = x.shape[1]
    cov, pair_cor, n = _matrices(x, missing)
    out = {"n_items": k, "n": n}
    nan = dict.fromkeys(["alpha", "alpha_ci_low", "alpha_ci_high", "alpha_std",
                         "alpha_std_ci_low", "alpha_std_ci_high", "omega_total",
                         "composite_reliability", "ave"], np.nan)
    if k < 2 or n < 2 or not np.isfinite(cov).all() or (np.diag(cov) <= 0).any():
        return pd.Series(out | nan)
    sd = np.sqrt(np.diag(cov))
    cor = cov / np.outer(sd, sd)
    alpha = k / (k - 1) * (1 - np.trace(cov) / cov.sum())
    alpha_std = k / (k - 1) * (1 - k / cor.sum())
    lo, hi = feldt_ci(alpha, n, k, ci)
    slo, shi = feldt_ci(alpha_std, n, k, ci)
    out |= {"alpha": alpha, "alpha_ci_low": lo, "alpha_ci_high": hi, "alpha_std": alpha_std,
            "alpha_std_ci_low": slo, "alpha_std_ci_high": shi}
    if k >= 3:
        lam = one_factor_minres(pair_cor)
        u2 = 1 - lam**2
        out |= {"omega_total": (pair_cor.sum() - u2.sum()) / pair_cor.sum(),
                "composite_reliability": lam.sum() ** 2 / (lam.sum() ** 2 + u2.sum()),
                "ave": float(np.mean(lam**2))}
    else:
        out |= {"omega_total": np.nan, "composite_reliability": np.nan, "ave": np.nan}
    return pd.Series(out)


def element_components(items_df: pd.DataFrame, instrument: Instrument) -> dict[str, pd.DataFrame]:
    """The columns whose consistency is each element's reliability, keyed as scored.

    An element with items gives its items (reverse-keyed items as ``min + max - x``). A facet
    composite (CRQ Solution, Service) gives its facet scores, since its score is their mean;
    with single-item facets these are the items themselves. Facet scores come from
    :func:`crqlab.measures.scoring.score_items`, so the keying and missing rules are the scoring's own.
    """
    missing = [i for i in instrument.items if i not in items_df.columns]
    if missing:
        raise InsufficientDataError(f"items missing from the data: {missing}")
    lo, hi = instrument.scale_min, instrument.scale_max
    keyed = items_df[instrument.items].apply(pd.to_numeric, errors="coerce").astype(float)
    rev = [i for i in instrument.items if i in instrument.reverse_keyed]
    keyed[rev] = lo + hi - keyed[rev]
    facet_scores = None
    out = {}
    for name, el in instrument.elements.items():
        if el.is_composite:
            if facet_scores is None:
                facet_scores = score_items(items_df, instrument, facets=True, levels=False)
            out[name] = facet_scores[list(el.facets)]
        else:
            out[name] = keyed[list(el.items)]
    return out


def reliability(items_df: pd.DataFrame, instrument: Instrument, ci: float = 0.95,
                missing: str = "pairwise") -> pd.DataFrame:
    """Reliability of every element of an instrument: one row per element.

    Parameters
    ----------
    items_df : pandas.DataFrame
        One row per respondent with the instrument's item columns (on its scale, NaN missing).
    instrument : Instrument
        E.g. ``load_instrument("crq")``; gives items, facets and reverse keying.
    ci : float
        Confidence level of the Feldt intervals.
    missing : {"pairwise", "listwise"}
        See :func:`scale_reliability`.

    Returns
    -------
    pandas.DataFrame
        ``element, level`` then the columns of :func:`scale_reliability`. Single-item facets
        get no row of their own (a one-item reliability is undefined); a facet composite uses
        its facets as components (:func:`element_components`).

    Notes
    -----
    See :func:`scale_reliability` for the formulas and their validation against psych.
    """
    rows = []
    for name, comp in element_components(items_df, instrument).items():
        rel = scale_reliability(comp, ci=ci, missing=missing)
        rows.append({"element": name, "level": instrument.elements[name].level} | rel.to_dict())
    out = pd.DataFrame(rows)
    out[["n_items", "n"]] = out[["n_items", "n"]].astype(int)
    return out
