"""Tests of crqlab.models.association against R (tests/results/association), published values and
planted truth.

Reference values come from tests/results/association/make_association.R (R 4, lme4, pROC,
sandwich; see sessionInfo.txt there); tests never call R. The synthetic data used for planted
truth here are small documented seeded simulations in this file (crqlab.synth was not
committed when this was written).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from numpy.testing import assert_allclose

from crqlab.errors import InsufficientDataError
from crqlab.models import association as A
from crqlab.stats import cluster_bootstrap_weights

HERE = Path(__file__).parents[1] / "results" / "association"
ELEMENTS = ["trust", "commitment", "satisfaction", "experience", "solution", "service"]


@pytest.fixture(scope="module")
def ref():
    return json.loads((HERE / "association_ref.json").read_text())


@pytest.fixture(scope="module")
def study():
    return pd.read_csv(HERE / "study.csv")


def _bivariate_normal(n, rho, rng):
    z = rng.standard_normal((n, 2))
    return z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]


# ---------------------------------------------------------------------------------------------
# Respondent-level correlations
# ---------------------------------------------------------------------------------------------
def test_correlations_match_r_cor_test(study, ref):
    got = A.correlations(study)
    want = pd.DataFrame(ref["correlations"])
    m = got.merge(want, on=["y", "method"], suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == 21 and set(m["y"]) == {"crq_index", *ELEMENTS}
    # R: cor.test(study$nps, study[[y]], method = meth, exact = FALSE)$estimate
    assert_allclose(m["est"], m["est_r"], rtol=0, atol=1e-12)
    # R: cor.test(..., exact = FALSE)$p.value  (Spearman: t approximation; Kendall: tie-corrected z)
    assert_allclose(m["p_value"], m["p_value_r"], rtol=1e-6)
    notspear = m["method"] != "spearman"   # R reports Spearman's S, not t
    # R: cor.test(...)$statistic  (t for Pearson, z for Kendall)
    assert_allclose(m.loc[notspear, "stat"], m.loc[notspear, "stat_r"], rtol=1e-6)
    pear = m["method"] == "pearson"
    # R: cor.test(..., method = "pearson")$conf.int  (Fisher z)
    assert_allclose(m.loc[pear, "ci_low"], m.loc[pear, "ci_low_r"], rtol=0, atol=1e-10)
    assert_allclose(m.loc[pear, "ci_high"], m.loc[pear, "ci_high_r"], rtol=0, atol=1e-10)
    assert (m["n"] == len(study)).all()
    assert set(m["ci_method"]) == {"fisher_z", "bonett_wright", "fieller"}


def test_correlations_recover_planted_values():
    """Large bivariate-normal sample with rho = 0.6: Pearson rho, Spearman 6/pi asin(rho/2),
    Kendall 2/pi asin(rho), each within 0.015 (about 3 standard errors at n = 20000)."""
    rng = np.random.default_rng(11)
    rho = 0.6
    x, y = _bivariate_normal(20_000, rho, rng)
    got = A.correlations(pd.DataFrame({"nps": x, "crq_index": y}), y="crq_index").set_index("method")
    planted = {"pearson": rho, "spearman": 6 / np.pi * np.arcsin(rho / 2),
               "kendall": 2 / np.pi * np.arcsin(rho)}
    for method, value in planted.items():
        assert_allclose(got.loc[method, "est"], value, atol=0.015)
        assert got.loc[method, "ci_low"] < value < got.loc[method, "ci_high"]


def test_correlation_intervals_have_nominal_coverage():
    """Coverage of the Fisher (Pearson), Bonett-Wright (Spearman) and Fieller (Kendall)
    intervals over 400 samples of n = 60 with rho = 0.5: within 0.925-0.975 (Monte Carlo SE of
    a 95% coverage over 400 runs is 0.011)."""
    rng = np.random.default_rng(2024)
    rho = 0.5
    planted = {"pearson": rho, "spearman": 6 / np.pi * np.arcsin(rho / 2),
               "kendall": 2 / np.pi * np.arcsin(rho)}
    hits = {m: 0 for m in planted}
    reps = 400
    for _ in range(reps):
        x, y = _bivariate_normal(60, rho, rng)
        res = A.correlations(pd.DataFrame({"nps": x, "crq_index": y}), y="crq_index")
        for row in res.itertuples():
            hits[row.method] += row.ci_low < planted[row.method] < row.ci_high
    for m, h in hits.items():
        assert 0.925 <= h / reps <= 0.975, (m, h / reps)


def test_correlations_need_enough_pairs():
    df = pd.DataFrame({"nps": [1, 2, 3, np.nan], "crq_index": [1.0, 2.5, 2.0, 4.0]})
    with pytest.raises(InsufficientDataError, match="n=3"):
        A.correlations(df, y="crq_index")


def test_score_targets_come_from_the_instrument():
    assert A.score_targets("crq") == ["crq_index", *ELEMENTS]


# ---------------------------------------------------------------------------------------------
# Account level
# ---------------------------------------------------------------------------------------------
def test_account_correlations_match_cov_wt(study, ref):
    got = A.account_correlations(study, y=["crq_index", "trust", "commitment"])
    w = got[got["weighted"]].set_index("y")
    for y in ["crq_index", "trust", "commitment"]:
        # R: cov.wt(acc[, vars], wt = acc$n / sum(acc$n), cor = TRUE)$cor["nps", y]
        assert_allclose(w.loc[y, "est"], ref["account_weighted"][y], rtol=0, atol=1e-12)
    # R: sum(acc$n)^2 / sum(acc$n^2)
    assert_allclose(w["n_eff"], ref["account_weighted"]["n_eff"], rtol=1e-12)
    assert (got["n_accounts"] == 60).all() and (got["n"] == len(study)).all()
    unw = A.account_correlations(study, y="crq_index", weighted=False, methods=("pearson",))
    # R: cor(acc$nps, acc$crq_index)
    assert_allclose(unw["est"].iloc[0], ref["account_unweighted_pearson"], rtol=0, atol=1e-12)
    assert not unw["weighted"].iloc[0]
    assert ((got["ci_low"] < got["est"]) & (got["est"] < got["ci_high"])).all()


# ---------------------------------------------------------------------------------------------
# Repeated-measures correlation
# ---------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")  # inside pingouin's rm_corr
def test_rm_corr_reproduces_bland_altman_1995():
    ba = pd.read_csv(HERE / "bland_altman_1995.csv")
    assert ba.equals(pg.read_dataset("rm_corr")[ba.columns])
    got = A.rm_corr(ba, x="pH", y="PacO2", subject="Subject").iloc[0]
    # Published: Bakdash & Marusich (2017) / rmcorr >= 0.5.4 print(rmcorr(Subject, PacO2, pH,
    # bland1995)): r = -0.5067697, df = 38, p = 0.0008471081, 95% CI -0.7067146 -0.2318631
    assert_allclose(got["est"], -0.5067697, atol=5e-8)
    assert got["df"] == 38
    assert_allclose(got["p_value"], 0.0008471081, rtol=1e-7)
    assert_allclose([got["ci_low"], got["ci_high"]], [-0.7067146, -0.2318631], atol=5e-8)
    assert got["n"] == 47 and got["n_groups"] == 8
    pgr = pg.rm_corr(data=ba, x="pH", y="PacO2", subject="Subject").iloc[0]
    assert_allclose([got["est"], got["p_value"]], [pgr["r"], pgr["pval"]], rtol=1e-10)


def test_rm_corr_matches_r_ancova(study, ref):
    got = A.rm_corr(study, "nps", "crq_index", subject="account_id", within="wave").iloc[0]
    r = ref["rm_corr_study"]
    # R: sign(b) * sqrt(SS_x / (SS_x + SS_e)) from anova(lm(nps ~ factor(account_id) + crq_index))
    assert_allclose(got["est"], r["est"], rtol=0, atol=1e-12)
    assert got["df"] == r["df"] and got["n"] == 180 and got["n_groups"] == 60
    # R: anova(...)["crq_index", "Pr(>F)"]
    assert_allclose(got["p_value"], r["p_value"], rtol=1e-8)


def test_rm_corr_needs_repeated_points():
    df = pd.DataFrame({"account_id": list("aabb"), "x": [1.0, 2, 3, 5], "y": [2.0, 1, 4, 4]})
    with pytest.raises(InsufficientDataError, match="N=4"):
        A.rm_corr(df, "x", "y")


# ---------------------------------------------------------------------------------------------
# Within / between random-intercept model
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reml,key", [(True, "mixed_reml"), (False, "mixed_ml")])
def test_within_between_matches_lme4(study, ref, reml, key):
    got = A.within_between(study, "nps", "crq_index", reml=reml).set_index("term")
    r = ref[key]
    fixed = ["intercept", "crq_index_within", "crq_index_between"]
    # R: fixef(lmer(nps ~ crq_within + crq_between + (1 | account_id), REML = reml))
    assert_allclose(got.loc[fixed, "est"], r["est"], rtol=1e-5)
    # R: summary(fit)$coefficients[, "Std. Error"]; optimiser tolerances differ (lme4 bobyqa vs
    # statsmodels lbfgs), which moves the variance components and so the SEs in the 4th digit
    assert_allclose(got.loc[fixed, "se"], r["se"], rtol=5e-4)
    # R: sum(c(0, -1, 1) * fixef(fit)) and its SE from vcov(fit)
    assert_allclose(got.loc["contextual", "est"], r["contextual_est"], rtol=1e-4)
    assert_allclose(got.loc["contextual", "se"], r["contextual_se"], rtol=5e-4)
    # R: as.data.frame(VarCorr(fit))$vcov (same optimiser-tolerance caveat)
    assert_allclose(got.loc["var_account", "est"], r["var_account"], rtol=1e-3)
    assert_allclose(got.loc["var_residual", "est"], r["var_residual"], rtol=1e-4)
    # R: logLik(fit)
    assert_allclose(got.attrs["loglik"], r["loglik"], rtol=0, atol=1e-3)
    assert (got["n"] == len(study)).all() and (got["n_accounts"] == 60).all()


def test_within_between_recovers_planted_slopes():
    """x = mu_a + e, y = 2 + 0.5 (x - mu_a) + 1.2 mu_a + v_a + eps, with 250 accounts of m = 8.
    Within slope planted 0.5. With observed account means the between slope converges to
    (0.5 s2/m + 1.2 t2) / (t2 + s2/m) (Luedtke et al. 2008). Each within 3 SE."""
    rng = np.random.default_rng(5)
    k, m, t2, s2 = 250, 8, 0.6, 1.0
    mu = rng.normal(0, np.sqrt(t2), k)
    acc = np.repeat(np.arange(k), m)
    x = mu[acc] + rng.normal(0, np.sqrt(s2), k * m)
    y = 2 + 0.5 * (x - mu[acc]) + 1.2 * mu[acc] + rng.normal(0, 0.5, k)[acc] + rng.normal(0, 1, k * m)
    df = pd.DataFrame({"account_id": acc, "x": x, "nps": y})
    got = A.within_between(df, "nps", "x").set_index("term")
    between = (0.5 * s2 / m + 1.2 * t2) / (t2 + s2 / m)
    assert abs(got.loc["x_within", "est"] - 0.5) < 3 * got.loc["x_within", "se"]
    assert abs(got.loc["x_between", "est"] - between) < 3 * got.loc["x_between", "se"]
    assert got.loc["contextual", "ci_low"] > 0   # the planted contextual effect is positive


# ---------------------------------------------------------------------------------------------
# Relative importance
# ---------------------------------------------------------------------------------------------
def test_relative_weights_reproduce_rwa_mtcars(ref):
    mt = pd.read_csv(HERE / "mtcars.csv", index_col=0)
    got = A.relative_weights(mt, "mpg", ["cyl", "disp", "hp", "gear"]).set_index("predictor")
    # Published: rwa README, rwa(mtcars, "mpg", c("cyl", "disp", "hp", "gear")) prints raw weights
    # to 7 decimals and R^2 = 0.7791896
    assert_allclose(got["est"], [0.2284797, 0.2221469, 0.2321744, 0.0963886], atol=5e-8)
    assert_allclose(got["r_squared"].iloc[0], 0.7791896, atol=5e-8)
    assert_allclose(100 * got["share"], [29.32274, 28.50999, 29.79691, 12.37037], atol=5e-6)
    # R: johnson_rw(mtcars, "mpg", ...) (base-R eigen implementation in make_association.R)
    assert_allclose(got["est"], list(ref["rw_mtcars"]["weights"].values()), rtol=1e-10)
    # R: summary(lm(mpg ~ cyl + disp + hp + gear, mtcars))$r.squared
    assert_allclose(got["est"].sum(), ref["rw_mtcars"]["r2_lm"], rtol=1e-12)


def test_relative_weights_and_dominance_on_study(study, ref):
    rw = A.relative_weights(study).set_index("predictor")
    # R: johnson_rw(study, "nps", elements)$weights
    assert_allclose(rw.loc[ELEMENTS, "est"], [ref["rw_study"]["weights"][e] for e in ELEMENTS],
                    rtol=1e-9)
    # R: summary(lm(nps ~ trust + ... + service))$r.squared; weights sum to R^2
    assert_allclose(rw["est"].sum(), ref["rw_study"]["r2_lm"], rtol=1e-12)
    assert_allclose(rw["share"].sum(), 1.0, rtol=1e-12)
    gd = A.dominance_analysis(study).set_index("predictor")
    # R: general_dominance(study, "nps", elements) (all-subsets lm in make_association.R)
    assert_allclose(gd.loc[ELEMENTS, "est"], [ref["dominance_study"][e] for e in ELEMENTS],
                    rtol=1e-9)
    assert_allclose(gd["est"].sum(), ref["rw_study"]["r2_lm"], rtol=1e-12)


def test_dominance_matches_r_on_mtcars(ref):
    mt = pd.read_csv(HERE / "mtcars.csv", index_col=0)
    gd = A.dominance_analysis(mt, "mpg", ["cyl", "disp", "hp", "gear"]).set_index("predictor")
    # R: general_dominance(mtcars, "mpg", c("cyl", "disp", "hp", "gear"))
    assert_allclose(gd["est"], list(ref["dominance_mtcars"].values()), rtol=1e-10)


def test_relative_weights_equal_squared_correlations_for_orthogonal_predictors():
    """Planted: exactly uncorrelated predictors, where each relative weight is r_j^2."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 3))
    xs, _ = np.linalg.qr(x - x.mean(axis=0))   # orthonormal columns, still mean zero
    y = xs @ np.array([3.0, 1.0, 0.5]) + rng.normal(0, 0.05, 200)
    df = pd.DataFrame(xs, columns=["a", "b", "c"]).assign(nps=y)
    assert np.abs(np.corrcoef(xs, rowvar=False) - np.eye(3)).max() < 1e-10
    got = A.relative_weights(df, "nps", ["a", "b", "c"])
    r2 = np.array([np.corrcoef(df[c], y)[0, 1] ** 2 for c in "abc"])
    assert_allclose(got["est"], r2, rtol=1e-8)


