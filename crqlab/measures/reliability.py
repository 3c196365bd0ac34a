"""Internal-consistency reliability per instrument element.

Cronbach's alpha (raw and standardised) with Feldt intervals, McDonald's omega total and
composite reliability from a one-factor minres model, and the average variance extracted;
omega hierarchical (Schmid-Leiman) beside omega total for multidimensional scales.
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
from crqlab.stats import cluster_bootstrap_weights

__all__ = ["feldt_ci", "scale_reliability", "element_components", "reliability",
           "one_factor_minres", "minres_factors", "schmid_leiman", "omega_hierarchical"]

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


# ----------------------------------------------------------------------------------------------
# Omega hierarchical (Schmid-Leiman), as psych::omega
# ----------------------------------------------------------------------------------------------

def minres_factors(r: np.ndarray, n_factors: int) -> np.ndarray:
    """Unrotated minres (unweighted least squares) loadings of a correlation matrix.

    Minimises the sum of squared off-diagonal residuals ``sum_{i != j} (r_ij - (L L')_ij)^2``
    (communalities at most 0.995, as ``psych::fa``) and returns the principal axes of the
    fitted reduced matrix (columns by decreasing eigenvalue, each summing to >= 0).

    Raises
    ------
    InsufficientDataError
        Fewer than ``2 n_factors + 1`` variables (the model is not identified).
    ConvergenceError
        The optimiser does not converge.
    """
    r = np.asarray(r, dtype=float)
    p = r.shape[0]
    if n_factors < 1 or p < 2 * n_factors + 1:
        raise InsufficientDataError(f"{n_factors} factors need at least {2 * n_factors + 1} "
                                    f"items, got {p}")
    iu = np.triu_indices(p, 1)
    target = r[iu]

    def resid(flat):
        lam = flat.reshape(p, n_factors)
        return target - (lam @ lam.T)[iu]

    def jac(flat):
        lam = flat.reshape(p, n_factors)
        j = np.zeros((iu[0].size, p, n_factors))
        rows = np.arange(iu[0].size)
        j[rows, iu[0], :] = -lam[iu[1]]
        j[rows, iu[1], :] = -lam[iu[0]]
        return j.reshape(iu[0].size, -1)

    reduced = r.copy()
    np.fill_diagonal(reduced, 1 - 1 / np.diag(np.linalg.inv(r)))  # squared multiple corr.
    w, v = np.linalg.eigh(reduced)
    start = v[:, ::-1][:, :n_factors] * np.sqrt(np.maximum(w[::-1][:n_factors], 1e-3))
    fit = _opt.least_squares(resid, start.ravel(), jac=jac, method="trf", xtol=1e-15,
                             ftol=1e-15, gtol=1e-15, max_nfev=20_000)
    if fit.status <= 0:
        raise ConvergenceError(f"minres with {n_factors} factors did not converge: "
                               f"{fit.message}")
    lam = fit.x.reshape(p, n_factors)
    h2 = (lam ** 2).sum(axis=1)
    if h2.max() > _MAX_H2 + 1e-9:  # a Heywood case: bound the communalities as psych does
        def resid_psi(h):
            red = r.copy()
            np.fill_diagonal(red, h)
            ww, vv = np.linalg.eigh(red)
            ll = vv[:, ::-1][:, :n_factors] * np.sqrt(np.maximum(ww[::-1][:n_factors], 0))
            return target - (ll @ ll.T)[iu]

        hfit = _opt.least_squares(resid_psi, np.minimum(h2, _MAX_H2), bounds=(0, _MAX_H2),
                                  xtol=1e-15, ftol=1e-15, gtol=1e-15)
        h2 = hfit.x
    reduced = r.copy()
    np.fill_diagonal(reduced, h2)
    w, v = np.linalg.eigh(reduced)
    lam = v[:, ::-1][:, :n_factors] * np.sqrt(np.maximum(w[::-1][:n_factors], 0))
    return lam * np.where(lam.sum(axis=0) < 0, -1.0, 1.0)


def _varimax(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """R's ``stats::varimax`` (Kaiser-normalised), as ``psych::fa(rotate = "varimax")``."""
    sc = np.sqrt((x ** 2).sum(axis=1))
    z0 = x / sc[:, None]
    p, k = z0.shape
    t = np.eye(k)
    d = 0.0
    for _ in range(1000):
        z = z0 @ t
        b = z0.T @ (z ** 3 - z * (z ** 2).sum(axis=0) / p)
        u, s, vt = np.linalg.svd(b)
        t = u @ vt
        d_past, d = d, s.sum()
        if d < d_past * (1 + eps):
            break
    return (z0 @ t) * sc[:, None]


def _oblimin(a: np.ndarray, eps: float = 1e-5, max_iter: int = 1000):
    """Direct quartimin (oblimin, gamma 0) by gradient projection: GPArotation's ``GPFoblq``
    with its step rules, from the identity. Returns the pattern loadings and factor
    correlations."""
    k = a.shape[1]
    off = 1 - np.eye(k)

    def vgq(lam):
        x = (lam ** 2) @ off
        return lam * x, float(np.sum(lam ** 2 * x) / 4)

    t = np.eye(k)
    lam = a.copy()
    gq, f = vgq(lam)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    al = 1.0
    for _ in range(max_iter + 1):
        gp = g - t * np.sum(t * g, axis=0)
        s = float(np.sqrt(np.sum(gp ** 2)))
        if s < eps:
            break
        al *= 2
        for _ in range(11):
            x = t - al * gp
            tt = x / np.sqrt(np.sum(x ** 2, axis=0))
            lam = a @ np.linalg.inv(tt).T
            gqt, ft = vgq(lam)
            if f - ft > 0.5 * s ** 2 * al:
                break
            al /= 2
        t, f = tt, ft
        g = -(lam.T @ gqt @ np.linalg.inv(tt)).T
    else:
        raise ConvergenceError(f"oblimin rotation did not converge in {max_iter} iterations")
    return a @ np.linalg.inv(t).T, t.T @ t


def schmid_leiman(r: np.ndarray, n_factors: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Schmid-Leiman general and group loadings of a correlation matrix, as ``psych::schmid``.

    ``n_factors`` minres factors, varimax then oblimin; one minres factor of their
    correlations gives the general loadings ``g = pattern @ g_factor``; the group loadings are
    the pattern times ``sqrt(1 - g_factor^2)``.

    Returns
    -------
    (DataFrame, ndarray)
        Per item ``g, F1, ..., Fk, h2, u2`` (``h2`` the communality, ``u2 = 1 - h2``) and the
        factor correlation matrix.

    Raises
    ------
    InsufficientDataError
        Fewer than 3 factors (a general factor of 2 is not identified) or too few items.
    """
    if n_factors < 3:
        raise InsufficientDataError(f"omega hierarchical needs 3+ group factors (a general "
                                    f"factor of {n_factors} is not identified)")
    orth = _varimax(minres_factors(r, n_factors))
    pattern, phi = _oblimin(orth)
    gload = one_factor_minres(phi)
    g = pattern @ gload
    group = pattern * np.sqrt(np.clip(1 - gload ** 2, 0, None))
    h2 = (orth ** 2).sum(axis=1)
    out = pd.DataFrame(group, columns=[f"F{i + 1}" for i in range(n_factors)])
    out.insert(0, "g", g)
    out["h2"], out["u2"] = h2, 1 - h2
    return out, phi


def _omega_point(x: pd.DataFrame, n_factors: int, missing: str) -> dict:
    _, cor, n = _matrices(x, missing)
    k = x.shape[1]
    if not np.isfinite(cor).all():
        raise InsufficientDataError(f"correlations of {list(x.columns)} are not all defined "
                                    f"(a constant item or a pair never answered together; "
                                    f"n = {n})")
    sl, _ = schmid_leiman(cor, n_factors)
    key = np.where(sl["g"].to_numpy() < 0, -1.0, 1.0)
    m = cor * np.outer(key, key)
    g = sl["g"].to_numpy() * key
    vt = m.sum()
    u2 = sl["u2"].sum()
    ev = (sl[["g"] + [f"F{i + 1}" for i in range(n_factors)]] ** 2).sum(axis=0)
    return {"n_items": k, "n": n, "n_factors": n_factors,
            "omega_h": g.sum() ** 2 / vt, "omega_total": (vt - u2) / vt,
            "omega_limit": g.sum() ** 2 / (vt - u2),
            "alpha": (vt - k) / vt * k / (k - 1), "ecv": ev["g"] / ev.sum(),
            "n_flipped": int((key < 0).sum())}


def omega_hierarchical(items: pd.DataFrame, n_factors: int = 3, missing: str = "pairwise",
                       *, n_boot: int = 200, cluster=None, ci: float = 0.95,
                       seed: int = 0) -> pd.Series:
    """Omega hierarchical and omega total of a multidimensional scale, as ``psych::omega``.

    Parameters
    ----------
    items : pandas.DataFrame
        One column per item (any keying: items loading negatively on the general factor are
        reversed, psych's ``flip``); NaN = missing.
    n_factors : int
        Group factors (3 or more; psych's default is 3).
    missing : {"pairwise", "listwise"}
        Correlations from all pairs answered (psych's default) or from complete rows.
    n_boot : int
        Bootstrap resamples for the percentile intervals of omega_h and omega_total (0: no
        interval, NaN bounds).
    cluster : array-like, optional
        Cluster label per row (e.g. account): whole clusters are resampled. Default: rows.
    ci : float
        Interval level.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.Series
        ``n_items, n, n_factors, omega_h`` (variance of the total score due to the general
        factor), ``omega_total`` (due to all common factors), ``omega_limit`` (omega_h /
        omega_total, psych's ``omega.lim``), ``alpha`` (of the flipped items), ``ecv``
        (explained common variance of g), ``n_flipped`` (items reversed for g),
        ``omega_h_ci_low, omega_h_ci_high, omega_total_ci_low, omega_total_ci_high`` and
        ``n_boot, n_failed`` (resamples whose factoring or rotation failed, left out).

    Notes
    -----
    Schmid-Leiman on minres factors rotated by varimax then oblimin (:func:`schmid_leiman`);
    with ``V`` the sum of the flipped correlation matrix, ``omega_h = (sum g)^2 / V`` and
    ``omega_total = (V - sum u2) / V``. The oblimin solution is a local optimum reached from
    the varimax solution, exactly as psych reaches it (GPArotation's step rules). Intervals
    are bootstrap percentiles (psych's ``omega`` gives none; ``omegaSem`` and its bootstrap
    are other routes). In planted bifactor data the estimate runs slightly low in finite
    samples (about .01 at n = 3000, 12 items), so the percentile interval can miss the
    population value; ``tests/measures/test_reliability.py`` records this. Validated
    against ``psych::omega(bfi[, 1:25], nfactors = 5)``: omega_h 0.4617, omega_total 0.8748
    (``tests/results/psych/make_omega.R``, ``tests/measures/test_reliability.py``).
    """
    x = items.apply(pd.to_numeric, errors="coerce").astype(float).reset_index(drop=True)
    out = _omega_point(x, n_factors, missing)
    draws, failed = [], 0
    if n_boot > 0:
        labels = np.arange(len(x)) if cluster is None else np.asarray(cluster)
        if labels.shape[0] != len(x):
            raise ValueError(f"cluster has {labels.shape[0]} labels for {len(x)} rows")
        codes, weights = cluster_bootstrap_weights(labels, n_boot, seed)
        for w in weights:
            rows = np.repeat(np.arange(len(x)), w[codes].astype(int))
            try:
                d = _omega_point(x.iloc[rows], n_factors, missing)
            except (ConvergenceError, InsufficientDataError, np.linalg.LinAlgError):
                failed += 1
                continue
            draws.append((d["omega_h"], d["omega_total"]))
    lo, hi = 50 * (1 - ci), 50 * (1 + ci)
    arr = np.array(draws) if draws else np.full((0, 2), np.nan)
    for j, name in enumerate(("omega_h", "omega_total")):
        bounds = np.percentile(arr[:, j], [lo, hi]) if len(arr) else (np.nan, np.nan)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = bounds
    out["n_boot"], out["n_failed"] = n_boot, failed
    return pd.Series(out)
