"""The malformed-export corpus (tests/malformed/): every case is rejected with its problems.

Each case folder is a small study exported the way spreadsheet tools write files, with planted
faults; ``cases.yaml`` lists the problems ``load_study`` must report with file, column, row (as
numbered in the file) and value. The raw files must be byte-for-byte unchanged afterwards.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from crqlab import ValidationError, load_study

CORPUS = Path(__file__).resolve().parents[1] / "malformed"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))["cases"]


def _generator():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_corpus", module)
    spec.loader.exec_module(module)
    return module


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _key(p) -> tuple:
    if isinstance(p, dict):
        return (p["file"], p["column"], p["row"], p["value"])
    return (p.file, p.column, p.row, p.value)


def _load_rejected(folder: Path, **kw) -> ValidationError:
    before = _hashes(folder)
    with pytest.raises(ValidationError) as err:
        load_study(folder, **kw)
    assert _hashes(folder) == before, "the loader changed a raw file"
    return err.value


def _line_naming(text: str, p: dict) -> str | None:
    """The line of the error message that names this problem's file, column, row and value."""
    for line in text.splitlines():
        if not line.startswith(f"  - {p['file']}") or p["message"] not in line:
            continue
        if p["column"] is not None and f"column {p['column']!r}" not in line:
            continue
        if p["row"] is not None and f"row {p['row']}:" not in line:
            continue
        if p["value"] is not None and f"(value {p['value']!r})" not in line:
            continue
        return line
    return None


def test_corpus_covers_the_required_faults():
    assert len(CASES) >= 20
    for name in ("missing_required_column", "nps_11", "crq_item_0_and_8", "text_in_numeric",
                 "decimal_item", "duplicate_contact", "response_without_contact",
                 "responded_false_with_response", "unknown_account", "undeclared_wave",
                 "duplicate_header", "empty_file", "undecodable_bytes", "ragged_row",
                 "bad_boolean", "bad_date", "negative_reminders", "confidential_disagrees",
                 "missing_study_yaml", "yaml_names_missing_file", "mapped_column_absent",
                 "xlsx_export", "parquet_export", "many_problems"):
        assert name in CASES and (CORPUS / name).is_dir(), name
    formats = {f for c in CASES.values() for f in c["format"]}
    assert {"XLSX", "PARQUET"} <= formats
    assert any("cp1252" in f for f in formats) and any("BOM" in f for f in formats)
    for name, c in CASES.items():
        assert c["problems"], f"{name} lists no expected problem"


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_is_rejected_with_file_column_row_value(name):
    case = CASES[name]
    err = _load_rejected(CORPUS / name)
    found = [_key(p) for p in err.problems]
    expected = [_key(p) for p in case["problems"]]
    missing = set(expected) - set(found)
    assert not missing, f"{name}: not reported {missing}; reported {found}"
    if case["exact"]:
        assert sorted(found, key=repr) == sorted(expected, key=repr), \
            f"{name}: reported more than expected: {set(found) - set(expected)}"
        assert err.truncated == 0
    text = str(err)
    assert text.startswith(f"{len(err.problems) + err.truncated} problem(s)")
    for p in case["problems"]:
        assert _line_naming(text, p), f"{name}: message does not name {p}:\n{text}"
        reported = next(q for q in err.problems if _key(q) == _key(p))
        assert p["message"] in reported.message


def test_many_problems_all_listed_then_capped():
    case = CASES["many_problems"]
    expected = {_key(p) for p in case["problems"]}
    assert len(expected) == 60
    err = _load_rejected(CORPUS / "many_problems")  # default cap 200: every one listed
    assert {_key(p) for p in err.problems} == expected and err.truncated == 0
    assert str(err).startswith("60 problem(s)")
    cap = case["cap_check"]
    err = _load_rejected(CORPUS / "many_problems", max_problems=cap)
    listed = [_key(p) for p in err.problems]
    assert len(listed) == cap and len(set(listed)) == cap
    assert set(listed) <= expected
    assert err.truncated == 60 - cap
    assert str(err).startswith("60 problem(s)")
    assert f"... and {60 - cap} more not listed" in str(err)
    assert len([ln for ln in str(err).splitlines() if ln.startswith("  - ")]) == cap


@pytest.mark.parametrize("dialect,fmt", [("de", "csv"), ("bom", "csv"), ("plain", "csv"),
                                         ("de", "xlsx"), ("de", "parquet")])
def test_uncorrupted_base_study_is_valid(tmp_path, dialect, fmt):
    # Every case starts from this study, so each reported problem comes from its planted fault.
    folder = _generator().write_valid(tmp_path / "base", dialect, fmt)
    before = _hashes(folder)
    s = load_study(folder)
    assert (len(s.contacts), len(s.responses), len(s.accounts)) == (16, 12, 4)
    assert s.contacts["tenure_years"].iloc[:3].tolist() == [0.5, 2.0, 3.5]
    assert s.contacts["invited_on"].iloc[0] == pd.Timestamp("2021-03-01")
    assert s.accounts["account_name"].iloc[1] == "Société Générale d'Énergie"
    assert s.responses["strengths"].iloc[0] == "Schnelle Reaktion, gute Beratung"
    assert s.contacts["responded"].sum() == 12
    assert _hashes(folder) == before


def test_generator_is_deterministic_and_committed_corpus_is_current(tmp_path):
    gen = _generator()
    listing = gen.build(tmp_path / "a")
    gen.build(tmp_path / "b")
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")  # no clock, no unseeded draws
    assert listing == CASES
    rebuilt = _hashes(tmp_path / "a")
    committed = {k: v for k, v in _hashes(CORPUS).items()
                 if k != "make_corpus.py" and "__pycache__" not in k}
    assert set(rebuilt) == set(committed)
    for rel, digest in rebuilt.items():
        if rel.endswith((".xlsx", ".parquet")):
            # Bytes depend on the writer library's version; compare the cells instead.
            read = pd.read_excel if rel.endswith(".xlsx") else pd.read_parquet
            pd.testing.assert_frame_equal(read(tmp_path / "a" / rel), read(CORPUS / rel))
        else:
            assert digest == committed[rel], f"{rel} differs: rerun make_corpus.py"
