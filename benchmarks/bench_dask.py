"""Batch runs on Dask against the local pool, and how a Dask batch scales with its workers.

    python benchmarks/bench_dask.py                          # 8 studies, notebooks 0*, 1 round
    python benchmarks/bench_dask.py --studies 12 --workers 1 2 4 --rounds 2
    python benchmarks/bench_dask.py --notebooks '*.ipynb'    # all notebooks (slower)

A multi-machine cluster simulated on this one: a ``distributed.LocalCluster`` of W worker
processes (one thread each), every worker keeping its own warm kernel for all the studies it
runs (:mod:`crqlab.reports.kernels`), exactly as a worker on another machine would. Each round
runs the same batch of sample-sized studies (``crqlab.synth`` preset ``sample``, seeds 1..N)
on the local pool with ``--jobs`` processes (the baseline) and on each cluster size, in this
process, one after the other (the order reversed every other round). The cluster is started
before the clock starts, as a standing cluster would be.

Printed per round: seconds of each run, local / Dask (above 1: Dask faster) and the scaling
of each cluster size against one worker (time with 1 worker / time with W); and whether every
``results.json`` equals the local pool's, byte for byte. Nothing is asserted. On a machine
with C cores the scaling cannot exceed about C: more workers than cores share them.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _same_results(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("results.json"))
    return bool(files) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files) \
        and files == sorted(p.relative_to(b) for p in b.rglob("results.json"))


def main(argv=None) -> int:
    from distributed import Client, LocalCluster

    from crqlab.reports.batch import run_batch
    from crqlab.synth import write_study

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4],
                   help="Dask cluster sizes (worker processes of one thread)")
    p.add_argument("--jobs", type=int, default=2, help="local pool processes (the baseline)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--notebooks", default="0*", help="glob of notebooks run in every study")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="crqlab-bench-dask-"))
    counter = iter(range(10**6))
    try:
        studies = [write_study("sample", seed=s, out=work / "studies" / f"s{s}",
                               study=f"sample_{s}") for s in range(1, args.studies + 1)]

        def batch(scheduler=None) -> tuple[float, Path]:
            out = work / f"batch-{next(counter)}"
            t = time.perf_counter()
            _, rows = run_batch(studies, jobs=args.jobs, out=out, notebooks=args.notebooks,
                                progress=False, scheduler=scheduler)
            seconds = time.perf_counter() - t
            failed = [r["study"] for r in rows if r["status"] != "ok"]
            if failed:
                raise RuntimeError(f"studies failed: {failed}")
            return seconds, out

        print(f"batch of {args.studies} sample-sized studies, notebooks {args.notebooks!r}; "
              f"local pool of {args.jobs} against Dask clusters of {args.workers} workers",
              flush=True)
        local_t: list[float] = []
        dask_t: dict[int, list[float]] = {w: [] for w in args.workers}
        identical = True
        for r in range(args.rounds):
            order = ["local", *args.workers]
            if r % 2:
                order.reverse()
            outs = {}
            for what in order:
                if what == "local":
                    seconds, outs[what] = batch()
                    local_t.append(seconds)
                else:
                    with LocalCluster(n_workers=what, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, Client(cluster) as client:
                        seconds, outs[what] = batch(client)
                    dask_t[what].append(seconds)
                print(f"  round {r + 1}: {what if what == 'local' else f'dask x{what}'} "
                      f"{seconds:.1f} s", flush=True)
            for w in args.workers:
                identical &= _same_results(outs["local"], outs[w])
            for o in outs.values():
                shutil.rmtree(o, ignore_errors=True)
        base = statistics.median(local_t)
        one = statistics.median(dask_t[min(args.workers)])
        print(f"local pool of {args.jobs}: median {base:.1f} s")
        for w in args.workers:
            m = statistics.median(dask_t[w])
            print(f"dask, {w} worker(s): median {m:.1f} s; local / dask {base / m:.2f}; "
                  f"scaling against {min(args.workers)} worker(s) {one / m:.2f}")
        print(f"results.json identical to the local pool's in every run: {identical}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
