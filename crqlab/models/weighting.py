"""Survey weights for non-response: raking, propensity weighting and their diagnostics.

Raking (iterative proportional fitting) mirrors R ``survey::rake`` step for step, including its
stopping rule, so weights agree with R to rounding. Weighted means get a linearisation
(sandwich) standard error over clusters - accounts in a B2B survey - with the raking
adjustment of R ``survey`` when the weights come from :func:`rake`. Propensity weights come
from a logistic model of responding on frame variables (statsmodels GLM), with optional
trimming, Kish design effect, effective n and standardised-difference balance checks.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from crqlab.errors import ConvergenceError, InsufficientDataError, Problem, ValidationError
from crqlab.measures.nps import nps_category
from crqlab.stats import cluster_bootstrap_weights, z_crit

__all__ = ["score_points", "RakingResult", "rake", "weighted_mean", "kish_design_effect",
           "effective_n", "weight_summary", "propensity_formula", "fit_propensity",
           "propensity_weights", "balance_table", "propensity_adjusted"]

#: Sampling-variance note used in result tables.
_LINEARIZATION = "linearization"
_BOOTSTRAP = "bootstrap"


# ----------------------------------------------------------------------------- scores
def score_points(values, score: str) -> np.ndarray:
    """Per-respondent points whose mean is the headline figure of ``score``.

    Parameters
    ----------
    values : array-like
        The answers (NaN for missing).
    score : str
        ``"nps"`` turns 0-10 answers into +100 (promoter, 9-10), 0 (passive, 7-8) and -100
        (detractor, 0-6) via :func:`crqlab.measures.nps.nps_category` (which rejects answers outside
        0-10), so the mean is the Net Promoter Score on -100..100. Any other name
        (``"crq_index"``, ``"nps_mean"``, an element) returns the values unchanged.

    Returns
    -------
    ndarray of float
        Points, NaN where the answer is missing.
    """
    if score != "nps":
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    codes = nps_category(pd.Series(values).reset_index(drop=True)).cat.codes.to_numpy()
    return np.where(codes < 0, np.nan, (codes - 1) * 100.0)


# ----------------------------------------------------------------------------- raking
@dataclass
class RakingResult:
    """Outcome of :func:`rake`.

    Attributes
    ----------
    weights : pandas.Series
        Raked weights, aligned with the input rows.
    converged : bool
        Whether the stopping rule was met within ``maxit`` sweeps.
    iterations : int
        Completed sweeps counted as R ``survey::rake`` counts them.
    margins : list of str
        The raking variables, in order.
    step_weights : list of ndarray
        Weights right after each margin's adjustment in the last sweep; the linearisation
        variance of :func:`weighted_mean` projects on these (as R ``survey`` does).
    strata : list of ndarray
        Integer level codes of each margin variable.
    """

    weights: pd.Series
    converged: bool
    iterations: int
    margins: list
    step_weights: list = field(repr=False)
    strata: list = field(repr=False)


def _margin_codes(data: pd.DataFrame, col: str, totals: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Level codes of ``col`` in the order of ``totals`` and the population totals."""
    if col not in data.columns:
        raise ValidationError([Problem("data", col, None, None, "raking variable not in the data")])
    values = data[col]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ValidationError([Problem("data", col, row, None, "raking variable is missing")])
    totals = pd.Series(totals, dtype=float)
    codes = pd.Index(totals.index).get_indexer(values)
    if (codes < 0).any():
        bad = values[codes < 0].iloc[0]
        raise ValidationError([Problem("margins", col, None, bad,
                                       "level in the data has no population total")])
    counts = np.bincount(codes, minlength=len(totals))
    empty = (counts == 0) & (totals.to_numpy() > 0)
    if empty.any():
        raise InsufficientDataError(
            f"raking margin {col!r}: level(s) {list(totals.index[empty])} have a population "
            f"total but no sample rows (n=0)")
    return codes, totals.to_numpy()


