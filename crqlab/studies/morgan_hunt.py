"""The Morgan-Hunt study (notebook ``10_morgan_hunt``): trust and commitment as key mediators.

Morgan & Hunt (1994, *Journal of Marketing* 58(3)) put trust and commitment between what a
supplier does and what the customer does next (the key mediating variable, KMV, model) and
preferred it to a rival without mediation. The notebook asks the same of a study, in steps:

1. :func:`design` - which wave(s) and respondents, which models the data allow, and why not;
2. :func:`measurements` - the CFA of each instrument: convergent and discriminant validity;
3. :func:`kmv_crq` - the CRQ form of KMV and its rival: fit, guard, compare, paths;
4. :func:`indirect` - indirect effects, Monte Carlo and account-cluster bootstrap intervals;
5. :func:`group_comparison` - key decision makers (``focal_role``) against other contacts;
6. :func:`kmv_classic` - Morgan & Hunt's original model, when the study has their battery.

Each step returns a small dataclass: the tables to show, ``notes`` (plain-text wording and
warnings, :mod:`crqlab.formatting`), ``entries`` for results.json - :class:`Entry` tuples
in the order they are recorded (``crqlab.reports.results.record_all``) - and
``summary`` lines. Nothing here displays or writes anything. A fit that did not converge, or
converged to an improper solution, gives a :class:`~crqlab.formatting.Caution` and records
its verdict only, never its numbers.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from crqlab.data.privacy import suppress_small
from crqlab.errors import ConvergenceError, CrqlabError, InstrumentError, InsufficientDataError
from crqlab.formatting import (
    NO_CLEAR_DIFFERENCE,
    Caution,
    Finding,
    claim_words,
    difference_words,
    format_ci_text,
    format_fixed,
    format_p_text,
    is_clear,
    text,
)
from crqlab.models import sem, validity
from crqlab.models.invariance import item_names, measurement_invariance, plain_summary

__all__ = ["RETENTION", "CONTINUOUS", "ESTIMATORS", "MISSING", "MODEL_TITLES",
           "CONFIDENTIAL_ASSUMPTIONS", "NOT_ESTIMABLE", "USUAL_CAUSES", "LOADING_MIN",
           "CR_MIN", "AVE_MIN",
           "HTMT_MAX", "CFI_MIN", "TLI_MIN", "RMSEA_MAX", "SRMR_MAX", "WaveError",
           "ParameterError", "Entry",
           "Settings", "Design", "FitOutcome", "Measurement", "Paths", "Structural",
           "Indirect", "Groups", "Controlled", "ESTIMATOR_WHY", "estimator_note",
           "confidential_fit", "QUESTION", "findings", "arrow", "node_labels", "choose_waves",
           "describe_waves",
           "design", "model_columns", "complete", "ordered_columns", "wlsmv_refusal",
           "reported_fit", "fit_model", "fit_entries", "measurement",
           "measurements", "standardised_paths", "path_entries", "path_claims", "path_reading",
           "compare", "same_label",
           "structural", "kmv_crq", "kmv_classic", "indirect", "role_groups",
           "same_categories", "group_comparison"]

#: The retention outcome: whether the account was still a customer at the next wave.
RETENTION = "retained_next_wave"
#: Observed variables that stay continuous under WLSMV: the 0-10 recommendation answer (11
#: points, read as a measurement); every other variable of the models is ordinal then.
CONTINUOUS = ("nps",)
#: The notebook's estimators and missing-data handlings (the ``estimator`` and ``missing``
#: parameters).
ESTIMATORS = ("MLR", "ML", "WLSMV")
MISSING = ("listwise", "fiml")
#: Errors that mean "this model cannot be estimated on these data" (said, not raised).
NOT_ESTIMABLE = (InsufficientDataError, ConvergenceError, InstrumentError)
#: The closing note of every warning about an improper fit.
USUAL_CAUSES = ("Usual causes: too few respondents for the number of parameters, items that "
                "hardly correlate with their construct, or two constructs that are empirically "
                "the same. These estimates are not findings and are not recorded.")
# Conventional cut-offs, stated as conventions (not tests): Hair et al. (2010) loadings;
# Fornell & Larcker (1981) CR and AVE; Henseler, Ringle & Sarstedt (2015) HTMT;
# Hu & Bentler (1999) fit indices.
LOADING_MIN, CR_MIN, AVE_MIN, HTMT_MAX = 0.7, 0.7, 0.5, 0.85
CFI_MIN, TLI_MIN, RMSEA_MAX, SRMR_MAX = 0.95, 0.95, 0.06, 0.08
_NAMES = {"nps": "NPS answer", RETENTION: "retention"}
#: The models as a reader names them (never their identifiers).
MODEL_TITLES = {"kmv_crq": "CRQ form of KMV", "kmv_crq_rival": "rival of the CRQ form of KMV",
                "kmv_crq_confidential": "CRQ form of KMV, confidential respondents only",
                "kmv_classic": "Morgan & Hunt's KMV model",
                "kmv_classic_rival": "rival of Morgan & Hunt's KMV model"}
_PATH_COLUMNS = ["source", "target", "sign", "std_all", "ci_low", "ci_high", "est", "se",
                 "p_value", "supported", "n"]


class WaveError(CrqlabError, ValueError):
    """The ``wave`` parameter names no wave of the study."""


class ParameterError(CrqlabError, ValueError):
    """The notebook's parameters name no option, or options that cannot go together."""


class Entry(NamedTuple):
    """One result for results.json: ``record(name, value, **options)``, or
    ``record_table(name, value, **options)`` when ``value`` is a DataFrame."""

    name: str
    value: Any
    options: Mapping[str, Any] = MappingProxyType({})


def _entry(name: str, value: Any, **options: Any) -> Entry:
    return Entry(name, value, MappingProxyType(options))


def _skip(section: str, template: str, **values: Any) -> tuple[Entry, Finding]:
    """Why a section cannot run: the reason recorded as ``skipped.<section>`` (no numbers)
    and shown as "Not estimated." with it."""
    reason = text(template, **values)
    return _entry(f"skipped.{section}", str(reason)), Finding("Not estimated.", reason)


@dataclass(frozen=True)
class Settings:
    """The notebook's parameters that shape the analysis (same names, same defaults);
    an unknown estimator or missing-data handling, or WLSMV with FIML, is a
    :class:`ParameterError` when they are read."""

    seed: int = 2023
    ci: float = 0.95
    alpha: float = 0.05
    n_boot: int = 200
    n_draws: int = 2000
    min_n: int = 200
    min_group_size: int = 100
    focal_role: str = "key decision maker"
    std_limit: float = 1.0
    estimator: str = "MLR"
    missing: str = "listwise"
    max_free: int = 3

    def __post_init__(self) -> None:
        """Refuse an estimator or missing-data handling the study does not offer, and WLSMV
        with FIML (:class:`ParameterError`, naming the parameters)."""
        if self.estimator not in ESTIMATORS:
            raise ParameterError(f"parameter 'estimator' is {self.estimator!r}: use one of "
                                 f"{', '.join(map(repr, ESTIMATORS))}")
        if self.missing not in MISSING:
            raise ParameterError(f"parameter 'missing' is {self.missing!r}: use one of "
                                 f"{', '.join(map(repr, MISSING))}")
        if self.estimator == "WLSMV" and self.missing != "listwise":
            raise ParameterError("parameters 'estimator' = 'WLSMV' and 'missing' = 'fiml' "
                                 "cannot go together: WLSMV fits no likelihood, so there is no "
                                 "full-information (FIML) version of it; set missing to "
                                 "'listwise' (complete answers), or use estimator 'MLR' with "
                                 "'fiml'")

    @property
    def level(self) -> str:
        """The interval level as text: ``"95%"``."""
        return f"{100 * self.ci:g}%"

    def interval(self, est: Any, low: Any, high: Any, digits: int = 2) -> str:
        """``"0.45 [95% CI 0.38 to 0.52]"`` at this level."""
        return format_ci_text(est, low, high, ci=self.ci, digits=digits)


def arrow(*names: str) -> str:
    """A chain of variables in words: ``arrow("commitment", "nps")`` is
    ``"commitment → NPS answer"``."""
    return " → ".join(_NAMES.get(str(n), str(n).replace("_", " ")) for n in names)


def node_labels(instrument) -> dict[str, str]:
    """Display names of a path diagram's nodes: the instrument's element labels, the 0-10
    answer and retention."""
    labels = {e: instrument.label(e) for e in instrument.elements}
    labels.update({"nps": "NPS answer (0-10)", RETENTION: "retained next wave (0/1)"})
    return labels


# ------------------------------------------------------------------------------------------
# 1. Design: which wave, which respondents, which models
# ------------------------------------------------------------------------------------------

def choose_waves(waves: list[int], retention_waves: list[int], wave: int) -> list[int]:
    """The waves to fit: ``wave`` itself, ``0`` for the latest wave with retention observed
    (the latest wave when none is), ``-1`` for all waves pooled.

    Raises
    ------
    WaveError
        ``wave`` is none of these.
    """
    if wave == -1:
        return list(waves)
    if wave == 0:
        return [retention_waves[-1] if retention_waves else waves[-1]]
    if wave in waves:
        return [wave]
    raise WaveError(f"wave {wave} is not in this study (waves {waves}); use 0 for the latest "
                    "wave with retention observed or -1 to pool all waves")


def describe_waves(waves: list[int], label) -> str:
    """``"wave 3 (2023)"`` or ``"waves 1 (2021), 2 (2022) pooled"``; ``label(w)`` names a wave."""
    if len(waves) == 1:
        return f"wave {waves[0]} ({label(waves[0])})"
    return "waves " + ", ".join(f"{w} ({label(w)})" for w in waves) + " pooled"


def model_columns(model: sem.SemModel) -> list[str]:
    """Observed columns a model uses (indicators, then observed structural variables)."""
    items = [i for its in model.indicators.values() for i in its]
    return items + [v for v in model.nodes if v not in model.indicators and v not in items]


