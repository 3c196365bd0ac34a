"""Reading raw export tables: CSV in any of the encodings and dialects Excel writes, XLSX,
Parquet, SPSS ``.sav``/``.zsav``.

Everything is read as text first (never guessing types silently), so that each bad value can
be reported with its file, column and row. The one exception is asked for by the loader
(``read_raw_table(..., typed=True)``): numeric Parquet columns - typed by the file itself, not
guessed - stay numbers, and only the cells that break a rule are turned into the text a CSV
export would hold (:func:`text_cells`), for messages. Raw files are only ever opened for
reading. Several files of one table (one survey export per wave) are stacked by
:func:`stack_tables`, each row keeping its own file and row number.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from crqlab.errors import Problem, ValidationError

__all__ = ["RawTable", "read_raw_table", "detect_encoding", "detect_delimiter", "stack_tables",
           "is_typed", "text_cells", "cell_text", "MAX_CELL_CHARS", "SPSS_SUFFIXES"]

_ENCODINGS = ("utf-8-sig", "utf-8", "cp1252")
_DELIMITERS = (",", ";", "\t", "|")
_MAX_RAGGED = 1000  # ragged rows listed per file; the rest are counted
#: Longest cell (and column name) read: Excel's limit of 32,767 characters per cell.
MAX_CELL_CHARS = 32_767
SPSS_SUFFIXES = (".sav", ".zsav")


@dataclass(frozen=True)
class RawTable:
    """A table as read from its file: every cell a string (or missing), plus how it was read.

    Read with ``typed=True`` (:func:`read_raw_table`), a Parquet file's integer and float
    columns keep their numbers (:func:`is_typed`; a float NaN is a blank cell);
    :func:`text_cells` gives any column as text.

    ``row_offset`` is the file row of the first record: 2 for CSV and XLSX (the header is row 1),
    1 for Parquet and SPSS. ``rows`` holds the file row of each record when rows were skipped;
    :meth:`file_row` turns a 0-based record index into the row number of the file.

    A table stacked from several files (:func:`stack_tables`) keeps each record's file in
    ``sources``/``source_index`` (:meth:`file_of`). ``descriptions`` holds the question text of
    columns where the export gives one (Qualtrics' second header row, SPSS variable labels);
    ``labels`` SPSS value labels (column -> code as text -> label); ``user_missing`` SPSS
    user-missing values (column -> list of (low, high) ranges); ``platform`` the export layout
    found (``qualtrics``, ``surveymonkey``, ``spss``) and ``layout`` how it was read.
    """

    path: Path
    frame: pd.DataFrame
    row_offset: int
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "."
    rows: np.ndarray | None = None
    sources: tuple[str, ...] = ()
    source_index: np.ndarray | None = None
    descriptions: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    user_missing: dict = field(default_factory=dict)
    platform: str | None = None
    layout: str | None = None
    sheet: str | None = None

    @property
    def name(self) -> str:
        """The file's name (``book.xlsx#Sheet`` when study.yaml picks a sheet; ``a.csv +
        b.csv`` for a stacked table)."""
        if self.sources:
            return " + ".join(self.sources)
        return f"{self.path.name}#{self.sheet}" if self.sheet else self.path.name

    def file_row(self, index: int) -> int:
        """The row number, as numbered in the file, of the record at 0-based ``index``."""
        if self.rows is not None:
            return int(self.rows[index])
        return int(index) + self.row_offset

    def file_of(self, index: int) -> str:
        """The name of the file that holds the record at 0-based ``index``."""
        if self.source_index is not None:
            return self.sources[int(self.source_index[index])]
        return self.name

    def file_rows(self) -> np.ndarray:
        """The file row of every record."""
        if self.rows is not None:
            return np.asarray(self.rows)
        return np.arange(len(self.frame), dtype=np.int64) + self.row_offset

    def subset(self, keep: np.ndarray) -> RawTable:
        """The records where ``keep`` is true, with their row numbers and files."""
        keep = np.asarray(keep, dtype=bool)
        if keep.all():
            return self
        return self.take(np.flatnonzero(keep))

    def take(self, positions: np.ndarray) -> RawTable:
        """The records at 0-based ``positions`` (in that order, repeats allowed), with their
        row numbers and files."""
        positions = np.asarray(positions, dtype=np.int64)
        run = len(positions) and positions[-1] - positions[0] == len(positions) - 1 and \
            bool((np.diff(positions) == 1).all())
        rows = self.frame.iloc[positions[0]:positions[-1] + 1] if run else \
            self.frame.iloc[positions]  # a run of rows (header rows skipped) is a cheap slice
        frame = rows.reset_index(drop=True)
        index = None if self.source_index is None else np.asarray(self.source_index)[positions]
        return replace(self, frame=frame, rows=self.file_rows()[positions], source_index=index)


def stack_tables(tables: list[RawTable]) -> RawTable:
    """Several files of one table as one: columns united (a column missing from a file is blank
    there), every record keeping its file (:meth:`RawTable.file_of`) and row number.

    Notes
    -----
    Tested in ``tests/data/test_readers.py`` (files, rows and columns of a stacked table).
    """
    if len(tables) == 1:
        return tables[0]
    columns = list(dict.fromkeys(c for t in tables for c in t.frame.columns))
    # a column typed alike in every file stays typed; any other is text in every file
    typed = {c for c in columns if all(c in t.frame.columns and is_typed(t.frame[c])
                                       for t in tables)
             and len({str(t.frame[c].dtype) for t in tables}) == 1}
    parts = []
    for t in tables:
        part = t.frame.reindex(columns=columns)
        retyped = {c: text_cells(part[c]) for c in part.columns
                   if c not in typed and is_typed(part[c]) and c in t.frame.columns}
        parts.append(part.assign(**retyped) if retyped else part)
    frame = pd.concat(parts, ignore_index=True)
    if not typed:
        frame = frame.astype("string")
    else:
        text = [c for c in columns if c not in typed]
        frame = frame.assign(**{c: frame[c].astype("string") for c in text})
    first = tables[0]
    merged: dict = {}
    for key in ("descriptions", "labels", "user_missing"):
        merged[key] = {k: v for t in reversed(tables) for k, v in getattr(t, key).items()}
    return replace(
        first, frame=frame, rows=np.concatenate([t.file_rows() for t in tables]),
        sources=tuple(t.name for t in tables),
        source_index=np.repeat(np.arange(len(tables)), [len(t.frame) for t in tables]),
        platform=", ".join(dict.fromkeys(t.platform for t in tables if t.platform)) or None,
        layout="; ".join(dict.fromkeys(t.layout for t in tables if t.layout)) or None, **merged)


def detect_encoding(data: bytes) -> str:
    """UTF-8 with BOM, UTF-16 with BOM (Qualtrics' TSV export), UTF-8, or cp1252 (Excel's
    Western default), in that order."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the codec reads the byte-order mark and drops it
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
    end = text.find("\n")
    header = text[:end] if end >= 0 else text  # (split would copy the rest of the text)
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
    if not data or data.isspace():  # (strip would copy the bytes)
        raise ValidationError([Problem(file, None, None, None, "file is empty")])
    try:
        enc = detect_encoding(data) if encoding == "auto" else encoding
        text = data.decode(enc)
    except LookupError as exc:
        raise ValidationError([Problem(file, None, None, None,
                                       f"unknown encoding {encoding!r} ({exc})")]) from exc
    except ValueError as exc:
        raise ValidationError([_undecodable(data, file, "cp1252" if encoding == "auto"
                                            else encoding, exc)]) from exc
    if enc == "utf-8" and text.startswith("\ufeff"):
        text = text[1:]
    frame, sep = None, None
    if '"' in text and codecs.lookup(enc).name in ("utf-8", "utf-8-sig"):
        frame, sep = _quoted_csv(data, delimiter)
    if frame is None:
        # the file's own bytes are the parser's input when they are the text's UTF-8 already
        same = codecs.lookup(enc).name in ("utf-8", "utf-8-sig") and b"\r" not in data
        raw = (memoryview(data)[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8)
               else data) if same else None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        sep = detect_delimiter(text) if delimiter == "auto" else delimiter
        frame = _fast_csv(text, sep, raw) if '"' not in text else None
        del raw
    if frame is None:
        header, records = _split_csv(text, sep, file)
        frame = pd.DataFrame(records, columns=header, dtype=object)
    dec = decimal if decimal != "auto" else ("," if sep != "," else ".")
    del data, text  # the file's text is not needed once split into cells
    names, columns, n = list(frame.columns), _columns_of(frame), len(frame)
    del frame  # each column's text is freed once it is trimmed
    frame, rows = _clean_columns(names, columns, n, file, first_row=2)
    return RawTable(path, frame, row_offset=2, encoding=enc, delimiter=sep, decimal=dec, rows=rows)


