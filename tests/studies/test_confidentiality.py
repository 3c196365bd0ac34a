"""The study logic of notebook 20 (crqlab.studies.confidentiality) on small hand-made studies.

Three studies, each written as CSV and loaded once per module:

- ``panel``: 10 accounts, 80 contacts invited in two waves; wave 1 offers optional
  confidentiality (every third respondent chooses it), wave 2 none. Confidential respondents
  answer 1.5 points lower on the 0-10 question in wave 1 and rise by 1 point more than the others
  in wave 2 (once named), and drop out more often (45% against 20%); both designs run.
- ``mini``: the hand-made fixture ``tests/fixtures/mini_study`` - the cross-section runs, the
  panel has only 4 previously confidential completers (fewer than the minimum cell size 5).
- ``unknown``: one wave whose study.yaml declares no regime and no choices are recorded.

Expected values are computed here from the frames written to the study files, never copied
from a run.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_study
from numpy.testing import assert_allclose

from crqlab.data.instruments import load_instrument
from crqlab.data.study import load_study
from crqlab.measures.nps import nps
from crqlab.models import bias
from crqlab.reports.results import Recorder
from crqlab.studies import confidentiality as cf

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
N_BOOT = 50  # bootstrap resamples: enough for the intervals to exist, cheap


def _panel_frames(n_contacts: int = 80, n_accounts: int = 10, seed: int = 3):
    """Wave 1 (optional confidentiality) and wave 2 (none) of the same contacts."""
    rng = np.random.default_rng(seed)
    items = load_instrument("crq").items
    contacts, responses = [], []
    for w in (1, 2):
        for i in range(n_contacts):
            conf = i % 3 == 0
            # confidential respondents drop out of wave 2 more often (45% against 20%)
            responded = i < 72 and (w == 1 or rng.random() > (0.45 if conf else 0.2))
            contacts.append({"wave": w, "contact_id": f"C{i:03d}",
                             "account_id": f"A{i % n_accounts}",
                             "role": ["operational", "key decision maker"][i % 2],
                             "responded": responded, "newly_included": i % 4 == 0,
                             "confidential": (conf and w == 1) if responded else None,
                             "contact_name": f"Person Number{i}",
                             "contact_email": f"p{i}@example.com"})
            if responded:
                answer = 6 + i % 5 - (1.5 if conf else 0) + (w - 1) * (
                    (1 if conf else 0) + rng.integers(-1, 2))  # wave 2: +1 once named, noise
                row = {"wave": w, "contact_id": f"C{i:03d}",
                       "nps": int(np.clip(round(answer), 0, 10)),
                       "strengths": f"Person Number{i} was helpful" if conf else "fine"}
                row |= {it: int(rng.integers(3, 8)) for it in items}
                responses.append(row)
    accounts = pd.DataFrame({"account_id": [f"A{a}" for a in range(n_accounts)],
                             "account_name": [f"Account {a}" for a in range(n_accounts)]})
    return pd.DataFrame(contacts), pd.DataFrame(responses), accounts


@pytest.fixture(scope="module")
def panel_study(tmp_path_factory):
    contacts, responses, accounts = _panel_frames()
    folder = write_study(tmp_path_factory.mktemp("conf") / "panel", contacts, responses, accounts,
                         config={"waves": {1: {"label": "2022", "confidentiality": "optional"},
                                           2: {"label": "2023", "confidentiality": "none"}}})
    return load_study(folder, cache=False), contacts, responses


@pytest.fixture(scope="module")
def panel(panel_study):
    return cf.prepare(panel_study[0])


@pytest.fixture(scope="module")
def mini():
    return cf.prepare(load_study(FIXTURE, cache=False))


@pytest.fixture(scope="module")
def unknown(tmp_path_factory):
    contacts, responses, accounts = _panel_frames(n_contacts=20)
    contacts = contacts[contacts["wave"] == 1].drop(columns="confidential")
    responses = responses[responses["wave"] == 1]
    folder = write_study(tmp_path_factory.mktemp("conf") / "unknown", contacts, responses,
                         accounts, config={"waves": {1: {"label": "2022"}}})
    return cf.prepare(load_study(folder, cache=False))


def _mini_panel() -> dict[str, int]:
    """Wave-1 respondents of the fixture invited again in wave 2, and completers by choice."""
    resp = pd.read_csv(FIXTURE / "responses.csv", dtype={"contact_id": str})
    contacts = pd.read_csv(FIXTURE / "contacts.csv", dtype={"contact_id": str})
    w1 = resp[resp["wave"] == 1]
    w1 = w1[w1["contact_id"].isin(contacts.loc[contacts["wave"] == 2, "contact_id"])]
    done = w1["contact_id"].isin(resp.loc[resp["wave"] == 2, "contact_id"])
    conf = w1["confidential"].astype(str).str.lower().eq("true")
    return {"n": len(w1), "confidential": int((done & conf).sum()),
            "named": int((done & ~conf).sum())}


def _names(records) -> list[str]:
    return [r.name for r in records]


def _value(records, name):
    return next(r.value for r in records if r.name == name)


# --------------------------------------------------------------------------- set-up
def test_nps_points_average_to_the_nps():
    answers = pd.Series([10, 9, 8, 7, 6, 0, None, 3], dtype="Float64")
    points = cf.nps_points(answers)
    assert points.tolist()[:6] == [100.0, 100.0, 0.0, 0.0, -100.0, -100.0]
    assert np.isnan(points.iloc[6])
    assert_allclose(points.mean(), nps(answers.dropna().astype(float))["est"].iloc[0],
                    rtol=1e-12)


def test_prepare_scores_and_keeps_the_study_minimum(panel_study):
    study = panel_study[0]
    s = cf.prepare(study, min_cell_size=0, ci=0.9)
    assert s.min_cell == study.min_cell_size == 5 and s.pct == "90%"
    assert cf.prepare(study, min_cell_size=8).min_cell == 8
    assert {"nps_points", "crq_index", *s.elements} <= set(s.scored.columns)
    assert s.index_scores == ["crq_index"]
    assert s.units["nps"] == "points, -100 to +100" and s.units["trust"] == "1-7 scale"
    assert s.labels["nps_mean"] == "Mean 0-10 answer"
    assert s.wave_name(2) == "wave 2 (2023)"
    assert (s.count(0), s.count(3), s.count(1234)) == ("0", "fewer than 5", "1,234")
    assert s.significant(0.01) and not s.significant(0.2) and not s.significant(np.nan)
    row = pd.Series({"est": -0.16, "ci_low": -0.37, "ci_high": 0.05})
    assert s.prose(row, 2, True, p=0.1375) == "-0.16 (90% CI -0.37 to +0.05; p = 0.138)"
    assert s.prose(next(row.to_frame().T.itertuples()), 1, scale=100, unit="%") == \
        "-16.0% (90% CI -37.0 to 5.0)"


def test_sentence():
    assert cf.sentence("in wave 1 ...") == "In wave 1 ..." and cf.sentence("") == ""


# --------------------------------------------------------------------------- design
def test_wave_regimes_declared_and_inferred(panel, unknown, panel_study):
    waves = cf.wave_regimes(panel)
    responses = panel_study[2]
    conf1 = panel.scored.loc[panel.scored["wave"] == 1, "confidential"].astype(bool)
    assert waves.loc[1, ["offered", "source"]].tolist() == ["optional", "study.yaml"]
    assert waves.loc[1, "n"] == (responses["wave"] == 1).sum()
    assert (waves.loc[1, "n_confidential"], waves.loc[1, "n_named"]) == \
        (conf1.sum(), (~conf1).sum())
    assert waves.loc[2, "offered"] == "none" and waves.loc[2, "n_confidential"] == 0
    u = cf.wave_regimes(unknown)
    assert u.loc[1, ["offered", "source", "n_flagged"]].tolist() == \
        ["none", "inferred from the data", 0]


def _waves(**row) -> pd.DataFrame:
    base = {"label": "2022", "offered": "optional", "source": "study.yaml", "n": 40,
            "n_flagged": 40, "n_confidential": 10, "n_named": 30}
    return pd.DataFrame([base | row], index=pd.Index([1], name="wave"))


@pytest.mark.parametrize("row, words", [
    ({"offered": "none"}, "wave 1 (2022) did not offer confidentiality (n = 40 respondents)"),
    ({"offered": "all"}, "every respondent was confidential by design (n = 40)"),
    ({"n_flagged": 0, "n_confidential": 0, "n_named": 0}, "the data record no choice"),
    ({"n_confidential": 40, "n_named": 0}, "every respondent chose confidentiality (n = 40)"),
    ({"n_confidential": 3, "n_named": 37},
     ("fewer than 5 respondents chose confidentiality and 37 waived it (n = 40): each group "
     "needs at least 5")),
])
def test_cross_section_problem_says_why_with_the_n(panel, row, words):
    assert words in cf.cross_section_problem(panel, _waves(**row), 1)


def test_cross_section_problem_none_when_it_can_run(panel):
    assert cf.cross_section_problem(panel, _waves(), 1) is None


def test_panel_counts_match_the_frames(panel, panel_study):
    _, contacts, responses = panel_study
    c = cf.panel_counts(panel, 1, 2)
    w1 = contacts[(contacts["wave"] == 1) & contacts["responded"]]
    invited = set(contacts.loc[contacts["wave"] == 2, "contact_id"])
    done = set(responses.loc[responses["wave"] == 2, "contact_id"])
    members = w1[w1["contact_id"].isin(invited)]
    conf = members["confidential"].astype(bool)
    assert c["n"] == len(members) and c["n_confidential"] == conf.sum()
    assert c["completed_confidential"] == members.loc[conf, "contact_id"].isin(done).sum()
    assert c["completed_named"] == members.loc[~conf, "contact_id"].isin(done).sum()


def test_panel_problem_branches(panel, mini):
    waves = cf.wave_regimes(panel)
    assert cf.panel_problem(panel, waves, 1) is None
    assert "wave 2 (2023) did not offer confidentiality" in cf.panel_problem(panel, waves, 2)
    last = waves.assign(offered=["optional", "optional"], n_named=[48, 40], n_confidential=[24, 5])
    assert "wave 2 (2023) is the last wave" in cf.panel_problem(panel, last, 2)
    assert ("the wave after wave 1 (2022), wave 2 (2023), does not remove confidentiality "
            "(it is 'optional')") == cf.panel_problem(panel, last, 1)
    # the fixture: fewer previously confidential completers than the minimum cell size 5
    c = _mini_panel()
    assert c["confidential"] < 5 <= c["named"]
    assert (f"fewer than 5 previously confidential and {c['named']} named respondents "
            "completed it: each group needs at least 5") in \
        cf.panel_problem(mini, cf.wave_regimes(mini), 1)


def test_choose_design_runs_both_on_the_panel_study(panel):
    d = cf.choose_design(panel)
    c = cf.panel_counts(panel, 1, 2)
    assert (d.cross_section_wave, d.panel_first_wave, d.panel_second_wave) == (1, 1, 2)
    assert d.cross_section_runs and d.panel_runs and not d.unknown_wave and d.findings == []
    assert d.cross_section_text.startswith(f"on wave 1 (2022), where {c['n_confidential']} of ")
    assert f"{c['n']} respondents of the first wave were invited again" in d.panel_text
    assert _names(d.records) == ["design.cross_sectional", "design.panel",
                                 "design.cross_sectional_wave", "design.panel_first_wave",
                                 "design.panel_second_wave", "min_cell_size"]
    assert [r.value for r in d.records] == [True, True, 1, 1, 2, 5]
    assert cf.choose_design(panel, wave=2).cross_section_wave is None


def test_choose_design_says_why_not(mini, unknown, panel):
    d = cf.choose_design(mini)
    assert d.cross_section_runs and not d.panel_runs
    assert d.panel_text.startswith(f"Of the {_mini_panel()['n']} wave 1 (2022) respondents "
                                   "invited again")
    assert d.panel_text.endswith("need such a pair of waves.")
    u = cf.choose_design(unknown)
    assert not u.cross_section_runs and not u.panel_runs
    n = len(unknown.scored)
    assert u.cross_section_text == ("Confidentiality was never offered in this study and the data "
                                    f"record no choice (n = {n:,} responses in 1 wave(s)).")
    assert u.findings == ["This study supports neither design, so nothing about "
                          "confidentiality can be estimated from it: " + u.cross_section_text]
    bad = cf.choose_design(panel, wave=9)
    assert bad.unknown_wave and bad.cross_section_text == "Wave 9 is not a wave of this study."


def test_wave_table_hides_small_counts(panel):
    waves = cf.wave_regimes(panel).copy()
    waves.loc[1, "n_confidential"] = 3
    t = cf.wave_table(panel, waves)
    assert t.loc[1, "chose confidentiality"] == "fewer than 5"
    assert t.loc[2, "chose confidentiality"] == "–" and t.loc[2, "waived it"] == "–"
    assert list(t.columns) == ["label", "confidentiality", "source", "respondents",
                               "chose confidentiality", "waived it"]


# --------------------------------------------------------------------------- who chooses
def test_cross_section_frame(panel):
    xw = cf.cross_section_frame(panel, 1)
    assert xw["confidential"].dtype == bool and (xw["wave"] == 1).all()
    assert len(xw) == (panel.scored["wave"] == 1).sum()


def test_share_segments_leave_out_identifiers_and_withhold_private_levels():
    xw = pd.DataFrame({"role": ["a", "b"] * 5, "account_manager": ["Jane Doe", "Bob"] * 5,
                       "region": ["x"] * 10, "account_id": ["A1", "A2"] * 5,
                       "tenure": [str(i) for i in range(10)]})
    segments, withheld = cf.share_segments(
        xw, ["role", "account_manager", "region", "account_id", "tenure", "missing"], {"Jane Doe"})
    # region has one level, account_id identifies, tenure has 10 levels (<= 30: kept)
    assert segments == ["role", "tenure"] and withheld == ["account_manager"]
    many = pd.DataFrame({"x": [str(i) for i in range(31)]})
    assert cf.share_segments(many, ["x"], set()) == ([], [])


def test_who_chooses(panel):
    xw = cf.cross_section_frame(panel, 1)
    who = cf.who_chooses(panel, xw, 1)
    assert_allclose(who.share.iloc[0]["est"], xw["confidential"].mean(), rtol=1e-12)
    new = xw["newly_included"].astype(bool)
    gap = _value(who.records, "share_confidential.newly_included_difference")
    assert_allclose(gap["est"], xw.loc[new, "confidential"].mean()
                    - xw.loc[~new, "confidential"].mean(), rtol=1e-12)
    assert _names(who.records) == [
        "share_confidential", "share_confidential.by_segment",
        "share_confidential.newly_included_difference", "share_confidential.accounts_with_any",
        "share_confidential.account_median"]
    assert who.records[1].table and who.records[1].options == {"min_cell_size": 5}
    assert who.text.startswith(f"In wave 1 (2022), {100 * xw['confidential'].mean():.1f}% (95% CI")
    assert "Among newly included contacts" in who.text
    assert who.findings[0].startswith(f"{100 * xw['confidential'].mean():.0f}% of respondents")
    assert [k.question for k in who.key] == [cf.Q_WHO, cf.Q_WHO]
    assert who.key[0].options["quantity"] == "share_confidential"
    words = ("more often than" if gap["ci_low"] > 0 else "less often than" if gap["ci_high"] < 0
             else "about as often as")
    assert f"chose it {words} the others" in who.key[1].text
    rec = Recorder()
    for k in who.key:
        rec.finding(k.question, k.text, **k.options)
    assert set(who.bars["group"]) >= {"all respondents", "role: operational"}
    assert who.accounts_shown and (who.accounts["size"] >= 5).all()
    assert_allclose(who.accounts["share"], who.accounts["sum"] / who.accounts["size"])


def test_who_chooses_small_groups_are_said(panel):
    s = cf.prepare(panel.study, min_cell_size=30)
    xw = cf.cross_section_frame(s, 1)
    who = cf.who_chooses(s, xw, 1)
    assert "cannot be compared with the others: one group has fewer than 30" in who.text
    assert "share_confidential.newly_included_difference" not in _names(who.records)
    assert not who.accounts_shown  # 10 accounts of 7 respondents: none has 30
    assert "share_confidential.account_median" not in _names(who.records)


# --------------------------------------------------------------------------- score gap
def test_compare_scores_against_the_group_means(panel):
    xw = cf.cross_section_frame(panel, 1)
    cmp = cf.compare_scores(panel, xw, n_boot=N_BOOT, seed=1)
    assert cmp.compared[:2] == ["nps_mean", "nps"] and cmp.too_few == [] and cmp.notes == []
    conf = xw["confidential"]
    diff = _value(cmp.records, "difference.nps_mean")
    assert_allclose(diff["est"], xw.loc[conf, "nps"].mean() - xw.loc[~conf, "nps"].mean(),
                    rtol=1e-12)
    assert diff["est"] < 0 and diff["n"] == len(xw)
    boot = _value(cmp.records, "difference.nps_bootstrap")
    d = nps(xw.loc[conf, "nps"].astype(float))["est"].iloc[0] \
        - nps(xw.loc[~conf, "nps"].astype(float))["est"].iloc[0]
    assert_allclose(boot, d, rtol=1e-12)
    names = _names(cmp.records)
    assert names[:6] == ["difference.nps_mean", "nps_mean.confidential", "nps_mean.named",
                         "hedges_g.nps_mean", "superiority.nps_mean", "difference.nps"]
    assert names[-1] == "score_differences" and cmp.records[-1].table
    assert list(cmp.table.index) == [panel.labels[s] for s in cmp.compared]
    assert cmp.table.loc["Net Promoter Score", "Hedges g"] == "–"
    assert "clustered" in cmp.table.loc["Net Promoter Score", "difference"]
    assert len(cmp.hedges) == len(cmp.compared) - 1
    assert cmp.lead[0].startswith("Mean 0-10 answer: ")
    assert f"n = {conf.sum()} confidential and {(~conf).sum()} named" in cmp.verdict
    assert cmp.findings[0].startswith("Confidential respondents' mean 0-10 answer differed")
    # the main result is the index gap: the headline, with how many scores are lower
    idx = _value(cmp.records, "difference.crq_index")
    head = next(r for r in cmp.records if r.name == "difference.crq_index")
    assert head.options["headline"] and head.options["note"].startswith(
        "confidential respondents clearly lower on ")
    lower = sum(1 for s in cmp.compared
                if _value(cmp.records, f"difference.{s}")["ci_high"] < 0)
    assert f"clearly lower on {lower} and" in head.options["note"]
    assert [k.question for k in cmp.key] == [cf.Q_GAP, cf.Q_GAP]
    assert cmp.key[0].text.startswith("Confidential respondents scored lower than named ones on "
                                      "the CRQ index: {est} {ci}, {p} ({n}); ") \
        == (idx["ci_high"] < 0)
    assert_allclose(cmp.key[0].options["est"], idx["est"])
    rec = Recorder(min_cell_size=5)
    for k in cmp.key:
        rec.finding(k.question, k.text, **k.options)  # plain words, evidence complete


def test_compare_scores_with_too_few_answers(panel):
    xw = cf.cross_section_frame(panel, 1)
    xw.loc[xw["confidential"], "nps"] = np.nan  # nobody confidential answered 0-10
    compared, too_few = cf.comparable_scores(panel, xw)
    assert too_few == ["nps_mean", "nps"] and "crq_index" in compared
    cmp = cf.compare_scores(panel, xw, n_boot=N_BOOT)
    assert cmp.notes == [("Not compared (fewer than 5 answers in a group): Mean 0-10 answer, "
                         "Net Promoter Score.")]
    assert "difference.nps_bootstrap" not in _names(cmp.records) and cmp.findings == []
    nothing = cf.compare_scores(panel, xw[xw["confidential"]], n_boot=N_BOOT)
    assert nothing.compared == [] and nothing.differences is None and nothing.records == []


# --------------------------------------------------------------------------- regression
def test_gap_regression_with_the_interaction(panel):
    xw = cf.cross_section_frame(panel, 1)
    gap = cf.gap_regression(panel, xw, ["nps_mean", "crq_index"])
    assert gap.moderator == "newly_included" and gap.controls == ("role",) and gap.notes == []
    t = gap.models["nps_mean"]
    # the interaction is the difference of the two confidential effects
    assert_allclose(t.loc["confidential:newly_included", "est"],
                    t.loc["confidential + confidential:newly_included", "est"]
                    - t.loc["confidential", "est"], atol=1e-10)
    assert _names(gap.records)[:4] == ["confidential_effect.nps_mean", "interaction.nps_mean",
                                       "confidential_effect_newly_included.nps_mean",
                                       "clustered_effects.nps_mean"]
    assert "headline" not in gap.records[1].options  # the main result is the score gap
    # key finding of the interaction: worded by the interval (no direction when it holds 0)
    i = t.loc["confidential:newly_included"]
    assert len(gap.key) == 1 and gap.key[0].question == cf.Q_GAP
    clear = not (i["ci_low"] <= 0 <= i["ci_high"])
    assert ("neither clearly larger nor clearly smaller" in gap.key[0].text) != clear
    table = next(r.value for r in gap.records if r.name == "clustered_effects.nps_mean")
    assert not table["term"].str.startswith("role[").any()  # control terms are not published
    assert "Interaction: extra gap among newly included" in gap.table.index
    assert len(gap.lines) == 3 and gap.lines[-1].startswith("On the 0-10 answer this study")
    assert gap.cells["n"].sum() == len(xw) or gap.cells["suppressed"].any()
    assert gap.intro.endswith(f"n = {len(xw)} respondents in {xw['account_id'].nunique()} "
                              "accounts.")


def test_gap_regression_without_the_interaction(panel):
    xw = cf.cross_section_frame(panel, 1)
    xw["newly_included"] = xw["newly_included"] & ~xw["confidential"]  # an empty cell
    gap = cf.gap_regression(panel, xw, ["nps_mean"])
    assert gap.moderator is None and gap.cells is None and gap.findings == []
    assert gap.notes[0].startswith("The interaction is not estimated")
    assert "Confidential vs named" in gap.table.index
    assert gap.lines[0].startswith("Mean 0-10 answer: confidential minus named, adjusted for role")
    assert cf.gap_regression(panel, xw, []).models == {}


# --------------------------------------------------------------------------- panel
@pytest.fixture(scope="module")
def built(panel):
    return cf.build_panel(panel, 1, 2, "satisfaction")


def test_build_panel_completion(built, panel_study):
    _, contacts, responses = panel_study
    assert set(built.frames) == {"nps_mean", "nps", "crq_index"} and built.adjust == "satisfaction"
    w1 = contacts[(contacts["wave"] == 1) & contacts["responded"]]
    done = w1["contact_id"].isin(responses.loc[responses["wave"] == 2, "contact_id"])
    conf = w1["confidential"].astype(bool)
    comp = built.completion
    assert_allclose(comp.loc["confidential", "est"], done[conf].mean(), rtol=1e-12)
    assert_allclose(comp.loc["named", "est"], done[~conf].mean(), rtol=1e-12)
    assert _names(built.records) == ["completion.confidential", "completion.named",
                                     "completion.difference"]
    assert built.records[2].options["label"] is None
    assert built.table.loc["difference", "completion (%)"].startswith("-")
    assert built.text.startswith(f"Of those who had chosen confidentiality, "
                                 f"{100 * done[conf].mean():.0f}% completed wave 2 (2023)")


def test_build_panel_with_an_unknown_adjustment(panel):
    p = cf.build_panel(panel, 1, 2, "nonsense")
    assert p.adjust == "" and "'nonsense' asked for is not a score" in p.notes[0]


def test_within_changes(panel, built, panel_study):
    ch = cf.within_changes(panel, built)
    _, contacts, responses = panel_study
    both = responses[responses["wave"] == 1].merge(
        responses.loc[responses["wave"] == 2, ["contact_id", "nps"]], on="contact_id")
    conf = both["contact_id"].isin(contacts.loc[(contacts["wave"] == 1)
                                                & contacts["confidential"].eq(True), "contact_id"])
    change = both["nps_y"] - both["nps_x"]
    assert_allclose(ch.changes["nps_mean"].loc["confidential", "est"], change[conf].mean())
    assert_allclose(ch.changes["nps_mean"].loc["named", "est"], change[~conf].mean())
    assert "change.confidential.nps_mean" in _names(ch.records)
    assert ch.text.startswith("On the 0-10 answer, those who had chosen confidentiality went")
    t = ch.trajectories.set_index(["group", "point"])
    assert t.loc[("chose confidentiality", "wave_1"), "n"] == conf.sum()
    assert_allclose(t.loc[("named", "wave_2"), "est"], both.loc[~conf, "nps_y"].mean())


def test_naming_effects(panel, built):
    eff = cf.naming_effects(panel, built, n_boot=N_BOOT, seed=2)
    ch = cf.within_changes(panel, built).changes["nps_mean"]
    raw = eff.effects["nps_mean"]["did_unadjusted"]["est"]
    # the unadjusted DiD is the difference of the groups' mean changes
    assert_allclose(raw, ch.loc["confidential", "est"] - ch.loc["named", "est"], rtol=1e-9)
    # the planted effect of being named is +1 point (before rounding answers to whole points)
    did = _value(eff.records, "did_unadjusted.nps_mean")
    assert did["ci_low"] < 1.0 < did["ci_high"] and did["ci_low"] > 0
    names = _names(eff.records)
    # the doubly robust DiD (adjustment set from the data) first, then its alternatives
    assert names[:7] == ["did.nps_mean", "did_single.nps_mean", "did_unadjusted.nps_mean",
                         "did_ipw.nps_mean", "lee_bounds.nps_mean.lower",
                         "lee_bounds.nps_mean.upper", "lee_bounds.nps_mean"]
    dr = bias.dr_difference_in_differences(built.frames["nps_mean"]).iloc[0]
    assert_allclose(_value(eff.records, "did.nps_mean")["est"], dr["est"], rtol=1e-12)
    assert [c for c in bias.adjustment_set(built.frames["nps_mean"])] == [
        *(f"{e}_w1" for e in panel.elements), "role", "newly_included"]
    single = bias.difference_in_differences(built.frames["nps_mean"],
                                            covariates=["satisfaction_w1"])
    assert_allclose(_value(eff.records, "did_single.nps_mean")["est"],
                    single.set_index("term").loc["confidential", "est"], rtol=1e-12)
    lower, upper = (_value(eff.records, f"lee_bounds.nps_mean.{x}") for x in ("lower", "upper"))
    assert lower <= upper
    assert eff.text.startswith("Once named, the 0-10 answers of those who had chosen "
                               "confidentiality rose beyond the common trend")
    assert "doubly robust" in eff.text and "Lee bounds" in eff.text
    assert list(eff.table.index[:3]) == [
        "DiD, doubly robust: every wave-1 element and segment (default)",
        "DiD adjusted for wave-1 satisfaction only", "DiD, unadjusted (parallel trends)"]
    assert [k.question for k in eff.key] == [cf.Q_PANEL]
    assert "{est} {ci}, {p} ({n}" in eff.key[0].text
    without = cf.naming_effects(panel, cf.build_panel(panel, 1, 2, ""), n_boot=N_BOOT)
    assert "did_single.nps_mean" not in _names(without.records)
    assert "did.nps_mean" in _names(without.records)


def test_headline_shift_adds_up(panel, built):
    hs = cf.headline_shift(panel, built, n_boot=N_BOOT, seed=2)
    for h in hs.decompositions.values():
        e = h["est"]
        assert_allclose(e["shift"], e[["trend", "inflation", "reversion", "attrition"]].sum(),
                        atol=1e-10)
    assert _names(hs.records)[:3] == ["headline_decomposition.nps_mean",
                                      "headline_inflation.nps_mean", "headline_shift.nps_mean"]
    assert hs.records[1].options["headline"] and not hs.records[4].options["headline"]
    assert len(hs.key) == 1 and hs.key[0].options["est"] == hs.decompositions["nps_mean"].loc[
        "inflation", "est"]
    assert hs.text.startswith("The headline mean 0-10 answer went from")
    assert hs.nps_text.startswith("On the Net Promoter Score the implied inflation is")
    assert hs.table.shape == (8, 3)


# --------------------------------------------------------------------------- what-if
def test_what_if_observed_reproduces_the_headline_shift(panel, built):
    w = cf.what_if_from_study(panel, built, None, None)
    h = cf.headline_shift(panel, built, n_boot=N_BOOT).decompositions["nps_mean"]
    assert w.kind == "study" and w.notes == []
    assert_allclose(float(w.result.headline["shift"]), h.loc["shift", "est"], rtol=1e-9)
    assert _names(w.records) == [f"what_if.study.{q}" for q in (
        "mean_before", "mean_after", "shift", "trend", "inflation", "attrition", "completion")]
    assert w.records[0].options["note"] == "observed aggregates, wave 1 (2022) to wave 2 (2023)"


def test_what_if_scenario_and_the_reasons_it_cannot_run(panel):
    xw = cf.cross_section_frame(panel, 1)
    w = cf.what_if_from_study(panel, None, xw, 1)
    assert w.kind == "scenario"
    assert_allclose(float(w.result.headline["mean_before"]), xw["nps"].mean(), rtol=1e-12)
    assert w.findings[0].startswith("Under Company A's behaviour")
    quiet = xw.assign(nps=np.where(xw["confidential"], np.nan, xw["nps"]))
    no = cf.what_if_from_study(panel, None, quiet, 1)
    assert no.kind == "" and no.records == [] and "cannot be computed" in no.notes[0]
    assert f"n = {(~xw['confidential']).sum()} answers of {len(xw)} respondents" in no.notes[0]
    none = cf.what_if_from_study(panel, None, None, None)
    assert none.notes[0].startswith("No group shares are available")


def test_what_if_table_and_records():
    r = cf.company_a(Fraction(1, 4))
    t = cf.what_if_table(r)
    assert list(t.index) == ["confidential (chose confidentiality)",
                             "named (waived confidentiality)"]
    assert t.loc["confidential (chose confidentiality)", "change"] == "+1.200"
    assert t.loc["named (waived confidentiality)", "share of first-wave respondents"] == "0.750"
    assert not [c for c in t.columns if "_" in c]  # columns named for reviewers
    recs = cf.what_if_records("x", r, "a note")
    assert recs[-1].name == "x.completion" and recs[-1].options["unit"] == "share"
    assert_allclose(recs[-1].value, float(Fraction(53, 80)), rtol=1e-12)


def test_company_a_example_is_exact():
    # the published Company A figures with one in four confidential, in exact fractions
    ex = cf.company_a_example(note="n")
    h = ex.result.headline
    assert (h["mean_before"], h["mean_after"], h["shift"]) == \
        (Fraction(69, 10), Fraction(3849, 530), Fraction(96, 265))
    assert (h["trend"], h["inflation"], h["attrition"]) == \
        (Fraction(1, 10), Fraction(121, 530), Fraction(9, 265))
    assert list(ex.table["share of completers (exact)"]) == ["11/53", "42/53"]
    assert "(= 3849/530)" in ex.text and "Shift +0.362 (= 96/265)" in ex.text
    assert ex.sensitivity.loc["25%", "shift"] == "+0.362"
    assert list(ex.sensitivity.index) == ["10%", "20%", "25%", "30%", "40%", "50%"]
    assert [r.options["note"] for r in ex.records] == ["n"] * 7


# --------------------------------------------------------------------------- verbatims
def test_confidential_comments_are_masked(panel):
    xw = cf.cross_section_frame(panel, 1)
    v = cf.confidential_comments(panel, xw, 1, seed=3, max_verbatims=4)
    strengths = v.comments[0]
    assert strengths.question == "strengths" and len(strengths.shown) == 4
    assert list(strengths.shown.columns) == ["strengths"]
    assert not strengths.shown["strengths"].str.contains("Number").any()  # names masked
    assert strengths.text.startswith(f"{xw['confidential'].sum()} comments from the ")
    assert v.shown_any and _names(v.records) == ["verbatims.shown"]


def test_confidential_comments_withheld_or_absent(panel):
    xw = cf.cross_section_frame(panel, 1)
    few = xw[~xw["confidential"] | (xw.index == xw.index[xw["confidential"]][0])]
    v = cf.confidential_comments(panel, few, 1)
    assert v.comments[0].shown is None and not v.shown_any
    assert v.comments[0].text.startswith("not shown - fewer than 5 confidential respondents")
    none = cf.confidential_comments(panel, xw.drop(columns="strengths"), 1)
    assert none.comments == [] and none.notes == ["The study has no comment questions."]
    assert none.records[0].value is False


# --- measurement invariance between confidential and named respondents (issue 19, item 2) ---
def _invariance_setting(bias: float, latent_shift: float, n: int = 400, seed: int = 5):
    """Two elements of three questions; named respondents' latent mean shifted by
    ``latent_shift`` and question 2 of element A by ``bias`` (item bias) - planted truth."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    conf = np.repeat([True, False], n)
    eta = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], 2 * n)
    eta[~conf] += latent_shift
    cols = {}
    for j, e in enumerate("ab"):
        for k, lam in enumerate((1.0, 0.8, 0.9), start=1):
            cols[f"{e}_{k}"] = 4 + lam * eta[:, j] + rng.normal(0, 0.6, 2 * n)
    xw = pd.DataFrame(cols)
    xw.loc[~conf, "a_2"] += bias
    xw["confidential"] = conf
    items = {"a": ["a_1", "a_2", "a_3"], "b": ["b_1", "b_2", "b_3"]}
    instrument = SimpleNamespace(element_items=lambda: items)
    setting = SimpleNamespace(study=SimpleNamespace(instrument=instrument), elements=["a", "b"],
                              labels={"a": "Trust", "b": "Commitment"}, min_cell=5)
    return setting, xw


