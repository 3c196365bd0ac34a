"""Notebook 20 (confidential versus disclosed responses) executed with papermill on small
synthetic studies.

- ``company-a`` (optional confidentiality, then none: the panel design) exercises every section;
- ``company-b`` (optional confidentiality in the last wave only: the cross-sectional design)
  must run the cross-section and say why the panel cannot run;
- a study whose export has no ``confidential`` column and whose study.yaml declares no regime
  must say that confidentiality was never offered and skip every analysis, without a traceback.

Numbers in results.json are checked against values computed here straight from the study's CSV
files (shares choosing confidentiality, completion of the next wave, group mean differences,
within-person changes, the headline shift), against identities the estimators must satisfy (the
headline decomposition adds up; the what-if from the panel's own aggregates reproduces the
observed headline shift and trend) and against the exact Company A arithmetic of docs/methods.md.
The default run on the shipped sample study is covered by ``pytest --nbval-lax`` on the notebook.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from notebook_execution import execute_notebook
from numpy.testing import assert_allclose

from crqlab.data.privacy import confidential_identifiers, find_leaks
from crqlab.data.study import load_study
from crqlab.paths import NOTEBOOKS_DIR
from crqlab.reports.rendering import render_notebook, strip_for_review
from crqlab.synth import write_study

NOTEBOOK = NOTEBOOKS_DIR / "20_confidentiality.ipynb"
N_BOOT = 50  # bootstrap resamples in the tests: enough for percentile intervals to exist
N_ACCOUNTS = 40  # small studies: ~175 (company-a wave 1) and ~180 (company-b wave 4) respondents


def _execute(study: str, out_dir: str) -> str:
    """Execute the notebook on ``study`` and render the reviewer HTML; returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / NOTEBOOK.name
    execute_notebook(str(NOTEBOOK), str(executed),
                     {"study_dir": study, "results_path": str(out / "results.json"),
                      "n_boot": N_BOOT, "seed": 7})
    nb = nbformat.read(str(executed), as_version=4)
    html, _ = render_notebook(nb, header={"title": "Confidential versus disclosed responses",
                                          "study": Path(study).name, "parameters": {},
                                          "inputs": {}})
    (out / "report.html").write_text(html, encoding="utf-8")
    return out_dir


def _without_confidentiality(study: Path) -> Path:
    """Drop the ``confidential`` column from the export and the regime from study.yaml."""
    for name in ("contacts", "responses"):
        table = pd.read_csv(study / f"{name}.csv", dtype=str, keep_default_na=False)
        table.drop(columns=["confidential"]).to_csv(study / f"{name}.csv", index=False)
    cfg = yaml.safe_load((study / "study.yaml").read_text(encoding="utf-8"))
    for spec in cfg["waves"].values():
        spec.pop("confidentiality", None)
    (study / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return study


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb20")
    studies = {
        "a": write_study("company-a", 3, root / "company-a", n_accounts=N_ACCOUNTS),
        "b": write_study("company-b", 3, root / "company-b", n_accounts=N_ACCOUNTS),
        "none": _without_confidentiality(write_study(
            "tiny", 5, root / "none", n_accounts=15, confidentiality=("none", "none", "none"))),
    }
    # three kernels on two workers: the executions are independent
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(_execute, str(s), str(root / f"run_{k}"))
                   for k, s in studies.items()}
        done = {k: Path(f.result()) for k, f in futures.items()}
    out = {}
    for k, d in done.items():
        out[k] = {"study": studies[k], "dir": d,
                  "nb": nbformat.read(str(d / NOTEBOOK.name), as_version=4),
                  "results": json.loads((d / "results.json").read_text(encoding="utf-8")),
                  "html": (d / "report.html").read_text(encoding="utf-8")}
    return out


def _markdown(nb) -> str:
    return "\n".join(o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs if "text/markdown" in o.get("data", {}))


