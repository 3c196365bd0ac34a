"""CRQ scoring (crqlab.measures.scoring)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

from crqlab.data.instruments import load_instrument
from crqlab.measures.scoring import cluster_mean, score_columns, score_items, summarise_scores

CRQ = load_instrument("crq")


def _answers(n=200, seed=3, missing=0.1):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.integers(1, 8, size=(n, len(CRQ.items))), columns=CRQ.items).astype(float)
    df = df.mask(rng.random(df.shape) < missing)
    return df.astype("Int64")


def test_hand_computed_example():
    row = {i: 7 for i in CRQ.items} | {"trust_1": 1, "trust_2": pd.NA, "innovation": pd.NA,
                                       "leading_edge": 4}
    out = score_items(pd.DataFrame([row]).astype("Int64"), CRQ)
    assert out.loc[0, "trust"] == 4.0                      # mean of 1 and 7, one missing
    assert out.loc[0, "solution"] == pytest.approx(5.5)     # facets 4 and 7; innovation missing
    assert out.loc[0, "service"] == 7.0
    # index: mean of the six elements
    assert out.loc[0, "crq_index"] == pytest.approx((4 + 7 + 7 + 7 + 5.5 + 7) / 6)
    assert out.loc[0, "level_relationship"] == pytest.approx(6.0)


def test_min_answered_rule():
    row = {i: 5 for i in CRQ.items} | {"trust_1": pd.NA, "trust_2": pd.NA}
    df = pd.DataFrame([row]).astype("Int64")
    assert np.isnan(score_items(df, CRQ)["trust"].iloc[0])           # 1 of 3 < half
    assert score_items(df, CRQ, min_answered=1)["trust"].iloc[0] == 5  # one answer suffices
    assert np.isnan(score_items(df, CRQ)["crq_index"].iloc[0])        # index needs all six
    assert score_items(df, CRQ, index_min_elements=5)["crq_index"].iloc[0] == 5


def test_matches_plain_pandas_row_means():
    df = _answers()
    out = score_items(df, CRQ, min_answered=1)
    f = df.astype(float)
    for name, el in CRQ.elements.items():
        if el.is_composite:
            expect = f[list(el.items)].mean(axis=1)  # single-item facets: same as item mean
        else:
            expect = f[list(el.items)].mean(axis=1)
        assert_allclose(out[name], expect, rtol=1e-12, equal_nan=True)


def test_reverse_keyed(tmp_path):
    spec = tmp_path / "rev.yaml"
    spec.write_text("name: rev\nscale: {min: 1, max: 7}\nreverse_keyed: [b]\n"
                    "levels: {l: {e: {items: [a, b]}}}\n")
    inst = load_instrument(spec)
    out = score_items(pd.DataFrame({"a": [7], "b": [1]}), inst)
    assert out.loc[0, "e"] == 7.0


def test_cluster_mean_matches_statsmodels_cluster_robust():
    rng = np.random.default_rng(0)
    k = np.repeat(np.arange(30), 7)
    y = rng.normal(size=k.size) + rng.normal(size=30)[k]
    res = cluster_mean(y, k)
    ols = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": k})
    # statsmodels' CR1 correction is G/(G-1) * (N-1)/(N-K); with K = 1 only G/(G-1) remains,
    # which is the linearised variance with the k/(k-1) factor.
    assert_allclose(res["se"], ols.bse[0], rtol=1e-10)
    assert res["n"] == y.size and res["n_accounts"] == 30


def test_summarise_suppresses_small_groups():
    df = score_items(_answers(40), CRQ)
    df["role"] = ["a"] * 37 + ["b"] * 3
    tab = summarise_scores(df, ["crq_index"], by="role", min_cell_size=5)
    small = tab[tab["role"] == "b"].iloc[0]
    assert small["suppressed"] and np.isnan(small["est"])
    assert list(tab.columns[:7]) == ["role", "score", "est", "se", "ci_low", "ci_high", "n"]


def test_score_columns_follow_instrument():
    assert score_columns(CRQ) == ["trust", "commitment", "satisfaction", "experience",
                                  "solution", "service", "crq_index"]
