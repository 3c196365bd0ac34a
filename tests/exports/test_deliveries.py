"""Client deliveries as received (issue 15): init -> committed study.yaml -> validate -> load.

Each delivery is written by hand in ``deliveries.py`` the way Qualtrics, SurveyMonkey, SPSS and
a CRM write their files. For each: ``crqlab init`` drafts study.yaml and lists what it took
every file and sheet for; the draft is compared with the study.yaml committed beside this
file (equal for the Qualtrics and SPSS deliveries; the SurveyMonkey one needed its 12
agreement statements mapped by hand); ``crqlab validate`` passes; and the loaded numbers equal
the ones worked out by hand below from the answers in ``deliveries.py``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from crqlab import cli, load_study
from crqlab.data.draft_study import draft_study
from crqlab.errors import ValidationError
from crqlab.measures.nps import nps
from exports.deliveries import ITEMS, build

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    """Each delivery built, drafted by `crqlab init` (listing kept) - once per module."""
    out = {}
    for name in ("acme", "bolt", "cobalt", "delta"):
        folder = build(name, tmp_path_factory.mktemp("exports") / name)
        out[name] = (folder, draft_study(folder))
    return out


def _body(text: str) -> list[str]:
    """The lines that say something: the leading comment block is not compared."""
    lines = text.splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return lines


def _committed(name: str) -> str:
    return (HERE / name / "study.yaml").read_text(encoding="utf-8")


def _loaded(drafted, name: str):
    folder = drafted[name][0]
    shutil.copy(HERE / name / "study.yaml", folder / "study.yaml")
    return load_study(folder, cache=False)


# --- init --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["acme", "bolt", "delta"])
def test_the_draft_is_the_committed_study_yaml(drafted, name):
    assert _body(drafted[name][1].text) == _body(_committed(name))


def test_the_surveymonkey_draft_differs_only_by_the_hand_mapped_statements(drafted):
    draft = yaml.safe_load(drafted["cobalt"][1].text)
    final = yaml.safe_load(_committed("cobalt"))
    added = {k: v for k, v in final["columns"]["responses"].items()
             if k not in draft["columns"]["responses"]}
    assert sorted(added) == sorted(ITEMS[:12])
    assert all(v.startswith("How far do you agree with each statement about Cobalt? - ")
               for v in added.values())
    final["columns"]["responses"] = {k: v for k, v in final["columns"]["responses"].items()
                                     if k not in added}
    assert final == draft


def test_init_lists_every_file_and_sheet_and_what_it_took_each_for(drafted):
    listing = drafted["acme"][1].listing
    assert len(listing) == 5
    by_ref = {line.split(":", 1)[0]: line for line in listing}
    assert by_ref["Acme CRM extract.xlsx#Read me"].endswith(
        "-> not used (no contacts, responses or accounts key column matched)")
    assert "-> contacts; matched contact_id" in by_ref["Acme CRM extract.xlsx#Invitations"]
    assert "-> accounts; matched account_id" in by_ref["Acme CRM extract.xlsx#Accounts"]
    for year, wave in (("2023", 1), ("2024", 2)):
        line = by_ref[f"Acme CX Survey {year}.csv"]
        assert line.startswith(f"Acme CX Survey {year}.csv: Qualtrics (columns ")
        assert "ImportId in row 3" in line and f"-> responses, wave {wave}; matched" in line
        assert "18 items" in line
    assert "SPSS" in drafted["delta"][1].listing[0]
    assert "SurveyMonkey" in drafted["cobalt"][1].listing[0]


def test_cli_init_prints_the_listing(tmp_path, capsys):
    folder = build("acme", tmp_path / "acme")
    assert cli.main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Acme CRM extract.xlsx#Read me" in out and "-> not used" in out
    assert "guesses, each marked '# guessed:'" in out


def test_every_guess_says_so(drafted):
    text = drafted["acme"][1].text
    rules = text.split("\nimport:", 1)[1].split("\nsegments:", 1)[0].splitlines()[1:]
    for line in rules:
        key = line.strip()
        if key.endswith(":") or key.startswith("#"):
            continue  # a heading (values:, filters:) or a comment
        assert "# guessed: " in line, line
    for needle in ("client: \"Acme\"    # guessed:", "wave: 1}    # guessed: 2023 in the file",
                   "innovation: \"Solution_1\"  # guessed: question text",
                   "nps: \"Q10\"  # guessed: question text",
                   "confidential: {true: [\"No\"], false: [\"Yes\"]}    # guessed:",
                   "start: 2024-03-04}    # guessed:"):
        assert needle in text, needle


def test_a_cover_sheet_is_never_taken_for_a_table(drafted):
    cfg = yaml.safe_load(drafted["acme"][1].text)
    assert cfg["files"]["contacts"] == "Acme CRM extract.xlsx#Invitations"
    assert cfg["files"]["accounts"] == "Acme CRM extract.xlsx#Accounts"
    assert [e["file"] for e in cfg["files"]["responses"]] == ["Acme CX Survey 2023.csv",
                                                               "Acme CX Survey 2024.csv"]


# --- validate and load -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["acme", "bolt", "cobalt", "delta"])
def test_validate_passes(drafted, name, capsys):
    folder = drafted[name][0]
    shutil.copy(HERE / name / "study.yaml", folder / "study.yaml")
    assert cli.main(["validate", str(folder)]) == 0, capsys.readouterr().err
    assert "valid: no problems found" in capsys.readouterr().out


def _by_wave(study) -> dict:
    out = {}
    for w, g in study.responses.groupby("wave"):
        est = nps(g["nps"].dropna())
        out[int(w)] = (len(g), round(float(est["est"].iloc[0]), 4),
                       round(float(g["nps"].mean()), 4))
    return out


def _item_means(study, wave: int, items: list[str]) -> dict:
    g = study.responses[study.responses["wave"] == wave]
    return {i: round(float(g[i].mean()), 4) for i in items}


def test_acme_numbers_worked_out_by_hand(drafted):
    s = _loaded(drafted, "acme")
    # 2023: 11 rows; left out: the preview and the anonymous-link row; C-1008 did not finish
    # -> 8 responses. Recommend: 10 9 8 7 9 5 0 10 -> promoters 4, detractors 2 (5, 0):
    # NPS = 100 * (4 - 2) / 8 = 25; mean 58 / 8 = 7.25.
    # 2024: 9 rows; the preview left out, C-1011 did not finish, C-1007 twice (the answer
    # recorded on 03-12 - 4 and 7 - is kept, though it comes first in the file) -> 6.
    # Recommend: 9 8 10 7 9 0 -> promoters 3, detractors 1: NPS 100 * 2 / 6 = 33.3333.
    assert _by_wave(s) == {1: (8, 25.0, 7.25), 2: (6, 33.3333, 7.1667)}
    # every answer of a respondent is its base: 2023 bases 7 6 5 4 6 3 2 7 (sum 40, mean 5);
    # trust_1 without C-1005's "Don't know" (6): 34 / 7 = 4.8571.
    assert _item_means(s, 1, ["trust_1", "trust_2", "customer_care"]) == \
        {"trust_1": 4.8571, "trust_2": 5.0, "customer_care": 5.0}
    # 2024 bases 6 5 7 4 5 1 (sum 28): 4.6667; customer_care without C-1010's (5): 23 / 5 = 4.6.
    assert _item_means(s, 2, ["trust_1", "customer_care"]) == {"trust_1": 4.6667,
                                                               "customer_care": 4.6}
    assert len(s.partials) == 2 and sorted(s.partials["contact_id"]) == ["C-1008", "C-1011"]
    # Qualtrics metadata that identifies respondents is not loaded; the rest is kept
    assert not {"ipaddress", "recipientemail", "recipientfirstname", "recipientlastname",
                "locationlatitude", "locationlongitude"} & set(s.responses.columns)
    assert {"responseid", "recordeddate"} <= set(s.responses.columns)
    # "May we share your name?" answered No -> confidential: C-1003, C-1005, C-1007 in 2023
    conf = s.responses[s.responses["wave"] == 1].set_index("contact_id")["confidential"]
    assert sorted(conf[conf].index) == ["C-1003", "C-1005", "C-1007"]
    # contacts: Member Status Responded -> responded; 10 invited in 2023, 8 in 2024
    assert s.contacts.groupby("wave")["responded"].agg(["size", "sum"]).values.tolist() == \
        [[10, 8], [8, 6]]
    # accounts: A-02 churned 2023-11-30, before wave 2 started (2024-03-04): not retained;
    # A-03 churned 2024-09-30: retained into wave 2; after the last wave nothing is known.
    acc = s.accounts.set_index(["account_id", "wave"])["retained_next_wave"]
    assert [acc[("A-01", 1)], acc[("A-02", 1)], acc[("A-03", 1)]] == [True, False, True]
    assert acc.xs(2, level="wave").isna().all()
    report = s.import_report()
    steps = report.groupby("step")["rows"].sum().to_dict()
    assert steps["left out: preview, test or spam response"] == 2
    assert steps["left out: no contact id (anonymous link)"] == 1
    assert steps["partial: set aside, not scored"] == 2
    assert steps["repeated: dropped, kept the last"] == 1


def test_bolt_numbers_worked_out_by_hand(drafted):
    s = _loaded(drafted, "bolt")
    # 8 rows: the preview (Status 1) left out, B-06 unfinished -> 6. Recommend: 8 8 9 6 8 10
    # (three genuine 8s, none lost) -> promoters 2, detractors 1: NPS 100 / 6 = 16.6667;
    # mean 49 / 6 = 8.1667.
    assert _by_wave(s) == {1: (6, 16.6667, 8.1667)}
    assert (s.responses["nps"] == 8).sum() == 3
    # bases 7 6 5 3 4 6 (sum 31); B-03's trust items are 8 = "don't know": 26 / 5 = 5.2;
    # B-05's customer_care is 8: 27 / 5 = 5.4; other items 31 / 6 = 5.1667.
    assert _item_means(s, 1, ["trust_1", "customer_care", "reliability"]) == \
        {"trust_1": 5.2, "customer_care": 5.4, "reliability": 5.1667}


def test_cobalt_numbers_worked_out_by_hand(drafted):
    s = _loaded(drafted, "cobalt")
    # 6 rows; K-05 answered three items and stopped -> partial. Recommend: 9 10 7 3 8 ->
    # promoters 2, detractors 1: NPS 20; mean 37 / 5 = 7.4.
    assert _by_wave(s) == {1: (5, 20.0, 7.4)}
    # bases 6 7 4 2 5 (sum 24): 4.8; value_for_money without K-06's N/A (5): 19 / 4 = 4.75.
    assert _item_means(s, 1, ["trust_1", "value_for_money"]) == {"trust_1": 4.8,
                                                                 "value_for_money": 4.75}
    assert s.responses.set_index("contact_id").loc["K-04", "weaknesses"] == \
        "Deliveries were late twice"


def test_delta_numbers_worked_out_by_hand(drafted):
    s = _loaded(drafted, "delta")
    # wave 1: D01-D04; D03's recommend is 99 (user-missing): answers 9 10 6 -> promoters 2,
    # detractors 1: NPS 33.3333 of 3 answers; mean 25 / 3 = 8.3333.
    # wave 2: 10 7 2 -> one promoter, one detractor: NPS 0; mean 19 / 3 = 6.3333.
    assert _by_wave(s) == {1: (4, 33.3333, 8.3333), 2: (3, 0.0, 6.3333)}
    # wave 1 bases 5 6 3 7 (sum 21): 5.25; TRUST2 without D04's 9 ("don't know"): 14 / 3.
    assert _item_means(s, 1, ["trust_1", "trust_2"]) == {"trust_1": 5.25, "trust_2": 4.6667}
    assert _item_means(s, 2, ["trust_1"]) == {"trust_1": 4.0}   # bases 6 4 2
    # SPSS value labels: ROLE codes read as their labels, RESPONDED 1/0 labelled Yes/No
    assert sorted(s.contacts["role"].astype(str).unique()) == [
        "Administrative", "CX team", "Key decision maker", "Operational"]
    assert s.contacts.groupby("wave")["responded"].sum().tolist() == [4, 3]


# --- the failures of issue 15, as errors ------------------------------------------------------

def _with_config(drafted, name: str, tmp_path: Path, edit) -> Path:
    folder = tmp_path / name
    shutil.copytree(drafted[name][0], folder)
    cfg = yaml.safe_load(_committed(name))
    edit(cfg)
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return folder


def test_dont_know_as_8_for_every_column_is_a_study_yaml_error(drafted, tmp_path, capsys):
    def study_wide(cfg):
        cfg["import"]["responses"].pop("missing_codes")
        cfg["missing_codes"] = ["Don't know", "8"]
    folder = _with_config(drafted, "bolt", tmp_path, study_wide)
    assert cli.main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "study.yaml, column 'missing_codes[1]': line " in err
    assert "'8' is a valid answer of nps (scale 0-10)" in err
    assert "blank every genuine 8" in err


@pytest.mark.parametrize("key, message", [
    ("value_labels", "unknown key 'value_labels'"),
    ("filter", "unknown key 'filter'"),
    ("segmets", "unknown key 'segmets'; did you mean 'segments'?"),
])
def test_unknown_keys_are_errors(drafted, tmp_path, key, message):
    folder = _with_config(drafted, "acme", tmp_path, lambda cfg: cfg.update({key: ["x"]}))
    with pytest.raises(ValidationError) as err:
        load_study(folder, cache=False)
    assert message in str(err.value)


def test_an_unknown_label_names_file_column_row_value_and_the_accepted_labels(drafted, tmp_path):
    folder = _with_config(drafted, "acme", tmp_path, lambda cfg: None)
    path = folder / "Acme CX Survey 2024.csv"
    data = path.read_bytes()
    # C-1002's first answer (file row 5: three header rows, then the preview and C-1001)
    row = data.split(b"\r\n")[4]
    path.write_bytes(data.replace(row, row.replace(b'"Agree"', b'"Agreee"', 1), 1))
    with pytest.raises(ValidationError) as err:
        load_study(folder, cache=False)
    (p,) = err.value.problems
    assert (p.file, p.column, p.row, p.value) == ("Acme CX Survey 2024.csv", "Trust_1 (trust_1)",
                                                  5, "Agreee")
    assert "Somewhat agree" in p.message and p.fix == "import.responses.value_labels"
