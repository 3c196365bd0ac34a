"""``crqlab packs`` (crqlab.reports.packs): files, privacy canary, hostile strings, formula
injection, output-folder rules, reruns.

The study is the privacy fixture (tests/hardening/builders.py: every confidential respondent
carries a marker name, e-mail and contact id, some of their comments name them in the forms
people write names in) with hostile strings planted in an account name and in a named
respondent's comments."""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook

from crqlab.cli import main
from crqlab.data.privacy import confidential_identifiers
from crqlab.data.study import load_study
from crqlab.reports.outputs import MARKER, OutputFolderError, is_marked
from crqlab.reports.packs import (MANIFEST, PACKS_KIND, actions_xlsx, pack_file_stem,
                                  safe_cell, scan_files, write_packs)
from crqlab.reports.rendering import CSP
from hardening.builders import canary_study

IDENT = re.compile(r"canary(?:name|id)?\d{4}|leak\.example", re.IGNORECASE)
HOSTILE_NAME = "=HYPERLINK(\"http://evil.example\",\"a\")<script>alert('x')</script> Ltd"
HOSTILE_COMMENTS = ("=cmd|' /C calc'!A0", "+1+1 <img src=x onerror=alert(1)>", "@SUM(1,2)",
                    "-2+3", "\tTabbed")  # a carriage return: safe_cell test (CSV rows)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    m = canary_study(tmp_path_factory.mktemp("packs") / "study", min_cell_size=3)
    folder = m.folder
    s = load_study(folder, cache=False)
    latest = max(s.waves)
    r = s.respondents()
    r = r[(r["wave"] == latest) & ~r["confidential"].fillna(True).astype(bool)]
    counts = r["account_id"].value_counts()
    account = sorted(counts[counts >= 6].index)[0]
    named = sorted(r.loc[r["account_id"] == account, "contact_id"])
    accounts = pd.read_csv(folder / "accounts.csv", dtype=str, keep_default_na=False)
    accounts.loc[accounts["account_id"] == account, "account_name"] = HOSTILE_NAME
    accounts.to_csv(folder / "accounts.csv", index=False)
    resp = pd.read_csv(folder / "responses.csv", dtype=str, keep_default_na=False)
    for cid, text in zip(named, HOSTILE_COMMENTS):
        hit = (resp["contact_id"] == cid) & (resp["wave"] == str(latest))
        resp.loc[hit, "weaknesses"] = text
    resp.to_csv(folder / "responses.csv", index=False)
    return folder, account


@pytest.fixture(scope="module")
def written(study_dir, tmp_path_factory):
    folder, account = study_dir
    out = tmp_path_factory.mktemp("out") / "packs"
    path, packs = write_packs(folder, out, n_boot=100)
    return path, packs, account


