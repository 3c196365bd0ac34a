"""Account packs of the shipped sample study: one per eligible account, the privacy canary
(confidential respondents' names, e-mails and ids) run over every file; every degenerate study
of tests/hardening/builders.py gives packs or says why (slow: about two minutes)."""
from __future__ import annotations

import pytest

from crqlab.data.privacy import confidential_identifiers, find_leaks
from crqlab.data.study import load_study
from crqlab.paths import DATA_RAW
from crqlab.errors import InsufficientDataError
from crqlab.reports.packs import pack_file_stem, scan_files, write_packs
from hardening.builders import DEGENERATE, degenerate_study

pytestmark = pytest.mark.slow


def test_sample_packs_one_per_eligible_account_and_no_leak(tmp_path):
    study = load_study(DATA_RAW / "sample", cache=False)
    out, packs = write_packs(DATA_RAW / "sample", tmp_path / "packs", n_boot=200)
    r = study.respondents()
    latest = r[r["wave"] == packs.wave]
    ever = set(r.loc[r["confidential"].fillna(False).astype(bool), "contact_id"])
    conf = latest["confidential"].fillna(True).astype(bool) | latest["contact_id"].isin(ever)
    eligible = set()
    for acc, c in conf.groupby(latest["account_id"].astype(str)):
        shown = len(c) if c.sum() >= packs.min_cell_size else int((~c).sum())
        if shown >= packs.min_cell_size:
            eligible.add(acc)
    assert {p.account_id for p in packs.packs} == eligible
    assert {f"{pack_file_stem(a)}.html" for a in eligible} <= {p.name for p in out.iterdir()}
    ids = confidential_identifiers(study)
    assert len(ids) > 100
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert scan_files(files, ids) == []
    assert find_leaks(sorted(out.iterdir()), ids) == []


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_studies_give_packs_or_a_reason(name, tmp_path):
    folder = degenerate_study(name, tmp_path / name)
    try:
        out, packs = write_packs(folder, tmp_path / "packs", n_boot=50)
    except InsufficientDataError as exc:
        assert name == "one_respondent" and "no wave" in str(exc)
        assert not (tmp_path / "packs").exists()
        return
    ids = confidential_identifiers(load_study(folder, cache=False))
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert scan_files(files, ids) == []
    assert len(packs.actions) >= len(packs.packs) >= 1
