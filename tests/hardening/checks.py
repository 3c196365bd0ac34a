"""Checks over a published reports folder, shared by the hardening tests."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from bs4 import BeautifulSoup

__all__ = ["ESTIMATE_FIELDS", "files_under", "pattern_hits", "table_rows",
           "small_cell_violations", "label_violations", "html_table_rows_with",
           "visible_text"]

#: Fields (docs/naming.md) that carry something computed from answers; a group smaller than
#: the minimum cell size may show none of them.
ESTIMATE_FIELDS = ("est", "se", "ci_low", "ci_high", "stat", "p_value")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.is_file())


def pattern_hits(paths, pattern: re.Pattern) -> dict[str, list[str]]:
    """file -> sorted distinct matches of ``pattern`` (text read as UTF-8, bytes replaced)."""
    out = {}
    for p in paths:
        found = sorted(set(pattern.findall(Path(p).read_text(encoding="utf-8", errors="replace"))))
        if found:
            out[str(p)] = found
    return out


def table_rows(results_json: Path):
    """(table name, row as dict) for every table recorded in a results.json."""
    doc = json.loads(Path(results_json).read_text(encoding="utf-8"))
    for name, t in doc.get("tables", {}).items():
        for row in t["data"]:
            yield name, dict(zip(t["columns"], row))


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def small_cell_violations(results_json: Path, min_cell_size: int) -> list[str]:
    """Rows of recorded tables with an ``n`` below the minimum and an estimate shown."""
    bad = []
    for name, row in table_rows(results_json):
        n = row.get("n")
        if not _present(n) or n >= min_cell_size or row.get("suppressed") is True:
            continue
        shown = [f for f in ESTIMATE_FIELDS if _present(row.get(f))]
        if shown:
            bad.append(f"{Path(results_json).parent.name}:{name}: n={n} shows {shown} ({row})")
    return bad


def label_violations(results_json: Path, label: str) -> list[str]:
    """Rows mentioning a small group's label that show an estimate and are not suppressed."""
    bad = []
    for name, row in table_rows(results_json):
        if not any(isinstance(v, str) and label in v for v in row.values()):
            continue
        if row.get("suppressed") is True:
            continue
        shown = [f for f in ESTIMATE_FIELDS if _present(row.get(f))]
        if shown:
            bad.append(f"{Path(results_json).parent.name}:{name}: {label!r} shows {shown} ({row})")
    return bad


def html_table_rows_with(html: Path, label: str) -> list[list[str]]:
    """The cells of every HTML table row whose text contains ``label``."""
    soup = BeautifulSoup(Path(html).read_text(encoding="utf-8"), "html.parser")
    return [[c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])]
            for tr in soup.find_all("tr") if label in tr.get_text()]


def visible_text(html: Path) -> str:
    return BeautifulSoup(Path(html).read_text(encoding="utf-8"), "html.parser").get_text(" ")
