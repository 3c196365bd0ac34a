"""Reading raw export tables: CSV in any of the encodings and dialects Excel writes, XLSX, Parquet.

Everything is read as text first (never guessing types silently), so that each bad value can
be reported with its file, column and row. Raw files are only ever opened for reading.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import Problem, ValidationError

__all__ = ["RawTable", "read_raw_table", "detect_encoding", "detect_delimiter"]

_ENCODINGS = ("utf-8-sig", "utf-8", "cp1252")
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class RawTable:
    """A table as read from its file: every cell a string (or missing), plus how it was read.

    ``row_offset`` turns a 0-based record index into the row number of the file: 2 for CSV and
    XLSX (the header is row 1), 1 for Parquet.
    """

    path: Path
    frame: pd.DataFrame
    row_offset: int
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "."

    @property
    def name(self) -> str:
        return self.path.name


def detect_encoding(data: bytes) -> str:
    """UTF-8 with BOM, UTF-8, or cp1252 (Excel's Western default), in that order."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 and not cp1252 (byte {data[exc.start]:#04x} at offset "
                         f"{exc.start})") from exc


def detect_delimiter(text: str) -> str:
    """The delimiter of the header line: the candidate that splits it into the most fields."""
    header = text.split("\n", 1)[0]
    best, best_n = ",", 1
    for d in _DELIMITERS:
        try:
            n = len(next(csv.reader([header], delimiter=d)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = d, n
    return best


def _read_csv(path: Path, encoding: str, delimiter: str, decimal: str) -> RawTable:
    data = path.read_bytes()
    file = path.name
    if not data.strip():
        raise ValidationError([Problem(file, None, None, None, "file is empty")])
    try:
        enc = detect_encoding(data) if encoding == "auto" else encoding
        text = data.decode(enc)
    except (ValueError, LookupError) as exc:
        raise ValidationError([Problem(file, None, None, None,
                                       f"cannot decode text ({exc})")]) from exc
    if enc == "utf-8" and text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sep = detect_delimiter(text) if delimiter == "auto" else delimiter
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_filter=False, skip_blank_lines=True, engine="c")
    except (pd.errors.ParserError, ValueError) as exc:
        row = _parser_error_row(str(exc))
        raise ValidationError([Problem(file, None, row, None,
                                       f"malformed CSV with delimiter {sep!r}: {exc}")]) from exc
    dec = decimal if decimal != "auto" else ("," if sep != "," else ".")
    return RawTable(path, _clean_frame(frame, file), row_offset=2, encoding=enc, delimiter=sep,
                    decimal=dec)


def _parser_error_row(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _read_excel(path: Path, sheet: str | int) -> RawTable:
    try:
        frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
    except (ValueError, KeyError, OSError) as exc:
        raise ValidationError([Problem(path.name, None, None, None,
                                       f"cannot read workbook sheet {sheet!r}: {exc}")]) from exc
    return RawTable(path, _clean_frame(frame.map(_cell_to_text), path.name), row_offset=2)


def _read_parquet(path: Path) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ValidationError([Problem(path.name, None, None, None,
                                       f"cannot read Parquet: {exc}")]) from exc
    return RawTable(path, _clean_frame(frame.astype(object).map(_cell_to_text), path.name),
                    row_offset=1)


def _cell_to_text(value) -> str:
    """Typed cells (XLSX, Parquet) to the text a CSV export would hold."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _clean_frame(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """Strip headers and cells; empty cells become missing; duplicate headers are an error."""
    cols = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    dups = sorted({c for c in cols if cols.count(c) > 1})
    unnamed = [c for c in cols if c == "" or c.startswith("Unnamed: ")]
    problems = [Problem(file, c, 1, c, "column name appears more than once") for c in dups]
    if problems:
        raise ValidationError(problems)
    frame = frame.copy()
    frame.columns = cols
    if unnamed:
        # Trailing empty columns are what Excel leaves behind; drop them when they hold nothing.
        empty = [c for c in unnamed if frame[c].astype(str).str.strip().eq("").all()]
        frame = frame.drop(columns=empty)
    out = {}
    for c in frame.columns:
        s = frame[c].astype("string").str.strip()
        out[c] = s.mask(s == "")
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def read_raw_table(path: Path, *, encoding: str = "auto", delimiter: str = "auto",
                   decimal: str = "auto") -> RawTable:
    """Read one table file as text cells.

    Parameters
    ----------
    path : Path
        ``.csv``/``.txt``, ``.xlsx`` (``file.xlsx#Sheet`` picks a sheet) or ``.parquet``.
    encoding, delimiter, decimal : str
        ``"auto"`` detects them (CSV only).

    Raises
    ------
    ValidationError
        Missing, empty, undecodable or malformed files, duplicate column names.
    """
    path = Path(path)
    sheet: str | int = 0
    if path.suffix.lower().startswith(".xlsx#") or "#" in path.name:
        name, _, sheet = path.name.partition("#")
        path = path.with_name(name)
    if not path.is_file():
        raise ValidationError([Problem(path.name, None, None, None, f"file not found: {path}")])
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path, encoding, delimiter, decimal)
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, sheet)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    raise ValidationError([Problem(path.name, None, None, None,
                                   f"unsupported file type {suffix!r} (csv, xlsx, parquet)")])