def _texts(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                out[p.name] = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        else:
            out[p.name] = data.decode("utf-8")
    return out


def test_files_one_pack_per_eligible_account(written):
    out, packs, _ = written
    names = {p.name for p in out.iterdir()}
    stems = {pack_file_stem(p.account_id) for p in packs.packs}
    assert {f"{s}.html" for s in stems} | {f"{s}.csv" for s in stems} | {
        "actions.csv", "actions.xlsx", "index.html", "packs.json", MANIFEST, MARKER} == names
    doc = json.loads((out / "packs.json").read_text(encoding="utf-8"))
    assert doc["packs"] == len(packs.packs) and doc["min_cell_size"] == 3
    assert "responses.csv" in doc["inputs"] and len(doc["inputs"]["responses.csv"]) == 64
    assert len(packs.packs) >= 5


def test_privacy_canary_no_identifier_in_any_file(written, study_dir):
    out, packs, _ = written
    ids = confidential_identifiers(load_study(study_dir[0], cache=False))
    assert ids and packs.identifiers == ids
    for name, text in _texts(out).items():
        assert not IDENT.search(text), name
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert scan_files(files, ids) == []


def test_scan_reads_inside_the_xlsx(written):
    out, packs, _ = written
    name = sorted(i for i in packs.identifiers if "@" not in i and " " in i)[0]
    bad = packs.actions.assign(risk_flags=f"ask {name}")
    leaks = scan_files({"actions.xlsx": actions_xlsx(bad)}, packs.identifiers)
    assert leaks == [("actions.xlsx", name)]


def test_hostile_strings_in_html(written):
    out, packs, account = written
    page = (out / f"{pack_file_stem(account)}.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find_all("script") == [] and soup.find_all("img") == []
    assert not any(t.attrs.get("onerror") for t in soup.find_all(True))
    assert "<script>alert('x')</script>" in soup.get_text()  # shown as text
    assert "<img src=x onerror=alert(1)>" in soup.get_text()
    meta = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert meta is not None and meta["content"] == CSP
    index = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert index.find_all("script") == []


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_safe_cell_prefixes_every_formula_start(start):
    assert safe_cell(start + "1+1") == "'" + start + "1+1"
    assert safe_cell("plain") == "plain" and safe_cell(-3.5) == -3.5


def test_formula_injection_in_csv_and_xlsx(written):
    out, packs, account = written
    actions = pd.read_csv(out / "actions.csv", dtype=str, keep_default_na=False)
    row = actions.set_index("account_id").loc[account]
    assert row["account_name"] == "'" + HOSTILE_NAME
    assert row["due_date"] == ""
    for col in actions.columns:  # only numbers crqlab computed (a negative NPS) start so
        risky = actions[col][actions[col].str.match(r"[=+\-@\t\r]")]
        assert risky.str.fullmatch(r"-\d+(\.\d+)?").all(), col
    pack = pd.read_csv(out / f"{pack_file_stem(account)}.csv", dtype=str, keep_default_na=False)
    texts = pack.loc[pack["section"].str.startswith("named comment"), "text"]
    planted = [t for t in texts if t.lstrip("'") in HOSTILE_COMMENTS]
    assert planted and all(t.startswith("'") for t in planted)
    for col in ("item", "text", "role", "vs_client", "change_words"):
        assert not pack[col].str.match(r"[=+\-@\t\r]").any(), col
    ws = load_workbook(out / "actions.xlsx")["actions"]
    cells = [c for r in ws.iter_rows() for c in r]
    assert all(c.data_type != "f" for c in cells)
    names = [c.value for c in ws["B"]]
    assert "'" + HOSTILE_NAME in names
    assert [c.value for c in ws[1]] == list(packs.actions.columns)


def test_rerun_is_byte_identical_and_deletes_only_its_own(written, study_dir, capsys):
    out, packs, _ = written
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != MARKER}
    (out / "my notes.txt").write_text("mine", encoding="utf-8")
    stale = out / "pack_OLD.html"
    stale.write_text("old", encoding="utf-8")
    manifest = (out / MANIFEST).read_text(encoding="utf-8").replace('"actions.csv"',
                                                                    '"actions.csv",\n "pack_OLD.html"')
    (out / MANIFEST).write_text(manifest, encoding="utf-8")
    # the rerun goes through the command line (same settings as the fixture's run)
    assert main(["packs", str(study_dir[0]), "--out", str(out), "--n-boot", "100"]) == 0
    said = capsys.readouterr().out
    assert "account packs" in said and "index.html" in said
    assert is_marked(out, PACKS_KIND)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != MARKER}
    assert not stale.exists()
    assert after.pop("my notes.txt") == b"mine"
    assert after == before


def test_refused_folders_write_nothing(study_dir, tmp_path, capsys):
    folder = study_dir[0]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.docx").write_text("x", encoding="utf-8")
    for out in (foreign, folder, folder / "packs"):
        before = sorted(p.name for p in out.parent.rglob("*"))
        assert main(["packs", str(folder), "--out", str(out), "--n-boot", "50"]) == 2
        assert sorted(p.name for p in out.parent.rglob("*")) == before
        assert "refusing" in capsys.readouterr().err
    with pytest.raises(OutputFolderError):
        write_packs(folder, foreign)


def test_pack_file_names_never_paths():
    assert pack_file_stem("A0001") == "pack_A0001"
    for bad in ("../x", "a/b", "<script>", "", ".hidden", "x" * 100):
        stem = pack_file_stem(bad)
        assert re.fullmatch(r"pack_[0-9a-f]{12}", stem), bad

