"""How closely NPS and CRQ move, and which predicts retention (notebook ``40_nps_crq``).

The study logic of the notebook: what the data allow (one wave or several, an observed
retention outcome, enough promoters, enough accounts), which estimator answers each question
(:mod:`crqlab.models.association`, :mod:`crqlab.models.prediction`), and the findings in plain
sentences. The notebook loads the study, calls one function per section, shows the tables and
plots and records what the section lists.

Every section function returns a :class:`Step`: the entries for ``results.json`` in the order
they are recorded (``Step.records``, for ``crqlab.reports.results.record_all``), the reasons a
part could not run (``Step.skipped``), the tidy result (``Step.table``), a table for people
(``Step.shown``, text cells), the findings (``Step.text``) and the lines of the closing summary
(``Step.summary``). Sentences are plain text: the notebook shows them escaped.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from crqlab.errors import ConvergenceError, InsufficientDataError, ValidationError
from crqlab.formatting import (
    NO_CLEAR_DIFFERENCE as NO_CLEAR,
    claim_words,
    difference_words,
    format_ci,
    format_ci_text,
    format_fixed,
    format_p,
    format_p_text,
    is_clear,
)
from crqlab.measures.categories import CATEGORIES, relationship_category
from crqlab.measures.nps import NPS_CATEGORIES, nps_category
from crqlab.measures.scoring import score_items
from crqlab.models import association, prediction
from crqlab.stats import cluster_bootstrap_sums

__all__ = ["NOT_ESTIMABLE", "Record", "Step", "Design", "AnswerPairs", "strength",
           "scored_frame", "describe", "sample", "answer_pairs", "respondent_correlations",
           "confidential_rows", "confidential_correlation", "CONFIDENTIAL_ASSUMPTIONS",
           "account_correlations", "repeated_measures", "within_between", "drivers", "crosstab",
           "hidden_risk", "net_score_frame", "retention", "volatility", "summary", "QUESTION",
           "findings"]

#: Errors that mean "the data cannot support this analysis": the section says why and goes on.
NOT_ESTIMABLE = (InsufficientDataError, ConvergenceError)
#: Column triples (estimate, lower, upper bound) of the tidy tables worded here.
SHARE = ("share", "share_ci_low", "share_ci_high")
DIFF = ("diff_est", "diff_ci_low", "diff_ci_high")
LOGIT = ("logit_est", "logit_ci_low", "logit_ci_high")
BOOT = ("est", "boot_ci_low", "boot_ci_high")


class Record(NamedTuple):
    """One ``results.json`` entry: ``results.record(name, value, **options)``, or
    ``results.record_table`` when ``value`` is a DataFrame."""

    name: str
    value: Any
    options: dict


@dataclass
class Step:
    """What one section found (see the module docstring)."""

    records: list[Record] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None
    shown: pd.DataFrame | None = None
    plot: pd.DataFrame | None = None
    plot_n: dict = field(default_factory=dict)
    headline: pd.Series | None = None

    def record(self, name: str, value: Any, **options: Any) -> None:
        """List an entry for ``results.json``."""
        self.records.append(Record(name, value, options))

    def skip(self, section: str, reason: str) -> Step:
        """Note that ``section`` cannot run and why (recorded as ``skipped.<section>``)."""
        self.record(f"skipped.{section}", reason)
        self.skipped.append(reason)
        return self


@dataclass(frozen=True)
class Design:
    """What the study holds: the scores, the waves, the counts, the privacy and CI settings.

    Attributes
    ----------
    targets : tuple of str
        The instrument's index (``crq_index``) followed by its elements.
    waves : tuple of int
        Waves with responses, in order; ``wave_labels`` names them.
    n_respondents, n_accounts : int
        Responses and accounts analysed.
    n_pairs : int
        Responses with both an NPS answer and a scored index.
    min_cell : int
        The minimum cell size in force.
    ci : float
        Confidence level of every interval.
    """

    client: str
    study: str
    targets: tuple[str, ...]
    waves: tuple[int, ...]
    wave_labels: Mapping[int, str]
    n_respondents: int
    n_accounts: int
    n_pairs: int
    min_cell: int
    ci: float = 0.95

    @property
    def index_name(self) -> str:
        return self.targets[0]

    @property
    def elements(self) -> list[str]:
        return list(self.targets[1:])

    @property
    def latest(self) -> int:
        return self.waves[-1]

    @property
    def pct(self) -> str:
        return f"{100 * self.ci:g}%"

    def label(self, name: str) -> str:
        """How a measure is called in text and tables (``nps`` is the net score)."""
        i = self.index_name
        return {"nps": "NPS (net score)", "nps_mean": "mean NPS answer", i: "CRQ index",
                f"{i}_within": "CRQ index, within accounts",
                f"{i}_between": "CRQ index, between accounts",
                "contextual": "contextual effect (between minus within)",
                "var_account": "variance between accounts", "var_residual": "residual variance",
                "icc": "intraclass correlation", "account_wave": "account and wave",
                "account_id": "account", "account_name": "account name"}.get(name, name)

    def ci_text(self, row: Mapping, digits: int = 2, scale: float = 1.0, unit: str = "",
                keys: tuple[str, str, str] = ("est", "ci_low", "ci_high")) -> str:
        """``"0.46 [95% CI 0.44 to 0.49]"`` from the estimate and bounds ``keys`` of ``row``."""
        return format_ci_text(*(row[k] for k in keys), ci=self.ci, digits=digits, scale=scale,
                              unit=unit)


class AnswerPairs(NamedTuple):
    """Responses with an NPS answer and a CRQ index, and the mean answer per half point."""

    points: pd.DataFrame
    bins: pd.DataFrame
    n_accounts: int


# -- small wording helpers --------------------------------------------------------------------
def strength(r: float) -> str:
    """Cohen's (1988) conventions for a correlation: negligible, weak, moderate, strong."""
    a = abs(r)
    return ("negligible" if a < 0.1 else "weak" if a < 0.3 else "moderate" if a < 0.5
            else "strong")


def _cell(row: Mapping, digits: int = 2,
          keys: tuple[str, str, str] = ("est", "ci_low", "ci_high")) -> str:
    """``"0.46 [0.44, 0.49]"`` for a table cell."""
    return format_ci(*(row[k] for k in keys), digits=digits)


def _count(v: Any) -> str:
    return "–" if pd.isna(v) else f"{int(v):,}"


def _words(name: str) -> str:
    """A column name as words (``retained_next_wave`` -> ``retained next wave``)."""
    return str(name).replace("_", " ")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _significant(low: float, high: float) -> bool:
    """Whether the interval excludes zero (:func:`crqlab.formatting.is_clear`)."""
    return is_clear(low, high)


def _apart(a: Mapping, b: Mapping, keys: tuple[str, str, str] = ("est", "ci_low",
                                                                 "ci_high")) -> tuple[float, float]:
    """Conservative bounds of ``a - b`` from two intervals: ``(low_a - high_b, high_a - low_b)``.

    They exclude zero only when the two intervals do not overlap, which implies a difference at
    least at the intervals' level; used where no test of the difference itself is run (two
    correlations or shares estimated on the same respondents), so that the words of
    :func:`crqlab.formatting.difference_words` never claim more than the intervals show.
    """
    _, lo, hi = keys
    return float(a[lo]) - float(b[hi]), float(a[hi]) - float(b[lo])


