"""Recording a notebook's results into a deterministic ``results.json``.

A study notebook records the numbers that matter (estimates with their uncertainty and n, test
statistics, small tables) while it runs and saves them at the end::

    from crqlab.reports import results
    results.record("nps", 23.4, ci=(15.1, 31.0), n=412, unit="points", headline=True)
    results.record("crq_index", crq_row, headline=True)      # a tidy row: est, se, ci_low, ...
    results.record_table("response_rate.by_wave", rates)
    results.finding("Where does the client stand?",
                    "The CRQ index of the latest wave is {est} {ci} on the 1-7 scale ({n}).",
                    est=5.93, ci=(5.87, 6.00), n=821, quantity="crq_index")
    results.save(results_path)

Keys follow ``docs/naming.md``: a recorded name is a dotted stem (``nps``,
``crq_index.wave_3``) and each quantity becomes ``<stem>.<field>`` with the field names of the
naming rule (``est``, ``se``, ``ci_low``, ``ci_high``, ``n``, ``stat``, ``df``, ``p_value``...).
The ``crqlab run`` index page shows the entries recorded with ``headline=True``; tests read the
file, never the HTML.

A **finding** (:func:`finding`) is a sentence or two in plain words answering one research
question, with the estimate, interval and n it rests on (or the reason it has none). The index
page opens with the findings of every notebook, grouped by question, and each report with a
"Key findings" box; both are rendered from ``results.json`` by :mod:`crqlab.reports.rendering`,
which writes the numbers of the placeholders ``{est}``, ``{ci}``, ``{n}`` and ``{p}`` by the
quantity's kind (:mod:`crqlab.formatting`). Findings are stored under ``findings`` (the key is
left out when a notebook records none, so older files stay byte-identical).

The file is deterministic: keys sorted, floats rounded to 10 significant digits and written in
their shortest ``repr``, NaN and infinities as ``null``, numpy and pandas scalars converted, and
no time stamps or paths - the same inputs give a byte-identical file. It is written atomically
(a temporary file in the same folder, then :func:`os.replace`).
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crqlab.errors import CrqlabError
from crqlab.files import write_atomic

__all__ = ["FIELDS", "FORMAT", "Recorder", "ResultsError", "record", "record_table", "save",
           "clear", "current", "to_json", "load", "headline", "clean_value", "write_atomic",
           "set_min_cell_size", "record_all", "FINDING_PLACEHOLDERS", "finding", "findings",
           "COUNT_FIELDS", "clean_count"]

#: Quantity names a recorded entry may carry (docs/naming.md), in display order.
FIELDS = ("est", "se", "ci_low", "ci_high", "n", "n_accounts", "n_groups", "stat", "df",
          "p_value", "suppressed")
#: Format tag written into every results file.
FORMAT = "crqlab.results/1"
#: Significant digits kept for floats.
SIGNIFICANT_DIGITS = 10
#: Rows of a table :func:`record_table` keeps (the first ones; larger tables are cut with a note).
MAX_TABLE_ROWS = 500
#: Fields and table columns that hold counts: recorded as whole numbers (an integral float such
#: as ``822.0`` from a pandas sum becomes ``822``), so every report shows them as counts.
COUNT_FIELDS = ("n", "n_accounts", "n_groups", "n_events")

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
#: Placeholders a finding's text may use; the renderer writes the recorded numbers there.
FINDING_PLACEHOLDERS = ("est", "ci", "n", "p")


class ResultsError(CrqlabError, ValueError):
    """A value or name cannot be recorded (bad name, unsupported type)."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ResultsError(f"result name {name!r} must be dotted snake_case, e.g. 'nps' or "
                           "'crq_index.wave_3' (docs/naming.md)")
    last = name.rsplit(".", 1)[-1]
    if last in FIELDS:
        raise ResultsError(f"result name {name!r} ends in the field {last!r}; record the stem "
                           f"({name.rsplit('.', 1)[0]!r}) and pass the field as an argument")
    return name


