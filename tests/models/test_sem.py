"""crqlab.models.sem against lavaan 0.6 (tests/results/lavaan/make_lavaan.R) and planted truth."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from crqlab.data.instruments import load_instrument
from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.models.sem import (
    HypothesisedPath,
    SemModel,
    bootstrap_sem,
    compare_groups,
    compare_models,
    fit_sem,
    indirect_effects,
    kmv_classic_model,
    kmv_crq_model,
    measurement_syntax,
    rival_model,
    simulate_sem,
)
from crqlab.paths import INSTRUMENTS_DIR

REF_DIR = Path(__file__).parents[1] / "results" / "lavaan"
REF = json.loads((REF_DIR / "lavaan_reference.json").read_text(encoding="utf-8"))

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PD_MODEL = """ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"""
MIMIC_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ visual + ageyr + sex"

# lavaan fitMeasures() name -> crqlab fit_measures name
FIT_NAMES = {"chisq": "chisq", "df": "df", "pvalue": "p_value", "cfi": "cfi", "tli": "tli",
             "rmsea": "rmsea", "rmsea.ci.lower": "rmsea_ci_low",
             "rmsea.ci.upper": "rmsea_ci_high", "rmsea.pvalue": "rmsea_p_close",
             "srmr": "srmr", "aic": "aic", "bic": "bic", "logl": "logl",
             "unrestricted.logl": "unrestricted_logl", "npar": "npar",
             "baseline.chisq": "baseline_chisq", "baseline.df": "baseline_df", "ntotal": "n"}


def _load_helper():
    spec = importlib.util.spec_from_file_location("make_synthetic", REF_DIR / "make_synthetic.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def data():
    return {"hs": pd.read_csv(REF_DIR / "holzinger_swineford_1939.csv"),
            "pd": pd.read_csv(REF_DIR / "political_democracy.csv"),
            "heywood": pd.read_csv(REF_DIR / "heywood.csv"),
            "kmv": pd.read_csv(REF_DIR / "kmv_synthetic.csv"),
            "classic": pd.read_csv(REF_DIR / "kmv_classic_synthetic.csv")}


@pytest.fixture(scope="module")
def fits(data):
    crq = kmv_crq_model()
    return {"hs_cfa": fit_sem(HS_MODEL, data["hs"]),
            "political_democracy": fit_sem(PD_MODEL, data["pd"]),
            "mimic": fit_sem(MIMIC_MODEL, data["hs"]),
            "heywood": fit_sem("f =~ y1 + y2 + y3", data["heywood"], on_improper="flag"),
            "kmv_crq": fit_sem(crq, data["kmv"]),
            "kmv_crq_rival": fit_sem(rival_model(crq), data["kmv"]),
            "kmv_classic": fit_sem(kmv_classic_model(), data["classic"])}


def _key(df: pd.DataFrame) -> pd.Index:
    """(lhs, op, rhs) with the two sides of a covariance in sorted order."""
    lhs, rhs = df["lhs"].to_numpy(), df["rhs"].to_numpy()
    swap = (df["op"].to_numpy() == "~~") & (lhs > rhs)
    a, b = np.where(swap, rhs, lhs), np.where(swap, lhs, rhs)
    return pd.Index(list(zip(a, df["op"], b)))


def _aligned(name: str, fit) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame(REF[name]["parameters"])
    ref = ref[ref["op"] != ":="].copy()
    ref.index = _key(ref)
    ours = fit.parameters.copy()
    ours.index = _key(ours)
    assert len(ours) == len(ref) and set(ours.index) == set(ref.index)
    return ours.loc[ref.index], ref.astype({c: float for c in ("se", "z", "pvalue")})


# -- the reference data -------------------------------------------------------------------------

def test_semopy_example_data_are_lavaans(data):
    import semopy.examples as ex

    hs = ex.holzinger39.get_data().reset_index(drop=True)
    items = [f"x{i}" for i in range(1, 10)]
    # R: write.csv(lavaan::HolzingerSwineford1939)
    assert_allclose(hs[items].to_numpy(), data["hs"][items].to_numpy(), rtol=0, atol=1e-6)
    pdm = ex.political_democracy.get_data().reset_index(drop=True)
    cols = [c for c in data["pd"].columns]
    # R: write.csv(lavaan::PoliticalDemocracy)
    assert_allclose(pdm[cols].to_numpy(), data["pd"].to_numpy(), rtol=0, atol=1e-5)


def test_synthetic_data_are_reproducible(data):
    helper = _load_helper()
    again = helper.make_kmv_synthetic()
    pd.testing.assert_frame_equal(again, data["kmv"], check_dtype=False)
    classic = helper.make_kmv_classic_synthetic()
    assert_allclose(classic.to_numpy(), data["classic"][classic.columns].to_numpy(), atol=1e-9)
    assert (REF_DIR / "kmv_crq.lav").read_text() == kmv_crq_model().syntax
    assert (REF_DIR / "kmv_crq_rival.lav").read_text() == rival_model(kmv_crq_model()).syntax


# -- parity with lavaan ---------------------------------------------------------------------------

MODELS = ["hs_cfa", "political_democracy", "mimic", "heywood", "kmv_crq", "kmv_crq_rival",
          "kmv_classic"]


@pytest.mark.parametrize("name", MODELS)
def test_parameters_match_lavaan(fits, name):
    ours, ref = _aligned(name, fits[name])
    free = ref["se"] > 0
    # R: parameterEstimates(fit, standardized = TRUE)$est
    # lavaan's nlminb stops at a relative objective change of 1e-10; estimates agree to ~3e-5.
    assert_allclose(ours["est"], ref["est"], rtol=0, atol=1e-4)
    # R: parameterEstimates(fit)$se  (expected information, N divisor)
    assert_allclose(ours.loc[free, "se"], ref.loc[free, "se"], rtol=1e-4)
    # R: parameterEstimates(fit)$z
    assert_allclose(ours.loc[free, "z"], ref.loc[free, "z"], rtol=1e-3, atol=1e-3)
    # R: parameterEstimates(fit)$pvalue
    assert_allclose(ours.loc[free, "p_value"], ref.loc[free, "pvalue"], rtol=1e-3, atol=1e-6)
    # R: parameterEstimates(fit)$ci.lower, $ci.upper
    assert_allclose(ours.loc[free, "ci_low"], ref.loc[free, "ci.lower"], atol=2e-4)
    assert_allclose(ours.loc[free, "ci_high"], ref.loc[free, "ci.upper"], atol=2e-4)
    # R: parameterEstimates(fit, standardized = TRUE)$std.all
    assert_allclose(ours["std_all"], ref["std.all"], rtol=0, atol=1e-4)
    # fixed parameters are reported, without an SE (lavaan reports se = 0)
    assert ours.loc[~free, "se"].isna().all()


@pytest.mark.parametrize("name", MODELS)
def test_fit_measures_match_lavaan(fits, name):
    ours, ref = fits[name].fit_measures, REF[name]["fit"]
    for r_name, name_ in FIT_NAMES.items():
        if ref[r_name] is None:  # df = 0 (Heywood): lavaan gives no p-values
            assert np.isnan(ours[name_]), name_
            continue
        exact = r_name in ("df", "npar", "ntotal", "baseline.df")
        # R: fitMeasures(fit, r_name). The RMSEA interval is a root of the non-central
        # chi-square (lavaan: uniroot, tolerance ~1e-4 on lambda), hence its looser tolerance.
        tol = {"rmsea.ci.lower": 1e-5, "rmsea.ci.upper": 1e-5}.get(r_name, 1e-6)
        assert_allclose(ours[name_], ref[r_name], rtol=0 if exact else 1e-7,
                        atol=0 if exact else tol, err_msg=r_name)


def test_published_tutorial_values(fits):
    fm = fits["hs_cfa"].fit_measures
    # R: fitMeasures(cfa(HS.model, HolzingerSwineford1939)) - lavaan tutorial, rounded there
    assert_allclose([fm["chisq"], fm["df"], fm["cfi"], fm["rmsea"]],
                    [85.306, 24, 0.931, 0.092], atol=5e-4)
    fm = fits["political_democracy"].fit_measures
    # R: fitMeasures(sem(model, PoliticalDemocracy)) - lavaan tutorial
    assert_allclose([fm["chisq"], fm["df"]], [38.125, 35], atol=5e-4)


@pytest.mark.parametrize("name", ["political_democracy", "mimic", "kmv_crq", "kmv_classic"])
def test_r_squared_matches_lavaan(fits, name):
    r2 = fits[name].r_squared.set_index("variable")["r2"]
    ref = pd.Series(REF[name]["r2"])
    # R: lavInspect(fit, "r2")
    assert_allclose(r2.reindex(ref.index), ref, atol=1e-5)


def test_lavaan_conventions_where_semopy_differs(data, fits):
    import semopy

    m = semopy.Model(HS_MODEL)
    m.fit(data["hs"])
    raw = m.inspect()
    x3 = float(raw[(raw["lval"] == "x3") & (raw["rval"] == "visual")]["Estimate"].iloc[0])
    ours = fits["hs_cfa"].parameters.set_index(["lhs", "op", "rhs"])
    ref = _aligned("hs_cfa", fits["hs_cfa"])[1].set_index(["lhs", "op", "rhs"])
    lav_x3 = ref.loc[("visual", "=~", "x3"), "est"]
    # R: parameterEstimates(cfa(HS.model, HS))  visual =~ x3  0.7294
    # semopy's default SLSQP stops early; crqlab's Fisher scoring reaches lavaan's optimum
    assert abs(x3 - lav_x3) > 5e-4
    assert abs(ours.loc[("visual", "=~", "x3"), "est"] - lav_x3) < 1e-4
    st = semopy.calc_stats(m).T["Value"]
    fm = fits["hs_cfa"].fit_measures
    # semopy's RMSEA divides by N - 1 and its LogLik is the ML objective, not a log-likelihood
    assert_allclose(st["RMSEA"], np.sqrt((st["chi2"] - 24) / (24 * 300)), rtol=1e-6)
    # R: fitMeasures(fit, c("rmsea", "logl"))
    assert_allclose(fm["rmsea"], REF["hs_cfa"]["fit"]["rmsea"], rtol=1e-6)
    assert abs(st["RMSEA"] - fm["rmsea"]) > 1e-4
    assert_allclose(st["LogLik"], fm["chisq"] / fm["n"], rtol=1e-3)
    assert_allclose(fm["logl"], REF["hs_cfa"]["fit"]["logl"], rtol=1e-9)


def test_analytic_derivatives(fits):
    fit = fits["kmv_crq"]
    grp = fit._problem.groups[0]
    theta = fit._theta + 0.02  # away from the optimum, where the gradient is not zero
    f, g, h = grp.evaluate(theta, True, True)
    eps = 1e-6
    numeric = np.array([(grp.evaluate(theta + eps * e, False, False)[0]
                         - grp.evaluate(theta - eps * e, False, False)[0]) / (2 * eps)
                        for e in np.eye(len(theta))])
    # central differences of F_ML: error ~eps^2 times the third derivative
    assert_allclose(g, numeric, atol=1e-6)
    sm = grp.sm
    sm.update_matrices(theta)
    sm.n_samples = grp.n
    # semopy's expected information: (n / 2) tr(Sigma^-1 dSigma_i Sigma^-1 dSigma_j)
    assert_allclose(grp.n / 2 * h, sm.calc_fim(), rtol=1e-9, atol=1e-12)
    sm.update_matrices(fit._theta)
    assert "chisq" in repr(fit) and "proper" in repr(fit)


def test_outcome_covariances_are_free_as_in_lavaan(fits):
    p = fits["kmv_classic"].parameters
    cov = p[(p["op"] == "~~") & (p["lhs"] != p["rhs"])]
    pairs = {frozenset(t) for t in zip(cov["lhs"], cov["rhs"])}
    outcomes = kmv_classic_model().outcomes
    assert len(outcomes) == 5
    # R: sem() frees the disturbance covariances of the five terminal outcomes (auto.cov.y)
    assert all(frozenset((a, b)) in pairs for i, a in enumerate(outcomes)
               for b in outcomes[i + 1:])
    assert any("auto.cov.y" in n for n in fits["kmv_classic"].notes)
    # observed exogenous covariates: fixed at the sample values, not counted in npar
    assert any("fixed.x" in n for n in fits["mimic"].notes)


def test_indirect_delta_matches_lavaan_defined_parameter(fits):
    ref = pd.DataFrame(REF["political_democracy"]["parameters"])
    ind = ref[ref["op"] == ":="].iloc[0]
    out = indirect_effects(fits["political_democracy"], [("ind60", "dem60", "dem65")],
                           method="delta")
    # R: parameterEstimates(sem(pd_model))  ind := a*b  (delta method)
    assert_allclose(out["est"].iloc[0], ind["est"], atol=1e-4)
    assert_allclose(out["se"].iloc[0], ind["se"], rtol=1e-4)
    assert_allclose(out["p_value"].iloc[0], ind["pvalue"], rtol=1e-3)


# -- multi-group ---------------------------------------------------------------------------------

def _assert_fit_measures(ours: pd.Series, lav: dict, model: str, names) -> None:
    """Each lavaan fitMeasures() value ``names`` equals ours (FIT_NAMES maps the names)."""
    for r_name in names:
        # SRMR is linear in the estimates (chisq is flat at the optimum): atol 1e-6
        assert_allclose(ours[FIT_NAMES[r_name]], lav[r_name], rtol=1e-7,
                        atol=1e-6 if r_name == "srmr" else 1e-7, err_msg=f"{model} {r_name}")


def test_multigroup_cfa_matches_lavaan(data):
    ref = REF["hs_multigroup"]
    g = compare_groups(HS_MODEL, data["hs"], "school", paths=("loadings",), base_equal=())
    fits = g.fits.set_index("model")
    # R: fitMeasures(cfa(HS.model, HS, group = "school"), c("chisq", "df"))  115.851 on 48
    assert_allclose(fits.loc["configural", ["chisq", "df"]].astype(float),
                    [ref["configural"]["chisq"], ref["configural"]["df"]], rtol=1e-7)
    # R: fitMeasures(cfa(..., group.equal = "loadings"), c("chisq", "df"))  124.044 on 54
    assert_allclose(fits.loc["constrained", ["chisq", "df"]].astype(float),
                    [ref["metric"]["chisq"], ref["metric"]["df"]], rtol=1e-7)
    for ours_name, lav_name in (("configural", "configural"), ("constrained", "metric")):
        # R: fitMeasures(cfa(HS.model, HS, group = "school", group.equal = ...), r_name)
        _assert_fit_measures(fits.loc[ours_name], ref[lav_name], ours_name,
                             ("pvalue", "npar", "cfi", "tli", "rmsea", "srmr", "aic", "bic"))
    # R: anova(metric, configural)
    assert_allclose(g.test[["stat", "df", "p_value"]].iloc[0].astype(float),
                    [ref["diff"]["chisq"], ref["diff"]["df"], ref["diff"]["pvalue"]],
                    rtol=1e-6)
    # per-group estimates of the configural model equal the separate fits
    lav = pd.DataFrame(ref["configural_parameters"])
    lav["group"] = [ref["group_labels"][i - 1] for i in lav["group"]]
    lav.index = pd.MultiIndex.from_arrays([lav["group"], _key(lav)])
    ours = g.by_group.copy()
    ours.index = pd.MultiIndex.from_arrays([ours["group"], _key(ours)])
    lav = lav[lav["op"] != "~1"]  # lavaan's multi-group intercepts (saturated means)
    ours = ours.loc[lav.index]
    # R: parameterEstimates(cfa(HS.model, HS, group = "school"))
    assert_allclose(ours["est"], lav["est"], atol=1e-4)
    free = lav["se"] > 0
    assert_allclose(ours.loc[free, "se"], lav.loc[free, "se"], rtol=2e-4)


def test_multigroup_structural_paths_match_lavaan(data):
    ref = REF["kmv_multigroup"]
    g = compare_groups(kmv_crq_model(), data["kmv"], "role")
    fits = g.fits.set_index("model")
    for ours_name, lav_name in (("configural", "configural"), ("base", "base"),
                                ("constrained", "constrained")):
        # R: fitMeasures(sem(kmv_crq.lav, kmv, group = "role", group.equal = ...))
        assert_allclose(fits.loc[ours_name, ["chisq", "df"]].astype(float),
                        [ref[lav_name]["chisq"], ref[lav_name]["df"]], rtol=1e-7)
        _assert_fit_measures(fits.loc[ours_name], ref[lav_name], ours_name,
                             ("npar", "cfi", "tli", "rmsea", "srmr", "aic", "bic"))
    # R: anova(constrained = c("loadings", "regressions"), base = "loadings")
    assert_allclose(g.test[["stat", "df", "p_value"]].iloc[0].astype(float),
                    [ref["diff"]["chisq"], ref["diff"]["df"], ref["diff"]["pvalue"]],
                    rtol=1e-6)
    # planted: commitment -> nps is 0.70 for key decision makers and 0.45 for others
    d = g.differences.set_index(["lhs", "rhs"])
    nps = d.loc[("nps", "commitment")]
    assert nps["group"] == "other" and nps["reference"] == "key decision maker"
    assert nps["est"] < 0 and nps["p_value"] < 0.05
    a = g.by_group[(g.by_group["lhs"] == "nps") & (g.by_group["op"] == "~")].set_index("group")
    # the z test is the difference of the separate fits over the root sum of squared SEs
    assert_allclose(nps["est"], a.loc["other", "est"] - a.loc["key decision maker", "est"])
    assert_allclose(nps["se"], np.hypot(a.loc["other", "se"], a.loc["key decision maker", "se"]))
    assert_allclose(nps["p_value"], 2 * stats.norm.sf(abs(nps["est"] / nps["se"])))


def test_compare_groups_needs_two_groups(data):
    one = data["kmv"].assign(role="all")
    with pytest.raises(InsufficientDataError):
        compare_groups(kmv_crq_model(), one, "role")


# -- the guard ------------------------------------------------------------------------------------

def test_guard_raises_on_heywood_case(data):
    with pytest.raises(ConvergenceError, match="negative variance"):
        fit_sem("f =~ y1 + y2 + y3", data["heywood"])


def test_guard_flags_heywood_case_with_reasons(fits):
    fit = fits["heywood"]
    assert fit.converged and not fit.proper
    assert any("y1 ~~ y1" in r for r in fit.reasons)
    assert any("standardised loading above 1" in r for r in fit.reasons)
    # R: lavaan gives the same improper solution: theta_y1 = 1 - .8 * .8 / .5 = -0.28 (x 199/200)
    p = fit.parameters.set_index(["lhs", "op", "rhs"])
    assert_allclose(p.loc[("y1", "~~", "y1"), "est"], (1 - 0.64 / 0.5) * 199 / 200, atol=1e-6)
    # every attempt was tried before giving up
    assert len(fit.attempts) == 4 and not fit.attempts["proper"].any()


def test_semopy_reports_success_where_the_guard_does_not(data):
    import semopy

    m = semopy.Model("f =~ y1 + y2 + y3")
    res = m.fit(data["heywood"])
    est = m.inspect(std_est=True)
    y1 = est[(est["lval"] == "y1") & (est["op"] == "~~")]
    # semopy bounds variances at 0: it reports success with y1's variance at the bound
    assert res.success and float(y1["Estimate"].iloc[0]) < 1e-6
    with pytest.raises(ConvergenceError):
        fit_sem("f =~ y1 + y2 + y3", data["heywood"])


def test_guard_non_convergence(data):
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_sem(PD_MODEL, data["pd"], max_iter=1)
    fit = fit_sem(PD_MODEL, data["pd"], max_iter=1, on_improper="flag")
    assert not fit.converged and not fit.proper
    assert fit.reasons[0].startswith("did not converge")


def test_guard_unidentified_model(data):
    with pytest.raises(ConvergenceError, match="not identified"):
        fit_sem("f =~ x1 + x2", data["hs"])


def test_guard_empirically_unidentified_model(data):
    # df = 5, but a two-indicator factor uncorrelated with the rest is not identified
    model = "f =~ x1 + x2 + x3\ng =~ x4 + x5\nf ~~ 0*g"
    with pytest.raises(ConvergenceError, match="information matrix is singular"):
        fit_sem(model, data["hs"])
    fit = fit_sem(model, data["hs"], on_improper="flag")
    assert fit.fit_measures["df"] == 5 and not fit.proper


def test_guard_policy_is_validated(data):
    with pytest.raises(ValueError, match="on_improper"):
        fit_sem(HS_MODEL, data["hs"], on_improper="ignore")


# -- data handling -----------------------------------------------------------------------------

def test_listwise_deletion_and_dtypes(data, fits):
    d = data["hs"].copy()
    d.loc[[3, 10], "x4"] = np.nan
    d["x1"] = d["x1"].astype("Float64")
    fit = fit_sem(HS_MODEL, d)
    assert fit.n == 299 and fit.n_dropped == 2
    k = data["kmv"].copy()
    k["retained_next_wave"] = k["retained_next_wave"].astype(bool)
    k["nps"] = k["nps"].astype("Int64")
    fit = fit_sem(kmv_crq_model(), k)
    assert_allclose(fit.parameters["est"], fits["kmv_crq"].parameters["est"], atol=1e-8)
    assert any("retained_next_wave is binary" in n for n in fit.notes)


def test_missing_columns_and_too_few_rows(data):
    with pytest.raises(InsufficientDataError, match="not in the data"):
        fit_sem(HS_MODEL, data["hs"].drop(columns="x9"))
    with pytest.raises(InsufficientDataError, match="too few"):
        fit_sem(HS_MODEL, data["hs"].head(8))


# -- model building -------------------------------------------------------------------------------

def test_models_come_from_the_instrument(tmp_path):
    crq = load_instrument("crq")
    m = kmv_crq_model(crq)
    assert m.antecedents == ["service", "experience", "solution", "satisfaction"]
    assert m.mediators == ["trust", "commitment"]
    assert m.outcomes == ["nps", "retained_next_wave"]
    for el in crq.elements.values():  # every CRQ item appears, none invented
        assert f"{el.name} =~ {' + '.join(el.items)}" in m.syntax
    assert measurement_syntax(crq, ["trust"]) == "trust =~ trust_1 + trust_2 + trust_3"
    # the studies pass the items they found in the data; on CRQ that is the instrument's text
    multi = {e: its for e, its in crq.element_items().items() if len(its) >= 2}
    assert measurement_syntax(multi) == measurement_syntax(crq, list(multi))
    with pytest.raises(ValueError, match="mapping"):
        measurement_syntax(multi, ["trust"])
    # another reading of the instrument: Value for Money promoted to an element of its own
    text = (INSTRUMENTS_DIR / "crq.yaml").read_text(encoding="utf-8")
    text = text.replace("        value_for_money: {label: Value for Money, items: "
                        "[value_for_money]}\n", "")
    text = text.replace("  service:\n    service:",
                        "  service:\n    value_for_money:\n      label: Value for Money\n"
                        "      items: [value_for_money]\n    service:")
    text = text.replace("weights: {trust: 1,", "weights: {value_for_money: 1, trust: 1,")
    path = tmp_path / "crq8.yaml"
    path.write_text(text, encoding="utf-8")
    m8 = kmv_crq_model(load_instrument(path))
    assert "trust ~ value_for_money + service + experience + solution" in m8.syntax
    assert "solution =~ innovation + leading_edge\n" in m8.syntax
    assert any("single-item element 'value_for_money'" in n for n in m8.notes)


def test_classic_and_rival_models():
    kmv = kmv_classic_model()
    assert len(kmv.paths) == 13
    assert kmv.mediators == ["commitment", "trust"] or set(kmv.mediators) == {"trust",
                                                                             "commitment"}
    rival = rival_model(kmv)
    # Morgan & Hunt's rival: 5 antecedents + trust + commitment -> 5 outcomes directly
    assert len(rival.paths) == 35 and not rival.mediators
    signs = {(p.source, p.target): p.sign for p in rival.paths}
    # opportunism -(-)-> trust -> commitment -(-)-> propensity to leave: positive
    assert signs[("opportunism", "propensity_to_leave")] == "+"
    assert signs[("opportunism", "cooperation")] == "-"
    assert signs[("communication", "uncertainty")] == "-"
    assert signs[("termination_costs", "functional_conflict")] is None  # no chain
    crq_rival = rival_model(kmv_crq_model())
    assert len(crq_rival.paths) == 12 and crq_rival.binary == ("retained_next_wave",)


def test_compare_models_as_morgan_hunt(fits):
    table = compare_models({"KMV": fits["kmv_crq"], "rival": fits["kmv_crq_rival"]})
    t = table.set_index("model")
    assert_allclose(t.loc["KMV", "chisq"], fits["kmv_crq"].fit_measures["chisq"])
    # all seven planted paths are strong enough to be found in 700 respondents
    assert t.loc["KMV", "n_paths"] == 7 and t.loc["KMV", "share_supported"] == 1.0
    assert t.loc["rival", "n_paths"] == 12
    # the rival's direct paths from service etc. are planted 0: most are unsupported
    assert t.loc["rival", "share_supported"] < 0.5
    # R: lavInspect(fit, "r2")["nps"]
    assert_allclose(t.loc["KMV", "r2_nps"], REF["kmv_crq"]["r2"]["nps"], atol=1e-5)
    assert {"cfi", "tli", "rmsea", "aic", "bic", "r2_retained_next_wave"} <= set(table.columns)
    hyp = fits["kmv_crq"].hypotheses()
    assert hyp["supported"].all() and (hyp["sign"] == "+").all()


# -- planted truth --------------------------------------------------------------------------------

PLANTED = {("service", "trust"): 0.30, ("experience", "trust"): 0.25,
           ("solution", "trust"): 0.15, ("trust", "commitment"): 0.45,
           ("satisfaction", "commitment"): 0.25, ("commitment", "nps"): 0.60,
           ("commitment", "retained_next_wave"): 0.40}


@pytest.fixture(scope="module")
def planted_fit():
    model = kmv_crq_model()
    d = simulate_sem(model, 5000, coefficients=PLANTED, loadings=0.8, exo_corr=0.4,
                     binary={"retained_next_wave": 0.8}, n_accounts=1000, seed=11)
    return fit_sem(model, d)


def test_planted_paths_recovered(planted_fit):
    hyp = planted_fit.hypotheses().set_index(["source", "target"])
    prev = 0.8
    c = stats.norm.ppf(1 - prev)
    for (s, t), beta in PLANTED.items():
        want = beta
        if t == "retained_next_wave":  # Stein's lemma: the binary's standardised slope
            want = beta * stats.norm.pdf(c) / np.sqrt(prev * (1 - prev))
        # N = 5000: SEs of standardised paths are ~0.015; 0.05 is > 3 SE
        assert_allclose(hyp.loc[(s, t), "std_all"], want, atol=0.05, err_msg=f"{s}->{t}")
    p = planted_fit.parameters
    lam = p.loc[p["op"] == "=~", "std_all"]
    assert_allclose(lam, 0.8, atol=0.03)
    assert planted_fit.proper


def test_monte_carlo_interval_covers_planted_indirect_effect(planted_fit):
    chain = ("service", "trust", "commitment", "nps")
    truth = 0.30 * 0.45 * 0.60
    mc = indirect_effects(planted_fit, [chain], method="monte_carlo", standardized=True,
                          n_draws=400, seed=1).iloc[0]
    assert mc["ci_low"] < truth < mc["ci_high"]
    assert_allclose(mc["est"], truth, atol=0.02)


def test_monte_carlo_agrees_with_delta(fits):
    chain = [("ind60", "dem60", "dem65")]
    mc = indirect_effects(fits["political_democracy"], chain, n_draws=20000, seed=3).iloc[0]
    de = indirect_effects(fits["political_democracy"], chain, method="delta").iloc[0]
    # the product's MC SD adds the second-order term se_a^2 se_b^2 (~0.6% here)
    assert_allclose(mc["se"], de["se"], rtol=0.03)
    assert_allclose(mc["est"], de["est"])
    again = indirect_effects(fits["political_democracy"], chain, n_draws=20000, seed=3)
    assert again["ci_low"].iloc[0] == mc["ci_low"]


def test_default_chains_and_bootstrap(fits):
    fit = fits["kmv_crq"]
    chains = indirect_effects(fit, method="delta")
    # 3 drivers x trust x commitment x 2 outcomes, plus satisfaction x commitment x 2 outcomes
    assert len(chains) == 8
    assert "service -> trust -> commitment -> nps" in set(chains["effect"])
    boot = indirect_effects(fit, [("service", "trust", "commitment", "nps")],
                            method="bootstrap", cluster="account_id", n_boot=30, seed=5)
    b = boot.iloc[0]
    assert b["n_draws"] + b["n_failed"] == 30 and b["ci_low"] < b["est"] < b["ci_high"]
    again = indirect_effects(fit, [("service", "trust", "commitment", "nps")],
                             method="bootstrap", cluster="account_id", n_boot=30, seed=5)
    assert again["se"].iloc[0] == b["se"]
    # the fit is left untouched by the resampling
    assert_allclose(fit.parameters["est"], fits["kmv_crq"].parameters["est"])


def test_row_bootstrap_se_agrees_with_information_se(fits):
    fit = fits["hs_cfa"]
    boot = bootstrap_sem(fit, n_boot=150, seed=2)
    assert boot["n_failed"].iloc[0] == 0 and boot["n_accounts"].iloc[0] == fit.n
    info = fit.parameters[fit.parameters["free"] > 0].drop_duplicates("free")
    ratio = boot["se"].to_numpy() / info["se"].to_numpy()
    # 150 resamples: the SD of a bootstrap SE is ~6%; the data are not exactly normal
    assert 0.85 < np.median(ratio) < 1.2
    assert ((boot["ci_low"] < boot["est"]) & (boot["est"] < boot["ci_high"])).all()


def test_simulate_rejects_impossible_paths():
    with pytest.raises(ValueError, match="explain"):
        simulate_sem(kmv_crq_model(), 10, coefficients={("trust", "commitment"): 0.9,
                                                         ("satisfaction", "commitment"): 0.9})
    cyc = SemModel("cyc", "", (HypothesisedPath("a", "b"), HypothesisedPath("b", "a")))
    with pytest.raises(ValueError, match="cycle"):
        simulate_sem(cyc, 10)


@pytest.mark.slow
def test_monte_carlo_coverage_of_indirect_effect():
    """95% Monte Carlo intervals cover the planted indirect effect about 95% of the time."""
    model = kmv_crq_model()
    truth = 0.30 * 0.45 * 0.60
    hits = 0
    reps = 100
    for r in range(reps):
        d = simulate_sem(model, 400, coefficients=PLANTED, exo_corr=0.4, seed=1000 + r)
        fit = fit_sem(model, d)
        mc = indirect_effects(fit, [("service", "trust", "commitment", "nps")],
                              standardized=True, n_draws=300, seed=r).iloc[0]
        hits += mc["ci_low"] < truth < mc["ci_high"]
    # binomial SD of the coverage at 100 replications is ~2.2 points
    assert 0.88 <= hits / reps <= 0.99


def test_crq_kmv_paths_recovered_on_a_synth_study():
    """End to end on crqlab.synth data in the data contract (Int64 items with "don't know"
    gaps, accounts, roles): the CRQ form of KMV recovers the planted latent paths.

    synth plants service/experience/solution -> satisfaction as well; kmv_crq_model treats
    satisfaction as exogenous, correlated freely with the drivers, which is equivalent for the
    trust and commitment equations. 1-7 items treated as continuous attenuate slightly; the
    SEs are about 0.02, so 0.06 is about three of them.
    """
    from crqlab.synth import generate

    s = generate("sample", seed=3, n_accounts=1000, inflation_item=0.0, inflation_nps=0.0,
                 resp_nmar=0.0, resp_privacy=0.0, late_quality=0.0)
    w1 = (s.responses[s.responses["wave"] == 1]
          .merge(s.contacts[["wave", "contact_id", "account_id", "role"]],
                 on=["wave", "contact_id"])
          .merge(s.accounts[["wave", "account_id", "retained_next_wave"]],
                 on=["wave", "account_id"]))
    fit = fit_sem(kmv_crq_model(), w1)
    assert fit.proper and fit.n_dropped > 0  # "don't know" answers drop rows (listwise)
    planted = {(p["from"], p["to"]): p["std_all"] for p in s.truth["paths"]}
    hyp = fit.hypotheses().set_index(["source", "target"])
    for (src, dst), beta in planted.items():
        if dst in ("trust", "commitment"):
            # R: (planted) synth truth["paths"][..]["std_all"]
            assert_allclose(hyp.loc[(src, dst), "std_all"], beta, atol=0.06,
                            err_msg=f"{src}->{dst}")
    boot = bootstrap_sem(fit, cluster="account_id", n_boot=20, seed=1)
    assert boot["n_accounts"].iloc[0] == w1.loc[fit.data.index, "account_id"].nunique()


# -- determinism across processes -----------------------------------------------------------------

_FIT_IN_SUBPROCESS = """
import sys
import pandas as pd
from crqlab.models.sem import fit_sem
hs = pd.read_csv(sys.argv[1])
for syntax in sys.argv[2:]:
    fit = fit_sem(syntax, hs)
    sys.stdout.write(fit.parameters.to_csv(float_format="%.17g"))
    sys.stdout.write(fit.fit_measures.to_csv(float_format="%.17g"))