def _tested(table: pd.DataFrame, label_col: str, rows_label: str, design: Design,
            digits: int = 2) -> pd.DataFrame:
    """A tidy result with a test as text for people: estimate [CI], statistic, df, p."""
    out = pd.DataFrame({rows_label: table[label_col].map(design.label),
                        f"estimate [{design.pct} CI]": [_cell(r, digits)
                                                        for _, r in table.iterrows()]})
    if "stat" in table:
        out["test statistic"] = table["stat"].map(format_fixed)
    if "df" in table:
        out["df"] = table["df"].map(lambda v: format_fixed(v, 0))
    if "p_value" in table:
        out["p"] = table["p_value"].map(format_p)
    return out


# -- the data -------------------------------------------------------------------------------
def scored_frame(study) -> pd.DataFrame:
    """One row per response: answers, contact and account attributes, element and index scores,
    the 0-10 answer as a float (``nps``) and the ``relationship_category``. No names or e-mails.
    """
    respondents = study.respondents()
    scores = score_items(respondents, study.instrument, facets=False, levels=False)
    data = pd.concat([respondents.drop(columns=[c for c in scores.columns
                                                if c in respondents.columns]), scores], axis=1)
    data["nps"] = pd.to_numeric(data["nps"], errors="coerce").astype(float)
    data["relationship_category"] = relationship_category(scores)
    return data


def describe(study, data: pd.DataFrame, min_cell: int, ci: float = 0.95) -> Design:
    """The :class:`Design` of a loaded study and its :func:`scored_frame`."""
    targets = tuple(association.score_targets(study.instrument))
    waves = tuple(sorted(int(w) for w in data["wave"].dropna().unique()))
    pair_ok = data["nps"].notna() & data[targets[0]].notna()
    return Design(client=study.client, study=study.name, targets=targets, waves=waves,
                  wave_labels={w: study.wave_label(w) for w in waves},
                  n_respondents=len(data), n_accounts=int(data["account_id"].nunique()),
                  n_pairs=int(pair_ok.sum()), min_cell=min_cell, ci=ci)


def sample(design: Design) -> Step:
    """What is analysed: responses, accounts, waves, the minimum cell size."""
    d, step = design, Step()
    n_waves = len(d.waves)
    step.record("sample.n_respondents", d.n_respondents, n_accounts=d.n_accounts,
                label="Responses analysed")
    step.record("sample.n_waves", n_waves)
    step.record("sample.min_cell_size", d.min_cell)
    step.text.append(
        f"{d.client} ({d.study}): {d.n_respondents:,} responses from {d.n_accounts:,} accounts "
        f"in {n_waves} wave{'s' if n_waves > 1 else ''} "
        f"({', '.join(d.wave_labels[w] for w in d.waves)}). {d.n_pairs:,} responses have both "
        "an NPS answer and a scored CRQ index (scored when every element has at least half its "
        f"items answered). Groups smaller than {d.min_cell} respondents are suppressed in every "
        "table and plot.")
    return step


def answer_pairs(data: pd.DataFrame, design: Design) -> AnswerPairs:
    """The points of the NPS-against-CRQ plot, and the mean NPS answer per half point of the
    index where at least ``min_cell`` respondents fall."""
    ok = data["nps"].notna() & data[design.index_name].notna()
    pair = data.loc[ok, [design.index_name, "nps"]]
    bins = (pair.assign(bin=(pair[design.index_name] * 2).round() / 2)
            .groupby("bin")["nps"].agg(["mean", "size"]))
    return AnswerPairs(pair, bins[bins["size"] >= design.min_cell],
                       int(data.loc[ok, "account_id"].nunique()))


# -- how closely do NPS and CRQ move? ----------------------------------------------------------
def respondent_correlations(data: pd.DataFrame, design: Design) -> Step:
    """Pearson, Spearman and Kendall correlations of the NPS answer with the index and elements.

    ``Step.headline`` is the Pearson row of the index (missing numbers when not estimable),
    which the account-level and within-account sections compare with.
    """
    step = Step()
    try:
        corr = association.correlations(data, x="nps", y=list(design.targets), ci=design.ci)
    except NOT_ESTIMABLE as exc:  # e.g. every respondent gave the same answers
        step.headline = pd.Series({"est": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0})
        return step.skip("corr_respondent", f"Correlations between respondents: {exc}.")
    for _, row in corr.iterrows():
        top = row["y"] == design.index_name and row["method"] == "pearson"
        step.record(f"corr.nps_{row['y']}.{row['method']}", row, headline=top,
                    label="NPS answer vs CRQ index, Pearson r (respondents)" if top else None)
    step.record("corr.respondent", corr)
    step.table, step.shown = corr, _correlation_table(corr, design)
    step.headline = corr[corr["method"] == "pearson"].set_index("y").loc[design.index_name]
    step.text.append(_respondent_text(corr, design))
    r = step.headline
    step.summary.append(f"Respondents: NPS answer and CRQ index correlate r = "
                        f"{design.ci_text(r)} (n = {int(r['n']):,}), a {strength(r['est'])} "
                        "association.")
    return step


#: The assumptions of the confidentiality-controlled correlation, in one sentence.
CONFIDENTIAL_ASSUMPTIONS = (
    "It assumes that confidential answers carry no named-answer inflation and that the "
    "respondents who choose confidentiality relate the NPS answer and the CRQ index as everyone "
    "does; they are a selected group (often less satisfied), and a narrower spread of scores "
    "would pull their r towards zero.")


def confidential_rows(data: pd.DataFrame) -> pd.DataFrame:
    """The responses given confidentially (``confidential`` true; none without the column)."""
    if "confidential" not in data.columns:
        return data.iloc[0:0]
    flag = data["confidential"].map(lambda v: bool(v) if pd.notna(v) else False).astype(bool)
    return data[flag]


