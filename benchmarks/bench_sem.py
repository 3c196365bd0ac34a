"""Timing of crqlab.models.sem: fit time against N, bootstrap and Monte Carlo throughput.

Run:  .venv/bin/python benchmarks/bench_sem.py   (prints Markdown; results in sem_timings.md)

Each fit time is the median of ``REPEATS`` fits of synthetic data simulated from the model
(crqlab.models.sem.simulate_sem, seeded), after one warm-up fit that pays semopy's import.
Timings, not tests: nothing here asserts a speed.
"""
from __future__ import annotations

import os
import platform
import time

import numpy as np

from crqlab.models.sem import (
    bootstrap_sem,
    fit_sem,
    indirect_effects,
    kmv_classic_model,
    kmv_crq_model,
    rival_model,
    simulate_sem,
)

SIZES = (200, 1000, 5000, 20000)
REPEATS = 5
SEED = 20261123


def _median_time(func, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _simulate(model, n: int, icc: float = 0.0):
    """Seeded synthetic data: every hypothesised path 0.3 (signed), loadings 0.8."""
    coef = {(p.source, p.target): (-0.3 if p.sign == "-" else 0.3) for p in model.paths}
    return simulate_sem(model, n, coefficients=coef, exo_corr=0.3, n_accounts=max(n // 5, 2),
                        icc=icc, seed=SEED)


def fit_times() -> list[str]:
    rows = ["| model | free parameters | N | fit (s, median of 5) |", "|---|---|---|---|"]
    crq, classic = kmv_crq_model(), kmv_classic_model()
    # (model fitted, model the data are simulated from): the rival is fitted to KMV data
    models = {"kmv_crq": (crq, crq), "kmv_crq_rival": (rival_model(crq), crq),
              "kmv_classic": (classic, classic)}
    for name, (model, truth) in models.items():
        for n in SIZES:
            data = _simulate(truth, n)
            fit = fit_sem(model, data)  # warm-up (first call imports semopy)
            k = int(fit.parameters["free"].max())
            sec = _median_time(lambda: fit_sem(model, data))
            rows.append(f"| {name} | {k} | {n} | {sec:.3f} |")
    return rows


def bootstrap_throughput() -> list[str]:
    rows = ["| model | N | accounts | resamples | seconds | resamples / s | failed |",
            "|---|---|---|---|---|---|---|"]
    for name, model in (("kmv_crq", kmv_crq_model()), ("kmv_classic", kmv_classic_model())):
        for n in (1000, 5000):
            data = _simulate(model, n, icc=0.2)
            fit = fit_sem(model, data)
            n_boot = 200
            t0 = time.perf_counter()
            b = bootstrap_sem(fit, cluster="account_id", n_boot=n_boot, seed=1)
            sec = time.perf_counter() - t0
            rows.append(f"| {name} | {n} | {b['n_accounts'].iloc[0]} | {n_boot} | {sec:.2f} | "
                        f"{n_boot / sec:.0f} | {b['n_failed'].iloc[0]} |")
    return rows


def monte_carlo_throughput() -> list[str]:
    model = kmv_crq_model()
    data = _simulate(model, 1000)
    fit = fit_sem(model, data)
    rows = ["| indirect effects (kmv_crq, N = 1000, 8 chains) | draws | seconds |",
            "|---|---|---|"]
    for std, n_draws in ((False, 20000), (True, 5000)):
        sec = _median_time(lambda: indirect_effects(fit, n_draws=n_draws, standardized=std,
                                                    seed=1), repeats=3)
        label = "Monte Carlo, standardised" if std else "Monte Carlo, raw paths"
        rows.append(f"| {label} | {n_draws} | {sec:.3f} |")
    return rows


def main() -> None:
    print(f"# crqlab.models.sem timings\n\nMachine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; one BLAS thread "
          "(crqlab.models.sem limits BLAS to one thread per fit).\n")
    print("## Fit time against N\n")
    print("\n".join(fit_times()))
    print("\n## Account-cluster bootstrap throughput\n")
    print("\n".join(bootstrap_throughput()))
    print("\n## Monte Carlo indirect effects\n")
    print("\n".join(monte_carlo_throughput()))


if __name__ == "__main__":
    main()
