"""Predictive validity: which measure best predicts retention next wave.

Compares candidate predictors (NPS, the CRQ index, commitment, trust, satisfaction...) of an
account-level binary outcome such as ``retained_next_wave``: account-clustered logistic models,
areas under the ROC curve with account-clustered bootstrap intervals, and paired comparisons of
AUCs (DeLong's test and a paired clustered bootstrap), summarised in a ranking table.

AUCs are computed for the score itself (higher score = predicted retention), so they need no
model fit and are invariant to any monotone rescaling of the score.
"""
from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as _st

from crqlab.errors import ConvergenceError, InsufficientDataError, Problem, ValidationError
from crqlab.stats import cluster_bootstrap_weights, z_crit

__all__ = ["DEFAULT_PREDICTORS", "outcome_units", "auc_delong", "delong_test",
           "logistic_clustered", "bootstrap_auc", "compare_auc", "predictive_validity"]

DEFAULT_PREDICTORS = ("nps", "crq_index", "commitment", "trust", "satisfaction")
_MEAN_DECIMALS = 10


# ---------------------------------------------------------------------------------------------
# Units of analysis
# ---------------------------------------------------------------------------------------------
_BOOL_TEXT = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "y": 1.0, "n": 0.0,
              "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}


def _as_binary(values: pd.Series, name: str) -> np.ndarray:
    """0/1 floats (NaN where missing) from booleans, 0/1 or the data contract's boolean words."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        x = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        x = np.array([_BOOL_TEXT.get(str(v).strip().lower(), -1.0) for v in values.to_numpy()])
        x[missing] = np.nan
    bad = ~missing & ~np.isin(x, (0.0, 1.0))
    if bad.any():
        raise ValidationError([Problem("data", name, None, values[bad].iloc[0],
                                       "outcome must be boolean (true/false, yes/no or 1/0)")])
    return x


def outcome_units(data: pd.DataFrame, outcome: str = "retained_next_wave",
                  predictors=DEFAULT_PREDICTORS, account: str = "account_id",
                  wave: str | None = "wave", level: str = "account") -> pd.DataFrame:
    """The analysis units: account-waves (score means) or respondents, each with its outcome.

    Parameters
    ----------
    data : DataFrame
        One row per response, carrying the account-level ``outcome``.
    outcome, predictors, account, wave
        Column names; ``wave`` may be None when there is a single wave.
    level : {"account", "respondent"}
        ``"account"`` averages each predictor over the respondents of an account (and wave):
        retention is an account decision, so this is the default. ``"respondent"`` keeps one
        row per respondent (each carries its account's outcome).

    Returns
    -------
    DataFrame
        ``account, [wave,] outcome (0/1), predictors..., n`` (respondents behind each row);
        rows with a missing outcome are dropped, predictor means use the answers available and
        are rounded to 10 decimals so that means equal in exact arithmetic tie.
    """
    keys = [account] + ([wave] if wave else [])
    frame = data[keys].copy()
    frame[outcome] = _as_binary(data[outcome], outcome)
    for p in predictors:
        frame[p] = pd.to_numeric(data[p], errors="coerce").astype(float)
    frame = frame.loc[frame[outcome].notna()]
    if level == "respondent":
        return frame.assign(n=1).reset_index(drop=True)
    if level != "account":
        raise ValueError(f"level must be 'account' or 'respondent', got {level!r}")
    g = frame.groupby(keys, observed=True, sort=True)
    varying = g[outcome].nunique() > 1
    if varying.any():
        where = varying[varying].index[0]
        raise ValidationError([Problem("data", outcome, None, where,
                                       "outcome differs between respondents of one account-wave")])
    out = g[[outcome] + list(predictors)].mean()
    # Round to 10 decimals: means that are equal in exact arithmetic (4.5 from 9/2 and 18/4)
    # must tie exactly for the AUC, whatever the order of summation.
    out[list(predictors)] = out[list(predictors)].round(_MEAN_DECIMALS)
    out["n"] = g.size()
    return out.reset_index()


# ---------------------------------------------------------------------------------------------
# AUC and DeLong
# ---------------------------------------------------------------------------------------------
def _check_binary(y: np.ndarray) -> tuple[int, int]:
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if n1 < 2 or n0 < 2:
        raise InsufficientDataError(
            f"AUC needs at least 2 positive and 2 negative outcomes; got {n1} and {n0} "
            f"(n={y.size})")
    return n1, n0


def _delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (m,) and their DeLong covariance (m, m) for scores (m, n); fast midrank algorithm
    (Sun & Xu 2014)."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    n1, n0 = pos.shape[1], neg.shape[1]
    tx = _st.rankdata(pos, axis=1)
    ty = _st.rankdata(neg, axis=1)
    tz = _st.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :n1].sum(axis=1) / n1 - (n1 + 1) / 2) / n0
    v01 = (tz[:, :n1] - tx) / n0
    v10 = 1 - (tz[:, n1:] - ty) / n1
    s = np.atleast_2d(np.cov(v01)) / n1 + np.atleast_2d(np.cov(v10)) / n0
    return aucs, s


def _complete(y, *scores) -> tuple[np.ndarray, np.ndarray]:
    yv = np.asarray(y, dtype=float)
    sv = np.vstack([np.asarray(s, dtype=float) for s in scores])
    ok = ~np.isnan(yv) & ~np.isnan(sv).any(axis=0)
    yv, sv = yv[ok], sv[:, ok]
    _check_binary(yv)
    return yv, sv


def auc_delong(y, score, ci: float = 0.95) -> pd.DataFrame:
    """AUC of ``score`` for binary ``y`` with DeLong's standard error and interval.

    Returns
    -------
    DataFrame
        One row: ``est, se, ci_low, ci_high, n, n_events`` (interval clipped to [0, 1]).

    Notes
    -----
    Higher scores predict ``y = 1`` (pROC ``direction = "<"``). Validated against
    ``pROC::ci.auc(method = "delong")`` and ``var(roc, method = "delong")`` on aSAH
    (``tests/results/association``). Assumes independent units; for clustered data use
    :func:`bootstrap_auc`.
    """
    yv, sv = _complete(y, score)
    a, s = _delong(yv, sv)
    se = float(np.sqrt(s[0, 0]))
    half = z_crit(ci) * se
    return pd.DataFrame([{"est": float(a[0]), "se": se, "ci_low": max(0.0, a[0] - half),
                          "ci_high": min(1.0, a[0] + half), "n": yv.size,
                          "n_events": int(yv.sum())}])


def delong_test(y, score_a, score_b, ci: float = 0.95) -> pd.DataFrame:
    """DeLong, DeLong & Clarke-Pearson (1988) test of two correlated AUCs (same units).

    Returns
    -------
    DataFrame
        One row: ``auc_a, auc_b, est`` (auc_a - auc_b), ``se, ci_low, ci_high, stat`` (z),
        ``p_value, n, n_events``.

    Notes
    -----
    Validated against ``pROC::roc.test(method = "delong", paired = TRUE)``: the pROC manual's
    aSAH example (s100b vs wfns: Z = -2.209, p = 0.02718) and the committed study.
    """
    yv, sv = _complete(y, score_a, score_b)
    a, s = _delong(yv, sv)
    diff = float(a[0] - a[1])
    se = float(np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1]))
    stat = diff / se if se > 0 else np.nan
    half = z_crit(ci) * se
    return pd.DataFrame([{"auc_a": float(a[0]), "auc_b": float(a[1]), "est": diff, "se": se,
                          "ci_low": diff - half, "ci_high": diff + half, "stat": stat,
                          "p_value": float(2 * _st.norm.sf(abs(stat))), "n": yv.size,
                          "n_events": int(yv.sum())}])


def _weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC (Mann-Whitney with ties 1/2) of each row of observation weights ``w`` (B, n)."""
    order = np.argsort(score, kind="stable")
    s, yy, ww = score[order], y[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])          # tie groups
    pos = np.add.reduceat(ww * yy, starts, axis=1)
    neg = np.add.reduceat(ww * (1 - yy), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / (pos.sum(axis=1) * neg.sum(axis=1))


def bootstrap_auc(y, scores: dict, clusters, n_boot: int = 2000,
                  seed: int | np.random.Generator | None = 0, chunk: int = 500) -> pd.DataFrame:
    """AUCs of several scores on the same cluster-bootstrap resamples (paired).

    Parameters
    ----------
    y : array-like of 0/1
    scores : dict name -> array-like
        Complete cases over ``y`` and all scores should be taken beforehand.
    clusters : array-like
        Cluster of each unit (account); whole clusters are resampled.
    n_boot, seed, chunk
        Resamples, randomness, resamples per block (memory bound).

    Returns
    -------
    DataFrame
        ``n_boot`` rows, one column per score; a resample without both outcomes gives NaN.

    Notes
    -----
    Uses :func:`crqlab.stats.cluster_bootstrap_weights`; the AUC of a resample is the weighted
    Mann-Whitney statistic with the resampling counts as weights. Validated against AUCs of
    explicitly expanded resamples (``tests/models/test_prediction.py``).
    """
    yv = np.asarray(y, dtype=float)
    codes, blocks = cluster_bootstrap_weights(clusters, n_boot, seed, chunk=chunk)
    out = {k: [] for k in scores}
    for w in blocks:
        obs_w = w[:, codes]
        for k, v in scores.items():
            out[k].append(_weighted_auc(yv, np.asarray(v, dtype=float), obs_w))
    return pd.DataFrame({k: np.concatenate(v) for k, v in out.items()})


def _percentile_ci(b: np.ndarray, ci: float) -> tuple[float, float]:
    alpha = (1 - ci) / 2
    lo, hi = np.nanpercentile(b, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def _boot_p(d: np.ndarray) -> float:
    """Two-sided percentile-bootstrap p-value of a difference: 2 min(P(d <= 0), P(d >= 0))."""
    d = d[~np.isnan(d)]
    return float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean())))