def confidential_correlation(data: pd.DataFrame, design: Design, reported: Mapping) -> Step:
    """The NPS/CRQ correlation controlled for the study's own bias: Pearson r among the
    respondents who answered confidentially, beside the ``reported`` r of all respondents.

    Named answers are inflated (notebook 20 measures it), and when the inflation varies with
    the relationship it acts as a common factor of the 0-10 answer and the CRQ items, moving
    the reported correlation. Confidential answers are free of it.

    Notes
    -----
    The estimator is :func:`crqlab.models.association.correlations` (Fisher interval). Validated
    on planted truth (``crqlab.synth`` structures with ``inflation_commitment`` away from 0):
    ``tests/studies/test_nps_crq.py`` (closer to the honest correlation than the reported one)
    and ``tests/generalisation`` (coverage over three structures x 20 seeds,
    ``docs/generalisation.md``).
    """
    d, step = design, Step()
    conf = confidential_rows(data)
    conf = conf[conf["nps"].notna() & conf[d.index_name].notna()]
    if conf.empty:
        return step.skip("corr_confidential", "No respondent answered confidentially, so the "
                         "study cannot set its correlation beside one free of named-answer "
                         "inflation.")
    if len(conf) < max(d.min_cell, 10):
        return step.skip("corr_confidential", f"Fewer than {max(d.min_cell, 10)} confidential "
                         "respondents with both scores: too few for a correlation.")
    try:
        r = association.correlations(conf, x="nps", y=[d.index_name], methods=("pearson",),
                                     ci=d.ci).iloc[0]
    except NOT_ESTIMABLE as exc:
        return step.skip("corr_confidential", f"Correlation among confidential respondents: "
                         f"{exc}.")
    n_acc = int(conf["account_id"].nunique())
    waves = sorted(int(w) for w in conf["wave"].unique())
    step.record(f"corr.nps_{d.index_name}.confidential", r, n_accounts=n_acc, headline=True,
                label="NPS answer vs CRQ index, Pearson r (confidential respondents only)",
                note="confidential answers only, assumed free of named-answer inflation")
    step.table = pd.DataFrame([{"respondents": "all (as reported)", **{
        k: reported.get(k, np.nan) for k in ("est", "ci_low", "ci_high", "n")}},
        {"respondents": "confidential only", **{k: r[k] for k in ("est", "ci_low", "ci_high",
                                                                  "n")}}])
    step.shown = pd.DataFrame({"respondents": step.table["respondents"],
                               f"Pearson r [{d.pct} CI]": step.table.apply(_cell, axis=1),
                               "n": step.table["n"].map(_count)})
    where = difference_words(reported["est"] - r["ci_high"], reported["est"] - r["ci_low"],
                             higher="above", lower="below", none="inside")
    reading = ("no sign that named answers shape the reported correlation" if where == "inside"
               else "named-answer inflation may be shaping the reported correlation")
    step.text.append(
        f"Controlled for the study's own bias: among the {len(conf):,} respondents who answered "
        f"confidentially ({n_acc:,} accounts; wave{'s' if len(waves) > 1 else ''} "
        f"{', '.join(d.wave_labels.get(w, str(w)) for w in waves)}), r = {d.ci_text(r)}, "
        f"against r = {d.ci_text(reported)} over all {int(reported['n']):,} respondents as "
        f"reported. The reported value lies {where} the confidential respondents' interval: "
        f"{reading}. {CONFIDENTIAL_ASSUMPTIONS}")
    step.summary.append(f"Confidential respondents only: r = {d.ci_text(r)} (n = {len(conf):,}), "
                        f"against r = {format_fixed(reported['est'])} as reported.")
    return step


def _correlation_table(corr: pd.DataFrame, design: Design) -> pd.DataFrame:
    targets = list(design.targets)
    wide = (corr.assign(value=corr.apply(_cell, axis=1))
            .pivot(index="y", columns="method", values="value")
            .reindex(index=targets)[["pearson", "spearman", "kendall"]])
    wide.columns = ["Pearson r", "Spearman ρ", "Kendall τ-b"]
    wide["n"] = corr.groupby("y")["n"].first().reindex(targets).map("{:,}".format)
    wide.index = wide.index.map(design.label)
    wide.index.name = "NPS answer with"
    return wide.reset_index()


def _high_correlation_claim(r: Mapping) -> str:
    """Whether "highly correlated" (r of 0.5 or more) holds, by the interval of r
    (:func:`crqlab.formatting.claim_words` against 0.5)."""
    verdict = claim_words(r["ci_low"], r["ci_high"], direction=1, null=0.5)
    claim = "the claim that NPS and CRQ are \"highly correlated\" (r above 0.5)"
    if verdict == "the claim holds":
        return f"The whole interval lies above 0.5: {claim} holds between respondents."
    if verdict == "the data cannot tell":
        where = "the estimate is strong" if r["est"] >= 0.5 else "the estimate is below 0.5"
        return (f"The interval reaches across 0.5 ({where}): the data cannot tell whether "
                "NPS and CRQ are \"highly correlated\" (r above 0.5) between respondents.")
    return (f"The whole interval lies below 0.5: the data contradict {claim} between "
            "respondents; NPS and CRQ are related, and share "
            f"{format_fixed(100 * r['est'] ** 2, 0)}% of their variance (r²).")


def _respondent_text(corr: pd.DataFrame, design: Design) -> str:
    pear = corr[corr["method"] == "pearson"].set_index("y")
    by_method = corr[corr["y"] == design.index_name].set_index("method")["est"]
    top = pear.loc[design.elements, "est"].idxmax()
    low = pear.loc[design.elements, "est"].idxmin()
    r = pear.loc[design.index_name]
    gap = difference_words(*_apart(pear.loc[top], pear.loc[low]),
                           higher="their intervals do not overlap, so the order is clear",
                           lower="their intervals do not overlap, so the order is clear",
                           none="no clear difference: their intervals overlap")
    return (f"Across {int(r['n']):,} respondents the NPS answer and the CRQ index correlate "
            f"r = {design.ci_text(r)}, Spearman ρ = {format_fixed(by_method['spearman'])}, "
            f"Kendall τ-b = {format_fixed(by_method['kendall'])}: a {strength(r['est'])} "
            "association by Cohen's conventions (0.1 weak, 0.3 moderate, 0.5 strong). "
            f"{_high_correlation_claim(r)} Among the elements, the highest estimate is for {top} "
            f"(r = {design.ci_text(pear.loc[top])}) and the lowest for {low} "
            f"(r = {design.ci_text(pear.loc[low])}): {gap}.")


def account_correlations(data: pd.DataFrame, design: Design, r_respondents: Mapping) -> Step:
    """Correlations of account means (weighted Pearson, Spearman), per account and, with several
    waves, per account and wave; compared with the respondent-level ``r_respondents``."""
    step = Step()
    units = {"account": "account_id"}
    if len(design.waves) > 1:
        units["account_wave"] = ["account_id", "wave"]
    tables = []
    for unit, keys in units.items():
        try:
            t = association.account_correlations(data, x="nps", y=list(design.targets),
                                                 account=keys, ci=design.ci,
                                                 methods=("pearson", "spearman"))
        except NOT_ESTIMABLE as exc:
            step.skip(f"corr_account_{unit}", f"Account-level correlations "
                      f"({unit.replace('_', ' and ')}): {exc}.")
            continue
        tables.append(t.assign(unit=unit))
    if not tables:
        return step
    acc = pd.concat(tables, ignore_index=True)
    for _, row in acc.iterrows():
        step.record(f"corr_account.nps_{row['y']}.{row['unit']}.{row['method']}", row,
                    n_accounts=int(row["n_accounts"]))
    step.record("corr.account", acc)
    step.table, step.shown = acc, _account_table(acc, design, list(units))
    _account_text(step, acc, design, r_respondents)
    return step


def _account_table(acc: pd.DataFrame, design: Design, units: list[str]) -> pd.DataFrame:
    table = (acc.assign(value=acc.apply(_cell, axis=1))
             .pivot(index=["y", "unit"], columns="method", values="value")
             .reindex(columns=["pearson", "spearman"]))
    table.columns = ["weighted Pearson r", "Spearman ρ"]
    sizes = acc[acc["method"] == "pearson"].set_index(["y", "unit"])[["n_accounts", "n_eff", "n"]]
    table = table.join(sizes).reindex(pd.MultiIndex.from_product([list(design.targets), units]))
    table["n_accounts"], table["n"] = table["n_accounts"].map(_count), table["n"].map(_count)
    table["n_eff"] = table["n_eff"].map(lambda v: "–" if pd.isna(v) else f"{v:,.1f}")
    table = table.rename(columns={"n_accounts": "units", "n_eff": "effective units",
                                  "n": "n respondents"})
    table.index = table.index.set_levels(table.index.levels[0].map(design.label), level=0)
    table.index.names = ["NPS answer with", "unit"]
    table = table.reset_index()
    table["unit"] = table["unit"].map(design.label)
    return table


