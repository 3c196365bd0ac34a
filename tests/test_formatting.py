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


@pytest.mark.parametrize("x, digits, text", [
    (None, 2, "–"), (np.nan, 2, "–"), (np.inf, 2, "–"), (pd.NA, 2, "–"),
    (3558, 2, "3,558"), (np.int64(12), 2, "12"), (427.0, 0, "427"), (1234.5, 2, "1,234.50"),
    (0.4567, 2, "0.46"), (4.0, 1, "4.0"), (99.0, 0, "99"), (-0.2049, 3, "-0.205"),
])
def test_format_fixed(x, digits, text):
    assert formatting.format_fixed(x, digits) == text


def test_format_ci_text_scales_and_carries_the_unit_and_level():
    assert formatting.format_ci_text(0.4567, 0.44, 0.4912) == "0.46 [95% CI 0.44 to 0.49]"
    assert formatting.format_ci_text(0.0214, 0.011, 0.0398, digits=0, scale=100, unit="%",
                                     ci=0.9) == "2% [90% CI 1% to 4%]"
    assert formatting.format_ci_text(0.5, np.nan, None) == "0.50 [95% CI – to –]"


@pytest.mark.parametrize("p, text", [(0.0126, "p = 0.013"), (0.0004, "p < 0.001"),
                                     (None, "p = –"), (np.nan, "p = –")])
def test_format_p_text(p, text):
    assert formatting.format_p_text(p) == text


def test_text_keeps_wording_and_values_apart():
    t = formatting.text("n = {n:,} in {wave} (the `min_n` parameter, {names!r})", n=12345,
                        wave="*W1*", names=["a"])
    assert isinstance(t, formatting.Text) and t.template.startswith("n = {n:,} in {wave}")
    assert str(t) == "n = 12,345 in *W1* (the `min_n` parameter, ['a'])"
    assert str(formatting.Text("no values")) == "no values"


def test_finding_joins_lead_and_rest_like_a_sentence():
    F = formatting.Finding
    assert str(F("Convergent validity holds", "by the usual conventions.")) == (
        "Convergent validity holds by the usual conventions.")
    assert str(F("The KMV model is preferred", ": its BIC is lower")) == (
        "The KMV model is preferred: its BIC is lower")
    assert F("KMV model.").separator == "" and str(F("KMV model.")) == "KMV model."
    assert str(F("Not estimated.", formatting.text("n = {n}", n=3))) == "Not estimated. n = 3"
    c = formatting.Caution("the fit is improper", ("a", "b"), "Read with care.")
    assert str(c) == "Warning: the fit is improper a; b Read with care."


def test_format_fixed_and_signed_ci():
    assert formatting.format_fixed(0.256) == "0.26" and formatting.format_fixed(None) == "–"
    assert formatting.format_fixed(0.256, 1, sign=True) == "+0.3"
    # a value that rounds to zero has no direction to show (the change in CFI when the robust
    # CFI stays at 1.000 was printed "-0.000")
    assert formatting.format_fixed(-0.004, 2, sign=True) == "+0.00"
    assert formatting.format_fixed(-0.0004, 3) == "0.000"
    assert formatting.format_fixed(-0.0004, 3, grouping=False) == "0.000"
    assert formatting.format_fixed(-0.006, 2, sign=True) == "-0.01"
    assert formatting.format_signed_ci(-0.001, -0.004, 0.002) == "+0.00 [+0.00, +0.00]"
    assert formatting.format_fixed(np.nan) == "–"
    # plain fixed point (the confidentiality study's sentences) against the grouped default
    assert formatting.format_fixed(1234.5, grouping=False) == "1234.50"
    assert formatting.format_fixed(1234.5, sign=True) == "+1,234.50"
    assert formatting.format_signed_ci(0.25, -0.031, 0.47) == "+0.25 [-0.03, +0.47]"
    assert formatting.format_signed_ci(0.185, 0.106, 0.268, digits=1, scale=100) == \
        "+18.5 [+10.6, +26.8]"
    assert formatting.format_signed_ci(0.25, np.nan, 0.47) == "+0.25"
    assert formatting.format_signed_ci(None, 0.1, 0.2) == "–"


def test_format_ci_sentence():
    f = formatting.format_ci_sentence
    assert f(-0.16, -0.37, 0.05, sign=True, p=0.1375) == "-0.16 (95% CI -0.37 to +0.05; p = 0.138)"
    assert f(0.245, 0.216, 0.275, digits=1, scale=100, unit="%") == "24.5% (95% CI 21.6 to 27.5)"
    assert f(0.185, 0.106, 0.268, level=0.9, digits=1, sign=True, scale=100, unit=" points",
             p=0.0002, extra="n = 160 and 662") == \
        "+18.5 points (90% CI +10.6 to +26.8; p < 0.001; n = 160 and 662)"
    assert f(1.0, None, 2.0) == "1.00 (95% CI – to 2.00)"


