"""crqlab.data.platforms: survey platforms' export layouts, told apart by their shape."""
from __future__ import annotations

import pytest

from crqlab.data.platforms import Layout, apply_layout, detect_layout, resolve_layout
from crqlab.data.readers import read_raw_table
from crqlab.errors import ValidationError

QUALTRICS = (
    '"StartDate","EndDate","Status","Finished","ResponseId","ExternalReference","Q1_1"\r\n'
    '"Start Date","End Date","Response Type","Finished","Response ID",'
    '"External Data Reference","How far do you agree? - They keep their promises"\r\n'
    '"{""ImportId"":""startDate"",""timeZone"":""America/Denver""}","{""ImportId"":""endDate""}",'
    '"{""ImportId"":""status""}","{""ImportId"":""finished""}","{""ImportId"":""_recordId""}",'
    '"{""ImportId"":""externalDataReference""}","{""ImportId"":""QID1_1""}"\r\n'
    '"2024-03-05 09:10:00","2024-03-05 09:16:00","IP Address","True","R_1","C-1","Agree"\r\n'
    '"2024-03-05 09:12:00","2024-03-05 09:19:00","IP Address","True","R_2","C-2","Disagree"\r\n')


def _read(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return read_raw_table(p)


def test_qualtrics_three_header_rows(tmp_path):
    raw = _read(tmp_path, "q.csv", QUALTRICS)
    layout = detect_layout(raw)
    assert (layout.platform, layout.header_rows, layout.skip_rows) == ("qualtrics", 1, 2)
    assert "ImportId in row 3" in layout.evidence
    t = apply_layout(raw, layout)
    assert t.frame["ExternalReference"].tolist() == ["C-1", "C-2"]
    assert [t.file_row(i) for i in range(2)] == [4, 5]  # the first record is row 4
    assert t.descriptions["Q1_1"] == "How far do you agree? - They keep their promises"
    assert t.platform == "qualtrics" and "header row 1, 2 row(s) after it skipped" in t.layout


def test_legacy_qualtrics_two_header_rows(tmp_path):
    text = ("V1,V2,V3,V4,V5,Q1\nResponseID,ResponseSet,ExternalDataReference,StartDate,"
            "EndDate,How likely are you to recommend us?\nR_1,Default,C-1,2015-03-01,"
            "2015-03-01,9\n")
    raw = _read(tmp_path, "legacy.csv", text)
    layout = detect_layout(raw)
    assert (layout.platform, layout.skip_rows) == ("qualtrics", 1)
    t = apply_layout(raw, layout)
    assert t.frame["Q1"].tolist() == ["9"] and t.file_row(0) == 3
    assert t.descriptions["V3"] == "ExternalDataReference"


def test_qualtrics_question_text_row_without_import_ids(tmp_path):
    text = "\n".join(QUALTRICS.replace("\r", "").split("\n")[:2] + QUALTRICS.split("\r\n")[3:])
    layout = detect_layout(_read(tmp_path, "q2.csv", text))
    assert (layout.platform, layout.skip_rows) == ("qualtrics", 1)


def test_surveymonkey_joins_question_and_answer_option(tmp_path):
    text = ("Respondent ID,Collector ID,Start Date,Custom Data 1,How far do you agree?,,"
            "How likely are you to recommend us?,What do we do well?\n"
            ",,,,They keep their promises,They are honest,Response,Open-Ended Response\n"
            "1183,4312,06/10/2024,K-01,Agree,Strongly agree,9,Quick\n")
    raw = _read(tmp_path, "sm.csv", text)
    layout = detect_layout(raw)
    assert (layout.platform, layout.header_rows, layout.skip_rows) == ("surveymonkey", 2, 0)
    t = apply_layout(raw, layout)
    assert list(t.frame.columns) == [
        "Respondent ID", "Collector ID", "Start Date", "Custom Data 1",
        "How far do you agree? - They keep their promises",
        "How far do you agree? - They are honest", "How likely are you to recommend us?",
        "What do we do well?"]
    assert t.file_row(0) == 3


def test_joined_names_that_repeat_are_an_error(tmp_path):
    text = "Respondent ID,Collector ID,Q,\n,,Response,Response\n1,2,3,4\n"
    raw = _read(tmp_path, "dup.csv", text)
    with pytest.raises(ValidationError, match="more than once"):
        apply_layout(raw, Layout("surveymonkey", 2, 0))


def test_plain_tables_stay_plain(tmp_path):
    raw = _read(tmp_path, "c.csv", "wave,contact_id,Status\n1,C1,Sent\n")
    assert detect_layout(raw).platform == "table"
    assert apply_layout(raw, detect_layout(raw)).frame.equals(raw.frame)


def test_study_yaml_overrides_detection(tmp_path):
    raw = _read(tmp_path, "q.csv", QUALTRICS)
    assert resolve_layout(raw, {"skip_rows": 1}).skip_rows == 1
    forced = resolve_layout(_read(tmp_path, "c.csv", "a,b\nx,y\n1,2\n"),
                            {"platform": "surveymonkey"})
    assert (forced.platform, forced.header_rows, forced.evidence) == \
        ("surveymonkey", 2, "as study.yaml says")


def test_header_rows_on_a_file_without_them(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "t.parquet")
    raw = read_raw_table(tmp_path / "t.parquet")
    with pytest.raises(ValidationError, match="CSV and XLSX files only"):
        apply_layout(raw, Layout("table", 1, 2))


def test_qualtrics_tsv_in_utf16_and_xlsx_exports(tmp_path):
    import csv
    import io

    import openpyxl

    rows = list(csv.reader(io.StringIO(QUALTRICS, newline="")))
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows(rows)  # quoted as needed
    (tmp_path / "q.tsv").write_bytes(out.getvalue().encode("utf-16"))  # with its BOM
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    wb.save(tmp_path / "q.xlsx")
    for name in ("q.tsv", "q.xlsx"):
        raw = read_raw_table(tmp_path / name)
        layout = detect_layout(raw)
        assert (layout.platform, layout.skip_rows) == ("qualtrics", 2), name
        t = apply_layout(raw, layout)
        assert t.frame["Q1_1"].tolist() == ["Agree", "Disagree"] and t.file_row(0) == 4
    assert read_raw_table(tmp_path / "q.tsv").encoding == "utf-16"
