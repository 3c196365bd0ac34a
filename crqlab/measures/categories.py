"""Relationship categories: Ambassadors, Rationals, Ambivalents, Stalkers, Opponents.

A grid of relationship strength (mean of the trust, commitment and satisfaction element scores)
against uniqueness (mean of experience and solution) or advocacy (the 0-10 NPS answer). The
published descriptions (docs/methods.md section 1) give the categories and their typical shares but
not the thresholds: every threshold here is an assumption, documented and overridable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crqlab.errors import InsufficientDataError
from crqlab.stats import proportion_ci

__all__ = ["CATEGORIES", "CategoryRule", "relationship_axes", "relationship_category",
           "category_shares"]

#: Fixed category order, from the strongest relationship to the weakest.
CATEGORIES = ("Ambassadors", "Rationals", "Ambivalents", "Stalkers", "Opponents")


@dataclass(frozen=True)
class CategoryRule:
    """Thresholds of the category grid (defaults are assumptions, not published values).

    Attributes
    ----------
    strong : float
        Relationship strength at or above this is *strong* (default 4.5 on 1-7: the score
        rounds to "somewhat agree" (5) or higher).
    weak : float
        Strength below this is *weak* (default 3.5: rounds to "somewhat disagree" (3) or
        lower).
    unique : float
        Uniqueness at or above this counts as *unique* (default 5.5: rounds to "agree" (6) or
        higher).
    advocacy_unique : float
        With ``axis="advocacy"``: NPS answers at or above this count as unique (default 9,
        promoters).
    axis : {"uniqueness", "advocacy"}
        Which second axis to use.
    strength_elements, uniqueness_elements : tuple of str
        Element score columns averaged into each axis.

    Notes
    -----
    The rule, for a row with strength S and uniqueness (or advocacy) U:

    ============  ==============================================
    Ambassadors   S >= strong and U >= unique
    Rationals     S >= strong and U < unique
    Ambivalents   S < strong and U >= unique (love/hate)
    Stalkers      weak <= S < strong and U < unique
    Opponents     S < weak and U < unique
    ============  ==============================================

    The defaults read each score as the scale point it rounds to (half-point cut-offs). On
    illustrative data calibrated to docs/methods.md (relationship elements about 5.5, uniqueness
    elements 0.3 lower, respondent SD about 0.8, NPS about +15) they give 35% Ambassadors,
    54% Rationals and 10% in the other three (almost all Stalkers; Ambivalents are rare when
    the two axes correlate strongly), close to the typical split reported;
    ``tests/measures/test_categories.py`` checks this. They are assumptions: replace them with a
    client's or the practice's own cut-offs via ``dataclasses.replace(CategoryRule(), ...)``.
    """

    strong: float = 4.5
    weak: float = 3.5
    unique: float = 5.5
    advocacy_unique: float = 9.0
    axis: str = "uniqueness"
    strength_elements: tuple[str, ...] = field(default=("trust", "commitment", "satisfaction"))
    uniqueness_elements: tuple[str, ...] = field(default=("experience", "solution"))

    def __post_init__(self):
        if self.weak > self.strong:
            raise ValueError(f"weak ({self.weak}) must not exceed strong ({self.strong})")
        if self.axis not in ("uniqueness", "advocacy"):
            raise ValueError(f"axis must be 'uniqueness' or 'advocacy', got {self.axis!r}")
        if not self.strength_elements or (self.axis == "uniqueness"
                                          and not self.uniqueness_elements):
            raise ValueError("the axes need at least one element each")


def relationship_axes(scores: pd.DataFrame, nps=None, rule: CategoryRule | None = None
                      ) -> pd.DataFrame:
    """The two axes of the grid per row: ``strength`` and ``uniqueness`` (or ``advocacy``).

    An axis is the mean of its element scores and is missing when any of them is missing.
    ``nps`` (0-10 answers aligned with ``scores``) is needed for ``axis="advocacy"``; a
    ``nps`` column of ``scores`` is used when the argument is not given.
    """
    rule = rule or CategoryRule()
    need = list(rule.strength_elements)
    if rule.axis == "uniqueness":
        need += list(rule.uniqueness_elements)
    absent = [c for c in need if c not in scores.columns]
    if absent:
        raise InsufficientDataError(f"element scores missing from the data: {absent}")
    num = scores[need].apply(pd.to_numeric, errors="coerce")
    out = pd.DataFrame({"strength": num[list(rule.strength_elements)].mean(axis=1, skipna=False)},
                       index=scores.index)
    if rule.axis == "uniqueness":
        out["uniqueness"] = num[list(rule.uniqueness_elements)].mean(axis=1, skipna=False)
    else:
        if nps is None:
            if "nps" not in scores.columns:
                raise InsufficientDataError("axis='advocacy' needs nps answers")
            nps = scores["nps"]
        adv = pd.to_numeric(pd.Series(np.asarray(nps), index=scores.index), errors="coerce")
        if len(adv) != len(scores):
            raise ValueError("nps must have one answer per row of scores")
        out["advocacy"] = adv
    return out


def relationship_category(scores: pd.DataFrame, nps=None, rule: CategoryRule | None = None
                          ) -> pd.Series:
    """Relationship category of each row (respondent or account).

    Parameters
    ----------
    scores : pandas.DataFrame
        Element scores, columns named by the instrument's elements (as from
        :func:`crqlab.measures.scoring.score_items`).
    nps : array-like, optional
        0-10 answers aligned with ``scores`` (only for ``rule.axis == "advocacy"``).
    rule : CategoryRule, optional
        Thresholds; defaults documented on :class:`CategoryRule` (assumptions).

    Returns
    -------
    pandas.Series
        Categorical named ``category`` with categories :data:`CATEGORIES` in that fixed
        order (also when a category is empty); missing where an axis is missing.

    Notes
    -----
    Validated on synthetic data: hand-placed points on every side of every threshold, and
    the typical shares on data calibrated to docs/methods.md (``tests/measures/test_categories.py``).
    """
    rule = rule or CategoryRule()
    axes = relationship_axes(scores, nps, rule)
    s = axes["strength"].to_numpy(dtype=float)
    u = axes.iloc[:, 1].to_numpy(dtype=float)
    cut = rule.unique if rule.axis == "uniqueness" else rule.advocacy_unique
    with np.errstate(invalid="ignore"):
        strong, weak, uniq = s >= rule.strong, s < rule.weak, u >= cut
    label = np.select([strong & uniq, strong & ~uniq, ~strong & uniq, ~weak & ~uniq, weak & ~uniq],
                      list(CATEGORIES), default=None).astype(object)
    label[np.isnan(s) | np.isnan(u)] = None
    cat = pd.Categorical(label, categories=list(CATEGORIES), ordered=False)
    return pd.Series(cat, index=scores.index, name="category")


def category_shares(categories, ci: float = 0.95, by=None) -> pd.DataFrame:
    """Share of each category with a Wilson interval.

    Parameters
    ----------
    categories : pandas.Series
        Output of :func:`relationship_category`; missing rows are not counted.
    ci : float
        Confidence level.
    by : array-like, optional
        Group labels aligned with ``categories``; one block of five rows per group.

    Returns
    -------
    pandas.DataFrame
        ``[by,] category, count, est, ci_low, ci_high, n``: ``est`` is the share (0-1) of the
        ``n`` categorised rows, every category listed in :data:`CATEGORIES` order.

    Notes
    -----
    Wilson intervals from :func:`crqlab.stats.proportion_ci` (validated there against
    statsmodels). Rows are treated as independent: for respondents clustered in accounts the
    interval is too narrow; categorise account-level scores instead.
    """
    cats = pd.Series(pd.Categorical(categories, categories=list(CATEGORIES)))
    if by is None:
        groups = [(None, cats)]
    else:
        keys = pd.Series(np.asarray(by), index=cats.index, name="by")
        if len(keys) != len(cats):
            raise ValueError("by must have one label per row")
        groups = list(cats.groupby(keys, sort=True))
    frames = []
    for key, c in groups:
        counts = c.value_counts(sort=False).reindex(list(CATEGORIES), fill_value=0)
        n = int(counts.sum())
        tab = proportion_ci(counts.to_numpy(), np.full(len(CATEGORIES), n), ci)
        tab.insert(0, "count", counts.to_numpy())
        tab.insert(0, "category", pd.Categorical(list(CATEGORIES), categories=list(CATEGORIES)))
        if by is not None:
            tab.insert(0, getattr(by, "name", None) or "group", key)
        frames.append(tab)
    return pd.concat(frames, ignore_index=True)
