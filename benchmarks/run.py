"""crqlab benchmarks: one entry point, each workload beside a baseline measured in the same run.

    python benchmarks/run.py                 # every workload, full size
    python benchmarks/run.py --quick         # a tenth of the sizes, for a smoke run
    python benchmarks/run.py --only score    # workloads whose name contains "score"

Each variant (crqlab or baseline) runs in its own child process, so its peak resident memory is
its own (read from the kernel with ``os.wait4``). Printed: wall seconds (best of ``--repeat``
runs inside the child), the ratio crqlab / baseline (below 1: crqlab is faster), peak MB, and
the target where the issue set one. Nothing here is asserted by the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


#: name -> (crqlab variant, baseline variant, target text)
WORKLOADS = {
    "load_csv_1m": ("load_csv", "baseline_load_csv", "ratio reported; no target"),
    "load_parquet_1m": ("load_parquet", "baseline_load_parquet", "ratio reported; no target"),
    "load_csv_1m_cached": ("load_csv_cached", "baseline_load_csv", "ratio reported; no target"),
    "load_csv_1m_vs_arrow_checks": ("load_csv", "baseline_arrow_checks_csv",
                                    "within 2x of pyarrow with the same checks"),
    "load_parquet_1m_vs_arrow_checks": ("load_parquet", "baseline_arrow_checks_parquet",
                                        "within 2x of pyarrow with the same checks"),
    "load_qualtrics_labels_100k": ("load_qualtrics", "baseline_load_canonical",
                                   "within 2x of the same data as canonical CSV"),
    "score_1m": ("score", "baseline_score", "< 2 s"),
    "bootstrap_nps_100k_5k_accounts": ("bootstrap_5000", "baseline_bootstrap_5000", "< 1 s"),
    "bootstrap_nps_100k_20k_accounts": ("bootstrap_20000", "baseline_bootstrap_20000", "< 1 s"),
    "sem_kmv_fit_n200": ("sem_fit_200", "baseline_sem_fit_200", "ratio reported"),
    "sem_kmv_fit_n2000": ("sem_fit_2000", "baseline_sem_fit_2000", "ratio reported"),
    "sem_kmv_fit_n20000": ("sem_fit_20000", "baseline_sem_fit_20000", "ratio reported"),
    "sem_bootstrap_100": ("sem_bootstrap", "baseline_sem_bootstrap", "ratio reported"),
    "scrub_10k_contacts_100k_comments": ("scrub", "baseline_scrub",
                                         "near-linear in contacts x comments"),
    "sem_kmv_fit_n2000_vs_lavaan": ("sem_fit_2000", "lavaan_sem_fit_2000",
                                    "faster than lavaan, same chi-square"),
    "sem_kmv_fit_n20000_vs_lavaan": ("sem_fit_20000", "lavaan_sem_fit_20000",
                                     "faster than lavaan, same chi-square"),
    "crqlab_run_sample": ("run_sample", "baseline_run_floor", "within 1.5x of the floor"),
    "crqlab_run_sample_warm_vs_cold": ("run_sample", "run_sample_cold",
                                       "warm at least 1.4x faster than cold (ratio <= 0.71)"),
}


def _child(variant: str, data_dir: Path, scale: float, repeat: int) -> tuple[dict, float]:
    cmd = [sys.executable, str(HERE / "workloads.py"), variant, str(data_dir), str(scale),
           str(repeat)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or ["failed"])[-1]}, usage.ru_maxrss / 1024
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    p.add_argument("--only", default="", help="run workloads whose name contains this")
    p.add_argument("--repeat", type=int, default=3, help="runs inside each child; best is kept")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    rows = []
    with tempfile.TemporaryDirectory(prefix="crqlab-bench-") as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        # in a child too: Linux keeps a process's peak RSS across fork and exec, so a parent
        # that had built the data itself would lend every later child its own peak
        subprocess.run([sys.executable, str(HERE / "workloads.py"), "prepare", str(data_dir),
                        str(scale), "1"], check=True)
        print(f"prepared data in {time.perf_counter() - t0:.1f} s (scale {scale})", flush=True)
        header = f"{'workload':28} {'crqlab s':>9} {'baseline s':>10} {'ratio':>7} " \
                 f"{'crqlab MB':>9} {'base MB':>8}  target / note"
        print(header)
        print("-" * len(header))
        for name, (mine, base, target) in WORKLOADS.items():
            if args.only not in name:
                continue
            a, a_mb = _child(mine, data_dir, scale, args.repeat)
            b, b_mb = _child(base, data_dir, scale, args.repeat)
            if "skipped" in a or "skipped" in b:
                note = a.get("skipped") or b.get("skipped")
                print(f"{name:28} {'-':>9} {'-':>10} {'-':>7} {'-':>9} {'-':>8}  skipped: {note}")
                rows.append({"workload": name, "skipped": note})
                continue
            if "error" in a or "error" in b:
                note = a.get("error") or b.get("error")
                print(f"{name:28} {'-':>9} {'-':>10} {'-':>7} {'-':>9} {'-':>8}  failed: {note}")
                rows.append({"workload": name, "error": note})
                continue
            ratio = a["seconds"] / b["seconds"] if b["seconds"] else float("nan")
            note = "; ".join(filter(None, [target, a.get("note"), b.get("note")]))
            print(f"{name:28} {a['seconds']:9.3f} {b['seconds']:10.3f} {ratio:7.2f} "
                  f"{a_mb:9.0f} {b_mb:8.0f}  {note}", flush=True)
            rows.append({"workload": name, "crqlab_s": a["seconds"], "baseline_s": b["seconds"],
                         "ratio": ratio, "crqlab_peak_mb": a_mb, "baseline_peak_mb": b_mb,
                         "target": target, "note": note})
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