def complete(model: sem.SemModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows complete on a model's columns (listwise deletion, as the fit does), and the
    model's columns the frame lacks (no rows then)."""
    cols = model_columns(model)
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        return frame.iloc[0:0], absent
    return frame[frame[cols].notna().all(axis=1)], []


@dataclass
class Design:
    """What the data allow: the respondents to fit, the models, and why a model cannot run.

    Attributes
    ----------
    fit_waves, wave_text : the waves fitted, in words (``"wave 2 (2022)"``).
    data : respondents of those waves (no names or e-mails).
    with_retention : whether retention is observed there (and in the models).
    model, rival : the CRQ form of KMV and its rival (None when the instrument cannot make it).
    instrument, battery : the CRQ instrument; the Morgan-Hunt battery (``kmv``) or None.
    battery_missing : battery items the responses lack.
    min_cell, min_group : the study's minimum cell size; the smallest group fitted.
    confidential : respondents of every wave who answered confidentially (None without the
        ``confidential`` column), for the confidentiality-controlled fit.
    wave_label : names a wave (``wave_label(3)`` is ``"2022"``).
    can_fit : whether the CRQ structural models can be fitted at all.
    notes, entries : what the data section says and records.
    """

    fit_waves: list[int]
    wave_text: str
    data: pd.DataFrame
    with_retention: bool
    model: sem.SemModel | None
    rival: sem.SemModel | None
    instrument: Any
    battery: Any
    battery_missing: list[str]
    min_cell: int
    min_group: int
    can_fit: bool = False
    confidential: pd.DataFrame | None = None
    wave_label: Any = str
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)

    @property
    def have_battery(self) -> bool:
        """The study declares the Morgan-Hunt battery and the responses hold every item."""
        return self.battery is not None and not self.battery_missing


def _crq_models(instrument, with_retention: bool, estimator: str = "MLR"):
    """The CRQ form of KMV and its rival, or the reason the instrument cannot make them.
    Under WLSMV retention is an ordered (binary) outcome, not a continuous one."""
    outcomes = ("nps", RETENTION) if with_retention else ("nps",)
    binary = () if estimator == "WLSMV" else (RETENTION,)
    try:
        model = sem.kmv_crq_model(instrument, outcomes=outcomes, binary=binary)
        return model, sem.rival_model(model), None
    except InstrumentError as exc:  # an instrument without the service/uniqueness levels
        return None, None, str(exc)


def design(study, wave: int, settings: Settings) -> Design:
    """Choose the respondents and models of the study; say what the data allow.

    Parameters
    ----------
    study : crqlab.data.study.Study
        (Anything with ``respondents()``, ``instrument``, ``batteries``, ``wave_label`` and
        ``min_cell_size``.)
    wave : int
        The notebook's ``wave`` parameter (see :func:`choose_waves`).
    settings : Settings

    Returns
    -------
    Design

    Notes
    -----
    The rules are the notebook's: tested in ``tests/studies/test_morgan_hunt.py`` on hand-made
    frames (default wave, pooled waves, no retention, too few respondents, absent columns).
    """
    respondents = study.respondents()  # no names or e-mails
    waves = sorted(int(w) for w in respondents["wave"].dropna().unique())
    has_retention = RETENTION in respondents.columns
    retention_waves = (sorted(int(w) for w in respondents.loc[respondents[RETENTION].notna(),
                                                               "wave"].unique())
                       if has_retention else [])
    chosen = choose_waves(waves, retention_waves, wave)
    data = respondents[respondents["wave"].isin(chosen)].copy()
    with_retention = has_retention and bool(data[RETENTION].notna().any())
    model, rival, error = _crq_models(study.instrument, with_retention, settings.estimator)
    battery = study.batteries.get("kmv")
    min_cell = study.min_cell_size
    out = Design(chosen, describe_waves(chosen, study.wave_label), data, with_retention, model,
                 rival, study.instrument, battery,
                 [] if battery is None else [i for i in battery.items if i not in data.columns],
                 min_cell, max(int(settings.min_group_size), min_cell))
    out.wave_label = study.wave_label
    if "confidential" in respondents.columns:
        flag = respondents["confidential"].map(lambda v: bool(v) if pd.notna(v) else False)
        out.confidential = respondents[flag.astype(bool)].copy()
    out.notes.append(Finding(f"{len(data):,} responses", f"from {data['account_id'].nunique():,} "
                             f"accounts in {out.wave_text}."))
    out.notes += _wave_notes(wave)
    _retention_notes(out, has_retention, settings)
    _sample_notes(out, error, settings)
    out.notes.append("The study has the Morgan-Hunt battery: the original KMV model is fitted "
                     "below." if out.have_battery else "The study has no Morgan-Hunt battery, "
                     "so only the CRQ form of KMV is fitted.")
    out.notes.append(estimator_note(settings))
    return out


def _wave_notes(wave: int) -> list:
    if wave == 0:
        return [Finding("Which wave, and why.", text(
            "By default the models are fitted to the latest wave whose accounts have a known "
            "retention outcome ('Retained next wave': whether the account was still a customer "
            "at the next wave). That wave has one answer per contact, so respondents are "
            "independent apart from sharing accounts (which the account-cluster bootstrap "
            "respects), and it is the newest wave in which commitment can be checked against "
            "what customers then did. Pooling waves (the 'Wave analysed' parameter at -1) gives "
            "more respondents but "
            "counts returning contacts several times and mixes waves whose means drift; the "
            "later wave without a retention outcome would drop out of any model with retention "
            "anyway."))]
    if wave == -1:
        return [Finding("Pooled waves.", "Returning contacts answer several times and wave means "
                        "drift, so the Wald and Monte Carlo intervals (which treat rows as "
                        "independent) are too narrow; the account-cluster bootstrap resamples "
                        "whole accounts with all their waves and is the honest interval. "
                        "Respondents without a retention outcome (the last wave) drop out of "
                        "models with it.")]
    return []


def _retention_notes(out: Design, has_retention: bool, settings: Settings) -> None:
    if out.with_retention and settings.estimator == "WLSMV":
        out.notes.append(text(
            "Retention ('Retained next wave') is known for {known:,} of these responses. With "
            "WLSMV it is a 0/1 outcome fitted as two ordered categories (a probit path on the "
            "propensity to stay): its standardised path is on the scale of that propensity, "
            "not a difference in retention probability.",
            known=int(out.data[RETENTION].notna().sum())))
    elif out.with_retention:
        out.notes.append(text(
            "Retention ('Retained next wave') is known for {known:,} of these responses. It is "
            "a 0/1 outcome fitted like a continuous variable (a linear probability path): its "
            "path is a difference in retention probability, its standard error approximate.",
            known=int(out.data[RETENTION].notna().sum())))
    elif has_retention:
        out.notes.append(Finding(f"No retention outcome in {out.wave_text}", text(
            "('Retained next wave' is empty: the next wave has not happened yet). The models "
            "are fitted without it; commitment drives the NPS answer only.")))
        out.entries.append(_entry("skipped.retention",
                                  f"no retention outcome observed in {out.wave_text}"))
    else:
        out.notes.append(Finding("No retention outcome.", text(
            "The accounts table has no 'Retained next wave' column, so the models are fitted "
            "without it; commitment drives the NPS answer only.")))
        out.entries.append(_entry("skipped.retention",
                                  "the study has no 'Retained next wave' column"))


def _sample_notes(out: Design, error: str | None, settings: Settings) -> None:
    """Whether the CRQ models can be fitted: n complete respondents against ``min_n``."""
    if error:
        skip = _skip("kmv_crq", "The CRQ form of KMV cannot be built from instrument {name!r}: "
                     "{error}", name=out.instrument.name, error=error)
    else:
        rows, absent = complete(out.model, out.data)
        n, k = len(rows), rows["account_id"].nunique()
        out.entries.append(_entry("sample.kmv_crq", n, n=n, n_accounts=k,
                                  label="complete respondents, CRQ model"))
        if absent:
            skip = _skip("kmv_crq", "The data lack the model's columns {absent}.", absent=absent)
        elif n < settings.min_n:
            skip = _skip("kmv_crq", "Too few respondents for structural equation modelling: "
                         "n = {n_complete} complete respondents in {wave_text}, and these models "
                         "need at least {min_n} (the parameter 'Fewest respondents for a "
                         "model'; a common rule of thumb). Fit a larger wave, or pool waves (the "
                         "'Wave analysed' parameter at -1).", n_complete=n,
                         wave_text=out.wave_text, min_n=settings.min_n)
        else:
            out.can_fit = True
            out.notes.append(f"{n:,} respondents in {k:,} accounts answered every item of the "
                             f"CRQ model ({len(out.data) - n:,} left out for a missing answer).")
            return
    out.entries.append(skip[0])
    out.notes.append(skip[1])


# ------------------------------------------------------------------------------------------
# Fitting with the convergence guard
# ------------------------------------------------------------------------------------------

#: Why each estimator and missing-data choice, in words (the report states the one it used).
ESTIMATOR_WHY = {
    "MLR": "maximum likelihood with robust standard errors and the Yuan-Bentler scaled "
           "chi-square (MLR, as lavaan's estimator of that name): survey answers on a 1-7 scale "
           "are skewed and bounded, and MLR keeps the ML estimates while correcting their "
           "standard errors and the fit test for that; it is the default for Likert data",
    "ML": "plain maximum likelihood (ML), which assumes normally distributed answers: its "
          "standard errors and chi-square are too optimistic for skewed 1-7 answers (MLR "
          "corrects them)",
    "WLSMV": "WLSMV, as lavaan's estimator of that name: each 1-7 answer (and retention, "
             "stayed or left) is an ordered category of an underlying normal response, so the "
             "models fit the polychoric correlations of those responses by diagonally weighted "
             "least squares, with robust standard errors and the mean-and-variance adjusted "
             "chi-square (the fit measures shown are its scaled CFI, TLI and RMSEA); the 0-10 "
             "recommendation answer stays continuous (its eleven points are read as a "
             "measurement). WLSMV fits no likelihood, so there is no AIC or BIC to rank the "
             "models, no full-information handling of missing answers, and no account-cluster "
             "bootstrap (its refits are maximum-likelihood ones): intervals of indirect effects "
             "are Monte Carlo only",
    "listwise": "respondents with a missing answer on a model's items are left out of that "
                "model (listwise deletion); the account-cluster bootstrap needs complete rows",
    "fiml": "every respondent contributes the answers they gave (full-information maximum "
            "likelihood, valid when answers are missing at random given the observed ones); "
            "the account-cluster bootstrap needs complete rows, so the indirect effects have "
            "Monte Carlo intervals only",
}


def estimator_note(settings: Settings) -> Finding:
    """Which estimator and missing-data handling the fits use, and why (a report's note)."""
    if settings.estimator == "WLSMV":
        return Finding("How the models are estimated.",
                       "Fitted by " + ESTIMATOR_WHY["WLSMV"] + ". Respondents with a missing "
                       "answer on a model's items are left out of that model (listwise "
                       "deletion). The role comparison tests the questions (measurement "
                       "invariance) by WLSMV too; its comparison of paths uses plain ML on "
                       "complete answers, with retention as a linear probability path (WLSMV "
                       "across groups covers measurement models only).")
    return Finding("How the models are estimated.",
                   "Fitted by " + ESTIMATOR_WHY[settings.estimator] + "; "
                   + ESTIMATOR_WHY[settings.missing] + ". The role comparison's multi-group "
                   "tests use plain ML on complete answers.")


@dataclass
class FitOutcome:
    """A fit that may be reported (``fit``), or None with the reason in ``notes``."""

    fit: sem.SemFit | None
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)