def _account_text(step: Step, acc: pd.DataFrame, design: Design, r_resp: Mapping) -> None:
    rows = acc[(acc["method"] == "pearson") & (acc["y"] == design.index_name)].set_index("unit")
    parts = []
    for unit, row in rows.iterrows():
        what = ("per account and wave" if unit == "account_wave" else
                "per account (waves pooled)" if len(design.waves) > 1 else "per account")
        parts.append(f"{what}, r = {design.ci_text(row)} over {int(row['n_accounts']):,} units "
                     f"({int(row['n']):,} respondents; effective n "
                     f"{format_fixed(row['n_eff'], 0)})")
    first = rows.iloc[0]
    compare = difference_words(*_apart(first, r_resp), higher="higher than",
                               lower="lower than", none="not clearly different from")
    how = {"higher than": "more consistently than", "lower than": "less consistently than",
           "not clearly different from": "about as consistently as"}[compare]
    step.text.append(
        f"Between accounts, mean NPS answer and mean CRQ index correlate {'; '.join(parts)}. "
        f"The account-level correlation is {compare} the respondent-level one "
        f"(r = {design.ci_text(r_resp)}"
        + ("; no clear difference: the intervals overlap" if compare.startswith("not") else "")
        + "): averaging over an account's respondents removes "
        f"individual noise, so the two measures rank accounts {how} they rank people.")
    step.summary.append(f"Accounts: mean NPS answer and mean CRQ index correlate r = "
                        f"{design.ci_text(first)} ({int(first['n_accounts']):,} accounts, "
                        "weighted by respondents).")


def repeated_measures(data: pd.DataFrame, design: Design, r_respondents: Mapping) -> Step:
    """Repeated-measures correlation of account-wave means (needs two waves or more)."""
    step, d = Step(), design
    if len(d.waves) < 2:
        return step.skip("rm_corr", f"The study has one wave ({d.wave_labels[d.latest]}; "
                         f"{d.n_respondents:,} responses from {d.n_accounts:,} accounts): change "
                         "within an account needs at least two waves.")
    rows = []
    for t in d.targets:
        try:
            rows.append(association.rm_corr(data, x="nps", y=t, within="wave", ci=d.ci))
        except NOT_ESTIMABLE as exc:
            step.skip(f"rm_corr_{t}", f"Repeated-measures correlation with {d.label(t)}: "
                      f"{exc}.")
    if not rows:
        return step
    rm = pd.concat(rows, ignore_index=True)
    for _, row in rm.iterrows():
        top = row["y"] == d.index_name
        step.record(f"rm_corr.nps_{row['y']}", row, n_accounts=int(row["n_groups"]),
                    headline=top,
                    label="NPS vs CRQ index within accounts across waves, repeated-measures r"
                    if top else None)
    step.record("rm_corr", rm)
    step.table = rm
    step.shown = _tested(rm, "y", "NPS answer with", d).assign(
        **{"account-waves": rm["n"].map(_count), "accounts": rm["n_groups"].map(_count)})
    if d.index_name in set(rm["y"]):
        _rm_text(step, rm.set_index("y").loc[d.index_name], d, r_respondents)
    return step


def _rm_text(step: Step, row: Mapping, design: Design, r_resp: Mapping) -> None:
    moves = difference_words(row["ci_low"], row["ci_high"], higher="rises with it",
                             lower="falls", none="shows no clear change with it")
    step.text.append(
        f"Within accounts, from wave to wave, the repeated-measures r = {design.ci_text(row)} "
        f"(t({format_fixed(row['df'], 0)}) = {format_fixed(row['stat'])}, "
        f"{format_p_text(row['p_value'])}; {int(row['n']):,} account-waves from "
        f"{int(row['n_groups']):,} accounts). When an account's CRQ index rises, its NPS answer "
        f"{moves}: a {strength(row['est'])} co-movement, compared with "
        f"r = {format_fixed(r_resp['est'])} between respondents.")
    step.summary.append(f"Across waves within accounts: repeated-measures r = "
                        f"{design.ci_text(row)} "
                        f"({int(row['n_groups']):,} accounts).")


def within_between(data: pd.DataFrame, design: Design) -> Step:
    """Random-intercept model of the NPS answer on the index split into within and between."""
    step = Step()
    try:
        wb = association.within_between(data, y="nps", x=design.index_name, ci=design.ci)
    except NOT_ESTIMABLE as exc:
        return step.skip("within_between", f"Within/between-account model: {exc}.")
    for _, row in wb.iterrows():
        step.record(f"within_between.{row['term']}", row, n_accounts=int(row["n_accounts"]))
    step.record("within_between", wb)
    step.table = wb
    shown = _tested(wb[wb["se"].notna()], "term", "term", design)
    shown.columns = ["term", f"NPS answer points per CRQ point [{design.pct} CI]", "z", "p"]
    step.shown = shown
    step.text += _within_between_text(wb.set_index("term"), design)
    return step


def _within_between_text(t: pd.DataFrame, design: Design) -> list[str]:
    w, b = t.loc[f"{design.index_name}_within"], t.loc[f"{design.index_name}_between"]
    c = t.loc["contextual"]
    same = difference_words(
        c["ci_low"], c["ci_high"],
        higher="the association is stronger between accounts than within them",
        lower="the association is stronger within accounts than between them",
        none="no clear difference between the within- and between-account associations")
    variance = (f"Variance components: between accounts {format_fixed(t.loc['var_account', 'est'])}"
                f", residual {format_fixed(t.loc['var_residual', 'est'])} (NPS answer points²); "
                f"intraclass correlation {format_fixed(t.loc['icc', 'est'])}.")
    return [variance, (
        "Within an account, a respondent whose CRQ index is one point above the account's "
        f"average gives an NPS answer {design.ci_text(w)} points higher. Between accounts, an "
        "account whose average CRQ index is one point higher has an average NPS answer "
        f"{design.ci_text(b)} points higher. The difference (contextual effect) is "
        f"{design.ci_text(c)} ({format_p_text(c['p_value'])}): {same}. "
        f"{format_fixed(100 * t.loc['icc', 'est'], 0)}% of the variance of NPS answers not "
        "explained by the CRQ index lies between accounts (intraclass correlation). "
        f"n = {int(w['n']):,} respondents in {int(w['n_accounts']):,} accounts.")]


