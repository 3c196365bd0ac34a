"""notebooks/50_where_to_act.ipynb (drivers and the importance-performance map) runs end to end.

Executed with papermill on a small synthetic study from ``crqlab.synth`` (the "tiny" preset).
The tests check that no cell errors, that every section records what it promises, that the
recorded PLS numbers are the package's numbers for the same data, that each quadrant follows
from the recorded importance and performance, that findings are recorded in words, and that
nothing identifying a confidential respondent reaches the executed notebook.
"""
from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
from conftest import notebook_errors
from notebook_execution import execute_notebook

from crqlab.data.privacy import confidential_identifiers, find_leaks
from crqlab.data.study import load_study
from crqlab.models import pls
from crqlab.paths import NOTEBOOKS_DIR
from crqlab.reports import runner
from crqlab.studies import where_to_act
from crqlab.synth import write_study

NOTEBOOK = NOTEBOOKS_DIR / "50_where_to_act.ipynb"
SEED = 7
N_BOOT = 60  # small: the tests check wiring, not interval precision


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb50")
    study = write_study("tiny", SEED, root / "tiny")
    results = root / "results.json"
    executed = root / NOTEBOOK.name
    execute_notebook(str(NOTEBOOK), str(executed),
                     {"study_dir": str(study), "results_path": str(results),
                      "seed": SEED, "n_boot": N_BOOT, "min_segment_n": 60})
    return {"study": study, "nb": nbformat.read(str(executed), as_version=4), "path": executed,
            "doc": json.loads(results.read_text(encoding="utf-8"))}


def test_committed_notebook_keeps_the_contract():
    assert runner.contract_problems(NOTEBOOK) == []
    params = runner.notebook_parameters(NOTEBOOK)
    for name, kind in [("study_dir", "str"), ("results_path", "str"), ("seed", "int"),
                       ("min_cell_size", "int"), ("n_boot", "int"), ("ci", "float"),
                       ("min_segment_n", "int"), ("show_facets", "bool")]:
        assert params[name].type == kind
    assert params["study_dir"].default == "../data/raw/sample"


def test_runs_and_records_every_section(run):
    assert notebook_errors(run["nb"]) == []
    doc = run["doc"]
    tables = set(doc["tables"])
    assert {"drivers_commitment.pls_total_effect", "drivers_nps.pls_total_effect",
            "ipma_commitment", "ipma_nps"} <= tables
    assert any(t.startswith("ipma_commitment_segments.") for t in tables)
    v = doc["values"]
    for target in ("commitment", "nps"):
        for field in ("est", "ci_low", "ci_high", "n"):
            assert f"drivers_{target}.pls_r2.{field}" in v
        assert isinstance(v[f"drivers_{target}.methods_agree_on_top.est"], bool)
    assert len(doc["findings"]) >= 4
    for f in doc["findings"]:
        assert f["question"] == "Where should the client act first?"
        assert f["ci_low"] <= f["est"] <= f["ci_high"] and f["n"] >= 5


def _table(doc, name):
    import pandas as pd
    t = doc["tables"][name]
    return pd.DataFrame(t["data"], columns=t["columns"])


def test_recorded_pls_numbers_are_the_package_numbers(run):
    study = load_study(run["study"])
    data = where_to_act.scored_frame(study)
    s = where_to_act.setup(study, data, min_cell=5)
    model = where_to_act._pls_model(s, "commitment")
    ok = data.dropna(subset=model.indicators + s.drivers_of("commitment") + ["commitment"])
    fit = pls.fit_pls(model, ok, missing="listwise")
    rec = _table(run["doc"], "drivers_commitment.pls_total_effect").set_index("element")
    te = fit.total_effects.set_index("from")
    for e in s.drivers_of("commitment"):
        np.testing.assert_allclose(rec.loc[e, "est"], te.loc[e, "est"], rtol=1e-8)  # 10 digits kept
    ip = _table(run["doc"], "ipma_commitment")
    mi, mp = ip["importance"].mean(), ip["performance"].mean()
    for _, r in ip.iterrows():
        assert r["quadrant"] == pls.ipma_quadrant(r["importance"], r["performance"], mi, mp)
        assert 0 <= r["performance"] <= 100


def test_no_confidential_identifier_in_the_executed_notebook(run):
    study = load_study(run["study"])
    ids = confidential_identifiers(study)
    assert ids  # the tiny study has confidential respondents to protect
    assert find_leaks([run["path"]], ids) == []
