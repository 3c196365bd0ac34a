"""Build the malformed-export corpus in ``tests/malformed/`` (deterministic).

Each case is a small study folder (``study.yaml`` plus tables) written the way spreadsheet
tools export them - German Excel (``;``, decimal comma, cp1252, ``ja``/``nein``, dd.mm.yyyy,
CRLF), Excel "CSV UTF-8" (BOM), plain UTF-8 CSV, XLSX and Parquet - with one or more planted
faults. ``cases.yaml`` lists, for every case, the problems the loader must report: file,
column, row (as numbered in the file: the header is row 1; in Parquet the first record is
row 1), value and a fragment of the message. The expected problems are written out literally
in each case below, independently of how the fault was planted.

Rebuild with::

    .venv/bin/python tests/malformed/make_corpus.py

The output depends only on this script (and, for XLSX/Parquet, the writer libraries'
versions): no clock, no unseeded randomness.
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
SEED = 20240611

# Canonical CRQ item -> the column header a survey tool would export.
ITEM_HEADERS = {
    **{f"{el}_{k}": f"{el.capitalize()} {k}" for el in
       ("trust", "commitment", "satisfaction", "experience") for k in (1, 2, 3)},
    "innovation": "Innovation", "leading_edge": "Leading edge",
    "value_for_money": "Value for money", "reliability": "Reliability",
    "responsiveness": "Responsiveness", "customer_care": "Customer care",
}

BLANK = object()        # an empty line in a CSV, an empty row in a sheet
EXCEL_BLANK = object()  # a row of empty fields (";;;;;"), as Excel leaves after deleted rows


@dataclass(frozen=True)
class Dialect:
    name: str
    delimiter: str
    decimal: str
    encoding: str
    true: str
    false: str
    date_format: str


DIALECTS = {
    "de": Dialect("Excel CSV, German locale (; , cp1252)", ";", ",", "cp1252", "ja", "nein",
                  "%d.%m.%Y"),
    "bom": Dialect("Excel 'CSV UTF-8' (BOM)", ",", ".", "utf-8-sig", "yes", "no", "%Y-%m-%d"),
    "plain": Dialect("plain UTF-8 CSV", ",", ".", "utf-8", "TRUE", "FALSE", "%Y-%m-%d"),
}


def _base_tables() -> dict[str, list]:
    """A small valid two-wave study, as rows of export columns (typed Python values)."""
    rng = np.random.default_rng(SEED)
    managers = ["Anna Köhler", "José Núñez"]
    accounts = [{"Account": f"A-{100 + a}", "Account name": name, "Industry": ind,
                 "Region": reg, "Account manager": managers[a % 2]}
                for a, (name, ind, reg) in enumerate([
                    ("Müller Maschinenbau GmbH", "manufacturing", "DACH"),
                    ("Société Générale d'Énergie", "energy", "France"),
                    ("Åkerlund & Rausing AB", "packaging", "Nordics"),
                    ("Northwind Traders Ltd", "retail", "UK")])]
    roles = ["key decision maker", "operational", "CX team", "administrative"]
    strengths = ["Schnelle Reaktion, gute Beratung", "Très bon suivi", "Reliable deliveries",
                 "Straightforward to work with", "Knowledgeable team", "Fair prices"]
    contacts, responses = [], []
    for wave, year in ((1, 2021), (2, 2022)):
        for i in range(8):
            responded = i < 6
            invited = dt.date(year, 3, 1)
            conf = (i % 3 == 0) if responded else None
            contacts.append({
                "Wave": wave, "Contact ID": f"C-{i + 1:03d}", "Account": f"A-{100 + i % 4}",
                "Role": roles[i % 4], "Responded": responded,
                "Newly included": wave == 2 and i == 7, "Invited on": invited,
                "Responded on": invited + dt.timedelta(days=2 + i) if responded else None,
                "Reminders": i % 3, "Days to respond": 2 + i if responded else None,
                "Tenure (years)": 0.5 + 1.5 * i, "Confidential": conf,
                "Name": f"Person {wave}-{i + 1}", "E-mail": f"person{i + 1}@example.com"})
            if responded:
                row = {"Wave": wave, "Contact ID": f"C-{i + 1:03d}"}
                row |= {h: int(v) for h, v in zip(ITEM_HEADERS.values(),
                                                  rng.integers(3, 8, len(ITEM_HEADERS)))}
                row["Likelihood to recommend"] = int(rng.integers(5, 11))
                row["Strengths"] = strengths[i]
                row["Weaknesses"] = "Invoices arrive late" if i % 2 else None
                row["Confidential"] = conf
                responses.append(row)
    return {"contacts": contacts, "responses": responses, "accounts": accounts}


def _base_config() -> dict:
    return {
        "study": "corpus", "client": "Corpus Client GmbH", "instrument": "crq",
        "waves": {1: {"label": "2021", "confidentiality": "optional"},
                  2: {"label": "2022", "confidentiality": "optional"}},
        "files": {"contacts": "contacts.csv", "responses": "responses.csv",
                  "accounts": "accounts.csv"},
        "missing_codes": ["Don't know", "Weiß nicht", "N/A"],
        "columns": {"contacts": {"account_id": "Account", "contact_name": "Name",
                                 "contact_email": "E-mail"},
                    "responses": {"nps": "Likelihood to recommend"},
                    "accounts": {"account_id": "Account"}},
        "segments": ["role", "industry", "region"],
    }


@dataclass
class Spec:
    """A study being built: tables (rows of export columns), formats, study.yaml, raw edits."""

    dialect: Dialect
    tables: dict[str, list] = field(default_factory=_base_tables)
    config: dict = field(default_factory=_base_config)
    formats: dict[str, str] = field(default_factory=lambda: {
        "contacts": "csv", "responses": "csv", "accounts": "csv"})
    text_edits: dict[str, list[Callable[[str], str]]] = field(default_factory=dict)
    byte_edits: dict[str, list[Callable[[bytes], bytes]]] = field(default_factory=dict)
    write_yaml: bool = True
    yaml_text: str | None = None

    def first_row(self, role: str) -> int:
        return 1 if self.formats[role] == "parquet" else 2

    def _index(self, role: str, row: int) -> int:
        idx = row - self.first_row(role)
        assert 0 <= idx < len(self.tables[role]), (role, row)
        return idx

    def set(self, role: str, row: int, column: str, value) -> None:
        """Put ``value`` in ``column`` of the record at file row ``row``."""
        rec = self.tables[role][self._index(role, row)]
        assert column in rec, (role, column)
        rec[column] = value

    def get(self, role: str, row: int, column: str):
        return self.tables[role][self._index(role, row)][column]

    def insert(self, role: str, row: int, record) -> None:
        """Insert a record (a dict, BLANK or EXCEL_BLANK) so that it lands on file row ``row``."""
        self.tables[role].insert(row - self.first_row(role), record)

    def append(self, role: str, record: dict) -> int:
        self.tables[role].append(record)
        return len(self.tables[role]) - 1 + self.first_row(role)

    def drop_column(self, role: str, column: str) -> None:
        for rec in self.tables[role]:
            if isinstance(rec, dict):
                rec.pop(column)

    def use_format(self, role: str, fmt: str) -> None:
        self.formats[role] = fmt
        self.config["files"][role] = f"{role}.{fmt}"


# ---------------------------------------------------------------------------------------------
# writers

def _header(rows: list) -> list[str]:
    return list(next(r for r in rows if isinstance(r, dict)))


def _csv_cell(value, d: Dialect) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return d.true if value else d.false
    if isinstance(value, float):
        text = repr(value)
        return text.replace(".", d.decimal)
    if isinstance(value, dt.date):
        return value.strftime(d.date_format)
    return str(value)


def _csv_bytes(rows: list, d: Dialect, edits, byte_edits) -> bytes:
    header = _header(rows)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=d.delimiter, lineterminator="\r\n")
    w.writerow(header)
    for rec in rows:
        if rec is BLANK:
            buf.write("\r\n")
        elif rec is EXCEL_BLANK:
            w.writerow([""] * len(header))
        else:
            w.writerow([_csv_cell(rec.get(h), d) for h in header])
    text = buf.getvalue()
    for edit in edits:
        text = edit(text)
    data = text.encode(d.encoding)
    for edit in byte_edits:
        data = edit(data)
    return data


_FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def _xlsx_bytes(rows: list) -> bytes:
    """An XLSX workbook with fixed timestamps (openpyxl stamps the current time otherwise)."""
    import openpyxl

    header = _header(rows)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(header)
    for rec in rows:
        if rec is BLANK or rec is EXCEL_BLANK:
            ws.append([])
        else:
            ws.append([rec.get(h) for h in header])
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    stamp = "2024-01-01T00:00:00Z"
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(src.namelist()):
            data = src.read(name)
            if name == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp.encode(), data)
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
    return out.getvalue()


def _parquet_bytes(rows: list) -> bytes:
    frame = pd.DataFrame([r for r in rows if isinstance(r, dict)])
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow", compression="snappy")
    return buf.getvalue()


def write_spec(spec: Spec, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for role, rows in spec.tables.items():
        name = spec.config["files"].get(role)
        if name is None or rows is None:
            continue
        fmt = spec.formats[role]
        if fmt == "csv":
            data = _csv_bytes(rows, spec.dialect, spec.text_edits.get(role, []),
                              spec.byte_edits.get(role, []))
        elif fmt == "xlsx":
            data = _xlsx_bytes(rows)
        elif fmt == "parquet":
            data = _parquet_bytes(rows)
        else:  # pragma: no cover - generator misuse
            raise ValueError(fmt)
        (folder / name.split("#")[0]).write_bytes(data)
    if spec.yaml_text is not None:
        (folder / "study.yaml").write_bytes(spec.yaml_text.encode("utf-8"))
    elif spec.write_yaml:
        cfg = copy.deepcopy(spec.config)
        cfg["study"] = folder.name
        text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=100)
        (folder / "study.yaml").write_bytes(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# the cases

def P(file, column, row, value, message) -> dict:  # noqa: N802 - reads like a table row
    """One expected problem."""
    return {"file": file, "column": column, "row": row, "value": value, "message": message}


@dataclass
class Case:
    name: str
    description: str
    dialect: str
    plant: Callable[[Spec], list[dict]]
    exact: bool = True
    cap_check: int | None = None  # also load with this max_problems and check the cap


CASES: list[Case] = []


def case(name: str, description: str, dialect: str = "de", **kw):
    def deco(fn):
        CASES.append(Case(name, description, dialect, fn, **kw))
        return fn
    return deco


NPS = "Likelihood to recommend (nps)"


@case("missing_required_column", "The responses export lacks the 'Trust 3' item column.")
def _(s: Spec):
    s.drop_column("responses", "Trust 3")
    return [P("responses.csv", "trust_3", None, None, "required responses column is missing")]


@case("nps_11", "An NPS answer of 11 (the scale is 0-10).", "bom")
def _(s: Spec):
    s.set("responses", 5, "Likelihood to recommend", 11)
    return [P("responses.csv", NPS, 5, "11", "off the 0-10 scale")]


@case("crq_item_0_and_8", "CRQ items answered 0 and 8 (the scale is 1-7).")
def _(s: Spec):
    s.set("responses", 3, "Trust 2", 0)
    s.set("responses", 12, "Customer care", 8)
    return [P("responses.csv", "Trust 2 (trust_2)", 3, "0", "off the 1-7 scale"),
            P("responses.csv", "Customer care (customer_care)", 12, "8", "off the 1-7 scale")]


@case("text_in_numeric", "Text in numeric columns: 'seven' in an item, 'n.a.' in NPS (not "
      "declared in missing_codes); a declared \"Don't know\" next to them is not a problem.",
      "bom")
def _(s: Spec):
    s.set("responses", 4, "Satisfaction 1", "seven")
    s.set("responses", 9, "Likelihood to recommend", "n.a.")
    s.set("responses", 10, "Satisfaction 1", "Don't know")
    return [P("responses.csv", "Satisfaction 1 (satisfaction_1)", 4, "seven",
              "text in a numeric column"),
            P("responses.csv", NPS, 9, "n.a.", "text in a numeric column")]


@case("decimal_item", "An item answered 5,5 in a decimal-comma export.")
def _(s: Spec):
    s.set("responses", 7, "Experience 2", 5.5)
    return [P("responses.csv", "Experience 2 (experience_2)", 7, "5,5", "must be a whole number")]


@case("duplicate_contact", "The same contact listed twice in the wave-1 invitation frame.")
def _(s: Spec):
    rec = copy.deepcopy(s.tables["contacts"][6])  # C-007, wave 1, a non-respondent
    rec["Name"] = "Person 1-7 (copy)"
    row = s.append("contacts", rec)
    assert row == 18
    return [P("contacts.csv", "Contact ID (contact_id)", 18, "wave=1, contact_id=C-007",
              "the same contact in the same wave appears twice")]


@case("duplicate_response", "The same contact answered twice in wave 2.", "plain")
def _(s: Spec):
    rec = copy.deepcopy(s.tables["responses"][8])  # wave 2, C-003
    rec["Likelihood to recommend"] = 3
    row = s.append("responses", rec)
    assert row == 14
    return [P("responses.csv", "Contact ID (contact_id)", 14, "wave=2, contact_id=C-003",
              "a second response of the same contact")]


@case("response_without_contact", "A response from a contact who is not in that wave's frame.")
def _(s: Spec):
    s.set("responses", 6, "Contact ID", "C-099")
    return [P("responses.csv", "Contact ID (contact_id)", 6, "wave=1, contact_id=C-099",
              "not in the invitation frame of that wave")]


@case("responded_false_with_response", "responded is 'nein' for a contact whose response exists.")
def _(s: Spec):
    s.set("contacts", 11, "Responded", False)  # wave 2, C-002 responded
    s.set("contacts", 11, "Responded on", None)
    return [P("contacts.csv", "Responded (responded)", 11, "nein", "responded is false but a response exists")]


@case("unknown_account", "A contact's account id is missing from the accounts table.", "bom")
def _(s: Spec):
    s.set("contacts", 8, "Account", "A-999")
    return [P("contacts.csv", "Account (account_id)", 8, "account_id=A-999",
              "account id unknown in the accounts table")]


@case("undeclared_wave", "A contact in wave 3; study.yaml declares waves 1 and 2.")
def _(s: Spec):
    s.set("contacts", 9, "Wave", 3)  # wave 1, C-008, a non-respondent
    return [P("contacts.csv", "Wave (wave)", 9, "3", "wave not declared in study.yaml")]


@case("duplicate_header", "The contacts export has two columns headed 'Role'.")
def _(s: Spec):
    s.text_edits["contacts"] = [lambda t: t.replace(";Newly included;", ";Role;", 1)]
    return [P("contacts.csv", "Role", 1, "Role", "column name appears more than once")]


@case("empty_file", "The accounts file is empty (0 bytes).")
def _(s: Spec):
    s.byte_edits["accounts"] = [lambda b: b""]
    return [P("accounts.csv", None, None, None, "file is empty")]


@case("undecodable_bytes", "A byte that is neither UTF-8 nor cp1252 (0x81) in a verbatim.")
def _(s: Spec):
    s.set("responses", 6, "Strengths", "Gute Betreuung durch Herrn M@@BAD@@ller")
    s.byte_edits["responses"] = [lambda b: b.replace(b"@@BAD@@", b"\x81")]
    return [P("responses.csv", None, 6, "0x81", "cannot decode text")]


@case("ragged_row", "A verbatim with an unquoted ';' splits a row into one field too many.")
def _(s: Spec):
    s.set("responses", 8, "Weaknesses", "Invoices late@@SEP@@ support slow")
    s.text_edits["responses"] = [lambda t: t.replace("@@SEP@@", ";")]
    # The row is cut after the header's 24 fields; what is left over is its last cell.
    return [P("responses.csv", None, 8, "ja", "row has 25 fields but the header has 24")]


@case("bad_boolean", "A 'Newly included' cell that is not a boolean.", "bom")
def _(s: Spec):
    s.set("contacts", 13, "Newly included", "maybe")
    return [P("contacts.csv", "Newly included (newly_included)", 13, "maybe", "not a boolean")]


@case("bad_date", "Dates that do not exist or are not dates.")
def _(s: Spec):
    s.set("contacts", 4, "Invited on", "31.02.2021")
    s.set("contacts", 15, "Responded on", "next week")
    return [P("contacts.csv", "Invited on (invited_on)", 4, "31.02.2021", "not a date"),
            P("contacts.csv", "Responded on (responded_on)", 15, "next week", "not a date")]


@case("negative_reminders", "A negative reminder count.", "plain")
def _(s: Spec):
    s.set("contacts", 6, "Reminders", -1)
    return [P("contacts.csv", "Reminders (reminders)", 6, "-1", "must not be negative")]


@case("confidential_disagrees", "A response says confidential, the frame says not.")
def _(s: Spec):
    assert s.get("contacts", 3, "Confidential") is False  # wave 1, C-002
    s.set("responses", 3, "Confidential", True)
    return [P("responses.csv", "Confidential (confidential)", 3, "ja", "disagrees with the contacts table")]


@case("missing_study_yaml", "The folder has tables but no study.yaml.")
def _(s: Spec):
    s.write_yaml = False
    return [P("study.yaml", None, None, None, "no study.yaml")]


@case("yaml_names_missing_file", "study.yaml names an accounts file that is not there.")
def _(s: Spec):
    s.config["files"]["accounts"] = "accounts_2022.csv"
    s.tables["accounts"] = None
    return [P("accounts_2022.csv", None, None, None, "file not found")]


@case("mapped_column_absent", "study.yaml maps nps to 'Likelihood to recommend' but the "
      "export calls it 'Recommend (0-10)'.", "bom")
def _(s: Spec):
    for rec in s.tables["responses"]:
        rec["Recommend (0-10)"] = rec.pop("Likelihood to recommend")
    return [P("responses.csv", "Likelihood to recommend", 1, None,
              "column mapped to 'nps' in study.yaml is not in the file"),
            P("responses.csv", "nps", None, None, "required responses column is missing")]


@case("blank_key", "A response with a blank contact id.", "plain")
def _(s: Spec):
    s.set("responses", 11, "Contact ID", None)
    return [P("responses.csv", "Contact ID (contact_id)", 11, None, "contact_id is blank")]


@case("row_numbers_blank_and_multiline", "A quoted verbatim spanning two lines, a blank line "
      "and an Excel ';;;' row before the faults: rows are counted as a spreadsheet shows them.")
def _(s: Spec):
    s.set("responses", 3, "Strengths", "Gute Beratung,\nschnelle Angebote")
    s.insert("responses", 5, BLANK)
    s.insert("responses", 9, EXCEL_BLANK)
    s.set("responses", 7, "Likelihood to recommend", 11)
    s.set("responses", 12, "Trust 1", 9)
    return [P("responses.csv", NPS, 7, "11", "off the 0-10 scale"),
            P("responses.csv", "Trust 1 (trust_1)", 12, "9", "off the 1-7 scale")]


@case("xlsx_export", "XLSX workbooks: a blank sheet row, NPS 11 and a text cell in an item "
      "after it, a date cell holding text.")
def _(s: Spec):
    for role in ("contacts", "responses", "accounts"):
        s.use_format(role, "xlsx")
    s.insert("responses", 4, BLANK)
    s.set("responses", 6, "Likelihood to recommend", 11)
    s.set("responses", 9, "Reliability", "sehr gut")
    s.set("contacts", 5, "Invited on", "TBD")
    return [P("responses.xlsx", NPS, 6, "11", "off the 0-10 scale"),
            P("responses.xlsx", "Reliability (reliability)", 9, "sehr gut",
              "text in a numeric column"),
            P("contacts.xlsx", "Invited on (invited_on)", 5, "TBD", "not a date")]


@case("parquet_export", "Parquet tables (first record is row 1): an item 8, a fractional NPS "
      "and a response from an unknown contact.")
def _(s: Spec):
    for role in ("contacts", "responses", "accounts"):
        s.use_format(role, "parquet")
    for rec in s.tables["responses"]:
        rec["Likelihood to recommend"] = float(rec["Likelihood to recommend"])
    s.set("responses", 2, "Innovation", 8)
    s.set("responses", 5, "Likelihood to recommend", 9.5)
    s.set("responses", 12, "Contact ID", "C-404")
    return [P("responses.parquet", "Innovation (innovation)", 2, "8", "off the 1-7 scale"),
            P("responses.parquet", NPS, 5, "9.5", "must be a whole number"),
            P("responses.parquet", "Contact ID (contact_id)", 12, "wave=2, contact_id=C-404",
              "not in the invitation frame of that wave")]


@case("unknown_instrument", "study.yaml names an instrument that is not shipped.", "plain")
def _(s: Spec):
    s.config["instrument"] = "crq2"
    return [P("study.yaml", "instrument", None, "crq2", "unknown instrument")]


@case("study_yaml_not_yaml", "study.yaml is not valid YAML (a tab-indented, unclosed list).",
      "plain")
def _(s: Spec):
    s.yaml_text = "study: corpus\nfiles: [contacts.csv, responses.csv\n\tinstrument: crq\n"
    return [P("study.yaml", None, None, None, "not valid YAML")]


def _many(s: Spec) -> list[dict]:
    out = []
    for row in range(2, 14):                     # every response: NPS 12, trust_1 0, text
        s.set("responses", row, "Likelihood to recommend", 12)
        s.set("responses", row, "Trust 1", 0)
        s.set("responses", row, "Reliability", "k.A.")
        out += [P("responses.csv", NPS, row, "12", "off the 0-10 scale"),
                P("responses.csv", "Trust 1 (trust_1)", row, "0", "off the 1-7 scale"),
                P("responses.csv", "Reliability (reliability)", row, "k.A.",
                  "text in a numeric column")]
    for row in range(2, 18):                     # every contact: negative reminders
        s.set("contacts", row, "Reminders", -2)
        out.append(P("contacts.csv", "Reminders (reminders)", row, "-2", "must not be negative"))
    for row in range(2, 10):                     # wave 1 contacts: bad boolean
        s.set("contacts", row, "Newly included", "vielleicht")
        out.append(P("contacts.csv", "Newly included (newly_included)", row, "vielleicht", "not a boolean"))
    assert len(out) == 60
    return out


case("many_problems", "60 problems across two files: all are listed under the default cap of "
     "200; with max_problems=25 exactly 25 are listed and 35 counted.", cap_check=25)(_many)


# ---------------------------------------------------------------------------------------------

def build(out: Path = HERE) -> dict:
    """Write every case folder and ``cases.yaml`` under ``out``; returns the cases mapping."""
    out = Path(out)
    listing = {}
    for c in CASES:
        spec = Spec(DIALECTS[c.dialect])
        problems = c.plant(spec)
        folder = out / c.name
        if folder.exists():
            shutil.rmtree(folder)
        write_spec(spec, folder)
        entry = {"description": c.description,
                 "format": sorted({DIALECTS[c.dialect].name if f == "csv" else f.upper()
                                   for r, f in spec.formats.items()
                                   if spec.config["files"].get(r)}),
                 "exact": c.exact, "problems": problems}
        if c.cap_check is not None:
            entry["cap_check"] = c.cap_check
        listing[c.name] = entry
    header = ("# Generated by make_corpus.py - do not edit by hand; rebuild with\n"
              "#   .venv/bin/python tests/malformed/make_corpus.py\n"
              "# Per case: the problems load_study must report (file, column, row as numbered\n"
              "# in the file, value as written, and a fragment of the message). exact: the\n"
              "# listed problems are all the problems reported.\n")
    text = header + yaml.safe_dump({"cases": listing}, sort_keys=False, allow_unicode=True,
                                   width=100)
    (out / "cases.yaml").write_bytes(text.encode("utf-8"))
    return listing


def write_valid(folder: Path, dialect: str = "de", fmt: str = "csv") -> Path:
    """Write the unmodified base study (valid) in one dialect or format; for tests."""
    spec = Spec(DIALECTS[dialect])
    if fmt != "csv":
        for role in ("contacts", "responses", "accounts"):
            spec.use_format(role, fmt)
    write_spec(spec, Path(folder))
    return Path(folder)


if __name__ == "__main__":
    cases = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {len(cases)} cases to {HERE if len(sys.argv) < 2 else sys.argv[1]}")
