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


def test_format_fixed_and_signed_ci():
    assert formatting.format_fixed(0.256) == "0.26" and formatting.format_fixed(None) == "–"
    assert formatting.format_fixed(0.256, 1, sign=True) == "+0.3"
    assert formatting.format_fixed(-0.004, 2, sign=True) == "-0.00"  # the sign of the value kept
    assert formatting.format_fixed(np.nan) == "–"
    assert formatting.format_signed_ci(0.25, -0.031, 0.47) == "+0.25 [-0.03, +0.47]"
    assert formatting.format_signed_ci(0.185, 0.106, 0.268, digits=1, scale=100) == \
        "+18.5 [+10.6, +26.8]"
    assert formatting.format_signed_ci(0.25, np.nan, 0.47) == "+0.25"
    assert formatting.format_signed_ci(None, 0.1, 0.2) == "–"


def test_format_p_text():
    assert formatting.format_p_text(0.0004) == "p < 0.001"
    assert formatting.format_p_text(0.1375) == "p = 0.138"
    assert formatting.format_p_text(np.nan) == "p = –"


def test_format_ci_sentence():
    f = formatting.format_ci_sentence
    assert f(-0.16, -0.37, 0.05, sign=True, p=0.1375) == "-0.16 (95% CI -0.37 to +0.05; p = 0.138)"
    assert f(0.245, 0.216, 0.275, digits=1, scale=100, unit="%") == "24.5% (95% CI 21.6 to 27.5)"
    assert f(0.185, 0.106, 0.268, level=0.9, digits=1, sign=True, scale=100, unit=" points",
             p=0.0002, extra="n = 160 and 662") == \
        "+18.5 points (90% CI +10.6 to +26.8; p < 0.001; n = 160 and 662)"
    assert f(1.0, None, 2.0) == "1.00 (95% CI – to 2.00)"
