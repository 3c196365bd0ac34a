"""Loading and validating studies (crqlab.data.study, crqlab.data.readers)."""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import build_study_frames, write_study

from crqlab import ValidationError, load_study


def test_loads_typed_study(small_study):
    s = load_study(small_study)
    assert s.waves == [1, 2]
    assert s.contacts["responded"].dtype == "boolean"
    assert s.responses["trust_1"].dtype == "Int64"
    assert s.responses["nps"].between(0, 10).all()
    assert isinstance(s.contacts["role"].dtype, pd.CategoricalDtype)
    r = s.respondents()
    assert len(r) == len(s.responses)
    assert not {"contact_name", "contact_email"} & set(r.columns)
    assert r["confidential"].dtype == "boolean"
    assert set(s.input_hashes()) == {"study.yaml", "contacts.csv", "responses.csv", "accounts.csv"}


def test_pii_blanked_for_confidential(small_study):
    r = load_study(small_study).respondents(pii=True)
    conf = r["confidential"].fillna(True).astype(bool)
    assert r.loc[conf, "contact_name"].isna().all()
    assert r.loc[~conf, "contact_name"].notna().all()


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_other_formats_load_the_same(tmp_path, fmt):
    frames = build_study_frames()
    a = load_study(write_study(tmp_path / "csv", *frames))
    b = load_study(write_study(tmp_path / fmt, *frames, fmt=fmt))
    pd.testing.assert_frame_equal(a.responses, b.responses)
    pd.testing.assert_frame_equal(a.contacts, b.contacts)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_excel_dialect_semicolon_comma_decimal(tmp_path, encoding):
    c, r, a = build_study_frames()
    c["tenure_years"] = 2.5
    c["account_id"] = c["account_id"].str.replace("A", "Zürich-")
    a["account_id"] = a["account_id"].str.replace("A", "Zürich-")
    folder = write_study(tmp_path / "x", c, r, a)
    for name, frame in (("contacts.csv", c), ("responses.csv", r), ("accounts.csv", a)):
        text = frame.to_csv(index=False, sep=";", decimal=",")
        (folder / name).write_bytes(text.encode(encoding))
    s = load_study(folder)
    assert s.contacts["tenure_years"].eq(2.5).all()
    assert s.contacts["account_id"].str.startswith("Zürich-").all()
    assert s.read_info["contacts"]["delimiter"] == ";"


def test_dont_know_is_missing_not_zero(tmp_path):
    c, r, a = build_study_frames()
    r = r.astype({"trust_1": object})
    r.loc[0, "trust_1"] = "Don't know"
    s = load_study(write_study(tmp_path / "dk", c, r, a, config={"missing_codes": ["Don't know"]}))
    assert pd.isna(s.responses.loc[0, "trust_1"])


def test_reports_every_problem_with_file_column_row_value(tmp_path):
    c, r, a = build_study_frames()
    r = r.astype({"nps": object, "trust_2": object})
    r.loc[0, "nps"] = 11        # file row 2
    r.loc[3, "trust_2"] = "high"  # file row 5
    folder = write_study(tmp_path / "bad", c, r, a)
    raw = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValidationError) as err:
        load_study(folder)
    found = {(p.file, p.column, p.row, p.value) for p in err.value.problems}
    assert ("responses.csv", "nps", 2, "11") in found
    assert ("responses.csv", "trust_2", 5, "high") in found
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == raw  # raw files untouched


def test_blank_or_dont_know_responded_is_an_error(tmp_path):
    # a missing "responded" would count as a non-response in every response rate
    c, r, a = build_study_frames()
    c = c.astype({"responded": object})
    c.loc[1, "responded"] = None          # file row 3
    c.loc[4, "responded"] = "N/A"         # file row 6, a configured missing code
    c.loc[5, "responded"] = "maybe"       # file row 7: not a boolean, reported once
    folder = write_study(tmp_path / "blank", c, r, a, config={"missing_codes": ["N/A"]})
    with pytest.raises(ValidationError) as err:
        load_study(folder)
    found = [(p.file, p.column, p.row, p.value, p.message) for p in err.value.problems
             if p.column == "responded"]
    rows = sorted((f, col, row, val) for f, col, row, val, _ in found)
    assert rows == [("contacts.csv", "responded", 3, None), ("contacts.csv", "responded", 6, "N/A"),
                    ("contacts.csv", "responded", 7, "maybe")]
    assert sum("missing" in m for *_, m in found) == 2


