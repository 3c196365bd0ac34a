"""How NPS and CRQ go together: correlations, within/between accounts, drivers, categories.

Respondent-level and account-level correlations of NPS with the CRQ index and its elements,
the repeated-measures correlation across waves, a random-intercept model that separates the
within-account from the between-account association, driver analysis (relative weights and
dominance) with account-clustered bootstrap intervals, the NPS category by relationship
category cross-tab, "hidden risk" promoters, and the wave-to-wave volatility of satisfaction
against trust. Which measure best predicts retention lives in :mod:`crqlab.models.prediction`.

Every function takes a canonical respondent-level frame (one row per response) and returns a
tidy DataFrame named per ``docs/naming.md``.
"""
from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd
from scipy import stats as _st

from crqlab.data.instruments import Instrument, load_instrument
from crqlab.data.privacy import DEFAULT_MIN_CELL_SIZE, suppress_small
from crqlab.errors import InsufficientDataError
from crqlab.measures.nps import NPS_CATEGORIES, nps_category
from crqlab.models.mixed import fit_random_intercept
from crqlab.stats import cluster_bootstrap_weights, mean_ci, z_crit

__all__ = ["score_targets", "correlations", "account_correlations", "rm_corr", "within_between",
           "relative_weights", "dominance_analysis", "driver_analysis", "category_crosstab",
           "hidden_risk", "volatility"]

_CI_METHOD = {"pearson": "fisher_z", "spearman": "bonett_wright", "kendall": "fieller"}
_MIN_N = {"pearson": 4, "spearman": 4, "kendall": 5}


def score_targets(instrument: str | Instrument = "crq") -> list[str]:
    """The instrument's index name followed by its element names (``crq_index, trust, ...``)."""
    ins = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    head = [ins.index_name] if ins.index_name else []
    return head + list(ins.elements)


def _targets(y, instrument) -> list[str]:
    if y is None:
        return score_targets(instrument)
    return [y] if isinstance(y, str) else list(y)


