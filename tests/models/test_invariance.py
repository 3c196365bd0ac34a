"""crqlab.models.invariance against lavaan 0.6 (tests/results/lavaan/make_invariance.R):
HolzingerSwineford1939's three-factor CFA across the two schools, ML and MLR."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from crqlab.errors import InsufficientDataError
from crqlab.models.invariance import (
    RULE,
    STEPS,
    difference_test,
    fit_multigroup,
    invariance_verdict,
    measurement_invariance,
)

REF_DIR = Path(__file__).parents[1] / "results" / "lavaan"
REF = json.loads((REF_DIR / "invariance.json").read_text(encoding="utf-8"))
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
# lavaan fitMeasures() name -> crqlab name
FIT = {"chisq": "chisq", "df": "df", "npar": "npar", "cfi": "cfi", "tli": "tli",
       "rmsea": "rmsea", "srmr": "srmr", "baseline.chisq": "baseline_chisq"}
ROBUST = {"chisq.scaled": "chisq_scaled", "chisq.scaling.factor": "scaling_factor",
          "cfi.robust": "cfi_robust", "tli.robust": "tli_robust",
          "rmsea.robust": "rmsea_robust", "cfi.scaled": "cfi_scaled",
          "rmsea.scaled": "rmsea_scaled"}


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(REF_DIR / "holzinger_swineford_1939.csv")


@pytest.fixture(scope="module")
def fits(hs):
    out = {}
    for est in ("ML", "MLR"):
        for step, equal in STEPS.items():
            out[est, step] = fit_multigroup(HS, hs, "school", group_equal=equal, estimator=est)
        for k, partial in enumerate((["x3 ~1"], ["x3 ~1", "x7 ~1"])):
            out[est, f"partial{k}"] = fit_multigroup(HS, hs, "school", group_equal=STEPS["scalar"],
                                                    group_partial=partial, estimator=est)
    return out


def _ref(est: str, name: str) -> dict:
    r = REF[est.lower()]
    if name.startswith("partial"):
        return r["partial"][int(name[-1])]["fit"]
    return r["fits"][name]


def _aligned(params: pd.DataFrame, ref: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame(ref["parameters"])
    groups = REF["meta"]["groups"]
    ref["group"] = [groups[g - 1] for g in ref["group"]]
    ref = ref[ref["op"] != "=="]

    def key(df):
        lhs, rhs = df["lhs"].to_numpy(), df["rhs"].to_numpy()
        swap = (df["op"].to_numpy() == "~~") & (lhs > rhs)
        return pd.Index(list(zip(df["group"], np.where(swap, rhs, lhs), df["op"],
                                 np.where(swap, lhs, rhs))))

    ref.index = key(ref)
    ours = params.copy()
    ours.index = key(ours)
    assert set(ours.index) == set(ref.index) and len(ours) == len(ref)
    return ours.loc[ref.index], ref


MODELS = list(STEPS) + ["partial0", "partial1"]


@pytest.mark.parametrize("est", ["ML", "MLR"])
@pytest.mark.parametrize("name", MODELS)
def test_multigroup_fits_match_lavaan(fits, est, name):
    params, measures = fits[est, name]
    ref = _ref(est, name)
    ours, theirs = _aligned(params, ref)
    free = pd.to_numeric(theirs["se"]) > 0
    # R: parameterEstimates(cfa(model, group = "school", group.equal = ...))$est
    assert_allclose(ours["est"], theirs["est"], rtol=0, atol=1e-4)
    # R: parameterEstimates(...)$se (expected information for ML; sandwich for MLR)
    assert_allclose(ours.loc[free, "se"], pd.to_numeric(theirs.loc[free, "se"]), rtol=1e-4,
                    atol=1e-5)
    assert measures["proper"]
    # R: fitMeasures(fit, c("chisq", "df", "npar", "cfi", "tli", "rmsea", "srmr", ...))
    for r_name, ours_name in FIT.items():
        assert_allclose(measures[ours_name], ref["fit"][r_name], rtol=1e-5, atol=1e-6,
                        err_msg=r_name)
    if est == "MLR" and name in STEPS:
        # R: fitMeasures(fit, c("chisq.scaled", "chisq.scaling.factor", "cfi.robust", ...))
        for r_name, ours_name in ROBUST.items():
            assert_allclose(measures[ours_name], ref["fit"][r_name], rtol=1e-3, atol=1e-5,
                            err_msg=r_name)


@pytest.mark.parametrize("est", ["ML", "MLR"])
def test_difference_tests_match_lavtestlrt(fits, est):
    lrt = REF[est.lower()]["lrt"]
    steps = list(STEPS)
    for k in range(1, len(steps)):
        t = difference_test(fits[est, steps[k]][1], fits[est, steps[k - 1]][1], est)
        # R: lavTestLRT(configural, metric, scalar, strict)  (satorra.bentler.2001 for MLR)
        assert_allclose(t["stat"], lrt["chisq_diff"][k], rtol=1e-3)
        assert t["df"] == lrt["df_diff"][k]
        assert_allclose(t["p_value"], lrt["p_value"][k], rtol=1e-3, atol=1e-9)
    partial = REF[est.lower()]["partial"][1]["lrt_vs_metric"]
    t = difference_test(fits[est, "partial1"][1], fits[est, "metric"][1], est)
    # R: lavTestLRT(metric, partial with group.partial = c("x3 ~1", "x7 ~1"))
    assert_allclose(t["stat"], partial["chisq_diff"][1], rtol=1e-3)


@pytest.fixture(scope="module")
def ladder(hs):
    return {est: measurement_invariance(HS, hs, "school", steps=("metric", "scalar"),
                                        estimator=est)
            for est in ("ML", "MLR")}


@pytest.mark.parametrize("est", ["ML", "MLR"])
def test_partial_search_frees_what_lavaan_refits_say(ladder, est):
    res = ladder[est]
    ref = REF[est.lower()]["partial"]
    scalar = res.partial[res.partial["step"] == "scalar"].reset_index(drop=True)
    # R: the group.partial refit with the lowest chisq, round by round: x3 ~1, then x7 ~1
    assert list(scalar["freed"]) == [r["freed"] for r in ref]
    assert_allclose(scalar["chisq"], [r["fit"]["fit"]["chisq"] for r in ref], rtol=1e-6)
    for r, row in zip(ref, scalar.itertuples()):
        drop = max(r["chisq_by_candidate"].values()) - min(r["chisq_by_candidate"].values())
        assert row.drop > 0 and drop > 0
    tests = res.tests.set_index("model")
    assert tests.loc["metric", "holds"] and not tests.loc["scalar", "holds"]
    assert tests.loc["scalar_partial_2", "holds"]
    # the rule, recomputed from its parts
    for row in res.tests.itertuples():
        chen = row.d_cfi >= -RULE["d_cfi"] and row.d_rmsea <= RULE["d_rmsea"]
        assert row.holds == (chen and row.p_value >= 0.05)
    assert res.level.startswith("partial") and res.freed[:2] == ["x3 ~1", "x7 ~1"]
    assert res.n == 301 and res.groups == ["Grant-White", "Pasteur"]
    assert {"est", "se", "z", "p_value", "ci_low", "ci_high"} <= set(res.parameters["metric"])


def test_verdict_words(ladder, hs):
    text = invariance_verdict(ladder["MLR"])
    assert "partial" in text and "x3 ~1, x7 ~1" in text and "Chen 2007" in text
    # R: table(HolzingerSwineford1939$school)
    assert "n = 301 (Grant-White 145, Pasteur 156)" in text and "estimator MLR" in text
    assert ladder["MLR"].n_by_group == {"Grant-White": 145, "Pasteur": 156}
    metric_only = measurement_invariance(HS, hs, "school", steps=("metric", "scalar"),
                                         max_free=0)
    assert metric_only.level == "metric"
    words = invariance_verdict(metric_only)
    assert words.startswith("only metric invariance holds") and "not means" in words
    assert "The scalar step failed" in words
    scalar = measurement_invariance(HS, hs, "school", steps=("metric",), rule="chen")
    assert scalar.level == "metric" and "failed" not in invariance_verdict(scalar)


def test_bad_input_is_refused(hs):
    with pytest.raises(InsufficientDataError, match="school"):
        fit_multigroup(HS, hs.assign(school="one"), "school")
    with pytest.raises(InsufficientDataError, match="not in the data"):
        fit_multigroup(HS, hs, "wave")
    with pytest.raises(ValueError, match="group.equal"):
        fit_multigroup(HS, hs, "school", group_equal=("slopes",))
    with pytest.raises(ValueError, match="step"):
        measurement_invariance(HS, hs, "school", steps=("weak",))
    small = pd.concat([hs[hs["school"] == "Pasteur"], hs[hs["school"] == "Grant-White"].head(5)])
    with pytest.raises(InsufficientDataError, match="too few"):
        fit_multigroup(HS, small, "school")
    with pytest.raises(ValueError, match="more df"):
        difference_test({"chisq": 1.0, "df": 3}, {"chisq": 2.0, "df": 5})


@pytest.mark.slow
def test_full_ladder_reaches_strict_step(hs):
    res = measurement_invariance(HS, hs, "school")
    steps = list(res.tests["step"])
    assert steps[0] == "metric" and "strict" in steps
    strict = res.tests[res.tests["model"] == "strict"].iloc[0]
    # the strict model on top of partial scalar: 9 more equal residual variances
    assert strict["df"] == 9 and strict["against"] == "scalar_partial_2"
    assert res.level in ("strict", "partial strict", "partial scalar")
    assert invariance_verdict(res).count("Rule:") == 1


def test_a_poor_configural_model_stops_the_ladder(hs):
    one = "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9"
    res = measurement_invariance(one, hs, "school", steps=("metric",))
    assert res.level == "none" and res.tests.empty
    assert res.fits.loc[0, "cfi"] < 0.90  # the one-factor model misfits in both schools
    words = invariance_verdict(res)
    assert words.startswith("even the configural model fits poorly")
    assert "compare neither means nor relationships" in words


# ----------------------------------------------------------------------------------------------
# Ordinal items by WLSMV (tests/results/ordinal/make_multigroup.R: HS x1-x9 cut into three
# ordered categories, by school)
# ----------------------------------------------------------------------------------------------

ORD_DIR = Path(__file__).parents[1] / "results" / "ordinal"
ORD_REF = json.loads((ORD_DIR / "multigroup_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def hs3():
    return pd.read_csv(ORD_DIR / "hs3_school.csv")


@pytest.fixture(scope="module")
def ordinal_ladder(hs3):
    return measurement_invariance(HS, hs3, "school", estimator="WLSMV", max_free=2)


def test_ordinal_ladder_matches_lavaan(ordinal_ladder):
    res = ordinal_ladder
    fits = res.fits.set_index("model")
    for name in ("configural", "scalar"):
        ref = ORD_REF["fits"][name]["fit"]
        # R: fitMeasures(cfa(..., ordered = TRUE, estimator = "WLSMV", group = "school",
        #    group.equal = <name>), c("chisq", "df", "chisq.scaled", "cfi.scaled",
        #    "rmsea.scaled"))
        assert_allclose(fits.loc[name, ["chisq", "df", "chisq_scaled"]].astype(float),
                        [ref["chisq"], ref["df"], ref["chisq.scaled"]], rtol=1e-3)
        assert_allclose(fits.loc[name, ["cfi_scaled", "rmsea_scaled"]].astype(float),
                        [ref["cfi.scaled"], ref["rmsea.scaled"]], atol=1e-4)
    first = res.tests.iloc[0]
    lrt = ORD_REF["lrt"]["scalar_vs_configural"]
    # R: lavTestLRT(configural, scalar) - satorra.2000, scaled.shifted: 30.70 on 12 df
    assert_allclose([first["stat"], first["p_value"]], [lrt["chisq_diff"], lrt["p_value"]],
                    rtol=1e-3)
    assert first["df"] == lrt["df_diff"] and not first["holds"]
    # R: scaled CFI and RMSEA changes, fitMeasures(scalar) - fitMeasures(configural)
    conf, scal = ORD_REF["fits"]["configural"]["fit"], ORD_REF["fits"]["scalar"]["fit"]
    assert_allclose([first["d_cfi"], first["d_rmsea"]],
                    [scal["cfi.scaled"] - conf["cfi.scaled"],
                     scal["rmsea.scaled"] - conf["rmsea.scaled"]], atol=1e-4)


def test_ordinal_partial_search_frees_what_lavaan_refits_free(ordinal_ladder):
    res = ordinal_ladder
    search = ORD_REF["search"]
    # R: the 24 group.partial refits of the scalar model; the lowest chi-square frees x3|t1
    assert res.partial["freed"].tolist() == ["x3 | t1"]
    row = res.partial.iloc[0]
    assert_allclose(row["chisq"], min(search["chisq"]), rtol=1e-3)
    # R: lavTestLRT(configural, partial): 19.59 on 11 df, p = .051 - the step holds
    lrt = search["lrt_vs_configural"]
    assert_allclose([row["stat"], row["p_value"]], [lrt["chisq_diff"], lrt["p_value"]],
                    rtol=1e-3)
    assert row["holds"] and res.level == "partial scalar" and res.freed == ["x3 | t1"]
    assert res.n == 301 and res.n_by_group == {"Grant-White": 145, "Pasteur": 156}
    text = invariance_verdict(res)
    assert text.startswith("partial scalar invariance holds") and "WLSMV" in text


def test_ordinal_threshold_step_and_fit_multigroup(hs3):
    res = measurement_invariance(HS, hs3, "school", estimator="WLSMV",
                                 steps=("thresholds", "scalar"), max_free=0)
    lrt = ORD_REF["lrt"]["thresholds_vs_configural"]
    # R: lavTestLRT(configural, thresholds): 36.42 on 6 df
    assert_allclose(res.tests["stat"].iloc[0], lrt["chisq_diff"], rtol=1e-3)
    assert res.level == "configural" and len(res.tests) == 1
    assert "thresholds or loadings differ" in invariance_verdict(res)
    params, measures = fit_multigroup(HS, hs3, "school", group_equal=("loadings",),
                                      estimator="WLSMV")
    # R: fitMeasures(cfa(..., group.equal = "loadings"), "chisq.scaled")
    assert_allclose(measures["chisq_scaled"],
                    ORD_REF["fits"]["loadings"]["fit"]["chisq.scaled"], rtol=1e-3)
    assert "|" in set(params["op"])


def test_ordinal_options_are_checked(hs, hs3):
    with pytest.raises(ValueError, match="metric and strict"):
        measurement_invariance(HS, hs3, "school", estimator="WLSMV", steps=("metric",))
    with pytest.raises(ValueError, match="needs estimator='WLSMV'"):
        measurement_invariance(HS, hs, "school", ordered=True)
    with pytest.raises(ValueError, match="every item as ordinal"):
        fit_multigroup(HS, hs3, "school", estimator="WLSMV", ordered=["x1"])


def test_plain_summary_words_the_ordinal_ladder():
    """With WLSMV the scalar step holds loadings and thresholds equal: the words say so."""
    from crqlab.models.invariance import InvarianceResult, plain_summary

    tests = pd.DataFrame({"step": ["scalar"], "model": ["scalar"], "against": ["configural"],
                          "stat": [30.7], "df": [12.0], "p_value": [0.002], "d_cfi": [-0.02],
                          "d_rmsea": [0.01], "holds": [False]})

    def result(level, estimator, freed=()):
        return InvarianceResult(fits=pd.DataFrame(), tests=tests, partial=pd.DataFrame(),
                                parameters={}, level=level, freed=list(freed), groups=["a", "b"],
                                estimator=estimator, rule="chen+test", alpha=0.05, n=300)

    names = {"x3": "Speed question 3"}
    text, table = plain_summary(result("configural", "WLSMV"), "Between a and b", names)
    assert text == ("Between a and b, the questions group into the same elements but do not "
                    "carry equal weights and answer thresholds: score gaps mix a real "
                    "difference with question bias.")
    assert table["Step"].tolist() == ["equal weights and answer thresholds"]
    text, _ = plain_summary(result("partial scalar", "WLSMV", ["x3 | t1"]), "Between a and b",
                            names)
    assert text.startswith("Between a and b, the questions carry equal weights and answer "
                           "thresholds in both groups once an answer threshold of Speed "
                           "question 3 may differ")
    text, table = plain_summary(result("configural", "MLR"), "Between a and b", names)
    assert "do not carry equal weights:" in text and table["Step"][0] == "equal weights and levels"