"""


def _fit_with_hash_seed(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", _FIT_IN_SUBPROCESS,
                          str(REF_DIR / "holzinger_swineford_1939.csv"), HS_MODEL, MIMIC_MODEL],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def test_estimates_do_not_depend_on_the_hash_seed():
    """semopy adds the covariances among exogenous latent variables (and among fixed.x
    covariates) in set order; crqlab puts the parameters in a canonical order, so that two
    processes with different PYTHONHASHSEED give bit-identical tables. Before that, these two
    seeds gave the HS CFA and the MIMIC model differing last bits and covariance orientation."""
    first, second = _fit_with_hash_seed("11"), _fit_with_hash_seed("22")
    assert "textual,~~,visual" in first  # stored in the upper triangle (sorted latents)
    assert first == second


# -- lavaan conveniences: std.lv, NA*, equality labels, :=, single indicators -----------------

SYNTAX_REF = json.loads((REF_DIR / "lavaan_syntax.json").read_text(encoding="utf-8"))


def _r_model(name: str) -> str:
    """The model text as make_lavaan_syntax.R defines it (one source for both sides)."""
    import re

    src = (REF_DIR / "make_lavaan_syntax.R").read_text(encoding="utf-8")
    return re.search(name + r' <- "(.*?)"', src, re.DOTALL).group(1)


SYNTAX_CASES = {"hs_stdlv": ("hs_model", "hs", {"std_lv": True}),
                "hs_labels": ("hs_labels", "hs", {}),
                "hs_marker_label": ("hs_marker_label", "hs", {}),
                "hs_single": ("hs_single", "hs", {}),
                "pd_defined": ("pd_defined", "pd", {}),
                "pd_defined_mlr": ("pd_defined", "pd", {"estimator": "MLR"}),
                "pd_stdlv": ("pd_defined", "pd", {"std_lv": True}),
                "pd_single": ("pd_single", "pd2", {}),
                "hs3_wlsmv_defined": ("hs3_defined", "hs3", {"estimator": "WLSMV"}),
                "hs3_wlsmv_stdlv": ("hs3_defined", "hs3", {"estimator": "WLSMV", "std_lv": True})}


@pytest.mark.parametrize("name", list(SYNTAX_CASES))
def test_lavaan_conveniences_match_lavaan(data, name):
    model, frame, kwargs = SYNTAX_CASES[name]
    frames = {"hs": data["hs"], "pd": data["pd"], "pd2": data["pd"].assign(x1b=data["pd"]["y5"]),
              "hs3": pd.read_csv(REF_DIR.parent / "ordinal" / "hs3.csv")}
    fit = fit_sem(_r_model(model), frames[frame], **kwargs)
    ref = pd.DataFrame(SYNTAX_REF[name]["parameters"])
    if kwargs.get("estimator") == "WLSMV":  # lavaan's fixed scale factors and zero intercepts
        ref = ref[~ref["op"].isin(["~*~", "~1"])]
    ref.index = _key(ref)
    ours = fit.parameters.copy()
    ours.index = _key(ours)
    assert fit.proper and set(ours.index) == set(ref.index) and len(ours) == len(ref)
    ours = ours.loc[ref.index]
    free = pd.to_numeric(ref["se"]) > 0
    # R: parameterEstimates(fit)$est (":=" rows included)
    assert_allclose(ours["est"], ref["est"], rtol=0, atol=1e-4)
    # R: parameterEstimates(fit)$se (delta method for ":=", robust under MLR)
    assert_allclose(ours.loc[free, "se"], pd.to_numeric(ref.loc[free, "se"]), rtol=1e-4,
                    atol=1e-5)
    # R: parameterEstimates(fit, standardized = TRUE)$std.all
    assert_allclose(ours["std_all"], pd.to_numeric(ref["std.all"]), rtol=0, atol=1e-4)
    # R: fitMeasures(fit, c("chisq", "df"))
    assert_allclose(fit.fit_measures["chisq"], SYNTAX_REF[name]["fit"]["chisq"], rtol=1e-6)
    assert fit.fit_measures["df"] == SYNTAX_REF[name]["fit"]["df"]


def test_conveniences_are_stated_and_checked(data):
    single = fit_sem(_r_model("hs_single"), data["hs"])
    assert any("single-indicator" in n and "speed =~ x7" in n for n in single.notes)
    assert single.model.syntax == _r_model("hs_single")  # the user's syntax, not the rewrite
    row = single.parameters.query("lhs == 'x7' and op == '~~' and rhs == 'x7'").iloc[0]
    assert row["est"] == 0 and row["free"] == 0
    std = fit_sem(HS_MODEL, data["hs"], std_lv=True)
    assert any("std.lv" in n for n in std.notes)
    assert (std.parameters.query("op == '=~'")["free"] > 0).all()
    # NA* frees a marker loading (semopy alone would read NA as an equality label)
    na = fit_sem("visual =~ NA*x1 + x2 + x3\nvisual ~~ 1*visual\ntextual =~ x4 + x5 + x6",
                 data["hs"])
    loads = na.parameters.query("lhs == 'visual' and op == '=~'").set_index("rhs")
    assert loads.loc["x1", "free"] > 0 and loads.loc["x1", "label"] == ""
    assert loads.loc["x2", "free"] > 0
    with pytest.raises(ValueError, match="not a parameter label"):
        fit_sem(PD_MODEL + "\nbad := a*zz", data["pd"])
    with pytest.raises(ValueError, match="may be called"):
        fit_sem(PD_MODEL + "\nbad := __import__('os')", data["pd"])
    with pytest.raises(ValueError, match="not allowed"):
        fit_sem(PD_MODEL + "\nbad := a.real", data["pd"])


def test_no_marker_and_no_scale_is_refused_not_hung(data):
    # every loading free and no variance fixed: not identified (semopy's starting values
    # looped forever on such a latent before crqlab dropped its None marker)
    with pytest.raises(ConvergenceError, match="not identified"):
        fit_sem("visual =~ NA*x1 + b*x2 + c*x3\ntextual =~ x4 + x5 + x6", data["hs"])
    # lavaan fixes a labelled marker at 1 (semopy would free it): the label kept on the row
    fixed = fit_sem("visual =~ a*x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nd := 2*a", data["hs"])
    row = fixed.parameters.query("lhs == 'visual' and rhs == 'x1'").iloc[0]
    assert row["est"] == 1 and row["free"] == 0 and row["label"] == "a"
    assert fixed.parameters.query("op == ':='")["est"].iloc[0] == 2
    # such a label on a regression would tie a free path to a fixed loading: refused
    with pytest.raises(ValueError, match="marker"):
        fit_sem("visual =~ a*x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ a*visual",
                data["hs"])


def test_conveniences_under_fiml_give_equivalent_fits():
    bfi = pd.read_csv(REF_DIR.parent / "psych" / "bfi.csv")
    model = "agree =~ A1 + a*A2 + A3 + A4 + A5\nconsc =~ C1 + C2 + b*C3 + C4 + C5\nab := a*b"
    marker = fit_sem(model, bfi, missing="fiml")
    unit = fit_sem(model, bfi, missing="fiml", std_lv=True)
    # two identifications of one model: the same likelihood (planted equivalence)
    assert_allclose(unit.fit_measures["chisq"], marker.fit_measures["chisq"], rtol=1e-7)
    assert_allclose(unit.fit_measures["logl"], marker.fit_measures["logl"], rtol=1e-9)
    assert unit.fit_measures["df"] == marker.fit_measures["df"] == 34
    # ab's standardised value does not depend on the scaling (A1 is reverse keyed: the
    # marker orients agreeableness negatively, flipping the sign)
    d_m = marker.parameters.query("op == ':='").iloc[0]
    d_u = unit.parameters.query("op == ':='").iloc[0]
    assert_allclose(abs(d_m["std_all"]), abs(d_u["std_all"]), rtol=1e-4)
    assert d_m["se"] > 0 and d_u["se"] > 0 and marker.missing == "fiml"
