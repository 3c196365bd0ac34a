"""crqlab.reports.wording: library messages as sentences; the machine-room patterns."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from crqlab.data.study import ValidationError
from crqlab.reports import wording

#: A document outside the repository, as a careless citation names it (built here so that the
#: repository itself never cites one).
OUTSIDE_DOC = "METHODS" + ".md"


def _caught(fn) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - some versions raise what others warn
            seen.append(exc)
    assert seen, "the library said nothing"
    return seen


def _separation():
    import statsmodels.api as sm

    x = np.r_[np.zeros(20), np.ones(20)]
    sm.Logit(x, sm.add_constant(x)).fit(disp=0)


def _boundary():
    import statsmodels.formula.api as smf

    e = np.random.default_rng(0).normal(size=20)  # every account mean exactly 0
    df = pd.DataFrame({"y": np.r_[e, -e], "g": np.r_[np.arange(20), np.arange(20)]})
    smf.mixedlm("y ~ 1", df, groups=df["g"]).fit()


def _constant():
    from scipy import stats

    stats.pearsonr(np.ones(10), np.arange(10.0))


def _empty():
    np.mean(np.array([]))


@pytest.mark.parametrize("make, words", [
    (_separation, "no churned accounts"),
    (_boundary, "estimated at zero"),
    (_constant, "did not vary"),
    (_empty, "no answers"),
])
def test_real_library_warnings_become_their_sentences(make, words):
    sentences = {wording.plain_warning(m) for m in _caught(make)}
    assert any(words in s for s in sentences), sentences
    assert not any(wording.machine_room(s) for s in sentences)


@pytest.mark.parametrize("message, words", [
    ("Perfect separation detected, results not available", "no churned accounts"),
    ("The MLE may be on the boundary of the parameter space.", "estimated at zero"),
    ("ConvergenceWarning: Maximum Likelihood optimization failed to converge.", "did not settle"),
    ("Mean of empty slice", "no answers"),
])
def test_the_messages_of_the_issue(message, words):
    assert words in wording.plain_warning(message)


def test_unknown_message_gets_the_generic_sentence():
    assert wording.plain_warning("FutureWarning: the frobnicator changed") == \
        wording.GENERIC_WARNING
    assert not wording.machine_room(wording.GENERIC_WARNING)
    for _, sentence in wording.KNOWN_MESSAGES:
        assert not wording.machine_room(sentence), sentence


def test_plain_error_keeps_crqlab_messages_and_translates_library_ones():
    assert wording.is_crqlab_error("ValidationError") and wording.is_crqlab_error("CrqlabError")
    assert not wording.is_crqlab_error("ValueError") and not wording.is_crqlab_error(None)
    assert issubclass(ValidationError, wording.CrqlabError)
    mine = "responses.csv, column 'nps', row 14: off the 0-10 scale (value '11')"
    assert wording.plain_error("ValidationError", mine) == mine
    assert "estimated at zero" in wording.plain_error(
        "ConvergenceError", "The MLE may be on the boundary of the parameter space")
    generic = wording.plain_error("KeyError", "'prev_crq_index_known'")
    assert "prev_crq_index_known" not in generic and "technical error" in generic


@pytest.mark.parametrize("text, name", [
    ("read from /home/ana/studies/acme/responses.csv", "absolute path"),
    (r"read from C:\Users\ana\acme", "absolute path"),
    ("CategoryRule(strong=4.5, unique=0.1)", "Python repr"),
    ("see crqlab.bias.what_if", "package function name"),
    ("flagged_responded and prev_crq_index_known=False", "raw column name"),
    ("342.019385", "float noise"),
    ("n = 82.0, 35.0 accounts", "count written as a float"),
    ("Perfect separation detected", "library message"),
    ("RuntimeWarning: divide by zero", "library message"),
    ("as " + OUTSIDE_DOC + " section 3 says", "file outside the repository"),
])
def test_machine_room_patterns_find_the_issue_examples(text, name):
    assert name in wording.machine_room(text)


@pytest.mark.parametrize("text", [
    "CRQ index 5.93 [5.87, 6.00] (n = 821 respondents in 171 accounts)",
    "51.1% of invited contacts responded (p < .001); see https://www.example.com/a/b",
    "Warning: too few respondents", "1-7 scale, NPS -100 to +100, 2020/2021, and/or",
])
def test_plain_text_passes(text):
    assert wording.machine_room(text) == {}
