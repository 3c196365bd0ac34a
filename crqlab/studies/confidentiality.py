"""Confidential versus disclosed responses: the study logic of ``20_confidentiality``.

How much do named responses inflate scores, and who chooses confidentiality? Two designs
answer it, and the study's data decide which can run:

- **cross-sectional** (the Company B design): one wave offers optional confidentiality and
  those who chose it are compared with those who waived it (:func:`who_chooses`,
  :func:`compare_scores`, :func:`gap_regression`);
- **panel** (the Company A design): a wave with optional confidentiality is followed by one
  without it, with the same contacts (:func:`build_panel`, :func:`within_changes`,
  :func:`naming_effects`, :func:`headline_shift`);
- the **what-if** arithmetic from group aggregates (:func:`what_if_from_study`,
  :func:`company_a_example`).

:func:`prepare` scores the study once; :func:`choose_design` reads each wave's regime and says
which design runs on which waves, and why the other cannot. Every step returns a small result
object: the estimates (tidy frames, naming rule of ``docs/naming.md``), tables of text for
reviewers, plain-text sentences (no Markdown: the notebook escapes and shows them), ``notes``
on what could not be estimated, ``findings`` for the summary and ``records`` - the entries of
``results.json`` in the order the notebook records them. The statistics are in
:mod:`crqlab.models.bias`; this module decides what to run and words the results.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from crqlab.data.privacy import (
    confidential_identifiers,
    effective_min_cell_size,
    safe_verbatims,
    suppress_small,
)
from crqlab.errors import CrqlabError
from crqlab.formatting import (
    ci_table,
    difference_words,
    format_ci,
    format_ci_sentence,
    format_fixed,
    format_p,
    format_p_text,
    format_signed_ci,
)
from crqlab.measures.nps import nps_test
from crqlab.measures.scoring import score_items
from crqlab.models import bias
from crqlab.models.invariance import item_names, measurement_invariance, plain_summary
from crqlab.models.sem import measurement_syntax
from crqlab.stats import mean_ci

#: Numbers in this study's sentences: plain fixed-point, no thousands separators.
_fixed = functools.partial(format_fixed, grouping=False)

__all__ = ["Record", "Step", "KeyFinding", "Q_WHO", "Q_GAP", "Q_PANEL", "Setting", "prepare",
           "nps_points", "sentence",
           "Design", "wave_regimes", "cross_section_problem", "panel_counts", "panel_problem",
           "choose_design", "wave_table",
           "cross_section_frame", "share_segments", "WhoChooses", "who_chooses",
           "comparable_scores", "ScoreComparison", "compare_scores",
           "GapRegression", "gap_regression", "Invariance", "named_answer_invariance",
           "Panel", "build_panel", "Changes", "within_changes", "NamingEffects",
           "naming_effects", "HeadlineShift", "headline_shift",
           "what_if_table", "what_if_records", "WhatIfStep", "what_if_from_study",
           "COMPANY_A", "COMPANY_A_SCENARIO", "company_a", "CompanyAExample", "company_a_example",
           "Comment", "Verbatims", "confidential_comments"]

#: Company A's published figures (completion of the wave without confidentiality, mean 0-10
#: answer before and after), by wave-1 group.
COMPANY_A = {"completion": {"confidential": Fraction("0.55"), "named": Fraction("0.70")},
             "before": {"confidential": Fraction("6.3"), "named": Fraction("7.1")},
             "after": {"confidential": Fraction("7.5"), "named": Fraction("7.2")}}
#: Company A's behaviour as a scenario for another study: completion and change per group.
COMPANY_A_SCENARIO = {"completion": {"confidential": 0.55, "named": 0.70},
                      "change": {"confidential": 1.2, "named": 0.1}}
_PANEL_SCORES = {"nps_mean": "nps", "nps": "nps_points"}  # + the instrument's index
_ESTIMATION_ERRORS = (CrqlabError, ValueError, np.linalg.LinAlgError)


class Record(NamedTuple):
    """One entry of ``results.json``: ``results.record(name, value, **options)``, or
    ``results.record_table(name, value, **options)`` when ``table``."""

    name: str
    value: Any
    options: dict
    table: bool = False


@dataclass(frozen=True, eq=False, kw_only=True)
class Step:
    """What every step returns beside its estimates.

    Attributes
    ----------
    notes : list of str
        What could not be estimated, and why (with the n).
    findings : list of str
        Plain-language sentences for the summary.
    records : list of Record
        The entries of ``results.json``, in the order the report records them.
    key : list of KeyFinding
        The step's key findings (``results.finding``): plain words with estimate, interval and
        n, for the report's "Key findings" box and the index page.
    """

    notes: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    records: list = field(default_factory=list)
    key: list = field(default_factory=list)


class KeyFinding(NamedTuple):
    """One finding for results.json: ``results.finding(question, text, **options)``."""

    question: str
    text: str
    options: dict


Q_WHO = "Who chooses confidentiality?"
Q_GAP = "Do confidential respondents score differently from named ones?"
Q_PANEL = "What happens to the same people once confidentiality is removed?"


def _evidence(row: Any, setting: Setting, s: str, p: bool = True, **extra: Any) -> dict:
    """Estimate, interval, n (and p) of a result row for :class:`KeyFinding`, written as the
    kind of score ``s`` (NPS points or scale points)."""
    out = {"est": _field(row, "est"), "ci": (_field(row, "ci_low"), _field(row, "ci_high")),
           "n": int(_field(row, "n")), "kind": "nps" if s in ("nps", "nps_bootstrap") else "score",
           "unit": setting.units.get(s, "")}
    if p:
        out["p_value"] = _field(row, "p_value")
    return {**out, **extra}


def _mid(label: str) -> str:
    """A label for the middle of a sentence: ``"Mean 0-10 answer"`` -> ``"mean 0-10 answer"``
    (``"CRQ index"`` kept)."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _entry(name: str, value: Any, **options: Any) -> Record:
    return Record(name, value, options)


def _table(name: str, frame: pd.DataFrame, **options: Any) -> Record:
    return Record(name, frame, options, table=True)