def _numeric(data: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    return data[cols].apply(pd.to_numeric, errors="coerce").astype(float)


# ---------------------------------------------------------------------------------------------
# Correlations with intervals
# ---------------------------------------------------------------------------------------------
def _fisher_bounds(r: float, se_z: float, ci: float) -> tuple[float, float]:
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    half = z_crit(ci) * se_z
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def _corr_test(x: np.ndarray, y: np.ndarray, method: str, ci: float) -> dict:
    """One correlation with its interval and test; x, y complete, same length."""
    n = x.size
    if n < _MIN_N[method]:
        raise InsufficientDataError(
            f"{method} correlation needs at least {_MIN_N[method]} complete pairs, got n={n}")
    if method == "pearson":
        r = float(_st.pearsonr(x, y).statistic)
        se_z = 1 / np.sqrt(n - 3)
    elif method == "spearman":
        r = float(_st.spearmanr(x, y).statistic)
        se_z = np.sqrt((1 + r**2 / 2) / (n - 3))           # Bonett & Wright (2000)
    elif method == "kendall":
        res = _st.kendalltau(x, y, method="asymptotic")      # tau-b, tie-corrected variance
        r = float(res.statistic)
        se_z = np.sqrt(0.437 / (n - 4))                      # Fieller, Hartley & Pearson (1957)
    else:
        raise ValueError(f"method must be pearson, spearman or kendall, got {method!r}")
    if np.isnan(r):
        raise InsufficientDataError(f"{method} correlation undefined (a constant variable), n={n}")
    low, high = _fisher_bounds(r, se_z, ci)
    if method == "kendall":
        p = float(res.pvalue)
        stat, df = float(np.sign(r) * _st.norm.isf(p / 2)), np.nan   # z of the tau-b test
    else:  # t test on n - 2 df (R cor.test; for Spearman its exact=FALSE approximation)
        df = n - 2
        stat = r * np.sqrt(df / (1 - r**2)) if abs(r) < 1 else np.sign(r) * np.inf
        p = float(2 * _st.t.sf(abs(stat), df))
    return {"est": r, "ci_low": low, "ci_high": high, "n": n, "stat": float(stat),
            "df": float(df), "p_value": p, "ci_method": _CI_METHOD[method]}


def correlations(data: pd.DataFrame, x: str = "nps", y=None,
                 methods=("pearson", "spearman", "kendall"), ci: float = 0.95,
                 instrument: str | Instrument = "crq") -> pd.DataFrame:
    """Respondent-level correlations of ``x`` with each ``y``, with intervals and tests.

    Parameters
    ----------
    data : DataFrame
        One row per response.
    x : str
        The first variable (default ``nps``, the 0-10 answer).
    y : str or list of str, optional
        Second variables; default the instrument's index and elements (``crq_index``, ``trust``...).
    methods : sequence of {"pearson", "spearman", "kendall"}
    ci : float
        Confidence level.
    instrument : str or Instrument
        Where the default ``y`` comes from.

    Returns
    -------
    DataFrame
        ``x, y, method, est, ci_low, ci_high, n, stat, df, p_value, ci_method``; pairwise
        complete cases. ``stat`` is t on ``df = n - 2`` for Pearson and Spearman and the
        tie-corrected z for Kendall's tau-b (``df`` NaN).

    Notes
    -----
    Intervals are Fisher-z intervals with a method-specific standard error on the z scale:
    ``1/sqrt(n-3)`` for Pearson, Bonett & Wright (2000) ``sqrt((1 + r^2/2)/(n-3))`` for Spearman,
    Fieller, Hartley & Pearson (1957) ``sqrt(0.437/(n-4))`` for Kendall.
    Validated: estimates, statistics and p-values against R ``cor.test(exact = FALSE)`` and the
    Pearson interval against its Fisher interval (``tests/results/association``); the coverage of
    all three intervals, and recovery of the planted Pearson, Spearman (6/pi asin(rho/2)) and
    Kendall (2/pi asin(rho)) values, on bivariate-normal data with known rho
    (``tests/models/test_association.py``).

    These intervals treat responses as independent. Respondents cluster in accounts, so for
    inference that respects the clustering use :func:`account_correlations`,
    :func:`rm_corr` or :func:`within_between`.
    """
    ys = _targets(y, instrument)
    num = _numeric(data, [x] + [c for c in ys if c != x])
    rows = []
    for col in ys:
        ok = num[x].notna() & num[col].notna()
        xv, yv = num.loc[ok, x].to_numpy(), num.loc[ok, col].to_numpy()
        for m in methods:
            rows.append({"x": x, "y": col, "method": m, **_corr_test(xv, yv, m, ci)})
    return pd.DataFrame(rows)


def _unit_means(data: pd.DataFrame, units, cols: list[str]) -> pd.DataFrame:
    """Means of ``cols`` per unit (e.g. account), with ``n`` = rows of the unit."""
    keys = [units] if isinstance(units, str) else list(units)
    frame = pd.concat([data[keys], _numeric(data, cols)], axis=1)
    g = frame.groupby(keys, observed=True, sort=True)
    out = g[cols].mean()
    out["n"] = g.size()
    return out.reset_index()


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    w = w / w.sum()
    xc, yc = x - w @ x, y - w @ y
    return float((w @ (xc * yc)) / np.sqrt((w @ xc**2) * (w @ yc**2)))


def account_correlations(data: pd.DataFrame, x: str = "nps", y=None, account="account_id",
                         weighted: bool = True, methods=("pearson", "spearman", "kendall"),
                         ci: float = 0.95, instrument: str | Instrument = "crq") -> pd.DataFrame:
    """Correlations between account means, Pearson weighted by respondents per account.

    Parameters
    ----------
    data : DataFrame
        One row per response.
    x, y, methods, ci, instrument
        As in :func:`correlations`.
    account : str or list of str
        The unit: ``"account_id"`` pools all waves; ``["account_id", "wave"]`` gives
        account-wave units.
    weighted : bool
        Weight the Pearson correlation by the number of respondents of each unit. Spearman and
        Kendall are always unweighted (column ``weighted`` says which is which).

    Returns
    -------
    DataFrame
        ``x, y, method, weighted, est, ci_low, ci_high, n, n_accounts, n_eff, stat, df,
        p_value, ci_method``; ``n`` counts respondents, ``n_accounts`` units.

    Notes
    -----
    Each unit's mean uses its respondents with both answers. The weighted Pearson interval and
    test use Fisher's z with Kish's effective number of units ``n_eff = (sum w)^2 / sum w^2`` in
    place of n (an approximation: units of unequal size carry unequal information).
    Validated: the weighted estimate and ``n_eff`` against R ``cov.wt(..., cor = TRUE)``, the
    unweighted one against ``cor`` (``tests/results/association``).
    """
    ys = _targets(y, instrument)
    rows = []
    for col in ys:
        sub = data.loc[data[x].notna() & data[col].notna()]
        means = _unit_means(sub, account, [x, col])
        xv, yv, w = (means[x].to_numpy(), means[col].to_numpy(),
                     means["n"].to_numpy(dtype=float))
        n_eff = float(w.sum() ** 2 / (w**2).sum())
        base = {"x": x, "y": col, "n": int(w.sum()), "n_accounts": len(means)}
        for m in methods:
            res = _corr_test(xv, yv, m, ci)
            if m == "pearson" and weighted:
                if n_eff <= 3:
                    raise InsufficientDataError(
                        f"weighted correlation needs an effective n above 3, got n_eff={n_eff:.2f}")
                r = _weighted_pearson(xv, yv, w)
                low, high = _fisher_bounds(r, 1 / np.sqrt(n_eff - 3), ci)
                df = n_eff - 2
                stat = r * np.sqrt(df / (1 - r**2))
                res = {"est": r, "ci_low": low, "ci_high": high, "stat": stat, "df": df,
                       "p_value": float(2 * _st.t.sf(abs(stat), df)), "ci_method": "fisher_z_kish"}
            res.pop("n", None)
            rows.append({**base, "method": m, "weighted": bool(m == "pearson" and weighted),
                         "n_eff": n_eff if m == "pearson" and weighted else float(len(means)),
                         **res})
    cols = ["x", "y", "method", "weighted", "est", "ci_low", "ci_high", "n", "n_accounts",
            "n_eff", "stat", "df", "p_value", "ci_method"]
    return pd.DataFrame(rows)[cols]


# ---------------------------------------------------------------------------------------------
# Repeated measures and multilevel
# ---------------------------------------------------------------------------------------------
def _centre_within(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    sums = np.bincount(codes, weights=values, minlength=k)
    counts = np.bincount(codes, minlength=k)
    return values - (sums / counts)[codes]


def rm_corr(data: pd.DataFrame, x: str = "nps", y: str = "crq_index", subject="account_id",
            within: str | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Repeated-measures correlation (Bakdash & Marusich 2017): the common within-subject slope.

    Parameters
    ----------
    data : DataFrame
    x, y : str
        The two measures.
    subject : str
        The repeated unit (an account).
    within : str, optional
        If given (e.g. ``"wave"``), rows are first averaged per subject and ``within`` value, so
        each account contributes one point per wave.
    ci : float

    Returns
    -------
    DataFrame
        One row: ``x, y, est, ci_low, ci_high, stat, df, p_value, n, n_groups``. ``stat`` is t on
        ``df = N - k - 1`` (N points, k subjects with data); ``n`` counts points.

    Notes
    -----
    By the ANCOVA definition, r_rm = sign(b) sqrt(SS_x / (SS_x + SS_error)) in
    ``lm(y ~ factor(subject) + x)``, which equals the correlation of the within-subject centred
    values. The interval is Fisher's z with n = df + 2 (rmcorr >= 0.5.4).
    Validated on Bland & Altman (1995) against the rmcorr R package (r = -0.5067697, df = 38,
    p = 0.0008471081, 95% CI -0.7067146 to -0.2318631), against pingouin ``rm_corr``, and against
    R's ANCOVA on the committed synthetic study (``tests/results/association``).
    """
    cols = [x, y]
    frame = pd.concat([data[[subject] + ([within] if within else [])], _numeric(data, cols)],
                      axis=1).dropna()
    if within:
        frame = frame.groupby([subject, within], observed=True)[cols].mean().reset_index()
    codes, uniques = pd.factorize(frame[subject], sort=True)
    k, n = len(uniques), len(frame)
    df = n - k - 1
    if df < 2:
        raise InsufficientDataError(
            f"repeated-measures correlation needs N - k - 1 >= 2; N={n} points, k={k} subjects")
    xd = _centre_within(frame[x].to_numpy(), codes, k)
    yd = _centre_within(frame[y].to_numpy(), codes, k)
    r = float((xd @ yd) / np.sqrt((xd @ xd) * (yd @ yd)))
    stat = r * np.sqrt(df / (1 - r**2))
    low, high = _fisher_bounds(r, 1 / np.sqrt(df - 1), ci)
    return pd.DataFrame([{"x": x, "y": y, "est": r, "ci_low": low, "ci_high": high,
                          "stat": float(stat), "df": float(df),
                          "p_value": float(2 * _st.t.sf(abs(stat), df)), "n": n,
                          "n_groups": k}])


def within_between(data: pd.DataFrame, y: str = "nps", x: str = "crq_index",
                   group: str = "account_id", covariates=(), reml: bool = True,
                   ci: float = 0.95) -> pd.DataFrame:
    """Within- and between-account association in a random-intercept model.

    Fits ``y ~ x_within + x_between + covariates + (1 | group)`` where ``x_between`` is the
    group mean of ``x`` and ``x_within = x - x_between`` (person-mean, here account-mean,
    centring; Raudenbush & Bryk 2002; Enders & Tofighi 2007).

    Parameters
    ----------
    data : DataFrame
    y, x : str
        Outcome and predictor.
    group : str
        Cluster (account).
    covariates : sequence of str
        Further numeric fixed effects.
    reml : bool
        REML (default, as lme4) or ML.
    ci : float
        Level of the Wald intervals.

    Returns
    -------
    DataFrame
        Rows ``term`` = ``intercept``, ``<x>_within``, ``<x>_between``, covariates,
        ``contextual`` (between minus within, the account-level effect over and above the
        respondent-level one), ``var_account``, ``var_residual`` and ``icc``; columns ``est, se,
        ci_low, ci_high, stat, p_value, n, n_accounts`` (z tests; variance rows carry ``est``
        only). ``attrs`` holds ``loglik`` (REML or ML), ``boundary`` (the account variance is
        on the boundary, 0: a singular fit) and ``optimiser``.

    Raises
    ------
    ConvergenceError
        No optimiser reached the maximum of the likelihood (:mod:`crqlab.models.mixed`).

    Notes
    -----
    Fitted by :func:`crqlab.models.mixed.fit_random_intercept` (convergence guarded, checked
    against the profiled likelihood). Validated against R ``lme4::lmer(REML = TRUE)`` and
    ``REML = FALSE`` on the committed synthetic study: fixed effects, standard errors, the
    contextual contrast, variance components and log-likelihood
    (``tests/results/association/make_association.R``), and on the High School and Beyond
    data (ses within and between schools; ``tests/results/mixed/make_mixed.R``).
    """
    covs = list(covariates)
    num = _numeric(data, [y, x] + covs)
    frame = pd.concat([data[[group]], num], axis=1).dropna()
    codes, uniques = pd.factorize(frame[group], sort=True)
    k, n = len(uniques), len(frame)
    if k < 3 or n - k < 2:
        raise InsufficientDataError(
            f"within/between model needs at least 3 groups and repeated rows; n={n}, groups={k}")
    xv = frame[x].to_numpy()
    between = (np.bincount(codes, weights=xv, minlength=k) / np.bincount(codes, minlength=k))[codes]
    names = ["intercept", f"{x}_within", f"{x}_between"] + covs
    exog = np.column_stack([np.ones(n), xv - between, between] + [frame[c].to_numpy() for c in covs])
    fit = fit_random_intercept(frame[y].to_numpy(), exog, codes, reml=reml)
    est, cov = fit.fe_params, fit.cov_fe
    contrast = np.zeros(len(names))
    contrast[1], contrast[2] = -1.0, 1.0
    est = np.append(est, contrast @ est)
    se = np.append(np.sqrt(np.diag(cov)), np.sqrt(contrast @ cov @ contrast))
    zc = z_crit(ci)
    stat = est / se
    out = pd.DataFrame({"term": names + ["contextual"], "est": est, "se": se,
                        "ci_low": est - zc * se, "ci_high": est + zc * se, "stat": stat,
                        "p_value": 2 * _st.norm.sf(np.abs(stat))})
    var_acc, var_res = fit.var_group, fit.var_residual
    extra = pd.DataFrame({"term": ["var_account", "var_residual", "icc"],
                          "est": [var_acc, var_res, var_acc / (var_acc + var_res)]})
    out = pd.concat([out, extra], ignore_index=True)
    out["n"], out["n_accounts"] = n, k
    out.attrs.update(loglik=fit.loglik, boundary=fit.boundary, optimiser=fit.optimiser)
    return out


# ---------------------------------------------------------------------------------------------
# Relative importance: batched on correlation matrices so the bootstrap needs no Python loop
# ---------------------------------------------------------------------------------------------
def _corr_from_moments(nw, m1, m2) -> np.ndarray:
    """Correlation matrices (B, q, q) from weighted counts (B,), sums (B, q), cross sums (B, q, q)."""
    mean = m1 / nw[:, None]
    cov = m2 / nw[:, None, None] - mean[:, :, None] * mean[:, None, :]
    sd = np.sqrt(np.clip(np.einsum("bii->bi", cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def _relative_weights_batch(r: np.ndarray) -> np.ndarray:
    """Johnson (2000) raw relative weights from correlation matrices (B, p+1, p+1), y last."""
    rxx, rxy = r[:, :-1, :-1], r[:, :-1, -1]
    vals, vecs = np.linalg.eigh(rxx)
    vals = np.clip(vals, 0, None)
    half = np.einsum("bij,bj,bkj->bik", vecs, np.sqrt(vals), vecs)        # Rxx^(1/2)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_half = np.einsum("bij,bj,bkj->bik", vecs, 1 / np.sqrt(vals), vecs)
    beta = np.einsum("bij,bj->bi", inv_half, rxy)   # y regressed on the orthogonal Z
    return np.einsum("bij,bj->bi", half**2, beta**2)


def _subset_r2(r: np.ndarray, subset: tuple[int, ...]) -> np.ndarray:
    if not subset:
        return np.zeros(r.shape[0])
    idx = list(subset)
    rxx = r[:, idx][:, :, idx]
    rxy = r[:, idx, -1]
    return np.einsum("bi,bi->b", rxy, np.linalg.solve(rxx, rxy[:, :, None])[:, :, 0])


def _general_dominance_batch(r: np.ndarray) -> np.ndarray:
    """General dominance weights (Budescu 1993; Azen & Budescu 2003) from (B, p+1, p+1)."""
    p = r.shape[1] - 1
    if p > 12:
        raise ValueError(f"dominance analysis over {p} predictors needs 2^{p} fits; use <= 12")
    r2 = {s: _subset_r2(r, s) for k in range(p + 1) for s in combinations(range(p), k)}
    out = np.zeros((r.shape[0], p))
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for k in range(p):
            w = 1.0 / (p * comb(p - 1, k))
            for s in combinations(others, k):
                out[:, j] += w * (r2[tuple(sorted(s + (j,)))] - r2[s])
    return out


_IMPORTANCE = {"relative_weight": _relative_weights_batch, "general_dominance": _general_dominance_batch}


def _design(data: pd.DataFrame, y: str, xs: list[str], extra: list[str] = ()) -> pd.DataFrame:
    frame = pd.concat([data[list(extra)], _numeric(data, list(xs) + [y])], axis=1).dropna()
    if len(frame) <= len(xs) + 1:
        raise InsufficientDataError(
            f"importance analysis of {len(xs)} predictors needs more than {len(xs) + 1} complete "
            f"rows, n={len(frame)}")
    return frame


def _importance_table(frame, y, xs, measure) -> pd.DataFrame:
    z = frame[list(xs) + [y]].to_numpy()
    r = np.corrcoef(z, rowvar=False)[None]
    est = _IMPORTANCE[measure](r)[0]
    r2 = float(_subset_r2(r, tuple(range(len(xs))))[0])
    return pd.DataFrame({"predictor": list(xs), "measure": measure, "est": est,
                         "share": est / r2, "r_squared": r2, "n": len(frame)})


def relative_weights(data: pd.DataFrame, y: str = "nps", x=None,
                     instrument: str | Instrument = "crq") -> pd.DataFrame:
    """Johnson's (2000) relative weights of ``x`` in predicting ``y``.

    Parameters
    ----------
    data : DataFrame
    y : str
        Outcome (default ``nps``).
    x : list of str, optional
        Predictors; default the instrument's elements.

    Returns
    -------
    DataFrame
        ``predictor, measure, est, share, r_squared, n``: raw weights ``est`` (they sum to the
        model R^2) and ``share = est / R^2``. Listwise complete cases.

    Notes
    -----
    Validated against the published rwa README example (mtcars, mpg on cyl, disp, hp, gear:
    R^2 = 0.7791896; weights 0.2284797, 0.2221469, 0.2321744, 0.0963886), against a base-R
    implementation and ``lm`` R^2 on the committed study, and on uncorrelated predictors, where
    each weight must equal the squared correlation (planted truth).
    """
    xs = list(x) if x is not None else score_targets(instrument)[1:]
    return _importance_table(_design(data, y, xs), y, xs, "relative_weight")


def dominance_analysis(data: pd.DataFrame, y: str = "nps", x=None,
                       instrument: str | Instrument = "crq") -> pd.DataFrame:
    """General dominance weights (Budescu 1993), equal to relaimpo's LMG; they sum to R^2.

    Same arguments and columns as :func:`relative_weights` (``measure = "general_dominance"``).

    Notes
    -----
    Averages each predictor's R^2 increment over all subsets of the others, within subset size,
    then over sizes. Validated against an all-subsets ``lm`` computation in R on mtcars and the
    committed study (``tests/results/association/make_association.R``).
    """
    xs = list(x) if x is not None else score_targets(instrument)[1:]
    return _importance_table(_design(data, y, xs), y, xs, "general_dominance")


def _bootstrap_corr(z: np.ndarray, clusters, n_boot: int, seed, chunk: int = 500):
    """Correlation matrices of account-clustered bootstrap resamples, from per-cluster moments."""
    codes, blocks = cluster_bootstrap_weights(clusters, n_boot, seed, chunk=chunk)
    k = codes.max() + 1
    counts = np.bincount(codes, minlength=k).astype(float)
    s1 = np.zeros((k, z.shape[1]))
    np.add.at(s1, codes, z)
    s2 = np.zeros((k, z.shape[1], z.shape[1]))
    np.add.at(s2, codes, z[:, :, None] * z[:, None, :])
    for w in blocks:
        yield _corr_from_moments(w @ counts, w @ s1, np.einsum("bk,kij->bij", w, s2))


def driver_analysis(data: pd.DataFrame, y: str = "nps", x=None, account: str = "account_id",
                    measures=("relative_weight", "general_dominance"), n_boot: int = 2000,
                    seed: int | np.random.Generator | None = 0, ci: float = 0.95,
                    instrument: str | Instrument = "crq") -> pd.DataFrame:
    """Driver analysis of ``y`` on the elements: relative importance with clustered bootstrap CIs.

    Parameters
    ----------
    data : DataFrame
        One row per response with ``account`` and the variables.
    y : str
        Outcome (default ``nps``).
    x : list of str, optional
        Drivers; default the instrument's elements.
    account : str
        Resampling cluster: whole accounts are drawn with replacement.
    measures : sequence of {"relative_weight", "general_dominance"}
    n_boot : int
        Bootstrap resamples.
    seed : int or Generator
    ci : float

    Returns
    -------
    DataFrame
        One row per measure and predictor, plus a ``predictor = "r_squared"`` row per measure:
        ``predictor, measure, est, ci_low, ci_high, share, share_ci_low, share_ci_high, rank,
        n, n_accounts``. ``est`` is the raw weight (sums to R^2); ``share`` is est / R^2;
        intervals are bootstrap percentiles.

    Notes
    -----
    Resamples are drawn with :func:`crqlab.stats.cluster_bootstrap_weights`; each resample's
    correlation matrix comes from per-account sums of x and x x' (no loop over resamples), and
    the relative weights and dominance weights are computed for all resamples at once.
    Validated: point estimates as in :func:`relative_weights` / :func:`dominance_analysis`; the
    moment-based resampling reproduces weights computed on explicitly expanded resamples; the
    planted strongest driver ranks first in simulation (``tests/models/test_association.py``).
    """
    xs = list(x) if x is not None else score_targets(instrument)[1:]
    frame = _design(data, y, xs, [account])
    n_accounts = int(frame[account].nunique())
    if n_accounts < 2:
        raise InsufficientDataError(f"driver analysis needs at least 2 accounts to resample; "
                                    f"n_accounts = {n_accounts} (n = {len(frame)})")
    constant = [c for c in xs + [y] if frame[c].nunique() < 2]
    if constant:
        raise InsufficientDataError(f"driver analysis needs variation; constant: {constant} "
                                    f"(n = {len(frame)})")
    z = frame[xs + [y]].to_numpy()
    boots = {m: [] for m in measures}
    r2_boot = []
    for r in _bootstrap_corr(z, frame[account].to_numpy(), n_boot, seed):
        r2_boot.append(_subset_r2(r, tuple(range(len(xs)))))
        for m in measures:
            boots[m].append(_IMPORTANCE[m](r))
    r2_boot = np.concatenate(r2_boot)
    alpha = (1 - ci) / 2
    q = [100 * alpha, 100 * (1 - alpha)]
    tables = []
    for m in measures:
        point = _importance_table(frame, y, xs, m)
        b = np.concatenate(boots[m])
        lo, hi = np.nanpercentile(b, q, axis=0)
        slo, shi = np.nanpercentile(b / r2_boot[:, None], q, axis=0)
        point["ci_low"], point["ci_high"] = lo, hi
        point["share_ci_low"], point["share_ci_high"] = slo, shi
        point["rank"] = point["est"].rank(ascending=False, method="min").astype(int)
        r2lo, r2hi = np.nanpercentile(r2_boot, q)
        total = pd.DataFrame([{"predictor": "r_squared", "measure": m,
                               "est": point["r_squared"].iloc[0], "ci_low": r2lo, "ci_high": r2hi,
                               "share": 1.0, "n": len(frame)}])
        tables.append(pd.concat([point.drop(columns="r_squared"), total], ignore_index=True))
    out = pd.concat(tables, ignore_index=True)
    out["n_accounts"] = frame[account].nunique()
    out["rank"] = out["rank"].astype("Int64")
    return out[["predictor", "measure", "est", "ci_low", "ci_high", "share", "share_ci_low",
                "share_ci_high", "rank", "n", "n_accounts"]]


# ---------------------------------------------------------------------------------------------
# Categories, hidden risk, volatility
# ---------------------------------------------------------------------------------------------
def _suppress_cells(counts: pd.DataFrame, min_cell_size: int) -> pd.DataFrame:
    """Primary (count < min_cell_size) and, per row, secondary suppression so that no blanked
    cell can be recovered from the row total and the other cells."""
    sup = counts < min_cell_size
    for idx in counts.index:
        row = sup.loc[idx]
        if row.sum() == 1 and len(row) > 1:
            others = counts.loc[idx][~row]
            sup.loc[idx, others.idxmin()] = True
    return sup


def category_crosstab(data: pd.DataFrame, category: str, nps: str = "nps",
                      min_cell_size: int = DEFAULT_MIN_CELL_SIZE):
    """NPS category (detractor / passive / promoter) against a relationship category.

    Parameters
    ----------
    data : DataFrame
        One row per response.
    category : str
        Column with the relationship category (e.g. Ambassador ... Opponent).
    nps : str
        The 0-10 answer.
    min_cell_size : int
        Cells with fewer respondents are blanked (``count`` and ``row_share`` missing,
        ``suppressed`` true); a second cell is blanked in any row where exactly one was, so
        the blanked count cannot be recovered from ``n``.

    Returns
    -------
    table : DataFrame
        Long format: ``nps_category, <category>, count, row_share, n, suppressed`` with ``n``
        the row total (respondents in that NPS category; blanked below ``min_cell_size``).
    test : DataFrame
        One row: ``stat`` (Pearson chi-square, no continuity correction), ``df``, ``p_value``,
        ``n``, ``cramers_v``, ``min_expected`` (below 5 the chi-square approximation is rough).
        Computed on all respondents: a single statistic over the whole table discloses no cell.

    Notes
    -----
    Validated against R ``chisq.test(table, correct = FALSE)`` on the committed study.
    """
    frame = data[[nps, category]].dropna()
    cats = nps_category(frame[nps].reset_index(drop=True))
    counts = pd.crosstab(cats, frame[category].reset_index(drop=True).astype(str),
                         dropna=False).reindex(list(NPS_CATEGORIES), fill_value=0)
    counts.index.name, counts.columns.name = "nps_category", category
    row_n = counts.sum(axis=1)
    sup = _suppress_cells(counts, min_cell_size)
    shares = counts.div(row_n.where(row_n > 0), axis=0)
    long = counts.stack().rename("count").reset_index()
    long["row_share"] = shares.stack().to_numpy()
    long["n"] = long["nps_category"].map(row_n).astype(float)
    long["suppressed"] = sup.stack().to_numpy()
    long["count"] = long["count"].astype(float)
    long.loc[long["suppressed"], ["count", "row_share"]] = np.nan
    long.loc[long["n"] < min_cell_size, "n"] = np.nan
    test = _chisq_test(counts)
    return long, test


def _chisq_test(counts: pd.DataFrame) -> pd.DataFrame:
    obs = counts.loc[counts.sum(axis=1) > 0, counts.sum(axis=0) > 0].to_numpy()
    n = int(obs.sum())
    if obs.shape[0] < 2 or obs.shape[1] < 2:
        raise InsufficientDataError(f"chi-square needs at least a 2x2 table with data; n={n}, "
                                    f"table {obs.shape[0]}x{obs.shape[1]}")
    stat, p, df, expected = _st.chi2_contingency(obs, correction=False)
    v = np.sqrt(stat / (n * (min(obs.shape) - 1)))
    return pd.DataFrame([{"stat": float(stat), "df": int(df), "p_value": float(p), "n": n,
                          "cramers_v": float(v), "min_expected": float(expected.min())}])


def hidden_risk(data: pd.DataFrame, nps: str = "nps", trust: str = "trust",
                commitment: str = "commitment", trust_max: float = 4.0,
                commitment_max: float = 4.0, account="account_id",
                min_cell_size: int = DEFAULT_MIN_CELL_SIZE) -> pd.DataFrame:
    """Accounts with "hidden risk": promoters by NPS whose trust or commitment is low.

    Parameters
    ----------
    data : DataFrame
        One row per response.
    nps, trust, commitment : str
        Columns (0-10 answer; element scores on the instrument scale).
    trust_max, commitment_max : float
        A promoter is at hidden risk when ``trust <= trust_max`` or
        ``commitment <= commitment_max`` (defaults: at most the neutral point 4 of 1-7).
    account : str or list of str
        Listing unit (``["account_id", "wave"]`` for one row per account and wave).
    min_cell_size : int
        Units with fewer respondents have their counts blanked and ``suppressed`` true
        (:func:`crqlab.data.privacy.suppress_small`).

    Returns
    -------
    DataFrame
        One row per unit with at least one hidden-risk promoter: ``<account>, n, n_promoters,
        n_hidden_risk, share_hidden_risk`` (of promoters), ``suppressed``; sorted by
        ``n_hidden_risk`` descending. ``attrs`` carries the thresholds.

    Notes
    -----
    A respondent with a missing trust and commitment score is not flagged. Checked on a
    constructed frame whose flags are known (``tests/models/test_association.py``).
    """
    keys = [account] if isinstance(account, str) else list(account)
    num = _numeric(data, [nps, trust, commitment])
    promoter = (nps_category(num[nps]).to_numpy() == "promoter")
    low = (num[trust] <= trust_max).to_numpy() | (num[commitment] <= commitment_max).to_numpy()
    frame = data[keys].copy()
    frame["n"] = 1
    frame["n_promoters"] = promoter.astype(int)
    frame["n_hidden_risk"] = (promoter & low).astype(int)
    out = frame.groupby(keys, observed=True, sort=True).sum().reset_index()
    out = out.loc[out["n_hidden_risk"] > 0].copy()
    out["share_hidden_risk"] = out["n_hidden_risk"] / out["n_promoters"]
    out = out.sort_values(["n_hidden_risk"] + keys, ascending=[False] + [True] * len(keys),
                          ignore_index=True)
    out = suppress_small(out, "n", min_cell_size,
                         value_cols=["n_promoters", "n_hidden_risk", "share_hidden_risk"])
    out.attrs.update(trust_max=trust_max, commitment_max=commitment_max,
                     min_cell_size=min_cell_size)
    return out


def volatility(data: pd.DataFrame, a: str = "satisfaction", b: str = "trust",
               account: str = "account_id", wave: str = "wave", test: str = "t",
               ci: float = 0.95) -> pd.DataFrame:
    """Wave-to-wave volatility of ``a`` against ``b`` within accounts, with a paired test.

    Each account's score per wave is the mean of its respondents; its volatility is the SD
    (ddof 1) of those wave means. Accounts observed in at least two waves on both measures enter.

    Parameters
    ----------
    data : DataFrame
    a, b : str
        Measures compared (default satisfaction against trust).
    account, wave : str
    test : {"t", "wilcoxon"}
        Paired t test on the SD differences, or Wilcoxon signed-rank (normal approximation with
        continuity correction, zero differences dropped; ``stat`` is V, the sum of positive ranks).
    ci : float

    Returns
    -------
    DataFrame
        Rows ``measure`` = ``a``, ``b``, ``difference`` (a minus b): ``est`` (mean within-account
        SD), ``se, ci_low, ci_high`` (t interval), ``n_accounts``; ``stat, df, p_value`` and
        ``test`` on the difference row.

    Notes
    -----
    Validated against R ``t.test(paired = TRUE)`` and ``wilcox.test(paired = TRUE,
    exact = FALSE, correct = TRUE)`` on the committed study.
    """
    means = _unit_means(data, [account, wave], [a, b]).dropna(subset=[a, b])
    g = means.groupby(account, observed=True)
    sds = g[[a, b]].std(ddof=1)[g.size() >= 2].dropna()
    if len(sds) < 3:
        raise InsufficientDataError(
            f"volatility needs at least 3 accounts seen in two or more waves, got {len(sds)}")
    d = (sds[a] - sds[b]).to_numpy()
    rows = []
    for name, v in ((a, sds[a]), (b, sds[b]), ("difference", d)):
        rows.append({"measure": name, **mean_ci(v, ci).to_dict()})
    out = pd.DataFrame(rows).rename(columns={"n": "n_accounts"})
    out["n_accounts"] = out["n_accounts"].astype(int)
    if test == "t":
        res = _st.ttest_1samp(d, 0.0)
        stat, df, p = float(res.statistic), float(len(d) - 1), float(res.pvalue)
    elif test == "wilcoxon":
        nz = d[d != 0]
        ranks = _st.rankdata(np.abs(nz))
        stat, df = float(ranks[nz > 0].sum()), np.nan
        p = float(_st.wilcoxon(nz, zero_method="wilcox", correction=True, method="approx").pvalue)
    else:
        raise ValueError(f"test must be 't' or 'wilcoxon', got {test!r}")
    out["stat"], out["df"], out["p_value"], out["test"] = np.nan, np.nan, np.nan, None
    last = out.index[-1]
    out.loc[last, ["stat", "df", "p_value"]] = [stat, df, p]
    out.loc[last, "test"] = test
    return out
