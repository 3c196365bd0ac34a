"""The scorecard (notebook 01): which wave can be scored, and how scores change between waves.

The notebook loads the study, calls these functions, shows and records; the statistics are
:func:`crqlab.models.bias.clustered_effects` (account-clustered difference of means) and
:func:`crqlab.measures.nps.nps_test` (account-cluster bootstrap of an NPS difference).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crqlab.errors import InsufficientDataError
from crqlab.measures.nps import nps_test
from crqlab.models.bias import clustered_effects

__all__ = ["WaveChoice", "choose_wave", "wave_changes"]


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
    est, ci_low, ci_high, p_value``). Only waves shown (not suppressed) are compared: a change
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
                         "p_value": row["p_value"]})
    return entries, pd.DataFrame(rows)
