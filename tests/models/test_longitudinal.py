"""crqlab.models.longitudinal against lavaan 0.6-14 (tests/results/lavaan/make_longitudinal.R):
democracy in 1960 (y1-y4) and 1965 (y5-y8) of PoliticalDemocracy as a two-occasion panel, ML,
MLR and FIML; and planted intercept drift in a simulated panel."""
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
    difference_test,
    invariance_verdict,
    plain_summary,
)
from crqlab.models.longitudinal import (
    fit_longitudinal,
    longitudinal_invariance,
    longitudinal_syntax,
)

REF_DIR = Path(__file__).parents[1] / "results" / "lavaan"
REF = json.loads((REF_DIR / "longitudinal.json").read_text(encoding="utf-8"))
MODEL = "dem =~ y1 + y2 + y3 + y4"
OCC = ["1960", "1965"]
# the one-occasion items y1-y4 are the columns y1-y4 in 1960 and y5-y8 in 1965
COLS = {"1960": {f"y{i}": f"y{i}" for i in range(1, 5)},
        "1965": {f"y{i}": f"y{i + 4}" for i in range(1, 5)}}
RENAME = {"dem_1960": "dem60", "dem_1965": "dem65"}
STEPS = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
         "strict": ("loadings", "intercepts", "residuals")}
FIT = {"chisq": "chisq", "df": "df", "npar": "npar", "cfi": "cfi", "tli": "tli",
       "rmsea": "rmsea", "srmr": "srmr", "baseline.chisq": "baseline_chisq", "logl": "logl",
       "aic": "aic", "bic": "bic"}
ROBUST = {"chisq.scaled": "chisq_scaled", "chisq.scaling.factor": "scaling_factor",
          "cfi.robust": "cfi_robust", "tli.robust": "tli_robust",
          "rmsea.robust": "rmsea_robust"}
# crqlab's name of a constraint freed across occasions -> the R script's
R_NAME = {"dem =~ y2": "y2 =~", "dem =~ y3": "y3 =~", "dem =~ y4": "y4 =~"} | {
    f"y{i} ~1": f"y{i} ~1" for i in range(1, 5)} | {f"y{i} ~~ y{i}": f"y{i} ~~" for i in
                                                    range(1, 5)}
TO_OURS = {v: k for k, v in R_NAME.items()}


@pytest.fixture(scope="module")
def pdem():
    return pd.read_csv(REF_DIR / "political_democracy.csv")


@pytest.fixture(scope="module")
def missing_data():
    return pd.read_csv(REF_DIR / "longitudinal_missing.csv")


def _fit(data, equal, est, missing="listwise", partial=()):
    return fit_longitudinal(MODEL, data, OCC, columns=COLS, equal=equal, estimator=est,
                            missing=missing, partial=partial)


@pytest.fixture(scope="module")
def fits(pdem, missing_data):
    out = {}
    for est in ("ML", "MLR"):
        for step, equal in STEPS.items():
            out[est.lower(), step] = _fit(pdem, equal, est)
            out[f"fiml_{est.lower()}", step] = _fit(missing_data, equal, est, "fiml")
    return out