def _guard(name: str, what: str, proper: bool, reasons, fit=None) -> FitOutcome:
    """The convergence guard: only the verdict is recorded; an improper fit is a warning."""
    entries = [_entry(f"proper.{name}", bool(proper), note="; ".join(reasons) or None)]
    if proper:
        return FitOutcome(fit, [], entries)
    caution = Caution(f"the {what} did not converge to a proper solution, so its estimates "
                      "are not reported.", tuple(reasons), USUAL_CAUSES)
    return FitOutcome(None, [caution], entries)


def ordered_columns(model: sem.SemModel) -> list[str]:
    """The model's columns that WLSMV treats as ordered categories: every item and observed
    outcome (retention: two categories) except the :data:`CONTINUOUS` ones (the 0-10
    answer)."""
    return [c for c in model_columns(model) if c not in CONTINUOUS]


def wlsmv_refusal(model: sem.SemModel) -> str | None:
    """Why WLSMV cannot fit ``model``, in words, or None: an observed variable acting on
    another (a single-question element, or an observed answer, as a predictor) is a covariate,
    which crqlab's WLSMV does not take (lavaan's ``conditional.x``)."""
    observed = [p for p in model.paths if p.source not in model.indicators]
    if not observed:
        return None
    which = "; ".join(dict.fromkeys(arrow(p.source, p.target) for p in observed))
    return (f"a single observed answer acts on another variable ({which}), and WLSMV here "
            "takes no observed predictors; the estimator MLR fits this model")


#: The measures reported under WLSMV: the mean-and-variance adjusted (scaled) ones, in the
#: places of the standard ones (lavaan's "Scaled" column; the robust ones are not defined
#: with the continuous 0-10 answer).
_WLSMV_REPORTED = {"chisq": "chisq_scaled", "p_value": "p_value_scaled", "cfi": "cfi_scaled",
                   "tli": "tli_scaled", "rmsea": "rmsea_scaled",
                   "rmsea_ci_low": "rmsea_ci_low_scaled", "rmsea_ci_high": "rmsea_ci_high_scaled"}


def reported_fit(fit: sem.SemFit) -> sem.SemFit:
    """The fit as the report reads it: a WLSMV fit's chi-square, p-value, CFI, TLI and RMSEA
    (with its interval) are the scaled ones (the standard ones kept as ``<name>_standard``);
    ML and MLR fits are returned unchanged."""
    if fit.estimator != "WLSMV":
        return fit
    fm = fit.fit_measures.copy()
    for shown, scaled in _WLSMV_REPORTED.items():
        fm[f"{shown}_standard"] = fm[shown]
        fm[shown] = fm[scaled]
    return dataclasses.replace(fit, fit_measures=fm)


def fit_model(model: sem.SemModel, frame: pd.DataFrame, what: str,
              settings: Settings) -> FitOutcome:
    """Fit ``model`` (``settings.estimator`` and ``settings.missing``, guard set to flag) and
    apply the guard.

    Under WLSMV the items and retention are ordered (:func:`ordered_columns`), the 0-10
    answer continuous; a model with observed predictors is not estimated, with the reason
    (:func:`wlsmv_refusal`); the fit is :func:`reported_fit`.

    Notes
    -----
    The fit is :func:`crqlab.models.sem.fit_sem` (validated against lavaan in
    ``tests/models/test_sem.py``; WLSMV with ordinal and continuous variables in
    ``tests/models/test_ordinal.py``); a model that cannot be estimated is skipped with its
    reason.
    """
    wlsmv = settings.estimator == "WLSMV"
    refusal = wlsmv_refusal(model) if wlsmv else None
    if refusal:
        entry, note = _skip(model.name, "The {what} is not estimated with WLSMV: {why}.",
                            what=what, why=refusal)
        return FitOutcome(None, [note], [entry])
    try:
        fit = sem.fit_sem(model, frame, on_improper="flag", ci=settings.ci, seed=settings.seed,
                          std_limit=settings.std_limit, estimator=settings.estimator,
                          missing=settings.missing,
                          **({"ordered": ordered_columns(model)} if wlsmv else {}))
    except NOT_ESTIMABLE as exc:
        entry, note = _skip(model.name, "The {what} could not be fitted: {exc}", what=what,
                            exc=exc)
        return FitOutcome(None, [note], [entry])
    return _guard(model.name, what, fit.proper, fit.reasons, reported_fit(fit))


def _chisq_note(fit: sem.SemFit) -> dict:
    """The chi-square entry's note under WLSMV (none otherwise)."""
    if fit.estimator != "WLSMV":
        return {}
    return {"note": "mean-and-variance adjusted (WLSMV); CFI, TLI and RMSEA scaled likewise"}


def fit_entries(fit: sem.SemFit, headline: bool = False) -> list[Entry]:
    """Fit measures and R² of the outcomes; ``headline`` marks CFI and RMSEA (CRQ form)."""
    fm, name = fit.fit_measures, fit.model.name
    entries = [_entry(f"fit.{name}.chisq", fm["chisq"], stat=fm["chisq"], df=fm["df"],
                      p_value=fm["p_value"], n=fit.n, **_chisq_note(fit))]
    # WLSMV fits no likelihood: no AIC or BIC (the comparison says so)
    for m in ("cfi", "tli", "srmr") + (() if fit.estimator == "WLSMV" else ("aic", "bic")):
        entries.append(_entry(f"fit.{name}.{m}", fm[m], n=fit.n, headline=headline and m == "cfi",
                              label=f"{m.upper()}, CRQ form of KMV" if headline else None))
    entries.append(_entry(f"fit.{name}.rmsea", fm["rmsea"],
                          ci=(fm["rmsea_ci_low"], fm["rmsea_ci_high"]), n=fit.n,
                          note="90% interval (lavaan)", headline=headline,
                          label="RMSEA, CRQ form of KMV" if headline else None))
    r2 = fit.r_squared[fit.r_squared["variable"].isin(fit.model.outcomes)]
    entries += [_entry(f"r2.{name}.{r.variable}", r.r2, n=fit.n) for r in r2.itertuples()]
    return entries


# ------------------------------------------------------------------------------------------
# 2. Measurement model
# ------------------------------------------------------------------------------------------

@dataclass
class Measurement:
    """The CFA of one instrument and its convergent and discriminant validity.

    ``htmt`` (``latent_a, latent_b, htmt, ci_low, ci_high, n``) may exist without ``fit``: it
    uses the item correlations only. ``reliability``, ``correlations`` (latent correlations
    with √AVE on the diagonal), ``loadings`` and ``text`` exist when the fit is reportable.
    """

    title: str
    key: str
    fit: sem.SemFit | None = None
    htmt: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    correlations: pd.DataFrame | None = None
    loadings: pd.DataFrame | None = None
    text: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    summary: list = field(default_factory=list)


def _htmt(rows: pd.DataFrame, model: sem.SemModel, settings: Settings):
    """HTMT with account-cluster bootstrap intervals, or None and why not."""
    try:
        ht = validity.htmt(rows, model, n_boot=settings.n_boot, cluster="account_id",
                           ci=settings.ci, seed=settings.seed)
    except NOT_ESTIMABLE as exc:
        return None, [f"HTMT not estimated: {exc}"]
    if ht["htmt"].isna().any():
        return None, [f"HTMT not estimated: an item has no variance among the {len(rows)} "
                      "respondents."]
    return ht, []


def measurement(instrument, key: str, title: str, data: pd.DataFrame,
                settings: Settings) -> Measurement:
    """CFA, loadings, CR/AVE, Fornell-Larcker and HTMT of one instrument.

    Notes
    -----
    Loadings, CR, AVE, Fornell-Larcker and HTMT are :mod:`crqlab.models.validity`'s
    (validated against lavaan and R on HolzingerSwineford1939); the verdicts apply the
    conventions ``LOADING_MIN``, ``CR_MIN``, ``AVE_MIN`` and ``HTMT_MAX``.
    """
    model = validity.cfa_model(instrument)
    rows, absent = complete(model, data)
    out = Measurement(title, key)
    if absent or len(rows) < settings.min_n:
        entry, note = _skip(f"{key}_cfa", "Too few respondents for the measurement model of the "
                            "{title}: n = {n} answered every item, and a CFA needs at least "
                            "{min_n} (the parameter 'Fewest respondents for a model'){lack}.",
                            title=title, n=len(rows),
                            min_n=settings.min_n,
                            lack=f"; the data lack the columns {absent}" if absent else "")
        out.entries, out.notes = [entry], [note]
        return out
    ht, out.notes = _htmt(rows, model, settings)
    outcome = fit_model(model, rows if settings.missing == "listwise" else data,
                        f"{title} CFA", settings)
    out.fit, out.notes, out.entries = outcome.fit, out.notes + outcome.notes, outcome.entries
    if ht is not None:
        out.htmt = ht[["latent_a", "latent_b", "htmt", "ci_low", "ci_high", "n"]]
        worst = ht.loc[ht["htmt"].idxmax()]
        out.entries.append(_entry(f"validity.{key}.max_htmt", worst["htmt"],
                                  ci=(worst["ci_low"], worst["ci_high"]), n=int(worst["n"]),
                                  n_accounts=rows["account_id"].nunique(),
                                  note=f"{worst['latent_a']} and {worst['latent_b']}; "
                                       "account-cluster bootstrap"))
    if out.fit is not None:
        _validity(out, ht, settings)
    return out


class _Verdicts(NamedTuple):
    weak_items: list
    doubtful: list       # constructs with CR or AVE below the conventions
    fl_fail: pd.DataFrame
    ht_fail: pd.DataFrame | None
    ht_unsure: pd.DataFrame | None

    @property
    def convergent(self) -> bool:
        return not self.doubtful

    @property
    def discriminant(self) -> bool:
        return self.fl_fail.empty and (self.ht_fail is None or self.ht_fail.empty)


def _verdicts(loads, rel, fl, ht) -> _Verdicts:
    bad = (rel.loc[rel["cr"] < CR_MIN, "latent"].tolist()
           + rel.loc[rel["ave"] < AVE_MIN, "latent"].tolist())
    return _Verdicts(
        loads.loc[loads["std_all"] < LOADING_MIN, "item"].tolist(), bad, fl.loc[~fl["passes"]],
        None if ht is None else ht.loc[ht["htmt"] >= HTMT_MAX],
        None if ht is None else ht.loc[(ht["htmt"] < HTMT_MAX) & (ht["ci_high"] >= HTMT_MAX)])


