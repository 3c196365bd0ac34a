"""crqlab.reports.runner: `crqlab run` executes stand-in notebooks on the fixture study and renders them.

The integration tests build small notebooks in tmp_path (the real study notebooks are tested by
tests/notebooks/test_notebooks_contract.py and nbval) and point the runner at them.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from crqlab import cli
from crqlab.errors import CrqlabError
from crqlab.reports import runner
from crqlab.reports.outputs import write_marker
from crqlab.reports.runner import NotebookContractError, Parameter, RawValue

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
PARAMS = ('study_dir: str = "../data/raw/sample"  # study folder\n'
          'results_path: str = ""  # where results.json goes (empty: not saved)\n'
          'seed: int = 1  # random seed\n'
          'n_boot: int = 100  # bootstrap resamples\n'
          'label: str = "all"  # a text parameter')
# a 1x1 PNG, to check that a local Markdown image is embedded
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082")


def _nb(cells, params=PARAMS):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [cells[0], p, *cells[1:]]
    return nb


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def _code(text, tags=()):
    c = nbformat.v4.new_code_cell(text)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def ok_notebook():
    return _nb([
        _md("# Stand-in scorecard\n\nLogo: ![logo](logo.png) and ![remote](https://example.com/x.png)"),
        _code("from pathlib import Path\nimport warnings\nimport pandas as pd\n"
              "import matplotlib.pyplot as plt\nfrom crqlab.reports import results, plotting\n"
              "plotting.apply_style()\n"
              "resp = pd.read_csv(Path(study_dir) / 'responses.csv')"),
        _md("## Net Promoter Score"),
        _code("warnings.warn('a warning reviewers need not see')\n"
              "x = pd.to_numeric(resp['nps'], errors='coerce').dropna()\n"
              "nps = 100 * ((x >= 9).mean() - (x <= 6).mean())\n"
              "results.record('nps', nps, n=len(x), unit='points', headline=True, label='NPS')\n"
              "results.finding('Where does the client stand?', 'The NPS is {est} {ci} ({n}).', "
              "est=nps, ci=(nps - 10, nps + 10), n=len(x), quantity='nps')\n"
              "results.finding('Where does the client stand?', 'A trend needs two waves.', "
              "why_not='the fixture has one wave')\n"
              "results.record('seed_used', seed)\n"
              "results.record('label_used', label)\n"
              "fig, ax = plt.subplots()\nax.hist(x)\nax.set_title('Answers')\n"
              "plotting.caption(fig, 'Bars count the answers.')\nplt.show()\n"
              "print(f'NPS {nps:.1f}')"),
        _md("## Responses by wave"),
        _code("t = resp.groupby('wave').size().rename('n').reset_index()\n"
              "results.record_table('responses.by_wave', t)\nt"),
        _code("results.save(results_path)"),
    ])


def bad_notebook():
    return _nb([_md("# Broken on purpose"), _code("x = 1"),
                _code("y = 2\nraise ValueError('planted failure')", tags=["fit-model"]),
                _code("report_never_reached = True")])


def _write(folder: Path, name: str, nb) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / name))
    return folder / name


def _fixture_nps() -> tuple[float, int]:
    x = pd.read_csv(FIXTURE / "responses.csv")["nps"].dropna()
    return 100 * ((x >= 9).mean() - (x <= 6).mean()), len(x)


# -- parameters and the contract ---------------------------------------------------------------
def test_notebook_parameters_are_typed_literals_with_comments():
    params = runner.notebook_parameters(ok_notebook())
    assert list(params) == ["study_dir", "results_path", "seed", "n_boot", "label"]
    assert params["n_boot"] == Parameter("n_boot", "int", 100, "bootstrap resamples")
    assert params["study_dir"].default == "../data/raw/sample"


@pytest.mark.parametrize("source, message", [
    ("seed: int = 1", "needs a comment"),
    ("seed = 1  # seed", "only `name: type = literal"),
    ("seed: int = int('1')  # seed", "not a literal"),
    ("import os  # no", "only `name: type = literal"),
    ('path: str = ""  # empty = not saved', "exactly one '='"),
    ("xs: list = [\n  1, 2]  # values", "one parameter per line"),
])
def test_parameters_cell_violations(source, message):
    with pytest.raises(NotebookContractError, match=message):
        runner.notebook_parameters(_nb([_md("# x")], params=source))


def test_parameters_cell_must_be_first_and_single():
    nb = _nb([_md("# x")])
    nb.cells.insert(1, _code("import os"))
    with pytest.raises(NotebookContractError, match="first code cell"):
        runner.notebook_parameters(nb)
    nb = _nb([_md("# x"), _code("a: int = 1  # a", tags=["parameters"])])
    with pytest.raises(NotebookContractError, match="exactly one"):
        runner.notebook_parameters(nb)


def test_contract_problems_flag_outputs_and_counts(tmp_path):
    nb = ok_notebook()
    nb.cells[2].execution_count = 3
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi")]
    problems = runner.contract_problems(_write(tmp_path, "x.ipynb", nb))
    assert any("has outputs" in p for p in problems)
    assert any("execution count" in p for p in problems)
    assert runner.contract_problems(_write(tmp_path, "y.ipynb", ok_notebook())) == []
    wrong = _nb([_md("# x")], params='seed: int = "one"  # seed')
    assert any("declared int" in p for p in runner.contract_problems(_write(tmp_path, "z.ipynb", wrong)))


def test_resolve_parameters_injects_only_declared_and_types_values():
    declared = {"a.ipynb": runner.notebook_parameters(ok_notebook()),
                "b.ipynb": {"study_dir": Parameter("study_dir", "str", "", "study"),
                            "alpha": Parameter("alpha", "float", 0.05, "level")}}
    out = runner.resolve_parameters(
        declared, {"study_dir": "/s", "seed": 3},
        {"n_boot": RawValue("50"), "label": RawValue("2021"), "alpha": RawValue("0.1")})
    assert out["a.ipynb"] == {"study_dir": "/s", "seed": 3, "n_boot": 50, "label": "2021"}
    assert out["b.ipynb"] == {"study_dir": "/s", "alpha": 0.1}
    assert isinstance(runner.resolve_parameters(declared, {}, {"alpha": 1})["b.ipynb"]["alpha"],
                      float)


def test_unknown_parameter_is_an_error_naming_the_declaring_notebooks():
    declared = {"00_a.ipynb": {"seed": Parameter("seed", "int", 1, "seed")},
                "01_b.ipynb": {"seed": Parameter("seed", "int", 1, "seed"),
                               "n_boot": Parameter("n_boot", "int", 9, "n")}}
    with pytest.raises(CrqlabError) as err:
        runner.resolve_parameters(declared, {}, {"nboot": 5})
    msg = str(err.value)
    assert "nboot" in msg and "n_boot (01_b.ipynb)" in msg and "seed (00_a.ipynb, 01_b.ipynb)" in msg


def test_bad_parameter_type_and_reserved_names():
    declared = {"a.ipynb": runner.notebook_parameters(ok_notebook())}
    with pytest.raises(CrqlabError, match="declared int"):
        runner.resolve_parameters(declared, {}, {"n_boot": RawValue("many")})
    with pytest.raises(CrqlabError, match="set by crqlab run"):
        runner.resolve_parameters(declared, {}, {"results_path": "/tmp/x"})


def test_discover_notebooks_sorted_and_globbed(tmp_path):
    for name in ("10_b.ipynb", "01_a.ipynb", "00_z.ipynb"):
        _write(tmp_path, name, ok_notebook())
    assert [p.name for p in runner.discover_notebooks(tmp_path)] == \
        ["00_z.ipynb", "01_a.ipynb", "10_b.ipynb"]
    assert [p.name for p in runner.discover_notebooks(tmp_path, "0*")] == ["00_z.ipynb", "01_a.ipynb"]
    with pytest.raises(CrqlabError, match="no notebook"):
        runner.discover_notebooks(tmp_path, "99*")


def test_hash_inputs_and_study_info():
    hashes = runner.hash_inputs(FIXTURE)
    assert set(hashes) == {"study.yaml", "contacts.csv", "responses.csv", "accounts.csv"}
    assert hashes["contacts.csv"] == hashlib.sha256((FIXTURE / "contacts.csv").read_bytes()).hexdigest()
    info = runner.study_info(FIXTURE)
    assert info == {"study": "mini", "client": "Fixture Client Ltd", "seed": 11, "min_cell_size": 5}


def test_not_a_study_folder(tmp_path):
    with pytest.raises(CrqlabError, match="no study.yaml"):
        runner.study_info(tmp_path)


def test_unreachable_scheduler_is_a_clear_error(capsys, monkeypatch):
    pytest.importorskip("distributed")
    import socket

    from crqlab import parallel

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.main(["run", str(FIXTURE), "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and "Traceback" not in err


# -- a whole run through the command line -----------------------------------------------------
@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    nbdir = root / "notebooks"
    _write(nbdir, "01_ok.ipynb", ok_notebook())
    _write(nbdir, "02_bad.ipynb", bad_notebook())
    (nbdir / "logo.png").write_bytes(PNG)
    out = root / "reports" / "mini"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "NOTEBOOKS_DIR", nbdir)
        mp.setenv("MPLBACKEND", "Agg")  # as `make` sets it: figures must still be embedded
        proc_err = _capture_cli(["run", str(FIXTURE), "--out", str(out), "--jobs", "2",
                                 "-p", "n_boot", "5", "-p", "label", "2021"])
    return {"root": root, "nbdir": nbdir, "out": out, **proc_err}


def _capture_cli(argv):
    import contextlib
    import io

    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = cli.main(argv)
    return {"code": code, "stderr": err.getvalue(), "stdout": std.getvalue()}


def test_failing_notebook_gives_exit_1_and_names_notebook_and_cell(first_run):
    assert first_run["code"] == 1
    err = first_run["stderr"]
    assert "02_bad.ipynb failed in cell 3" in err
    assert "'fit-model'" in err and "`y = 2`" in err and "ValueError: planted failure" in err
    assert "1/2 notebooks ok" in first_run["stdout"]


def test_layout_of_the_reports_folder(first_run):
    out = first_run["out"]
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == [".crqlab-reports", "01_ok/01_ok.html", "01_ok/01_ok.ipynb",
                     "01_ok/results.json", "02_bad/02_bad.html", "02_bad/02_bad.ipynb",
                     "glossary.html", "index.html", "run.json"]
    marker = json.loads((out / ".crqlab-reports").read_text(encoding="utf-8"))
    assert marker["made_by"] == "crqlab" and marker["kind"] == "study-reports"
    assert [p.name for p in out.parent.iterdir()] == ["mini"]  # no staging folder left behind


def test_results_json_has_the_recorded_keys(first_run):
    doc = json.loads((first_run["out"] / "01_ok" / "results.json").read_text(encoding="utf-8"))
    assert set(doc["values"]) == {"nps.est", "nps.n", "seed_used.est", "label_used.est"}
    nps, n = _fixture_nps()
    assert doc["values"]["nps.est"] == pytest.approx(nps, rel=1e-9)
    assert doc["values"]["nps.n"] == n
    assert doc["values"]["seed_used.est"] == 11  # from study.yaml, injected as declared
    assert doc["values"]["label_used.est"] == "2021"  # -p value kept as text for a str parameter
    assert doc["tables"]["responses.by_wave"]["columns"] == ["wave", "n"]


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_report_has_no_code_no_traceback_and_embedded_images(first_run):
    html_path = first_run["out"] / "01_ok" / "01_ok.html"
    text = html_path.read_text(encoding="utf-8")
    soup = _soup(html_path)
    for cell in soup.select(".jp-CodeCell"):
        assert not cell.select(".jp-InputArea"), "a code cell shows its input"
    assert "results.record" not in text and "read_csv" not in text
    assert "Traceback" not in text and "a warning reviewers need not see" not in text
    imgs = soup.find_all("img")
    assert len(imgs) == 2  # the local logo (inlined) and the matplotlib figure
    assert all(img["src"].startswith("data:image/png;base64,") for img in imgs)
    assert not soup.find_all("script", src=True)
    assert "example.com" not in " ".join(img["src"] for img in imgs)
    assert "NPS" in soup.get_text()
    # every image has alt text: the logo its Markdown text, the figure its title and caption
    assert [img["alt"] for img in imgs] == ["logo", "Answers. Bars count the answers."]
    assert imgs[1].find_parent("figure").figcaption.get_text() == "Bars count the answers."


def test_report_header_and_table_of_contents(first_run):
    soup = _soup(first_run["out"] / "01_ok" / "01_ok.html")
    header = soup.select_one(".crq-header").get_text(" ", strip=True)
    assert "mini" in header and "Fixture Client Ltd" in header
    # one title, the notebook's, followed at once by the key findings
    assert [h.get_text(strip=True) for h in soup.find_all("h1")] == ["Stand-in scorecard"]
    assert soup.find("h1").find_next_sibling().select_one(".crq-findings") is not None
    assert "Bootstrap resamples: 5" in header and "Random seed: 11" in header
    assert runner.hash_inputs(FIXTURE)["responses.csv"][:12] in header
    assert "results_path" not in header and "study_dir" not in header and "Study folder" not in header
    toc = [a.get_text() for a in soup.select(".crq-toc a")]
    assert toc == ["Stand-in scorecard", "Net Promoter Score", "Responses by wave"]
    for a in soup.select(".crq-toc a"):
        assert soup.find(id=a["href"][1:]) is not None


def test_failed_report_is_kept_with_its_error(first_run):
    out = first_run["out"] / "02_bad"
    text = (out / "02_bad.html").read_text(encoding="utf-8")
    assert "planted failure" in text and "Traceback" in text  # folded, for the analyst
    assert "crq-failed" in text and "fit-model" in text
    executed = nbformat.read(str(out / "02_bad.ipynb"), as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells if c.cell_type == "code"
               for o in c.outputs)


def test_index_links_reports_with_status_and_headline(first_run):
    soup = _soup(first_run["out"] / "index.html")
    rows = soup.select("table.crq-table tbody tr")
    assert len(rows) == 2
    links = [a["href"] for a in soup.select("table.crq-table a")]
    assert links == ["01_ok/01_ok.html", "02_bad/02_bad.html"]
    assert all((first_run["out"] / href).is_file() for href in links)
    ok, bad = (r.get_text(" ", strip=True) for r in rows)
    nps, n = _fixture_nps()
    assert "complete" in ok and f"NPS: {nps:.1f} (NPS points, -100 to +100); n = {n:,} respondents" in ok
    assert "stopped early" in bad and "ValueError" not in bad  # the error in plain words


def test_run_json_provenance(first_run):
    doc = json.loads((first_run["out"] / "run.json").read_text(encoding="utf-8"))
    assert doc["inputs"] == runner.hash_inputs(FIXTURE)
    assert set(runner.VERSIONED_PACKAGES) <= set(doc["packages"])
    assert doc["packages"]["pandas"] == pd.__version__
    assert doc["parameters"] == {"n_boot": "5", "label": "2021"}
    assert doc["seed"] == 11
    assert doc["python"] == ".".join(map(str, sys.version_info[:3]))
    nbs = {n["name"]: n for n in doc["notebooks"]}
    assert nbs["01_ok.ipynb"]["status"] == "ok" and nbs["02_bad.ipynb"]["status"] == "failed"
    assert nbs["01_ok.ipynb"]["parameters"]["n_boot"] == 5
    assert nbs["02_bad.ipynb"]["error"]["cell_index"] == 3
    assert "started" in doc and doc["study"] == "mini"


def test_rerun_gives_byte_identical_results(first_run):
    out = first_run["out"]
    before = (out / "01_ok" / "results.json").read_bytes()
    result = runner.run(FIXTURE, notebooks="01_*", jobs=1, out=out,
                        notebooks_dir=first_run["nbdir"],
                        parameters={"n_boot": RawValue("5"), "label": RawValue("2021")},
                        progress=False)
    assert result.ok
    assert (out / "01_ok" / "results.json").read_bytes() == before
    # the notebook not selected keeps its report (tests/reports/test_outputs.py checks merging)
    assert (out / "02_bad" / "02_bad.html").is_file()


def test_unknown_parameter_on_the_command_line(first_run, capsys):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "NOTEBOOKS_DIR", first_run["nbdir"])
        code = cli.main(["run", str(FIXTURE), "--out", str(first_run["root"] / "x"),
                         "-p", "nboot", "5"])
    assert code == 2
    err = capsys.readouterr().err
    assert "nboot" in err and "n_boot (01_ok.ipynb, 02_bad.ipynb)" in err
    assert not (first_run["root"] / "x").exists()


def test_killed_run_leaves_previous_reports_intact(tmp_path):
    nbdir = tmp_path / "notebooks"
    _write(nbdir, "01_slow.ipynb", _nb([_md("# Slow"), _code("import time\ntime.sleep(60)")]))
    out = tmp_path / "reports" / "mini"
    out.mkdir(parents=True)
    write_marker(out, "study-reports")  # previous reports: a folder crqlab made
    (out / "index.html").write_text("previous", encoding="utf-8")
    code = ("import sys; from crqlab.reports import runner; "
            f"runner.run({str(FIXTURE)!r}, out={str(out)!r}, notebooks_dir={str(nbdir)!r}, "
            "jobs=1, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(out.parent.glob(".mini.partial-*/01_slow/*.ipynb")):
            time.sleep(0.2)
        assert list(out.parent.glob(".mini.partial-*")), "the run never started"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run, its kernel: the group this test started
        proc.wait()
    assert (out / "index.html").read_text(encoding="utf-8") == "previous"
    assert sorted(p.name for p in out.iterdir()) == [".crqlab-reports", "index.html"]
    runner._tidy_previous(out)  # the next run clears the dead run's partial folder
    assert sorted(p.name for p in out.parent.iterdir()) == ["mini"]


def test_interrupted_swap_is_restored(tmp_path):
    out = tmp_path / "mini"
    old = tmp_path / ".mini.old-999999999-abc"
    old.mkdir()
    write_marker(old, "study-reports")
    (old / "index.html").write_text("previous", encoding="utf-8")
    runner._tidy_previous(out)
    assert (out / "index.html").read_text(encoding="utf-8") == "previous"
    assert not old.exists()


def test_report_showing_a_confidential_respondent_is_withheld(tmp_path):
    contacts = pd.read_csv(FIXTURE / "contacts.csv")
    responses = pd.read_csv(FIXTURE / "responses.csv")
    conf = responses.loc[responses["confidential"], ["wave", "contact_id"]].iloc[0]
    name = contacts.loc[(contacts.wave == conf.wave) & (contacts.contact_id == conf.contact_id),
                        "contact_name"].item()
    nbdir = tmp_path / "notebooks"
    _write(nbdir, "01_leak.ipynb", _nb([_md("# Leaky"),
                                        _code("import pandas as pd\nfrom pathlib import Path\n"
                                              "c = pd.read_csv(Path(study_dir) / 'contacts.csv')\n"
                                              f"print(c.loc[c.contact_name == {name!r}, 'contact_name'].iloc[0])")]))
    out = tmp_path / "reports" / "mini"
    result = runner.run(FIXTURE, out=out, notebooks_dir=nbdir, jobs=1, progress=False)
    assert not result.ok
    assert result.outcomes[0].error["ename"] == "PrivacyLeak"
    published = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(p.relative_to(out).as_posix() for p in published) == [
        ".crqlab-reports", "01_leak/01_leak.html", "glossary.html", "index.html",
        "run.json"]
    for p in published:
        assert name not in p.read_text(encoding="utf-8")
    assert "withheld" in (out / "01_leak" / "01_leak.html").read_text(encoding="utf-8")


def test_privacy_scan_reads_the_uncached_study(monkeypatch):
    # the Parquet cache blanks confidential respondents' names: the scan must not use it
    import crqlab.data.study

    seen = {}
    real = crqlab.data.study.load_study

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(crqlab.data.study, "load_study", spy)
    idents = runner._confidential_identifiers(FIXTURE, [])
    assert seen.get("cache") is False
    contacts = pd.read_csv(FIXTURE / "contacts.csv")
    responses = pd.read_csv(FIXTURE / "responses.csv")
    conf = responses.loc[responses["confidential"], ["wave", "contact_id"]]
    rows = contacts.merge(conf, on=["wave", "contact_id"])
    assert set(rows.contact_name) | set(rows.contact_email) | set(rows.contact_id) == idents


def test_kernel_environment_is_restored(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with runner._kernel_environment():
        assert os.environ["MPLBACKEND"].endswith("backend_inline")
        assert os.environ["PYTHONHASHSEED"] == "0"
    assert os.environ["MPLBACKEND"] == "Agg" and "PYTHONHASHSEED" not in os.environ


def test_kernels_get_one_blas_thread_unless_the_caller_chose(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "4")
    with runner._kernel_environment():
        assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["MKL_NUM_THREADS"] == "4"  # the caller's choice is kept
    assert "OMP_NUM_THREADS" not in os.environ and "OPENBLAS_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "4"


# -- findings, the bar and the glossary page (issue 17) ----------------------------------------
def test_report_opens_with_key_findings_from_results_json(first_run):
    doc = json.loads((first_run["out"] / "01_ok" / "results.json").read_text(encoding="utf-8"))
    assert [f["text"] for f in doc["findings"]] == ["The NPS is {est} {ci} ({n}).",
                                                    "A trend needs two waves."]
    soup = _soup(first_run["out"] / "01_ok" / "01_ok.html")
    items = [li.get_text(" ", strip=True) for li in soup.select(".crq-findings li")]
    nps, n = _fixture_nps()
    assert items == [f"The NPS is {nps:.1f} [{nps - 10:.1f}, {nps + 10:.1f}] "
                     f"(n = {n:,} respondents).", "A trend needs two waves."]
    assert "no findings" in _soup(first_run["out"] / "02_bad" / "02_bad.html").select_one(
        ".crq-findings").get_text()


def test_index_opens_with_the_findings_then_the_reports(first_run):
    soup = _soup(first_run["out"] / "index.html")
    box = soup.select_one(".crq-findings")
    assert box.find_next("table", class_="crq-table") is not None
    assert [h.get_text() for h in box.find_all("h3")] == ["Where does the client stand?"]
    assert len(box.find_all("li")) == 2


def test_every_page_links_the_index_the_glossary_and_the_siblings(first_run):
    out = first_run["out"]
    for page, prefix in (("index.html", ""), ("glossary.html", ""),
                         ("01_ok/01_ok.html", "../"), ("02_bad/02_bad.html", "../")):
        links = [a["href"] for a in _soup(out / page).select("nav.crq-bar a")]
        assert links == [f"{prefix}index.html", f"{prefix}glossary.html",
                         f"{prefix}01_ok/01_ok.html", f"{prefix}02_bad/02_bad.html"], page
        assert all((out / page).parent.joinpath(href).resolve().is_file() for href in links)
    bar = _soup(out / "01_ok" / "01_ok.html").select_one("nav.crq-bar").get_text(" ", strip=True)
    assert bar.startswith("mini – Fixture Client Ltd") and "Stand-in scorecard" in bar
    assert "Net Promoter Score (NPS)" in _soup(out / "glossary.html").get_text()


def test_a_run_prints_no_kernel_transport_warning(tmp_path, capfd):
    nbdir = tmp_path / "notebooks"
    _write(nbdir, "01_quick.ipynb", _nb([_md("# Quick"), _code("x = 1")]))
    result = runner.run(FIXTURE, out=tmp_path / "reports" / "mini", notebooks_dir=nbdir,
                        jobs=1, progress=False)
    assert result.ok
    captured = capfd.readouterr()  # the kernel writes to the inherited file descriptors
    assert "without encryption" not in captured.err + captured.out
    assert runner.kernel_options()["config"].KernelManager.transport_encryption == "auto"


class _Terminal:
    """A stream that says it is a terminal (as make's stderr is in a shell)."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_shows_in_a_terminal_and_its_clock_ticks(monkeypatch):
    import os as _os
    import time as _time

    monkeypatch.setattr(_os, "get_terminal_size", lambda *a: _os.terminal_size((0, 0)))
    term = _Terminal()
    bar = runner.progress_bar(3, "sample", file=term, tick=0.05)
    assert not bar.disable and bar.ncols == 80  # a pseudo-terminal of size 0: 80 columns
    _time.sleep(0.3)
    ticks = len(term.parts)
    bar.update()
    runner.close_progress_bar(bar)
    text = "".join(term.parts)
    assert ticks >= 3, "the clock did not tick while notebooks ran"
    assert "sample" in text and "1/3" in text
    quiet = _Terminal()
    quiet.isatty = lambda: False
    assert runner.progress_bar(3, "x", file=quiet).disable  # piped to a file: no bar


@pytest.mark.slow
def test_a_study_100_times_the_sample_runs_end_to_end(tmp_path):
    # issue 21 item 4: 20,000 accounts (~378,000 responses); notebook 40 used to fail with
    # "hidden_risk.accounts: 819 rows; results.json keeps tables of at most 500 rows".
    # Measured (benchmarks/README.md): about 9 minutes on the shared 2-core machine.
    from crqlab.paths import NOTEBOOKS_DIR as REAL_NOTEBOOKS
    from crqlab.reports import results as res_module
    from crqlab.synth import write_study

    study = write_study("sample", seed=2023, out=tmp_path / "x100", n_accounts=20_000,
                        study="x100")
    assert sum(1 for _ in open(study / "responses.csv", encoding="utf-8")) > 300_000
    result = runner.run(study, out=tmp_path / "reports", progress=False,
                        notebooks_dir=REAL_NOTEBOOKS)
    assert result.ok, [o.describe_error() for o in result.failed]
    assert len(result.outcomes) == len(runner.discover_notebooks(REAL_NOTEBOOKS))
    doc = json.loads((result.out_dir / "40_nps_crq" / "results.json").read_text("utf-8"))
    table = doc["tables"]["hidden_risk.accounts"]
    assert table["n_rows"] > res_module.MAX_TABLE_ROWS
    assert len(table["data"]) == res_module.MAX_TABLE_ROWS
    assert f"of {table['n_rows']} rows" in table["note"]
    listed = doc["values"]["hidden_risk.accounts_listed.est"]
    assert listed == table["n_rows"]  # the count of every listed account is kept
