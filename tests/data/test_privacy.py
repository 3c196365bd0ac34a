"""Privacy helpers (crqlab.data.privacy)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import build_study_frames, write_study

from crqlab import cli, load_study
from crqlab.data.privacy import (
    PrivacySettingError,
    check_min_cell_size,
    complementary_suppression,
    confidential_identifiers,
    effective_min_cell_size,
    find_leaks,
    safe_verbatims,
    scrub_text,
    suppress_small,
)
from crqlab.errors import ValidationError
from crqlab.reports import results


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


# -- complementary suppression ---------------------------------------------------------------------
def test_one_suppressed_cell_takes_the_next_smallest_with_it():
    t = pd.DataFrame({"role": ["a", "b", "c", "d"], "est": [5.1, 6.2, 4.0, 5.5],
                      "n": [40, 3, 12, 9]})
    out = suppress_small(t, min_cell_size=5, partition=True)
    # b (3) is below the minimum; total minus a, c, d would give it back, so d (9, the
    # smallest other) is suppressed too, and both lose their n
    assert out["suppressed"].tolist() == [False, True, False, True]
    assert out.loc[[1, 3], ["est", "n"]].isna().all().all()
    assert out.loc[[0, 2], "n"].tolist() == [40, 12]
    assert suppress_small(t, min_cell_size=5)["suppressed"].tolist() == [False, True, False, False]


def test_hidden_cells_together_reach_the_minimum():
    # 1 and 2 hidden: total minus the rest gives their union, 3 < 5: a third cell goes too
    out = suppress_small(pd.DataFrame({"est": [1.0, 2.0, 3.0, 4.0], "n": [1, 2, 8, 30]}),
                         min_cell_size=5, partition=True)
    assert out["suppressed"].tolist() == [True, True, True, False]


def test_partitions_are_separate_and_a_missing_group_counts():
    t = pd.DataFrame({"wave": [1, 1, 1, 2, 2, 2], "role": list("abcabc"),
                      "est": [1.0] * 6, "n": [20, 4, 30, 20, 25, 30]})
    out = suppress_small(t, min_cell_size=5, partition="wave")
    assert out["suppressed"].tolist() == [True, True, False, False, False, False]
    # wave 2 covers 75 of 78 respondents: the 3 with no role are a hidden cell, so the
    # smallest shown group is suppressed to protect them
    out = suppress_small(t, min_cell_size=5, partition="wave", total={1: 54, 2: 78})
    assert out["suppressed"].tolist() == [True, True, False, True, False, False]


def _published(table, out):
    """For each partition: total n and sum of values, and what the shown rows add up to."""
    for _, g in table.assign(hidden=out["suppressed"].to_numpy()).groupby("part"):
        yield g, g["n"].sum(), (g["n"] * g["est"]).sum()


@pytest.mark.parametrize("seed", range(40))
def test_total_minus_shown_never_gives_back_a_suppressed_cell(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    table = pd.DataFrame({"part": rng.integers(0, 3, k * 3), "n": rng.integers(1, 25, k * 3),
                          "est": rng.uniform(1, 7, k * 3)})
    out = suppress_small(table, min_cell_size=5, partition="part")
    for g, total_n, total_sum in _published(table, out):
        hidden = g[g["hidden"]]
        if hidden.empty:
            continue
        assert (hidden["n"] < 5).any() or len(hidden) == len(g) or len(hidden) >= 2
        left_n = total_n - g.loc[~g["hidden"], "n"].sum()
        left_sum = total_sum - (g.loc[~g["hidden"], "n"] * g.loc[~g["hidden"], "est"]).sum()
        if len(hidden) < len(g):  # something is shown: the rest must not identify one cell
            assert len(hidden) >= 2 and left_n >= 5
            assert not np.isclose(left_n, hidden["n"]).any()
            assert not np.isclose(left_sum, hidden["n"] * hidden["est"], rtol=0,
                                  atol=1e-9).any()
        assert out.loc[hidden.index, "n"].isna().all()  # no suppressed row keeps its n


def test_complementary_suppression_leaves_empty_groups_alone():
    # an empty group has nothing to disclose: it does not force a second suppression
    hidden = complementary_suppression([0, 7, 50], [True, False, False], 5)
    assert hidden.tolist() == [True, False, False]
    assert complementary_suppression([0, 3, 50], [True, True, False], 5).tolist() == [True] * 3


# -- minimum cell size -----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, 2, 4.5, "five", "5", None, -5, 0])
def test_min_cell_size_must_be_an_integer_of_at_least_3(value):
    with pytest.raises(PrivacySettingError, match="min_cell_size"):
        check_min_cell_size(value)


def test_min_cell_size_parameter_may_be_0_for_the_studys_own(small_study):
    study = load_study(small_study)
    assert check_min_cell_size(3) == 3 and check_min_cell_size(np.int64(12)) == 12
    assert effective_min_cell_size(study, 0) == 5 and effective_min_cell_size(study, 8) == 8
    assert effective_min_cell_size(study, 3) == 5  # never below the study's own
    with pytest.raises(PrivacySettingError, match="parameter min_cell_size"):
        effective_min_cell_size(study, 2)


@pytest.mark.parametrize("value", ["true", "2", "4.5", "five"])
def test_study_yaml_min_cell_size_is_checked_exit_2(tmp_path, value, capsys):
    folder = write_study(tmp_path / "s", *build_study_frames())
    text = (folder / "study.yaml").read_text(encoding="utf-8")
    (folder / "study.yaml").write_text(text + f"min_cell_size: {value}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="min_cell_size"):
        load_study(folder, cache=False)
    assert cli.main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    # the study.yaml schema states the range (docs/data-contract.md)
    assert "min_cell_size" in err and "from 3" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["true", "2", "4.5", "five"])
def test_run_parameter_min_cell_size_is_checked_exit_2(tmp_path, value, capsys):
    folder = write_study(tmp_path / "s", *build_study_frames())
    code = cli.main(["run", str(folder), "--out", str(tmp_path / "out"), "--notebooks",
                     "20_*.ipynb", "-p", "min_cell_size", value])
    err = capsys.readouterr().err
    assert code == 2 and "min_cell_size" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_recorder_refuses_an_estimate_of_too_few_respondents():
    rec = results.Recorder(min_cell_size=5)
    rec.record("nps", 30.0, n=5)
    rec.record("nps.wave_1", None, n=3)          # a suppressed estimate may be recorded blank
    with pytest.raises(results.ResultsError, match="below the minimum cell size 5"):
        rec.record("nps.wave_2", 12.0, n=4)
    with pytest.raises(results.ResultsError, match="not suppressed"):
        rec.record_table("by_role", pd.DataFrame({"role": ["a"], "est": [1.0], "n": [4]}))
    rec.clear()
    rec.record("nps.wave_2", 12.0, n=4)  # the check is off again after clear()


# -- confidentiality: all --------------------------------------------------------------------------
@pytest.fixture
def all_wave_study(tmp_path):
    """Two waves; wave 2 is declared ``confidentiality: all`` but its rows say False or nothing."""
    c, r, a = build_study_frames(waves=(1, 2))
    c["contact_name"] = [f"Kim Nettlefold{i}" for i in range(len(c))]
    second = c["wave"] == 2
    c.loc[second, "confidential"] = False
    r = r.drop(columns=[]).assign(strengths="good service")
    r.loc[r["wave"] == 2, "strengths"] = "Nettlefold3, K. here; mail kim dot n at x dot org"
    folder = write_study(tmp_path / "s", c, r, a, config={"waves": {
        1: {"label": "2021", "confidentiality": "optional"},
        2: {"label": "2022", "confidentiality": "all"}}})
    return folder, c


def test_all_wave_makes_every_respondent_confidential(all_wave_study):
    folder, c = all_wave_study
    study = load_study(folder, cache=False)
    resp = study.respondents()
    assert resp.loc[resp["wave"] == 2, "confidential"].all()
    ids = confidential_identifiers(study)
    answered = set(study.responses.loc[study.responses["wave"] == 2, "contact_id"])
    assert answered <= ids
    names = set(c.loc[c["contact_id"].isin(answered), "contact_name"])
    assert names <= ids


def test_all_wave_is_blanked_in_the_cache_and_scrubbed(all_wave_study, tmp_path):
    folder, _ = all_wave_study
    cache = tmp_path / "cache"
    load_study(folder, cache=cache)
    (key,) = [p for p in cache.iterdir() if p.is_dir()]
    contacts = pd.read_parquet(key / "contacts.parquet")
    responses = pd.read_parquet(key / "responses.parquet")
    answered = set(responses.loc[responses["wave"] == 2, "contact_id"])
    assert contacts.loc[contacts["contact_id"].isin(answered),
                        ["contact_name", "contact_email"]].isna().all().all()
    texts = responses.loc[responses["wave"] == 2, "strengths"]
    assert (texts == "[name removed] here; mail [e-mail removed]").all()


def test_all_wave_names_are_found_by_the_scan(all_wave_study, tmp_path):
    folder, _ = all_wave_study
    ids = confidential_identifiers(load_study(folder, cache=False))
    page = tmp_path / "r.html"
    page.write_text("<td>NETTLEFOLD3, K.</td>", encoding="utf-8")
    assert find_leaks([page], ids) == [(page, "Kim Nettlefold3")]


# -- a wave below the minimum publishes no score -------------------------------------------------
@pytest.mark.slow
def test_scorecard_skips_a_wave_below_the_minimum(tmp_path):
    # wave 2 has 4 respondents (min_cell_size 5): the scorecard scores wave 1, says wave 2 was
    # not scored, and results.json holds no estimate of wave 2
    c, r, a = build_study_frames(n_accounts=4, n_contacts=24, waves=(1, 2))
    late = (c["wave"] == 2) & (c["contact_id"] >= "C004")
    c.loc[late, ["responded", "confidential"]] = [False, None]
    r = r[~((r["wave"] == 2) & (r["contact_id"] >= "C004"))]
    folder = write_study(tmp_path / "s", c, r, a)
    out = tmp_path / "out"
    assert cli.main(["run", str(folder), "--out", str(out), "--notebooks", "01_*.ipynb",
                     "-p", "n_boot", "20"]) == 0
    values = results.load(out / "01_scorecard" / "results.json")["values"]
    assert values["crq_index.n"] == 18
    assert not [k for k, v in values.items() if "wave_2" in k and v is not None
                and not k.endswith(".n")]
    assert values.get("crq_index.wave_2.n") is None
    text = (out / "01_scorecard" / "01_scorecard.html").read_text(encoding="utf-8")
    assert "fewer than 5 respondents (the minimum cell size): not scored" in text