def _validity(out: Measurement, ht: pd.DataFrame | None, settings: Settings) -> None:
    """Record and word the validity of a reportable CFA; the tables to show."""
    fit, key = out.fit, out.key
    fm, name = fit.fit_measures, fit.model.name
    out.entries += [_entry(f"fit.{name}.{m}", fm[m], n=fit.n) for m in ("cfi", "tli", "srmr")]
    out.entries += [
        _entry(f"fit.{name}.rmsea", fm["rmsea"], ci=(fm["rmsea_ci_low"], fm["rmsea_ci_high"]),
               n=fit.n, note="90% interval (lavaan)"),
        _entry(f"fit.{name}.chisq", fm["chisq"], stat=fm["chisq"], df=fm["df"],
               p_value=fm["p_value"], n=fit.n, **_chisq_note(fit))]
    loads, rel = validity.standardized_loadings(fit), validity.composite_reliability(fit)
    summ = validity.validity_summary(fit)
    if ht is not None:
        both = pd.concat([ht[["latent_a", "htmt"]].set_axis(["latent", "htmt"], axis=1),
                          ht[["latent_b", "htmt"]].set_axis(["latent", "htmt"], axis=1)])
        summ["max_htmt"] = summ["latent"].map(both.groupby("latent")["htmt"].max())
    summ["n"] = fit.n
    v = _verdicts(loads, rel, validity.fornell_larcker(fit), ht)
    out.entries += [
        _entry(f"validity.{key}", summ),
        _entry(f"validity.{key}.min_loading", loads["std_all"].min(), n=fit.n),
        _entry(f"validity.{key}.min_cr", rel["cr"].min(), n=fit.n),
        _entry(f"validity.{key}.min_ave", rel["ave"].min(), n=fit.n),
        _entry(f"validity.{key}.convergent", v.convergent,
               note="CR >= 0.7 and AVE >= 0.5 for every construct"),
        _entry(f"validity.{key}.discriminant", v.discriminant,
               note="Fornell-Larcker for every pair and HTMT < 0.85")]
    out.text = _validity_text(fit, loads, rel, ht, v, settings)
    out.summary = [f"{out.title}: convergent validity "
                   f"{'holds' if v.convergent else 'is in doubt'}, discriminant validity "
                   f"{'holds' if v.discriminant else 'is in doubt'}."]
    out.reliability = rel[["latent", "n_items", "cr", "ave", "sqrt_ave", "min_loading",
                           "max_loading"]].assign(n=fit.n)
    out.correlations = validity.latent_correlations(fit).round(3)
    for lat, root in zip(rel["latent"], rel["sqrt_ave"]):
        out.correlations.loc[lat, lat] = round(root, 3)
    out.loadings = loads[["latent", "item", "std_all", "est", "se", "p_value"]].assign(n=fit.n)


def _validity_text(fit, loads, rel, ht, v: _Verdicts, settings: Settings) -> list:
    fm, num = fit.fit_measures, format_fixed
    parts = [
        f"CFA of {len(rel)} constructs on {fit.n:,} respondents: CFI {num(fm['cfi'], 3)}, RMSEA "
        f"{num(fm['rmsea'], 3)} (90% CI {num(fm['rmsea_ci_low'], 3)} to "
        f"{num(fm['rmsea_ci_high'], 3)}), SRMR {num(fm['srmr'], 3)}.",
        f"Standardised loadings range from {num(loads['std_all'].min())} to "
        f"{num(loads['std_all'].max())}" + (f"; below {LOADING_MIN}: {', '.join(v.weak_items)}."
                                            if v.weak_items else f", all at least {LOADING_MIN}."),
        f"CR ranges from {num(rel['cr'].min())} to {num(rel['cr'].max())} and AVE from "
        f"{num(rel['ave'].min())} to {num(rel['ave'].max())}."]
    if v.convergent:
        weak = "; the weaker items still leave every AVE above 0.5" if v.weak_items else ""
        parts.append(Finding("Convergent validity holds", "by the usual conventions (CR ≥ 0.7, "
                             f"AVE ≥ 0.5{weak})."))
    else:
        parts.append(Finding("Convergent validity is in doubt",
                             f"for {', '.join(sorted(set(v.doubtful)))} (CR below 0.7 or AVE "
                             "below 0.5)."))
    if not v.discriminant:
        pairs = [f"{a}/{b}" for a, b in zip(v.fl_fail["latent_a"], v.fl_fail["latent_b"])]
        if ht is not None:
            pairs += [f"{a}/{b} (HTMT {num(h)})" for a, b, h in
                      zip(v.ht_fail["latent_a"], v.ht_fail["latent_b"], v.ht_fail["htmt"])]
        return parts + [Finding("Discriminant validity is in doubt",
                                f"for {', '.join(dict.fromkeys(pairs))}.")]
    parts.append(Finding("Discriminant validity holds", ": every construct's √AVE exceeds its "
                         "correlations with the others, and the largest HTMT is "
                         f"{num(ht['htmt'].max() if ht is not None else np.nan)} (below 0.85)."))
    if ht is not None and not v.ht_unsure.empty:
        parts.append(f"For {len(v.ht_unsure)} pair(s) the upper {settings.level} bound reaches "
                     "0.85, so their separation is less certain: " + ", ".join(
                         f"{a}/{b}" for a, b in zip(v.ht_unsure["latent_a"],
                                                    v.ht_unsure["latent_b"])) + ".")
    return parts


def measurements(design: Design, settings: Settings) -> list[Measurement]:
    """The measurement model of the CRQ instrument and, when present, of the Morgan-Hunt
    battery (see :func:`measurement`)."""
    inst = design.instrument
    title = f"{inst.title or 'CRQ'} ({inst.name})"
    if design.model is None:
        entry, note = _skip("crq_cfa", "No measurement model: see the data section.")
        out = [Measurement(title, "crq", notes=[note], entries=[entry])]
    else:
        out = [measurement(inst, "crq", title, design.data, settings)]
    if design.have_battery:
        out.append(measurement(design.battery, "kmv",
                               f"Morgan-Hunt battery ({design.battery.name})", design.data,
                               settings))
    return out


# ------------------------------------------------------------------------------------------
# 3. Structural models: KMV and its rival
# ------------------------------------------------------------------------------------------

class Paths(NamedTuple):
    """The hypothesised paths of one model: ``reading`` (wording) and ``table`` (``source,
    target, sign, std_all, ci_low, ci_high, est, se, p_value, supported, n``)."""

    reading: list
    table: pd.DataFrame


@dataclass
class Structural:
    """A mediated model and its rival, fitted to the same respondents and compared.

    ``notes`` come first (fit problems, the sample size against the parameters), then the
    ``comparison`` table (fit measures by model) and its ``verdict``, each proper model's
    ``paths``, and ``choices`` (modelling choices the fits made).
    """

    family: str
    labels: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)
    comparison: pd.DataFrame | None = None
    verdict: list = field(default_factory=list)
    paths: dict = field(default_factory=dict)
    choices: list = field(default_factory=list)
    winner: str | None = None
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    summary: list = field(default_factory=list)

    @property
    def hypotheses(self) -> dict[str, pd.DataFrame]:
        """Model name -> its path table."""
        return {name: p.table for name, p in self.paths.items()}


def standardised_paths(fit: sem.SemFit, settings: Settings) -> pd.DataFrame:
    """Hypothesised paths: std_all with a Monte Carlo interval, Wald p of the raw path.

    Notes
    -----
    Intervals are :func:`crqlab.models.sem.indirect_effects` of one-link chains (Monte Carlo
    draws from the asymptotic distribution, standardised each draw).
    """
    hyp = fit.hypotheses(settings.alpha)
    mc = sem.indirect_effects(fit, chains=[(p.source, p.target) for p in fit.model.paths],
                              standardized=True, n_draws=settings.n_draws, ci=settings.ci,
                              seed=settings.seed)
    hyp["ci_low"], hyp["ci_high"] = mc["ci_low"].to_numpy(), mc["ci_high"].to_numpy()
    hyp["n"] = fit.n
    return hyp


def path_entries(fit: sem.SemFit, hyp: pd.DataFrame, headline_path=None) -> list[Entry]:
    """Each path (``path.<model>.<source>_<target>``) and the table ``hypotheses.<model>``;
    ``headline_path`` is one ``(source, target)`` or a set of them."""
    name, k = fit.model.name, fit.data["account_id"].nunique()
    heads = ({headline_path} if isinstance(headline_path, tuple) else set(headline_path or ()))
    title = MODEL_TITLES.get(name, name.replace("_", " "))
    return [_entry(f"path.{name}.{r.source}_{r.target}", r.std_all, ci=(r.ci_low, r.ci_high),
                   p_value=r.p_value, n=r.n, n_accounts=k, unit="standardised",
                   headline=(r.source, r.target) in heads,
                   label=f"Path {arrow(r.source, r.target)}, {title}",
                   note="Monte Carlo interval; p from the Wald z test of the raw path")
            for r in hyp.itertuples()] + [_entry(f"hypotheses.{name}", hyp)]


def path_claims(hyp: pd.DataFrame) -> pd.Series:
    """Morgan & Hunt's claim for each hypothesised path (its ``sign``, ``+`` when absent),
    judged by the path's interval: :func:`crqlab.formatting.claim_words` - ``"the claim
    holds"`` only when the whole interval lies on the hypothesised side of zero."""
    signs = hyp["sign"] if "sign" in hyp else pd.Series("+", index=hyp.index)
    return pd.Series([claim_words(lo, hi, direction=-1 if s == "-" else 1)
                      for lo, hi, s in zip(hyp["ci_low"], hyp["ci_high"], signs)],
                     index=hyp.index, dtype=object)


def path_reading(hyp: pd.DataFrame, settings: Settings) -> list:
    """Which hypothesised paths hold, in words (a paragraph's parts).

    A path is supported when Morgan & Hunt's test says so (``supported``: significant at
    ``alpha`` with the hypothesised sign) *and* its interval supports the claim
    (:func:`path_claims`); a path whose interval holds zero is "the data cannot tell", never
    a weak support.
    """
    def one(r):
        return f"{arrow(r.source, r.target)} {settings.interval(r.std_all, r.ci_low, r.ci_high)}"

    claims = path_claims(hyp)
    holds = hyp["supported"].astype(bool) & (claims == "the claim holds")
    held = [one(r) for r in hyp[holds].itertuples()]
    parts = [Finding(f"{len(held)} of {len(hyp)} hypothesised paths are supported",
                     ": " + "; ".join(held) + "." if held else ".")]
    wrong = hyp[~holds & (claims == "the data contradict the claim")]
    if len(wrong):
        parts.append("The data contradict the claim (the interval lies on the opposite side of "
                     "zero): " + "; ".join(one(r) for r in wrong.itertuples()) + ".")
    weak = hyp[~holds & (claims != "the data contradict the claim")]
    if len(weak) > 4:
        parts.append(f"For the other {len(weak)} the data cannot tell (standardised estimates "
                     f"between {format_fixed(weak['std_all'].min())} and "
                     f"{format_fixed(weak['std_all'].max())}, every interval holds zero or the "
                     f"test is not significant, all "
                     f"{format_p_text(weak['p_value'].min()).replace('=', '≥')}).")
    elif len(weak):
        parts.append("The data cannot tell (the interval holds zero or the test is not "
                     "significant): " + "; ".join(
                         f"{one(r)}, {format_p_text(r.p_value)}" for r in weak.itertuples())
                     + ".")
    return parts