def _csv(study: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(study / f"{name}.csv", dtype={"contact_id": str, "account_id": str})


def _flag(s: pd.Series) -> pd.Series:
    return s.astype(str).str.lower().map({"true": True, "false": False})


def _table(results: dict, name: str) -> pd.DataFrame:
    t = results["tables"][name]
    return pd.DataFrame(t["data"], columns=t["columns"])


# --------------------------------------------------------------------------- every run
def test_no_errors_or_tracebacks(runs):
    for key, run in runs.items():
        nb = run["nb"]
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "error"]
        assert errors == [], key
        shown = strip_for_review(nb, failed=False)
        text = json.dumps([c.outputs for c in shown.cells if c.cell_type == "code"])
        assert "Traceback" not in text and "Error" not in text, key
        assert "could not be estimated" not in text, key  # every estimator ran on these studies
        assert "Traceback" not in run["html"], key


def test_no_respondent_identifiers_in_the_report(runs):
    for key in ("a", "b"):
        run = runs[key]
        # names, e-mails and ids of confidential respondents (what the runner scans for) ...
        idents = confidential_identifiers(load_study(run["study"], cache=False))
        assert idents and find_leaks([run["dir"] / "report.html"], idents) == [], key
        # ... and no contact id or e-mail address of anybody, in the report or the results
        for text in (run["html"], json.dumps(run["results"])):
            assert not re.search(r"\bC\d{5}\b", text), key
            assert not [e for e in _csv(run["study"], "contacts")["contact_email"].dropna()
                        if e in text], key


def test_headline_entries(runs):
    heads = {k: sorted(n for n, m in r["results"]["entries"].items() if m.get("headline"))
             for k, r in runs.items()}
    # the cross-section's headline is its main result, the CRQ index gap (with how many scores
    # are lower), never the interaction
    assert heads["a"] == ["difference.crq_index", "headline_inflation.nps_mean",
                          "headline_shift.nps_mean", "share_confidential"]
    assert heads["b"] == ["difference.crq_index", "share_confidential"]
    assert heads["none"] == []
    note = runs["b"]["results"]["entries"]["difference.crq_index"]["note"]
    assert note.startswith("confidential respondents clearly lower on ")


def test_key_findings(runs):
    from crqlab.studies.confidentiality import Q_GAP, Q_PANEL, Q_WHO

    found = {k: [(f["question"], f["text"]) for f in r["results"].get("findings", [])]
             for k, r in runs.items()}
    assert [q for q, _ in found["a"]].count(Q_PANEL) == 2  # the DiD and the headline inflation
    assert {Q_WHO, Q_GAP} <= {q for q, _ in found["b"]} and Q_PANEL not in dict(found["b"])
    assert [q for q, _ in found["none"]] == [Q_WHO]  # why nothing could be estimated
    for f in runs["a"]["results"]["findings"] + runs["b"]["results"]["findings"]:
        assert f.get("why_not") or (f["n"] >= 5 and f["ci_low"] <= f["est"] <= f["ci_high"])
    # the panel's DiD finding is the doubly robust default, recorded as did.nps_mean
    v = runs["a"]["results"]["values"]
    did = next(f for f in runs["a"]["results"]["findings"] if "difference in differences" in
               f["text"])
    assert did["est"] == v["did.nps_mean.est"] and "doubly robust" in did["text"]
    assert {"did_single.nps_mean.est", "did_unadjusted.nps_mean.est"} <= set(v)


def test_company_a_worked_example_is_exact(runs):
    # docs/methods.md section 3 with one in four assumed confidential: the bias.what_if docstring
    shift, inflation, attrition = Fraction(96, 265), Fraction(121, 530), Fraction(9, 265)
    for run in runs.values():
        v = run["results"]["values"]
        assert_allclose(v["what_if.company_a.mean_before.est"], 6.9, rtol=1e-9)
        assert_allclose(v["what_if.company_a.mean_after.est"], float(Fraction(3849, 530)),
                        rtol=1e-9)
        assert_allclose(v["what_if.company_a.shift.est"], float(shift), rtol=1e-9)
        assert_allclose(v["what_if.company_a.trend.est"], 0.1, rtol=1e-9)
        assert_allclose(v["what_if.company_a.inflation.est"], float(inflation), rtol=1e-9)
        assert_allclose(v["what_if.company_a.attrition.est"], float(attrition), rtol=1e-9)