def rake(data: pd.DataFrame, margins: dict, weights=None, *, epsilon: float = 1e-8,
         maxit: int = 100, strict: bool = True) -> RakingResult:
    """Rake weights to known population margins (iterative proportional fitting).

    Parameters
    ----------
    data : DataFrame
        One row per respondent, holding the raking variables.
    margins : dict
        ``{column: population totals}``, the totals a Series or dict indexed by the column's
        levels (e.g. invited contacts per role in the frame). A joint margin of two variables
        is a combined column.
    weights : array-like, optional
        Starting weights (design weights); default 1 for every row.
    epsilon : float
        Stopping rule of R ``survey::rake``: stop when, after a full sweep over the margins,
        no cell of the weighted cross-table of all raking variables moved by ``epsilon`` or
        more. ``epsilon < 1`` is relative (multiplied by the sum of the starting weights),
        ``epsilon >= 1`` absolute. R's default is ``epsilon=1, maxit=10``; crqlab's default
        is tight, as contact frames are small.
    maxit : int
        Maximum number of sweeps.
    strict : bool
        Raise :class:`~crqlab.errors.ConvergenceError` when not converged (else warn).

    Returns
    -------
    RakingResult

    Notes
    -----
    Each sweep post-stratifies to each margin in turn (``w <- w * N_g / sum_g(w)``), exactly
    as ``survey::rake`` does. Validated against R ``survey::rake`` on the ``api`` example of
    ``?rake`` (``tests/results/survey``): weights and ``svymean(~api00)`` agree to 1e-6 both
    with R's default control and run to convergence.
    """
    data = pd.DataFrame(data)
    if len(data) == 0:
        raise InsufficientDataError("raking needs at least one row (n=0)")
    cols = list(margins)
    coded = [_margin_codes(data, c, margins[c]) for c in cols]
    w = np.ones(len(data)) if weights is None else np.asarray(weights, dtype=float).copy()
    if w.shape != (len(data),) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite, non-negative, one per row")
    eps = epsilon * w.sum() if epsilon < 1 else epsilon
    cell = np.ravel_multi_index([c for c, _ in coded], [len(t) for _, t in coded])
    ncell = int(np.prod([len(t) for _, t in coded]))

    def table(wt):
        return np.bincount(cell, weights=wt, minlength=ncell)

    old = table(w)
    iterations, converged, steps = 0, False, []
    while iterations < maxit:
        steps = []
        for codes, totals in coded:
            sums = np.bincount(codes, weights=w, minlength=len(totals))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(sums > 0, totals / sums, 0.0)
            w = w * ratio[codes]
            steps.append(w.copy())
        new = table(w)
        if np.max(np.abs(old - new)) < eps:
            converged = True
            break
        old = new
        iterations += 1
    if not converged:
        msg = f"raking did not converge after {iterations} sweeps (epsilon={epsilon})"
        if strict:
            raise ConvergenceError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return RakingResult(weights=pd.Series(w, index=data.index, name="weight"),
                        converged=converged, iterations=iterations, margins=cols,
                        step_weights=steps, strata=[c for c, _ in coded])