def _bic_verdict(a, b, labels: dict, d_bic: float, d_aic: float, winner: str):
    la, lb = labels[a["model"]], labels[b["model"]]
    if winner == "none":
        return (f"BIC does not separate the {la} and the {lb} (difference "
                f"{format_fixed(d_bic, 1)}, below 2).")
    size = "very strong" if abs(d_bic) > 10 else "strong" if abs(d_bic) > 6 else "positive"
    way = "the same way" if np.sign(d_aic) == np.sign(d_bic) else "the other way"
    return Finding(f"The {la if winner == a['model'] else lb} is preferred",
                   f": its BIC is lower by {format_fixed(abs(d_bic), 1)} ({size} evidence on "
                   f"Raftery's 1995 scale; AIC difference {format_fixed(abs(d_aic), 1)} {way}).")


def _fit_reading(r, label: str) -> str:
    num = format_fixed
    good = (r["cfi"] >= CFI_MIN and r["tli"] >= TLI_MIN and r["rmsea"] <= RMSEA_MAX
            and r["srmr"] <= SRMR_MAX)
    return (f"the {label} {'meets' if good else 'misses'} the usual fit conventions "
            f"(CFI {num(r['cfi'], 3)}, RMSEA {num(r['rmsea'], 3)}, SRMR {num(r['srmr'], 3)}; "
            f"chi-square {num(r['chisq'], 1)} on {int(r['df'])} df, "
            f"{format_p_text(r['p_value'])})")


def compare(out: Structural, settings: Settings) -> None:
    """Morgan & Hunt's comparison of a model and its rival: BIC (Raftery 1995), paths
    supported, fit conventions (Hu & Bentler 1999) and R²; sets ``comparison``, ``verdict``,
    ``winner`` and adds the entries.

    Notes
    -----
    The table is :func:`crqlab.models.sem.compare_models` (lavaan's fit measures); the winner
    has the lower BIC by at least 2, ``"none"`` when closer.
    """
    family, labels = out.family, out.labels
    table = sem.compare_models(out.fits, alpha=settings.alpha)
    wlsmv = settings.estimator == "WLSMV"
    if wlsmv:  # no likelihood: no information criteria
        table = table.drop(columns=["aic", "bic"])
    out.entries.append(_entry(f"model_comparison.{family}", table))
    out.comparison = table.set_index("model").T
    out.comparison.columns = [labels[c] for c in out.comparison.columns]
    if len(out.fits) < 2:
        out.verdict = ["Only one of the two models has a proper solution, so they are not "
                       "compared."]
        out.entries.append(_entry(f"model_comparison.{family}.winner", "not compared"))
        return
    a, b = table.iloc[0], table.iloc[1]  # the mediated model, then its rival
    if wlsmv:
        _compare_without_bic(out, a, b, table)
        return
    d_bic, d_aic = b["bic"] - a["bic"], b["aic"] - a["aic"]
    out.winner = "none" if abs(d_bic) < 2 else (a["model"] if d_bic > 0 else b["model"])
    out.entries += [
        _entry(f"model_comparison.{family}.winner",
               "neither" if out.winner == "none" else MODEL_TITLES.get(out.winner, out.winner),
               headline=family == "kmv_crq",
               label="Model preferred by BIC (KMV vs rival)" if family == "kmv_crq" else None,
               note="lower BIC by at least 2; neither when closer"),
        _entry(f"model_comparison.{family}.delta_bic", d_bic, n=int(a["n"]),
               note="BIC of the rival minus BIC of the mediated model (positive favours "
                    "mediation)"),
        _entry(f"model_comparison.{family}.delta_aic", d_aic, n=int(a["n"]))]
    out.verdict = [_bic_verdict(a, b, labels, d_bic, d_aic, out.winner),
                   *_shared_verdict(a, b, labels, table)]


def _compare_without_bic(out: Structural, a, b, table: pd.DataFrame) -> None:
    """Morgan & Hunt's comparison under WLSMV: no AIC or BIC (no likelihood), so no model is
    preferred by them; the paths supported, the fit conventions and R² are read as usual."""
    family, labels = out.family, out.labels
    out.entries.append(_entry(f"model_comparison.{family}.winner",
                              "not compared (WLSMV has no BIC)", headline=family == "kmv_crq",
                              label="Model preferred by BIC (KMV vs rival)"
                              if family == "kmv_crq" else None,
                              note="WLSMV fits no likelihood, so there is no AIC or BIC"))
    out.verdict = [Finding("Not ranked by information criteria", ": WLSMV fits no likelihood, "
                           "so the models have no AIC or BIC and neither is preferred by them; "
                           "they are compared on the paths supported, overall fit and the "
                           "variance explained.")]
    out.verdict += _shared_verdict(a, b, labels, table)


def _shared_verdict(a, b, labels: dict, table: pd.DataFrame) -> list:
    """Paths supported, fit conventions and R² of the mediated model (``a``) and its rival."""
    la, lb = labels[a["model"]], labels[b["model"]]
    out = [f"{int(a['n_supported'])} of {int(a['n_paths'])} hypothesised paths of the {la} are "
           f"supported, against {int(b['n_supported'])} of {int(b['n_paths'])} for the {lb}.",
           "Overall, " + " and ".join(_fit_reading(r, labels[r["model"]]) for r in (a, b)) + "."]
    r2_text = "; ".join(f"{arrow(c[3:])} {format_fixed(a[c])} vs {format_fixed(b[c])}"
                        for c in table.columns if c.startswith("r2_")
                        and pd.notna(a[c]) and pd.notna(b[c]))
    if r2_text:
        out.append(f"Variance explained (R², {la} vs {lb}): {r2_text}. The rival lets "
                   "every predictor act on every outcome directly, so it usually "
                   "explains at least as much; similar R² with fewer paths favours "
                   "mediation.")
    return out


def _sample_size(fits: dict, labels: dict) -> str:
    fit = next(iter(fits.values()))
    per = fit.n / fit.fit_measures["npar"]
    return (f"n = {fit.n:,} respondents in {fit.data['account_id'].nunique():,} accounts "
            f"({per:.1f} per free parameter of the {labels[next(iter(fits))]}; a common rule "
            "of thumb asks for 5 or more" + ("; below that, estimates are less stable and fit "
                                             "indices less trustworthy, so read them with care)."
                                             if per < 5 else ")."))


def structural(model: sem.SemModel, rival: sem.SemModel, frame: pd.DataFrame, family: str,
               settings: Settings, headline_path=None) -> Structural:
    """Fit, guard, compare and describe a mediated model and its rival.

    Parameters
    ----------
    model, rival : SemModel
        The mediated model and its rival (:func:`crqlab.models.sem.rival_model`).
    frame : DataFrame
        Respondents; each fit uses the rows complete on its columns.
    family : str
        Name of the comparison in results.json (``model_comparison.<family>``).
    headline_path : (source, target), optional
        The path of ``model`` shown on the run's index page. ``family == "kmv_crq"`` also
        puts the model's CFI, RMSEA and the BIC winner there.
    """
    out = Structural(family, {model.name: "KMV model", rival.name: "rival model"})
    for m in (model, rival):
        title = MODEL_TITLES.get(m.name, "user model")
        outcome = fit_model(m, frame, f"{out.labels[m.name]} ({title})", settings)
        out.notes += outcome.notes
        out.entries += outcome.entries
        if outcome.fit is not None:
            out.fits[m.name] = outcome.fit
            out.entries += fit_entries(outcome.fit, headline=m.name == "kmv_crq")
    if not out.fits:
        out.notes.append("Neither model has a proper solution; nothing to compare.")
        return out
    out.notes.append(_sample_size(out.fits, out.labels))
    compare(out, settings)
    for name, fit in out.fits.items():
        hyp = standardised_paths(fit, settings)
        out.entries += path_entries(fit, hyp, headline_path if name == model.name else None)
        label = out.labels[name]
        out.paths[name] = Paths([Finding(f"{label[0].upper()}{label[1:]}.")]
                                + path_reading(hyp, settings), hyp[_PATH_COLUMNS])
    choices = list(dict.fromkeys(_choice_words(n).replace(RETENTION,
                                                          "retention (retained next wave)")
                                 for f in out.fits.values() for n in f.notes))
    if choices:
        out.choices = ["Modelling choices: " + " ".join(f"({i + 1}) {n}"
                                                         for i, n in enumerate(choices))]
    out.summary = _structural_summary(out, model.name)
    return out


def _choice_words(note: str) -> str:
    """A fit's note as the report says it: the free residual covariances of the outcomes and
    WLSMV's notes on continuous variables and empty answer combinations in words (other notes
    unchanged)."""
    if note.startswith("continuous variables ("):
        names = [arrow(v.strip()) for v in note.rsplit("): ", 1)[-1].split(",")]
        return (f"{', '.join(names)} stays continuous (its mean, variance and polyserial "
                "correlations with the ordered answers enter the fit; its residual variance "
                "is free), while every other answer is an ordered category")
    if note.startswith("free residual covariances among terminal endogenous variables"):
        pairs = [pair.split("~~") for pair in note.rsplit("): ", 1)[-1].split(", ")]
        return ("the outcomes' residuals correlate freely, as lavaan's sem() lets them: "
                + "; ".join(f"{arrow(a.strip())} with {arrow(b.strip())}" for a, b in pairs))
    if note.endswith("have empty cells in their contingency table (kept as lavaan does)"):
        k = note.split(" ", 1)[0]
        return (f"{k} pairs of answers have combinations no respondent gave (empty cells of "
                "their cross-tables, kept as lavaan keeps them)")
    return note


def _structural_summary(out: Structural, name: str) -> list[str]:
    lines = []
    if name in out.fits:
        h, fm = out.paths[name].table, out.fits[name].fit_measures
        held = int((h["supported"].astype(bool) & (path_claims(h) == "the claim holds")).sum())
        lines.append(f"{MODEL_TITLES.get(name, out.labels[name])}: {held} of {len(h)} "
                     f"hypothesised paths supported; CFI {format_fixed(fm['cfi'], 3)}, RMSEA "
                     f"{format_fixed(fm['rmsea'], 3)}.")
    if out.winner is not None:
        lines.append(f"Preferred by BIC ({MODEL_TITLES.get(name, 'the model')} vs its rival): "
                     + (out.labels.get(out.winner, out.winner) if out.winner != "none"
                        else "neither (difference below 2)") + ".")
    return lines


