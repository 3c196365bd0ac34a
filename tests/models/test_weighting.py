"""Tests of crqlab.models.weighting: raking and design-based means against R survey, Kish formulas,
propensity weights on planted response models."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit

from crqlab.errors import ConvergenceError, InsufficientDataError, ValidationError
from crqlab.models.weighting import (
    balance_table,
    effective_n,
    fit_propensity,
    kish_design_effect,
    propensity_adjusted,
    propensity_weights,
    rake,
    score_points,
    weight_summary,
    weighted_mean,
)

REF = Path(__file__).parents[1] / "results" / "survey"


@pytest.fixture(scope="module")
def api():
    """apiclus1 as exported by make_survey.R, the R reference values and the ?rake margins."""
    ref = json.loads((REF / "survey.json").read_text())
    data = pd.read_csv(REF / "apiclus1.csv")
    margins = {"stype": pd.DataFrame(ref["pop_types"]).set_index("stype")["Freq"],
               "sch.wide": pd.DataFrame(ref["pop_schwide"]).set_index("sch.wide")["Freq"]}
    return data, ref, margins


# ----------------------------------------------------------------------------- raking vs R
def test_rake_matches_r_default_control(api):
    data, ref, margins = api
    res = rake(data, margins, data["pw"], epsilon=1, maxit=10)
    assert res.converged
    # R: weights(rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide)))
    assert_allclose(res.weights.to_numpy(), ref["raked"]["weights"], rtol=0, atol=1e-6)
    m = weighted_mean(data["api00"], res.weights, data["dnum"],
                      n_clusters_population=ref["n_clusters_population"], raking=res)
    # R: coef(svymean(~api00, rclus1))
    assert_allclose(m["est"], ref["raked"]["mean"], rtol=0, atol=1e-6)
    # R: SE(svymean(~api00, rclus1))
    assert_allclose(m["se"], ref["raked"]["se"][0][0], rtol=0, atol=1e-6)


def test_rake_matches_r_converged(api):
    data, ref, margins = api
    res = rake(data, margins, data["pw"], epsilon=1e-12, maxit=100)
    # R: weights(rake(..., control = list(maxit = 100, epsilon = 1e-12)))
    assert_allclose(res.weights.to_numpy(), ref["raked_tight"]["weights"], rtol=0, atol=1e-6)
    m = weighted_mean(data["api00"], res.weights, data["dnum"],
                      n_clusters_population=ref["n_clusters_population"], raking=res)
    # R: coef(svymean(~api00, rclus1_tight))
    assert_allclose(m["est"], ref["raked_tight"]["mean"], rtol=0, atol=1e-6)
    # R: SE(svymean(~api00, rclus1_tight))
    assert_allclose(m["se"], ref["raked_tight"]["se"][0][0], rtol=0, atol=1e-6)
    # converged weights reproduce both population margins
    for col, totals in margins.items():
        got = res.weights.groupby(data[col]).sum()
        assert_allclose(got.reindex(totals.index).to_numpy(), totals.to_numpy(), rtol=1e-10)


def test_default_control_stops_before_exact_margins(api):
    """R's default epsilon = 1 leaves the first margin off by a few hundredths (as R does)."""
    data, ref, margins = api
    res = rake(data, margins, data["pw"], epsilon=1, maxit=10)
    got = res.weights.groupby(data["stype"]).sum()
    r_tab = pd.DataFrame(ref["raked"]["margin_stype"]).set_index("stype")["Freq"]
    # R: svytable(~stype, rclus1)
    assert_allclose(got.reindex(r_tab.index).to_numpy(), r_tab.to_numpy(), rtol=0, atol=1e-6)
    assert np.max(np.abs(got.reindex(r_tab.index) - margins["stype"].reindex(r_tab.index))) > 1e-3


def test_weighted_mean_matches_svymean_unraked(api):
    data, ref, _ = api
    m = weighted_mean(data["api00"], data["pw"], data["dnum"],
                      n_clusters_population=ref["n_clusters_population"])
    # R: coef(svymean(~api00, dclus1))
    assert_allclose(m["est"], ref["unraked"]["mean"], rtol=0, atol=1e-6)
    # R: SE(svymean(~api00, dclus1))
    assert_allclose(m["se"], ref["unraked"]["se"][0][0], rtol=0, atol=1e-6)
    assert m["n"] == len(data) and m["n_clusters"] == data["dnum"].nunique()


