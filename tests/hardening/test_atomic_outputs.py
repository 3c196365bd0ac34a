"""Nothing lost or half-written: outputs go to a temporary path and are renamed into place.

tests/reports/test_runner.py kills a run of a stand-in notebook and checks the previous index.html;
here the real study notebooks run on the canary study: a run killed (SIGKILL to its process
group) once the first notebook has started leaves every file of the previous reports and of
the raw study byte-identical. Also: a failed atomic write keeps the old file and leaves no
temporary file; a damaged or half-written loader cache is rebuilt, never trusted.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from crqlab.data.study import load_study
from crqlab.files import write_atomic
from crqlab.reports import runner
from hardening.builders import sha256_tree
from hardening.runs import canary_markers, canary_run, fast_parameters, notebook_names


def _wait_for(pattern: str, parent: Path, proc: subprocess.Popen, timeout: float = 240) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if list(parent.glob(pattern)):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def test_killed_run_keeps_previous_reports_and_raw_data(tmp_path):
    previous = canary_run()
    assert previous.code == 0, previous.stderr
    out = tmp_path / "reports" / "privacy-fixture"
    shutil.copytree(previous.out, out)
    study = canary_markers().folder
    reports_before, raw_before = sha256_tree(out), sha256_tree(study)
    first = Path(notebook_names()[0]).stem
    cmd = [sys.executable, "-m", "crqlab.cli", "run", str(study), "--out", str(out),
           "--jobs", "1", *fast_parameters()]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        started = _wait_for(f".{out.name}.partial-*/{first}/{first}.ipynb", out.parent, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers: the group it leads
        proc.wait()
    assert started, "the run never started its first notebook"
    assert sha256_tree(out) == reports_before
    assert sha256_tree(study) == raw_before
    assert list(out.parent.glob(f".{out.name}.partial-*")), "the partial run is elsewhere"
    runner._tidy_previous(out)  # the next run removes the dead run's staging folder
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert sha256_tree(out) == reports_before


def test_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        write_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left


def test_damaged_cache_is_rebuilt_not_trusted(tmp_path):
    cache = tmp_path / "processed"
    fresh = load_study(canary_markers().folder, cache=cache)
    (key,) = [p for p in cache.iterdir() if p.is_dir()]
    # a half-written Parquet file (as after a crash mid-write) in the cache entry
    data = (key / "responses.parquet").read_bytes()
    (key / "responses.parquet").write_bytes(data[: len(data) // 3])
    again = load_study(canary_markers().folder, cache=cache)
    pd.testing.assert_frame_equal(again.responses, fresh.responses)
    # and a stray temporary folder of a killed cache write is ignored
    (cache / f".{key.name}.stray").mkdir()
    (cache / f".{key.name}.stray" / "contacts.parquet").write_bytes(b"PAR1 half")
    pd.testing.assert_frame_equal(load_study(canary_markers().folder, cache=cache).contacts,
                                  fresh.contacts)
