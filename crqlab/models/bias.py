"""Confidential versus disclosed responses: how much does naming respondents inflate scores?

Two designs (docs/methods.md, section 3) and one back-of-the-envelope calculation:

* **Cross-sectional** (Company B: confidentiality is optional in one wave).
  :func:`confidentiality_share` - who chooses it, overall and by segment;
  :func:`score_differences` - confidential versus named scores (Welch t, Mann-Whitney,
  Hedges g, NPS Wald test); :func:`clustered_effects` - an account-clustered regression of a
  score on confidentiality with the ``newly_included x confidential`` interaction.
* **Panel** (Company A: optional confidentiality in wave 1, none in wave 2).
  :func:`panel_frame` builds one row per wave-1 respondent; then :func:`completion_by_group`,
  :func:`within_change`, :func:`difference_in_differences`, :func:`ipw_difference_in_differences`,
  :func:`dr_difference_in_differences` (the adjustment set chosen from the data; with the
  alternatives in :func:`did_estimates`), :func:`lee_bounds` and :func:`headline_inflation`.
* **From published aggregates**: :func:`what_if` (exact arithmetic, Fractions welcome).
* **Privacy**: :func:`unattributed_verbatims` returns verbatims with nothing that identifies
  who wrote them.

Group labels in every result are ``"confidential"`` and ``"named"`` (named = waived
confidentiality); differences are always confidential minus named. A cross-sectional
difference mixes who chooses confidentiality (selection) with how naming changes answers
(inflation); only the panel design separates them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

from crqlab.data.instruments import load_instrument
from crqlab.data.privacy import suppress_small
from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.measures.nps import nps, nps_test
from crqlab.models.mixed import MixedFit, fit_random_intercept
from crqlab.stats import cluster_bootstrap_weights, mean_ci, wilson_ci, z_crit

__all__ = ["confidentiality_share", "proportion_difference", "score_differences",
           "clustered_effects", "panel_frame", "completion_by_group", "within_change",
           "difference_in_differences", "ipw_difference_in_differences",
           "dr_difference_in_differences", "did_estimates", "adjustment_set", "PANEL_SEGMENTS",
           "lee_bounds",
           "headline_inflation", "what_if", "WhatIf", "unattributed_verbatims",
           "default_scores", "IDENTIFYING_COLUMNS"]

#: Columns that identify a respondent or their account; never returned with a verbatim.
IDENTIFYING_COLUMNS = ("contact_id", "account_id", "account_name", "contact_name",
                       "contact_email", "email", "name", "respondent_id")

GROUPS = ("confidential", "named")


# --------------------------------------------------------------------------- small helpers
def _t_crit(ci: float, df: float) -> float:
    z_crit(ci)  # validates ci
    return float(_st.t.ppf(0.5 + ci / 2, df))


def _bool(series: pd.Series, name: str) -> pd.Series:
    """A boolean column as a nullable boolean (True/False/<NA>), refusing anything else."""
    s = series
    if s.dtype == bool or str(s.dtype) == "boolean":
        return s.astype("boolean")
    # 1 and 0 (and 1.0, 0.0) hash as True and False, so they map too
    mapped = s.map(lambda v: v if pd.isna(v) else {True: True, False: False}.get(v, "bad"))
    if (mapped == "bad").any():
        bad = s[mapped == "bad"].iloc[0]
        raise ValueError(f"column {name!r} must be boolean, got value {bad!r}")
    return mapped.astype("boolean")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; have {list(frame.columns)}")


def _groups(frame: pd.DataFrame, group: str) -> pd.Series:
    """``group`` as a boolean Series indexed like ``frame`` (rows with <NA> dropped)."""
    _require(frame, [group], "group")
    g = _bool(frame[group], group)
    return g[g.notna()].astype(bool)


def _pvalue_t(stat: float, df: float) -> float:
    return float(2 * _st.t.sf(abs(stat), df))


def _pvalue_z(stat: float) -> float:
    return float(2 * _st.norm.sf(abs(stat)))


# --------------------------------------------------------------------------- proportions
def proportion_difference(x1, n1, x2, n2, ci: float = 0.95) -> pd.Series:
    """Difference of two independent proportions, ``x1/n1 - x2/n2``.

    Returns
    -------
    pandas.Series
        ``est, se, ci_low, ci_high, stat, p_value, n``: the Newcombe (1998, method 10) hybrid
        score interval built from the two Wilson intervals, and the pooled two-proportion
        z test (``stat`` is z; z^2 is Pearson's chi-square without continuity correction).
        ``se`` is the unpooled Wald standard error.

    Notes
    -----
    Validated against ``statsmodels.stats.proportion.confint_proportions_2indep``
    (``method="newcomb"``) and R ``prop.test(correct = FALSE)`` in ``tests/models/test_bias.py``.
    """
    x1, n1, x2, n2 = (float(v) for v in (x1, n1, x2, n2))
    if min(n1, n2) < 1:
        raise InsufficientDataError(f"a proportion needs at least one case per group "
                                    f"(n1={n1:.0f}, n2={n2:.0f})")
    p1, p2 = x1 / n1, x2 / n2
    (l1, l2), (u1, u2) = (np.ravel(b) for b in wilson_ci([x1, x2], [n1, n2], ci))
    est = p1 - p2
    low = est - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = est + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (x1 + x2) / (n1 + n2)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    stat = est / se0 if se0 > 0 else np.nan
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return pd.Series({"est": est, "se": se, "ci_low": low, "ci_high": high, "stat": stat,
                      "p_value": _pvalue_z(stat) if np.isfinite(stat) else np.nan,
                      "n": int(n1 + n2)})


def confidentiality_share(responses: pd.DataFrame,
                          by: Sequence[str] = ("newly_included", "role", "account_id"),
                          group: str = "confidential", ci: float = 0.95,
                          min_cell_size: int = 5) -> pd.DataFrame:
    """Share of respondents who chose confidentiality, overall and by segment.

    Parameters
    ----------
    responses : DataFrame
        One row per respondent of a wave where confidentiality was offered; ``group`` is
        boolean (missing = not offered, dropped).
    by : sequence of str
        Segment columns; each gives one block of rows.
    ci : float
        Confidence level of the Wilson intervals.
    min_cell_size : int
        Segments with fewer respondents get ``suppressed = True`` and blank numbers (``n``
        too). The levels of a segment partition the respondents of the ``all`` row (those
        with a missing level count as a hidden level), so a second level is suppressed
        wherever one alone would be recoverable from ``all`` (complementary suppression,
        :func:`crqlab.data.privacy.suppress_small`).

    Returns
    -------
    DataFrame
        ``segment, level, n, n_confidential, est, ci_low, ci_high, suppressed``; the first row
        is ``segment = level = "all"``.

    Notes
    -----
    Wilson intervals from :func:`crqlab.stats.wilson_ci` (validated there against
    statsmodels); counts checked by hand in ``tests/models/test_bias.py``.
    """
    g = _groups(responses, group)
    if g.empty:
        raise InsufficientDataError(f"no respondent has a value in {group!r} (n=0)")
    frame = responses.loc[g.index]
    blocks = [pd.DataFrame({"segment": ["all"], "level": ["all"], "n": [len(g)],
                            "n_confidential": [int(g.sum())]})]
    for seg in by:
        _require(frame, [seg], "segment")
        counts = g.groupby(frame[seg], dropna=True, observed=True).agg(["size", "sum"])
        blocks.append(pd.DataFrame({"segment": seg, "level": counts.index.astype(str),
                                    "n": counts["size"].to_numpy(int),
                                    "n_confidential": counts["sum"].to_numpy(int)}))
    out = pd.concat(blocks, ignore_index=True)
    low, high = wilson_ci(out["n_confidential"], out["n"], ci)
    out["est"] = out["n_confidential"] / out["n"]
    out["ci_low"], out["ci_high"] = low, high
    out = suppress_small(out, "n", min_cell_size,
                         value_cols=["n_confidential", "est", "ci_low", "ci_high"],
                         partition="segment", total={seg: len(g) for seg in by})
    out["n_confidential"] = out["n_confidential"].astype("Int64")
    return out[["segment", "level", "n", "n_confidential", "est", "ci_low", "ci_high",
                "suppressed"]]


# --------------------------------------------------------------------------- two-group scores
def _welch(x: np.ndarray, y: np.ndarray, ci: float) -> dict:
    v1, v2 = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (x.size - 1) + v2**2 / (y.size - 1))
    est = x.mean() - y.mean()
    t = _t_crit(ci, df)
    stat = est / se
    return {"est": est, "se": se, "ci_low": est - t * se, "ci_high": est + t * se,
            "stat": stat, "df": df, "p_value": _pvalue_t(stat, df)}


def _hedges_g(x: np.ndarray, y: np.ndarray, ci: float) -> dict:
    n1, n2 = x.size, y.size
    sp = np.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    g = (x.mean() - y.mean()) / sp * (1 - 3 / (4 * (n1 + n2) - 9))
    se = np.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2 * (n1 + n2)))
    t = _t_crit(ci, n1 + n2 - 2)
    return {"est": g, "se": se, "ci_low": g - t * se, "ci_high": g + t * se}


def _superiority(x: np.ndarray, y: np.ndarray, ci: float) -> dict:
    """Mann-Whitney U with the probability of superiority P(X > Y) + P(X = Y)/2 and its
    DeLong (placement-value) standard error."""
    n1, n2 = x.size, y.size
    res = _st.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic",
                           use_continuity=True)
    ranks = _st.rankdata(np.concatenate([x, y]))
    place_x = (ranks[:n1] - _st.rankdata(x)) / n2      # share of y below each x (ties 1/2)
    place_y = 1 - (ranks[n1:] - _st.rankdata(y)) / n1  # share of x above each y
    est = res.statistic / (n1 * n2)
    se = np.sqrt(place_x.var(ddof=1) / n1 + place_y.var(ddof=1) / n2)
    z = z_crit(ci)
    return {"est": est, "se": se, "ci_low": max(est - z * se, 0.0),
            "ci_high": min(est + z * se, 1.0), "stat": float(res.statistic),
            "p_value": float(res.pvalue)}


def _nps_rows(x: np.ndarray, y: np.ndarray, ci: float) -> list[dict]:
    """NPS of each group (Wald interval) and the two-sample Wald test (crqlab.measures.nps)."""
    keep = ["est", "se", "ci_low", "ci_high", "n"]
    rows = [{"measure": label, **nps(v, ci).iloc[0][keep].to_dict()}
            for label, v in zip(GROUPS, (x, y))]
    test = nps_test(x, y, method="wald", ci=ci).iloc[0]
    rows.append({"measure": "difference", **test[keep[:-1] + ["stat", "p_value"]].to_dict(),
                 "n": x.size + y.size})
    return rows


def _mean_rows(x: np.ndarray, y: np.ndarray, ci: float) -> list[dict]:
    rows = [{"measure": label, **mean_ci(v, ci).to_dict()} for label, v in zip(GROUPS, (x, y))]
    n = x.size + y.size
    rows.append({"measure": "difference", **_welch(x, y, ci), "n": n})
    rows.append({"measure": "hedges_g", **_hedges_g(x, y, ci), "n": n})
    rows.append({"measure": "mann_whitney", **_superiority(x, y, ci), "n": n})
    return rows


def default_scores(frame: pd.DataFrame, instrument: str = "crq") -> list[str]:
    """Score columns present in ``frame``: ``nps_mean``/``nps`` (from ``nps``), the
    instrument's elements and its index."""
    inst = load_instrument(instrument)
    names = list(inst.elements) + ([inst.index_name] if inst.index_name else [])
    head = ["nps_mean", "nps"] if "nps" in frame.columns else []
    return head + [c for c in names if c in frame.columns]


def score_differences(responses: pd.DataFrame, scores: Sequence[str] | None = None,
                      group: str = "confidential", ci: float = 0.95,
                      instrument: str = "crq") -> pd.DataFrame:
    """Confidential versus named respondents, score by score.

    Parameters
    ----------
    responses : DataFrame
        Respondent-level frame with boolean ``group`` and score columns.
    scores : sequence of str, optional
        Default :func:`default_scores`. ``"nps_mean"`` is the mean of the 0-10 column ``nps``;
        ``"nps"`` is the Net Promoter Score (-100..100) of that column.

    Returns
    -------
    DataFrame
        Long and tidy: ``score, measure, est, se, ci_low, ci_high, stat, df, p_value, n``.
        ``measure`` is ``confidential`` / ``named`` (group means with t intervals; NPS with
        Wald intervals), ``difference`` (confidential - named; Welch t, or the two-sample NPS
        Wald z test), ``hedges_g`` (bias-corrected standardised difference, Hedges-Olkin
        interval), ``mann_whitney`` (``stat`` = U of the confidential group; ``est`` = the
        probability of superiority U / (n1 n2) with a DeLong interval).

    Notes
    -----
    Validated against R ``t.test`` and ``wilcox.test(exact = FALSE)`` (values in
    ``tests/results/bias``), pingouin's ``compute_effsize``/``compute_esci`` for Hedges g,
    and a brute-force pairwise count for the probability of superiority.
    """
    g = _groups(responses, group)
    frame = responses.loc[g.index]
    scores = default_scores(frame, instrument) if scores is None else list(scores)
    rows = []
    for score in scores:
        col = "nps" if score == "nps_mean" else score
        _require(frame, [col], "score")
        v = pd.to_numeric(frame[col], errors="coerce")
        x = v[g & v.notna()].to_numpy(float)
        y = v[~g & v.notna()].to_numpy(float)
        if min(x.size, y.size) < 2:
            raise InsufficientDataError(f"{score}: need 2+ answers per group "
                                        f"(confidential n={x.size}, named n={y.size})")
        block = _nps_rows(x, y, ci) if score == "nps" else _mean_rows(x, y, ci)
        rows += [{"score": score, **r} for r in block]
    cols = ["score", "measure", "est", "se", "ci_low", "ci_high", "stat", "df", "p_value", "n"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out["n"] = out["n"].astype(int)
    return out


# --------------------------------------------------------------------------- regressions
def _design(frame: pd.DataFrame, terms: Sequence[str], categorical: Sequence[str]
            ) -> pd.DataFrame:
    """Numeric design matrix: intercept, boolean/numeric terms, ``a:b`` products, and
    treatment dummies ``col[level]`` (first sorted level is the reference, as in R)."""
    X = pd.DataFrame({"intercept": 1.0}, index=frame.index)
    for term in terms:
        parts = term.split(":")
        X[term] = np.prod([frame[p].astype(float).to_numpy() for p in parts], axis=0)
    for col in categorical:
        levels = sorted(frame[col].astype(str).unique())
        for lev in levels[1:]:
            X[f"{col}[{lev}]"] = (frame[col].astype(str) == lev).astype(float)
    return X


def _complete_cases(frame: pd.DataFrame, columns: Sequence[str], booleans: Sequence[str]
                    ) -> pd.DataFrame:
    _require(frame, list(columns), "regression")
    d = frame[list(dict.fromkeys(columns))].copy()
    for b in booleans:
        d[b] = _bool(d[b], b)
    d = d.dropna()
    for b in booleans:
        d[b] = d[b].astype(bool)
    return d


def _tidy(names: Sequence[str], params: np.ndarray, cov: np.ndarray, df: float | None,
          ci: float, contrasts: Mapping[str, Mapping[str, float]] | None = None
          ) -> pd.DataFrame:
    """Estimates (and linear combinations of them) as a tidy table; t(df) or normal tests."""
    names = list(names)
    L, labels = np.eye(len(names)), list(names)
    for label, weights in (contrasts or {}).items():
        row = np.zeros(len(names))
        for term, w in weights.items():
            row[names.index(term)] = w
        L, labels = np.vstack([L, row]), labels + [label]
    est = L @ params
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, cov, L))
    crit = z_crit(ci) if df is None else _t_crit(ci, df)
    stat = est / se
    p = (2 * _st.norm.sf(np.abs(stat)) if df is None else 2 * _st.t.sf(np.abs(stat), df))
    return pd.DataFrame({"term": labels, "est": est, "se": se, "ci_low": est - crit * se,
                         "ci_high": est + crit * se, "stat": stat,
                         "df": np.nan if df is None else float(df), "p_value": p})


