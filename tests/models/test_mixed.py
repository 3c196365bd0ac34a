"""crqlab.models.mixed: the guarded random-intercept fit against R lme4 on the High School and
Beyond data (mlmRev Hsb82; tests/results/mixed/make_mixed.R), a singular fit on the boundary,
the refusal of statsmodels' false convergence, and the two callers (bias.clustered_effects,
association.within_between) on the same data."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.models import association, bias, mixed

HERE = Path(__file__).parents[1] / "results" / "mixed"
REF = json.loads((HERE / "reference.json").read_text())
HSB = pd.read_csv(HERE / "hsb82.csv", dtype={"school": str, "pseudo": str})
TERMS = ["intercept", "catholic", "minority", "ses", "catholic:minority"]
COMBO = "catholic + catholic:minority"
# statsmodels' optimisers stop at a relative gradient tolerance; lme4 (bobyqa) at its own.
# Both reach the same REML optimum to about 1e-5 in the estimates and 1e-4 in the variance
# of the school intercepts (the flattest direction of the likelihood).
RTOL_FIXED, RTOL_SE, RTOL_VAR, ATOL_LLF = 2e-5, 1e-4, 2e-4, 1e-4


def _design() -> np.ndarray:
    c, m = HSB["catholic"].astype(float), HSB["minority"].astype(float)
    return np.column_stack([np.ones(len(HSB)), c, m, HSB["ses"], c * m])


def test_data_are_hsb82():
    # R: nrow(Hsb82); length(unique(Hsb82$school))
    assert len(HSB) == REF["n"] == 7185
    assert HSB["school"].nunique() == REF["n_schools"] == 160
    assert (HERE / "hsb82.csv").stat().st_size < 1_000_000


@pytest.mark.parametrize("reml, key", [(True, "catholic_reml"), (False, "catholic_ml")])
def test_fit_matches_lme4_on_hsb82(reml, key):
    fit = mixed.fit_random_intercept(HSB["mathach"], _design(), HSB["school"], reml=reml)
    r = REF[key]
    # R term order: (Intercept), catholic, minority, ses, catholic:minority - as _design()
    # R: fixef(lmer(mathach ~ catholic * minority + ses + (1 | school), REML = reml))
    assert_allclose(fit.fe_params, r["est"], rtol=RTOL_FIXED)
    # R: sqrt(diag(vcov(fit)))
    assert_allclose(fit.se, r["se"], rtol=RTOL_SE)
    # R: as.data.frame(VarCorr(fit))$vcov
    assert_allclose(fit.var_group, r["var_group"], rtol=RTOL_VAR)
    assert_allclose(fit.var_residual, r["var_residual"], rtol=RTOL_FIXED)
    # R: logLik(fit) (REML criterion under REML = TRUE)
    assert_allclose(fit.loglik, r["loglik"], rtol=0, atol=ATOL_LLF)
    # R: isSingular(fit) is FALSE
    assert fit.boundary is False and r["singular"] is False
    assert fit.n == 7185 and fit.n_groups == 160 and fit.reml is reml


def test_lbfgs_false_convergence_is_refused():
    """Alone, statsmodels' lbfgs reports convergence on these data with an infinite
    log-likelihood, a zero intercept and a zero school variance (issue 16): the guard turns
    its ConvergenceWarning into a refusal, and the next optimiser reaches lme4's optimum."""
    with pytest.raises(ConvergenceError, match="lbfgs"):
        mixed.fit_random_intercept(HSB["mathach"], _design(), HSB["school"],
                                   optimisers=("lbfgs",))
    fit = mixed.fit_random_intercept(HSB["mathach"], _design(), HSB["school"])
    assert fit.optimiser != "lbfgs" and fit.attempts[0].startswith("lbfgs")


def test_fit_short_of_the_optimum_is_refused(monkeypatch):
    """A 'converged' fit whose log-likelihood falls short of the profiled maximum is refused."""
    short = SimpleNamespace(llf=REF["catholic_reml"]["loglik"] - 1.0, converged=True)
    monkeypatch.setattr(mixed, "_statsmodels_fit", lambda *a: (short, "fake: ok"))
    with pytest.raises(ConvergenceError, match="stopped short of the optimum"):
        mixed.fit_random_intercept(HSB["mathach"], _design(), HSB["school"])


@pytest.mark.parametrize("reml, key", [(True, "catholic_reml"), (False, "catholic_ml")])
def test_profile_loglik_equals_lme4_at_its_optimum(reml, key):
    r = REF[key]
    theta = np.sqrt(r["var_group"] / r["var_residual"])
    got = mixed.profile_loglik(HSB["mathach"], _design(), HSB["school"], theta, reml=reml)
    # R: logLik(fit), the profiled criterion at lme4's theta (closed form: same to 1e-6)
    assert_allclose(got, r["loglik"], rtol=0, atol=1e-6)


