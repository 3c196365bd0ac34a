"""crqlab.models.validity against formulas applied to lavaan's solution (make_lavaan.R) and truth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from crqlab.data.instruments import load_instrument
from crqlab.errors import InsufficientDataError
from crqlab.models.sem import fit_sem, kmv_crq_model, simulate_sem
from crqlab.models.validity import (
    cfa_model,
    composite_reliability,
    fornell_larcker,
    htmt,
    latent_correlations,
    standardized_loadings,
    validity_summary,
)

REF_DIR = Path(__file__).parents[1] / "results" / "lavaan"
REF = json.loads((REF_DIR / "lavaan_reference.json").read_text(encoding="utf-8"))
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
LATENTS = ["visual", "textual", "speed"]


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(REF_DIR / "holzinger_swineford_1939.csv")


@pytest.fixture(scope="module")
def hs_fit(hs):
    return fit_sem(HS_MODEL, hs)


def test_composite_reliability_and_ave(hs_fit):
    cr = composite_reliability(hs_fit).set_index("latent")
    ref = REF["hs_validity"]
    # R: l <- standardizedSolution(fit)$est.std[op == "=~"];
    #    sum(l)^2 / (sum(l)^2 + sum(1 - l^2)) and mean(l^2)
    assert_allclose(cr.loc[LATENTS, "cr"], [ref[k]["cr"] for k in LATENTS], atol=2e-5)
    assert_allclose(cr.loc[LATENTS, "ave"], [ref[k]["ave"] for k in LATENTS], atol=2e-5)
    assert_allclose(cr["sqrt_ave"], np.sqrt(cr["ave"]))
    assert (cr["n_items"] == 3).all()


def test_latent_correlations_match_lavaan(hs_fit):
    ref = REF["hs_validity"]["latent_cor"]
    ours = latent_correlations(hs_fit).loc[ref["names"], ref["names"]]
    # R: lavInspect(fit, "cor.lv")
    assert_allclose(ours.to_numpy(), np.array(ref["values"]), atol=2e-5)


def test_fornell_larcker(hs_fit):
    fl = fornell_larcker(hs_fit)
    assert len(fl) == 3
    cor = latent_correlations(hs_fit)
    row = fl.set_index(["latent_a", "latent_b"]).loc[("visual", "speed")]
    assert_allclose(row["r"], cor.loc["visual", "speed"])
    # sqrt(AVE) of visual (0.61) and speed (0.66) both exceed their correlation (0.47)
    assert row["passes"] and fl["passes"].all()


def test_htmt_matches_r(hs, hs_fit):
    ref = REF["hs_validity"]["htmt"]
    h = htmt(hs, hs_fit).set_index(["latent_a", "latent_b"])["htmt"]
    # R: mean(S[a, b]) / sqrt(mono(a) * mono(b)) on cor(HolzingerSwineford1939[, x1:x9])
    assert_allclose([h[("visual", "textual")], h[("visual", "speed")], h[("textual", "speed")]],
                    [ref["visual_textual"], ref["visual_speed"], ref["textual_speed"]],
                    rtol=1e-10)
    # the same from a plain mapping, and a bootstrap interval around it, reproducibly
    blocks = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
              "speed": ["x7", "x8", "x9"]}
    b = htmt(hs, blocks, n_boot=100, seed=4)
    assert_allclose(b["htmt"], htmt(hs, blocks)["htmt"])
    assert ((b["ci_low"] < b["htmt"]) & (b["htmt"] < b["ci_high"])).all()
    again = htmt(hs, blocks, n_boot=100, seed=4)
    assert_allclose(again["ci_low"], b["ci_low"])


def test_htmt_needs_two_items(hs):
    with pytest.raises(InsufficientDataError, match="two items"):
        htmt(hs, {"a": ["x1"], "b": ["x2", "x3"]})


def test_loadings_table(hs_fit):
    lam = standardized_loadings(hs_fit)
    assert list(lam["latent"].unique()) == LATENTS and len(lam) == 9
    ref = pd.DataFrame(REF["hs_cfa"]["parameters"])
    ref = ref[ref["op"] == "=~"]
    # R: parameterEstimates(fit, standardized = TRUE)$std.all[op == "=~"]
    assert_allclose(lam["std_all"], ref["std.all"], atol=1e-4)
    assert_allclose(lam["r2"], lam["std_all"] ** 2)


def test_planted_convergent_validity():
    """Continuous items with loading 0.8: AVE = 0.64, CR = 2.4^2 / (2.4^2 + 3 * 0.36)."""
    d = simulate_sem(kmv_crq_model(), 4000, loadings=0.8, exo_corr=0.3, seed=8)
    fit = fit_sem(cfa_model("crq"), d)
    summary = validity_summary(fit, d).set_index("latent")
    assert len(summary) == 6
    # N = 4000: SEs of the standardised loadings ~0.01
    assert_allclose(summary["ave"], 0.64, atol=0.03)
    assert_allclose(summary["cr"], 5.76 / (5.76 + 1.08), atol=0.02)
    assert summary["fornell_larcker"].all() and summary["cr_ok"].all()
    # HTMT of congeneric items with equal loadings estimates the latent correlation
    h = htmt(d, cfa_model("crq")).set_index(["latent_a", "latent_b"])["htmt"]
    cor = latent_correlations(fit)
    assert_allclose(h[("trust", "commitment")], cor.loc["trust", "commitment"], atol=0.03)


def test_cfa_model_from_instrument():
    m = cfa_model(load_instrument("crq"))
    assert set(m.indicators) == {"trust", "commitment", "satisfaction", "experience",
                                 "solution", "service"}
    assert "service =~ reliability + responsiveness + customer_care" in m.syntax
    assert not m.paths
