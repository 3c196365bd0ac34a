"""Batch runs over several studies, locally and on Dask (crqlab.reports.batch)."""
from __future__ import annotations

import json

import nbformat
import pytest

from crqlab.reports.batch import run_batch
from crqlab.synth import write_study

RECORDING_CELL = """\
import numpy as np
from crqlab import load_study
from crqlab.reports import results
from crqlab.measures.nps import nps
from crqlab.measures.scoring import score_items

study = load_study(study_dir, cache=False)
r = study.respondents()
n = nps(r["nps"]).iloc[0]
results.record("nps", n, unit="points", headline=True)
crq = score_items(r, study.instrument)["crq_index"].dropna()
results.record("crq_index", float(crq.mean()), n=int(crq.size), headline=True)
if results_path:
    results.save(results_path)
"""


def _notebooks(folder):
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('study_dir: str = ""  # study folder\n'
                                       'results_path: str = ""  # results file')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(RECORDING_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "01_headline.ipynb")
    return folder


@pytest.fixture(scope="module")
def three_studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    dirs = []
    for seed in (1, 2, 3):
        d = write_study("tiny", seed=seed, out=root / f"tiny{seed}")
        text = (d / "study.yaml").read_text().replace("study: tiny", f"study: tiny{seed}")
        (d / "study.yaml").write_text(text)
        dirs.append(d)
    return root, dirs, _notebooks(root / "notebooks")


def _results(parent, names):
    return {n: (parent / n / "01_headline" / "results.json").read_bytes() for n in names}


@pytest.fixture(scope="module")
def local_batch(three_studies):
    root, dirs, nbs = three_studies
    return run_batch(dirs, out=root / "local", notebooks_dir=nbs, jobs=2, progress=False)


def test_local_batch_writes_reports_and_summary(three_studies, local_batch):
    root, dirs, nbs = three_studies
    table, rows = local_batch
    assert list(table["study"]) == ["tiny1", "tiny2", "tiny3"]
    assert (table["status"] == "ok").all()
    assert "01_headline.nps" in table.columns and table["01_headline.nps"].notna().all()
    summary = json.loads((root / "local" / "batch.json").read_text())
    assert [s["study"] for s in summary["studies"]] == ["tiny1", "tiny2", "tiny3"]
    assert "tiny2/index.html" in (root / "local" / "batch.html").read_text()
    for name in ("tiny1", "tiny2", "tiny3"):
        assert (root / "local" / name / "index.html").is_file()


def test_dask_localcluster_gives_the_same_results(three_studies, local_batch):
    distributed = pytest.importorskip("distributed")
    root, dirs, nbs = three_studies
    names = ["tiny1", "tiny2", "tiny3"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        table, _ = run_batch(dirs, out=root / "dask", notebooks_dir=nbs, scheduler=cluster,
                             progress=False)
    assert (table["status"] == "ok").all()
    assert _results(root / "dask", names) == _results(root / "local", names)


def test_duplicate_study_names_are_refused(three_studies, tmp_path):
    from crqlab.errors import CrqlabError

    root, dirs, nbs = three_studies
    with pytest.raises(CrqlabError, match="same study name"):
        run_batch([dirs[0], dirs[0]], out=tmp_path, notebooks_dir=nbs, progress=False)


def _row(study: str, headline: list[dict]) -> dict:
    return {"study": study, "study_dir": f"data/raw/{study}", "status": "ok", "notebooks": 1,
            "failed": [], "out_dir": f"reports/{study}", "headline": {"01_headline": headline},
            "error": None}


def test_summary_with_text_and_number_headlines():
    """Issue 16: one study's headline is a number where another's is text (a sentence, or
    '<script>' from a client label); pandas 3 refused float_format on the mixed column and
    `crqlab run` over several studies exited 1."""
    from crqlab.reports.batch import _html, summary_table

    rows = [_row("a", [{"name": "nps", "est": 41.8765}, {"name": "verdict",
                                                        "est": "no clear difference"}]),
            _row("b", [{"name": "nps", "est": "<script>x</script> text"},
                       {"name": "verdict", "est": 3}]),
            _row("c", [{"name": "nps", "est": None}])]
    table = summary_table(rows)
    assert table.loc[0, "01_headline.nps"] == 41.8765          # numbers kept as numbers
    assert table.loc[1, "01_headline.nps"] == "<script>x</script> text"
    page = _html(table, rows)
    assert "41.88" in page and "no clear difference" in page   # 4 significant digits
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    assert ">3<" in page