def kmv_crq(design: Design, settings: Settings) -> Structural:
    """The CRQ form of KMV and its rival (:func:`structural`), when the data allow them."""
    if not design.can_fit:
        entry, note = _skip("structural", "No structural model: see the data section.")
        return Structural("kmv_crq", notes=[note], entries=[entry])
    return structural(design.model, design.rival, design.data, "kmv_crq", settings,
                      headline_path=("trust", "commitment"))


def kmv_classic(design: Design, settings: Settings) -> Structural:
    """Morgan & Hunt's original KMV model and its rival, when the study has the battery."""
    if design.battery is None:
        skip = _skip("kmv_classic", "The study has no Morgan-Hunt battery (none declared in "
                     "study.yaml), so the original KMV model and its rival are not fitted.")
    elif design.battery_missing:
        skip = _skip("kmv_classic", "The Morgan-Hunt battery is declared but the responses lack "
                     "{items}, so the original KMV model and its rival are not fitted.",
                     items=design.battery_missing)
    else:
        model = sem.kmv_classic_model(design.battery)
        rows, _ = complete(model, design.data)
        if len(rows) >= settings.min_n:
            return structural(model, sem.rival_model(model), rows, "kmv_classic", settings)
        skip = _skip("kmv_classic", "Too few respondents for the original KMV model: n = {n} "
                     "complete respondents, at least {min_n} needed.", n=len(rows),
                     min_n=settings.min_n)
    return Structural("kmv_classic", notes=[skip[1]], entries=[skip[0]])


# ------------------------------------------------------------------------------------------
# 4. Indirect effects
# ------------------------------------------------------------------------------------------

@dataclass
class Indirect:
    """Indirect effects of the CRQ form of KMV: ``table`` (``effect, est``, Monte Carlo and
    bootstrap bounds, ``n``) and the ``focal`` chain the text reads."""

    table: pd.DataFrame | None = None
    focal: tuple | None = None
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    summary: list = field(default_factory=list)


def _chain_entries(chains, mc, boot, focal, n_acc: int) -> tuple[list, pd.DataFrame]:
    entries, rows = [], []
    for c, m, b in zip(chains, mc.itertuples(), boot.itertuples()):
        key = "indirect." + "_".join(c)
        is_focal = list(c) == list(focal)
        entries.append(_entry(key, m.est, ci=(m.ci_low, m.ci_high), se=m.se, n=m.n,
                              unit="standardised", headline=is_focal,
                              label=f"Indirect effect {arrow(*c)}" if is_focal else None,
                              note="Monte Carlo interval"))
        if not np.isnan(b.ci_low):  # no bootstrap with FIML (it resamples complete rows)
            entries.append(_entry(f"{key}.bootstrap", b.est, ci=(b.ci_low, b.ci_high),
                                  se=b.se, n=b.n, n_accounts=n_acc, unit="standardised",
                                  note=f"account-cluster bootstrap, {b.n_draws} resamples"))
        rows.append({"effect": arrow(*c), "est": m.est, "mc_ci_low": m.ci_low,
                     "mc_ci_high": m.ci_high, "boot_ci_low": b.ci_low,
                     "boot_ci_high": b.ci_high, "n": m.n})
    table = pd.DataFrame(rows)
    return entries + [_entry("indirect_effects", table)], table


def indirect(fit: sem.SemFit | None, design: Design, settings: Settings) -> Indirect:
    """Standardised indirect effects of every chain, with a Monte Carlo interval and an
    account-cluster bootstrap interval; the focal chain is service → … → NPS answer.

    Notes
    -----
    Both intervals are :func:`crqlab.models.sem.indirect_effects` (the delta method there
    reproduces lavaan's ``:=``; Monte Carlo intervals cover planted indirect effects).
    """
    if fit is None:
        entry, note = _skip("indirect", "No indirect effects: the CRQ form of KMV has no "
                            "reportable fit on these data (see above)." if design.can_fit else
                            "No indirect effects: see the data section.")
        return Indirect(notes=[note], entries=[entry])
    s = settings
    mc = sem.indirect_effects(fit, standardized=True, n_draws=s.n_draws, ci=s.ci, seed=s.seed)
    no_boot = _no_bootstrap(fit)
    if no_boot:  # FIML (complete rows) or WLSMV (ML refits): Monte Carlo only
        boot = mc.assign(n_draws=0, n_failed=0)
        boot["ci_low"] = boot["ci_high"] = boot["se"] = np.nan
    else:
        boot = sem.indirect_effects(fit, method="bootstrap", cluster="account_id",
                                    n_boot=s.n_boot, standardized=True, ci=s.ci, seed=s.seed)
    n_acc = fit.data["account_id"].nunique()
    chains = mc["effect"].str.split(" -> ")
    focal = next((c for c in chains if c[0] == "service" and c[-1] == "nps"),
                 next((c for c in chains if c[-1] == "nps"), chains.iloc[0]))
    entries, table = _chain_entries(chains, mc, boot, focal, n_acc)
    out = Indirect(table.rename(columns={
        "mc_ci_low": "monte_carlo_ci_low", "mc_ci_high": "monte_carlo_ci_high",
        "boot_ci_low": "bootstrap_ci_low", "boot_ci_high": "bootstrap_ci_high"}),
        tuple(focal), entries=entries)
    f_mc = mc[mc["effect"] == " -> ".join(focal)].iloc[0]
    f_b = boot[boot["effect"] == " -> ".join(focal)].iloc[0]
    if np.isnan(f_b["ci_low"]):  # no bootstrap: its empty columns are not shown
        out.table = out.table.drop(columns=["bootstrap_ci_low", "bootstrap_ci_high"])
        out.notes.append(_indirect_finding_mc(focal, f_mc, len(mc), n_acc, s, no_boot))
        if fit.estimator == "WLSMV":
            out.entries.append(_entry("skipped.indirect_bootstrap",
                                      f"no account-cluster bootstrap: {no_boot}"))
        out.summary = [f"Indirect effect {arrow(*focal)}: "
                       f"{s.interval(f_mc['est'], f_mc['ci_low'], f_mc['ci_high'], 3)} "
                       "(Monte Carlo)."]
        return out
    out.notes.append(_indirect_finding(focal, f_mc, f_b, mc, boot, n_acc, s))
    if boot["n_failed"].iloc[0]:
        out.notes.append(f"{int(boot['n_failed'].iloc[0])} of {s.n_boot} bootstrap refits did "
                         "not converge and were dropped.")
    out.summary = [f"Indirect effect {arrow(*focal)}: "
                   f"{s.interval(f_mc['est'], f_b['ci_low'], f_b['ci_high'], 3)} "
                   "(account-cluster bootstrap)."]
    return out


def _mediation_reading(low: float, high: float, which: str) -> str:
    """Whether the interval of the focal indirect effect supports mediation
    (:func:`crqlab.formatting.claim_words`)."""
    return {
        "the claim holds": f"The {which} interval lies above zero: the claim that the effect "
                           "runs through trust and commitment holds.",
        "the data cannot tell": f"The {which} interval includes zero: the data cannot tell "
                                "whether the effect runs through trust and commitment.",
        "the data contradict the claim": f"The {which} interval lies below zero: the data "
                                         "contradict the claim of a positive mediated effect.",
    }[claim_words(low, high, direction=1)]


def _no_bootstrap(fit: sem.SemFit) -> str | None:
    """Why the account-cluster bootstrap cannot refit ``fit``, in words, or None."""
    if fit.estimator == "WLSMV":
        return ("its refits are maximum-likelihood fits of covariances, not WLSMV fits of "
                "polychoric correlations")
    if fit.missing != "listwise":
        return "it resamples complete rows"
    return None


def _indirect_finding_mc(focal, f_mc, k: int, n_acc: int, s: Settings,
                         why: str = "it resamples complete rows") -> Finding:
    num = format_fixed
    how = "WLSMV" if s.estimator == "WLSMV" else "FIML"
    return Finding(
        f"{arrow(*focal)}: {num(f_mc['est'], 3)}",
        f"standardised ({s.level} Monte Carlo CI {num(f_mc['ci_low'], 3)} to "
        f"{num(f_mc['ci_high'], 3)}; n = {int(f_mc['n']):,} respondents in {n_acc:,} accounts). "
        f"{_mediation_reading(f_mc['ci_low'], f_mc['ci_high'], 'Monte Carlo')} With {how} there "
        f"is no account-cluster bootstrap ({why}), so none of the {k} "
        "chains' intervals allows for contacts of one account answering alike.")


def _indirect_finding(focal, f_mc, f_b, mc, boot, n_acc: int, s: Settings) -> Finding:
    num = format_fixed
    widen = np.nanmedian((boot["ci_high"] - boot["ci_low"]) / (mc["ci_high"] - mc["ci_low"]))
    reading = _mediation_reading(f_b["ci_low"], f_b["ci_high"], "bootstrap")
    return Finding(
        f"{arrow(*focal)}: {num(f_mc['est'], 3)}",
        f"standardised ({s.level} Monte Carlo CI {num(f_mc['ci_low'], 3)} to "
        f"{num(f_mc['ci_high'], 3)}; account-cluster bootstrap CI {num(f_b['ci_low'], 3)} to "
        f"{num(f_b['ci_high'], 3)}; n = {int(f_mc['n']):,} respondents in {n_acc:,} accounts). "
        f"{reading} Across the {len(mc)} chains the bootstrap intervals are {num(widen, 2)} "
        "times as wide as the Monte Carlo ones; a ratio well above 1 means that contacts of "
        "the same account answer alike (with few resamples the bootstrap bounds are "
        "themselves noisy).")


# ------------------------------------------------------------------------------------------
# 5. Key decision makers and other contacts
# ------------------------------------------------------------------------------------------

@dataclass
class Groups:
    """The role comparison: ``sizes`` (suppressed below the minimum cell size), per-group
    standardised ``paths`` (rows: paths, columns: groups), the per-path ``differences`` and
    the multi-group ``fits``; None where it did not run."""

    sizes: pd.DataFrame | None = None
    paths: pd.DataFrame | None = None
    differences: pd.DataFrame | None = None
    fits: pd.DataFrame | None = None
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    summary: list = field(default_factory=list)
    invariance: str | None = None
    invariance_table: pd.DataFrame | None = None


