"""Timing of crqlab.models.pls: the account-cluster bootstrap against a per-resample refit loop.

Run:  .venv/bin/python benchmarks/bench_pls.py [N_BOOT]   (prints Markdown)

Workload of issue 20: a PLS model of three Mode A composites of three indicators (two
exogenous, one endogenous), N = 1,000 respondents in 250 accounts, 5,000 resamples with the
IPMA bootstrapped as well. crqlab's bootstrap (frequency-weighted covariances, warm starts) runs
with 1 and 2 worker processes; the baseline is what a user would write: draw the accounts, stack
their rows, refit with :func:`crqlab.models.pls.fit_pls` and recompute the IPMA, once per resample
(timed on a tenth of the resamples and scaled up). Timings, not tests: nothing here asserts a
speed.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from crqlab.models.pls import PlsModel, bootstrap_pls, fit_pls, ipma

SEED = 20
N, ACCOUNTS = 1000, 250


def _data() -> tuple[pd.DataFrame, PlsModel]:
    rng = np.random.default_rng(SEED)
    lat = rng.multivariate_normal([0, 0], [[1, .3], [.3, 1]], size=N)
    y = 0.4 * lat[:, 0] + 0.3 * lat[:, 1] + rng.normal(0, 0.8, N)
    cols = {}
    for name, z in (("x1", lat[:, 0]), ("x2", lat[:, 1]), ("y", y)):
        for k in (1, 2, 3):
            cols[f"{name}_{k}"] = np.clip(np.round(4 + 0.9 * z + rng.normal(0, 0.6, N)), 1, 7)
    df = pd.DataFrame(cols)
    df["account_id"] = rng.integers(0, ACCOUNTS, N)
    model = PlsModel({"X1": ["x1_1", "x1_2", "x1_3"], "X2": ["x2_1", "x2_2", "x2_3"],
                      "Y": ["y_1", "y_2", "y_3"]}, [("X1", "Y"), ("X2", "Y")])
    return df, model


def _baseline(df: pd.DataFrame, model: PlsModel, n_boot: int) -> float:
    rng = np.random.default_rng(SEED)
    groups = [g.index.to_numpy() for _, g in df.groupby("account_id")]
    t0 = time.perf_counter()
    for _ in range(n_boot):
        pick = rng.integers(0, len(groups), len(groups))
        rows = np.concatenate([groups[i] for i in pick])
        sample = df.loc[rows].reset_index(drop=True)
        fit = fit_pls(model, sample, missing="listwise")
        ipma(fit, "Y", scale=(1, 7))
    return time.perf_counter() - t0


def main(n_boot: int = 5000) -> None:
    df, model = _data()
    fit = fit_pls(model, df, missing="listwise")
    rows = ["| method | resamples | seconds |", "|---|---|---|"]
    for jobs in (1, 2):
        t0 = time.perf_counter()
        bootstrap_pls(fit, df, cluster="account_id", n_boot=n_boot, seed=SEED, ipma_target="Y",
                      ipma_scale=(1, 7), jobs=jobs)
        sec = time.perf_counter() - t0
        rows.append(f"| crqlab bootstrap_pls, jobs={jobs} | {n_boot} | {sec:.1f} |")
        if jobs == 1:
            ours = sec
    part = max(n_boot // 10, 1)
    base = _baseline(df, model, part) * n_boot / part
    rows.append(f"| refit loop (scaled from {part}) | {n_boot} | {base:.1f} |")
    print("\n".join(rows))
    print(f"\nbaseline / crqlab (jobs=1): {base / ours:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
