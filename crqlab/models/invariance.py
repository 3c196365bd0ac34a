"""Measurement invariance across groups: configural, metric, scalar and strict models, their
difference tests, partial invariance and a verdict in plain words.

Before latent means (or paths) are compared across groups - waves, roles, confidential and
named answers - the instrument must measure the same thing in each group. The usual ladder
(Meredith 1993; Vandenberg & Lance 2000) fits the same model in every group with more and more
parameters held equal, as lavaan's ``group.equal``:

====================  =============================================  ==========================
step                  equal across groups                            what it allows
====================  =============================================  ==========================
configural            nothing (same pattern of loadings)              the same constructs
metric                loadings                                        relationships (paths,
                                                                      correlations)
scalar                loadings, intercepts (latent means free from    latent means
                      the second group on)
strict                loadings, intercepts, residual variances        observed (scale) means
====================  =============================================  ==========================

Each step is compared with the last step that held by a chi-square difference test (with
``estimator="MLR"`` the scaled difference of Satorra & Bentler 2001, as ``lavTestLRT``) and by
the change of CFI and RMSEA. **Rule** (:data:`RULE`): a step holds when CFI drops by at most
.010 and RMSEA rises by at most .015 (Chen 2007) *and* the difference test is not significant
at ``alpha`` (``rule="chen+test"``, the default); ``rule="chen"`` uses the fit changes only
(large samples, where the test rejects trivial differences), ``rule="test"`` the test only.
With MLR the robust CFI and RMSEA are used. The ladder is read only if the configural model
fits acceptably (CFI at least .90 and RMSEA at most .10, robust ones under MLR); otherwise the
level is ``"none"``. A failing metric, scalar or strict step is followed by a
search for **partial invariance**: the constraint whose release lowers the chi-square most is
freed (its equality across groups dropped, lavaan's ``group.partial``), one at a time, until
the step holds or ``max_free`` constraints are freed; every release is reported.

The models are fitted by maximum likelihood with a mean structure on the rows complete on
the model's variables (listwise), using the casewise likelihood of
:mod:`crqlab.models.likelihood`.

**Ordinal items** (``estimator="WLSMV"``): the models are fitted by WLSMV on each group's
polychoric correlations (:func:`crqlab.models.ordinal.fit_wlsmv_multigroup`) and the ladder
is :data:`ORDINAL_STEPS`: configural, then thresholds and loadings equal (lavaan's
``group.equal = c("thresholds", "loadings")``; an intermediate thresholds-only step on
request). Steps are compared by Satorra's (2000) scaled-shifted difference test
(``lavTestLRT``'s default for WLSMV fits) and the changes of the scaled CFI and RMSEA (lavaan
gives no robust ones once thresholds are equal); the partial search frees one threshold or
loading at a time. Why this ladder: see :func:`measurement_invariance`. Validated against
lavaan 0.6-14 (``tests/results/ordinal/make_multigroup.R``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.formatting import format_fixed, format_p_text, word_list
from crqlab.models import likelihood as _lik
from crqlab.models import ordinal as _ord
from crqlab.models import sem as _sem
from crqlab.stats import z_crit

__all__ = ["STEPS", "ORDINAL_STEPS", "RULE", "InvarianceResult", "fit_multigroup",
           "measurement_invariance", "difference_test", "invariance_verdict", "item_names", "plain_summary"]

#: The invariance ladder: step -> what is equal across groups (lavaan's group.equal words).
STEPS = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
         "strict": ("loadings", "intercepts", "residuals")}
#: The ladder for ordinal items (``estimator="WLSMV"``): lavaan's group.equal words. With
#: the delta parameterisation the items' intercepts are fixed at 0 and their residual
#: variances are not parameters, so "scalar" is thresholds and loadings equal (lavaan then
#: frees the scaling factors and latent means of the second group on).
ORDINAL_STEPS = {"configural": (), "thresholds": ("thresholds",),
                 "scalar": ("thresholds", "loadings")}
#: Chen's (2007) cutoffs for a step to hold: CFI drop and RMSEA rise at most these.
RULE = {"d_cfi": 0.010, "d_rmsea": 0.015}
_RULES = ("chen+test", "chen", "test")
_EQUAL_WORDS = ("loadings", "intercepts", "residuals", "residual.covariances", "lv.variances",
                "lv.covariances", "regressions", "means")
_ALLOWS = {"configural": "the same factor structure in every group",
           "thresholds": "answer categories cut the latent responses at the same points; "
                         "compare neither relationships nor means yet",
           "metric": "relationships (paths, correlations) can be compared, not means",
           "scalar": "latent means can be compared",
           "strict": "latent means and observed scale means can be compared"}


# ----------------------------------------------------------------------------------------------
# A multi-group fit with a mean structure
# ----------------------------------------------------------------------------------------------

@dataclass
class _MultiFit:
    name: str
    equal: tuple
    partial: tuple
    problem: object
    theta: np.ndarray
    vcov: np.ndarray
    measures: dict
    parameters: pd.DataFrame
    reasons: list


def _keys(grp: _lik._MomentGroup) -> list[tuple]:
    """A key for each local free parameter of a group: what it is, the same in every group."""
    keys: list[tuple | None] = [None] * grp.k
    t = grp.table[grp.table["free"] >= 0].drop_duplicates("free")
    for r in t.itertuples():
        lhs, rhs = (r.lhs, r.rhs) if r.op != "~~" else tuple(sorted((r.lhs, r.rhs)))
        keys[r.free] = (lhs, r.op, rhs)
    for mp in grp.mean_params:
        if mp.free >= 0:
            keys[grp.kc + mp.free] = (mp.name.split()[0], "~1", "")
    return keys


def _kind(key: tuple, grp: _lik._MomentGroup) -> str:
    """lavaan's group.equal word for a parameter key."""
    lhs, op, rhs = key
    latent = set(grp.sm.vars["latent"])
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in latent else "intercepts"
    if lhs in grp.observed and rhs in grp.observed:
        return "residuals" if lhs == rhs else "residual.covariances"
    return "lv.variances" if lhs == rhs else "lv.covariances"