def role_invariance(rows: pd.DataFrame, design: Design, settings: Settings, sizes: pd.DataFrame
                    ) -> tuple[str | None, pd.DataFrame | None, list, list]:
    """Measurement invariance of the model's questions between the focal role and the other
    roles (metric, then scalar; up to ``settings.max_free`` constraints freed per step), checked before their
    paths are compared: ``(sentence, table, entries, notes)``.

    Notes
    -----
    :func:`crqlab.models.invariance.measurement_invariance` (validated against lavaan's
    ``group.equal`` fits and ``lavTestLRT``) on the measurement part of the model, with the
    notebook's estimator; worded by :func:`crqlab.models.invariance.plain_summary`. Tested in
    ``tests/studies/test_morgan_hunt.py``.

    Under WLSMV the questions are ordered categories and the ladder is lavaan's for them:
    configural, then thresholds and loadings equal at once (scalar; recorded as
    ``groups.role.invariance_scalar_holds``). Equal thresholds need the same answer
    categories in both groups, so an answer one group never gave is merged with its
    neighbour in both groups first (:func:`same_categories`; the notes say which questions).
    """
    measured = [line for line in design.model.syntax.splitlines() if "=~" in line]
    element_items = {lhs.strip(): [i.strip() for i in rhs.split("+")]
                     for lhs, rhs in (line.split("=~") for line in measured)}
    labels = {e: design.instrument.label(e) for e in element_items}
    names = item_names(element_items, labels)
    wlsmv, notes = settings.estimator == "WLSMV", []
    if wlsmv:
        rows, merged = same_categories(rows, [i for its in element_items.values() for i in its],
                                       "role_group")
        if merged:
            notes.append(text("For the test of the questions by WLSMV, answers that one group "
                              "never gave were merged with the neighbouring answer in both "
                              "groups ({items}): equal thresholds need the same answer "
                              "categories in each group.",
                              items=", ".join(names.get(i, i) for i in merged)))
    ladder = dict(estimator="WLSMV") if wlsmv else dict(
        steps=("metric", "scalar"), estimator="MLR" if settings.estimator == "MLR" else "ML")
    try:
        result = measurement_invariance("\n".join(measured), rows, "role_group", **ladder,
                                        seed=settings.seed, std_limit=settings.std_limit,
                                        max_free=settings.max_free)
    except NOT_ESTIMABLE as exc:
        return None, None, [], notes + [f"Measurement invariance between the roles could not "
                                        f"be tested: {exc}"]
    n = {g: int(k) for g, k in zip(sizes["group"], sizes["n"])}
    who = (f"Between {settings.focal_role} ({n.get(settings.focal_role, '–')}) and other "
           f"roles ({n.get('other roles', '–')})")
    words, table = plain_summary(result, who, names)
    held = result.level not in ("none", "configural")
    name = "scalar" if wlsmv else "metric"
    entries = [_entry(f"groups.role.invariance_{name}_holds", bool(held),
                      n=int(result.n), note=words)]
    return words, table, entries, notes


def same_categories(rows: pd.DataFrame, items: list[str], group: str
                    ) -> tuple[pd.DataFrame, list[str]]:
    """Each item's answers recoded so that every group has the same answer categories: an
    answer some group never gave is merged with the nearest answer every group gave (a tie
    goes towards the middle of those answers); rows without a group are left as they are.
    Returns the recoded rows and the items changed.

    Notes
    -----
    Collapsing empty categories is the usual remedy when lavaan refuses equal thresholds for
    categories missing in a group; it coarsens the item, and it is stated. Tested in
    ``tests/studies/test_morgan_hunt.py``.
    """
    out, merged = rows.copy(), []
    known = out[group].notna()
    for item in items:
        seen = [set(v.dropna().unique()) for _, v in out.loc[known, item].groupby(out[group])]
        common = sorted(set.intersection(*seen)) if seen else []
        values = sorted(set.union(*seen)) if seen else []
        if not common or len(common) == len(values):
            continue
        middle = float(np.median(common))

        def nearest(v, common=common, middle=middle):
            return min(common, key=lambda c: (abs(c - v), abs(c - middle)))

        out.loc[known, item] = out.loc[known, item].map(
            lambda v: v if pd.isna(v) or v in common else nearest(v))
        merged.append(item)
    return out, merged


def same_label(value: Any) -> str:
    """A role or segment value as it is compared: case and spacing ignored
    (``" Key  decision maker"`` and ``"key decision maker"`` are the same role)."""
    return " ".join(str(value).split()).casefold()


def role_groups(rows: pd.DataFrame, focal_role: str, min_cell: int):
    """Respondents with ``role_group`` (``focal_role`` or ``"other roles"``), the group sizes
    (``group, n, n_accounts``) and the sizes as published (small groups suppressed with their
    complement: the two groups partition the respondents). Roles match ``focal_role``
    ignoring case and spacing (:func:`same_label`); the group keeps the parameter's spelling."""
    rows = rows.copy()
    role = rows["role"].astype("string")
    focal = (role.map(same_label, na_action="ignore") == same_label(focal_role)).fillna(False)
    rows["role_group"] = pd.Series(np.where(focal.astype(bool), focal_role, "other roles"),
                                   index=rows.index, dtype="string").where(role.notna())
    sizes = (rows.groupby("role_group")
             .agg(n=("role_group", "size"), n_accounts=("account_id", "nunique")).reset_index()
             .rename(columns={"role_group": "group"}))
    for g in (focal_role, "other roles"):
        if g not in set(sizes["group"]):
            sizes = pd.concat([sizes, pd.DataFrame([{"group": g, "n": 0, "n_accounts": 0}])],
                              ignore_index=True)
    sized = suppress_small(sizes, min_cell_size=min_cell, partition=True)
    return rows, sizes, sized


def _group_skip(fit, design: Design):
    if fit is None:
        return _skip("groups.role", "No group comparison: the CRQ form of KMV has no reportable "
                     "fit (see above)." if design.can_fit else
                     "No group comparison: see the data section.")
    if "role" not in design.data.columns or design.data["role"].isna().all():
        return _skip("groups.role", "No group comparison: the study records no role of its "
                     "contacts.")
    return None


def group_comparison(fit: sem.SemFit | None, design: Design, settings: Settings) -> Groups:
    """Do the paths differ between ``focal_role`` and all other contacts?

    Per path a z test of the difference of the groups' unstandardised estimates; for all
    paths at once a chi-square difference test, paths equal against free (equal loadings).
    Each group needs ``min_group`` complete respondents.

    Notes
    -----
    The tests are :func:`crqlab.models.sem.compare_groups` (validated against lavaan's
    ``group.equal`` fits in ``tests/models/test_sem.py``).
    """
    skip = _group_skip(fit, design)
    if skip:
        return Groups(notes=[skip[1]], entries=[skip[0]])
    rows, sizes, sized = role_groups(fit.data, settings.focal_role, design.min_cell)
    present = sorted(set(design.data["role"].dropna().astype(str)), key=same_label)
    if not (rows["role_group"] == settings.focal_role).any():
        entry, note = _skip("groups.role", "No group comparison: no respondent's role matches "
                            "the parameter 'Role compared with the others' ({focal!r}, compared "
                            "ignoring case and "
                            "spacing). The roles present are: {roles}.",
                            focal=settings.focal_role, roles="; ".join(present))
        return Groups(notes=[note], entries=[entry])
    out = Groups(sizes=sized, entries=[_entry("groups.role.sizes", sized,
                                              min_cell_size=design.min_cell)])
    small = sizes[sizes["n"] < design.min_group]
    if not small.empty:
        shown = sized.set_index("group")
        what = ", ".join(f"{g} ({'size suppressed' if shown.loc[g, 'suppressed'] else n} "
                         "complete respondents)" for g, n in zip(small["group"], small["n"]))
        skip = _skip("groups.role", "Group comparison skipped: {what}; each group needs at least "
                     "{min_group} (the parameter 'Smallest role group compared').", what=what,
                     min_group=design.min_group)
    else:
        out.invariance, out.invariance_table, inv_entries, inv_notes = role_invariance(
            rows, design, settings, sizes)
        out.entries += inv_entries
        out.notes += inv_notes
        try:
            comp = sem.compare_groups(design.model, rows, "role_group", on_improper="flag",
                                      ci=settings.ci, seed=settings.seed,
                                      std_limit=settings.std_limit)
        except NOT_ESTIMABLE as exc:
            skip = _skip("groups.role", "The group comparison could not be fitted: {exc}", exc=exc)
        else:
            _compared(out, comp, sizes, settings)
            return out
    out.notes.append(skip[1])
    out.entries.append(skip[0])
    return out


def _compared(out: Groups, comp, sizes: pd.DataFrame, settings: Settings) -> None:
    """The guard on the multi-group fits, then the tests: entries, wording and tables."""
    improper = list(comp.fits.loc[~comp.fits["proper"], "model"])
    guard = _guard("kmv_crq_groups", "two-group model (by role)", not improper,
                   [f"the {m} multi-group model is improper" for m in improper])
    out.notes += guard.notes
    out.entries += guard.entries
    if improper:
        return
    test, n_total = comp.test.iloc[0], int(comp.fits["n"].iloc[0])
    diffs = comp.differences.assign(n=n_total)
    out.entries.append(_entry("groups.role.test", test["stat"], stat=test["stat"], df=test["df"],
                              p_value=test["p_value"], n=n_total, note="chi-square difference, "
                              "paths equal vs free (equal loadings)"))
    out.entries += [_entry(f"groups.role.{r.rhs}_{r.lhs}", r.est, ci=(r.ci_low, r.ci_high),
                           se=r.se, stat=r.z, p_value=r.p_value, n=n_total,
                           note=f"unstandardised path, {r.group} minus {r.reference}")
                    for r in diffs.itertuples()]
    out.entries.append(_entry("groups.role.differences", diffs))
    out.notes.append(_group_reading(comp, diffs, sizes, test, settings))
    differ = test["p_value"] < settings.alpha
    out.summary = [f"{settings.focal_role} vs other contacts: paths "
                   f"{'differ' if differ else f'show {NO_CLEAR_DIFFERENCE}'} as a set (Δχ² = "
                   f"{format_fixed(test['stat'], 2)}, {int(test['df'])} df, "
                   f"{format_p_text(test['p_value'])})."]
    per_group = comp.by_group[comp.by_group["op"] == "~"]
    out.paths = per_group.pivot_table(index=["rhs", "lhs"], columns="group", values="std_all",
                                      sort=False)
    out.paths.index = [arrow(a, b) for a, b in out.paths.index]
    out.differences = (diffs[["rhs", "lhs", "group", "reference", "est", "ci_low", "ci_high",
                              "z", "p_value", "n"]].rename(columns={"rhs": "source",
                                                                    "lhs": "target"}))
    out.fits = comp.fits[["model", "chisq", "df", "cfi", "rmsea", "srmr", "n", "n_groups"]]


