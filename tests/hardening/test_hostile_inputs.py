"""Hostile input: every case ends in exit 2 with a message, never a traceback.

Each case copies the hand-made study ``tests/fixtures/mini_study`` into ``tmp_path``, plants
one hostile input (a study.yaml key, an instrument file, a cell, a workbook feature, a file
link), runs ``crqlab validate`` through :func:`crqlab.cli.main` and checks: exit code 2, no
traceback on stderr, every expected fragment in the message (file, column or key, row or line,
value as applicable), the message short even when the input is huge, and every file of the
study folder unchanged byte for byte.

The last part checks ``crqlab init``: column names built to break YAML (line separators,
``: ``, ``#``, ``- ``, ``{``, anchors, aliases, tags, quotes, leading spaces) are written so
that reading the draft back gives exactly the same names, and no comment can hold a line break
from the data.
"""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crqlab import cli
from crqlab.data.draft_study import draft_study_yaml, normalise_column
from crqlab.data.schema import MAX_DEPTH, MAX_YAML_BYTES
from crqlab.errors import SHOWN_CHARS
from crqlab.paths import INSTRUMENTS_DIR

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
BIG = 20_000_000  # a 20 MB cell


# -- editing a copy of the fixture -------------------------------------------------------------
def _rows(study: Path, name: str) -> list[list[str]]:
    with open(study / name, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _write_rows(study: Path, name: str, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    (study / name).write_text(buf.getvalue(), encoding="utf-8")


def set_cell(study: Path, name: str, column: str, record: int, value: str) -> None:
    """Put ``value`` in ``column`` of record ``record`` (0-based; file row record + 2)."""
    rows = _rows(study, name)
    if column not in rows[0]:
        rows[0].append(column)
        for r in rows[1:]:
            r.append("")
    rows[record + 1][rows[0].index(column)] = value
    _write_rows(study, name, rows)


def header_only(study: Path, name: str) -> None:
    _write_rows(study, name, _rows(study, name)[:1])


def edit_yaml(study: Path, change: Callable[[dict], None]) -> None:
    cfg = yaml.safe_load((study / "study.yaml").read_text(encoding="utf-8"))
    change(cfg)
    (study / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True),
                                      encoding="utf-8")


def append_yaml(study: Path, text: str) -> None:
    with open(study / "study.yaml", "a", encoding="utf-8") as fh:
        fh.write(text)


def replace_yaml(study: Path, old: str, new: str) -> None:
    text = (study / "study.yaml").read_text(encoding="utf-8")
    assert old in text, old
    (study / "study.yaml").write_text(text.replace(old, new), encoding="utf-8")


def to_xlsx(study: Path, role: str, plant: Callable) -> None:
    """Write the ``role`` table as an XLSX workbook, let ``plant(ws)`` edit it, point study.yaml
    at it."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for r in _rows(study, f"{role}.csv"):
        ws.append([int(v) if v.isdigit() else v for v in r])
    plant(ws)
    wb.save(study / f"{role}.xlsx")
    (study / f"{role}.csv").unlink()
    edit_yaml(study, lambda c: c["files"].update({role: f"{role}.xlsx"}))


def to_parquet(study: Path, role: str, column: str, values) -> None:
    frame = pd.read_csv(study / f"{role}.csv", dtype=str, keep_default_na=False)
    frame[column] = values(len(frame))
    frame.to_parquet(study / f"{role}.parquet", index=False)
    (study / f"{role}.csv").unlink()
    edit_yaml(study, lambda c: c["files"].update({role: f"{role}.parquet"}))


def instrument_file(study: Path, text: str) -> None:
    spec = (INSTRUMENTS_DIR / "crq.yaml").read_text()
    (study / "mine.yaml").write_text(spec.replace("name: crq", "name: mine") + text,
                                     encoding="utf-8")
    edit_yaml(study, lambda c: c.update(instrument="mine.yaml"))


# -- the corpus ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    plant: Callable[[Path], None]
    expect: tuple[str, ...]  # fragments the error message must contain


def _alias_bomb(study: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    append_yaml(study, "\n".join(lines) + "\n")


def _symlink_out(study: Path) -> None:
    outside = study.parent / "outside.csv"
    shutil.copy(study / "contacts.csv", outside)
    (study / "contacts.csv").unlink()
    (study / "contacts.csv").symlink_to(outside)


def _instrument_scale_true(study: Path) -> None:
    instrument_file(study, "")
    text = (study / "mine.yaml").read_text(encoding="utf-8")
    (study / "mine.yaml").write_text(text.replace("scale: {min: 1", "scale: {min: true"),
                                     encoding="utf-8")


def _merge(ws) -> None:
    ws.merge_cells("B2:C2")


def _formula(ws) -> None:
    ws["I3"] = "=H3+1"  # reminders of record 1 (file row 3): a formula openpyxl cannot compute


def _error_cell(ws) -> None:
    ws["I4"] = "#DIV/0!"


CASES: dict[str, Case] = {
    # study.yaml keys: unknown, misspelt, duplicate, wrong type, out of range
    "misspelt top-level key": Case(lambda s: replace_yaml(s, "segments:", "segmets:"),
                                   ("study.yaml", "column 'segmets'", "unknown key 'segmets'",
                                    "did you mean 'segments'?", "line ")),
    "misspelt nested key": Case(lambda s: append_yaml(s, "read: {delimitter: ';'}\n"),
                                ("study.yaml", "read.delimitter", "did you mean 'delimiter'?")),
    "unknown table role": Case(lambda s: replace_yaml(s, "  accounts: accounts.csv",
                                                      "  account: accounts.csv"),
                               ("study.yaml", "files.account", "did you mean 'accounts'?")),
    "duplicate key": Case(lambda s: append_yaml(s, "study: again\n"),
                          ("study.yaml", "duplicate key 'study' (first on line", "line ")),
    "segments as a string": Case(lambda s: edit_yaml(s, lambda c: c.update(segments="role")),
                                 ("study.yaml", "column 'segments'", "must be a list",
                                  "(value 'role')")),
    "min_cell_size true": Case(lambda s: edit_yaml(s, lambda c: c.update(min_cell_size=True)),
                               ("study.yaml", "column 'min_cell_size'", "must be a whole number",
                                "(value True)")),
    "min_cell_size 2": Case(lambda s: edit_yaml(s, lambda c: c.update(min_cell_size=2)),
                            ("column 'min_cell_size'", "from 3 to", "(value 2)")),
    "min_cell_size 5.0": Case(lambda s: edit_yaml(s, lambda c: c.update(min_cell_size=5.0)),
                              ("column 'min_cell_size'", "must be a whole number", "(value 5.0)")),
    "seed negative": Case(lambda s: edit_yaml(s, lambda c: c.update(seed=-1)),
                          ("column 'seed'", "from 0 to", "(value -1)")),
    "two-character delimiter": Case(lambda s: append_yaml(s, 'read: {delimiter: "ab"}\n'),
                                    ("column 'read.delimiter'", "single character",
                                     "(value 'ab')")),
    "unknown encoding": Case(lambda s: append_yaml(s, "read: {encoding: klingon}\n"),
                             ("column 'read.encoding'", "not an encoding", "(value 'klingon')")),
    "confidentiality sometimes": Case(
        lambda s: replace_yaml(s, "confidentiality: optional", "confidentiality: sometimes"),
        ("column 'waves.1.confidentiality'", "one of optional, none, all, unknown",
         "(value 'sometimes')")),
    "wave key not a number": Case(lambda s: replace_yaml(s, "  1: {label:", "  one: {label:"),
                                  ("column 'waves.one'", "must be a whole number",
                                   "(value 'one')")),
    "line break in the study name": Case(
        lambda s: replace_yaml(s, "study: mini", 'study: "mini\\nevil: 1"'),
        ("column 'study'", "control characters or line breaks")),
    "control character in client": Case(
        lambda s: replace_yaml(s, "client: Fixture Client Ltd", 'client: "Fixture\\a Client"'),
        ("column 'client'", "control characters")),
    "bell in a label": Case(lambda s: replace_yaml(s, 'label: "2022"', 'label: "20\\a22"'),
                            ("column 'waves.1.label'", "control characters")),
    "export column mapped twice": Case(
        lambda s: edit_yaml(s, lambda c: c["columns"].update(
            contacts={"contact_id": "contact_id", "account_id": "contact_id"})),
        ("column 'columns.contacts.account_id'", "already mapped to 'contact_id'")),
    # YAML the reader refuses
    "alias bomb": Case(_alias_bomb, ("study.yaml", "aliases (*name) are not allowed", "line ")),
    "merge key": Case(lambda s: append_yaml(s, "read:\n  <<: {dates: iso}\n"),
                      ("merge keys (<<) are not allowed",)),
    "python object tag": Case(lambda s: replace_yaml(s, "client: Fixture Client Ltd",
                                                     "client: !!python/object:os.system ls"),
                              ("study.yaml", "not valid YAML", "python/object")),
    "nested too deep": Case(lambda s: append_yaml(s, "x: " + "[" * 10_000 + "]" * 10_000 + "\n"),
                            ("study.yaml", f"nested more than {MAX_DEPTH} levels deep")),
    "study.yaml in cp1252": Case(
        lambda s: (s / "study.yaml").write_bytes(
            (s / "study.yaml").read_bytes().replace(b"Fixture Client", "Müller".encode("cp1252"))),
        ("study.yaml", "not UTF-8: byte 0xfc at offset", "line ", "save the file as UTF-8")),
    "study.yaml of 2 MB": Case(lambda s: append_yaml(s, "#" * (2 * MAX_YAML_BYTES) + "\n"),
                               ("study.yaml", f"at most {MAX_YAML_BYTES:,} bytes")),
    "impossible date in study.yaml": Case(
        lambda s: replace_yaml(s, 'label: "2022"', "label: 2022-02-30"),
        ("study.yaml", "line ", "cannot read this value", "day is out of range")),
    "5,000-digit number in study.yaml": Case(
        lambda s: replace_yaml(s, "seed: 11", "seed: " + "1" * 5000),
        ("study.yaml", "line ", "cannot read this value")),
    "NUL in study.yaml": Case(lambda s: append_yaml(s, "notes: a\x00b\n"),
                              ("study.yaml", "character 0x0000 is not allowed")),
    # paths out of the study folder
    "file path with ..": Case(lambda s: replace_yaml(s, "contacts: contacts.csv",
                                                     "contacts: ../contacts.csv"),
                              ("column 'files.contacts'", "must not contain '..'",
                               "(value '../contacts.csv')")),
    "absolute file path": Case(lambda s: replace_yaml(s, "contacts: contacts.csv",
                                                      "contacts: /etc/passwd"),
                               ("column 'files.contacts'", "absolute path")),
    "symlink out of the folder": Case(_symlink_out, ("column 'files.contacts'",
                                                     "outside the study folder")),
    "instrument name with ..": Case(lambda s: replace_yaml(s, "instrument: crq",
                                                           "instrument: ../crq"),
                                    ("column 'instrument'", "shipped instrument",
                                     "(value '../crq')")),
    "instrument path with ..": Case(lambda s: replace_yaml(s, "instrument: crq",
                                                           "instrument: ../x.yaml"),
                                    ("column 'instrument'", "must not contain '..'")),
    # the study's own instrument file
    "instrument with a misspelt key": Case(lambda s: instrument_file(s, "pahts: []\n"),
                                           ("column 'instrument'", "mine.yaml",
                                            "unknown key 'pahts'; did you mean 'paths'?")),
    "instrument with an alias": Case(lambda s: instrument_file(s, "paths: *x\n"),
                                     ("column 'instrument'", "mine.yaml", "aliases")),
    "instrument scale min true": Case(_instrument_scale_true,
                                      ("mine.yaml", "'scale.min': must be a whole number")),
    # cells
    "1e308 in a count": Case(lambda s: set_cell(s, "contacts.csv", "reminders", 3, "1e308"),
                             ("contacts.csv", "column 'reminders'", "row 5", "too large",
                              "(value '1e308')")),
    "uint64 max in an item": Case(
        lambda s: set_cell(s, "responses.csv", "trust_1", 0, "18446744073709551615"),
        ("responses.csv", "column 'trust_1'", "row 2", "too large",
         "(value '18446744073709551615')")),
    "uint64 max as a wave": Case(
        lambda s: set_cell(s, "contacts.csv", "wave", 7, "18446744073709551615"),
        ("contacts.csv", "column 'wave'", "row 9", "too large")),
    "inf in a non-negative column": Case(
        lambda s: set_cell(s, "contacts.csv", "tenure_years", 2, "inf"),
        ("contacts.csv", "column 'tenure_years'", "row 4", "not a finite number", "(value 'inf')")),
    "-inf in a non-negative column": Case(
        lambda s: set_cell(s, "contacts.csv", "tenure_years", 2, "-inf"),
        ("column 'tenure_years'", "row 4", "not a finite number", "(value '-inf')")),
    "nan in a non-negative column": Case(
        lambda s: set_cell(s, "contacts.csv", "tenure_years", 2, "nan"),
        ("column 'tenure_years'", "row 4", "text in a numeric column", "(value 'nan')")),
    "20 MB cell in a text column": Case(
        lambda s: set_cell(s, "responses.csv", "strengths", 4, "x," * (BIG // 2)),
        ("responses.csv", "column 'strengths'", "row 6", "20,000,000 characters")),
    "20 MB cell in a numeric column": Case(
        lambda s: set_cell(s, "responses.csv", "nps", 4, "9" * BIG),
        ("responses.csv", "column 'nps'", "row 6", "20,000,000 characters")),
    "40,000-character column name": Case(
        lambda s: set_cell(s, "responses.csv", "q" * 40_000, 0, "1"),
        ("responses.csv", "row 1", "column name is 40,000 characters long")),
    "header-only responses": Case(lambda s: header_only(s, "responses.csv"),
                                  ("responses.csv", "no responses")),
    "header-only contacts": Case(lambda s: header_only(s, "contacts.csv"),
                                 ("contacts.csv", "no contacts")),
    # workbooks and Parquet
    "XLSX formula without cached value": Case(
        lambda s: to_xlsx(s, "contacts", _formula),
        ("contacts.xlsx", "column 'reminders'", "row 3", "formula without a saved value",
         "(value '=H3+1')")),
    "XLSX merged cells": Case(lambda s: to_xlsx(s, "contacts", _merge),
                              ("contacts.xlsx", "row 2", "merged cells B2:C2", "(value 'B2:C2')")),
    "XLSX error cell": Case(lambda s: to_xlsx(s, "contacts", _error_cell),
                            ("contacts.xlsx", "column 'reminders'", "row 4", "spreadsheet error",
                             "(value '#DIV/0!')")),
    "Parquet uint64 max": Case(
        lambda s: to_parquet(s, "contacts", "reminders",
                             lambda n: pd.array([2**64 - 1] + [1] * (n - 1), dtype="UInt64")),
        ("contacts.parquet", "column 'reminders'", "row 1", "too large",
         "(value '18446744073709551615')")),
    "Parquet inf": Case(
        lambda s: to_parquet(s, "contacts", "tenure_years",
                             lambda n: [float("inf")] + [1.0] * (n - 1)),
        ("contacts.parquet", "column 'tenure_years'", "row 1", "not a finite number")),
}


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_exit_2_with_a_message(name, tmp_path, capsys):
    case = CASES[name]
    study = tmp_path / "study"
    shutil.copytree(FIXTURE, study)
    case.plant(study)
    before = _tree(study)
    code = cli.main(["validate", str(study)])
    out, err = capsys.readouterr()
    assert code == 2, f"{name}: exit {code}\n{out}{err}"
    assert "Traceback" not in out + err
    missing = [f for f in case.expect if f not in err]
    assert not missing, f"{name}: {missing} not in\n{err[:3000]}"
    assert len(err) < 4000, f"{name}: message of {len(err):,} characters"
    assert _tree(study) == before, "validate changed a file of the study"


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_study_yaml_with_a_byte_order_mark_is_read(tmp_path, capsys):
    study = tmp_path / "study"
    shutil.copytree(FIXTURE, study)
    (study / "study.yaml").write_bytes(b"\xef\xbb\xbf" + (study / "study.yaml").read_bytes())
    assert cli.main(["validate", str(study)]) == 0, capsys.readouterr().err


def test_long_values_are_cut_in_messages():
    from crqlab.errors import Problem

    text = str(Problem("r.csv", "c" * 500, 7, "v" * 10_000, "bad"))
    assert len(text) < 4 * SHOWN_CHARS + 100 and "10,000 characters" in text


@pytest.mark.parametrize("width", [10_000, pytest.param(50_000, marks=pytest.mark.slow)])
def test_wide_csv_loads(tmp_path, capsys, width):
    """Thousands of extra columns (three rows): a clean load. 50,000 columns took 5.5 minutes
    before the loader's per-column steps were made linear and vectorised; 14-23 s now on two
    busy cores (timings in docs/hardening.md; no timing is asserted)."""
    study = tmp_path / "study"
    shutil.copytree(FIXTURE, study)
    rows = _rows(study, "responses.csv")[:4]
    extra = [f"x{i}" for i in range(width)]
    _write_rows(study, "responses.csv", [rows[0] + extra] + [r + ["1"] * width for r in rows[1:]])
    assert cli.main(["validate", str(study)]) == 0, capsys.readouterr().err[:2000]
    assert "3 responses" in capsys.readouterr().out


def test_run_stops_on_a_cp1252_study_yaml_without_traceback(tmp_path, capsys):
    """``crqlab run`` read study.yaml on its own and crashed with UnicodeDecodeError."""
    study = tmp_path / "study"
    shutil.copytree(FIXTURE, study)
    CASES["study.yaml in cp1252"].plant(study)
    code = cli.main(["run", str(study), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    assert "study.yaml" in err and "not UTF-8: byte 0xfc" in err
    assert not (tmp_path / "out").exists()


# -- crqlab init: column names cannot steer the draft -------------------------------------------
HOSTILE_NAMES = [
    "Contact\u2028ID", "Contact\u2029ID", "Contact\x85ID", "Contact\nID", "Contact\rID",
    "Contact: ID", "#Contact ID", "- Contact ID", "{Contact ID}", "&Contact ID", "*Contact ID",
    "!!python/object Contact ID", "'Contact ID'", '"Contact ID"', "Contact ID # x",
    "[Contact ID]", "Contact ID\\", "%Contact ID", "@Contact ID", "`Contact ID`", "|Contact ID",
    ">Contact ID", "? Contact ID", "Contact\tID",
]
#: Unmapped names meant to break out of the ``# TODO`` comment they are written in.
ESCAPES = ["x\u2028evil: 1", "x\u2029evil: 2", "x\x85evil: 3", "x\nevil: 4", "x\revil: 5",
           "x\u2028- evil", "y\u2028&a [1]\u2028b: *a"]


def _export(folder: Path, contact_column: str, extra: list[str]) -> None:
    folder.mkdir()
    contacts = pd.read_csv(FIXTURE / "contacts.csv", dtype=str, keep_default_na=False)
    contacts = contacts.rename(columns={"contact_id": contact_column})
    for i, e in enumerate(extra):
        contacts[e] = str(i)
    contacts.to_csv(folder / "contacts.csv", index=False, quoting=csv.QUOTE_ALL)  # CR quoted too
    shutil.copy(FIXTURE / "responses.csv", folder / "responses.csv")


@pytest.mark.parametrize("column", HOSTILE_NAMES, ids=[repr(c) for c in HOSTILE_NAMES])
def test_init_quotes_hostile_column_names_round_trip(tmp_path, column):
    folder = tmp_path / "export"
    _export(folder, column, ESCAPES)
    text = draft_study_yaml(folder).read_text(encoding="utf-8")
    # no line break YAML knows, other than the file's own newlines, is left raw
    assert not any(ch in text for ch in "\r\x85\u2028\u2029")
    cfg = yaml.safe_load(text)
    assert set(cfg) == {"study", "client", "instrument", "seed", "waves", "files",
                        "missing_codes", "columns", "segments", "min_cell_size"}
    from crqlab.data.readers import read_raw_table

    as_read = list(read_raw_table(folder / "contacts.csv").frame.columns)
    name = as_read[1]  # the hostile name exactly as the loader reads it
    mapped = cfg["columns"]["contacts"] or {}
    assert set(mapped.values()) <= set(as_read)
    if "contact_id" in mapped:  # recognised (by name or close spelling): exactly as read
        assert mapped["contact_id"] == name
    else:  # not recognised: it is listed, escaped, in a comment
        assert normalise_column(name) != "contact_id" and _todo(text, name)
    for e in ESCAPES:  # each unmapped name is in its comment, escaped, on one line
        assert _todo(text, e)


def _todo(text: str, name: str) -> bool:
    return any(ln.startswith("    # TODO: unmapped: ") and _quoted(name) in ln
               for ln in text.split("\n"))


def _quoted(name: str) -> str:
    return yaml.safe_dump(name.replace("\r", "\n"), default_style='"', allow_unicode=True,
                          width=float("inf")).strip()


def test_init_draft_of_a_hostile_export_validates(tmp_path, capsys):
    folder = tmp_path / "export"
    _export(folder, "Contact\u2028ID", ESCAPES)
    draft_study_yaml(folder)
    assert cli.main(["validate", str(folder)]) == 0, capsys.readouterr().err


def test_init_folder_name_cannot_steer_the_draft(tmp_path):
    folder = tmp_path / "acme\u2028evil: 1 #x"
    _export(folder, "contact_id", [])
    cfg = yaml.safe_load(draft_study_yaml(folder).read_text(encoding="utf-8"))
    assert "evil" not in cfg and cfg["study"] == "acme-evil-1-x"