def _aligned(params: pd.DataFrame, ref: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame(ref["parameters"]).fillna({"rhs": ""})

    def key(df):
        lhs = df["lhs"].replace(RENAME).to_numpy()
        rhs = df["rhs"].replace(RENAME).to_numpy()
        swap = (df["op"].to_numpy() == "~~") & (lhs > rhs)
        return pd.Index(list(zip(np.where(swap, rhs, lhs), df["op"], np.where(swap, lhs, rhs))))

    ref.index = key(ref)
    ours = params.copy()
    ours.index = key(ours)
    assert set(ours.index) == set(ref.index) and len(ours) == len(ref)
    return ours.loc[ref.index], ref


CASES = [(kind, step) for kind in ("ml", "mlr", "fiml_ml", "fiml_mlr") for step in STEPS]


@pytest.mark.parametrize(("kind", "step"), CASES)
def test_each_step_matches_lavaan(fits, kind, step):
    params, measures = fits[kind, step]
    ref = REF[kind]["fits"][step]
    ours, theirs = _aligned(params, ref)
    free = pd.to_numeric(theirs["se"]) > 0
    # R: parameterEstimates(cfa(<the step's syntax>, meanstructure = TRUE, estimator, missing))
    assert_allclose(ours["est"], theirs["est"], rtol=0, atol=1e-4)
    # R: parameterEstimates(...)$se (expected information for complete-data ML; observed
    # information under FIML; the sandwich for MLR)
    assert_allclose(ours.loc[free, "se"], pd.to_numeric(theirs.loc[free, "se"]), rtol=0,
                    atol=1e-4)
    assert not ours.loc[~free, "se"].notna().any()
    assert measures["proper"]
    # R: fitMeasures(fit, c("chisq", "df", "npar", "cfi", "tli", "rmsea", "srmr", ...))
    for r_name, name in FIT.items():
        assert_allclose(measures[name], ref["fit"][r_name], rtol=1e-5, atol=1e-6,
                        err_msg=r_name)
    if kind.endswith("mlr"):
        # R: fitMeasures(fit, c("chisq.scaled", "chisq.scaling.factor", "cfi.robust", ...))
        # (the FIML-corrected robust CFI/RMSEA under missing = "ml")
        for r_name, name in ROBUST.items():
            assert_allclose(measures[name], ref["fit"][r_name], rtol=1e-3, atol=1e-5,
                            err_msg=r_name)


@pytest.mark.parametrize("kind", ["ml", "mlr", "fiml_ml", "fiml_mlr"])
def test_difference_tests_match_lavtestlrt(fits, kind):
    lrt = REF[kind]["lrt"]
    est = "MLR" if kind.endswith("mlr") else "ML"
    steps = list(STEPS)
    for k in range(1, len(steps)):
        t = difference_test(fits[kind, steps[k]][1], fits[kind, steps[k - 1]][1], est)
        # R: lavTestLRT(configural, metric, scalar, strict)  (satorra.bentler.2001 for MLR)
        assert_allclose(t["stat"], lrt["chisq_diff"][k], rtol=1e-3)
        assert t["df"] == lrt["df_diff"][k]
        assert_allclose(t["p_value"], lrt["p_value"][k], rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("est", ["ML", "MLR"])
@pytest.mark.parametrize("step", ["metric", "scalar", "strict"])
def test_every_candidate_of_the_partial_search_matches_lavaan(pdem, est, step):
    first = REF[est.lower()]["partial"][step][0]
    for r_name, chisq in first["chisq_by_candidate"].items():
        _, m = _fit(pdem, STEPS[step], est, partial=(TO_OURS[r_name],))
        # R: fitMeasures(cfa(<the step with this constraint freed>), "chisq")
        assert_allclose(m["chisq"], chisq, rtol=1e-6, err_msg=r_name)
        assert m["df"] == REF[est.lower()]["fits"][step]["fit"]["df"] - 1


@pytest.mark.parametrize("est", ["ML", "MLR"])
def test_partial_search_frees_what_lavaan_refits_say(pdem, est):
    ref = REF[est.lower()]["partial"]
    # metric holds (p .35 ML, .20 MLR) and scalar fails (p .11, .08) at alpha .15 by the test
    # alone, so the search runs on the scalar step
    res = longitudinal_invariance(MODEL, pdem, OCC, columns=COLS, steps=("metric", "scalar"),
                                  estimator=est, rule="test", alpha=0.15, max_free=2)
    tests = res.tests.set_index("model")
    assert tests.loc["metric", "holds"] and not tests.loc["scalar", "holds"]
    first = res.partial.iloc[0]
    # R: the refit with the lowest chisq frees the intercept of y2 (and y6)
    assert R_NAME[first["freed"]] == ref["scalar"][0]["freed"] == "y2 ~1"
    assert_allclose(first["chisq"], ref["scalar"][0]["fit"]["fit"]["chisq"], rtol=1e-6)
    lrt = ref["scalar"][0]["lrt_vs_previous"]
    # R: lavTestLRT(metric, scalar with y2/y6 intercepts free)
    assert_allclose(first["stat"], lrt["chisq_diff"][1], rtol=1e-3)
    assert_allclose(first["p_value"], lrt["p_value"][1], rtol=1e-3)
    assert first["holds"] and res.level == "partial scalar" and res.freed == ["y2 ~1"]
    # a metric search on a step made to fail: the best loading is lavaan's
    met = longitudinal_invariance(MODEL, pdem, OCC, columns=COLS, steps=("metric",),
                                  estimator=est, rule="test", alpha=0.9, max_free=1)
    assert R_NAME[met.partial.iloc[0]["freed"]] == ref["metric"][0]["freed"]
    assert_allclose(met.partial.iloc[0]["chisq"], ref["metric"][0]["fit"]["fit"]["chisq"],
                    rtol=1e-6)
    # R: lavTestLRT(configural, metric with that loading free)
    assert_allclose(met.partial.iloc[0]["stat"],
                    ref["metric"][0]["lrt_vs_previous"]["chisq_diff"][1], rtol=1e-3)


def test_ladder_on_the_panel(pdem):
    res = longitudinal_invariance(MODEL, pdem, OCC, columns=COLS)
    # R: lavTestLRT p = .348, .112, .104; CFI and RMSEA changes within Chen's cutoffs
    assert res.level == "strict" and list(res.tests["holds"]) == [True] * 3
    for row in res.tests.itertuples():
        chen = row.d_cfi >= -RULE["d_cfi"] and row.d_rmsea <= RULE["d_rmsea"]
        assert row.holds == (chen and row.p_value >= 0.05)
    # R: fitMeasures(strict, "cfi") - fitMeasures(scalar, "cfi"), ...
    cfi = {s: REF["ml"]["fits"][s]["fit"]["cfi"] for s in STEPS}
    assert_allclose(res.tests["d_cfi"], [cfi["metric"] - cfi["configural"],
                                         cfi["scalar"] - cfi["metric"],
                                         cfi["strict"] - cfi["scalar"]], atol=1e-6)
    # under MLR the robust CFI drops by .0101 at the strict step (R: cfi.robust .9674 ->
    # .9573): Chen's cutoff fails, and the search frees one residual variance
    robust = longitudinal_invariance(MODEL, pdem, OCC, columns=COLS, estimator="MLR")
    strict = robust.tests.set_index("model").loc["strict"]
    assert not strict["holds"] and strict["d_cfi"] < -RULE["d_cfi"]
    assert robust.level == "partial strict"
    assert robust.freed[0] in {f"y{i} ~~ y{i}" for i in range(1, 5)}
    assert res.groups == OCC and res.n == 75 and res.n_by_group == {"1960": 75, "1965": 75}
    assert list(res.fits["model"]) == list(STEPS)
    scalar = res.parameters["scalar"].set_index(["lhs", "op"])
    # the 1965 latent mean is free in the scalar model, the 1960 one fixed at 0
    assert scalar.loc[("dem_1960", "~1"), "free"] == 0
    assert scalar.loc[("dem_1965", "~1"), "free"] > 0
    text = invariance_verdict(res)
    assert text.startswith("strict invariance holds across 2 groups (1960, 1965)")
    words, table = plain_summary(res, "Between 1960 and 1965", {"y2": "Press freedom"},
                                 unit="wave")
    assert "carry equal weights, levels and residual variances in both waves" in words
    assert list(table["Holds"]) == ["yes"] * 3


def test_fiml_uses_respondents_who_skipped_an_occasion(missing_data):
    res = longitudinal_invariance(MODEL, missing_data, OCC, columns=COLS, missing="fiml",
                                  steps=("metric",))
    # 15 rows lack 1965, 8 lack 1960 (R: colSums(is.na(...)) of longitudinal_missing.csv)
    assert res.n == 75 and res.n_by_group == {"1960": 67, "1965": 60}
    listwise = longitudinal_invariance(MODEL, missing_data, OCC, columns=COLS,
                                       steps=("metric",))
    assert listwise.n == 75 - 15 - 8 - 5  # 5 more rows lack y6 alone


def test_syntax_of_the_longitudinal_model():
    text = longitudinal_syntax("t =~ a + b\nv =~ c + d", ["w1", "w2", "w3"])
    lines = text.splitlines()
    assert lines[:2] == ["t_w1 =~ a_w1 + b_w1", "v_w1 =~ c_w1 + d_w1"]
    assert "a_w1 ~~ a_w3" in lines and "d_w2 ~~ d_w3" in lines
    assert len(lines) == 6 + 4 * 3  # 2 factors x 3 occasions, 4 items x 3 pairs


def _panel(n, drift, seed, mean_shift=0.3):
    """Two waves of 4 items on one factor; residuals of an item correlated .3 across waves;
    ``drift`` added to item 3's intercept at wave 2 (item bias)."""
    rng = np.random.default_rng(seed)
    lam, nu = np.array([1.0, 0.8, 0.9, 0.7]), np.array([4.0, 4.2, 3.8, 4.5])
    e1 = rng.standard_normal(n)
    e2 = 0.6 * e1 + 0.8 * rng.standard_normal(n) + mean_shift
    res = rng.multivariate_normal([0, 0], [[0.5, 0.15], [0.15, 0.5]], size=(n, 4))
    out = {}
    for t, (eta, w) in enumerate(((e1, "w1"), (e2, "w2"))):
        for i in range(4):
            out[f"q{i + 1}_{w}"] = nu[i] + (drift if (i == 2 and t == 1) else 0) \
                + lam[i] * eta + res[:, i, t]
    return pd.DataFrame(out)


def test_planted_intercept_drift_is_found():
    data = _panel(600, 0.5, seed=1)
    res = longitudinal_invariance("f =~ q1 + q2 + q3 + q4", data, ["w1", "w2"],
                                  steps=("metric", "scalar"), estimator="MLR")
    assert res.tests.set_index("model").loc["metric", "holds"]
    assert res.freed == ["q3 ~1"] and res.level == "partial scalar"
    # the 1965-style latent mean at wave 2 recovers the planted shift once q3 is free
    par = res.parameters["scalar_partial_1"].set_index(["lhs", "op"])
    row = par.loc[("f_w2", "~1")]
    assert row["ci_low"] < 0.3 < row["ci_high"]


@pytest.mark.parametrize("seeds", [range(6)])
def test_without_drift_scalar_holds_in_most_seeds(seeds):
    held = [longitudinal_invariance("f =~ q1 + q2 + q3 + q4", _panel(300, 0.0, seed=s),
                                    ["w1", "w2"], steps=("metric", "scalar"),
                                    max_free=0).level == "scalar" for s in seeds]
    # at alpha .05 on two tests about 10% of null panels fail a step
    assert sum(held) >= 5


@pytest.mark.slow
def test_without_drift_scalar_holds_in_most_seeds_many():
    held = [longitudinal_invariance("f =~ q1 + q2 + q3 + q4", _panel(300, 0.0, seed=s),
                                    ["w1", "w2"], steps=("metric", "scalar"),
                                    max_free=0).level == "scalar" for s in range(40)]
    assert sum(held) >= 32  # >= 80% (two tests at .05 and Chen's cutoffs: about 90% expected)


def test_bad_input_is_refused(pdem):
    with pytest.raises(InsufficientDataError, match="y9"):
        fit_longitudinal(MODEL, pdem, OCC, columns={"1960": COLS["1960"],
                                                    "1965": COLS["1965"] | {"y4": "y9"}})
    with pytest.raises(ValueError, match="measurement statements"):
        fit_longitudinal("dem =~ y1 + y2 + y3\ny4 ~ dem", pdem, OCC, columns=COLS)
    with pytest.raises(ValueError, match="labels"):
        fit_longitudinal("dem =~ y1 + a*y2 + y3 + y4", pdem, OCC, columns=COLS)
    with pytest.raises(ValueError, match="two occasions"):
        fit_longitudinal(MODEL, pdem, ["1960"], columns=COLS)
    with pytest.raises(ValueError, match="cannot free"):
        fit_longitudinal(MODEL, pdem, OCC, columns=COLS, equal=STEPS["scalar"],
                         partial=("y5 ~1",))
    with pytest.raises(ValueError, match="equality word"):
        fit_longitudinal(MODEL, pdem, OCC, columns=COLS, equal=("slopes",))
    with pytest.raises(ValueError, match="estimator"):
        longitudinal_invariance(MODEL, pdem, OCC, columns=COLS, estimator="WLSMV")
    with pytest.raises(ValueError, match="rename the factor"):
        fit_longitudinal("y1 =~ y1 + y2 + y3", pdem, ["a", "b"])
    with pytest.raises(InsufficientDataError, match="too few"):
        fit_longitudinal(MODEL, pdem.head(8), OCC, columns=COLS)


def test_information_in_shared_parameters_equals_the_group_hessian_pulled_back(pdem):
    from crqlab.models import longitudinal as lg

    spec = lg._Spec(MODEL, OCC, COLS)
    problem, chosen, reasons, _ = lg._solve(spec, pdem, STEPS["scalar"], (), "listwise", 0, 300,
                                            1.0, "scalar", {})
    grp, idx = problem.groups[0], problem.maps[0]
    local = 0.5 * grp.observed_hessian(chosen.theta[idx])  # crqlab.models.likelihood's
    assert not reasons and problem.k < grp.k  # tied: 3 loadings and 4 intercepts shared
    assert_allclose(lg._information(problem, chosen.theta),
                    problem.jac.T @ local @ problem.jac, rtol=1e-6, atol=1e-8)