def _group_reading(comp, diffs, sizes, test, settings: Settings) -> str:
    alpha, df = settings.alpha, int(test["df"])
    # a path differs when its interval (at the report's level) excludes zero
    sig = diffs[[is_clear(lo, hi) for lo, hi in zip(diffs["ci_low"], diffs["ci_high"])]]
    ref, other = comp.groups[0], comp.groups[1]
    groups = ", ".join(f"{g} n = {int(n):,}" for g, n in zip(sizes["group"], sizes["n"]))
    words = (f"Groups: {groups}. "
             f"Holding all {df} paths equal across groups "
             + ("worsens the fit significantly" if test["p_value"] < alpha
                else f"does not clearly worsen the fit ({NO_CLEAR_DIFFERENCE} as a set)")
             + f" (Δχ² = {format_fixed(test['stat'], 2)} on {df} df, "
               f"{format_p_text(test['p_value'])}). ")
    if sig.empty:
        return words + (f"No single path differs: {NO_CLEAR_DIFFERENCE} for each (every "
                        f"{settings.level} interval of a difference holds zero).")
    return words + (f"Paths whose {settings.level} interval of the difference excludes zero "
                    f"({other} minus {ref}, unstandardised): "
                    + "; ".join(f"{arrow(r.rhs, r.lhs)} "
                                f"{settings.interval(r.est, r.ci_low, r.ci_high)}, "
                                f"{format_p_text(r.p_value)}" for r in sig.itertuples())
                    + f". With {len(diffs)} paths tested, about {len(diffs) * alpha:.1f} would "
                      "differ by chance alone.")


# ------------------------------------------------------------------------------------------
# 7. The study's own bias: the CRQ form of KMV on confidential respondents
# ------------------------------------------------------------------------------------------

#: The assumptions of the confidentiality-controlled fit, in one sentence.
CONFIDENTIAL_ASSUMPTIONS = (
    "It assumes that confidential answers carry no named-answer inflation and that the paths "
    "of the respondents who choose confidentiality are everyone's; they are a selected group "
    "(often less satisfied or committed), from the wave(s) that offered confidentiality, and "
    "fewer, so their intervals are wider.")


@dataclass
class Controlled:
    """The CRQ form of KMV fitted to the confidential respondents only, beside the reported fit:
    ``table`` (``source, target``, the reported and the confidential standardised path with
    their intervals and n); None where it did not run."""

    fit: sem.SemFit | None = None
    table: pd.DataFrame | None = None
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)
    summary: list = field(default_factory=list)


def _controlled_skip(template: str, **values: Any) -> Controlled:
    entry, note = _skip("kmv_crq_confidential", template, **values)
    return Controlled(notes=[note], entries=[entry])


def confidential_fit(reported: pd.DataFrame | None, design: Design,
                     settings: Settings) -> Controlled:
    """The CRQ form of KMV (NPS answer as its outcome) fitted to the respondents who answered
    confidentially, in every wave that offered it, beside the ``reported`` paths
    (:func:`standardised_paths` of the reported fit, or None).

    Named answers are inflated, and when the inflation varies with commitment it acts as a
    common factor of the 0-10 answer and the CRQ items and moves the paths (issue 16: the
    commitment → NPS answer path). Confidential answers are free of it. The fit needs
    ``min_group`` complete respondents (the smallest group fitted anywhere in the notebook).

    Notes
    -----
    The fit is :func:`fit_model` (the notebook's estimator) with Monte Carlo intervals
    (:func:`standardised_paths`). Validated on planted truth (``crqlab.synth`` structures whose
    inflation goes with commitment): ``tests/studies/test_morgan_hunt.py`` (closer to the
    planted path than the reported fit) and ``tests/generalisation`` (coverage over three
    structures x 20 seeds, ``docs/generalisation.md``).
    """
    if design.model is None or not design.can_fit:
        return _controlled_skip("No confidentiality-controlled fit: see the data section.")
    conf = design.confidential
    if conf is None or conf.empty:
        return _controlled_skip("No respondent answered confidentially, so the paths cannot be "
                                "set beside a fit free of named-answer inflation.")
    model = dataclasses.replace(sem.kmv_crq_model(design.instrument, outcomes=("nps",)),
                                name="kmv_crq_confidential")
    rows, absent = complete(model, conf)
    if absent or len(rows) < design.min_group:
        return _controlled_skip(
            "Too few confidential respondents for the confidentiality-controlled fit: n = "
            "{n} answered every item, at least {need} needed (the parameter 'Smallest role group "
            "compared').", n=len(rows), need=design.min_group)
    outcome = fit_model(model, rows if settings.missing == "listwise" else conf,
                        MODEL_TITLES[model.name], settings)
    out = Controlled(outcome.fit, notes=list(outcome.notes), entries=list(outcome.entries))
    if outcome.fit is None:
        return out
    fit = outcome.fit
    hyp = standardised_paths(fit, settings)
    out.entries += path_entries(fit, hyp, headline_path=("commitment", "nps"))
    out.entries.append(_entry("sample.kmv_crq_confidential", fit.n, n=fit.n,
                              n_accounts=fit.data["account_id"].nunique(),
                              label="complete confidential respondents, CRQ model"))
    cols = ["source", "target", "std_all", "ci_low", "ci_high", "n"]
    mine = hyp[cols].rename(columns={c: f"confidential_{c}" for c in cols[2:]})
    if reported is not None:
        theirs = reported[cols].rename(columns={c: f"reported_{c}" for c in cols[2:]})
        mine = theirs.merge(mine, on=["source", "target"], how="right")
    mine.insert(0, "path", [arrow(a, b) for a, b in zip(mine["source"], mine["target"])])
    out.table = mine
    out.notes.append(_controlled_reading(out.table, fit, design, settings))
    row = out.table.set_index(["source", "target"]).loc[("commitment", "nps")]
    est = settings.interval(row["confidential_std_all"], row["confidential_ci_low"],
                            row["confidential_ci_high"])
    out.summary = [f"Confidential respondents only: commitment → NPS answer {est} "
                   f"(n = {fit.n:,})."]
    return out


def _controlled_reading(table: pd.DataFrame, fit: sem.SemFit, design: Design,
                        settings: Settings) -> Finding:
    s = settings
    row = table.set_index(["source", "target"]).loc[("commitment", "nps")]
    waves = sorted(int(w) for w in fit.data["wave"].unique())
    mine = s.interval(row["confidential_std_all"], row["confidential_ci_low"],
                      row["confidential_ci_high"])
    words = (f"Fitted to the {fit.n:,} respondents who answered confidentially "
             f"({fit.data['account_id'].nunique():,} accounts; "
             f"{describe_waves(waves, design.wave_label)}), the standardised path commitment → "
             f"NPS answer is {mine}")
    if "reported_std_all" in table and pd.notna(row.get("reported_std_all")):
        rep = row["reported_std_all"]
        where = difference_words(rep - row["confidential_ci_high"],
                                 rep - row["confidential_ci_low"], higher="above",
                                 lower="below", none="inside")
        words += (f", against {s.interval(rep, row['reported_ci_low'], row['reported_ci_high'])} "
                  f"from the {int(row['reported_n']):,} respondents of {design.wave_text} as "
                  f"reported. The reported value lies {where} the confidential respondents' "
                  "interval: " + ("no sign that named answers shape it." if where == "inside"
                                  else "named-answer inflation may be shaping the reported path."))
    else:
        words += "."
    return Finding("Controlled for the study's own bias.", f"{words} {CONFIDENTIAL_ASSUMPTIONS}")


# ------------------------------------------------------------------------------------------
# 8. Findings for the index page and the Key findings box
# ------------------------------------------------------------------------------------------

#: The research question of notebook 10 (the glossary's, ``crqlab/reports/glossary.yaml``).
QUESTION = "Does trust drive commitment, and commitment advocacy and retention?"


def _path_row(structural: Structural, name: str, source: str, target: str):
    table = structural.hypotheses.get(name)
    if table is None:
        return None
    hit = table[(table["source"] == source) & (table["target"] == target)]
    return None if hit.empty else hit.iloc[0]


def findings(crq: Structural, indirect: Indirect, controlled: Controlled,
             settings: Settings) -> list[dict]:
    """The notebook's findings in plain words (``results.finding(**f)`` for each ``f``): the
    path trust → commitment, the path commitment → NPS answer beside its
    confidentiality-controlled value, and the mediated effect, each with estimate, interval
    and n; one finding saying why when the model has no reportable fit.

    Every claim is worded by :func:`crqlab.formatting.claim_words` on the interval shown.
    """
    out: list[dict] = []
    fit = crq.fits.get("kmv_crq")
    if fit is None:
        return [{"question": QUESTION, "text": "The CRQ form of the KMV model could not be "
                 "estimated on these data, so the study cannot say whether trust drives "
                 "commitment (see the data and structural sections).",
                 "why_not": "no reportable fit of the model"}]
    k = int(fit.data["account_id"].nunique())
    tc = _path_row(crq, "kmv_crq", "trust", "commitment")
    if tc is not None:
        verdict = claim_words(tc["ci_low"], tc["ci_high"], direction=1)
        out.append({"question": QUESTION, "quantity": "path.kmv_crq.trust_commitment",
                    "est": tc["std_all"], "ci": (tc["ci_low"], tc["ci_high"]), "n": int(tc["n"]),
                    "n_accounts": k, "text": (
                        "Trust → commitment: a standardised path of {est} {ci} ({n}); Morgan & "
                        f"Hunt's claim that trust drives commitment: {verdict}.")})
    cn = _path_row(crq, "kmv_crq", "commitment", "nps")
    if cn is not None:
        verdict = claim_words(cn["ci_low"], cn["ci_high"], direction=1)
        words = (f"Commitment → NPS answer: a standardised path of {{est}} {{ci}} ({{n}}); the "
                 f"claim that commitment drives advocacy: {verdict}.")
        if controlled.table is not None:
            c = controlled.table.set_index(["source", "target"]).loc[("commitment", "nps")]
            est = settings.interval(c["confidential_std_all"], c["confidential_ci_low"],
                                    c["confidential_ci_high"])
            words += (" Among confidential respondents only, free of named-answer inflation, "
                      f"the path is {est} (n = {int(c['confidential_n']):,}).")
        out.append({"question": QUESTION, "quantity": "path.kmv_crq.commitment_nps",
                    "est": cn["std_all"], "ci": (cn["ci_low"], cn["ci_high"]), "n": int(cn["n"]),
                    "n_accounts": k, "text": words})
    if indirect.table is not None and indirect.focal is not None:
        row = indirect.table[indirect.table["effect"] == arrow(*indirect.focal)].iloc[0]
        boot = pd.notna(row.get("bootstrap_ci_low", np.nan))
        lo, hi = ((row["bootstrap_ci_low"], row["bootstrap_ci_high"]) if boot else
                  (row["monte_carlo_ci_low"], row["monte_carlo_ci_high"]))
        verdict = claim_words(lo, hi, direction=1)
        out.append({"question": QUESTION, "quantity": "indirect." + "_".join(indirect.focal),
                    "est": row["est"], "ci": (lo, hi), "n": int(row["n"]), "n_accounts": k,
                    "text": (f"The effect {arrow(*indirect.focal)}, mediated by trust and "
                             "commitment: {est} {ci} standardised ("
                             + ("account-cluster bootstrap" if boot else "Monte Carlo")
                             + " interval; {n}); the claim of mediation: " + verdict + ".")})
    return out
