"""Notebook 30 (response-rate effects) executed with papermill on small synthetic studies.

The three-wave ``tiny`` study exercises every section; a one-wave study without reminders,
days-to-respond or tenure columns must run through, skipping Armstrong-Overton and the
year-over-year decomposition with a sentence instead of a traceback. Numbers in results.json are
checked against values computed here straight from the study's CSV files (response rates, the
unweighted NPS) and against identities the estimators must satisfy (Kish: deff * n_eff = n;
Kitagawa: within + composition = total; delta adjustment: base + (1 - rr) * delta).
The default run on the shipped sample study is covered by ``pytest --nbval-lax`` on the notebook.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from notebook_execution import execute_notebook
from numpy.testing import assert_allclose

from crqlab.data.privacy import confidential_identifiers, find_leaks
from crqlab.data.study import load_study
from crqlab.paths import NOTEBOOKS_DIR
from crqlab.reports.rendering import render_notebook, strip_for_review
from crqlab.synth import write_study

NOTEBOOK = NOTEBOOKS_DIR / "30_response_rates.ipynb"
N_BOOT = 50  # bootstrap resamples in the tests: enough for percentile intervals to exist


def _execute(study: Path, out_dir: Path, **params) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / "30_response_rates.ipynb"
    results = out_dir / "results.json"
    execute_notebook(str(NOTEBOOK), str(executed),
                     {"study_dir": str(study), "results_path": str(results),
                      "n_boot": N_BOOT, **params})
    nb = nbformat.read(str(executed), as_version=4)
    html, _ = render_notebook(nb, header={"title": "Response-rate effects", "study": study.name,
                                          "parameters": {}, "inputs": {}})
    (out_dir / "report.html").write_text(html, encoding="utf-8")
    return {"nb": nb, "results": json.loads(results.read_text(encoding="utf-8")),
            "html": out_dir / "report.html", "study": study}


def _markdown(nb) -> str:
    return "\n".join(o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs if "text/markdown" in o.get("data", {}))


def _csv(study: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(study / f"{name}.csv", dtype={"contact_id": str, "account_id": str})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb30")
    study = write_study("tiny", 11, root / "tiny")
    return _execute(study, root / "run_tiny")


@pytest.fixture(scope="module")
def one_wave(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb30_one")
    study = write_study("tiny", 12, root / "one", wave_labels=("2023",),
                        wave_dates=("2023-03-06",), confidentiality=("optional",),
                        response_rate=(0.55,), wave_shift=(0.0,))
    contacts = pd.read_csv(study / "contacts.csv", dtype=str, keep_default_na=False)
    contacts.drop(columns=["reminders", "days_to_respond", "tenure_years"]).to_csv(
        study / "contacts.csv", index=False)
    return _execute(study, root / "run_one")


def test_no_errors_or_tracebacks_in_report_outputs(tiny, one_wave):
    for run in (tiny, one_wave):
        nb = run["nb"]
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "error"]
        assert errors == []
        shown = strip_for_review(nb, failed=False)
        text = json.dumps([c.outputs for c in shown.cells if c.cell_type == "code"])
        assert "Traceback" not in text and "Error" not in text
        html = run["html"].read_text(encoding="utf-8")
        assert "Traceback" not in html
        assert html.count("data:image/png;base64,") >= (8 if run is tiny else 5)


def test_no_respondent_identifiers_in_the_report(tiny, one_wave):
    for run in (tiny, one_wave):
        # names, e-mails and ids of confidential respondents (what the runner scans for) ...
        idents = confidential_identifiers(load_study(run["study"], cache=False))
        assert idents and find_leaks([run["html"]], idents) == []
        # ... and no contact id or e-mail address of anybody
        text = run["html"].read_text(encoding="utf-8")
        assert not re.search(r"\bC\d{5}\b", text)
        assert not [e for e in _csv(run["study"], "contacts")["contact_email"].dropna() if e in text]


def test_response_rates_match_the_frame(tiny):
    v = tiny["results"]["values"]
    contacts = _csv(tiny["study"], "contacts")
    for w, frame in contacts.groupby("wave"):
        rate = frame["responded"].astype(str).str.lower().eq("true").mean()
        # rate straight from contacts.csv; Wilson interval around it
        assert_allclose(v[f"response_rate.wave_{w}.est"], rate, rtol=1e-9)
        assert v[f"response_rate.wave_{w}.n"] == len(frame)
        assert v[f"response_rate.wave_{w}.ci_low"] < rate < v[f"response_rate.wave_{w}.ci_high"]
        assert v[f"completion_rate.wave_{w}.est"] <= rate + 1e-9  # results keep 10 digits
    tables = tiny["results"]["tables"]
    for name in ("response_rate.by_role", "response_rate.by_account_manager"):
        t = pd.DataFrame(tables[name]["data"], columns=tables[name]["columns"])
        small = t["n"].isna() | (t["n"] < 5)
        assert t.loc[small, "suppressed"].all() and t.loc[small, "est"].isna().all()


def test_weighted_headline_and_diagnostics(tiny):
    v = tiny["results"]["values"]
    contacts, responses = _csv(tiny["study"], "contacts"), _csv(tiny["study"], "responses")
    last = contacts["wave"].max()
    x = pd.to_numeric(responses.loc[responses["wave"] == last, "nps"], errors="coerce").dropna()
    # unweighted NPS of the last wave, straight from responses.csv
    assert_allclose(v["nps_unweighted.est"], 100 * ((x >= 9).mean() - (x <= 6).mean()), rtol=1e-9)
    assert v["nps_unweighted.n"] == len(x)
    for stem, lo, hi in (("nps_weighted", -100, 100), ("crq_index_weighted", 1, 7),
                         ("nps_raked", -100, 100), ("crq_index_raked", 1, 7)):
        assert lo <= v[f"{stem}.ci_low"] < v[f"{stem}.est"] < v[f"{stem}.ci_high"] <= hi
    n = v["nps_weighted.n"]
    # Kish: deff = n sum(w^2) / sum(w)^2 and n_eff = sum(w)^2 / sum(w^2), so deff * n_eff = n
    assert v["weights.deff_kish.est"] >= 1
    assert_allclose(v["weights.deff_kish.est"] * v["weights.n_eff.est"], n, rtol=1e-8)
    assert v["weights.max_asmd_after.est"] < v["weights.max_asmd_before.est"]


def test_delta_range_is_the_weighted_base_shifted_over_the_data(tiny):
    doc = tiny["results"]
    v = doc["values"]
    rr = v[f"response_rate.wave_{v['analysis_wave.est']}.est"]
    responses = _csv(tiny["study"], "responses")
    last = responses[responses["wave"] == v["analysis_wave.est"]]
    for score, base in (("crq_index", "crq_index_weighted"), ("nps", "nps_weighted")):
        t = pd.DataFrame(doc["tables"][f"delta.{score}"]["data"],
                         columns=doc["tables"][f"delta.{score}"]["columns"])
        # frame value = weighted base + (1 - response rate) * delta; interval shifted with it
        assert_allclose(t["est"], v[f"{base}.est"] + (1 - rr) * t["delta"], rtol=1e-8, atol=1e-7)
        assert_allclose(t["ci_high"] - t["ci_low"], v[f"{base}.ci_high"] - v[f"{base}.ci_low"],
                        rtol=1e-6)
        # no fixed grid: the range ends where non-respondents sit at the extremes observed
        assert_allclose([v[f"mnar.{score}.frame_min.est"], v[f"mnar.{score}.frame_max.est"]],
                        [t["est"].min(), t["est"].max()], rtol=1e-8)
        tip = doc["tables"][f"tipping.{score}"]
        assert "conclusion" in tip["columns"] and len(tip["data"]) >= 1
    x = pd.to_numeric(last["nps"], errors="coerce").dropna()
    lo = 100 * ((x >= 9).mean() - (x <= 6).mean())
    assert v["mnar.nps.frame_min.est"] < lo < v["mnar.nps.frame_max.est"]
    questions = {f["question"] for f in doc["findings"]}
    assert len(questions) == 3 and len(doc["findings"]) >= 5


def test_armstrong_overton_and_precision(tiny):
    v = tiny["results"]["values"]
    entries = tiny["results"]["entries"]
    for s in ("crq_index", "nps"):
        d = f"ao.{s}.late_minus_early"
        assert v[f"{d}.ci_low"] < v[f"{d}.est"] < v[f"{d}.ci_high"] and 0 <= v[f"{d}.p_value"] <= 1
        assert "assumption" in entries[f"ao.{s}.nonrespondent_extrapolated"]["note"]
        # margin of error shrinks from 45% to 85% response
        assert 0 < v[f"precision.{s}.moe_rr_85.est"] < v[f"precision.{s}.moe_rr_45.est"]


def test_year_over_year_decomposition_adds_up(tiny):
    v = tiny["results"]["values"]
    for a, b in ((1, 2), (2, 3)):
        for s in ("crq_index", "nps"):
            stem = f"change.{s}.wave_{a}_{b}"
            # Kitagawa: scores changed + who answered changed = total change, exactly (up to
            # the 10 significant digits results.json keeps)
            assert_allclose(v[f"{stem}.within.est"] + v[f"{stem}.composition.est"],
                            v[f"{stem}.total.est"], rtol=1e-8, atol=1e-9)
            assert v[f"{stem}.total.ci_low"] <= v[f"{stem}.total.est"] <= v[f"{stem}.total.ci_high"]


def test_headline_entries(tiny):
    headline = [k for k, e in tiny["results"]["entries"].items() if e.get("headline")]
    assert 2 <= len(headline) <= 4  # docs/notebooks.md: two to four per notebook
    assert {"nps_weighted", "crq_index_weighted", "response_rate.wave_3"} <= set(headline)


def test_one_wave_without_lateness_skips_with_reasons(one_wave):
    v = one_wave["results"]["values"]
    assert not [k for k in v if k.startswith(("change.", "ao."))]
    assert {"nps_weighted.est", "crq_index_weighted.est", "response_rate.wave_1.est",
            "weights.n_eff.est", "precision.nps.moe_rr_45.est"} <= set(v)
    text = _markdown(one_wave["nb"])
    n_resp = len(_csv(one_wave["study"], "responses"))
    assert "no usable `reminders` or `days_to_respond` column" in text
    assert f"single wave (2023, n = {n_resp:,} respondents)" in text
    assert "not in this study's frame: tenure (years)" in text  # labels from the glossary
    assert np.isfinite(v["nps_weighted.est"])