def _undecodable(data: bytes, file: str, encoding: str, exc: Exception) -> Problem:
    """The first byte that does not decode, with the row it is in (rows as in the file)."""
    try:
        data.decode(encoding)
        start = None
    except UnicodeDecodeError as err:
        start = err.start
    if start is None:
        return Problem(file, None, None, None, f"cannot decode text ({exc})")
    prefix = data[:start].decode(encoding)
    with _no_field_limit():
        row = sum(1 for _ in csv.reader(io.StringIO(prefix, newline="")))
    row += prefix == "" or prefix.endswith(("\n", "\r"))  # the bad byte starts a new row
    return Problem(file, None, row, f"{data[start]:#04x}",
                   f"cannot decode text: byte {data[start]:#04x} at offset {start} is neither "
                   f"{'UTF-8 nor cp1252' if encoding == 'cp1252' else encoding}")


def _fast_csv(text: str, sep: str, raw=None) -> pd.DataFrame | None:
    """The common case through Arrow's CSV parser, or None to take :func:`_split_csv`.

    Taken only when no cell is quoted, so every line of the file is exactly one row (blank
    lines kept as rows, so numbering is unchanged); a ragged row makes the parser fail and
    falls back to the careful splitter, which lists every such row. Every column is read as
    Arrow text once and handed on without a copy (pandas' C parser made Python strings that
    were converted to Arrow again: 60% of a million-response load, issue 21). A delimiter
    that is not one ASCII character goes through pandas' C parser. Same result as
    :func:`_split_csv` (``tests/data/test_readers.py``), several times faster on large exports.
    ``raw``, when given, is ``text`` as UTF-8 bytes (the file's own), parsed without a copy.
    """
    if '"' in text or not text or text.isspace():  # (strip would copy the text)
        return None
    end = text.find("\n")
    header = (text[:end] if end >= 0 else text).split(sep)  # no quotes: the parser splits so
    if not any(h.strip() for h in header):
        return None
    if len(sep) != 1 or ord(sep) > 127:
        return _fast_csv_pandas(text, sep, header)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"f{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8") if raw is None else raw),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=False,
                                             ignore_empty_lines=False),
            # large_string: what pandas keeps text as (no second copy of the offsets)
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names}, strings_can_be_null=False))
    except (pa.ArrowInvalid, ValueError):
        return None
    text_type = pd.StringDtype()
    body = table.to_pandas(types_mapper=lambda t: text_type if t == pa.large_string() else None)
    body.columns = header
    return body