def test_bootstrap_correlations_equal_explicit_resamples(study):
    """The moment-based resampling equals correlations of explicitly expanded resamples."""
    cols = ELEMENTS + ["nps"]
    z = study[cols].to_numpy()
    boot = next(A._bootstrap_corr(z, study["account_id"].to_numpy(), 3, seed=42, chunk=3))
    codes, w = cluster_bootstrap_weights(study["account_id"].to_numpy(), 3, seed=42)
    for b in range(3):
        rows = np.repeat(np.arange(len(z)), w[b, codes].astype(int))
        assert_allclose(boot[b], np.corrcoef(z[rows], rowvar=False), rtol=0, atol=1e-10)


def _driver_sim(seed, k=120, m=6):
    """Elements share an account factor and a respondent factor; nps = 0.9 commitment +
    0.3 trust + 0.2 service + noise. Population correlation matrix is analytic."""
    rng = np.random.default_rng(seed)
    p = len(ELEMENTS)
    load_acc, load_resp, unique = 0.6, 0.5, 0.7
    acc = np.repeat(np.arange(k), m)
    e = (load_acc * rng.standard_normal(k)[acc, None] + load_resp * rng.standard_normal(k * m)[:, None]
         + unique * rng.standard_normal((k * m, p)))
    beta = np.array([0.3, 0.9, 0.0, 0.0, 0.0, 0.2])
    y = e @ beta + rng.standard_normal(k * m)
    cxx = np.full((p, p), load_acc**2 + load_resp**2) + unique**2 * np.eye(p)
    cxy = cxx @ beta
    cov = np.block([[cxx, cxy[:, None]], [cxy[None, :], np.array([[beta @ cxx @ beta + 1]])]])
    sd = np.sqrt(np.diag(cov))
    pop_r = cov / np.outer(sd, sd)
    df = pd.DataFrame(e, columns=ELEMENTS).assign(nps=y, account_id=acc)
    return df, pop_r


