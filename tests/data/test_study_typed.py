"""Typed Parquet columns through the loader (issue 21, item 1): numbers stay numbers from the
reader to the checks, and the problems are exactly those of the same file read as text (what
the loader did before) and of the same data written as CSV."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import build_study_frames, write_study

import crqlab.data.study as study_module
from crqlab import ValidationError, load_study
from crqlab.data import readers
from crqlab.data.readers import is_typed, read_raw_table, stack_tables, text_cells

CODES = {"missing_codes": ["-99", "Don't know"],
         "import": {"responses": {"missing_codes": {"trust_2": ["8"]}}}}


def _load(folder, *, typed: bool = True, monkeypatch=None):
    """The study, or the ValidationError it raises; ``typed=False`` reads Parquet as text."""
    if not typed:
        monkeypatch.setattr(study_module, "read_raw_table",
                            lambda *a, **k: readers.read_raw_table(*a, **{**k, "typed": False}))
    try:
        return load_study(folder, cache=False, max_problems=1000)
    except ValidationError as exc:
        return exc
    finally:
        monkeypatch.undo() if not typed else None


def _rows(exc: ValidationError, csv: bool = False) -> list[tuple]:
    """Every problem listed, as (file stem, column, row as Parquet numbers it, value, message)."""
    return [(p.file.rsplit(".", 1)[0] if p.file else None, p.column,
             p.row - 1 if csv and p.row is not None and p.file.endswith(".csv") else p.row,
             p.value, p.message) for p in exc.problems]


def _as_csv(folder_pq, folder_csv):
    """The same data as CSV: every Parquet column (booleans too) written as the text a CSV
    export holds."""
    import shutil

    import yaml

    folder_csv.mkdir()
    cfg = yaml.safe_load((folder_pq / "study.yaml").read_text())
    for role, name in cfg["files"].items():
        frame = pd.read_parquet(folder_pq / name)
        text = pd.DataFrame({c: readers._column_to_text(frame[c]).astype(object)
                             for c in frame.columns})
        text.to_csv(folder_csv / name.replace(".parquet", ".csv"), index=False, na_rep="")
        cfg["files"][role] = name.replace(".parquet", ".csv")
    (folder_csv / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    shutil.copymode(folder_pq / "study.yaml", folder_csv / "study.yaml")
    return folder_csv


def _hostile(tmp_path):
    """A Parquet study whose numeric columns break every rule a number can break."""
    c, r, a = build_study_frames()
    n = len(r)
    r["wave"] = r["wave"].astype(float)
    r.loc[3, "wave"] = np.nan                                        # blank key
    r["trust_1"] = r["trust_1"].astype(float)
    r.loc[0, "trust_1"] = 3.5                                        # fraction
    r.loc[1, "trust_1"] = np.nan                                     # blank answer: fine
    r.loc[2, "trust_1"] = 8.0                                        # off the scale
    r.loc[4, "trust_1"] = -99.0                                      # missing code
    r.loc[5, "trust_1"] = float("inf")                               # not finite
    r.loc[6, "trust_1"] = 1e300                                      # too large
    r.loc[[0, 1], "trust_2"] = [8, 0]                                # a column's own code; 0
    r["trust_3"] = [True, False] * (n // 2) + [True] * (n % 2)       # booleans in an item
    r["commitment_1"] = ["5", " 6 ", "x", "08", "7.0", "-99", "nan"] + ["4"] * (n - 7)
    r.loc[7, "nps"] = 11                                             # off the 0-10 scale
    r.loc[8, "nps"] = -99                                            # missing code
    r.loc[9, "nps"] = -3
    r = pd.concat([r, r.iloc[[10]]], ignore_index=True)               # a second response
    r["extra_whole"] = np.where(np.arange(len(r)) % 2, 2.0, np.nan)  # Int64 as text would be
    r["extra_inf"] = np.where(np.arange(len(r)) == 1, np.inf, 1.5)   # text as text would be
    r["extra_big"] = np.full(len(r), 2**60, dtype=np.int64)          # Float64 as text would be
    c["reminders"] = np.arange(len(c), dtype=np.int64) - 1           # -1: must not be negative
    c["tenure_years"] = np.where(np.arange(len(c)) == 2, -np.inf, 2.5)
    c["newly_included"] = np.arange(len(c)) % 3                      # 0/1 booleans, and a 2
    return write_study(tmp_path / "pq", c, r, a, config=CODES, fmt="parquet")


def test_hostile_numbers_give_the_problems_of_the_text_path_and_of_csv(tmp_path, monkeypatch):
    folder = _hostile(tmp_path)
    raw = read_raw_table(folder / "responses.parquet", typed=True)
    assert is_typed(raw.frame["trust_1"]) and is_typed(raw.frame["nps"])
    assert not is_typed(raw.frame["trust_3"]) and not is_typed(raw.frame["commitment_1"])
    typed = _load(folder)
    text = _load(folder, typed=False, monkeypatch=monkeypatch)
    csv = _load(_as_csv(folder, tmp_path / "csv"))
    assert isinstance(typed, ValidationError) and isinstance(text, ValidationError)
    assert str(typed) == str(text)
    assert typed.counts == text.counts and typed.truncated == text.truncated
    assert _rows(typed) == _rows(csv, csv=True)
    found = {(p.column, p.row, p.value, p.message) for p in typed.problems}
    expected = {
        ("trust_1", 1, "3.5", "must be a whole number"),
        ("trust_1", 3, "8", "off the 1-7 scale"),
        ("trust_1", 6, "inf", "not a finite number (infinite, or beyond ±1.8e308)"),
        ("trust_1", 7, str(int(1e300)),
         "too large for a whole number (at most 9,007,199,254,740,992)"),
        ("trust_2", 2, "0", "off the 1-7 scale"),
        ("trust_3", 1, "true", "text in a numeric column"),
        ("commitment_1", 3, "x", "text in a numeric column"),
        ("commitment_1", 4, "08", "off the 1-7 scale"),
        ("commitment_1", 7, "nan", "text in a numeric column"),
        ("nps", 8, "11", "off the 0-10 scale"),
        ("nps", 10, "-3", "off the 0-10 scale"),
        ("wave", 4, None, "wave is blank; every responses row needs one"),
        ("reminders", 1, "-1", "must not be negative"),
        ("tenure_years", 3, "-inf", "not a finite number (infinite, or beyond ±1.8e308)"),
        ("newly_included", 3, "2", "not a boolean (true/false, yes/no, 1/0)"),
    }
    assert expected <= found
    # the codes (-99 anywhere, 8 in trust_2) are missing answers, never problems
    assert not {(c, r) for c, r, *_ in found} & {("trust_1", 5), ("trust_2", 1), ("nps", 9),
                                                  ("commitment_1", 6)}
    assert any(p.message == "a second response of the same contact appears twice"
               for p in typed.problems)


def test_clean_typed_study_loads_as_the_text_path_and_csv_do(tmp_path, monkeypatch):
    c, r, a = build_study_frames(waves=(1, 2))
    r["trust_1"] = r["trust_1"].astype(float)
    r.loc[[0, 5], "trust_1"] = [np.nan, -99.0]                       # blank and a code
    r["trust_2"] = pd.array(r["trust_2"], dtype="Int64")
    r.loc[1, "trust_2"] = pd.NA                                      # a nullable integer
    r["nps"] = r["nps"].astype(np.int32)                             # another width
    r["extra_whole"] = np.where(np.arange(len(r)) % 2, 2.0, np.nan)
    r["extra_float"] = np.linspace(0, 1, len(r))
    r["extra_big"] = np.full(len(r), 2**60, dtype=np.int64)
    r["extra_inf"] = np.where(np.arange(len(r)) == 1, np.inf, 1.5)
    c["reminders"] = np.arange(len(c), dtype=np.uint8) % 3
    c["tenure_years"] = np.where(np.arange(len(c)) == 2, np.nan, 2.25)
    folder = write_study(tmp_path / "pq", c, r, a, config=CODES, fmt="parquet")
    typed = _load(folder)
    text = _load(folder, typed=False, monkeypatch=monkeypatch)
    csv = _load(_as_csv(folder, tmp_path / "csv"))
    for other in (text, csv):
        for role in ("contacts", "responses", "accounts"):
            pd.testing.assert_frame_equal(getattr(typed, role), getattr(other, role))
    assert typed.responses["trust_1"].isna().sum() == 2
    assert str(typed.responses["extra_whole"].dtype) == "Int64"
    assert str(typed.responses["extra_big"].dtype) == "Float64"
    assert str(typed.responses["extra_inf"].dtype) == "string"


def test_ids_stored_as_numbers_are_their_text_and_lose_no_zero_silently(tmp_path, monkeypatch):
    """contact_id as int64 in the frame, as zero-padded text in the responses: the ids differ
    (7 is not 007), exactly as in CSV, so each response is reported, not matched."""
    c, r, a = build_study_frames()
    c["contact_id"] = c["contact_id"].str[1:].astype(np.int64)        # C007 -> 7
    r["contact_id"] = r["contact_id"].str[1:]                          # C007 -> "007"
    folder = write_study(tmp_path / "pq", c, r, a, fmt="parquet")
    assert is_typed(read_raw_table(folder / "contacts.parquet", typed=True).frame["contact_id"])
    typed = _load(folder)
    text = _load(folder, typed=False, monkeypatch=monkeypatch)
    csv = _load(_as_csv(folder, tmp_path / "csv"))
    assert str(typed) == str(text)
    assert _rows(typed) == _rows(csv, csv=True)
    unknown = [p for p in typed.problems if "not in the invitation frame" in p.message]
    assert len(unknown) == len(r) and unknown[0].value == "wave=1, contact_id=000"


def test_rules_read_typed_columns_as_their_text(tmp_path, monkeypatch):
    """Filters, completion flags and mapped values read a typed column's cells as the text a
    CSV export holds (1, not 1.0); repeats are dropped by the typed keys; stacked files keep a
    column typed only where every file types it alike."""
    c, r, a = build_study_frames()
    r["progress"] = np.where(np.arange(len(r)) == 0, 50.0, 100.0)     # float, written 100
    r["finished"] = np.where(np.arange(len(r)) == 1, 0, 1)            # int 0/1
    r = pd.concat([r, r.iloc[[4]]], ignore_index=True)               # a repeat, dropped
    c["responded"] = np.where(c["responded"], 1, 2)                  # int codes, mapped
    half = len(r) // 2
    first, second = r.iloc[:half].copy(), r.iloc[half:].copy()
    second["trust_1"] = second["trust_1"].astype(float)              # typed unlike the first
    config = {"import": {
        "responses": {"filters": [{"column": "progress", "keep": [100], "reason": "unfinished"}],
                      "complete_when": {"column": "finished"}, "dedup": {"keep": "last"}},
        "contacts": {"values": {"responded": {True: [1], False: [2]}}}}}
    folder = write_study(tmp_path / "pq", c, first, a, config=config, fmt="parquet")
    second.to_parquet(folder / "responses2.parquet", index=False)
    import yaml
    cfg = yaml.safe_load((folder / "study.yaml").read_text())
    cfg["files"]["responses"] = [{"file": "responses.parquet"}, {"file": "responses2.parquet"}]
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    stacked = stack_tables([read_raw_table(folder / f, typed=True)
                            for f in ("responses.parquet", "responses2.parquet")])
    assert is_typed(stacked.frame["nps"]) and not is_typed(stacked.frame["trust_1"])
    assert stacked.frame["trust_1"].tolist()[-1] == str(int(second["trust_1"].iloc[-1]))
    typed = _load(folder)
    text = _load(folder, typed=False, monkeypatch=monkeypatch)
    assert not isinstance(typed, ValidationError), str(typed)
    for role in ("contacts", "responses"):
        pd.testing.assert_frame_equal(getattr(typed, role), getattr(text, role))
    assert typed.import_log == text.import_log
    steps = {e["step"]: e["rows"] for e in typed.import_log if e["table"] == "responses"
             and e["file"] in ("responses.parquet", "responses.parquet + responses2.parquet")}
    assert steps["left out: unfinished"] == 1 and steps["partial: set aside, not scored"] == 1
    assert steps["repeated: dropped, kept the last"] == 1
    assert typed.contacts["responded"].sum() == (c["responded"] == 1).sum()


@pytest.mark.parametrize("values", [
    np.array([1, 2, 3], dtype=np.int64), np.array([1.0, np.nan, 2.5, np.inf, -0.0, 1e20]),
    pd.array([1, None, 3], dtype="Int64"), np.array([2**64 - 1, 0], dtype=np.uint64),
    np.array([1.5, 2.0], dtype=np.float32)])
def test_text_cells_is_the_text_path(tmp_path, values):
    pd.DataFrame({"x": values}).to_parquet(tmp_path / "t.parquet", index=False)
    typed = read_raw_table(tmp_path / "t.parquet", typed=True).frame["x"]
    text = read_raw_table(tmp_path / "t.parquet").frame["x"]
    assert is_typed(typed) and not is_typed(text)
    pd.testing.assert_series_equal(text_cells(typed), text, check_dtype=False)
    assert str(text_cells(typed).dtype) == "string"
