"""Warm kernels: ``crqlab run`` executes its notebooks on kernels that imported the stack once.

A cold kernel pays for its own start, for importing numpy, pandas, scipy, statsmodels,
matplotlib and crqlab before its first cell, and for a graceful shutdown after its last (about
2 s, 3 s and 1-3 s per notebook on this machine, issue 21). A
warm kernel is started once per worker process (per thread where a Dask worker runs several
studies at once), imports the stack once (:data:`PRELOAD`), records the state a fresh kernel
has, moves the imported objects out of the garbage collector's sight (``gc.freeze``: they live
as long as the kernel, and a full collection no longer visits them), and is **reset** before
every notebook:

* the user namespace is emptied and rebuilt as a new IPython session (``reset(new_session=
  True)``: no variable, no ``Out`` cache, execution count 1);
* the process state a notebook may change goes back to what it was after the imports: warnings
  filters (and the once-per-location registries), matplotlib's ``rcParams`` and open figures,
  pandas options, numpy's error handling and print options, ``os.environ``, ``sys.path``, the
  working folder (the notebook's folder), the shared recorder of :mod:`crqlab.reports.results`;
* the global random generators of ``random`` and ``numpy.random`` are reseeded from fresh
  entropy, as in a new process (study notebooks draw only from their ``seed`` parameter).

The notebook then runs through papermill as before (same parameters cell injection, same
executed notebook) on that kernel. A kernel whose notebook failed or timed out is killed and a
fresh one started for the next notebook, so a runaway cell cannot delay the others. Kernels are
killed (not shut down gracefully: that costs 1-3 s) when the run ends: at the end of the
outermost :func:`warm_scope` in a process, or, in a pool worker that called
:func:`keep_until_exit`, when that worker exits. They are ordinary child processes of the
worker, so :mod:`crqlab.interrupt` stops them with everything else.

``crqlab run --cold`` starts a fresh kernel for every notebook (the behaviour before warm
kernels), for comparison.
"""
from __future__ import annotations

import gc
import importlib
import itertools
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crqlab.errors import CrqlabError

__all__ = ["PRELOAD", "WarmKernel", "KernelStartError", "execute_warm", "warm_scope",
           "keep_until_exit", "shutdown_all", "kernel_preload", "kernel_reset", "active_kernels"]

#: Modules a warm kernel imports once, before its first notebook: what the study notebooks
#: import (crqlab's layers pull in numpy, pandas, scipy, statsmodels, matplotlib, seaborn).
PRELOAD = ("numpy", "pandas", "scipy.stats", "matplotlib", "matplotlib.pyplot", "seaborn",
           "statsmodels.api", "IPython.display",
           "crqlab.data.study", "crqlab.data.privacy", "crqlab.data.quality",
           "crqlab.formatting", "crqlab.measures.nps", "crqlab.measures.norms",
           "crqlab.measures.categories", "crqlab.measures.scoring",
           "crqlab.models.nonresponse", "crqlab.reports.results", "crqlab.reports.plotting",
           "crqlab.reports.present", "crqlab.reports.pathdiagram", "crqlab.reports.response_plots",
           "crqlab.studies.scorecard", "crqlab.studies.morgan_hunt",
           "crqlab.studies.confidentiality", "crqlab.studies.response_rates",
           "crqlab.studies.nps_crq")
#: Seconds to wait for a kernel to start, import :data:`PRELOAD` or reset.
START_TIMEOUT = 120
_COUNTER = itertools.count()


class KernelStartError(CrqlabError, RuntimeError):
    """A warm kernel could not be started, preloaded or reset."""


# -- inside the kernel --------------------------------------------------------------------------
_SNAPSHOT: dict[str, Any] = {}


