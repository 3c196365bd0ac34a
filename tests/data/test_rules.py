"""crqlab.data.rules: study.yaml import rules, checked against the instrument and applied."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crqlab.data import rules as R
from crqlab.data.instruments import load_instrument
from crqlab.data.readers import RawTable
from crqlab.data.study import TABLE_COLUMNS

CRQ = load_instrument("crq")
SCALES = {**{i: (1, 7) for i in CRQ.items}, "nps": (0, 10)}
GROUPS = R.column_groups([CRQ])
COLUMNS = {role: dict(kinds) for role, kinds in TABLE_COLUMNS.items()}
COLUMNS["responses"].update({i: "scale" for i in CRQ.items})


def _issues(cfg: dict) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in R.check_rules(cfg, COLUMNS, SCALES, GROUPS)]


# --- checking ----------------------------------------------------------------------------------

def test_a_study_wide_code_that_is_a_valid_answer_is_an_error():
    # the 2024 numeric export codes "don't know" as 8 - also a genuine answer on the 0-10 scale
    found = _issues({"missing_codes": ["Don't know", "8"]})
    assert len(found) == 1
    path, message = found[0]
    assert path == "missing_codes[1]"
    assert "'8' is a valid answer of nps (scale 0-10)" in message
    assert "blank every genuine 8" in message and "import: responses: missing_codes" in message


def test_the_same_code_for_the_items_only_is_accepted_and_resolved():
    cfg = {"import": {"responses": {"missing_codes": {"items": ["8"], "trust": "99"}}}}
    assert _issues(cfg) == []
    rules = R.table_rules(cfg, "responses", set(COLUMNS["responses"]), GROUPS, SCALES)
    assert rules.codes["trust_1"] == {"8", "99"} and rules.codes["customer_care"] == {"8"}
    assert "nps" not in rules.codes


@pytest.mark.parametrize("cfg, path, words", [
    ({"import": {"responses": {"missing_codes": {"nps": [8]}}}},
     "import.responses.missing_codes.nps[0]", "valid answer of nps"),
    ({"import": {"responses": {"missing_codes": {"trust": ["3"]}}}},
     "import.responses.missing_codes.trust[0]", "valid answer of trust_1"),
    ({"import": {"responses": {"value_labels": {"items": "agree-7"},
                               "missing_codes": {"items": ["agree"]}}}},
     "import.responses.missing_codes.items[0]", "answer label"),
    ({"missing_codes": ["no"]}, "missing_codes[0]", "true/false answer"),
    ({"import": {"contacts": {"missing_codes": {"responded": ["y"]}}}},
     "import.contacts.missing_codes.responded[0]", "true/false answer of responded"),
])
def test_codes_that_would_blank_real_answers(cfg, path, words):
    found = _issues(cfg)
    assert [p for p, _ in found] == [path], found
    assert words in found[0][1]


@pytest.mark.parametrize("cfg, path, words", [
    ({"import": {"responses": {"value_labels": {"items": "agree-5"}}}},
     "import.responses.value_labels.items", "5 labels for a 1-7 scale"),
    ({"import": {"responses": {"value_labels": {"nps": {"Top": 11}}}}},
     "import.responses.value_labels.nps", "off the 0-10 scale"),
    ({"import": {"responses": {"value_labels": {"strengths": "agree-7"}}}},
     "import.responses.value_labels.strengths", "answer columns"),
    ({"import": {"responses": {"value_labels": {"trst": "agree-7"}}}},
     "import.responses.value_labels.trst", "did you mean 'trust'?"),
    ({"import": {"responses": {"value_labels": {"items": ["a", "A ", "b", "c", "d", "e", "f"]}}}},
     "import.responses.value_labels.items", "two labels are the same"),
    ({"import": {"responses": {"filters": [{"column": "Status", "reason": "x"}]}}},
     "import.responses.filters[0]", "exactly one of keep, drop or present"),
    ({"import": {"responses": {"filters": [{"column": "S", "keep": ["a"], "present": True,
                                            "reason": "x"}]}}},
     "import.responses.filters[0]", "got keep, present"),
    ({"import": {"contacts": {"complete_when": {"column": "Finished"}}}},
     "import.contacts.complete_when", "responses only"),
    ({"import": {"contacts": {"values": {"responded": {"yes": ["Responded"]}}}}},
     "import.contacts.values.responded.yes", "responded takes true or false"),
    ({"import": {"contacts": {"values": {"wave": {True: ["x"]}}}}},
     "import.contacts.values.wave.true", "wave takes whole numbers"),
    ({"import": {"contacts": {"values": {"invited_on": {"a": ["x"]}}}}},
     "import.contacts.values.invited_on", "date column"),
    ({"import": {"contacts": {"values": {"respnded": {True: ["x"]}}}}},
     "import.contacts.values.respnded", "did you mean 'responded'?"),
    ({"import": {"contacts": {"values": {"responded": {True: ["Sent"], False: ["sent"]}}}}},
     "import.contacts.values.responded.false", "also mapped to true"),
    ({"import": {"responses": {"derive": {"retained_next_wave": {"churn_date": "C"}}}}},
     "import.responses.derive.retained_next_wave", "accounts only"),
    ({"waves": {1: {}, 2: {}},
      "import": {"accounts": {"derive": {"retained_next_wave": {"churn_date": "C"}}}}},
     "import.accounts.derive.retained_next_wave", "missing: 2"),
])
def test_rules_that_contradict_themselves_or_the_instrument(cfg, path, words):
    found = _issues(cfg)
    assert [p for p, _ in found] == [path], found
    assert words in found[0][1]


def test_shipped_label_sets_fit_their_scales():
    assert R.label_map("agree-7", (1, 7))[R.normalise_label("Somewhat agree")] == 5
    assert R.label_map("agree-5", (1, 5))[R.normalise_label("Strongly agree")] == 5
    assert R.label_map("likely-0-10", (0, 10)) == {"0-notatalllikely": 0, "10-extremelylikely": 10}
    assert R.normalise_label("  Neither  Agree nor\tdisagree ") == "neitheragreenordisagree"
    assert R.normalise_label("Don\u2019t know") == R.normalise_label("don't know")


# --- applying ----------------------------------------------------------------------------------

def _raw(frame: dict, rows=None) -> RawTable:
    df = pd.DataFrame(frame, dtype="string")
    return RawTable(Path("x.csv"), df, row_offset=4, rows=None if rows is None else np.array(rows))


def test_filters_count_what_they_leave_out_and_keep_row_numbers():
    raw = _raw({"Status": ["IP Address", "Survey Preview", "ip address", "Spam", "IP Address"],
                "Ref": ["C1", None, "C2", "C3", None]})
    filters = (R.Filter("Status", "preview or spam", drop=frozenset({"surveypreview", "spam"})),
               R.Filter("Ref", "no contact id", present=True))
    out, counts, problems = R.filter_rows(raw, filters, "import.responses.filters")
    assert counts == [("preview or spam", 2), ("no contact id", 1)] and not problems
    assert out.frame["Ref"].tolist() == ["C1", "C2"]
    assert [out.file_row(i) for i in range(2)] == [4, 6]  # rows as numbered in the file
    _, _, missing = R.filter_rows(raw, (R.Filter("Finished", "x", present=True),), "k")
    assert [(p.column, p.fix) for p in missing] == [("Finished", "k")]


def test_keep_filter_drops_blanks_and_other_values():
    raw = _raw({"Finished": ["True", "false", None, " TRUE "]})
    out, counts, _ = R.filter_rows(raw, (R.Filter("Finished", "unfinished",
                                                  keep=frozenset({"true"})),), "k")
    assert counts == [("unfinished", 2)] and len(out.frame) == 2


def test_relabel_numbers_pass_codes_pass_unknown_labels_are_flagged():
    s = pd.Series(["Somewhat agree", "strongly  AGREE", "7", "Don't know", "Agreee", None],
                  dtype="string")
    out, bad = R.relabel(s, R.label_map("agree-7", (1, 7)), frozenset({"don't know"}))
    assert out.tolist()[:4] == ["5", "7", "7", "Don't know"]
    assert out.isna().tolist()[5]
    assert bad.tolist() == [False, False, False, False, True, False]


def test_remap_maps_status_words_and_flags_the_rest():
    values = R._value_map({True: ["Responded"], False: ["Sent", "Bounced"]})
    s = pd.Series(["Responded", "sent", "BOUNCED", "Opened", None], dtype="string")
    out, bad = R.remap(s, values, frozenset())
    assert out.tolist()[:3] == ["true", "false", "false"]
    assert bad.tolist() == [False, False, False, True, False]


def test_repeated_rows_keep_the_last_by_order_or_by_file():
    frame = pd.DataFrame({"wave": [1, 1, 1, 2], "contact_id": ["a", "a", "b", "a"]})
    assert R.repeated_rows(frame, ["wave", "contact_id"], "last").tolist() == \
        [True, False, False, False]
    # recorded later first in the file: ordering by the date keeps row 0, not row 1
    order = pd.Series(pd.to_datetime(["2024-03-12", "2024-03-06", "2024-03-01", "2024-03-01"]))
    assert R.repeated_rows(frame, ["wave", "contact_id"], "last", order).tolist() == \
        [False, True, False, False]
    assert R.repeated_rows(frame, ["wave", "contact_id"], "first", order).tolist() == \
        [True, False, False, False]
    blank = pd.DataFrame({"wave": [1, 1], "contact_id": [None, None]})
    assert not R.repeated_rows(blank, ["wave", "contact_id"]).any()


def test_complete_rows_by_flag_and_by_share_answered():
    frame = pd.DataFrame({"a": [1, None, 1, 1], "b": [1, None, None, 1]})
    flag = pd.Series(["True", "True", "1", "False"], dtype="string")
    assert R.complete_rows(frame, flag, None, ["a", "b"]).tolist() == [True, True, True, False]
    assert R.complete_rows(frame, None, 0.5, ["a", "b"]).tolist() == [True, False, True, True]
    assert R.complete_rows(frame, flag, 1.0, ["a", "b"]).tolist() == [True, False, False, False]


def test_retained_next_wave_from_churn_dates():
    accounts = pd.DataFrame({"account_id": ["A", "B", "C", "D"]})
    churn = pd.Series(pd.to_datetime(["2023-11-30", None, "2024-03-04", "2024-09-30"]))
    starts = {2: pd.Timestamp("2024-03-04"), 3: pd.Timestamp("2025-03-03")}
    out, source = R.derive_retained(accounts, churn, [1, 2, 3], starts)
    assert source.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert str(out["retained_next_wave"].dtype) == "boolean"
    got = {(a, w): (None if pd.isna(r) else bool(r)) for a, w, r in
           zip(out["account_id"], out["wave"], out["retained_next_wave"])}
    assert got[("A", 1)] is False            # churned before wave 2 started
    assert got[("B", 1)] is True and got[("B", 2)] is True   # never churned
    assert got[("C", 1)] is True             # churned on the day wave 2 started: still there
    assert got[("C", 2)] is False                 # churned before wave 3 started
    assert got[("D", 1)] is True and got[("D", 2)] is False  # churned between waves 2 and 3
    assert all(got[(a, 3)] is None for a in "ABCD")  # after the last wave: unknown