def clean_count(value: Any) -> Any:
    """A count in its JSON form: :func:`clean_value`, and an integral float as an ``int``
    (a weighted or otherwise fractional count stays a float)."""
    x = clean_value(value)
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def clean_value(value: Any) -> Any:
    """Turn a scalar into its JSON form: float rounded to 10 significant digits, NaN -> None.

    numpy and pandas scalars become Python ``int``/``float``/``bool``; ``pd.NA``/``NaT`` and
    non-finite floats become ``None``; dates become ISO strings; strings pass through.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None
        x = float(f"{x:.{SIGNIFICANT_DIGITS}g}")
        return 0.0 if x == 0 else x  # no "-0.0"
    if isinstance(value, str):
        return value
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if hasattr(value, "isoformat"):  # datetime.date / datetime
        return value.isoformat()
    if isinstance(value, pd.Interval):
        return str(value)
    raise ResultsError(f"cannot record a value of type {type(value).__name__}: {value!r}")


def _fields_from_mapping(value: Mapping | pd.Series) -> dict[str, Any]:
    row = dict(value.items())
    out = {k: row[k] for k in FIELDS if k in row}
    if "est" not in out:
        raise ResultsError(f"a recorded row needs an 'est' field; got {sorted(map(str, row))}")
    return out


class Recorder:
    """Collects recorded values and tables; :meth:`save` writes them as ``results.json``.

    Notebooks normally use the module-level functions (:func:`record` ...), which act on one
    shared recorder; create a ``Recorder`` explicitly where several result sets are built.
    Recording a name again replaces the earlier entry (re-running a cell is harmless).

    With ``min_cell_size`` set (:func:`set_min_cell_size`), :meth:`record` refuses an estimate
    whose ``n`` (respondents, docs/naming.md) is below it, and :meth:`record_table` checks
    every table that has an ``n`` column; :meth:`clear` forgets the setting.
    """

    def __init__(self, min_cell_size: int | None = None) -> None:
        self.min_cell_size = min_cell_size
        self._values: dict[str, dict[str, Any]] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._tables: dict[str, dict[str, Any]] = {}
        self._findings: list[dict[str, Any]] = []

    # -- recording ---------------------------------------------------------------------------
    def record(self, name: str, value: Any, *, ci: tuple[float, float] | None = None,
               n: int | None = None, se: float | None = None, p_value: float | None = None,
               stat: float | None = None, df: float | None = None,
               n_accounts: int | None = None, unit: str | None = None,
               label: str | None = None, note: str | None = None,
               headline: bool = False) -> None:
        """Record one estimate (``<name>.est``) with its uncertainty, n and test.

        Parameters
        ----------
        name : str
            Dotted snake_case stem, e.g. ``"nps"``, ``"crq_index.wave_3"``.
        value : scalar, or a Series / mapping with naming-rule fields
            The estimate; a tidy result row (``est, se, ci_low, ci_high, n, ...``) is taken
            field by field (other fields are ignored) and keyword arguments override it.
        ci : (low, high), optional
            Confidence bounds -> ``ci_low``, ``ci_high``.
        n, se, p_value, stat, df, n_accounts : optional
            Further fields, stored under their naming-rule names.
        unit, label, note : str, optional
            Shown in reports beside the number (``unit="points (-100..100)"``).
        headline : bool
            Show this entry on the run's index page.
        """
        _check_name(name)
        fields: dict[str, Any]
        if isinstance(value, (pd.Series, Mapping)):
            fields = _fields_from_mapping(value)
        else:
            fields = {"est": value}
        if ci is not None:
            if len(ci) != 2:
                raise ResultsError(f"{name}: ci must be a (low, high) pair, got {ci!r}")
            fields["ci_low"], fields["ci_high"] = ci
        for key, val in (("n", n), ("se", se), ("p_value", p_value), ("stat", stat),
                         ("df", df), ("n_accounts", n_accounts)):
            if val is not None:
                fields[key] = val
        cleaned = {k: (clean_count if k in COUNT_FIELDS else clean_value)(v)
                   for k, v in fields.items()}
        self._check_small(name, cleaned)
        self._values[name] = cleaned
        order = self._meta.get(name, {}).get("order", len(self._meta))
        meta = {"headline": bool(headline), "unit": unit, "label": label, "note": note}
        self._meta[name] = {"order": order,
                            **{k: v for k, v in meta.items() if v not in (None, False)}}

    def record_table(self, name: str, table: pd.DataFrame, *, index: bool | None = None,
                     min_cell_size: int | None = None, n_col: str = "n",
                     note: str | None = None) -> None:
        """Record a small table as columns and rows.

        A table of more than ``MAX_TABLE_ROWS`` rows keeps its first ``MAX_TABLE_ROWS`` rows
        (sort the rows that matter first); the entry then carries ``n_rows`` (the table's
        full length) and a ``note`` saying so, and recording never fails for size.

        Parameters
        ----------
        name : str
            Dotted snake_case name.
        table : DataFrame
            Tidy result table; a non-default index is kept as leading column(s) unless
            ``index=False``.
        min_cell_size : int, optional
            Privacy check: refuse the table if a row has ``n_col`` below this and is not marked
            ``suppressed`` with its numbers blanked.
        """
        _check_name(name)
        if not isinstance(table, pd.DataFrame):
            raise ResultsError(f"{name}: record_table needs a DataFrame, got "
                               f"{type(table).__name__}")
        n_rows = len(table)
        if n_rows > MAX_TABLE_ROWS:
            # a large study must not fail here: keep the first rows (callers sort the rows
            # that matter first) and say how many there were
            table = table.iloc[:MAX_TABLE_ROWS]
            kept = (f"the first {MAX_TABLE_ROWS} of {n_rows} rows (results.json keeps at most "
                    f"{MAX_TABLE_ROWS} rows of a table)")
            note = f"{note}; {kept}" if note else kept
        keep_index = index if index is not None else not isinstance(table.index, pd.RangeIndex)
        frame = table.reset_index() if keep_index else table
        if min_cell_size is None and self.min_cell_size is not None and n_col in frame.columns:
            min_cell_size = self.min_cell_size
        if min_cell_size is not None:
            _check_cells(name, frame, min_cell_size, n_col)
        columns = [str(c) for c in frame.columns]
        cleaners = [clean_count if c in COUNT_FIELDS else clean_value for c in columns]
        rows = [[f(v) for f, v in zip(cleaners, row)]
                for row in frame.itertuples(index=False, name=None)]
        entry: dict[str, Any] = {"columns": columns, "data": rows}
        if note:
            entry["note"] = note
        if n_rows > MAX_TABLE_ROWS:
            entry["n_rows"] = n_rows
        self._tables[name] = entry

    def record_all(self, entries: Iterable[tuple[str, Any, Mapping[str, Any]]]) -> None:
        """Record ``(name, value, options)`` entries in their order.

        A DataFrame ``value`` goes to :meth:`record_table`, anything else to :meth:`record`;
        ``options`` are their keyword arguments. For the entries a study module lists
        (``crqlab.studies``), so that a notebook records them in one line.
        """
        for name, value, options in entries:
            if isinstance(value, pd.DataFrame):
                self.record_table(name, value, **options)
            else:
                self.record(name, value, **options)

    def finding(self, question: str, text: str, *, est: Any = None,
                ci: tuple[float, float] | None = None, n: int | None = None,
                n_accounts: int | None = None, p_value: float | None = None,
                quantity: str | None = None, unit: str | None = None, kind: str | None = None,
                why_not: str | None = None, illustrative: bool = False) -> None:
        """Record a finding: plain words answering a research question, with its evidence.

        Parameters
        ----------
        question : str
            The research question answered (findings are grouped by it on the index page).
        text : str
            One to three sentences in plain words. ``{est}``, ``{ci}``, ``{n}`` and ``{p}``
            mark where the renderer writes the estimate, interval, n and p-value, formatted by
            the quantity's kind; without ``{est}`` they follow the text in brackets.
        est, ci, n : optional
            The estimate, its ``(low, high)`` interval and the respondents behind it. Each is
            required unless ``why_not`` says why it is missing.
        n_accounts, p_value : optional
            Accounts behind the estimate; the p-value of its test.
        quantity : str, optional
            The recorded name of the quantity (``"crq_index"``), whose glossary entry gives
            the unit and kind; ``unit`` and ``kind`` override it.
        why_not : str, optional
            Why the finding has no estimate, interval or n (``"a single wave: no trend"``).
        illustrative : bool
            Rests on made-up or illustrative inputs (the shipped benchmark): never shown on the
            index page.

        Raises
        ------
        ResultsError
            Missing evidence without ``why_not``; text that is empty, uses another placeholder
            or shows what a reviewer must not see (:data:`crqlab.reports.wording.MACHINE_ROOM`);
            an interval whose low bound exceeds its high bound; n below the minimum cell size.

        Notes
        -----
        Tested in ``tests/reports/test_results.py`` (each refusal, replacement on re-running a
        cell, byte-identical files without findings) and, rendered, in
        ``tests/reports/test_rendering.py`` and ``tests/reports/test_runner.py``.
        """
        entry = _finding_entry(question, text, est=est, ci=ci, n=n, n_accounts=n_accounts,
                               p_value=p_value, quantity=quantity, unit=unit, kind=kind,
                               why_not=why_not, illustrative=illustrative)
        if self.min_cell_size is not None and isinstance(entry.get("n"), int) \
                and entry["n"] < self.min_cell_size and entry.get("est") is not None:
            raise ResultsError(f"finding {text[:40]!r}: n = {entry['n']} is below the minimum "
                               f"cell size {self.min_cell_size}")
        self._findings = [f for f in self._findings
                          if (f["question"], f["text"]) != (entry["question"], entry["text"])]
        self._findings.append(entry)

    def _check_small(self, name: str, fields: dict[str, Any]) -> None:
        """Refuse an estimate of fewer respondents than the minimum cell size."""
        n = fields.get("n")
        shown = [f for f in ("est", "se", "ci_low", "ci_high", "stat", "p_value")
                 if isinstance(fields.get(f), (int, float)) and not isinstance(fields[f], bool)]
        if self.min_cell_size is not None and isinstance(n, (int, float)) \
                and not isinstance(n, bool) and n < self.min_cell_size and shown:
            raise ResultsError(f"{name}: n = {n:g} is below the minimum cell size "
                               f"{self.min_cell_size}; an estimate of so few respondents is "
                               "not recorded (report that it was suppressed instead)")

    def clear(self) -> None:
        """Forget everything recorded (and the minimum cell size)."""
        self.min_cell_size = None
        self._values.clear()
        self._meta.clear()
        self._tables.clear()
        self._findings.clear()

    # -- output ------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The results document: ``format``, flat dotted ``values``, ``entries`` meta, ``tables``."""
        values = {f"{name}.{k}": v for name, fields in self._values.items()
                  for k, v in fields.items()}
        doc = {"format": FORMAT, "values": values, "entries": dict(self._meta),
               "tables": dict(self._tables)}
        if self._findings:
            doc["findings"] = [dict(f) for f in self._findings]
        return doc

    def to_json(self) -> str:
        """The deterministic JSON text (sorted keys, 2-space indent, trailing newline)."""
        return to_json(self.as_dict())

    def save(self, path: str | os.PathLike | None) -> str:
        """Write ``results.json`` atomically to ``path`` and return its text.

        With ``path`` ``None`` or ``""`` (a notebook run by hand) nothing is written.
        """
        text = self.to_json()
        if path:
            write_atomic(Path(path), text)
        return text