def _attempt(notes: list[str], what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run one estimator; when the data cannot support it, note why and return None."""
    try:
        return fn(*args, **kwargs)
    except _ESTIMATION_ERRORS as exc:
        notes.append(f"{what} could not be estimated: {exc}")
        return None


def _field(row: Any, name: str) -> Any:
    """``row[name]`` of a Series or mapping, ``row.name`` of a named tuple."""
    return getattr(row, name) if isinstance(row, tuple) else row[name]


def _ci(row: Any, digits: int = 2, scale: float = 1.0, sign: bool = False) -> str:
    """A result row as table text, ``est [ci_low, ci_high]`` (every sign shown with ``sign``)."""
    fmt = format_signed_ci if sign else format_ci
    return fmt(*(_field(row, k) for k in ("est", "ci_low", "ci_high")), digits=digits,
               scale=scale)


def sentence(text: str) -> str:
    """``text`` with its first letter in upper case."""
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- set-up
@dataclass(frozen=True, eq=False)
class Setting:
    """A study scored for this question, with the rules every step follows.

    Attributes
    ----------
    study : crqlab.data.study.Study
    scored : DataFrame
        ``study.respondents()`` (no names or e-mails) with the element and index scores and
        ``nps_points`` (+100 promoter, 0 passive, -100 detractor: its mean is the NPS).
    min_cell : int
        Smallest group shown.
    ci : float
        Confidence level of every interval.
    labels, units : dict
        Reader's name and unit of each score (``nps_mean``, ``nps``, elements, index).
    elements, index_scores : list of str
        The instrument's elements and its overall index (empty if it has none).
    """

    study: Any
    scored: pd.DataFrame
    min_cell: int
    ci: float
    labels: dict
    units: dict
    elements: list
    index_scores: list

    @property
    def pct(self) -> str:
        """The confidence level as text, ``"95%"``."""
        return f"{100 * self.ci:g}%"

    @property
    def alpha(self) -> float:
        """The significance level that matches the intervals."""
        return 1 - self.ci

    def wave_name(self, wave: int) -> str:
        """``"wave 4 (2023)"``."""
        return f"wave {wave} ({self.study.wave_label(wave)})"

    def count(self, k: int) -> str:
        """A count of people, or ``"fewer than <min>"`` for a small cell (but not zero)."""
        return f"{int(k):,}" if k == 0 or k >= self.min_cell else f"fewer than {self.min_cell}"

    def significant(self, p: Any) -> bool:
        """Whether a p-value is below ``alpha`` (False when missing)."""
        return p is not None and not pd.isna(p) and p < self.alpha

    def prose(self, row: Any, digits: int = 2, sign: bool = False, scale: float = 1.0,
              unit: str = "", p: Any = None, extra: str = "") -> str:
        """A result row (``est``, ``ci_low``, ``ci_high`` as items or attributes) as a sentence
        reads it, at this setting's level: :func:`crqlab.formatting.format_ci_sentence`."""
        est, low, high = (_field(row, k) for k in ("est", "ci_low", "ci_high"))
        return format_ci_sentence(est, low, high, level=self.ci, digits=digits, sign=sign,
                                  scale=scale, unit=unit, p=p, extra=extra)


def nps_points(answers: pd.Series) -> pd.Series:
    """Each 0-10 answer as its contribution to the NPS: +100 (9-10), 0 (7-8), -100 (0-6).

    The mean of the result is the Net Promoter Score; missing answers stay missing.

    Notes
    -----
    The promoter/detractor cut-offs of :mod:`crqlab.measures.nps`; tested in
    ``tests/studies/test_confidentiality.py``.
    """
    answer = pd.to_numeric(answers, errors="coerce").astype(float)
    points = pd.Series(np.where(answer >= 9, 100.0, np.where(answer <= 6, -100.0, 0.0)),
                       index=answers.index)
    return points.mask(answer.isna())


def prepare(study: Any, min_cell_size: int = 0, ci: float = 0.95) -> Setting:
    """Score ``study`` and fix the rules (minimum cell size, confidence level, labels).

    Parameters
    ----------
    study : crqlab.data.study.Study
    min_cell_size : int
        The notebook parameter: 0 for the study's own; never below it.
    ci : float
        Confidence level of every interval.
    Notes
    -----
    Labels, units and the minimum cell size tested in ``tests/studies/test_confidentiality.py``.
    """
    instrument = study.instrument
    elements = list(instrument.elements)
    index_scores = [instrument.index_name] if instrument.index_name else []
    scale = f"{instrument.scale_min:g}-{instrument.scale_max:g}"
    respondents = study.respondents()
    scored = pd.concat([respondents, score_items(respondents, instrument, facets=False,
                                                 levels=False)], axis=1)
    scored["nps_points"] = nps_points(scored["nps"])
    scores = [*elements, *index_scores]
    labels = {"nps_mean": "Mean 0-10 answer", "nps": "Net Promoter Score",
              **{e: instrument.label(e) for e in scores}}
    units = {"nps_mean": "0-10 scale", "nps": "points, -100 to +100",
             **{e: f"{scale} scale" for e in scores}}
    return Setting(study, scored, effective_min_cell_size(study, min_cell_size), ci, labels,
                   units, elements, index_scores)


# --------------------------------------------------------------------------- design
def _regime(declared: str, known: int, n_conf: int) -> tuple[str, str]:
    if declared in ("optional", "none", "all"):
        return declared, "study.yaml"
    offered = "none" if known == 0 or n_conf == 0 else "all" if n_conf == known else "optional"
    return offered, "inferred from the data"


def wave_regimes(setting: Setting) -> pd.DataFrame:
    """Each wave's confidentiality regime and how many respondents chose it.

    Returns
    -------
    DataFrame
        Indexed by ``wave``: ``label``, ``offered`` (``optional``, ``none``, ``all``),
        ``source`` (study.yaml, or inferred from the recorded choices where it declares
        none), ``n`` respondents, ``n_flagged`` with a recorded choice, ``n_confidential``,
        ``n_named``.

    Notes
    -----
    Declared and inferred regimes tested on hand-made studies in
    ``tests/studies/test_confidentiality.py``.
    """
    study, scored, rows = setting.study, setting.scored, []
    for w in study.waves:
        flag = scored.loc[scored["wave"] == w, "confidential"]
        known = int(flag.notna().sum())
        n_conf = int(flag.fillna(False).astype(bool).sum())
        offered, source = _regime(study.confidentiality_offered(w), known, n_conf)
        rows.append({"wave": w, "label": study.wave_label(w), "offered": offered,
                     "source": source, "n": len(flag), "n_flagged": known,
                     "n_confidential": n_conf, "n_named": known - n_conf})
    return pd.DataFrame(rows).set_index("wave")


def cross_section_problem(setting: Setting, waves: pd.DataFrame, wave: int) -> str | None:
    """Why ``wave`` cannot be compared cross-sectionally (None when it can), with the n."""
    r, name, m = waves.loc[wave], setting.wave_name(wave), setting.min_cell
    if r["offered"] == "none":
        return f"{name} did not offer confidentiality (n = {r['n']:,} respondents)"
    if r["offered"] == "all":
        return (f"in {name} every respondent was confidential by design (n = {r['n']:,}): "
                "there is nobody named to compare with")
    if r["n_flagged"] == 0:
        return (f"{name} offered optional confidentiality but the data record no choice (no "
                f"`confidential` column or all blank; n = {r['n']:,} respondents)")
    if r["n_named"] == 0:
        return (f"in {name} every respondent chose confidentiality (n = {r['n_flagged']:,}): "
                "there is nobody named to compare with")
    if r["n_confidential"] < m or r["n_named"] < m:
        return (f"in {name} {setting.count(r['n_confidential'])} respondents chose "
                f"confidentiality and {setting.count(r['n_named'])} waived it (n = "
                f"{r['n_flagged']:,}): each group needs at least {m}")
    return None


def panel_counts(setting: Setting, first: int, second: int) -> dict[str, int]:
    """Wave-``first`` respondents with a recorded choice who were invited to wave ``second``.

    Returns ``n``, ``n_confidential``, ``n_named`` (invited again, by first-wave choice) and
    ``completed_confidential``, ``completed_named`` (of those, who answered wave ``second``).
    """
    scored, contacts = setting.scored, setting.study.contacts
    r1 = scored[(scored["wave"] == first) & scored["confidential"].notna()]
    invited = set(contacts.loc[contacts["wave"] == second, "contact_id"])
    done = set(scored.loc[scored["wave"] == second, "contact_id"])
    members = r1[r1["contact_id"].isin(invited)]
    conf = members["confidential"].astype(bool)
    completed = members["contact_id"].isin(done)
    return {"n": len(members), "n_confidential": int(conf.sum()), "n_named": int((~conf).sum()),
            "completed_confidential": int((conf & completed).sum()),
            "completed_named": int((~conf & completed).sum())}


def panel_problem(setting: Setting, waves: pd.DataFrame, wave: int) -> str | None:
    """Why ``wave`` and the next wave do not make a panel (None when they do), with the n."""
    problem = cross_section_problem(setting, waves, wave)
    if problem:
        return problem
    name, later = setting.wave_name(wave), [v for v in setting.study.waves if v > wave]
    if not later:
        return (f"{name} is the last wave: no later wave without confidentiality shows how "
                "the same people answer once named")
    nxt, next_name = later[0], setting.wave_name(later[0])
    if waves.loc[nxt, "offered"] != "none":
        return (f"the wave after {name}, {next_name}, does not remove confidentiality (it is "
                f"'{waves.loc[nxt, 'offered']}')")
    c = panel_counts(setting, wave, nxt)
    if c["n"] == 0:
        return f"none of the {name} respondents was invited again in {next_name}"
    if min(c["completed_confidential"], c["completed_named"]) < setting.min_cell:
        return (f"of the {c['n']:,} {name} respondents invited again in {next_name}, "
                f"{setting.count(c['completed_confidential'])} previously confidential and "
                f"{setting.count(c['completed_named'])} named respondents completed it: each "
                f"group needs at least {setting.min_cell}")
    return None


@dataclass(frozen=True, eq=False)
class Design(Step):
    """Which comparisons the study supports, on which waves, and why not.

    ``cross_section_text`` and ``panel_text`` follow "runs" / "cannot run." in the report;
    ``unknown_wave`` is true when the ``wave`` asked for is not a wave of the study.
    """

    waves: pd.DataFrame
    cross_section_wave: int | None
    panel_first_wave: int | None
    panel_second_wave: int | None
    cross_section_text: str
    panel_text: str
    unknown_wave: bool

    @property
    def cross_section_runs(self) -> bool:
        return self.cross_section_wave is not None

    @property
    def panel_runs(self) -> bool:
        return self.panel_first_wave is not None


def _why_not(setting: Setting, waves: pd.DataFrame, reasons: dict, wave: int) -> str:
    """One sentence: why no candidate wave works (every distinct reason, joined)."""
    if not reasons:
        return f"Wave {wave} is not a wave of this study."
    optional = (waves["offered"] == "optional").any()
    if not optional and (waves["n_flagged"] == 0).all() and (waves["offered"] != "all").all():
        return (f"Confidentiality was never offered in this study and the data record no choice "
                f"(n = {len(setting.scored):,} responses in {len(setting.study.waves)} wave(s)).")
    offered = [w for w in reasons if waves.loc[w, "offered"] != "none"] or list(reasons)
    return sentence("; ".join(dict.fromkeys(reasons[w] for w in offered if reasons[w]))) + "."


def _design_texts(setting: Setting, waves: pd.DataFrame, xs: int | None,
                  pair: tuple | None) -> tuple[str, str]:
    xs_text = panel_text = ""
    if xs is not None:
        r = waves.loc[xs]
        xs_text = (f"on {setting.wave_name(xs)}, where {r['n_confidential']:,} of "
                   f"{r['n_flagged']:,} respondents chose confidentiality.")
    if pair is not None:
        c = panel_counts(setting, *pair)
        panel_text = (f"on {setting.wave_name(pair[0])} (optional confidentiality) followed by "
                      f"{setting.wave_name(pair[1])} (none): {c['n']:,} respondents of the first "
                      f"wave were invited again ({c['n_confidential']:,} had chosen "
                      f"confidentiality) and {c['completed_confidential'] + c['completed_named']:,}"
                      " completed the second.")
    return xs_text, panel_text


def choose_design(setting: Setting, wave: int = 0) -> Design:
    """Which design runs on which waves: the latest usable wave (or ``wave``, when not 0).

    Returns
    -------
    Design
        The cross-sectional wave (optional confidentiality, at least ``min_cell`` respondents
        choosing it and waiving it) and the panel pair (that wave followed by one without
        confidentiality in which at least ``min_cell`` of each group completed), or None with
        the reason, which names the waves and their n.

    Notes
    -----
    Tested on hand-made studies in ``tests/studies/test_confidentiality.py`` (every reason) and
    end to end on the company-a, company-b and no-confidentiality synthetic studies in
    ``tests/notebooks/test_notebook_20.py``.
    """
    study, waves = setting.study, wave_regimes(setting)
    unknown = bool(wave) and wave not in study.waves
    candidates = [] if unknown else [wave] if wave else list(study.waves)
    xs_reasons = {w: cross_section_problem(setting, waves, w) for w in candidates}
    panel_reasons = {w: panel_problem(setting, waves, w) for w in candidates}
    xs = max([w for w, p in xs_reasons.items() if p is None], default=None)
    w1 = max([w for w, p in panel_reasons.items() if p is None], default=None)
    w2 = None if w1 is None else min(v for v in study.waves if v > w1)
    xs_text, panel_text = _design_texts(setting, waves, xs, None if w1 is None else (w1, w2))
    xs_why = _why_not(setting, waves, xs_reasons, wave)
    if xs is None:
        xs_text = xs_why
    if w1 is None:
        panel_text = (f"{_why_not(setting, waves, panel_reasons, wave)} The within-person change, "
                      "difference in differences, attrition-aware estimates and the "
                      "decomposition of the headline shift need such a pair of waves.")
    findings = [] if xs is not None or w1 is not None else [
        "This study supports neither design, so nothing about confidentiality can be estimated "
        "from it: " + xs_why]
    records = [_entry("design.cross_sectional", xs is not None,
                      label="Cross-sectional confidentiality comparison possible"),
               _entry("design.panel", w1 is not None,
                      label="Panel (confidentiality removed) comparison possible"),
               _entry("design.cross_sectional_wave", xs), _entry("design.panel_first_wave", w1),
               _entry("design.panel_second_wave", w2), _entry("min_cell_size", setting.min_cell)]
    key = [KeyFinding(Q_WHO, findings[0], {"why_not": "the study supports neither design"})] \
        if findings else []
    return Design(waves, xs, w1, w2, xs_text, panel_text, unknown, findings=findings,
                  records=records, key=key)


def wave_table(setting: Setting, waves: pd.DataFrame) -> pd.DataFrame:
    """The waves' regimes for reviewers: counts below the minimum cell size as "fewer than"."""
    t = waves.reset_index()
    t["chose confidentiality"] = [setting.count(k) if o != "none" else "–"
                                  for k, o in zip(t["n_confidential"], t["offered"])]
    t["waived it"] = [setting.count(k) if o == "optional" else "–"
                      for k, o in zip(t["n_named"], t["offered"])]
    t = t.rename(columns={"offered": "confidentiality", "n": "respondents"})
    return t[["wave", "label", "confidentiality", "source", "respondents",
              "chose confidentiality", "waived it"]].set_index("wave")


# --------------------------------------------------------------------------- who chooses
def cross_section_frame(setting: Setting, wave: int) -> pd.DataFrame:
    """The respondents of ``wave`` with a recorded choice; ``confidential`` as bool."""
    scored = setting.scored
    xw = scored[(scored["wave"] == wave) & scored["confidential"].notna()].copy()
    xw["confidential"] = xw["confidential"].astype(bool)
    return xw


def share_segments(xw: pd.DataFrame, columns: list[str], private: set[str]
                   ) -> tuple[list[str], list[str]]:
    """Segments to show the share choosing confidentiality by, and those withheld.

    A column is a segment when present, not an identifier (``bias.IDENTIFYING_COLUMNS``) and
    with 2 to 30 levels; it is withheld when a level equals one of the ``private`` strings
    (confidential respondents' names and ids: e.g. an account manager sharing a name with a
    contact).
    """
    segments, withheld = [], []
    for c in dict.fromkeys(columns):
        if c not in xw.columns or c in bias.IDENTIFYING_COLUMNS or not 1 < xw[c].nunique() <= 30:
            continue
        (withheld if set(xw[c].dropna().astype(str)) & private else segments).append(c)
    return segments, withheld


@dataclass(frozen=True, eq=False)
class WhoChooses(Step):
    """Who chose confidentiality in the cross-sectional wave.

    ``share`` is :func:`crqlab.models.bias.confidentiality_share` by segment (``n`` blanked
    where suppressed), ``table`` its text for reviewers, ``bars`` the rows for a bar chart
    (overall, newly included, role), ``accounts`` the accounts with at least ``min_cell``
    respondents (``size``, ``share``), ``accounts_shown`` whether there are enough of them to
    show their spread.
    """

    share: pd.DataFrame
    table: pd.DataFrame
    bars: pd.DataFrame
    accounts: pd.DataFrame
    accounts_shown: bool
    intro: str
    text: str
    accounts_text: str


def _newly_included_gap(setting: Setting, xw: pd.DataFrame) -> tuple[str, str, list]:
    """Text, finding part and record of the newly-included-minus-others difference."""
    if "newly_included" not in xw:
        return "", "", []
    new = xw["newly_included"]
    k = [int(xw.loc[new == v, "confidential"].sum()) for v in (True, False)]
    n = [int((new == v).sum()) for v in (True, False)]
    if min(n) < setting.min_cell:
        return (f" Newly included contacts cannot be compared with the others: one group has "
                f"fewer than {setting.min_cell} respondents."), "", []
    gap = bias.proportion_difference(k[0], n[0], k[1], n[1], ci=setting.ci)
    diff = setting.prose(gap, 1, True, 100, " points",
                         gap["p_value"], f"n = {n[0]:,} newly included, {n[1]:,} others")
    text = (f" Among newly included contacts {100 * k[0] / n[0]:.1f}% chose it against "
            f"{100 * k[1] / n[1]:.1f}% of the others: a difference of {diff}.")
    finding = (f" ({100 * k[0] / n[0]:.0f}% of newly included contacts, "
               f"{100 * k[1] / n[1]:.0f}% of the others)")
    return text, finding, [_entry("share_confidential.newly_included_difference", gap,
                                  unit="difference in share (newly included - others)")]


def _account_spread(setting: Setting, xw: pd.DataFrame) -> tuple[pd.DataFrame, str, list]:
    """Accounts with at least ``min_cell`` respondents, the sentence and the records."""
    acc = xw.groupby("account_id", observed=True)["confidential"].agg(["size", "sum"])
    big = acc[acc["size"] >= setting.min_cell]
    big = big.assign(share=big["sum"] / big["size"])
    any_conf = int((acc["sum"] > 0).sum())
    records = [_entry("share_confidential.accounts_with_any", any_conf / len(acc), n=len(acc),
                      unit="share of accounts with respondents")]
    text = (f"Confidential respondents came from {any_conf:,} of the {len(acc):,} accounts with "
            f"respondents ({100 * any_conf / len(acc):.0f}%).")
    if len(big) >= setting.min_cell:
        q1, med, q3 = big["share"].quantile([0.25, 0.5, 0.75])
        records.append(_entry("share_confidential.account_median", med, n=len(big),
                              unit="median share over accounts",
                              note=f"accounts with {setting.min_cell}+ respondents"))
        text += (f" Among the {len(big):,} accounts with at least {setting.min_cell} respondents,"
                 f" the median share choosing confidentiality was {100 * med:.0f}% (quartiles "
                 f"{100 * q1:.0f}% and {100 * q3:.0f}%).")
    return big, text, records


def _share_bars(shown: pd.DataFrame) -> pd.DataFrame:
    bars = shown[shown["segment"].isin(["all", "newly included", "role"])]
    return bars.assign(group=[f"{s}: {lv}" if s != "all" else "all respondents"
                              for s, lv in zip(bars["segment"], bars["level"])])


def who_chooses(setting: Setting, xw: pd.DataFrame, wave: int) -> WhoChooses:
    """The share choosing confidentiality in ``wave``, overall, by segment and over accounts.

    Wilson intervals (:func:`crqlab.models.bias.confidentiality_share`); newly included
    contacts against the others with the Newcombe interval
    (:func:`crqlab.models.bias.proportion_difference`); segments below ``min_cell`` are
    suppressed and accounts appear only as a distribution.

    Notes
    -----
    Shares checked against the respondents' own mean in
    ``tests/studies/test_confidentiality.py`` and against the study's CSV files in
    ``tests/notebooks/test_notebook_20.py``.
    """
    study, m = setting.study, setting.min_cell
    segments, withheld = share_segments(xw, ["newly_included", "role", *study.segments],
                                        confidential_identifiers(study))
    share = bias.confidentiality_share(xw, by=segments, ci=setting.ci, min_cell_size=m)
    share["n"] = share["n"].astype("Int64").mask(share["suppressed"])
    overall = share.iloc[0]
    shown = share.assign(segment=share["segment"].str.replace("_", " "), level=[
        {"True": "yes", "False": "no"}.get(v, v) if s == "newly_included" else v
        for s, v in zip(share["segment"], share["level"])])
    table = ci_table(shown, ["segment", "level"], scale=100, digits=1, min_cell_size=m).rename(
        columns={"estimate": "chose confidentiality (%)", "n": "respondents"})
    not_by = ", ".join(w.replace("_", " ") for w in withheld)
    intro = (f"Share who chose confidentiality, % with {setting.pct} Wilson intervals"
             + (f" (not shown by {not_by}: a group label equals a respondent's name or id)"
                if withheld else "") + ":")
    gap_text, gap_finding, gap_records = _newly_included_gap(setting, xw)
    text = (f"In {setting.wave_name(wave)}, "
            f"{setting.prose(overall, 1, scale=100, unit='%')}"
            f" of respondents chose confidentiality ({int(overall['n_confidential']):,} of "
            f"{len(xw):,} in {xw['account_id'].nunique():,} accounts). Company B's published "
            "figures were 26% overall and 38% among newly included contacts." + gap_text)
    finding = (f"{100 * overall['est']:.0f}% of respondents chose confidentiality in "
               f"{setting.wave_name(wave)}{gap_finding}.")
    big, acc_text, acc_records = _account_spread(setting, xw)
    records = [_entry("share_confidential", overall, unit="share of respondents", headline=True,
                      label=f"Share choosing confidentiality, {setting.wave_name(wave)}"),
               _table("share_confidential.by_segment", share, min_cell_size=m),
               *gap_records, *acc_records]
    key = [KeyFinding(Q_WHO, (f"In {setting.wave_name(wave)}, {{est}} {{ci}} of respondents chose "
                              "confidentiality ({n})."), {
        "est": overall["est"], "ci": (overall["ci_low"], overall["ci_high"]),
        "n": int(overall["n"]), "n_accounts": xw["account_id"].nunique(),
        "quantity": "share_confidential"})]
    if gap_records:
        g = gap_records[0].value
        words = difference_words(g["ci_low"], g["ci_high"], higher="more often than",
                                 lower="less often than", none="about as often as")
        key.append(KeyFinding(Q_WHO, (f"Newly included contacts chose it {words} the others: "
                                      "a difference of {est} {ci}, {p} ({n})."), {
            "est": g["est"], "ci": (g["ci_low"], g["ci_high"]), "n": len(xw),
            "p_value": g["p_value"], "quantity": "share_confidential.newly_included_difference"}))
    return WhoChooses(share, table, _share_bars(shown), big, len(big) >= m, intro, text,
                      acc_text, findings=[finding], records=records, key=key)


# --------------------------------------------------------------------------- score gap
def comparable_scores(setting: Setting, xw: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Scores with at least ``max(2, min_cell)`` answers in both groups, and the others."""
    compared, too_few = [], []
    for s in ["nps_mean", "nps", *setting.elements, *setting.index_scores]:
        col = "nps" if s == "nps_mean" else s
        if col not in xw:
            continue
        k = [int(xw.loc[xw["confidential"] == g, col].notna().sum()) for g in (True, False)]
        (compared if min(k) >= max(2, setting.min_cell) else too_few).append(s)
    return compared, too_few


@dataclass(frozen=True, eq=False)
class ScoreComparison(Step):
    """Confidential against named respondents, score by score.

    ``differences`` is :func:`crqlab.models.bias.score_differences` (None when nothing could
    be compared), ``nps_bootstrap`` the account-cluster bootstrap NPS difference, ``table`` the
    text for reviewers, ``hedges`` the standardised differences (``score`` label, ``est``,
    ``ci_low``, ``ci_high``, ``n``) for a plot, ``lead`` one sentence per headline score and
    ``verdict`` the count of significant gaps with the n.
    """

    compared: list
    too_few: list
    differences: pd.DataFrame | None = None
    nps_bootstrap: pd.Series | None = None
    table: pd.DataFrame | None = None
    hedges: pd.DataFrame | None = None
    lead: list = field(default_factory=list)
    verdict: str = ""


def _nps_bootstrap(setting: Setting, xw: pd.DataFrame, notes: list, n_boot: int, seed: int):
    conf = xw["confidential"]
    b = _attempt(notes, "The clustered NPS difference", nps_test, xw.loc[conf, "nps"],
                 xw.loc[~conf, "nps"], method="bootstrap", ci=setting.ci,
                 clusters_x=xw.loc[conf, "account_id"], clusters_y=xw.loc[~conf, "account_id"],
                 n_boot=n_boot, seed=seed, joint=True)
    return None if b is None else b.iloc[0]


def _score_row(setting: Setting, d: dict, s: str, boot: pd.Series | None) -> dict:
    """One row of the reviewers' table of score differences."""
    digits = 1 if s == "nps" else 2
    row = {"score": setting.labels[s], "scale": setting.units[s]}
    for g in ("confidential", "named"):
        r = d[s, g]
        row[g] = f"{_ci(r, digits)} (n={int(r.n):,})"
    r = d[s, "difference"]
    row["difference"] = _ci(r, digits, sign=True)
    row["p (Welch t / Wald z)"] = format_p(r.p_value)
    if s == "nps":
        row["Hedges g"] = row["P(confidential > named)"] = row["p (Mann-Whitney)"] = "–"
        if boot is not None:
            row["difference"] += f"; clustered {_ci(boot, 1, sign=True)}"
            row["p (Welch t / Wald z)"] += f"; clustered {format_p(boot['p_value'])}"
        return row
    g, m = d[s, "hedges_g"], d[s, "mann_whitney"]
    row["Hedges g"] = _ci(g, 2, sign=True)
    row["P(confidential > named)"] = _ci(m, 2)
    row["p (Mann-Whitney)"] = format_p(m.p_value)
    return row


def _score_records(setting: Setting, diffs: pd.DataFrame, d: dict, s: str,
                   boot: pd.Series | None) -> list[Record]:
    """The entries of one score, in the order the report records them."""
    unit = setting.units[s]
    out = [_entry(f"difference.{s}",
                  diffs[(diffs["score"] == s) & (diffs["measure"] == "difference")].iloc[0],
                  unit=unit, label=f"{setting.labels[s]}: confidential minus named respondents")]
    for g in ("confidential", "named"):
        gr = d[s, g]
        out.append(_entry(f"{s}.{g}", gr.est, ci=(gr.ci_low, gr.ci_high), se=gr.se, n=int(gr.n),
                          unit=unit))
    if s == "nps" and boot is not None:
        out.append(_entry("difference.nps_bootstrap", boot["est"],
                          ci=(boot["ci_low"], boot["ci_high"]), se=boot["se"],
                          p_value=boot["p_value"], n=int(boot["n_x"] + boot["n_y"]),
                          n_accounts=int(boot["n_accounts"]), unit=setting.units["nps"],
                          note="account-cluster bootstrap"))
    elif s != "nps":
        g, m = d[s, "hedges_g"], d[s, "mann_whitney"]
        out.append(_entry(f"hedges_g.{s}", g.est, ci=(g.ci_low, g.ci_high), se=g.se, n=int(g.n)))
        out.append(_entry(f"superiority.{s}", m.est, ci=(m.ci_low, m.ci_high), stat=m.stat,
                          p_value=m.p_value, n=int(m.n), note="P(confidential > named) + ties/2"))
    return out


def _score_sentences(setting: Setting, d: dict, compared: list) -> tuple[list, str, list]:
    """Lead sentences (0-10 answer, NPS, index), the verdict and the finding."""
    lower, higher = _lower_higher(setting, d, compared)
    lead = []
    for s in [x for x in ("nps_mean", "nps", *setting.index_scores) if x in compared]:
        r, digits = d[s, "difference"], (0 if s == "nps" else 2)
        lead.append(f"{setting.labels[s]}: {_fixed(d[s, 'confidential'].est, digits)} for "
                    f"confidential against {_fixed(d[s, 'named'].est, digits)} for named "
                    f"respondents, a difference of "
                    f"{setting.prose(r, digits, True, p=r.p_value)}")
    verdict = (f"At the {100 * setting.alpha:g}% level, confidential respondents scored lower on "
               f"{len(lower)} and higher on {len(higher)} of the {len(compared)} scores compared"
               + (f" (lower: {', '.join(setting.labels[s] for s in lower)})" if lower else "")
               + f". n = {int(d[compared[0], 'confidential'].n):,} confidential and "
               f"{int(d[compared[0], 'named'].n):,} named respondents. A cross-sectional gap "
               "mixes selection (who chooses confidentiality) with inflation (how being named "
               "changes answers); this design alone cannot tell them apart.")
    findings = []
    if "nps_mean" in compared:
        r = d["nps_mean", "difference"]
        findings.append(f"Confidential respondents' mean 0-10 answer differed from named "
                        f"respondents' by "
                        f"{setting.prose(r, 2, True, p=r.p_value)}.")
    return lead, verdict, findings


def _lower_higher(setting: Setting, d: dict, compared: list) -> tuple[list, list]:
    """Scores on which confidential respondents scored clearly lower, and clearly higher."""
    clear = {s: difference_words(d[s, "difference"].ci_low, d[s, "difference"].ci_high,
                                 higher="higher", lower="lower") for s in compared}
    return ([s for s in compared if clear[s] == "lower"],
            [s for s in compared if clear[s] == "higher"])


def _main_result(setting: Setting, d: dict, compared: list,
                 boot: pd.Series | None) -> tuple[str, list, str]:
    """The cross-section's main result - the gap on the instrument's index (else the 0-10
    answer), with interval, p and how many scores are lower - the key findings and the note
    of the headline entry."""
    main = next((x for x in (*setting.index_scores, "nps_mean") if x in compared), compared[0])
    lower, higher = _lower_higher(setting, d, compared)
    r = d[main, "difference"]
    words = difference_words(r.ci_low, r.ci_high, higher="higher than", lower="lower than",
                             none="not clearly different from")
    count = (f"; confidential respondents scored clearly lower on {len(lower)} and clearly "
             f"higher on {len(higher)} of the {len(compared)} scores compared")
    key = [KeyFinding(Q_GAP, (
        f"Confidential respondents scored {words} named ones on the {_mid(setting.labels[main])}: "
        f"{{est}} {{ci}}, {{p}} ({{n}}){count}. A gap at one time mixes who chooses "
        "confidentiality with how being named changes answers."),
        _evidence(r, setting, main))]
    nps = boot if boot is not None else (d["nps", "difference"] if "nps" in compared else None)
    if nps is not None:
        row = {k: _field(nps, k) for k in ("est", "ci_low", "ci_high", "p_value")}
        row["n"] = int(_field(d["nps", "difference"], "n"))
        w = difference_words(row["ci_low"], row["ci_high"], higher="higher than",
                             lower="lower than", none="not clearly different from")
        key.append(KeyFinding(Q_GAP, (
            f"Their Net Promoter Score was {w} named respondents': {{est}} {{ci}}, {{p}} ({{n}})."),
            _evidence(row, setting, "nps")))
    note = (f"confidential respondents clearly lower on {len(lower)} and clearly higher on "
            f"{len(higher)} of {len(compared)} scores compared")
    return main, key, note


def compare_scores(setting: Setting, xw: pd.DataFrame, n_boot: int = 499,
                   seed: int = 0) -> ScoreComparison:
    """Confidential minus named on the 0-10 answer, the NPS, every element and the index.

    Group means with t intervals, Welch's t test, Hedges' g and the Mann-Whitney probability
    of superiority (:func:`crqlab.models.bias.score_differences`); for the NPS the two-sample
    Wald test and an account-cluster bootstrap (:func:`crqlab.measures.nps.nps_test`). Scores
    with fewer than ``max(2, min_cell)`` answers in a group are not compared.

    Notes
    -----
    Group means and differences checked against direct computation from the study's files in
    ``tests/studies/test_confidentiality.py`` and ``tests/notebooks/test_notebook_20.py``; the
    estimators are validated in ``tests/models/test_bias.py``.
    """
    compared, too_few = comparable_scores(setting, xw)
    notes = ([(f"Not compared (fewer than {setting.min_cell} answers in a group): "
              f"{', '.join(setting.labels.get(s, s) for s in too_few)}.")] if too_few else [])
    diffs = _attempt(notes, "The score comparison", bias.score_differences, xw,
                     scores=compared, ci=setting.ci) if compared else None
    if diffs is None:
        return ScoreComparison(compared, too_few, notes=notes)
    d = {(r.score, r.measure): r for r in diffs.itertuples()}
    boot = _nps_bootstrap(setting, xw, notes, n_boot, seed) if "nps" in compared else None
    table = pd.DataFrame([_score_row(setting, d, s, boot) for s in compared]).set_index("score")
    records = [r for s in compared for r in _score_records(setting, diffs, d, s, boot)]
    hedges = pd.DataFrame([{"score": setting.labels[s], "est": d[s, "hedges_g"].est,
                            "ci_low": d[s, "hedges_g"].ci_low, "ci_high": d[s, "hedges_g"].ci_high,
                            "n": int(d[s, "hedges_g"].n)} for s in compared if s != "nps"])
    lead, verdict, findings = _score_sentences(setting, d, compared)
    main, key, note = _main_result(setting, d, compared, boot)
    for i, r in enumerate(records):  # the main result is the headline of the cross-section
        if r.name == f"difference.{main}":
            records[i] = Record(r.name, r.value, {**r.options, "headline": True, "note": note},
                                r.table)
    return ScoreComparison(compared, too_few, diffs, boot, table, hedges, lead, verdict,
                           notes=notes, findings=findings,
                           records=[*records, _table("score_differences", diffs)], key=key)


# --------------------------------------------------------------------------- regression
#: Reviewers' names of the regression terms (with the newly-included interaction).
_TERMS = {"confidential": "Confidential vs named, not newly included",
          "confidential + confidential:newly_included": "Confidential vs named, newly included",
          "confidential:newly_included": "Interaction: extra gap among newly included",
          "newly_included": "Newly included vs not, named respondents"}
#: Recorded stem of each term.
_TERM_STEMS = {"confidential": "confidential_effect", "confidential:newly_included": "interaction",
               "confidential + confidential:newly_included": "confidential_effect_newly_included"}


@dataclass(frozen=True, eq=False)
class GapRegression(Step):
    """Account-clustered regressions of the 0-10 answer and the index on confidentiality.

    ``models`` maps a score to :func:`crqlab.models.bias.clustered_effects` (indexed by
    ``term``); ``moderator`` is ``"newly_included"`` when the interaction was estimated;
    ``cells`` the mean 0-10 answer of the four newly-included x confidentiality groups
    (suppressed below ``min_cell``), for a plot.
    """

    moderator: str | None
    controls: tuple
    models: dict
    table: pd.DataFrame | None = None
    intro: str = ""
    lines: list = field(default_factory=list)
    cells: pd.DataFrame | None = None


def _moderator(setting: Setting, xw: pd.DataFrame, notes: list) -> str | None:
    """``"newly_included"`` when each newly included x confidentiality cell is large enough."""
    if "newly_included" not in xw or not xw["newly_included"].notna().any():
        return None
    cells = pd.crosstab(xw["newly_included"], xw["confidential"])
    if cells.shape == (2, 2) and int(cells.to_numpy().min()) >= setting.min_cell:
        return "newly_included"
    notes.append(f"The interaction is not estimated: a newly included x confidentiality cell has "
                 f"fewer than {setting.min_cell} respondents (n = {len(xw):,}); the model "
                 "without it follows.")
    return None


def _regression_records(setting: Setting, s: str, t: pd.DataFrame, controls: tuple) -> list:
    out = []
    for term, stem in _TERM_STEMS.items():
        if term in t.index:
            out.append(_entry(f"{stem}.{s}", t.loc[term], unit=setting.units[s],
                              label=(f"Extra confidential gap among newly included "
                                     f"({setting.labels[s]})" if stem == "interaction" else None)))
    # control terms (e.g. role[...]) are left out: a small role level would publish the
    # adjusted mean of fewer than min_cell respondents
    own = ~t.index.str.startswith(tuple(f"{c}[" for c in controls))
    return out + [_table(f"clustered_effects.{s}", t[own].reset_index())]


def _regression_lines(setting: Setting, models: dict, moderator: str | None) -> tuple[list, list]:
    lines, findings, prose = [], [], setting.prose
    for s, t in models.items():
        a = t.loc["confidential"]
        if not moderator:
            lines.append(f"{setting.labels[s]}: confidential minus named, adjusted for role, "
                         f"{prose(a, 2, True, p=a['p_value'])}.")
            continue
        b, i = (t.loc[k] for k in ("confidential + confidential:newly_included",
                                   "confidential:newly_included"))
        lines.append(f"{setting.labels[s]}: confidential respondents differed by "
                     f"{prose(a, 2, True, p=a['p_value'])} "
                     f"among contacts not newly included and by "
                     f"{prose(b, 2, True, p=b['p_value'])} "
                     f"among newly included ones; the interaction is "
                     f"{prose(i, 2, True, p=i['p_value'])}.")
    if moderator and "nps_mean" in models:
        i = models["nps_mean"].loc["confidential:newly_included"]
        pattern = ("matches the Company B pattern: the gap is larger among newly included contacts"
                   if setting.significant(i["p_value"]) and i["est"] < 0 else
                   "does not show a significantly larger gap among newly included contacts")
        lines.append(f"On the 0-10 answer this study {pattern}.")
        findings.append(f"The extra confidential-minus-named gap among newly included contacts "
                        f"(0-10 answer) is "
                        f"{prose(i, 2, True, p=i['p_value'])}.")
    return lines, findings


def _gap_cells(setting: Setting, xw: pd.DataFrame) -> pd.DataFrame:
    """Mean 0-10 answer (t interval) of the four newly-included x confidentiality groups."""
    rows = []
    for new in (False, True):
        for conf in (True, False):
            v = xw.loc[(xw["newly_included"] == new) & (xw["confidential"] == conf), "nps"]
            m = mean_ci(pd.to_numeric(v, errors="coerce").astype(float), setting.ci)
            rows.append({"group": f"{'newly included' if new else 'not newly included'}, "
                                  f"{'confidential' if conf else 'named'}", **m.to_dict()})
    # the four cells partition the respondents: complementary suppression
    return suppress_small(pd.DataFrame(rows), "n", setting.min_cell, partition=True)


def _regression_table(setting: Setting, models: dict, moderator: str | None) -> pd.DataFrame:
    names = dict(_TERMS, confidential=("Confidential vs named" if moderator is None
                                       else _TERMS["confidential"]))
    return pd.DataFrame({f"{setting.labels[s]} ({setting.units[s]})": {
        label: f"{_ci(t.loc[term], sign=True)}, p {format_p(t.loc[term, 'p_value'])}"
        for term, label in names.items() if term in t.index} for s, t in models.items()})


def gap_regression(setting: Setting, xw: pd.DataFrame, compared: list[str]) -> GapRegression:
    """Does the gap depend on who is asked? Score ~ confidential x newly included + role.

    OLS with CR1 standard errors clustered by account
    (:func:`crqlab.models.bias.clustered_effects`) for the 0-10 answer and the index (those of
    them in ``compared``); the interaction only when every newly included x confidentiality
    cell has at least ``min_cell`` respondents.

    Notes
    -----
    Both branches tested in ``tests/studies/test_confidentiality.py`` (the interaction equals
    the difference of the two confidential effects); the estimator is validated against R
    ``sandwich::vcovCL`` in ``tests/models/test_bias.py``.
    """
    notes: list[str] = []
    moderator = _moderator(setting, xw, notes)
    controls = tuple(c for c in ("role",) if c in xw and xw[c].nunique() > 1)
    models = {}
    for s in [x for x in ("nps_mean", *setting.index_scores) if x in compared]:
        t = _attempt(notes, f"The clustered regression of {setting.labels[s]}",
                     bias.clustered_effects, xw, s, moderator=moderator, controls=controls,
                     ci=setting.ci)
        if t is not None:
            models[s] = t.set_index("term")
    if not models:
        return GapRegression(moderator, controls, models, notes=notes)
    first = next(iter(models.values()))
    intro = (f"Coefficients (score points) with {setting.pct} intervals and p-values; controls: "
             f"{', '.join(controls) or 'none'}; n = {int(first['n'].iloc[0]):,} respondents in "
             f"{int(first['n_accounts'].iloc[0]):,} accounts.")
    lines, findings = _regression_lines(setting, models, moderator)
    records = [r for s, t in models.items() for r in _regression_records(setting, s, t, controls)]
    cells = _gap_cells(setting, xw) if moderator and "nps_mean" in models else None
    key = []
    if moderator:
        s = next(iter(models))
        i = models[s].loc["confidential:newly_included"]
        words = difference_words(i["ci_low"], i["ci_high"], higher="smaller", lower="larger",
                                 none="neither clearly larger nor clearly smaller")
        key.append(KeyFinding(Q_GAP, (
            f"Among newly included contacts the confidential-minus-named gap on the "
            f"{_mid(setting.labels[s])} is {words} than among the others (the Company B pattern "
            "is a larger gap): difference {est} {ci}, {p} ({n}), clustered by account."),
            _evidence(i, setting, s, n_accounts=int(i["n_accounts"]))))
    return GapRegression(moderator, controls, models, _regression_table(setting, models, moderator),
                         intro, lines, cells, notes=notes, findings=findings, records=records,
                         key=key)


@dataclass(frozen=True, eq=False)
class Invariance(Step):
    """Is the named-answer shift a shift of the latent scores or item bias? Measurement
    invariance of the elements' questions between confidential and named respondents.

    ``level`` is the highest step that holds (``"scalar"``, ``"partial metric"``... or None
    when it could not be tested); ``verdict`` the sentence; ``table`` the steps for people.
    """

    level: str | None = None
    verdict: str | None = None
    table: pd.DataFrame | None = None


def named_answer_invariance(setting: Setting, xw: pd.DataFrame, *, estimator: str = "MLR",
                            max_free: int = 3, min_group: int = 100) -> Invariance:
    """Measurement invariance of the CRQ elements between confidential and named respondents
    (configural, metric, scalar; partial invariance by freeing up to ``max_free`` constraints
    per step), worded for the report.

    Parameters
    ----------
    setting : Setting
    xw : DataFrame
        The cross-section's respondents (:func:`cross_section_frame`).
    estimator : {"MLR", "ML"}
        MLR (the default for 1-7 answers): scaled difference tests and robust CFI/RMSEA.
    max_free : int
        Constraints the partial-invariance search may free per step.
    min_group : int
        Fewest complete respondents per group for the test to run.

    Notes
    -----
    The ladder and its rule are :func:`crqlab.models.invariance.measurement_invariance`
    (validated against lavaan's ``group.equal`` fits and ``lavTestLRT``); this function
    chooses the model (every element measured by its questions), the groups and the words.
    Tested in ``tests/studies/test_confidentiality.py``.
    """
    notes: list[str] = []
    items = setting.study.instrument.element_items()
    items = {e: its for e, its in items.items() if e in setting.elements and len(its) >= 2}
    cols = [i for its in items.values() for i in its]
    if not items or not set(cols) <= set(xw.columns):
        return Invariance(notes=["Measurement invariance was not tested: the elements' "
                                 "questions are not in the data."])
    data = xw[cols].apply(pd.to_numeric, errors="coerce")
    data["group"] = np.where(xw["confidential"].to_numpy(dtype=bool), "Confidential", "Named")
    complete = data.dropna()
    counts = complete["group"].value_counts()
    if len(counts) < 2 or counts.min() < max(min_group, setting.min_cell):
        return Invariance(notes=[
            f"Measurement invariance was not tested: it needs at least "
            f"{max(min_group, setting.min_cell)} complete respondents in each group "
            f"(confidential {int(counts.get('Confidential', 0))}, named "
            f"{int(counts.get('Named', 0))})."])
    syntax = measurement_syntax(items)
    result = _attempt(notes, "Measurement invariance", measurement_invariance, syntax,
                      complete, "group", steps=("metric", "scalar"), estimator=estimator,
                      max_free=max_free)
    if result is None:
        return Invariance(notes=notes)
    level = result.level
    names = item_names(items, setting.labels)
    text, table = plain_summary(
        result, f"Between confidential ({int(counts['Confidential'])}) and named "
                f"({int(counts['Named'])}) respondents", names)
    scalar = level in ("scalar", "partial scalar", "strict", "partial strict")
    records = [_entry("invariance.scalar_holds", bool(scalar), n=int(len(complete)),
                      note=text),
               _entry("invariance.n_freed", len(result.freed), n=int(len(complete)))]
    return Invariance(notes=notes, findings=[text], records=records, level=level,
                      verdict=text, table=table)


# --------------------------------------------------------------------------- panel
@dataclass(frozen=True, eq=False)
class Panel(Step):
    """The panel of first-wave respondents invited again, and who completed the second wave.

    ``frames`` maps a score (``nps_mean``, ``nps``, the index) to
    :func:`crqlab.models.bias.panel_frame` - empty when the 0-10 answer's panel cannot be built;
    ``adjust`` is the wave-1 score the DiD adjusts for (``""`` for none); ``completion`` is
    :func:`crqlab.models.bias.completion_by_group` indexed by group.
    """

    first_wave: int
    second_wave: int
    frames: dict
    adjust: str
    completion: pd.DataFrame | None = None
    table: pd.DataFrame | None = None
    text: str = ""


def _panel_frames(setting: Setting, first: int, second: int, adjust: str, notes: list) -> dict:
    scored = setting.scored
    pw = scored[scored["wave"].isin([first, second])]
    covariates = [c for c in ("account_id", "role", "newly_included") if c in pw]
    frames = {}
    # every wave-1 element: the doubly robust DiD's adjustment set (bias.adjustment_set), which
    # also holds the single-element alternative ``adjust``
    baseline = list(dict.fromkeys([*(e for e in setting.elements if e in pw),
                                   *filter(None, [adjust])]))
    for s, col in {**_PANEL_SCORES, **{i: i for i in setting.index_scores}}.items():
        p = _attempt(notes, f"The panel of {setting.labels[s]}", bias.panel_frame, pw,
                     setting.study.contacts, score=col, waves=(first, second),
                     covariates=covariates, baseline=baseline)
        if p is not None:
            frames[s] = p
    return frames if "nps_mean" in frames else {}


def _completion_text(setting: Setting, comp: pd.DataFrame, second: int) -> tuple[str, str]:
    c, n_, dif = comp.loc["confidential"], comp.loc["named"], comp.loc["difference"]
    diff = setting.prose(dif, 1, True, 100, " points",
                         dif["p_value"], f"n = {int(c['n']):,} and {int(n_['n']):,}")
    reading = ("The completion rates do not differ significantly."
               if not setting.significant(dif["p_value"]) else
               "Removing confidentiality lost previously confidential respondents selectively."
               if dif["est"] < 0 else "Previously confidential respondents completed more often.")
    text = (f"Of those who had chosen confidentiality, {100 * c['est']:.0f}% completed "
            f"{setting.wave_name(second)}, against {100 * n_['est']:.0f}% of those who had "
            f"waived it: a difference of {diff}. Company A's figures were 55% and 70%. {reading}")
    finding = (f"Once confidentiality was removed, {100 * c['est']:.0f}% of previously "
               f"confidential respondents completed the next wave against "
               f"{100 * n_['est']:.0f}% of named ones, a difference of "
               f"{setting.prose(dif, 1, True, 100, ' points')}.")
    return text, finding


def _completion_table(setting: Setting, comp: pd.DataFrame, first: int) -> pd.DataFrame:
    return pd.DataFrame({
        "completed / invited again": [f"{int(comp.loc[g, 'n_completed']):,} / "
                                      f"{int(comp.loc[g, 'n']):,}"
                                      for g in ("confidential", "named")] + ["–"],
        "completion (%)": [_ci(comp.loc[g], 1, 100, sign=g == "difference") for g in comp.index],
        "p": ["", "", format_p(comp.loc["difference", "p_value"])]},
        index=pd.Index([f"chose confidentiality in {setting.wave_name(first)}",
                        f"named in {setting.wave_name(first)}", "difference"], name="group"))


def build_panel(setting: Setting, first: int, second: int, adjust_for: str = "") -> Panel:
    """The panel of ``first``-wave respondents invited to ``second``, and their completion.

    ``adjust_for`` names the wave-1 score of the single-covariate alternative DiD (ignored, with
    a note, when it is not a score of the study); the default DiD adjusts for every wave-1
    element and segment (:func:`naming_effects`). Completion by wave-1 choice with Wilson
    intervals, and the difference with the Newcombe interval
    (:func:`crqlab.models.bias.completion_by_group`).

    Notes
    -----
    Completion checked against the study's files in ``tests/studies/test_confidentiality.py``
    and ``tests/notebooks/test_notebook_20.py``.
    """
    adjust = adjust_for if adjust_for and adjust_for in setting.scored.columns else ""
    notes = ([(f"The wave-1 score '{adjust_for}' asked for is not a score of this study; the "
              "single-score alternative is left out.")] if adjust_for and not adjust else [])
    frames = _panel_frames(setting, first, second, adjust, notes)
    if not frames:
        return Panel(first, second, frames, adjust, notes=notes)
    comp = bias.completion_by_group(frames["nps_mean"], ci=setting.ci).set_index("group")
    records = [_entry(f"completion.{g}", comp.loc[g], unit="share completing the next wave",
                      label=(f"Completed {setting.wave_name(second)}: {g}"
                             if g != "difference" else None)) for g in comp.index]
    text, finding = _completion_text(setting, comp, second)
    return Panel(first, second, frames, adjust, comp, _completion_table(setting, comp, first),
                 text, notes=notes, findings=[finding], records=records)


@dataclass(frozen=True, eq=False)
class Changes(Step):
    """Within-person change of the completers, by wave-1 choice.

    ``changes`` maps a score to :func:`crqlab.models.bias.within_change` indexed by group;
    ``trajectories`` holds the 0-10 answer's means for a plot: per ``group`` (``chose
    confidentiality``, ``named``) the completers' ``est, ci_low, ci_high, n`` in ``wave_1`` and
    ``wave_2`` and everyone's in ``wave_1_all`` (column ``point``).
    """

    changes: dict
    table: pd.DataFrame | None = None
    intro: str = ""
    text: str = ""
    trajectories: pd.DataFrame | None = None


def _change_rows(setting: Setting, panel: Panel, s: str, t: pd.DataFrame) -> tuple[list, list]:
    rows, records, digits = [], [], 0 if s == "nps" else 2
    for g, r in t.iterrows():
        if r["n"] < setting.min_cell:
            continue
        rows.append({"score": setting.labels[s], "group": g, "n": f"{int(r['n']):,}",
                     setting.wave_name(panel.first_wave): _fixed(r["mean_w1"], digits),
                     setting.wave_name(panel.second_wave): _fixed(r["mean_w2"], digits),
                     "change": _ci(r, digits, sign=True),
                     "p (paired t)": format_p(r["p_value"])})
        records.append(_entry(f"change.{g}.{s}", r, unit=setting.units[s]))
    return rows, records


def _trajectories(setting: Setting, pf: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for g, conf in (("chose confidentiality", True), ("named", False)):
        sel = pf[(pf["confidential"] == conf) & pf["change"].notna()]
        points = {"wave_1": sel["score_w1"], "wave_2": sel["score_w2"],
                  "wave_1_all": pf.loc[pf["confidential"] == conf, "score_w1"]}
        rows += [{"group": g, "point": k, **mean_ci(v, setting.ci).to_dict()}
                 for k, v in points.items()]
    return pd.DataFrame(rows)


def _change_text(setting: Setting, ch: pd.DataFrame) -> str:
    a, b, prose = ch.loc["confidential"], ch.loc["named"], setting.prose
    return (f"On the 0-10 answer, those who had chosen confidentiality went from "
            f"{a['mean_w1']:.1f} to {a['mean_w2']:.1f} once named, a change of "
            f"{prose(a, 2, True, p=a['p_value'])}; those "
            f"named all along went from {b['mean_w1']:.1f} to {b['mean_w2']:.1f}, a change of "
            f"{prose(b, 2, True, p=b['p_value'])} (n = "
            f"{int(a['n']):,} and {int(b['n']):,} completers). Company A: 6.3 to 7.5 and 7.1 "
            "to 7.2.")


def within_changes(setting: Setting, panel: Panel) -> Changes:
    """How the same people's scores changed once named (paired t intervals and tests).

    :func:`crqlab.models.bias.within_change` per score; groups below ``min_cell`` completers
    are neither shown nor recorded.

    Notes
    -----
    Mean changes checked against the paired answers in the study's files in
    ``tests/studies/test_confidentiality.py``.
    """
    notes: list[str] = []
    changes, rows, records = {}, [], []
    for s, p in panel.frames.items():
        t = _attempt(notes, f"The within-person change of {setting.labels[s]}",
                     bias.within_change, p, ci=setting.ci)
        if t is not None:
            changes[s] = t.set_index("group")
            more_rows, more_records = _change_rows(setting, panel, s, changes[s])
            rows, records = rows + more_rows, records + more_records
    table = pd.DataFrame(rows).set_index(["score", "group"]) if rows else None
    intro = (f"Completers with both answers; mean in each wave and the within-person change with "
             f"its {setting.pct} interval.")
    if "nps_mean" not in changes:
        return Changes(changes, table, intro, notes=notes, records=records)
    return Changes(changes, table, intro, _change_text(setting, changes["nps_mean"]),
                   _trajectories(setting, panel.frames["nps_mean"]), notes=notes,
                   records=records)


@dataclass(frozen=True, eq=False)
class NamingEffects(Step):
    """The effect of being named on previously confidential respondents (DiD).

    ``effects`` maps a score to its estimates: ``did`` (doubly robust, the default),
    ``did_single`` (adjusted for the wave-1 ``adjust`` score only), ``did_unadjusted``,
    ``did_ipw`` (weighted for attrition) and ``lee`` (Lee bounds); one that could not be
    estimated is missing, with the reason in ``notes``.
    """

    effects: dict
    table: pd.DataFrame | None = None
    intro: str = ""
    text: str = ""


#: The panel DiD's methods (``crqlab.models.bias.did_estimates``): recorded stem and reader's name.
_DID_METHODS = {"doubly_robust": ("did", ("DiD, doubly robust: every wave-1 element and "
                                          "segment (default)")),
                "single": ("did_single", "DiD adjusted for wave-1 {adjust} only"),
                "plain": ("did_unadjusted", "DiD, unadjusted (parallel trends)")}


def _estimate_effects(setting: Setting, p: pd.DataFrame, s: str, adjust: str, n_boot: int,
                      seed: int, notes: list) -> dict:
    label, ci, e = setting.labels[s], setting.ci, {}
    single = f"{adjust}_w1" if adjust else None
    t = _attempt(notes, f"The DiD of {label}", bias.did_estimates, p, single=single, ci=ci)
    if t is not None:
        for method, why in t.attrs.get("skipped", {}).items():
            notes.append(f"The {method.replace('_', ' ')} DiD of {label} could not be "
                         f"estimated: {why}")
        for method, row in t.set_index("method").iterrows():
            e[_DID_METHODS[method][0]] = row
    covs = [c for c in ("score_w1", "role", "newly_included") if c in p and p[c].notna().any()]
    e["did_ipw"] = _attempt(notes, f"The IPW DiD of {label}", bias.ipw_difference_in_differences,
                            p, covariates=covs, ci=ci)
    e["lee"] = _attempt(notes, f"The Lee bounds of {label}", bias.lee_bounds, p, outcome="change",
                        ci=ci, n_boot=n_boot, seed=seed)
    return e


def _lee_text(lee: pd.Series, digits: int) -> str:
    return (f"[{_fixed(lee['lower'], digits, sign=True)}, "
            f"{_fixed(lee['upper'], digits, sign=True)}]; "
            f"{_fixed(lee['ci_low'], digits, sign=True)} to "
            f"{_fixed(lee['ci_high'], digits, sign=True)} (trim "
            f"{100 * lee['trim_share']:.0f}% of {lee['trimmed_group']})")


def _effect_column(setting: Setting, s: str, e: dict, adjust: str) -> tuple[dict, list]:
    """The reviewers' column of one score and its entries: the doubly robust DiD (the
    default) beside its alternatives, then the attrition-aware estimates."""
    digits, unit, col, records = (1 if s == "nps" else 2), setting.units[s], {}, []
    rows = [(stem, name.format(adjust=adjust)) for stem, name in _DID_METHODS.values()]
    for key, label in [*rows, ("did_ipw", "DiD weighted for attrition (IPW)")]:
        if e.get(key) is None:
            continue
        r = e[key].set_index("term").loc["difference"] if key == "did_ipw" else e[key]
        col[label] = (f"{_ci(r, digits, sign=True)}, "
                      f"p {format_p(r['p_value'])} (n={int(r['n']):,}, "
                      f"{int(r['n_accounts'])} acc.)")
        records.append(_entry(f"{key}.{s}", r, unit=unit, label=(
            f"Effect of being named on previously confidential respondents "
            f"({setting.labels[s]}, doubly robust)" if key == "did" else None)))
    if e.get("lee") is not None:
        lee = e["lee"].iloc[0]
        col["Lee bounds [lower, upper]; CI"] = _lee_text(lee, digits)
        for side in ("lower", "upper"):
            records.append(_entry(f"lee_bounds.{s}.{side}", lee[side], se=lee[f"se_{side}"],
                                  n=int(lee["n"]), n_accounts=int(lee["n_accounts"]), unit=unit))
        records.append(_table(f"lee_bounds.{s}", e["lee"],
                              note="ci_low, ci_high: Imbens-Manski interval of the DiD"))
    return col, records


def _effect_text(setting: Setting, e: dict, adjust: str) -> tuple[str, list, list]:
    """The 0-10 answer's DiD as a paragraph, the summary finding and the key finding."""
    r = e.get("did")
    how = "doubly robust: adjusted for every wave-1 element and segment"
    if r is None:
        r, how = e.get("did_unadjusted"), "unadjusted: the doubly robust DiD could not run"
    if r is None:
        return "", [], []
    prose = setting.prose
    words = difference_words(r["ci_low"], r["ci_high"], higher="rose", lower="fell",
                             none="changed no differently")
    text = (f"Once named, the 0-10 answers of those who had chosen confidentiality {words} "
            f"beyond the common trend: {prose(r, 2, True)} points (DiD {how}, "
            f"{format_p_text(r['p_value'])}; n = {int(r['n']):,} completers in "
            f"{int(r['n_accounts'])} accounts).")
    alternatives = [f"{name.format(adjust=adjust).replace('DiD ', '').replace('DiD, ', '')} "
                    f"{_fixed(e[stem]['est'], 2, sign=True)}"
                    for stem, name in list(_DID_METHODS.values())[1:] if e.get(stem) is not None]
    if alternatives:
        text += (" The alternatives: " + "; ".join(alternatives) + ". Adjusting for one "
                 "element only is right only if that element alone drives the choice; the "
                 "unadjusted DiD also counts the dissatisfied bouncing back.")
    if e.get("did_ipw") is not None:
        ri = e["did_ipw"].set_index("term").loc["difference"]
        text += f" Weighting completers for attrition gives {prose(ri, 2, True)}."
    if e.get("lee") is not None:
        lee, f = e["lee"].iloc[0], _fixed
        text += (f" Without any model of who completes, the DiD among those who would complete "
                 f"either way lies between {f(lee['lower'], 2, sign=True)} and "
                 f"{f(lee['upper'], 2, sign=True)} (Lee bounds; {setting.pct} CI "
                 f"{f(lee['ci_low'], 2, sign=True)} to {f(lee['ci_high'], 2, sign=True)}).")
    finding = (f"Once named, previously confidential respondents' 0-10 answers {words} beyond "
               f"the common trend: {prose(r, 2, True)} (DiD {how}).")
    key = KeyFinding(Q_PANEL, (
        f"Once named, previously confidential respondents' 0-10 answers {words} beyond the "
        f"common trend: {{est}} {{ci}}, {{p}} ({{n}}; difference in differences, {how})."
        + (" Alternatives: " + "; ".join(alternatives) + "." if alternatives else "")),
        _evidence(r, setting, "nps_mean", n_accounts=int(r["n_accounts"])))
    return text, [finding], [key]


def naming_effects(setting: Setting, panel: Panel, n_boot: int = 499,
                   seed: int = 0) -> NamingEffects:
    """Difference in differences: the extra change of those who had chosen confidentiality.

    Per panel score, :func:`crqlab.models.bias.did_estimates`: the default is the doubly
    robust DiD, whose adjustment set is chosen from the data (the propensity of having chosen
    confidentiality and the change of the named, both on every wave-1 element and segment;
    :func:`crqlab.models.bias.dr_difference_in_differences`), reported beside the alternatives
    adjusted for the wave-1 ``panel.adjust`` score only and unadjusted; then the
    inverse-probability weighted DiD (completion modelled on the wave-1 score, role and newly
    included) and Lee bounds with their Imbens-Manski interval; standard errors clustered by
    account.

    Notes
    -----
    Tested in ``tests/studies/test_confidentiality.py``: the unadjusted DiD equals the
    difference of the mean changes and its interval covers the planted effect of being named (+1
    point).
    """
    notes: list[str] = []
    effects = {s: _estimate_effects(setting, p, s, panel.adjust, n_boot, seed, notes)
               for s, p in panel.frames.items()}
    columns, records = {}, []
    for s, e in effects.items():
        col, more = _effect_column(setting, s, e, panel.adjust)
        columns[f"{setting.labels[s]} ({setting.units[s]})"], records = col, records + more
    intro = (f"Extra change of those who had chosen confidentiality over the change of those named "
             f"all along, with {setting.pct} intervals clustered by account. Lee bounds carry an "
             f"Imbens-Manski {setting.pct} interval.")
    text, findings, key = _effect_text(setting, effects.get("nps_mean", {}), panel.adjust)
    return NamingEffects(effects, pd.DataFrame(columns), intro, text, notes=notes,
                         findings=findings, records=records, key=key)


@dataclass(frozen=True, eq=False)
class HeadlineShift(Step):
    """The headline shift after confidentiality was removed, decomposed.

    ``decompositions`` maps a score to :func:`crqlab.models.bias.headline_inflation` indexed by
    ``quantity`` (``mean_before, mean_after, shift, trend, inflation, reversion, attrition,
    did``).
    """

    decompositions: dict
    table: pd.DataFrame | None = None
    text: str = ""
    nps_text: str = ""


def _headline_table(setting: Setting, panel: Panel, heads: dict) -> pd.DataFrame:
    names = {"mean_before": f"headline, {setting.wave_name(panel.first_wave)} (all in panel)",
             "mean_after": f"headline, {setting.wave_name(panel.second_wave)} (completers)",
             "shift": "shift", "trend": "  = trend (named group's change)",
             "inflation": "  + inflation", "reversion": "  + reversion",
             "attrition": "  + attrition", "did": "DiD behind the inflation"}
    cols = {}
    for s, h in heads.items():
        digits = 1 if s == "nps" else 2
        cols[f"{setting.labels[s]} ({setting.units[s]})"] = {
            names[q]: _ci(h.loc[q], digits, sign=q not in ("mean_before", "mean_after"))
            for q in names}
    return pd.DataFrame(cols)


def _headline_text(setting: Setting, h: pd.DataFrame) -> tuple[str, str]:
    prose, f = setting.prose, _fixed
    did = h.loc["did", "est"]
    w_c = float(h.loc["inflation", "est"] / did) if did else np.nan
    share = f" ({100 * w_c:.0f}% of the completers)" if np.isfinite(w_c) else ""
    inflation = prose(h.loc["inflation"], 2, True)
    what = difference_words(h.loc["inflation", "ci_low"], h.loc["inflation", "ci_high"],
                            higher="is inflation", lower="is deflation",
                            none="is the implied inflation (not clearly different from zero)")
    text = (f"The headline mean 0-10 answer went from {h.loc['mean_before', 'est']:.2f} to "
            f"{h.loc['mean_after', 'est']:.2f} when confidentiality was removed: a shift of "
            f"{prose(h.loc['shift'], 2, True)}"
            f". Of this, {f(h.loc['trend', 'est'], 2, sign=True)} is the trend that named "
            f"respondents show too, {inflation} {what} from naming the previously "
            f"confidential respondents{share}, {f(h.loc['reversion', 'est'], 2, sign=True)} is "
            f"reversion and {f(h.loc['attrition', 'est'], 2, sign=True)} is attrition "
            f"(completers' first-wave mean minus everyone's). n = {int(h.loc['shift', 'n']):,} "
            f"in {int(h.loc['shift', 'n_accounts'])} accounts.")
    finding = (f"Removing confidentiality shifted the headline mean 0-10 answer by "
               f"{f(h.loc['shift', 'est'], 2, sign=True)}, of which {inflation} {what}.")
    return text, finding


def _headline_key(setting: Setting, h: pd.DataFrame) -> KeyFinding:
    """The key finding of the headline decomposition (0-10 answer)."""
    r = h.loc["inflation"]
    words = difference_words(r["ci_low"], r["ci_high"], higher="inflated it by",
                             lower="lowered it by", none="moved it by an amount not clearly "
                                                         "different from zero,")
    return KeyFinding(Q_PANEL, (
        f"Removing confidentiality shifted the headline mean 0-10 answer by "
        f"{_fixed(h.loc['shift', 'est'], 2, sign=True)}; naming the previously confidential "
        f"respondents {words} {{est}} {{ci}} ({{n}}; account-cluster bootstrap)."),
        _evidence(r, setting, "nps_mean", p=False, n_accounts=int(r["n_accounts"])))


def _headline_records(setting: Setting, s: str, h: pd.DataFrame) -> list[Record]:
    head, unit, label = h.set_index("quantity"), setting.units[s], setting.labels[s]
    return [_table(f"headline_decomposition.{s}", h),
            _entry(f"headline_inflation.{s}", head.loc["inflation"], unit=unit,
                   headline=s == "nps_mean",
                   label=f"Implied inflation of the headline when named ({label})"),
            _entry(f"headline_shift.{s}", head.loc["shift"], unit=unit, headline=s == "nps_mean",
                   label=f"Headline shift after confidentiality was removed ({label})")]


def headline_shift(setting: Setting, panel: Panel, n_boot: int = 499,
                   seed: int = 0) -> HeadlineShift:
    """How much of the headline shift is inflation: trend + inflation + reversion + attrition.

    :func:`crqlab.models.bias.headline_inflation` per panel score, with account-cluster
    bootstrap intervals; its DiD and the reversion are adjusted for the data-chosen set of the
    doubly robust DiD (every wave-1 element and segment, :func:`crqlab.models.bias.adjustment_set`)
    by regression, so the decomposition stays exact in every resample.

    Notes
    -----
    The decomposition adds up exactly (trend + inflation + reversion + attrition = shift),
    tested in ``tests/studies/test_confidentiality.py`` and
    ``tests/notebooks/test_notebook_20.py``.
    """
    notes, heads, records = [], {}, []
    for s, p in panel.frames.items():
        h = _attempt(notes, f"The headline decomposition of {setting.labels[s]}",
                     bias.headline_inflation, p, covariates=bias.adjustment_set(p),
                     ci=setting.ci, n_boot=n_boot, seed=seed)
        if h is not None:
            heads[s] = h.set_index("quantity")
            records += _headline_records(setting, s, h)
    text, findings, nps_text, key = "", [], "", []
    if "nps_mean" in heads:
        text, finding = _headline_text(setting, heads["nps_mean"])
        findings.append(finding)
        key = [_headline_key(setting, heads["nps_mean"])]
    if "nps" in heads:
        h = heads["nps"]
        inflation = setting.prose(h.loc["inflation"], 1, True)
        nps_text = (f"On the Net Promoter Score the implied inflation is {inflation} points of a "
                    f"shift of {_fixed(h.loc['shift', 'est'], 1, sign=True)}.")
    table = _headline_table(setting, panel, heads) if heads else None
    return HeadlineShift(heads, table, text, nps_text, notes=notes, findings=findings,
                         records=records, key=key)


# --------------------------------------------------------------------------- what-if
#: Reviewers' names of the columns of a what-if's groups.
WHAT_IF_COLUMNS = {"share_before": "share of first-wave respondents",
                   "completion": "completed the next wave", "share_after": "share of completers",
                   "mean_before": "mean before", "mean_after": "mean after", "change": "change"}


def what_if_table(result: bias.WhatIf, digits: int = 3) -> pd.DataFrame:
    """The groups of a :class:`crqlab.models.bias.WhatIf` as text (changes signed), columns
    named for reviewers (:data:`WHAT_IF_COLUMNS`)."""
    g = result.groups.copy()
    g.index = [f"{i} ({'chose' if i == 'confidential' else 'waived'} confidentiality)"
               for i in g.index]
    for c in g.columns:
        g[c] = [_fixed(v, digits, sign=c == "change") for v in g[c]]
    return g.rename(columns=WHAT_IF_COLUMNS)


def what_if_records(stem: str, result: bias.WhatIf, note: str) -> list[Record]:
    """The headline quantities of a what-if as entries ``<stem>.<quantity>``."""
    return [_entry(f"{stem}.{q}", float(result.headline[q]), note=note,
                   unit="0-10 scale" if q != "completion" else "share")
            for q in ("mean_before", "mean_after", "shift", "trend", "inflation", "attrition",
                      "completion")]


@dataclass(frozen=True, eq=False)
class WhatIfStep(Step):
    """The what-if from this study's aggregates: observed (``kind`` ``"study"``, from the
    panel), a Company A scenario (``"scenario"``, from the cross-sectional wave) or none
    (``""``, with the reason in ``notes``)."""

    kind: str
    result: bias.WhatIf | None = None
    table: pd.DataFrame | None = None
    intro: str = ""
    text: str = ""


def _answers(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce")


def _observed_what_if(setting: Setting, panel: Panel) -> WhatIfStep:
    pf, (w1, w2) = panel.frames["nps_mean"], map(setting.wave_name, (panel.first_wave,
                                                                     panel.second_wave))
    conf = pf["confidential"]
    groups = {"confidential": conf, "named": ~conf}
    if not all(pf.loc[m, col].notna().any() for col in ("score_w1", "score_w2")
               for m in groups.values()):
        return WhatIfStep("", notes=[
            (f"What-if from this study's aggregates: cannot be computed - a group has no answer "
            f"to the 0-10 question in {w1} or {w2} (n = {int(pf['score_w1'].notna().sum()):,} "
            f"and {int(pf['score_w2'].notna().sum()):,} answers of {len(pf):,} in the panel).")])
    done = pf["completed"] & pf["score_w2"].notna()
    own = bias.what_if({g: float(m.mean()) for g, m in groups.items()},
                       {g: float(panel.completion.loc[g, "est"]) for g in groups},
                       {g: float(pf.loc[m, "score_w1"].mean()) for g, m in groups.items()},
                       {g: float(pf.loc[m & done, "score_w2"].mean()) for g, m in groups.items()})
    hh = own.headline
    return WhatIfStep(
        "study", own, what_if_table(own),
        f"This study's own aggregates (mean 0-10 answer, {w1} to {w2}; n = {len(pf):,}):",
        f"Headline {hh['mean_before']:.2f} → {hh['mean_after']:.2f}: shift {hh['shift']:+.3f} = "
        f"trend {hh['trend']:+.3f} + inflation {hh['inflation']:+.3f} + attrition "
        f"{hh['attrition']:+.3f}. The panel decomposition above, which follows the same people, "
        "gives the estimate with its interval.",
        records=what_if_records("what_if.study", own,
                                f"observed aggregates, {w1} to {w2}"))


def _scenario_what_if(setting: Setting, xw: pd.DataFrame, wave: int) -> WhatIfStep:
    conf, name = xw["confidential"], setting.wave_name(wave)
    answers = _answers(xw, "nps")
    if not all(answers[m].notna().any() for m in (conf, ~conf)):
        return WhatIfStep("", notes=[
            (f"What-if scenario: cannot be computed - a group has no answer to the 0-10 question "
            f"in {name} (n = {int(answers.notna().sum()):,} answers of {len(xw):,} "
            "respondents).")])
    before = {g: float(answers[m].mean()) for g, m in (("confidential", conf), ("named", ~conf))}
    a = COMPANY_A_SCENARIO
    scenario = bias.what_if({"confidential": float(conf.mean()), "named": float(1 - conf.mean())},
                            a["completion"], before,
                            {g: min(before[g] + a["change"][g], 10.0) for g in before})
    hh = scenario.headline
    return WhatIfStep(
        "scenario", scenario, what_if_table(scenario),
        f"This study has no wave after the one with optional confidentiality, so the observed "
        f"version cannot be computed. Scenario: if confidentiality were removed in the next wave "
        f"and respondents behaved as Company A's did (completion 55% and 70%, changes +1.2 and "
        f"+0.1 points, capped at 10), starting from this study's {name} shares and mean 0-10 "
        f"answers (n = {len(xw):,}):",
        f"The headline would move from {hh['mean_before']:.2f} to {hh['mean_after']:.2f} "
        f"({hh['shift']:+.2f}: trend {hh['trend']:+.2f}, inflation {hh['inflation']:+.2f}, "
        f"attrition {hh['attrition']:+.2f}) - without any real change in the relationships "
        "beyond the trend. This is an illustration under borrowed assumptions, not an estimate.",
        findings=[(f"Under Company A's behaviour, removing confidentiality would move this "
                  f"study's headline 0-10 mean by about {hh['shift']:+.2f} (scenario).")],
        records=what_if_records("what_if.scenario", scenario,
                                f"scenario: shares and means of {name}, completion and changes "
                                "of Company A"))


def what_if_from_study(setting: Setting, panel: Panel | None, xw: pd.DataFrame | None,
                       wave: int | None) -> WhatIfStep:
    """The what-if arithmetic (:func:`crqlab.models.bias.what_if`) on this study's aggregates.

    With a panel: each group's share, completion and mean 0-10 answer before and after
    (observed). Without one but with a cross-sectional ``wave`` (its frame ``xw``): that
    wave's shares and means with Company A's completion and changes (a scenario, the after
    means capped at 10). Otherwise nothing, with the reason.

    Notes
    -----
    The observed what-if reproduces the panel's headline shift
    (``tests/studies/test_confidentiality.py``); each branch and its reason tested there.
    """
    if panel is not None and panel.frames:
        return _observed_what_if(setting, panel)
    if xw is not None and wave is not None:
        return _scenario_what_if(setting, xw, wave)
    return WhatIfStep("", notes=[
        ("No group shares are available from this study (no usable wave with optional "
        "confidentiality); only the published Company A example follows.")])


def company_a(share: Fraction | float) -> bias.WhatIf:
    """The what-if of Company A's published figures with ``share`` choosing confidentiality."""
    return bias.what_if({"confidential": share, "named": 1 - share}, COMPANY_A["completion"],
                        COMPANY_A["before"], COMPANY_A["after"])


@dataclass(frozen=True, eq=False)
class CompanyAExample(Step):
    """Company A's published figures worked through exactly, and how the answer depends on
    the share assumed to have chosen confidentiality (``sensitivity``, signed text)."""

    result: bias.WhatIf
    table: pd.DataFrame
    text: str
    sensitivity: pd.DataFrame


def company_a_example(note: str, share: Fraction = Fraction(1, 4),
                      shares: tuple = (Fraction(1, 10), Fraction(1, 5), Fraction(1, 4),
                                       Fraction(3, 10), Fraction(2, 5), Fraction(1, 2))
                      ) -> CompanyAExample:
    """Company A in exact arithmetic (Fractions): the worked example and its sensitivity.

    ``note`` is recorded with the entries ``what_if.company_a.*``.

    Notes
    -----
    The arithmetic is :func:`crqlab.models.bias.what_if` (validated with Fractions in
    ``tests/models/test_bias.py``); the worked figures are checked against the exact values
    (shift 96/265) in ``tests/studies/test_confidentiality.py``.
    """
    worked = company_a(share)
    table = what_if_table(worked)
    table["share of completers (exact)"] = [str(v) for v in worked.groups["share_after"]]
    h = worked.headline
    text = (f"The first-wave headline was {float(h['mean_before']):.1f} (confidential respondents "
            f"below it at 6.3); after naming it is {float(h['mean_after']):.3f} (= "
            f"{h['mean_after']}), with the previously confidential now above it at 7.5. Shift "
            f"{float(h['shift']):+.3f} (= {h['shift']}) = trend {float(h['trend']):+.3f} + "
            f"inflation {float(h['inflation']):+.3f} + attrition {float(h['attrition']):+.3f}: "
            "forced disclosure lost unhappy respondents and inflated the rest.")
    sens = pd.DataFrame([{"assumed share confidential": f"{float(s):.0%}",
                          **{q: f"{float(company_a(s).headline[q]):+.3f}"
                             for q in ("shift", "trend", "inflation", "attrition")}}
                         for s in shares]).set_index("assumed share confidential")
    return CompanyAExample(worked, table, text, sens,
                           records=what_if_records("what_if.company_a", worked, note))


# --------------------------------------------------------------------------- verbatims
class Comment(NamedTuple):
    """One comment question: the sentence about it and the comments shown (None: withheld)."""

    question: str
    text: str
    shown: pd.DataFrame | None


@dataclass(frozen=True, eq=False)
class Verbatims(Step):
    """Comments of confidential respondents, question by question."""

    comments: list
    shown_any: bool


def _masked_strings(study: Any) -> tuple[list[str], list[str]]:
    """Every contact's name and e-mail, and every account name: masked in the comments."""
    people = sorted({str(v) for c in ("contact_name", "contact_email") if c in study.contacts
                     for v in study.contacts[c].dropna().unique()})
    accounts = (sorted({str(v) for v in study.accounts["account_name"].dropna().unique()})
                if study.accounts is not None and "account_name" in study.accounts else [])
    return people, accounts


def confidential_comments(setting: Setting, xw: pd.DataFrame, wave: int, seed: int = 0,
                          max_verbatims: int = 12) -> Verbatims:
    """What confidential respondents of ``wave`` wrote, through
    :func:`crqlab.data.privacy.safe_verbatims`: the text only, shuffled with ``seed``, names,
    e-mails, phone numbers and account names masked; a question answered by fewer than
    ``min_cell`` confidential respondents is withheld whole.

    Notes
    -----
    Masking and withholding tested in ``tests/studies/test_confidentiality.py``; the privacy
    canary (``tests/hardening/test_privacy_canary.py``) checks the published reports.
    """
    rows, m = xw.loc[xw["confidential"]], setting.min_cell
    people, accounts = _masked_strings(setting.study)
    comments = []
    for q in [c for c in ("strengths", "weaknesses") if c in xw.columns]:
        texts = safe_verbatims(rows[[q]], q, min_cell_size=m, names=people, terms=accounts,
                               seed=seed)
        if texts.empty:
            comments.append(Comment(q, f"not shown - {setting.count(int(rows[q].notna().sum()))} "
                                       f"confidential respondents answered (at least {m} "
                                       "needed), so a comment could point to its author.", None))
            continue
        comments.append(Comment(q, f"{len(texts):,} comments from the {len(rows):,} confidential "
                                   f"respondents of {setting.wave_name(wave)}; up to "
                                   f"{max_verbatims} shown, in random order.",
                                texts.head(max_verbatims).reset_index(drop=True)))
    shown_any = any(c.shown is not None for c in comments)
    notes = [] if comments else ["The study has no comment questions."]
    return Verbatims(comments, shown_any, notes=notes,
                     records=[_entry("verbatims.shown", shown_any)])