# -- what drives NPS? --------------------------------------------------------------------------
def drivers(data: pd.DataFrame, design: Design, n_boot: int, seed: int) -> Step:
    """Relative weights and general dominance of the elements for the NPS answer, with
    account-clustered bootstrap intervals (needs two accounts or more)."""
    step = Step()
    try:
        if design.n_accounts < 2:  # an account-cluster bootstrap of one account has no spread
            raise InsufficientDataError(f"the account-clustered bootstrap needs at least 2 "
                                        f"accounts, n_accounts={design.n_accounts}")
        table = association.driver_analysis(data, y="nps", x=design.elements, n_boot=n_boot,
                                            seed=seed, ci=design.ci)
    except NOT_ESTIMABLE as exc:
        return step.skip("drivers", f"Driver analysis: {exc}.")
    step.record("drivers", table)
    shares = table[table["predictor"] != "r_squared"]
    rw, gd = (shares[shares["measure"] == m] for m in ("relative_weight", "general_dominance"))
    r2 = table[(table["measure"] == "relative_weight") & (table["predictor"] == "r_squared")]
    r2 = r2.iloc[0]
    step.record("drivers.r_squared", r2, n_accounts=int(r2["n_accounts"]))
    for _, row in shares.iterrows():
        step.record(f"drivers.{row['measure']}_share.{row['predictor']}",
                    {"est": row["share"], "ci_low": row["share_ci_low"],
                     "ci_high": row["share_ci_high"], "n": row["n"]},
                    n_accounts=int(row["n_accounts"]))
    step.table = table
    step.shown = pd.DataFrame({
        "element": rw["predictor"].to_numpy(), "relative weight, % of R²": _shares(rw),
        "rank": rw["rank"].to_numpy(), "general dominance, % of R²": _shares(gd),
        "rank (dominance)": gd["rank"].to_numpy()}).sort_values("rank")
    step.plot = rw.assign(est=100 * rw["share"], ci_low=100 * rw["share_ci_low"],
                          ci_high=100 * rw["share_ci_high"]).sort_values("est", ascending=False)
    step.plot_n = {"n": int(r2["n"]), "n_accounts": int(r2["n_accounts"])}
    _drivers_text(step, rw, gd, r2, design)
    return step


def _shares(t: pd.DataFrame) -> list[str]:
    return [format_ci(r["share"], r["share_ci_low"], r["share_ci_high"], digits=1, scale=100)
            for _, r in t.iterrows()]


def _drivers_text(step: Step, rw: pd.DataFrame, gd: pd.DataFrame, r2: Mapping,
                  design: Design) -> None:
    order = rw.sort_values("est", ascending=False)
    first, second = order.iloc[0], order.iloc[1]
    clear = is_clear(*_apart(first, second, SHARE))
    if list(order["predictor"]) == list(gd.sort_values("est", ascending=False)["predictor"]):
        agree = "Relative weights and dominance analysis give the same order."
    elif first["predictor"] == gd.loc[gd["est"].idxmax(), "predictor"]:
        agree = ("Relative weights and dominance analysis agree on the strongest driver but "
                 "order some of the others differently.")
    else:
        agree = "Relative weights and dominance analysis disagree on the strongest driver."
    share = {k: design.ci_text(r, 0, 100, "%", keys=SHARE)
             for k, r in (("first", first), ("second", second))}
    step.text.append(
        f"The six elements together explain R² = {design.ci_text(r2)} of the variance of NPS "
        f"answers ({int(r2['n']):,} respondents, {int(r2['n_accounts']):,} accounts). "
        f"{first['predictor']} carries {share['first']} of the explained variance, "
        f"{second['predictor']} {share['second']}; "
        + ("the leader's interval lies wholly above the runner-up's. " if clear else
           f"{NO_CLEAR} between them: their intervals overlap, so their order is uncertain. ")
        + f"{agree} This is what CRQ adds to NPS: the NPS answer says whether customers would "
        "recommend, the element weights say which part of the relationship goes with it.")
    note = {} if clear else {"note": f"largest estimate; {NO_CLEAR} from "
                                     f"{second['predictor']} (intervals overlap)"}
    step.record("drivers.top", first["predictor"], label="Strongest driver of NPS", **note)
    step.summary.append(f"Drivers: the elements explain R² = {design.ci_text(r2)} of NPS "
                        f"answers; {first['predictor']} carries "
                        f"{format_fixed(100 * first['share'], 0)}% of it.")


# -- NPS categories and relationship categories -----------------------------------------------
def crosstab(data: pd.DataFrame, design: Design) -> Step:
    """NPS category by relationship category: row shares (small cells suppressed), chi-square
    and Cramér's V."""
    step = Step()
    try:
        xtab, chi = association.category_crosstab(data, "relationship_category",
                                                  min_cell_size=design.min_cell)
    except NOT_ESTIMABLE as exc:
        return step.skip("crosstab", f"NPS x relationship category: {exc}.")
    step.record("crosstab", xtab, min_cell_size=design.min_cell)
    test = chi.iloc[0]
    step.record("crosstab.chisq", test["stat"], stat=test["stat"], df=test["df"],
                p_value=test["p_value"], n=int(test["n"]))
    step.record("crosstab.cramers_v", test["cramers_v"], n=int(test["n"]))
    step.table, step.shown = xtab, _crosstab_table(xtab)
    step.text.append(_crosstab_text(xtab, test, 1 - design.ci))
    return step


def _crosstab_table(xtab: pd.DataFrame) -> pd.DataFrame:
    value = np.where(xtab["suppressed"], "suppressed",
                     xtab["row_share"].map(lambda s: f"{100 * s:.0f}%")
                     + xtab["count"].map(lambda c: "" if pd.isna(c) else f" ({int(c):,})"))
    cats = [c for c in CATEGORIES if c in set(xtab["relationship_category"])]
    wide = (xtab.assign(value=value)
            .pivot(index="nps_category", columns="relationship_category", values="value")
            .reindex(index=list(NPS_CATEGORIES)[::-1], columns=cats))
    wide["n"] = xtab.groupby("nps_category")["n"].first().reindex(wide.index).map(
        lambda v: f"{int(v):,}" if pd.notna(v) else "suppressed")
    wide.index.name = "NPS category"
    return wide.reset_index()


def _crosstab_text(xtab: pd.DataFrame, test: Mapping, alpha: float = 0.05) -> str:
    share = xtab.set_index(["nps_category", "relationship_category"])["row_share"]
    parts = []
    amb, rat = share.get(("promoter", "Ambassadors")), share.get(("promoter", "Rationals"))
    if pd.notna(amb):
        parts.append(f"{format_fixed(100 * amb, 0)}% of promoters are Ambassadors")
    if pd.notna(rat):
        parts.append(f"{format_fixed(100 * rat, 0)}% are Rationals (a strong relationship, "
                     "nothing unique)")
    strong = [share.get(("detractor", c)) for c in ("Ambassadors", "Rationals")]
    if all(pd.notna(s) for s in strong):
        parts.append(f"{format_fixed(100 * sum(strong), 0)}% of detractors nonetheless have a "
                     "strong relationship (Ambassadors or Rationals)")
    associated = test["p_value"] < alpha  # the chi-square test at the report's level
    overlap = ("but far from interchangeable: an NPS category does not tell which kind of "
               "relationship lies behind it" if test["cramers_v"] < 0.5 else "closely")
    rough = (f" Some expected counts are below 5 (smallest {format_fixed(test['min_expected'])}"
             "), so the p-value is approximate." if test["min_expected"] < 5 else "")
    verdict = ("are associated" if associated else
               f"show {NO_CLEAR}: no clear association at the {format_fixed(alpha)} level")
    return ("; ".join(parts) + ". " if parts else "") + (
        f"NPS category and relationship category {verdict} (χ²({int(test['df'])}) = "
        f"{format_fixed(test['stat'], 1)}, {format_p_text(test['p_value'])}, Cramér's V = "
        f"{format_fixed(test['cramers_v'])}, n = {int(test['n']):,})"
        + (f", {overlap}." if associated else ".") + rough)


