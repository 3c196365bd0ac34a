"""Path constants, in one place (Cookiecutter Data Science layout).

Nothing here touches the file system at import time.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PACKAGE_DIR", "INSTRUMENTS_DIR", "REPO_ROOT", "NOTEBOOKS_DIR", "DATA_RAW",
           "DATA_PROCESSED", "REPORTS_DIR", "SAMPLE_STUDY", "resolve_study_dir"]

PACKAGE_DIR = Path(__file__).resolve().parent
INSTRUMENTS_DIR = PACKAGE_DIR / "data" / "instruments"
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DATA_RAW = REPO_ROOT / "data" / "raw"
DATA_PROCESSED = REPO_ROOT / "data" / "processed"
REPORTS_DIR = REPO_ROOT / "reports"
SAMPLE_STUDY = DATA_RAW / "sample"


def resolve_study_dir(study_dir: str | os.PathLike) -> Path:
    """The study folder a notebook parameter names, from wherever the notebook runs.

    The notebooks' default ``study_dir`` (``"../data/raw/sample"``) is relative to
    ``notebooks/``, where ``crqlab run``, JupyterLab and ``papermill`` started there execute
    them. Run from the repository root (``papermill notebooks/01_scorecard.ipynb out.ipynb``),
    the same text names nothing; then the folder it names from :data:`NOTEBOOKS_DIR` is taken.
    An absolute path, or a relative one that exists from the working folder, is returned as
    given; a path that exists from neither is returned as given too (the loader reports it).

    Notes
    -----
    Tested in ``tests/test_paths.py`` (from the root, from notebooks/, absolute, missing) and
    by running the README's papermill commands (``tests/hardening/test_papermill_readme.py``).
    """
    path = Path(study_dir)
    if path.is_absolute() or path.exists():
        return path
    from_notebooks = NOTEBOOKS_DIR / path
    return from_notebooks.resolve() if from_notebooks.is_dir() else path
