"""Small statistical building blocks shared by the study modules.

Intervals for proportions and means, weighted means, and vectorised cluster-bootstrap
resampling (no Python loop per resample).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["wilson_ci", "proportion_ci", "mean_ci", "cluster_bootstrap_weights", "z_crit"]


def z_crit(ci: float = 0.95) -> float:
    """Two-sided normal critical value for a ``ci`` confidence level."""
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    return float(_st.norm.ppf(0.5 + ci / 2))


def wilson_ci(successes, n, ci: float = 0.95):
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes, n : array-like of int
        Counts; ``n == 0`` gives NaN bounds.
    ci : float
        Confidence level.

    Returns
    -------
    tuple of ndarray
        ``(ci_low, ci_high)``.

    Notes
    -----
    Wilson (1927). Validated against ``statsmodels.stats.proportion.proportion_confint``
    with ``method="wilson"`` in ``tests/test_stats.py``.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_crit(ci)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low, high = centre - half, centre + half
    low = np.where(n > 0, np.clip(low, 0, 1), np.nan)
    high = np.where(n > 0, np.clip(high, 0, 1), np.nan)
    return low, high


def proportion_ci(successes, n, ci: float = 0.95) -> pd.DataFrame:
    """Proportions with Wilson intervals as a tidy frame: ``est, ci_low, ci_high, n``."""
    x = np.atleast_1d(np.asarray(successes, dtype=float))
    nn = np.atleast_1d(np.asarray(n, dtype=float))
    low, high = wilson_ci(x, nn, ci)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(nn > 0, x / nn, np.nan)
    return pd.DataFrame({"est": est, "ci_low": low, "ci_high": high, "n": nn.astype(int)})


def mean_ci(values, ci: float = 0.95) -> pd.Series:
    """Mean with a t interval: ``est, se, ci_low, ci_high, n`` (NaN-aware; n counts answers)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    n = v.size
    if n == 0:
        return pd.Series({"est": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0})
    est = float(v.mean())
    if n < 2:
        return pd.Series({"est": est, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": n})
    se = float(v.std(ddof=1) / np.sqrt(n))
    t = float(_st.t.ppf(0.5 + ci / 2, n - 1))
    return pd.Series({"est": est, "se": se, "ci_low": est - t * se, "ci_high": est + t * se, "n": n})


def cluster_bootstrap_weights(clusters, n_boot: int, seed: int | np.random.Generator | None = 0,
                              chunk: int | None = None):
    """Resampling weights of a cluster bootstrap, generated without a loop per resample.

    Each resample draws as many clusters as there are, with replacement; the weight of a cluster
    is how often it was drawn. Statistics that are ratios of sums (means, proportions, NPS) then
    follow from matrix products: ``W @ cluster_sums / W @ cluster_counts``.

    Parameters
    ----------
    clusters : array-like
        Cluster label of each observation.
    n_boot : int
        Number of resamples.
    seed : int or Generator
        Source of randomness (every draw is reproducible from it).
    chunk : int, optional
        Yield the weights in blocks of this many resamples, to bound memory.

    Returns
    -------
    codes : ndarray of int
        Cluster code of each observation (0..k-1).
    weights : ndarray (n_boot, k) or generator of such blocks
        Multinomial(k, 1/k) counts per resample.
    """
    codes, uniques = pd.factorize(pd.Series(clusters), sort=True)
    if (codes < 0).any():
        raise ValueError("cluster labels must not be missing")
    k = len(uniques)
    rng = np.random.default_rng(seed)
    probs = np.full(k, 1.0 / k)
    if chunk is None:
        return codes, rng.multinomial(k, probs, size=n_boot).astype(np.float64)

    def _blocks():
        done = 0
        while done < n_boot:
            m = min(chunk, n_boot - done)
            yield rng.multinomial(k, probs, size=m).astype(np.float64)
            done += m

    return codes, _blocks()