# --------------------------------------------------------------------------- company-a (panel)
def test_company_a_design(runs):
    v = runs["a"]["results"]["values"]
    assert v["design.cross_sectional.est"] is True and v["design.panel.est"] is True
    assert (v["design.cross_sectional_wave.est"], v["design.panel_first_wave.est"],
            v["design.panel_second_wave.est"]) == (1, 1, 2)
    md = _markdown(runs["a"]["nb"])
    assert "**Panel comparison: runs**" in md and "**Cross-sectional comparison: runs**" in md


def test_company_a_share_and_completion_match_the_csv(runs):
    run = runs["a"]
    v = run["results"]["values"]
    resp, contacts = _csv(run["study"], "responses"), _csv(run["study"], "contacts")
    w1 = resp[resp.wave == 1].assign(confidential=lambda d: _flag(d["confidential"]))
    assert w1["confidential"].notna().all()
    # share choosing confidentiality among wave-1 respondents, inside its Wilson interval
    assert_allclose(v["share_confidential.est"], w1["confidential"].mean(), rtol=1e-9)
    assert v["share_confidential.n"] == len(w1)
    assert v["share_confidential.ci_low"] < v["share_confidential.est"] < \
        v["share_confidential.ci_high"]
    # completion of wave 2 among wave-1 respondents invited again, by wave-1 choice
    invited = set(contacts.loc[contacts.wave == 2, "contact_id"])
    panel = w1[w1.contact_id.isin(invited)]
    done = panel.contact_id.isin(set(resp.loc[resp.wave == 2, "contact_id"]))
    for group, mask in (("confidential", panel.confidential), ("named", ~panel.confidential)):
        assert v[f"completion.{group}.n"] == int(mask.sum())
        assert_allclose(v[f"completion.{group}.est"], done[mask].mean(), rtol=1e-9)
    assert_allclose(v["completion.difference.est"],
                    done[panel.confidential].mean() - done[~panel.confidential].mean(), rtol=1e-9)


def test_company_a_changes_and_headline_match_the_csv(runs):
    run = runs["a"]
    v = run["results"]["values"]
    resp, contacts = _csv(run["study"], "responses"), _csv(run["study"], "contacts")
    w1 = resp[resp.wave == 1].assign(confidential=lambda d: _flag(d["confidential"]))
    w1 = w1[w1.contact_id.isin(set(contacts.loc[contacts.wave == 2, "contact_id"]))]
    both = w1.merge(resp.loc[resp.wave == 2, ["contact_id", "nps"]], on="contact_id",
                    suffixes=("_1", "_2"))
    change = both["nps_2"] - both["nps_1"]
    for group, mask in (("confidential", both.confidential), ("named", ~both.confidential)):
        assert_allclose(v[f"change.{group}.nps_mean.est"], change[mask].mean(), rtol=1e-9)
        assert v[f"change.{group}.nps_mean.n"] == int(mask.sum())
    # unadjusted DiD = difference of the mean paired changes
    assert_allclose(v["did_unadjusted.nps_mean.est"],
                    change[both.confidential].mean() - change[~both.confidential].mean(),
                    rtol=1e-9)
    # headline: wave-2 mean of completers minus wave-1 mean of the whole panel
    assert_allclose(v["headline_shift.nps_mean.est"], both["nps_2"].mean() - w1["nps"].mean(),
                    rtol=1e-9)
    for s in ("nps_mean", "nps", "crq_index"):
        assert v[f"headline_inflation.{s}.ci_low"] <= v[f"headline_inflation.{s}.est"] <= \
            v[f"headline_inflation.{s}.ci_high"]
        assert v[f"did.{s}.ci_low"] < v[f"did.{s}.est"] < v[f"did.{s}.ci_high"]
        assert v[f"lee_bounds.{s}.lower.est"] <= v[f"lee_bounds.{s}.upper.est"]