def hidden_risk(data: pd.DataFrame, design: Design, accounts: pd.DataFrame | None,
                trust_max: float, commitment_max: float, n_boot: int, seed: int) -> Step:
    """Promoters of the latest wave whose trust or commitment is at most the thresholds: their
    share (account-clustered bootstrap interval) and the accounts with at least ``min_cell``
    respondents that hold them, named from ``accounts`` (``account_name``, ``industry``)."""
    d, step = design, Step()
    cur = data[(data["wave"] == d.latest) & data["nps"].notna()]
    promoter = (nps_category(cur["nps"]) == "promoter").to_numpy()
    hidden = promoter & ((cur["trust"] <= trust_max)
                         | (cur["commitment"] <= commitment_max)).to_numpy()
    n_prom, n_hidden = int(promoter.sum()), int(hidden.sum())
    rule = (f"trust ≤ {format_fixed(trust_max, 1)} or commitment ≤ "
            f"{format_fixed(commitment_max, 1)}")
    if n_prom < d.min_cell:
        return step.skip("hidden_risk", f"{n_prom} promoters in wave {d.wave_labels[d.latest]}: "
                         f"fewer than the minimum cell size of {d.min_cell}.")
    lo, hi = _bootstrap_share(cur["account_id"].to_numpy(), promoter, hidden, n_boot, seed, d.ci)
    n_prom_acc = cur.loc[promoter, "account_id"].nunique()
    step.record("hidden_risk.share_promoters", n_hidden / n_prom, ci=(lo, hi), n=n_prom,
                n_accounts=n_prom_acc, label=f"Promoters with {rule}")
    flagged = association.hidden_risk(cur, trust_max=trust_max, commitment_max=commitment_max,
                                      min_cell_size=d.min_cell)
    listed = _named(flagged[~flagged["suppressed"]].drop(columns="suppressed"), accounts)
    step.record("hidden_risk.accounts_flagged", len(flagged),
                label="Accounts with hidden-risk promoters")
    step.record("hidden_risk.accounts_listed", len(listed))
    step.record("hidden_risk.accounts", listed.assign(suppressed=False), min_cell_size=d.min_cell)
    step.table = listed
    step.shown = _hidden_risk_table(listed) if len(listed) else None
    share = d.ci_text({"est": n_hidden / n_prom, "ci_low": lo, "ci_high": hi}, 0, 100, "%")
    k = len(flagged)
    step.text.append(
        f"In wave {d.wave_labels[d.latest]}, {n_hidden:,} of {n_prom:,} promoters ({share}; "
        f"{n_prom_acc:,} accounts) rate {rule}: they would recommend, yet their relationship is "
        f"weak. They sit in {k:,} account{'s' if k != 1 else ''}. Listed below: {len(listed):,} "
        f"with at least {d.min_cell} respondents this wave; not listed: {k - len(listed):,} with "
        "fewer.")
    step.summary.append(f"Hidden risk: {share} of promoters in wave {d.wave_labels[d.latest]} "
                        f"have {rule}.")
    return step


