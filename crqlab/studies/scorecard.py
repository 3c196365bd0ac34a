"""The scorecard (notebook 01): which wave can be scored, how scores change between waves,
what the study's own biases do to the headline, and the findings in plain words.

The notebook loads the study, calls these functions, shows and records; the statistics are
:func:`crqlab.models.bias.clustered_effects` (account-clustered difference of means),
:func:`crqlab.measures.nps.nps_test` (account-cluster bootstrap of an NPS difference),
:func:`crqlab.models.weighting.propensity_adjusted` (frame weights for non-response) and
:func:`crqlab.models.bias.did_estimates` (the panel difference in differences).

Adjusted headlines (:func:`adjusted_headlines`, issue 16 item 2): beside the reported NPS and
CRQ index, (a) the value weighted to the invitation frame for non-response, and (b) the value
also adjusted for named-answer inflation - from the panel difference in differences when the
scored wave follows a wave that offered confidentiality and itself offers none, else from the
confidential-named difference of the scored wave, as a stated sensitivity range (between "none
of the gap is inflation" and "all of it is"). Coverage of the true whole-frame honest value
over three generator structures x 20 seeds: ``tests/generalisation/`` and
``docs/generalisation.md``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crqlab.errors import ConvergenceError, InsufficientDataError, ValidationError
from crqlab.formatting import difference_words, format_fixed, word_list
from crqlab.measures.norms import benchmark_position
from crqlab.measures.nps import nps_test
from crqlab.models import bias, nonresponse, weighting
from crqlab.models.bias import clustered_effects
from crqlab.models.invariance import item_names, measurement_invariance, plain_summary
from crqlab.models.longitudinal import longitudinal_invariance
from crqlab.models.sem import measurement_syntax

__all__ = ["WaveChoice", "choose_wave", "wave_changes", "WaveInvariance", "wave_invariance",
           "panel_invariance", "NONRESPONSE_COVARIATES",
           "Adjusted", "response_frame", "adjusted_headlines", "headline_findings",
           "QUESTION", "category_rule_words", "headline_table", "benchmark_positions"]

#: The research question of the scorecard (the glossary's question of notebook 01).
QUESTION = "Where does the client stand?"
#: Frame variables of the non-response model (notebook 30's default), where the frame has them.
NONRESPONSE_COVARIATES = ("role", "tenure_years", "size")
_NOT_FITTED = (InsufficientDataError, ConvergenceError, ValidationError)


def _why(exc: Exception) -> str:
    """Why an estimate could not be made, in words (no library or code names)."""
    if isinstance(exc, ConvergenceError):
        return ("the model could not be estimated: some group answered completely or not at "
                "all, or the estimation did not settle")
    if isinstance(exc, InsufficientDataError):
        return "too few respondents or accounts to estimate it"
    return "the study's data do not allow it"


@dataclass(frozen=True)
class WaveChoice:
    """The wave a scorecard scores and why the others are not scored.

    ``answered``: waves with responses; ``scorable``: those with at least the minimum cell
    size of respondents; ``silent``: declared waves without responses; ``small``: answered
    waves below the minimum cell size (they publish no score at all).
    """

    wave: int
    answered: list[int]
    scorable: list[int]
    silent: list[int]
    small: list[int]


def choose_wave(respondents: pd.DataFrame, waves: Sequence[int], wave: int,
                min_cell_size: int) -> WaveChoice:
    """The wave to score: ``wave``, or the latest with enough respondents when ``wave`` is 0.

    Raises
    ------
    InsufficientDataError
        No responses at all, no wave with ``min_cell_size`` respondents, or the asked wave has
        no responses or too few (each message says n).
    ValueError
        ``wave`` is not a wave of the study.

    Notes
    -----
    Tested in ``tests/studies/test_scorecard.py`` on hand-made frames, every branch.
    """
    answered = sorted(int(w) for w in respondents["wave"].unique())
    if not answered:
        raise InsufficientDataError("the study has no responses in any wave (n = 0)")
    per_wave = respondents["wave"].value_counts()
    scorable = [w for w in answered if per_wave.get(w, 0) >= min_cell_size]
    if not wave and not scorable:
        raise InsufficientDataError(f"no wave has at least {min_cell_size} respondents (the "
                                    "minimum cell size): no scores are published")
    wave = wave or scorable[-1]
    if wave not in waves:
        raise ValueError(f"wave {wave} is not in this study (waves {list(waves)})")
    if wave not in answered:
        raise InsufficientDataError(f"wave {wave} has no responses (n = 0); waves with "
                                    f"responses: {answered}")
    if wave not in scorable:
        raise InsufficientDataError(f"wave {wave} has fewer than {min_cell_size} respondents "
                                    "(the minimum cell size): no scores are published")
    return WaveChoice(wave, answered, scorable, [w for w in waves if w not in answered],
                      [w for w in answered if w not in scorable])


def wave_changes(scores: pd.DataFrame, shown_waves: Sequence[int], index_name: str,
                 labels: Mapping[int, str], *, ci: float, n_boot: int, seed: int
                 ) -> tuple[list[tuple[str, Any, dict[str, Any]]], pd.DataFrame]:
    """Change of the index and of the NPS between consecutive shown waves.

    Returns the results.json entries (``(name, value, options)`` for
    :func:`crqlab.reports.results.record_all`) and the tidy table of changes (``change, score,
    est, ci_low, ci_high, p_value, n``). Only waves shown (not suppressed) are compared: a change
    involving a suppressed wave would give its score back.

    Notes
    -----
    Tested in ``tests/studies/test_scorecard.py``: the entries equal direct calls of the two
    estimators.
    """
    entries, rows = [], []
    for before, after in zip(shown_waves[:-1], shown_waves[1:]):
        pair = scores[scores["wave"].isin([before, after])].assign(
            later=lambda d: d["wave"] == after)
        crq = clustered_effects(pair, index_name, group="later", moderator=None, controls=(),
                                ci=ci).set_index("term").loc["later"]
        later = pair["later"]
        nps_change = nps_test(pair.loc[later, "nps"], pair.loc[~later, "nps"],
                              method="bootstrap", clusters_x=pair.loc[later, "account_id"],
                              clusters_y=pair.loc[~later, "account_id"], joint=True,
                              n_boot=n_boot, seed=seed, ci=ci).iloc[0]
        for name, row, unit in ((index_name, crq, "1-7 scale"), ("nps", nps_change, "points")):
            n = int(row["n"]) if "n" in row else int(row["n_x"] + row["n_y"])
            entries.append((f"{name}.change_w{before}_w{after}", row["est"],
                            {"ci": (row["ci_low"], row["ci_high"]), "se": row["se"],
                             "stat": row["stat"], "df": row.get("df"),
                             "p_value": row["p_value"], "n": n, "unit": unit}))
            rows.append({"change": f"{labels[before]} to {labels[after]}", "score": name,
                         "est": row["est"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                         "p_value": row["p_value"], "n": n})
    return entries, pd.DataFrame(rows)


@dataclass
class WaveInvariance:
    """Do the questions measure alike in every wave compared? (:func:`wave_invariance`)

    ``verdict`` is the sentence for readers (None when not tested), ``table`` the ladder's
    tests in words, ``notes`` why it was not tested or how the respondents were chosen,
    ``entries`` the results.json entries and ``level`` the highest step that held."""

    notes: list[str] = field(default_factory=list)
    verdict: str | None = None
    table: pd.DataFrame | None = None
    entries: list = field(default_factory=list)
    level: str | None = None


def _one_wave_each(answers: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each contact's answers from one of the waves it answered, drawn at random with ``seed``
    (the same rows whatever the input order)."""
    ordered = answers.sort_values(["contact_id", "wave"], kind="stable")
    drawn = ordered.iloc[np.random.default_rng(seed).permutation(len(ordered))]
    return drawn.drop_duplicates("contact_id").sort_values(["wave", "contact_id"], kind="stable")


