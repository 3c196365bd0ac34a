"""Where ``crqlab run`` may write: output folders that cannot hurt.

A run builds its reports in a hidden sibling folder and swaps it in for the output folder
(``--out``, else ``reports/<study>``), deleting what was there. So the output folder must be
one crqlab may replace: missing, empty, or made by crqlab - marked by the file
:data:`MARKER` (a small JSON body) that every run writes into its reports folder. Everything
else is refused, with the path and the reason, before any notebook runs and before anything
is created or moved (:func:`check_output_folder`): the file-system root, home folders, the
repository root and its ancestors, the working folder and its ancestors, anything under
``data/raw``, a study folder, a folder inside or containing a study folder, a file, and a
folder holding files crqlab did not make. A batch's parent folder (``--out`` of a batch) is
checked by :func:`check_batch_parent`: it may hold only crqlab's report folders and its own
``batch.json``/``batch.html``. Study names become folder names, so they must be plain
identifiers (:func:`check_study_name`).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from crqlab.errors import CrqlabError
from crqlab.paths import DATA_RAW, REPO_ROOT

__all__ = ["MARKER", "STUDY_REPORTS", "BATCH_REPORTS", "BATCH_FILES", "OutputFolderError",
           "check_study_name", "check_output_folder", "check_batch_parent", "check_batch_file",
           "write_marker", "is_marked"]

#: File that marks a folder as made by crqlab (JSON: made_by, kind, version, created).
MARKER = ".crqlab-reports"
#: Marker kind of one study's reports folder (replaced whole by the next run).
STUDY_REPORTS = "study-reports"
#: Marker kind of a batch's parent folder (holds studies' report folders; never replaced).
BATCH_REPORTS = "batch-reports"
#: Files a batch writes into its parent folder.
BATCH_FILES = ("batch.json", "batch.html")
#: Entries a batch parent may hold besides crqlab's: an empty placeholder kept by git.
_PLACEHOLDERS = (".gitkeep",)
#: Most folder entries looked at when searching a folder for a study.yaml.
_SCAN_LIMIT = 20_000
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_TEMPORARY = re.compile(r"\..+\.(partial|old)-\d+-[0-9a-f]+\Z")


class OutputFolderError(CrqlabError, ValueError):
    """An output folder crqlab must not write into, or a study name unfit for a folder name."""


def check_study_name(name: object, where: Path | str) -> str:
    """``name`` if it is a plain identifier (letters, digits, ``-``, ``_``; not starting with
    ``-`` or ``.``), else :class:`OutputFolderError` naming ``where`` (the study.yaml).

    Notes
    -----
    The name becomes the folder ``reports/<study>``: ``..``, ``/``, ``.`` or an empty name
    would make that folder the reports folder's parent or the reports folder itself.
    ``tests/reports/test_outputs.py`` tries ``..``, ``.``, ``../x``, ``/tmp/x``, ``-x``, a space,
    a non-string and the empty string.
    """
    text = name if isinstance(name, str) else str(name) if isinstance(name, int) \
        and not isinstance(name, bool) else None
    if text is None or not _NAME.match(text):
        raise OutputFolderError(
            f"{where}: study name {name!r} is not a plain identifier (ASCII letters, digits, "
            "'-' and '_', not starting with '-' or '.'); it names the reports folder "
            "reports/<study>, so set `study:` in study.yaml to such a name")
    return text


def is_marked(folder: Path | str, kind: str | None = None) -> bool:
    """True if ``folder`` holds a readable crqlab :data:`MARKER` (of ``kind``, if given)."""
    marker = Path(folder) / MARKER
    try:
        if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 4096:
            return False
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(doc, dict) and doc.get("made_by") == "crqlab"
            and (kind is None or doc.get("kind") == kind))


def write_marker(folder: Path | str, kind: str, **info: object) -> Path:
    """Write the crqlab :data:`MARKER` into ``folder`` (which must exist); returns its path."""
    from crqlab import __version__
    from crqlab.files import write_atomic

    doc = {"made_by": "crqlab", "kind": kind, "version": __version__,
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **info}
    path = Path(folder) / MARKER
    write_atomic(path, json.dumps(doc, sort_keys=True) + "\n")
    return path


def _is_within(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def _homes() -> list[Path]:
    homes = [Path("/root")]
    try:
        homes.append(Path.home().resolve())
    except (RuntimeError, KeyError):  # no home directory known
        pass
    return homes


def _location_problem(path: Path, study_dirs: Iterable[Path]) -> str | None:
    """Why ``path`` (resolved) is a place crqlab must never replace, or None."""
    if path.parent == path:
        return "is the root of the file system"
    homes = _homes()
    if path == Path("/home") or path.parent == Path("/home") or any(
            _is_within(h, path) for h in homes):
        return "is a home folder or contains one"
    if _is_within(REPO_ROOT, path):
        return f"is the repository root {REPO_ROOT} or contains it"
    if _is_within(Path.cwd().resolve(), path):
        return "is the working folder or contains it"
    if _is_within(path, DATA_RAW) or _is_within(DATA_RAW, path):
        return f"is under or contains {DATA_RAW} (raw study data is never written)"
    for study in study_dirs:
        if path == study:
            return "is the study folder"
        if _is_within(path, study):
            return f"is inside the study folder {study}"
        if _is_within(study, path):
            return f"contains the study folder {study}"
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    if (path / "study.yaml").exists():
        return "is a study folder (it holds study.yaml)"
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return f"is inside {parent}, which is a file"
        if (parent / "study.yaml").is_file():
            return f"is inside the study folder {parent}"
    return None


def _find_study(folder: Path) -> Path | None:
    """A study.yaml below ``folder`` (symbolic links not followed), or ``folder`` itself if
    it holds more than :data:`_SCAN_LIMIT` entries (too many to look through)."""
    seen = 0
    for root, dirs, files in os.walk(folder):
        seen += len(dirs) + len(files)
        if "study.yaml" in files:
            return Path(root) / "study.yaml"
        if seen > _SCAN_LIMIT:
            return folder
    return None


def _refuse(path: Path, why: str) -> OutputFolderError:
    return OutputFolderError(
        f"refusing to write reports into {path}: it {why}. crqlab writes only into a folder "
        f"that is missing, empty, or one it made (marked by {MARKER}); choose another --out")


def _contents_problem(path: Path, kind: str) -> str | None:
    """Why the existing folder ``path`` may not be written, judged by what it holds."""
    if not path.is_dir():
        return None
    found = _find_study(path)
    if found == path:
        return f"holds more than {_SCAN_LIMIT} files and folders, too many to check"
    if found is not None:
        return f"contains a study folder ({found})"
    entries = sorted(p.name for p in path.iterdir())
    if not entries or is_marked(path, kind):
        return None
    if is_marked(path):
        return ("is a batch reports folder holding other studies' reports (give the study's "
                "own folder inside it)" if kind == STUDY_REPORTS
                else "is one study's reports folder, not a batch reports folder")
    shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
    return f"holds files crqlab did not make ({shown})"


def check_output_folder(out: Path | str, study_dir: Path | str | None = None, *,
                        kind: str = STUDY_REPORTS) -> Path:
    """The resolved output folder, or :class:`OutputFolderError` saying why it is refused.

    Parameters
    ----------
    out : path
        ``--out``, or ``reports/<study>``.
    study_dir : path, optional
        The study being run (an output inside or containing it is refused).
    kind : str
        :data:`STUDY_REPORTS` (a folder the run replaces whole).

    Notes
    -----
    Only reads the file system. ``tests/reports/test_outputs.py`` runs ``crqlab run`` with every
    refused kind of ``--out`` and study name (exit 2, the path in the message, every file of
    the tree hashing the same before and after) and checks a crqlab-made folder is accepted.
    """
    path = Path(out).expanduser().resolve()
    studies = [] if study_dir is None else [Path(study_dir).resolve()]
    why = _location_problem(path, studies) or _contents_problem(path, kind)
    if why:
        raise _refuse(path, why)
    return path


def _batch_entry_ok(parent: Path, name: str, marked: bool) -> bool:
    p = parent / name
    if name == MARKER or (name in _PLACEHOLDERS and p.is_file() and p.stat().st_size == 0):
        return True
    if name in BATCH_FILES:
        return marked and p.is_file() and not p.is_symlink()
    if p.is_dir() and not p.is_symlink():
        return is_marked(p, STUDY_REPORTS) or bool(_TEMPORARY.match(name))
    return False


def check_batch_parent(parent: Path | str, study_dirs: Iterable[Path | str] = ()) -> Path:
    """The resolved parent folder of a batch's report folders, or :class:`OutputFolderError`.

    Refused: the places :func:`check_output_folder` refuses, and a folder holding anything but
    crqlab's study report folders, its :data:`MARKER`, an empty ``.gitkeep`` and (once the
    folder carries a batch marker) ``batch.json``/``batch.html``.

    Notes
    -----
    ``tests/reports/test_outputs.py`` runs batches into a study folder, a folder of studies,
    ``data/raw``, a folder of other files and one holding a hand-made ``batch.html``.
    """
    path = Path(parent).expanduser().resolve()
    studies = [Path(d).resolve() for d in study_dirs]
    why = _location_problem(path, studies)
    if why is None and path.is_dir():
        found = _find_study(path)
        if found is not None:
            why = ("holds too many files and folders to check" if found == path
                   else f"contains a study folder ({found})")
        else:
            marked = is_marked(path, BATCH_REPORTS)
            odd = sorted(p.name for p in path.iterdir()
                         if not _batch_entry_ok(path, p.name, marked))
            if odd:
                shown = ", ".join(odd[:5]) + (" ..." if len(odd) > 5 else "")
                why = f"holds files crqlab did not make ({shown})"
    if why:
        raise _refuse(path, why)
    return path


def check_batch_file(path: Path | str) -> Path:
    """``path`` (``<parent>/batch.json`` or ``batch.html``) if crqlab may write it: missing, or
    a regular file in a folder carrying the batch marker."""
    p = Path(path)
    if p.exists() or p.is_symlink():
        if p.is_symlink() or not p.is_file() or not is_marked(p.parent, BATCH_REPORTS):
            raise OutputFolderError(f"refusing to overwrite {p}: crqlab did not make it")
    return p
