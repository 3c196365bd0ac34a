"""crqlab.data.schema: the declarative study.yaml and instrument schemas and the strict YAML reader."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from crqlab.data.schema import (
    INSTRUMENT_SCHEMA,
    MAX_DEPTH,
    STUDY_SCHEMA,
    Choice,
    Fields,
    Integer,
    Key,
    ListOf,
    Text,
    YamlError,
    check,
    markdown_table,
    path_problem,
    read_yaml,
)
from crqlab.paths import INSTRUMENTS_DIR

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "data-contract.md"


def _messages(doc, schema=STUDY_SCHEMA) -> list[str]:
    return [f"{i.path}: {i.message}" for i in check(doc, schema)]


def _valid() -> dict:
    return {"study": "s", "files": {"contacts": "c.csv", "responses": "r.csv"}}


@pytest.mark.parametrize("marker, schema", [("study-schema", STUDY_SCHEMA),
                                            ("instrument-schema", INSTRUMENT_SCHEMA)])
def test_the_documented_table_is_the_schema(marker, schema):
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker}:start -->\n(.*?)\n<!-- {marker}:end -->", text, re.DOTALL)
    assert found and found.group(1) == markdown_table(schema)


def test_every_study_yaml_in_the_repository_is_valid():
    files = [p for p in ROOT.rglob("study.yaml") if ".venv" not in p.parts
             and "study_yaml_not_yaml" not in p.parts]
    assert len(files) >= 25
    for p in files:
        doc, lines = read_yaml(p)
        assert check(doc, STUDY_SCHEMA, lines) == [], p


def test_every_synthetic_preset_config_is_valid():
    from crqlab.synth import generate
    from crqlab.synth.params import PRESETS

    for name in PRESETS:
        assert _messages(generate(name, seed=1).config) == [], name


def test_every_shipped_instrument_is_valid():
    for p in sorted(INSTRUMENTS_DIR.glob("*.yaml")):
        doc, lines = read_yaml(p)
        assert check(doc, INSTRUMENT_SCHEMA, lines) == [], p


@pytest.mark.parametrize("change, fragment", [
    ({"segmets": ["role"]}, "segmets: unknown key 'segmets'; did you mean 'segments'?"),
    ({"read": {"delimitter": ";"}}, "did you mean 'delimiter'?"),
    ({"qqqq": 1}, "allowed: study, client"),
    ({"segments": "role"}, "segments: must be a list"),
    ({"segments": ["role", "role"]}, "segments: is listed twice"),
    ({"min_cell_size": True}, "min_cell_size: must be a whole number from 3"),
    ({"min_cell_size": 5.0}, "must be a whole number"),
    ({"min_cell_size": 10**30}, "must be a whole number from 3 to 1,000,000"),
    ({"seed": 2**32}, "seed: must be a whole number from 0 to 4,294,967,295"),
    ({"seed": 10**400}, "seed: must be a whole number from 0"),
    ({"read": {"delimiter": "ab"}}, "read.delimiter: must be auto or a single character"),
    ({"read": {"delimiter": '"'}}, "cannot be a letter, digit, quote"),
    ({"read": {"encoding": "rot13"}}, "read.encoding: is not a text encoding"),
    ({"read": {"decimal": ";"}}, "read.decimal: must be one of auto, ., ,"),
    ({"waves": {True: {"label": "x"}}}, "waves.True: must be a whole number"),
    ({"waves": {1: {"confidentiality": True}}}, "waves.1.confidentiality: must be one of"),
    ({"waves": {1: {"label": True}}}, "waves.1.label: must be text (write it in quotes)"),
    ({"client": "a\nb"}, "client: must not hold control characters or line breaks"),
    ({"client": "x" * 201}, "client: is 201 characters long; at most 200"),
    ({"missing_codes": None}, "missing_codes: is empty; expected a list"),
    ({"missing_codes": [False]}, "missing_codes[0]: must be text (write it in quotes)"),
    ({"columns": {"contact": {}}}, "did you mean 'contacts'?"),
    ({"columns": {"contacts": {"nps": 5}}}, "columns.contacts.nps: must be text"),
    ({"files": {"contacts": "c.csv"}}, "files.responses: missing key 'responses'"),
    ({"files": {"contacts": "../c.csv", "responses": "r.csv"}}, "must not contain '..'"),
    ({"instrument": "../../etc/passwd"}, "instrument: must be a shipped instrument's name"),
    ({"batteries": ["kmv", "kmv"]}, "batteries: is listed twice"),
    ({"study": "a\nb"}, "study: must not hold control characters"),
    ({"study": ["a"]}, "study: must be text"),
])
def test_study_rules(change, fragment):
    doc = _valid() | change
    messages = _messages(doc)
    assert any(fragment in m for m in messages), messages


@pytest.mark.parametrize("doc", [
    {"waves": {1: None, 2: {"label": 2021}, 3: {"label": "x", "confidentiality": "all"}}},
    {"columns": {"contacts": None, "responses": {"nps": "Likely to\nrecommend"}}},
    {"missing_codes": ["Don't know", 99, -1.5]}, {"batteries": None, "segments": None},
    {"read": {"encoding": "latin-1", "delimiter": "\t", "decimal": ",", "dates": "day-first"}},
    {"instrument": "mine.yaml", "client": None, "seed": 0, "min_cell_size": 3},
])
def test_study_values_that_are_allowed(doc):
    assert _messages(_valid() | doc) == []


@pytest.mark.parametrize("ref, complaint", [
    ("c.csv", None), ("sub/c.csv", None), ("c.xlsx#Sheet 1", None), ("..c.csv", None),
    ("../c.csv", "'..'"), ("a/../../c.csv", "'..'"), ("..\\c.csv", "'..'"),
    ("/etc/passwd", "absolute"), ("C:\\data\\c.csv", "absolute"),
    ("\\\\srv\\share\\c.csv", "absolute"),
    ("", "must name a file"), ("#Sheet", "must name a file"), ("c\x00.csv", "control"),
])
def test_path_problem(ref, complaint):
    got = path_problem(ref)
    assert (got is None) if complaint is None else (complaint in got), got


def test_rule_building_blocks():
    assert Choice(values=("+", "-", None)).issues(None, ("sign",)) == []
    assert Choice(values=("+", "-")).issues(None, ("sign",))[0].message.startswith("is empty")
    assert Choice(values=("a",)).issues(True, ("k",))[0].message.startswith("must be one of")
    assert Integer(lo=0, hi=3).issues(2, ()) == [] and Integer(lo=0, hi=3).issues(4, ())
    assert ListOf(item=Text(), one_ok=True).issues("x", ()) == []
    schema = Fields(keys={"alpha": Key(Text(), "a", required=True)})
    assert [i.message for i in schema.issues({"alpah": "x"}, ())] == [
        "unknown key 'alpah'; did you mean 'alpha'?", "missing key 'alpha' (a)"]


# -- the reader ---------------------------------------------------------------------------------
def _read(tmp_path, data: bytes | str):
    p = tmp_path / "x.yaml"
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return read_yaml(p)


def test_reader_gives_the_line_of_every_key(tmp_path):
    doc, lines = _read(tmp_path, "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n")
    assert doc == {"a": 1, "b": {"c": ["x", "y"], "d": [{"e": 2}]}}
    assert lines["a"] == 1 and lines["b.c"] == 3 and lines["b.d[0].e"] == 5
    issues = check({"study": "s", "files": {"contacts": 1}}, STUDY_SCHEMA,
                   {"files": 2, "files.contacts": 3})
    assert {(i.path, i.line) for i in issues} == {("files.contacts", 3), ("files.responses", 2)}


def test_reader_tolerates_a_byte_order_mark(tmp_path):
    assert _read(tmp_path, b"\xef\xbb\xbfa: 1\n")[0] == {"a": 1}


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first on line 1)"),
    ("1: x\ntrue: y\n", "duplicate key True (first on line 1)"),
    ("a: &x [1]\nb: *x\n", "aliases (*name) are not allowed"),
    ("a: {b: 1}\nc:\n  <<: {d: 1}\n", "merge keys (<<) are not allowed"),
    ("a: !!python/object:os.system x\n", "not valid YAML"),
    ("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n", "nested more than"),
    ("a: [1\n", "not valid YAML"),
    ("a: b\x07\n", "character 0x0007 is not allowed"),
    ("a: 2021-02-30\n", "cannot read this value"),
    ("a: " + "9" * 5000 + "\n", "cannot read this value"),
])
def test_reader_refuses(tmp_path, text, message):
    with pytest.raises(YamlError, match=re.escape(message)):
        _read(tmp_path, text)


def test_reader_names_the_first_byte_that_is_not_utf8(tmp_path):
    with pytest.raises(YamlError) as err:
        _read(tmp_path, "a: 1\nclient: Müller\n".encode("cp1252"))
    (issue,) = err.value.issues
    assert issue.line == 2 and issue.value == "0xfc" and "offset 14" in issue.message


def test_reader_refuses_large_files_before_parsing(tmp_path):
    with pytest.raises(YamlError, match="at most 1,000,000 bytes"):
        _read(tmp_path, "a: 1\n" + "#" * 1_000_001)


def test_alias_bomb_fails_fast(tmp_path):
    lines = ['a0: &a0 ["lol"]'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]"
                                   for i in range(1, 30)]
    with pytest.raises(YamlError, match="aliases"):
        _read(tmp_path, "\n".join(lines))
    assert yaml.safe_load("a: &x 1\nb: *x\n") == {"a": 1, "b": 1}  # PyYAML's own loader expands


# --- issue 15: files per wave, import rules --------------------------------------------------

@pytest.mark.parametrize("change, fragment", [
    ({"files": {"contacts": "c.csv", "responses": []}}, "files.responses: must be a non-empty"),
    ({"files": {"contacts": "c.csv", "responses": [{"wave": 1}]}},
     "files.responses[0].file: missing key 'file'"),
    ({"files": {"contacts": "c.csv", "responses": [{"file": "r.csv", "wave": "one"}]}},
     "files.responses[0].wave: must be a whole number"),
    ({"files": {"contacts": "c.csv", "responses": [{"file": "../r.csv"}]}}, "'..'"),
    ({"files": {"contacts": "c.csv", "responses": 3}}, "files.responses: must be a file"),
    ({"import": {"respones": {}}}, "import.respones: must be one of contacts, responses"),
    ({"import": {"responses": {"platfrom": "qualtrics"}}}, "did you mean 'platform'?"),
    ({"import": {"responses": {"platform": "typeform"}}}, "must be one of auto, qualtrics"),
    ({"import": {"responses": {"value_labels": {"items": "agree-9"}}}},
     "must be a shipped label set (agree-5, agree-7, likely-0-10)"),
    ({"import": {"responses": {"filters": [{"column": "S", "drop": ["x"]}]}}},
     "missing key 'reason'"),
    ({"import": {"responses": {"complete_when": {"answered": 1.5}}}}, "a number from 0 to 1"),
    ({"waves": {1: {"start": "March"}}}, "waves.1.start: must be a date"),
    ({"waves": {1: {"start": "2024-02-30"}}}, "waves.1.start: must be a date"),
    ({"value_labels": {"items": "agree-7"}}, "unknown key 'value_labels'"),
    ({"filter": [1]}, "unknown key 'filter'; did you mean 'files'?"),
])
def test_import_rules_are_checked(change, fragment):
    messages = _messages(_valid() | change)
    assert any(fragment in m for m in messages), messages


def test_import_rules_that_are_allowed():
    import datetime as dt

    doc = _valid() | {
        "waves": {1: {"start": dt.date(2023, 3, 6)}, 2: {"start": "2024-03-04"}},
        "files": {"contacts": "crm.xlsx#Invitations", "accounts": "crm.xlsx#Accounts",
                  "responses": [{"file": "s 2023.csv", "wave": 1}, {"file": "s 2024.csv"}]},
        "import": {"contacts": {"values": {"responded": {True: ["Responded"], False: "Sent"},
                                           "wave": {1: ["CX 2023"], 2: ["CX 2024"]}}},
                   "responses": {"platform": "qualtrics", "header_rows": 1, "skip_rows": 2,
                                 "filters": [{"column": "Finished", "keep": [True, 1],
                                              "reason": "unfinished"}],
                                 "complete_when": {"column": "Finished", "answered": 0.8},
                                 "missing_codes": {"items": [8, "Don't know"]},
                                 "value_labels": {"items": "agree-7",
                                                  "nps": {"0 - Not at all likely": 0},
                                                  "trust": ["a", "b", "c", "d", "e", "f", "g"]},
                                 "dedup": {"keep": "first", "order_by": "RecordedDate"}},
                   "accounts": {"derive": {"retained_next_wave": {"churn_date": "Churn"}}}}}
    assert _messages(doc) == []