def test_problem_cap_counts_the_rest(tmp_path):
    c, r, a = build_study_frames(n_contacts=40)
    r["nps"] = 12
    with pytest.raises(ValidationError) as err:
        load_study(write_study(tmp_path / "many", c, r, a), max_problems=5)
    assert len(err.value.problems) == 5
    assert err.value.truncated == len(r) - 5
    assert "more not listed" in str(err.value)


def test_parquet_cache_hit_equals_fresh_load_and_misses_on_change(tmp_path):
    c, r, a = build_study_frames(waves=(1, 2))
    folder = write_study(tmp_path / "cached", c, r, a)
    cache = tmp_path / "processed"
    fresh = load_study(folder, cache=False)
    first = load_study(folder, cache=cache)        # validates and writes the cache
    (entry,) = list(cache.iterdir())
    second = load_study(folder, cache=cache)       # reads the cache
    for name in ("responses", "accounts"):
        pd.testing.assert_frame_equal(getattr(fresh, name), getattr(second, name))
    # the cache keeps names only of respondents who waived confidentiality
    conf = second.contacts["confidential"].fillna(False).astype(bool)
    assert second.contacts.loc[conf, "contact_name"].isna().all()
    assert second.contacts.loc[~conf, "contact_name"].equals(fresh.contacts.loc[~conf, "contact_name"])
    pd.testing.assert_frame_equal(fresh.contacts.drop(columns=["contact_name", "contact_email"]),
                                  second.contacts.drop(columns=["contact_name", "contact_email"]))
    assert first.read_info == second.read_info
    # any change to an input gives a new key: the study is validated again
    r.loc[0, "nps"] = 11
    write_study(folder, c, r, a)
    with pytest.raises(ValidationError):
        load_study(folder, cache=cache)
    assert list(cache.iterdir()) == [entry]


def test_auto_caches_a_study_outside_data_raw_only_where_the_run_says(tmp_path, monkeypatch):
    # "auto" caches studies under data/raw in data/processed; one elsewhere (a temporary
    # folder here) only in the folder RUN_CACHE_ENV names, which crqlab run sets for its notebooks
    from crqlab.data.study import RUN_CACHE_ENV

    c, r, a = build_study_frames(waves=(1, 2))
    folder = write_study(tmp_path / "elsewhere", c, r, a)
    monkeypatch.delenv(RUN_CACHE_ENV, raising=False)
    fresh = load_study(folder)
    assert not (tmp_path / "run-cache").exists()
    monkeypatch.setenv(RUN_CACHE_ENV, str(tmp_path / "run-cache"))
    load_study(folder)                                       # validates, writes the cache
    (entry,) = list((tmp_path / "run-cache").iterdir())
    cached = load_study(folder)                              # reads it
    for name in ("responses", "accounts"):
        pd.testing.assert_frame_equal(getattr(fresh, name), getattr(cached, name))
    assert list((tmp_path / "run-cache").iterdir()) == [entry]
    load_study(folder, cache=False)                          # False still never caches


def _with_dates(values):
    c, r, a = build_study_frames()
    c["invited_on"] = None
    c.loc[: len(values) - 1, "invited_on"] = values
    return c, r, a


@pytest.mark.parametrize("values, expected", [
    # a day above 12 settles the column: day-first
    (["25/03/2023", "03/04/2023", "2023-05-06"], ["2023-03-25", "2023-04-03", "2023-05-06"]),
    # a second number above 12: month-first
    (["03/25/2023", "04/03/2023"], ["2023-03-25", "2023-04-03"]),
    # month names are read as written; equal numbers read the same either way
    (["3 Apr 2023", "05/05/2023"], ["2023-04-03", "2023-05-05"]),
    # dotted dates are day-first by convention (German and Nordic exports)
    (["05.03.2021", "06.03.2021"], ["2021-03-05", "2021-03-06"]),
])
def test_numeric_dates_take_their_order_from_the_column(tmp_path, values, expected):
    c, r, a = _with_dates(values)
    s = load_study(write_study(tmp_path / "d", c, r, a))
    got = s.contacts.loc[: len(values) - 1, "invited_on"]
    assert list(got.dt.strftime("%Y-%m-%d")) == expected


