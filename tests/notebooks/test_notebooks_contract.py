"""Every study notebook keeps the notebook contract (docs/notebooks.md), and 00/01 run on the
hand-made fixture study through `crqlab run` with what they promise in results.json."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from crqlab.paths import NOTEBOOKS_DIR
from crqlab.reports import runner

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"


def test_the_scorecard_notebooks_exist():
    assert {"00_data_quality.ipynb", "01_scorecard.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_stripped_with_one_typed_parameters_cell(path):
    # no outputs, no execution counts, exactly one first code cell tagged `parameters` whose
    # lines are `name: type = literal  # comment`, values matching their type hints
    assert runner.contract_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_the_sample_by_default_and_saves_results(path):
    params = runner.notebook_parameters(path)
    assert params["study_dir"].type == "str"
    assert params["study_dir"].default == "../data/raw/sample"
    assert params["results_path"].type == "str" and params["results_path"].default == ""
    nb = nbformat.read(str(path), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "results.save(results_path)" in code
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "title first"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_is_narrative_not_a_program(path):
    # load -> call -> show -> record: at most 250 non-blank code lines (docs/notebooks.md)
    nb = nbformat.read(str(path), as_version=4)
    lines = [ln for c in nb.cells if c.cell_type == "code" for ln in c.source.splitlines()
             if ln.strip()]
    assert len(lines) <= 250


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "mini"
    result = runner.run(FIXTURE, notebooks="0[01]_*.ipynb", out=out, jobs=2, progress=False,
                        parameters={"n_boot": 200})
    return result, out


def _values(out: Path, stem: str) -> dict:
    return json.loads((out / stem / "results.json").read_text(encoding="utf-8"))["values"]


def test_real_notebooks_run_on_the_fixture(fixture_run):
    result, out = fixture_run
    assert [(o.name, o.status) for o in result.outcomes] == [
        ("00_data_quality.ipynb", "ok"), ("01_scorecard.ipynb", "ok")], \
        [o.describe_error() for o in result.failed]


def test_data_quality_results(fixture_run):
    _, out = fixture_run
    v = _values(out, "00_data_quality")
    contacts = pd.read_csv(FIXTURE / "contacts.csv")
    responses = pd.read_csv(FIXTURE / "responses.csv")
    assert v["n_invited.est"] == len(contacts) and v["n_responses.est"] == len(responses)
    for w in (1, 2):
        rate = contacts.loc[contacts.wave == w, "responded"].mean()
        assert v[f"response_rate.wave_{w}.est"] == pytest.approx(rate, rel=1e-9)
        assert v[f"response_rate.wave_{w}.ci_low"] < rate < v[f"response_rate.wave_{w}.ci_high"]
    # planted: "Don't know" in value_for_money, "N/A" in innovation and leading_edge, one NPS
    assert v["item_missing.value_for_money.est"] == pytest.approx(1 / len(responses), rel=1e-9)
    assert v["item_missing.nps.est"] == pytest.approx(1 / len(responses), rel=1e-9)
    assert v["straightlining.est"] * v["straightlining.n"] == pytest.approx(1)  # one straight-liner
    assert v["duplicates.contact_wave.est"] == 0


def test_scorecard_results(fixture_run):
    _, out = fixture_run
    v = _values(out, "01_scorecard")
    responses = pd.read_csv(FIXTURE / "responses.csv")
    w2 = responses.loc[responses.wave == 2, "nps"].dropna()
    nps = 100 * ((w2 >= 9).mean() - (w2 <= 6).mean())
    assert v["nps.est"] == pytest.approx(nps, rel=1e-9) and v["nps.n"] == len(w2)
    assert v["nps.ci_low"] < v["nps.est"] < v["nps.ci_high"]
    for name in ("crq_index", "trust", "commitment", "satisfaction", "experience", "solution",
                 "service"):
        assert 1 <= v[f"{name}.ci_low"] <= v[f"{name}.est"] <= v[f"{name}.ci_high"] <= 7
    shares = [v[f"relationship_category.{c}.est"] for c in
              ("ambassadors", "rationals", "ambivalents", "stalkers", "opponents")]
    assert sum(shares) == pytest.approx(1)
    assert {"crq_index.change_w1_w2.p_value", "nps.change_w1_w2.p_value",
            "benchmark.crq_index.percentile.est", "crq_index.wave_1.est"} <= set(v)
    doc = json.loads((out / "01_scorecard" / "results.json").read_text(encoding="utf-8"))
    seg = pd.DataFrame(doc["tables"]["segments"]["data"], columns=doc["tables"]["segments"]["columns"])
    small = seg["n"].isna() | (seg["n"] < 5)
    assert seg.loc[small, "suppressed"].all() and seg.loc[small, "est"].isna().all()
    assert seg["suppressed"].any()  # the fixture has groups below the minimum cell size


def test_reports_hide_code_and_every_respondent(fixture_run):
    _, out = fixture_run
    contacts = pd.read_csv(FIXTURE / "contacts.csv")
    private = set(contacts.contact_name) | set(contacts.contact_email)
    ids = re.compile(r"\bC\d{3}\b")  # the fixture's contact ids
    for html in out.glob("*/*.html"):
        text = html.read_text(encoding="utf-8")
        soup = BeautifulSoup(text, "html.parser")
        assert not any(cell.select(".jp-InputArea") for cell in soup.select(".jp-CodeCell"))
        assert "Traceback" not in text and "load_study" not in text
        assert all(img["src"].startswith("data:image/") for img in soup.find_all("img"))
        assert len(soup.find_all("img")) >= 3
        visible = soup.get_text(" ")
        assert not ids.search(visible)
        assert not [p for p in private if p in text]


def test_00_and_01_record_findings_and_the_scorecard_its_biases(fixture_run):
    _, out = fixture_run
    docs = {s: json.loads((out / s / "results.json").read_text(encoding="utf-8"))
            for s in ("00_data_quality", "01_scorecard")}
    for stem, doc in docs.items():
        assert doc.get("findings"), stem
        assert all(f.get("n") or f.get("why_not") for f in doc["findings"])
    texts = [f["text"] for f in docs["01_scorecard"]["findings"]]
    assert any(t.startswith("The CRQ index of wave 2") for t in texts)
    v = docs["01_scorecard"]["values"]
    # the fixture's frame has role: the non-response adjustment beside each headline
    assert {"adjusted.nps.nonresponse.est", "adjusted.crq_index.nonresponse.est"} <= set(v)
    meta = docs["01_scorecard"]["entries"]["benchmark.crq_index.percentile"]
    assert not meta.get("headline") and "not a real norm" in meta.get("note", "")