def test_company_a_decomposition_and_what_if_identities(runs):
    r = runs["a"]["results"]
    v = r["values"]
    for s in ("nps_mean", "nps", "crq_index"):
        t = _table(r, f"headline_decomposition.{s}").set_index("quantity")["est"]
        # shift = trend + inflation + reversion + attrition, exactly (up to the 10 significant
        # digits results.json keeps of each term)
        assert_allclose(t["shift"], t[["trend", "inflation", "reversion", "attrition"]].sum(),
                        rtol=1e-8, atol=1e-9)
        assert_allclose(t["mean_after"] - t["mean_before"], t["shift"], rtol=1e-8, atol=1e-9)
    # the what-if on the panel's own aggregates reproduces the observed headline shift (no
    # missing 0-10 answers in the synthetic studies, so both use the same people) ...
    assert_allclose(v["what_if.study.shift.est"], v["headline_shift.nps_mean.est"], rtol=1e-8)
    # ... but its trend is the named group's wave-2 mean of completers minus its wave-1 mean of
    # everyone, which mixes in their attrition: not the within-person change
    run = runs["a"]
    resp, contacts = _csv(run["study"], "responses"), _csv(run["study"], "contacts")
    w1 = resp[resp.wave == 1].assign(confidential=lambda d: _flag(d["confidential"]))
    named = w1[~w1.confidential & w1.contact_id.isin(contacts.loc[contacts.wave == 2, "contact_id"])]
    after = resp[(resp.wave == 2) & resp.contact_id.isin(named.contact_id)]
    assert_allclose(v["what_if.study.trend.est"], after["nps"].mean() - named["nps"].mean(),
                    rtol=1e-9)
    n = {g: v[f"completion.{g}.n"] for g in ("confidential", "named")}
    completed = sum(v[f"completion.{g}.est"] * n[g] for g in n)
    assert_allclose(v["what_if.study.completion.est"], completed / sum(n.values()), rtol=1e-9)


# --------------------------------------------------------------------------- company-b (cross-section)
def test_company_b_cross_section_only(runs):
    run = runs["b"]
    v = run["results"]["values"]
    assert v["design.cross_sectional.est"] is True and v["design.panel.est"] is False
    assert v["design.cross_sectional_wave.est"] == 4 and v["design.panel_first_wave.est"] is None
    md = _markdown(run["nb"])
    assert "**Panel comparison: cannot run.** Wave 4 (2022) is the last wave" in md
    assert not [k for k in v if k.startswith(("did", "completion", "headline_", "what_if.study"))]
    assert "what_if.scenario.shift.est" in v  # Company A's behaviour applied to this study


def test_company_b_numbers_match_the_csv(runs):
    run = runs["b"]
    v = run["results"]["values"]
    resp, contacts = _csv(run["study"], "responses"), _csv(run["study"], "contacts")
    w4 = resp[resp.wave == 4].assign(confidential=lambda d: _flag(d["confidential"]))
    w4 = w4.merge(contacts.loc[contacts.wave == 4, ["contact_id", "account_id", "newly_included"]],
                  on="contact_id")
    new = _flag(w4["newly_included"])
    assert_allclose(v["share_confidential.est"], w4.confidential.mean(), rtol=1e-9)
    assert_allclose(v["share_confidential.newly_included_difference.est"],
                    w4.confidential[new].mean() - w4.confidential[~new].mean(), rtol=1e-9)
    # 0-10 answer: group means and Welch difference (confidential - named)
    x, y = w4.loc[w4.confidential, "nps"], w4.loc[~w4.confidential, "nps"]
    assert_allclose(v["nps_mean.confidential.est"], x.mean(), rtol=1e-9)
    assert_allclose(v["nps_mean.named.est"], y.mean(), rtol=1e-9)
    assert_allclose(v["difference.nps_mean.est"], x.mean() - y.mean(), rtol=1e-9)
    assert v["difference.nps_mean.n"] == len(w4)
    nps = lambda a: 100 * ((a >= 9).mean() - (a <= 6).mean())  # noqa: E731
    assert_allclose(v["difference.nps.est"], nps(x) - nps(y), rtol=1e-9)
    assert_allclose(v["difference.nps_bootstrap.est"], nps(x) - nps(y), rtol=1e-9)
    # the account-clustered interaction model and the cell means behind it
    for key in ("interaction.nps_mean", "interaction.crq_index",
                "confidential_effect_newly_included.nps_mean"):
        assert v[f"{key}.ci_low"] < v[f"{key}.est"] < v[f"{key}.ci_high"]
    # every respondent answered 0-10; the CRQ model uses those with a CRQ index
    assert v["interaction.nps_mean.n"] == len(w4)
    assert v["interaction.nps_mean.n_accounts"] == w4["account_id"].nunique()
    assert v["interaction.crq_index.n"] == v["crq_index.confidential.n"] + v["crq_index.named.n"]
    # scenario what-if starts from this study's shares and means
    assert_allclose(v["what_if.scenario.mean_before.est"], w4["nps"].mean(), rtol=1e-9)