def test_driver_analysis_recovers_planted_drivers():
    df, pop_r = _driver_sim(17)
    planted_rw = A._relative_weights_batch(pop_r[None])[0]
    planted_gd = A._general_dominance_batch(pop_r[None])[0]
    got = A.driver_analysis(df, n_boot=1000, seed=1)
    for measure, planted in (("relative_weight", planted_rw), ("general_dominance", planted_gd)):
        g = got[got["measure"] == measure].set_index("predictor")
        assert g.loc["commitment", "rank"] == 1
        # the account-clustered 95% interval covers the planted weight of the top driver
        assert g.loc["commitment", "ci_low"] < planted[1] < g.loc["commitment", "ci_high"]
        # and every point estimate is within 0.05 of its planted value (R^2 is about 0.5)
        assert_allclose(g.loc[ELEMENTS, "est"], planted, atol=0.05)
        assert_allclose(g.loc[ELEMENTS, "est"].sum(), g.loc["r_squared", "est"], rtol=1e-12)
        assert_allclose(g.loc[ELEMENTS, "share"].sum(), 1.0, rtol=1e-12)
    assert (got["ci_low"] <= got["est"]).all() and (got["est"] <= got["ci_high"]).all()
    assert (got["n_accounts"] == 120).all()
    again = A.driver_analysis(df, n_boot=1000, seed=1)
    pd.testing.assert_frame_equal(got, again)


