"""Data-quality checks on hand-made frames whose counts are worked out by hand below."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from statsmodels.stats.proportion import proportion_confint

from crqlab.data.quality import (
    duplicate_patterns,
    item_missingness,
    quality_findings,
    straight_line_flags,
    straight_lining,
)
from crqlab.errors import ValidationError

NA = np.nan
ITEMS = ["q1", "q2", "q3", "q4"]


@pytest.fixture
def frame() -> pd.DataFrame:
    """Eight responses over two waves and two accounts.

    row  wave acc contact  q1 q2 q3 q4  nps   answered  flat (min 3)
    0    1    A   a        7  7  7  7   10    4         yes
    1    1    A   b        5  6  NA 4   8     3         no
    2    1    B   c        NA NA 3  NA  NA    1         not judged
    3    1    A   d        5  6  NA 4   8     3         no   (repeats row 1's pattern, acc A)
    4    2    A   a        4  4  NA 4   6     3         yes
    5    2    B   e        2  3  4  5   3     4         no
    6    2    B   f        2  3  4  5   3     4         no   (repeats row 5's pattern, acc B)
    7    2    A   g        2  3  4  5   3     4         no   (same pattern, other account)
    """
    return pd.DataFrame({
        "wave": [1, 1, 1, 1, 2, 2, 2, 2],
        "account_id": ["A", "A", "B", "A", "A", "B", "B", "A"],
        "contact_id": ["a", "b", "c", "d", "a", "e", "f", "g"],
        "q1": [7, 5, NA, 5, 4, 2, 2, 2],
        "q2": [7, 6, NA, 6, 4, 3, 3, 3],
        "q3": [7, NA, 3, NA, NA, 4, 4, 4],
        "q4": [7, 4, NA, 4, 4, 5, 5, 5],
        "nps": [10, 8, NA, 8, 6, 3, 3, 3],
    })


def _wilson(count, n):
    return proportion_confint(count, n, alpha=0.05, method="wilson")


def test_item_missingness_overall_counts_and_wilson(frame):
    out = item_missingness(frame, ITEMS + ["nps"])
    assert list(out.columns) == ["item", "est", "ci_low", "ci_high", "n", "n_events"]
    assert list(out["item"]) == ITEMS + ["nps"]
    # missing per column, counted by hand from the fixture table: q1 1, q2 1, q3 3, q4 1, nps 1
    assert_array_equal(out["n_events"], [1, 1, 3, 1, 1])
    assert_array_equal(out["n"], [8] * 5)
    assert_allclose(out["est"], [1 / 8, 1 / 8, 3 / 8, 1 / 8, 1 / 8], rtol=0, atol=1e-15)
    low, high = _wilson(np.array([1, 1, 3, 1, 1]), 8)
    assert_allclose(out["ci_low"], low, rtol=0, atol=1e-12)
    assert_allclose(out["ci_high"], high, rtol=0, atol=1e-12)


def test_item_missingness_by_wave(frame):
    out = item_missingness(frame, ["q1", "q3"], by="wave", ci=0.9)
    assert list(out.columns) == ["wave", "item", "est", "ci_low", "ci_high", "n", "n_events"]
    assert list(zip(out["wave"], out["item"])) == [(1, "q1"), (1, "q3"), (2, "q1"), (2, "q3")]
    # wave 1 (4 responses): q1 missing in row 2, q3 in rows 1 and 3; wave 2: q3 in row 4
    assert_array_equal(out["n_events"], [1, 2, 0, 1])
    assert_array_equal(out["n"], [4, 4, 4, 4])
    assert_allclose(out["est"], [0.25, 0.5, 0.0, 0.25], rtol=0, atol=1e-15)
    low, high = proportion_confint(np.array([1, 2, 0, 1]), 4, alpha=0.1, method="wilson")
    assert_allclose(out["ci_low"], low, rtol=0, atol=1e-12)
    assert_allclose(out["ci_high"], high, rtol=0, atol=1e-12)


def test_straight_line_flags(frame):
    flags = straight_line_flags(frame, ITEMS, min_items=3)
    assert_array_equal(flags["n_answered"], [4, 3, 1, 3, 3, 4, 4, 4])
    assert_array_equal(flags["judged"], [True, True, False, True, True, True, True, True])
    assert_array_equal(flags["flat"], [True, False, False, False, True, False, False, False])
    # one answered item is "the same answer to every item" once min_items allows judging it
    assert straight_line_flags(frame, ITEMS, min_items=1)["flat"].iloc[2]


def test_straight_lining_by_wave_and_overall(frame):
    sl = straight_lining(frame, ITEMS, min_items=3, by="wave")
    assert list(sl.columns) == ["wave", "est", "ci_low", "ci_high", "n", "n_events"]
    # wave 1: judged rows 0, 1, 3 (row 2 answered one item), flat row 0 -> 1 of 3;
    # wave 2: judged rows 4-7, flat row 4 -> 1 of 4
    assert_array_equal(sl["wave"], [1, 2])
    assert_array_equal(sl["n"], [3, 4])
    assert_array_equal(sl["n_events"], [1, 1])
    assert_allclose(sl["est"], [1 / 3, 1 / 4], rtol=0, atol=1e-15)
    low, high = _wilson(np.array([1, 1]), np.array([3, 4]))
    assert_allclose(sl["ci_low"], low, rtol=0, atol=1e-12)
    assert_allclose(sl["ci_high"], high, rtol=0, atol=1e-12)

    overall = straight_lining(frame, ITEMS, min_items=3, by=None).iloc[0]
    assert (overall["n"], overall["n_events"]) == (7, 2)
    assert_allclose(overall["est"], 2 / 7, rtol=0, atol=1e-15)
    low, high = _wilson(2, 7)
    assert_allclose([overall["ci_low"], overall["ci_high"]], [low, high], rtol=0, atol=1e-12)


def test_straight_lining_levels_keep_waves_without_respondents(frame):
    sl = straight_lining(frame, ITEMS, min_items=3, by="wave", levels=[1, 2, 3])
    assert_array_equal(sl["wave"], [1, 2, 3])
    assert_array_equal(sl["n"], [3, 4, 0])
    assert np.isnan(sl["est"].iloc[2]) and np.isnan(sl["ci_low"].iloc[2])
    with pytest.raises(ValueError, match="levels"):
        straight_lining(frame, ITEMS, by=["wave", "account_id"], levels=[1])


def test_duplicate_patterns(frame):
    flags = straight_line_flags(frame, ITEMS, min_items=3)
    out = duplicate_patterns(frame, ITEMS + ["nps"], exclude=flags["flat"] | ~flags["judged"])
    assert list(out.columns) == ["check", "est", "ci_low", "ci_high", "n", "n_events"]
    out = out.set_index("check")
    # contacts are unique within each wave ("a" answers in both waves: not a duplicate)
    assert (out.loc["contact_wave", "n_events"], out.loc["contact_wave", "n"]) == (0, 8)
    # checked: rows 1, 3, 5, 6, 7 (rows 0, 4 flat, row 2 not judged); repeats: row 3 (of row 1,
    # account A wave 1) and row 6 (of row 5, account B wave 2); row 7 is in account A
    assert (out.loc["answer_pattern", "n_events"], out.loc["answer_pattern", "n"]) == (2, 5)
    low, high = _wilson(2, 5)
    assert_allclose(out.loc["answer_pattern", ["ci_low", "ci_high"]].astype(float), [low, high],
                    rtol=0, atol=1e-12)


def test_duplicate_patterns_counts_key_repeats_and_without_exclusion(frame):
    doubled = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    out = duplicate_patterns(doubled, ITEMS + ["nps"]).set_index("check")
    assert (out.loc["contact_wave", "n_events"], out.loc["contact_wave", "n"]) == (1, 9)
    # all 9 checked: row 3 and the copy of row 1 repeat row 1, row 6 repeats row 5
    assert (out.loc["answer_pattern", "n_events"], out.loc["answer_pattern", "n"]) == (3, 9)
    # grouping only by wave: row 7 now also repeats row 5's pattern
    out = duplicate_patterns(frame, ITEMS + ["nps"], within=["wave"]).set_index("check")
    assert out.loc["answer_pattern", "n_events"] == 3
    with pytest.raises(ValueError, match="exclude"):
        duplicate_patterns(frame, ITEMS, exclude=[True, False])


def test_missing_columns_are_reported(frame):
    with pytest.raises(ValidationError, match="q9"):
        item_missingness(frame, ["q1", "q9"])
    with pytest.raises(ValidationError, match="role"):
        straight_lining(frame, ITEMS, by="role")


def _share(est, n, k=None):
    return {"est": est, "ci_low": est / 2, "ci_high": min(1.0, est * 2), "n": float(n),
            **({"n_events": k} if k is not None else {})}


def test_quality_findings_name_exactly_the_problems_found():
    from crqlab.reports.results import Recorder
    from crqlab.reports.wording import machine_room

    found = quality_findings(n_responses=3565, n_accounts=269, n_waves=4,
                             wave_name="wave 4 (2023)", response_rate=_share(0.511, 1608),
                             straightlining=_share(0.003, 3565, 11), duplicates=0,
                             repeated_patterns=2, without_row=1, worst_item="Customer care",
                             worst_missing=_share(0.014, 3565))
    rec = Recorder(min_cell_size=5)
    for f in found:
        rec.finding(**f)
        assert not machine_room(f["text"])
    texts = [f["text"] for f in found]
    assert texts[0].startswith("The export holds 3,565 responses from 269 invited accounts "
                               "over 4 waves")
    assert "11 respondents gave the same answer" in texts[1]
    assert "2 responses repeat another's" in texts[1] and "1 contact is marked" in texts[1]
    assert "within a wave" not in texts[1]  # no duplicate contact-wave responses
    assert '"Customer care"' in texts[2] and found[0]["n"] == 1608


def test_quality_findings_without_problems_say_so():
    found = quality_findings(n_responses=10, n_accounts=1, n_waves=1, wave_name="wave 1 (x)",
                             response_rate=_share(0.5, 20), straightlining=_share(0.0, 10, 0),
                             duplicates=0, repeated_patterns=0, without_row=0)
    assert len(found) == 2 and found[1]["text"].startswith("No straight-lining")
    assert "1 invited account over 1 wave;" in found[0]["text"]


def test_completed_responses_is_a_row_of_the_responses_table():
    from crqlab.data.quality import COMPLETION_RULE, completed_responses

    responses = pd.DataFrame({"wave": [1, 1, 1, 2], "contact_id": ["a", "b", "a", "a"],
                              "nps": [9.0, np.nan, 8.0, np.nan], "trust_1": [np.nan] * 4})
    done = completed_responses(responses)
    # a response without any answer still counts (partials are set aside on reading); a repeat
    # counts once
    assert done.to_dict("list") == {"wave": [1, 1, 2], "contact_id": ["a", "b", "a"]}
    assert "row of the responses table" in COMPLETION_RULE
    with pytest.raises(ValidationError):
        completed_responses(pd.DataFrame({"x": [1]}))