def wave_invariance(scores: pd.DataFrame, waves: Sequence[int], instrument: Any,
                    labels: Mapping[int, str], *, seed: int, max_free: int = 3,
                    min_group: int = 100, min_cell_size: int = 0,
                    estimator: str = "MLR", panel: bool = False) -> WaveInvariance:
    """Measurement invariance of the CRQ elements across ``waves`` (configural, metric,
    scalar; up to ``max_free`` constraints freed per step), checked before the trend is read.

    Parameters
    ----------
    scores : DataFrame
        Respondents of every wave with ``contact_id``, ``wave`` and the elements' questions.
    waves : sequence of int
        The waves the trend shows.
    instrument : Instrument
        Elements, their questions and labels; elements with fewer than two questions are
        left out (a one-question element has no measurement model to compare).
    labels : mapping
        Wave -> its label.
    seed : int
        Seed of the draw that keeps each contact in one wave.
    max_free : int
        Constraints the partial-invariance search may free per step (0: no search).
    min_group : int
        Fewest complete respondents a wave needs to take part (at least ``min_cell_size``).
    estimator : {"MLR", "ML"}
        MLR (for 1-7 answers): scaled difference tests and robust CFI/RMSEA.
    panel : bool
        Also test the contacts who answered both of the last two ``waves`` (at least
        ``max(min_group, min_cell_size)`` of them, complete in both), every answer kept, in
        one longitudinal model (:func:`panel_invariance`); its entries and sentence are added
        after the others and change none of them.

    Notes
    -----
    Waves share respondents, and a multi-group test assumes independent groups: each contact
    who answered in several waves counts once here, in one of those waves drawn at random. The
    remaining dependence (contacts of the same account in several waves) is not modelled, as
    in every multi-group comparison of this workbook. The ladder is
    :func:`crqlab.models.invariance.measurement_invariance` (validated against lavaan's
    ``group.equal`` fits and ``lavTestLRT``); tested on planted question drift in
    ``tests/studies/test_scorecard.py``.
    """
    out = _independent_waves(scores, waves, instrument, labels, seed=seed, max_free=max_free,
                             min_group=min_group, min_cell_size=min_cell_size,
                             estimator=estimator)
    if panel and len(waves) >= 2:
        entries, notes = panel_invariance(scores, waves[-2:], instrument, labels, seed=seed,
                                          max_free=max_free, min_group=min_group,
                                          min_cell_size=min_cell_size, estimator=estimator)
        out.entries += entries
        out.notes += notes
    return out


