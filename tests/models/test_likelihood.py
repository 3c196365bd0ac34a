"""crqlab.models.likelihood (MLR, FIML) against lavaan 0.6-14
(tests/results/lavaan/make_lavaan_robust.R, lavaan_robust.json)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from crqlab.errors import ConvergenceError
from crqlab.models.likelihood import em_moments
from crqlab.models.sem import bootstrap_sem, fit_sem, indirect_effects

RESULTS = Path(__file__).parents[1] / "results"
REF_DIR = RESULTS / "lavaan"
REF = json.loads((REF_DIR / "lavaan_robust.json").read_text(encoding="utf-8"))

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
BFI_MODEL = "\n".join(f"{name} =~ " + " + ".join(f"{letter}{i}" for i in range(1, 6))
                      for name, letter in (("agree", "A"), ("consc", "C"), ("extra", "E"),
                                           ("neuro", "N"), ("open", "O")))

# lavaan fitMeasures() name -> crqlab fit_measures name
FIT_NAMES = {"chisq": "chisq", "df": "df", "pvalue": "p_value", "cfi": "cfi", "tli": "tli",
             "rmsea": "rmsea", "rmsea.ci.lower": "rmsea_ci_low",
             "rmsea.ci.upper": "rmsea_ci_high", "rmsea.pvalue": "rmsea_p_close",
             "srmr": "srmr", "aic": "aic", "bic": "bic", "logl": "logl",
             "unrestricted.logl": "unrestricted_logl", "npar": "npar",
             "baseline.chisq": "baseline_chisq", "baseline.df": "baseline_df", "ntotal": "n",
             "chisq.scaled": "chisq_scaled", "df.scaled": "df_scaled",
             "pvalue.scaled": "p_value_scaled", "chisq.scaling.factor": "scaling_factor",
             "baseline.chisq.scaled": "baseline_chisq_scaled",
             "baseline.chisq.scaling.factor": "baseline_scaling_factor",
             "cfi.scaled": "cfi_scaled", "tli.scaled": "tli_scaled", "cfi.robust": "cfi_robust",
             "tli.robust": "tli_robust", "rmsea.scaled": "rmsea_scaled",
             "rmsea.robust": "rmsea_robust", "rmsea.ci.lower.robust": "rmsea_ci_low_robust",
             "rmsea.ci.upper.robust": "rmsea_ci_high_robust"}
# test statistics (1e-3 absolute, the brief's tolerance); the rest are indices, p-values, counts
STATISTICS = {"chisq", "chisq.scaled", "baseline.chisq", "baseline.chisq.scaled", "aic", "bic",
              "logl", "unrestricted.logl"}


@pytest.fixture(scope="module")
def data():
    return {"hs": pd.read_csv(REF_DIR / "holzinger_swineford_1939.csv"),
            "pd": pd.read_csv(REF_DIR / "political_democracy.csv"),
            "bfi": pd.read_csv(RESULTS / "psych" / "bfi.csv")}


@pytest.fixture(scope="module")
def fits(data):
    return {"hs_mlr": fit_sem(HS_MODEL, data["hs"], estimator="MLR"),
            "pd_mlr": fit_sem(PD_MODEL, data["pd"], estimator="MLR"),
            "bfi_listwise_mlr": fit_sem(BFI_MODEL, data["bfi"], estimator="MLR"),
            "bfi_fiml": fit_sem(BFI_MODEL, data["bfi"], missing="fiml"),
            "bfi_fiml_mlr": fit_sem(BFI_MODEL, data["bfi"], missing="fiml", estimator="MLR")}


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


CASES = ["hs_mlr", "pd_mlr", "bfi_listwise_mlr", "bfi_fiml", "bfi_fiml_mlr"]


@pytest.mark.parametrize("name", CASES)
def test_parameters_match_lavaan(fits, name):
    ours, ref = _aligned(name, fits[name])
    free = ref["se"] > 0
    # R: parameterEstimates(fit, standardized = TRUE)$est (MLR: the ML estimates; FIML with
    # intercepts "~1"); lavaan's optimiser stops at a relative change of 1e-10
    assert_allclose(ours["est"], ref["est"], rtol=0, atol=1e-4)
    # R: parameterEstimates(fit)$se - MLR: robust.huber.white; FIML: observed information
    assert_allclose(ours.loc[free, "se"], ref.loc[free, "se"], rtol=0, atol=1e-4)
    assert_allclose(ours.loc[free, "se"], ref.loc[free, "se"], rtol=1e-3)
    # R: parameterEstimates(fit)$z, $pvalue
    assert_allclose(ours.loc[free, "z"], ref.loc[free, "z"], rtol=1e-3, atol=1e-3)
    assert_allclose(ours.loc[free, "p_value"], ref.loc[free, "pvalue"], rtol=1e-3, atol=1e-6)
    # R: parameterEstimates(fit)$ci.lower, $ci.upper
    assert_allclose(ours.loc[free, "ci_low"], ref.loc[free, "ci.lower"], atol=2e-4)
    assert_allclose(ours.loc[free, "ci_high"], ref.loc[free, "ci.upper"], atol=2e-4)
    # R: parameterEstimates(fit, standardized = TRUE)$std.all
    assert_allclose(ours["std_all"], ref["std.all"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_fit_measures_match_lavaan(fits, name):
    ours = fits[name].fit_measures
    for r_name, value in REF[name]["fit"].items():
        # R: fitMeasures(fit, r_name)
        if r_name in STATISTICS:
            # 1e-3, plus 1e-7 relative: lavaan's EM stops at 1e-5, so its saturated
            # log-likelihood under FIML is below the maximum by ~1e-4 (a baseline chi-square
            # of 16771 differs by 0.0015)
            assert_allclose(ours[FIT_NAMES[r_name]], value, rtol=1e-7, atol=1e-3,
                            err_msg=r_name)
        else:
            # indices and p-values: 1e-6 (the RMSEA intervals are roots found by lavaan's
            # uniroot, tolerance ~1e-4 on the non-centrality: 1e-5 there)
            tol = 1e-5 if ".ci." in r_name else 1e-6
            assert_allclose(ours[FIT_NAMES[r_name]], value, rtol=0, atol=tol, err_msg=r_name)


def test_mlr_keeps_the_ml_estimates_and_says_so(data, fits):
    ml = fit_sem(HS_MODEL, data["hs"])
    mlr = fits["hs_mlr"]
    assert_allclose(mlr.parameters["est"], ml.parameters["est"], rtol=0, atol=0)
    assert mlr.estimator == "MLR" and ml.estimator == "ML"
    assert mlr.fit_measures["chisq"] == ml.fit_measures["chisq"]
    assert any("Yuan-Bentler" in n for n in mlr.notes) and "MLR" in repr(mlr)
    # the sandwich differs from the information SEs where the data are not normal
    assert not np.allclose(mlr.parameters["se"], ml.parameters["se"], equal_nan=True)


def test_defined_parameter_under_mlr(fits):
    ref = pd.DataFrame(REF["pd_mlr"]["parameters"])
    ind = ref[ref["op"] == ":="].iloc[0]
    out = indirect_effects(fits["pd_mlr"], [("ind60", "dem60", "dem65")], method="delta")
    # R: parameterEstimates(sem(pd_model, estimator = "MLR"))  ind := a*b (robust delta SE)
    assert_allclose(out["est"].iloc[0], ind["est"], atol=1e-4)
    assert_allclose(out["se"].iloc[0], ind["se"], atol=1e-4)


def test_fiml_uses_every_answer(data, fits):
    fit = fits["bfi_fiml"]
    # R: lavInspect(fit, "ntotal") 2800 (FIML) against 2436 complete rows (listwise)
    assert fit.n == 2800 and fit.n_dropped == 0 and fit.missing == "fiml"
    assert fits["bfi_listwise_mlr"].n == 2436
    assert any("full-information" in n for n in fit.notes)
    empty = data["bfi"].copy()
    empty.iloc[:3] = np.nan  # rows with no answer at all carry no information: dropped
    two = "agree =~ A1 + A2 + A3 + A4 + A5\nconsc =~ C1 + C2 + C3 + C4 + C5"
    again = fit_sem(two, empty.head(600), missing="fiml")
    assert again.n == 597 and again.n_dropped == 3 and again.proper


def test_em_moments(data):
    x = data["bfi"].to_numpy(dtype=float)
    mu, sigma, _ = em_moments(x)
    h1 = REF["bfi_h1"]
    # R: lavTech(cfa(bfi_model, bfi, missing = "fiml"), "h1") - lavaan's EM stops at a change
    # of 1e-5, crqlab's at 1e-10: they agree to that
    assert_allclose(mu, h1["mean"], atol=1e-4)
    assert_allclose(sigma, np.array(h1["cov"]), atol=1e-4)
    complete = x[~np.isnan(x).any(axis=1)]
    mu_c, sigma_c, iters = em_moments(complete)
    # no missing values: the sample moments (divisor n), at once
    assert_allclose(mu_c, complete.mean(axis=0))
    assert_allclose(sigma_c, np.cov(complete, rowvar=False, bias=True), atol=1e-12)
    assert iters <= 2


def test_fiml_on_complete_data_is_ml(data):
    ml = fit_sem(PD_MODEL, data["pd"])
    fiml = fit_sem(PD_MODEL, data["pd"], missing="fiml")
    cov = fiml.parameters[fiml.parameters["op"] != "~1"]
    # the same likelihood: ML estimates and chi-square; the intercepts are the sample means
    assert_allclose(cov["est"].to_numpy(), ml.parameters["est"].to_numpy(), atol=1e-5)
    assert_allclose(fiml.fit_measures["chisq"], ml.fit_measures["chisq"], atol=1e-6)
    means = fiml.parameters[fiml.parameters["op"] == "~1"].set_index("lhs")["est"]
    assert_allclose(means[["x1", "y8"]], data["pd"][["x1", "y8"]].mean(), atol=1e-6)
    assert means[["ind60", "dem60", "dem65"]].eq(0).all()  # latent means fixed at 0


# -- the guard ------------------------------------------------------------------------------------

def test_options_are_checked(data):
    with pytest.raises(ValueError, match="estimator"):
        fit_sem(HS_MODEL, data["hs"], estimator="GLS")
    with pytest.raises(ValueError, match="missing"):
        fit_sem(HS_MODEL, data["hs"], missing="pairwise")


def test_fiml_non_convergence_is_an_error_or_flagged(data):
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_sem(HS_MODEL, data["hs"], missing="fiml", max_iter=1)
    fit = fit_sem(HS_MODEL, data["hs"], missing="fiml", max_iter=1, on_improper="flag")
    assert not fit.converged and not fit.proper
    assert fit.reasons[0].startswith("did not converge")


def test_fiml_guard_catches_a_heywood_case():
    hey = pd.read_csv(REF_DIR / "heywood.csv")
    hey.loc[[0, 5, 9], "y2"] = np.nan
    with pytest.raises(ConvergenceError, match="negative variance"):
        fit_sem("f =~ y1 + y2 + y3", hey, missing="fiml")
    with pytest.raises(ConvergenceError, match="negative variance"):
        fit_sem("f =~ y1 + y2 + y3", hey.dropna(), estimator="MLR")
    flagged = fit_sem("f =~ y1 + y2 + y3", hey, missing="fiml", on_improper="flag")
    assert not flagged.proper and any("y1 ~~ y1" in r for r in flagged.reasons)


def test_unidentified_and_unsupported_models(data):
    with pytest.raises(ConvergenceError, match="not identified"):
        fit_sem("f =~ x1 + x2", data["hs"], missing="fiml")
    mimic = "visual =~ x1 + x2 + x3\nvisual ~ ageyr"
    with pytest.raises(ValueError, match="fixed.x"):
        fit_sem(mimic, data["hs"], estimator="MLR")
    with pytest.raises(ValueError, match="fixed.x"):
        fit_sem(mimic, data["hs"], missing="fiml")


def test_bootstrap_needs_complete_rows(data):
    fit = fit_sem(PD_MODEL, data["pd"], missing="fiml")
    with pytest.raises(ValueError, match="fiml"):
        bootstrap_sem(fit, n_boot=2)
    chain = [("ind60", "dem60", "dem65")]
    with pytest.raises(ValueError, match="monte_carlo"):
        indirect_effects(fit, chain, method="bootstrap")
    mc = indirect_effects(fit, chain, n_draws=2000, seed=1)  # draws from the FIML estimates
    de = indirect_effects(fit, chain, method="delta")
    assert mc["ci_low"].iloc[0] < de["est"].iloc[0] < mc["ci_high"].iloc[0]


# -- the complete-data shortcuts (speed, issue 19) against the general routes --------------------

def test_one_pattern_saturated_hessian_is_the_kronecker_form():
    from crqlab.models import likelihood as lik

    rng = np.random.default_rng(3)
    p = 6
    x = rng.standard_normal((400, p)) @ rng.standard_normal((p, p))
    pats = lik._patterns(x)
    mu, sigma = x.mean(axis=0) + 0.1, np.cov(x, rowvar=False) * 1.1  # not at the optimum
    hess, _ = lik._saturated_derivatives(pats, mu, sigma)
    k = np.linalg.inv(sigma)
    d = pats[0].mean - mu
    pk = k @ (pats[0].cov + np.outer(d, d)) @ k
    general = lik._pattern_sum_hessian(k[None], pk[None], (k @ d)[None], np.array([400.0]))
    # the closed form equals the pattern-sum gather up to rounding
    assert_allclose(hess, general / 400, rtol=1e-12, atol=1e-12 * np.abs(general).max() / 400)
    dup = lik._duplication(p)
    kron = dup.T @ (np.kron(pk, k) + np.kron(k, pk) - np.kron(k, k)) @ dup
    # and the duplication-matrix form D'(P x K + K x P - K x K)D of its covariance block
    assert_allclose(hess[p:, p:], kron, rtol=1e-12, atol=1e-12 * np.abs(kron).max())
    assert_allclose(hess[:p, :p], 2 * k, rtol=1e-12)


def test_location_forms_and_quad_equal_the_einsum(data):
    from crqlab.models import likelihood as lik

    fit = fit_sem(PD_MODEL, data["pd"])  # Beta, Lambda, Psi and Theta locations all free
    grp = lik._complete_group(fit)
    sigma, m, g, _, _ = grp._moments(fit._theta)
    u, v = grp.base._uv(m, g)
    w = np.linalg.inv(sigma) - np.identity(len(sigma)) * 0.3
    w = w + w.T
    direct = np.einsum("lp,pq,lq->l", u, w, v)
    assert set(grp.base._loc_kind) == {0, 1, 2, 3}
    # the bilinear forms read off M'WG, WG, M'WM and W: the einsum's values up to rounding
    assert_allclose(lik._location_forms(grp._kinds, m, g, w), direct, rtol=1e-12, atol=1e-12)
    # the batched einsum arithmetic: bit for bit with this numpy's einsum (measured); the
    # tolerance is the last bit, so another numpy summing in another order still passes
    assert_allclose(lik._einsum_forms(grp._kinds, m[None], g[None], w)[0], direct,
                    rtol=4e-16, atol=4e-16 * np.abs(direct).max())
    assert_allclose(lik._quad(u, w, v), direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", [PD_MODEL, PD_MODEL.replace("y3 ~~ y7", "y3 ~~ e*y7")
                                   .replace("y6 ~~ y8", "y6 ~~ e*y8")])
def test_scores_equal_the_direct_formula(data, model):
    from crqlab.models import likelihood as lik

    fit = fit_sem(model, data["pd"])  # the second: equality label e on two covariances
    grp = lik._complete_group(fit)
    sigma, m, g, mu, _ = grp._moments(fit._theta)
    u, v = grp.base._uv(m, g)
    k = np.linalg.inv(sigma)
    z = (grp.x - mu) @ k
    direct = (grp.base._loc_c * ((z @ u.T) * (z @ v.T) - np.einsum("lp,pq,lq->l", u, k, v))
              @ grp.base._agg.T)
    assert grp.base._agg.shape[1] - grp.base._agg.shape[0] == ("e*" in model)
    # the column gathers and the aggregation give the casewise scores up to rounding
    assert_allclose(grp.scores(fit._theta), direct, rtol=1e-10, atol=1e-12)
    # at the ML estimates the scores sum to zero (the likelihood equations)
    assert_allclose(grp.scores(fit._theta).mean(axis=0), 0, atol=1e-4)



@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_projected_hessian_equals_the_saturated_route(data, missing):
    from crqlab.models import likelihood as lik

    fit = fit_sem(PD_MODEL, data["pd"], missing=missing)  # fiml: free intercepts, dmu != 0
    grp = fit._problem.groups[0] if missing == "fiml" else lik._complete_group(fit)
    theta = fit._theta * 1.01  # off the optimum: the mean-Sigma cross terms are not 0
    mu, sigma = grp.mu_sigma(theta)
    fast, g_fast = grp._projected_hessian(theta, mu, sigma)
    h_sat, g_sat = lik._saturated_derivatives(grp.patterns, mu, sigma)
    dlt = grp.delta(theta)
    slow = dlt.T @ h_sat @ dlt
    # the location traces give Delta' H_sat Delta up to rounding
    assert_allclose(fast, slow, rtol=1e-10, atol=1e-12 * np.abs(slow).max())
    assert_allclose(g_fast, g_sat, rtol=1e-14)


def test_batched_pullbacks_equal_the_loop(data):
    from crqlab.models import likelihood as lik

    model = PD_MODEL.replace("y6 ~~ y8", "y6 ~~ e*y8\ny3 ~~ e*y7").replace("y3 ~~ y7\n", "")
    fit = fit_sem(model, data["pd"])  # every matrix kind, an equality label
    grp = lik._complete_group(fit)
    rng = np.random.default_rng(5)
    thetas = fit._theta + rng.normal(0, 0.01, (4, grp.k))
    p = len(grp.observed)
    w = rng.standard_normal((p, p))
    w = w + w.T
    g_mu = rng.standard_normal(p)
    loop = np.array([grp._pullback(th, g_mu, w) for th in thetas])
    # one batch, the einsum's arithmetic: the loop's values bit for bit (the central
    # differences would show any rounding difference in the SEs' tenth digit)
    # (bit for bit with this numpy's einsum; the tolerance is the last bit, see above)
    assert_allclose(grp._pullbacks(thetas, g_mu, w), loop, rtol=4e-16,
                    atol=4e-16 * np.abs(loop).max())
