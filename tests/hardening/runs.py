"""``crqlab run`` on the hardening studies, once per test session.

A full run of every study notebook costs tens of seconds, so the runs are cached in-process
(:func:`functools.cache`) and shared by the test modules: the privacy canary, the
reproducibility check and the killed-run test all read the same canary run. Runs go to a
temporary folder removed at exit.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from crqlab import cli
from crqlab.paths import NOTEBOOKS_DIR, SAMPLE_STUDY
from crqlab.reports import runner

from .builders import CanaryMarkers, canary_study, degenerate_study, sha256_tree

__all__ = ["FAST_DEGENERATE", "SCANNED", "scan_marks",
           "CliRun", "workdir", "fast_parameters", "run_cli", "canary_run", "canary_rerun",
           "degenerate_run", "notebook_names", "sample_run"]

#: Degenerate studies run whole in ``make test``: none since 2026-12-03, when the suite reached
#: 622 s of its 10-minute budget; every degenerate study (each whole run about 17-20 s), with
#: its report-text and consistency scans, runs under ``-m slow`` (``make test-slow``). The
#: cheap default checks stay: notebook 01 alone on ``nps_all_missing``, the privacy canary,
#: the hostile study and the sample's scans.
FAST_DEGENERATE: tuple[str, ...] = ()
#: Studies whose pages the report-text and consistency checks scan (sample and degenerate).
SCANNED = ("sample", "one_wave", "no_accounts_table", "all_confidential")


def scan_marks(study: str) -> list:
    """``slow`` for a scanned study that ``make test`` does not run whole."""
    return [] if study == "sample" or study in FAST_DEGENERATE else [pytest.mark.slow]


#: Small values for the expensive parameters, passed to the notebooks that declare them.
FAST = {"n_boot": "20", "n_draws": "200", "min_n": "80", "max_free": "0"}


@dataclass(frozen=True)
class CliRun:
    """One ``crqlab run`` through :func:`crqlab.cli.main`: exit code, output, reports folder."""

    code: int
    stdout: str
    stderr: str
    out: Path
    study: Path
    raw_before: dict
    raw_after: dict

    def run_json(self) -> dict:
        import json

        return json.loads((self.out / "run.json").read_text(encoding="utf-8"))

    def statuses(self) -> dict[str, str]:
        return {n["name"]: n["status"] for n in self.run_json()["notebooks"]}


@functools.cache
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="crqlab-hardening-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def notebook_names(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """The study notebooks ``crqlab run`` would run (sorted file names)."""
    return [p.name for p in runner.discover_notebooks(notebooks_dir)]


def fast_parameters() -> list[str]:
    """``-p NAME VALUE`` arguments for the :data:`FAST` names some notebook declares (in the
    folder ``crqlab run`` reads: ``runner.NOTEBOOKS_DIR`` at call time)."""
    declared = set()
    for p in runner.discover_notebooks(runner.NOTEBOOKS_DIR):
        declared |= set(runner.notebook_parameters(p))
    args = []
    for name, value in FAST.items():
        if name in declared:
            args += ["-p", name, value]
    return args


def run_cli(study: Path, out: Path, *extra: str) -> CliRun:
    """``crqlab run STUDY --out OUT --jobs 2 <fast parameters> <extra>`` in this process,
    with the SHA-256 of every file of the study folder before and after."""
    err, std = io.StringIO(), io.StringIO()
    argv = ["run", str(study), "--out", str(out), "--jobs", "2", *fast_parameters(), *extra]
    before = sha256_tree(study)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = cli.main(argv)
    return CliRun(code, std.getvalue(), err.getvalue(), Path(out), Path(study), before,
                  sha256_tree(study))


@functools.cache
def _canary_markers() -> CanaryMarkers:
    return canary_study(workdir() / "studies" / "privacy-fixture", min_cell_size=10)


def canary_markers() -> CanaryMarkers:
    return _canary_markers()


@functools.cache
def canary_run() -> CliRun:
    """Every notebook on the canary study, ``--jobs 2``."""
    return run_cli(_canary_markers().folder, workdir() / "reports" / "canary-jobs2")


@functools.cache
def canary_rerun() -> CliRun:
    """The same run again, one notebook after another (``--jobs 1``)."""
    canary_run()
    return run_cli(_canary_markers().folder, workdir() / "reports" / "canary-jobs1",
                   "--jobs", "1")


@functools.cache
def degenerate_run(name: str) -> CliRun:
    """Every notebook on the degenerate study ``name``."""
    study = degenerate_study(name, workdir() / "studies" / name)
    return run_cli(study, workdir() / "reports" / name)


@functools.cache
def sample_run() -> CliRun:
    """Every notebook on the shipped sample study (the pages a reviewer reads first), fast
    parameters: shared by the visible-text scan, the page weights and the cross-report
    consistency check (tests/hardening/test_report_text.py, test_report_consistency.py)."""
    return run_cli(SAMPLE_STUDY, workdir() / "reports" / "sample")


def scanned_run(study: str) -> CliRun:
    """The whole run of a study in :data:`SCANNED`: the sample, or a degenerate study."""
    return sample_run() if study == "sample" else degenerate_run(study)
