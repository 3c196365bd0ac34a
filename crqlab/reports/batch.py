"""Batch runs: many study folders at once, locally or on a Dask cluster, with one summary.

``crqlab run data/raw/a data/raw/b data/raw/c`` (or ``--scheduler tcp://host:8786``) runs
every study's notebooks as one task per study through :func:`crqlab.parallel.map_tasks`, shows
one progress bar over the studies, and writes a summary of every study's status and headline
numbers to ``batch.json`` and ``batch.html`` beside the studies' report folders. Each study's
reports are exactly those of a single ``crqlab run`` (the runner is deterministic), so a batch
run on Dask gives the same ``results.json`` files as a local one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crqlab.errors import CrqlabError
from crqlab.files import write_atomic
from crqlab.interrupt import RunInterrupted, stop_children_on_signal
from crqlab.parallel import map_tasks
from crqlab.paths import REPORTS_DIR
from crqlab.reports import results
from crqlab.reports.outputs import (
    BATCH_REPORTS,
    check_batch_file,
    check_batch_parent,
    check_output_folder,
    is_marked,
    write_marker,
)

__all__ = ["run_study_task", "run_batch", "summary_table"]


def run_study_task(study_dir: str, out: str, parameters: Mapping[str, Any] | None,
                   notebooks: str, notebooks_dir: str | None, jobs: int,
                   cold: bool = False) -> dict[str, Any]:
    """Run one study (a batch task); never raises: a failure becomes the row's status.

    In a worker process (a local pool's or a Dask worker's) the warm kernel is kept for the
    worker's next studies and killed when the worker exits (:mod:`crqlab.reports.kernels`)."""
    import multiprocessing

    from crqlab.reports.kernels import keep_until_exit
    from crqlab.reports.runner import run

    if not cold and multiprocessing.parent_process() is not None:
        keep_until_exit()
    try:
        res = run(study_dir, parameters=parameters, notebooks=notebooks, jobs=jobs, out=out,
                  notebooks_dir=notebooks_dir, progress=False, cold=cold)
    except CrqlabError as exc:
        return {"study": Path(study_dir).name, "study_dir": study_dir, "status": "error",
                "notebooks": 0, "failed": [], "out_dir": out, "headline": {},
                "error": str(exc).splitlines()[0]}
    headline: dict[str, list[dict[str, Any]]] = {}
    for o in res.outcomes:
        results_file = res.out_dir / o.stem / "results.json"
        if o.status == "ok" and results_file.is_file():
            headline[o.stem] = results.headline(results.load(results_file))
    return {"study": res.study, "study_dir": study_dir, "status": "ok" if res.ok else "failed",
            "notebooks": len(res.outcomes), "failed": [o.name for o in res.failed],
            "out_dir": str(res.out_dir), "headline": headline, "error": None}


def summary_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per study: status, notebooks run and failed, and each headline number."""
    records = []
    for r in rows:
        rec = {"study": r["study"], "status": r["status"], "notebooks": r["notebooks"],
               "failed": len(r["failed"])}
        for nb, entries in r["headline"].items():
            for e in entries:
                if "est" in e:
                    rec[f"{nb}.{e['name']}"] = e["est"]
        records.append(rec)
    return pd.DataFrame(records)


def _cell(value: Any) -> str:
    """One headline value as shown in ``batch.html``: numbers to 4 significant digits, text
    as it is (escaped by ``to_html``), missing values blank. A column can hold both: one
    study's headline may be a number where another's is a sentence."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4g}"
    return str(value)


def _html(table: pd.DataFrame, rows: Sequence[Mapping[str, Any]]) -> str:
    """``batch.html``: every study's status and headline numbers; client strings escaped
    (:func:`crqlab.reports.present.escape_html`, pandas' ``to_html``), the page sanitised and under
    the reports' Content-Security-Policy (:func:`crqlab.reports.rendering.finish_page`)."""
    from crqlab.reports.present import escape_html as esc
    from crqlab.reports.rendering import finish_page

    body = []
    for r in rows:
        link = f"{Path(r['out_dir']).name}/index.html"
        err = f"<br><small>{esc(r['error'])}</small>" if r.get("error") else ""
        body.append(f"<tr><td><a href='{esc(link)}'>{esc(r['study'])}</a></td>"
                    f"<td>{esc(r['status'])}{err}</td><td>{esc(r['notebooks'])}</td>"
                    f"<td>{esc(', '.join(r['failed']))}</td></tr>")
    numbers = table.drop(columns=["status", "notebooks", "failed"]).set_index("study")
    numbers = numbers.apply(lambda col: col.map(_cell)).astype(object)
    return finish_page(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>crqlab batch</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .6em;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        "<h1>crqlab batch run</h1><table><tr><th>study</th><th>status</th>"
        "<th>notebooks</th><th>failed</th></tr>" + "".join(body) + "</table>"
        "<h2>Headline numbers</h2>"
        + numbers.T.to_html(na_rep="", escape=True)
        + "</body></html>")


