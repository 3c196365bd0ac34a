"""Response-rate effects and non-response adjustment: the study behind notebook 30.

How far do headline scores move with who answers, and what do they look like once
non-response is adjusted for? Each step of the notebook ``30_response_rates`` is one call here:

1. :func:`prepare` - the invitation frame, respondent scores and the analysis wave;
2. rates by wave, role, account manager and account (:func:`rates_by_wave`,
   :func:`group_rates`, :func:`account_spread`);
3. do accounts that answer more score differently (:func:`rate_score_associations`);
4. early against late respondents, Armstrong & Overton (:func:`armstrong_overton`);
5. propensity weighting back to the frame, a raking cross-check and the weights' diagnostics
   (:func:`response_model`, :func:`weighted_estimates`, :func:`weight_diagnostics`);
6. what weighting cannot fix: delta sensitivity (:func:`sensitivity`);
7. precision against response rate (:func:`precision`);
8. "scores changed" against "who answered changed" (:func:`decompose_changes`);
9. the published Deep-Insight series as context (:func:`published_series`).

The estimators are :mod:`crqlab.models.nonresponse` and :mod:`crqlab.models.weighting`; this
module decides what the data allow, which results are recorded (as :class:`Entry` values for
``crqlab.reports.results.record``) and how the findings read, as plain text. An analysis that
cannot run says why in a plain sentence (``notes``) instead of raising.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from crqlab.data import privacy
from crqlab.errors import ConvergenceError, CrqlabError, InsufficientDataError, ValidationError
from crqlab.formatting import (
    Finding,
    ci_columns,
    ci_label,
    difference_words,
    format_decimals,
    format_p,
    format_p_text,
    format_with_ci,
    readable_table,
)
from crqlab.measures.scoring import score_items
from crqlab.models import nonresponse as rsp
from crqlab.models import weighting as wt
from crqlab.paths import DATA_RAW

__all__ = [
    "StudyParameterError", "Entry", "Score", "score_info", "Design", "prepare",
    "readable",
    # 1. rates
    "rates_by_wave", "wave_rate_entries", "headline_rate", "wave_rates_sentence",
    "wave_rates_table", "group_rates", "spread_sentence", "role_wave_rates", "manager_rates",
    "AccountSpread", "account_spread",
    # 2. rate against score
    "Fits", "rate_score_associations", "association_entries", "association_finding",
    "account_points",
    # 3. lateness
    "lateness_column", "Lateness", "armstrong_overton", "lateness_entries", "lateness_finding",
    "lateness_table", "lateness_text", "lateness_groups", "wave_slopes", "slopes_text",
    # 4. weighting
    "ResponseModel", "response_model", "Weighted", "weighted_estimates", "weighted_finding",
    "weighted_text", "Diagnostics", "weight_diagnostics", "diagnostics_sentence",
    "variable_label", "WEIGHT_STATS", "diagnostics_table", "balance_text",
    # 5.-8. sensitivity, caveats, precision, change, context; findings, summary
    "Caveats", "caveats", "KeyFinding", "key_findings",
    "Sensitivity", "conclusions", "sensitivity", "sensitivity_finding", "tipping_text",
    "sentence_case",
    "Precision", "precision", "precision_findings", "precision_table",
    "Decomposition", "decompose_changes", "decomposition_entries", "decomposition_findings",
    "decomposition_table", "segment_detail",
    "series_file", "published_series", "series_sentence", "series_table", "summary",
]

#: Failures of an estimator that mean "cannot be estimated on these data", said, not raised.
NOT_FITTED = (InsufficientDataError, ConvergenceError, ValidationError)
#: Columns of a rate table blanked when its group is below the minimum cell size.
RATE_VALUES = ["est", "ci_low", "ci_high", "n_events"]
#: Units of the 0-10 question's two readings (as ``crqlab.reports.plotting.UNITS``).
NPS_UNITS = {"nps": "NPS, -100 to +100", "nps_mean": "0-10 scale"}
#: Plain words for the codes in result tables, and readable column headers.
WORDS = {"response_rate": "response rate", "completion_rate": "completion rate",
         "late_minus_early": "late minus early", "slope": "trend per step",
         "nonrespondent_extrapolated": "non-respondents, extrapolated (assumption)",
         "respondent_mean": "respondents"}
HEADERS = {"n_accounts": "accounts", "p_value": "p", "n_a": "n (from)", "n_b": "n (to)",
           "n_frame": "invited", "n_eff": "effective n", "deff_kish": "design effect",
           "n": "n", "measure": "measure", "quantity": "quantity"}
BALANCE_HEADERS = {"asmd_before": "abs. std. difference, before",
                   "asmd_after": "after weighting"}
COUNTS = ("n", "n_a", "n_b", "n_accounts", "n_frame", "n_eff", "n_events")
#: The two parts of a change, in words.
COMPONENTS = {"within": "scores changed", "composition": "who answered changed",
              "total": "total change"}


class StudyParameterError(CrqlabError, ValueError):
    """A notebook parameter that does not fit the study (a wave it lacks, an unknown score)."""


class Entry(NamedTuple):
    """One result for results.json, as ``crqlab.reports.results.record_all`` takes it: a
    DataFrame ``value`` is a table (``record_table``), anything else a value (``record``)."""

    name: str
    value: Any
    options: dict


@dataclass(frozen=True)
class Score:
    """A score analysed: its column, name in sentences, unit, digits and sign convention."""

    column: str
    name: str
    unit: str
    digits: int
    signed: bool


@dataclass
class Design:
    """What the study offers this analysis: frame, scores, the analysis wave and the rules.

    Attributes
    ----------
    frame : DataFrame
        Every wave's invitation frame (no names or e-mails), ``responded`` boolean.
    scores : DataFrame
        Respondent scores keyed by ``wave, contact_id`` (``account_id``, segment columns, the
        CRQ score and the 0-10 answer under the name of the NPS reading).
    wave : int
        The wave analysed in detail.
    labels : dict
        Wave -> label, in wave order.
    crq, nps : Score
        The two headline scores.
    min_cell : int
        Minimum cell size (never below the study's own).
    ci : float
        Confidence level.
    """

    frame: pd.DataFrame
    scores: pd.DataFrame
    wave: int
    labels: dict
    crq: Score
    nps: Score
    min_cell: int
    ci: float = 0.95
    fw: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fw = self.frame[self.frame["wave"] == self.wave].copy()

    @property
    def waves(self) -> list:
        return list(self.labels)

    @property
    def label(self) -> str:
        """The analysis wave's label."""
        return self.labels[self.wave]

    @property
    def score_columns(self) -> list[str]:
        return [self.crq.column, self.nps.column]

    def score(self, column: str) -> Score:
        return self.crq if column == self.crq.column else self.nps

    @property
    def n_invited(self) -> int:
        return len(self.fw)

    @property
    def n_responded(self) -> int:
        return int(self.fw["responded"].sum())

    @property
    def n_accounts(self) -> int:
        return self.fw["account_id"].nunique()

    @property
    def response_rate(self) -> float:
        return self.n_responded / self.n_invited

    def with_ci(self, row, digits: int = 2, signed: bool = False, percent: bool = False) -> str:
        """``"5.92 (95% CI 5.86 to 5.98)"`` at this design's confidence level."""
        return format_with_ci(row, digits, signed=signed, percent=percent, ci=self.ci)

    def score_ci(self, row, column: str, signed: bool | None = None, extra: int = 0) -> str:
        """:meth:`with_ci` with the digits and sign convention of score ``column``."""
        s = self.score(column)
        return self.with_ci(row, s.digits + extra, s.signed if signed is None else signed)

    def ci_columns(self, table: pd.DataFrame, digits: int = 2, signed: bool = False,
                   percent: bool = False) -> pd.DataFrame:
        """:func:`crqlab.formatting.ci_columns` at this design's level and minimum cell."""
        return ci_columns(table, digits, signed=signed, percent=percent, ci=self.ci,
                          min_cell_size=self.min_cell)


def score_info(crq_score: str = "crq_index", nps_score: str = "nps") -> tuple[Score, Score]:
    """The :class:`Score` of the CRQ score and of the NPS reading (``nps`` or ``nps_mean``)."""
    crq = Score(crq_score, "CRQ index" if crq_score == "crq_index" else f"{crq_score} score",
                "1-7 scale", 2, False)
    nps = Score(nps_score, "NPS" if nps_score == "nps" else "mean 0-10 answer",
                NPS_UNITS[nps_score], 1 if nps_score == "nps" else 2, nps_score == "nps")
    return crq, nps


def _score_table(respondents: pd.DataFrame, scored: pd.DataFrame, crq: str, nps: str,
                 segments) -> pd.DataFrame:
    keep = [c for c in dict.fromkeys(["wave", "contact_id", "account_id", *segments])
            if c in respondents.columns]
    scores = respondents[keep].copy()
    scores[crq] = scored[crq]
    scores[nps] = respondents["nps"]
    return scores


def prepare(study, *, crq_score: str = "crq_index", nps_score: str = "nps", wave: int = 0,
            segments=(), min_cell_size: int = 0, ci: float = 0.95) -> Design:
    """The :class:`Design` of a loaded study for the notebook's parameters.

    Parameters
    ----------
    study : crqlab.data.study.Study
        The loaded study.
    crq_score : str
        CRQ score analysed (``crq_index`` or an element of the instrument).
    nps_score : {"nps", "nps_mean"}
        Net Promoter Score (-100..100) or the mean 0-10 answer.
    wave : int
        Wave analysed in detail; 0 for the latest.
    segments : sequence of str
        Respondent columns kept for the change decomposition.
    min_cell_size : int
        The notebook's minimum cell size (0: the study's own; never below it).
    ci : float
        Confidence level.

    Raises
    ------
    StudyParameterError
        The study has no such wave, or no such score; ``nps_score`` is neither reading.

    Notes
    -----
    Tested on a study written and loaded from files
    (``tests/studies/test_response_rates.py``): counts of the analysis wave, the 0-10
    answers kept as they are, each parameter error.
    """
    min_cell = privacy.effective_min_cell_size(study, min_cell_size)
    waves = list(study.waves)
    chosen = waves[-1] if wave == 0 else int(wave)
    if chosen not in waves:
        raise StudyParameterError(f"wave={wave}: the study has waves {waves}")
    if nps_score not in NPS_UNITS:
        raise StudyParameterError(f"nps_score must be 'nps' or 'nps_mean', got {nps_score!r}")
    frame = study.frame()
    frame["responded"] = frame["responded"].fillna(False).astype(bool)
    respondents = study.respondents()
    scored = score_items(respondents, study.instrument)
    if crq_score not in scored.columns:
        raise StudyParameterError(f"crq_score={crq_score!r} is not a score of instrument "
                                  f"{study.instrument.name!r}; choose one of "
                                  f"{list(scored.columns)}")
    scores = _score_table(respondents, scored, crq_score, nps_score, segments)
    crq, nps = score_info(crq_score, nps_score)
    return Design(frame, scores, chosen, {w: study.wave_label(w) for w in waves}, crq, nps,
                  min_cell, ci)


def readable(table: pd.DataFrame, rename: dict | None = None) -> pd.DataFrame:
    """A result table in this study's words: codes as words, counts as integers, headers."""
    return readable_table(table, headers={**HEADERS, **(rename or {})}, words=WORDS,
                          word_columns=("measure", "quantity"), counts=COUNTS)


# ----------------------------------------------------------------------------- 1. rates
def _suppressed_rates(d: Design, table: pd.DataFrame, partition) -> pd.DataFrame:
    # the groups partition the invited contacts (a total shown): complementary suppression
    return privacy.suppress_small(table, min_cell_size=d.min_cell, value_cols=RATE_VALUES,
                                  partition=partition)


def rates_by_wave(d: Design) -> pd.DataFrame:
    """Response and completion rate of every wave (Wilson intervals), small waves suppressed.

    Notes
    -----
    Rates and Wilson intervals recomputed from the frame in
    ``tests/studies/test_response_rates.py``; the estimator is validated against R ``prop.test``
    in ``tests/models``.
    """
    table = rsp.response_rates(d.frame, "wave", responses=d.scores, ci=d.ci)
    return _suppressed_rates(d, table, "measure")


def wave_rate_entries(d: Design, by_wave: pd.DataFrame) -> list[Entry]:
    """``response_rate.wave_<w>`` and ``completion_rate.wave_<w>`` of every shown wave, and
    the table ``response_rate.by_wave``."""
    out = []
    for _, r in by_wave[~by_wave["suppressed"]].iterrows():
        w = int(r["wave"])
        out.append(Entry(f"{r['measure']}.wave_{w}", r, {
            "unit": "share of invited contacts (0-1)",
            "label": f"{r['measure'].replace('_', ' ')}, {d.labels[w]}",
            "headline": r["measure"] == "response_rate" and w == d.wave}))
    out.append(Entry("response_rate.by_wave", by_wave, {"min_cell_size": d.min_cell}))
    return out


def headline_rate(d: Design, by_wave: pd.DataFrame, measure: str = "response_rate") -> pd.Series:
    """The analysis wave's row of :func:`rates_by_wave` (``est`` missing if suppressed)."""
    return by_wave.set_index(["measure", "wave"]).loc[(measure, d.wave)]


def _pct(x, digits: int = 1) -> str:
    return format_decimals(x, digits, percent=True)


def wave_rates_sentence(d: Design, by_wave: pd.DataFrame) -> str:
    """The analysis wave's response and completion, and the range across waves."""
    now, done = headline_rate(d, by_wave), headline_rate(d, by_wave, "completion_rate")
    text = (f"In {d.label}, {d.with_ci(now, 1, percent=True)} of {d.n_invited:,} invited "
            f"contacts responded and {d.with_ci(done, 1, percent=True)} returned a completed "
            "questionnaire.")
    shown = by_wave[(by_wave["measure"] == "response_rate") & ~by_wave["suppressed"]]
    if len(shown) < 2:
        return text
    first, last = shown.iloc[0], shown.iloc[-1]
    low, high = shown.loc[shown["est"].idxmin()], shown.loc[shown["est"].idxmax()]
    w_first, w_last, w_low, w_high = (d.labels[int(r["wave"])] for r in (first, last, low, high))
    return text + (f" Across waves response went from {_pct(first['est'])} ({w_first}, "
                   f"n = {int(first['n']):,}) to {_pct(last['est'])} ({w_last}, "
                   f"n = {int(last['n']):,}); lowest {_pct(low['est'])} in {w_low}, "
                   f"highest {_pct(high['est'])} in {w_high}.")


def wave_rates_table(d: Design, by_wave: pd.DataFrame) -> pd.DataFrame:
    """:func:`rates_by_wave` as text, waves by their labels."""
    tab = d.ci_columns(by_wave, 1, percent=True)
    tab.insert(0, "wave label", tab["wave"].map(lambda w: d.labels[int(w)]))
    return tab.drop(columns="wave")


def group_rates(d: Design, data: pd.DataFrame, by: str) -> pd.DataFrame:
    """Response and completion rate by ``by`` in ``data`` (one wave's frame), suppressed."""
    table = rsp.response_rates(data, by, responses=d.scores, ci=d.ci)
    return _suppressed_rates(d, table, "measure")


def spread_sentence(d: Design, table: pd.DataFrame, by: str, what: str) -> str:
    """The lowest and highest response rate among the shown groups of ``table``."""
    t = table[(table["measure"] == "response_rate") & ~table["suppressed"]]
    if len(t) < 2:
        return f"Fewer than two {what} with at least {d.min_cell} invited contacts: no comparison."
    lo, hi = t.loc[t["est"].idxmin()], t.loc[t["est"].idxmax()]
    return (f"Across {len(t)} {what}, response ranged from {d.with_ci(lo, 1, percent=True)} "
            f"({lo[by]}, n = {int(lo['n']):,} invited) to {d.with_ci(hi, 1, percent=True)} "
            f"({hi[by]}, n = {int(hi['n']):,}).")


def role_wave_rates(d: Design) -> pd.DataFrame:
    """Rates by wave and role, suppressed within each wave; waves by their labels."""
    table = _suppressed_rates(d, rsp.response_rates(d.frame, ["wave", "role"], ci=d.ci),
                              ["wave", "measure"])
    table["wave"] = table["wave"].map(lambda w: d.labels[int(w)])
    return table


def manager_rates(d: Design, private: set[str]) -> pd.DataFrame | None:
    """Rates by account manager in the analysis wave; ``None`` without a manager column.

    A manager whose name is also a confidential respondent's (``private``, from
    :func:`crqlab.data.privacy.confidential_identifiers`) is shown as ``manager 1 (name
    withheld)``.
    """
    fw = d.fw
    if "account_manager" not in fw.columns or not fw["account_manager"].notna().any():
        return None
    clash = sorted(m for m in fw["account_manager"].dropna().astype(str).unique() if m in private)
    alias = {m: f"manager {i + 1} (name withheld)" for i, m in enumerate(clash)}
    named = fw.assign(account_manager=fw["account_manager"].astype("string").replace(alias))
    return group_rates(d, named, "account_manager")


@dataclass
class AccountSpread:
    """Account response rates of the analysis wave: all (suppressed) and those shown."""

    table: pd.DataFrame
    shown: pd.DataFrame
    quantiles: pd.Series | None
    entries: list[Entry]
    sentence: str


def account_spread(d: Design) -> AccountSpread:
    """The distribution of account response rates (accounts below the minimum left out).

    With fewer than ``min_cell`` accounts shown there are no quantiles and no entries.

    Notes
    -----
    The median is checked against the accounts' rates computed from the frame
    (``tests/studies/test_response_rates.py``).
    """
    acc = _suppressed_rates(d, rsp.response_rates(d.fw, "account_id", ci=d.ci), "measure")
    shown = acc[~acc["suppressed"]]
    if len(shown) < d.min_cell:
        return AccountSpread(acc, shown, None, [], (
            f"Fewer than {d.min_cell} accounts have {d.min_cell} or more invited contacts "
            f"({len(shown)} of {len(acc)}): no account distribution is shown."))
    q = shown["est"].quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    k = {"n_accounts": len(shown)}
    entries = [Entry("account_response_rate.median", q[0.5],
                     {**k, "label": "median account response rate"}),
               Entry("account_response_rate.p25", q[0.25], k),
               Entry("account_response_rate.p75", q[0.75], k)]
    none, full = (shown["est"] == 0).mean(), (shown["est"] == 1).mean()
    p10, p25, p50, p75, p90, p_none, p_full = (_pct(x, 0) for x in (*q, none, full))
    sentence = (f"Of {len(acc):,} accounts invited in {d.label}, {len(shown):,} had at least "
                f"{d.min_cell} invited contacts ({len(acc) - len(shown):,} smaller accounts are "
                f"not shown). Their median response rate was {p50} (middle half {p25} to {p75}; "
                f"10th-90th percentile {p10} to {p90}). {p_none} of these accounts gave no "
                f"response at all and {p_full} responded in full.")
    return AccountSpread(acc, shown, q, entries, sentence)


# ----------------------------------------------------------------------------- 2. association
@dataclass
class Fits:
    """Per score, a fitted result table; ``notes`` say why a score could not be fitted."""

    tables: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def rate_score_associations(d: Design) -> Fits:
    """Account response rate against account mean score, for both scores (analysis wave)."""
    fits = Fits()
    for s in d.score_columns:
        try:
            fits.tables[s] = rsp.rate_score_association(d.fw, d.scores, s, ci=d.ci)
        except NOT_FITTED as exc:
            fits.notes.append(f"{d.score(s).name}: account-level association not estimated "
                              f"({exc}).")
    return fits


def association_entries(d: Design, fits: Fits) -> list[Entry]:
    """``rate_score.<score>.slope`` and ``.weighted_r`` of every fitted score."""
    out = []
    for s, t in fits.tables.items():
        slope, r = t.set_index("term").loc["slope"], t.set_index("term").loc["weighted_r"]
        counts = {"n": int(slope["n"]), "n_accounts": int(slope["n_accounts"])}
        name = d.score(s).name
        out += [Entry(f"rate_score.{s}.slope", slope, {
                    "unit": f"{d.score(s).unit} per unit response rate",
                    "label": f"{name} change per 100 points of account response rate", **counts}),
                Entry(f"rate_score.{s}.weighted_r", r, {
                    **counts, "label": f"weighted r, account response rate x {name}"})]
    return out


def _per10(slope: pd.Series) -> pd.Series:
    return slope[["est", "ci_low", "ci_high"]] / 10


def association_finding(d: Design, s: str, table: pd.DataFrame) -> Finding:
    """What 10 points more account response go with, and the verdict of the interval."""
    slope, r = table.set_index("term").loc["slope"], table.set_index("term").loc["weighted_r"]
    per10 = _per10(slope)
    verdict = ("an interval that includes zero: no clear association"
               if per10["ci_low"] <= 0 <= per10["ci_high"] else
               ("accounts that answer more score higher" if per10["est"] > 0 else
                "accounts that answer more score lower"))
    return Finding(d.score(s).name, (
        f"({d.label}, {int(slope['n_accounts'])} accounts, n = {int(slope['n']):,} "
        f"respondents): an account whose response rate is 10 points higher scores "
        f"{d.score_ci(per10, s, signed=True, extra=1)} ({format_p_text(slope['p_value'])}); "
        f"weighted correlation r = {d.with_ci(r, 2, signed=True)} - {verdict}."))


def account_points(d: Design, s: str) -> pd.DataFrame:
    """Accounts with scored respondents: response rate, mean score ``est`` and ``n``."""
    a = rsp.account_rates(d.fw, d.scores, s)
    return a[a["n"] > 0]


# ----------------------------------------------------------------------------- 3. lateness
def lateness_column(d: Design, lateness: str = "reminders") -> str | None:
    """The lateness measure to use: ``lateness`` if usable, else the other one, else ``None``.

    Usable: at least three respondents with a value and at least two distinct values.
    """
    answered = d.fw[d.fw["responded"]]
    for c in dict.fromkeys([lateness, "reminders", "days_to_respond"]):
        if c in d.fw.columns and answered[c].notna().sum() >= 3 and answered[c].nunique() >= 2:
            return c
    return None


@dataclass
class Lateness:
    """Armstrong-Overton results per score: ``early`` (early/late) and ``trend`` tables.

    A score whose trend could not be fitted may still have its early/late table.
    """

    by: str | None
    early: dict = field(default_factory=dict)
    trend: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def armstrong_overton(d: Design, by: str | None, nonrespondent_at: float | None = None
                      ) -> Lateness:
    """Early against late respondents and the lateness trend of both scores (by ``by``).

    ``nonrespondent_at`` is the lateness assumed for non-respondents; ``None`` or negative:
    one step past the latest respondent. Nothing is estimated when ``by`` is ``None``
    (:func:`lateness_column` found no usable column).
    """
    ao = Lateness(by)
    if by is None:
        return ao
    if nonrespondent_at is not None and nonrespondent_at < 0:
        nonrespondent_at = None
    for s in d.score_columns:
        try:
            ao.early[s] = rsp.early_late(d.fw, d.scores, s, by=by, ci=d.ci)
            ao.trend[s] = rsp.wave_trend(d.fw, d.scores, s, by=by,
                                         nonrespondent_at=nonrespondent_at, ci=d.ci)
        except NOT_FITTED as exc:
            ao.notes.append(f"{d.score(s).name}: early/late comparison not estimated ({exc}).")
    return ao


def lateness_entries(d: Design, ao: Lateness) -> list[Entry]:
    """``ao.<score>.late_minus_early`` (a headline for the CRQ), the slope and the
    extrapolated non-respondents (an assumption, never a value for the whole frame), and the
    table ``ao.summary``."""
    out = []
    note = "assumption: non-respondents continue the trend of late respondents"
    for s in ao.trend:
        el, tr = ao.early[s].set_index("quantity"), ao.trend[s].set_index("quantity")
        out.append(Entry(f"ao.{s}.late_minus_early", el.loc["late_minus_early"], {
            "label": f"{d.score(s).name}: late minus early respondents",
            "headline": s == d.crq.column}))
        out += [Entry(f"ao.{s}.{q}", tr.loc[q], {"note": None if q == "slope" else note})
                for q in ("slope", "nonrespondent_extrapolated")]
    table = lateness_table(d, ao)
    return out + ([] if table is None else [Entry("ao.summary", table, {})])


def _x_range(row: pd.Series) -> str:
    if row["x_low"] == row["x_high"]:
        return f"{row['x_low']:g}"
    return f"{row['x_low']:g}-{row['x_high']:g}"


def lateness_finding(d: Design, ao: Lateness, s: str) -> Finding:
    """Late minus early (worded by :func:`crqlab.formatting.difference_words`), the trend per
    step and what non-respondents would score if they continued it - an assumption about the
    non-respondents only, not an estimate for the whole frame."""
    el, tr = ao.early[s].set_index("quantity"), ao.trend[s].set_index("quantity")
    diff, sl = el.loc["late_minus_early"], tr.loc["slope"]
    ex, rm = tr.loc["nonrespondent_extrapolated"], tr.loc["respondent_mean"]
    early, late = el.loc["early"], el.loc["late"]
    by = ao.by.replace("_", " ")
    step = "reminder" if ao.by == "reminders" else "day"
    words = difference_words(diff["ci_low"], diff["ci_high"], higher="higher than",
                             lower="lower than", none="not clearly different from")
    return Finding(d.score(s).name, (
        f"({d.label}): respondents at {by} {_x_range(late)} (n = {int(late['n']):,}) scored "
        f"{words} those at {_x_range(early)} (n = {int(early['n']):,}): "
        f"{d.score_ci(diff, s, signed=True)}, {format_p_text(diff['p_value'])}. Per extra "
        f"{step} the score changes by {d.score_ci(sl, s, signed=True, extra=1)} "
        f"({format_p_text(sl['p_value'])}; n = {int(sl['n']):,} respondents in "
        f"{int(sl['n_accounts'])} accounts). If non-respondents continued this trend (placed at "
        f"{by} {ex['x']:g} - an assumption about them, not an observation), they would score "
        f"{d.score_ci(ex, s)} against {d.score_ci(rm, s)} for respondents; section 5 says what "
        "such a difference would do to the headline."))


def lateness_table(d: Design, ao: Lateness) -> pd.DataFrame | None:
    """Early, late, their difference, the slope and the extrapolated non-respondents of every
    score, or ``None``."""
    rows = []
    for s in ao.trend:
        trend = ao.trend[s][ao.trend[s]["quantity"].isin(["slope", "nonrespondent_extrapolated"])]
        t = pd.concat([ao.early[s], trend], ignore_index=True)
        t.insert(0, "score", d.score(s).name)
        rows.append(t)
    if not rows:
        return None
    t = pd.concat(rows, ignore_index=True)
    return t[["score", "quantity", "est", "se", "ci_low", "ci_high", "stat", "df", "p_value",
              "n", "n_accounts"]]


def _p_column(table: pd.DataFrame) -> pd.DataFrame:
    table["p_value"] = table["p_value"].map(lambda p: "" if pd.isna(p) else format_p(p))
    return table


def lateness_text(d: Design, table: pd.DataFrame) -> pd.DataFrame:
    """:func:`lateness_table` as text: estimates with intervals and p-values."""
    cols = ["score", "quantity", "est", "ci_low", "ci_high", "p_value", "n", "n_accounts"]
    return _p_column(d.ci_columns(table[cols], 2))


def lateness_groups(d: Design, by: str, s: str) -> pd.DataFrame:
    """Mean score by lateness level (fifths when ``by`` has more than six values), suppressed.

    Returns ``x`` (mean lateness of the group), ``n``, ``est, ci_low, ci_high`` (clustered
    by account) and ``suppressed``.

    Notes
    -----
    Group sizes and means equal a groupby of the respondents; complementary suppression of
    the groups is checked in ``tests/studies/test_response_rates.py``.
    """
    fw = d.fw
    data = fw[fw["responded"]].merge(d.scores[["wave", "contact_id", s]],
                                     on=["wave", "contact_id"], how="left")
    data = data[data[by].notna()].copy()
    data["_pts"] = wt.score_points(data[s], s)
    data = data[data["_pts"].notna()]
    x = data[by].astype(float)
    data["_grp"] = x if x.nunique() <= 6 else pd.qcut(x, 5, duplicates="drop").cat.codes
    rows = []
    for _, part in data.groupby("_grp"):
        row = {"x": float(part[by].astype(float).mean()), "n": len(part)}
        try:
            row.update(wt.weighted_mean(part["_pts"], np.ones(len(part)), part["account_id"],
                                        ci=d.ci)[["est", "ci_low", "ci_high"]].to_dict())
        except InsufficientDataError:
            row.update(est=np.nan, ci_low=np.nan, ci_high=np.nan)
        rows.append(row)
    return privacy.suppress_small(pd.DataFrame(rows), min_cell_size=d.min_cell,
                                  value_cols=["est", "ci_low", "ci_high"], partition=True)


def wave_slopes(d: Design, by: str) -> pd.DataFrame | None:
    """The lateness slope of both scores in every wave; ``None`` unless some other wave has one.

    Text columns: wave label, score name, then ``est, ci_low, ci_high, p_value, n,
    n_accounts``.
    """
    rows = []
    for w in d.waves:
        f = d.frame[d.frame["wave"] == w]
        for s in d.score_columns:
            try:
                t = rsp.wave_trend(f, d.scores, s, by=by, ci=d.ci)
            except NOT_FITTED:
                continue
            rows.append({"wave": d.labels[w], "score": d.score(s).name,
                         **t.iloc[0][["est", "ci_low", "ci_high", "p_value", "n", "n_accounts"]]})
    return pd.DataFrame(rows) if len(rows) > len(d.score_columns) else None


def slopes_text(d: Design, slopes: pd.DataFrame) -> pd.DataFrame:
    """:func:`wave_slopes` as text (three decimals, signed)."""
    t = d.ci_columns(slopes, 3, signed=True)
    t["p_value"] = t["p_value"].map(format_p)
    return t


# ----------------------------------------------------------------------------- 4. weighting
@dataclass
class ResponseModel:
    """The response model of the analysis wave and what it gives.

    Attributes
    ----------
    frame : DataFrame
        The analysis wave's frame with the model's columns (categories with ``unknown``,
        numbers mean-filled with ``<name>_known`` flags, the previous score).
    covariates : list of str
        The model's variables (constant ones left out).
    notes : list of str
        What was left out or filled, and why; a model that could not be fitted.
    adjusted : DataFrame or None
        :func:`crqlab.models.weighting.propensity_adjusted` (``None``: no model).
    weights : Series or None
        The respondents' propensity weights.
    """

    frame: pd.DataFrame
    covariates: list[str]
    notes: list[str]
    adjusted: pd.DataFrame | None = None
    weights: pd.Series | None = None

    @property
    def notes_text(self) -> str:
        """``". Notes: a; b."`` (or ``"."``): the end of the sentence naming the model."""
        return ". Notes: " + "; ".join(self.notes) + "." if self.notes else "."

    def row(self, s: str, method: str) -> pd.Series:
        """The ``unweighted`` or ``propensity`` row of score ``s``."""
        a = self.adjusted
        return a[(a["score"] == s) & (a["method"] == method)].iloc[0]


def _trim(trim: float | None) -> float | None:
    return trim if trim is not None and trim < 1 else None


def _model_frame(d: Design, covariates, label=str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The frame with model-ready covariates: categories as text, numbers mean-filled."""
    pf, cov, notes = d.fw.copy(), [], []
    absent = [c for c in covariates if c not in pf.columns]
    if absent:
        notes.append(f"not in this study's frame: {_labels(absent, label)}")
    for c in [c for c in covariates if c in pf.columns]:
        col = pf[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            pf[c] = col.astype("string").fillna("unknown").astype(str)
        else:
            col = pd.to_numeric(col, errors="coerce").astype(float)
            if col.isna().any():
                pf[f"{c}_known"] = col.notna()
                notes.append(f"{label(c)} unknown for {int(col.isna().sum()):,} contacts "
                             "(mean-filled, flagged)")
                cov.append(f"{c}_known")
            pf[c] = col.fillna(col.mean())
        cov.append(c)
    return pf, cov, notes


def _add_previous(d: Design, pf: pd.DataFrame, cov: list[str], notes: list[str]) -> None:
    """Add the previous wave's CRQ score (and whether it is known) to the model, in place."""
    if d.wave == d.waves[0]:
        notes.append("no previous wave, so no previous score")
        return
    prev = f"prev_{d.crq.column}"
    withprev = rsp.add_previous_score(d.frame, d.scores, d.crq.column)
    pf[prev] = withprev.loc[pf.index, prev]
    pf[f"{prev}_known"] = withprev.loc[pf.index, f"{prev}_known"]
    n_known = int(pf[f"{prev}_known"].sum())
    notes.append(f"previous-wave {d.crq.name} known for {n_known:,} of {d.n_invited:,} contacts")
    if n_known:
        cov += [prev] + ([f"{prev}_known"] if n_known < d.n_invited else [])


def response_model(d: Design, covariates, *, use_previous_score: bool = True,
                   trim: float | None = None, se_method: str = "linearization",
                   n_boot: int = 200, seed: int = 0, label=str) -> ResponseModel:
    """Fit the response model of the analysis wave and weight both scores to the frame.

    Parameters
    ----------
    d : Design
    covariates : list of str
        Frame variables; those not in the frame or constant in the wave are left out (noted).
    use_previous_score : bool
        Add the contact's previous-wave CRQ score where known.
    trim : float, optional
        Cap the weights at this quantile (e.g. 0.99); ``None`` or 1 and above: no cap.
    se_method, n_boot, seed
        As :func:`crqlab.models.weighting.propensity_adjusted`.
    label : callable
        A frame variable's name for reviewers in the notes (the notebook passes the
        glossary's, ``crqlab.reports.present.label``).

    Notes
    -----
    The estimators are validated in ``tests/models/test_weighting.py`` (R ``survey``); the
    choices here (filling, flags, constant columns) in ``tests/studies/test_response_rates.py``.
    """
    trim = _trim(trim)
    pf, cov, notes = _model_frame(d, covariates, label)
    if use_previous_score:
        _add_previous(d, pf, cov, notes)
    constant = [c for c in cov if pf[c].nunique() < 2]
    cov = [c for c in cov if c not in constant]
    if constant:
        notes.append(f"left out as constant in this wave: {_labels(constant, label)}")
    model = ResponseModel(pf, cov, notes)
    if cov:
        try:
            model.adjusted = wt.propensity_adjusted(
                pf, d.scores, cov, score=d.score_columns, trim=trim, se_method=se_method,
                n_boot=n_boot, seed=seed, ci=d.ci)
            model.weights = wt.propensity_weights(pf, cov, trim=trim)
        except NOT_FITTED as exc:
            notes.append(f"the response model could not be fitted ({exc})")
    return model


@dataclass
class Weighted:
    """Unweighted, propensity-weighted and (where possible) raked estimates of both scores."""

    table: pd.DataFrame
    entries: list[Entry]
    notes: list[str]


def _categorical(model: ResponseModel) -> list[str]:
    pf = model.frame
    return [c for c in model.covariates if not c.endswith("_known")
            and not pd.api.types.is_numeric_dtype(pf[c]) and not pd.api.types.is_bool_dtype(pf[c])]


def _raked_rows(d: Design, model: ResponseModel, categorical: list[str]) -> list[dict]:
    """Both scores with respondents raked to the frame's counts of ``categorical``."""
    pf = model.frame
    answered = pf[pf["responded"]]
    raked = wt.rake(answered, {c: pf[c].value_counts() for c in categorical})
    merged = answered[["wave", "contact_id", "account_id"]].merge(
        d.scores[["wave", "contact_id", *d.score_columns]], on=["wave", "contact_id"], how="left")
    rows = []
    for s in d.score_columns:
        pts = wt.score_points(merged[s], s)
        m = wt.weighted_mean(pts, raked.weights.to_numpy(), merged["account_id"], raking=raked,
                             ci=d.ci)
        rows.append({"score": s, "method": f"raked to frame counts of {', '.join(categorical)}",
                     "se_method": "linearization",
                     **m.rename({"n_clusters": "n_accounts"}).to_dict(),
                     "deff_kish": wt.kish_design_effect(raked.weights.to_numpy()[~np.isnan(pts)])})
    return rows


def weighted_estimates(d: Design, model: ResponseModel) -> Weighted:
    """The weighting table of both scores and its entries (``<score>_raked``,
    ``<score>_unweighted``, ``<score>_weighted`` - a headline - and the table
    ``weighting.estimates``); needs a fitted model."""
    methods = {"unweighted": "respondents, unweighted", "propensity": "propensity-weighted"}
    tables = [model.adjusted.assign(method=model.adjusted["method"].map(methods))]
    entries, notes = [], []
    categorical = _categorical(model)
    if categorical:
        try:
            rows = _raked_rows(d, model, categorical)
            tables.append(pd.DataFrame(rows))
            for r in rows:
                r["n"], r["n_accounts"] = int(r["n"]), int(r["n_accounts"])
                entries.append(Entry(f"{r['score']}_raked", r, {
                    "label": f"{d.score(r['score']).name}, raked, {d.label}"}))
        except NOT_FITTED as exc:
            notes.append(f"Raking cross-check not possible ({exc}).")
    for s in d.score_columns:
        info = d.score(s)
        entries += [Entry(f"{s}_unweighted", model.row(s, "unweighted"), {
                        "unit": info.unit, "label": f"{info.name}, respondents, {d.label}"}),
                    Entry(f"{s}_weighted", model.row(s, "propensity"), {
                        "unit": info.unit, "headline": True,
                        "label": f"{info.name}, propensity-weighted to the frame, {d.label}"})]
    table = pd.concat(tables, ignore_index=True)
    return Weighted(table, entries + [Entry("weighting.estimates", table, {})], notes)


def weighted_finding(d: Design, model: ResponseModel, s: str) -> Finding:
    """The weighted headline against the unweighted one, and how far weighting moved it."""
    u, p = model.row(s, "unweighted"), model.row(s, "propensity")
    info = d.score(s)
    return Finding(info.name, (
        f", {d.label}: weighted to the frame {d.score_ci(p, s)}, against {d.score_ci(u, s)} for "
        f"respondents unweighted (n = {int(p['n']):,} respondents in {int(p['n_accounts'])} "
        f"accounts; effective n {p['n_eff']:.0f}). Weighting moves it by "
        f"{format_decimals(p['est'] - u['est'], info.digits, signed=True)} points."))


def weighted_text(d: Design, table: pd.DataFrame) -> pd.DataFrame:
    """:func:`weighted_estimates`' table as text."""
    t = table.assign(score=table["score"].map(lambda s: d.score(s).name))
    return d.ci_columns(t[["score", "method", "est", "ci_low", "ci_high", "n", "n_accounts",
                           "n_eff", "deff_kish"]], 2)


@dataclass
class Diagnostics:
    """The propensity weights' summary and balance (small category levels suppressed)."""

    summary: pd.Series
    balance: pd.DataFrame
    entries: list[Entry]


def _small_levels(d: Design, model: ResponseModel) -> set[str]:
    """``variable=level`` of the categories held by fewer than ``min_cell`` respondents."""
    pf = model.frame
    in_sample = pf["responded"].astype(bool)
    return {f"{c}={v}" for c in model.covariates
            if c in pf and not pd.api.types.is_numeric_dtype(pf[c])
            for v, k in pf.loc[in_sample, c].astype("string").value_counts().reindex(
                pf[c].astype("string").dropna().unique(), fill_value=0).items()
            if k < d.min_cell}


def weight_diagnostics(d: Design, model: ResponseModel) -> Diagnostics:
    """Kish design effect, effective n, weight range and the balance table of the weights.

    A category level held by fewer than ``min_cell`` respondents is suppressed in the
    balance table (its shares would tell how many of those few responded).

    Notes
    -----
    Kish's design effect against its formula and ``deff * n_eff = n`` in
    ``tests/studies/test_response_rates.py``.
    """
    ws = wt.weight_summary(model.weights)
    n = {"n": int(ws["n"])}
    entries = [Entry("weights.deff_kish", ws["deff_kish"],
                     {**n, "label": "Kish design effect of the propensity weights"}),
               Entry("weights.n_eff", ws["n_eff"], {**n, "label": "effective n after weighting"}),
               Entry("weights.max_min_ratio", ws["max_min_ratio"], n)]
    bal = wt.balance_table(model.frame, model.covariates, model.weights)
    bal["suppressed"] = bal["variable"].isin(_small_levels(d, model))
    bal.loc[bal["suppressed"], ["frame_mean", "respondent_mean", "weighted_mean", "asmd_before",
                                "asmd_after"]] = np.nan
    entries += [Entry("weights.max_asmd_before", bal["asmd_before"].max(), {}),
                Entry("weights.max_asmd_after", bal["asmd_after"].max(), {}),
                Entry("weights.balance", bal, {})]
    return Diagnostics(ws, bal, entries)


def variable_label(variable: str, label=str) -> str:
    """A balance-table variable for reviewers: ``"Role: operational"`` for ``role=operational``
    (the name through ``label``)."""
    name, eq, level = str(variable).partition("=")
    return f"{label(name)}: {level}" if eq else label(name)


#: The weight summary's statistics in words (:func:`crqlab.models.weighting.weight_summary`).
WEIGHT_STATS = {"n": "respondents weighted", "sum": "sum of the weights",
                "min": "smallest weight", "p05": "5th percentile", "median": "median weight",
                "p95": "95th percentile", "max": "largest weight",
                "max_min_ratio": "largest / smallest weight", "cv": "coefficient of variation",
                "deff_kish": "design effect of the weights (Kish)",
                "n_eff": "effective number of respondents"}


def diagnostics_table(diag: Diagnostics) -> pd.DataFrame:
    """The weight summary as text: statistics in words, counts as whole numbers."""
    rows = [{"statistic": WEIGHT_STATS.get(k, k),
             "value": (f"{v:,.0f}" if k in ("n", "n_eff") else f"{v:,.2f}" if k != "cv"
                       else f"{v:.3f}")} for k, v in diag.summary.items()]
    return pd.DataFrame(rows)


def balance_text(diag: Diagnostics, label=str) -> pd.DataFrame:
    """The balance table with its variables named for reviewers (:func:`variable_label`)."""
    return diag.balance.assign(variable=[variable_label(v, label)
                                         for v in diag.balance["variable"]])


def diagnostics_sentence(diag: Diagnostics, label=str) -> str:
    """The weights' range, design effect, effective n and the largest imbalance."""
    ws, bal = diag.summary, diag.balance
    worst = bal.loc[bal["asmd_before"].idxmax()]
    return (f"The {int(ws['n']):,} weights range from {ws['min']:.2f} to {ws['max']:.2f} (ratio "
            f"{ws['max_min_ratio']:.1f}); design effect {ws['deff_kish']:.2f}, so the "
            f"{int(ws['n']):,} respondents carry the precision of about {ws['n_eff']:.0f} "
            f"equally weighted ones. Largest imbalance before weighting: "
            f"{variable_label(worst['variable'], label)} ({worst['asmd_before']:.2f}); after "
            f"weighting the largest is {bal['asmd_after'].max():.2f}.")


# ----------------------------------------------------------------------------- 5. sensitivity
@dataclass
class Sensitivity:
    """Not-at-random sensitivity per score, scaled to the data
    (:class:`crqlab.models.nonresponse.MnarSensitivity`), and why a score has none."""

    results: dict
    notes: list[str]

    @property
    def tables(self) -> dict:
        """The grid of each score: ``delta, shift, est, se, ci_low, ci_high,
        nonrespondent_mean`` over the range the data allow."""
        return {s: r.grid for s, r in self.results.items()}

    @property
    def entries(self) -> list[Entry]:
        """``mnar.<score>`` (the base estimate, ``n``) with ``mnar.<score>.frame_min`` and
        ``.frame_max`` (the frame value at the ends of the range), and the tables
        ``delta.<score>`` (the grid) and ``tipping.<score>`` (the delta that overturns each
        conclusion)."""
        out = []
        for s, r in self.results.items():
            b = r.bounds
            n = {"n": int(b["n"])}
            out += [Entry(f"mnar.{s}.frame_min", float(b["frame_min"]), {
                        **n, "note": "non-respondents all at the lowest observed score"}),
                    Entry(f"mnar.{s}.frame_max", float(b["frame_max"]), {
                        **n, "note": "non-respondents all at the highest observed score"}),
                    Entry(f"delta.{s}", r.grid, {}),
                    Entry(f"tipping.{s}", r.tipping, {})]
        return out


def _previous_value(d: Design, s: str) -> tuple[str, float] | None:
    """The previous wave's respondent headline of score ``s`` (label, value), if any."""
    earlier = [w for w in d.waves if w < d.wave]
    if not earlier:
        return None
    w = earlier[-1]
    pts = wt.score_points(d.scores.loc[d.scores["wave"] == w, s], s)
    pts = pts[~np.isnan(pts)]
    return (d.labels[w], float(pts.mean())) if len(pts) else None


def conclusions(d: Design, s: str) -> dict:
    """The conclusions whose tipping point is reported, as ``{label: threshold}``: for the NPS
    that it is positive (more promoters than detractors), and for both scores where it stands
    against the previous wave's respondents."""
    out = {"0 (as many detractors as promoters)": 0.0} if s == "nps" else {}
    prev = _previous_value(d, s)
    if prev is not None:
        label, value = prev
        out[f"the {label} respondents' {format_decimals(value, d.score(s).digits)}"] = value
    return out


def sensitivity(d: Design, model: ResponseModel, trim: float | None = None) -> Sensitivity:
    """How far non-respondents would have to differ to overturn each conclusion, over the
    range the data allow.

    :func:`crqlab.models.nonresponse.mnar_sensitivity` per score: the base is the
    propensity-weighted estimate when the model was fitted (else the respondent mean);
    non-respondents are assumed to score ``delta`` away from comparable respondents, ``delta``
    running from the lowest to the highest score observed among respondents (no fixed grid);
    each conclusion of :func:`conclusions` gets the delta at which it would be overturned.
    ``trim`` as in :func:`response_model`.

    Notes
    -----
    The frame value ``base + (1 - response rate) * delta`` and the ends of the range are
    checked in ``tests/studies/test_response_rates.py``; the estimator (tipping deltas put the
    adjusted interval's bound on its threshold; the range holds the truth on studies where
    response follows the relationship itself) in ``tests/models/test_nonresponse.py`` and
    ``docs/generalisation.md``.
    """
    base_cov = model.covariates if model.adjusted is not None else None
    out = Sensitivity({}, [])
    for s in d.score_columns:
        try:
            out.results[s] = rsp.mnar_sensitivity(model.frame, d.scores, score=s,
                                                  covariates=base_cov,
                                                  thresholds=conclusions(d, s),
                                                  trim=_trim(trim), ci=d.ci)
        except NOT_FITTED as exc:
            out.notes.append(f"{d.score(s).name}: sensitivity not computed ({exc}).")
    return out


def _tipping_sentence(d: Design, s: str, row) -> str:
    """When one conclusion would be overturned, and whether the data allow that delta."""
    f = functools.partial(format_decimals, digits=d.score(s).digits, signed=True)
    what = row["conclusion"]
    low, high = row["delta_low"], row["delta_high"]
    sides = []
    if np.isfinite(low):
        sides.append(f"non-respondents scored more than {format_decimals(-low, d.score(s).digits)}"
                     f" points below comparable respondents (delta {f(low)})")
    if np.isfinite(high):
        sides.append(f"more than {format_decimals(high, d.score(s).digits)} points above them "
                     f"(delta {f(high)})" if sides else
                     f"non-respondents scored more than {format_decimals(high, d.score(s).digits)}"
                     f" points above comparable respondents (delta {f(high)})")
    if not sides:
        return f"{sentence_case(what)} whatever non-respondents think."
    verdict = ("a difference inside the range the data allow" if row["overturned_in_range"]
               else "more than the observed range of answers allows, so it holds whatever "
                    "non-respondents think")
    return f"{sentence_case(what)} unless {' or '.join(sides)}: {verdict}."


def sentence_case(text: str) -> str:
    """``text`` with its first letter in upper case."""
    return text[:1].upper() + text[1:]


def sensitivity_finding(d: Design, s: str, res: Any, ao: Lateness) -> Finding:
    """The range of the frame value the data allow, the tipping point of each conclusion and,
    for scale, the delta the Armstrong-Overton extrapolation implies."""
    b, info = res.bounds, d.score(s)
    fmt = functools.partial(format_decimals, digits=info.digits)
    text = (f"({d.label}, response {_pct(b['response_rate'])}, base: the "
            f"{'propensity-weighted' if b['base'] == 'propensity' else 'respondent'} estimate "
            f"{d.score_ci(b, s)}, n = {int(b['n']):,} of {int(b['n_frame']):,} invited): "
            f"non-respondents cannot score outside the answers observed ({fmt(b['score_min'])} "
            f"to {fmt(b['score_max'])}), so whatever they think the whole frame lies between "
            f"{fmt(b['frame_min'])} and {fmt(b['frame_max'])}. "
            + " ".join(_tipping_sentence(d, s, r) for _, r in res.tipping.iterrows()))
    if s in ao.trend:
        tr = ao.trend[s].set_index("quantity")
        implied = tr.loc["nonrespondent_extrapolated", "est"] - tr.loc["respondent_mean", "est"]
        text += (" For scale: the extrapolation of late respondents' trend (section 3) "
                 f"corresponds to delta = {format_decimals(implied, info.digits, signed=True)} "
                 "(itself an assumption).")
    return Finding(info.name, text)


def tipping_text(d: Design, s: str, res: Any) -> pd.DataFrame:
    """The tipping points of one score as text: conclusion, the deltas between which it holds
    (blank: no limit on that side) and whether the data's range reaches them."""
    f = functools.partial(format_decimals, digits=d.score(s).digits, signed=True)
    t = res.tipping
    return pd.DataFrame({
        "score": d.score(s).name, "conclusion": t["conclusion"],
        "holds from delta": ["no limit" if not np.isfinite(x) else f(x) for x in t["delta_low"]],
        "to delta": ["no limit" if not np.isfinite(x) else f(x) for x in t["delta_high"]],
        "overturned within the data's range": ["yes" if x else "no"
                                               for x in t["overturned_in_range"]]})


# ----------------------------------------------------------------------------- 6. precision
@dataclass
class Precision:
    """Margins of error by response rate (``table``; ``None`` if none could be computed),
    the clustering design effect of each score, entries and notes."""

    table: pd.DataFrame | None
    deff: dict
    entries: list[Entry]
    notes: list[str]


def _cluster_deff(d: Design, answered: pd.DataFrame, out: Precision) -> None:
    """The design effect of clustering in accounts of each score (at least 1)."""
    for s in d.score_columns:
        pts = wt.score_points(answered[s], s)
        try:
            clustered = wt.weighted_mean(pts, np.ones(len(pts)), answered["account_id"], ci=d.ci)
            simple = wt.weighted_mean(pts, np.ones(len(pts)), None, ci=d.ci)
            out.deff[s] = max(1.0, float((clustered["se"] / simple["se"]) ** 2))
            out.entries.append(Entry(f"precision.{s}.deff_cluster", out.deff[s], {
                "n": int(clustered["n"]), "n_accounts": int(clustered["n_clusters"])}))
        except InsufficientDataError as exc:
            out.notes.append(f"{d.score(s).name}: precision not computed ({exc}).")


def _margins(d: Design, answered: pd.DataFrame, deff: dict) -> list[pd.DataFrame]:
    n_inv, crq, nps = d.n_invited, d.crq.column, d.nps.column
    parts = []
    if crq in deff:
        sd = float(pd.to_numeric(answered[crq], errors="coerce").dropna().std())
        parts.append(rsp.precision_by_response_rate(n_inv, crq_sd=sd, deff=deff[crq], ci=d.ci)
                     .assign(score=crq))
    if nps in deff and nps == "nps":
        pts = wt.score_points(answered[nps], "nps")
        pts = pts[~np.isnan(pts)]
        parts.append(rsp.precision_by_response_rate(
            n_inv, p_promoter=float((pts == 100).mean()), p_detractor=float((pts == -100).mean()),
            deff=deff[nps], ci=d.ci))
    elif nps in deff:
        sd = float(pd.to_numeric(answered[nps], errors="coerce").std())
        parts.append(rsp.precision_by_response_rate(n_inv, crq_sd=sd, deff=deff[nps], ci=d.ci)
                     .assign(score=nps))
    return parts


def precision(d: Design) -> Precision:
    """Margin of error of both headlines as response moves from 45% to 85% of the wave's frame.

    With a finite-population correction and the design effect of clustering in accounts
    estimated from the analysis wave
    (:func:`crqlab.models.nonresponse.precision_by_response_rate`).
    Entries: ``precision.<score>.deff_cluster``, the table ``precision.by_response_rate`` and
    ``precision.<score>.moe_rr_<45|85>``.

    Notes
    -----
    A margin of error recomputed by hand (``z * sqrt(deff * sd^2 * (1 - n/N) / n)``) in
    ``tests/studies/test_response_rates.py``.
    """
    fw = d.fw
    answered = fw[fw["responded"]].merge(d.scores[["wave", "contact_id", *d.score_columns]],
                                         on=["wave", "contact_id"], how="left")
    out = Precision(None, {}, [], [])
    _cluster_deff(d, answered, out)
    parts = _margins(d, answered, out.deff)
    if parts and d.n_invited >= 2:
        out.table = pd.concat(parts, ignore_index=True)
        out.entries.append(Entry("precision.by_response_rate", out.table, {}))
        for s, t in out.table.groupby("score", sort=False):
            out.entries += [Entry(f"precision.{s}.moe_rr_{round(100 * r['response_rate'])}",
                                  r["moe"], {"n": int(r["n"])}) for r in (t.iloc[0], t.iloc[-1])]
    return out


def precision_findings(d: Design, prec: Precision) -> list[Finding]:
    """The margin of error at the lowest and highest response rate, per score."""
    out = []
    for s, t in prec.table.groupby("score", sort=False):
        lo, hi, info = t.iloc[0], t.iloc[-1], d.score(s)
        moe_lo, moe_hi = (format_decimals(r["moe"], info.digits) for r in (lo, hi))
        out.append(Finding(info.name, (
            f": with {d.n_invited:,} invited contacts and a clustering design effect of "
            f"{prec.deff[s]:.2f}, the margin of error ({ci_label(d.ci)}) is ±{moe_lo} points at "
            f"{_pct(lo['response_rate'], 0)} response (n = {int(lo['n']):,}) and ±{moe_hi} at "
            f"{_pct(hi['response_rate'], 0)} (n = {int(hi['n']):,}).")))
    return out


def precision_table(d: Design, prec: Precision) -> pd.DataFrame:
    """Respondents and margins of error by response rate, one column per score."""
    t = prec.table
    wide = t.pivot(index="response_rate", columns="score", values="moe").rename(
        columns=lambda s: d.score(s).name)
    wide.columns = [f"margin of error, {c}" for c in wide.columns]
    n = t.drop_duplicates("response_rate").set_index("response_rate")["n"]
    wide.insert(0, "respondents", n)
    wide.index = [_pct(r, 0) for r in wide.index]
    return wide.reset_index(names="response rate")


# ----------------------------------------------------------------------------- 7. change
@dataclass
class Decomposition:
    """Kitagawa decompositions per ``(wave_a, wave_b, score)`` over ``segments``."""

    segments: list[str]
    results: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None

    def overall(self, d: Design) -> pd.DataFrame:
        """The ``segment == "all"`` rows of every decomposition, with waves and score."""
        rows = []
        for (a, b, s), t in self.results.items():
            for _, r in t[t["segment"] == "all"].iterrows():
                rows.append({"from": d.labels[a], "to": d.labels[b], "score": s, **r})
        return pd.DataFrame(rows)


def decompose_changes(d: Design, segments, *, n_boot: int = 200, seed: int = 0
                      ) -> Decomposition:
    """Split every wave-on-wave change of both scores into "scores changed" and "who answered
    changed" over the respondent ``segments`` present (account bootstrap intervals).

    Nothing is decomposed with a single wave or without segment columns: ``reason`` says which.

    Notes
    -----
    Kitagawa additivity (within + composition = total = the change in the mean) in
    ``tests/studies/test_response_rates.py``; the decomposition itself in
    ``tests/models/test_nonresponse.py``.
    """
    dec = Decomposition([c for c in segments if c in d.scores.columns])
    if len(d.waves) < 2:
        first = d.waves[0]
        dec.reason = (f"the study has a single wave ({d.labels[first]}, n = "
                      f"{int((d.scores['wave'] == first).sum()):,} respondents), so there is no "
                      "change to decompose.")
    elif not dec.segments:
        dec.reason = f"none of the segment columns {list(segments)} is in the data."
    if dec.reason:
        return dec
    for a, b in zip(d.waves[:-1], d.waves[1:]):
        for s in d.score_columns:
            try:
                dec.results[(a, b, s)] = rsp.change_decomposition(
                    d.scores, dec.segments, score=s, waves=(a, b), n_boot=n_boot, seed=seed,
                    ci=d.ci)
            except NOT_FITTED as exc:
                dec.notes.append(f"{d.score(s).name}, {d.labels[a]} to {d.labels[b]}: not "
                                 f"decomposed ({exc}).")
    return dec


def decomposition_entries(d: Design, dec: Decomposition) -> list[Entry]:
    """``change.<score>.wave_<a>_<b>.<within|composition|total>`` of every decomposition and
    the table ``change.decomposition``."""
    words = {**COMPONENTS, "total": "total"}
    out = []
    for (a, b, s), t in dec.results.items():
        for _, r in t[t["segment"] == "all"].iterrows():
            out.append(Entry(f"change.{s}.wave_{a}_{b}.{r['component']}", r, {
                "n": int(r["n_b"]),
                "label": (f"{d.score(s).name} change {d.labels[a]} to {d.labels[b]}: "
                          + words[r["component"]])}))
    overall = dec.overall(d)
    if len(overall):
        out.append(Entry("change.decomposition", overall.drop(columns="segment"), {}))
    return out


def _last_pair(d: Design) -> tuple:
    return d.waves[-2], d.waves[-1]


def decomposition_findings(d: Design, dec: Decomposition, label=str) -> list[Finding]:
    """The latest change of each score and its two parts."""
    a, b = _last_pair(d)
    out = []
    for s in d.score_columns:
        if (a, b, s) not in dec.results:
            continue
        t = dec.results[(a, b, s)].set_index(["segment", "component"])
        tot = t.loc[("all", "total")]
        total, within, comp = (d.score_ci(t.loc[("all", c)], s, signed=True, extra=1)
                               for c in ("total", "within", "composition"))
        out.append(Finding(d.score(s).name, (
            f", {d.labels[a]} to {d.labels[b]} (n = {int(tot['n_a']):,} and {int(tot['n_b']):,} "
            f"respondents): change {total}, of which scores changed {within} and who answered "
            f"changed {comp} (segments: {_labels(dec.segments, label)}).")))
    return out


def decomposition_table(d: Design, overall: pd.DataFrame) -> pd.DataFrame:
    """:meth:`Decomposition.overall` as text."""
    t = overall.assign(score=overall["score"].map(lambda s: d.score(s).name),
                       component=overall["component"].map(COMPONENTS))
    return d.ci_columns(t[["from", "to", "score", "component", "est", "ci_low", "ci_high", "n_a",
                           "n_b"]], 2, signed=True)


def segment_detail(d: Design, dec: Decomposition) -> pd.DataFrame | None:
    """The latest change by segment, as text; segments below ``min_cell`` in either wave
    suppressed. ``None`` when nothing was decomposed for the latest pair of waves."""
    a, b = _last_pair(d)
    det = []
    for s in d.score_columns:
        if (a, b, s) in dec.results:
            t = dec.results[(a, b, s)]
            t = t[t["segment"] != "all"].assign(score=d.score(s).name)
            det.append(t.assign(n=t[["n_a", "n_b"]].min(axis=1)))
    if not det:
        return None
    det = privacy.suppress_small(pd.concat(det, ignore_index=True), min_cell_size=d.min_cell,
                                 value_cols=["est", "se", "ci_low", "ci_high", "n_a", "n_b"])
    det["component"] = det["component"].map(COMPONENTS)
    return d.ci_columns(det[["score", "segment", "component", "est", "ci_low", "ci_high", "n_a",
                             "n_b", "suppressed"]], 2, signed=True)


# ----------------------------------------------------------------------------- 8. context
def series_file(path: str | Path = "") -> Path:
    """The published series' file: ``path``, or ``data/raw/deep_insight_series.csv``."""
    return Path(path) if path else DATA_RAW / "deep_insight_series.csv"


def published_series(path: str | Path = "") -> pd.DataFrame | None:
    """Deep-Insight's published series (:func:`series_file`), with ``year_shown`` (``~2019``
    for an approximate year); ``None`` if the file is absent."""
    path = series_file(path)
    if not path.is_file():
        return None
    series = pd.read_csv(path)
    series["year_shown"] = [f"~{y}" if approx else str(y)
                            for y, approx in zip(series["year"], series["year_approximate"])]
    return series


def series_sentence(series: pd.DataFrame) -> str:
    """How few points the published series has, and which count customers, not contacts."""
    both = series.dropna(subset=["response_rate", "nps"])
    customers = ", ".join(both.loc[both["rate_basis"] != "completion rate", "year_shown"])
    return (f"The series has {len(series)} assessments: {series['response_rate'].notna().sum()} "
            f"with a response rate, {series['nps'].notna().sum()} with an NPS and "
            f"{series['crq'].notna().sum()} with a CRQ score; only {len(both)} have both a "
            f"response rate and an NPS, and one of those ({customers or 'none'}) counts "
            "customers rather than contacts.")


def series_table(series: pd.DataFrame) -> pd.DataFrame:
    """The published series as text."""
    t = series[["year_shown", "response_rate", "rate_basis", "crq", "nps", "notes"]].copy()
    for c, digits, options in (("response_rate", 0, {"percent": True}), ("crq", 1, {}),
                               ("nps", 0, {"signed": True})):
        t[c] = ["" if pd.isna(x) else format_decimals(x, digits, **options) for x in t[c]]
    for c in ("rate_basis", "notes"):
        t[c] = t[c].astype(object).where(t[c].notna(), "")
    return t


# ----------------------------------------------------------------------------- caveats
@dataclass
class Caveats:
    """Which non-response caveats the data trigger
    (:func:`crqlab.models.nonresponse.nonresponse_caveats`): ``table`` the checks with their
    evidence, ``sentences`` one caveat per triggered check (empty when none is), ``clean``
    one sentence on the checks that found nothing, ``entries`` the table for results.json."""

    table: pd.DataFrame | None
    sentences: list[str]
    clean: str
    entries: list[Entry]

    @property
    def lines(self) -> list[str]:
        """The caveats, then the sentence on the quiet checks (when there is one)."""
        return self.sentences + ([self.clean] if self.clean else [])


def _labels(names, label) -> str:
    """Names for the middle of a sentence: ``label(name)`` with a leading capital lowered
    (``"Role"`` -> ``"role"``, ``"CRQ index"`` kept)."""
    def low(text: str) -> str:
        return text[:1].lower() + text[1:] if text[1:2].islower() else text
    return ", ".join(low(label(n)) for n in names)


def caveats(d: Design, model: ResponseModel, by: str | None, label=str) -> Caveats:
    """Caveat sentences only where the data show a problem: late respondents scoring
    differently from early ones (the CRQ score), or respondents differing from the frame on a
    variable of the response model (significant and a standardised difference of at least
    0.1). ``label`` names a frame variable for reviewers (the notebook passes the glossary's).

    Notes
    -----
    Both triggers and the quiet case tested on hand-made frames in
    ``tests/studies/test_response_rates.py``; the checks in ``tests/models/test_nonresponse.py``.
    """
    frame_vars = [c for c in model.covariates if not c.endswith("_known")]
    try:
        t = rsp.nonresponse_caveats(model.frame, d.scores, score=d.crq.column,
                                    frame_covariates=frame_vars, by=by or "reminders",
                                    alpha=1 - d.ci, ci=d.ci)
    except NOT_FITTED as exc:
        return Caveats(None, [], f"The non-response checks could not be made ({exc}).", [])
    late, frame = t[t["check"] == "late_respondents"].iloc[0], t[t["check"] == "frame"]
    sentences, quiet = [], []
    late_checked = by is not None and pd.notna(late["est"])
    if late_checked and late["triggered"]:
        words = difference_words(late["ci_low"], late["ci_high"], higher="higher", lower="lower")
        sentences.append(
            f"Late respondents score {words} than early ones on the {d.crq.name} "
            f"({d.score_ci(late, d.crq.column, signed=True)}, {format_p_text(late['p_value'])}): "
            "non-respondents may differ the same way, which weighting on frame variables cannot "
            "correct; section 5 shows how far that could move the headline.")
    elif late_checked:
        quiet.append(f"late respondents score like early ones on the {d.crq.name} "
                     f"({d.score_ci(late, d.crq.column, signed=True)})")
    hit = frame[frame["triggered"]]
    if len(hit):
        sentences.append(
            f"Respondents differ from everyone invited on {_labels(hit['variable'], label)} "
            f"(largest standardised difference {hit['asmd'].max():.2f}): figures not weighted "
            "to the frame are off in that respect; the weighted figures of section 4 correct "
            "for it.")
    calm = frame[~frame["triggered"]]
    if len(calm):
        quiet.append(f"respondents resemble everyone invited on {_labels(calm['variable'], label)}")
    clean = ("No sign of non-response bias in these checks: " + "; ".join(quiet) + ".") \
        if quiet else ""
    return Caveats(t, sentences, clean, [Entry("nonresponse_caveats", t.drop(columns="rule"), {})])


# ----------------------------------------------------------------------------- key findings
class KeyFinding(NamedTuple):
    """One finding for results.json: ``results.finding(question, text, **options)``."""

    question: str
    text: str
    options: dict


def _kind(d: Design, s: str) -> dict:
    """How a finding's numbers on score ``s`` are written: NPS points or scale points."""
    return {"kind": "nps" if s == "nps" else "score", "unit": d.score(s).unit}


Q_RESPONSE = "How many invited contacts answered, and did late ones answer differently?"
Q_WEIGHTED = "What are the headline scores once respondents are weighted to the frame?"
Q_MNAR = "Could non-response that weighting cannot see change the conclusions?"


def key_findings(d: Design, now: pd.Series, ao: Lateness, model: ResponseModel,
                 sens: Sensitivity, cav: Caveats) -> list[KeyFinding]:
    """Two to four sentences per question with estimate, interval and n, for the report's
    "Key findings" and the index page: response and lateness, the weighted headlines, and how
    far not-at-random non-response could move them (tipping points). Every sentence about a
    difference goes through :func:`crqlab.formatting.difference_words`.

    Notes
    -----
    Tested in ``tests/studies/test_response_rates.py`` (each question present with its
    numbers; no direction word on an interval holding zero; accepted by
    ``crqlab.reports.results.Recorder.finding``).
    """
    out = []
    if pd.notna(now["est"]):
        out.append(KeyFinding(Q_RESPONSE, f"In {d.label}, {{est}} {{ci}} of the invited contacts "
                                          "responded ({n}).", dict(
            est=now["est"], ci=(now["ci_low"], now["ci_high"]), n=int(now["n"]),
            quantity="response_rate")))
    s = d.crq.column
    if s in ao.early:
        diff = ao.early[s].set_index("quantity").loc["late_minus_early"]
        words = difference_words(diff["ci_low"], diff["ci_high"], higher="scored higher than",
                                 lower="scored lower than",
                                 none="did not score clearly differently from")
        out.append(KeyFinding(Q_RESPONSE, (
            f"Respondents who answered only after reminders {words} early ones on the "
            f"{d.crq.name}: late minus early {{est}} {{ci}}, {{p}} ({{n}})."), dict(
            est=diff["est"], ci=(diff["ci_low"], diff["ci_high"]), n=int(diff["n"]),
            p_value=diff["p_value"], **_kind(d, s))))
    if model.adjusted is not None:
        for s in d.score_columns:
            p, u = model.row(s, "propensity"), model.row(s, "unweighted")
            out.append(KeyFinding(Q_WEIGHTED, (
                f"Weighted to everyone invited, the {d.score(s).name} of {d.label} is {{est}} "
                f"{{ci}} ({{n}}), against {format_decimals(u['est'], d.score(s).digits)} for "
                f"respondents unweighted."), dict(
                est=p["est"], ci=(p["ci_low"], p["ci_high"]), n=int(p["n"]),
                n_accounts=int(p["n_accounts"]), **_kind(d, s))))
    for s, res in sens.results.items():
        b, info = res.bounds, d.score(s)
        fmt = functools.partial(format_decimals, digits=info.digits)
        rows = res.tipping[res.tipping["threshold"].notna()]
        tip = " ".join(_tipping_sentence(d, s, r) for _, r in rows.iterrows())
        out.append(KeyFinding(Q_MNAR, (
            f"Whatever non-respondents think, the {info.name} of the whole frame lies between "
            f"{fmt(b['frame_min'])} and {fmt(b['frame_max'])} (base {{est}} {{ci}}, {{n}}). "
            + tip), dict(est=b["est"], ci=(b["ci_low"], b["ci_high"]), n=int(b["n"]),
                         **_kind(d, s))))
    for text in cav.sentences:
        out.append(KeyFinding(Q_MNAR, text, dict(why_not="a check of the data, not an estimate")))
    return out


# ----------------------------------------------------------------------------- summary
def summary(d: Design, now: pd.Series, assoc: Fits, ao: Lateness, model: ResponseModel,
            dec: Decomposition, cav: Caveats | None = None) -> list[Finding | str]:
    """The report's findings in one list, each with its interval and n, and the caveats the
    data trigger (:func:`caveats`; none when no check shows a problem)."""
    lines = [Finding("Response", f", {d.label}: {d.with_ci(now, 1, percent=True)} of "
                                 f"{int(now['n']):,} invited contacts.")]
    for s, t in assoc.tables.items():
        sl = t.set_index("term").loc["slope"]
        lines.append(Finding("Accounts that answer more", (
            f": {d.score(s).name} {d.score_ci(_per10(sl), s, signed=True, extra=1)} per 10 points "
            f"of account response rate ({int(sl['n_accounts'])} accounts).")))
    for s in ao.early:
        diff = ao.early[s].set_index("quantity").loc["late_minus_early"]
        lines.append(Finding("Late minus early respondents", (
            f", {d.score(s).name}: {d.score_ci(diff, s, signed=True)} "
            f"({format_p_text(diff['p_value'])}).")))
    if model.adjusted is not None:
        for s in d.score_columns:
            p = model.row(s, "propensity")
            lines.append(Finding(f"{d.score(s).name} weighted to the frame", (
                f": {d.score_ci(p, s)} (n = {int(p['n']):,}, effective n {p['n_eff']:.0f}).")))
    if cav is not None:
        lines += cav.sentences
    if len(d.waves) >= 2 and (*_last_pair(d), d.crq.column) in dec.results:
        a, b = _last_pair(d)
        t = dec.results[(a, b, d.crq.column)].set_index(["segment", "component"])
        lines.append(Finding(f"{d.crq.name} change {d.labels[a]} to {d.labels[b]}", (
            f": {d.with_ci(t.loc[('all', 'total')], 3, signed=True)}; who answered changed "
            f"{d.with_ci(t.loc[('all', 'composition')], 3, signed=True)}.")))
    return lines
