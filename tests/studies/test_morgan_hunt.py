"""crqlab.studies.morgan_hunt: the Morgan-Hunt study's decisions, wording and records.

Small frames: respondents simulated from the CRQ form of KMV (``crqlab.models.sem.simulate_sem``,
two waves of 300, retention observed in the first) behind a stand-in study object, and
hand-made tables for the wording branches that real fits rarely reach. Every "cannot run
because" branch is checked for the reason it records and shows. The fits themselves are
validated against lavaan in ``tests/models/test_sem.py``; here they only need to run.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from crqlab.data.instruments import load_instrument
from crqlab.errors import CrqlabError, InsufficientDataError
from crqlab.formatting import Caution, Finding, Text
from crqlab.models import sem
from crqlab.studies import morgan_hunt as mh

CRQ = load_instrument("crq")
KMV = load_instrument("kmv")
#: Small enough for 300 simulated respondents; the bootstrap and draws are few (wiring only).
SETTINGS = mh.Settings(seed=3, n_boot=10, n_draws=200, min_n=150, min_group_size=60)


def _wave(n: int, wave: int, seed: int) -> pd.DataFrame:
    model = sem.kmv_crq_model(CRQ)
    d = sem.simulate_sem(model, n, binary={mh.RETENTION: 0.85}, item_scale=(1, 7),
                         outcome_scales={"nps": (0, 10, 8, 1.8)}, n_accounts=60, icc=0.1,
                         seed=seed)
    d.insert(0, "wave", wave)
    d["role"] = np.where(np.arange(n) % 3 == 0, "key decision maker", "operational")
    return d


@pytest.fixture(scope="module")
def respondents() -> pd.DataFrame:
    second = _wave(300, 2, seed=2).assign(**{mh.RETENTION: np.nan})  # next wave not yet held
    return pd.concat([_wave(300, 1, seed=1), second], ignore_index=True)


def _study(frame: pd.DataFrame, instrument=CRQ, batteries=None, min_cell: int = 5):
    return SimpleNamespace(respondents=lambda: frame.copy(), instrument=instrument,
                           batteries=batteries or {}, wave_label=lambda w: f"W{w}",
                           min_cell_size=min_cell)


def _names(entries) -> list[str]:
    return [e.name for e in entries]


def _texts(notes) -> list[str]:
    return [str(n) for n in notes]


@pytest.fixture(scope="module")
def design(respondents) -> mh.Design:
    return mh.design(_study(respondents), 0, SETTINGS)


@pytest.fixture(scope="module")
def crq(design) -> mh.Structural:
    return mh.kmv_crq(design, SETTINGS)


# -- design ---------------------------------------------------------------------------------
def test_choose_waves_default_pooled_explicit_and_refused():
    assert mh.choose_waves([1, 2, 3], [1, 2], 0) == [2]  # latest with retention observed
    assert mh.choose_waves([1, 2, 3], [], 0) == [3]  # none observed: the latest
    assert mh.choose_waves([1, 2, 3], [1, 2], -1) == [1, 2, 3]
    assert mh.choose_waves([1, 2, 3], [1, 2], 3) == [3]
    with pytest.raises(mh.WaveError, match=r"wave 7 is not in this study \(waves \[1, 2, 3\]\)"):
        mh.choose_waves([1, 2, 3], [1, 2], 7)
    assert issubclass(mh.WaveError, CrqlabError) and issubclass(mh.WaveError, ValueError)


def test_waves_chains_and_labels_in_words():
    assert mh.describe_waves([3], lambda w: "2023") == "wave 3 (2023)"
    assert mh.describe_waves([1, 2], lambda w: f"y{w}") == "waves 1 (y1), 2 (y2) pooled"
    assert mh.arrow("service", "trust", "nps") == "service → trust → NPS answer"
    assert mh.arrow("commitment", mh.RETENTION, "termination_costs") == (
        "commitment → retention → termination costs")
    labels = mh.node_labels(CRQ)
    assert labels["service"] == "Service" and labels["nps"] == "NPS answer (0-10)"
    assert mh.Settings().level == "95%" and mh.Settings(ci=0.9).level == "90%"
    assert mh.Settings().interval(0.4567, 0.3, 1234.5) == "0.46 [95% CI 0.30 to 1,234.50]"


def test_complete_is_listwise_on_the_model_columns_and_names_absent_ones():
    model = sem.kmv_crq_model(CRQ, outcomes=("nps",))
    cols = mh.model_columns(model)
    assert cols[:3] == ["trust_1", "trust_2", "trust_3"] and cols[-1] == "nps"
    assert len(cols) == 19  # 18 items and the 0-10 answer
    frame = pd.DataFrame({c: [1.0, 2.0, np.nan] for c in cols} | {"other": [np.nan] * 3})
    rows, absent = mh.complete(model, frame)
    assert list(rows.index) == [0, 1] and absent == []
    rows, absent = mh.complete(model, frame.drop(columns=["nps", "trust_2"]))
    assert rows.empty and absent == ["trust_2", "nps"]


def test_default_design_fits_the_latest_wave_with_retention(design, respondents):
    assert design.fit_waves == [1] and design.wave_text == "wave 1 (W1)"
    assert len(design.data) == 300 and design.with_retention and design.can_fit
    assert design.model.outcomes == ["nps", mh.RETENTION] and design.rival is not None
    assert design.min_group == 60 and not design.have_battery
    sample = design.entries[0]
    assert sample.name == "sample.kmv_crq" and sample.value == 300
    assert sample.options["n_accounts"] == respondents.loc[respondents.wave == 1,
                                                           "account_id"].nunique()
    text = _texts(design.notes)
    assert text[0].startswith("300 responses from ")
    assert text[0].endswith("accounts in wave 1 (W1).")
    assert text[1].startswith("Which wave, and why. By default")
    assert "Retention ('Retained next wave') is known for 300 of these responses." in text[2]
    assert text[3].startswith("300 respondents in") and "(0 left out" in text[3]
    assert text[4] == "The study has no Morgan-Hunt battery, so only the CRQ form of KMV is fitted."
    assert text[5].startswith("How the models are estimated. Fitted by maximum likelihood with "
                              "robust standard errors")  # MLR, the default for Likert answers


def test_wave_without_retention_and_study_without_the_column(respondents):
    d = mh.design(_study(respondents), 2, SETTINGS)
    assert d.model.outcomes == ["nps"] and not d.with_retention
    assert d.entries[0] == ("skipped.retention", "no retention outcome observed in wave 2 (W2)", {})
    assert str(d.notes[1]).startswith("No retention outcome in wave 2 (W2) ('Retained next wave'")
    d = mh.design(_study(respondents.drop(columns=mh.RETENTION)), -1, SETTINGS)
    assert d.fit_waves == [1, 2] and d.wave_text == "waves 1 (W1), 2 (W2) pooled"
    assert d.entries[0].value == "the study has no 'Retained next wave' column"
    assert str(d.notes[1]).startswith("Pooled waves.")
    assert d.entries[1].value == 600 and d.can_fit


def test_too_few_absent_columns_and_an_instrument_without_kmv(respondents):
    d = mh.design(_study(respondents), 1, mh.Settings(min_n=301))
    skipped = d.entries[-1]
    assert not d.can_fit and skipped.name == "skipped.kmv_crq"
    assert skipped.value.startswith("Too few respondents for structural equation modelling: "
                                    "n = 300 complete respondents in wave 1 (W1), and these "
                                    "models need at least 301 (the parameter "
                                    "'Fewest respondents for a model'")
    assert d.notes[-3] == Finding("Not estimated.", d.notes[-3].rest)
    assert str(d.notes[-3].rest) == skipped.value
    d = mh.design(_study(respondents.drop(columns="trust_1")), 1, SETTINGS)
    assert d.entries[-1].value == "The data lack the model's columns ['trust_1']."
    assert d.entries[0].value == 0 and not d.can_fit
    d = mh.design(_study(respondents, instrument=KMV), 1, SETTINGS)
    assert d.model is None and _names(d.entries) == ["skipped.kmv_crq"]
    assert d.entries[0].value.startswith("The CRQ form of KMV cannot be built from instrument "
                                         "'kmv': instrument 'kmv' has no level(s)")


def test_battery_declared_but_not_answered(respondents):
    d = mh.design(_study(respondents, batteries={"kmv": KMV}), 0, SETTINGS)
    # the trust and commitment items are shared with CRQ; the other 30 are not answered
    assert d.battery is KMV and len(d.battery_missing) == 30 and not d.have_battery
    classic = mh.kmv_classic(d, SETTINGS)
    assert classic.entries[0].name == "skipped.kmv_classic"
    assert classic.entries[0].value.startswith("The Morgan-Hunt battery is declared but the "
                                               "responses lack ['termination_costs_1'")
    assert classic.fits == {} and classic.summary == []
    none = mh.kmv_classic(mh.design(_study(respondents), 0, SETTINGS), SETTINGS)
    assert none.entries[0].value == ("The study has no Morgan-Hunt battery (none declared in "
                                     "study.yaml), so the original KMV model and its rival are "
                                     "not fitted.")


def test_battery_with_too_few_complete_respondents(respondents):
    items = {i: 4.0 for i in KMV.items}
    frame = respondents.assign(**items)
    frame.loc[frame.index[100:], KMV.items[0]] = np.nan  # 100 of wave 1 complete
    d = mh.design(_study(frame, batteries={"kmv": KMV}), 0, SETTINGS)
    assert d.have_battery
    classic = mh.kmv_classic(d, SETTINGS)
    assert classic.entries[0].value == ("Too few respondents for the original KMV model: "
                                        "n = 100 complete respondents, at least 150 needed.")


# -- fitting with the guard -----------------------------------------------------------------
def test_fit_model_reports_proper_fits_flags_improper_ones_and_skips_the_impossible(design):
    model = design.model
    ok = mh.fit_model(model, design.data, "KMV model (kmv_crq)", SETTINGS)
    assert ok.fit is not None and ok.notes == []
    assert ok.entries == [("proper.kmv_crq", True, {"note": None})]
    bad = mh.fit_model(model, design.data, "KMV model (kmv_crq)", mh.Settings(std_limit=0.05))
    assert bad.fit is None and bad.entries[0].value is False
    caution = bad.notes[0]
    assert isinstance(caution, Caution) and caution.note == mh.USUAL_CAUSES
    assert caution.title == ("the KMV model (kmv_crq) did not converge to a proper solution, so "
                             "its estimates are not reported.")
    assert "standardised loading above 0.05" in bad.entries[0].options["note"]
    assert list(caution.reasons) == bad.entries[0].options["note"].split("; ")
    none = mh.fit_model(model, design.data.head(3), "KMV model (kmv_crq)", SETTINGS)
    assert none.fit is None and none.entries[0].name == "skipped.kmv_crq"
    assert none.entries[0].value.startswith("The KMV model (kmv_crq) could not be fitted: ")
    assert isinstance(none.notes[0].rest, Text)


def test_fit_entries_mark_the_headline_measures_of_the_crq_form(crq):
    fit = crq.fits["kmv_crq"]
    entries = {e.name: e for e in mh.fit_entries(fit, headline=True)}
    assert list(entries)[:2] == ["fit.kmv_crq.chisq", "fit.kmv_crq.cfi"]
    assert entries["fit.kmv_crq.chisq"].options["df"] == fit.fit_measures["df"]
    assert entries["fit.kmv_crq.cfi"].options["headline"]
    assert not entries["fit.kmv_crq.tli"].options["headline"]
    assert entries["fit.kmv_crq.rmsea"].options["ci"] == (fit.fit_measures["rmsea_ci_low"],
                                                          fit.fit_measures["rmsea_ci_high"])
    assert {"r2.kmv_crq.nps", "r2.kmv_crq.retained_next_wave"} <= set(entries)
    plain = mh.fit_entries(fit)
    assert not any(e.options.get("headline") or e.options.get("label") for e in plain)


# -- measurement ----------------------------------------------------------------------------
def test_measurement_of_a_sound_instrument(design):
    m = mh.measurement(CRQ, "crq", "CRQ (crq)", design.data, SETTINGS)
    assert m.fit is not None and m.fit.n == 300
    assert _names(m.entries) == [
        "proper.crq_cfa", "validity.crq.max_htmt", "fit.crq_cfa.cfi", "fit.crq_cfa.tli",
        "fit.crq_cfa.srmr", "fit.crq_cfa.rmsea", "fit.crq_cfa.chisq", "validity.crq",
        "validity.crq.min_loading", "validity.crq.min_cr", "validity.crq.min_ave",
        "validity.crq.convergent", "validity.crq.discriminant"]
    values = {e.name: e.value for e in m.entries}
    assert values["validity.crq.min_loading"] == pytest.approx(m.loadings["std_all"].min())
    assert values["validity.crq.max_htmt"] == pytest.approx(m.htmt["htmt"].max())
    assert list(m.htmt.columns) == ["latent_a", "latent_b", "htmt", "ci_low", "ci_high", "n"]
    assert (m.reliability["n"] == 300).all() and len(m.reliability) == 6
    diag = np.diag(m.correlations.loc[m.reliability["latent"], m.reliability["latent"]])
    assert diag == pytest.approx(m.reliability["sqrt_ave"].round(3))
    # planted loadings 0.8 on a 1-7 scale: both kinds of validity hold
    assert values["validity.crq.convergent"] and values["validity.crq.discriminant"]
    assert m.summary == ["CRQ (crq): convergent validity holds, discriminant validity holds."]
    words = " ".join(_texts(m.text))
    assert words.startswith("CFA of 6 constructs on 300 respondents: CFI ")
    assert "Convergent validity holds by the usual conventions" in words


def test_measurement_too_few_or_lacking_columns(design):
    m = mh.measurement(CRQ, "crq", "CRQ (crq)", design.data, mh.Settings(min_n=400))
    assert m.entries == [("skipped.crq_cfa", "Too few respondents for the measurement model of "
                          "the CRQ (crq): n = 300 answered every item, and a CFA needs at least "
                          "400 (the parameter 'Fewest respondents for a model').", {})]
    assert m.fit is None and m.htmt is None and m.notes[0].lead == "Not estimated."
    m = mh.measurement(CRQ, "crq", "CRQ (crq)", design.data.drop(columns="trust_2"), SETTINGS)
    assert m.entries[0].value.endswith("at least 150 (the parameter 'Fewest respondents for a "
                                       "model'); the data lack "
                                       "the columns ['trust_2'].")


def test_measurement_without_htmt_or_a_proper_fit(design):
    flat = design.data.assign(trust_1=4.0)  # no variance: no HTMT, and an improper CFA
    m = mh.measurement(CRQ, "crq", "CRQ (crq)", flat, SETTINGS)
    assert m.htmt is None and "validity.crq.max_htmt" not in _names(m.entries)
    assert _texts(m.notes)[0] == ("HTMT not estimated: an item has no variance among the 300 "
                                  "respondents.")
    m = mh.measurement(CRQ, "crq", "CRQ (crq)", design.data, mh.Settings(std_limit=0.05,
                                                                      min_n=150, n_boot=10))
    assert m.fit is None and m.htmt is not None  # HTMT does not need the CFA
    assert _names(m.entries) == ["proper.crq_cfa", "validity.crq.max_htmt"]
    assert isinstance(m.notes[0], Caution) and m.summary == []


def test_measurements_skip_without_a_model_and_add_the_battery(respondents):
    d = mh.design(_study(respondents, instrument=KMV), 1, SETTINGS)
    ms = mh.measurements(d, SETTINGS)
    assert len(ms) == 1 and ms[0].entries == [("skipped.crq_cfa", "No measurement model: see "
                                               "the data section.", {})]


def _fit_stub(n=250, cfi=0.97, rmsea=0.05, low=0.03, high=0.07, srmr=0.04):
    fm = pd.Series({"cfi": cfi, "rmsea": rmsea, "rmsea_ci_low": low, "rmsea_ci_high": high,
                    "srmr": srmr})
    return SimpleNamespace(fit_measures=fm, n=n)


def test_validity_wording_for_doubtful_constructs():
    loads = pd.DataFrame({"item": ["a1", "a2", "b1"], "std_all": [0.62, 0.8, 0.9]})
    rel = pd.DataFrame({"latent": ["a", "b"], "cr": [0.65, 0.9], "ave": [0.45, 0.8]})
    fl = pd.DataFrame({"latent_a": ["a"], "latent_b": ["b"], "passes": [False]})
    ht = pd.DataFrame({"latent_a": ["a"], "latent_b": ["b"], "htmt": [0.91], "ci_high": [0.95]})
    v = mh._verdicts(loads, rel, fl, ht)
    assert v.weak_items == ["a1"] and v.doubtful == ["a", "a"]
    assert not v.convergent and not v.discriminant
    parts = _texts(mh._validity_text(_fit_stub(), loads, rel, ht, v, SETTINGS))
    assert parts[1] == "Standardised loadings range from 0.62 to 0.90; below 0.7: a1."
    assert parts[3] == "Convergent validity is in doubt for a (CR below 0.7 or AVE below 0.5)."
    assert parts[4] == "Discriminant validity is in doubt for a/b, a/b (HTMT 0.91)."


def test_validity_wording_for_an_uncertain_htmt():
    loads = pd.DataFrame({"item": ["a1", "b1"], "std_all": [0.8, 0.9]})
    rel = pd.DataFrame({"latent": ["a", "b"], "cr": [0.8, 0.9], "ave": [0.6, 0.8]})
    fl = pd.DataFrame({"latent_a": ["a"], "latent_b": ["b"], "passes": [True]})
    ht = pd.DataFrame({"latent_a": ["a"], "latent_b": ["b"], "htmt": [0.8], "ci_high": [0.88]})
    v = mh._verdicts(loads, rel, fl, ht)
    assert v.convergent and v.discriminant and len(v.ht_unsure) == 1
    parts = mh._validity_text(_fit_stub(), loads, rel, ht, v, SETTINGS)
    assert str(parts[4]) == ("Discriminant validity holds: every construct's √AVE exceeds its "
                             "correlations with the others, and the largest HTMT is 0.80 "
                             "(below 0.85).")
    assert parts[5] == ("For 1 pair(s) the upper 95% bound reaches 0.85, so their separation is "
                        "less certain: a/b.")
    no_ht = mh._validity_text(_fit_stub(), loads, rel, None, mh._verdicts(loads, rel, fl, None),
                              SETTINGS)
    assert "the largest HTMT is – (below 0.85)" in str(no_ht[-1])


# -- structural models ----------------------------------------------------------------------
def test_path_reading_names_supported_wrong_signed_and_weak_paths():
    hyp = pd.DataFrame({"source": ["service", "trust", "commitment", "satisfaction"],
                        "target": ["trust", "commitment", "nps", "commitment"],
                        "std_all": [0.5, -0.2, 0.05, 0.01], "ci_low": [0.4, -0.3, -0.1, -0.1],
                        "ci_high": [0.6, -0.1, 0.2, 0.1], "p_value": [0.0001, 0.01, 0.4, 0.9],
                        "supported": [True, False, False, False]})
    parts = mh.path_reading(hyp, SETTINGS)
    assert parts[0] == Finding("1 of 4 hypothesised paths are supported",
                               ": service → trust 0.50 [95% CI 0.40 to 0.60].")
    assert parts[1] == ("The data contradict the claim (the interval lies on the opposite side "
                        "of zero): trust → commitment -0.20 [95% CI -0.30 to -0.10].")
    assert parts[2] == ("The data cannot tell (the interval holds zero or the test is not "
                        "significant): commitment → NPS answer 0.05 [95% CI -0.10 to 0.20], "
                        "p = 0.400; satisfaction → commitment 0.01 [95% CI -0.10 to 0.10], "
                        "p = 0.900.")
    many = pd.concat([hyp.iloc[[2]]] * 5, ignore_index=True).assign(supported=False)
    parts = mh.path_reading(many, SETTINGS)
    assert str(parts[0]) == "0 of 5 hypothesised paths are supported."
    assert parts[1] == ("For the other 5 the data cannot tell (standardised estimates between "
                        "0.05 and 0.05, every interval holds zero or the test is not "
                        "significant, all p ≥ 0.400).")


def test_a_path_is_supported_only_when_its_interval_supports_the_claim():
    """Significant by the Wald test of the raw path, but the interval of the standardised path
    holds zero: 'the data cannot tell', not supported; a negative hypothesis holds below 0."""
    hyp = pd.DataFrame({"source": ["service", "trust"], "target": ["trust", "commitment"],
                        "sign": ["+", "-"], "std_all": [0.2, -0.3], "ci_low": [-0.01, -0.4],
                        "ci_high": [0.4, -0.2], "p_value": [0.04, 0.001],
                        "supported": [True, True]})
    assert mh.path_claims(hyp).tolist() == ["the data cannot tell", "the claim holds"]
    parts = mh.path_reading(hyp, SETTINGS)
    assert str(parts[0]) == ("1 of 2 hypothesised paths are supported: trust → commitment "
                             "-0.30 [95% CI -0.40 to -0.20].")
    assert str(parts[1]).startswith("The data cannot tell") and "service → trust" in parts[1]


def test_bic_verdict_and_fit_conventions():
    labels = {"m": "KMV model", "r": "rival model"}
    a, b = pd.Series({"model": "m"}), pd.Series({"model": "r"})
    assert str(mh._bic_verdict(a, b, labels, 12.3, -4.0, "m")) == (
        "The KMV model is preferred: its BIC is lower by 12.3 (very strong evidence on "
        "Raftery's 1995 scale; AIC difference 4.0 the other way).")
    assert str(mh._bic_verdict(a, b, labels, -7.0, -1.0, "r")).startswith(
        "The rival model is preferred: its BIC is lower by 7.0 (strong evidence")
    assert mh._bic_verdict(a, b, labels, 1.5, 1.0, "none") == (
        "BIC does not separate the KMV model and the rival model (difference 1.5, below 2).")
    row = pd.Series({"cfi": 0.96, "tli": 0.95, "rmsea": 0.061, "srmr": 0.05, "chisq": 210.44,
                     "df": 150.0, "p_value": 0.0004})
    assert mh._fit_reading(row, "KMV model") == (
        "the KMV model misses the usual fit conventions (CFI 0.960, RMSEA 0.061, SRMR 0.050; "
        "chi-square 210.4 on 150 df, p < 0.001)")
    assert "meets" in mh._fit_reading(row.replace(0.061, 0.05), "KMV model")


def test_structural_fits_compares_and_records_in_order(crq, design):
    assert set(crq.fits) == {"kmv_crq", "kmv_crq_rival"}
    names = _names(crq.entries)
    assert names[:2] == ["proper.kmv_crq", "fit.kmv_crq.chisq"]
    assert names.index("proper.kmv_crq_rival") < names.index("model_comparison.kmv_crq")
    assert names.index("model_comparison.kmv_crq.winner") < names.index(
        "path.kmv_crq.service_trust") < names.index("hypotheses.kmv_crq")
    entries = {e.name: e for e in crq.entries}
    headline = {n for n, e in entries.items() if e.options.get("headline")}
    assert headline == {"fit.kmv_crq.cfi", "fit.kmv_crq.rmsea", "model_comparison.kmv_crq.winner",
                        "path.kmv_crq.trust_commitment"}
    path = entries["path.kmv_crq.trust_commitment"]
    hyp = crq.hypotheses["kmv_crq"].set_index(["source", "target"])
    assert path.value == hyp.loc[("trust", "commitment"), "std_all"]
    assert path.options["ci"][0] < path.value < path.options["ci"][1]
    assert path.options["n"] == 300
    assert path.options["label"] == "Path trust → commitment, CRQ form of KMV"
    d_bic = entries["model_comparison.kmv_crq.delta_bic"].value
    fm = {n: f.fit_measures for n, f in crq.fits.items()}
    assert d_bic == pytest.approx(fm["kmv_crq_rival"]["bic"] - fm["kmv_crq"]["bic"])
    assert crq.winner == ("none" if abs(d_bic) < 2 else "kmv_crq" if d_bic > 0 else "kmv_crq_rival")
    assert list(crq.comparison.columns) == ["KMV model", "rival model"]
    assert str(crq.paths["kmv_crq"].reading[0]) == "KMV model."
    assert str(crq.paths["kmv_crq_rival"].reading[0]) == "Rival model."
    assert _texts(crq.notes)[0].startswith("n = 300 respondents in ")
    assert "is binary and enters the ML fit" in crq.choices[0]
    assert crq.summary[0].startswith("CRQ form of KMV: 7 of 7 hypothesised paths supported")
    assert crq.summary[1].startswith("Preferred by BIC (CRQ form of KMV vs its rival): ")
    assert "kmv_crq" not in " ".join(crq.summary)  # no model identifiers in words
    assert entries["model_comparison.kmv_crq.winner"].value in ("CRQ form of KMV", "neither",
                                                               "rival of the CRQ form of KMV")


def test_structural_with_one_or_no_proper_model(design):
    none = mh.structural(design.model, design.rival, design.data, "kmv_crq",
                         mh.Settings(std_limit=0.05))
    assert none.fits == {} and none.comparison is None and none.summary == []
    assert _names(none.entries) == ["proper.kmv_crq", "proper.kmv_crq_rival"]
    assert none.notes[-1] == "Neither model has a proper solution; nothing to compare."
    one = mh.Structural("kmv_crq", {"kmv_crq": "KMV model"},
                        fits={"kmv_crq": mh.fit_model(design.model, design.data, "x",
                                                      SETTINGS).fit})
    mh.compare(one, SETTINGS)
    assert one.verdict == ["Only one of the two models has a proper solution, so they are not "
                           "compared."]
    assert _names(one.entries) == ["model_comparison.kmv_crq", "model_comparison.kmv_crq.winner"]
    assert one.entries[1].value == "not compared" and one.winner is None


def test_no_structural_model_when_the_data_do_not_allow_it(respondents):
    d = mh.design(_study(respondents), 1, mh.Settings(min_n=301))
    crq = mh.kmv_crq(d, SETTINGS)
    assert crq.entries == [("skipped.structural", "No structural model: see the data section.",
                            {})]
    assert crq.fits == {} and crq.paths == {}


# -- indirect effects -----------------------------------------------------------------------
def test_indirect_effects_read_the_service_chain(crq, design):
    ind = mh.indirect(crq.fits["kmv_crq"], design, SETTINGS)
    assert ind.focal == ("service", "trust", "commitment", "nps")
    assert list(ind.table.columns) == ["effect", "est", "monte_carlo_ci_low",
                                       "monte_carlo_ci_high", "bootstrap_ci_low",
                                       "bootstrap_ci_high", "n"]
    assert len(ind.table) == 8  # three drivers and satisfaction, to NPS and retention
    names = _names(ind.entries)
    assert names[:2] == ["indirect.service_trust_commitment_nps",
                         "indirect.service_trust_commitment_nps.bootstrap"]
    assert names[-1] == "indirect_effects" and len(names) == 17
    focal, boot = ind.entries[0], ind.entries[1]
    assert focal.options["headline"] and not ind.entries[2].options["headline"]
    assert focal.value == pytest.approx(ind.table.loc[0, "est"])
    assert boot.options["note"] == "account-cluster bootstrap, 10 resamples"
    lead = ind.notes[0].lead
    assert lead.startswith("service → trust → commitment → NPS answer: ")
    assert "account-cluster bootstrap CI" in ind.notes[0].rest
    assert ind.summary[0].endswith("(account-cluster bootstrap).")


def test_indirect_effects_skipped_without_a_fit(design, respondents):
    ind = mh.indirect(None, design, SETTINGS)
    assert ind.entries[0].value == ("No indirect effects: the CRQ form of KMV has no reportable "
                                    "fit on these data (see above).")
    d = mh.design(_study(respondents), 1, mh.Settings(min_n=301))
    assert mh.indirect(None, d, SETTINGS).entries[0].value == (
        "No indirect effects: see the data section.")


# -- key decision makers and other contacts ---------------------------------------------------
def test_role_groups_fold_other_roles_and_suppress_small_groups():
    rows = pd.DataFrame({"role": ["kdm", "ops", "admin", None, "ops", "ops"],
                         "account_id": ["a", "a", "b", "b", "c", "c"]})
    out, sizes, sized = mh.role_groups(rows, "kdm", min_cell=2)
    assert list(out["role_group"].fillna("-")) == ["kdm", "other roles", "other roles", "-",
                                                   "other roles", "other roles"]
    assert dict(zip(sizes["group"], sizes["n"])) == {"kdm": 1, "other roles": 4}
    # kdm (1) is below 2; its complement would give it away, so both are blanked
    assert sized["suppressed"].tolist() == [True, True] and sized["n"].isna().all()
    _, sizes, _ = mh.role_groups(rows, "sales", min_cell=1)
    assert sizes.set_index("group").loc["sales", "n"] == 0  # an absent role still shows


def test_roles_match_ignoring_case_and_spacing():
    """Issue 16: 'key decision maker' against data 'Key decision maker' skipped the comparison
    with 186 present."""
    rows = pd.DataFrame({"role": ["Key decision maker", " key  DECISION maker", "ops", None],
                         "account_id": list("abcd")})
    out, sizes, _ = mh.role_groups(rows, "key decision maker", min_cell=1)
    assert list(out["role_group"].fillna("-")) == ["key decision maker"] * 2 + ["other roles",
                                                                                 "-"]
    assert dict(zip(sizes["group"], sizes["n"])) == {"key decision maker": 2, "other roles": 1}
    assert mh.same_label("  Key\tDecision  Maker ") == "key decision maker"


def test_a_focal_role_that_matches_nothing_says_so_and_lists_the_roles(crq, respondents):
    capital = respondents.assign(role=respondents["role"].str.title())
    d = mh.design(_study(capital), 0, SETTINGS)
    fit = mh.kmv_crq(d, SETTINGS).fits["kmv_crq"]
    g = mh.group_comparison(fit, d, SETTINGS)  # 'key decision maker' vs 'Key Decision Maker'
    # sizes, the invariance check of the questions, then the guarded two-group fit
    assert _names(g.entries)[:3] == ["groups.role.sizes", "groups.role.invariance_metric_holds",
                                     "proper.kmv_crq_groups"]
    sales = mh.group_comparison(fit, d, mh.Settings(**{**SETTINGS.__dict__,
                                                       "focal_role": "sales"}))
    assert sales.entries == [("skipped.groups.role", "No group comparison: no respondent's role "
                              "matches the parameter 'Role compared with the others' ('sales', "
                              "compared ignoring "
                              "case and spacing). The roles present are: Key Decision Maker; "
                              "Operational.", {})]
    assert str(sales.notes[0]).startswith("Not estimated.")


def test_group_comparison_runs_and_words_the_tests(crq, design):
    g = mh.group_comparison(crq.fits["kmv_crq"], design, SETTINGS)
    names = _names(g.entries)
    assert names[:4] == ["groups.role.sizes", "groups.role.invariance_metric_holds",
                         "proper.kmv_crq_groups", "groups.role.test"]
    assert names[-1] == "groups.role.differences" and len(names) == 5 + 7
    # the measurement is checked before the paths are compared: metric invariance holds here
    assert g.entries[1].value is True and g.entries[1].options["n"] == 300
    assert g.invariance.startswith("Between key decision maker (100) and other roles (200)")
    test = g.entries[3]
    assert test.options["df"] == 7 and 0 <= test.options["p_value"] <= 1
    assert g.entries[0].options == {"min_cell_size": 5}
    assert list(g.differences.columns[:4]) == ["source", "target", "group", "reference"]
    assert (g.differences["reference"] == "key decision maker").all()
    assert list(g.paths.columns) == ["key decision maker", "other roles"]
    assert "trust → commitment" in g.paths.index
    words = _texts(g.notes)[0]
    assert words.startswith("Groups: key decision maker n = 100, other roles n = 200. Holding "
                            "all 7 paths equal across groups ")
    assert g.summary[0].startswith("key decision maker vs other contacts: paths ")


def test_group_comparison_cannot_run_because(crq, design, respondents):
    fit = crq.fits["kmv_crq"]
    assert mh.group_comparison(None, design, SETTINGS).entries[0].value == (
        "No group comparison: the CRQ form of KMV has no reportable fit (see above).")
    no_role = mh.design(_study(respondents.drop(columns="role")), 0, SETTINGS)
    assert mh.group_comparison(fit, no_role, SETTINGS).entries[0].value == (
        "No group comparison: the study records no role of its contacts.")
    big = mh.design(_study(respondents, min_cell=5), 0, mh.Settings(min_group_size=150))
    g = mh.group_comparison(fit, big, SETTINGS)
    assert g.entries[-1].value == ("Group comparison skipped: key decision maker (100 complete "
                                   "respondents); each group needs at least 150 (the "
                                   "parameter 'Smallest role group compared').")
    private = mh.design(_study(respondents, min_cell=120), 0, SETTINGS)
    g = mh.group_comparison(fit, private, SETTINGS)
    assert g.entries[-1].value.startswith("Group comparison skipped: key decision maker (size "
                                          "suppressed complete respondents)")
    assert g.sizes["suppressed"].all()  # and its complement with it


def test_group_comparison_guard_and_failure(crq, design, monkeypatch):
    # stand-ins for crqlab.models.sem.compare_groups: refitting three improper multi-group
    # models for real takes half a minute
    fits = pd.DataFrame({"model": ["configural", "base", "constrained"],
                         "proper": [True, False, False], "n": [300] * 3})
    monkeypatch.setattr(sem, "compare_groups",
                        lambda *a, **k: SimpleNamespace(fits=fits, groups=["a", "b"]))
    improper = mh.group_comparison(crq.fits["kmv_crq"], design, SETTINGS)
    assert improper.entries[2] == ("proper.kmv_crq_groups", False, {
        "note": "the base multi-group model is improper; the constrained multi-group model is "
                "improper"})
    caution = improper.notes[0]
    assert isinstance(caution, Caution) and caution.title.startswith("the two-group model (by "
                                                                     "role) did not converge")
    assert improper.summary == [] and improper.paths is None and len(improper.entries) == 3

    def fails(*args, **kwargs):
        raise InsufficientDataError("column 'role_group' has 1 group(s); need 2 (n = 300)")

    monkeypatch.setattr(sem, "compare_groups", fails)
    failed = mh.group_comparison(crq.fits["kmv_crq"], design, SETTINGS)
    assert failed.entries[-1].value == ("The group comparison could not be fitted: column "
                                        "'role_group' has 1 group(s); need 2 (n = 300)")


def test_group_reading_names_the_paths_that_differ():
    comp = SimpleNamespace(groups=["kdm", "other roles"])
    sizes = pd.DataFrame({"group": ["kdm", "other roles"], "n": [120, 1480]})
    diffs = pd.DataFrame({"rhs": ["trust", "commitment"], "lhs": ["commitment", "nps"],
                          "est": [0.31, 0.02], "ci_low": [0.1, -0.2], "ci_high": [0.52, 0.24],
                          "p_value": [0.004, 0.8]})
    test = pd.Series({"stat": 9.123, "df": 2.0, "p_value": 0.0104})
    words = mh._group_reading(comp, diffs, sizes, test, SETTINGS)
    assert words == ("Groups: kdm n = 120, other roles n = 1,480. Holding all 2 paths equal "
                     "across groups worsens the fit significantly (Δχ² = 9.12 on 2 df, "
                     "p = 0.010). Paths whose 95% interval of the difference excludes zero "
                     "(other roles minus kdm, unstandardised): trust → commitment 0.31 [95% CI "
                     "0.10 to 0.52], "
                     "p = 0.004. With 2 paths tested, about 0.1 would differ by chance alone.")
    calm = mh._group_reading(comp, diffs.assign(ci_low=-0.1), sizes,
                             test.replace(0.0104, 0.3), SETTINGS)
    assert calm.endswith("does not clearly worsen the fit (no clear difference as a set) "
                         "(Δχ² = 9.12 on 2 df, p = 0.300). No single path differs: no clear "
                         "difference for each (every 95% interval of a difference holds zero).")


# -- the study's own bias: the confidentiality-controlled fit (issue 16 item 2) ----------------
@pytest.fixture(scope="module")
def inflated():
    """A study whose named answers are inflated most by the less committed (the ``commitment``
    structure of crqlab.synth, the independent simulator of issue 16), and its planted path:
    the correlation of the commitment latent with the honest 0-10 answer over the frame."""
    from crqlab import synth
    from generalisation.coverage import respondents as synthetic_respondents

    study = synth.generate("sample", seed=2, **synth.STRUCTURES["commitment"])
    lat = study.latent[study.latent["wave"] == 3]
    truth = float(np.corrcoef(lat["latent_commitment"], lat["honest_nps"])[0, 1])
    return synthetic_respondents(study), truth


def test_confidential_fit_is_closer_to_the_planted_path_than_the_reported_one(inflated):
    frame, truth = inflated
    settings = mh.Settings(seed=3, n_boot=10, n_draws=500)
    d = mh.design(_study(frame), 0, settings)  # wave 3, all named; wave 4 offers confidentiality
    crq = mh.kmv_crq(d, settings)
    reported = crq.hypotheses["kmv_crq"].set_index(["source", "target"]).loc[("commitment", "nps")]
    c = mh.confidential_fit(crq.hypotheses["kmv_crq"], d, settings)
    row = c.table.set_index(["source", "target"]).loc[("commitment", "nps")]
    assert row["reported_std_all"] == reported["std_all"]
    # planted 0.69: the reported path is flattened by the inflation (0.53); the confidential
    # respondents' path is not, and its interval holds the truth
    assert abs(row["confidential_std_all"] - truth) < abs(reported["std_all"] - truth) - 0.1
    assert row["confidential_ci_low"] <= truth <= row["confidential_ci_high"]
    assert not reported["ci_low"] <= truth <= reported["ci_high"]
    assert row["confidential_n"] == c.fit.n and c.fit.n < len(d.confidential)
    head = [e for e in c.entries if e.options.get("headline")]
    assert [e.name for e in head] == ["path.kmv_crq_confidential.commitment_nps"]
    assert head[0].options["label"] == ("Path commitment → NPS answer, CRQ form of KMV, "
                                        "confidential respondents only")
    words = str(c.notes[-1])
    assert words.startswith("Controlled for the study's own bias. Fitted to the ")
    assert "The reported value lies below the confidential respondents' interval" in words
    assert words.endswith(mh.CONFIDENTIAL_ASSUMPTIONS)


def test_confidential_fit_cannot_run_because(respondents):
    d = mh.design(_study(respondents), 0, SETTINGS)  # no confidential column
    assert mh.confidential_fit(None, d, SETTINGS).entries == [(
        "skipped.kmv_crq_confidential", "No respondent answered confidentially, so the paths "
        "cannot be set beside a fit free of named-answer inflation.", {})]
    few = respondents.assign(confidential=np.arange(len(respondents)) < 40)
    d = mh.design(_study(few), 0, SETTINGS)
    assert mh.confidential_fit(None, d, SETTINGS).entries[0].value == (
        "Too few confidential respondents for the confidentiality-controlled fit: n = 40 "
        "answered every item, at least 60 needed (the parameter 'Smallest role group compared').")


def test_estimator_and_missing_reach_the_fit_and_the_report(design):
    fit = mh.fit_model(design.model, design.data, "KMV", SETTINGS).fit
    assert fit.estimator == "MLR" and fit.missing == "listwise"  # the Likert default
    ml = mh.fit_model(design.model, design.data, "KMV",
                      mh.Settings(**{**SETTINGS.__dict__, "estimator": "ML"})).fit
    np.testing.assert_allclose(fit.parameters["est"], ml.parameters["est"], rtol=1e-6)  # same
    assert not np.allclose(fit.parameters["se"], ml.parameters["se"])  # robust SEs differ
    note = str(mh.estimator_note(SETTINGS))
    assert note.startswith("How the models are estimated. Fitted by maximum likelihood with "
                           "robust standard errors") and "listwise deletion" in note
    assert "full-information" in str(mh.estimator_note(
        mh.Settings(**{**SETTINGS.__dict__, "missing": "fiml"})))


# -- findings (issue 17 item 1) ------------------------------------------------------------------
def test_findings_answer_the_question_with_estimate_interval_and_n(crq, design):
    from crqlab.reports import results

    ind = mh.indirect(crq.fits["kmv_crq"], design, SETTINGS)
    found = mh.findings(crq, ind, mh.Controlled(), SETTINGS)
    assert [f["quantity"] for f in found] == [
        "path.kmv_crq.trust_commitment", "path.kmv_crq.commitment_nps",
        "indirect.service_trust_commitment_nps"]
    assert {f["question"] for f in found} == {mh.QUESTION}
    tc = crq.hypotheses["kmv_crq"].set_index(["source", "target"]).loc[("trust", "commitment")]
    assert found[0]["est"] == tc["std_all"] and found[0]["n"] == 300
    assert found[0]["text"].endswith("trust drives commitment: the claim holds.")  # planted 0.4+
    row = ind.table.iloc[0]
    assert found[2]["ci"] == (row["bootstrap_ci_low"], row["bootstrap_ci_high"])
    rec = results.Recorder(min_cell_size=5)
    for f in found:  # valid findings: evidence present, nothing from the machine room
        rec.finding(**f)
    assert len(rec.as_dict()["findings"]) == 3
    none = mh.findings(mh.Structural("kmv_crq"), mh.Indirect(), mh.Controlled(), SETTINGS)
    assert none[0]["why_not"] == "no reportable fit of the model"


def test_role_invariance_names_the_biased_question_in_words():
    """Planted truth: question 2 of the first element carries a larger weight for the focal
    role (a metric violation); the others measure alike."""
    rng = np.random.default_rng(11)
    n = 500
    group = np.repeat(["key decision maker", "other roles"], n)
    eta = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], 2 * n)
    rows = pd.DataFrame({"role_group": group})
    for j, e in enumerate(("trust", "commitment")):
        for k, lam in enumerate((1.0, 0.8, 0.9), start=1):
            weight = lam + (0.7 if (e, k) == ("trust", 2) else 0.0) * (group == group[0])
            rows[f"{e}_{k}"] = 4 + weight * eta[:, j] + rng.normal(0, 0.5, 2 * n)
    model = SimpleNamespace(syntax="trust =~ trust_1 + trust_2 + trust_3\n"
                                   "commitment =~ commitment_1 + commitment_2 + commitment_3\n"
                                   "commitment ~ trust")
    design = SimpleNamespace(model=model, instrument=SimpleNamespace(label=str.capitalize))
    settings = mh.Settings(estimator="ML")
    sizes = pd.DataFrame({"group": ["key decision maker", "other roles"], "n": [n, n]})
    text, table, entries, notes = mh.role_invariance(rows, design, settings, sizes)
    assert notes == []
    assert text.startswith("Between key decision maker (500) and other roles (500), the "
                           "questions carry equal weights")
    assert "the weight of Trust question 2 may differ" in text
    assert "trust_2" not in text and table["Holds"].iloc[0] == "no"
    assert entries[0].name == "groups.role.invariance_metric_holds" and entries[0].value is True


# -- WLSMV (issue 19): items and retention as ordered categories ---------------------------------
WLSMV = mh.Settings(**{**SETTINGS.__dict__, "estimator": "WLSMV"})


def test_settings_refuse_an_unknown_estimator_and_wlsmv_with_fiml():
    with pytest.raises(mh.ParameterError, match=r"parameter 'estimator' is 'GLS': use one of "
                                                r"'MLR', 'ML', 'WLSMV'"):
        mh.Settings(estimator="GLS")
    with pytest.raises(mh.ParameterError, match="parameter 'missing' is 'pairwise'"):
        mh.Settings(missing="pairwise")
    with pytest.raises(mh.ParameterError, match=r"'estimator' = 'WLSMV' and 'missing' = 'fiml' "
                                                "cannot go together: WLSMV fits no likelihood"):
        mh.Settings(estimator="WLSMV", missing="fiml")
    assert issubclass(mh.ParameterError, CrqlabError)
    assert mh.Settings(estimator="MLR", missing="fiml").missing == "fiml"  # still allowed


@pytest.fixture(scope="module")
def wlsmv_design(respondents) -> mh.Design:
    return mh.design(_study(respondents), 0, WLSMV)


@pytest.fixture(scope="module")
def wlsmv_crq(wlsmv_design) -> mh.Structural:
    return mh.kmv_crq(wlsmv_design, WLSMV)


def test_wlsmv_design_says_which_estimator_and_why(wlsmv_design):
    d = wlsmv_design
    assert d.model.binary == () and d.model.notes == ()  # retention is not a linear probability
    assert mh.ordered_columns(d.model) == [*mh.model_columns(d.model)[:18], mh.RETENTION]
    text = _texts(d.notes)
    assert "With WLSMV it is a 0/1 outcome fitted as two ordered categories" in text[2]
    note = text[5]
    assert note.startswith("How the models are estimated. Fitted by WLSMV, as lavaan's")
    for words in ("polychoric correlations", "diagonally weighted least squares",
                  "robust standard errors", "mean-and-variance adjusted chi-square",
                  "the 0-10 recommendation answer stays continuous", "no AIC or BIC",
                  "no full-information handling", "intervals of indirect effects are Monte "
                  "Carlo only", "listwise deletion"):
        assert words in note, words
    assert "WLSMV" in mh.ESTIMATOR_WHY and set(mh.ESTIMATORS) <= set(mh.ESTIMATOR_WHY)


def test_wlsmv_fit_orders_the_items_and_retention_keeps_the_answer_continuous(wlsmv_crq):
    fit = wlsmv_crq.fits["kmv_crq"]
    assert fit.estimator == "WLSMV" and fit.n == 300
    p = fit.parameters
    thresholds = set(p.loc[p["op"] == "|", "lhs"])
    assert mh.RETENTION in thresholds and "trust_1" in thresholds and "nps" not in thresholds
    assert (p.loc[p["lhs"] == mh.RETENTION, "op"] == "|").sum() == 1  # two categories
    fm = fit.fit_measures  # the report reads the scaled (mean-and-variance adjusted) measures
    for shown, scaled in (("chisq", "chisq_scaled"), ("cfi", "cfi_scaled"),
                          ("rmsea", "rmsea_scaled"), ("p_value", "p_value_scaled")):
        assert fm[shown] == fm[scaled] and np.isfinite(fm[f"{shown}_standard"])
    assert fm["chisq"] != fm["chisq_standard"]
    assert mh.reported_fit(fit) is not fit and mh.reported_fit(
        mh.fit_model(wlsmv_crq.fits["kmv_crq"].model, fit.data, "KMV", SETTINGS).fit).estimator \
        == "MLR"


def test_wlsmv_comparison_has_no_information_criteria_and_says_why(wlsmv_crq):
    names = _names(wlsmv_crq.entries)
    assert not [n for n in names if n.endswith((".aic", ".bic")) or ".delta_" in n]
    chisq = next(e for e in wlsmv_crq.entries if e.name == "fit.kmv_crq.chisq")
    assert chisq.options["note"].startswith("mean-and-variance adjusted (WLSMV)")
    winner = next(e for e in wlsmv_crq.entries if e.name == "model_comparison.kmv_crq.winner")
    assert winner.value == "not compared (WLSMV has no BIC)" and winner.options["headline"]
    assert "aic" not in wlsmv_crq.comparison.index and "bic" not in wlsmv_crq.comparison.index
    assert wlsmv_crq.winner is None
    verdict = _texts(wlsmv_crq.verdict)
    assert verdict[0].startswith("Not ranked by information criteria: WLSMV fits no likelihood")
    assert "hypothesised paths of the KMV model are supported" in verdict[1]
    assert not any("BIC" in line for line in wlsmv_crq.summary)
    choices = wlsmv_crq.choices[0]
    assert "NPS answer stays continuous" in choices and "ordered = c(" not in choices


def test_wlsmv_indirect_effects_are_monte_carlo_only_and_say_why(wlsmv_crq, wlsmv_design):
    ind = mh.indirect(wlsmv_crq.fits["kmv_crq"], wlsmv_design, WLSMV)
    assert "bootstrap_ci_low" not in ind.table and "monte_carlo_ci_low" in ind.table
    assert not [n for n in _names(ind.entries) if n.endswith(".bootstrap")]
    skip = next(e for e in ind.entries if e.name == "skipped.indirect_bootstrap")
    assert skip.value.startswith("no account-cluster bootstrap: its refits are "
                                 "maximum-likelihood fits")
    words = str(ind.notes[0])
    assert "With WLSMV there is no account-cluster bootstrap" in words
    assert ind.summary[0].endswith("(Monte Carlo).")
    found = mh.findings(wlsmv_crq, ind, mh.Controlled(), WLSMV)
    assert "(Monte Carlo interval;" in found[-1]["text"]
    focal = ind.table.iloc[0]
    assert found[-1]["ci"] == (focal["monte_carlo_ci_low"], focal["monte_carlo_ci_high"])


def test_wlsmv_role_comparison_tests_ordinal_invariance_first(wlsmv_crq, wlsmv_design):
    g = mh.group_comparison(wlsmv_crq.fits["kmv_crq"], wlsmv_design, WLSMV)
    inv = next(e for e in g.entries if e.name.startswith("groups.role.invariance"))
    assert inv.name == "groups.role.invariance_scalar_holds"  # thresholds and loadings at once
    assert list(g.invariance_table["Step"])[0] == "equal weights and answer thresholds"
    assert g.invariance.startswith("Between key decision maker (100) and other roles (200), the "
                                   "questions ")
    assert "_" not in g.invariance and inv.value is (g.invariance_table["Holds"].iloc[-1] == "yes")
    assert g.differences is not None  # the paths are then compared (ML, as the note says)


def test_same_categories_merges_answers_a_group_never_gave():
    rows = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4 + [None],
                         "q": [1, 2, 4, 5, 2, 3, 4, 5, 7], "r": [1, 2, 3, 4, 1, 2, 3, 4, np.nan]})
    out, merged = mh.same_categories(rows, ["q", "r"], "g")
    assert merged == ["q"]  # 1 (only a) -> 2, 3 (only b) -> 4 (towards the middle, a tie)
    assert list(out["q"][:8]) == [2, 2, 4, 5, 2, 4, 4, 5] and out["q"].iloc[8] == 7
    assert out["r"].equals(rows["r"])


def test_wlsmv_refuses_observed_predictors_with_a_reason(wlsmv_design):
    syntax = ("commitment =~ commitment_1 + commitment_2 + commitment_3\n"
              "commitment ~ satisfaction_1\nnps ~ commitment")
    model = sem.SemModel("user", syntax, (sem.HypothesisedPath("satisfaction_1", "commitment"),
                                          sem.HypothesisedPath("commitment", "nps")),
                         {"commitment": ("commitment_1", "commitment_2", "commitment_3")})
    out = mh.fit_model(model, wlsmv_design.data, "user model", WLSMV)
    assert out.fit is None and out.entries[0].name == "skipped.user"
    assert out.entries[0].value == (
        "The user model is not estimated with WLSMV: a single observed answer acts on another "
        "variable (satisfaction 1 → commitment), and WLSMV here takes no observed predictors; "
        "the estimator MLR fits this model.")
    assert mh.wlsmv_refusal(wlsmv_design.model) is None


def test_modelling_choices_are_worded_without_code_names():
    note = ("free residual covariances among terminal endogenous variables, as lavaan's sem() "
            "(auto.cov.y): acquiescence ~~ propensity_to_leave, nps ~~ retained_next_wave")
    assert mh._choice_words(note) == (
        "the outcomes' residuals correlate freely, as lavaan's sem() lets them: acquiescence "
        "with propensity to leave; NPS answer with retention")
    assert mh._choice_words("continuous variables (means ... as lavaan's ordered = c(...)): "
                            "nps") == ("NPS answer stays continuous (its mean, variance and "
                                       "polyserial correlations with the ordered answers enter "
                                       "the fit; its residual variance is free), while every "
                                       "other answer is an ordered category")
    assert mh._choice_words("12 item pair(s) have empty cells in their contingency table "
                            "(kept as lavaan does)").startswith("12 pairs of answers have")
    assert mh._choice_words("anything else") == "anything else"
