"""crqlab.studies.response_rates: the steps of notebook 30 on small hand-made frames.

The estimators are validated in tests/models (R ``survey``, hand values); here each step is
checked for what it decides (which rows, which covariates, what is suppressed, when a step
cannot run and why), for the numbers it passes on (against values computed here from the
frames), and for the sentences it writes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import build_study_frames, write_study
from numpy.testing import assert_allclose
from studies.response_frames import design, frames

from crqlab.data.study import load_study
from crqlab.reports import plotting
from crqlab.reports.results import Recorder
from crqlab.stats import wilson_ci
from crqlab.studies import response_rates as rr

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def d():
    return design()


@pytest.fixture(scope="module")
def model(d):
    return rr.response_model(d, ["role", "tenure_years", "size", "absent"], n_boot=20, seed=1)


@pytest.fixture(scope="module")
def ao(d):
    return rr.armstrong_overton(d, rr.lateness_column(d, "reminders"), -1.0)


@pytest.fixture(scope="module")
def dec(d):
    return rr.decompose_changes(d, ["role", "newly_included", "not_a_column"], n_boot=30, seed=2)


def _names(entries) -> list[str]:
    return [e.name for e in entries]


def test_entries_are_what_results_record_all_takes():
    rec = Recorder()
    rec.record_all([rr.Entry("x", 1.5, {"n": 5}),
                    rr.Entry("t", pd.DataFrame({"a": [1], "n": [6]}), {"min_cell_size": 5})])
    doc = rec.as_dict()
    assert doc["values"] == {"x.est": 1.5, "x.n": 5} and doc["tables"]["t"]["data"] == [[1, 6]]


# ----------------------------------------------------------------------------- set-up
def test_prepare_reads_the_study_and_checks_the_parameters(tmp_path):
    contacts, responses, accounts = build_study_frames(n_accounts=4, n_contacts=20, waves=(1, 2))
    study = load_study(write_study(tmp_path / "s", contacts, responses, accounts), cache=False)
    d = rr.prepare(study, segments=["role", "newly_included", "absent"], min_cell_size=7)
    assert (d.wave, d.labels, d.min_cell) == (2, {1: "2021", 2: "2022"}, 7)
    assert (d.n_invited, d.n_responded, d.n_accounts) == (20, 15, 4)  # 75% respond, by design
    assert d.frame["responded"].dtype == bool and len(d.frame) == 40
    assert list(d.scores.columns) == ["wave", "contact_id", "account_id", "role", "newly_included",
                                      "crq_index", "nps"]  # segments present, "absent" is not
    assert_allclose(d.scores["nps"], responses["nps"])  # the 0-10 answers, kept as they are
    assert (d.crq.name, d.nps.name, d.nps.digits, d.nps.signed) == ("CRQ index", "NPS", 1, True)
    assert rr.prepare(study, wave=1, crq_score="trust", nps_score="nps_mean").crq.name == \
        "trust score"
    for bad, text in (({"wave": 3}, "the study has waves [1, 2]"),
                      ({"nps_score": "promoters"}, "'nps' or 'nps_mean'"),
                      ({"crq_score": "loyalty"}, "not a score of instrument 'crq'")):
        with pytest.raises(rr.StudyParameterError, match=text.replace("[", r"\[")):
            rr.prepare(study, **bad)


def test_score_units_are_the_plot_units():
    for reading in ("nps", "nps_mean"):
        assert rr.score_info(nps_score=reading)[1].unit == plotting.UNITS[reading]
    assert rr.score_info()[0].unit == plotting.UNITS["crq_index"]


def test_readable_words_counts_and_headers():
    t = pd.DataFrame({"quantity": ["late_minus_early", "other"], "n": [1234.0, np.nan],
                      "p_value": [0.5, 0.1], "n_eff": [12.4, 3.0]})
    out = rr.readable(t, {"n_eff": "effective respondents"})
    assert list(out.columns) == ["quantity", "n", "p", "effective respondents"]
    assert out["quantity"].tolist() == ["late minus early", "other"]
    assert out["n"].tolist() == ["1,234", ""] and out["effective respondents"].tolist() == ["12", "3"]


# ----------------------------------------------------------------------------- 1. rates
def test_rates_by_wave_match_the_frame(d):
    t = rr.rates_by_wave(d)
    for w, f in d.frame.groupby("wave"):
        r = t[(t["wave"] == w) & (t["measure"] == "response_rate")].iloc[0]
        k = int(f["responded"].sum())
        assert (r["n"], r["n_events"]) == (len(f), k)
        assert_allclose([r["est"], r["ci_low"], r["ci_high"]],
                        [k / len(f), *wilson_ci(k, len(f), 0.95)], rtol=1e-12)
    entries = rr.wave_rate_entries(d, t)
    assert _names(entries) == ["response_rate.wave_1", "response_rate.wave_2",
                               "completion_rate.wave_1", "completion_rate.wave_2",
                               "response_rate.by_wave"]
    assert [e.options.get("headline") for e in entries[:4]] == [False, True, False, False]
    assert isinstance(entries[-1].value, pd.DataFrame)
    assert entries[-1].options == {"min_cell_size": 3}


def test_small_waves_are_suppressed_in_pairs():
    d = design(min_cell=3, per_account=10)
    d.min_cell = 81  # both waves hold 80 invitations
    t = rr.rates_by_wave(d)
    assert t["suppressed"].all() and t["est"].isna().all()
    assert [e.name for e in rr.wave_rate_entries(d, t)] == ["response_rate.by_wave"]
    assert "– (95% CI – to –)" in rr.wave_rates_sentence(d, t)


def test_wave_sentence_and_table(d):
    t = rr.rates_by_wave(d)
    now = rr.headline_rate(d, t)
    assert now["n"] == 80 and now["n_events"] == 53
    text = rr.wave_rates_sentence(d, t)
    assert text.startswith("In 2022, 66.2% (95% CI 55.4% to 75.7%) of 80 invited contacts "
                           "responded and 66.2% (95% CI 55.4% to 75.7%) returned a completed "
                           "questionnaire.")
    assert text.endswith("Across waves response went from 57.5% (2021, n = 80) to 66.2% (2022, "
                         "n = 80); lowest 57.5% in 2021, highest 66.2% in 2022.")
    one = design(waves=(1,))
    assert "Across waves" not in rr.wave_rates_sentence(one, rr.rates_by_wave(one))
    tab = rr.wave_rates_table(d, t)
    assert list(tab.columns) == ["wave label", "measure", "estimate", "95% CI", "n", "n_events"]
    assert tab.iloc[1][["wave label", "estimate", "95% CI"]].tolist() == \
        ["2022", "66.2%", "55.4% to 75.7%"]


def test_group_rates_spread_and_role_by_wave(d):
    by_role = rr.group_rates(d, d.fw, "role")
    shown = by_role[by_role["measure"] == "response_rate"].set_index("role")
    assert_allclose(shown["est"], d.fw.groupby("role")["responded"].mean().loc[shown.index])
    assert rr.spread_sentence(d, by_role, "role", "roles") == (
        "Across 3 roles, response ranged from 58.3% (95% CI 38.8% to 75.5%) (administrative, "
        "n = 24 invited) to 75.0% (95% CI 57.9% to 86.7%) (key decision maker, n = 32).")
    one = by_role[by_role["role"] == "operational"]
    assert rr.spread_sentence(d, one, "role", "roles") == \
        "Fewer than two roles with at least 3 invited contacts: no comparison."
    rw = rr.role_wave_rates(d)
    assert set(rw["wave"]) == {"2021", "2022"} and len(rw) == 2 * 3  # response rate only


def test_manager_names_shared_with_confidential_respondents_are_withheld(d):
    t = rr.manager_rates(d, {"AM 1", "Somebody else"})
    assert set(t["account_manager"]) == {"AM 0", "AM 2", "manager 1 (name withheld)"}
    assert rr.manager_rates(design(waves=(1,)), set())["n"].sum() == 2 * 80  # two measures
    no_column = design()
    no_column.fw = no_column.fw.drop(columns="account_manager")
    assert rr.manager_rates(no_column, set()) is None


def test_account_spread(d):
    spread = rr.account_spread(d)
    rates = d.fw.groupby("account_id")["responded"].mean()
    assert_allclose(spread.quantiles.loc[0.5], rates.median())
    assert _names(spread.entries) == ["account_response_rate.median", "account_response_rate.p25",
                                      "account_response_rate.p75"]
    assert spread.entries[0].options["n_accounts"] == 8
    assert "Of 8 accounts invited in 2022, 8 had at least 3 invited contacts" in spread.sentence
    few = design(min_cell=3, n_accounts=8)
    few.min_cell = 9  # 8 accounts of 10 contacts: fewer than 9 accounts can be shown
    assert rr.account_spread(few).sentence == (
        "Fewer than 9 accounts have 9 or more invited contacts (8 of 8): no account "
        "distribution is shown.")
    assert rr.account_spread(few).entries == []


# ----------------------------------------------------------------------------- 2. association
def test_rate_score_association_and_its_finding(d):
    fits = rr.rate_score_associations(d)
    assert fits.notes == [] and list(fits.tables) == ["crq_index", "nps"]
    entries = rr.association_entries(d, fits)
    assert _names(entries) == ["rate_score.crq_index.slope", "rate_score.crq_index.weighted_r",
                               "rate_score.nps.slope", "rate_score.nps.weighted_r"]
    assert entries[0].options["n_accounts"] == 8 and entries[0].options["n"] == 53
    pts = rr.account_points(d, "crq_index")
    assert len(pts) == 8 and pts["n"].sum() == 53
    slope = fits.tables["crq_index"].set_index("term").loc["slope"]
    text = rr.association_finding(d, "crq_index", fits.tables["crq_index"]).rest
    assert f"scores {slope['est'] / 10:+.3f} (95% CI {slope['ci_low'] / 10:+.3f}" in text


def test_association_verdicts():
    d = design()
    table = pd.DataFrame({"term": ["slope", "weighted_r"], "est": [2.0, 0.5],
                          "ci_low": [1.0, 0.2], "ci_high": [3.0, 0.7], "p_value": [0.01, 0.01],
                          "n": [40, 40], "n_accounts": [8, 8]})
    f = rr.association_finding(d, "crq_index", table)
    assert f.lead == "CRQ index"
    assert f.rest == ("(2022, 8 accounts, n = 40 respondents): an account whose response rate is "
                      "10 points higher scores +0.200 (95% CI +0.100 to +0.300) (p = 0.010); "
                      "weighted correlation r = +0.50 (95% CI +0.20 to +0.70) - accounts that "
                      "answer more score higher.")
    lower = table.assign(est=-table["est"], ci_low=-table["ci_high"], ci_high=-table["ci_low"])
    assert rr.association_finding(d, "crq_index", lower).rest.endswith("score lower.")


def test_association_needs_four_accounts():
    d = design(n_accounts=3)
    fits = rr.rate_score_associations(d)
    assert fits.tables == {} and len(fits.notes) == 2
    assert fits.notes[0].startswith("CRQ index: account-level association not estimated (")
    assert "n_accounts=3" in fits.notes[0]


# ----------------------------------------------------------------------------- 3. lateness
def test_lateness_column_prefers_the_parameter_then_falls_back(d):
    assert rr.lateness_column(d, "reminders") == "reminders"
    assert rr.lateness_column(d, "days_to_respond") == "days_to_respond"
    e = design()
    e.fw = e.fw.drop(columns="reminders")
    assert rr.lateness_column(e, "reminders") == "days_to_respond"
    e.fw = e.fw.assign(days_to_respond=4.0)  # one value: cannot tell early from late
    assert rr.lateness_column(e, "reminders") is None
    assert rr.armstrong_overton(e, None) == rr.Lateness(None)


def test_armstrong_overton(d, ao):
    assert ao.by == "reminders" and ao.notes == [] and list(ao.trend) == ["crq_index", "nps"]
    ex = ao.trend["crq_index"].set_index("quantity").loc["nonrespondent_extrapolated"]
    assert ex["x"] == 3  # negative nonrespondent_at: one step past the latest (2 reminders)
    at5 = rr.armstrong_overton(d, "reminders", 5.0).trend["crq_index"]
    assert at5.set_index("quantity").loc["nonrespondent_extrapolated", "x"] == 5
    entries = rr.lateness_entries(d, ao)
    # the extrapolation is about non-respondents only: no whole-frame value is recorded
    assert _names(entries)[:4] == ["ao.crq_index.late_minus_early", "ao.crq_index.slope",
                                   "ao.crq_index.nonrespondent_extrapolated",
                                   "ao.nps.late_minus_early"]
    assert entries[0].options["headline"] and not entries[3].options["headline"]
    assert entries[1].options["note"] is None and "assumption" in entries[2].options["note"]
    assert entries[-1].name == "ao.summary"
    table = entries[-1].value
    assert len(table) == 2 * 5  # early, late, difference, slope, extrapolated non-respondents
    assert "adjusted_total" not in set(table["quantity"])
    assert list(rr.lateness_text(d, table).columns)[2:4] == ["estimate", "95% CI"]


def test_lateness_finding_reads_the_tables(d, ao):
    f = rr.lateness_finding(d, ao, "crq_index")
    el = ao.early["crq_index"].set_index("quantity")
    late_n, early_n = int(el.loc["late", "n"]), int(el.loc["early", "n"])
    assert f.lead == "CRQ index"
    assert f.rest.startswith(f"(2022): respondents at reminders 2 (n = {late_n}) scored ")
    assert f"those at 0 (n = {early_n}): " in f.rest
    assert "Per extra reminder" in f.rest and "placed at reminders 3 - an assumption" in f.rest
    assert "whole frame" not in f.rest  # the extrapolation says nothing about everyone invited
    diff = el.loc["late_minus_early"]
    words = ("not clearly different from" if diff["ci_low"] <= 0 <= diff["ci_high"] else
             "higher than" if diff["ci_low"] > 0 else "lower than")
    assert f"scored {words} those at 0" in f.rest


def test_lateness_fails_softly_in_one_account():
    d = design(n_accounts=1, per_account=30)
    ao = rr.armstrong_overton(d, "reminders")
    assert ao.trend == {} and len(ao.notes) == 2
    assert ao.notes[0].startswith("CRQ index: early/late comparison not estimated (")
    assert rr.lateness_table(d, ao) is None and _names(rr.lateness_entries(d, ao)) == []


def test_lateness_groups(d):
    g = rr.lateness_groups(d, "reminders", "crq_index")
    answered = d.fw[d.fw["responded"]].merge(d.scores, on=["wave", "contact_id"])
    assert g["x"].tolist() == [0.0, 1.0, 2.0]
    assert g["n"].tolist() == answered.groupby("reminders").size().tolist()
    assert_allclose(g["est"], answered.groupby("reminders")["crq_index"].mean())
    # days take many values: fifths of the respondents
    days = rr.lateness_groups(d, "days_to_respond", "crq_index")
    assert len(days) == 5 and days["n"].sum() == d.n_responded
    d2 = design()
    d2.min_cell = 18  # groups of 16, 18, 19: the 16 is suppressed, and one more to protect it
    g2 = rr.lateness_groups(d2, "reminders", "crq_index")
    assert g2["suppressed"].tolist() == [True, True, False]


def test_wave_slopes(d):
    slopes = rr.wave_slopes(d, "reminders")
    assert slopes[["wave", "score"]].values.tolist() == [
        ["2021", "CRQ index"], ["2021", "NPS"], ["2022", "CRQ index"], ["2022", "NPS"]]
    assert_allclose(slopes["n"], [46, 46, 53, 53])
    assert rr.slopes_text(d, slopes)["p_value"].str.match(r"^0\.\d{3}$").all()
    one = design(waves=(1,))
    assert rr.wave_slopes(one, "reminders") is None  # a single wave: nothing to compare


# ----------------------------------------------------------------------------- 4. weighting
def test_response_model_prepares_the_frame_and_says_what_it_did(d, model):
    assert model.covariates == ["role", "tenure_years_known", "tenure_years", "size",
                                "prev_crq_index", "prev_crq_index_known"]
    assert model.notes == ["not in this study's frame: absent",
                           "tenure_years unknown for 8 contacts (mean-filled, flagged)",
                           "previous-wave CRQ index known for 46 of 80 contacts"]
    assert model.frame["tenure_years"].notna().all()
    assert_allclose(model.frame["tenure_years"].mean(), d.fw["tenure_years"].mean())
    assert model.notes_text.startswith(". Notes: not in this study's frame: absent; ")
    assert model.weights.index.equals(d.fw.index[d.fw["responded"]])
    assert_allclose(model.weights.sum(), d.n_invited)  # weights add up to the frame


def test_response_model_first_wave_constants_and_no_model():
    d = design(waves=(1,))
    m = rr.response_model(d, ["role", "size"], n_boot=20)
    assert m.notes == ["no previous wave, so no previous score"] and m.adjusted is not None
    d.fw = d.fw.assign(size="large")
    m = rr.response_model(d, ["size"], use_previous_score=False)
    assert m.covariates == [] and m.adjusted is None and m.weights is None
    assert m.notes == ["left out as constant in this wave: size"]
    assert rr.ResponseModel(d.fw, [], []).notes_text == "."


def test_trim_one_means_no_cap(d):
    a = rr.response_model(d, ["role", "size"], trim=1.0, use_previous_score=False).weights
    b = rr.response_model(d, ["role", "size"], trim=None, use_previous_score=False).weights
    c = rr.response_model(d, ["role", "size"], trim=0.5, use_previous_score=False).weights
    assert a.equals(b) and c.max() / c.min() < a.max() / a.min()


def test_weighted_estimates(d, model):
    w = rr.weighted_estimates(d, model)
    assert w.notes == []
    assert _names(w.entries) == ["crq_index_raked", "nps_raked", "crq_index_unweighted",
                                 "crq_index_weighted", "nps_unweighted", "nps_weighted",
                                 "weighting.estimates"]
    assert [e.options.get("headline", False) for e in w.entries[2:6]] == [False, True] * 2
    assert w.entries[0].value["n"] == 53 and isinstance(w.entries[0].value["n"], int)
    assert w.table["method"].tolist()[-1] == "raked to frame counts of role, size"
    unweighted = model.row("crq_index", "unweighted")
    assert_allclose(unweighted["est"], d.scores.loc[d.scores["wave"] == 2, "crq_index"].mean())
    f = rr.weighted_finding(d, model, "crq_index")
    moved = model.row("crq_index", "propensity")["est"] - unweighted["est"]
    assert f.lead == "CRQ index" and f.rest.startswith(", 2022: weighted to the frame ")
    assert f.rest.endswith(f"Weighting moves it by {moved:+.2f} points.")
    assert list(rr.weighted_text(d, w.table).columns)[:4] == ["score", "method", "estimate",
                                                               "95% CI"]


def test_weight_diagnostics(d, model):
    diag = rr.weight_diagnostics(d, model)
    ws = diag.summary
    # Kish: deff = n sum(w^2) / sum(w)^2 and n_eff = n / deff
    w = model.weights.to_numpy()
    assert_allclose(ws["deff_kish"], len(w) * (w**2).sum() / w.sum() ** 2, rtol=1e-12)
    assert_allclose(ws["deff_kish"] * ws["n_eff"], len(w), rtol=1e-12)
    assert _names(diag.entries) == ["weights.deff_kish", "weights.n_eff", "weights.max_min_ratio",
                                    "weights.max_asmd_before", "weights.max_asmd_after",
                                    "weights.balance"]
    assert not diag.balance["suppressed"].any()
    text = rr.diagnostics_sentence(diag)
    assert text.startswith(f"The 53 weights range from {w.min():.2f} to {w.max():.2f}")
    d2 = design()
    d2.min_cell = 20  # administrative: 14 respondents, operational 15 - their shares are hidden
    bal = rr.weight_diagnostics(d2, model).balance.set_index("variable")
    assert bal.loc[["role=administrative", "role=operational"], "suppressed"].all()
    assert bal.loc["role=administrative"].drop("suppressed").isna().all()
    assert not bal.loc["role=key decision maker", "suppressed"]


# ----------------------------------------------------------------------------- 5. sensitivity
def test_sensitivity_is_scaled_to_the_data(d, model, ao):
    sens = rr.sensitivity(d, model, trim=1.0)
    res = sens.results["crq_index"]
    base = model.row("crq_index", "propensity")
    b, g = res.bounds, res.grid
    assert b["base"] == "propensity"
    assert_allclose(b["est"], base["est"], rtol=1e-12)
    # delta runs over every value the observed answers allow: no fixed grid
    crq = d.scores.loc[d.scores["wave"] == d.wave, "crq_index"].dropna()
    assert_allclose([b["delta_min"], b["delta_max"]],
                    [crq.min() - base["est"], crq.max() - base["est"]], rtol=1e-12)
    assert_allclose(g["est"], base["est"] + (1 - d.response_rate) * g["delta"], rtol=1e-12)
    assert_allclose([b["frame_min"], b["frame_max"]],
                    [d.response_rate * base["est"] + (1 - d.response_rate) * crq.min(),
                     d.response_rate * base["est"] + (1 - d.response_rate) * crq.max()],
                    rtol=1e-12)
    # conclusions: the NPS against 0, both scores against the previous wave's respondents
    prev = d.scores.loc[d.scores["wave"] == 1, "crq_index"].mean()
    assert rr.conclusions(d, "crq_index") == {f"the 2021 respondents' {prev:.2f}": prev}
    assert list(rr.conclusions(d, "nps"))[0] == "0 (as many detractors as promoters)"
    assert rr.conclusions(design(waves=(1,)), "crq_index") == {}
    tip = res.tipping.set_index("conclusion")
    assert "the headline stays within its reported interval" in tip.index
    assert [e.name for e in sens.entries][:4] == ["mnar.crq_index.frame_min",
                                                  "mnar.crq_index.frame_max", "delta.crq_index",
                                                  "tipping.crq_index"]
    f = rr.sensitivity_finding(d, "crq_index", res, ao)
    assert f.rest.startswith("(2022, response 66.2%, base: the propensity-weighted estimate ")
    assert "whatever they think the whole frame lies between" in f.rest
    assert "unless non-respondents scored more than" in f.rest
    assert "extrapolation of late respondents' trend (section 3) corresponds to delta = " in f.rest
    text = rr.tipping_text(d, "crq_index", res)
    assert list(text.columns) == ["score", "conclusion", "holds from delta", "to delta",
                                  "overturned within the data's range"]


def test_sensitivity_without_model_uses_the_respondent_mean():
    d = design(nps_score="nps_mean")
    no_model = rr.ResponseModel(d.fw, [], [])
    sens = rr.sensitivity(d, no_model)
    b = sens.results["nps_mean"].bounds
    assert b["base"] == "respondents"
    mean = d.scores.loc[d.scores["wave"] == 2, "nps_mean"].mean()
    assert_allclose(b["est"], mean, rtol=1e-12)
    f = rr.sensitivity_finding(d, "nps_mean", sens.results["nps_mean"], rr.Lateness(None))
    assert "respondent estimate" in f.rest and "late respondents" not in f.rest


def test_tipping_sentence_says_whether_the_data_reach_it(d):
    row = pd.Series({"conclusion": "the headline is above 5", "threshold": 5.0, "holds": True,
                     "delta_low": -2.0, "delta_high": np.nan, "overturned_in_range": False})
    text = rr._tipping_sentence(d, "crq_index", row)
    assert text == ("The headline is above 5 unless non-respondents scored more than 2.00 points "
                    "below comparable respondents (delta -2.00): more than the observed range of "
                    "answers allows, so it holds whatever non-respondents think.")
    inside = rr._tipping_sentence(d, "crq_index", {**row, "overturned_in_range": True})
    assert inside.endswith("a difference inside the range the data allow.")


# ----------------------------------------------------------------------------- caveats, findings
def test_caveats_only_when_the_data_show_a_problem(d, model, ao):
    cav = rr.caveats(d, model, ao.by, label=str.upper)
    t = cav.table.set_index(["check", "variable"])
    late = t.loc[("late_respondents", "reminders")]
    frame = t.loc["frame"]
    assert len(cav.sentences) == int(late["triggered"]) + int(frame["triggered"].any())
    if not late["triggered"]:
        assert "late respondents score like early ones" in cav.clean
    if frame["triggered"].any():
        assert any(s.startswith("Respondents differ from everyone invited on ") for s in
                   cav.sentences)
    # frame variables named through the label the notebook passes (the glossary's)
    assert "ROLE" in " ".join(cav.lines) and "role" not in " ".join(cav.lines).replace("ROLE", "")
    assert [e.name for e in cav.entries] == ["nonresponse_caveats"]


def test_caveats_trigger_on_a_late_difference_and_stay_quiet_otherwise(d, model):
    scores = d.scores.copy()
    fw = d.fw
    late = fw.loc[fw["responded"] & (fw["reminders"] >= 1), ["wave", "contact_id"]]
    key = scores.set_index(["wave", "contact_id"]).index
    shift = key.isin(pd.MultiIndex.from_frame(late))
    scores.loc[shift, "crq_index"] = scores.loc[shift, "crq_index"] - 1.5
    d2 = rr.Design(d.frame, scores, d.wave, d.labels, d.crq, d.nps, d.min_cell, d.ci)
    cav = rr.caveats(d2, model, "reminders")
    assert cav.sentences[0].startswith("Late respondents score lower than early ones on the "
                                       "CRQ index (")
    none = rr.caveats(d, rr.ResponseModel(d.fw, [], []), None)
    assert none.sentences == [] and none.clean == ""  # nothing checked: nothing said


def test_key_findings_are_accepted_by_the_recorder(d, model, ao):
    by_wave = rr.rates_by_wave(d)
    sens = rr.sensitivity(d, model)
    cav = rr.caveats(d, model, ao.by)
    found = rr.key_findings(d, rr.headline_rate(d, by_wave), ao, model, sens, cav)
    questions = [f.question for f in found]
    assert questions[:2] == [rr.Q_RESPONSE, rr.Q_RESPONSE]
    assert questions.count(rr.Q_WEIGHTED) == 2 and questions.count(rr.Q_MNAR) >= 2
    rec = Recorder(min_cell_size=3)
    for f in found:
        rec.finding(f.question, f.text, **f.options)  # no machine-room text, evidence complete
    doc = rec.as_dict()["findings"]
    assert doc[0]["est"] == pytest.approx(53 / 80) and doc[0]["n"] == 80
    late = found[1]
    diff = ao.early["crq_index"].set_index("quantity").loc["late_minus_early"]
    if diff["ci_low"] <= 0 <= diff["ci_high"]:
        assert "did not score clearly differently from" in late.text
        assert "lower than" not in late.text


# ----------------------------------------------------------------------------- 6. precision
def test_precision(d):
    prec = rr.precision(d)
    assert prec.notes == [] and all(v >= 1 for v in prec.deff.values())
    assert _names(prec.entries) == [
        "precision.crq_index.deff_cluster", "precision.nps.deff_cluster",
        "precision.by_response_rate", "precision.crq_index.moe_rr_45",
        "precision.crq_index.moe_rr_85", "precision.nps.moe_rr_45", "precision.nps.moe_rr_85"]
    crq = prec.table[prec.table["score"] == "crq_index"]
    assert crq["moe"].is_monotonic_decreasing and crq["n"].tolist()[0] == 36  # 45% of 80
    sd = d.scores.loc[d.scores["wave"] == 2, "crq_index"].std()
    r = crq.iloc[0]  # se = sqrt(deff * sd^2 * (1 - n/N) / n), z = 1.96
    assert_allclose(r["moe"], 1.959964 * np.sqrt(prec.deff["crq_index"] * sd**2 * (1 - 36 / 80)
                                                 / 36), rtol=1e-6)
    f = rr.precision_findings(d, prec)[0]
    assert f.lead == "CRQ index" and f.rest.startswith(": with 80 invited")
    assert f"±{r['moe']:.2f} points at 45% response (n = 36)" in f.rest
    wide = rr.precision_table(d, prec)
    assert list(wide.columns) == ["response rate", "respondents", "margin of error, CRQ index",
                                  "margin of error, NPS"]
    assert wide["response rate"].tolist()[:2] == ["45%", "50%"]


def test_precision_of_a_single_respondent_is_not_computed():
    d = design(waves=(1,), n_accounts=1, per_account=2)
    d.scores = d.scores.iloc[:1]
    prec = rr.precision(d)
    assert prec.table is None and prec.deff == {}
    assert prec.notes[0].startswith("CRQ index: precision not computed (")


# ----------------------------------------------------------------------------- 7. change
def test_decomposition_adds_up(d, dec):
    assert dec.segments == ["role", "newly_included"] and dec.reason is None and dec.notes == []
    entries = rr.decomposition_entries(d, dec)
    v = {e.name: e.value for e in entries}
    for s in ("crq_index", "nps"):
        stem = f"change.{s}.wave_1_2"
        # Kitagawa: scores changed + who answered changed = the change in the mean, exactly
        assert_allclose(v[f"{stem}.within"]["est"] + v[f"{stem}.composition"]["est"],
                        v[f"{stem}.total"]["est"], rtol=1e-12)
    means = d.scores.groupby("wave")["crq_index"].mean()
    assert_allclose(v["change.crq_index.wave_1_2.total"]["est"], means[2] - means[1], rtol=1e-12)
    assert entries[-1].name == "change.decomposition" and "segment" not in entries[-1].value
    f = rr.decomposition_findings(d, dec)[0]
    assert f.lead == "CRQ index"
    assert f.rest.startswith(", 2021 to 2022 (n = 46 and 53 respondents)")
    assert f.rest.endswith("(segments: role, newly_included).")
    overall = dec.overall(d)
    assert rr.decomposition_table(d, overall)["component"].tolist()[:3] == \
        ["scores changed", "who answered changed", "total change"]


def test_segment_detail_suppresses_small_segments(d, dec):
    detail = rr.segment_detail(d, dec)
    assert len(detail) == 2 * 6 * 2  # two scores, six segments, two components
    d2 = design()
    d2.min_cell = 5  # segments of 3 or 4 respondents in a wave
    small = rr.segment_detail(d2, dec)
    hidden = small[small["estimate"] == "suppressed (< 5)"]
    assert set(hidden["segment"]) == {"administrative | True", "operational | True"}


def test_decomposition_cannot_run_and_says_why():
    one = design(waves=(1,))
    dec = rr.decompose_changes(one, ["role"])
    assert dec.reason == ("the study has a single wave (2021, n = 46 respondents), so there is "
                          "no change to decompose.")
    assert dec.results == {} and rr.decomposition_entries(one, dec) == []
    dec = rr.decompose_changes(design(), ["region"])
    assert dec.reason == "none of the segment columns ['region'] is in the data."


# ----------------------------------------------------------------------------- 8. context
def test_published_series(tmp_path):
    assert rr.published_series(tmp_path / "missing.csv") is None
    assert rr.series_file("").name == "deep_insight_series.csv"
    path = tmp_path / "series.csv"
    pd.DataFrame({"year": [2019, 2021, 2023], "year_approximate": [True, False, False],
                  "response_rate": [0.6, 0.55, 0.7], "rate_basis": ["completion rate"] * 2
                  + ["share of customers"], "crq": [5.5, np.nan, 5.8], "nps": [40, 35, 50],
                  "notes": ["", "frame changed", np.nan]}).to_csv(path, index=False)
    series = rr.published_series(path)
    assert series["year_shown"].tolist() == ["~2019", "2021", "2023"]
    assert rr.series_sentence(series) == (
        "The series has 3 assessments: 3 with a response rate, 3 with an NPS and 2 with a CRQ "
        "score; only 3 have both a response rate and an NPS, and one of those (2023) counts "
        "customers rather than contacts.")
    t = rr.series_table(series)
    assert t.iloc[0].tolist() == ["~2019", "60%", "completion rate", "5.5", "+40", ""]
    assert t.iloc[1]["crq"] == "" and t.iloc[2]["notes"] == ""


# ----------------------------------------------------------------------------- summary
def test_summary_lists_every_finding(d, model, ao, dec):
    by_wave = rr.rates_by_wave(d)
    lines = rr.summary(d, rr.headline_rate(d, by_wave), rr.rate_score_associations(d), ao, model,
                       dec)
    assert [getattr(f, "lead", "") for f in lines] == [
        "Response", "Accounts that answer more", "Accounts that answer more",
        "Late minus early respondents", "Late minus early respondents",
        "CRQ index weighted to the frame", "NPS weighted to the frame",
        "CRQ index change 2021 to 2022"]
    assert str(lines[0]) == "Response, 2022: 66.2% (95% CI 55.4% to 75.7%) of 80 invited contacts."
    cav = rr.Caveats(None, ["A caveat the data triggered."], "", [])
    with_caveat = rr.summary(d, rr.headline_rate(d, by_wave), rr.Fits(), rr.Lateness(None),
                             rr.ResponseModel(d.fw, [], []), rr.Decomposition([]), cav)
    assert with_caveat[1:] == ["A caveat the data triggered."]  # no fixed caveat text
    bare = rr.summary(d, rr.headline_rate(d, by_wave), rr.Fits(), rr.Lateness(None),
                      rr.ResponseModel(d.fw, [], []), rr.Decomposition([]))
    assert [getattr(f, "lead", "") for f in bare] == ["Response"]


def test_frames_are_what_the_tests_assume():
    frame, scores = frames()
    assert len(frame) == 160 and frame["responded"].sum() == len(scores) == 99