# ----------------------------------------------------------------------------- means
def _cluster_variance(z: np.ndarray, clusters, n_clusters_population=None, strata=None,
                      fpc=None) -> tuple[float, int, int]:
    """Variance of a total of influence values ``z`` under a stratified one-stage design.

    Within each stratum ``h`` with ``K_h`` sampled clusters (rows when ``clusters`` is None):
    ``(1 - f_h) K_h/(K_h-1) * sum_c (t_hc - mean_h t)^2``, summed over strata, as R
    ``survey`` (``svyrecvar``/``onestrat``, ``lonely.psu = "fail"``). ``f_h = K_h / N_h`` with
    ``N_h`` from ``fpc`` (per row, constant within a stratum, as ``svydesign(fpc=)``) or
    ``n_clusters_population`` (one stratum); ``f_h = 0`` without either. Clusters are nested in
    strata (``nest=TRUE``): the same label in two strata is two clusters. Returns the variance,
    the number of clusters and the number of strata.
    """
    n = z.size
    if strata is None:
        s_codes = np.zeros(n, dtype=int)
    else:
        s_codes, _ = pd.factorize(pd.Series(np.asarray(strata, dtype=object)), sort=True)
        if (s_codes < 0).any():
            raise ValueError(f"stratum labels must not be missing (row {int(np.argmax(s_codes < 0))})")
    if clusters is None:
        c_codes = np.arange(n)
    else:
        c_codes, _ = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)), sort=True)
        if (c_codes < 0).any():
            raise ValueError("cluster labels must not be missing")
    # a cluster is (stratum, cluster label): nested in its stratum
    pair, psu = np.unique(np.column_stack([s_codes, c_codes]), axis=0, return_inverse=True)
    psu = psu.ravel()
    t = np.bincount(psu, weights=z)
    psu_stratum = pair[:, 0]
    if fpc is not None:
        fpc = np.asarray(fpc, dtype=float)
        if fpc.shape != z.shape or np.isnan(fpc).any():
            raise ValueError("fpc must give the population size of every row's stratum")
    var, k_total = 0.0, t.size
    for h in np.unique(psu_stratum):
        th = t[psu_stratum == h]
        k = th.size
        if k < 2:
            what = "row" if clusters is None else "cluster"
            raise InsufficientDataError(
                f"stratum {h + 1} of {np.unique(psu_stratum).size} has a single {what}: its "
                f"variance cannot be estimated (R survey's lonely.psu = 'fail'); merge it with "
                f"a neighbouring stratum (n_clusters={k})")
        if fpc is not None:
            pop = np.unique(fpc[s_codes == h])
            if pop.size != 1:
                raise ValueError(f"fpc varies within stratum {h + 1}: {pop[:3].tolist()}")
            if pop[0] < k:
                raise ValueError(f"fpc {pop[0]:g} is below the {k} sampled units of stratum "
                                 f"{h + 1}")
            f = 1.0 - k / pop[0]
        elif n_clusters_population is not None:
            f = 1.0 - k / float(n_clusters_population)
        else:
            f = 1.0
        var += f * k / (k - 1) * float(np.sum((th - th.mean()) ** 2))
    return float(var), int(k_total), int(np.unique(psu_stratum).size)


def _rake_residuals(z: np.ndarray, raking: RakingResult) -> np.ndarray:
    """Project influence values on the raking margins (R ``survey`` ``svyrecvar``, 10 passes)."""
    for _ in range(10):
        for codes, psw in zip(raking.strata, raking.step_weights):
            safe = np.where(psw == 0, 1.0, psw)
            ratio = z / safe
            means = np.bincount(codes, weights=ratio) / np.bincount(codes)
            z = z - psw * means[codes]
    return z


