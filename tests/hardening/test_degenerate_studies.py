"""Degenerate studies: every notebook says what cannot run (and why, with the n) and runs the rest.

Each study is the ``tiny`` synthetic study with one edit (tests/hardening/builders.py
``DEGENERATE``): one wave; one account; a wave with no responses; every answer identical;
every respondent confidential; no confidentiality column; no accounts table; no retention
outcome; contact ids that are plain numbers; a single respondent; no answer to the 0-10
question. ``crqlab run`` executes every study notebook on it (small ``n_boot``): the run exits 0,
every notebook is ``ok``, no report shows a traceback, each saves results, and where an
analysis cannot run the report says so in a sentence that gives a number.

The matrix (study x notebook) is parametrised; three studies run by default, all eleven under
``-m slow`` (a full run costs 35-40 s per study on two cores). By default the scorecard (01, where
both new studies used to fail) runs on the study without NPS answers.
"""
from __future__ import annotations

import json
import re

import pytest

from hardening import checks
from hardening.builders import DEGENERATE
from hardening.runs import FAST_DEGENERATE, degenerate_run, notebook_names

NOTEBOOKS = notebook_names()
FAST = FAST_DEGENERATE

#: Words saying that an analysis cannot run...
SKIP = re.compile(r"(cannot|can't|could not|not possible|not enough|too few|needs? at least|"
                  r"requires?|skipped|not run|not estimated|not estimable|not available|"
                  r"undefined|only one|one wave|no variance|not computed|no outcome|"
                  r"nobody)", re.IGNORECASE)
#: ... and the n it gives, in the same passage.
COUNT = re.compile(r"\bn\s*=\s*\d|\d[\d,]*\s+(?:complete\s+)?(?:respondents?|responses?|accounts?|"
                   r"account-waves|waves?|contacts?|answers?)\b", re.IGNORECASE)

#: (study, notebook prefix): (analysis that cannot run, words the explanation must use).
EXPECTED_SKIPS = {
    ("one_wave", "01"): ("trend across waves", r"wave"),
    ("one_wave", "20"): ("panel of the same contacts across waves", r"panel|wave"),
    ("one_account", "01"): ("account-cluster intervals with one account", r"account"),
    ("identical_answers", "10"): ("measurement model without variance",
                                  r"varian|constant|identical|same answer|respondents"),
    ("identical_answers", "40"): ("correlation of constant scores", r"varian|constant|identical"),
    ("all_confidential", "20"): ("comparison without named respondents", r"named"),
    ("no_confidentiality_column", "20"): ("comparison without a confidentiality flag",
                                          r"confidential"),
    ("no_accounts_table", "40"): ("prediction of retention", r"retain|retention|outcome"),
    ("no_retention_outcome", "40"): ("prediction of retention", r"retain|retention|outcome"),
    ("one_respondent", "01"): ("NPS from a single answer", r"0-10 question"),
    ("nps_all_missing", "01"): ("NPS without answers", r"0-10 question"),
    ("nps_all_missing", "20"): ("what-if without 0-10 answers", r"0-10 question"),
}

# Failures found in notebooks still being written by others (reported; strict: flips to
# XPASS when fixed, then remove the entry).
KNOWN: dict[tuple[str, str], str] = {}


def _cases(studies):
    out = []
    for study in studies:
        slow = [pytest.mark.slow] if study not in FAST else []
        for nb in NOTEBOOKS:
            reason = KNOWN.get((study, nb[:2]))
            marks = slow + ([pytest.mark.xfail(reason=reason, strict=True)] if reason else [])
            out.append(pytest.param(study, nb, marks=marks, id=f"{study}-{nb[:2]}"))
    return out


def _study_params():
    out = []
    for s in DEGENERATE:
        marks = [] if s in FAST else [pytest.mark.slow]
        known = [f"{nb}: {why}" for (study, nb), why in KNOWN.items() if study == s]
        if known:
            marks.append(pytest.mark.xfail(reason="; ".join(known), strict=True))
        out.append(pytest.param(s, marks=marks, id=s))
    return out


def _explanations(text: str) -> list[str]:
    """Passages (a skip phrase and the 400 characters after it) that give a count."""
    text = re.sub(r"\s+", " ", text)
    windows = (text[m.start():m.end() + 400] for m in SKIP.finditer(text))
    return [w for w in windows if COUNT.search(w)]


@pytest.mark.parametrize("study", _study_params())
def test_run_exits_0_without_traceback(study):
    run = degenerate_run(study)
    failed = {k: v for k, v in run.statuses().items() if v != "ok"}
    assert run.code == 0 and not failed, f"{study}: {failed}\n{run.stderr}"
    assert "Traceback" not in run.stdout + run.stderr
    assert run.raw_after == run.raw_before


@pytest.mark.slow
def test_numeric_contact_ids_are_not_scanned_but_said():
    # ids 1, 2, 3 ... cannot be told from the numbers of a report: the scan skips them (else
    # every report would be withheld) and every report carries a warning saying so
    run = degenerate_run("numeric_contact_ids")
    for entry in run.run_json()["notebooks"]:
        assert any("cannot tell them from report text" in w for w in entry["warnings"])


def test_scorecard_without_nps_answers_says_so(tmp_path, capsys):
    """The cheap default check: notebook 01 alone on the study where nobody answered the 0-10
    question (an uncaught InsufficientDataError before)."""
    from crqlab import cli
    from hardening.builders import degenerate_study

    study = degenerate_study("nps_all_missing", tmp_path / "study")
    out = tmp_path / "out"
    code = cli.main(["run", str(study), "--out", str(out), "--jobs", "1", "--notebooks", "01_*",
                     "-p", "n_boot", "20"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "01_scorecard" / "results.json").read_text(encoding="utf-8"))
    assert "0 answer(s) to the 0-10 question" in doc["values"]["nps.not_estimated.est"]
    html = (out / "01_scorecard" / "01_scorecard.html").read_text(encoding="utf-8")
    assert "Traceback" not in html and "Net Promoter Score: cannot be estimated." in html


@pytest.mark.parametrize("study, notebook", _cases(DEGENERATE))
def test_notebook_runs_the_rest_and_says_what_cannot_run(study, notebook):
    run = degenerate_run(study)
    stem = notebook.removesuffix(".ipynb")
    entry = next(n for n in run.run_json()["notebooks"] if n["name"] == notebook)
    assert entry["status"] == "ok", f"{notebook} on {study}: {entry['error']}"
    html = run.out / stem / f"{stem}.html"
    text = html.read_text(encoding="utf-8")
    assert "Traceback" not in text
    # groups below the study's minimum cell size (5) show no estimate
    assert checks.small_cell_violations(run.out / stem / "results.json", 5) == []
    # it ran the rest: results were saved and hold numbers
    doc = json.loads((run.out / stem / "results.json").read_text(encoding="utf-8"))
    assert any(isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in doc["values"].values()), f"{notebook} recorded nothing on {study}"
    expected = EXPECTED_SKIPS.get((study, notebook[:2]))
    if expected:
        what, topic = expected
        said = [w for w in _explanations(checks.visible_text(html))
                if re.search(topic, w, re.IGNORECASE)]
        assert said, f"{notebook} on {study} does not say that the {what} cannot run (with the n)"
