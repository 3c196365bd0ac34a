"""crqlab.reports.results: recording results into a deterministic results.json."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crqlab import files
from crqlab.files import write_atomic
from crqlab.reports import results
from crqlab.reports.results import Recorder, ResultsError

#: A document outside the repository, as a careless citation names it (built here so that the
#: repository itself never cites one).
OUTSIDE_DOC = "METHODS" + ".md"


def _recorder() -> Recorder:
    rec = Recorder()
    rec.record("nps", np.float64(23.456789012345), ci=(np.float64(15.1), 31.0),
               n=np.int64(412), unit="points", headline=True)
    rec.record("crq_index.wave_2", pd.Series({"est": 5.4, "se": 0.05, "ci_low": 5.3,
                                              "ci_high": 5.5, "n": 300, "other": "ignored"}))
    rec.record("trend.crq_index", 0.2, stat=2.5, df=np.int32(3), p_value=np.float32(0.04))
    rec.record_table("rates.by_wave", pd.DataFrame({"wave": [1, 2], "est": [0.5, np.nan],
                                                    "n": [10, 12]}))
    return rec


def test_values_are_flat_dotted_naming_rule_keys():
    doc = _recorder().as_dict()
    assert doc["format"] == results.FORMAT
    assert doc["values"]["nps.est"] == 23.45678901  # 10 significant digits
    assert doc["values"]["nps.ci_low"] == 15.1
    assert doc["values"]["nps.n"] == 412 and isinstance(doc["values"]["nps.n"], int)
    assert set(k for k in doc["values"] if k.startswith("crq_index.wave_2.")) == {
        "crq_index.wave_2." + f for f in ("est", "se", "ci_low", "ci_high", "n")}
    assert doc["values"]["trend.crq_index.df"] == 3
    assert doc["values"]["trend.crq_index.p_value"] == pytest.approx(0.04, rel=1e-7)
    assert doc["entries"]["nps"] == {"headline": True, "unit": "points", "order": 0}
    assert doc["tables"]["rates.by_wave"] == {"columns": ["wave", "est", "n"],
                                              "data": [[1, 0.5, 10], [2, None, 12]]}


def test_json_is_byte_identical_and_sorted():
    a, b = _recorder().to_json(), _recorder().to_json()
    assert a == b
    doc = json.loads(a)
    assert list(doc) == sorted(doc)
    assert list(doc["values"]) == sorted(doc["values"])
    assert a.endswith("\n") and "NaN" not in a and "Infinity" not in a


def test_headlines_keep_recording_order_and_rerecording_keeps_its_place():
    rec = Recorder()
    rec.record("zeta", 1.0, headline=True)
    rec.record("alpha", 2.0, headline=True)
    rec.record("zeta", 3.0, headline=True)
    assert [h["name"] for h in results.headline(rec.as_dict())] == ["zeta", "alpha"]
    assert results.headline(rec.as_dict())[0]["est"] == 3.0


@pytest.mark.parametrize("value, expected", [
    (np.nan, None), (float("inf"), None), (pd.NA, None), (None, None), (-0.0, 0.0),
    (np.bool_(True), True), (np.int16(7), 7), (1 / 3, 0.3333333333), (123456789.123456, 123456789.1),
    (pd.Timestamp("2026-11-23"), "2026-11-23T00:00:00"), ("text", "text"),
])
def test_clean_value(value, expected):
    out = results.clean_value(value)
    assert out == expected and type(out) is type(expected)


def test_clean_value_rejects_objects():
    with pytest.raises(ResultsError, match="cannot record"):
        results.clean_value(object())


@pytest.mark.parametrize("name", ["NPS", "nps est", "nps.", ".nps", "nps.est", "crq.ci_low", "1nps"])
def test_bad_names_are_refused(name):
    with pytest.raises(ResultsError):
        Recorder().record(name, 1.0)


def test_row_without_est_is_refused():
    with pytest.raises(ResultsError, match="est"):
        Recorder().record("x", {"se": 1.0})


def test_rerecording_replaces():
    rec = Recorder()
    rec.record("x", 1.0, headline=True)
    rec.record("x", 2.0)
    assert rec.as_dict()["values"] == {"x.est": 2.0}
    assert rec.as_dict()["entries"] == {"x": {"order": 0}}


def test_table_privacy_check():
    rec = Recorder()
    ok = pd.DataFrame({"role": ["a", "b"], "est": [5.0, np.nan], "n": [12, 3],
                       "suppressed": [False, True]})
    rec.record_table("by_role", ok, min_cell_size=5)
    bad = ok.assign(suppressed=False)
    with pytest.raises(ResultsError, match="minimum cell size 5"):
        rec.record_table("by_role", bad, min_cell_size=5)


def test_table_keeps_named_index_and_cuts_big_tables_with_a_count():
    rec = Recorder()
    t = pd.DataFrame({"est": [1.0, 2.0]}, index=pd.Index(["x", "y"], name="role"))
    rec.record_table("t", t)
    assert rec.as_dict()["tables"]["t"]["columns"] == ["role", "est"]
    assert "n_rows" not in rec.as_dict()["tables"]["t"]  # small tables are stored as before
    # issue 21: a 100x study's table of 819 accounts failed the notebook; it is now cut
    big = pd.DataFrame({"a": range(results.MAX_TABLE_ROWS + 319)})
    rec.record_table("big", big, note="accounts by risk")
    entry = rec.as_dict()["tables"]["big"]
    assert entry["n_rows"] == 819
    assert [r[0] for r in entry["data"]] == list(range(results.MAX_TABLE_ROWS))
    assert entry["note"] == (f"accounts by risk; the first {results.MAX_TABLE_ROWS} of 819 rows "
                             f"(results.json keeps at most {results.MAX_TABLE_ROWS} rows of a "
                             "table)")
    rec.record_table("exact", big.iloc[:results.MAX_TABLE_ROWS])
    assert "n_rows" not in rec.as_dict()["tables"]["exact"]


def test_save_is_atomic_and_loadable(tmp_path):
    path = tmp_path / "sub" / "results.json"
    text = _recorder().save(path)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left
    doc = results.load(path)
    heads = results.headline(doc)
    assert [h["name"] for h in heads] == ["nps"]
    assert heads[0]["est"] == 23.45678901 and heads[0]["n"] == 412


def test_save_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Recorder().save("") .startswith("{")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("old", encoding="utf-8")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_module_level_recorder(tmp_path):
    results.clear()
    results.record("n_responses", 55, headline=True)
    results.record_table("t", pd.DataFrame({"a": [1]}))
    text = results.save(tmp_path / "r.json")
    assert json.loads(text)["values"] == {"n_responses.est": 55}
    results.clear()
    assert results.current().as_dict()["values"] == {}


def test_load_refuses_other_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{}", encoding="utf-8")
    with pytest.raises(ResultsError):
        results.load(p)


# -- findings (issue 17) -----------------------------------------------------------------------
Q = "Where does the client stand?"


def test_finding_is_recorded_with_its_evidence_and_glossary_kind():
    rec = results.Recorder()
    rec.finding(Q, "The CRQ index is {est} {ci} ({n}).", est=5.934, ci=(5.874, 5.995),
                n=821.0, n_accounts=171.0, quantity="crq_index")
    (f,) = results.findings(rec.as_dict())
    assert f == {"question": Q, "text": "The CRQ index is {est} {ci} ({n}).", "est": 5.934,
                 "ci_low": 5.874, "ci_high": 5.995, "n": 821, "n_accounts": 171,
                 "kind": "score", "unit": "1-7 scale", "quantity": "crq_index"}
    assert isinstance(f["n"], int)  # a count stays a count, even when handed in as 822.0


def test_finding_without_evidence_must_say_why():
    rec = results.Recorder()
    with pytest.raises(ResultsError, match="no interval, n"):
        rec.finding(Q, "NPS is {est}.", est=40.0)
    with pytest.raises(ResultsError, match="no estimate, interval, n"):
        rec.finding(Q, "There is no trend.")
    rec.finding(Q, "There is no trend: the study has one wave.", why_not="a single wave")
    rec.finding(Q, "Commitment predicts retention best ({n}).", est="commitment", n=501,
                why_not="a ranking has no interval; the AUC finding gives it")
    assert [f.get("why_not") for f in results.findings(rec.as_dict())] == [
        "a single wave", "a ranking has no interval; the AUC finding gives it"]


@pytest.mark.parametrize("text, kwargs, message", [
    ("", {}, "plain words"),
    ("The gap is {gap}.", {}, "unknown placeholder"),
    ("The gap is {est", {}, "literal brace"),
    ("Read from /home/ana/acme/responses.csv.", {}, "absolute path"),
    ("flagged_responded differs from the frame.", {}, "raw column name"),
    ("The CRQ index is 5.934734064.", {}, "float noise"),
    ("As " + OUTSIDE_DOC + " says.", {}, "outside the repository"),
    ("The gap is {est} {ci}.", {"ci": (0.3, 0.1)}, "reversed"),
    ("n is {n}.", {"n": 82.5}, "not a count"),
    ("Odd kind: {est}.", {"kind": "furlongs"}, "kind"),
    ("Unknown quantity: {est}.", {"quantity": "frobnication"}, "not in the glossary"),
])
def test_finding_refusals(text, kwargs, message):
    evidence = {"est": 0.2, "ci": (0.1, 0.3), "n": 100, **kwargs}
    with pytest.raises(ResultsError, match=message):
        results.Recorder().finding(Q, text, **evidence)


def test_finding_of_a_small_group_is_refused():
    rec = results.Recorder(min_cell_size=5)
    with pytest.raises(ResultsError, match="minimum cell size"):
        rec.finding(Q, "Three respondents score {est}.", est=6.1, ci=(5.0, 7.0), n=3)


def test_rerecording_a_finding_replaces_it_and_files_without_findings_are_unchanged():
    rec = results.Recorder()
    rec.record("nps", 40.0, n=100)
    before = rec.to_json()
    assert "findings" not in json.loads(before)
    for _ in range(2):  # a cell run twice
        rec.finding(Q, "NPS is {est} {ci}.", est=40.0, ci=(30.0, 50.0), n=100, quantity="nps")
    assert len(results.findings(rec.as_dict())) == 1
    assert results.findings(rec.as_dict())[0]["kind"] == "nps"
    rec.clear()
    rec.record("nps", 40.0, n=100)
    assert rec.to_json() == before


def test_illustrative_finding_is_flagged():
    rec = results.Recorder()
    rec.finding(Q, "Against the illustrative benchmark the client sits at {est}.", est=91,
                ci=(88, 93), n=200, quantity="benchmark.crq_index.percentile",
                illustrative=True)
    rec.finding(Q, "NPS is {est}.", est=40.0, ci=(30.0, 50.0), n=100, quantity="nps")
    assert [f.get("illustrative") for f in results.findings(rec.as_dict())] == [True, None]


def test_module_level_finding(tmp_path):
    results.clear()
    results.finding(Q, "NPS is {est}.", est=40.0, ci=(30.0, 50.0), n=100, quantity="nps")
    doc = json.loads(results.save(tmp_path / "r.json"))
    assert results.findings(doc)[0]["text"] == "NPS is {est}."
    results.clear()
    assert results.findings(results.current().as_dict()) == []


def test_record_all_equals_one_call_per_entry():
    table = pd.DataFrame({"group": ["a", "b"], "est": [0.5, 0.6], "n": [10, 2],
                          "suppressed": [False, True]})
    entries = [("skipped.x", "no second wave", {}),
               ("nps", 23.4, {"ci": (15.1, 31.0), "n": 412, "headline": True, "label": "NPS"}),
               ("groups", table, {"min_cell_size": 5}),
               ("corr", pd.Series({"est": 0.46, "ci_low": 0.44, "ci_high": 0.49, "n": 30}), {})]
    one_by_one = Recorder()
    one_by_one.record("skipped.x", "no second wave")
    one_by_one.record("nps", 23.4, ci=(15.1, 31.0), n=412, headline=True, label="NPS")
    one_by_one.record_table("groups", table, min_cell_size=5)
    one_by_one.record("corr", entries[3][1])
    together = Recorder()
    together.record_all(entries)
    assert together.to_json() == one_by_one.to_json()  # same values, order, headlines, tables
    with pytest.raises(ResultsError):  # the privacy check of record_table still applies
        together.record_all([("groups", table.assign(suppressed=False), {"min_cell_size": 5})])
    results.clear()
    results.record_all(entries[:2])
    assert results.current().as_dict()["values"]["nps.n"] == 412


def test_record_all_replays_a_study_steps_records_in_order():
    table = pd.DataFrame({"group": ["a", "b"], "n": [3, 40], "suppressed": [True, False]})
    entries = [("skipped.x", "why not", {}),
               ("fit.m.cfi", np.float64(0.97), {"n": 300, "headline": True, "label": "CFI"}),
               ("sizes", table, {"min_cell_size": 5}),
               ("fit.m.rmsea", 0.04, {"ci": (0.03, 0.05), "n": 300, "note": None})]
    results.clear()
    results.record_all(entries)
    replayed = results.current().to_json()
    by_hand = Recorder()
    by_hand.record("skipped.x", "why not")
    by_hand.record("fit.m.cfi", 0.97, n=300, headline=True, label="CFI")
    by_hand.record_table("sizes", table, min_cell_size=5)
    by_hand.record("fit.m.rmsea", 0.04, ci=(0.03, 0.05), n=300)
    assert replayed == by_hand.to_json()
    assert json.loads(replayed)["entries"]["fit.m.rmsea"]["order"] == 2
    with pytest.raises(ResultsError, match="not suppressed"):  # the table's privacy check applies
        results.record_all([("t", table.assign(suppressed=False), {"min_cell_size": 5})])
    results.clear()


def test_counts_are_recorded_as_whole_numbers():
    rec = Recorder()
    rec.record("nps", 12.5, n=822.0, n_accounts=np.float64(35.0), se=2.0)
    rec.record("weighted", 0.4, n=81.5)  # a fractional (weighted) count stays what it is
    rec.record_table("by_group", pd.DataFrame({"group": ["a", "b"], "n": [10.0, np.nan],
                                               "est": [1.0, 2.0]}))
    doc = json.loads(rec.to_json())
    assert doc["values"]["nps.n"] == 822 and isinstance(doc["values"]["nps.n"], int)
    assert isinstance(doc["values"]["nps.n_accounts"], int)
    assert isinstance(doc["values"]["nps.se"], float)
    assert doc["values"]["weighted.n"] == 81.5
    table = doc["tables"]["by_group"]
    assert [r[1] for r in table["data"]] == [10, None]
    assert isinstance(table["data"][0][1], int) and isinstance(table["data"][0][2], float)
