"""Executing a study notebook in a test: papermill on this process's warm kernel.

A cold papermill run starts a kernel and imports the stack for every execution (3-5 s each).
The notebook tests use one warm kernel instead, reset before every notebook as in ``crqlab
run`` (tests/reports/test_kernels.py proves nothing carries over); ``tests/conftest.py`` kills
it when the notebook tests are done, and it is killed at exit in any case.
"""
from __future__ import annotations

import atexit
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crqlab.reports import kernels

__all__ = ["execute_notebook"]

atexit.register(kernels.shutdown_all)


def execute_notebook(src: Path | str, executed: Path | str, parameters: Mapping[str, Any]) -> None:
    """Run ``src`` with ``parameters`` injected, writing ``executed``; working folder: the
    notebook's folder. A failing cell raises papermill's error, as ``pm.execute_notebook`` does."""
    kernels.execute_warm(Path(src), Path(executed), dict(parameters))