# -- signed numbers and shares in sentences, interval text columns --------------------------------
@pytest.mark.parametrize("x, kw, text", [
    (5.9234, {}, "5.92"), (0.1234, {"signed": True}, "+0.12"), (-0.004, {"signed": True}, "+0.00"),
    (-0.004, {}, "0.00"), (0.51123, {"percent": True, "digits": 1}, "51.1%"), (None, {}, "–"),
    (np.nan, {"percent": True}, "–"), (-12.35, {"digits": 1, "signed": True}, "-12.3"),
    (1234.5, {"digits": 1}, "1234.5"), (0.0004, {"percent": True, "digits": 1}, "0.0%"),
])
def test_format_decimals(x, kw, text):
    assert formatting.format_decimals(x, **kw) == text


def test_format_with_ci_and_ci_label():
    row = pd.Series({"est": 5.9234, "ci_low": 5.861, "ci_high": 5.98})
    assert formatting.format_with_ci(row) == "5.92 (95% CI 5.86 to 5.98)"
    share = {"est": 0.511, "ci_low": 0.487, "ci_high": 0.536}
    assert formatting.format_with_ci(share, 1, percent=True, ci=0.9) == \
        "51.1% (90% CI 48.7% to 53.6%)"
    assert formatting.format_with_ci({"est": -1.0, "ci_low": -2.0, "ci_high": 0.0}, 1,
                                     signed=True) == "-1.0 (95% CI -2.0 to +0.0)"
    assert formatting.ci_label(0.8) == "80% CI"


def test_ci_columns_replace_the_interval_columns_in_place():
    t = pd.DataFrame({"group": ["a", "b"], "est": [0.5, np.nan], "ci_low": [0.4, np.nan],
                      "ci_high": [0.6, np.nan], "n": [40, np.nan], "suppressed": [False, True]})
    out = formatting.ci_columns(t, 1, percent=True, min_cell_size=5)
    assert list(out.columns) == ["group", "estimate", "95% CI", "n"]
    assert out["estimate"].tolist() == ["50.0%", "suppressed (< 5)"]
    assert out["95% CI"].tolist() == ["40.0% to 60.0%", ""]
    plain = formatting.ci_columns(t.drop(columns="suppressed"), signed=True, ci=0.9)
    assert plain.columns[2] == "90% CI" and plain["estimate"].tolist() == ["+0.50", "–"]


def test_readable_table():
    t = pd.DataFrame({"measure": ["response_rate", "x"], "n_frame": [1608.0, np.nan],
                      "p_value": [0.1, 0.2]}, index=[5, 6])
    out = formatting.readable_table(t, headers={"n_frame": "invited"},
                                    words={"response_rate": "response rate"},
                                    word_columns=["measure", "absent"], counts=["n_frame"])
    assert list(out.columns) == ["measure", "invited", "p value"] and list(out.index) == [0, 1]
    assert out["measure"].tolist() == ["response rate", "x"]
    assert out["invited"].tolist() == ["1,608", ""]


# --- the one wording rule (issue 16, item 3) ---
@pytest.mark.parametrize("lo, hi, expected", [
    (0.1, 0.5, "better"), (-0.5, -0.1, "worse"), (-0.1, 0.5, "no clear difference"),
    (0.0, 0.5, "no clear difference"), (None, 0.5, "no clear difference"),
    (float("nan"), -1.0, "no clear difference")])
def test_difference_words(lo, hi, expected):
    from crqlab.formatting import difference_words
    assert difference_words(lo, hi, higher="better", lower="worse") == expected


def test_difference_words_null_other_than_zero():
    from crqlab.formatting import difference_words
    # an AUC against chance
    assert difference_words(0.52, 0.61, higher="above chance", lower="below", null=0.5) \
        == "above chance"
    assert difference_words(0.45, 0.61, higher="above chance", lower="below", null=0.5) \
        == "no clear difference"


@pytest.mark.parametrize("lo, hi, direction, expected", [
    (0.2, 0.4, 1, "the claim holds"), (-0.4, -0.2, 1, "the data contradict the claim"),
    (-0.1, 0.4, 1, "the data cannot tell"), (-0.4, -0.2, -1, "the claim holds")])
def test_claim_words(lo, hi, direction, expected):
    from crqlab.formatting import claim_words
    assert claim_words(lo, hi, direction=direction) == expected


def test_claim_words_refuses_other_directions():
    from crqlab.formatting import claim_words
    with pytest.raises(ValueError, match="direction"):
        claim_words(0.1, 0.2, direction=2)


@pytest.mark.parametrize("words, text", [([], ""), (["a"], "a"), (["a", "b"], "a and b"),
                                         (["a", "b", "c"], "a, b and c")])
def test_word_list(words, text):
    assert formatting.word_list(words) == text