@pytest.fixture(scope="module")
def strat():
    """apistrat as exported by make_survey_strata.R (R survey's data(api)) and its values."""
    ref = json.loads((REF / "survey_strata.json").read_text())
    return pd.read_csv(REF / "apistrat.csv"), ref


def test_stratified_mean_with_fpc_matches_svymean(strat):
    data, ref = strat
    # svydesign(strata=~stype, fpc=~fpc) without weights= takes N_h / n_h as the weights
    w = data["fpc"] / data.groupby("stype")["stype"].transform("size")
    for var in ("api00", "api99"):
        m = weighted_mean(data[var], w, strata=data["stype"], fpc=data["fpc"])
        # R: svymean(~api00, svydesign(id=~1, strata=~stype, fpc=~fpc, data=apistrat))
        #    662.29, SE 9.409
        assert_allclose(m["est"], ref["strat_fpc"][var]["mean"], rtol=0, atol=1e-8)
        assert_allclose(m["se"], ref["strat_fpc"][var]["se"], rtol=0, atol=1e-8)
        assert m["n"] == 200 and m["n_strata"] == 3 and m["n_clusters"] == 200
    assert round(m["est"], 2) == 629.39


def test_stratified_mean_weights_only_matches_svymean(strat):
    data, ref = strat
    m = weighted_mean(data["api00"], data["pw"], strata=data["stype"])
    # R: svymean(~api00, svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat))
    assert_allclose(m["est"], ref["strat_weights"]["api00"]["mean"], rtol=0, atol=1e-8)
    assert_allclose(m["se"], ref["strat_weights"]["api00"]["se"], rtol=0, atol=1e-8)


def test_clustered_mean_without_fpc_matches_svymean(api, strat):
    data, _, _ = api
    ref = strat[1]
    m = weighted_mean(data["api00"], data["pw"], data["dnum"])
    # R: svymean(~api00, svydesign(id=~dnum, weights=~pw, data=apiclus1))
    assert_allclose(m["est"], ref["clus1_weights"]["api00"]["mean"], rtol=0, atol=1e-8)
    assert_allclose(m["se"], ref["clus1_weights"]["api00"]["se"], rtol=0, atol=1e-8)
    # the same design with fpc given per row, as svydesign(fpc=~fpc)
    m = weighted_mean(data["api00"], data["pw"], data["dnum"], fpc=data["fpc"])
    # R: svymean(~api00, svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc))
    assert_allclose(m["se"], ref["clus1_fpc"]["api00"]["se"], rtol=0, atol=1e-8)
    assert m["n_strata"] == 1


def test_clusters_within_strata_match_svymean(strat):
    data, ref = strat
    for var in ("api00", "api99"):
        m = weighted_mean(data[var], data["pw"], data["dnum"], strata=data["stype"])
        # R: svymean(~api00, svydesign(id=~dnum, strata=~stype, weights=~pw, data=apistrat,
        #                              nest=TRUE))
        assert_allclose(m["est"], ref["strat_clus"][var]["mean"], rtol=0, atol=1e-8)
        assert_allclose(m["se"], ref["strat_clus"][var]["se"], rtol=0, atol=1e-8)
    # nest=TRUE: a district in two school types is two clusters
    n_psu = data.groupby(["stype", "dnum"]).ngroups
    assert m["n_clusters"] == n_psu > data["dnum"].nunique()


def test_strata_input_errors(strat):
    data, _ = strat
    lonely = data["stype"].where(data.index != 0, "X")  # stratum X has one row
    with pytest.raises(InsufficientDataError, match="single row"):
        weighted_mean(data["api00"], data["pw"], strata=lonely)
    with pytest.raises(ValueError, match="not both"):
        weighted_mean(data["api00"], data["pw"], strata=data["stype"], fpc=data["fpc"],
                      n_clusters_population=10)
    bad = data["fpc"].where(data.index != 0, 1)
    with pytest.raises(ValueError, match="fpc varies within stratum"):
        weighted_mean(data["api00"], data["pw"], strata=data["stype"], fpc=bad)
    with pytest.raises(ValueError, match="stratum labels must not be missing"):
        weighted_mean(data["api00"], data["pw"], strata=data["stype"].where(data.index != 3))


