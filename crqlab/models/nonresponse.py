"""Response-rate effects: rates, late-respondent trends, sensitivity, precision, decomposition.

Functions take canonical frames (docs/data-contract.md): ``contacts`` is the invitation frame
(``wave, contact_id, account_id, role, responded, reminders, days_to_respond, ...``) and
``scores`` holds respondent-level scores keyed by ``wave, contact_id`` (``crq_index``, ``nps``
on 0-10, elements ...). Wherever a function takes ``score="nps"`` the headline is the Net
Promoter Score on -100..100 (each respondent scores +100/0/-100, see
:func:`crqlab.models.weighting.score_points`); any other column is averaged as it is.

Weighting (propensity, raking) lives in :mod:`crqlab.models.weighting`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as _st

from crqlab.data.privacy import suppress_small
from crqlab.data.quality import completed_responses
from crqlab.errors import InsufficientDataError, Problem, ValidationError
from crqlab.models.weighting import (
    _merge_scores,
    _single_wave,
    propensity_adjusted,
    score_points,
    weighted_mean,
)
from crqlab.stats import cluster_bootstrap_weights, wilson_ci, z_crit

__all__ = ["response_rates", "account_rates", "rate_score_association", "early_late",
           "wave_trend", "add_previous_score", "delta_sensitivity", "delta_by_response_rate",
           "mnar_sensitivity", "MnarSensitivity", "nonresponse_caveats",
           "precision_by_response_rate", "change_decomposition"]

#: Assumption behind the Armstrong-Overton extrapolation, written into result tables.
AO_ASSUMPTION = ("assumption: non-respondents continue the linear trend of later respondents "
                 "(Armstrong & Overton 1977); not an observation")


def _require(frame: pd.DataFrame, cols, name: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValidationError([Problem(name, c, None, None, "column not found") for c in missing])


def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


# ----------------------------------------------------------------------------- rates
def response_rates(contacts: pd.DataFrame, by=("wave",), *, responses: pd.DataFrame | None = None,
                   accounts: pd.DataFrame | None = None,
                   responded: str = "responded", min_cell_size: int | None = None,
                   ci: float = 0.95) -> pd.DataFrame:
    """Response and completion rates by any grouping columns, with Wilson intervals.

    Parameters
    ----------
    contacts : DataFrame
        Invitation frame, one row per invited contact per wave.
    by : str or sequence of str
        Grouping columns (``wave``, ``account_id``, ``role``, ``account_manager`` ...); empty
        for the whole frame. Columns not in ``contacts`` are taken from ``accounts``.
    responses : DataFrame, optional
        Completed responses (``wave, contact_id``). Gives ``completion_rate``: invited
        contacts with a completed questionnaire, by the one definition of
        :func:`crqlab.data.quality.completed_responses` (a row of the responses table).
    accounts : DataFrame, optional
        Account table (``account_id`` and e.g. ``account_manager``), merged when ``by`` needs it.
    responded : str
        Boolean response indicator of the frame.
    min_cell_size : int, optional
        Groups with fewer invited contacts get blank estimates, a blank ``n`` and
        ``suppressed=True``; within each value of the leading ``by`` columns (and measure) the
        last column's groups partition the invited, so a second group is suppressed wherever
        one alone would be recoverable from the total (complementary suppression,
        :func:`crqlab.data.privacy.suppress_small`).
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        Long format: ``<by...>, measure, est, ci_low, ci_high, n, n_events, suppressed``
        where ``n`` is the number invited and ``n_events`` the number responding/completing.

    Notes
    -----
    Wilson score intervals from :func:`crqlab.stats.wilson_ci`; validated against R
    ``prop.test(x, n, correct = FALSE)$conf.int`` (``tests/results/survey``).
    """
    by = _as_list(by)
    frame = contacts.copy()
    need = [c for c in by if c not in frame.columns]
    if need:
        if accounts is None:
            raise ValidationError([Problem("contacts", c, None, None, "grouping column not found "
                                           "(pass accounts= to take it from the account table)")
                                   for c in need])
        _require(accounts, ["account_id", *need], "accounts")
        keys = ["account_id"] + (["wave"] if "wave" in accounts.columns else [])
        frame = frame.merge(accounts[keys + need].drop_duplicates(keys), on=keys, how="left")
    _require(frame, [responded], "contacts")
    frame["_responded"] = frame[responded].astype(bool)
    measures = ["response_rate"]
    if responses is not None:
        keys = [k for k in ("wave", "contact_id") if k in responses.columns]
        done = completed_responses(responses, keys).assign(_completed=True)
        frame = frame.merge(done, on=keys, how="left")
        frame["_completed"] = frame["_completed"].fillna(False).astype(bool)
        measures.append("completion_rate")
    grouped = frame.groupby(by, observed=True, dropna=False) if by else frame.assign(_all=1).groupby("_all")
    counts = grouped.agg(n=("_responded", "size"), response_rate=("_responded", "sum"),
                         **({"completion_rate": ("_completed", "sum")} if len(measures) > 1 else {}))
    counts = counts.reset_index().drop(columns="_all", errors="ignore")
    long = counts.melt(id_vars=[*by, "n"], value_vars=measures, var_name="measure",
                       value_name="n_events")
    low, high = wilson_ci(long["n_events"], long["n"], ci)
    long["est"] = long["n_events"] / long["n"]
    long["ci_low"], long["ci_high"] = low, high
    long["suppressed"] = False
    if min_cell_size is not None:
        long = suppress_small(long, "n", min_cell_size,
                              value_cols=["est", "ci_low", "ci_high", "n_events"],
                              partition=[*by[:-1], "measure"])
    return long[[*by, "measure", "est", "ci_low", "ci_high", "n", "n_events", "suppressed"]]


def account_rates(contacts: pd.DataFrame, scores: pd.DataFrame, score: str = "crq_index", *,
                  account: str = "account_id", responded: str = "responded") -> pd.DataFrame:
    """Per account: invited, responded, response rate, and mean score of its respondents.

    Returns
    -------
    DataFrame
        ``account_id, n_invited, n_responded, response_rate, est, n`` where ``est`` is the mean
        score (the NPS for ``score="nps"``) and ``n`` the respondents with a score.
    """
    _require(contacts, [account, responded], "contacts")
    data = _merge_scores(contacts, scores, [score])
    data["_pts"] = score_points(data[score], score)
    data["_resp"] = data[responded].astype(bool)
    data.loc[~data["_resp"], "_pts"] = np.nan
    out = data.groupby(account, observed=True).agg(
        n_invited=("_resp", "size"), n_responded=("_resp", "sum"), est=("_pts", "mean"),
        n=("_pts", "count")).reset_index()
    out["response_rate"] = out["n_responded"] / out["n_invited"]
    return out[[account, "n_invited", "n_responded", "response_rate", "est", "n"]]


def _weighted_corr(x, y, w) -> float:
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    cxy = np.average((x - mx) * (y - my), weights=w)
    return float(cxy / np.sqrt(np.average((x - mx) ** 2, weights=w) *
                               np.average((y - my) ** 2, weights=w)))


def rate_score_association(contacts: pd.DataFrame, scores: pd.DataFrame,
                           score: str = "crq_index", *, account: str = "account_id",
                           responded: str = "responded", ci: float = 0.95) -> pd.DataFrame:
    """Do accounts that answer more score differently? Account-level WLS and weighted r.

    Each account contributes its response rate and its respondents' mean score, weighted by
    its number of scored respondents.

    Parameters
    ----------
    contacts, scores : DataFrame
        Frame (one wave, or pooled waves if accounts are meant to be pooled) and scores.
    score : str
        Score column (``"nps"`` gives account NPS, -100..100).
    account, responded : str
        Account and response columns of the frame.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        Rows ``term = slope`` (score change per unit response rate, i.e. per 100 points;
        ``stat`` is t on ``df = n_accounts - 2``) and ``term = weighted_r`` (weighted Pearson
        correlation; Fisher-z interval on Kish's effective number of accounts), with ``est,
        se, ci_low, ci_high, stat, df, p_value, n, n_accounts``.

    Notes
    -----
    The slope is ``lm(est ~ response_rate, weights = n)`` and the correlation
    ``cov.wt(cbind(response_rate, est), wt = n, cor = TRUE)``; both validated against R
    (``tests/results/survey``). The Fisher-z interval with effective n is an approximation.
    """
    acc = account_rates(contacts, scores, score, account=account, responded=responded)
    acc = acc[acc["n"] > 0]
    k = len(acc)
    if k < 4 or acc["response_rate"].nunique() < 2:
        raise InsufficientDataError(f"account-level association needs 4 or more accounts with "
                                    f"respondents and varying response (n_accounts={k})")
    x, y, w = (acc[c].to_numpy(dtype=float) for c in ("response_rate", "est", "n"))
    fit = sm.WLS(y, sm.add_constant(x), weights=w).fit()
    lo, hi = fit.conf_int(alpha=1 - ci)[1]
    r = _weighted_corr(x, y, w)
    n_eff = w.sum() ** 2 / np.sum(w**2)
    zc, zr = z_crit(ci), np.arctanh(r)
    half = zc / np.sqrt(max(n_eff - 3, 1e-12))
    n = int(w.sum())
    rows = [
        {"term": "slope", "est": fit.params[1], "se": fit.bse[1], "ci_low": lo, "ci_high": hi,
         "stat": fit.tvalues[1], "df": fit.df_resid, "p_value": fit.pvalues[1]},
        {"term": "weighted_r", "est": r, "se": np.nan, "ci_low": np.tanh(zr - half),
         "ci_high": np.tanh(zr + half), "stat": fit.tvalues[1], "df": fit.df_resid,
         "p_value": fit.pvalues[1]},
    ]
    out = pd.DataFrame(rows)
    out["n"], out["n_accounts"] = n, k
    return out


# ----------------------------------------------------------------------------- Armstrong-Overton
def _respondent_data(contacts, scores, score, by, cluster, responded):
    """The frame with score points (``_pts``), and its scored respondents (``by`` known)."""
    _require(contacts, [c for c in (by, cluster, responded) if c], "contacts")
    data = _merge_scores(contacts, scores, [score])
    data["_pts"] = score_points(data[score], score)
    keep = data[responded].astype(bool) & data["_pts"].notna()
    if by:
        keep &= data[by].notna()
    return data, data[keep]


def _ols_cluster(y, x, groups):
    """OLS of y on [1, x] with account-clustered (CR1, as Stata/statsmodels) covariance."""
    k = pd.Series(groups).nunique()
    if k < 2 or len(y) < 3:
        raise InsufficientDataError(f"trend regression needs 3+ respondents in 2+ accounts "
                                    f"(n={len(y)}, n_accounts={k})")
    codes, _ = pd.factorize(pd.Series(groups))
    return sm.OLS(np.asarray(y, dtype=float), sm.add_constant(np.asarray(x, dtype=float),
                                                              has_constant="add")).fit(
        cov_type="cluster", cov_kwds={"groups": codes})


def _lincomb(fit, vec, ci, label, x, n, k, test=False, df=None, **extra):
    """A linear combination of the coefficients; t interval on ``n_accounts - 1`` df (the
    usual cluster-robust reference distribution), and a t test of zero if ``test``."""
    vec = np.asarray(vec, dtype=float)
    est = float(vec @ fit.params)
    se = float(np.sqrt(vec @ fit.cov_params() @ vec))
    df = k - 1 if df is None else df
    tc = float(_st.t.ppf(0.5 + ci / 2, df))
    stat = est / se if test and se > 0 else np.nan
    return {"quantity": label, "x": x, "est": est, "se": se, "ci_low": est - tc * se,
            "ci_high": est + tc * se, "stat": stat, "df": df,
            "p_value": 2 * _st.t.sf(abs(stat), df), "n": n, "n_accounts": k, **extra}


def early_late(contacts: pd.DataFrame, scores: pd.DataFrame, score: str = "crq_index", *,
               by: str = "reminders", early=None, late=None, cluster: str = "account_id",
               responded: str = "responded", ci: float = 0.95) -> pd.DataFrame:
    """Early against late respondents (Armstrong & Overton 1977).

    Parameters
    ----------
    contacts, scores : DataFrame
        One wave's frame and the respondent scores.
    score : str
        Score column (``"nps"`` compares NPS).
    by : str
        ``reminders`` (reminders before responding) or ``days_to_respond``.
    early, late : tuple (low, high), optional
        Inclusive ranges of ``by`` defining the groups. Default: with 6 or fewer distinct
        values, the smallest and the largest value (first invitation against the last
        reminder); otherwise the lowest and highest thirds.
    cluster, responded : str
        Account and response columns.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        Rows ``early``, ``late`` and ``late_minus_early``: ``quantity, x_low, x_high, est,
        se, ci_low, ci_high, stat, df, p_value, n, n_accounts``; ``stat`` (t on
        ``n_accounts - 1`` df) and ``p_value`` test the difference only. Standard errors are account-clustered (OLS of the score on a
        late indicator, CR1), validated against R ``survey::svyglm``.
    """
    _, rd = _respondent_data(contacts, scores, score, by, cluster, responded)
    xv = rd[by].astype(float)
    if early is None or late is None:
        vals = np.sort(xv.unique())
        if vals.size < 2:
            raise InsufficientDataError(f"{by} takes one value among respondents (n={len(rd)})")
        if vals.size <= 6:
            early, late = early or (vals[0], vals[0]), late or (vals[-1], vals[-1])
        else:
            q1, q2 = np.quantile(xv, [1 / 3, 2 / 3])
            early, late = early or (vals[0], q1), late or (np.nextafter(q2, np.inf), vals[-1])
    is_e = xv.between(*early).to_numpy()
    is_l = xv.between(*late).to_numpy()
    sub = rd[is_e | is_l]
    lat = is_l[is_e | is_l].astype(float)
    fit = _ols_cluster(sub["_pts"], lat, sub[cluster])
    counts = {lab: (int(m.sum()), int(sub[cluster][m].nunique()))
              for lab, m in (("early", lat == 0), ("late", lat == 1))}
    k = int(sub[cluster].nunique())
    rows = [_lincomb(fit, [1, 0], ci, "early", None, *counts["early"], df=k - 1),
            _lincomb(fit, [1, 1], ci, "late", None, *counts["late"], df=k - 1),
            _lincomb(fit, [0, 1], ci, "late_minus_early", None, len(sub), k, test=True)]
    out = pd.DataFrame(rows).drop(columns="x")
    out.insert(1, "x_low", [early[0], late[0], np.nan])
    out.insert(2, "x_high", [early[1], late[1], np.nan])
    return out


def wave_trend(contacts: pd.DataFrame, scores: pd.DataFrame, score: str = "crq_index", *,
               by: str = "reminders", nonrespondent_at: float | None = None,
               cluster: str = "account_id", responded: str = "responded",
               ci: float = 0.95) -> pd.DataFrame:
    """Trend of scores over response waves and its extrapolation to non-respondents.

    Parameters
    ----------
    contacts, scores : DataFrame
        One wave's frame and the respondent scores.
    score : str
        Score column (``"nps"``: the trend is in NPS points per reminder).
    by : str
        Wave variable: ``reminders`` (0 = answered the first invitation) or ``days_to_respond``.
    nonrespondent_at : float, optional
        Where on ``by`` the non-respondents are placed: by default one step after the last
        respondent wave (``max + 1``), i.e. "the wave after the last reminder". Choose it
        explicitly for ``days_to_respond``.
    cluster, responded : str
        Account and response columns.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        Rows ``slope`` (change per unit of ``by``; ``stat`` (t on ``n_accounts - 1`` df) and
        ``p_value`` test the trend, and are blank on the other rows),
        ``respondent_mean``, ``nonrespondent_extrapolated`` (the fitted line at
        ``nonrespondent_at``) and ``adjusted_total`` (response-rate-weighted blend of
        respondents and extrapolated non-respondents), with ``quantity, x, est, se, ci_low,
        ci_high, stat, df, p_value, n, n_accounts, response_rate, assumption``.

    Notes
    -----
    OLS of the score on ``by`` with account-clustered CR1 covariance (statsmodels), validated
    against R ``survey::svyglm`` on a cluster design (``tests/results/survey``). The
    extrapolation carries the regression uncertainty only; the assumption that
    non-respondents continue the trend is not testable from the data and is written into the
    ``assumption`` column.
    """
    data, rd = _respondent_data(contacts, scores, score, by, cluster, responded)
    if rd[by].nunique() < 2:
        raise InsufficientDataError(f"{by} takes one value among respondents (n={len(rd)})")
    x = rd[by].to_numpy(dtype=float)
    fit = _ols_cluster(rd["_pts"], x, rd[cluster])
    x0 = float(x.max() + 1) if nonrespondent_at is None else float(nonrespondent_at)
    rr = float(data[responded].astype(bool).mean())
    xbar = float(x.mean())
    n, k = len(rd), int(rd[cluster].nunique())
    rows = [_lincomb(fit, [0, 1], ci, "slope", None, n, k, test=True),
            _lincomb(fit, [1, xbar], ci, "respondent_mean", xbar, n, k),
            _lincomb(fit, [1, x0], ci, "nonrespondent_extrapolated", x0, n, k,
                     assumption=AO_ASSUMPTION),
            _lincomb(fit, [1, rr * xbar + (1 - rr) * x0], ci, "adjusted_total", None, n, k,
                     assumption=AO_ASSUMPTION)]
    out = pd.DataFrame(rows)
    out["response_rate"] = rr
    out["assumption"] = out["assumption"].fillna("")
    return out


def add_previous_score(contacts: pd.DataFrame, scores: pd.DataFrame, score: str = "crq_index",
                       *, key: str = "contact_id") -> pd.DataFrame:
    """Add the previous wave's score of each contact, as a propensity covariate.

    Returns a copy of ``contacts`` with ``prev_<score>`` (the contact's score in the preceding
    wave of the data, filled with the mean of the known values where unknown) and
    ``prev_<score>_known`` (boolean). The mean-fill plus indicator keeps every contact in the
    response model; the indicator absorbs the difference of those without a previous score.
    """
    _require(contacts, ["wave", key], "contacts")
    _require(scores, ["wave", key, score], "scores")
    waves = np.sort(contacts["wave"].unique())
    prev = dict(zip(waves[1:], waves[:-1]))
    s = scores[["wave", key, score]].copy()
    s["_points"] = score_points(s[score], score)
    nxt = {v: k for k, v in prev.items()}
    s["wave"] = s["wave"].map(nxt)
    s = s.dropna(subset=["wave"]).astype({"wave": contacts["wave"].dtype})
    name = f"prev_{score}"
    out = contacts.merge(s[["wave", key, "_points"]].rename(columns={"_points": name}),
                         on=["wave", key], how="left")
    out.index = contacts.index
    out[f"{name}_known"] = out[name].notna()
    fill = out[name].mean() if out[name].notna().any() else 0.0
    out[name] = out[name].fillna(fill)
    return out


# ----------------------------------------------------------------------------- sensitivity
def delta_by_response_rate(base_est: float, base_se: float, deltas, response_rates,
                           *, ci: float = 0.95) -> pd.DataFrame:
    """Headline under a not-at-random shift ``delta`` of non-respondents, by response rate.

    The frame mean is ``rr * mean_respondents + (1 - rr) * mean_nonrespondents``; assuming
    non-respondents score ``delta`` away from what the base estimate implies for them, the
    headline is ``base_est + (1 - rr) * delta``.

    Parameters
    ----------
    base_est, base_se : float
        Estimate that is right if non-response is ignorable (respondent mean, or a weighted
        mean under missing-at-random) and its standard error.
    deltas : array-like
        Assumed shifts, in the score's units (CRQ points on 1-7; NPS points, e.g. -20 when a
        tenth of non-respondents move from promoter to detractor).
    response_rates : array-like
        Response rates in (0, 1].
    ci : float
        Confidence level; ``delta`` is fixed, so the interval is the base interval shifted.

    Returns
    -------
    DataFrame
        ``delta, response_rate, shift, est, se, ci_low, ci_high`` (``shift = (1-rr)*delta``).

    Notes
    -----
    Pattern-mixture delta adjustment (Little 1994; as in tipping-point analyses). Checked on
    simulated frames with response driven by an unobserved relationship quality: the grid
    brackets the true frame mean (``tests/models/test_nonresponse.py``).
    """
    d, r = np.meshgrid(np.asarray(deltas, float), np.asarray(response_rates, float), indexing="ij")
    if np.any((r <= 0) | (r > 1)):
        raise ValueError("response rates must lie in (0, 1]")
    shift = (1 - r) * d
    est = base_est + shift
    zc = z_crit(ci)
    return pd.DataFrame({"delta": d.ravel(), "response_rate": r.ravel(), "shift": shift.ravel(),
                         "est": est.ravel(), "se": base_se, "ci_low": est.ravel() - zc * base_se,
                         "ci_high": est.ravel() + zc * base_se})


def delta_sensitivity(contacts: pd.DataFrame, scores: pd.DataFrame, deltas, *,
                      score: str = "crq_index", covariates=None, responded: str = "responded",
                      cluster: str = "account_id", trim: float | None = None,
                      ci: float = 0.95) -> pd.DataFrame:
    """Delta-adjustment grid for one wave: the headline if non-respondents differ by ``delta``.

    Parameters
    ----------
    contacts, scores : DataFrame
        One wave's frame and the respondent scores.
    deltas : array-like
        Assumed shifts of non-respondents relative to the base (see
        :func:`delta_by_response_rate` for units).
    score : str
        Score column (``"nps"`` for the NPS).
    covariates : list of str, optional
        When given, the base is the propensity-weighted estimate (missing at random given
        these), so ``delta`` is the departure from MAR; otherwise the respondent mean.
    responded, cluster, trim, ci
        As in :func:`crqlab.models.weighting.propensity_adjusted`.

    Returns
    -------
    DataFrame
        ``score, base, delta, response_rate, shift, est, se, ci_low, ci_high, n, n_frame``.
    """
    _single_wave(contacts)
    rr = float(contacts[responded].astype(bool).mean())
    if covariates:
        adj = propensity_adjusted(contacts, scores, covariates, score=score, responded=responded,
                                  cluster=cluster, trim=trim, ci=ci)
        base = adj[adj["method"] == "propensity"].iloc[0]
        label = "propensity"
    else:
        _, rd = _respondent_data(contacts, scores, score, None, cluster, responded)
        base = weighted_mean(rd["_pts"], np.ones(len(rd)), rd[cluster], ci=ci)
        label = "respondents"
    out = delta_by_response_rate(base["est"], base["se"], deltas, [rr], ci=ci)
    out.insert(0, "score", score)
    out.insert(1, "base", label)
    out["n"], out["n_frame"] = int(base["n"]), len(contacts)
    return out


# ----------------------------------------------------------------------------- scaled sensitivity
@dataclass(frozen=True)
class MnarSensitivity:
    """Result of :func:`mnar_sensitivity`.

    ``grid``: ``delta, shift, est, se, ci_low, ci_high, nonrespondent_mean`` over the plausible
    range of delta (both ends, zero and every tipping point included). ``tipping``: one row
    per conclusion - ``conclusion, threshold, holds, delta_low, delta_high,
    overturned_in_range`` - the conclusion holds for delta in ``[delta_low, delta_high]``
    (NaN: no limit on that side) and ``overturned_in_range`` says whether a delta within the
    plausible range overturns it. ``bounds``: ``score, base, est, se, ci_low, ci_high,
    response_rate, score_min, score_max, delta_min, delta_max, frame_min, frame_max, n,
    n_frame``.
    """

    grid: pd.DataFrame
    tipping: pd.DataFrame
    bounds: pd.Series


def _conclusion_rows(b: pd.Series, rr: float, thresholds: dict, lo: float, hi: float) -> list:
    """Tipping deltas: the adjusted interval is ``[ci_low, ci_high] + (1 - rr) delta``."""
    k = 1 - rr
    rows = [{"conclusion": "the headline stays within its reported interval",
             "threshold": np.nan, "holds": True,
             "delta_low": (b["ci_low"] - b["est"]) / k if k else np.nan,
             "delta_high": (b["ci_high"] - b["est"]) / k if k else np.nan}]
    for label, t in thresholds.items():
        if b["ci_low"] > t:
            low, high, what = (t - b["ci_low"]) / k if k else np.nan, np.nan, "above"
        elif b["ci_high"] < t:
            low, high, what = np.nan, (t - b["ci_high"]) / k if k else np.nan, "below"
        else:  # the interval holds t: "no clear difference" until it leaves on either side
            low = (t - b["ci_high"]) / k if k else np.nan
            high = (t - b["ci_low"]) / k if k else np.nan
            what = "not clearly different from"
        rows.append({"conclusion": f"the headline is {what} {label}", "threshold": float(t),
                     "holds": True, "delta_low": low, "delta_high": high})
    for r in rows:
        r["overturned_in_range"] = bool((np.isfinite(r["delta_low"]) and r["delta_low"] >= lo)
                                        or (np.isfinite(r["delta_high"]) and r["delta_high"] <= hi))
    return rows


def mnar_sensitivity(contacts: pd.DataFrame, scores: pd.DataFrame, *, score: str = "crq_index",
                     covariates=None, thresholds: dict | None = None,
                     score_range: tuple[float, float] | None = None, n_grid: int = 21,
                     responded: str = "responded", cluster: str = "account_id",
                     trim: float | None = None, ci: float = 0.95) -> MnarSensitivity:
    """Not-at-random sensitivity scaled to the data, with the delta that overturns each
    conclusion (a tipping point) instead of a fixed grid.

    Non-respondents are assumed to score ``delta`` away from the base estimate (the respondent
    mean, or the propensity-weighted mean when ``covariates`` are given); the frame value is
    ``base + (1 - rr) delta`` (:func:`delta_by_response_rate`). The range of delta is what the
    data allow: the non-respondents' mean cannot leave the observed range of the score, so
    ``delta`` runs from ``score_min - base`` to ``score_max - base`` and the frame value from
    ``rr base + (1 - rr) score_min`` to ``rr base + (1 - rr) score_max`` (the worst-case bounds
    of Manski 1989). Every conclusion then gets the delta at which the adjusted interval would
    overturn it, and whether that delta lies inside the range.

    Parameters
    ----------
    contacts, scores : DataFrame
        One wave's frame and the respondent scores.
    score : str
        ``"nps"`` works in NPS points (-100..100 per respondent).
    covariates : list of str, optional
        Frame variables of a propensity model for the base (missing at random given them);
        default the respondent mean.
    thresholds : dict label -> value, optional
        Conclusions to test ("the headline is above <label>"), in the score's units; default
        for ``"nps"`` ``{"0 (as many detractors as promoters)": 0}``, none for other scores.
        The conclusion "the headline stays within its reported interval" is always tested.
    score_range : (min, max), optional
        Range of a non-respondent's score; default the observed range among respondents.
    n_grid : int
        Points of the grid between the ends of the range.
    responded, cluster, trim, ci
        As in :func:`delta_sensitivity`.

    Returns
    -------
    MnarSensitivity

    Notes
    -----
    Pattern-mixture delta adjustment (Little 1994) over a range bounded by the data and
    tipping-point analysis (Yan, Lee & Li 2009). Checked by hand (every tipping delta puts the
    adjusted interval's bound exactly on its threshold) and on crqlab.synth studies where
    response is driven by the relationship itself: the frame truth lies in the range in every
    study, where the former fixed grid missed it (``tests/models/test_nonresponse.py``,
    ``docs/generalisation.md``).
    """
    _single_wave(contacts)
    rr = float(contacts[responded].astype(bool).mean())
    base = delta_sensitivity(contacts, scores, [0.0], score=score, covariates=covariates,
                             responded=responded, cluster=cluster, trim=trim, ci=ci).iloc[0]
    _, rd = _respondent_data(contacts, scores, score, None, cluster, responded)
    lo_s, hi_s = ((float(rd["_pts"].min()), float(rd["_pts"].max())) if score_range is None
                  else (float(score_range[0]), float(score_range[1])))
    if not lo_s <= base["est"] <= hi_s:
        raise ValueError(f"score_range {lo_s, hi_s} must contain the base estimate "
                         f"{base['est']:.4g}")
    d_lo, d_hi = lo_s - base["est"], hi_s - base["est"]
    if thresholds is None:
        thresholds = {"0 (as many detractors as promoters)": 0.0} if score == "nps" else {}
    tipping = pd.DataFrame(_conclusion_rows(base, rr, thresholds, d_lo, d_hi))
    marks = np.concatenate([np.linspace(d_lo, d_hi, max(int(n_grid), 2)), [0.0],
                            tipping[["delta_low", "delta_high"]].to_numpy().ravel()])
    marks = np.unique(marks[np.isfinite(marks) & (marks >= d_lo) & (marks <= d_hi)])
    grid = delta_by_response_rate(base["est"], base["se"], marks, [rr], ci=ci)
    grid = grid.drop(columns="response_rate").assign(nonrespondent_mean=base["est"] + marks)
    bounds = pd.Series({"score": score, "base": base["base"], "est": base["est"],
                        "se": base["se"], "ci_low": base["ci_low"], "ci_high": base["ci_high"],
                        "response_rate": rr, "score_min": lo_s, "score_max": hi_s,
                        "delta_min": d_lo, "delta_max": d_hi,
                        "frame_min": rr * base["est"] + (1 - rr) * lo_s,
                        "frame_max": rr * base["est"] + (1 - rr) * hi_s,
                        "n": int(base["n"]), "n_frame": int(base["n_frame"])}, dtype=object)
    return MnarSensitivity(grid=grid, tipping=tipping, bounds=bounds)


# ----------------------------------------------------------------------------- caveats
def _frame_difference(frame: pd.DataFrame, var: str, responded: str, cluster: str) -> dict:
    """Respondents against non-respondents on one frame variable: the largest absolute
    standardised difference (respondents against the frame, as :func:`balance_table`) and a
    cluster-robust F test of response on the variable (linear probability model, CR1)."""
    from crqlab.models.weighting import _design_matrix, _is_categorical, balance_table

    f = frame[frame[var].notna()]
    resp = f[responded].astype(bool)
    bal = balance_table(f, [var], pd.Series(1.0, index=f.index[resp]), responded=responded)
    X = _design_matrix(f, [var])
    X = X.loc[:, X.nunique() > 1]
    if _is_categorical(f[var]) and X.shape[1] > 1:
        X = X.iloc[:, 1:]          # one level is the reference
    codes = pd.factorize(f[cluster], sort=True)[0]
    G = int(codes.max()) + 1
    k = X.shape[1]
    if k == 0 or G < 3:
        return {"asmd": float(bal["asmd_before"].max()), "stat": np.nan, "p_value": np.nan,
                "df": np.nan, "n": len(f), "n_accounts": G}
    fit = sm.OLS(resp.to_numpy(float), sm.add_constant(X.to_numpy(float), has_constant="add")
                 ).fit(cov_type="cluster", cov_kwds={"groups": codes})
    b, V = np.asarray(fit.params)[1:], np.asarray(fit.cov_params())[1:, 1:]
    F = float(b @ np.linalg.pinv(V) @ b) / k
    return {"asmd": float(bal["asmd_before"].max()), "stat": F, "df": float(G - 1),
            "p_value": float(_st.f.sf(F, k, G - 1)), "n": len(f), "n_accounts": G}


def nonresponse_caveats(contacts: pd.DataFrame, scores: pd.DataFrame, *,
                        score: str = "crq_index", frame_covariates=(), by: str = "reminders",
                        alpha: float = 0.05, min_asmd: float = 0.1,
                        cluster: str = "account_id", responded: str = "responded",
                        ci: float = 0.95) -> pd.DataFrame:
    """Which non-response caveats the data trigger, with the evidence for each.

    A caveat sentence belongs in a report only when the data show the problem; this function
    says whether they do, so the wording can follow (no fixed text).

    * ``late_respondents``: late respondents score differently from early ones
      (:func:`early_late`, late minus early, account-clustered t test): triggered when
      ``p < alpha``. Late respondents are the nearest observed proxy of non-respondents
      (Armstrong & Overton 1977).
    * ``frame`` (one row per variable in ``frame_covariates``): respondents differ from the
      frame on a variable known for everyone: triggered when a cluster-robust F test of
      responding on the variable has ``p < alpha`` *and* the largest absolute standardised
      difference (respondents against the frame) is at least ``min_asmd`` (0.1, the usual
      balance threshold; Austin 2009) - large frames make trivial differences significant.

    Parameters
    ----------
    contacts, scores : DataFrame
        One wave's frame and the respondent scores.
    score : str
        Score compared between early and late respondents (``"nps"``: NPS points).
    frame_covariates : sequence of str
        Frame variables (role, tenure, account size ...).
    by : str
        Timing column of :func:`early_late`.
    alpha, min_asmd : float
        Trigger rules (see above); ``alpha`` is the report's significance level.

    Returns
    -------
    DataFrame
        ``check, variable, triggered, est, ci_low, ci_high, stat, df, p_value, asmd, n,
        n_accounts, rule``. For ``late_respondents`` ``est`` is the late minus early
        difference with its interval; for ``frame`` rows ``stat`` is F and ``asmd`` the
        effect size. A check the data cannot make (e.g. one timing value) has
        ``triggered = False`` and ``rule`` saying why.

    Notes
    -----
    The late-respondent test is :func:`early_late` (validated against R ``survey::svyglm``).
    On frames simulated with response driven by observed frame variables every frame check
    triggers; with response driven by an unobserved quality that also delays answers, the
    late-respondent check triggers and no frame check does (``tests/models/test_nonresponse.py``).
    """
    _single_wave(contacts)
    rows = []
    rule_late = f"p < {alpha:g} (late minus early, account-clustered t test)"
    try:
        el = early_late(contacts, scores, score, by=by, cluster=cluster, responded=responded,
                        ci=ci).set_index("quantity").loc["late_minus_early"]
        rows.append({"check": "late_respondents", "variable": by,
                     "triggered": bool(el["p_value"] < alpha), "rule": rule_late,
                     **{k: el[k] for k in ("est", "ci_low", "ci_high", "stat", "df", "p_value",
                                           "n", "n_accounts")}})
    except (InsufficientDataError, ValidationError) as exc:
        rows.append({"check": "late_respondents", "variable": by, "triggered": False,
                     "rule": f"not checked: {exc}"})
    rule_frame = f"p < {alpha:g} (cluster-robust F) and ASMD >= {min_asmd:g}"
    for var in frame_covariates:
        _require(contacts, [var], "contacts")
        fd = _frame_difference(contacts, var, responded, cluster)
        hit = bool(fd["p_value"] < alpha and fd["asmd"] >= min_asmd)
        rows.append({"check": "frame", "variable": var, "triggered": hit, "rule": rule_frame,
                     **fd})
    cols = ["check", "variable", "triggered", "est", "ci_low", "ci_high", "stat", "df",
            "p_value", "asmd", "n", "n_accounts", "rule"]
    return pd.DataFrame(rows).reindex(columns=cols)

# ----------------------------------------------------------------------------- precision
def precision_by_response_rate(frame_size: int, *, crq_sd: float | None = None,
                               p_promoter: float | None = None, p_detractor: float | None = None,
                               response_rates=None, deff: float = 1.0,
                               ci: float = 0.95) -> pd.DataFrame:
    """Margin of error of mean CRQ and NPS as the response rate of a frame rises.

    Parameters
    ----------
    frame_size : int
        Contacts invited (N).
    crq_sd : float, optional
        Standard deviation of the respondent CRQ index (e.g. the sample SD of a past wave).
    p_promoter, p_detractor : float, optional
        Shares of promoters and detractors; the NPS per-respondent variance is
        ``(pP + pD) - (pP - pD)^2`` in (1/100 NPS points)^2.
    response_rates : array-like, optional
        Default 0.45 to 0.85 in steps of 0.05.
    deff : float
        Design effect multiplier on the variance (e.g. account clustering; 1 = simple random).
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        ``score, response_rate, n, fpc, se, moe`` with ``n = round(rr * N)``,
        ``fpc = 1 - n/N`` and ``moe = z * se`` (half-width of the interval).

    Notes
    -----
    ``se = sqrt(deff * var * (1 - n/N) / n)``: simple random sampling without replacement
    from the frame, treating respondents as a random subset (Cochran 1977, 2.4). A census
    (``n = N``) has no sampling error; non-response bias is a separate matter. Checked
    against hand values in ``tests/models/test_nonresponse.py``.
    """
    if frame_size < 2:
        raise InsufficientDataError(f"frame too small (n={frame_size})")
    rr = np.arange(0.45, 0.8501, 0.05) if response_rates is None else np.asarray(response_rates, float)
    n = np.clip(np.round(rr * frame_size), 1, frame_size).astype(int)
    fpc = 1 - n / frame_size
    parts = []
    if crq_sd is not None:
        parts.append(("crq_index", crq_sd**2))
    if p_promoter is not None and p_detractor is not None:
        parts.append(("nps", 1e4 * ((p_promoter + p_detractor) - (p_promoter - p_detractor) ** 2)))
    if not parts:
        raise ValueError("give crq_sd and/or p_promoter and p_detractor")
    zc = z_crit(ci)
    rows = []
    for name, var in parts:
        se = np.sqrt(deff * var * fpc / n)
        rows.append(pd.DataFrame({"score": name, "response_rate": rr, "n": n, "fpc": fpc,
                                  "se": se, "moe": zc * se}))
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------- decomposition
def _kitagawa(sum_a, cnt_a, sum_b, cnt_b):
    """Kitagawa (1955) split of mean_b - mean_a over segments (last axis).

    Returns (within, composition) per segment; segments missing in a wave take the other
    wave's mean, so their whole contribution is compositional.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        wa = cnt_a / cnt_a.sum(axis=-1, keepdims=True)
        wb = cnt_b / cnt_b.sum(axis=-1, keepdims=True)
        ma, mb = sum_a / cnt_a, sum_b / cnt_b
    ma = np.where(cnt_a > 0, ma, mb)
    mb = np.where(cnt_b > 0, mb, ma)
    ma, mb = np.nan_to_num(ma), np.nan_to_num(mb)
    within = (wa + wb) / 2 * (mb - ma)
    comp = (wb - wa) * (ma + mb) / 2
    return within, comp


def change_decomposition(scores: pd.DataFrame, segment, *, score: str = "crq_index",
                         waves=None, cluster: str = "account_id", n_boot: int = 1000,
                         seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Split a wave-on-wave change into "scores changed" and "who answered changed".

    Parameters
    ----------
    scores : DataFrame
        Respondent-level scores with ``wave``, the segment column(s) and ``cluster``.
    segment : str or list of str
        Respondent segments (role, tenure band, newly_included ...); several columns are
        crossed.
    score : str
        Score column (``"nps"`` decomposes the NPS change).
    waves : (a, b), optional
        The two waves (default: the last two); the change is ``b - a``.
    cluster : str
        Account column, resampled (jointly across both waves) by the bootstrap.
    n_boot, seed : int
        Account bootstrap resamples and seed (percentile intervals).
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        One row per segment and component (``within`` = scores changed at fixed composition,
        ``composition`` = who answered changed) plus ``segment = "all"`` rows for both and
        ``total``: ``segment, component, est, se, ci_low, ci_high, n_a, n_b``. Per segment
        and overall, ``within + composition`` equals the change exactly.

    Notes
    -----
    Kitagawa (1955) symmetric decomposition: ``within_g = (w_ag + w_bg)/2 (m_bg - m_ag)``,
    ``composition_g = (w_bg - w_ag)(m_ag + m_bg)/2``; summed over segments they equal
    ``mean_b - mean_a`` with no interaction term. A segment present in one wave only counts
    as composition. Additivity and a hand example are tested in ``tests/models/test_nonresponse.py``.
    """
    seg = _as_list(segment)
    _require(scores, ["wave", cluster, score, *seg], "scores")
    if waves is None:
        ws = np.sort(scores["wave"].unique())
        if ws.size < 2:
            raise InsufficientDataError(f"decomposition needs two waves (waves={ws.size})")
        waves = (ws[-2], ws[-1])
    d = scores[scores["wave"].isin(waves)].copy()
    d["_pts"] = score_points(d[score], score)
    d = d[d["_pts"].notna()]
    parts = [d[c].astype(str) for c in seg]  # "a | b" labels, joined column-wise (not per row)
    d["_seg"] = parts[0].str.cat(parts[1:], sep=" | ") if len(parts) > 1 else parts[0]
    labels = np.sort(d["_seg"].unique())
    s_code = pd.Index(labels).get_indexer(d["_seg"])
    codes, wboot = cluster_bootstrap_weights(d[cluster], n_boot, seed)
    k, g = wboot.shape[1], labels.size
    mats = {}
    for i, wv in enumerate(waves):
        m = (d["wave"] == wv).to_numpy()
        if m.sum() == 0:
            raise InsufficientDataError(f"wave {wv} has no scored respondents (n=0)")
        flat = codes[m] * g + s_code[m]
        mats[i] = (np.bincount(flat, weights=d["_pts"].to_numpy()[m], minlength=k * g).reshape(k, g),
                   np.bincount(flat, minlength=k * g).reshape(k, g).astype(float))
    (sa, ca), (sb, cb) = mats[0], mats[1]
    within, comp = _kitagawa(sa.sum(0), ca.sum(0), sb.sum(0), cb.sum(0))
    bw, bc = _kitagawa(wboot @ sa, wboot @ ca, wboot @ sb, wboot @ cb)
    point = {("within", lab): within[j] for j, lab in enumerate(labels)}
    point.update({("composition", lab): comp[j] for j, lab in enumerate(labels)})
    boots = {("within", lab): bw[:, j] for j, lab in enumerate(labels)}
    boots.update({("composition", lab): bc[:, j] for j, lab in enumerate(labels)})
    for comp_name, pt, bt in (("within", within, bw), ("composition", comp, bc)):
        point[(comp_name, "all")], boots[(comp_name, "all")] = pt.sum(), bt.sum(axis=1)
    point[("total", "all")] = within.sum() + comp.sum()
    boots[("total", "all")] = bw.sum(axis=1) + bc.sum(axis=1)
    a = (1 - ci) / 2
    n_a = dict(zip(labels, ca.sum(0).astype(int)))
    n_b = dict(zip(labels, cb.sum(0).astype(int)))
    rows = []
    for (comp_name, lab), est in point.items():
        bt = boots[(comp_name, lab)]
        bt = bt[np.isfinite(bt)]
        lo, hi = np.quantile(bt, [a, 1 - a])
        rows.append({"segment": lab, "component": comp_name, "est": float(est),
                     "se": float(bt.std(ddof=1)), "ci_low": lo, "ci_high": hi,
                     "n_a": n_a.get(lab, int(ca.sum())), "n_b": n_b.get(lab, int(cb.sum()))})
    out = pd.DataFrame(rows)
    out.attrs["waves"] = tuple(waves)
    return out