def test_company_b_share_table_is_suppressed(runs):
    t = _table(runs["b"]["results"], "share_confidential.by_segment")
    small = t["n"].isna() | (t["n"] < 5)
    assert t.loc[small, "suppressed"].all() and t.loc[small, "est"].isna().all()
    assert t.loc[small, "n_confidential"].isna().all()
    assert (t.loc[~t["suppressed"], "n"] >= 5).all()
    assert {"all", "newly_included", "role"} <= set(t["segment"])
    assert "account_id" not in set(t["segment"])  # accounts only as a distribution


def test_company_b_verbatims_are_unattributed(runs):
    run = runs["b"]
    resp = _csv(run["study"], "responses")
    conf = _flag(resp["confidential"]).eq(True)
    named_only = set(resp.loc[~conf, "strengths"].dropna()) - set(resp.loc[conf, "strengths"].dropna())
    tables = [o["data"]["text/html"] for c in run["nb"].cells if c.cell_type == "code"
              for o in c.outputs if "text/html" in o.get("data", {})]
    verbatim_tables = [t for t in tables if "strengths</th>" in t or "weaknesses</th>" in t]
    assert verbatim_tables, "comments of confidential respondents are shown"
    for t in verbatim_tables:
        # the text and a row number only: no account, role, wave or any other column
        headers = {h.strip() for h in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", t, flags=re.S)}
        assert {h for h in headers if not h.isdigit()} in ({"", "strengths"}, {"", "weaknesses"})
        # a comment only named respondents wrote is never shown
        assert not [s for s in named_only if f">{s}<" in t]


# --------------------------------------------------------------------------- degenerate
def test_no_confidentiality_skips_cleanly(runs):
    run = runs["none"]
    v = run["results"]["values"]
    assert v["design.cross_sectional.est"] is False and v["design.panel.est"] is False
    md = _markdown(run["nb"])
    n = len(_csv(run["study"], "responses"))
    assert (f"Confidentiality was never offered in this study and the data record no choice "
            f"(n = {n:,} responses in 3 wave(s))") in md
    assert md.count("*Skipped:") >= 5
    assert not [k for k in v if k.startswith(("share_confidential", "difference", "did",
                                              "interaction", "what_if.s"))]
    assert "what_if.company_a.shift.est" in v


@pytest.mark.slow
def test_every_respondent_confidential_is_said_and_skipped(tmp_path):
    """Waves where confidentiality was given to everyone: nobody named to compare with."""
    study = write_study("tiny", 6, tmp_path / "all", n_accounts=15,
                        confidentiality=("none", "all", "all"))
    out = Path(_execute(str(study), str(tmp_path / "run")))
    nb = nbformat.read(str(out / NOTEBOOK.name), as_version=4)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]
    v = json.loads((out / "results.json").read_text(encoding="utf-8"))["values"]
    assert v["design.cross_sectional.est"] is False and v["design.panel.est"] is False
    resp = _csv(study, "responses")
    md = _markdown(nb)
    for w in (2, 3):
        n = int((resp.wave == w).sum())
        assert f"every respondent was confidential by design (n = {n:,})" in md
    assert not [k for k in v if k.startswith(("share_confidential", "difference", "did"))]