def weighted_mean(values, weights, clusters=None, *, n_clusters_population=None,
                  raking: RakingResult | None = None, ci: float = 0.95, strata=None,
                  fpc=None) -> pd.Series:
    """Weighted (Hajek) mean with a linearisation standard error.

    Parameters
    ----------
    values : array-like
        Values, NaN where missing (missing rows keep their cluster but add nothing).
    weights : array-like
        Survey weights, one per row.
    clusters : array-like, optional
        Cluster (account) of each row; default: rows are independent.
    n_clusters_population : int, optional
        Clusters in the population, for the finite-population correction ``1 - K/N``.
    raking : RakingResult, optional
        When the weights were raked, the variance accounts for calibration to the margins.
    ci : float
        Confidence level (normal interval, as ``confint(svymean(...))``).
    strata : array-like, optional
        Stratum of each row (e.g. school type, account tier); clusters are nested in strata.
        A stratum with a single cluster (or row) is an error, as R's ``lonely.psu = "fail"``.
    fpc : array-like, optional
        Population size of each row's stratum (units without ``clusters``, clusters with them),
        as ``svydesign(fpc=)``; the correction is ``1 - K_h / N_h`` per stratum. Takes the
        place of ``n_clusters_population``.

    Returns
    -------
    pandas.Series
        ``est, se, ci_low, ci_high, n, n_clusters, n_strata, n_eff`` (``n_eff`` is Kish's
        effective n; ``n_clusters`` counts rows when there are no clusters).

    Notes
    -----
    Influence values ``w_i (y_i - est) / sum(w)`` are summed by cluster; the variance is that
    of R ``survey`` for a one-stage cluster design (``svydesign(id=~cluster, weights=~w,
    fpc=~N)``), and with ``raking`` that of ``svymean`` on a ``rake()``-d design. Weights are
    treated as fixed. Validated against R ``survey::svymean(~api00, dclus1)`` before and after
    raking (``tests/results/survey``) to 1e-6. With ``strata`` (and ``fpc``) the variance is
    the stratified one of ``svydesign(id=~1, strata=~stype, fpc=~fpc, data=apistrat)``
    (mean api00 662.287, SE 9.4089), and of clusters in strata
    (``svydesign(id=~dnum, strata=~stype, weights=~pw, nest=TRUE)``, SE 11.1896), both to
    1e-8 (``tests/results/survey/make_survey_strata.R``).
    """
    if fpc is not None and n_clusters_population is not None:
        raise ValueError("give fpc or n_clusters_population, not both")
    y = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if y.shape != w.shape:
        raise ValueError("values and weights must have the same length")
    ok = ~np.isnan(y)
    n = int(ok.sum())
    if n < 2 or w[ok].sum() <= 0:
        raise InsufficientDataError(f"a weighted mean with a standard error needs 2 or more "
                                    f"answers with positive weight (n={n})")
    est = float(np.sum(w[ok] * y[ok]) / w[ok].sum())
    z = np.where(ok, w * (np.where(ok, y, 0.0) - est) / w[ok].sum(), 0.0)
    if raking is not None:
        z = _rake_residuals(z, raking)
    var, _, n_strata = _cluster_variance(z, clusters, n_clusters_population, strata, fpc)
    se = float(np.sqrt(var))
    zc = z_crit(ci)
    # the accounts behind the estimate: those with an answer (a cluster whose members all lack
    # one still counts in the variance, as in R survey's domain estimation, but not here)
    # (clusters nested in strata: a cluster is a (stratum, cluster) pair, as survey counts PSUs)
    if clusters is None:
        k = n
    elif strata is None:
        k = int(pd.unique(np.asarray(clusters)[ok]).size)
    else:
        k = len(pd.DataFrame({"s": np.asarray(strata)[ok], "c": np.asarray(clusters)[ok]})
                .drop_duplicates())
    return pd.Series({"est": est, "se": se, "ci_low": est - zc * se, "ci_high": est + zc * se,
                      "n": n, "n_clusters": k, "n_strata": n_strata,
                      "n_eff": effective_n(w[ok])})


# ----------------------------------------------------------------------------- diagnostics
def kish_design_effect(weights) -> float:
    """Kish's design effect of unequal weights, ``n * sum(w^2) / sum(w)^2 = 1 + cv^2``.

    Notes
    -----
    Kish (1965); ``cv`` uses the population (ddof=0) standard deviation. Checked against hand
    values (weights 1, 1, 1, 3 give 4/3) and R on the raked ``api`` weights.
    """
    w = np.asarray(weights, dtype=float)
    w = w[~np.isnan(w)]
    if w.size == 0 or w.sum() <= 0:
        raise InsufficientDataError(f"design effect needs positive weights (n={w.size})")
    return float(w.size * np.sum(w**2) / np.sum(w) ** 2)


