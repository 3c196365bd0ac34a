"""Data-quality checks on survey responses: item missingness, straight-lining, duplicates.

Functions take ``respondents`` as returned by :meth:`crqlab.data.study.Study.respondents` (one row per
response, canonical columns of docs/data-contract.md: ``wave, contact_id, account_id`` and the
item columns, where "don't know" and "N/A" are already missing) and return tidy frames with
``est, ci_low, ci_high, n`` (Wilson intervals from :func:`crqlab.stats.proportion_ci`) and
``n_events``, the count behind ``est`` (as in :func:`crqlab.models.nonresponse.response_rates`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crqlab.errors import Problem, ValidationError
from crqlab.stats import proportion_ci

__all__ = ["item_missingness", "straight_line_flags", "straight_lining", "duplicate_patterns",
           "QUESTION", "quality_findings", "COMPLETION_RULE", "completed_responses"]

#: The research question of the data-quality report (the glossary's question of notebook 00).
QUESTION = "Is the survey export sound?"

#: The one definition of a completed questionnaire, behind every completion rate
#: (:func:`completed_responses`; notebooks 00 and 30 both use it).
COMPLETION_RULE = ("a completed questionnaire is a row of the responses table: partial responses "
                   "are set aside when the data are read, so a contact marked as responded "
                   "without a row did not complete")

_RESULT = ["est", "ci_low", "ci_high", "n", "n_events"]


def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def _require(frame: pd.DataFrame, cols) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValidationError([Problem("respondents", c, None, None, "column not found")
                               for c in missing])


def _shares(events, n, ci: float) -> pd.DataFrame:
    out = proportion_ci(np.asarray(events, dtype=int), np.asarray(n, dtype=int), ci)
    out["n_events"] = np.asarray(events, dtype=int)
    return out


def item_missingness(respondents: pd.DataFrame, items, by=None, ci: float = 0.95) -> pd.DataFrame:
    """Share of responses without an answer to each item, with Wilson intervals.

    Parameters
    ----------
    respondents : DataFrame
        One row per response; a missing value (including "don't know" and "N/A", which the
        loader reads as missing) counts as unanswered.
    items : list of str
        Item columns, in the order wanted in the result (e.g. ``instrument.items + ["nps"]``).
    by : str or list of str, optional
        Grouping columns (e.g. ``"wave"``); groups are sorted, rows with a missing group value
        are left out. Default: all responses together.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        ``<by...>, item, est, ci_low, ci_high, n, n_events``: ``n`` responses in the group,
        ``n_events`` of them without an answer, ``est = n_events / n``.

    Notes
    -----
    Counts checked by hand on small frames and intervals against
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")`` in
    ``tests/data/test_quality.py``.
    """
    items, by = list(items), _as_list(by)
    _require(respondents, items + by)
    missing = respondents[items].isna()
    if not by:
        out = _shares(missing.sum().to_numpy(), np.full(len(items), len(respondents)), ci)
        out.insert(0, "item", items)
        return out[["item", *_RESULT]]
    grouped = missing.groupby([respondents[c] for c in by], sort=True)
    long = grouped.sum().stack().rename("n_events").reset_index()
    long.columns = [*by, "item", "n_events"]
    long = long.merge(grouped.size().rename("n").reset_index(), on=by, how="left")
    out = _shares(long["n_events"].to_numpy(), long["n"].to_numpy(), ci)
    return pd.concat([long[[*by, "item"]], out[_RESULT]], axis=1)


def straight_line_flags(respondents: pd.DataFrame, items, min_items: int = 10) -> pd.DataFrame:
    """Per response: items answered, whether it can be judged, whether it straight-lines.

    Parameters
    ----------
    respondents : DataFrame
    items : list of str
        Rating items compared (usually the instrument's items, without NPS).
    min_items : int
        Answered items needed before identical answers count as straight-lining.

    Returns
    -------
    DataFrame
        Same index as ``respondents``: ``n_answered`` (int), ``judged`` (``n_answered >=
        min_items``) and ``flat`` (judged and one distinct value over the answered items).

    Notes
    -----
    Checked on hand-made frames in ``tests/data/test_quality.py``.
    """
    items = list(items)
    _require(respondents, items)
    a = respondents[items].to_numpy(dtype=float, na_value=np.nan)
    gap = np.isnan(a)
    n_answered = pd.Series((~gap).sum(axis=1), index=respondents.index)
    judged = n_answered >= min_items
    # one distinct answered value <=> the highest answered value equals the lowest (a row with
    # nothing answered compares -inf with inf and is not flat); no row-wise nunique
    same = (np.where(gap, -np.inf, a).max(axis=1) == np.where(gap, np.inf, a).min(axis=1)
            if a.shape[1] else np.zeros(len(a), dtype=bool))
    flat = judged & same
    return pd.DataFrame({"n_answered": n_answered.astype(int), "judged": judged, "flat": flat},
                        index=respondents.index)


def straight_lining(respondents: pd.DataFrame, items, min_items: int = 10, by="wave",
                    ci: float = 0.95, levels=None) -> pd.DataFrame:
    """Share of judged respondents giving the same answer to every answered item.

    Parameters
    ----------
    respondents : DataFrame
    items : list of str
        Rating items compared.
    min_items : int
        Answered items needed for a respondent to be judged (see :func:`straight_line_flags`).
    by : str or list of str, optional
        Grouping columns; ``None`` for one overall row.
    ci : float
        Confidence level.
    levels : sequence, optional
        With a single ``by`` column: its values to report, in this order, including values
        without respondents (``n = 0``, blank ``est``), e.g. ``study.waves``. Default: the
        values present, sorted.

    Returns
    -------
    DataFrame
        ``<by...>, est, ci_low, ci_high, n, n_events``: ``n`` judged respondents, ``n_events``
        of them straight-lining.

    Notes
    -----
    Straight-lining at the top of the scale may be genuine; the share is a warning sign. Counts
    checked by hand and intervals against statsmodels' Wilson interval in
    ``tests/data/test_quality.py``.
    """
    by = _as_list(by)
    _require(respondents, by)
    if levels is not None and len(by) != 1:
        raise ValueError(f"levels needs exactly one by column, got {by}")
    flags = straight_line_flags(respondents, items, min_items)
    if not by:
        return _shares([int(flags["flat"].sum())], [int(flags["judged"].sum())], ci)[_RESULT]
    counts = flags[["flat", "judged"]].groupby([respondents[c] for c in by], sort=True).sum()
    if levels is not None:
        counts = counts.reindex(pd.Index(list(levels), name=by[0]), fill_value=0)
    out = _shares(counts["flat"].to_numpy(), counts["judged"].to_numpy(), ci)
    keys = counts.index.to_frame(index=False)
    keys.columns = by
    return pd.concat([keys, out[_RESULT]], axis=1)


def duplicate_patterns(respondents: pd.DataFrame, items, within=("wave", "account_id"),
                       exclude=None, key=("wave", "contact_id"), ci: float = 0.95) -> pd.DataFrame:
    """Responses repeating a contact in a wave, or another response's full answer pattern.

    Parameters
    ----------
    respondents : DataFrame
    items : list of str
        Columns forming the answer pattern (e.g. the items and ``nps``); two missing answers
        count as equal.
    within : sequence of str
        Patterns only count as repeated within the same values of these columns (same
        account and wave).
    exclude : array-like of bool, optional
        Responses left out of the pattern check (aligned with ``respondents``), e.g. the
        straight-liners and responses too sparse to judge, whose patterns coincide by nature.
    key : sequence of str
        Columns identifying a response (one per contact and wave).
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        Two rows, ``check`` = ``"contact_wave"`` (responses repeating an earlier response's
        ``key``, among all ``n`` responses) and ``"answer_pattern"`` (responses repeating an
        earlier response's pattern within ``within``, among the ``n`` checked), with ``est,
        ci_low, ci_high, n, n_events``: ``n_events`` repeats, the first occurrence not counted.

    Notes
    -----
    Counts checked by hand on small frames in ``tests/data/test_quality.py``.
    """
    items, within, key = list(items), list(within), list(key)
    _require(respondents, items + within + key)
    key_dupes = int(respondents.duplicated(key).sum())
    keep = np.ones(len(respondents), dtype=bool)
    if exclude is not None:
        keep = ~np.asarray(exclude, dtype=bool)
        if keep.shape != (len(respondents),):
            raise ValueError(f"exclude has {keep.size} values for {len(respondents)} responses")
    candidates = respondents.loc[keep, within + items]
    pattern_dupes = int(candidates.duplicated(within + items, keep="first").sum())
    out = _shares([key_dupes, pattern_dupes], [len(respondents), len(candidates)], ci)
    out.insert(0, "check", ["contact_wave", "answer_pattern"])
    return out[["check", *_RESULT]]


def _plural(k: int, one: str, many: str) -> str:
    return f"{k:,} {one if k == 1 else many}"


def quality_findings(*, n_responses: int, n_accounts: int, n_waves: int, wave_name: str,
                     response_rate, straightlining, duplicates: int, repeated_patterns: int,
                     without_row: int, worst_item: str | None = None,
                     worst_missing=None) -> list[dict]:
    """The data-quality report's findings in plain words: keyword arguments of
    :func:`crqlab.reports.results.finding`.

    Parameters
    ----------
    n_responses, n_accounts, n_waves : int
        Responses of all waves, accounts invited, waves.
    wave_name : str
        The latest wave as readers know it (``"wave 4 (2023)"``).
    response_rate, straightlining : mapping
        ``est, ci_low, ci_high, n`` (and ``n_events`` for straight-lining) of the latest
        wave's response rate and of the straight-lining share.
    duplicates, repeated_patterns, without_row : int
        Responses repeating a contact within a wave; repeated answer patterns within an
        account and wave; contacts marked as responded without a response (all waves).
    worst_item, worst_missing : optional
        The human name of the question most often left unanswered and its share (``est,
        ci_low, ci_high, n``).

    Notes
    -----
    The problems named are exactly those counted above zero; with none the finding says so.
    Tested in ``tests/data/test_quality.py`` (the recorder accepts every finding; counts
    and words follow the inputs).
    """
    rr = response_rate
    out = [{"question": QUESTION, "quantity": "response_rate",
            "text": f"The export holds {_plural(n_responses, 'response', 'responses')} from "
                    f"{_plural(n_accounts, 'invited account', 'invited accounts')} over "
                    f"{_plural(n_waves, 'wave', 'waves')}; in {wave_name} {{est}} {{ci}} of "
                    "the invited contacts responded ({n}).",
            "est": rr["est"], "ci": (rr["ci_low"], rr["ci_high"]), "n": int(rr["n"])}]
    problems = []
    if int(straightlining.get("n_events", 0) or 0):
        problems.append(_plural(int(straightlining["n_events"]), "respondent gave",
                                "respondents gave") + " the same answer to every question")
    if duplicates:
        problems.append(_plural(duplicates, "response repeats", "responses repeat")
                        + " a contact within a wave")
    if repeated_patterns:
        problems.append(_plural(repeated_patterns, "response repeats", "responses repeat")
                        + " another's full answer pattern in the same account and wave")
    if without_row:
        problems.append(_plural(without_row, "contact is", "contacts are")
                        + " marked as responded without a response (started, not completed)")
    found = ("Problems found: " + "; ".join(problems) + ".") if problems else \
        "No straight-lining, duplicate responses or incomplete responses were found."
    sl = straightlining
    out.append({"question": QUESTION, "quantity": "straightlining",
                "text": f"{found} Straight-lining share: {{est}} {{ci}} ({{n}}).",
                "est": sl["est"], "ci": (sl["ci_low"], sl["ci_high"]), "n": int(sl["n"])})
    if worst_item is not None and worst_missing is not None:
        wm = worst_missing
        out.append({"question": QUESTION, "quantity": "item_missing.max",
                    "text": f"The question most often left unanswered is \"{worst_item}\": "
                            "{est} {ci} of responses ({n}).",
                    "est": wm["est"], "ci": (wm["ci_low"], wm["ci_high"]), "n": int(wm["n"])})
    return out


def completed_responses(responses: pd.DataFrame, key=("wave", "contact_id")) -> pd.DataFrame:
    """The completed questionnaires: one row per ``key`` with a row in the responses table
    (:data:`COMPLETION_RULE`).

    The completion rate of :func:`crqlab.models.nonresponse.response_rates` is the share of
    invited contacts found here, whatever score a report analyses: one definition for every
    report (``tests/hardening/test_report_consistency.py`` checks that they agree).

    Parameters
    ----------
    responses : DataFrame
        The responses table (or the respondents' scores), one row per completed response.
    key : sequence of str
        Columns identifying a response (present ones are used).

    Returns
    -------
    DataFrame
        The ``key`` columns, without repeats.

    Notes
    -----
    Checked on a hand-made table (a response without any answer still counts; a repeat counts
    once) in ``tests/data/test_quality.py``.
    """
    cols = [k for k in key if k in responses.columns]
    _require(responses, cols or list(key))
    return responses[cols].drop_duplicates().reset_index(drop=True)