def _fast_csv_pandas(text: str, sep: str, header: list[str]) -> pd.DataFrame | None:
    """:func:`_fast_csv` for a delimiter Arrow's parser does not take (several characters)."""
    try:  # the header by hand: reading it as a row would cost a pass over every column
        with warnings.catch_warnings():
            # a first record longer than the header is only a warning (and cut short) in pandas
            warnings.simplefilter("error", pd.errors.ParserWarning)
            body = pd.read_csv(io.StringIO(text), sep=sep, header=None, names=range(len(header)),
                               skiprows=1, index_col=False, dtype=str, keep_default_na=False,
                               na_filter=False, skip_blank_lines=False, engine="c",
                               quoting=csv.QUOTE_NONE)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        return None
    body.columns = header
    return body


def _quote_scan(data: np.ndarray, sep: int, block: int = 1 << 18) -> tuple[bool, bool]:
    """Whether every quote in the (UTF-8) bytes is where the strict CSV reader accepts one,
    and whether a carriage return sits inside a quoted cell.

    Counting quotes left to right, an odd-numbered quote opens a quoted field and must follow
    a delimiter, a line break, the start of the text or a quote (the second of an escaped
    pair ``""``); an even-numbered one closes it and must precede a delimiter, a line break,
    the end or a quote. Exactly the files :func:`_split_csv` reads without a quoting error
    pass, except those with a quote inside an unquoted field (``ab"c``), which are sent to it.
    The bytes are scanned in blocks that stay in the processor's cache, carrying the quote
    parity from block to block.
    """
    parity, last, n, returns = 0, 10, len(data), False  # 10, 13: line feed, carriage return
    for start in range(0, n, block):
        c = data[start:start + block]
        quote = c == 34
        inside = np.bitwise_xor.accumulate(quote.view(np.uint8)) ^ parity
        prev = np.concatenate(([last], c[:-1]))
        nxt = np.concatenate((c[1:], [data[start + block] if start + block < n else 10]))
        open_ok = (prev == sep) | (prev == 10) | (prev == 13) | (prev == 34)
        close_ok = (nxt == sep) | (nxt == 10) | (nxt == 13) | (nxt == 34)
        if (quote & (inside == 1) & ~open_ok).any() or (quote & (inside == 0) & ~close_ok).any():
            return False, returns
        returns = returns or bool(((c == 13) & (inside == 1)).any())
        parity, last = int(inside[-1]), int(c[-1])
    return parity == 0, returns  # odd parity: a quoted field runs to the end of the text


