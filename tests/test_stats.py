"""Shared statistics helpers (crqlab.stats) against reference implementations.

Wilson intervals against statsmodels' ``proportion_confint(method="wilson")`` and Newcombe's
published values; t intervals against scipy; the cluster bootstrap against the multinomial's
moments and an explicit per-resample loop.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as st
from statsmodels.stats.proportion import proportion_confint

from crqlab.stats import (
    cluster_bootstrap_sums,
    cluster_bootstrap_weights,
    htmt_matrix,
    mean_ci,
    proportion_ci,
    wilson_ci,
    z_crit,
)

# --- z_crit -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ci", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_z_crit_matches_scipy(ci):
    assert_allclose(z_crit(ci), st.norm.ppf(1 - (1 - ci) / 2), rtol=1e-12)


@pytest.mark.parametrize("ci", [0, 1, -0.5, 95])
def test_z_crit_rejects_levels_outside_0_1(ci):
    with pytest.raises(ValueError, match="ci must be in"):
        z_crit(ci)


# --- Wilson -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ci", [0.8, 0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels_on_a_grid(ci):
    pairs = [(x, m) for m in (1, 2, 5, 10, 37, 100, 1000, 25000)
             for x in np.unique(np.linspace(0, m, 9).round().astype(int))]
    x, nn = np.array(pairs).T
    low, high = wilson_ci(x, nn, ci)
    ref_low, ref_high = proportion_confint(x, nn, alpha=1 - ci, method="wilson")
    # statsmodels: proportion_confint(count, nobs, alpha, method="wilson")
    assert_allclose(low, ref_low, rtol=0, atol=1e-12)
    assert_allclose(high, ref_high, rtol=0, atol=1e-12)
    assert np.all((low <= x / nn) & (x / nn <= high))


def test_wilson_matches_newcombe_1998_published_values():
    # Newcombe (1998) Stat Med 17:857-872, Table II, method 3 (score interval without
    # continuity correction), printed to 4 decimals: tolerance half a unit in the 4th decimal.
    cases = {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611),
             (1, 29): (0.0061, 0.1718), (29, 29): (0.8830, 1.0)}
    x, n = np.array(list(cases)).T
    low, high = wilson_ci(x, n)
    assert_allclose(low, [v[0] for v in cases.values()], atol=5e-5)
    assert_allclose(high, [v[1] for v in cases.values()], atol=5e-5)


def test_wilson_bounds_exact_at_zero_and_n_and_nan_for_empty():
    low, high = wilson_ci([0, 7, 3], [7, 7, 0])
    assert low[0] == 0.0 and high[1] == 1.0
    assert np.isnan(low[2]) and np.isnan(high[2])
    low, high = wilson_ci(3, 10)  # scalars work
    assert np.ndim(low) == 0 and 0 < low < 0.3 < high < 1


def test_proportion_ci_frame():
    out = proportion_ci([12, 0], [40, 0], ci=0.9)
    assert list(out.columns) == ["est", "ci_low", "ci_high", "n"]
    assert out["n"].tolist() == [40, 0]
    assert_allclose(out.loc[0, "est"], 0.3, rtol=1e-15)
    ref = proportion_confint(12, 40, alpha=0.1, method="wilson")
    # statsmodels: proportion_confint(12, 40, alpha=0.1, method="wilson")
    assert_allclose(out.loc[0, ["ci_low", "ci_high"]].to_numpy(float), ref, atol=1e-12)
    assert out.loc[1, ["est", "ci_low", "ci_high"]].isna().all()


# --- mean_ci ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n,ci", [(2, 0.95), (7, 0.9), (50, 0.95), (400, 0.99)])
def test_mean_ci_matches_scipy_t_interval(n, ci):
    v = np.random.default_rng(n).normal(5, 1.3, n)
    out = mean_ci(v, ci=ci)
    sem = st.sem(v)
    lo, hi = st.t.interval(ci, n - 1, loc=v.mean(), scale=sem)
    # scipy: stats.t.interval(ci, n - 1, loc=mean, scale=stats.sem(v))
    assert_allclose(out[["est", "se", "ci_low", "ci_high"]].to_numpy(float),
                    [v.mean(), sem, lo, hi], rtol=1e-12)
    assert out["n"] == n


def test_mean_ci_ignores_missing_and_handles_tiny_samples():
    v = pd.Series([4, None, 6, np.nan, 5], dtype="Float64")
    out = mean_ci(v)
    ref = st.t.interval(0.95, 2, loc=5.0, scale=st.sem([4, 6, 5]))
    assert out["n"] == 3
    assert_allclose([out["ci_low"], out["ci_high"]], ref, rtol=1e-12)
    one = mean_ci([3.0, None])
    assert one["n"] == 1 and one["est"] == 3.0 and np.isnan(one["se"]) and np.isnan(one["ci_low"])
    none = mean_ci([])
    assert none["n"] == 0 and np.isnan(none["est"])


# --- cluster bootstrap ------------------------------------------------------------------------

CLUSTERS = np.array(["b", "a", "c", "a", "d", "b", "e", "e", "e", "c"])


def test_cluster_bootstrap_weights_shape_codes_and_row_sums():
    codes, w = cluster_bootstrap_weights(CLUSTERS, n_boot=300, seed=5)
    assert codes.tolist() == [1, 0, 2, 0, 3, 1, 4, 4, 4, 2]  # sorted labels a..e -> 0..4
    assert w.shape == (300, 5) and w.dtype == np.float64
    assert np.all(w.sum(axis=1) == 5)       # each resample draws k clusters
    assert np.all(w >= 0) and np.all(w == np.round(w))


def test_cluster_bootstrap_weights_are_deterministic_in_the_seed():
    _, a = cluster_bootstrap_weights(CLUSTERS, 200, seed=11)
    _, b = cluster_bootstrap_weights(CLUSTERS, 200, seed=11)
    _, c = cluster_bootstrap_weights(CLUSTERS, 200, seed=12)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    _, d = cluster_bootstrap_weights(CLUSTERS, 200, seed=np.random.default_rng(11))
    assert np.array_equal(a, d)


def test_cluster_bootstrap_weights_in_chunks():
    _, blocks = cluster_bootstrap_weights(CLUSTERS, 250, seed=3, chunk=100)
    blocks = list(blocks)
    assert [b.shape for b in blocks] == [(100, 5), (100, 5), (50, 5)]
    allw = np.vstack(blocks)
    assert np.all(allw.sum(axis=1) == 5)
    _, again = cluster_bootstrap_weights(CLUSTERS, 250, seed=3, chunk=100)
    assert np.array_equal(allw, np.vstack(list(again)))


def test_cluster_bootstrap_weights_have_multinomial_moments():
    # Multinomial(k, 1/k): E w = 1, Var w = 1 - 1/k, Cov(w_i, w_j) = -1/k.
    k, b = 8, 40_000
    _, w = cluster_bootstrap_weights(np.arange(k), b, seed=2024)
    cov = np.cov(w, rowvar=False)
    # Monte-Carlo error with 40 000 resamples: se(mean) ~ 0.005, se(var) ~ 0.007.
    assert_allclose(w.mean(axis=0), 1.0, atol=0.02)
    assert_allclose(np.diag(cov), 1 - 1 / k, atol=0.03)
    assert_allclose(cov[~np.eye(k, dtype=bool)], -1 / k, atol=0.03)


def test_cluster_bootstrap_rejects_missing_labels():
    with pytest.raises(ValueError, match="must not be missing"):
        cluster_bootstrap_weights(["a", None, "b"], 10)
    with pytest.raises(ValueError, match="must not be missing"):
        cluster_bootstrap_sums(["a", None, "b"], [1, 2, 3], 10)


def test_cluster_bootstrap_sums_equal_an_explicit_loop():
    rng = np.random.default_rng(0)
    values = np.column_stack([np.ones(len(CLUSTERS)), rng.normal(size=len(CLUSTERS))])
    sums = cluster_bootstrap_sums(CLUSTERS, values, n_boot=64, seed=9, chunk=64)
    # the same draw, resample by resample
    codes, uniques = pd.factorize(pd.Series(CLUSTERS), sort=True)
    k = len(uniques)
    picks = np.random.default_rng(9).integers(0, k, size=(64, k))
    loop = np.array([[sum(values[codes == c, j].sum() for c in row) for j in range(2)]
                     for row in picks])
    assert_allclose(sums, loop, rtol=1e-12)


def test_cluster_bootstrap_sums_agree_with_weights_in_distribution():
    # Bootstrap SE of a clustered mean by both routes (different draws, same distribution).
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(30), rng.integers(1, 6, 30))
    y = rng.normal(size=len(clusters)) + np.repeat(rng.normal(size=30), np.bincount(clusters))
    sums = cluster_bootstrap_sums(clusters, np.column_stack([np.ones_like(y), y]), 20_000, seed=1)
    se_sums = np.std(sums[:, 1] / sums[:, 0], ddof=1)
    codes, w = cluster_bootstrap_weights(clusters, 20_000, seed=2)
    tot = np.bincount(codes, weights=y)
    cnt = np.bincount(codes)
    se_w = np.std((w @ tot) / (w @ cnt), ddof=1)
    # Two independent 20 000-resample estimates of one SE: relative MC error ~0.5% each.
    assert_allclose(se_sums, se_w, rtol=0.03)
    assert sums.shape == (20_000, 2) and np.all(sums[:, 0] >= 0)


# --- blocks of resamples, multinomial over distinct cluster totals (issue 21) ---------------
def _nps_values(rng, n_acc):
    sizes = rng.integers(1, 7, n_acc)
    clusters = np.repeat(np.arange(n_acc), sizes)
    d = rng.choice([-1.0, 0.0, 1.0], size=clusters.size, p=[0.3, 0.3, 0.4])
    return clusters, np.column_stack([np.ones(clusters.size), d])


def test_block_sums_equal_the_drawn_counts_expanded():
    from crqlab.stats import BOOTSTRAP_BLOCK, cluster_bootstrap_block_sums

    rng = np.random.default_rng(3)
    clusters, values = _nps_values(rng, 40)
    n_boot = BOOTSTRAP_BLOCK + 7  # two blocks, the second short
    sums = cluster_bootstrap_block_sums(clusters, values, n_boot, seed=17, jobs=1,
                                        draw="multinomial")
    # the same draw by hand: distinct cluster totals, then one multinomial per block
    tot = np.stack([np.bincount(clusters, weights=values[:, j]) for j in range(2)], axis=1)
    types, counts = np.unique(tot, axis=0, return_counts=True)
    kids = np.random.SeedSequence(17).spawn(2)
    drawn = [np.random.default_rng(kids[b]).multinomial(40, counts / 40, size=m)
             for b, m in ((0, BOOTSTRAP_BLOCK), (1, 7))]
    assert_allclose(sums, np.concatenate(drawn) @ types, rtol=0, atol=0)
    # every resample draws exactly k = 40 clusters: total answers lie in [40 * 1, 40 * 6]
    assert np.all((sums[:, 0] >= 40) & (sums[:, 0] <= 240))
    # the index route: k indices per resample from the block's own stream
    sums = cluster_bootstrap_block_sums(clusters, values, n_boot, seed=17, jobs=1,
                                        draw="indices")
    picks = [np.random.default_rng(kids[b]).integers(0, 40, size=(m, 40))
             for b, m in ((0, BOOTSTRAP_BLOCK), (1, 7))]
    assert_allclose(sums, tot[np.concatenate(picks)].sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("draw", ["multinomial", "indices"])
def test_block_sums_agree_in_distribution_with_one_stream(draw):
    from crqlab.stats import cluster_bootstrap_block_sums

    rng = np.random.default_rng(4)
    clusters, values = _nps_values(rng, 300)
    a = cluster_bootstrap_block_sums(clusters, values, 20_000, seed=1, draw=draw)
    b = cluster_bootstrap_sums(clusters, values, 20_000, seed=2)
    ra, rb = a[:, 1] / a[:, 0], b[:, 1] / b[:, 0]
    # two independent samples of one distribution: KS p-value uniform; deterministic seeds
    assert st.ks_2samp(ra, rb).pvalue > 0.01
    # quantiles within Monte Carlo error (about 0.02-0.04 SD at these levels, 20,000 draws)
    sd = rb.std(ddof=1)
    assert_allclose(np.quantile(ra, [0.025, 0.5, 0.975]), np.quantile(rb, [0.025, 0.5, 0.975]),
                    atol=0.1 * sd)
    assert_allclose(ra.std(ddof=1), sd, rtol=0.03)  # SD from 20,000 draws: MC error ~0.5%


def test_block_sums_reproducible_for_a_seed_whatever_the_threads():
    from crqlab.stats import MULTINOMIAL_COST, cluster_bootstrap_block_sums

    rng = np.random.default_rng(5)
    clusters, values = _nps_values(rng, 100)
    for draw in ("multinomial", "indices"):
        one = cluster_bootstrap_block_sums(clusters, values, 3500, seed=8, jobs=1, draw=draw)
        assert np.array_equal(one, cluster_bootstrap_block_sums(clusters, values, 3500, seed=8,
                                                                jobs=2, draw=draw))
        assert np.array_equal(one, cluster_bootstrap_block_sums(
            clusters, values, 3500, seed=np.random.SeedSequence(8), draw=draw))
        assert not np.array_equal(one, cluster_bootstrap_block_sums(clusters, values, 3500,
                                                                    seed=9, draw=draw))
    # "auto" takes the multinomial route only when the distinct totals are few enough
    many, values = _nps_values(rng, 5000)
    few_types = cluster_bootstrap_block_sums(many, values, 100, seed=1, draw="auto")
    assert np.array_equal(few_types, cluster_bootstrap_block_sums(many, values, 100, seed=1,
                                                                  draw="multinomial"))
    t = np.unique(np.stack([np.bincount(many, weights=values[:, j]) for j in range(2)], 1),
                  axis=0)
    assert len(t) * MULTINOMIAL_COST < 5000
    continuous = rng.normal(size=len(many))  # every cluster its own total
    assert np.array_equal(cluster_bootstrap_block_sums(many, continuous, 100, seed=1),
                          cluster_bootstrap_block_sums(many, continuous, 100, seed=1,
                                                       draw="indices"))
    with pytest.raises(ValueError, match="must not be missing"):
        cluster_bootstrap_block_sums(["a", None, "b"], [1, 2, 3], 10)
    with pytest.raises(ValueError, match="draw must be"):
        cluster_bootstrap_block_sums([1, 2], [1, 2], 10, draw="poisson")


def test_htmt_matrix_equals_the_element_by_element_means():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 9)) + np.repeat(rng.standard_normal((400, 3)), 3, axis=1)
    x[:, 4] *= -1  # a reverse-keyed item
    r = np.corrcoef(x, rowvar=False)
    blocks = [np.array([0, 1, 2]), np.array([3, 4, 5]), np.array([6, 7]), np.array([8])]
    for absolute in (False, True):
        rr = np.abs(r) if absolute else r
        mono = [rr[np.ix_(b, b)][np.triu_indices(len(b), 1)].mean() if len(b) > 1 else 1.0
                for b in blocks]
        h = htmt_matrix(r, blocks, absolute=absolute)
        for a in range(4):
            assert np.isnan(h[a, a])
            for b in range(4):
                if a != b:
                    want = rr[np.ix_(blocks[a], blocks[b])].mean() / np.sqrt(mono[a] * mono[b])
                    # sums in another order: equal to rounding
                    assert_allclose(h[a, b], want, rtol=1e-13)