def _finding_text(question: Any, text: Any) -> tuple[str, str]:
    from string import Formatter

    from crqlab.reports.wording import machine_room

    for what, value in (("question", question), ("text", text)):
        if not isinstance(value, str) or not value.strip():
            raise ResultsError(f"a finding needs its {what} as plain words, got {value!r}")
    try:
        fields = {f for _, f, _, _ in Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ResultsError(f"finding {text[:60]!r}: {exc} (write a literal brace as {{{{)")
    unknown = sorted(fields - set(FINDING_PLACEHOLDERS))
    if unknown:
        raise ResultsError(f"finding {text[:60]!r}: unknown placeholder(s) {unknown}; use "
                           f"{', '.join('{' + p + '}' for p in FINDING_PLACEHOLDERS)}")
    shown = machine_room(question + " " + text)
    if shown:
        raise ResultsError(f"finding {text[:60]!r} shows what reviewers must not see: "
                           + "; ".join(f"{k}: {', '.join(v)}" for k, v in shown.items()))
    return " ".join(question.split()), " ".join(text.split())


def _finding_entry(question: Any, text: Any, *, est: Any, ci: Any, n: Any, n_accounts: Any,
                   p_value: Any, quantity: str | None, unit: str | None, kind: str | None,
                   why_not: str | None, illustrative: bool) -> dict[str, Any]:
    from crqlab.formatting import KINDS, kind_of_unit

    question, text = _finding_text(question, text)
    missing = [w for w, v in (("estimate", est), ("interval", ci), ("n", n))
               if v is None or (not isinstance(v, (str, tuple, list)) and pd.isna(v))]
    if missing and not (isinstance(why_not, str) and why_not.strip()):
        raise ResultsError(f"finding {text[:60]!r} has no {', '.join(missing)}: pass "
                           f"{'them' if len(missing) > 1 else 'it'}, or why_not='...' saying "
                           "why the data give none")
    entry: dict[str, Any] = {"question": question, "text": text}
    if ci is not None:
        if len(ci) != 2:
            raise ResultsError(f"finding {text[:60]!r}: ci must be a (low, high) pair, got {ci!r}")
        low, high = clean_value(ci[0]), clean_value(ci[1])
        if low is not None and high is not None and low > high:
            raise ResultsError(f"finding {text[:60]!r}: interval [{low}, {high}] is reversed")
        entry["ci_low"], entry["ci_high"] = low, high
    for key, value in (("est", est), ("p_value", p_value)):
        if value is not None:
            entry[key] = clean_value(value)
    for key, value in (("n", n), ("n_accounts", n_accounts)):
        if value is not None and not pd.isna(value):
            if float(value) != int(value) or value < 0:
                raise ResultsError(f"finding {text[:60]!r}: {key} = {value!r} is not a count")
            entry[key] = int(value)  # a count, even when a notebook hands in 822.0
    q = _glossary_quantity(quantity)
    kind = kind or (q.kind if q else None) or kind_of_unit(unit)
    if kind not in KINDS:
        raise ResultsError(f"finding {text[:60]!r}: kind {kind!r} is not one of {KINDS}")
    entry["kind"] = kind
    unit = unit if unit is not None else (q.unit if q else None)
    extras = {"quantity": quantity, "unit": unit or None, "why_not": why_not,
              "illustrative": True if illustrative else None}
    entry.update({k: v for k, v in extras.items() if v is not None})
    return entry


def _glossary_quantity(quantity: str | None):
    if quantity is None:
        return None
    from crqlab.reports.glossary import load

    q = load().quantity(quantity)
    if q is None:
        raise ResultsError(f"quantity {quantity!r} is not in the glossary "
                           "(crqlab/reports/glossary.yaml); add it there")
    return q


def _check_cells(name: str, frame: pd.DataFrame, min_cell_size: int, n_col: str) -> None:
    if n_col not in frame.columns:
        raise ResultsError(f"{name}: privacy check needs an {n_col!r} column")
    small = pd.to_numeric(frame[n_col], errors="coerce") < min_cell_size
    if "suppressed" in frame.columns:
        small &= ~frame["suppressed"].fillna(False).astype(bool)
    if small.any():
        raise ResultsError(f"{name}: {int(small.sum())} row(s) with {n_col} below the minimum "
                           f"cell size {min_cell_size} and not suppressed")


def to_json(document: Any) -> str:
    """Deterministic JSON text of a results document (values already cleaned)."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``results.json`` written by :func:`save`."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a crqlab results file (format {FORMAT!r})")
    return doc


def headline(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The headline entries of a results document, in the order they were recorded.

    Each item: ``name``, ``label``, ``unit``, ``note`` and the recorded fields (``est``,
    ``ci_low``...).
    """
    values = document.get("values", {})
    out = []
    entries = document.get("entries", {})
    for name, meta in sorted(entries.items(), key=lambda kv: (kv[1].get("order", 0), kv[0])):
        if not meta.get("headline"):
            continue
        fields = {k: values[f"{name}.{k}"] for k in FIELDS if f"{name}.{k}" in values}
        out.append({"name": name, "label": meta.get("label"), "unit": meta.get("unit"),
                    "note": meta.get("note"), **fields})
    return out


def findings(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The findings of a results document, in the order they were recorded (``[]`` for a file
    without any)."""
    found = document.get("findings") or []
    return [dict(f) for f in found if isinstance(f, Mapping) and f.get("text")]


_DEFAULT = Recorder()


def current() -> Recorder:
    """The shared recorder the module-level functions write to."""
    return _DEFAULT


def record(name: str, value: Any, **kwargs: Any) -> None:
    """Record into the shared recorder; see :meth:`Recorder.record`."""
    _DEFAULT.record(name, value, **kwargs)


def record_table(name: str, table: pd.DataFrame, **kwargs: Any) -> None:
    """Record a small table into the shared recorder; see :meth:`Recorder.record_table`."""
    _DEFAULT.record_table(name, table, **kwargs)


def record_all(entries: Iterable[tuple[str, Any, Mapping[str, Any]]]) -> None:
    """Record entries into the shared recorder; see :meth:`Recorder.record_all`."""
    _DEFAULT.record_all(entries)


def finding(question: str, text: str, **kwargs: Any) -> None:
    """Record a finding into the shared recorder; see :meth:`Recorder.finding`."""
    _DEFAULT.finding(question, text, **kwargs)


def save(path: str | os.PathLike | None) -> str:
    """Save the shared recorder; see :meth:`Recorder.save`."""
    return _DEFAULT.save(path)


def clear() -> None:
    """Empty the shared recorder."""
    _DEFAULT.clear()


def set_min_cell_size(min_cell_size: int | None) -> None:
    """Make the shared recorder refuse estimates (and table rows) with ``n`` below
    ``min_cell_size``; ``None`` turns the check off. See :class:`Recorder`."""
    _DEFAULT.min_cell_size = min_cell_size