def _parse_partial(items) -> set[tuple]:
    out = set()
    for item in items:
        text = str(item).strip()
        if text.endswith("~1"):
            out.add((text[:-2].strip(), "~1", ""))
            continue
        for op in ("=~", "~~", "~"):
            if op in text:
                lhs, rhs = (s.strip() for s in text.split(op, 1))
                if op == "~~":
                    lhs, rhs = sorted((lhs, rhs))
                out.add((lhs, op, rhs))
                break
        else:
            raise ValueError(f"cannot read {text!r} as a parameter ('x1 ~1', 'f =~ x2', "
                             "'x1 ~~ x1')")
    return out


def _groups(syntax: str, data: pd.DataFrame, group: str, intercepts_equal: bool):
    if group not in data.columns:
        raise InsufficientDataError(f"grouping column {group!r} is not in the data "
                                    f"(n = {len(data)})")
    sub = data[data[group].notna()]
    levels = sorted(sub[group].unique(), key=str)
    if len(levels) < 2:
        raise InsufficientDataError(f"column {group!r} has {len(levels)} group(s); need 2 "
                                    f"(n = {len(sub)})")
    observed = list(_sem._semopy_model(syntax).vars["observed"])
    groups, used = [], 0
    for g, level in enumerate(levels):
        rows, _ = _sem._complete_rows(sub[sub[group] == level], observed)
        if len(rows) <= len(observed):
            raise InsufficientDataError(
                f"group {group} = {level!r} has {len(rows)} complete rows for "
                f"{len(observed)} observed variables: too few (n = {len(rows)})")
        base = _sem._Group(syntax, rows)
        if base.fixed_x:
            raise ValueError(f"invariance models do not support observed exogenous covariates "
                             f"{base.fixed_x}")
        x = base.x
        means = [_lik._MeanParam("nu", i, f"{v} ~1", i) for i, v in enumerate(base.observed)]
        inner, latent = base.sm.vars["inner"], set(base.sm.vars["latent"])
        free_alpha = intercepts_equal and g > 0  # lavaan frees latent means from group 2 on
        nxt = len(means)
        for j, v in enumerate(inner):
            if v in latent:
                means.append(_lik._MeanParam("alpha", j, f"{v} ~1", nxt if free_alpha else -1))
                nxt += free_alpha
        groups.append(_lik._MomentGroup(base, x, means, (x.mean(axis=0), base.S)))
        used += len(x)
    return groups, levels, used


def _maps(groups, shared_kinds: set[str], partial: set[tuple]) -> list[np.ndarray]:
    ids: dict[tuple, int] = {}
    maps, nxt = [], 0
    for grp in groups:
        m = np.empty(grp.k, dtype=int)
        for local, key in enumerate(_keys(grp)):
            if _kind(key, grp) in shared_kinds and key not in partial:
                if key not in ids:
                    ids[key], nxt = nxt, nxt + 1
                m[local] = ids[key]
            else:
                m[local], nxt = nxt, nxt + 1
        maps.append(m)
    return maps


def _check(problem, theta, std_limit: float) -> list[str]:
    reasons = []
    for g, (grp, idx) in enumerate(zip(problem.groups, problem.maps)):
        reasons += [f"group {g + 1}: {r}" for r in
                    _sem._improper_reasons(grp.base, theta[idx][:grp.kc], std_limit)]
    _, _, h = problem.evaluate(theta, False, True)
    ev = np.linalg.eigvalsh(h) if h is not None else np.array([0.0])
    if ev.min() <= 1e-10 * max(ev.max(), 1.0):
        reasons.append("information matrix is singular: the model is not identified by these "
                       "data")
    return reasons