def kernel_preload(modules: Sequence[str] = PRELOAD) -> None:
    """Run inside a new kernel: import ``modules`` and record the state :func:`kernel_reset`
    restores. A module that fails to import is skipped (the notebook that needs it reports it)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module is the notebook's to report
            pass
    import sys

    if "matplotlib.pyplot" in sys.modules:
        # load the backend now (matplotlib loads it at the first figure): the inline backend
        # switches on interactive mode and IPython's figure hooks, which every notebook needs
        import matplotlib.pyplot as plt

        if hasattr(plt, "_get_backend_mod"):
            plt._get_backend_mod()
        else:  # pragma: no cover - older matplotlib
            plt.close(plt.figure())
    _SNAPSHOT.clear()
    _SNAPSHOT.update(_process_state())
    # the imported stack (about 200,000 objects) is permanent: keep it out of every later
    # garbage collection, the full one IPython's reset makes before each notebook included
    gc.collect()
    gc.freeze()


def _process_state() -> dict[str, Any]:
    import sys
    import warnings

    state: dict[str, Any] = {"warnings": list(warnings.filters), "environ": dict(os.environ),
                             "path": list(sys.path)}
    if "numpy" in sys.modules:
        import numpy as np

        state["np_err"] = np.geterr()
        state["np_print"] = np.get_printoptions()
    if "pandas" in sys.modules:
        state["pandas"] = _pandas_options()
    if "matplotlib" in sys.modules:
        import matplotlib as mpl

        state["rc"] = dict(mpl.rcParams)
    return state


def _pandas_options() -> dict[str, Any]:
    import warnings

    import pandas as pd

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key in pd._config.config._registered_options:  # every option, deprecated or not
            try:
                out[key] = pd.get_option(key)
            except Exception:  # noqa: BLE001 - an option that cannot be read is not restored
                continue
    return out


def kernel_reset(cwd: str, env: Mapping[str, str] | None = None) -> None:
    """Run inside a warm kernel before each notebook: a new IPython session and the process
    state recorded by :func:`kernel_preload` (see the module docstring), then the run's own
    environment variables ``env`` (as a cold kernel inherits them)."""
    import random
    import sys
    import warnings

    ipython = sys.modules.get("IPython")
    ip = ipython.get_ipython() if ipython is not None else None
    if ip is not None:
        ip.reset(new_session=True)
    state = _SNAPSHOT
    warnings.filters[:] = state.get("warnings", warnings.filters)
    warnings._filters_mutated()  # forget which warnings were already shown once
    os.environ.clear()
    os.environ.update(state.get("environ", {}))
    os.environ.update(env or {})
    sys.path[:] = state.get("path", sys.path)
    os.chdir(cwd)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")
        inline = sys.modules.get("matplotlib_inline.backend_inline")
        if inline is not None and hasattr(inline.show, "_to_draw"):
            inline.show._to_draw = []
            inline.show._draw_called = False
    if "rc" in state:
        import matplotlib as mpl

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dict.update(mpl.rcParams, state["rc"])  # values as validated when recorded
    if "np_err" in state:
        import numpy as np

        np.seterr(**state["np_err"])
        np.set_printoptions(**state["np_print"])
        np.random.seed()  # fresh entropy, as a new process
    random.seed()
    if "pandas" in state:
        import pandas as pd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            now = _pandas_options()
            for key, value in state["pandas"].items():
                if key in now and now[key] is not value and now[key] != value:
                    pd.set_option(key, value)
    results = sys.modules.get("crqlab.reports.results")
    if results is not None:
        results._DEFAULT = results.Recorder()
    # ip.reset ran a full garbage collection; it visits only what notebooks made, not the
    # stack frozen by kernel_preload (0.2-0.3 s a notebook otherwise)


# -- the host side: one kernel ------------------------------------------------------------------
async def _ready(kc, timeout: float | None) -> None:
    """Return once the kernel answered ``kernel_info`` and its IOPub channel reached this client.

    jupyter_client's ``wait_for_ready`` then listens to IOPub until 0.2 s pass in silence, so
    every new client costs at least 0.2 s; a warm kernel makes two per notebook (the reset's and
    nbclient's), 2.8 s of waiting per sample study. Here the wait ends at the kernel's ``idle``
    status for a request this client sent: the kernel publishes it after its reply, so IOPub is
    connected and everything before it has been read. A request that got no answer in 1 s (the
    kernel still starting, IOPub not yet joined) is sent again, as jupyter_client does; the
    answer to any of them will do, so late answers cannot keep the wait going. Messages about
    the other requests may follow; every reader here matches replies to its own request."""
    import time
    from queue import Empty

    deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
    sent: set[str] = set()
    while True:
        sent.add(kc.kernel_info())
        try:
            reply = await kc.shell_channel.get_msg(timeout=1)
        except Empty:
            reply = None
        if reply is not None and reply["msg_type"] == "kernel_info_reply" \
                and reply["parent_header"].get("msg_id") in sent:
            try:
                while time.monotonic() < deadline:
                    msg = await kc.iopub_channel.get_msg(timeout=0.2)
                    if (msg["parent_header"].get("msg_id") in sent
                            and msg["msg_type"] == "status"
                            and msg["content"].get("execution_state") == "idle"):
                        # jupyter_client's own step (protocol version); private, so optional
                        handle = getattr(kc, "_handle_kernel_info_reply", None)
                        if handle is not None:
                            handle(reply)
                        return
            except Empty:
                pass  # IOPub not joined yet: ask again
        if not await kc.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")


def _tracking_manager_class():
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ReadyClient(AsyncKernelClient):
        """A client that is ready without jupyter_client's 0.2 s of silence (:func:`_ready`)."""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            await _ready(self, timeout)

    class TrackingKernelManager(AsyncKernelManager):
        """Remembers the clients nbclient makes for each notebook, so they can be closed; its
        clients are :class:`ReadyClient`."""

        @default("client_factory")
        def _ready_client(self):
            return ReadyClient

        def client(self, **kwargs):
            kc = super().client(**kwargs)
            self.crqlab_clients = [*getattr(self, "crqlab_clients", []), kc]
            return kc

    return TrackingKernelManager


def _run(coro_fn, *args, **kwargs):
    from jupyter_core.utils import run_sync

    return run_sync(coro_fn)(*args, **kwargs)


class WarmKernel:
    """One kernel that imported :data:`PRELOAD`; :meth:`reset` before each notebook."""

    def __init__(self, kernel_name: str, connection_file: str | Path | None, cwd: str | Path,
                 start_timeout: float = START_TIMEOUT) -> None:
        from crqlab.reports.runner import _kernel_environment, kernel_options

        options = kernel_options(connection_file)
        self.kernel_name = kernel_name
        self.km = _tracking_manager_class()(kernel_name=kernel_name,
                                            config=options.get("config"))
        extra = [*options.get("extra_arguments", []), "--HistoryManager.hist_file=:memory:"]
        with _kernel_environment():
            _run(self.km.start_kernel, extra_arguments=extra, cwd=str(cwd))
        try:
            self.execute("__import__('crqlab.reports.kernels', fromlist=['kernel_preload'])"
                         f".kernel_preload({tuple(PRELOAD)!r})", start_timeout)
        except BaseException:
            self.shutdown()
            raise
        self.notebooks = 0

    @property
    def pid(self) -> int | None:
        """The kernel process's id (None once it is gone)."""
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def execute(self, code: str, timeout: float | None = None) -> None:
        """Run ``code`` silently (no output, no history, execution count unchanged)."""
        timeout = START_TIMEOUT if timeout is None else timeout
        # a client of its own for each call: clients of one manager share the session id,
        # and the kernel hands the id's replies to the newest connection (nbclient's, per
        # notebook), so a long-lived client would stop hearing back
        kc = self.km.client()

        async def go():
            await kc.wait_for_ready(timeout=timeout)
            msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
            while True:
                reply = await kc.get_shell_msg(timeout=timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply

        try:
            kc.start_channels()
            reply = _run(go)
        except Exception as exc:  # noqa: BLE001 - queue.Empty on timeout, zmq errors
            raise KernelStartError(f"warm kernel did not answer within {timeout} s: "
                                   f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.close_notebook_clients()
        content = reply["content"]
        if content.get("status") != "ok":
            raise KernelStartError(f"warm kernel failed: {content.get('ename')}: "
                                   f"{content.get('evalue')}")

    def reset(self, cwd: str | Path, env: Mapping[str, str] | None = None) -> None:
        """A fresh namespace and the recorded process state, working folder ``cwd``, the
        run's environment variables ``env``."""
        env = {str(k): str(v) for k, v in (env or {}).items()}
        self.execute("__import__('crqlab.reports.kernels', fromlist=['kernel_reset'])"
                     f".kernel_reset({str(cwd)!r}, {env!r})")

    def close_notebook_clients(self) -> None:
        """Stop the channels of the clients opened for the last notebook or call."""
        for kc in getattr(self.km, "crqlab_clients", []):
            try:
                kc.stop_channels()
            except Exception:  # noqa: BLE001 - already closed
                pass
        self.km.crqlab_clients = []

    def alive(self) -> bool:
        try:
            return bool(_run(self.km.is_alive))
        except Exception:  # noqa: BLE001 - a manager that cannot tell is treated as dead
            return False

    def shutdown(self) -> None:
        """Kill the kernel at once and remove its connection file."""
        self.close_notebook_clients()
        pid = self.pid
        try:
            if self.km.has_kernel:
                _run(self.km.shutdown_kernel, now=True)
        except Exception:  # noqa: BLE001 - already gone, or its manager's loop is elsewhere
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            _run(self.km._async_cleanup_resources)  # the connection file; done if shut down
        except Exception:  # noqa: BLE001
            pass


# -- the per-process pool ------------------------------------------------------------------------
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "until_exit": False, "kernels": {}}


def _kernels() -> dict[tuple[int, str], WarmKernel]:
    return _STATE["kernels"]


def active_kernels() -> list[WarmKernel]:
    """The warm kernels this process holds now."""
    with _LOCK:
        return list(_kernels().values())


def shutdown_all() -> None:
    """Kill every warm kernel of this process."""
    with _LOCK:
        kernels = list(_kernels().values())
        _kernels().clear()
    for k in kernels:
        k.shutdown()


@contextmanager
def warm_scope() -> Iterator[None]:
    """Warm kernels started inside stay warm until the outermost scope of this process ends
    (then they are killed), unless :func:`keep_until_exit` was called."""
    with _LOCK:
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            last = _STATE["depth"] == 0 and not _STATE["until_exit"]
        if last:
            shutdown_all()


def keep_until_exit() -> None:
    """In a worker process: keep this process's warm kernels across runs until it exits (a
    batch worker runs many studies); they are killed by a multiprocessing finalizer."""
    from multiprocessing import util

    with _LOCK:
        if _STATE["until_exit"]:
            return
        _STATE["until_exit"] = True
    util.Finalize(None, shutdown_all, exitpriority=50)


def _take(kernel_name: str, connection_dir: str | None, cwd: Path) -> WarmKernel:
    key = (threading.get_ident(), kernel_name)
    with _LOCK:
        kernel = _kernels().pop(key, None)
    if kernel is not None and kernel.alive():
        return kernel
    if kernel is not None:
        kernel.shutdown()
    conn = None
    if connection_dir:
        conn = Path(connection_dir) / f"kernel-warm-{os.getpid()}-{next(_COUNTER)}.json"
    return WarmKernel(kernel_name, conn, cwd)


def _give_back(kernel: WarmKernel) -> None:
    with _LOCK:
        _kernels()[(threading.get_ident(), kernel.kernel_name)] = kernel


def _kernel_name(src: Path, kernel: str | None) -> str:
    if kernel:
        return kernel
    from crqlab.reports.notebook_format import load

    nb = load().read(str(src), as_version=4)
    return nb.metadata.get("kernelspec", {}).get("name") or "python3"


def _cancel_pending() -> None:
    """Cancel nbclient's unfinished tasks on this thread's event loop, so that none reports the
    killed kernel later ("Task exception was never retrieved")."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks and not loop.is_running():
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def execute_warm(src: Path, executed_path: Path, parameters: Mapping[str, Any], *,
                 timeout: int | None = None, kernel: str | None = None,
                 connection_dir: str | None = None, env: Mapping[str, str] | None = None
                 ) -> None:
    """Execute ``src`` with papermill on this process's warm kernel, writing ``executed_path``.

    The kernel is reset first (with the run's environment variables ``env``); if the notebook raises (a failing cell, a timeout, a dead
    kernel) the kernel is killed and the exception propagates, as from a cold run.

    Notes
    -----
    ``tests/reports/test_kernels.py`` checks that a variable, a warnings filter, an rcParams
    change, a pandas option and recorded results of one notebook are not seen by the next,
    and that a run gives the same ``results.json`` on warm and cold kernels;
    ``tests/reports/test_runner.py`` runs every runner test on warm kernels.
    """
    import papermill as pm

    from crqlab.reports.engine import engine_name
    from crqlab.reports.runner import _kernel_environment

    src = Path(src)
    warm = _take(_kernel_name(src, kernel), connection_dir, src.parent)
    ok = False
    try:
        warm.reset(src.parent, env)
        warm.notebooks += 1
        with _kernel_environment():
            pm.execute_notebook(str(src), str(executed_path), parameters=dict(parameters),
                                cwd=str(src.parent), progress_bar=False, log_output=False,
                                execution_timeout=timeout, kernel_name=warm.kernel_name,
                                km=warm.km, engine_name=engine_name())
        ok = True
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted (RunInterrupted): the kernel is dead
            _cancel_pending()
        raise
    finally:
        warm.close_notebook_clients()
        if ok:
            _give_back(warm)
        else:
            warm.shutdown()
