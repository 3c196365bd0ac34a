"""crqlab.formatting: the text forms of numbers, intervals and p-values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crqlab import formatting


@pytest.mark.parametrize("x, text", [
    (None, "–"), (True, "yes"), (42, "42"), (123456, "123 456"), (5.234, "5.23"),
    (23.46, "23.5"), (148.2, "148"), (0.0123, "0.012"), (0.00001234, "1.2e-05"), (0.0, "0"),
])
def test_format_number(x, text):
    assert formatting.format_number(x) == text


def test_format_entry():
    e = {"est": 23.456, "ci_low": 15.1, "ci_high": 31.0, "n": 412, "unit": "points",
         "p_value": 0.0004}
    assert formatting.format_entry(e) == "23.5 [15.1, 31.0] points (p < 0.001, n = 412)"
    assert formatting.format_entry({"est": None, "suppressed": True}).startswith("suppressed")
    share = {"est": 0.5112, "ci_low": 0.487, "ci_high": 0.536, "n": 1608, "unit": "share of invited"}
    assert formatting.format_entry(share) == "51.1% [48.7, 53.6] of invited (n = 1608)"
    assert formatting.format_entry({"est": 0.25, "unit": "share"}) == "25.0%"


def test_format_ci_and_p():
    assert formatting.format_ci(0.5123, 0.4, 0.6, scale=100, digits=1) == "51.2 [40.0, 60.0]"
    assert formatting.format_ci(5.0) == "5.00"
    assert formatting.format_ci(np.nan, 1, 2) == "–"
    assert formatting.format_p(0.0004) == "< 0.001" and formatting.format_p(0.0126) == "0.013"


def test_ci_table_long_and_wide_keep_row_order():
    t = pd.DataFrame({"wave": [1, 1, 2, 2], "role": ["b", "a", "b", "a"],
                      "est": [0.5, np.nan, 0.6, 0.7], "ci_low": [0.4, np.nan, 0.5, 0.6],
                      "ci_high": [0.6, np.nan, 0.7, 0.8], "n": [20, np.nan, 30, 40],
                      "suppressed": [False, True, False, False]})
    wide = formatting.ci_table(t, "role", columns="wave", scale=100, digits=1, min_cell_size=5)
    assert list(wide.index) == ["b", "a"] and list(wide.columns) == [1, 2]
    assert wide.loc["a", 1] == "suppressed (n < 5)" and wide.loc["a", 2] == "70.0 [60.0, 80.0]"
    long = formatting.ci_table(t[t.wave == 1], "role")
    assert long.to_dict("index") == {"b": {"estimate": "0.50 [0.40, 0.60]", "n": "20"},
                                     "a": {"estimate": "suppressed", "n": ""}}


# -- numbers by what they are (issue 17) -------------------------------------------------------
@pytest.mark.parametrize("kind, x, text", [
    ("count", 3565, "3,565"), ("count", 822.0, "822"), ("count", 1234567, "1,234,567"),
    ("count", 412.66, "412.7"), ("count", None, "–"), ("count", np.nan, "–"),
    ("score", 5.934734064, "5.93"), ("score", -0.2712, "-0.27"), ("score", 6, "6.00"),
    ("nps", 55.83941606, "55.8"), ("nps", -4.620395423, "-4.6"),
    ("percent", 0.5111940299, "51.1%"), ("percent", 1.0, "100.0%"),
    ("percentage_points", 0.1852907855, "18.5"),
    ("fit", 0.016486578, "0.016"), ("fit", 1.0, "1.000"),
    ("coefficient", 0.4644013372, "0.46"),
    ("number", 158.0, "158"), ("number", 342.019385, "342.02"), ("number", 12345.6, "12,346"),
    (None, 0.5, "0.50"), ("number", "commitment", "commitment"), ("number", True, "yes"),
])
def test_format_kind(kind, x, text):
    assert formatting.format_kind(x, kind) == text


@pytest.mark.parametrize("p, text, clause", [
    (0.0126, ".013", "p = .013"), (0.001, ".001", "p = .001"), (0.000999, "< .001", "p < .001"),
    (7.6e-190, "< .001", "p < .001"), (0.2474, ".247", "p = .247"), (0.05, ".050", "p = .050"),
    (0.9995, "> .999", "p > .999"), (None, "–", ""),
])
def test_p_values_follow_the_apa_rule(p, text, clause):
    # APA 7th ed. 6.36: exact p to three decimals, no leading zero, "< .001" below that
    assert formatting.format_p_apa(p) == text
    assert formatting.p_clause(p) == clause


def test_format_interval_and_n():
    assert formatting.format_interval(5.9347, 5.8742, 5.9953, "score") == "5.93 [5.87, 6.00]"
    assert formatting.format_interval(0.5112, 0.4868, 0.5356, "percent") == "51.1% [48.7, 53.6]"
    assert formatting.format_interval(55.84, None, None, "nps") == "55.8"
    assert formatting.format_interval("kmv", 1, 2) == "kmv"
    assert formatting.format_n(822.0, 171.0) == "n = 822 respondents in 171 accounts"
    assert formatting.format_n(None, 35) == "35 accounts"
    assert formatting.format_n(1608, what="invited contacts") == "n = 1,608 invited contacts"
    assert formatting.format_n() == ""


@pytest.mark.parametrize("unit, kind", [
    ("share of invited", "percent"), ("share of respondents", "percent"),
    ("points (-100 to +100)", "nps"), ("NPS, -100 to +100", "nps"), ("1-7 scale", "score"),
    ("0-10 scale", "score"), ("standardised (std_all)", "coefficient"), (None, "number"),
    ("percentile of benchmark companies", "number"),
])
def test_kind_of_unit(unit, kind):
    assert formatting.kind_of_unit(unit) == kind
