"""crqlab.measures.categories: the documented grid, typical shares, Wilson shares, properties."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from statsmodels.stats.proportion import proportion_confint

from crqlab.errors import InsufficientDataError
from crqlab.measures.categories import (
    CATEGORIES,
    CategoryRule,
    category_shares,
    relationship_axes,
    relationship_category,
)

ELEMENTS = ["trust", "commitment", "satisfaction", "experience", "solution", "service"]


def _frame(strength, uniqueness):
    s, u = np.asarray(strength, float), np.asarray(uniqueness, float)
    return pd.DataFrame({"trust": s, "commitment": s, "satisfaction": s, "experience": u,
                         "solution": u, "service": 5.0})


def test_grid_on_hand_placed_points():
    # strength / uniqueness around the default thresholds 3.5, 4.5 and 5.5
    s = [6.0, 4.5, 6.0, 4.49, 3.0, 4.0, 3.49, 3.5, np.nan, 5.0]
    u = [6.0, 5.5, 5.49, 6.5, 7.0, 5.0, 2.0, 5.49, 6.0, np.nan]
    cat = relationship_category(_frame(s, u))
    assert cat.tolist() == ["Ambassadors", "Ambassadors", "Rationals", "Ambivalents",
                            "Ambivalents", "Stalkers", "Opponents", "Stalkers", np.nan, np.nan]
    assert list(cat.cat.categories) == list(CATEGORIES) and cat.name == "category"


def test_axes_are_means_of_elements_and_missing_propagates():
    df = pd.DataFrame({"trust": [6, 5], "commitment": [4, np.nan], "satisfaction": [5, 5],
                       "experience": [7, 6], "solution": [5, 6]}, index=["a", "b"])
    ax = relationship_axes(df)
    assert_allclose(ax.loc["a"], [5.0, 6.0])
    assert np.isnan(ax.loc["b", "strength"])
    assert list(relationship_category(df).index) == ["a", "b"]


def test_advocacy_axis_uses_nps():
    df = _frame([6, 6, 4, 3], [1, 1, 1, 1])
    rule = CategoryRule(axis="advocacy")
    cat = relationship_category(df, nps=[9, 8, 10, 2], rule=rule)
    assert cat.tolist() == ["Ambassadors", "Rationals", "Ambivalents", "Opponents"]
    df["nps"] = [9, 8, 10, 2]
    assert relationship_category(df, rule=rule).tolist() == cat.tolist()
    with pytest.raises(InsufficientDataError):
        relationship_category(df.drop(columns="nps"), rule=rule)


def test_rule_is_frozen_overridable_and_validated():
    rule = CategoryRule()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.strong = 5  # type: ignore[misc]
    strict = dataclasses.replace(rule, unique=6.5)
    assert relationship_category(_frame([6], [6]), rule=strict).tolist() == ["Rationals"]
    with pytest.raises(ValueError):
        CategoryRule(strong=4, weak=5)
    with pytest.raises(ValueError):
        CategoryRule(axis="price")
    with pytest.raises(InsufficientDataError):
        relationship_category(_frame([6], [6]).drop(columns="solution"))


def _calibrated(rng, n):
    """Element scores like docs/methods.md's: relationship elements about 5.5, uniqueness
    0.3 lower, respondent SD about 0.8, NPS about +15."""
    g = rng.standard_normal(n)
    data = {}
    for el in ELEMENTS:
        loc = 5.5 if el in ELEMENTS[:3] else 5.2
        data[el] = np.clip(loc + 0.85 * (0.9 * g + 0.44 * rng.standard_normal(n)), 1, 7)
    nps = np.clip(np.round(7.9 + 1.6 * (0.8 * g + 0.6 * rng.standard_normal(n))), 0, 10)
    return pd.DataFrame(data), nps


@pytest.mark.parametrize("axis", ["uniqueness", "advocacy"])
def test_default_shares_match_the_published_typical_split(axis):
    scores, nps = _calibrated(np.random.default_rng(1), 20_000)
    cat = relationship_category(scores, nps=nps, rule=CategoryRule(axis=axis))
    share = cat.value_counts(normalize=True)
    # docs/methods.md: about a third Ambassadors, about half Rationals, 10-20% in the other three
    assert 0.28 <= share["Ambassadors"] <= 0.40
    assert 0.45 <= share["Rationals"] <= 0.60
    assert 0.08 <= share[["Ambivalents", "Stalkers", "Opponents"]].sum() <= 0.20


def test_shares_with_wilson_intervals():
    cat = relationship_category(_frame([6, 6, 6, 5, 4, 3, np.nan], [6, 6, 5, 5, 5, 5, 5]))
    tab = category_shares(cat)
    assert tab["category"].tolist() == list(CATEGORIES)
    assert tab["count"].tolist() == [2, 2, 0, 1, 1] and (tab["n"] == 6).all()
    lo, hi = proportion_confint(tab["count"], 6, alpha=0.05, method="wilson")
    # statsmodels: proportion_confint(count, n, method = "wilson")
    assert_allclose(tab["ci_low"], lo, atol=1e-12)
    assert_allclose(tab["ci_high"], hi, atol=1e-12)
    assert_allclose(tab["est"], tab["count"] / 6)


def test_shares_by_group():
    cat = relationship_category(_frame([6, 6, 3, 6], [6, 5, 5, 6]))
    tab = category_shares(cat, by=pd.Series(["w1", "w1", "w2", "w2"], name="wave"))
    assert list(tab.columns[:2]) == ["wave", "category"] and len(tab) == 10
    w1 = tab[tab["wave"] == "w1"].set_index("category")
    assert w1.loc["Ambassadors", "count"] == 1 and w1.loc["Rationals", "count"] == 1
    assert (w1["n"] == 2).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 7), st.floats(1, 7)), min_size=1, max_size=30),
       st.floats(1, 7), st.floats(1, 7))
def test_properties(points, a, b):
    weak, strong = min(a, b), max(a, b)
    rule = CategoryRule(strong=strong, weak=weak)
    frame = _frame(*zip(*points))
    cat = relationship_category(frame, rule=rule)
    assert list(cat.cat.categories) == list(CATEGORIES)
    assert cat.notna().all()
    axes = relationship_axes(frame, rule=rule)     # the means, rounded as the module sees them
    for si, ui, c in zip(axes["strength"], axes["uniqueness"], cat):
        uniq = ui >= rule.unique
        if si >= strong:
            assert c == ("Ambassadors" if uniq else "Rationals")
        elif uniq:
            assert c == "Ambivalents"
        else:
            assert c == ("Stalkers" if si >= weak else "Opponents")
    shares = category_shares(cat)
    assert shares["count"].sum() == len(points)
    # stats.wilson_ci can return 5.6e-17 for a zero count: allow rounding
    assert ((shares["ci_low"] <= shares["est"] + 1e-12)
            & (shares["est"] <= shares["ci_high"] + 1e-12)).all()
