"""crqlab.reports.glossary: one source for the names, units and definitions reports show."""
from __future__ import annotations

import re

import pytest
import yaml

from crqlab.formatting import KINDS
from crqlab.paths import NOTEBOOKS_DIR, REPO_ROOT
from crqlab.reports import glossary, runner
from crqlab.reports.glossary import GlossaryError

#: Names the notebooks record with a literal (the rest are built from data and covered by the
#: names of a whole run in tests/hardening/test_report_text.py).
_RECORDED = re.compile(r'results\.record\(\\"([a-z][a-z0-9_.]*)\\"')


def _literal_names() -> set[str]:
    names = set()
    for nb in sorted(NOTEBOOKS_DIR.glob("*.ipynb")):
        names |= set(_RECORDED.findall(nb.read_text(encoding="utf-8")))
    return names


def test_the_shipped_glossary_loads_and_keeps_its_rules():
    g = glossary.load()
    assert g is glossary.load()  # read once per process
    assert {q.kind for q in g.quantities} <= set(KINDS)
    assert {q.section for q in g.quantities} == set(g.sections)
    assert len({q.key for q in g.quantities}) == len(g.quantities)
    assert all(q.definition and q.name for q in g.quantities)


def test_docs_glossary_is_generated_from_the_yaml():
    # regenerate with: python -m crqlab.reports.glossary > docs/glossary.md
    assert (REPO_ROOT / "docs" / "glossary.md").read_text(encoding="utf-8") == glossary.markdown()


def test_every_literal_name_the_notebooks_record_has_a_quantity():
    names = _literal_names()
    # the thinned notebooks record most names through their study modules (results.record_all);
    # every name a whole run records is checked in tests/hardening/test_report_text.py
    assert len(names) > 10, names
    missing = sorted(n for n in names if glossary.load().quantity(n) is None)
    assert not missing, f"add these to crqlab/reports/glossary.yaml: {missing}"


def test_every_notebook_parameter_has_a_human_name():
    declared = set()
    for nb in runner.discover_notebooks(NOTEBOOKS_DIR):
        declared |= set(runner.notebook_parameters(nb))
    missing = sorted(declared - {"results_path"} - set(glossary.load().parameters))
    assert not missing, missing


@pytest.mark.parametrize("recorded, key", [
    ("nps", "nps"), ("nps.wave_4", "nps"), ("nps.change_w1_w2", "nps_change"),
    ("nps_weighted", "nps_weighted"), ("nps_mean.named", "nps_mean"),
    ("crq_index.change_w3_w4", "crq_change"), ("crq_index_unweighted", "crq_index"),
    ("difference.nps", "confidential_gap_nps"), ("difference.trust", "confidential_gap"),
    ("groups.role.test", "chisq"), ("groups.role.trust_commitment", "path"),
    ("share_confidential.newly_included_difference", "share_confidential_difference"),
    ("precision.nps.deff_cluster", "cluster_design_effect"), ("hidden_risk.share_promoters",
                                                              "hidden_risk"),
    ("sample.n_respondents", "respondents"), ("design.panel_first_wave", "analysis_wave"),
])
def test_the_most_specific_pattern_names_the_quantity(recorded, key):
    assert glossary.load().quantity(recorded).key == key
    assert glossary.load().quantity("frobnication") is None


def test_labels_for_parameters_columns_and_values():
    g = glossary.load()
    assert g.parameter_label("n_boot") == "Bootstrap resamples"
    assert g.parameter_label("new_knob") == "New knob"
    assert g.column_label("ci_low") == "Lower 95% bound"
    assert g.column_label("trust_1") == "Trust, question 1"
    assert g.column_label("leading_edge") == "Leading Edge"
    assert g.column_label("prev_commitment_known") == "Prev commitment known"  # no entry
    assert g.column_label("prev_crq_index_known") == "Previous wave's CRQ index known"
    assert g.question("notebooks/20_confidentiality.ipynb").startswith("Do named responses")
    assert glossary.describe_value(["role", "tenure_years"]) == "role, Tenure (years)"
    assert glossary.describe_value(2000) == "2,000" and glossary.describe_value(True) == "yes"
    assert glossary.describe_value("") == "none" and glossary.describe_value([]) == "none"
    assert glossary.humanise("Days to respond") == "Days to respond"


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["quantities"][0].update(kind="furlongs"), "kind"),
    (lambda d: d["quantities"][0].update(section="nowhere"), "unknown section"),
    (lambda d: d["quantities"][0].pop("definition"), "no definition"),
    (lambda d: d["quantities"].append(dict(d["quantities"][0])), "twice"),
])
def test_a_broken_glossary_is_refused(tmp_path, edit, message):
    doc = yaml.safe_load(glossary.GLOSSARY_FILE.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "glossary.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(GlossaryError, match=message):
        glossary.load(path)


def test_main_prints_the_markdown(capsys):
    assert glossary.main() == 0
    assert capsys.readouterr().out == glossary.markdown()