def test_rake_input_errors(api):
    data, _, margins = api
    with pytest.raises(ValidationError, match="no population total"):
        rake(data, {"stype": margins["stype"].drop("M")}, data["pw"])
    with pytest.raises(InsufficientDataError, match="no sample rows"):
        rake(data, {"stype": pd.concat([margins["stype"], pd.Series({"X": 10.0})])}, data["pw"])
    with pytest.raises(ConvergenceError):
        rake(data, margins, data["pw"], epsilon=1e-14, maxit=1)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = rake(data, margins, data["pw"], epsilon=1e-14, maxit=1, strict=False)
    assert not res.converged


# ----------------------------------------------------------------------------- Kish
def test_kish_known_values(api):
    # hand values: n=4, sum w = 6, sum w^2 = 12 -> deff = 4*12/36, n_eff = 36/12
    assert_allclose(kish_design_effect([1, 1, 1, 3]), 4 / 3, rtol=1e-12)
    assert_allclose(effective_n([1, 1, 1, 3]), 3.0, rtol=1e-12)
    assert_allclose(kish_design_effect(np.full(10, 2.5)), 1.0, rtol=1e-12)
    _, ref, _ = api
    w = np.asarray(ref["kish"]["weights"])
    # R: length(w) * sum(w^2) / sum(w)^2 on weights(rclus1)
    assert_allclose(kish_design_effect(w), ref["kish"]["deff"], rtol=1e-10)
    # R: sum(w)^2 / sum(w^2)
    assert_allclose(effective_n(w), ref["kish"]["n_eff"], rtol=1e-10)
    s = weight_summary(w)
    assert_allclose(s["deff_kish"], 1 + s["cv"] ** 2, rtol=1e-12)
    assert s["min"] <= s["p05"] <= s["median"] <= s["p95"] <= s["max"]


def test_score_points():
    got = score_points([0, 6, 7, 8, 9, 10, np.nan], "nps")
    assert_allclose(got, [-100, -100, 0, 0, 100, 100, np.nan])
    assert_allclose(score_points([5.5, np.nan], "crq_index"), [5.5, np.nan])
    with pytest.raises(ValueError):
        score_points([11], "nps")


# ----------------------------------------------------------------------------- propensity
def _planted_frame(seed: int, n: int = 4000):
    """Frame with a known logistic response model: logit p = -0.3 + 0.8 x + role effect."""
    rng = np.random.default_rng(seed)
    role = rng.choice(["administrative", "key decision maker", "operational"], n)
    x = rng.normal(0, 1, n)
    eff = pd.Series(role).map({"administrative": 0.0, "key decision maker": 0.9,
                               "operational": -0.4}).to_numpy()
    p = expit(-0.3 + 0.8 * x + eff)
    y = 5 + 0.5 * x + eff + rng.normal(0, 1, n)
    frame = pd.DataFrame({"wave": 1, "contact_id": [f"C{i}" for i in range(n)],
                          "account_id": [f"A{i // 10}" for i in range(n)], "role": role,
                          "x": x, "responded": rng.random(n) < p})
    scores = pd.DataFrame({"wave": 1, "contact_id": frame["contact_id"], "crq_index": y})
    return frame, scores[frame["responded"]], y


def test_fit_propensity_recovers_planted_model():
    frame, _, _ = _planted_frame(1, n=20000)
    res = fit_propensity(frame, ["role", "x"])
    p = res.params
    # planted: intercept -0.3 (administrative), KDM +0.9, operational -0.4, slope 0.8;
    # standard errors are about 0.03, so 0.1 is over 3 SE
    assert_allclose(p.iloc[0], -0.3, atol=0.1)
    assert_allclose(p.filter(like="key decision").iloc[0], 0.9, atol=0.1)
    assert_allclose(p.filter(like="operational").iloc[0], -0.4, atol=0.1)
    assert_allclose(p.filter(like="x").iloc[0], 0.8, atol=0.1)


