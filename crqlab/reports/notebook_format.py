"""nbformat for the runner, without the second its import otherwise spends on an unused grammar.

``import nbformat`` imports ``jsonschema``, whose format checkers import ``rfc3987_syntax``
when it is installed (a jupyterlab dependency); that package compiles a Lark grammar of IRIs
at import, about 1 s of the 1.2 s ``nbformat`` costs on the reference machine (issue 21). The
notebook schema never asks for the ``iri`` format, so :func:`load` imports ``nbformat`` with
that one module hidden: ``jsonschema`` then registers no ``iri`` checker, exactly as on a
machine without the package. The hiding lasts only for that import; afterwards
``rfc3987_syntax`` imports normally. If ``jsonschema`` was already imported the import is
plain (there is nothing left to save).

Measured in ``benchmarks/bench_warm.py``; ``tests/reports/test_notebook_format.py`` checks
that notebooks still validate and that nothing stays hidden.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType

__all__ = ["load", "HIDDEN"]

#: The module kept out of the ``nbformat`` import (its grammar is compiled at import).
HIDDEN = "rfc3987_syntax"


def load() -> ModuleType:
    """``nbformat``, imported without compiling the IRI grammar (see the module notes)."""
    if "nbformat" in sys.modules or "jsonschema" in sys.modules or HIDDEN in sys.modules:
        return importlib.import_module("nbformat")
    sys.modules[HIDDEN] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        return importlib.import_module("nbformat")
    finally:
        if sys.modules.get(HIDDEN, ModuleType("x")) is None:
            del sys.modules[HIDDEN]
