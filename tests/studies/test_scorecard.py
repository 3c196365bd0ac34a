"""crqlab.studies.scorecard: choosing the scored wave, changes between waves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crqlab.errors import InsufficientDataError
from crqlab.measures.nps import nps_test
from crqlab.models.bias import clustered_effects
from crqlab.measures.categories import CategoryRule
from crqlab.models import weighting
from crqlab.reports.results import Recorder
from crqlab.reports.wording import machine_room
from crqlab.studies.scorecard import (adjusted_headlines, benchmark_positions,
                                      category_rule_words, choose_wave, headline_findings,
                                      headline_table, panel_invariance, wave_changes,
                                      wave_invariance)


def _respondents(counts: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"wave": [w for w, k in counts.items() for _ in range(k)]})


def test_latest_wave_with_enough_respondents_is_chosen():
    c = choose_wave(_respondents({1: 8, 2: 9, 3: 2}), [1, 2, 3, 4], 0, 5)
    assert (c.wave, c.answered, c.scorable, c.silent, c.small) == (2, [1, 2, 3], [1, 2], [4], [3])


def test_an_asked_wave_is_kept():
    assert choose_wave(_respondents({1: 8, 2: 9}), [1, 2], 1, 5).wave == 1


@pytest.mark.parametrize("counts, waves, wave, error, match", [
    ({}, [1], 0, InsufficientDataError, "no responses in any wave"),
    ({1: 2, 2: 3}, [1, 2], 0, InsufficientDataError, "no wave has at least 5"),
    ({1: 8}, [1], 7, ValueError, "wave 7 is not in this study"),
    ({1: 8}, [1, 2], 2, InsufficientDataError, "wave 2 has no responses"),
    ({1: 8, 2: 3}, [1, 2], 2, InsufficientDataError, "wave 2 has fewer than 5"),
])
def test_waves_that_cannot_be_scored_say_why(counts, waves, wave, error, match):
    with pytest.raises(error, match=match):
        choose_wave(_respondents(counts), waves, wave, 5)


def _scores(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for w, shift in ((1, 0.0), (2, 0.4), (3, 0.1)):
        for i in range(60):
            rows.append({"wave": w, "account_id": f"A{i % 12}",
                         "crq_index": 5 + shift + rng.normal(0, 0.8),
                         "nps": int(rng.integers(4 + w, 11))})
    return pd.DataFrame(rows)


def test_changes_equal_the_two_estimators_called_directly():
    scores = _scores()
    entries, table = wave_changes(scores, [1, 3], "crq_index", {1: "2021", 3: "2023"}, ci=0.9,
                                  n_boot=50, seed=7)
    assert [e[0] for e in entries] == ["crq_index.change_w1_w3", "nps.change_w1_w3"]
    pair = scores[scores["wave"].isin([1, 3])].assign(later=lambda d: d["wave"] == 3)
    crq = clustered_effects(pair, "crq_index", group="later", moderator=None, controls=(),
                            ci=0.9).set_index("term").loc["later"]
    later = pair["later"]
    nps = nps_test(pair.loc[later, "nps"], pair.loc[~later, "nps"], method="bootstrap",
                   clusters_x=pair.loc[later, "account_id"],
                   clusters_y=pair.loc[~later, "account_id"], joint=True, n_boot=50, seed=7,
                   ci=0.9).iloc[0]
    assert entries[0][1] == crq["est"] and entries[0][2]["ci"] == (crq["ci_low"], crq["ci_high"])
    assert entries[1][1] == nps["est"] and entries[1][2]["p_value"] == nps["p_value"]
    assert entries[0][2]["n"] == 120 and entries[0][2]["unit"] == "1-7 scale"
    assert list(table["change"]) == ["2021 to 2023"] * 2
    assert list(table["score"]) == ["crq_index", "nps"]


def test_one_shown_wave_gives_no_change():
    entries, table = wave_changes(_scores(), [2], "crq_index", {2: "x"}, ci=0.95, n_boot=20,
                                  seed=1)
    assert entries == [] and table.empty


def test_changes_carry_their_respondents():
    _, table = wave_changes(_scores(), [1, 2], "crq_index", {1: "a", 2: "b"}, ci=0.95,
                            n_boot=20, seed=1)
    assert list(table["n"]) == [120, 120]


# --------------------------------------------------------------------------- adjusted headlines
def _planted(n_accounts=200, per=10, seed=5, confidential_share=0.3, inflation=0.5,
             waves=(2,), panel=False):
    """A frame where role "a" answers 80% of the time and "b" 20%; honest CRQ index 6.0 (a)
    and 5.0 (b), so the whole frame's honest value is 5.5; named answers carry +``inflation``.
    With ``panel``: wave 1 offers confidentiality (chosen at random), wave 2 does not."""
    rng = np.random.default_rng(seed)
    frames, scores = [], []
    contacts = [f"C{i}" for i in range(n_accounts * per)]
    role = np.where(np.arange(len(contacts)) % 2 == 0, "a", "b")
    account = [f"A{i // per}" for i in range(len(contacts))]
    honest = np.where(role == "a", 6.0, 5.0) + rng.normal(0, 0.6, len(contacts))
    for w in waves:
        responded = rng.random(len(contacts)) < np.where(role == "a", 0.8, 0.2)
        frames.append(pd.DataFrame({"wave": w, "contact_id": contacts, "account_id": account,
                                    "role": role, "responded": responded}))
        offered = (w == 1) if panel else True
        conf = (rng.random(len(contacts)) < confidential_share) if offered else \
            np.zeros(len(contacts), bool)
        y = honest + rng.normal(0, 0.3, len(contacts)) + np.where(conf, 0.0, inflation)
        nps = np.clip(np.round(y * 10 / 7 + 1), 0, 10)
        scores.append(pd.DataFrame({"wave": w, "contact_id": contacts, "account_id": account,
                                    "confidential": conf if offered else None,
                                    "crq_index": y, "nps": nps, "role": role})[responded])
    return pd.concat(frames, ignore_index=True), pd.concat(scores, ignore_index=True)


def test_nonresponse_row_is_the_propensity_weighted_mean():
    frame, scores = _planted()
    a = adjusted_headlines(frame, scores, 2, covariates=("role",))
    t = a.table.set_index(["score", "adjustment"])
    direct = weighting.propensity_adjusted(frame.assign(responded=frame["responded"]),
                                           scores, ["role"], score=("nps", "crq_index")
                                           ).set_index(["score", "method"])
    for s in ("nps", "crq_index"):
        assert t.loc[(s, "nonresponse"), "est"] == pytest.approx(direct.loc[(s, "propensity"),
                                                                            "est"], abs=1e-12)
    # planted: honest frame value 5.5, named (70%) +0.5 -> weighted reported 5.85
    assert t.loc[("crq_index", "nonresponse"), "est"] == pytest.approx(5.85, abs=0.05)
    assert [e[0] for e in a.entries] == ["adjusted.nps.nonresponse",
                                         "adjusted.crq_index.nonresponse",
                                         "adjusted.nps.inflation", "adjusted.crq_index.inflation"]
    assert all(isinstance(e[2]["n"], int) and e[2]["headline"] for e in a.entries)
    assert a.notes == []


def test_cross_sectional_range_runs_from_the_confidential_to_all_respondents():
    frame, scores = _planted()
    r = adjusted_headlines(frame, scores, 2, covariates=("role",)).table.set_index(
        ["score", "adjustment"]).loc[("crq_index", "inflation")]
    assert r["method"] == "cross_section"
    # confidentiality chosen at random: the confidential end is the honest frame value (5.5)
    assert r["range_low"] == pytest.approx(5.5, abs=0.06)
    assert r["range_high"] == pytest.approx(5.85, abs=0.05)
    assert r["ci_low"] < r["range_low"] < r["est"] < r["range_high"] < r["ci_high"]
    assert r["est"] == pytest.approx((r["range_low"] + r["range_high"]) / 2)


def test_panel_inflation_is_taken_off_the_weighted_value():
    frame, scores = _planted(waves=(1, 2), panel=True, n_accounts=150)
    a = adjusted_headlines(frame, scores, 2, covariates=("role",))
    t = a.table.set_index(["score", "adjustment"])
    r = t.loc[("crq_index", "inflation")]
    assert r["method"] == "panel"
    assert r["inflation"] == pytest.approx(0.5, abs=0.15)  # planted: being named adds 0.5
    assert r["est"] == pytest.approx(t.loc[("crq_index", "nonresponse"), "est"]
                                     - r["inflation"], abs=1e-12)
    assert r["est"] == pytest.approx(5.5, abs=0.15)


def test_without_confidentiality_the_inflation_is_not_estimated_and_says_why():
    frame, scores = _planted(confidential_share=0.0)
    scores["confidential"] = None
    a = adjusted_headlines(frame, scores, 2, covariates=("role",))
    assert set(a.table["adjustment"]) == {"nonresponse"}
    assert len(a.notes) == 1 and "0 confidential" in a.notes[0]


def test_without_frame_variables_only_the_inflation_range_unweighted():
    frame, scores = _planted()
    a = adjusted_headlines(frame, scores, 2, covariates=("tenure_years",))
    assert set(a.table["adjustment"]) == {"inflation"}
    assert "no frame variable" in a.notes[0] and "unweighted" in a.table["assumption"].iloc[0]


def _row(est, lo, hi, n=100, k=20):
    return {"est": est, "ci_low": lo, "ci_high": hi, "n": float(n), "n_accounts": k}


def test_findings_pass_the_recorder_and_follow_the_wording_rule():
    frame, scores = _planted()
    adjusted = adjusted_headlines(frame, scores, 2, covariates=("role",))
    changes = pd.DataFrame({"change": ["2022 to 2023"] * 2, "score": ["crq_index", "nps"],
                            "est": [0.13, 3.3], "ci_low": [0.07, -3.0], "ci_high": [0.19, 9.4],
                            "p_value": [0.001, 0.3], "n": [1600, 1600]})
    found = headline_findings("wave 4 (2023)", "crq_index", "CRQ index",
                              _row(5.9, 5.8, 6.0), _row(55.8, 49.0, 62.4), changes, adjusted)
    rec = Recorder(min_cell_size=5)
    for f in found:
        rec.finding(**f)  # raises on machine-room text, a missing n or interval
    texts = [f["text"] for f in found]
    assert len(texts) == 8 and all(isinstance(f["n"], int) for f in found)
    assert "CRQ index shows a clear rise" in texts[2]
    assert "Net Promoter Score shows no clear difference" in texts[3]
    assert not any("better" in t or "rise" in t for t in texts[3:])
    assert "assumes" in texts[4] and "between" in texts[6]


def test_no_nps_and_no_trend_give_only_the_index():
    found = headline_findings("wave 1 (x)", "crq_index", "CRQ index", _row(5.0, 4.8, 5.2),
                              None, None, None)
    assert [f["quantity"] for f in found] == ["crq_index"]


def test_category_rule_in_words():
    text = category_rule_words(CategoryRule(), str.title)
    assert "4.5" in text and "3.5" in text and "5.5" in text
    assert "trust, commitment and satisfaction" in text and "experience and solution" in text
    assert not machine_room(text)


def test_illustrative_benchmark_is_never_a_headline():
    bench = pd.DataFrame({"crq_index": np.linspace(4, 6.5, 100),
                          "nps": np.linspace(-20, 70, 100)})
    placed = {"crq_index": _row(5.9, 5.8, 6.0), "nps": None}
    entries, table = benchmark_positions(bench, placed, "crq_index", "CRQ index",
                                         illustrative=True)
    pct = entries[0][2]
    assert entries[0][0] == "benchmark.crq_index.percentile" and pct["headline"] is False
    assert "illustrative" in pct["note"] and "not a real norm" in pct["note"]
    assert list(table["score"]) == ["CRQ index"] and not machine_room(" ".join(table.columns))
    real, _ = benchmark_positions(bench, placed, "crq_index", "CRQ index", illustrative=False)
    assert real[0][2]["headline"] is True and real[0][2]["note"] is None


def test_headline_table_puts_the_reported_value_first():
    frame, scores = _planted()
    adjusted = adjusted_headlines(frame, scores, 2, covariates=("role",))
    t = headline_table(adjusted, {"crq_index": _row(6.1, 6.0, 6.2), "nps": None}, "crq_index",
                       "CRQ index")
    assert list(t["value"])[:2] == ["as reported", "adjusted for non-response"]
    assert t["estimate"].iloc[0] == "6.10 [6.00, 6.20]"
    assert not machine_room(" ".join(t.columns) + " " + " ".join(t["value"]))


# --------------------------------------------------------------------------- wave invariance
class _Instrument:
    """Two elements of three questions each (and a one-question element, never modelled)."""

    def element_items(self):
        return {"alpha": ["a_1", "a_2", "a_3"], "beta": ["b_1", "b_2", "b_3"],
                "gamma": ["g_1"]}

    def label(self, name):
        return name.capitalize()


WAVE_LABELS = {1: "2021", 2: "2022", 3: "2023"}


def _wave_items(sizes=(400, 400, 400), drift=0.0, seed=11, repeat=0.3) -> pd.DataFrame:
    """Two correlated factors measured by three 1-7 questions each, per wave; a share
    ``repeat`` of each wave's contacts answered the wave before too; question a_2's level
    moves by ``drift`` in wave 3 (item bias, not a change of the factor)."""
    rng = np.random.default_rng(seed)
    rows, contact = [], 0
    previous: list[int] = []
    for wave, size in zip((1, 2, 3), sizes):
        again = previous[:int(repeat * size)]
        ids = again + list(range(contact, contact + size - len(again)))
        contact += size - len(again)
        f = rng.multivariate_normal([0.1 * wave, 0.0], [[1, 0.5], [0.5, 1]], size=size)
        out = {"wave": wave, "contact_id": [f"C{i:05d}" for i in ids]}
        for k, (name, factor, load) in enumerate([("a_1", 0, 1.0), ("a_2", 0, 0.8),
                                                  ("a_3", 0, 0.9), ("b_1", 1, 1.0),
                                                  ("b_2", 1, 0.7), ("b_3", 1, 0.8)]):
            level = 4.5 + (drift if (name == "a_2" and wave == 3) else 0.0)
            out[name] = np.clip(level + load * f[:, factor] + rng.normal(0, 0.6, size), 1, 7)
        out["g_1"] = rng.integers(1, 8, size).astype(float)
        rows.append(pd.DataFrame(out))
        previous = ids
    return pd.concat(rows, ignore_index=True)


def test_wave_invariance_holds_where_nothing_was_planted():
    inv = wave_invariance(_wave_items(), [1, 2, 3], _Instrument(), WAVE_LABELS, seed=1)
    assert inv.level == "scalar"
    assert inv.verdict.startswith("Across the waves 2021 (")
    assert "carry equal weights and levels in all 3 waves:" in inv.verdict
    assert dict((name, value) for name, value, _ in inv.entries) == {
        "trend.invariance_scalar_holds": True, "trend.invariance_n_freed": 0}
    assert list(inv.table["Holds"]) == ["yes", "yes"]


def test_wave_invariance_finds_a_question_that_drifted():
    # planted: question 2 of Alpha reads 0.8 higher in 2023 with the factor unchanged
    inv = wave_invariance(_wave_items(drift=0.8), [1, 2, 3], _Instrument(), WAVE_LABELS,
                          seed=1)
    assert inv.level == "partial scalar"
    assert "the level of Alpha question 2 may differ" in inv.verdict
    assert dict((name, value) for name, value, _ in inv.entries)["trend.invariance_n_freed"] == 1


def test_wave_invariance_counts_each_contact_once_in_any_row_order():
    data = _wave_items()
    unique = data["contact_id"].nunique()
    inv = wave_invariance(data, [1, 2, 3], _Instrument(), WAVE_LABELS, seed=1)
    shuffled = wave_invariance(data.sample(frac=1, random_state=5), [1, 2, 3], _Instrument(),
                               WAVE_LABELS, seed=1)
    assert inv.entries[0][2]["n"] == unique  # each contact once: independent groups
    assert f"({len(data) - unique:,} repeat answers set aside" in inv.notes[0]
    assert (shuffled.verdict, shuffled.entries) == (inv.verdict, inv.entries)


def test_small_waves_are_left_out_or_the_test_not_run():
    data = _wave_items(sizes=(400, 400, 60), repeat=0.0)
    inv = wave_invariance(data, [1, 2, 3], _Instrument(), WAVE_LABELS, seed=1)
    assert "in both waves" in inv.verdict
    assert "Left out, fewer than 100 complete respondents: 2023." in inv.notes[0]
    few = wave_invariance(data, [1, 3], _Instrument(), WAVE_LABELS, seed=1)
    assert few.verdict is None and few.entries == []
    assert few.notes == ["Measurement invariance across waves was not tested: it needs at "
                         "least 100 complete respondents in each of two waves, counting each "
                         "contact once (2021: 400; 2023: 60)."]


def test_panel_invariance_adds_to_the_wave_test_without_changing_it():
    data = _wave_items()
    alone = wave_invariance(data, [1, 2, 3], _Instrument(), WAVE_LABELS, seed=1)
    inv = wave_invariance(data, [1, 2, 3], _Instrument(), WAVE_LABELS, seed=1, panel=True)
    assert inv.entries[:2] == alone.entries and inv.notes[:1] == alone.notes
    assert (inv.verdict, inv.level) == (alone.verdict, alone.level)
    panel = {name: (value, opts) for name, value, opts in inv.entries[2:]}
    # 30% of wave 3's 400 contacts answered wave 2 too: 120 panel contacts, nothing planted
    assert panel["trend.panel_invariance_scalar_holds"][0] is True
    assert panel["trend.panel_invariance_scalar_holds"][1]["n"] == 120
    assert panel["trend.panel_invariance_n_freed"][0] == 0
    assert inv.notes[1].startswith("Among the 120 contacts who answered both 2022 and 2023 "
                                   "(every answer kept), the questions carry equal weights and "
                                   "levels in both waves")


def test_panel_invariance_finds_a_question_that_drifted():
    # planted: question 2 of Alpha reads 0.8 higher in 2023, also for the contacts of 2022
    entries, notes = panel_invariance(_wave_items(drift=0.8), [2, 3], _Instrument(),
                                      WAVE_LABELS, seed=1)
    values = {name: value for name, value, _ in entries}
    assert values == {"trend.panel_invariance_scalar_holds": True,
                      "trend.panel_invariance_n_freed": 1}
    assert "once the level of Alpha question 2 may differ" in notes[0]


def test_panel_invariance_needs_enough_contacts_in_both_waves():
    entries, notes = panel_invariance(_wave_items(repeat=0.1), [2, 3], _Instrument(),
                                      WAVE_LABELS, seed=1)
    assert entries == []
    assert notes == [("The same contacts in both 2022 and 2023 were not compared: 40 answered "
                      "both completely, fewer than 100.")]