def run_batch(study_dirs: Sequence[str | Path], *, parameters: Mapping[str, Any] | None = None,
              notebooks: str = "*.ipynb", jobs: int | None = None,
              out: str | Path | None = None, scheduler=None,
              notebooks_dir: str | Path | None = None, progress: bool = True,
              cold: bool = False) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Run several studies; return the summary table and the per-study rows.

    Parameters
    ----------
    study_dirs : sequence of path
        Study folders; their report folders are ``<out>/<study>/``.
    out : path, optional
        Parent folder of the report folders (default ``reports/``); ``batch.json`` and
        ``batch.html`` are written there.
    jobs : int, optional
        Studies run side by side in local processes (default: one per core); each study's
        notebooks then run one after another inside its task.
    scheduler : str, distributed.Client or LocalCluster, optional
        Run the studies on a Dask cluster instead (``crqlab[dask]``).
    cold : bool
        A new kernel for every notebook; by default each worker keeps one warm kernel for all
        its studies (:mod:`crqlab.reports.kernels`).

    Raises
    ------
    OutputFolderError
        The parent folder, a study's report folder or an existing ``batch.json``/``batch.html``
        is refused (:mod:`crqlab.reports.outputs`); nothing was run, created or moved.

    Notes
    -----
    ``tests/reports/test_batch.py`` runs three studies locally and through a Dask ``LocalCluster``
    and checks the ``results.json`` files are byte-identical; ``tests/reports/test_outputs.py``
    checks the refusals.
    """
    from crqlab.reports.kernels import warm_scope

    parent, tasks = _checked_tasks(study_dirs, out, parameters, notebooks, notebooks_dir)
    tasks = [(*t, cold) for t in tasks]
    parent.mkdir(parents=True, exist_ok=True)
    if not is_marked(parent, BATCH_REPORTS):
        write_marker(parent, BATCH_REPORTS)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="studies", unit="study")

    def _tick(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        with stop_children_on_signal(), warm_scope():
            try:
                rows = map_tasks(run_study_task, tasks, jobs=jobs, scheduler=scheduler,
                                 progress=_tick)
            except RunInterrupted:
                from crqlab.reports.runner import _tidy_previous

                for t in tasks:  # the killed workers could not remove their staging folders
                    _tidy_previous(Path(t[1]))
                raise
    finally:
        if bar is not None:
            bar.close()
    table = summary_table(rows)
    write_atomic(check_batch_file(parent / "batch.json"), results.to_json(
        {"studies": [{k: v for k, v in r.items() if k not in ("out_dir", "study_dir")}
                     | {"report": Path(r["out_dir"]).name} for r in rows]}))
    write_atomic(check_batch_file(parent / "batch.html"), _html(table, rows))
    return table, rows


def _checked_tasks(study_dirs: Sequence[str | Path], out: str | Path | None,
                   parameters: Mapping[str, Any] | None, notebooks: str,
                   notebooks_dir: str | Path | None) -> tuple[Path, list[tuple]]:
    """The batch's parent folder and one task per study, after every output check passed:
    the parent, each ``<parent>/<study>``, ``batch.json`` and ``batch.html``."""
    from crqlab.reports.runner import study_info

    parent = check_batch_parent(Path(out) if out is not None else REPORTS_DIR, study_dirs)
    tasks = []
    for d in study_dirs:
        name = study_info(d)["study"]
        target = check_output_folder(parent / name, d)
        tasks.append((str(Path(d).resolve()), str(target), dict(parameters or {}), notebooks,
                      None if notebooks_dir is None else str(notebooks_dir), 1))
    names = [Path(t[1]).name for t in tasks]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise CrqlabError(f"several study folders have the same study name {dup}; their "
                          "reports would overwrite each other (set `study:` in study.yaml)")
    for name in ("batch.json", "batch.html"):
        check_batch_file(parent / name)
    return parent, tasks
