"""Privacy helpers (crqlab.privacy)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import build_study_frames, write_study

from crqlab import load_study
from crqlab.privacy import (confidential_identifiers, find_leaks, safe_verbatims, scrub_text,
                            suppress_small)


def test_suppress_small_blanks_numbers_and_flags():
    t = pd.DataFrame({"role": ["a", "b"], "est": [5.1, 6.2], "ci_low": [4.9, 5.0], "n": [40, 3]})
    out = suppress_small(t, min_cell_size=5)
    assert out["suppressed"].tolist() == [False, True]
    assert np.isnan(out.loc[1, "est"]) and np.isnan(out.loc[1, "n"])
    assert out.loc[0, "est"] == 5.1 and out.loc[0, "n"] == 40
    assert out["role"].tolist() == ["a", "b"]  # the group stays visible as suppressed


def test_scrub_text_masks_contacts():
    text = "Call Jane Doe on +44 20 7946 0958 or jane.doe@client.example"
    out = scrub_text(text, names=["Jane Doe"])
    assert "Jane" not in out and "@" not in out and "7946" not in out


def test_safe_verbatims_carry_no_ids_and_drop_small_groups():
    df = pd.DataFrame({"contact_id": [f"C{i}" for i in range(12)],
                       "account_id": ["A1"] * 10 + ["A2"] * 2,
                       "weaknesses": [f"slow reply {i}" for i in range(12)]})
    out = safe_verbatims(df, "weaknesses", by="account_id", min_cell_size=5, seed=1)
    assert list(out.columns) == ["account_id", "weaknesses"]
    assert set(out["account_id"]) == {"A1"}                   # A2 (2 verbatims) dropped
    assert out.equals(safe_verbatims(df, "weaknesses", by="account_id", min_cell_size=5, seed=1))
    assert safe_verbatims(df.head(3), "weaknesses", min_cell_size=5).empty


def test_leak_scan_finds_confidential_identifiers(tmp_path):
    c, r, a = build_study_frames()
    study = load_study(write_study(tmp_path / "s", c, r, a))
    ids = confidential_identifiers(study)
    conf_contacts = set(c.loc[c["confidential"] == True, "contact_id"])  # noqa: E712
    assert conf_contacts <= ids
    named = set(c.loc[c["confidential"] == False, "contact_id"])  # noqa: E712
    assert not (named & ids)
    leaked = sorted(conf_contacts)[0]
    (tmp_path / "report.html").write_text(f"<td>{leaked}</td><td>{leaked}0</td>")
    (tmp_path / "clean.html").write_text("<td>nothing</td>")
    leaks = find_leaks([tmp_path / "report.html", tmp_path / "clean.html"], ids)
    assert leaks == [(tmp_path / "report.html", leaked)]
