"""NPS account-cluster bootstrap at any account count: multinomial draws against index draws.

    python benchmarks/bench_bootstrap.py            # 5,000 and 20,000 accounts, 7 rounds
    python benchmarks/bench_bootstrap.py --rounds 3 --accounts 20000

10,000 resamples of 100,000 answers (the data of ``workloads.py``: rounded normal answers,
accounts drawn at random). In each round the current implementation
(``method="single-stream"``: k account indices per resample from one stream) and the block
draw (``method="blocks"``: blocks of 1,000 resamples from child streams, multinomial counts of
the distinct account totals when they are few, on 1 thread and on 2) run one after another in
a rotating order, in
this process, so the ratios compare like with like at the same moment of a shared machine.
Printed: the median seconds of each, and the median of the per-round ratios new / current
(below 1: faster). Nothing is asserted.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from crqlab.measures.nps import nps_bootstrap

N_RESPONSES = 100_000
N_BOOT = 10_000


def _data(n_accounts: int):
    rng = np.random.default_rng(7)
    x = np.clip(np.round(7.5 + 2 * rng.standard_normal(N_RESPONSES)), 0, 10)
    return x, rng.integers(0, n_accounts, N_RESPONSES)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--accounts", type=int, nargs="+", default=[5000, 20000])
    args = p.parse_args(argv)
    variants = {"current (single stream)": {"method": "single-stream"},
                "blocks, 1 thread": {"method": "blocks", "jobs": 1},
                "blocks, 2 threads": {"method": "blocks", "jobs": 2}}
    for k in args.accounts:
        x, cl = _data(k)
        nps_bootstrap(x[:1000], cl[:1000], n_boot=10, method="blocks")  # warm-up
        times = {v: [] for v in variants}
        ratios = {v: [] for v in variants}
        rows = {}
        for r in range(args.rounds):
            names = list(variants)
            names = names[r % len(names):] + names[:r % len(names)]  # rotate the order
            this = {}
            for v in names:
                t = time.perf_counter()
                rows[v] = nps_bootstrap(x, cl, n_boot=N_BOOT, seed=1, **variants[v]).iloc[0]
                this[v] = time.perf_counter() - t
                times[v].append(this[v])
            for v in variants:
                ratios[v].append(this[v] / this["current (single stream)"])
        print(f"\n{N_BOOT:,} resamples, {N_RESPONSES:,} responses, {k:,} accounts "
              f"({args.rounds} interleaved rounds)")
        print(f"{'variant':26s} {'median s':>9s} {'min s':>7s} {'max s':>7s} "
              f"{'ratio vs current':>17s}   se    ci_low   ci_high")
        for v in variants:
            row = rows[v]
            print(f"{v:26s} {statistics.median(times[v]):9.3f} {min(times[v]):7.3f} "
                  f"{max(times[v]):7.3f} {statistics.median(ratios[v]):17.3f}   "
                  f"{row['se']:.3f}  {row['ci_low']:.3f}  {row['ci_high']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
