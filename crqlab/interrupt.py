"""Stopping a run cleanly: SIGTERM or SIGINT to ``crqlab run`` stops every process it started.

A run executes notebooks in worker processes, each of which starts a Jupyter kernel in a
session of its own (``jupyter_client`` does so, so that interrupting a kernel reaches its
children). A signal to the main process alone would leave the workers running their notebooks
into the staging folder. Inside :func:`stop_children_on_signal` a SIGTERM or SIGINT instead
freezes every descendant process (SIGSTOP, repeated until no new one appears, so none can
start another), kills them (SIGKILL), waits for them, and raises :class:`RunInterrupted` in
the main process, whose ``finally`` blocks then remove the staging folder. SIGKILL cannot be
caught: pool workers watch the main process (:func:`die_with`) and, once it is gone, kill
their kernels and exit; the next run removes the dead run's staging folder.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RunInterrupted", "stop_process_tree", "stop_children_on_signal", "die_with"]

#: Signals that stop a run.
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; its processes are gone and nothing was published.

    A :class:`KeyboardInterrupt` (not a :class:`~crqlab.errors.CrqlabError`) so that no
    ``except Exception`` on the way - such as the one that turns a notebook's failure into a
    report - can swallow it.
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def _spared() -> set[int]:
    """multiprocessing's shared helpers (fork server, resource tracker): they outlive a run."""
    from multiprocessing import forkserver, resource_tracker

    pids = {getattr(forkserver._forkserver, "_forkserver_pid", None),
            getattr(resource_tracker._resource_tracker, "_pid", None)}
    return {p for p in pids if p}


def stop_process_tree(pid: int | None = None, timeout: float = 5.0) -> list[int]:
    """Kill every descendant of ``pid`` (default: this process); returns their pids.

    Descendants are frozen first, and the tree is read again until it no longer grows: a
    worker caught starting a kernel cannot leave the kernel behind. multiprocessing's fork
    server and resource tracker are spared (their children are not).

    Notes
    -----
    ``tests/reports/test_outputs.py`` sends SIGTERM and SIGINT to a real ``crqlab run`` whose
    stand-in notebooks write a heartbeat file in a loop: afterwards no worker, no kernel and
    no process naming the staging folder is alive, and the heartbeat stops.
    """
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    spared, frozen = _spared(), {}
    for _ in range(50):
        try:
            found = [p for p in root.children(recursive=True)
                     if p.pid not in frozen and p.pid not in spared]
        except psutil.NoSuchProcess:
            break
        if not found:
            break
        for p in found:
            try:
                p.suspend()
                frozen[p.pid] = p
            except psutil.NoSuchProcess:
                continue
    for p in frozen.values():
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(frozen.values()), timeout=timeout)
    return sorted(frozen)


@contextmanager
def stop_children_on_signal() -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT kill every child process and raise
    :class:`RunInterrupted`; later signals are ignored while the block unwinds. Outside the
    main thread (a Dask worker thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"stopping": False}

    def handler(signum, frame):
        if state["stopping"]:
            return
        state["stopping"] = True
        stop_process_tree()
        raise RunInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)


def die_with(pid: int, interval: float = 0.5) -> None:
    """Pool-worker initializer: once process ``pid`` (the run's main process) is gone - ended,
    a zombie, or its pid reused - kill this worker's own children (its kernel) and exit.

    Checked every ``interval`` seconds by a daemon thread. Needed because SIGKILL cannot be
    caught, and a fork-server worker's parent is the fork server, which the workers keep alive.
    """
    import psutil

    try:
        main = psutil.Process(pid)
    except psutil.NoSuchProcess:
        os._exit(1)

    def gone() -> bool:
        try:
            return not main.is_running() or main.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def watch() -> None:
        while not gone():
            time.sleep(interval)
        stop_process_tree()
        os._exit(1)

    threading.Thread(target=watch, name="crqlab-watch-main", daemon=True).start()
