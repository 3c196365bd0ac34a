"""Running independent tasks side by side: local processes by default, a Dask cluster on request.

One function, :func:`map_tasks`, serves the batch runner (many studies, many notebooks) and the
simulation studies (many seeds). Results come back in the order of the inputs, whatever the
order of completion, so outputs do not depend on the parallelism.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from crqlab.errors import CrqlabError
from crqlab.interrupt import die_with

__all__ = ["map_tasks", "default_jobs", "CONNECT_TIMEOUT"]

#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT = 10


def default_jobs() -> int:
    """One job per core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _dask_client(scheduler):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise CrqlabError("a Dask scheduler was given but Dask is not installed: "
                          "pip install 'crqlab[dask]'") from exc
    if isinstance(scheduler, (Client,)):
        return scheduler, False
    if isinstance(scheduler, LocalCluster):
        return Client(scheduler), True
    try:
        return Client(str(scheduler), timeout=CONNECT_TIMEOUT), True
    except (OSError, TimeoutError) as exc:
        raise CrqlabError(f"cannot reach the Dask scheduler at {scheduler!r} within "
                          f"{CONNECT_TIMEOUT} s: {exc}") from exc


def map_tasks(func: Callable[..., Any], tasks: Sequence[tuple] | Iterable[tuple], *,
              jobs: int | None = None, scheduler=None,
              progress: Callable[[int, int], None] | None = None) -> list[Any]:
    """Apply ``func(*task)`` to every task and return the results in input order.

    Parameters
    ----------
    func : callable
        A picklable, module-level function.
    tasks : sequence of tuple
        Positional arguments of each call.
    jobs : int, optional
        Local worker processes (default: one per core); 1 runs in this process.
    scheduler : str, distributed.Client or LocalCluster, optional
        Run on a Dask cluster instead (``tcp://host:8786``); needs ``crqlab[dask]``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each task finishes.

    Notes
    -----
    Exceptions raised by a task propagate (the first one, after the others were submitted);
    callers that must survive failures catch them inside ``func``. Tested against a Dask
    ``LocalCluster`` in ``tests/test_parallel.py``: results equal the local ones. Local workers
    exit once this process is gone (:func:`crqlab.interrupt.die_with`; a batch killed with
    SIGKILL in ``tests/reports/test_outputs.py``).
    """
    tasks = list(tasks)
    total = len(tasks)
    results: list[Any] = [None] * total
    if scheduler is not None:
        client, owned = _dask_client(scheduler)
        try:
            futures = client.map(lambda i, t: func(*t), range(total), tasks, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            from distributed import as_completed as dask_completed

            for done, fut in enumerate(dask_completed(futures), start=1):
                results[index[fut.key]] = fut.result()
                if progress:
                    progress(done, total)
        finally:
            if owned:
                client.close()
        return results
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    if jobs == 1 or total <= 1:
        for i, t in enumerate(tasks):
            results[i] = func(*t)
            if progress:
                progress(i + 1, total)
        return results
    with ProcessPoolExecutor(max_workers=min(jobs, total), initializer=die_with,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(func, *t): i for i, t in enumerate(tasks)}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            if progress:
                progress(done, total)
    return results
