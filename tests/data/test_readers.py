"""Reading raw export tables (crqlab.data.readers): encodings, delimiters, decimals, rows, formats."""
from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from crqlab import ValidationError
from crqlab.data.readers import detect_delimiter, detect_encoding, read_raw_table


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _problem(err) -> tuple:
    (p,) = err.value.problems
    return p.file, p.column, p.row, p.value


# --- encoding ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data,expected", [
    (b"\xef\xbb\xbfa,b\n1,2\n", "utf-8-sig"),
    (b"a,b\n1,2\n", "utf-8"),
    ("Zürich;Société\n".encode("utf-8"), "utf-8"),
    ("Zürich;Société;Åkerlund\n".encode("cp1252"), "cp1252"),
    ("price €;“quoted”\n".encode("cp1252"), "cp1252"),
])
def test_detect_encoding(data, expected):
    assert detect_encoding(data) == expected


def test_detect_encoding_rejects_bytes_undefined_in_cp1252():
    # 0x81 is undefined in cp1252 and an invalid UTF-8 start byte.
    with pytest.raises(ValueError, match="0x81"):
        detect_encoding(b"abc\x81def")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_text_round_trips_in_each_encoding(tmp_path, encoding):
    text = "Account;Name\r\nA1;Müller Société Åkerlund\r\n"
    t = read_raw_table(_write(tmp_path, "t.csv", text.encode(encoding)))
    assert t.encoding == ("utf-8" if encoding == "utf-8" else encoding)
    assert list(t.frame.columns) == ["Account", "Name"]  # no BOM left on the first header
    assert t.frame.loc[0, "Name"] == "Müller Société Åkerlund"


def test_explicit_wrong_encoding_names_the_row_and_byte(tmp_path):
    data = "a;b\n1;x\n2;Müller\n".encode("cp1252")   # 0xfc is not UTF-8
    p = _write(tmp_path, "t.csv", data)
    with pytest.raises(ValidationError) as err:
        read_raw_table(p, encoding="utf-8")
    assert _problem(err) == ("t.csv", None, 3, "0xfc")
    with pytest.raises(ValidationError, match="unknown encoding"):
        read_raw_table(p, encoding="no-such-codec")
    assert read_raw_table(p, encoding="cp1252").frame.loc[1, "b"] == "Müller"


def test_undecodable_byte_row_counts_quoted_line_breaks_as_one_row(tmp_path):
    data = b'a,b\n1,"two\nlines"\n2,ok\n3,bad\x81\n'
    with pytest.raises(ValidationError) as err:
        read_raw_table(_write(tmp_path, "t.csv", data))
    assert _problem(err) == ("t.csv", None, 4, "0x81")


# --- delimiter and decimal --------------------------------------------------------------------

@pytest.mark.parametrize("header,expected", [
    ("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("a|b|c", "|"),
    ('"x;y",b,c', ","),          # a delimiter inside quotes does not count
    ("a;b,c;d", ";"),            # the candidate giving most fields wins
    ("only", ","),               # a single column defaults to comma
])
def test_detect_delimiter(header, expected):
    assert detect_delimiter(header + "\n1,2,3\n") == expected


@pytest.mark.parametrize("sep,decimal", [(",", "."), (";", ","), ("\t", ",")])
def test_decimal_follows_the_delimiter(tmp_path, sep, decimal):
    value = "2" + decimal + "5"
    text = f"id{sep}tenure\n1{sep}{value}\n"
    t = read_raw_table(_write(tmp_path, "t.csv", text.encode()))
    assert (t.delimiter, t.decimal) == (sep, decimal)
    assert t.frame.loc[0, "tenure"] == value  # cells stay text; the loader converts them


def test_explicit_read_options_override_detection(tmp_path):
    # A semicolon file with decimal points (some exports): decimal='.' must be honoured.
    p = _write(tmp_path, "t.csv", b"id;x\n1;2.5\n")
    t = read_raw_table(p, delimiter=";", decimal=".")
    assert (t.delimiter, t.decimal) == (";", ".")
    t = read_raw_table(p, delimiter=",")
    assert list(t.frame.columns) == ["id;x"]


# --- rows as numbered in the file -------------------------------------------------------------

def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path):
    text = ('id;text;n\r\n'
            '1;"two\nlines";5\r\n'      # row 2 (one row, although two lines)
            '\r\n'                      # row 3, blank line: dropped, still counted
            ';;\r\n'                    # row 4, Excel's empty row: dropped, still counted
            '2;x;6\r\n')                # row 5
    t = read_raw_table(_write(tmp_path, "t.csv", text.encode("cp1252")))
    assert t.frame["id"].tolist() == ["1", "2"]
    assert t.frame.loc[0, "text"] == "two\nlines"
    assert [t.file_row(i) for i in range(len(t.frame))] == [2, 5]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_endings(tmp_path, eol):
    t = read_raw_table(_write(tmp_path, "t.csv", eol.join(["a,b", "1,2", "3,4", ""]).encode()))
    assert t.frame.to_dict("list") == {"a": ["1", "3"], "b": ["2", "4"]}