def effective_n(weights) -> float:
    """Kish's effective sample size ``sum(w)^2 / sum(w^2)`` (= n / design effect)."""
    w = np.asarray(weights, dtype=float)
    w = w[~np.isnan(w)]
    return float(w.size / kish_design_effect(w))


def weight_summary(weights) -> pd.Series:
    """Distribution of a weight vector: ``n, sum, min, p05, median, p95, max, max_min_ratio,
    cv, deff_kish, n_eff``.

    Notes
    -----
    ``cv`` is the ddof=0 coefficient of variation, so ``deff_kish = 1 + cv**2`` exactly.
    """
    w = np.asarray(weights, dtype=float)
    w = w[~np.isnan(w)]
    deff = kish_design_effect(w)
    q = np.quantile(w, [0.05, 0.5, 0.95])
    return pd.Series({"n": w.size, "sum": w.sum(), "min": w.min(), "p05": q[0], "median": q[1],
                      "p95": q[2], "max": w.max(), "max_min_ratio": w.max() / w.min(),
                      "cv": w.std() / w.mean(), "deff_kish": deff, "n_eff": w.size / deff})


# ----------------------------------------------------------------------------- propensity
def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def propensity_formula(frame: pd.DataFrame, covariates, responded: str = "responded") -> str:
    """Patsy formula ``responded ~ C(role) + tenure_years + ...``: non-numeric and boolean
    covariates enter as categorical (treatment-coded), numeric ones linearly."""
    terms = [f"C(Q('{c}'))" if _is_categorical(frame[c]) else f"Q('{c}')" for c in covariates]
    return f"Q('{responded}') ~ " + (" + ".join(terms) if terms else "1")


def _check_frame(frame: pd.DataFrame, covariates, responded: str) -> pd.DataFrame:
    missing = [c for c in [responded, *covariates] if c not in frame.columns]
    if missing:
        raise ValidationError([Problem("contacts", c, None, None, "column not in the frame")
                               for c in missing])
    nan_rows = frame[list(covariates)].isna().any(axis=1)
    if nan_rows.any():
        col = next(c for c in covariates if frame[c].isna().any())
        raise ValidationError([Problem("contacts", col, int(np.flatnonzero(nan_rows)[0]), None,
                                       "propensity covariate is missing; impute it and add an "
                                       "indicator (see crqlab.models.nonresponse.add_previous_score)")])
    y = frame[responded].astype(bool)
    if y.all() or not y.any():
        raise InsufficientDataError(f"responding does not vary in the frame (n={len(frame)}, "
                                    f"responded={int(y.sum())})")
    out = frame.copy()
    out[responded] = y.astype(float)
    return out


def fit_propensity(frame: pd.DataFrame, covariates, *, responded: str = "responded",
                   formula: str | None = None, freq_weights=None):
    """Logistic model of responding on frame variables.

    Parameters
    ----------
    frame : DataFrame
        The invitation frame (one wave): one row per invited contact.
    covariates : list of str
        Frame variables known for everyone (role, tenure, account size, previous score...).
    responded : str
        Boolean response indicator.
    formula : str, optional
        A patsy formula overriding the main-effects default of :func:`propensity_formula`.
    freq_weights : array-like, optional
        Frequency weights (used by the bootstrap).

    Returns
    -------
    statsmodels GLMResults
        Binomial GLM with logit link.

    Notes
    -----
    Plain statsmodels GLM (IRLS); raises :class:`~crqlab.errors.ConvergenceError` on perfect
    separation or non-convergence.
    """
    data = _check_frame(frame, covariates, responded)
    formula = formula or propensity_formula(data, covariates, responded)
    return _fit_logit(lambda: smf.glm(formula, data=data, family=sm.families.Binomial(),
                                      freq_weights=freq_weights))