def _quoted_csv(data: bytes, delimiter: str) -> tuple[pd.DataFrame | None, str | None]:
    """A UTF-8 CSV with quoted fields (Qualtrics quotes every field) through Arrow's parser;
    (None, None) to take :func:`_split_csv`.

    Works on the bytes (line endings unified as the careful path does), taken only when every
    quote is where the strict reader accepts one (:func:`_quote_scan`): Arrow's parser
    reads a malformed field such as ``"ab"c`` as ``abc`` without a word, so such files go to
    the careful splitter, which reports them. Records are rows as a spreadsheet numbers them (a
    quoted cell spanning lines is one row, a blank line a row of empty cells); a ragged row
    makes Arrow fail, and the careful splitter lists every one. Same result as
    :func:`_split_csv` (``tests/data/test_readers.py``), several times faster on a 50 MB
    Qualtrics export. Returns the frame and the delimiter.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = data.removeprefix(codecs.BOM_UTF8)
    end = re.search(rb"[\r\n]", data)
    first = (data if end is None else data[:end.start()]).decode("utf-8", errors="replace")
    sep = detect_delimiter(first) if delimiter == "auto" else delimiter
    if len(sep) != 1 or ord(sep) > 127 or first.count('"') % 2 or not data.strip():
        return None, None
    strict, returns = _quote_scan(np.frombuffer(data, dtype=np.uint8), ord(sep))
    if not strict:
        return None, None
    try:
        header = next(csv.reader([first], delimiter=sep, strict=True))
    except (csv.Error, StopIteration):
        return None, None
    if not any(h.strip() for h in header):
        return None, None
    names = [f"f{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, ValueError):
        return None, None
    if returns:  # line breaks inside cells read as \n, as the careful path reads them
        table = _unified_line_breaks(table)
    text_type = pd.StringDtype()
    body = table.to_pandas(types_mapper=lambda t: text_type if t == pa.string() else None)
    body.columns = header
    return body, sep


def _unified_line_breaks(table):
    """Cells with ``\r\n`` or ``\r`` inside, written with ``\n``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for col in table.columns:
        if pc.any(pc.match_substring(col, "\r")).as_py():
            col = pc.replace_substring(pc.replace_substring(col, "\r\n", "\n"), "\r", "\n")
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)