def _items(scores: pd.DataFrame, instrument: Any) -> dict[str, list[str]]:
    """Elements with two or more questions in the data, and their questions."""
    return {e: its for e, its in instrument.element_items().items()
            if len(its) >= 2 and set(its) <= set(scores.columns)}


def panel_invariance(scores: pd.DataFrame, waves: Sequence[int], instrument: Any,
                     labels: Mapping[int, str], *, seed: int, max_free: int = 3,
                     min_group: int = 100, min_cell_size: int = 0, estimator: str = "MLR"
                     ) -> tuple[list, list[str]]:
    """Measurement invariance between two waves among the contacts who answered both: one
    longitudinal model keeping every answer of the panel (metric, then scalar step).

    Parameters
    ----------
    scores, instrument, labels, seed, max_free, min_group, min_cell_size, estimator
        As in :func:`wave_invariance`.
    waves : sequence of int
        The two waves, earlier first.

    Returns
    -------
    (entries, notes)
        ``trend.panel_invariance_scalar_holds`` and ``trend.panel_invariance_n_freed`` (with
        the number of panel contacts as ``n``) and one sentence; or no entries and a note on
        why it was not tested.

    Notes
    -----
    The model is :func:`crqlab.models.longitudinal.longitudinal_invariance` (the same
    elements at both waves, each question's residuals correlated across the waves; validated
    against lavaan on PoliticalDemocracy 1960/1965); the contacts who answered both waves
    completely are used (listwise). Tested on a planted question drift in
    ``tests/studies/test_scorecard.py``.
    """
    items = _items(scores, instrument)
    first, last = waves
    if not items:
        return [], []
    cols = [i for its in items.values() for i in its]
    answers = scores.loc[scores["wave"].isin([first, last]), ["contact_id", "wave", *cols]]
    answers = answers.astype({c: "float64" for c in cols}).dropna()
    answers = answers.sort_values(["contact_id", "wave"], kind="stable")
    answers = answers.drop_duplicates(["contact_id", "wave"])
    wide = answers.pivot(index="contact_id", columns="wave", values=cols).dropna()
    wide.columns = [f"{item}_w{wave}" for item, wave in wide.columns]
    need = max(min_group, min_cell_size)
    both = f"both {labels[first]} and {labels[last]}"
    if len(wide) < need:
        return [], [(f"The same contacts in {both} were not compared: {len(wide):,} "
                     f"answered both completely, fewer than {need}.")]
    try:
        result = longitudinal_invariance(measurement_syntax(items), wide.reset_index(drop=True),
                                         [first, last], columns="{item}_w{occasion}",
                                         steps=("metric", "scalar"), estimator=estimator,
                                         max_free=max_free, seed=seed)
    except (*_NOT_FITTED, ValueError) as exc:
        return [], [f"The same contacts in {both} could not be compared: {_why(exc)}."]
    who = f"Among the {len(wide):,} contacts who answered {both} (every answer kept)"
    sentence, _ = plain_summary(result, who, item_names(items, {e: instrument.label(e)
                                                                for e in items}), unit="wave")
    scalar = result.level in ("scalar", "partial scalar")
    return ([("trend.panel_invariance_scalar_holds", scalar,
              {"n": int(result.n), "note": sentence}),
             ("trend.panel_invariance_n_freed", len(result.freed), {"n": int(result.n)})],
            [sentence])