def _ols_cluster(y: np.ndarray, X: pd.DataFrame, clusters: pd.Series
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """OLS with the CR1 cluster-robust covariance; returns params, cov, number of clusters."""
    import statsmodels.api as sm

    codes = pd.factorize(clusters, sort=True)[0]
    G = int(codes.max()) + 1
    if G < 2:
        raise InsufficientDataError(f"cluster-robust errors need 2+ clusters (n_accounts={G})")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise InsufficientDataError(f"design is rank deficient (n={len(y)}): a term does not "
                                    f"vary, e.g. a group or segment level is empty")
    fit = sm.OLS(y, X.to_numpy()).fit(cov_type="cluster", cov_kwds={"groups": codes},
                                      use_t=True)
    return np.asarray(fit.params), np.asarray(fit.cov_params()), G


def _mixed(y: np.ndarray, X: pd.DataFrame, clusters: pd.Series) -> MixedFit:
    """Random-intercept linear mixed model (REML), convergence guarded
    (:func:`crqlab.models.mixed.fit_random_intercept`)."""
    return fit_random_intercept(y, X.to_numpy(float), pd.factorize(clusters, sort=True)[0],
                                reml=True)


def clustered_effects(responses: pd.DataFrame, score: str, group: str = "confidential",
                      moderator: str | None = "newly_included",
                      controls: Sequence[str] = ("role",), cluster: str = "account_id",
                      method: str = "ols", ci: float = 0.95) -> pd.DataFrame:
    """Regression of a score on confidentiality, clustered by account.

    Model: ``score ~ group + moderator + group:moderator + controls``; ``controls`` that are
    not boolean or numeric become treatment dummies ``col[level]`` (reference = first sorted
    level). ``method="ols"``: OLS with the CR1 cluster-robust covariance and t tests on
    ``n_accounts - 1`` df (Stata/R ``sandwich::vcovCL(type = "HC1")``). ``method="mixed"``:
    linear mixed model with a random account intercept (REML), Wald z tests, fitted by
    :func:`crqlab.models.mixed.fit_random_intercept` (no unconverged or off-optimum fit is
    ever returned).

    Returns
    -------
    DataFrame
        ``term, est, se, ci_low, ci_high, stat, df, p_value, n, n_accounts, method``. With a
        moderator, an extra row ``"{group} + {group}:{moderator}"`` is the confidentiality
        effect among moderator = True (e.g. newly included contacts). The mixed model adds
        ``term = "var(account)"`` (no test) and ``attrs``: ``boundary`` (True when the
        account variance is on the boundary, 0 - a singular fit: the data show no
        between-account variance and the fixed effects are those of OLS with model-based
        errors), ``optimiser`` and ``loglik``.

    Raises
    ------
    ConvergenceError
        ``method="mixed"`` and no optimiser reached the maximum of the likelihood.

    Notes
    -----
    Validated against R ``lm`` + ``sandwich::vcovCL`` + ``lmtest::coeftest(df = G - 1)`` (to
    1e-9) and ``lme4::lmer(REML = TRUE)`` (fixed effects and SEs to 1e-4; values in
    ``tests/results/bias``), and the mixed model on the High School and Beyond data
    (``mathach ~ catholic * minority + ses + (1 | school)``, ``tests/results/mixed``), where an
    unguarded statsmodels fit returned a zero intercept and a zero school variance. On the ``company-b`` synthetic studies (seeds 0-49) the OLS
    interval for the interaction covers the planted value in 47/50 (0-10 answer) and 48/50
    (CRQ index) seeds, with the cluster-robust SE within 10% of the spread of the estimates.
    """
    if method not in ("ols", "mixed"):
        raise ValueError(f"method must be 'ols' or 'mixed', got {method!r}")
    col = "nps" if score == "nps_mean" else score
    booleans = [group] + ([moderator] if moderator else [])
    d = _complete_cases(responses, [col, *booleans, *controls, cluster], booleans)
    numeric = [c for c in controls if pd.api.types.is_bool_dtype(d[c])
               or str(d[c].dtype) == "boolean" or pd.api.types.is_numeric_dtype(d[c])]
    terms = booleans + ([f"{group}:{moderator}"] if moderator else []) + numeric
    X = _design(d, terms, [c for c in controls if c not in numeric])
    y = d[col].astype(float).to_numpy()
    n_acc = int(d[cluster].nunique())
    contrasts = ({f"{group} + {group}:{moderator}": {group: 1.0, f"{group}:{moderator}": 1.0}}
                 if moderator else None)
    if method == "ols":
        params, cov, G = _ols_cluster(y, X, d[cluster])
        out = _tidy(X.columns, params, cov, G - 1, ci, contrasts)
    else:
        fit = _mixed(y, X, d[cluster])
        out = _tidy(X.columns, fit.fe_params, fit.cov_fe, None, ci, contrasts)
        out = pd.concat([out, pd.DataFrame({"term": ["var(account)"],
                                            "est": [fit.var_group]})], ignore_index=True)
        out.attrs.update(boundary=fit.boundary, optimiser=fit.optimiser, loglik=fit.loglik)
    out["n"], out["n_accounts"], out["method"] = len(d), n_acc, method
    return out


# --------------------------------------------------------------------------- panel
def panel_frame(responses: pd.DataFrame, contacts: pd.DataFrame | None = None,
                score: str = "nps", group: str = "confidential", waves: tuple = (1, 2),
                covariates: Sequence[str] = ("account_id", "role", "newly_included"),
                baseline: Sequence[str] = ()) -> pd.DataFrame:
    """One row per wave-1 respondent who was offered confidentiality, with wave-2 outcome.

    Parameters
    ----------
    responses : DataFrame
        Respondent-level frames of both waves stacked (``wave, contact_id, group, score``,
        covariates).
    contacts : DataFrame, optional
        The invitation frame. When given, only wave-1 respondents invited again in wave 2
        are kept (the others could not complete it), and covariates missing from
        ``responses`` are taken from the wave-1 frame.
    score : str
        Score column (``"nps"`` is the 0-10 answer).
    baseline : sequence of str
        Further wave-1 columns of ``responses`` to keep as ``<name>_w1`` (e.g. the wave-1
        ``satisfaction`` score, to adjust the difference in differences for it).

    Returns
    -------
    DataFrame
        ``contact_id``, covariates, ``confidential`` (bool, wave-1 choice), ``score_w1``,
        the ``<baseline>_w1`` columns, ``completed`` (a wave-2 response exists), ``score_w2``,
        ``change`` (w2 - w1).
        ``attrs["n_not_invited"]`` counts wave-1 respondents dropped for not being invited.
    """
    w1, w2 = waves
    _require(responses, ["wave", "contact_id", group, score], "responses")
    r1 = responses[responses["wave"] == w1]
    g = _groups(r1, group)
    r1 = r1.loc[g.index].assign(**{group: g})
    have = [c for c in covariates if c in r1.columns]
    _require(r1, list(baseline), "responses (baseline)")
    base = r1[["contact_id", *have, group, score]].rename(columns={score: "score_w1",
                                                                   group: "confidential"})
    for c in baseline:
        base[f"{c}_w1"] = pd.to_numeric(r1[c], errors="coerce").astype(float)
    n_not_invited = 0
    if contacts is not None:
        _require(contacts, ["wave", "contact_id"], "contacts")
        lacking = [c for c in covariates if c not in have]
        if lacking:
            _require(contacts, lacking, "contacts")
            c1 = contacts.loc[contacts["wave"] == w1, ["contact_id", *lacking]]
            base = base.merge(c1, on="contact_id", how="left", validate="one_to_one")
        invited = contacts.loc[contacts["wave"] == w2, "contact_id"]
        keep = base["contact_id"].isin(invited)
        n_not_invited = int((~keep).sum())
        base = base[keep]
    else:
        _require(r1, list(covariates), "responses")
    r2 = responses.loc[responses["wave"] == w2, ["contact_id", score]]
    out = base.merge(r2.rename(columns={score: "score_w2"}), on="contact_id", how="left",
                     validate="one_to_one", indicator=True)
    out["completed"] = out.pop("_merge").eq("both")
    for c in ("score_w1", "score_w2"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    out["change"] = out["score_w2"] - out["score_w1"]
    out = out.reset_index(drop=True)
    out.attrs["n_not_invited"] = n_not_invited
    return out


def completion_by_group(panel: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Completion of wave 2 by wave-1 group, and the difference (confidential - named).

    Returns
    -------
    DataFrame
        ``group, est, se, ci_low, ci_high, stat, p_value, n, n_completed``; group rows carry
        Wilson intervals, the ``difference`` row the Newcombe interval and pooled z test of
        :func:`proportion_difference`.
    """
    g = panel["confidential"].astype(bool)
    done = panel["completed"].astype(bool)
    x = [int(done[g].sum()), int(done[~g].sum())]
    n = [int(g.sum()), int((~g).sum())]
    rows = []
    for label, xi, ni in zip(GROUPS, x, n):
        low, high = wilson_ci(xi, ni, ci)
        p = xi / ni if ni else np.nan
        rows.append({"group": label, "est": p, "se": np.sqrt(p * (1 - p) / ni) if ni else np.nan,
                     "ci_low": float(low), "ci_high": float(high), "n": ni, "n_completed": xi})
    diff = proportion_difference(x[0], n[0], x[1], n[1], ci)
    rows.append({"group": "difference", **diff.to_dict(), "n_completed": sum(x)})
    cols = ["group", "est", "se", "ci_low", "ci_high", "stat", "p_value", "n", "n_completed"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out[["n", "n_completed"]] = out[["n", "n_completed"]].astype(int)
    return out


def within_change(panel: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """Within-person change (wave 2 - wave 1) by wave-1 group: paired t test and interval.

    Returns
    -------
    DataFrame
        ``group, est, se, ci_low, ci_high, stat, df, p_value, n, mean_w1, mean_w2`` (completers
        with both scores).

    Notes
    -----
    Validated against R ``t.test(paired = TRUE)`` (values in ``tests/results/bias``).
    """
    rows = []
    for label, mask in zip(GROUPS, (panel["confidential"], ~panel["confidential"])):
        d = panel.loc[mask.astype(bool) & panel["change"].notna()]
        if len(d) < 2:
            raise InsufficientDataError(f"paired change of {label} needs 2+ completers "
                                        f"(n={len(d)})")
        m = mean_ci(d["change"], ci)
        stat = m["est"] / m["se"] if m["se"] > 0 else np.nan
        rows.append({"group": label, **m.to_dict(), "stat": stat, "df": len(d) - 1,
                     "p_value": _pvalue_t(stat, len(d) - 1), "mean_w1": d["score_w1"].mean(),
                     "mean_w2": d["score_w2"].mean()})
    cols = ["group", "est", "se", "ci_low", "ci_high", "stat", "df", "p_value", "n", "mean_w1",
            "mean_w2"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out["n"] = out["n"].astype(int)
    return out


def difference_in_differences(panel: pd.DataFrame, covariates: Sequence[str] = (),
                              cluster: str = "account_id", ci: float = 0.95) -> pd.DataFrame:
    """Difference in differences among completers, clustered by account.

    OLS of ``change`` on ``confidential`` (+ covariates) with CR1 cluster-robust errors; the
    ``confidential`` coefficient is the extra wave-2 change of respondents who had chosen
    confidentiality, i.e. the effect of being named on them, net of the common trend (the
    named group's change). Completers only: under selective attrition see
    :func:`ipw_difference_in_differences` and :func:`lee_bounds`.

    The plain DiD assumes parallel trends. If the dissatisfied choose confidentiality and
    satisfaction is partly transitory, their scores bounce back anyway and the plain DiD
    overstates the inflation; adjusting for the lagged outcome (``score_w1``) overcorrects.
    Adjust for wave-1 measures of what drives the choice instead, e.g.
    ``covariates=["satisfaction_w1"]`` (``panel_frame(..., baseline=["satisfaction"])``).

    Returns
    -------
    DataFrame
        ``term, est, se, ci_low, ci_high, stat, df, p_value, n, n_accounts``.

    Notes
    -----
    Same estimator as :func:`clustered_effects`; validated against R ``lm`` +
    ``sandwich::vcovCL`` with and without covariates. The no-covariate case equals the
    difference of the paired mean changes. On the ``company-a`` synthetic studies (seeds
    0-49) the satisfaction-adjusted interval covers the planted inflation in 49/50 (0-10
    answer) and 47/50 (CRQ index) seeds; the plain DiD is biased upwards (mean error about
    +0.2 points on 0-10) and the lagged-score adjustment downwards (``tests/models/test_bias.py``).
    """
    d = panel[panel["change"].notna()]
    d = _complete_cases(d, ["change", "confidential", *covariates, cluster], ["confidential"])
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(d[c])
               or pd.api.types.is_bool_dtype(d[c])]
    X = _design(d, ["confidential", *numeric], [c for c in covariates if c not in numeric])
    params, cov, G = _ols_cluster(d["change"].to_numpy(float), X, d[cluster])
    out = _tidy(X.columns, params, cov, G - 1, ci)
    out["n"], out["n_accounts"] = len(d), G
    return out


def _logit(y: np.ndarray, X: np.ndarray, max_iter: int = 50) -> np.ndarray:
    """Logistic regression by Newton-Raphson; ConvergenceError on separation / no convergence."""
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = p * (1 - p)
        if np.any(w < 1e-10):
            raise ConvergenceError("completion model separates the data (fitted probabilities "
                                   "of 0 or 1); use fewer covariates")
        step = np.linalg.solve((X * w[:, None]).T @ X, X.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            return beta
    raise ConvergenceError(f"completion model did not converge in {max_iter} iterations")


def _ipw_parts(d: pd.DataFrame, covariates: Sequence[str]) -> dict:
    """Per group: logistic completion model on wave-1 covariates and Hajek-weighted mean change,
    with the stacked estimating functions (per respondent) and their Jacobian."""
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(d[c])
               or pd.api.types.is_bool_dtype(d[c])]
    X_all = _design(d, numeric, [c for c in covariates if c not in numeric])
    parts = {}
    for label, mask in zip(GROUPS, (d["confidential"], ~d["confidential"])):
        Xg = X_all.loc[mask]
        Xg = Xg.loc[:, (Xg.nunique() > 1) | (Xg.columns == "intercept")]  # drop constants
        X, r = Xg.to_numpy(float), d.loc[mask, "completed"].to_numpy(float)
        if r.sum() < 2 or r.sum() > len(r) - 1:
            raise InsufficientDataError(f"{label}: the completion model needs completers and "
                                        f"non-completers (n={len(r)}, completed={r.sum():.0f})")
        beta = _logit(r, X)
        p = 1 / (1 + np.exp(-(X @ beta)))
        delta = np.nan_to_num(d.loc[mask, "change"].to_numpy(float))
        mu = np.sum(r * delta / p) / np.sum(r / p)
        # estimating functions psi = [(r - p) x, r/p (delta - mu)] and dpsi/dtheta (summed)
        psi = np.column_stack([(r - p)[:, None] * X, r / p * (delta - mu)])
        k = X.shape[1]
        A = np.zeros((k + 1, k + 1))
        A[:k, :k] = -(X * (p * (1 - p))[:, None]).T @ X
        A[k, :k] = -(r * (delta - mu) * (1 - p) / p) @ X
        A[k, k] = -np.sum(r / p)
        parts[label] = {"mu": mu, "psi": psi, "A": A, "index": Xg.index, "k": k}
    return parts


def ipw_difference_in_differences(panel: pd.DataFrame,
                                  covariates: Sequence[str] = ("score_w1", "role",
                                                               "newly_included"),
                                  cluster: str = "account_id", ci: float = 0.95
                                  ) -> pd.DataFrame:
    """Attrition-aware difference in differences by inverse probability of completing wave 2.

    In each wave-1 group, a logistic model predicts completing wave 2 from wave-1 covariates
    (by default the wave-1 score, role and newly_included); each completer's change is weighted
    by 1 / fitted probability (Hajek), which recovers the mean change of the whole wave-1 group
    when completion depends only on those covariates (missing at random).

    Returns
    -------
    DataFrame
        ``term`` in ``confidential``, ``named`` (IPW mean change) and ``difference``
        (confidential - named), with ``est, se, ci_low, ci_high, stat, df, p_value, n,
        n_accounts``. Standard errors are cluster-robust sandwich errors of the stacked
        estimating equations (completion models and weighted means together, so the
        estimation of the weights is accounted for), with the G/(G-1) factor and t(G-1)
        intervals.

    Notes
    -----
    Point estimates validated against R ``glm(binomial)`` fits and Hajek means
    (``tests/results/bias``); the sandwich SE against an account-cluster bootstrap of the whole
    two-stage procedure; 95% coverage of a planted inflation (60 seeds) where completion
    depends on the wave-1 score and the completers-only DiD is biased (``tests/models/test_bias.py``).
    IPW corrects attrition that is explained by wave-1 covariates only; it does not correct
    the DiD's parallel-trends assumption (see :func:`difference_in_differences`).
    """
    d = _complete_cases(panel, ["confidential", "completed", *covariates, cluster],
                        ["confidential", "completed"])
    d = d.join(panel["change"])
    if d.loc[d["completed"], "change"].isna().any():
        d = d[~(d["completed"] & d["change"].isna())]
    parts = _ipw_parts(d, covariates)
    sizes = [parts[g]["k"] + 1 for g in GROUPS]
    A = np.zeros((sum(sizes), sum(sizes)))
    psi = np.zeros((len(d), sum(sizes)))
    pos = pd.Series(np.arange(len(d)), index=d.index)
    start = 0
    for label, size in zip(GROUPS, sizes):
        A[start:start + size, start:start + size] = parts[label]["A"]
        psi[pos[parts[label]["index"]].to_numpy(), start:start + size] = parts[label]["psi"]
        start += size
    codes = pd.factorize(d[cluster], sort=True)[0]
    G = int(codes.max()) + 1
    if G < 2:
        raise InsufficientDataError(f"cluster-robust errors need 2+ clusters (n_accounts={G})")
    S = np.zeros((G, psi.shape[1]))
    np.add.at(S, codes, psi)
    A_inv = np.linalg.inv(A)
    V = A_inv @ (S.T @ S) @ A_inv.T * G / (G - 1)
    i_c, i_n = sizes[0] - 1, sum(sizes) - 1
    params = np.array([parts["confidential"]["mu"], parts["named"]["mu"]])
    cov = V[np.ix_([i_c, i_n], [i_c, i_n])]
    out = _tidy(list(GROUPS), params, cov, G - 1, ci,
                {"difference": {"confidential": 1.0, "named": -1.0}})
    out["n"], out["n_accounts"] = len(d), G
    return out


# --------------------------------------------------------------------------- doubly robust DiD
#: Segment columns of a panel that enter the default adjustment set when present and varying.
PANEL_SEGMENTS = ("role", "newly_included")


def adjustment_set(panel: pd.DataFrame, segments: Sequence[str] = PANEL_SEGMENTS) -> list[str]:
    """The default adjustment set of the panel DiD, read from the data: every wave-1 baseline
    column of ``panel`` (``<element>_w1``, from ``panel_frame(..., baseline=[...])``; the
    outcome's own ``score_w1`` excluded) and every segment column in ``segments`` that
    varies among the completers."""
    done = panel[panel["change"].notna()] if "change" in panel else panel
    base = [c for c in panel.columns if c.endswith("_w1") and c != "score_w1"
            and done[c].notna().any() and done[c].nunique() > 1]
    segs = [c for c in segments if c in panel.columns and done[c].nunique() > 1]
    return base + segs


def _dr_parts(d: pd.DataFrame, covariates: Sequence[str]) -> dict:
    """AIPW DiD on completers: estimating functions (per respondent) and their Jacobian for
    theta = (gamma: logit of choosing confidentiality, beta: OLS of the change among the named,
    mu1, mu0)."""
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(d[c])
               or pd.api.types.is_bool_dtype(d[c])]
    Xf = _design(d, numeric, [c for c in covariates if c not in numeric])
    Xf = Xf.loc[:, (Xf.nunique() > 1) | (Xf.columns == "intercept")]
    X = Xf.to_numpy(float)
    D = d["confidential"].to_numpy(float)
    y = d["change"].to_numpy(float)
    n1, n0 = D.sum(), (1 - D).sum()
    if min(n1, n0) < X.shape[1] + 2:
        raise InsufficientDataError(f"the doubly robust DiD needs more completers per group than "
                                    f"adjustment terms ({X.shape[1]}): confidential n={n1:.0f}, "
                                    f"named n={n0:.0f}")
    if np.linalg.matrix_rank(X[D == 0]) < X.shape[1]:
        raise InsufficientDataError(f"the outcome model among the named is rank deficient "
                                    f"(n={n0:.0f}, {X.shape[1]} terms)")
    gamma = _logit(D, X)
    p = 1 / (1 + np.exp(-(X @ gamma)))
    beta = np.linalg.lstsq(X[D == 0], y[D == 0], rcond=None)[0]
    e = y - X @ beta                                   # change beyond the named's prediction
    odds = p / (1 - p)
    mu1 = np.sum(D * e) / n1
    mu0 = np.sum((1 - D) * odds * e) / np.sum((1 - D) * odds)
    k = X.shape[1]
    psi = np.column_stack([(D - p)[:, None] * X, ((1 - D) * e)[:, None] * X, D * (e - mu1),
                           (1 - D) * odds * (e - mu0)])
    A = np.zeros((2 * k + 2, 2 * k + 2))
    A[:k, :k] = -(X * (p * (1 - p))[:, None]).T @ X
    A[k:2 * k, k:2 * k] = -(X * (1 - D)[:, None]).T @ X
    A[2 * k, k:2 * k] = -(D @ X)
    A[2 * k, 2 * k] = -n1
    A[2 * k + 1, :k] = ((1 - D) * odds * (e - mu0)) @ X
    A[2 * k + 1, k:2 * k] = -(((1 - D) * odds) @ X)
    A[2 * k + 1, 2 * k + 1] = -np.sum((1 - D) * odds)
    w0 = (1 - D) * odds
    return {"mu1": mu1, "mu0": mu0, "psi": psi, "A": A, "terms": list(Xf.columns),
            "n_eff_named": float(w0.sum() ** 2 / np.sum(w0**2)),
            "max_weight_share": float(w0.max() / w0.sum()), "propensity": p}


def dr_difference_in_differences(panel: pd.DataFrame, covariates: Sequence[str] | None = None,
                                 cluster: str = "account_id", ci: float = 0.95
                                 ) -> pd.DataFrame:
    """Doubly robust difference in differences: the adjustment set chosen from the data.

    Among completers, a logistic model of having chosen confidentiality on the wave-1
    covariates gives each named respondent the odds weight ``p / (1 - p)``; a linear model of
    the change among the named predicts what each respondent's change would have been without
    being named. The effect on the previously confidential is their mean change beyond that
    prediction minus the odds-weighted mean of the same among the named (augmented inverse
    probability weighting; Sant'Anna & Zhao 2020, the panel DR DiD). It is consistent when
    either model is right, and needs no choice of which element drove confidentiality: by
    default both models use every wave-1 element and segment in the data
    (:func:`adjustment_set`).

    Parameters
    ----------
    panel : DataFrame
        From :func:`panel_frame`, with ``baseline=`` the instrument's elements (their wave-1
        scores become ``<element>_w1``).
    covariates : sequence of str, optional
        The adjustment set; default :func:`adjustment_set` (every ``*_w1`` baseline except the
        outcome's own ``score_w1``, plus role and newly_included where they vary). Categorical
        columns become treatment dummies.
    cluster : str
        Account column; standard errors are clustered on it.
    ci : float
        Confidence level (t on ``n_accounts - 1`` df).

    Returns
    -------
    DataFrame
        One row, ``term = "confidential"`` (as :func:`difference_in_differences`): ``est, se,
        ci_low, ci_high, stat, df, p_value, n, n_accounts, n_confidential, n_eff_named,
        max_weight_share``. ``n_eff_named`` is Kish's effective number of named completers
        under the odds weights and ``max_weight_share`` the largest single weight's share
        (poor overlap shows as a small ``n_eff_named`` or a large share). ``attrs`` hold
        ``covariates`` (the adjustment set used) and ``terms`` (the design's columns).

    Notes
    -----
    Standard errors are cluster-robust sandwich errors of the stacked estimating equations
    (both nuisance models and the two means, so their estimation is accounted for), with the
    G/(G-1) factor and t(G-1) intervals, as :func:`ipw_difference_in_differences`. Validated:
    point estimate against a by-hand R computation with ``glm(binomial)`` and ``lm``
    (``tests/results/bias/make_drdid.R``); the sandwich SE against an account-cluster
    bootstrap of the whole procedure; without covariates it equals the plain DiD; double
    robustness on planted data where one of the two models is wrong; and coverage of the
    planted inflation on three generator structures (``tests/generalisation/``,
    ``docs/generalisation.md``): on the 0-10 answer it covers on all three, where the
    satisfaction-only adjustment is biased as soon as another element drives the choice; on
    the CRQ index, whose wave-1 elements make up the outcome's own baseline, it over-corrects
    by about 0.06 points (85% coverage on two structures).
    """
    covs = adjustment_set(panel) if covariates is None else list(covariates)
    d = panel[panel["change"].notna()]
    d = _complete_cases(d, ["change", "confidential", *covs, cluster], ["confidential"])
    parts = _dr_parts(d, covs)
    codes = pd.factorize(d[cluster], sort=True)[0]
    G = int(codes.max()) + 1 if len(codes) else 0
    if G < 2:
        raise InsufficientDataError(f"cluster-robust errors need 2+ clusters (n_accounts={G})")
    S = np.zeros((G, parts["psi"].shape[1]))
    np.add.at(S, codes, parts["psi"])
    A_inv = np.linalg.inv(parts["A"])
    V = A_inv @ (S.T @ S) @ A_inv.T * G / (G - 1)
    L = np.zeros(V.shape[0])
    L[-2], L[-1] = 1.0, -1.0
    out = _tidy(["confidential"], np.array([parts["mu1"] - parts["mu0"]]),
                np.array([[L @ V @ L]]), G - 1, ci)
    out["n"], out["n_accounts"] = len(d), G
    out["n_confidential"] = int(d["confidential"].sum())
    out["n_eff_named"], out["max_weight_share"] = parts["n_eff_named"], parts["max_weight_share"]
    out.attrs.update(covariates=covs, terms=parts["terms"])
    return out


def did_estimates(panel: pd.DataFrame, single: str | None = "satisfaction_w1",
                  covariates: Sequence[str] | None = None, cluster: str = "account_id",
                  ci: float = 0.95) -> pd.DataFrame:
    """The panel DiD three ways, the data-chosen default first.

    Rows ``method``: ``doubly_robust`` (:func:`dr_difference_in_differences`, the adjustment
    set chosen from the data - the default to report), ``plain``
    (:func:`difference_in_differences` without covariates: parallel trends) and, when
    ``single`` is a column of the panel, ``single`` (adjusted for that one wave-1 covariate,
    the former default). A method that cannot be estimated on these data is left out, with
    its reason in ``attrs``.

    Returns
    -------
    DataFrame
        ``method, covariates, est, se, ci_low, ci_high, stat, df, p_value, n, n_accounts``;
        ``covariates`` lists the adjustment set as text. ``attrs["skipped"]`` maps a method
        that could not be estimated to the reason (e.g. too few completers for the
        adjustment set).
    """
    rows, skipped = [], {}
    try:
        dr = dr_difference_in_differences(panel, covariates, cluster=cluster, ci=ci)
        rows.append(dr.iloc[0].to_dict() | {"method": "doubly_robust",
                                            "covariates": ", ".join(dr.attrs["covariates"])})
    except (InsufficientDataError, ConvergenceError) as exc:
        skipped["doubly_robust"] = str(exc)
    for method, covs in (("plain", []), ("single", [single] if single else None)):
        if covs is None or any(c not in panel.columns for c in covs):
            continue
        t = difference_in_differences(panel, covariates=covs, cluster=cluster, ci=ci)
        rows.append(t.set_index("term").loc["confidential"].to_dict()
                    | {"method": method, "covariates": ", ".join(covs)})
    cols = ["method", "covariates", "est", "se", "ci_low", "ci_high", "stat", "df", "p_value",
            "n", "n_accounts"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out.attrs["skipped"] = skipped
    return out


# --------------------------------------------------------------------------- Lee bounds
def _trimmed_means(values: np.ndarray, weights: np.ndarray, trim: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Means after trimming a share ``trim`` of the weight from the top (-> lower mean) and
    from the bottom (-> upper mean); ties split by fractional weights, so the result is the
    trimmed mean of the weighted distribution. ``weights`` is (B, n), ``trim`` (B,)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[:, order]
    cum = np.cumsum(w, axis=1)
    prev = cum - w
    total = cum[:, -1:]
    keep = (1 - trim[:, None]) * total
    low_w = np.clip(np.minimum(cum, keep) - prev, 0, None)
    drop = trim[:, None] * total
    high_w = np.clip(cum - np.maximum(prev, drop), 0, None)
    return (low_w @ v) / keep[:, 0], (high_w @ v) / keep[:, 0]


def _lee_from_weights(d: pd.DataFrame, outcome: str, w: np.ndarray) -> dict:
    """Lee bounds for each row of observation weights ``w`` (B, n)."""
    g = d["confidential"].to_numpy(bool)
    r = d["completed"].to_numpy(bool)
    q = {lab: (w[:, m & r].sum(1) / w[:, m].sum(1)) for lab, m in zip(GROUPS, (g, ~g))}
    y = d[outcome].to_numpy(float)
    means = {lab: (w[:, m & r] @ np.nan_to_num(y[m & r])) / w[:, m & r].sum(1)
             for lab, m in zip(GROUPS, (g, ~g))}
    trim_named = q["named"] >= q["confidential"]
    hi_q = np.where(trim_named, q["named"], q["confidential"])
    trim = (hi_q - np.minimum(q["named"], q["confidential"])) / hi_q
    lower, upper = np.empty(len(trim)), np.empty(len(trim))
    for lab, mask_rows in (("named", trim_named), ("confidential", ~trim_named)):
        if not mask_rows.any():
            continue
        m = (g if lab == "confidential" else ~g) & r
        lo_mean, hi_mean = _trimmed_means(y[m], w[np.ix_(mask_rows, m)], trim[mask_rows])
        other = means["named" if lab == "confidential" else "confidential"][mask_rows]
        if lab == "named":
            lower[mask_rows], upper[mask_rows] = other - hi_mean, other - lo_mean
        else:
            lower[mask_rows], upper[mask_rows] = lo_mean - other, hi_mean - other
    return {"lower": lower, "upper": upper, "trim": trim, "trim_named": trim_named,
            "q_confidential": q["confidential"], "q_named": q["named"]}


def _imbens_manski(lower: float, upper: float, se_l: float, se_u: float, ci: float
                   ) -> tuple[float, float]:
    """Imbens & Manski (2004) interval covering the partially identified parameter."""
    from scipy.optimize import brentq

    width = max(upper - lower, 0.0)
    s = max(se_l, se_u)
    if s == 0:
        return lower, upper
    c = brentq(lambda c: _st.norm.cdf(c + width / s) - _st.norm.cdf(-c) - ci, 0, 10)
    return lower - c * se_l, upper + c * se_u


def lee_bounds(panel: pd.DataFrame, outcome: str = "score_w2", cluster: str = "account_id",
               ci: float = 0.95, n_boot: int = 999, seed: int = 0) -> pd.DataFrame:
    """Lee (2009) bounds on the confidential - named difference under selective attrition.

    The group that completed wave 2 more often has its completers trimmed by the share
    ``(q_high - q_low) / q_high`` from the top (lower bound) and from the bottom (upper bound),
    so both groups are compared on the same share of their wave-1 members. Assumes
    monotonicity: whoever would complete if in the low-completion group would also complete
    in the other; the bounds then bracket the difference among those "always completers".

    Parameters
    ----------
    outcome : str
        ``"score_w2"`` (wave-2 level) or ``"change"`` (within-person change).
    n_boot, seed : int
        Account-cluster bootstrap for the standard errors of the bounds.

    Returns
    -------
    DataFrame
        One row: ``lower, upper, se_lower, se_upper, ci_low, ci_high, trim_share,
        trimmed_group, completion_confidential, completion_named, n, n_accounts``.
        ``ci_low, ci_high`` is the Imbens-Manski (2004) interval for the difference.

    Notes
    -----
    The trimming follows Lee (2009, Review of Economic Studies 76(3)); ties in discrete scores
    are split by fractional weights. Validated against a by-hand R computation
    (``tests/results/bias/make_bias.R``) and on simulated data where the trimmed-away
    respondents are known.
    """
    d = _complete_cases(panel, ["confidential", "completed", cluster],
                        ["confidential", "completed"]).join(panel[outcome])
    d = d[~(d["completed"] & d[outcome].isna())]
    g, r = d["confidential"].to_numpy(bool), d["completed"].to_numpy(bool)
    for lab, m in zip(GROUPS, (g, ~g)):
        if (m & r).sum() < 2:
            raise InsufficientDataError(f"Lee bounds need 2+ completers per group ({lab}: "
                                        f"n={(m & r).sum()})")
    point = _lee_from_weights(d, outcome, np.ones((1, len(d))))
    codes, W = cluster_bootstrap_weights(d[cluster].to_numpy(), n_boot, seed)
    boot = _lee_from_weights(d, outcome, W[:, codes])
    se_l = float(np.nanstd(boot["lower"], ddof=1))
    se_u = float(np.nanstd(boot["upper"], ddof=1))
    lo, hi = float(point["lower"][0]), float(point["upper"][0])
    ci_low, ci_high = _imbens_manski(lo, hi, se_l, se_u, ci)
    return pd.DataFrame([{"lower": lo, "upper": hi, "se_lower": se_l, "se_upper": se_u,
                          "ci_low": ci_low, "ci_high": ci_high,
                          "trim_share": float(point["trim"][0]),
                          "trimmed_group": "named" if point["trim_named"][0] else "confidential",
                          "completion_confidential": float(point["q_confidential"][0]),
                          "completion_named": float(point["q_named"][0]),
                          "n": len(d), "n_accounts": int(codes.max()) + 1}])


# --------------------------------------------------------------------------- what-if
@dataclass(frozen=True)
class WhatIf:
    """Result of :func:`what_if`.

    ``groups`` has one row per group (``share_before, completion, share_after, mean_before,
    mean_after, change``); ``headline`` holds ``mean_before, completion, mean_after, shift,
    trend, inflation, attrition`` (see :func:`what_if`). Values keep the input number type:
    Fractions in, Fractions out.
    """

    groups: pd.DataFrame
    headline: pd.Series


def what_if(shares: Mapping, completion_rates: Mapping, means_before: Mapping,
            means_after: Mapping, reference: str = "named") -> WhatIf:
    """Expected shift in the headline score when confidentiality is removed, from aggregates.

    Parameters
    ----------
    shares : mapping group -> number
        Share of each group among wave-1 respondents (normalised to sum to 1).
    completion_rates : mapping group -> number
        Share of each group that completes wave 2.
    means_before, means_after : mapping group -> number
        Group mean in wave 1 (all members) and in wave 2 (completers).
    reference : str
        Group whose change is taken as the common trend (the named respondents).

    Returns
    -------
    WhatIf
        With ``s`` the wave-1 shares, ``c`` completion, ``b``/``a`` means before/after:

        * ``mean_before = sum s b`` (wave-1 headline), ``completion = sum s c``,
        * ``share_after = w = s c / completion`` (wave-2 composition),
          ``mean_after = sum w a`` (wave-2 headline),
        * ``shift = mean_after - mean_before``, decomposed exactly as
          ``trend + inflation + attrition`` (the same decomposition as
          :func:`headline_inflation` on respondent data): ``trend`` is the reference group's
          change, ``inflation = sum w ((a - b) - trend)`` the extra change of the other groups
          weighted by their share of the completers, ``attrition = sum (w - s) b`` the change
          in the wave-1 headline from who is left.

        From aggregates alone the wave-2 means are of completers while the wave-1 means are of
        everyone, so ``inflation`` mixes the effect of being named with selective attrition
        inside a group (and ``attrition`` misses it); the panel estimators separate them.

    Examples
    --------
    Company A (docs/methods.md section 3): confidential 55% completion, 6.3 -> 7.5; named 70%,
    7.1 -> 7.2. The share choosing confidentiality is not published; assume one in four:

    >>> from fractions import Fraction as F
    >>> r = what_if({"confidential": F(1, 4), "named": F(3, 4)},
    ...             {"confidential": F("0.55"), "named": F("0.70")},
    ...             {"confidential": F("6.3"), "named": F("7.1")},
    ...             {"confidential": F("7.5"), "named": F("7.2")})
    >>> r.headline["mean_before"], r.headline["completion"], r.groups.loc["confidential",
    ...                                                                    "share_after"]
    (Fraction(69, 10), Fraction(53, 80), Fraction(11, 53))
    >>> r.headline["mean_after"], r.headline["shift"]
    (Fraction(3849, 530), Fraction(96, 265))
    >>> r.headline["trend"], r.headline["inflation"], r.headline["attrition"]
    (Fraction(1, 10), Fraction(121, 530), Fraction(9, 265))

    The wave-1 headline is 6.9 (confidential below it at 6.3); after naming it is 7.262
    (confidential above it at 7.5): a shift of +0.362 = 0.1 trend + 0.228 inflation + 0.034
    attrition.

    Notes
    -----
    Exact arithmetic; validated by hand with Fractions in ``tests/models/test_bias.py``.
    """
    names = list(shares)
    for m, what in ((completion_rates, "completion_rates"), (means_before, "means_before"),
                    (means_after, "means_after")):
        if set(m) != set(names):
            raise ValueError(f"{what} must have the groups {names}, got {list(m)}")
    if reference not in names:
        raise ValueError(f"reference group {reference!r} is not one of {names}")
    s, c, b, a = ([m[g] for g in names] for m in (shares, completion_rates, means_before,
                                                  means_after))
    if any(x < 0 for x in s) or sum(s) <= 0 or any(not 0 < x <= 1 for x in c):
        raise ValueError("shares must be >= 0 (not all 0) and completion rates in (0, 1]")
    k, ref = len(names), names.index(reference)
    s = [x / sum(s) for x in s]
    completion = sum(s[i] * c[i] for i in range(k))
    w = [s[i] * c[i] / completion for i in range(k)]
    before = sum(s[i] * b[i] for i in range(k))
    after = sum(w[i] * a[i] for i in range(k))
    trend = a[ref] - b[ref]
    groups = pd.DataFrame({"share_before": s, "completion": c, "share_after": w,
                           "mean_before": b, "mean_after": a,
                           "change": [a[i] - b[i] for i in range(k)]},
                          index=pd.Index(names, name="group"), dtype=object)
    headline = {"mean_before": before, "completion": completion, "mean_after": after,
                "shift": after - before, "trend": trend,
                "inflation": sum(w[i] * (a[i] - b[i] - trend) for i in range(k)),
                "attrition": sum((w[i] - s[i]) * b[i] for i in range(k))}
    return WhatIf(groups=groups, headline=pd.Series(headline, dtype=object))


def _batched_coef(X: np.ndarray, y: np.ndarray, w: np.ndarray, j: int) -> np.ndarray:
    """Coefficient ``j`` of weighted least squares for every row of weights ``w`` (B, n);
    NaN where a resample leaves the design singular."""
    XtWX = np.einsum("bn,ni,nk->bik", w, X, X)
    XtWy = np.einsum("bn,ni,n->bi", w, X, y)
    ok = np.linalg.matrix_rank(XtWX) == X.shape[1]
    out = np.full(len(w), np.nan)
    if ok.any():
        out[ok] = np.linalg.solve(XtWX[ok], XtWy[ok][..., None])[:, j, 0]
    return out


def _headline_core(S: dict, did_adjusted=None) -> dict:
    """Headline decomposition from per-group sums (numbers or arrays of resampled sums)."""
    n = S["n"][0] + S["n"][1]
    r = S["r"][0] + S["r"][1]
    before = (S["y1"][0] + S["y1"][1]) / n
    after = (S["y2r"][0] + S["y2r"][1]) / r
    before_completers = (S["y1r"][0] + S["y1r"][1]) / r
    change = [(S["y2r"][i] - S["y1r"][i]) / S["r"][i] for i in (0, 1)]
    raw = change[0] - change[1]
    did = raw if did_adjusted is None else did_adjusted
    share = S["r"][0] / r
    return {"mean_before": before, "mean_after": after, "shift": after - before,
            "trend": change[1], "did": did, "inflation": share * did,
            "reversion": share * (raw - did), "attrition": before_completers - before}


def headline_inflation(panel: pd.DataFrame, covariates: Sequence[str] = (),
                       cluster: str = "account_id", ci: float = 0.95, n_boot: int = 999,
                       seed: int = 0) -> pd.DataFrame:
    """How much of the headline shift after removing confidentiality is inflation.

    ``mean_before`` is the wave-1 headline (all panel members) and ``mean_after`` the wave-2
    headline of the same people (completers). The observed ``shift`` decomposes exactly as
    ``trend + inflation + reversion + attrition``:

    * ``trend``: within-person change of the named group (what would have happened anyway);
    * ``did``: the difference in differences among completers, adjusted for ``covariates``
      as in :func:`difference_in_differences` - the effect of being named on those who had
      chosen confidentiality;
    * ``inflation = w_c * did``: the implied inflation of the headline score, ``w_c`` being the
      previously confidential share of the completers;
    * ``reversion = w_c * (raw did - did)``: the part of their extra change explained by the
      covariates (e.g. bounce-back of the dissatisfied; 0 without covariates);
    * ``attrition``: wave-1 mean of the completers minus that of everyone - who left.

    Returns
    -------
    DataFrame
        ``quantity, est, se, ci_low, ci_high, n, n_accounts``; ``se`` is the bootstrap
        standard deviation and the interval the percentile interval of an account-cluster
        bootstrap (sums and the adjusted regression are computed for all resamples at once).

    Notes
    -----
    The decomposition is checked against a by-hand R computation (with and without
    covariates) and the batched bootstrap regression against per-resample statsmodels fits.
    With ``covariates=["satisfaction_w1"]`` the ``inflation`` interval covers the planted
    headline inflation in 49/50 ``company-a`` synthetic studies (``tests/models/test_bias.py``).
    """
    d = _complete_cases(panel, ["confidential", "completed", "score_w1", *covariates, cluster],
                        ["confidential", "completed"]).join(panel["score_w2"])
    d = d[~(d["completed"] & d["score_w2"].isna())]
    codes, W = cluster_bootstrap_weights(d[cluster].to_numpy(), n_boot, seed)
    G = int(codes.max()) + 1
    W = np.vstack([np.ones((1, G)), W])
    g, r = d["confidential"].to_numpy(bool), d["completed"].to_numpy(float)
    y1, y2 = d["score_w1"].to_numpy(float), np.nan_to_num(d["score_w2"].to_numpy(float))
    for lab, m in zip(GROUPS, (g, ~g)):
        if r[m].sum() < 1:
            raise InsufficientDataError(f"no {lab} respondent completed wave 2 "
                                        f"(n={int(m.sum())})")

    def csum(v):
        out = np.zeros(G)
        np.add.at(out, codes, v)
        return W @ out

    S = {k: [csum(m * v) for m in (g, ~g)]
         for k, v in (("n", 1.0), ("r", r), ("y1", y1), ("y1r", r * y1), ("y2r", r * y2))}
    adjusted = None
    if covariates:
        c = d[r.astype(bool)].assign(change=lambda x: x["score_w2"] - x["score_w1"])
        numeric = [v for v in covariates if pd.api.types.is_numeric_dtype(c[v])]
        X = _design(c, ["confidential", *numeric], [v for v in covariates if v not in numeric])
        adjusted = _batched_coef(X.to_numpy(float), c["change"].to_numpy(float),
                                 W[:, codes[r.astype(bool)]], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = _headline_core(S, adjusted)
    alpha = (1 - ci) / 2
    rows = []
    for k, v in res.items():
        boot = v[1:][np.isfinite(v[1:])]
        rows.append({"quantity": k, "est": v[0], "se": boot.std(ddof=1),
                     "ci_low": np.quantile(boot, alpha), "ci_high": np.quantile(boot, 1 - alpha),
                     "n": len(d), "n_accounts": G})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- verbatims
def unattributed_verbatims(responses: pd.DataFrame,
                           text_columns: Sequence[str] = ("strengths", "weaknesses"),
                           by: Sequence[str] = (), group: str = "confidential",
                           which: str = "confidential", min_cell_size: int = 5,
                           seed: int = 0) -> pd.DataFrame:
    """Verbatims with nothing that identifies who wrote them.

    Parameters
    ----------
    text_columns : sequence of str
        Verbatim columns present in ``responses`` (absent ones are skipped).
    by : sequence of str
        Non-identifying segment columns to keep (e.g. ``role``); identifying columns
        (:data:`IDENTIFYING_COLUMNS`) are refused.
    which : {"confidential", "named", "all"}
        Whose verbatims.
    min_cell_size : int
        Segments (or the whole selection when ``by`` is empty) with fewer distinct
        respondents contributing text are dropped entirely.
    seed : int
        Seed of the deterministic shuffle (row order never follows the input order).

    Returns
    -------
    DataFrame
        ``*by, question, text``: one row per non-empty verbatim, shuffled within segments,
        index reset. Nothing else leaves this function.
    """
    if which not in ("confidential", "named", "all"):
        raise ValueError(f"which must be 'confidential', 'named' or 'all', got {which!r}")
    bad = [c for c in by if c in IDENTIFYING_COLUMNS or c == group]
    if bad:
        raise ValueError(f"cannot group verbatims by identifying column(s) {bad}")
    _require(responses, list(by), "verbatims")
    frame = responses
    if which != "all":
        g = _groups(responses, group)
        frame = responses.loc[g.index[g == (which == "confidential")]]
    texts = [c for c in text_columns if c in frame.columns]
    frame = frame.reset_index(drop=True).rename_axis("_respondent").reset_index()
    long = frame.melt(id_vars=["_respondent", *by], value_vars=texts, var_name="question",
                      value_name="text")
    long["text"] = long["text"].astype("string").str.strip()
    long = long[long["text"].notna() & (long["text"] != "")]
    if by:
        size = long.groupby(list(by), dropna=False)["_respondent"].transform("nunique")
    else:
        size = pd.Series(long["_respondent"].nunique(), index=long.index)
    long = long[size >= min_cell_size]
    rng = np.random.default_rng(seed)
    long = long.iloc[rng.permutation(len(long))]
    if by:
        long = long.sort_values(list(by), kind="stable")
    return long[[*by, "question", "text"]].reset_index(drop=True)
