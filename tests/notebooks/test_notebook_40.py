"""notebooks/40_nps_crq.ipynb (NPS/CRQ correlation and predictive validity) runs end to end.

The notebook is executed with papermill on small synthetic studies from ``crqlab.synth`` (the
"tiny" preset: 3 waves; a one-wave variant; a one-wave variant without the retention column).
The tests check that no cell errors, that the promised keys are in results.json, that the
recorded numbers are the package's numbers for the same data, that degenerate studies skip the
sections they cannot support with a stated reason, and that nothing identifying a confidential
respondent reaches the executed notebook.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import notebook_errors
from notebook_execution import execute_notebook

from crqlab.data.privacy import confidential_identifiers, find_leaks
from crqlab.data.study import load_study
from crqlab.measures.scoring import score_items
from crqlab.models import association
from crqlab.paths import NOTEBOOKS_DIR
from crqlab.reports import runner
from crqlab.synth import write_study

NOTEBOOK = NOTEBOOKS_DIR / "40_nps_crq.ipynb"
SEED = 7
N_BOOT = 200  # small: the tests check wiring, not interval precision
ONE_WAVE = dict(wave_labels=("2021",), wave_dates=("2021-03-01",), confidentiality=("optional",),
                response_rate=(0.55,), wave_shift=(0.0,))
MEASURES = ("nps", "nps_mean", "crq_index", "commitment", "trust", "satisfaction")
HEADLINE = {"corr.nps_crq_index.pearson", "corr.nps_crq_index.confidential",
            "rm_corr.nps_crq_index", "auc.nps", "best_predictor"}
#: How the measures are named in words (``crqlab.studies.nps_crq.Design.label``).
LABELS = {"nps": "NPS (net score)", "nps_mean": "mean NPS answer", "crq_index": "CRQ index"}


def _execute(study: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    executed = out / NOTEBOOK.name
    execute_notebook(str(NOTEBOOK), str(executed),
                     {"study_dir": str(study), "results_path": str(results),
                      "seed": SEED, "n_boot": N_BOOT})
    return {"study": study, "nb": nbformat.read(str(executed), as_version=4),
            "path": executed, "doc": json.loads(results.read_text(encoding="utf-8"))}


def _no_outcome_copy(study: Path) -> Path:
    """The same study with the retention column dropped from its accounts table."""
    out = study.parent / "no_outcome"
    shutil.copytree(study, out)
    accounts = pd.read_csv(out / "accounts.csv")
    accounts.drop(columns="retained_next_wave").to_csv(out / "accounts.csv", index=False)
    return out


@pytest.fixture(scope="module")
def three_waves(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb40")
    return _execute(write_study("tiny", SEED, root / "tiny"), root / "out")


@pytest.fixture(scope="module")
def one_wave_study(tmp_path_factory):
    return write_study("tiny", SEED, tmp_path_factory.mktemp("nb40_one") / "one", **ONE_WAVE)


@pytest.fixture(scope="module")
def one_wave(one_wave_study):
    return _execute(one_wave_study, one_wave_study.parent / "out")


@pytest.fixture(scope="module")
def no_outcome(one_wave_study):
    study = _no_outcome_copy(one_wave_study)
    return _execute(study, study.parent / "out_no_outcome")


def _markdown(nb) -> str:
    return "\n".join(o["data"]["text/markdown"] for c in nb.cells for o in c.get("outputs", [])
                     if "text/markdown" in o.get("data", {}))


def _scored(study: Path) -> pd.DataFrame:
    s = load_study(study)
    r = s.respondents()
    sc = score_items(r, s.instrument, facets=False, levels=False)
    return pd.concat([r.drop(columns=[c for c in sc.columns if c in r.columns]), sc], axis=1)


def test_committed_notebook_keeps_the_contract():
    assert runner.contract_problems(NOTEBOOK) == []
    params = runner.notebook_parameters(NOTEBOOK)
    for name, kind in [("study_dir", "str"), ("results_path", "str"), ("seed", "int"),
                       ("min_cell_size", "int"), ("n_boot", "int"),
                       ("hidden_risk_trust_max", "float"), ("hidden_risk_commitment_max", "float")]:
        assert params[name].type == kind
    assert params["study_dir"].default == "../data/raw/sample"
    assert params["results_path"].default == ""


def test_three_waves_run_without_error_and_record_every_section(three_waves):
    assert notebook_errors(three_waves["nb"]) == []
    v = three_waves["doc"]["values"]
    stems = ["corr.nps_crq_index.pearson", "corr.nps_commitment.kendall",
             "corr_account.nps_crq_index.account.pearson",
             "corr_account.nps_crq_index.account_wave.pearson", "rm_corr.nps_crq_index",
             "within_between.crq_index_within", "within_between.crq_index_between",
             "drivers.r_squared", "drivers.relative_weight_share.commitment",
             "hidden_risk.share_promoters", "volatility.difference"]
    stems += [f"auc.{m}" for m in MEASURES]
    for stem in stems:
        for field in ("est", "ci_low", "ci_high"):
            assert f"{stem}.{field}" in v, f"{stem}.{field}"
        assert f"{stem}.n" in v or f"{stem}.n_accounts" in v, stem  # volatility counts accounts
    assert v["best_predictor.est"] in [LABELS.get(m, m) for m in MEASURES]
    # beside the reported correlation, the same among confidential respondents (issue 16)
    stem = "corr.nps_crq_index.confidential"
    assert v[f"{stem}.ci_low"] <= v[f"{stem}.est"] <= v[f"{stem}.ci_high"]
    assert 10 <= v[f"{stem}.n"] < v["corr.nps_crq_index.pearson.n"]
    found = three_waves["doc"]["findings"]
    assert len(found) == 4 and found[0]["quantity"] == "corr.nps_crq_index.pearson"
    assert all(f["ci_low"] <= f["est"] <= f["ci_high"] and f["n"] > 0 for f in found)
    assert {"crosstab.chisq.stat", "crosstab.chisq.p_value", "volatility.difference.p_value",
            "auc_diff.nps_vs_crq_index.est"} <= set(v)
    assert not any(k.startswith("skipped.") for k in v)
    headline = {k for k, m in three_waves["doc"]["entries"].items() if m.get("headline")}
    assert headline == HEADLINE
    assert {"corr.respondent", "drivers", "crosstab", "retention.ranking"} <= set(
        three_waves["doc"]["tables"])


def test_recorded_numbers_are_the_package_numbers(three_waves):
    v = three_waves["doc"]["values"]
    data = _scored(three_waves["study"])
    corr = association.correlations(data, x="nps").set_index(["y", "method"])
    for y in ("crq_index", "trust", "commitment"):
        for m in ("pearson", "spearman", "kendall"):
            np.testing.assert_allclose(v[f"corr.nps_{y}.{m}.est"], corr.loc[(y, m), "est"],
                                       rtol=1e-9)  # results.json keeps 10 significant digits
            assert v[f"corr.nps_{y}.{m}.n"] == corr.loc[(y, m), "n"]
    rm = association.rm_corr(data, x="nps", y="crq_index", within="wave").iloc[0]
    np.testing.assert_allclose([v["rm_corr.nps_crq_index.est"], v["rm_corr.nps_crq_index.ci_low"]],
                               [rm["est"], rm["ci_low"]], rtol=1e-9)
    # the best predictor is the measure with the highest recorded AUC
    aucs = {m: v[f"auc.{m}.est"] for m in MEASURES}
    best = max(aucs, key=aucs.get)
    assert v["best_predictor.est"] == LABELS.get(best, best)
    # Fisher and Wald intervals contain their estimate
    for stem in ("corr.nps_crq_index.pearson", "rm_corr.nps_crq_index",
                 "within_between.crq_index_within", "volatility.difference"):
        assert v[f"{stem}.ci_low"] <= v[f"{stem}.est"] <= v[f"{stem}.ci_high"]
    assert 0 <= v["hidden_risk.share_promoters.est"] <= 1


def test_nothing_identifies_a_confidential_respondent(three_waves):
    doc = three_waves["doc"]
    min_cell = doc["values"]["sample.min_cell_size.est"]
    table = doc["tables"]["hidden_risk.accounts"]
    n_at = table["columns"].index("n")
    assert all(row[n_at] >= min_cell for row in table["data"])  # only accounts >= min cell size
    assert not {"contact_id", "contact_name", "contact_email"} & set(table["columns"])
    xtab = pd.DataFrame(doc["tables"]["crosstab"]["data"], columns=doc["tables"]["crosstab"]["columns"])
    small = xtab["count"].notna() & (xtab["count"] < min_cell)
    assert not small.any()  # every cell below the minimum is blanked
    ids = confidential_identifiers(load_study(three_waves["study"]))
    assert ids, "the tiny study has confidential respondents to protect"
    results = three_waves["path"].parent / "results.json"
    assert find_leaks([three_waves["path"], results], ids) == []


def test_one_wave_skips_change_volatility_and_retention_with_a_reason(one_wave):
    assert notebook_errors(one_wave["nb"]) == []
    v = one_wave["doc"]["values"]
    assert {"skipped.rm_corr.est", "skipped.volatility.est", "skipped.retention.est"} <= set(v)
    assert "one wave" in v["skipped.rm_corr.est"] and "accounts" in v["skipped.rm_corr.est"]
    assert "not observed" in v["skipped.retention.est"]
    assert not any(k.startswith(("rm_corr.", "volatility.", "auc.", "best_predictor"))
                   for k in v)
    # the sections that need no second wave still run
    assert {"corr.nps_crq_index.pearson.est", "within_between.crq_index_within.est",
            "drivers.r_squared.est", "crosstab.chisq.stat"} <= set(v)
    text = _markdown(one_wave["nb"])
    assert text.count("**Not estimated.**") == 3


@pytest.mark.slow  # a third kernel run; the fast runs already cover the skipped retention section
def test_missing_retention_column_skips_predictive_validity(no_outcome):
    assert notebook_errors(no_outcome["nb"]) == []
    v = no_outcome["doc"]["values"]
    assert "no 'retained next wave' column" in v["skipped.retention.est"]
    assert "corr.nps_crq_index.pearson.est" in v
