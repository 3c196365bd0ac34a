"""Hostile input to ``crqlab run``: a malformed table stops the run before any notebook.

Properties (hypothesis, a few examples each - every example writes a study): whatever cell of
a valid study is made invalid, ``crqlab run`` exits 2 and prints one message naming the file,
the column, the row (as numbered in the file) and the value, without a traceback; the Python
API raises only :class:`crqlab.errors.CrqlabError`; no notebook runs, the previous reports and
the raw files are left as they were.
"""
from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crqlab import cli
from crqlab.errors import CrqlabError, ValidationError
from crqlab.reports import runner
from crqlab.reports.outputs import STUDY_REPORTS, write_marker
from hardening.builders import sha256_tree, synth_frames, write_frames

#: (table, column, values the data contract refuses in that column).
BAD_CELLS = [
    ("contacts", "wave", ["two", "1.5"]),
    ("contacts", "responded", ["maybe", "2"]),
    ("contacts", "reminders", ["-1", "many"]),
    ("contacts", "tenure_years", ["-2.5", "long"]),
    ("contacts", "invited_on", ["yesterday", "2021-13-45"]),
    ("contacts", "confidential", ["perhaps"]),
    ("contacts", "newly_included", ["sometimes"]),
    ("responses", "nps", ["11", "-1", "ten", "7.5"]),
    ("responses", "trust_1", ["0", "8", "agree", "4.5"]),
    ("responses", "customer_care", ["99", "<script>alert(1)</script>"]),
    ("responses", "confidential", ["x"]),
    ("accounts", "retained_next_wave", ["unsure"]),
    ("accounts", "dormant", ["?"]),
]
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def valid_study(tmp_path_factory) -> Path:
    return write_frames(synth_frames(n_accounts=8), tmp_path_factory.mktemp("valid") / "study")


@pytest.fixture(scope="module")
def previous_reports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "study"
    out.mkdir()
    write_marker(out, STUDY_REPORTS)  # made by crqlab: a run may replace it
    (out / "index.html").write_text("previous reports", encoding="utf-8")
    return out


def _corrupt(valid: Path, dest: Path, table: str, column: str, row: int, value: str) -> int:
    """Copy the study and put ``value`` into ``column`` at record ``row``; returns the file row."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(valid, dest)
    frame = pd.read_csv(dest / f"{table}.csv", dtype=str, keep_default_na=False)
    row = row % len(frame)
    frame.loc[row, column] = value
    frame.to_csv(dest / f"{table}.csv", index=False, lineterminator="\n")
    return row + 2  # header is row 1 in a CSV


def _cli(argv) -> tuple[int, str, str]:
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = cli.main(argv)
    return code, std.getvalue(), err.getvalue()


@st.composite
def bad_cell(draw):
    table, column, values = draw(st.sampled_from(BAD_CELLS))
    return table, column, draw(st.sampled_from(values)), draw(st.integers(0, 10_000))


@SETTINGS
@given(case=bad_cell())
def test_cli_exits_2_naming_file_column_row_value(valid_study, previous_reports, tmp_path,
                                                  case):
    table, column, value, row = case
    study = tmp_path / "hostile"
    file_row = _corrupt(valid_study, study, table, column, row, value)
    raw = sha256_tree(study)
    before = sha256_tree(previous_reports)
    code, out, err = _cli(["run", str(study), "--out", str(previous_reports), "-p", "n_boot", "5"])
    assert code == 2
    assert "Traceback" not in out + err
    assert any(f"{table}.csv" in ln and f"column '{column}'" in ln and f"row {file_row}:" in ln
               and repr(value) in ln for ln in err.splitlines()), err
    assert sha256_tree(previous_reports) == before  # nothing published, nothing replaced
    assert sha256_tree(study) == raw
    assert not list(previous_reports.parent.glob(".study.partial-*"))


@SETTINGS
@given(case=bad_cell())
def test_api_raises_only_crqlab_errors(valid_study, tmp_path, case):
    table, column, value, row = case
    study = tmp_path / "hostile"
    _corrupt(valid_study, study, table, column, row, value)
    with pytest.raises(CrqlabError) as err:
        runner.run(study, out=tmp_path / "out", progress=False, jobs=1)
    assert isinstance(err.value, ValidationError)
    assert not (tmp_path / "out").exists()


@SETTINGS
@given(data=st.binary(min_size=1, max_size=400), table=st.sampled_from(["contacts", "responses"]))
def test_garbage_bytes_in_a_table(valid_study, tmp_path, data, table):
    study = tmp_path / "garbage"
    shutil.rmtree(study, ignore_errors=True)
    shutil.copytree(valid_study, study)
    (study / f"{table}.csv").write_bytes(data)
    code, out, err = _cli(["run", str(study), "--out", str(tmp_path / "out")])
    assert code == 2 and "Traceback" not in out + err
    assert f"{table}.csv" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("table, column, value, named", [
    ("responses", "contact_id", "NOSUCH", "contact_id"),
    ("contacts", "contact_id", "", "contact_id"),
    ("contacts", "account_id", "ZZZ999", "account_id"),
])
def test_key_problems_name_the_key_column(valid_study, tmp_path, table, column, value, named):
    study = tmp_path / "keys"
    file_row = _corrupt(valid_study, study, table, column, 40, value)
    code, out, err = _cli(["run", str(study), "--out", str(tmp_path / "out")])
    assert code == 2 and "Traceback" not in out + err
    assert any(f"{table}.csv" in ln and f"column '{named}'" in ln and f"row {file_row}:" in ln
               for ln in err.splitlines()), err


@pytest.mark.parametrize("text, message", [
    ("study: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
    ("study: x\nfiles: {contacts: nowhere.csv, responses: responses.csv}\n", "nowhere.csv"),
])
def test_broken_study_yaml(valid_study, tmp_path, text, message):
    study = tmp_path / "yaml"
    shutil.copytree(valid_study, study)
    (study / "study.yaml").write_text(text, encoding="utf-8")
    code, out, err = _cli(["run", str(study), "--out", str(tmp_path / "out")])
    assert code == 2 and "Traceback" not in out + err
    assert message in err
    assert not (tmp_path / "out").exists()