@contextlib.contextmanager
def _no_field_limit():
    """Lift csv's field limit (131,072 characters) while reading: a long cell is then named
    by column and row in :func:`_check_cell_sizes` instead of failing the whole file."""
    old = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _split_csv(text: str, sep: str, file: str) -> tuple[list[str], list[list[str]]]:
    """Header and records of CSV text, one record per row of the file (blank rows included).

    Rows are counted as a spreadsheet shows them: the header is row 1, a quoted field spanning
    several lines is one row, a blank line is a row. Rows with more non-empty fields than the
    header are errors (every one is listed); shorter rows are padded with empty cells.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    records: list[list[str]] = []
    problems: list[Problem] = []
    ragged = 0
    row = 0
    try:
        with _no_field_limit():
            for row, rec in enumerate(reader, start=1):
                records.append(rec)
    except csv.Error as exc:
        raise ValidationError([Problem(file, None, row + 1, None,
                                       f"malformed CSV with delimiter {sep!r}: {exc}")]) from exc
    if not records or not any(c.strip() for c in records[0]):
        raise ValidationError([Problem(file, None, 1, None, "the header row (row 1) is empty")])
    header, body = records[0], records[1:]
    width = len(header)
    for i, rec in enumerate(body):
        if len(rec) > width:
            extra = rec[width:]
            if any(c.strip() for c in extra):
                ragged += 1
                if len(problems) < _MAX_RAGGED:
                    problems.append(Problem(
                        file, None, i + 2, sep.join(extra).strip(),
                        f"row has {len(rec)} fields but the header has {width} "
                        f"(delimiter {sep!r}); the extra fields are shown"))
            del rec[width:]
        elif len(rec) < width:
            rec.extend([""] * (width - len(rec)))
    if problems:
        raise ValidationError(problems, truncated=ragged - len(problems))
    return header, body


def _workbook_errors() -> tuple[type[BaseException], ...]:
    """What openpyxl raises on a file that is not a readable workbook."""
    import zlib

    from openpyxl.utils.exceptions import InvalidFileException

    # SyntaxError: xml.etree's ParseError on damaged XML inside the zip
    return (ValueError, KeyError, IndexError, TypeError, AttributeError, OSError, EOFError,
            SyntaxError, zipfile.BadZipFile, zlib.error, InvalidFileException)


def _read_excel(path: Path, sheet: str | int) -> RawTable:
    """A worksheet as text cells; every row kept so that rows are numbered as in the sheet.

    Cached values are read (``data_only``). A formula cell without a cached value (the file
    was written by a program that does not calculate), a cell holding a spreadsheet error
    (``#DIV/0!``, ``#N/A``) and merged cells are errors naming the cell, never read as
    missing. Duplicate headers are seen as written.

    Notes
    -----
    Tested in ``tests/hardening/test_hostile_inputs.py`` (formula without cached value, merged cells,
    error cells) and ``tests/data/test_study_malformed.py`` (an XLSX export).
    """
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True, keep_links=False)
        try:
            ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet]
            ws.reset_dimensions()  # declared dimensions can be wrong; read what is there
            rows, errors = _sheet_rows(ws)
            xml = wb._archive.read(ws._worksheet_path)  # merged cells and formulas
        finally:
            wb.close()
    except _workbook_errors() as exc:
        raise _unreadable(path, sheet, exc) from exc
    if not rows or not any(v is not None for v in rows[0]):
        raise ValidationError([Problem(path.name, None, 1, None,
                                       "the header row (row 1) is empty")])
    header = [_cell_to_text(v) for v in rows[0]]
    problems = _merged_cells(xml, path.name) + _error_cells(errors, header, path.name)
    if re.search(rb"<(?:\w+:)?f[\s>/]", xml):
        try:
            problems += _uncached_formulas(path, sheet, rows, header)
        except _workbook_errors() as exc:
            raise _unreadable(path, sheet, exc) from exc
    if problems:
        raise ValidationError(problems[:_MAX_RAGGED], truncated=max(len(problems) - _MAX_RAGGED, 0))
    width = max(len(r) for r in rows)
    body = pd.DataFrame([[_cell_to_text(v) for v in r] + [""] * (width - len(r)) for r in rows[1:]],
                        columns=range(width), dtype=object)
    body.columns = header + [""] * (width - len(header))
    body, rows_kept = _clean_frame(body, path.name, first_row=2)
    return RawTable(path, body, row_offset=2, rows=rows_kept,
                    sheet=sheet if isinstance(sheet, str) else None)


def _unreadable(path: Path, sheet: str | int, exc: BaseException) -> ValidationError:
    return ValidationError([Problem(path.name, None, None, None, f"cannot read workbook sheet "
                                    f"{sheet!r}: {type(exc).__name__}: {exc}")])


def _sheet_rows(ws) -> tuple[list[list], list[tuple[int, int, object]]]:
    """Cell values row by row (row 1 first), and the (row, column, value) of error cells."""
    rows, errors = [], []
    for r, row in enumerate(ws.iter_rows(), start=1):
        values = []
        for c, cell in enumerate(row, start=1):
            if cell.data_type == "e":
                errors.append((r, c, cell.value))
                values.append(None)
            else:
                values.append(cell.value)
        rows.append(values)
    return rows, errors


def _column_name(header: list[str], c: int) -> str:
    """The header of 1-based column ``c``, or its letter where the header is blank."""
    from openpyxl.utils import get_column_letter

    name = header[c - 1].strip() if c <= len(header) else ""
    return name or get_column_letter(c)


def _merged_cells(xml: bytes, file: str) -> list[Problem]:
    refs = re.findall(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"', xml)
    out = []
    for ref in refs:
        text = ref.decode("ascii")
        row = int(re.search(r"[0-9]+", text).group())
        out.append(Problem(file, None, row, text, f"merged cells {text}: unmerge them so that "
                           "every cell holds its own value"))
    return out


def _error_cells(errors: list, header: list[str], file: str) -> list[Problem]:
    return [Problem(file, _column_name(header, c), r, value,
                    "the cell holds a spreadsheet error, not a value (a formula that failed); "
                    "fix or clear it") for r, c, value in errors]


def _uncached_formulas(path: Path, sheet: str | int, rows: list[list],
                       header: list[str]) -> list[Problem]:
    """Formula cells whose cached value is missing (data_only reads them as empty)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False, keep_links=False)
    out = []
    try:
        ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet]
        ws.reset_dimensions()
        for r, row in enumerate(ws.iter_rows(), start=1):
            for c, cell in enumerate(row, start=1):
                cached = rows[r - 1][c - 1] if r <= len(rows) and c <= len(rows[r - 1]) else None
                if cell.data_type == "f" and cached is None:
                    out.append(Problem(path.name, _column_name(header, c), r, str(cell.value),
                                       "formula without a saved value (the file was written "
                                       "by a program that does not calculate): open and save "
                                       "it in Excel, or paste values"))
    finally:
        wb.close()
    return out


