"""notebooks/10_morgan_hunt.ipynb (Morgan-Hunt study) runs end to end.

Executed with papermill on small synthetic studies from ``crqlab.synth``: a two-wave ``kmv``
study (Morgan-Hunt battery present), the ``tiny`` study without its retention column (models
fitted without retention), the ``tiny`` study with a guard threshold that makes every fit
improper, and the ``tiny`` study with too few respondents. The tests check that no cell errors,
that results.json has the promised keys and the package's numbers for the same data, that an
improper fit shows a warning and records no estimates, that degenerate studies say why a
section was skipped, and that no confidential respondent is identifiable in the executed
notebook.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from conftest import notebook_errors
from notebook_execution import execute_notebook
from numpy.testing import assert_allclose

from crqlab.data.privacy import confidential_identifiers, find_leaks
from crqlab.data.study import load_study
from crqlab.models.sem import fit_sem, kmv_classic_model, kmv_crq_model
from crqlab.paths import NOTEBOOKS_DIR
from crqlab.reports import runner
from crqlab.synth import write_study

NOTEBOOK = NOTEBOOKS_DIR / "10_morgan_hunt.ipynb"
SEED = 7
FAST = {"seed": SEED, "n_boot": 30, "n_draws": 400,  # the tests check wiring, not precision
        "max_free": 1}  # one step of the partial-invariance search, not three
TWO_WAVES = dict(n_accounts=120, wave_labels=("2021", "2022"),
                 wave_dates=("2021-03-01", "2022-03-07"), confidentiality=("none", "optional"),
                 response_rate=(0.60, 0.55), wave_shift=(0.0, 0.1))
ESTIMATES = ("fit.", "path.", "indirect.", "groups.", "r2.", "model_comparison.",
             "validity.crq.min", "validity.crq.convergent", "validity.crq.discriminant")


def _execute(study: Path, out: Path, **params) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    executed = out / NOTEBOOK.name
    execute_notebook(str(NOTEBOOK), str(executed),
                     {"study_dir": str(study), "results_path": str(results),
                      **FAST, **params})
    return {"study": study, "nb": nbformat.read(str(executed), as_version=4), "path": executed,
            "doc": json.loads(results.read_text(encoding="utf-8"))}


def _text(nb, mime: str = "text/markdown") -> str:
    return "\n".join(o["data"][mime] for c in nb.cells for o in c.get("outputs", [])
                     if mime in o.get("data", {}))


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def kmv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb10_kmv")
    study = write_study("kmv", SEED, root / "kmv", **TWO_WAVES)
    # "operational" is the largest role, so both groups of the comparison are fitted
    return _execute(study, root / "out", focal_role="operational")


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    return write_study("tiny", SEED, tmp_path_factory.mktemp("nb10_tiny") / "tiny")


@pytest.fixture(scope="module")
def no_retention_run(tiny_study):
    study = tiny_study.parent / "no_retention"
    shutil.copytree(tiny_study, study)
    accounts = pd.read_csv(study / "accounts.csv")
    accounts.drop(columns="retained_next_wave").to_csv(study / "accounts.csv", index=False)
    return _execute(study, study.parent / "out_no_retention", wave=-1)


@pytest.fixture(scope="module")
def improper_run(tiny_study):
    # a standardised loading or path above 0.05 counts as improper: every fit is flagged
    return _execute(tiny_study, tiny_study.parent / "out_improper", wave=-1, std_limit=0.05)


@pytest.fixture(scope="module")
def too_few_run(tiny_study):
    return _execute(tiny_study, tiny_study.parent / "out_too_few")


def test_committed_notebook_keeps_the_contract():
    assert runner.contract_problems(NOTEBOOK) == []
    params = runner.notebook_parameters(NOTEBOOK)
    for name, kind in [("study_dir", "str"), ("results_path", "str"), ("seed", "int"),
                       ("wave", "int"), ("n_boot", "int"), ("n_draws", "int"), ("ci", "float"),
                       ("alpha", "float"), ("min_n", "int"), ("min_group_size", "int"),
                       ("focal_role", "str"), ("std_limit", "float"), ("estimator", "str"),
                       ("missing", "str"), ("max_free", "int")]:
        assert params[name].type == kind, name
    assert params["study_dir"].default == "../data/raw/sample"
    assert params["results_path"].default == ""
    assert params["wave"].default == 0 and params["std_limit"].default == 1.0
    assert params["estimator"].default == "MLR" and params["missing"].default == "listwise"
    assert params["max_free"].default == 3
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_kmv_study_runs_every_section(kmv_run):
    assert notebook_errors(kmv_run["nb"]) == []
    v = kmv_run["doc"]["values"]
    for stem in ("fit.kmv_crq.cfi", "fit.kmv_crq.tli", "fit.kmv_crq.srmr", "fit.kmv_crq.aic",
                 "fit.kmv_crq.bic", "fit.kmv_crq_rival.cfi", "fit.kmv_classic.cfi",
                 "fit.kmv_classic_rival.cfi", "validity.crq.min_ave", "validity.kmv.min_cr",
                 "r2.kmv_crq.nps", "r2.kmv_crq.retained_next_wave"):
        assert f"{stem}.est" in v and f"{stem}.n" in v, stem
    for stem in ("fit.kmv_crq.rmsea", "fit.kmv_classic.rmsea", "validity.crq.max_htmt"):
        assert v[f"{stem}.ci_low"] <= v[f"{stem}.est"] <= v[f"{stem}.ci_high"], stem
    assert {"fit.kmv_crq.chisq.stat", "fit.kmv_crq.chisq.df",
            "fit.kmv_crq.chisq.p_value"} <= set(v)
    for stem in ("path.kmv_crq.trust_commitment", "path.kmv_crq.commitment_nps",
                 "path.kmv_crq.commitment_retained_next_wave", "path.kmv_crq_rival.commitment_nps",
                 "path.kmv_classic.trust_commitment", "path.kmv_classic.opportunism_trust",
                 "indirect.service_trust_commitment_nps",
                 "indirect.service_trust_commitment_nps.bootstrap"):
        assert v[f"{stem}.ci_low"] <= v[f"{stem}.est"] <= v[f"{stem}.ci_high"], stem
        assert v[f"{stem}.n"] > 200, stem
    assert 0 <= v["path.kmv_crq.trust_commitment.p_value"] <= 1
    assert v["indirect.service_trust_commitment_nps.bootstrap.n_accounts"] > 50
    assert v["model_comparison.kmv_crq.winner.est"] in (
        "CRQ form of KMV", "rival of the CRQ form of KMV", "neither")  # words, not identifiers
    assert v["model_comparison.kmv_classic.winner.est"] in (
        "Morgan & Hunt's KMV model", "rival of Morgan & Hunt's KMV model", "neither")
    # the confidentiality-controlled fit: wave 2's confidential respondents (issue 16 item 2)
    stem = "path.kmv_crq_confidential.commitment_nps"
    assert v[f"{stem}.ci_low"] <= v[f"{stem}.est"] <= v[f"{stem}.ci_high"]
    assert 100 <= v[f"{stem}.n"] == v["sample.kmv_crq_confidential.n"] < v["sample.kmv_crq.n"]
    assert v["proper.kmv_crq.est"] is True and v["proper.crq_cfa.est"] is True
    # the role comparison ran (focal_role operational vs the others) with its tests
    assert {"groups.role.test.stat", "groups.role.test.df", "groups.role.test.p_value",
            "groups.role.trust_commitment.ci_low"} <= set(v)
    assert v["groups.role.test.df"] == 7  # the seven regressions of the CRQ model
    assert not [k for k in v if k.startswith("skipped.")]
    entries = kmv_run["doc"]["entries"]
    headline = {k for k, e in entries.items() if e.get("headline")}
    assert headline == {"path.kmv_crq.trust_commitment", "fit.kmv_crq.cfi", "fit.kmv_crq.rmsea",
                        "model_comparison.kmv_crq.winner",
                        "indirect.service_trust_commitment_nps",
                        "path.kmv_crq_confidential.commitment_nps"}
    found = kmv_run["doc"]["findings"]
    assert [f["quantity"] for f in found] == ["path.kmv_crq.trust_commitment",
                                              "path.kmv_crq.commitment_nps",
                                              "indirect.service_trust_commitment_nps"]
    assert all(f["n"] > 200 and f["ci_low"] <= f["est"] <= f["ci_high"] for f in found)
    tables = kmv_run["doc"]["tables"]
    assert {"model_comparison.kmv_crq", "model_comparison.kmv_classic", "hypotheses.kmv_crq",
            "validity.crq", "validity.kmv", "indirect_effects", "groups.role.differences",
            "groups.role.sizes"} <= set(tables)
    assert _images(kmv_run["nb"]) == 2  # the CRQ-form and the classic path diagrams


def test_recorded_numbers_are_the_packages(kmv_run):
    """The notebook fits the latest wave with retention (wave 1 of 2): the same fits by hand."""
    v = kmv_run["doc"]["values"]
    study = load_study(kmv_run["study"])
    data = study.respondents()
    wave_1 = data[data["wave"] == 1]
    # the notebook's default estimator for 1-7 answers is MLR (robust SEs and test statistic)
    crq = fit_sem(kmv_crq_model(study.instrument), wave_1, estimator="MLR")
    hyp = crq.hypotheses().set_index(["source", "target"])
    # R: (crqlab.models.sem, itself validated against lavaan in tests/models/test_sem.py)
    assert_allclose(v["path.kmv_crq.trust_commitment.est"],
                    hyp.loc[("trust", "commitment"), "std_all"], rtol=1e-8)
    assert_allclose(v["path.kmv_crq.trust_commitment.p_value"],
                    hyp.loc[("trust", "commitment"), "p_value"], rtol=1e-6, atol=1e-12)
    assert_allclose(v["fit.kmv_crq.cfi.est"], crq.fit_measures["cfi"], rtol=1e-8)
    assert_allclose(v["fit.kmv_crq.rmsea.ci_high"], crq.fit_measures["rmsea_ci_high"], rtol=1e-8)
    assert v["fit.kmv_crq.cfi.n"] == crq.n
    battery = study.batteries["kmv"]
    classic = fit_sem(kmv_classic_model(battery), wave_1, estimator="MLR")
    assert_allclose(v["fit.kmv_classic.bic.est"], classic.fit_measures["bic"], rtol=1e-8)
    assert v["fit.kmv_classic.bic.n"] == classic.n


def test_kmv_report_reads_the_numbers_and_names_nobody(kmv_run):
    text = _text(kmv_run["nb"])
    assert "hypothesised paths are supported" in text
    assert "is preferred" in text or "does not separate" in text
    assert "Convergent validity" in text and "Discriminant validity" in text
    assert "account-cluster bootstrap CI" in text
    assert "How the models are estimated.** Fitted by maximum likelihood with robust" in text
    assert "Controlled for the study" in text and "Fitted to the " in text
    assert "Morgan-Hunt battery: the original KMV model is fitted" in text
    ids = confidential_identifiers(load_study(kmv_run["study"]))
    assert find_leaks([kmv_run["path"]], ids) == []


@pytest.mark.slow  # about a minute: WLSMV on the CRQ and the 30-item battery models
def test_wlsmv_run_says_why_and_what_it_cannot_do(kmv_run, tmp_path):
    """estimator='WLSMV' (issue 19): every section runs; no AIC/BIC and no bootstrap, said."""
    run = _execute(kmv_run["study"], tmp_path / "out_wlsmv", focal_role="operational",
                   estimator="WLSMV")
    assert notebook_errors(run["nb"]) == []
    v, text = run["doc"]["values"], _text(run["nb"])
    assert "How the models are estimated.** Fitted by WLSMV" in text
    assert "Not ranked by information criteria" in text
    assert "With WLSMV there is no account-cluster bootstrap" in text
    assert not [k for k in v if k.endswith((".aic.est", ".bic.est", ".bootstrap.est"))]
    assert v["model_comparison.kmv_crq.winner.est"] == "not compared (WLSMV has no BIC)"
    assert v["skipped.indirect_bootstrap.est"].startswith("no account-cluster bootstrap")
    for stem in ("path.kmv_crq.trust_commitment", "path.kmv_classic.trust_commitment",
                 "indirect.service_trust_commitment_nps"):
        assert v[f"{stem}.ci_low"] <= v[f"{stem}.est"] <= v[f"{stem}.ci_high"], stem
    assert "groups.role.invariance_scalar_holds.est" in v
    assert "groups.role.invariance_metric_holds.est" not in v
    assert _images(run["nb"]) == 2


def test_no_retention_outcome_fits_without_it_and_says_so(no_retention_run):
    assert notebook_errors(no_retention_run["nb"]) == []
    v = no_retention_run["doc"]["values"]
    assert "no 'Retained next wave' column" in v["skipped.retention.est"]
    assert not [k for k in v if "retained_next_wave" in k]
    assert v["path.kmv_crq.commitment_nps.ci_low"] < v["path.kmv_crq.commitment_nps.est"]
    assert "indirect.service_trust_commitment_nps.est" in v
    # pooled waves (wave = -1): all three waves' respondents
    responses = pd.read_csv(no_retention_run["study"] / "responses.csv")
    assert v["sample.kmv_crq.n"] > responses["wave"].value_counts().max()
    text = _text(no_retention_run["nb"])
    assert "fitted without it" in text and "Pooled waves" in text
    # tiny has too few key decision makers for a structural model of their own
    assert "each group needs at least 100" in v["skipped.groups.role.est"]
    assert "no Morgan-Hunt battery" in v["skipped.kmv_classic.est"]


def test_improper_fits_show_a_warning_and_record_no_estimates(improper_run):
    assert notebook_errors(improper_run["nb"]) == []
    v = improper_run["doc"]["values"]
    for name in ("crq_cfa", "kmv_crq", "kmv_crq_rival"):
        assert v[f"proper.{name}.est"] is False, name
        assert "standardised" in improper_run["doc"]["entries"][f"proper.{name}"]["note"]
    assert not [k for k in v if k.startswith(ESTIMATES)]
    warnings = _text(improper_run["nb"], "text/html")
    assert warnings.count('class="crq-warning"') == 3
    assert "did not converge to a proper solution" in warnings
    assert "standardised loading above 0.05" in warnings  # the guard's reasons are listed
    assert _images(improper_run["nb"]) == 0
    assert "not established" not in _text(improper_run["nb"])


def test_too_few_respondents_states_n_and_the_minimum(too_few_run):
    assert notebook_errors(too_few_run["nb"]) == []
    v = too_few_run["doc"]["values"]
    n = v["sample.kmv_crq.n"]
    assert 0 < n < 200
    reason = v["skipped.kmv_crq.est"]
    assert f"n = {int(n)}" in reason and "at least 200" in reason
    assert not [k for k in v if k.startswith(ESTIMATES)]
    assert "Too few respondents" in _text(too_few_run["nb"])