def test_invariance_holds_when_named_answers_shift_the_element_itself():
    setting, xw = _invariance_setting(bias=0.0, latent_shift=0.4)
    inv = cf.named_answer_invariance(setting, xw, estimator="ML")
    # planted: the whole element moves, no single question -> scalar invariance, nothing freed
    assert inv.level == "scalar"
    assert "carry equal weights and levels in both groups:" in inv.verdict
    rec = {r.name: r.value for r in inv.records}
    assert rec == {"invariance.scalar_holds": True, "invariance.n_freed": 0}
    assert list(inv.table["Holds"]) == ["yes", "yes"]


def test_invariance_finds_the_biased_question():
    setting, xw = _invariance_setting(bias=0.8, latent_shift=0.0)
    inv = cf.named_answer_invariance(setting, xw, estimator="ML")
    # planted: only question 2 of the first element shifts for named respondents
    assert inv.level == "partial scalar"
    assert "once the level of Trust question 2 may differ" in inv.verdict
    assert {r.name: r.value for r in inv.records}["invariance.n_freed"] == 1
    assert "a_2" not in inv.verdict  # the question by its name, never its column


def test_invariance_says_why_it_did_not_run():
    setting, xw = _invariance_setting(bias=0.0, latent_shift=0.0, n=40)
    inv = cf.named_answer_invariance(setting, xw)
    assert inv.level is None and inv.records == []
    assert "at least 100 complete respondents in each group" in inv.notes[0]