def test_boundary_fit_is_flagged_like_lme4_singular():
    """Random pseudo-schools: no between-group variance; lme4 reports a singular fit with
    variance 0, and so does the profile (statsmodels warns on every optimiser)."""
    X = np.column_stack([np.ones(len(HSB)), HSB["ses"]])
    fit = mixed.fit_random_intercept(HSB["mathach"], X, HSB["pseudo"])
    r = REF["boundary"]
    # R: isSingular(lmer(mathach ~ ses + (1 | pseudo))) is TRUE; VarCorr gives 0
    assert r["singular"] is True and r["var_group"] == 0
    assert fit.boundary is True and fit.var_group == 0.0 and fit.optimiser == "profile"
    # R: fixef, sqrt(diag(vcov)), sigma^2 and logLik at the boundary (closed form: 1e-9)
    assert_allclose(fit.fe_params, r["est"], rtol=1e-9)
    assert_allclose(fit.se, r["se"], rtol=1e-9)
    assert_allclose(fit.var_residual, r["var_residual"], rtol=1e-9)
    assert_allclose(fit.loglik, r["loglik"], rtol=0, atol=1e-6)
    assert len(fit.attempts) == len(mixed.OPTIMISERS) + 1


def test_clustered_effects_mixed_matches_lme4_on_hsb82():
    """The call of issue 16, which returned intercept 0 and variance 0 before the guard."""
    out = bias.clustered_effects(HSB, "mathach", group="catholic", moderator="minority",
                                 controls=("ses",), cluster="school", method="mixed")
    out = out.set_index("term")
    r = REF["catholic_reml"]
    order = ["intercept", "catholic", "minority", "ses", "catholic:minority"]
    # R: fixef(fit), sqrt(diag(vcov(fit))) for the REML fit
    assert_allclose(out.loc[order, "est"], r["est"], rtol=RTOL_FIXED)
    assert_allclose(out.loc[order, "se"], r["se"], rtol=RTOL_SE)
    # R: sum(L * fixef(fit)), sqrt(t(L) %*% vcov(fit) %*% L) with L = catholic + interaction
    assert_allclose(out.loc[COMBO, ["est", "se"]], [r["combo_est"], r["combo_se"]],
                    rtol=RTOL_SE)
    # R: as.data.frame(VarCorr(fit))$vcov[1]
    assert_allclose(out.loc["var(account)", "est"], r["var_group"], rtol=RTOL_VAR)
    assert out.attrs["boundary"] is False
    assert_allclose(out.attrs["loglik"], r["loglik"], atol=ATOL_LLF)
    assert (out["n"] == 7185).all() and (out["n_accounts"] == 160).all()


def test_within_between_matches_lme4_on_hsb82():
    out = association.within_between(HSB, y="mathach", x="ses", group="school").set_index("term")
    r = REF["within_between"]
    # R: fixef / sqrt(diag(vcov)) of lmer(mathach ~ ses_within + ses_between + (1 | school))
    assert_allclose(out.loc[["intercept", "ses_within", "ses_between"], "est"], r["est"],
                    rtol=RTOL_FIXED)
    assert_allclose(out.loc[["intercept", "ses_within", "ses_between"], "se"], r["se"],
                    rtol=RTOL_SE)
    # R: contextual effect c(0, -1, 1) and its SE
    assert_allclose(out.loc["contextual", ["est", "se"]], [r["combo_est"], r["combo_se"]],
                    rtol=RTOL_SE)
    # R: VarCorr(fit)
    assert_allclose(out.loc[["var_account", "var_residual"], "est"],
                    [r["var_group"], r["var_residual"]], rtol=RTOL_VAR)
    assert out.attrs["boundary"] is False


def test_clustered_effects_flags_a_boundary_fit():
    out = bias.clustered_effects(HSB, "mathach", group="catholic", moderator=None,
                                 controls=("ses",), cluster="pseudo", method="mixed")
    assert out.attrs["boundary"] is True
    assert out.set_index("term").loc["var(account)", "est"] == 0.0


def test_degenerate_designs_are_refused():
    X = _design()
    with pytest.raises(InsufficientDataError, match="n_groups=2"):
        mixed.fit_random_intercept(HSB["mathach"], X, HSB["school"].isin(["1224"]))
    with pytest.raises(InsufficientDataError, match="rank deficient"):
        mixed.fit_random_intercept(HSB["mathach"], np.column_stack([X, X[:, 1]]), HSB["school"])
    with pytest.raises(ValueError, match="complete"):
        mixed.fit_random_intercept(HSB["mathach"].where(HSB.index > 0), X, HSB["school"])