def _measures(problem, theta, fmin: float) -> dict:
    """lavaan's multi-group fit measures with a mean structure."""
    n, ng = problem.n, len(problem.groups)
    chisq = n * fmin
    p = len(problem.groups[0].observed)
    df = ng * (p * (p + 1) // 2 + p) - problem.k
    chisq_b, srmr, logl = 0.0, 0.0, 0.0
    for grp, idx in zip(problem.groups, problem.maps):
        s_diag = np.diag(grp.S)
        chisq_b += grp.n * (np.log(s_diag).sum() - grp.base.logdet_S)
        mu, sigma = grp.mu_sigma(theta[idx])
        sd = np.sqrt(s_diag)
        res_cov = ((grp.S - sigma) / np.outer(sd, sd))[np.tril_indices(p)]
        res_mean = (grp.mu_h1 - mu) / sd
        srmr += grp.n / n * np.sqrt((np.sum(res_cov ** 2) + np.sum(res_mean ** 2))
                                    / (res_cov.size + p))
        logl += -grp.f_h1 / 2
    logl -= chisq / 2
    df_b = ng * p * (p - 1) // 2
    out = {"chisq": chisq, "df": float(df),
           "p_value": float(_st.chi2.sf(chisq, df)) if df > 0 else np.nan,
           "npar": float(problem.k), "cfi": _lik._cfi(chisq, df, chisq_b, df_b),
           "tli": _lik._tli(chisq, df, chisq_b, df_b),
           "rmsea": _lik._rmsea(chisq, df, n, 1.0, ng), "srmr": float(srmr),
           "aic": -2 * logl + 2 * problem.k, "bic": -2 * logl + problem.k * np.log(n),
           "logl": logl, "baseline_chisq": chisq_b, "baseline_df": float(df_b),
           "n": float(n)}
    return out


def _global_scores(problem, theta) -> np.ndarray:
    rows = []
    for grp, idx in zip(problem.groups, problem.maps):
        s = np.zeros((grp.n, problem.k))
        s[:, idx] = grp.scores(theta[idx])
        rows.append(s)
    return np.vstack(rows)


def _robust(problem, theta, a0, b0, m: dict) -> dict:
    """Yuan-Bentler (Mplus) scaling over groups and lavaan's robust CFI, TLI and RMSEA."""
    p = len(problem.groups[0].observed)
    trace_h1 = sum(p + _lik._complete_h1_trace(grp.x, grp.mu_h1, grp.S)
                   for grp in problem.groups)
    c = _lik._scaling(trace_h1, a0, b0, m["df"])
    trace_b = 0.0
    for grp in problem.groups:
        _, a_b, b_b = _lik._independence(grp.patterns, grp.x, means=True)
        trace_b += float(np.sum(b_b * np.linalg.inv(a_b).T))
    c_b = (trace_h1 - trace_b) / m["baseline_df"]
    return _lik._robust_measures(m["chisq"], m["df"], m["n"], c, m["baseline_chisq"],
                                 m["baseline_df"], c_b, trace=c * m["df"],
                                 groups=len(problem.groups))


def _table(problem, theta, vcov, levels, ci: float) -> pd.DataFrame:
    q = z_crit(ci)
    parts = []
    for level, grp, idx in zip(levels, problem.groups, problem.maps):
        kc = grp.kc
        cov = _sem._param_table(grp.base, theta, vcov, idx[:kc], ci)
        grp.mu_sigma(theta[idx])  # leave semopy's matrices at this group's values
        rows = []
        for mp in grp.mean_params:
            free = mp.free >= 0
            pos = idx[kc + mp.free] if free else -1
            est = float(theta[pos]) if free else mp.value
            se = float(np.sqrt(vcov[pos, pos])) if free else np.nan
            z = est / se if free else np.nan
            rows.append({"lhs": mp.name.split()[0], "op": "~1", "rhs": "", "label": "",
                         "free": pos + 1 if free else 0, "est": est, "se": se, "z": z,
                         "p_value": 2 * _st.norm.sf(abs(z)) if free else np.nan,
                         "ci_low": est - q * se, "ci_high": est + q * se})
        tab = pd.concat([cov.drop(columns="std_all"), pd.DataFrame(rows)], ignore_index=True)
        tab.insert(0, "group", level)
        parts.append(tab)
    return pd.concat(parts, ignore_index=True)


def _solve(syntax, data, group, equal, partial, seed, max_iter, std_limit, name, built=None):
    """Estimate one model of the ladder: the problem, the chosen attempt, its reasons.

    ``built`` (a dict) keeps the groups of each mean structure for the next model of the same
    ladder: they depend only on whether intercepts are equal, and every evaluation sets the
    group's matrices from the parameters it is given."""
    equal = tuple(equal)
    unknown = [w for w in equal if w not in _EQUAL_WORDS]
    if unknown:
        raise ValueError(f"unknown group.equal word(s) {unknown}; choose from {_EQUAL_WORDS}")
    means = "intercepts" in equal
    if built is None or means not in built:
        made = _groups(syntax, data, group, means)
        if built is None:
            built = {}
        built[means] = made
    groups, levels, n = built[means]
    problem = _lik._MomentProblem(groups, _maps(groups, set(equal), _parse_partial(partial)))
    df = len(groups) * (len(groups[0].observed) * (len(groups[0].observed) + 3) // 2) - problem.k
    if df < 0:
        raise ConvergenceError(f"model {name!r} is not identified: {problem.k} free parameters "
                               f"for {df + problem.k} sample moments (df = {df})")
    attempts = _sem._optimise(problem, seed=seed, max_iter=max_iter,
                              check=lambda th: _check(problem, th, std_limit))
    chosen = _sem._choose(attempts)
    _, reasons = _sem._verdict(chosen)
    return problem, chosen, list(reasons), levels, n


def _finish(name, equal, partial, solved, estimator, ci) -> _MultiFit:
    """Fit measures, (robust) covariance of the estimates and the table of a solved model."""
    problem, chosen, reasons, levels, _ = solved
    reasons = list(reasons)
    theta = chosen.theta
    m = _measures(problem, theta, chosen.fmin)
    if estimator == "ML":
        vcov = _sem._vcov(problem, theta)
    else:
        a0 = _lik._observed_information(problem, theta)
        s = _global_scores(problem, theta)
        b0 = s.T @ s / problem.n
        vcov = _lik._vcov(a0, b0, problem.n, reasons)
        if np.isfinite(vcov).all():
            m |= _robust(problem, theta, a0, b0, m)
    if not np.isfinite(vcov).all() and not any("singular" in r for r in reasons):
        reasons.append("information matrix is singular: the model is not identified")
    return _MultiFit(name, tuple(equal), tuple(partial), problem, theta, vcov, m,
                     _table(problem, theta, vcov, levels, ci), reasons)


def _fit(syntax, data, group, equal, partial, estimator, ci, seed, max_iter, std_limit,
         name, built=None) -> tuple[_MultiFit, list, int]:
    solved = _solve(syntax, data, group, equal, partial, seed, max_iter, std_limit, name, built)
    return _finish(name, equal, partial, solved, estimator, ci), solved[3], solved[4]


@_sem._single_threaded
def fit_multigroup(model, data: pd.DataFrame, group: str, *, group_equal=(),
                   group_partial=(), estimator: str = "ML", ordered=None,
                   on_improper: str = "raise", ci: float = 0.95, seed: int = 0,
                   max_iter: int = 300,
                   std_limit: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    """One multi-group model with a mean structure, as ``lavaan::cfa(group=, group.equal=)``.

    Parameters
    ----------
    model : SemModel or str
        lavaan syntax (marker identification; see :func:`crqlab.models.sem.fit_sem`).
    data : DataFrame
    group : str
        Grouping column; rows where it is missing are dropped; groups in sorted order (the
        first is the reference whose latent means are 0).
    group_equal : sequence of str
        lavaan's words: ``loadings, intercepts, residuals, residual.covariances,
        lv.variances, lv.covariances, regressions, means``. With ``intercepts`` the latent
        means are free from the second group on, as in lavaan.
    group_partial : sequence of str
        Parameters exempt from ``group_equal`` (``"x3 ~1"``, ``"visual =~ x2"``).
    estimator : {"ML", "MLR", "WLSMV"}
        MLR: sandwich SEs, the Yuan-Bentler scaled test and robust CFI/TLI/RMSEA. WLSMV:
        the items are ordinal (lavaan's ``ordered = TRUE``), see
        :func:`crqlab.models.ordinal.fit_wlsmv_multigroup` (its group.equal words include
        ``thresholds``).
    ordered : None or True
        With ``estimator="WLSMV"``: every item is ordinal (the default).
    on_improper, ci, seed, max_iter, std_limit
        As in :func:`crqlab.models.sem.fit_sem`.

    Returns
    -------
    (DataFrame, Series)
        The parameter table (``group, lhs, op, rhs, label, free, est, se, z, p_value, ci_low,
        ci_high``; ``free`` is the 1-based id, shared by equal parameters) and the fit
        measures (``chisq, df, p_value, npar, cfi, tli, rmsea, srmr, aic, bic, logl,
        baseline_chisq, baseline_df, n``, with MLR ``chisq_scaled, scaling_factor,
        cfi_robust, tli_robust, rmsea_robust``..., and ``proper``).

    Raises
    ------
    ConvergenceError
        Not identified, or (with ``on_improper="raise"``) no proper solution.

    Notes
    -----
    Validated against lavaan 0.6-14 on HolzingerSwineford1939 by school, ML and MLR, every
    step and partial model (``tests/results/lavaan/make_invariance.R``,
    ``tests/models/test_invariance.py``); WLSMV on the same items cut into three ordered
    categories (``tests/results/ordinal/make_multigroup.R``).
    """
    _check_options(estimator, on_improper, ordered)
    if estimator == "WLSMV":
        return _ord.fit_wlsmv_multigroup(model, data, group, group_equal=group_equal,
                                         group_partial=group_partial, on_improper=on_improper,
                                         ci=ci, max_iter=max_iter, std_limit=std_limit)
    sem_model = _sem._as_model(model)
    syntax, _ = _sem._lavaan_auto_cov(_sem._prepare_syntax(sem_model.syntax).syntax)
    fit, _, _ = _fit(syntax, data, group, group_equal, group_partial, estimator, ci, seed,
                     max_iter, std_limit, sem_model.name)
    _sem._enforce(on_improper, sem_model.name, fit.reasons)
    return fit.parameters, pd.Series(fit.measures | {"proper": not fit.reasons})


def _check_options(estimator: str, on_improper: str, ordered=None) -> None:
    if estimator not in ("ML", "MLR", "WLSMV"):
        raise ValueError(f"estimator must be 'ML', 'MLR' or 'WLSMV', got {estimator!r}")
    if estimator == "WLSMV" and ordered not in (None, True):
        raise ValueError(f"estimator='WLSMV' across groups treats every item as ordinal: "
                         f"ordered must be None or True, got {ordered!r} (continuous "
                         "variables among ordinal ones are fitted in one group only)")
    if estimator != "WLSMV" and ordered not in (None, False):
        raise ValueError(f"ordered={ordered!r} needs estimator='WLSMV', got {estimator!r}")
    if on_improper not in ("raise", "flag"):
        raise ValueError(f"on_improper must be 'raise' or 'flag', got {on_improper!r}")


# ----------------------------------------------------------------------------------------------
# Difference tests and the ladder
# ----------------------------------------------------------------------------------------------

def difference_test(restricted: dict, free: dict, estimator: str = "ML") -> dict:
    """Chi-square difference test of nested models, as ``lavTestLRT``.

    Parameters
    ----------
    restricted, free : mapping
        Fit measures of the more and the less restricted model (``chisq, df``, and with MLR
        ``scaling_factor``).
    estimator : {"ML", "MLR"}
        ``"MLR"``: Satorra & Bentler's (2001) scaled difference,
        ``T = (T0 - T1) / cd`` with ``cd = (df0 c0 - df1 c1) / (df0 - df1)``, lavaan's
        ``method = "satorra.bentler.2001"`` (its default for MLR).

    Returns
    -------
    dict
        ``stat, df, p_value`` and, with MLR, ``scaling`` (cd). A negative ``cd`` (possible in
        small samples) gives NaN statistics: the scaled difference is undefined there.
    """
    d_df = restricted["df"] - free["df"]
    if d_df <= 0:
        raise ValueError(f"the restricted model must have more df ({restricted['df']:g} vs "
                         f"{free['df']:g})")
    d_chi = restricted["chisq"] - free["chisq"]
    if estimator == "ML":
        return {"stat": d_chi, "df": d_df, "p_value": float(_st.chi2.sf(d_chi, d_df))}
    cd = (restricted["df"] * restricted["scaling_factor"]
          - free["df"] * free["scaling_factor"]) / d_df
    if not cd > 0:
        return {"stat": np.nan, "df": d_df, "p_value": np.nan, "scaling": cd}
    stat = d_chi / cd
    return {"stat": stat, "df": d_df, "p_value": float(_st.chi2.sf(stat, d_df)),
            "scaling": cd}


@dataclass
class InvarianceResult:
    """Result of :func:`measurement_invariance`.

    Attributes
    ----------
    fits : DataFrame
        One row per fitted model (``configural, metric, scalar, strict`` and the partial
        models ``scalar_partial_1``...): ``model, equal, partial, chisq, df, p_value, npar,
        cfi, tli, rmsea, srmr, n, n_groups, proper`` (+ ``chisq_scaled, scaling_factor,
        cfi_robust, rmsea_robust`` with MLR; with WLSMV ``configural, thresholds, scalar``
        and ``chisq_scaled, scaling_factor, shift_parameter, p_value_scaled, cfi_scaled,
        tli_scaled, rmsea_scaled`` instead of aic and bic).
    tests : DataFrame
        Each step against the last step that held: ``step, model, against, stat, df,
        p_value, d_cfi, d_rmsea, holds`` (``d_cfi`` = CFI of the step minus CFI before, so a
        drop is negative; ``d_rmsea`` the rise).
    partial : DataFrame
        Every release of the partial-invariance search: ``step, round, freed, chisq, df,
        drop`` (chi-square drop against the model before the release) and the step's test
        after it (``stat, p_value, d_cfi, d_rmsea, holds``).
    parameters : dict
        Model name -> parameter table (see :func:`fit_multigroup`).
    level : str
        The highest step that held: ``"none"``, ``"configural"``, ``"metric"``,
        ``"partial metric"``, ``"scalar"``, ``"partial scalar"``, ``"strict"`` or
        ``"partial strict"``.
    freed : list of str
        Constraints released in the accepted models.
    groups : list
    estimator, rule : str
    alpha : float
    n : int
        Rows used (complete on the model's variables, group known).
    n_by_group : dict
        Rows used per group.
    """

    fits: pd.DataFrame
    tests: pd.DataFrame
    partial: pd.DataFrame
    parameters: dict = field(repr=False)
    level: str
    freed: list
    groups: list
    estimator: str
    rule: str
    alpha: float
    n: int
    n_by_group: dict = field(default_factory=dict)


def _holds(test: dict, d_cfi: float, d_rmsea: float, rule: str, alpha: float) -> bool:
    chen = bool(d_cfi >= -RULE["d_cfi"] - 1e-12 and d_rmsea <= RULE["d_rmsea"] + 1e-12)
    ok_test = bool(np.isfinite(test["p_value"]) and test["p_value"] >= alpha)
    return {"chen+test": chen and ok_test, "chen": chen, "test": ok_test}[rule]


def _indices(m: dict, estimator: str) -> tuple[float, float]:
    if estimator == "MLR":
        return m["cfi_robust"], m["rmsea_robust"]
    if estimator == "WLSMV":  # from the scaled-shifted statistics (see the module notes)
        return m["cfi_scaled"], m["rmsea_scaled"]
    return m["cfi"], m["rmsea"]


def _configural_fits(m: dict, estimator: str) -> bool:
    cfi, rmsea = _indices(m, estimator)
    return bool(cfi >= 0.90 and rmsea <= 0.10)


#: Columns of :attr:`InvarianceResult.tests` and :attr:`InvarianceResult.partial`.
TEST_COLUMNS = ["step", "model", "against", "stat", "df", "p_value", "d_cfi", "d_rmsea", "holds"]
PARTIAL_COLUMNS = ["step", "round", "freed", "chisq", "df", "drop", "stat", "p_value", "d_cfi",
                   "d_rmsea", "holds"]


@dataclass
class _Climbed:
    fits: dict
    tests: pd.DataFrame
    partial: pd.DataFrame
    freed: list
    level: str


def _climb(base, steps, *, run, release, difference, estimator: str, rule: str, alpha: float,
           max_free: int) -> _Climbed:
    """The ladder every invariance test climbs (groups or occasions, any estimator).

    Each step is fitted with the constraints freed so far (``run(step, freed)``) and compared
    with the last step that held (``difference(fit, current)``, the changes in CFI and RMSEA,
    :func:`_holds`); a failing step frees one constraint at a time, the one
    ``release(step, step_fit, fit, current, freed, released)`` returns (None: nothing left to
    free), at most ``max_free``; a step still failing ends the ladder. The configural model
    must fit (:func:`_configural_fits`) for any step to be read.
    """
    fits = {"configural": base}
    level = "configural" if _configural_fits(base.measures, estimator) else "none"
    tests, partial_rows, freed = [], [], []
    current, current_name = base, "configural"

    def compare(fit, step, name):
        t = difference(fit, current)
        c1, r1 = _indices(fit.measures, estimator)
        c0, r0 = _indices(current.measures, estimator)
        d_cfi, d_rmsea = c1 - c0, r1 - r0
        return {"step": step, "model": name, "against": current_name, "stat": t["stat"],
                "df": t["df"], "p_value": t["p_value"], "d_cfi": d_cfi, "d_rmsea": d_rmsea,
                "holds": _holds(t, d_cfi, d_rmsea, rule, alpha)}

    for step in steps:
        if level == "none":
            break
        fit = step_fit = run(step, freed)
        fits[step] = fit
        row = compare(fit, step, step)
        tests.append(row)
        released: list[str] = []
        while not row["holds"] and len(released) < max_free:
            best = release(step, step_fit, fit, current, freed, released)
            if best is None:
                break
            drop = fit.measures["chisq"] - best.measures["chisq"]
            released.append(best.partial[-1])
            name = f"{step}_partial_{len(released)}"
            fits[name] = fit = best
            row = compare(best, step, name)
            partial_rows.append({"step": step, "round": len(released), "freed": released[-1],
                                 "chisq": best.measures["chisq"], "df": best.measures["df"],
                                 "drop": drop, "stat": row["stat"], "p_value": row["p_value"],
                                 "d_cfi": row["d_cfi"], "d_rmsea": row["d_rmsea"],
                                 "holds": row["holds"]})
            tests.append(row)
        if not row["holds"]:
            break
        freed += released
        level = f"partial {step}" if freed else step
        current, current_name = fit, row["model"]
    return _Climbed(fits, pd.DataFrame(tests, columns=TEST_COLUMNS),
                    pd.DataFrame(partial_rows, columns=PARTIAL_COLUMNS), freed, level)


@_sem._single_threaded
def measurement_invariance(model, data: pd.DataFrame, group: str, *, steps=None,
                           estimator: str = "ML", ordered=None, rule: str = "chen+test",
                           alpha: float = 0.05, max_free: int = 3, ci: float = 0.95,
                           seed: int = 0, max_iter: int = 300,
                           std_limit: float = 1.0) -> InvarianceResult:
    """Climb the invariance ladder across ``group``, freeing constraints where a step fails.

    Parameters
    ----------
    model : SemModel or str
        The measurement model (lavaan syntax; marker identification).
    data : DataFrame
    group : str
        Grouping column (role, confidential vs named, wave); rows missing it are dropped.
    steps : sequence of str, optional
        Steps after the configural model, in order, from :data:`STEPS` (default
        ``("metric", "scalar", "strict")``), or with ``estimator="WLSMV"`` from
        :data:`ORDINAL_STEPS` (default ``("scalar",)``: thresholds and loadings equal at
        once; ``("thresholds", "scalar")`` tests the thresholds first).
    estimator : {"ML", "MLR", "WLSMV"}
        ``"MLR"`` (for Likert items treated as continuous): scaled difference tests
        (Satorra-Bentler 2001) and robust CFI/RMSEA changes. ``"WLSMV"`` (Likert items as
        ordered categories, lavaan's ``ordered = TRUE``): polychoric correlations in each
        group, Satorra's (2000) scaled-shifted difference tests (``lavTestLRT``'s default
        for WLSMV fits) and changes of the scaled CFI and RMSEA.
    ordered : None or True
        With ``estimator="WLSMV"``: every item is ordinal (the default).
    rule : {"chen+test", "chen", "test"}
        When a step holds (see the module notes and :data:`RULE`).
    alpha : float
        Level of the difference tests.
    max_free : int
        Constraints a partial-invariance search may free per step (0: no search). A step
        still failing then ends the ladder.
    ci, seed, max_iter, std_limit
        As in :func:`crqlab.models.sem.fit_sem`.

    Returns
    -------
    InvarianceResult

    Raises
    ------
    ConvergenceError
        A model of the ladder has no proper solution (never reported as numbers).

    Notes
    -----
    The partial search refits the step once per candidate constraint (the constraints the
    step adds: loadings for metric, intercepts for scalar, residual variances for strict) and
    frees the one with the largest chi-square drop - the exact likelihood-ratio version of a
    modification-index search. Validated against lavaan 0.6-14 on HolzingerSwineford1939 by
    school (``tests/results/lavaan/make_invariance.R``): every fit, ``lavTestLRT`` (ML and
    MLR), and the search, which frees the intercepts of x3 then x7 as lavaan's
    ``group.partial`` refits do.

    With ``estimator="WLSMV"`` the ladder is lavaan's for ordered items (delta
    parameterisation): configural (thresholds free, scaling factors 1, latent means 0 in
    every group), then thresholds and loadings equal (``group.equal = c("thresholds",
    "loadings")``, scaling factors and latent means free from the second group on), the
    step that allows latent means to be compared. Loadings alone are not a step: with the
    scaling factors fixed at 1 they confound loadings with the scale of the latent
    responses (Wu & Estabrook 2016), and intercepts and residual variances are not
    parameters here, so metric and strict steps have no ordinal counterpart. The partial
    search frees one threshold (``"x3|t1"``) or loading at a time, largest drop of the
    DWLS chi-square first. Validated against lavaan 0.6-14 on HolzingerSwineford1939 cut
    into three categories, by school (``tests/results/ordinal/make_multigroup.R``): every
    fit and ``lavTestLRT``.
    """
    _check_options(estimator, "raise", ordered)
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")
    if estimator == "WLSMV":
        return _ordinal_ladder(model, data, group, ("scalar",) if steps is None else steps,
                               rule, alpha, max_free, ci, max_iter, std_limit)
    if steps is None:
        steps = ("metric", "scalar", "strict")
    bad = [s for s in steps if s not in STEPS or s == "configural"]
    if bad:
        raise ValueError(f"unknown step(s) {bad}; steps after 'configural' are "
                         f"{list(STEPS)[1:]}")
    sem_model = _sem._as_model(model)
    syntax, _ = _sem._lavaan_auto_cov(_sem._prepare_syntax(sem_model.syntax).syntax)

    built: dict = {}  # the groups, built once per mean structure for the whole ladder

    def run(name, equal, partial):
        fit, levels, n = _fit(syntax, data, group, equal, partial, estimator, ci, seed,
                              max_iter, std_limit, f"{sem_model.name} ({name})", built)
        _sem._enforce("raise", fit.name, fit.reasons)
        return fit, levels, n

    base, levels, n = run("configural", (), ())

    def release(step, step_fit, fit, current, freed, released):
        # each candidate is only estimated; the best proper one gets its standard errors and
        # robust statistics
        equal = STEPS[step]
        new = {k for k in _keys_of(step_fit) if _kind(k, step_fit.problem.groups[0]) in
               set(equal) - set(current.equal)}
        trials, kept = [], None
        for key in sorted(new - set(_parse_partial(freed + released))):
            partial = [*freed, *released, _key_text(key)]
            solved = _solve(syntax, data, group, equal, partial, seed, max_iter, std_limit,
                            step, built)
            if not solved[2]:
                trials.append((solved[0].n * solved[1].fmin, len(trials), partial))
                if min(trials)[1] == trials[-1][1]:
                    kept = solved
        for rank, (_, _, partial) in enumerate(sorted(trials)):
            solved = kept if rank == 0 else _solve(syntax, data, group, equal, partial, seed,
                                                   max_iter, std_limit, step, built)
            best = _finish(step, equal, partial, solved, estimator, ci)
            if not best.reasons:
                return best
        return None

    climbed = _climb(base, steps, run=lambda step, freed: run(step, STEPS[step], freed)[0],
                     release=release, estimator=estimator, rule=rule, alpha=alpha,
                     max_free=max_free,
                     difference=lambda fit, current: difference_test(
                         fit.measures, current.measures, estimator))
    fit_rows = []
    for name, f in climbed.fits.items():
        r = {"model": name, "equal": ", ".join(f.equal), "partial": ", ".join(f.partial)}
        keep = ("chisq", "df", "p_value", "npar", "cfi", "tli", "rmsea", "srmr", "aic", "bic",
                "n", "chisq_scaled", "scaling_factor", "cfi_robust", "tli_robust",
                "rmsea_robust")
        r |= {k: f.measures[k] for k in keep if k in f.measures}
        r |= {"n_groups": len(levels), "proper": not f.reasons}
        fit_rows.append(r)
    return InvarianceResult(fits=pd.DataFrame(fit_rows), tests=climbed.tests,
                            partial=climbed.partial,
                            parameters={k: f.parameters for k, f in climbed.fits.items()},
                            level=climbed.level, freed=climbed.freed, groups=levels,
                            estimator=estimator, rule=rule, alpha=alpha, n=n,
                            n_by_group={lv: grp.n for lv, grp in
                                        zip(levels, base.problem.groups)})


def _ordinal_fit_row(name: str, fit) -> dict:
    r = {"model": name, "equal": ", ".join(fit.equal), "partial": ", ".join(fit.partial)}
    keep = ("chisq", "df", "p_value", "npar", "cfi", "tli", "rmsea", "srmr", "n",
            "chisq_scaled", "scaling_factor", "shift_parameter", "p_value_scaled",
            "cfi_scaled", "tli_scaled", "rmsea_scaled")
    r |= {k: fit.measures[k] for k in keep if k in fit.measures}
    return r | {"n_groups": len(fit.levels), "proper": not fit.reasons}


def _ordinal_ladder(model, data, group, steps, rule, alpha, max_free, ci, max_iter,
                    std_limit) -> InvarianceResult:
    """The invariance ladder of ordinal items by WLSMV (see :func:`measurement_invariance`)."""
    bad = [s for s in steps if s not in ORDINAL_STEPS or s == "configural"]
    if bad:
        raise ValueError(f"unknown step(s) {bad} for estimator='WLSMV'; steps after "
                         f"'configural' are {list(ORDINAL_STEPS)[1:]} (metric and strict "
                         "have no counterpart for ordinal items in the delta "
                         "parameterisation)")
    sem_model = _sem._as_model(model)
    built: dict = {}  # each group's moments, once for the whole ladder

    def run(name, equal, partial, start=None):
        fit = _ord._mg_fit(sem_model.syntax, data, group, equal, partial, ci=ci,
                           max_iter=max_iter, std_limit=std_limit, built=built, start=start)
        return fit

    base = run("configural", (), ())
    _sem._enforce("raise", f"{sem_model.name} (configural)", base.reasons)

    def step_run(step, freed):
        fit = run(step, ORDINAL_STEPS[step], freed)
        _sem._enforce("raise", f"{sem_model.name} ({step})", fit.reasons)
        return fit

    def release(step, step_fit, fit, current, freed, released):
        equal = ORDINAL_STEPS[step]
        added = set(equal) - set(current.equal)
        new = [f"{a} {op} {b}" for (a, op, b), kind in zip(step_fit.groups[0].keys,
                                                          step_fit.groups[0].kinds)
               if kind in added]
        best = None
        for cand in [c for c in new if c not in freed + released]:
            trial = run(step, equal, [*freed, *released, cand], start=fit)
            if trial.reasons:
                continue
            if best is None or trial.measures["chisq"] < best.measures["chisq"]:
                best = trial
        return best

    climbed = _climb(base, steps, run=step_run, release=release,
                     difference=_ord.wlsmv_difference_test, estimator="WLSMV", rule=rule,
                     alpha=alpha, max_free=max_free)
    return InvarianceResult(fits=pd.DataFrame([_ordinal_fit_row(k, f)
                                               for k, f in climbed.fits.items()]),
                            tests=climbed.tests, partial=climbed.partial,
                            parameters={k: f.parameters for k, f in climbed.fits.items()},
                            level=climbed.level, freed=climbed.freed, groups=base.levels,
                            estimator="WLSMV", rule=rule, alpha=alpha, n=base.n,
                            n_by_group={lv: g.n for lv, g in zip(base.levels, base.groups)})


def _keys_of(fit: _MultiFit) -> list[tuple]:
    return list(_keys(fit.problem.groups[0]))


def _key_text(key: tuple) -> str:
    lhs, op, rhs = key
    return f"{lhs} ~1" if op == "~1" else f"{lhs} {op} {rhs}"


def invariance_verdict(result: InvarianceResult) -> str:
    """The invariance result in plain words, for a notebook or report.

    Returns
    -------
    str
        One or two sentences: the highest step that holds and what it allows to compare
        (e.g. "scalar invariance holds: latent means can be compared"), the constraints
        freed, the step that failed with its evidence, and the rule used.

    Notes
    -----
    The sentences follow :attr:`InvarianceResult.level`, which applies the documented rule
    (module notes); checked on HolzingerSwineford1939 by school in
    ``tests/models/test_invariance.py``.
    """
    lvl = result.level
    groups = f"across {len(result.groups)} groups ({', '.join(map(str, result.groups))})"
    fits = result.fits.set_index("model")
    if lvl == "none":
        cfi, rmsea = _indices(fits.loc["configural"], result.estimator)
        text = (f"even the configural model fits poorly {groups} (CFI {cfi:.3f}, RMSEA "
                f"{rmsea:.3f}): the factor structure may differ between groups; compare "
                "neither means nor relationships")
    else:
        step = lvl.replace("partial ", "")
        allows = _ALLOWS[step]
        if lvl.startswith("partial"):
            text = (f"partial {step} invariance holds {groups} with "
                    f"{', '.join(result.freed)} free across groups: {allows}, "
                    f"with care (on the invariant items)")
        elif step == "configural":
            differ = "thresholds or loadings" if result.estimator == "WLSMV" else "loadings"
            text = (f"only configural invariance holds {groups}: the same factor structure, "
                    f"but {differ} differ; compare neither relationships nor means directly")
        elif step == "metric":
            text = (f"only metric invariance holds {groups}: compare relationships "
                    "(paths, correlations), not means")
        else:
            text = f"{step} invariance holds {groups}: {allows}"
    if len(result.tests) and not result.tests["holds"].iloc[-1]:  # the step that stopped it
        last = result.tests.iloc[-1]
        p = "n/a" if not np.isfinite(last["p_value"]) else f"{last['p_value']:.3g}"
        text += (f". The {last['step']} step failed (difference test p = {p}, "
                 f"change in CFI {last['d_cfi']:+.3f}, in RMSEA {last['d_rmsea']:+.3f})")
    rule = {"chen+test": f"a step holds when CFI drops by at most {RULE['d_cfi']:.3f}, RMSEA "
                         f"rises by at most {RULE['d_rmsea']:.3f} (Chen 2007) and the "
                         f"difference test is not significant at {result.alpha:g}",
            "chen": f"a step holds when CFI drops by at most {RULE['d_cfi']:.3f} and RMSEA "
                    f"rises by at most {RULE['d_rmsea']:.3f} (Chen 2007)",
            "test": f"a step holds when the difference test is not significant at "
                    f"{result.alpha:g}"}[result.rule]
    sizes = ", ".join(f"{g} {k}" for g, k in result.n_by_group.items())
    return (f"{text}. Rule: {rule}; estimator {result.estimator}, n = {result.n}"
            + (f" ({sizes})." if sizes else "."))


# ----------------------------------------------------------------------------------------------
# The result in reviewers' words (for the study modules; no code names)
# ----------------------------------------------------------------------------------------------

#: What each highest step allows a reader to conclude about a gap in scores between the groups.
_MEANS_FOR_READERS = {
    "none": "no score gap can be read as a difference in the relationship",
    "configural": "score gaps mix a real difference with question bias",
    "metric": "relationships (paths, correlations) can be compared between the groups, but not "
              "score levels: part of a gap may be question bias",
    "thresholds": "score gaps may still mix a real difference with question bias",
    "scalar": "a gap in scores is a gap in the elements themselves, not bias of single "
              "questions",
    "strict": "a gap in scores is a gap in the elements themselves, not bias of single "
              "questions",
}
_STEP_WORDS = {"thresholds": "equal answer thresholds", "metric": "equal weights", "scalar": "equal weights and levels",
               "strict": "equal weights, levels and residual variances"}
#: Ordinal items (WLSMV): the scalar step holds thresholds and loadings equal.
_ORDINAL_STEP_WORDS = {**_STEP_WORDS, "scalar": "equal weights and answer thresholds"}


def item_names(element_items: Mapping[str, Sequence[str]],
               labels: Mapping[str, str]) -> dict[str, str]:
    """Readers' names of questions: ``{"trust_1": "Trust question 1", ...}`` from the
    elements' questions (in order) and the elements' labels."""
    return {item: f"{labels.get(e, e)} question {k}"
            for e, items in element_items.items() for k, item in enumerate(items, start=1)}


def _freed_words(freed: str, names: Mapping[str, str]) -> str:
    parts = freed.split()
    item = parts[-1] if parts[1] == "=~" else parts[0]
    what = {"~1": "the level", "=~": "the weight", "~~": "the residual variance",
            "|": "an answer threshold"}[parts[1]]
    return f"{what} of {names.get(item, 'a question')}"


def plain_summary(result: InvarianceResult, groups: str, names: Mapping[str, str], *,
                  unit: str = "group") -> tuple[str, pd.DataFrame | None]:
    """The invariance result as a sentence and a table for reviewers (no code names).

    Parameters
    ----------
    result : InvarianceResult
    groups : str
        Who was compared, opening the sentence (``"Between confidential (157) and named (524)
        respondents"``).
    names : mapping
        Question -> readers' name (:func:`item_names`); a question not in it is "a question".
    unit : str
        What a group is called in the sentence: "in both groups", "in all 4 waves".

    Returns
    -------
    sentence : str
        What held, which questions had to be freed, and what that allows to compare.
    table : DataFrame or None
        One row per step tested: step, difference test, changes in CFI and RMSEA, holds.

    Notes
    -----
    The words follow :attr:`InvarianceResult.level` (the documented rule); tested on planted
    item bias in ``tests/models/test_invariance.py`` and through the study modules.
    """
    level = result.level
    base = level.replace("partial ", "")
    k = len(result.groups)
    every = f"both {unit}s" if k == 2 else f"all {k} {unit}s"
    words = _ORDINAL_STEP_WORDS if result.estimator == "WLSMV" else _STEP_WORDS
    unequal = "equal weights and answer thresholds" if result.estimator == "WLSMV" else (
        "equal weights")
    carries = {"none": f"do not even group into the same elements in {every}",
               "configural": f"group into the same elements but do not carry {unequal}"}
    held = carries.get(base, f"carry {words.get(base, base)} in {every}")
    freed = [_freed_words(f, names) for f in result.freed]
    text = (f"{groups}, the questions {held}"
            + (f" once {word_list(freed)} may differ" if freed else "")
            + f": {_MEANS_FOR_READERS[base]}.")
    t = result.tests
    if not len(t):
        return text, None
    table = pd.DataFrame({
        "Step": [words.get(x, x) + (f", {m.rsplit('_', 1)[-1]} freed" if "partial" in m
                                          else "")
                 for x, m in zip(t["step"], t["model"])],
        "Difference test": [f"{format_fixed(a, 2, grouping=False)} on {int(d)} df, "
                            f"{format_p_text(p)}" for a, d, p in zip(t["stat"], t["df"],
                                                                     t["p_value"])],
        "Change in CFI": [format_fixed(x, 3, sign=True) for x in t["d_cfi"]],
        "Change in RMSEA": [format_fixed(x, 3, sign=True) for x in t["d_rmsea"]],
        "Holds": ["yes" if h else "no" for h in t["holds"]]})
    return text, table
