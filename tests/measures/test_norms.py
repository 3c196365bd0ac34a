"""crqlab.measures.norms: positions on benchmarks with known answers, the shipped illustrative table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from crqlab.errors import InsufficientDataError
from crqlab.measures.norms import (
    BENCHMARK_PATH,
    benchmark_cutoffs,
    benchmark_position,
    load_benchmark,
    make_illustrative_benchmark,
    write_illustrative_benchmark,
)

ONE_TO_100 = np.arange(1, 101, dtype=float)


@pytest.mark.parametrize("score, pct, quartile, decile, unique", [
    (95.0, 94.5, 1, 1, True),      # 94 below + half of 1 tie
    (90.5, 90.0, 1, 1, True),      # exactly the 90th percentile: top decile
    (90.0, 89.5, 1, 2, False),
    (75.5, 75.0, 1, 3, False),     # exactly the 75th: top quartile
    (75.0, 74.5, 2, 3, False),
    (50.5, 50.0, 2, 5, False),
    (10.0, 9.5, 4, 10, False),
    (200.0, 100.0, 1, 1, True),    # above every company
    (-5.0, 0.0, 4, 10, False),     # below every company
])
def test_bands_on_a_benchmark_with_known_answers(score, pct, quartile, decile, unique):
    row = benchmark_position(score, ONE_TO_100).iloc[0]
    assert_allclose(row["percentile"], pct, atol=1e-12)
    assert (row["quartile"], row["decile"], bool(row["unique"]), row["n"]) == (
        quartile, decile, unique, 100)


@pytest.mark.parametrize("kind", ["mean", "weak", "strict", "rank"])
def test_percentile_kinds_match_scipy_and_counting(kind):
    rng = np.random.default_rng(1)
    bench = np.round(rng.normal(5.4, 0.4, 150), 1)             # many ties
    scores = np.round(rng.normal(5.4, 0.5, 40), 1)
    res = benchmark_position(scores, bench, kind=kind)
    # scipy: percentileofscore(bench, score, kind)
    assert_allclose(res["percentile"], stats.percentileofscore(bench, scores, kind=kind),
                    atol=1e-12)
    below = (bench[None, :] < scores[:, None]).sum(1)
    ties = (bench[None, :] == scores[:, None]).sum(1)
    if kind == "mean":
        assert_allclose(res["percentile"], 100 * (below + ties / 2) / bench.size, atol=1e-12)


def test_missing_values_dataframe_column_and_errors():
    bench = pd.DataFrame({"nps": [10, 20, np.nan, 30, 40], "crq_index": [5, 5.5, 6, 6.2, 4.8]})
    res = benchmark_position([25, np.nan], bench, column="nps")
    assert res["n"].tolist() == [4, 4] and res["percentile"].iloc[0] == 50
    assert pd.isna(res["quartile"].iloc[1]) and pd.isna(res["unique"].iloc[1])
    assert str(res["quartile"].dtype) == "Int64" and str(res["unique"].dtype) == "boolean"
    with pytest.raises(ValueError):
        benchmark_position(5, bench)
    with pytest.raises(InsufficientDataError):
        benchmark_position(5, [np.nan, np.nan])
    with pytest.raises(ValueError):
        benchmark_position(5, ONE_TO_100, unique_top=0)
    with pytest.raises(ValueError):
        benchmark_position(5, ONE_TO_100, ci_low=4)


def test_confidence_bounds_map_to_percentile_bounds():
    res = benchmark_position([50.5, 80.5], ONE_TO_100, ci_low=[40.5, 70.5],
                             ci_high=[60.5, 90.5])
    assert_allclose(res["percentile_ci_low"], [40, 70])
    assert_allclose(res["percentile_ci_high"], [60, 90])


def test_unique_top_is_configurable():
    res = benchmark_position(80.5, ONE_TO_100, unique_top=0.25).iloc[0]
    assert bool(res["unique"]) and res["decile"] == 2


def test_cutoffs_are_quantiles():
    cut = benchmark_cutoffs(ONE_TO_100)
    assert cut["band"].tolist() == ["top_decile", "top_quartile", "median", "bottom_quartile"]
    assert_allclose(cut["score"], np.quantile(ONE_TO_100, [0.9, 0.75, 0.5, 0.25]))
    assert (cut["n"] == 100).all()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=80),
       st.lists(st.floats(-120, 120), min_size=2, max_size=20))
def test_properties(bench, scores):
    res = benchmark_position(sorted(scores), bench)
    p = res["percentile"].to_numpy()
    assert ((p >= 0) & (p <= 100)).all()
    assert (np.diff(p) >= 0).all()                                    # monotone in the score
    assert (np.diff(res["decile"].to_numpy(int)) <= 0).all()          # 1 = top
    assert (res["unique"].to_numpy(bool) == (res["decile"].to_numpy(int) == 1)).all()
    quart = res["quartile"].to_numpy(int)
    assert ((quart >= 1) & (quart <= 4)).all()
    assert ((quart == 1) == (np.round(p, 9) >= 75)).all()


# --------------------------------------------------------------------------- shipped benchmark
def test_shipped_file_is_the_documented_generator_output(tmp_path):
    fresh = write_illustrative_benchmark(tmp_path / "b.csv")
    assert fresh.read_bytes() == BENCHMARK_PATH.read_bytes()
    pd.testing.assert_frame_equal(load_benchmark(), make_illustrative_benchmark())


def test_shipped_file_is_labelled_illustrative():
    head = BENCHMARK_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert "ILLUSTRATIVE" in head and "SYNTHETIC" in head and "NOT REAL" in head


def test_shipped_values_are_consistent_with_methods():
    b = load_benchmark()
    assert len(b) == 200 and b["company_id"].is_unique
    assert b["crq_index"].between(4.5, 6.3).all() and b["nps"].between(-20, 70).all()
    assert b["crq_index"].corr(b["nps"]) > 0.7            # "highly correlated"
    # Deep-Insight's 2023 self-assessment (CRQ 6.0, NPS +55) reads as top decile ("unique");
    # its 2014 figures (CRQ 5.2, NPS +17) sit in the lower half
    assert benchmark_position(6.0, b, "crq_index")["unique"].all()
    assert benchmark_position(55, b, "nps")["unique"].all()
    assert (benchmark_position(5.2, b, "crq_index")["quartile"] >= 3).all()
    assert (benchmark_position(17, b, "nps")["quartile"] >= 3).all()
