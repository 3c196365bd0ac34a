"""Timing of MLR (robust SEs, Yuan-Bentler scaled test) against ML on the KMV models.

Run:  .venv/bin/python benchmarks/bench_mlr.py [--rounds 5]   (prints Markdown; the table is
kept in sem_timings.md)

Issue 19 asks for an MLR fit of the KMV model at N = 10,000 within 2x of the ML fit. For each
model and N, the data are simulated from the model (every hypothesised path 0.3, loadings 0.8,
1-7 items; ``bench_sem._simulate``); after one warm-up fit of each estimator (semopy's import),
ML and MLR fits alternate for ``--rounds`` rounds in this process, so both see the same load.
Printed: the median time of each and the ratio MLR / ML per round (min, median, max), and the
chi-square and scaled chi-square of the last fits. Timings, not tests: nothing asserts a speed.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sem import _simulate  # noqa: E402  (the same synthetic data as the SEM table)

from crqlab.models.sem import fit_sem, kmv_classic_model, kmv_crq_model  # noqa: E402

SIZES = (1000, 10000)


def _timed(func):
    t0 = time.perf_counter()
    out = func()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}; {args.rounds} alternating rounds per row; "
          f"load average at start {os.getloadavg()[0]:.1f}.\n")
    print("| model | N | ML fit (s, median) | MLR fit (s, median) | MLR / ML per round "
          "(min / median / max) | chi-square | scaled chi-square (MLR) |")
    print("|---|---|---|---|---|---|---|")
    for name, model in (("kmv_crq", kmv_crq_model()), ("kmv_classic", kmv_classic_model())):
        for n in SIZES:
            data = _simulate(model, n)
            fit_sem(model, data)
            fit_sem(model, data, estimator="MLR")
            ml, mlr = [], []
            for _ in range(args.rounds):
                t, fit_ml = _timed(lambda: fit_sem(model, data))
                ml.append(t)
                t, fit_mlr = _timed(lambda: fit_sem(model, data, estimator="MLR"))
                mlr.append(t)
            ratio = np.array(mlr) / np.array(ml)
            fm, fr = fit_ml.fit_measures, fit_mlr.fit_measures
            print(f"| {name} | {n:,} | {np.median(ml):.3f} | {np.median(mlr):.3f} | "
                  f"{ratio.min():.2f} / {np.median(ratio):.2f} / {ratio.max():.2f} | "
                  f"{fm['chisq']:.2f} | {fr['chisq_scaled']:.2f} |")
    print(f"\nLoad average at the end {os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
