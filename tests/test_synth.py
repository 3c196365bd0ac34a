"""Tests of crqlab.synth: the data contract, determinism, and recovery of the planted truth."""
from __future__ import annotations

import filecmp
import json

import numpy as np
import pandas as pd
import pytest

from crqlab.instruments import load_instrument
from crqlab.paths import SAMPLE_STUDY
from crqlab.synth import PRESETS, SynthError, OutputExistsError, generate, write_study

FILES = ("contacts.csv", "responses.csv", "accounts.csv", "study.yaml", "truth.json")


@pytest.fixture(scope="module")
def tiny():
    return generate("tiny", seed=3)


def test_tables_follow_the_contract(tiny):
    crq = load_instrument("crq")
    c, r, a = tiny.contacts, tiny.responses, tiny.accounts
    assert {"wave", "contact_id", "account_id", "role", "responded", "newly_included", "invited_on",
            "responded_on", "reminders", "days_to_respond", "tenure_years", "confidential",
            "contact_name", "contact_email"} <= set(c.columns)
    assert set(crq.items) | {"wave", "contact_id", "nps", "strengths", "weaknesses"} <= set(r.columns)
    assert not c.duplicated(["wave", "contact_id"]).any()
    assert not a.duplicated(["wave", "account_id"]).any()
    # every response is a responded contact of the frame, and only those
    keys = c.loc[c["responded"].astype(bool), ["wave", "contact_id"]]
    pd.testing.assert_frame_equal(keys.reset_index(drop=True),
                                  r[["wave", "contact_id"]].reset_index(drop=True))
    items = r[crq.items].to_numpy(dtype=float, na_value=np.nan)
    assert np.nanmin(items) >= 1 and np.nanmax(items) <= 7
    assert r["nps"].between(0, 10).all()
    assert set(c["reminders"].unique()) <= {0, 1, 2}
    assert a.loc[a["wave"] == a["wave"].max(), "retained_next_wave"].isna().all()
    assert a.loc[a["wave"] < a["wave"].max(), "retained_next_wave"].notna().all()
    assert c["contact_email"].str.endswith(".example.com").all()
    assert c["wave"].nunique() == 3 and c.groupby("wave")["newly_included"].any().all()


def test_write_study_is_deterministic_and_refuses_to_overwrite(tmp_path):
    a = write_study("tiny", seed=5, out=tmp_path / "a")
    b = write_study("tiny", seed=5, out=tmp_path / "b")
    c = write_study("tiny", seed=6, out=tmp_path / "c")
    for f in FILES:
        assert filecmp.cmp(a / f, b / f, shallow=False), f
    assert not filecmp.cmp(a / "responses.csv", c / "responses.csv", shallow=False)
    with pytest.raises(OutputExistsError):
        write_study("tiny", seed=5, out=a)
    write_study("tiny", seed=6, out=a, force=True)
    assert filecmp.cmp(a / "responses.csv", c / "responses.csv", shallow=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary left


def test_committed_sample_is_reproducible(tmp_path):
    out = write_study("sample", seed=2023, out=tmp_path / "sample")
    for f in FILES:
        assert filecmp.cmp(out / f, SAMPLE_STUDY / f, shallow=False), f


def test_unknown_preset_and_parameter_are_refused():
    with pytest.raises(SynthError):
        generate("nope")
    with pytest.raises(SynthError):
        generate("tiny", not_a_field=1)
    with pytest.raises(SynthError):
        generate("tiny", response_rate=(0.5, 0.5))  # three waves, two rates


def test_truth_is_json_and_complete(tiny):
    text = json.dumps(tiny.truth, sort_keys=True)
    truth = json.loads(text)
    assert set(truth["waves"]) == {"1", "2", "3"}
    w = truth["waves"]["2"]
    for key in ("nps", "nps_mean", "crq_index", "trust", "commitment", "satisfaction",
                "experience", "solution", "service"):
        assert key in w["population"] and key in w["frame"]
    assert -100 <= w["population"]["nps"] <= 100
    paths = {(p["from"], p["to"]): p["std_all"] for p in truth["paths"]}
    assert paths[("trust", "commitment")] == PRESETS["tiny"].crq_paths[6][2]
    assert truth["inflation"]["latent_item"] == PRESETS["tiny"].inflation_item
