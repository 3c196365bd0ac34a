"""Generalisation runs: every study's estimators on several generator structures.

A *structure* (:data:`crqlab.synth.STRUCTURES`) changes which relationship element drives
confidentiality, response and retention, how large the named-answer inflation is and how it
goes with commitment. For each structure and seed one synthetic study per design is generated
and each estimator run exactly as its notebook runs it, next to the value the generator
planted:

* ``panel_did`` - notebook 20's panel (preset ``company-a``: confidentiality offered, then
  removed): the difference in differences of the 0-10 answer and of the CRQ index, the
  data-chosen doubly robust default beside the plain and the satisfaction-adjusted DiD, and
  the implied inflation of the headline (confidential share of completers x DiD). Truth, per
  study: the change in named-answer inflation of the previously confidential completers over
  that of the named completers, exact from the honest and reported answers of the latent table.
* ``cross_sectional_gap`` - notebook 20's cross-section (preset ``sample``, wave 4 with
  optional confidentiality): confidential minus named mean 0-10 answer and CRQ index among
  respondents, Welch (as the notebook's table) and account-clustered OLS. Truth: the same
  difference among the respondents of a study of ``n_truth`` accounts (a descriptive quantity
  of the superpopulation; it mixes selection and inflation by design).
* ``nonresponse`` - notebook 30's headline (wave 4): NPS and CRQ index propensity-weighted on
  role, tenure, account size and the previous wave's CRQ index. Truth: the wave's whole frame
  answering as it would under the wave's regime (``population_reported``: non-response is
  the only bias this estimator claims to remove); the honest whole-frame value
  (``population``) is reported beside it, and so is the data-scaled not-at-random range of
  :func:`crqlab.models.nonresponse.mnar_sensitivity`.
* ``morgan_hunt`` - notebook 10's CRQ form of the KMV model (wave 3, the latest with
  retention; MLR, the notebook's default): the standardised path commitment -> NPS answer with
  its Monte Carlo interval, and beside it the confidentiality-controlled path (the model fitted
  to the confidential respondents of wave 4). Truth: the correlation of the commitment latent
  with the honest 0-10 answer over the wave's whole frame (the standardised path when
  commitment is its only cause).
* ``nps_crq_correlation`` - notebook 40: Pearson correlation of the 0-10 answer with the CRQ
  index over all waves' respondents (Fisher interval), and beside it the same among the
  confidential respondents only. Truth: the same correlation of the honest answers of every
  invited contact in every wave.

Every row: ``estimator, quantity, method, default, structure, seed, est, ci_low, ci_high,
truth``; ``default`` marks the method each notebook reports (the headline).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from crqlab import synth
from crqlab.data.instruments import load_instrument
from crqlab.measures.scoring import score_items
from crqlab.models import association, bias, nonresponse, sem, weighting

STRUCTURE_NAMES = tuple(synth.STRUCTURES)
ESTIMATORS = ("panel_did", "cross_sectional_gap", "nonresponse", "morgan_hunt",
              "nps_crq_correlation")
CRQ = load_instrument("crq")
ELEMENTS = list(CRQ.elements)
NR_COVARIATES = ["role", "tenure_years", "size"]   # notebook 30's default response model
XS_WAVE, MH_WAVE = 4, 3
#: The confidentiality-controlled quantities (issue 16 item 2), beside the reported ones.
CONTROLLED_PATH = "commitment -> NPS answer, confidential respondents only"
CONTROLLED_R = "Pearson r, confidential respondents only"


def respondents(study) -> pd.DataFrame:
    """Responses with frame covariates, account facts and element scores (as the notebooks)."""
    cov = study.contacts[["wave", "contact_id", "account_id", "role", "newly_included",
                          "tenure_years"]]
    r = study.responses.merge(cov, on=["wave", "contact_id"], how="left", validate="one_to_one")
    r = r.merge(study.accounts[["wave", "account_id", "size", "retained_next_wave"]],
                on=["wave", "account_id"], how="left", validate="many_to_one")
    scores = score_items(r, CRQ, facets=False, levels=False)
    out = pd.concat([r, scores], axis=1)
    out["nps"] = pd.to_numeric(out["nps"], errors="coerce").astype(float)
    return out


def _row(estimator, quantity, method, default, est, ci_low, ci_high, truth) -> dict:
    return {"estimator": estimator, "quantity": quantity, "method": method,
            "default": bool(default), "est": float(est), "ci_low": float(ci_low),
            "ci_high": float(ci_high), "truth": float(truth)}


# ----------------------------------------------------------------------------- panel DiD
def panel_did(structure: str, seed: int) -> list[dict]:
    study = synth.generate("company-a", seed=seed, **synth.STRUCTURES[structure])
    resp = respondents(study)
    lat = study.latent.set_index(["wave", "contact_id"])
    rows = []
    for score, col, label in (("nps", "nps", "0-10 answer"),
                              ("crq_index", "crq_index", "CRQ index")):
        panel = bias.panel_frame(resp, study.contacts, score=score, baseline=ELEMENTS)
        t = bias.did_estimates(panel).set_index("method")
        used = panel[panel["change"].notna()]
        infl = [(lat.loc[w, f"reported_{col}"] - lat.loc[w, f"honest_{col}"])
                .reindex(used["contact_id"]).to_numpy() for w in (1, 2)]
        delta = infl[1] - infl[0]
        conf = used["confidential"].to_numpy(bool)
        truth = delta[conf].mean() - delta[~conf].mean()
        for method in t.index:
            r = t.loc[method]
            rows.append(_row("panel_did", f"DiD, {label}", method, method == "doubly_robust",
                             r["est"], r["ci_low"], r["ci_high"], truth))
        if "doubly_robust" in t.index:
            share = conf.mean()
            r = t.loc["doubly_robust"]
            rows.append(_row("panel_did", f"headline inflation, {label}", "doubly_robust", True,
                             share * r["est"], share * r["ci_low"], share * r["ci_high"],
                             share * truth))
    return rows


# ----------------------------------------------------------------------------- sample designs
def _xs_truth_from(study) -> dict:
    lat = study.latent[(study.latent["wave"] == XS_WAVE) & study.latent["responded"]]
    conf = lat["would_choose_confidential"].to_numpy(bool)
    return {s: float(lat.loc[conf, f"reported_{s}"].mean() - lat.loc[~conf, f"reported_{s}"]
                     .mean()) for s in ("nps", "crq_index")}


@lru_cache(maxsize=None)
def gap_truth(structure: str, n_truth: int) -> dict:
    """The superpopulation gap: one study of ``n_truth`` accounts (seed 10_000, not a coverage
    seed)."""
    return _xs_truth_from(synth.generate("sample", seed=10_000, n_accounts=n_truth,
                                         **synth.STRUCTURES[structure]))


def cross_sectional_gap(resp: pd.DataFrame, truth: dict) -> list[dict]:
    xw = resp[resp["wave"] == XS_WAVE]
    diffs = bias.score_differences(xw, scores=["nps_mean", "crq_index"])
    diffs = diffs[diffs["measure"] == "difference"].set_index("score")
    rows = []
    for score, key, label in (("nps_mean", "nps", "0-10 answer"),
                              ("crq_index", "crq_index", "CRQ index")):
        d = diffs.loc[score]
        rows.append(_row("cross_sectional_gap", f"confidential - named, {label}", "welch", True,
                         d["est"], d["ci_low"], d["ci_high"], truth[key]))
        c = bias.clustered_effects(xw, score, moderator=None, controls=()).set_index("term")
        c = c.loc["confidential"]
        rows.append(_row("cross_sectional_gap", f"confidential - named, {label}",
                         "clustered_ols", False, c["est"], c["ci_low"], c["ci_high"],
                         truth[key]))
    return rows


def nonresponse_adjusted(study, resp: pd.DataFrame) -> list[dict]:
    contacts = study.contacts.merge(study.accounts[["wave", "account_id", "size"]],
                                    on=["wave", "account_id"], how="left")
    contacts["responded"] = contacts["responded"].astype(bool)
    scores = resp[["wave", "contact_id", "nps", "crq_index"]]
    withprev = nonresponse.add_previous_score(contacts, scores, "crq_index")
    frame = withprev[withprev["wave"] == XS_WAVE].copy()
    cov = NR_COVARIATES + ["prev_crq_index", "prev_crq_index_known"]
    adj = weighting.propensity_adjusted(frame, scores, cov,
                                        score=("nps", "crq_index")).set_index(["score", "method"])
    wave = study.truth["waves"][str(XS_WAVE)]
    rows = []
    for s, label in (("nps", "NPS"), ("crq_index", "CRQ index")):
        p = adj.loc[(s, "propensity")]
        u = adj.loc[(s, "unweighted")]
        for method, r, default in (("propensity", p, True), ("unweighted", u, False)):
            rows.append(_row("nonresponse", f"{label}, whole frame as reported", method, default,
                             r["est"], r["ci_low"], r["ci_high"],
                             wave["population_reported"][s]))
        rows.append(_row("nonresponse", f"{label}, whole frame answering honestly",
                         "propensity", False, p["est"], p["ci_low"], p["ci_high"],
                         wave["population"][s]))
        sens = nonresponse.mnar_sensitivity(frame, scores, score=s, covariates=cov).bounds
        rows.append(_row("nonresponse", f"{label}, whole frame as reported", "mnar_range", False,
                         sens["est"], sens["frame_min"], sens["frame_max"],
                         wave["population_reported"][s]))
    return rows


def _commitment_nps(model, data: pd.DataFrame, seed: int):
    """Notebook 10's fit (MLR, its default) and the standardised path commitment -> NPS answer
    with its Monte Carlo interval."""
    fit = sem.fit_sem(model, data, on_improper="flag", seed=seed, estimator="MLR")
    hyp = fit.hypotheses().set_index(["source", "target"])
    mc = sem.indirect_effects(fit, chains=[("commitment", "nps")], standardized=True,
                              n_draws=2000, seed=seed).iloc[0]
    return fit, hyp.loc[("commitment", "nps"), "std_all"], mc


def morgan_hunt(study, resp: pd.DataFrame, seed: int) -> list[dict]:
    """The reported path (wave 3) and the confidentiality-controlled one: the CRQ form of KMV
    with the NPS answer as outcome, fitted to the confidential respondents of wave 4
    (``crqlab.studies.morgan_hunt.confidential_fit``)."""
    lat = study.latent[study.latent["wave"] == MH_WAVE]
    truth = float(np.corrcoef(lat["latent_commitment"], lat["honest_nps"])[0, 1])
    fit, est, mc = _commitment_nps(sem.kmv_crq_model(CRQ), resp[resp["wave"] == MH_WAVE], seed)
    rows = [_row("morgan_hunt", "commitment -> NPS answer (standardised)",
                 "kmv_crq" if fit.proper else "kmv_crq (improper)", True,
                 est, mc["ci_low"], mc["ci_high"], truth)]
    conf = resp[resp["confidential"].eq(True)]
    fit, est, mc = _commitment_nps(sem.kmv_crq_model(CRQ, outcomes=("nps",)), conf, seed)
    rows.append(_row("morgan_hunt", CONTROLLED_PATH,
                     "confidential" if fit.proper else "confidential (improper)", False,
                     est, mc["ci_low"], mc["ci_high"], truth))
    return rows


def nps_crq_correlation(study, resp: pd.DataFrame) -> list[dict]:
    """The reported correlation (every wave's respondents) and the confidentiality-controlled
    one (``crqlab.studies.nps_crq.confidential_correlation``: confidential respondents only)."""
    lat = study.latent
    truth = float(np.corrcoef(lat["honest_nps"], lat["honest_crq_index"])[0, 1])
    rows = []
    for quantity, method, default, data in (
            ("Pearson r, 0-10 answer and CRQ index", "pearson", True, resp),
            (CONTROLLED_R, "confidential", False, resp[resp["confidential"].eq(True)])):
        r = association.correlations(data, x="nps", y="crq_index", methods=("pearson",)).iloc[0]
        rows.append(_row("nps_crq_correlation", quantity, method, default, r["est"], r["ci_low"],
                         r["ci_high"], truth))
    return rows


def sample_designs(structure: str, seed: int, n_truth: int,
                   estimators=ESTIMATORS) -> list[dict]:
    """The four estimators of one ``sample`` study (one generation serves all)."""
    study = synth.generate("sample", seed=seed, **synth.STRUCTURES[structure])
    resp = respondents(study)
    rows = []
    if "cross_sectional_gap" in estimators:
        rows += cross_sectional_gap(resp, gap_truth(structure, n_truth))
    if "nonresponse" in estimators:
        rows += nonresponse_adjusted(study, resp)
    if "morgan_hunt" in estimators:
        rows += morgan_hunt(study, resp, seed)
    if "nps_crq_correlation" in estimators:
        rows += nps_crq_correlation(study, resp)
    return rows


def run(structures=STRUCTURE_NAMES, seeds=range(20), n_truth: int = 4000,
        estimators=ESTIMATORS) -> pd.DataFrame:
    """All rows for the structures x seeds."""
    rows = []
    for structure in structures:
        for seed in seeds:
            found = []
            if "panel_did" in estimators:
                found += panel_did(structure, seed)
            found += sample_designs(structure, seed, n_truth, estimators)
            rows += [r | {"structure": structure, "seed": int(seed)} for r in found]
    out = pd.DataFrame(rows)
    out["covered"] = (out["ci_low"] <= out["truth"]) & (out["truth"] <= out["ci_high"])
    return out


def coverage_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per estimator, quantity, method and structure: seeds, mean estimate, mean truth, mean
    error, SD of the error, mean interval width and coverage."""
    g = runs.assign(error=runs["est"] - runs["truth"], width=runs["ci_high"] - runs["ci_low"])
    keys = ["estimator", "quantity", "method", "default", "structure"]
    out = g.groupby(keys, sort=False).agg(
        n=("seed", "size"), est=("est", "mean"), truth=("truth", "mean"),
        error=("error", "mean"), error_sd=("error", "std"), width=("width", "mean"),
        covered=("covered", "sum")).reset_index()
    out["coverage"] = out["covered"] / out["n"]
    return out