def _fit_logit(make_model):
    """Fit a binomial GLM built by ``make_model``; separation or non-convergence raise
    :class:`~crqlab.errors.ConvergenceError`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            res = make_model().fit()
        except (PerfectSeparationError, PerfectSeparationWarning, np.linalg.LinAlgError) as e:
            raise ConvergenceError(f"propensity model failed: {e}") from e
    if not res.converged:
        raise ConvergenceError("propensity model (logistic GLM) did not converge")
    return res


def _ipw(p: np.ndarray, trim: float | None) -> np.ndarray:
    """Inverse-propensity weights, capped at the ``trim`` quantile when given."""
    w = 1.0 / p
    if trim is not None:
        w = np.minimum(w, np.quantile(w, trim))
    return w


def propensity_weights(frame: pd.DataFrame, covariates, *, responded: str = "responded",
                       trim: float | None = None, formula: str | None = None) -> pd.Series:
    """Inverse-propensity weights of the respondents in a frame.

    Parameters
    ----------
    frame : DataFrame
        The invitation frame of one wave.
    covariates : list of str
        Frame variables of the response model (see :func:`fit_propensity`).
    responded : str
        Boolean response indicator.
    trim : float, optional
        Cap the weights at this quantile of the respondents' untrimmed weights (e.g. 0.99),
        before rescaling. Trimming trades a little bias for variance (Cole & Hernan 2008);
        leave ``None`` for no trimming.
    formula : str, optional
        Patsy formula overriding the default main-effects model.

    Returns
    -------
    pandas.Series
        ``1 / p_hat`` for respondents (index of the respondent rows), rescaled to sum to the
        frame size, so weighted totals estimate frame totals.

    Notes
    -----
    Weights follow Little (1986) response-propensity adjustment. Tested on simulated frames
    whose response depends on observed variables (bias at least halved, see
    ``tests/models/test_weighting.py``).
    """
    res = fit_propensity(frame, covariates, responded=responded, formula=formula)
    return _respondent_weights(res, frame, responded, trim)


def _respondent_weights(res, frame: pd.DataFrame, responded: str,
                        trim: float | None) -> pd.Series:
    """The weights of :func:`propensity_weights` from a fitted response model."""
    resp = frame[responded].astype(bool).to_numpy()
    w = _ipw(np.asarray(res.fittedvalues)[resp], trim)
    w = w * len(frame) / w.sum()
    return pd.Series(w, index=frame.index[resp], name="weight")


def _design_matrix(frame: pd.DataFrame, covariates) -> pd.DataFrame:
    """Numeric columns as they are; categorical ones as one indicator per level."""
    parts = []
    for c in covariates:
        s = frame[c]
        if _is_categorical(s):
            d = pd.get_dummies(s.astype(str), prefix=c, prefix_sep="=", dtype=float)
            parts.append(d)
        else:
            parts.append(pd.to_numeric(s, errors="coerce").rename(c).to_frame())
    return pd.concat(parts, axis=1)


def balance_table(frame: pd.DataFrame, covariates, weights: pd.Series, *,
                  responded: str = "responded") -> pd.DataFrame:
    """Absolute standardised mean differences of respondents against the frame.

    Parameters
    ----------
    frame : DataFrame
        The invitation frame (the target population).
    covariates : list of str
        Variables to compare; categorical ones give one row per level (a proportion).
    weights : pandas.Series
        Respondent weights indexed like the respondent rows of ``frame``.
    responded : str
        Boolean response indicator.

    Returns
    -------
    DataFrame
        ``variable, frame_mean, respondent_mean, weighted_mean, asmd_before, asmd_after``:
        ``|mean_respondents - mean_frame| / sd_frame`` unweighted and weighted.

    Notes
    -----
    The frame standard deviation (ddof=1) is the common scale (Austin 2011 uses the pooled SD
    of two groups; here the comparison is respondents against their own frame). Values below
    0.1 are conventionally read as balanced.
    """
    x = _design_matrix(frame, covariates)
    resp = frame[responded].astype(bool).to_numpy()
    xr = x[resp]
    w = weights.reindex(xr.index).to_numpy(dtype=float)
    rows = []
    for col in x.columns:
        full = x[col].to_numpy(dtype=float)
        r = xr[col].to_numpy(dtype=float)
        ok_f, ok_r = ~np.isnan(full), ~np.isnan(r)
        m_f, sd = full[ok_f].mean(), full[ok_f].std(ddof=1)
        m_r = r[ok_r].mean()
        m_w = np.sum(w[ok_r] * r[ok_r]) / np.sum(w[ok_r])
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append({"variable": col, "frame_mean": m_f, "respondent_mean": m_r,
                         "weighted_mean": m_w, "asmd_before": abs(m_r - m_f) / sd,
                         "asmd_after": abs(m_w - m_f) / sd})
    return pd.DataFrame(rows)


def _merge_scores(contacts: pd.DataFrame, scores: pd.DataFrame, cols) -> pd.DataFrame:
    """Scores of each frame row (NaN for non-respondents), keyed on wave and contact_id."""
    keys = [k for k in ("wave", "contact_id") if k in contacts.columns and k in scores.columns]
    if "contact_id" not in keys:
        raise ValidationError([Problem("scores", "contact_id", None, None,
                                       "needed to link scores to the frame")])
    if scores.duplicated(keys).any():
        raise ValidationError([Problem("scores", "contact_id", None, None,
                                       f"duplicate {keys} rows")])
    right = scores[keys + [c for c in cols if c not in keys]]
    left = contacts.drop(columns=[c for c in cols if c in contacts.columns and c not in keys])
    merged = left.merge(right, on=keys, how="left", validate="one_to_one")
    merged.index = contacts.index
    return merged


def _single_wave(contacts: pd.DataFrame) -> None:
    if "wave" in contacts.columns and contacts["wave"].nunique() > 1:
        raise ValidationError([Problem("contacts", "wave", None, sorted(contacts["wave"].unique()),
                                       "pass one wave's frame (subset on wave first)")])


def _bootstrap_ipw(data, model, covariates, score_cols, responded, cluster, trim, formula,
                   n_boot, seed, ci):
    """Cluster bootstrap of the propensity-weighted means, refitting the model each time.

    ``model`` is the response model fitted on all of ``data`` (its rows, in order)."""
    codes, wboot = cluster_bootstrap_weights(data[cluster], n_boot, seed)
    resp = data[responded].astype(bool).to_numpy()
    pts = {s: score_points(data[s], s)[resp] for s in score_cols}
    draws = {s: np.full(n_boot, np.nan) for s in score_cols}
    # The full model's design matrix serves every resample, refitted on the resample's rows
    # (re-parsing the formula per resample was most of the time). A level absent from a
    # resample leaves a zero column, which IRLS's least-squares step (minimum norm) gives a
    # zero coefficient: the fitted probabilities equal those of the reduced model.
    design = (model.endog, model.exog) if len(model.endog) == len(data) else None
    for b in range(n_boot):
        f = wboot[b, codes]
        keep = f > 0
        if np.unique(resp[keep]).size < 2:
            continue
        try:
            if design is not None:
                res = _fit_logit(lambda: sm.GLM(design[0][keep], design[1][keep],
                                                family=sm.families.Binomial(),
                                                freq_weights=f[keep]))
            else:  # a custom formula that drops rows: refit it on the resample's rows
                res = fit_propensity(data[keep], covariates, responded=responded,
                                     formula=formula, freq_weights=f[keep])
        except ConvergenceError:
            continue
        p = np.full(len(data), np.nan)
        p[keep] = np.asarray(res.fittedvalues)
        wr = _ipw(p[resp], trim) * f[resp]
        for s in score_cols:
            ok = ~np.isnan(pts[s]) & (f[resp] > 0)
            draws[s][b] = np.sum(wr[ok] * pts[s][ok]) / np.sum(wr[ok])
    a = (1 - ci) / 2
    out = {}
    for s, d in draws.items():
        d = d[~np.isnan(d)]
        if d.size < max(10, n_boot // 2):
            raise ConvergenceError(f"propensity bootstrap: only {d.size} of {n_boot} resamples "
                                   "could be fitted")
        out[s] = (float(d.std(ddof=1)), *np.quantile(d, [a, 1 - a]))
    return out


def propensity_adjusted(contacts: pd.DataFrame, scores: pd.DataFrame, covariates, *,
                        score=("nps", "crq_index"), responded: str = "responded",
                        cluster: str = "account_id", trim: float | None = None,
                        formula: str | None = None, se_method: str = _LINEARIZATION,
                        n_boot: int = 500, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Headline scores unweighted and propensity-weighted, with intervals and diagnostics.

    Parameters
    ----------
    contacts : DataFrame
        One wave's invitation frame (canonical contacts columns plus the covariates).
    scores : DataFrame
        Respondent-level scores keyed by ``wave`` (if present) and ``contact_id``.
    covariates : list of str
        Frame variables of the response model.
    score : str or sequence of str
        Score columns; ``"nps"`` is reported as the Net Promoter Score (-100..100).
    responded, cluster : str
        Response indicator and cluster (account) column of the frame.
    trim : float, optional
        Weight cap quantile (see :func:`propensity_weights`).
    formula : str, optional
        Patsy formula of the response model.
    se_method : {"linearization", "bootstrap"}
        ``linearization``: sandwich over accounts with the weights treated as known, which is
        conservative for estimated propensities (Robins, Rotnitzky & Zhao 1994).
        ``bootstrap``: account-level bootstrap refitting the response model in each resample
        (percentile interval, ``n_boot`` resamples from ``seed``).
    n_boot, seed : int
        Bootstrap resamples and seed.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        One row per score and method (``unweighted``, ``propensity``): ``score, method,
        se_method, est, se, ci_low, ci_high, n, n_accounts, n_eff, deff_kish``.

    Notes
    -----
    The unweighted row is the respondent mean with the same cluster sandwich. The weighted
    mean reproduces R ``survey::svymean`` on a cluster design with these weights (same code
    path as :func:`weighted_mean`, validated on R's ``api`` data).
    """
    _single_wave(contacts)
    score_cols = [score] if isinstance(score, str) else list(score)
    data = _merge_scores(contacts, scores, score_cols)
    fitted = fit_propensity(contacts, covariates, responded=responded, formula=formula)
    w = _respondent_weights(fitted, contacts, responded, trim)
    resp = contacts[responded].astype(bool).to_numpy()
    sub = data[resp]
    boot = None
    if se_method == _BOOTSTRAP:
        boot = _bootstrap_ipw(data, fitted.model, covariates, score_cols, responded, cluster,
                              trim, formula, n_boot, seed, ci)
    elif se_method != _LINEARIZATION:
        raise ValueError(f"se_method must be {_LINEARIZATION!r} or {_BOOTSTRAP!r}")
    rows = []
    for s in score_cols:
        pts = score_points(sub[s], s)
        for method, wt in (("unweighted", np.ones(len(sub))), ("propensity", w.to_numpy())):
            r = weighted_mean(pts, wt, sub[cluster], ci=ci)
            row = {"score": s, "method": method, "se_method": _LINEARIZATION, **r.to_dict(),
                   "deff_kish": kish_design_effect(wt[~np.isnan(pts)])}
            if method == "propensity" and boot is not None:
                row.update(se_method=_BOOTSTRAP, se=boot[s][0], ci_low=boot[s][1],
                           ci_high=boot[s][2])
            rows.append(row)
    out = pd.DataFrame(rows).rename(columns={"n_clusters": "n_accounts"})
    out[["n", "n_accounts"]] = out[["n", "n_accounts"]].astype(int)
    return out[["score", "method", "se_method", "est", "se", "ci_low", "ci_high", "n",
                "n_accounts", "n_eff", "deff_kish"]]