def test_cells_are_stripped_text_and_blanks_missing(tmp_path):
    t = read_raw_table(_write(tmp_path, "t.csv", b" a , b \n  7 ,   \n"))
    assert list(t.frame.columns) == ["a", "b"]
    assert t.frame.loc[0, "a"] == "7" and pd.isna(t.frame.loc[0, "b"])
    assert str(t.frame["a"].dtype) == "string"


def test_every_ragged_row_is_listed_and_trailing_empty_fields_tolerated(tmp_path):
    text = "a;b\n1;2\n3;4;5\n6;7;\n8\n9;10;11;12\n"
    with pytest.raises(ValidationError) as err:
        read_raw_table(_write(tmp_path, "t.csv", text.encode()))
    found = [(p.row, p.value) for p in err.value.problems]
    assert found == [(3, "5"), (6, "11;12")]   # row 4's empty extra field and row 5's gap pass
    assert all(p.column is None and "header has 2" in p.message for p in err.value.problems)


def test_a_first_record_longer_than_the_header_is_not_cut_short(tmp_path):
    # pandas only warns about (and drops) the extra field of the first record; it must be listed
    with pytest.raises(ValidationError) as err:
        read_raw_table(_write(tmp_path, "t.csv", b"a;b\n1;2;3\n4;5\n"))
    assert [(p.row, p.value) for p in err.value.problems] == [(2, "3")]


def test_short_rows_are_padded(tmp_path):
    t = read_raw_table(_write(tmp_path, "t.csv", b"a,b,c\n1,2\n"))
    assert t.frame.loc[0, "a"] == "1" and pd.isna(t.frame.loc[0, "c"])


def test_unclosed_quote_is_reported_with_its_row(tmp_path):
    with pytest.raises(ValidationError) as err:
        read_raw_table(_write(tmp_path, "t.csv", b'a,b\n1,2\n3,"open\n4,5\n'))
    (p,) = err.value.problems
    assert p.file == "t.csv" and p.row == 3 and "malformed CSV" in p.message


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(ValidationError, match="file is empty"):
        read_raw_table(_write(tmp_path, "e.csv", b"  \r\n"))
    t = read_raw_table(_write(tmp_path, "h.csv", b"a;b\r\n"))
    assert list(t.frame.columns) == ["a", "b"] and t.frame.empty


# --- headers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["id;nps;nps", "id;nps; nps "])
def test_duplicate_header_is_reported(tmp_path, header):
    with pytest.raises(ValidationError) as err:
        read_raw_table(_write(tmp_path, "t.csv", f"{header}\n1;2;3\n".encode()))
    assert _problem(err) == ("t.csv", "nps", 1, "nps")


def test_trailing_empty_columns_are_dropped_but_unnamed_data_kept(tmp_path):
    t = read_raw_table(_write(tmp_path, "t.csv", b"a;b;;\n1;2;;\n3;4;;\n"))
    assert list(t.frame.columns) == ["a", "b"]
    t = read_raw_table(_write(tmp_path, "u.csv", b"a;;c\n1;x;3\n"))
    assert list(t.frame.columns) == ["a", "Unnamed: 1", "c"]