def test_ambiguous_or_mixed_dates_are_errors_until_the_order_is_set(tmp_path):
    c, r, a = _with_dates(["03/04/2023", "05/06/2023", "07/07/2023"])  # file rows 2, 3, 4
    folder = write_study(tmp_path / "amb", c, r, a)
    with pytest.raises(ValidationError) as err:
        load_study(folder)
    found = {(p.file, p.column, p.row, p.value) for p in err.value.problems}
    # 07/07 reads the same either way and is not reported
    assert found == {("contacts.csv", "invited_on", 2, "03/04/2023"),
                     ("contacts.csv", "invited_on", 3, "05/06/2023")}
    assert all("read: dates" in p.message for p in err.value.problems)
    # the study says how its dates are written: then they load
    folder = write_study(tmp_path / "amb_set", c, r, a, config={"read": {"dates": "month-first"}})
    got = load_study(folder).contacts.loc[:1, "invited_on"].dt.strftime("%Y-%m-%d")
    assert list(got) == ["2023-03-04", "2023-05-06"]

    c, r, a = _with_dates(["25/03/2023", "03/25/2023"])  # both orders in one column
    with pytest.raises(ValidationError) as err:
        load_study(write_study(tmp_path / "mixed", c, r, a))
    assert {p.row for p in err.value.problems} == {2, 3}
    assert all("both day-first and month-first" in p.message for p in err.value.problems)


def test_explicit_date_order_rejects_impossible_dates_and_unknown_orders(tmp_path):
    c, r, a = _with_dates(["25/03/2023", "03/25/2023"])
    with pytest.raises(ValidationError) as err:
        load_study(write_study(tmp_path / "df", c, r, a, config={"read": {"dates": "day-first"}}))
    assert [(p.row, p.value) for p in err.value.problems] == [(3, "03/25/2023")]
    with pytest.raises(ValidationError) as err:
        load_study(write_study(tmp_path / "iso", c, r, a, config={"read": {"dates": "iso"}}))
    assert {p.row for p in err.value.problems} == {2, 3}
    with pytest.raises(ValidationError) as err:
        load_study(write_study(tmp_path / "bad", c, r, a, config={"read": {"dates": "US"}}))
    assert [(p.file, p.column, p.value) for p in err.value.problems] == [
        ("study.yaml", "read.dates", "US")]


# --- issue 15: the problem report, import rules, partials ---------------------------------------