# ---------------------------------------------------------------------------------------------
# Logistic models
# ---------------------------------------------------------------------------------------------
def logistic_clustered(data: pd.DataFrame, outcome: str, predictor: str,
                       cluster: str = "account_id", standardize: bool = True,
                       ci: float = 0.95) -> pd.DataFrame:
    """Logistic regression of a binary outcome on one predictor, cluster-robust standard errors.

    Parameters
    ----------
    data : DataFrame
        Analysis units (see :func:`outcome_units`).
    outcome, predictor, cluster : str
    standardize : bool
        Scale the predictor to SD 1 (ddof 1) so that estimates are log-odds per SD and
        comparable across measures.
    ci : float

    Returns
    -------
    DataFrame
        One row: ``predictor, est`` (log-odds), ``se, ci_low, ci_high, stat`` (z), ``p_value,
        odds_ratio, n, n_accounts``.

    Notes
    -----
    Sandwich covariance clustered on ``cluster`` with the small-sample factor
    G/(G-1) (N-1)/(N-K). Validated against R ``glm`` with ``sandwich::vcovCL(type = "HC1")``
    on the committed study.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    frame = data[[outcome, predictor, cluster]].dropna()
    yv = frame[outcome].to_numpy(dtype=float)
    _check_binary(yv)
    x = frame[predictor].to_numpy(dtype=float)
    if x.size < 2 or np.ptp(x) == 0:
        raise InsufficientDataError(f"{predictor} does not vary (n = {x.size}): no logistic "
                                    "slope can be estimated")
    if standardize:
        x = (x - x.mean()) / x.std(ddof=1)
    groups = pd.factorize(frame[cluster], sort=True)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            fit = sm.GLM(yv, sm.add_constant(x), family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": groups})
        except (PerfectSeparationWarning, np.linalg.LinAlgError) as exc:
            raise ConvergenceError(f"logistic model of {outcome} on {predictor}: {exc}") from exc
    if not fit.converged:
        raise ConvergenceError(f"logistic model of {outcome} on {predictor} did not converge")
    est, se = float(fit.params[1]), float(fit.bse[1])
    half = z_crit(ci) * se
    return pd.DataFrame([{"predictor": predictor, "est": est, "se": se, "ci_low": est - half,
                          "ci_high": est + half, "stat": est / se,
                          "p_value": float(2 * _st.norm.sf(abs(est / se))),
                          "odds_ratio": float(np.exp(est)), "n": len(frame),
                          "n_accounts": int(groups.max() + 1)}])


# ---------------------------------------------------------------------------------------------
# Comparison and ranking
# ---------------------------------------------------------------------------------------------
def _prepared(data, outcome, predictors, account, wave, level):
    units = outcome_units(data, outcome, predictors, account, wave, level)
    units = units.dropna(subset=list(predictors)).reset_index(drop=True)
    y = units[outcome].to_numpy(dtype=float)
    _check_binary(y)
    return units, y


def _comparisons(y, units, predictors, boot, pairs, ci) -> pd.DataFrame:
    rows = []
    for a, b in pairs:
        dl = delong_test(y, units[a], units[b], ci).iloc[0]
        d = (boot[a] - boot[b]).to_numpy()
        lo, hi = _percentile_ci(d, ci)
        rows.append({"a": a, "b": b, "auc_a": dl["auc_a"], "auc_b": dl["auc_b"],
                     "est": dl["est"], "se": dl["se"], "ci_low": dl["ci_low"],
                     "ci_high": dl["ci_high"], "stat": dl["stat"], "p_value": dl["p_value"],
                     "boot_ci_low": lo, "boot_ci_high": hi, "boot_p_value": _boot_p(d),
                     "n": int(dl["n"])})
    return pd.DataFrame(rows)


def compare_auc(data: pd.DataFrame, outcome: str = "retained_next_wave",
                predictors=DEFAULT_PREDICTORS, account: str = "account_id",
                wave: str | None = "wave", level: str = "account", n_boot: int = 2000,
                seed: int | np.random.Generator | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """All pairwise AUC differences: DeLong's test and an account-clustered paired bootstrap.

    Returns
    -------
    DataFrame
        One row per pair: ``a, b, auc_a, auc_b, est`` (auc_a - auc_b), DeLong ``se, ci_low,
        ci_high, stat, p_value``, bootstrap ``boot_ci_low, boot_ci_high, boot_p_value``, ``n``.

    Notes
    -----
    DeLong treats units as independent; with several waves per account the paired cluster
    bootstrap (whole accounts resampled, both AUCs on the same resample) is the honest one.
    See :func:`delong_test` and :func:`bootstrap_auc` for validation.
    """
    predictors = list(predictors)
    units, y = _prepared(data, outcome, predictors, account, wave, level)
    boot = bootstrap_auc(y, {p: units[p].to_numpy() for p in predictors}, units[account],
                         n_boot, seed)
    return _comparisons(y, units, predictors, boot, list(combinations(predictors, 2)), ci)


def predictive_validity(data: pd.DataFrame, outcome: str = "retained_next_wave",
                        predictors=DEFAULT_PREDICTORS, account: str = "account_id",
                        wave: str | None = "wave", level: str = "account", n_boot: int = 2000,
                        seed: int | np.random.Generator | None = 0,
                        ci: float = 0.95) -> pd.DataFrame:
    """Rank candidate measures by how well they predict the outcome (default retention).

    Parameters
    ----------
    data : DataFrame
        One row per response with the account-level outcome.
    outcome : str
        Binary outcome (``retained_next_wave``).
    predictors : sequence of str
        Candidate measures (default NPS, CRQ index, commitment, trust, satisfaction).
    account, wave : str
        Cluster and wave columns (see :func:`outcome_units`).
    level : {"account", "respondent"}
        Unit of analysis; always clustered by account.
    n_boot, seed : int
        Account-clustered bootstrap resamples and their seed.
    ci : float

    Returns
    -------
    DataFrame
        One row per predictor, best first: ``rank, predictor, est`` (AUC), ``se`` (bootstrap
        SD), ``ci_low, ci_high`` (clustered percentile bootstrap), ``logit_est, logit_se,
        logit_ci_low, logit_ci_high, logit_p_value`` (log-odds per SD, cluster-robust),
        ``odds_ratio``; against the top-ranked measure: ``diff_est`` (AUC difference),
        ``diff_ci_low, diff_ci_high`` (paired clustered bootstrap), ``boot_p_value`` and
        ``delong_p_value``; ``n, n_accounts``. ``attrs["n_boot_failed"]`` counts resamples
        without both outcomes.

    Notes
    -----
    Validated: AUCs and DeLong against pROC, logistic estimates and clustered SEs against
    sandwich::vcovCL (``tests/results/association``); on simulated studies with commitment
    planted as the best predictor, commitment ranks first and the intervals cover the
    population AUCs from a very large simulation (``tests/models/test_prediction.py``).
    """
    predictors = list(predictors)
    units, y = _prepared(data, outcome, predictors, account, wave, level)
    boot = bootstrap_auc(y, {p: units[p].to_numpy() for p in predictors}, units[account],
                         n_boot, seed)
    rows = []
    for p in predictors:
        est = float(_delong(y, units[p].to_numpy()[None])[0][0])
        lo, hi = _percentile_ci(boot[p].to_numpy(), ci)
        lg = logistic_clustered(units, outcome, p, account, True, ci).iloc[0]
        rows.append({"predictor": p, "est": est, "se": float(np.nanstd(boot[p], ddof=1)),
                     "ci_low": lo, "ci_high": hi, "logit_est": lg["est"], "logit_se": lg["se"],
                     "logit_ci_low": lg["ci_low"], "logit_ci_high": lg["ci_high"],
                     "logit_p_value": lg["p_value"], "odds_ratio": lg["odds_ratio"]})
    table = pd.DataFrame(rows).sort_values("est", ascending=False, ignore_index=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    best = table["predictor"].iloc[0]
    others = [(best, p) for p in table["predictor"].iloc[1:]]
    comp = _comparisons(y, units, predictors, boot, others, ci).set_index("b")
    diff = pd.DataFrame({"diff_est": -comp["est"], "diff_ci_low": -comp["boot_ci_high"],
                         "diff_ci_high": -comp["boot_ci_low"], "boot_p_value": comp["boot_p_value"],
                         "delong_p_value": comp["p_value"]})
    table = table.join(diff, on="predictor")
    table["n"], table["n_accounts"] = len(units), units[account].nunique()
    table.attrs["n_boot_failed"] = int(boot.isna().any(axis=1).sum())
    table.attrs["level"] = level
    return table