# ---------------------------------------------------------------------------------------------
# Cross-tab, hidden risk, volatility
# ---------------------------------------------------------------------------------------------
def test_category_crosstab_chisq_matches_r(study, ref):
    table, test = A.category_crosstab(study, "relationship", min_cell_size=1)
    # R: chisq.test(table(nps_category, relationship), correct = FALSE)
    assert_allclose(test["stat"].iloc[0], ref["chisq"]["stat"], rtol=1e-10)
    assert test["df"].iloc[0] == ref["chisq"]["df"]
    assert_allclose(test["p_value"].iloc[0], ref["chisq"]["p_value"], rtol=1e-8)
    assert test["n"].iloc[0] == ref["chisq"]["n"] == table["count"].sum()
    shares = table.groupby("nps_category", observed=True)["row_share"].sum()
    assert_allclose(shares, 1.0, rtol=1e-12)
    assert not table["suppressed"].any()


def test_category_crosstab_suppresses_small_cells():
    df = pd.DataFrame({"nps": [10] * 12 + [9] * 3 + [5] * 20 + [8] * 6,
                       "relationship": ["Ambassador"] * 12 + ["Rational"] * 3
                       + ["Rational"] * 18 + ["Opponent"] * 2 + ["Rational"] * 6})
    table, test = A.category_crosstab(df, "relationship", min_cell_size=5)
    t = table.set_index(["nps_category", "relationship"])
    # promoters: Ambassador 12, Rational 3 (primary), Opponent 0 (primary) -> 12 still shown
    assert t.loc[("promoter", "Rational"), "suppressed"] and np.isnan(t.loc[("promoter", "Rational"), "count"])
    assert t.loc[("promoter", "Ambassador"), "count"] == 12
    # detractors: Rational 18, Opponent 2 (primary), Ambassador 0 (primary) -> two blanked
    assert t.loc[("detractor", "Opponent"), "suppressed"]
    # passives: only Rational 6, Ambassador 0 and Opponent 0 blanked, 6 shown
    assert t.loc[("passive", "Rational"), "count"] == 6
    # a row with exactly one blanked cell gets a second one (no recovery from the row total)
    df2 = pd.DataFrame({"nps": [10] * 30 + [3] * 20,
                        "relationship": ["A"] * 12 + ["B"] * 15 + ["C"] * 3 + ["B"] * 20})
    t2 = A.category_crosstab(df2, "relationship")[0].set_index(["nps_category", "relationship"])
    assert t2.loc[("promoter", "C"), "suppressed"] and t2.loc[("promoter", "A"), "suppressed"]
    assert t2.loc[("promoter", "B"), "count"] == 15
    assert test["n"].iloc[0] == len(df)


