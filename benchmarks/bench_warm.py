"""Warm kernels against cold ones: ``crqlab run`` on the sample study and on a batch of studies.

    python benchmarks/bench_warm.py                      # sample: 3 rounds; batch of 20: 1 round
    python benchmarks/bench_warm.py --rounds 5 --batch-rounds 2 --studies 20
    python benchmarks/bench_warm.py --skip-batch         # the sample study only

Each round runs the same work on cold kernels (``cold=True``: a new kernel per notebook, as
before issue 21; the baseline) and on warm kernels (the default), one after the other in this
process, the order alternating between rounds, so each ratio compares like with like at the
same moment of a shared machine. Every run starts its own worker processes and kernels, so the
warm time includes starting the kernels and importing the stack once per worker.
Printed: each round's seconds, the median of each, and the median of the per-round ratios
cold / warm (the speed-up; above 1: warm is faster). Also checked: every results.json of the
warm run equals the cold run's, byte for byte. Nothing is asserted.

The batch studies are sample-sized synthetic studies (``crqlab.synth``, preset ``sample``,
seeds 1..N, generated once into a temporary folder), run with ``run_batch`` on 2 jobs.
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


def _rounds(label: str, rounds: int, job) -> None:
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    ratios, same = [], []
    for r in range(rounds):
        order = ("cold", "warm") if r % 2 == 0 else ("warm", "cold")
        outs = {}
        for mode in order:
            t = time.perf_counter()
            outs[mode] = job(mode == "cold")
            times[mode].append(time.perf_counter() - t)
        ratios.append(times["cold"][-1] / times["warm"][-1])
        same.append(_same_results(outs["cold"], outs["warm"]))
        print(f"  round {r + 1}: cold {times['cold'][-1]:.1f} s, warm {times['warm'][-1]:.1f} s, "
              f"cold / warm {ratios[-1]:.2f}, results.json identical: {same[-1]}", flush=True)
        for o in outs.values():
            shutil.rmtree(o, ignore_errors=True)
    print(f"{label}: median cold {statistics.median(times['cold']):.1f} s, median warm "
          f"{statistics.median(times['warm']):.1f} s, median speed-up (cold / warm) "
          f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}), "
          f"results.json identical in every round: {all(same)}", flush=True)


def main(argv=None) -> int:
    from crqlab.paths import SAMPLE_STUDY
    from crqlab.reports.batch import run_batch
    from crqlab.reports.runner import run
    from crqlab.synth import write_study

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds of the sample study")
    p.add_argument("--batch-rounds", type=int, default=1, help="rounds of the batch")
    p.add_argument("--studies", type=int, default=20, help="studies in the batch")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--notebooks", default="*.ipynb", help="glob of notebooks to run")
    p.add_argument("--skip-single", action="store_true")
    p.add_argument("--skip-batch", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="crqlab-bench-warm-"))
    counter = iter(range(10**6))
    try:
        if not args.skip_single:
            def single(cold: bool) -> Path:
                out = work / f"single-{next(counter)}"
                res = run(SAMPLE_STUDY, out=out, jobs=args.jobs, notebooks=args.notebooks,
                          progress=False, cold=cold)
                if not res.ok:
                    raise RuntimeError(f"{len(res.failed)} notebook(s) failed")
                return out

            print(f"crqlab run data/raw/sample, {args.jobs} jobs, notebooks {args.notebooks!r}, "
                  f"{args.rounds} rounds", flush=True)
            _rounds("sample study", args.rounds, single)
        if not args.skip_batch:
            studies = []
            for seed in range(1, args.studies + 1):
                studies.append(write_study("sample", seed=seed, out=work / "studies" / f"s{seed}",
                                           study=f"sample_{seed}"))

            def batch(cold: bool) -> Path:
                out = work / f"batch-{next(counter)}"
                _, rows = run_batch(studies, jobs=args.jobs, out=out, notebooks=args.notebooks,
                                    progress=False, cold=cold)
                failed = [r["study"] for r in rows if r["status"] != "ok"]
                if failed:
                    raise RuntimeError(f"studies failed: {failed}")
                return out

            print(f"batch of {args.studies} sample-sized studies, {args.jobs} jobs, notebooks "
                  f"{args.notebooks!r}, {args.batch_rounds} rounds", flush=True)
            _rounds(f"batch of {args.studies}", args.batch_rounds, batch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