def test_two_thousand_of_one_kind_and_three_of_others_shows_all_four_kinds(tmp_path, capsys):
    from crqlab import cli

    c, r, a = build_study_frames(n_contacts=2700)
    r = r.astype({"nps": object, "trust_2": object, "reliability": object})
    r.loc[:1999, "nps"] = 11                            # 2,000 off the 0-10 scale
    r.loc[2000:2002, "trust_2"] = "high"                # 3 text in a numeric column
    r.loc[2003:2005, "reliability"] = 9                 # 3 off the 1-7 scale
    c = c.assign(reminders=1)
    c.loc[:2, "reminders"] = -1                         # 3 negative counts
    folder = write_study(tmp_path / "flood", c, r, a)
    with pytest.raises(ValidationError) as err:
        load_study(folder, cache=False)
    e = err.value
    assert e.counts == {"must not be negative": 3, "off the 0-10 scale": 2000,
                        "text in a numeric column": 3, "off the 1-7 scale": 3}
    listed = {k: len(ps) for k, _, _, ps in e.kinds()}
    assert listed == {"must not be negative": 3, "off the 0-10 scale": 191,  # 200 - 3 x 3
                      "text in a numeric column": 3, "off the 1-7 scale": 3}
    assert e.truncated == 2009 - 200
    assert e.fixes["off the 0-10 scale"].startswith("import.responses.missing_codes")
    assert cli.main(["validate", str(folder), "--per-kind", "5"]) == 2
    out = capsys.readouterr().err
    for header in (" 3 x must not be negative", " 2000 x off the 0-10 scale (5 listed)",
                   " 3 x text in a numeric column; fix in study.yaml: missing_codes",
                   " 3 x off the 1-7 scale; fix in study.yaml: import.responses.missing_codes"):
        assert header in out, out[:2000]
    assert out.count("\n  - ") == 14 and len(out) < 4000
    assert cli.main(["validate", str(folder), "--max-problems", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_import_report_of_a_study_without_rules(small_study):
    report = load_study(small_study, cache=False).import_report()
    assert list(report.columns) == ["table", "file", "step", "rows"]
    got = {(t, s): n for t, s, n in zip(report["table"], report["step"], report["rows"])}
    assert got[("responses", "read")] == got[("responses", "loaded")]
    assert set(report["step"]) == {"read", "loaded"}


def _two_files(tmp_path, extra: dict | None = None, **edit):
    """A two-wave study with one responses file per wave and no wave column in them."""
    c, r, a = build_study_frames(waves=(1, 2))
    folder = write_study(tmp_path / "perwave", c, r, a)
    for w in (1, 2):
        part = r[r["wave"] == w].drop(columns=["wave"])
        part = edit.get(f"w{w}", lambda f: f)(part)
        part.to_csv(folder / f"responses {2020 + w}.csv", index=False)
    cfg = {"files": {"contacts": "contacts.csv", "accounts": "accounts.csv", "responses": [
        {"file": "responses 2021.csv", "wave": 1}, {"file": "responses 2022.csv", "wave": 2}]}}
    cfg |= extra or {}
    import yaml
    doc = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8")) | cfg
    (folder / "study.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return folder, r


def test_one_file_per_wave_with_the_wave_fixed_in_study_yaml(tmp_path):
    folder, r = _two_files(tmp_path)
    s = load_study(folder, cache=False)
    assert s.responses.groupby("wave").size().to_dict() == r.groupby("wave").size().to_dict()
    pd.testing.assert_series_equal(s.responses["trust_1"].reset_index(drop=True),
                                   r["trust_1"].astype("Int64").reset_index(drop=True),
                                   check_names=False)
    assert s.input_hashes().keys() >= {"responses 2021.csv", "responses 2022.csv"}


def test_a_bad_cell_is_named_in_its_own_file_and_row(tmp_path):
    def bad(f):
        f = f.astype({"nps": object})
        f.iloc[2, f.columns.get_loc("nps")] = 12  # third record: row 4 of that file
        return f
    folder, _ = _two_files(tmp_path, w2=bad)
    with pytest.raises(ValidationError) as err:
        load_study(folder, cache=False)
    assert [(p.file, p.column, p.row, p.value) for p in err.value.problems] == [
        ("responses 2022.csv", "nps", 4, "12")]


def test_a_file_with_its_own_wave_column_and_a_fixed_wave(tmp_path):
    folder, _ = _two_files(tmp_path, w1=lambda f: f.assign(Wave=1))
    with pytest.raises(ValidationError) as err:
        load_study(folder, cache=False)
    p = next(p for p in err.value.problems if "fixes wave 1" in p.message)
    assert (p.file, p.column, p.row, p.fix) == ("responses 2021.csv", "Wave", 1,
                                                "files.responses")


def test_partials_are_counted_kept_apart_and_cached(tmp_path):
    def unfinished(f):
        f = f.copy()
        f.iloc[:2, [f.columns.get_loc(i) for i in ("trust_1", "trust_2", "trust_3")]] = None
        f.iloc[:2, 2:] = None  # two responses that stopped after the first questions
        return f
    folder, r = _two_files(tmp_path, {"import": {"responses": {"complete_when": {
        "answered": 0.8}}}}, w1=unfinished)
    cache = tmp_path / "processed"
    fresh = load_study(folder, cache=cache)
    cached = load_study(folder, cache=cache)
    for s in (fresh, cached):
        assert len(s.partials) == 2 and set(s.partials["wave"]) == {1}
        assert len(s.responses) == len(r) - 2
        assert "strengths" not in s.partials.columns  # no verbatims kept for partials
        steps = s.import_report().set_index("step")["rows"]
        assert steps["partial: set aside, not scored"] == 2
    assert fresh.import_log == cached.import_log


def test_a_status_no_value_map_covers_is_reported_once_with_what_is_mapped(tmp_path):
    c, r, a = build_study_frames()
    c["responded"] = c["responded"].map({True: "Responded", False: "Sent"}).astype(object)
    c.loc[19, "responded"] = "Opened"                     # file row 21, not responded anyway
    cfg = {"import": {"contacts": {"values": {"responded": {True: ["Responded"],
                                                            False: ["Sent"]}}}}}
    folder = write_study(tmp_path / "status", c, r, a, config=cfg)
    with pytest.raises(ValidationError) as err:
        load_study(folder, cache=False)
    (p,) = err.value.problems
    assert (p.file, p.column, p.row, p.value) == ("contacts.csv", "responded", 21, "Opened")
    assert "(true: Responded; false: Sent)" in p.message
    assert p.fix == "import.contacts.values.responded"
    c.loc[19, "responded"] = "Sent"
    s = load_study(write_study(tmp_path / "status", c, r, a, config=cfg), cache=False)
    assert s.contacts["responded"].sum() == len(r)