def _read_parquet(path: Path, typed: bool = False) -> RawTable:
    """A Parquet file: text columns as text, numeric columns as text too, or (``typed``) kept
    as the file's numbers; the file's own index (pandas metadata) is not a column."""
    try:  # a block per column, each Arrow column freed once converted: half the peak memory
        frame = pd.read_parquet(path, to_pandas_kwargs={"split_blocks": True,
                                                        "self_destruct": True})
    except (OSError, ValueError) as exc:
        raise ValidationError([Problem(path.name, None, None, None,
                                       f"cannot read Parquet: {exc}")]) from exc
    names, columns, n = list(frame.columns), _columns_of(frame), len(frame)
    del frame  # each column is turned into text (or kept) on its own
    for j in range(len(names)):
        s = columns[j].reset_index(drop=True)
        columns[j] = s if typed and is_typed(s) else _column_to_text(s)
    clean, rows = _clean_columns(names, columns, n, path.name, first_row=1)
    return RawTable(path, clean, row_offset=1, rows=rows)


def _read_spss(path: Path) -> RawTable:
    """An SPSS ``.sav``/``.zsav`` file through pyreadstat: codes as text, with the file's value
    labels, user-missing values and variable labels (the question text) kept beside them.

    Cases are numbered from 1, as SPSS' Data View shows them. User-missing values are read as
    their codes (``user_missing=True``) and recorded per column, so that the loader can count
    them as missing answers rather than as off-scale values; value labels are applied by the
    loader to text and category columns only (scored answers keep their codes).

    Notes
    -----
    Tested in ``tests/data/test_readers.py`` and ``tests/exports/`` (files written with
    pyreadstat's own writer, value labels and user-missing ranges read back).
    """
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True, apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own ReadstatError and plain Exceptions
        raise ValidationError([Problem(path.name, None, None, None,
                                       f"cannot read SPSS file: {exc}")]) from exc
    text = pd.DataFrame({c: _column_to_text(frame[c]) for c in frame.columns}, index=frame.index)
    text.columns = list(frame.columns)
    clean, rows = _clean_frame(text, path.name, first_row=1)
    labels = {c: {_cell_to_text(k): str(v) for k, v in m.items()}
              for c, m in (meta.variable_value_labels or {}).items()}
    missing = {c: [(float(r["lo"]), float(r["hi"])) for r in ranges]
               for c, ranges in (meta.missing_ranges or {}).items()
               if all(isinstance(r["lo"], (int, float)) for r in ranges)}
    described = {c: str(d) for c, d in (meta.column_names_to_labels or {}).items() if d}
    return RawTable(path, clean, row_offset=1, rows=rows, descriptions=described, labels=labels,
                    user_missing=missing, platform="spss",
                    layout=f"SPSS file, {len(labels)} columns with value labels, "
                           f"{len(missing)} with user-missing values")


def is_typed(s: pd.Series) -> bool:
    """Whether a raw table's column holds numbers rather than text: an integer or float
    column of a Parquet file read with ``typed=True`` (booleans are not numbers here)."""
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype)


def text_cells(s: pd.Series) -> pd.Series:
    """A raw table's column as text: a text column as it is, a typed one (:func:`is_typed`) as
    the text a CSV export of it would hold (``9``, ``9.5``, ``inf``; NaN blank).

    Notes
    -----
    The text is exactly what ``read_raw_table(..., typed=False)`` gives for the column
    (``tests/data/test_readers.py``).
    """
    if not is_typed(s):
        return s
    return _column_to_text(s)


def cell_text(value) -> str:
    """One typed cell as the text a CSV export would hold (:func:`text_cells` of one cell)."""
    return _cell_to_text(value)


def _column_to_text(s: pd.Series) -> pd.Series:
    """A typed column as the text a CSV export would hold: :func:`_cell_to_text`, vectorised
    for the plain dtypes (integers, floats, booleans, strings).

    Integers, whole floats and booleans are turned into text by Arrow's cast (several times
    faster than NumPy's ``astype(str)`` on a million rows); missing cells stay missing.
    """
    import pyarrow as pa

    missing = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype):
        arr = pa.array(s.fillna(False).to_numpy(dtype=bool), mask=missing).cast(pa.string())
    elif pd.api.types.is_integer_dtype(s.dtype):
        # in the column's own width and sign: uint64 max must not wrap round to -1
        kind = getattr(s.dtype, "numpy_dtype", s.dtype)
        arr = pa.array(s.fillna(0).to_numpy(dtype=kind), mask=missing).cast(pa.string())
    elif pd.api.types.is_float_dtype(s.dtype):
        x = s.to_numpy(dtype=float, na_value=np.nan)
        small = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < 2**53)
        other = ~small & ~np.isnan(x)
        whole = np.where(small, x, 0).astype(np.int64)
        arr = pa.array(whole, mask=~small).cast(pa.string())
        if other.any():  # fractions, infinities, huge values: written as _cell_to_text does
            vals = arr.to_numpy(zero_copy_only=False)
            vals[other] = [_cell_to_text(float(v)) for v in x[other]]
            arr = pa.array(vals, type=pa.string())
    elif pd.api.types.is_string_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return s.astype("string")
    else:
        return s.astype(object).map(_cell_to_text)
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=s.index, name=s.name)


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


