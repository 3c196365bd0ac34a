"""Survey platforms' export layouts: Qualtrics, SurveyMonkey, SPSS, told apart by their shape.

Platforms write more than one header row. A Qualtrics CSV/TSV/XLSX export has the column
names in row 1, the question text in row 2 and (since 2016) ``{"ImportId":"QID1"}`` cells in
row 3; the legacy export has only the first two. A SurveyMonkey export has the question in row
1 (written once over all the columns of a matrix question) and the answer option in row 2
(``Response``, ``Open-Ended Response`` or a matrix row's statement). An SPSS file has one name
per variable and keeps labels in its dictionary. :func:`detect_layout` recognises each from
the file itself and says why; :func:`apply_layout` turns the header rows into column names
(and question texts), leaving the records with their own row numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from crqlab.data.readers import RawTable
from crqlab.errors import Problem, ValidationError

__all__ = ["Layout", "detect_layout", "apply_layout", "resolve_layout", "QUALTRICS_COLUMNS",
           "SURVEYMONKEY_COLUMNS", "PLATFORM_NAMES", "IDENTIFYING_COLUMNS"]

#: Metadata columns of a Qualtrics export (row 1); three of them identify one.
QUALTRICS_COLUMNS = frozenset({
    "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
    "Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName",
    "RecipientEmail", "ExternalReference", "LocationLatitude", "LocationLongitude",
    "DistributionChannel", "UserLanguage"})
#: The legacy Qualtrics export names its columns V1, V2 ... and gives these names in row 2.
_QUALTRICS_LEGACY = frozenset({"ResponseID", "ResponseSet", "ExternalDataReference",
                               "EmailAddress", "StartDate", "EndDate", "Finished"})
#: Metadata columns of a SurveyMonkey export (row 1); two of them identify one.
SURVEYMONKEY_COLUMNS = frozenset({
    "Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address",
    "First Name", "Last Name", "Custom Data 1"})
#: Platform metadata that identifies a respondent (name, e-mail, IP address, location): never
#: loaded unless study.yaml maps the column, so that it cannot reach a report or the cache of
#: a confidential respondent. The invitation frame holds the contacts' names.
IDENTIFYING_COLUMNS = {
    "qualtrics": frozenset({"IPAddress", "RecipientLastName", "RecipientFirstName",
                            "RecipientEmail", "LocationLatitude", "LocationLongitude"}),
    "surveymonkey": frozenset({"IP Address", "Email Address", "First Name", "Last Name"}),
}
#: SurveyMonkey's row-2 words for "the answer itself": dropped from the joined column name.
_GENERIC_OPTIONS = frozenset({"response", "open-ended response"})
_IMPORT_ID = re.compile(r'^\{\s*"ImportId"\s*:')
PLATFORM_NAMES = {"qualtrics": "Qualtrics", "surveymonkey": "SurveyMonkey", "spss": "SPSS",
                  "table": "a plain table"}


@dataclass(frozen=True)
class Layout:
    """How a file is laid out: its platform, header rows, rows to skip and the evidence."""

    platform: str
    header_rows: int = 1
    skip_rows: int = 0
    evidence: str = ""

    def describe(self) -> str:
        """``Qualtrics export (...): header row 1, 2 rows skipped``, for summaries and init."""
        what = PLATFORM_NAMES.get(self.platform, self.platform)
        head = "header rows 1-%d joined" % self.header_rows if self.header_rows > 1 \
            else "header row 1"
        skip = f", {self.skip_rows} row(s) after it skipped" if self.skip_rows else ""
        why = f" ({self.evidence})" if self.evidence else ""
        return f"{what}{why}: {head}{skip}"


def _record(raw: RawTable, file_row: int) -> dict | None:
    """The cells of the record at ``file_row`` (None when that row is blank or absent)."""
    rows = raw.file_rows()
    hit = np.flatnonzero(rows == file_row)
    if not len(hit):
        return None
    rec = raw.frame.iloc[int(hit[0])]
    return {c: (None if pd.isna(v) else str(v)) for c, v in rec.items()}


def detect_layout(raw: RawTable) -> Layout:
    """The platform whose export ``raw`` looks like, and why.

    Qualtrics: three of its metadata columns in row 1 (``StartDate``, ``ResponseId``,
    ``Finished`` ...); row 3 of ``{"ImportId": ...}`` cells means three header rows, a row 2 of
    question text two. Legacy Qualtrics: ``V1``, ``V2`` ... in row 1 and ``ResponseID`` in row
    2. SurveyMonkey: two of its metadata columns (``Respondent ID``, ``Collector ID`` ...) in
    row 1 and ``Response`` or ``Open-Ended Response`` in row 2. SPSS: the file type.

    Notes
    -----
    Tested in ``tests/data/test_platforms.py`` on hand-written headers of each platform (and
    plain tables, which stay plain) and in ``tests/exports/``.
    """
    if raw.platform == "spss":
        return Layout("spss", evidence="an SPSS file")
    if raw.row_offset != 2 or raw.frame.empty:
        return Layout("table")
    cols = set(raw.frame.columns)
    second, third = _record(raw, 2), _record(raw, 3)
    found = sorted(cols & QUALTRICS_COLUMNS)
    if len(found) >= 3:
        return _qualtrics(found, second, third)
    if {"V1", "V2", "V3"} <= cols and second and set(second.values()) & _QUALTRICS_LEGACY:
        return Layout("qualtrics", 1, 1, "legacy export: V1, V2 ... in row 1, names in row 2")
    found = sorted(cols & SURVEYMONKEY_COLUMNS)
    options = {str(v).strip().lower() for v in (second or {}).values() if v}
    if len(found) >= 2 and options & _GENERIC_OPTIONS:
        return Layout("surveymonkey", 2, 0, f"columns {', '.join(found[:3])}; answer options "
                      "in row 2")
    return Layout("table")


def _qualtrics(found: list[str], second: dict | None, third: dict | None) -> Layout:
    why = f"columns {', '.join(found[:3])}"
    if third and any(v and _IMPORT_ID.match(v) for v in third.values()):
        return Layout("qualtrics", 1, 2, f"{why}; question text in row 2, ImportId in row 3")
    if second and _is_label_row(second):
        return Layout("qualtrics", 1, 1, f"{why}; question text in row 2")
    return Layout("qualtrics", 1, 0, f"{why}; one header row")


def _is_label_row(record: dict) -> bool:
    """Row 2 of a Qualtrics export repeats the metadata names as words (``Start Date``)."""
    start = record.get("StartDate") or record.get("RecordedDate") or ""
    return bool(start) and not re.match(r"^\d", start)


def resolve_layout(raw: RawTable, rules: dict) -> Layout:
    """The layout to apply: detected, unless study.yaml's ``import: TABLE:`` names the platform
    or the header and skipped rows."""
    found = detect_layout(raw)
    platform = rules.get("platform", "auto")
    if platform in (None, "auto"):
        layout = found
    elif platform == found.platform:
        layout = replace(found, evidence=f"as study.yaml says; {found.evidence}".rstrip("; "))
    else:
        defaults = {"surveymonkey": (2, 0), "qualtrics": (1, found.skip_rows or 2)}
        head, skip = defaults.get(platform, (1, 0))
        layout = Layout(platform, head, skip, "as study.yaml says")
    if "header_rows" in rules or "skip_rows" in rules:
        layout = replace(layout, header_rows=rules.get("header_rows", layout.header_rows),
                         skip_rows=rules.get("skip_rows", layout.skip_rows),
                         evidence=(layout.evidence + "; rows as study.yaml says").lstrip("; "))
    return layout


def apply_layout(raw: RawTable, layout: Layout) -> RawTable:
    """``raw`` with its header rows made column names and the skipped rows removed.

    Records keep their row numbers in the file (the first Qualtrics record is row 4). Header
    rows 2.. are joined to row 1 with `` - `` (a blank cell in row 1 continues the question
    to its left, as SurveyMonkey writes matrix questions); with one header row, the row after
    it holds the question text, kept in ``descriptions``.

    Raises
    ------
    ValidationError
        Header rows asked of a file that has none (Parquet, SPSS), or joined names that
        repeat.

    Notes
    -----
    Tested in ``tests/data/test_platforms.py`` (row numbers of the first record, question
    texts, SurveyMonkey's joined names, repeated names) and ``tests/exports/``.
    """
    if layout.header_rows == 1 and layout.skip_rows == 0:
        return replace(raw, platform=layout.platform, layout=layout.describe())
    if raw.row_offset != 2:
        raise ValidationError([Problem(raw.name, None, None, None,
                                       "header_rows and skip_rows apply to CSV and XLSX files "
                                       "only", fix="import.TABLE.header_rows / skip_rows")])
    last = layout.header_rows + layout.skip_rows
    heads = [_record(raw, r) or {} for r in range(2, layout.header_rows + 1)]
    names = _joined_names(list(raw.frame.columns), heads)
    _check_unique(names, raw.name)
    descriptions = dict(raw.descriptions)
    if layout.header_rows == 1:
        text = _record(raw, 2) or {}
        descriptions.update({c: v for c, v in text.items() if v})
    body = raw.subset(raw.file_rows() > last)
    frame = body.frame.set_axis(names, axis=1)
    descriptions = {names[list(raw.frame.columns).index(c)]: v
                    for c, v in descriptions.items() if c in raw.frame.columns}
    return replace(body, frame=frame, descriptions=descriptions, platform=layout.platform,
                   layout=layout.describe())


def _joined_names(columns: list[str], heads: list[dict]) -> list[str]:
    """Row 1 (carried right over blank cells) joined with the later header rows' cells."""
    if not heads:
        return columns
    out, question = [], ""
    for c in columns:
        if not c.startswith("Unnamed: "):
            question = c
        parts = [question] + [h.get(c) or "" for h in heads]
        parts = [p.strip() for p in parts if p and p.strip().lower() not in _GENERIC_OPTIONS]
        out.append(" - ".join(dict.fromkeys(parts)) or c)
    return out


def _check_unique(names: list[str], file: str) -> None:
    from collections import Counter

    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise ValidationError([Problem(file, n, 1, n, "the joined header names this column "
                                       "more than once", fix="import.TABLE.header_rows")
                               for n in twice[:20]])