def _independent_waves(scores: pd.DataFrame, waves: Sequence[int], instrument: Any,
                       labels: Mapping[int, str], *, seed: int, max_free: int,
                       min_group: int, min_cell_size: int, estimator: str) -> WaveInvariance:
    """:func:`wave_invariance` across the waves as independent groups."""
    items = _items(scores, instrument)
    if not items:
        return WaveInvariance(notes=["Measurement invariance across waves was not tested: no "
                                     "element has two or more questions in the data."])
    cols = [i for its in items.values() for i in its]
    answers = scores.loc[scores["wave"].isin(list(waves)), ["contact_id", "wave", *cols]]
    answers = answers.astype({c: "float64" for c in cols}).dropna()
    kept = _one_wave_each(answers, seed)
    counts = kept["wave"].value_counts()
    need = max(min_group, min_cell_size)
    compared = [w for w in waves if counts.get(w, 0) >= need]
    left_out = [labels[w] for w in waves if w not in compared]
    if len(compared) < 2:
        return WaveInvariance(notes=[
            f"Measurement invariance across waves was not tested: it needs at least {need} "
            f"complete respondents in each of two waves, counting each contact once "
            f"({'; '.join(f'{labels[w]}: {int(counts.get(w, 0))}' for w in waves)})."])
    data = kept[kept["wave"].isin(compared)]
    data = data[cols].assign(wave_group=data["wave"].map(lambda w: f"wave {w}").to_numpy())
    syntax = measurement_syntax(items)
    try:
        result = measurement_invariance(syntax, data, "wave_group", steps=("metric", "scalar"),
                                        estimator=estimator, max_free=max_free, seed=seed)
    except (*_NOT_FITTED, ValueError) as exc:
        return WaveInvariance(notes=[f"Measurement invariance across waves could not be "
                                     f"tested: {_why(exc)}"])
    sizes = [f"{labels[w]} ({int(counts[w]):,})" for w in compared]
    who = "Across the waves " + word_list(sizes)
    verdict, table = plain_summary(result, who, item_names(items, {e: instrument.label(e)
                                                                  for e in items}), unit="wave")
    how = (f"Each contact who answered in several waves counts once here, in one of them drawn "
           f"at random ({len(answers) - len(kept):,} repeat answers set aside for this test "
           f"only), so the waves compared are independent groups; estimator {estimator}.")
    if left_out:
        how += f" Left out, fewer than {need} complete respondents: {', '.join(left_out)}."
    scalar = result.level in ("scalar", "partial scalar")
    entries = [("trend.invariance_scalar_holds", scalar, {"n": int(result.n), "note": verdict}),
               ("trend.invariance_n_freed", len(result.freed), {"n": int(result.n)})]
    return WaveInvariance([how], verdict, table, entries, result.level)