def test_hidden_risk_flags_low_trust_or_commitment_promoters():
    df = pd.DataFrame({
        "account_id": ["a"] * 6 + ["b"] * 6 + ["c"] * 2,
        "nps":        [10, 9, 9, 6, 10, 8,   10, 10, 9, 9, 9, 9,   10, 9],
        "trust":      [3.0, 6, 6, 2, 6, 2,   6, 6, 6, 6, 6, 6,     2, 6],
        "commitment": [6.0, 4, 6, 2, 6, 2,   6, 6, 6, 6, 6, 4.5,   6, 6],
    })
    got = A.hidden_risk(df, trust_max=4, commitment_max=4, min_cell_size=5)
    # a: promoters 10, 9, 9, 10 (4); at risk: trust 3, commitment 4 -> 2. b: none at <= 4.
    # c: 1 at risk but only 2 respondents -> listed, blanked, suppressed.
    assert list(got["account_id"]) == ["a", "c"]
    a = got.set_index("account_id").loc["a"]
    assert (a["n"], a["n_promoters"], a["n_hidden_risk"]) == (6, 4, 2)
    assert_allclose(a["share_hidden_risk"], 0.5)
    c = got.set_index("account_id").loc["c"]
    assert c["suppressed"] and np.isnan(c["n_hidden_risk"])
    looser = A.hidden_risk(df, trust_max=4, commitment_max=4.5, min_cell_size=1)
    assert looser.set_index("account_id").loc["b", "n_hidden_risk"] == 1
    assert looser.attrs["commitment_max"] == 4.5