def _columns_of(frame: pd.DataFrame) -> list[pd.Series]:
    """The frame's columns by position (names may repeat; :func:`_column_names` reports that)."""
    return [frame.iloc[:, j] for j in range(frame.shape[1])]


def _clean_frame(frame: pd.DataFrame, file: str,
                 first_row: int) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`_clean_columns` of a frame's columns."""
    return _clean_columns(list(frame.columns), _columns_of(frame), len(frame), file, first_row)


def _clean_columns(names: list, columns: list[pd.Series], n: int, file: str,
                   first_row: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Strip headers and cells; empty cells become missing; duplicate headers are an error.

    Rows with no value at all (blank lines, the ``;;;`` rows Excel leaves) are dropped; the
    second return value is the file row of each kept record (record 0 is ``first_row``).
    Cells (and column names) longer than :data:`MAX_CELL_CHARS` are errors.

    Notes
    -----
    Each column is trimmed by one Arrow call and the frame is filtered once, so the cost is
    linear in cells and columns: a 50,000-column file is cleaned in seconds (the duplicate-name
    check was quadratic before: ``list.count`` per column). Typed columns (:func:`is_typed`) are
    kept as they are, NaN counting as blank. ``columns`` (``n`` cells each, named ``names``)
    is emptied: each text column is freed once trimmed, so a caller that keeps no other
    reference holds one untrimmed column at a time. Tested in ``tests/data/test_readers.py``
    and ``tests/hardening/test_hostile_inputs.py``.
    """
    import pyarrow as pa

    cols = _column_names(names, file)
    k = len(columns)
    typed = {j: s for j, s in enumerate(columns) if is_typed(s)}
    texts = [j for j in range(k) if j not in typed]
    text_columns = [columns[j] for j in texts]
    columns.clear()
    cells = _trimmed(text_columns)  # text columns, one after another
    _check_cell_sizes(cells, [cols[j] for j in texts], n, file, first_row)
    blank = np.empty((k, n), dtype=bool)
    if texts:
        blank[texts] = cells.is_null().to_numpy(zero_copy_only=False).reshape(len(texts), n)
    for j, s in typed.items():
        blank[j] = s.isna().to_numpy(dtype=bool)
    keep = ~blank.all(axis=0) if k else np.zeros(n, dtype=bool)
    # Trailing empty columns are what Excel leaves behind; drop them when they hold nothing.
    kept = [j for j, c in enumerate(cols) if not (c.startswith("Unnamed: ") and blank[j].all())]
    del blank
    if not kept:
        return pd.DataFrame(index=pd.RangeIndex(0)), np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(keep)
    m = len(rows)
    kept_text = [j for j in kept if j not in typed]
    place = {j: i for i, j in enumerate(texts)}
    if m == n:  # no blank row: each column is a zero-copy slice
        columns = [cells.slice(place[j] * n, n) for j in kept_text]
    else:
        where = np.asarray([place[j] for j in kept_text], dtype=np.int64)
        taken = cells.take(pa.array((where[:, None] * n + rows[None, :]).ravel()))
        columns = [taken.slice(i * m, m) for i in range(len(kept_text))]
    table = pa.Table.from_arrays(columns, names=[cols[j] for j in kept_text])
    del cells
    text = pd.StringDtype()  # what astype("string") gives
    clean = table.to_pandas(types_mapper=lambda t: text if t in (pa.string(), pa.large_string())
                            else None)
    if not typed:
        return clean, rows + first_row
    out = {}
    for j in kept:
        if j in typed:
            s = typed[j]
            out[cols[j]] = s.array if m == n else s.array.take(rows)
        else:
            out[cols[j]] = clean[cols[j]].array
    return pd.DataFrame(out, copy=False), rows + first_row


def _column_names(names: list, file: str) -> list[str]:
    """Header cells stripped (``Unnamed: i`` where empty); duplicates and huge names are errors."""
    from collections import Counter

    cols = [str(c).strip().lstrip("\ufeff").strip() for c in names]
    cols = [c if c else f"Unnamed: {i}" for i, c in enumerate(cols)]
    problems = [Problem(file, c, 1, c, "column name appears more than once")
                for c, n in sorted(Counter(cols).items()) if n > 1]
    problems += [Problem(file, c, 1, None, f"column name is {len(c):,} characters long; at most "
                         f"{MAX_CELL_CHARS:,} are allowed")
                 for c in cols if len(c) > MAX_CELL_CHARS]
    if problems:
        raise ValidationError(problems[:_MAX_RAGGED], truncated=max(len(problems) - _MAX_RAGGED, 0))
    return cols


def _trimmed(columns: list[pd.Series]):
    """The columns end to end as one Arrow text array (``large_string``, as pandas keeps text),
    trimmed, empty cells missing. ``columns`` is emptied as each column is trimmed, so that a
    column's untrimmed text is freed as soon as its trimmed copy exists."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    columns.reverse()
    while columns:
        s = columns.pop()
        if isinstance(s.array, pd.arrays.ArrowStringArray):
            chunks = pa.chunked_array(s.array.__arrow_array__()).chunks
        else:
            chunks = [pa.array(s.astype("string").to_numpy(dtype=object, na_value=None),
                               type=pa.large_string())]
        del s
        while chunks:
            c = chunks.pop(0)
            c = c if c.type == pa.large_string() else c.cast(pa.large_string())
            out.append(_blank_as_null(c if _printable(c) else pc.utf8_trim_whitespace(c)))
            del c
    return pa.chunked_array(out, type=pa.large_string())


def _printable(chunk) -> bool:
    """Whether a text array's bytes are all printable ASCII other than space, so that no cell
    has whitespace to trim (a column of numbers, codes or ids): trimming it would only copy it."""
    data = chunk.buffers()[2]
    if data is None:
        return True
    b = np.frombuffer(data, dtype=np.uint8)
    return not bool(((b <= 0x20) | (b >= 0x7F)).any())


def _blank_as_null(chunk):
    """Empty cells of an Arrow text array made missing: a new validity bitmap over the same
    text buffers (``if_else`` would copy every string once more)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    filled = pc.greater(pc.binary_length(chunk), 0)
    if chunk.null_count:
        filled = pc.fill_null(filled, False)
    if chunk.offset or filled.offset:
        return pc.if_else(filled, chunk, pa.scalar(None, chunk.type))
    return pa.Array.from_buffers(chunk.type, len(chunk),
                                 [filled.buffers()[1], *chunk.buffers()[1:]])


def _most_bytes(cells) -> int:
    """At least the byte length of the longest cell, read off each chunk's offsets (no array of
    lengths of every cell)."""
    most = 0
    for c in cells.chunks:
        if not len(c):
            continue
        width = 8 if str(c.type) == "large_string" else 4
        offsets = np.frombuffer(c.buffers()[1], dtype=np.int64 if width == 8 else np.int32,
                                count=len(c) + 1, offset=c.offset * width)
        most = max(most, int(np.diff(offsets).max()))
    return most


def _check_cell_sizes(cells, cols: list[str], n: int, file: str, first_row: int) -> None:
    """A cell longer than :data:`MAX_CELL_CHARS` (Excel's limit) is an error (value cut short).

    ``cells`` holds the columns end to end, ``n`` cells each.
    """
    import pyarrow.compute as pc

    if not len(cells) or _most_bytes(cells) <= MAX_CELL_CHARS:
        return  # no cell has that many bytes, so none has that many characters
    if (pc.max(pc.utf8_length(cells)).as_py() or 0) <= MAX_CELL_CHARS:
        return
    long = pc.greater(pc.utf8_length(cells), MAX_CELL_CHARS).to_numpy(zero_copy_only=False)
    where = np.flatnonzero(long.astype(bool, copy=False))
    problems = []
    for i in where[:20]:
        value = cells[int(i)].as_py()
        problems.append(Problem(file, cols[int(i) // n], int(i) % n + first_row, value,
                                f"cell holds {len(value):,} characters; at most "
                                f"{MAX_CELL_CHARS:,} are allowed (Excel's limit)"))
    raise ValidationError(problems, truncated=max(len(where) - 20, 0))


def read_raw_table(path: Path, *, encoding: str = "auto", delimiter: str = "auto",
                   decimal: str = "auto", typed: bool = False) -> RawTable:
    """Read one table file as text cells.

    Parameters
    ----------
    path : Path
        ``.csv``/``.txt``/``.tsv``, ``.xlsx`` (``file.xlsx#Sheet`` picks a sheet),
        ``.parquet`` or SPSS ``.sav``/``.zsav``.
    encoding, delimiter, decimal : str
        ``"auto"`` detects them (CSV only).
    typed : bool
        Keep a Parquet file's integer and float columns as numbers (:func:`is_typed`), for a
        reader that checks them as numbers and makes text (:func:`text_cells`) only for the
        cells it reports; every other column, and every other format, is text.

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
        return _read_parquet(path, typed)
    if suffix in SPSS_SUFFIXES:
        return _read_spss(path)
    raise ValidationError([Problem(path.name, None, None, None, f"unsupported file type "
                                   f"{suffix!r} (csv, tsv, xlsx, parquet, sav, zsav)")])
