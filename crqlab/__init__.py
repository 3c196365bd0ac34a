"""crqlab: a research workbook for B2B customer-relationship surveys (NPS and CRQ).

Load a study with :func:`load_study`, score it with :mod:`crqlab.measures.nps` and
:mod:`crqlab.measures.scoring`, and run the parameterised studies with ``crqlab run``.
"""
from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from crqlab.data.instruments import Instrument, load_instrument
from crqlab.errors import (
    ConvergenceError,
    CrqlabError,
    InstrumentError,
    InsufficientDataError,
    Problem,
    ValidationError,
)

try:
    __version__ = version("crqlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__", "CrqlabError", "ValidationError", "InstrumentError", "ConvergenceError",
           "InsufficientDataError", "Problem", "Instrument", "load_instrument", "load_study", "Study"]


def __getattr__(name: str):
    # load_study and Study live in crqlab.data.study, imported on first use (no import-time work).
    if name in ("load_study", "Study"):
        return getattr(import_module("crqlab.data.study"), name)
    raise AttributeError(f"module 'crqlab' has no attribute {name!r}")