@pytest.mark.parametrize("test", ["t", "wilcoxon"])
def test_volatility_matches_r(study, ref, test):
    got = A.volatility(study, "satisfaction", "trust", test=test).set_index("measure")
    r = ref["volatility"]
    # R: mean(tapply(aw$satisfaction, aw$account_id, sd)) and the same for trust
    assert_allclose(got.loc["satisfaction", "est"], r["mean_sd_satisfaction"], rtol=1e-12)
    assert_allclose(got.loc["trust", "est"], r["mean_sd_trust"], rtol=1e-12)
    d = got.loc["difference"]
    # R: t.test(sd_sat, sd_tru, paired = TRUE)$conf.int
    assert_allclose([d["ci_low"], d["ci_high"]], [r["diff_ci_low"], r["diff_ci_high"]], rtol=1e-10)
    assert d["n_accounts"] == r["n_accounts"] == 60
    if test == "t":
        # R: t.test(sd_sat, sd_tru, paired = TRUE)$statistic, $parameter, $p.value
        assert_allclose([d["stat"], d["df"], d["p_value"]], [r["t_stat"], r["t_df"], r["t_p_value"]],
                        rtol=1e-10)
    else:
        # R: wilcox.test(sd_sat, sd_tru, paired = TRUE, exact = FALSE, correct = TRUE)$statistic
        assert d["stat"] == r["wilcoxon_v"]
        # R: ...$p.value
        assert_allclose(d["p_value"], r["wilcoxon_p_value"], rtol=1e-8)


def test_volatility_detects_planted_volatile_satisfaction():
    """Satisfaction gets a wave shock of SD 0.6, trust of SD 0.1: satisfaction's
    within-account SD must be larger (paired t test p < 0.001, 80 accounts)."""
    rng = np.random.default_rng(8)
    k, waves, m = 80, 4, 5
    rows = []
    for a in range(k):
        base = rng.normal(5, 0.6)
        for w in range(waves):
            s_shock, t_shock = rng.normal(0, 0.6), rng.normal(0, 0.1)
            noise = rng.normal(0, 0.3, (m, 2))
            for i in range(m):
                rows.append((a, w, base + s_shock + noise[i, 0], base + t_shock + noise[i, 1]))
    df = pd.DataFrame(rows, columns=["account_id", "wave", "satisfaction", "trust"])
    got = A.volatility(df).set_index("measure")
    assert got.loc["difference", "est"] > 0 and got.loc["difference", "p_value"] < 1e-3


def test_driver_analysis_says_why_it_cannot_run():
    import numpy as np
    import pandas as pd
    import pytest

    from crqlab.errors import InsufficientDataError
    from crqlab.models.association import driver_analysis

    rng = np.random.default_rng(0)
    cols = ["trust", "commitment", "satisfaction", "experience", "solution", "service"]
    df = pd.DataFrame(rng.normal(5, 1, (60, 6)), columns=cols)
    df["nps"] = rng.integers(0, 11, 60)
    df["account_id"] = "A1"
    with pytest.raises(InsufficientDataError, match="at least 2 accounts"):
        driver_analysis(df, n_boot=10)
    df["account_id"] = np.arange(60) % 6
    df["trust"] = 5.0
    with pytest.raises(InsufficientDataError, match="constant"):
        driver_analysis(df, n_boot=10)
