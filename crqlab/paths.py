"""Path constants, in one place (Cookiecutter Data Science layout).

Nothing here touches the file system at import time.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["PACKAGE_DIR", "INSTRUMENTS_DIR", "REPO_ROOT", "NOTEBOOKS_DIR", "DATA_RAW",
           "DATA_PROCESSED", "REPORTS_DIR", "SAMPLE_STUDY"]

PACKAGE_DIR = Path(__file__).resolve().parent
INSTRUMENTS_DIR = PACKAGE_DIR / "data" / "instruments"
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DATA_RAW = REPO_ROOT / "data" / "raw"
DATA_PROCESSED = REPO_ROOT / "data" / "processed"
REPORTS_DIR = REPO_ROOT / "reports"
SAMPLE_STUDY = DATA_RAW / "sample"