# --- XLSX -------------------------------------------------------------------------------------

def _workbook(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_xlsx_typed_cells_become_export_text(tmp_path):
    p = _workbook(tmp_path / "t.xlsx", {"Export": [
        ["id", "score", "share", "when", "flag", "name"],
        [1001, 7, 2.5, dt.datetime(2021, 3, 4), True, " Müller "],
        [1002, 7.0, None, None, False, None]]})
    t = read_raw_table(p)
    assert t.frame.loc[0].tolist() == ["1001", "7", "2.5", "2021-03-04T00:00:00", "true", "Müller"]
    assert t.frame.loc[1, "score"] == "7" and pd.isna(t.frame.loc[1, "share"])
    assert (t.file_row(0), t.file_row(1)) == (2, 3)


def test_xlsx_sheet_choice_blank_rows_and_duplicates(tmp_path):
    p = _workbook(tmp_path / "t.xlsx", {
        "Notes": [["this sheet is not the data"]],
        "Data": [["id", "nps"], [1, 9], [], [2, 11]],
        "Dup": [["id", "nps", "nps"], [1, 2, 3]]})
    t = read_raw_table(tmp_path / "t.xlsx#Data")
    assert t.frame["nps"].tolist() == ["9", "11"]
    assert [t.file_row(i) for i in range(2)] == [2, 4]   # the blank sheet row 3 still counts
    assert list(read_raw_table(p).frame.columns) == ["this sheet is not the data"]
    with pytest.raises(ValidationError) as err:
        read_raw_table(tmp_path / "t.xlsx#Dup")
    assert _problem(err) == ("t.xlsx", "nps", 1, "nps")
    with pytest.raises(ValidationError, match="cannot read workbook sheet 'Missing'"):
        read_raw_table(tmp_path / "t.xlsx#Missing")


def test_corrupt_workbook_and_parquet_are_validation_errors(tmp_path):
    for name in ("bad.xlsx", "bad.parquet"):
        p = _write(tmp_path, name, b"PK\x03\x04 this is not really a zip or parquet file")
        with pytest.raises(ValidationError) as err:
            read_raw_table(p)
        assert err.value.problems[0].file == name


# --- Parquet ----------------------------------------------------------------------------------

def test_parquet_rows_start_at_one_and_typed_cells_become_text(tmp_path):
    frame = pd.DataFrame({"id": ["C1", "C2", None], "nps": [9.0, np.nan, 10.0],
                          "ok": [True, False, None], "n": pd.array([1, None, 3], dtype="Int64")})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    t = read_raw_table(tmp_path / "t.parquet")
    assert t.row_offset == 1
    assert [t.file_row(i) for i in range(3)] == [1, 2, 3]
    assert t.frame["nps"].tolist()[0] == "9" and pd.isna(t.frame["nps"].iloc[1])
    assert t.frame["ok"].tolist()[:2] == ["true", "false"]
    assert t.frame["n"].tolist()[0] == "1" and pd.isna(t.frame["n"].iloc[1])


# --- files ------------------------------------------------------------------------------------

def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(ValidationError) as err:
        read_raw_table(tmp_path / "nope.csv")
    assert _problem(err) == ("nope.csv", None, None, None)
    with pytest.raises(ValidationError, match="unsupported file type '.dta'"):
        read_raw_table(_write(tmp_path, "t.dta", b"x"))
    with pytest.raises(ValidationError, match="cannot read SPSS file"):  # read since issue 15
        read_raw_table(_write(tmp_path, "t.sav", b"x"))


def test_reading_never_writes(tmp_path):
    p = _write(tmp_path, "t.csv", "a;b\r\n1;Müller\r\n".encode("cp1252"))
    before, mtime = p.read_bytes(), p.stat().st_mtime_ns
    read_raw_table(p)
    assert p.read_bytes() == before and p.stat().st_mtime_ns == mtime


# --- quoted CSV, stacked tables, SPSS (issue 15) ----------------------------------------------

QUOTED_CASES = [
    '"a","b"\r\n"1","x"\r\n"2","y ""q"" z"\r\n',            # every field quoted, CRLF, "" escapes
    'a,b\n"1","multi\nline"\n\n"3",""\n',                   # a cell spanning lines, a blank row
    'a;b\r\n"1";"x\r\ny"\r\n"2";"z"\r\n',                  # CR LF inside a cell, ; delimiter
    'a,b\n"1",x\n2,"y, with comma"\n',                      # quotes only where needed
]


@pytest.mark.parametrize("text", QUOTED_CASES)
def test_quoted_fast_path_equals_the_careful_splitter(tmp_path, text):
    from crqlab.data import readers

    fast = read_raw_table(_write(tmp_path, "fast.csv", text.encode("utf-8")))
    frame, sep = readers._quoted_csv(text.encode("utf-8"), "auto")
    assert frame is not None  # the fast path was taken
    norm = text.replace("\r\n", "\n").replace("\r", "\n")
    header, records = readers._split_csv(norm, sep, "t.csv")
    careful, rows = readers._clean_frame(pd.DataFrame(records, columns=header, dtype=object),
                                         "t.csv", first_row=2)
    pd.testing.assert_frame_equal(fast.frame, careful)
    assert fast.file_rows().tolist() == rows.tolist()


@pytest.mark.parametrize("text, why", [
    ('a,b\n"ab"c,d\n', "text after a closing quote"),
    ('a,b\n""c,d\n', "text after an empty quoted field"),
    ('a,b\n"a,"b,d\n', "a delimiter inside quotes, then text"),
    ('a,b\nab"c,"d"\n', "a quote inside an unquoted field"),
    ('a,b\n"unclosed,d\n', "a quote that never closes"),
])
def test_quoting_the_strict_reader_refuses_never_takes_the_fast_path(text, why):
    from crqlab.data import readers

    assert readers._quoted_csv(text.encode("utf-8"), ",") == (None, None), why


def test_malformed_quotes_are_still_reported(tmp_path):
    with pytest.raises(ValidationError, match="malformed CSV"):
        read_raw_table(_write(tmp_path, "bad.csv", b'a,b\n"ab"c,d\n'))


def test_stacked_tables_keep_each_row_s_file_and_number(tmp_path):
    from crqlab.data.readers import stack_tables

    a = read_raw_table(_write(tmp_path, "w1.csv", b"id,x\n1,a\n\n2,b\n"))
    b = read_raw_table(_write(tmp_path, "w2.csv", b"id,y\n3,c\n"))
    t = stack_tables([a, b])
    assert t.name == "w1.csv + w2.csv" and list(t.frame.columns) == ["id", "x", "y"]
    assert [(t.file_of(i), t.file_row(i)) for i in range(3)] == [
        ("w1.csv", 2), ("w1.csv", 4), ("w2.csv", 2)]
    assert t.frame["y"].isna().tolist() == [True, True, False]
    kept = t.subset(np.array([False, True, True]))
    assert [(kept.file_of(i), kept.file_row(i)) for i in range(2)] == [("w1.csv", 4),
                                                                      ("w2.csv", 2)]


def test_spss_codes_labels_user_missing_and_variable_labels(tmp_path):
    import pyreadstat

    frame = pd.DataFrame({"ID": ["D1", "D2", "D3"], "TRUST1": [7.0, 9.0, 1.0],
                          "ROLE": [1.0, 2.0, 1.0]})
    path = tmp_path / "s.sav"
    pyreadstat.write_sav(frame, str(path), column_labels=["Contact", "Trust: promises", "Role"],
                         variable_value_labels={"TRUST1": {1.0: "Strongly disagree",
                                                           9.0: "Don't know"},
                                                "ROLE": {1.0: "Key decision maker",
                                                         2.0: "Operational"}},
                         missing_ranges={"TRUST1": [9]})
    t = read_raw_table(path)
    assert t.frame["TRUST1"].tolist() == ["7", "9", "1"]        # codes, as text
    assert t.labels["ROLE"] == {"1": "Key decision maker", "2": "Operational"}
    assert t.user_missing["TRUST1"] == [(9.0, 9.0)]
    assert t.descriptions["TRUST1"] == "Trust: promises"
    assert (t.file_row(0), t.platform) == (1, "spss")           # cases numbered from 1
