"""Output folders that cannot hurt, subset runs that keep the other reports, killed runs that
leave nothing behind (crqlab.reports.outputs, crqlab.interrupt, crqlab.reports.runner).

The refusal tests build a small "world" in tmp_path - a fake repository (``REPO_ROOT``,
``data/raw``, ``reports``), a working folder, a home folder, studies, a folder of other files,
a file - and point crqlab's path constants, ``HOME`` and the working folder into it, so every
file and folder that ``crqlab run`` could touch is hashed before and after. A refused run exits
2, names the path and the reason, and changes nothing (the world's tree, folders included, is
identical); the stand-in notebook would leave a file in the world if it ran. The places that
cannot be faked (``/``, the real repository, ``data/raw``, home folders) are tried as well,
comparing their listings.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup
from hardening.builders import sha256_tree

from crqlab import cli
from crqlab.errors import CrqlabError
from crqlab.paths import DATA_RAW, REPO_ROOT, SAMPLE_STUDY
from crqlab.reports import batch, outputs, runner
from crqlab.reports.outputs import (
    BATCH_REPORTS,
    MARKER,
    STUDY_REPORTS,
    OutputFolderError,
    check_output_folder,
    is_marked,
    write_marker,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


# -- stand-in notebooks -----------------------------------------------------------------------
def _notebook(folder: Path, name: str, *cells: str,
              params: str = 'study_dir: str = ""  # study folder\n'
                            'results_path: str = ""  # results file') -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), p,
                *(nbformat.v4.new_code_cell(c) for c in cells)]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder / f"{name}.ipynb"


def _recording(value: str) -> str:
    return ("from crqlab.reports import results\n"
            f"results.record('value', {value}, headline=True, label='Value')\n"
            "results.save(results_path)")


# -- the world --------------------------------------------------------------------------------
def _study(folder: Path, name: str | None = "mini") -> Path:
    shutil.copytree(FIXTURE, folder)
    spec = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    if name is None:
        spec.pop("study")
    else:
        spec["study"] = name
    (folder / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return folder


@pytest.fixture
def world(tmp_path, monkeypatch) -> Path:
    w = tmp_path / "world"
    repo = w / "holder" / "repo"
    (repo / "crqlab").mkdir(parents=True)
    (repo / "crqlab" / "__init__.py").write_text("# the checkout\n", encoding="utf-8")
    (repo / "reports").mkdir()
    (repo / "reports" / ".gitkeep").write_text("", encoding="utf-8")
    _study(repo / "data" / "raw" / "rawstudy", "rawstudy")
    (w / "work").mkdir()
    (w / "work" / "draft.md").write_text("work in progress\n", encoding="utf-8")
    (w / "homes" / "user").mkdir(parents=True)
    (w / "homes" / "user" / ".profile").write_text("export X=1\n", encoding="utf-8")
    _study(w / "studies" / "st", "mini")
    _study(w / "studies" / "other", "other")
    _study(w / "deep" / "a" / "b" / "c", "deepstudy")
    (w / "docs").mkdir()
    (w / "docs" / "guide.txt").write_text("not a report\n", encoding="utf-8")
    (w / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (w / "link").symlink_to(w / "studies" / "st")
    (w / "batchmarked").mkdir()
    write_marker(w / "batchmarked", BATCH_REPORTS)
    (w / "marked-with-study").mkdir()
    write_marker(w / "marked-with-study", STUDY_REPORTS)
    _study(w / "marked-with-study" / "copied", "copied")
    # the stand-in notebook leaves a file in the world if it ever runs
    _notebook(w / "nbs", "01_flag", f"open({str(w / 'RAN')!r}, 'w').write('ran')")
    monkeypatch.setattr(outputs, "REPO_ROOT", repo)
    monkeypatch.setattr(outputs, "DATA_RAW", repo / "data" / "raw")
    monkeypatch.setattr(runner, "REPORTS_DIR", repo / "reports")
    monkeypatch.setattr(batch, "REPORTS_DIR", repo / "reports")
    monkeypatch.setattr(runner, "NOTEBOOKS_DIR", w / "nbs")
    monkeypatch.setenv("HOME", str(w / "homes" / "user"))
    monkeypatch.chdir(w / "work")
    return w


def snapshot(root: Path) -> dict[str, str]:
    """Every file (SHA-256), folder and symbolic link under ``root``, by relative path."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                found[rel] = "link -> " + os.readlink(p)
            elif p.is_dir():
                found[rel] = "folder"
            else:
                found[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def _cli(argv: list[str]) -> tuple[int, str]:
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = cli.main(argv)
    return code, std.getvalue() + err.getvalue()


# -- refused --out ----------------------------------------------------------------------------
#: id -> (--out given when running studies/st, path the message names, reason).
OUT_CASES = {
    "out-is-the-study": ("{w}/studies/st", "studies/st", "is the study folder"),
    "out-is-the-study-relative": ("../studies/st", "studies/st", "is the study folder"),
    "out-is-another-study": ("{w}/studies/other", "studies/other", "is a study folder"),
    "out-is-a-symlink-to-the-study": ("{w}/link", "studies/st", "is the study folder"),
    "out-holds-studies": ("{w}/studies", "studies", "contains the study folder"),
    "out-holds-a-study-deep-down": ("{w}/deep", "deep", "contains a study folder"),
    "out-marked-but-holds-a-study": ("{w}/marked-with-study", "marked-with-study",
                                     "contains a study folder"),
    "out-inside-the-study": ("{w}/studies/st/reports", "studies/st/reports",
                             "is inside the study folder"),
    "out-inside-another-study": ("{w}/studies/other/out", "studies/other/out",
                                 "is inside the study folder"),
    "out-is-data-raw": ("{w}/holder/repo/data/raw", "holder/repo/data/raw", "raw study data"),
    "out-under-data-raw": ("{w}/holder/repo/data/raw/new", "holder/repo/data/raw/new",
                           "raw study data is never written"),
    "out-holds-data-raw": ("{w}/holder/repo/data", "holder/repo/data", "raw study data"),
    "out-is-the-working-folder": (".", "work", "is the working folder"),
    "out-is-the-repository": ("{w}/holder/repo", "holder/repo", "repository root"),
    "out-holds-the-repository": ("{w}/holder", "holder", "repository root"),
    "out-is-home": ("~", "homes/user", "home folder"),
    "out-holds-other-files": ("{w}/docs", "docs", "holds files crqlab did not make"),
    "out-is-a-file": ("{w}/notes.txt", "notes.txt", "is a file"),
    "out-inside-a-file": ("{w}/notes.txt/x", "notes.txt/x", "which is a file"),
    "out-is-a-batch-folder": ("{w}/batchmarked", "batchmarked", "batch reports folder"),
}


@pytest.mark.parametrize("case", OUT_CASES, ids=list(OUT_CASES))
def test_refused_out_exits_2_and_changes_nothing(world, case):
    out, named, reason = OUT_CASES[case]
    before = snapshot(world)
    code, text = _cli(["run", str(world / "studies" / "st"), "--out", out.format(w=world)])
    assert code == 2, text
    assert f"refusing to write reports into {world / named}:" in text
    assert reason in text and "Traceback" not in text
    assert snapshot(world) == before  # nothing created, moved or deleted; no notebook ran


#: id -> (study: value in study.yaml, or the folder name when absent).
NAME_CASES = {
    "dotdot": "..", "dot": ".", "parent-path": "../x", "absolute": "/tmp/x", "dash": "-x",
    "hidden": ".hidden", "space": "a b", "slash": "a/b",
    "folder-name-with-space": None,
}


@pytest.mark.parametrize("case", NAME_CASES, ids=list(NAME_CASES))
def test_study_name_that_is_not_an_identifier_exits_2(world, case):
    name = NAME_CASES[case]
    folder = world / "studies" / ("my study" if name is None else "named")
    _study(folder, name)
    before = snapshot(world)
    code, text = _cli(["run", str(folder)])  # no --out: reports/<study>
    assert code == 2, text
    assert f"{folder / 'study.yaml'}: study name" in text
    assert repr("my study" if name is None else name) in text and "not a plain identifier" in text
    assert snapshot(world) == before


def test_study_name_that_is_not_text_is_a_study_yaml_error(world):
    """``study: [a]`` never reaches the name check: the study.yaml schema refuses its type."""
    folder = world / "studies" / "named"
    _study(folder, ["a"])
    before = snapshot(world)
    code, text = _cli(["run", str(folder)])
    assert code == 2, text
    assert "column 'study'" in text and "must be text" in text and "Traceback" not in text
    assert snapshot(world) == before


def _listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


@pytest.mark.parametrize("out, reason", [
    ("/", "root of the file system"), (str(REPO_ROOT), "repository root"),
    (str(DATA_RAW), "raw study data"), (str(SAMPLE_STUDY), "raw study data"),
    (str(Path.home()), "home folder"), ("/root", "home folder"),
    ("/home/crqlab-nobody", "home folder"), ("/home", "home folder"),
], ids=["root", "repository", "data-raw", "sample-study", "home", "root-home", "home-star",
        "home-parent"])
def test_real_places_are_refused(tmp_path, out, reason):
    study = _study(tmp_path / "st")
    before, listing = snapshot(tmp_path), _listing(Path(out))
    code, text = _cli(["run", str(study), "--out", out])
    assert code == 2, text
    assert f"refusing to write reports into {Path(out).resolve()}:" in text and reason in text
    assert snapshot(tmp_path) == before and _listing(Path(out)) == listing


def test_the_working_folder_itself_is_refused(tmp_path, monkeypatch):
    study = _study(tmp_path / "st")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, text = _cli(["run", str(study), "--out", "."])
    assert code == 2 and f"refusing to write reports into {tmp_path}:" in text
    assert "working folder" in text and snapshot(tmp_path) == before


def test_accepted_folders_missing_empty_and_crqlab_made(world):
    study = world / "studies" / "st"
    (world / "empty").mkdir()
    for out in (world / "new" / "deeper", world / "empty"):
        assert check_output_folder(out, study) == out
    result = runner.run(study, out=world / "empty", jobs=1, progress=False)
    assert result.ok and (world / "RAN").is_file()  # the stand-in notebook ran this time
    assert is_marked(world / "empty", STUDY_REPORTS)
    assert check_output_folder(world / "empty", study) == world / "empty"  # crqlab made it
    # a marker that is not crqlab's JSON does not count
    (world / "docs" / MARKER).write_text("{}", encoding="utf-8")
    with pytest.raises(OutputFolderError, match="holds files crqlab did not make"):
        check_output_folder(world / "docs", study)


# -- batches ----------------------------------------------------------------------------------
#: id -> (--out of the batch, path the message names, reason); studies st and other.
BATCH_CASES = {
    "parent-is-a-study": ("{w}/studies/st", "studies/st", "is the study folder"),
    "parent-holds-the-studies": ("{w}/studies", "studies", "contains the study folder"),
    "parent-is-data-raw": ("{w}/holder/repo/data/raw", "holder/repo/data/raw", "raw study data"),
    "parent-holds-other-files": ("{w}/docs", "docs", "holds files crqlab did not make"),
    "parent-is-the-working-folder": (".", "work", "working folder"),
    "parent-is-a-file": ("{w}/notes.txt", "notes.txt", "is a file"),
}


@pytest.mark.parametrize("case", BATCH_CASES, ids=list(BATCH_CASES))
def test_refused_batch_parent_exits_2_and_changes_nothing(world, case):
    out, named, reason = BATCH_CASES[case]
    before = snapshot(world)
    code, text = _cli(["run", str(world / "studies" / "st"), str(world / "studies" / "other"),
                       "--out", out.format(w=world)])
    assert code == 2, text
    assert f"refusing to write reports into {world / named}:" in text and reason in text
    assert snapshot(world) == before


def test_batch_does_not_overwrite_a_batch_html_crqlab_did_not_make(world):
    parent = world / "holder" / "repo" / "reports"  # the default parent, holding .gitkeep
    (parent / "batch.html").write_text("<p>my own page</p>", encoding="utf-8")
    before = snapshot(world)
    code, text = _cli(["run", str(world / "studies" / "st"), str(world / "studies" / "other")])
    assert code == 2 and f"refusing to write reports into {parent}:" in text
    assert "batch.html" in text and snapshot(world) == before
    with pytest.raises(OutputFolderError, match="did not make it"):
        outputs.check_batch_file(parent / "batch.html")


def test_batch_with_a_bad_study_name_runs_nothing(world):
    _study(world / "studies" / "evil", "..")
    before = snapshot(world)
    code, text = _cli(["run", str(world / "studies" / "st"), str(world / "studies" / "evil")])
    assert code == 2 and "not a plain identifier" in text and snapshot(world) == before


def test_batch_into_the_default_reports_folder(world):
    parent = world / "holder" / "repo" / "reports"
    table, rows = batch.run_batch([world / "studies" / "st", world / "studies" / "other"],
                                  jobs=1, progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert is_marked(parent, BATCH_REPORTS)
    assert sorted(p.name for p in parent.iterdir()) == [
        MARKER, ".gitkeep", "batch.html", "batch.json", "mini", "other"]
    assert all(is_marked(parent / n, STUDY_REPORTS) for n in ("mini", "other"))
    outputs.check_batch_parent(parent)  # its own output is accepted next time
    with pytest.raises(OutputFolderError, match="batch reports folder"):
        check_output_folder(parent, world / "studies" / "st")  # never replaced by one study


# -- subset runs keep the other reports -------------------------------------------------------
def test_subset_run_keeps_the_other_reports(tmp_path):
    nbs = tmp_path / "nbs"
    for i, name in enumerate(("01_first", "02_second", "03_third")):
        _notebook(nbs, name, _recording(str(i + 1)))
    study = _study(tmp_path / "st")
    out = tmp_path / "reports" / "mini"
    first = runner.run(study, out=out, notebooks_dir=nbs, jobs=1, progress=False)
    assert first.ok
    # the first notebook's report is from an older run of other data
    doc = json.loads((out / "run.json").read_text(encoding="utf-8"))
    doc["notebooks"][0]["started"] = "2020-01-02T03:04:05+00:00"
    doc["notebooks"][0]["inputs_digest"] = "0" * 64
    (out / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    (out / "reviewer-notes.txt").write_text("keep me\n", encoding="utf-8")
    kept_before = {n: sha256_tree(out / n) for n in ("01_first", "03_third")}
    second = runner.run(study, out=out, notebooks="02*", notebooks_dir=nbs, jobs=1,
                        progress=False)
    assert [o.name for o in second.outcomes] == ["02_second.ipynb"] and second.ok
    assert {n: sha256_tree(out / n) for n in kept_before} == kept_before  # byte for byte
    assert (out / "reviewer-notes.txt").read_text(encoding="utf-8") == "keep me\n"
    entries = {e["name"]: e for e in
               json.loads((out / "run.json").read_text(encoding="utf-8"))["notebooks"]}
    assert sorted(entries) == ["01_first.ipynb", "02_second.ipynb", "03_third.ipynb"]
    second_started = json.loads((out / "run.json").read_text(encoding="utf-8"))["started"]
    assert entries["01_first.ipynb"]["started"] == "2020-01-02T03:04:05+00:00"
    assert entries["02_second.ipynb"]["started"] == second_started
    assert entries["03_third.ipynb"]["started"] == doc["notebooks"][2]["started"]
    rows = BeautifulSoup((out / "index.html").read_text(encoding="utf-8"),
                         "html.parser").select("table.crq-table tbody tr")
    text = [r.get_text(" ", strip=True) for r in rows]
    assert [a["href"] for r in rows for a in r.select("a")] == [
        "01_first/01_first.html", "02_second/02_second.html", "03_third/03_third.html"]
    assert "2020-01-02 03:04 UTC" in text[0] and "input files differ" in text[0]
    assert runner._display_date(second_started) in text[1]
    assert "input files differ" not in text[2]  # same study files as this run
    assert [f"Value: {i}" in t for i, t in enumerate(text, start=1)] == [True] * 3


# -- a killed run leaves nothing behind -------------------------------------------------------
HEARTBEAT = ("import pathlib, time\n"
             "beat = pathlib.Path({beat!r}) / (pathlib.Path(study_dir).name + '-' + {name!r})\n"
             "while True:\n"
             "    beat.write_text(str(time.time()))\n"
             "    time.sleep(0.1)")


def _wait(condition, timeout: float, proc: subprocess.Popen) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _alive(pids) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _naming(text: str) -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE
            and any(text in part for part in (p.info["cmdline"] or []))]


class LoopingRun:
    """A real ``crqlab run`` subprocess (its own session) of stand-in notebooks that write a
    heartbeat file in an endless loop, over previous reports made by crqlab: one study with
    ``jobs`` notebooks, or (``studies=2``) a batch of two studies of one notebook each."""

    def __init__(self, tmp_path: Path, jobs: int, studies: int = 1):
        nbs, self.beat = tmp_path / "nbs", tmp_path / "beat"
        self.beat.mkdir()
        notebooks = ["01_loop", "02_loop"][:jobs if studies == 1 else 1]
        for name in notebooks:
            _notebook(nbs, name, HEARTBEAT.format(beat=str(self.beat), name=name))
        dirs = [_study(tmp_path / f"st{i}", f"mini{i}") for i in range(studies)]
        self.names = [f"{d.name}-{n}" for d in dirs for n in notebooks]
        self.reports = tmp_path / "reports"
        self.outs = [self.reports / f"mini{i}" for i in range(studies)]
        for out in self.outs:
            out.mkdir(parents=True)
            write_marker(out, STUDY_REPORTS)
            (out / "index.html").write_text("previous reports", encoding="utf-8")
        self.previous = [sha256_tree(out) for out in self.outs]
        out = self.outs[0] if studies == 1 else self.reports
        code = ("import sys; from pathlib import Path; from crqlab import cli; from crqlab.reports import runner; "
                f"runner.NOTEBOOKS_DIR = Path({str(nbs)!r}); "
                f"sys.exit(cli.main(['run', *{[str(d) for d in dirs]!r}, '--out', "
                f"{str(out)!r}, '--jobs', '{jobs}']))")
        self.log = tmp_path / "stderr.txt"
        with open(self.log, "w", encoding="utf-8") as err:  # a file: orphans could hold a pipe
            self.proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.staging = f"{self.reports}/."  # kernels' connection files: <staging>/.kernels/

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.reports.iterdir() if ".partial-" in p.name)

    def previous_intact(self) -> bool:
        return [sha256_tree(out) for out in self.outs] == self.previous

    def kill_when_running(self, signum: int) -> tuple[list[int], list[int]]:
        """Send ``signum`` to the main process only (as ``kill PID`` or Ctrl-C would) once every
        kernel beats; returns the run's descendants and its kernels just before."""
        import psutil

        running = _wait(lambda: all((self.beat / n).is_file() for n in self.names), 120,
                        self.proc)
        tree = [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        kernels = _naming(self.staging)
        os.kill(self.proc.pid, signum)
        self.proc.wait(timeout=60)
        assert running, "the kernels never started"
        assert len(kernels) == len(self.names)  # one kernel per notebook, naming the run
        return tree, kernels

    def cleanup(self) -> None:
        """After the test, whatever happened: the session the run leads, then its kernels."""
        import psutil

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in _naming(self.staging):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()

    def assert_nothing_runs(self, grace: float) -> None:
        time.sleep(grace)
        assert _naming(self.staging) == []
        stamps = {n: (self.beat / n).read_text() for n in self.names}
        time.sleep(1.0)
        assert {n: (self.beat / n).read_text() for n in self.names} == stamps  # no heartbeat


@pytest.fixture
def looping_run(tmp_path):
    runs = []

    def start(jobs: int, studies: int = 1) -> LoopingRun:
        runs.append(LoopingRun(tmp_path, jobs, studies))
        return runs[-1]

    yield start
    for run in runs:
        run.cleanup()


SLOW = pytest.mark.slow  # about 10 s each: one kill test of each kind runs by default


@pytest.mark.parametrize("signum, jobs, studies", [
    pytest.param(signal.SIGTERM, 2, 1, id="TERM-jobs2"),
    pytest.param(signal.SIGINT, 2, 1, id="INT-jobs2", marks=SLOW),
    pytest.param(signal.SIGTERM, 1, 1, id="TERM-jobs1", marks=SLOW),
    pytest.param(signal.SIGTERM, 2, 2, id="TERM-batch", marks=SLOW),
])
def test_killed_run_stops_workers_and_kernels(looping_run, signum, jobs, studies):
    run = looping_run(jobs, studies)
    tree, kernels = run.kill_when_running(signum)
    err = run.log.read_text(encoding="utf-8")
    assert run.proc.returncode == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}" in err and "Traceback" not in err
    run.assert_nothing_runs(grace=1.5)
    assert _alive(tree) == []
    assert run.leftovers() == [] and run.previous_intact()  # staging folders gone


@pytest.mark.parametrize("studies", [pytest.param(1, id="single"),
                                     pytest.param(2, id="batch", marks=SLOW)])
def test_sigkilled_run_leaves_no_worker_and_the_next_run_tidies(looping_run, studies):
    run = looping_run(2, studies)
    tree, kernels = run.kill_when_running(signal.SIGKILL)  # cannot be caught
    assert run.proc.returncode == -signal.SIGKILL
    run.assert_nothing_runs(grace=3.0)  # workers see the main process gone, stop their kernels
    assert _alive(tree) == []
    assert len(run.leftovers()) == studies  # the dead run's staging folders, marked
    for out in run.outs:
        runner._tidy_previous(out)  # what the next run does first
    assert run.leftovers() == [] and run.previous_intact()


# -- tidying only touches what crqlab made ----------------------------------------------------
def test_tidy_previous_leaves_unmarked_look_alikes_alone(tmp_path):
    out = tmp_path / "mini"
    dead = "999999999-abc"
    for kind in ("partial", "old"):
        (tmp_path / f".mini.{kind}-{dead}").mkdir()
        (tmp_path / f".mini.{kind}-{dead}" / "precious.txt").write_text("x", encoding="utf-8")
    before = snapshot(tmp_path)
    runner._tidy_previous(out)
    assert snapshot(tmp_path) == before  # neither deleted nor restored: no crqlab marker
    write_marker(tmp_path / f".mini.partial-{dead}", STUDY_REPORTS)
    runner._tidy_previous(out)
    assert not (tmp_path / f".mini.partial-{dead}").exists()
    assert (tmp_path / f".mini.old-{dead}" / "precious.txt").is_file()


def test_swap_refuses_a_folder_that_lost_its_marker(tmp_path):
    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    out.mkdir()
    (out / "theirs.txt").write_text("x", encoding="utf-8")
    with pytest.raises(OutputFolderError, match="no longer a reports folder"):
        runner._swap_in(staging, out, "abc")
    assert (out / "theirs.txt").is_file() and staging.is_dir()


def test_errors_are_crqlab_errors():
    assert issubclass(OutputFolderError, CrqlabError)