def test_propensity_weights_scale_trim_and_balance():
    frame, _, _ = _planted_frame(2)
    w = propensity_weights(frame, ["role", "x"])
    assert_allclose(w.sum(), len(frame), rtol=1e-12)
    assert w.index.equals(frame.index[frame["responded"]])
    wt = propensity_weights(frame, ["role", "x"], trim=0.9)
    assert_allclose(wt.sum(), len(frame), rtol=1e-12)
    assert wt.max() / wt.min() < w.max() / w.min()
    bal = balance_table(frame, ["role", "x"], w)
    assert set(bal["variable"]) == {"x", "role=administrative", "role=key decision maker",
                                    "role=operational"}
    # planted selection on x is strong (asmd before about 0.3); weighting removes it
    assert (bal["asmd_before"] > 0.1).any()
    assert (bal["asmd_after"] < 0.05).all()
    assert (bal["asmd_after"] < bal["asmd_before"]).all()


def test_propensity_adjusted_linearization_and_bootstrap():
    frame, scores, y = _planted_frame(3, n=1500)
    lin = propensity_adjusted(frame, scores, ["role", "x"], score="crq_index")
    boot = propensity_adjusted(frame, scores, ["role", "x"], score="crq_index",
                               se_method="bootstrap", n_boot=150, seed=7)
    assert list(lin.columns) == ["score", "method", "se_method", "est", "se", "ci_low", "ci_high",
                                 "n", "n_accounts", "n_eff", "deff_kish"]
    lw = lin.set_index("method").loc["propensity"]
    bw = boot.set_index("method").loc["propensity"]
    assert bw["se_method"] == "bootstrap" and lw["se_method"] == "linearization"
    assert_allclose(bw["est"], lw["est"], rtol=1e-12)
    # linearisation treats weights as known (conservative); the refitting bootstrap should be
    # of the same order, not larger
    assert 0.5 * lw["se"] < bw["se"] < 1.2 * lw["se"]
    # the planted truth (frame mean) lies in the weighted interval, not in the naive one
    unw = lin.set_index("method").loc["unweighted"]
    assert lw["ci_low"] < y.mean() < lw["ci_high"]
    assert not unw["ci_low"] < y.mean() < unw["ci_high"]
    assert lw["deff_kish"] > 1 and lw["n_eff"] < lw["n"]


def test_propensity_input_errors():
    frame, scores, _ = _planted_frame(4, n=200)
    with pytest.raises(InsufficientDataError):
        fit_propensity(frame.assign(responded=True), ["x"])
    bad = frame.copy()
    bad.loc[3, "x"] = np.nan
    with pytest.raises(ValidationError, match="missing"):
        fit_propensity(bad, ["x"])
    two = pd.concat([frame, frame.assign(wave=2)], ignore_index=True)
    with pytest.raises(ValidationError, match="one wave"):
        propensity_adjusted(two, scores, ["x"], score="crq_index")
    sep = frame.assign(x=frame["responded"].astype(float))
    with pytest.raises(ConvergenceError):
        fit_propensity(sep, ["x"])


def test_weighted_mean_counts_only_accounts_with_an_answer():
    """An account whose respondents all lack the score is not behind the estimate (the
    scorecard and notebook 30 count the same accounts), while the variance keeps it as R
    survey's domain estimation does (its zero influence values count among the clusters)."""
    y = np.array([5.0, 6.0, 7.0, 4.0, np.nan, np.nan])
    clusters = np.array(["a", "a", "b", "c", "d", "d"])
    m = weighted_mean(y, np.ones(6), clusters)
    assert m["n"] == 4 and m["n_clusters"] == 3
    z = np.where(np.isnan(y), 0.0, (np.nan_to_num(y) - m["est"]) / 4)
    t = np.array([z[:2].sum(), z[2], z[3], 0.0])  # R: svymean(~y, subset(design, !is.na(y)))
    assert np.isclose(m["se"] ** 2, 4 / 3 * np.sum((t - t.mean()) ** 2), rtol=0, atol=1e-12)