# --------------------------------------------------------------------------- adjusted headlines
@dataclass
class Adjusted:
    """The scorecard's headlines beside what the study says about its own biases.

    ``table``: one row per score (``nps``, the index) and adjustment (``reported``,
    ``nonresponse``, ``inflation``) - ``score, adjustment, method, est, ci_low, ci_high, n,
    n_accounts, range_low, range_high, assumption`` (``range_low``/``range_high``: the ends
    of a sensitivity range, else missing). ``entries``: what to record
    (``(name, value, options)`` for :func:`crqlab.reports.results.record_all`).
    ``notes``: why an adjustment could not be estimated, in plain words.
    """

    table: pd.DataFrame
    entries: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def response_frame(frame: pd.DataFrame, scores: pd.DataFrame, wave: int, index_name: str,
                   covariates: Sequence[str] = NONRESPONSE_COVARIATES
                   ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The invitation frame of ``wave`` ready for the response model, as notebook 30 builds it.

    Categorical frame variables become text (missing as ``"unknown"``), numeric ones are
    mean-filled with a ``<name>_known`` flag, constant ones are left out, and the contact's
    previous-wave index (``prev_<index>``, with its flag) is added where a previous wave
    exists. Returns the frame, the covariates of the model and notes (plain words).
    """
    withprev = nonresponse.add_previous_score(frame, scores, index_name) \
        if index_name in scores.columns else frame
    pf = withprev[withprev["wave"] == wave].copy()
    pf["responded"] = pf["responded"].fillna(False).astype(bool)
    cov, notes = [], []
    absent = [c for c in covariates if c not in pf.columns]
    if absent:
        notes.append("not in this study's frame: "
                     + ", ".join(c.replace("_", " ") for c in absent))
    for c in [c for c in covariates if c in pf.columns]:
        col = pf[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            pf[c] = col.astype("string").fillna("unknown").astype(str)
        else:
            col = pd.to_numeric(col, errors="coerce").astype(float)
            if col.isna().any():
                pf[f"{c}_known"] = col.notna()
                cov.append(f"{c}_known")
            pf[c] = col.fillna(col.mean() if col.notna().any() else 0.0)
        cov.append(c)
    prev = f"prev_{index_name}"
    if prev in pf.columns and pf[f"{prev}_known"].any():
        cov += [prev] + ([f"{prev}_known"] if not pf[f"{prev}_known"].all() else [])
    constant = [c for c in cov if pf[c].nunique() < 2]
    return pf, [c for c in cov if c not in constant], notes


def _points(values: pd.Series, score: str) -> np.ndarray:
    return weighting.score_points(values.to_numpy(), score)


def _mean_row(values: np.ndarray, weights: np.ndarray, clusters: pd.Series, ci: float) -> dict:
    ok = ~np.isnan(values)
    m = weighting.weighted_mean(values[ok], weights[ok], clusters.to_numpy()[ok], ci=ci)
    return {"est": float(m["est"]), "ci_low": float(m["ci_low"]), "ci_high": float(m["ci_high"]),
            "se": float(m["se"]), "n": int(m["n"]), "n_accounts": int(pd.unique(
                clusters.to_numpy()[ok]).size)}


def _panel_inflation(scores: pd.DataFrame, frame: pd.DataFrame, before: int, wave: int,
                     score: str, elements: Sequence[str], ci: float) -> pd.Series:
    """The doubly robust panel DiD of ``score`` (NPS in points) from ``before`` to ``wave``."""
    resp = scores.copy()
    resp["_y"] = _points(resp[score], score)
    base = [e for e in elements if e in resp.columns]
    have = [c for c in ("account_id", "role", "newly_included")
            if c in resp.columns or c in frame.columns]
    panel = bias.panel_frame(resp, frame, score="_y", waves=(before, wave), covariates=have,
                             baseline=base)
    t = bias.did_estimates(panel, single=None, ci=ci)
    if t.empty or t.iloc[0]["method"] != "doubly_robust":
        raise InsufficientDataError("the panel difference in differences could not be "
                                    "estimated: " + "; ".join(t.attrs.get("skipped", {}).values()))
    return t.iloc[0]


def _labels(index_name: str, index_label: str) -> dict[str, str]:
    return {"nps": "NPS", index_name: index_label}


def adjusted_headlines(frame: pd.DataFrame, scores: pd.DataFrame, wave: int, *,
                       index_name: str = "crq_index", index_label: str = "CRQ index",
                       elements: Sequence[str] = (),
                       covariates: Sequence[str] = NONRESPONSE_COVARIATES,
                       min_cell_size: int = 5, ci: float = 0.95) -> Adjusted:
    """The headline NPS and index of ``wave`` as reported, adjusted for non-response, and
    adjusted for non-response and named-answer inflation.

    Parameters
    ----------
    frame : DataFrame
        The invitation frame of every wave with account attributes (``Study.frame()``):
        ``wave, contact_id, account_id, responded`` and the ``covariates``.
    scores : DataFrame
        One row per respondent of every wave: ``wave, contact_id, account_id,
        confidential`` (missing where not offered), ``nps`` (0-10), ``index_name`` and the
        ``elements`` (for the panel's adjustment set).
    wave : int
        The scored wave.
    covariates : sequence of str
        Frame variables of the response model (the previous wave's index is added).
    min_cell_size : int
        Fewest confidential (or named) respondents for the cross-sectional range.

    Returns
    -------
    Adjusted

    Notes
    -----
    (a) *Non-response*: respondents weighted by their inverse response propensity (logistic
    model of responding on the frame variables; :func:`crqlab.models.weighting.
    propensity_adjusted`, validated against R ``survey``), linearisation interval over
    accounts. (b) *Named-answer inflation*, on top of (a):

    - *panel* (the scored wave offers no confidentiality, the one before did): every answer
      of the scored wave is named, and the doubly robust difference in differences of the
      previously confidential against the always named
      (:func:`crqlab.models.bias.did_estimates`) estimates how much being named adds; the
      adjusted value is the weighted value minus that, its variance the sum of both;
    - *cross-sectional* (the scored wave has confidential and named respondents): the
      weighted value of the confidential respondents alone is what all would say if the whole
      confidential-named difference were inflation, the weighted value of all respondents what
      they say if none of it is; the range between them (with the outer ends of their
      intervals) is reported, its middle as the point. It assumes the confidential are not
      more satisfied than the named for reasons of their own (those who choose confidentiality
      are, if anything, the less satisfied).

    Tested in ``tests/studies/test_scorecard.py`` (hand-made frames with planted inflation
    and non-response; the reported rows equal direct calls) and for coverage of the whole
    frame's honest value in ``tests/generalisation/test_scorecard_adjusted.py``.
    """
    labels = _labels(index_name, index_label)
    rows: list[dict] = []
    notes: list[str] = []
    current = scores[scores["wave"] == wave]
    score_cols = [s for s in ("nps", index_name) if s in current.columns]
    pf, cov, model_notes = response_frame(frame, scores, wave, index_name, covariates)
    weights = None
    if cov:
        try:
            adj = weighting.propensity_adjusted(pf, current, cov, score=score_cols, ci=ci)
            weights = weighting.propensity_weights(pf, cov)
        except _NOT_FITTED as exc:
            notes.append(f"Non-response adjustment not estimated: {_why(exc)}.")
    else:
        notes.append("Non-response adjustment not estimated: the invitation frame has no frame "
                     "variable that varies in this wave" + (f" ({'; '.join(model_notes)})"
                                                            if model_notes else "") + ".")
    words = {"tenure_years": "tenure", "size": "account size",
             f"prev_{index_name}": f"previous-wave {index_label}"}
    used = ", ".join(words.get(c, c.replace("_", " ")) for c in cov if not c.endswith("_known"))
    if weights is not None:
        adj = adj.set_index(["score", "method"])
        for s in score_cols:
            r = adj.loc[(s, "propensity")]
            rows.append({"score": s, "adjustment": "nonresponse", "method": "propensity",
                         **{k: r[k] for k in ("est", "ci_low", "ci_high", "se")},
                         "n": int(r["n"]), "n_accounts": int(r["n_accounts"]),
                         "assumption": f"respondents are weighted to everyone invited by "
                                       f"{used}; this assumes that within groups alike on "
                                       "these, those who answered say what the others would"})
    # respondents of the scored wave with their weight (1 without a response model)
    resp = pf[pf["responded"]][["contact_id", "account_id"]].merge(
        current.drop(columns=["account_id"], errors="ignore"), on="contact_id", how="inner")
    w = np.ones(len(resp)) if weights is None else \
        weights.reindex(pf.index[pf["responded"]]).set_axis(
            pf.loc[pf["responded"], "contact_id"]).reindex(resp["contact_id"]).to_numpy(float)
    conf = resp["confidential"] if "confidential" in resp.columns else pd.Series(dtype=object)
    known = conf.notna() if len(conf) else pd.Series(False, index=resp.index)
    n_conf = int(conf[known].astype(bool).sum()) if known.any() else 0
    # a wave that offered no confidentiality (no answer to the question): every answer is named
    n_named = int(known.sum()) - n_conf if known.any() else len(resp)
    waves = sorted(int(x) for x in scores["wave"].unique())
    before = [x for x in waves if x < wave]
    prev_conf = 0
    if before and "confidential" in scores.columns:
        p = scores[scores["wave"] == before[-1]]["confidential"]
        prev_conf = int(p.dropna().astype(bool).sum())
    weighted = "weighted to everyone invited" if weights is not None else "unweighted"
    for s in score_cols:
        y = _points(resp[s], s)
        try:
            if n_conf >= min_cell_size and n_named >= min_cell_size:
                whole = _mean_row(y, w, resp["account_id"], ci)
                cm = conf.fillna(False).astype(bool).to_numpy()
                only = _mean_row(y[cm], w[cm], resp["account_id"][cm], ci)
                lo_end, hi_end = sorted((only["est"], whole["est"]))
                rows.append({"score": s, "adjustment": "inflation", "method": "cross_section",
                             "est": (lo_end + hi_end) / 2,
                             "ci_low": min(only["ci_low"], whole["ci_low"]),
                             "ci_high": max(only["ci_high"], whole["ci_high"]),
                             "se": np.nan, "n": whole["n"], "n_accounts": whole["n_accounts"],
                             "range_low": lo_end, "range_high": hi_end,
                             "assumption": f"a sensitivity range ({weighted}): from what the "
                                           f"{n_conf:,} confidential respondents say (if the "
                                           "whole confidential-named difference is inflation) "
                                           "to what all say (if none is); it assumes the "
                                           "confidential are not more satisfied than the named "
                                           "for reasons of their own"})
            elif n_conf == 0 and n_named >= min_cell_size and prev_conf >= min_cell_size:
                did = _panel_inflation(scores, frame, before[-1], wave, s, elements, ci)
                whole = _mean_row(y, w, resp["account_id"], ci)
                se = float(np.hypot(whole["se"], did["se"]))
                half = (whole["ci_high"] - whole["ci_low"]) / 2
                z = half / whole["se"] if whole["se"] > 0 else 1.96
                est = whole["est"] - float(did["est"])
                rows.append({"score": s, "adjustment": "inflation", "method": "panel",
                             "est": est, "ci_low": est - z * se, "ci_high": est + z * se,
                             "se": se, "n": whole["n"], "n_accounts": whole["n_accounts"],
                             "inflation": float(did["est"]),
                             "assumption": f"every answer of this wave is named; how much being "
                                           f"named adds ({format_fixed(did['est'], 2, sign=True)}"
                                           f", from {int(did['n']):,} contacts who answered "
                                           "both waves, confidentially first) is taken to hold "
                                           f"for all respondents ({weighted})"})
            else:
                notes.append(f"{labels[s]}: named-answer inflation not estimated: the scored "
                             f"wave has {n_conf:,} confidential and {n_named:,} named "
                             "respondents, and no earlier wave offered confidentiality to the "
                             f"same contacts (at least {min_cell_size} of each are needed).")
                break
        except _NOT_FITTED as exc:
            notes.append(f"{labels[s]}: named-answer inflation not estimated: {_why(exc)}.")
    cols = ["score", "adjustment", "method", "est", "ci_low", "ci_high", "se", "n",
            "n_accounts", "range_low", "range_high", "inflation", "assumption"]
    table = pd.DataFrame(rows).reindex(columns=cols)
    entries = []
    for r in table.itertuples():
        opts = {"ci": (r.ci_low, r.ci_high), "n": int(r.n), "n_accounts": int(r.n_accounts),
                "headline": True, "note": r.assumption}
        if not pd.isna(r.se):
            opts["se"] = r.se
        entries.append((f"adjusted.{r.score}.{r.adjustment}", r.est, opts))
    return Adjusted(table, entries, notes)


def headline_table(adjusted: Adjusted, reported: Mapping[str, Any], index_name: str,
                   index_label: str) -> pd.DataFrame:
    """The headlines for reviewers: each score as reported (``reported``: score -> row with
    ``est, ci_low, ci_high, n``; ``None`` rows are left out) and as adjusted, with the estimate
    and interval as text, respondents and the assumption.

    Notes
    -----
    Tested in ``tests/studies/test_scorecard.py``.
    """
    from crqlab.formatting import format_ci

    rows = [{"score": s, "adjustment": "reported", "est": r["est"], "ci_low": r["ci_low"],
             "ci_high": r["ci_high"], "n": r["n"], "assumption": "the answers as given"}
            for s, r in reported.items() if r is not None]
    t = pd.concat([pd.DataFrame(rows), adjusted.table[list(rows[0])]], ignore_index=True) \
        if rows else adjusted.table
    order = {index_name: 0, "nps": 1, "reported": 0, "nonresponse": 1, "inflation": 2}
    t = t.assign(_s=t["score"].map(order), _a=t["adjustment"].map(order)) \
        .sort_values(["_s", "_a"], kind="stable")
    words = {"reported": "as reported", "nonresponse": "adjusted for non-response",
             "inflation": "also adjusted for named-answer inflation"}
    return pd.DataFrame({
        "score": t["score"].map({index_name: index_label, "nps": "NPS"}),
        "value": t["adjustment"].map(words),
        "estimate": [format_ci(r.est, r.ci_low, r.ci_high, digits=1 if r.score == "nps" else 2)
                     for r in t.itertuples()],
        "respondents": [f"{int(n):,}" for n in t["n"]],
        "assumption": t["assumption"]})


def benchmark_positions(bench: pd.DataFrame, placed: Mapping[str, Any], index_name: str,
                        index_label: str, *, illustrative: bool
                        ) -> tuple[list[tuple[str, Any, dict[str, Any]]], pd.DataFrame]:
    """Where each headline (``placed``: score -> row with ``est, ci_low, ci_high``; ``None``
    rows left out) falls in the benchmark: the entries to record and the table to show.

    An illustrative benchmark is never a headline: its entries are noted "illustrative
    benchmark, not a real norm" and recorded with ``headline`` off.

    Notes
    -----
    The positions are :func:`crqlab.measures.norms.benchmark_position` (tested there); the
    entries and labels in ``tests/studies/test_scorecard.py``.
    """
    entries, rows = [], []
    names = {index_name: index_label, "nps": "NPS"}
    for name, r in placed.items():
        if r is None:
            continue
        pos = benchmark_position(r["est"], bench, column=name, ci_low=r["ci_low"],
                                 ci_high=r["ci_high"]).iloc[0]
        note = "illustrative benchmark, not a real norm" if illustrative else None
        entries += [
            (f"benchmark.{name}.percentile", pos["percentile"],
             {"ci": (pos["percentile_ci_low"], pos["percentile_ci_high"]), "n": int(pos["n"]),
              "unit": "percentile of benchmark companies", "note": note,
              "headline": name == index_name and not illustrative,
              "label": f"Benchmark percentile, {names[name]}"}),
            (f"benchmark.{name}.quartile", int(pos["quartile"]), {"note": "1 = top"}),
            (f"benchmark.{name}.decile", int(pos["decile"]), {"note": "1 = top"}),
            (f"benchmark.{name}.unique", bool(pos["unique"]), {"note": "top decile"})]
        rows.append({"score": names[name], "value": r["est"], "percentile": pos["percentile"],
                     "percentile, interval": f"{pos['percentile_ci_low']:.1f} to "
                                             f"{pos['percentile_ci_high']:.1f}",
                     "quartile (1 = top)": int(pos["quartile"]),
                     "decile (1 = top)": int(pos["decile"]),
                     "unique (top decile)": "yes" if pos["unique"] else "no",
                     "benchmark companies": int(pos["n"])})
    return entries, pd.DataFrame(rows)


# --------------------------------------------------------------------------- findings
def _finding(text: str, row: Mapping[str, Any], quantity: str, **extra: Any) -> dict[str, Any]:
    out = {"question": QUESTION, "text": text, "est": row["est"],
           "ci": (row["ci_low"], row["ci_high"]), "n": int(row["n"]), "quantity": quantity}
    if row.get("n_accounts") is not None and not pd.isna(row.get("n_accounts")):
        out["n_accounts"] = int(row["n_accounts"])
    return out | extra


def _value(x: float, score: str) -> str:
    return format_fixed(x, 1 if score == "nps" else 2, grouping=False)


def headline_findings(wave_name: str, index_name: str, index_label: str,
                      crq: Mapping[str, Any] | None, nps: Mapping[str, Any] | None,
                      changes: pd.DataFrame | None = None,
                      adjusted: Adjusted | None = None) -> list[dict[str, Any]]:
    """The scorecard's findings in plain words: keyword arguments of
    :func:`crqlab.reports.results.finding`, one per quantity.

    Parameters
    ----------
    wave_name : str
        The scored wave as readers know it (``"wave 4 (2023)"``).
    crq, nps : mapping, optional
        The headline index and NPS (``est, ci_low, ci_high, n, n_accounts``); ``None`` when
        not estimated.
    changes : DataFrame, optional
        :func:`wave_changes`' table; the last change of each score is worded.
    adjusted : Adjusted, optional
        :func:`adjusted_headlines`; each adjustment gets a sentence with its assumption.

    Notes
    -----
    Words of direction come from :func:`crqlab.formatting.difference_words` ("no clear
    difference" unless the interval excludes zero). Tested in ``tests/studies/test_scorecard.py``:
    every finding passes the recorder's checks (nothing from the machine room), and a change
    whose interval holds zero is never called a rise or a fall.
    """
    out = []
    if crq is not None:
        out.append(_finding(f"The {index_label} of {wave_name} is {{est}} {{ci}} on the 1-7 "
                            "scale ({n}).", crq, "crq_index"))
    if nps is not None:
        out.append(_finding(f"The Net Promoter Score of {wave_name} is {{est}} {{ci}} ({{n}}).",
                            nps, "nps"))
    if changes is not None and len(changes):
        for score, label in ((index_name, index_label), ("nps", "Net Promoter Score")):
            t = changes[changes["score"] == score]
            if t.empty:
                continue
            r = t.iloc[-1]
            words = difference_words(r["ci_low"], r["ci_high"], higher="a clear rise",
                                     lower="a clear fall")
            out.append(_finding(f"From {r['change']} the {label} "
                                f"shows {words}: a change of {{est}} {{ci}} ({{n}}).",
                                r, "nps.change_last" if score == "nps" else "crq_index.change_last",
                                p_value=r.get("p_value")))
    if adjusted is not None:
        names = {"nps": "Net Promoter Score", index_name: index_label}
        for r in adjusted.table.to_dict("records"):
            label = names.get(r["score"], r["score"])
            if r["adjustment"] == "nonresponse":
                text = (f"Weighted for non-response, the {label} would be {{est}} {{ci}} "
                        f"({{n}}): {r['assumption']}.")
            elif r["method"] == "cross_section":
                text = (f"Allowing for inflated named answers, the {label} of everyone invited "
                        f"lies between {_value(r['range_low'], r['score'])} and "
                        f"{_value(r['range_high'], r['score'])} (middle {{est}}, with "
                        f"uncertainty {{ci}}; {{n}}): {r['assumption']}.")
            else:
                text = (f"Adjusted for named-answer inflation and non-response, the {label} "
                        f"would be {{est}} {{ci}} ({{n}}): {r['assumption']}.")
            out.append(_finding(text, r, f"adjusted.{r['score']}.{r['adjustment']}"))
    return out


def category_rule_words(rule: Any, label: Any = str) -> str:
    """The thresholds of a category grid (:class:`crqlab.measures.categories.CategoryRule`)
    as a sentence reviewers read, element names through ``label`` (the instrument's).

    Notes
    -----
    Tested in ``tests/studies/test_scorecard.py`` (every threshold of the default grid is
    named; no code name or repr shows).
    """
    def names(elements: Sequence[str]) -> str:
        return word_list([str(label(e)).lower() for e in elements])

    strength = f"the mean of {names(rule.strength_elements)}"
    if rule.axis == "advocacy":
        second = f"the mean answer to the recommendation question is at least {rule.advocacy_unique:g}"
    else:
        second = f"the mean of {names(rule.uniqueness_elements)} is at least {rule.unique:g}"
    return (f"Relationship strength is {strength}: strong at {rule.strong:g} or above, weak "
            f"below {rule.weak:g}. An account counts as unique when {second}. Ambassadors are "
            "strong and unique, Rationals strong but not unique, Ambivalents unique but not "
            "strong, Stalkers neither (and not weak), Opponents weak and not unique.")