def _bootstrap_share(clusters: np.ndarray, base: np.ndarray, hit: np.ndarray, n_boot: int,
                     seed: int, ci: float) -> tuple[float, float]:
    """Percentile interval of ``sum(hit) / sum(base)`` over an account-cluster bootstrap."""
    sums = cluster_bootstrap_sums(clusters, np.column_stack([base, hit]).astype(float), n_boot,
                                  seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = sums[:, 1] / sums[:, 0]
    alpha = 1 - ci
    lo, hi = np.nanpercentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return lo, hi


def _named(listed: pd.DataFrame, accounts: pd.DataFrame | None) -> pd.DataFrame:
    """``listed`` with the account's name and industry, when the accounts table has them."""
    if accounts is None or "account_name" not in accounts or not len(listed):
        return listed
    cols = [c for c in ("account_id", "account_name", "industry") if c in accounts]
    return listed.merge(accounts[cols].drop_duplicates("account_id"), on="account_id",
                        how="left")


def _hidden_risk_table(listed: pd.DataFrame) -> pd.DataFrame:
    shown = listed.copy()
    for c in ("n", "n_promoters", "n_hidden_risk"):
        shown[c] = shown[c].map(_count)
    shown["share_hidden_risk"] = shown["share_hidden_risk"].map(lambda v: f"{100 * v:.0f}%")
    return shown.rename(columns={"n": "respondents", "n_promoters": "promoters",
                                 "n_hidden_risk": "hidden-risk promoters",
                                 "share_hidden_risk": "share of promoters",
                                 "account_id": "account ID", "account_name": "account name"})


# -- which measure predicts retention? -------------------------------------------------------
def net_score_frame(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with ``nps`` as each respondent's net score (+100 promoter, 0 passive, -100
    detractor), whose account mean is the account's NPS, and ``nps_mean`` the 0-10 answer."""
    cat = nps_category(data["nps"])
    net = np.where(data["nps"].isna(), np.nan,
                   100.0 * (cat == "promoter") - 100.0 * (cat == "detractor"))
    return data.assign(nps_mean=data["nps"], nps=net)


def _retention_problem(data: pd.DataFrame, design: Design, outcome: str) -> str | None:
    """Why the outcome cannot be predicted on these data (None when it can be tried)."""
    d = design
    if outcome not in data.columns:
        return (f"The study has no '{_words(outcome)}' column in its accounts table, so there "
                f"is no outcome to predict ({d.n_accounts:,} accounts, {d.n_respondents:,} "
                "responses).")
    if data[outcome].notna().sum() == 0:
        return (f"'{_words(outcome)}' is not observed for any of the {d.n_accounts:,} accounts "
                f"({len(d.waves)} wave{'s' if len(d.waves) > 1 else ''}: whether an account is "
                "retained is only known once the next wave has happened).")
    return None


def retention(data: pd.DataFrame, design: Design, outcome: str, n_boot: int,
              seed: int) -> Step:
    """Rank NPS, the mean NPS answer, the index, commitment, trust and satisfaction by their
    AUC for the account outcome (account-clustered bootstrap, DeLong, clustered logistic)."""
    step = Step()
    measures = ["nps", "nps_mean", design.index_name, "commitment", "trust", "satisfaction"]
    problem = _retention_problem(data, design, outcome)
    if problem:
        return step.skip("retention", problem)
    pv_data = net_score_frame(data)
    try:
        pv = prediction.predictive_validity(pv_data, outcome, predictors=measures,
                                            n_boot=n_boot, seed=seed, ci=design.ci)
        pairs = prediction.compare_auc(pv_data, outcome, predictors=["nps", design.index_name],
                                       n_boot=n_boot, seed=seed, ci=design.ci)
    except NOT_ESTIMABLE as exc:
        return step.skip("retention", f"Predictive validity: {exc}.")
    except ValidationError as exc:  # e.g. respondents of one account-wave disagree on it
        return step.skip("retention", f"'{_words(outcome)}' cannot be used as an account "
                         f"outcome: {exc}")
    units = prediction.outcome_units(pv_data, outcome, measures).dropna(subset=measures)
    n_units, n_events = len(units), int(units[outcome].sum())
    _retention_records(step, pv, pairs.iloc[0], n_units, n_events, design)
    step.table, step.shown = pv, _ranking_table(pv, design)
    step.plot = pv.assign(measure=pv["predictor"].map(design.label))
    step.plot_n = {"n": n_units, "n_accounts": int(pv.iloc[0]["n_accounts"])}
    _retention_text(step, pv, pairs.iloc[0], n_units, n_events, design)
    return step


def _retention_records(step: Step, pv: pd.DataFrame, nps_crq: Mapping, n_units: int,
                       n_events: int, design: Design) -> None:
    step.record("retention.ranking", pv)
    for _, row in pv.iterrows():
        m, n_acc = row["predictor"], int(row["n_accounts"])
        step.record(f"auc.{m}", row, n_accounts=n_acc, headline=(m == "nps"),
                    label="AUC of NPS for retention next wave" if m == "nps" else None)
        step.record(f"logit.{m}", {"est": row["logit_est"], "se": row["logit_se"],
                                   "ci_low": row["logit_ci_low"], "ci_high": row["logit_ci_high"],
                                   "p_value": row["logit_p_value"], "n": row["n"]},
                    n_accounts=n_acc)
        if row["rank"] > 1:
            step.record(f"auc_diff_vs_best.{m}", {"est": row["diff_est"],
                                                  "ci_low": row["diff_ci_low"],
                                                  "ci_high": row["diff_ci_high"],
                                                  "p_value": row["boot_p_value"], "n": row["n"]},
                        n_accounts=n_acc)
    best = pv.iloc[0]
    second = pv.iloc[1] if len(pv) > 1 else None
    unclear = second is not None and not is_clear(second["diff_ci_low"], second["diff_ci_high"])
    step.record("best_predictor", design.label(best["predictor"]), n=int(best["n"]),
                n_accounts=int(best["n_accounts"]), headline=True,
                label="Highest AUC for retention next wave",
                note=(f"{NO_CLEAR} from the runner-up, {design.label(second['predictor'])}: "
                      "the interval of the AUC difference includes zero") if unclear else None)
    step.record("retention.n_events", n_events, n=n_units)
    step.record("auc_diff.nps_vs_crq_index", {"est": nps_crq["est"],
                                              "ci_low": nps_crq["boot_ci_low"],
                                              "ci_high": nps_crq["boot_ci_high"],
                                              "p_value": nps_crq["boot_p_value"],
                                              "n": nps_crq["n"]})


def _ranking_table(pv: pd.DataFrame, design: Design) -> pd.DataFrame:
    return pd.DataFrame({
        "rank": pv["rank"], "measure": pv["predictor"].map(design.label),
        "AUC": pv.apply(_cell, axis=1),
        "difference from best": pv.apply(lambda r: "–" if r["rank"] == 1
                                         else _cell(r, 3, keys=DIFF), axis=1),
        "bootstrap p": pv["boot_p_value"].map(format_p),
        "DeLong p": pv["delong_p_value"].map(format_p),
        "log-odds per SD": pv.apply(lambda r: _cell(r, keys=LOGIT), axis=1),
        "odds ratio": pv["odds_ratio"].map(format_fixed)})


def _retention_verdict(pv: pd.DataFrame, design: Design) -> tuple[str, str | None]:
    """Whether NPS is the best predictor, in words, and where NPS ranks (None when first)."""
    best, nps_row = pv.iloc[0], pv.set_index("predictor").loc["nps"]
    if best["predictor"] == "nps":
        rest = pv.iloc[1:]
        unclear = [design.label(p) for p, lo, hi in zip(rest["predictor"], rest["diff_ci_low"],
                                                        rest["diff_ci_high"])
                   if difference_words(lo, hi, higher="x", lower="x") == NO_CLEAR]
        if not unclear:
            return ("NPS predicts retention better than every other measure here (every "
                    "difference's interval excludes zero), unlike Keiningham et al. (2007), who "
                    "found NPS no better than other measures."), None
        return ("NPS has the highest AUC, but there is no clear difference from "
                f"{', '.join(unclear)} (the intervals of the differences include zero): "
                "consistent with Keiningham et al. (2007), who found NPS no better than other "
                "measures."), None
    other = design.label(best["predictor"])
    words = difference_words(-nps_row["diff_ci_high"], -nps_row["diff_ci_low"],
                             higher=f"{other} predicts better",
                             lower=f"NPS predicts better than {other}")
    where = (f"NPS (net score) ranks {int(nps_row['rank'])} of {len(pv)} with AUC "
             f"{design.ci_text(nps_row)}; its difference from {other} "
             f"is {_diff_text(nps_row, design)}.")
    if words == NO_CLEAR:
        return (f"NPS does not have the highest AUC ({other} does), but there is {NO_CLEAR} "
                f"between them (AUC difference {design.ci_text(nps_row, 3, keys=DIFF)}): "
                "consistent with Keiningham et al. (2007), who found NPS no better than other "
                "measures."), where
    return (f"NPS is not the best predictor of retention: {words} (AUC difference "
            f"{design.ci_text(nps_row, 3, keys=DIFF)}), in line with Keiningham et al. (2007), "
            "who found NPS no better than other measures."), where


def _diff_text(row: Mapping, design: Design) -> str:
    return (f"{design.ci_text(row, 3, keys=DIFF)}, bootstrap "
            f"{format_p_text(row['boot_p_value'])}")


def _retention_text(step: Step, pv: pd.DataFrame, nps_crq: Mapping, n_units: int,
                    n_events: int, design: Design) -> None:
    best, second = pv.iloc[0], pv.iloc[1]
    lead = difference_words(-second["diff_ci_high"], -second["diff_ci_low"],
                            higher="a clear lead.", lower="a clear lead.",
                            none=f"{NO_CLEAR} (the interval includes zero).")
    text = [f"Over {n_units:,} account-waves ({int(best['n_accounts']):,} accounts; "
            f"{n_events:,} retained, {n_units - n_events:,} lost), "
            f"{design.label(best['predictor'])} has the highest AUC, {design.ci_text(best)}. "
            f"{_capital(design.label(second['predictor']))} is next, AUC difference "
            f"{_diff_text(second, design)}: {lead}"]
    verdict, where = _retention_verdict(pv, design)
    text += [where] if where else []
    crq_words = difference_words(nps_crq["boot_ci_low"], nps_crq["boot_ci_high"],
                                 higher="NPS predicts retention better than the CRQ index",
                                 lower="the CRQ index predicts retention better than NPS")
    text.append(f"NPS minus CRQ index: AUC difference {design.ci_text(nps_crq, 3, keys=BOOT)}, "
                f"bootstrap {format_p_text(nps_crq['boot_p_value'])}: {crq_words}.")
    text.append(verdict)
    fewer = min(n_events, n_units - n_events)
    if fewer < 10:
        text.append(f"With only {fewer} {'lost' if fewer == n_units - n_events else 'retained'} "
                    "account-waves the intervals are wide and the ranking is fragile.")
    step.text.append(" ".join(text))
    nps_row = pv.set_index("predictor").loc["nps"]
    versus = difference_words(-second["diff_ci_high"], -second["diff_ci_low"],
                              higher="a clear lead over", lower="a clear lead over",
                              none=f"{NO_CLEAR} from")
    step.summary.append(f"Retention: {design.label(best['predictor'])} has the highest AUC "
                        f"({design.ci_text(best)}), {versus} {design.label(second['predictor'])}; "
                        f"NPS AUC {design.ci_text(nps_row)}. {verdict}")


# -- volatility ----------------------------------------------------------------------------
def volatility(data: pd.DataFrame, design: Design) -> Step:
    """Wave-to-wave SD of account means, satisfaction against trust, with a paired t test
    (needs two waves or more)."""
    d, step = design, Step()
    if len(d.waves) < 2:
        return step.skip("volatility", f"The study has one wave ({d.wave_labels[d.latest]}; "
                         f"{d.n_accounts:,} accounts): wave-to-wave change needs at least two "
                         "waves.")
    try:
        vol = association.volatility(data, a="satisfaction", b="trust", ci=d.ci)
    except NOT_ESTIMABLE as exc:
        return step.skip("volatility", f"Volatility: {exc}.")
    step.record("volatility", vol)
    for _, row in vol.iterrows():
        step.record(f"volatility.{row['measure']}", row, n_accounts=int(row["n_accounts"]))
    step.table = vol
    step.shown = _tested(vol, "measure", "measure", d, digits=3).assign(
        accounts=vol["n_accounts"].map(_count))
    v = vol.set_index("measure")
    diff = v.loc["difference"]
    verdict = difference_words(diff["ci_low"], diff["ci_high"],
                               higher="satisfaction is more volatile than trust",
                               lower="trust is more volatile than satisfaction",
                               none=f"{NO_CLEAR} in volatility between the two")
    step.text.append(
        f"Over {int(diff['n_accounts']):,} accounts seen in two or more waves, the wave-to-wave "
        f"SD of an account's mean satisfaction averages {d.ci_text(v.loc['satisfaction'], 3)} "
        f"scale points and that of trust {d.ci_text(v.loc['trust'], 3)}. The difference is "
        f"{d.ci_text(diff, 3)} (t({format_fixed(diff['df'], 0)}) = {format_fixed(diff['stat'])}, "
        f"{format_p_text(diff['p_value'])}): {verdict}."
        + (" A single wave's satisfaction therefore says less about the lasting relationship "
           "than its trust." if diff["ci_low"] > 0 else ""))
    step.summary.append(f"Volatility: wave-to-wave SD of satisfaction minus trust = "
                        f"{d.ci_text(diff, 3)} ({int(diff['n_accounts']):,} accounts): "
                        f"{verdict}.")
    return step


def summary(*steps: Step) -> list[str]:
    """The summary lines of ``steps``, in order."""
    return [line for step in steps for line in step.summary]


# -- findings for the index page and the Key findings box ------------------------------------
#: The research question of notebook 40 (the glossary's, ``crqlab/reports/glossary.yaml``).
QUESTION = "How closely do NPS and CRQ move, and which predicts retention?"


def _recorded(step: Step, name: str):
    return next((r for r in step.records if r.name == name), None)


def findings(corr: Step, confidential: Step, retention_step: Step, design: Design) -> list[dict]:
    """The notebook's findings in plain words (``results.finding(**f)`` for each ``f``): the
    NPS/CRQ correlation with the "highly correlated" claim judged by its interval, the same
    among confidential respondents, and which measure predicts retention, each with estimate,
    interval and n; a finding saying why where a part could not run.

    Every difference, ranking and claim is worded by :func:`crqlab.formatting.difference_words`
    or :func:`crqlab.formatting.claim_words`.
    """
    d, out = design, []
    r = corr.headline
    if r is None or pd.isna(r["est"]):
        out.append({"question": QUESTION, "why_not": "no correlation could be estimated",
                    "text": "The correlation of the NPS answer with the CRQ index could not be "
                            "estimated on these data (see the correlation section)."})
    else:
        claim = claim_words(r["ci_low"], r["ci_high"], direction=1, null=0.5)
        out.append({"question": QUESTION, "quantity": f"corr.nps_{d.index_name}.pearson",
                    "est": r["est"], "ci": (r["ci_low"], r["ci_high"]), "n": int(r["n"]),
                    "text": "Between respondents, the NPS answer and the CRQ index correlate "
                            "r = {est} {ci} ({n}): a " + strength(r["est"]) + " association. "
                            "The claim that NPS and CRQ are highly correlated (r above 0.5): "
                            + claim + "."})
    if confidential.table is not None:
        c = confidential.table.iloc[1]
        rec = _recorded(confidential, f"corr.nps_{d.index_name}.confidential")
        where = ("" if r is None or pd.isna(r["est"]) else "; the reported value lies "
                 + difference_words(r["est"] - c["ci_high"], r["est"] - c["ci_low"],
                                    higher="above", lower="below", none="inside")
                 + " this interval")
        out.append({"question": QUESTION, "quantity": rec.name, "est": c["est"],
                    "ci": (c["ci_low"], c["ci_high"]), "n": int(c["n"]),
                    "n_accounts": rec.options.get("n_accounts"),
                    "text": "Among confidential respondents only, whose answers carry no "
                            "named-answer inflation, r = {est} {ci} ({n})" + where + "."})
    pv = retention_step.table
    if pv is None:
        out.append({"question": QUESTION, "why_not": "retention could not be analysed",
                    "text": "Which measure predicts retention could not be tested on these data: "
                            + (retention_step.skipped[0] if retention_step.skipped else
                               "see the retention section.")})
        return out
    best, second = pv.iloc[0], pv.iloc[1]
    lead = difference_words(-second["diff_ci_high"], -second["diff_ci_low"],
                            higher="a clear lead over", lower="a clear lead over",
                            none=f"{NO_CLEAR} from")
    out.append({"question": QUESTION, "quantity": f"auc.{best['predictor']}", "est": best["est"],
                "ci": (best["ci_low"], best["ci_high"]), "n": int(best["n"]),
                "n_accounts": int(best["n_accounts"]),
                "text": f"For retention next wave, {d.label(best['predictor'])} has the highest "
                        "AUC, {est} {ci} ({n}), with " + lead + " "
                        + d.label(second["predictor"]) + "."})
    diff = _recorded(retention_step, "auc_diff.nps_vs_crq_index")
    if diff is not None:
        v = diff.value
        words = difference_words(v["ci_low"], v["ci_high"],
                                 higher="NPS predicts retention better than the CRQ index",
                                 lower="the CRQ index predicts retention better than NPS")
        out.append({"question": QUESTION, "quantity": diff.name, "est": v["est"],
                    "ci": (v["ci_low"], v["ci_high"]), "n": int(v["n"]),
                    "n_accounts": int(best["n_accounts"]),
                    "text": "AUC of NPS minus that of the CRQ index: {est} {ci} ({n}): "
                            + words + "."})
    return out
