"""Import rules of ``study.yaml`` (``import: TABLE:``): how delivered files become the tables.

A client delivers what its survey platform and CRM wrote: answers as text labels ("Somewhat
agree"), "don't know" coded as 8 in one column and as text in another, preview and test rows,
unfinished responses, a "Member Status" column instead of true/false, churn dates instead of a
retention flag, a contact who answered twice. The rules say, declaratively, how to read each of
these; this module checks them against the instrument before any file is read
(:func:`check_rules`) and applies them (:func:`filter_rows`, :func:`relabel`, :func:`remap`,
:func:`repeated_rows`, :func:`complete_rows`, :func:`derive_retained`). Every row a rule leaves
out is counted, with its reason, in the study's import report.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crqlab.data.readers import RawTable, text_cells
from crqlab.data.schema import Issue
from crqlab.errors import Problem

__all__ = ["LABEL_SETS", "TRUE_WORDS", "FALSE_WORDS", "Filter", "TableRules", "table_rules",
           "check_rules", "normalise_label", "normalised_cells", "filter_rows", "relabel",
           "remap", "repeated_rows", "complete_rows", "derive_retained", "column_groups",
           "resolve_columns", "label_map"]

#: Shipped label sets: ordered labels (lowest first, numbered from the column's scale
#: minimum) or label -> number. Matched ignoring case and spacing.
LABEL_SETS: dict[str, list[str] | dict[str, int]] = {
    "agree-5": ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree",
                "Strongly agree"],
    "agree-7": ["Strongly disagree", "Disagree", "Somewhat disagree",
                "Neither agree nor disagree", "Somewhat agree", "Agree", "Strongly agree"],
    # the 0-10 question as Qualtrics labels it; the middle answers are written as numbers
    "likely-0-10": {"0 - Not at all likely": 0, "10 - Extremely likely": 10},
}
#: Cells read as true and false in a boolean column (any case), unless ``values:`` says.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0", "wahr", "ja", "oui", "vrai"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0", "falsch", "nein", "non", "faux"})
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def normalise_label(text: object) -> str:
    """A label as compared: case folded, curly quotes straightened, every space removed."""
    return re.sub(r"\s+", "", str(text).translate(_QUOTES).casefold())


def normalised_cells(s: pd.Series) -> np.ndarray:
    """:func:`normalise_label` of every cell (None where blank), computed once per value."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    norm = np.array([normalise_label(u) for u in uniques] + [None], dtype=object)
    return norm[codes]  # code -1 (blank) takes the trailing None


def _cell_text(value: object) -> str:
    """A study.yaml scalar as the text a cell would hold (true -> 'true', 8 -> '8')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_number(code: object) -> float | None:
    text = _cell_text(code).strip().replace(",", ".")
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# the rules of one table

@dataclass(frozen=True)
class Filter:
    """One row filter: keep rows whose cell is in ``keep``, drop those in ``drop``, or keep
    rows where the cell is ``present``; cells compared by :func:`normalise_label`."""

    column: str
    reason: str
    keep: frozenset | None = None
    drop: frozenset | None = None
    present: bool = False


@dataclass(frozen=True)
class TableRules:
    """``import: TABLE:`` of study.yaml, resolved to canonical columns."""

    role: str
    spec: dict = field(default_factory=dict)
    codes: dict = field(default_factory=dict)   # canonical -> missing codes (lower case)
    labels: dict = field(default_factory=dict)  # canonical -> normalised label -> number
    label_text: dict = field(default_factory=dict)  # canonical -> labels as written
    values: dict = field(default_factory=dict)  # canonical -> normalised cell -> text value
    value_text: dict = field(default_factory=dict)  # canonical -> "true: ...; false: ..."
    filters: tuple = ()

    @property
    def complete_column(self) -> str | None:
        return (self.spec.get("complete_when") or {}).get("column")

    @property
    def complete_share(self) -> float | None:
        return (self.spec.get("complete_when") or {}).get("answered")

    @property
    def churn_column(self) -> str | None:
        rule = (self.spec.get("derive") or {}).get("retained_next_wave") or {}
        return rule.get("churn_date")

    @property
    def dedup(self) -> dict | None:
        return self.spec.get("dedup")


def column_groups(instruments: list) -> dict[str, list[str]]:
    """Item groups a rule may name: ``items`` (every item), each element and each facet."""
    groups: dict[str, list[str]] = {"items": []}
    for inst in instruments:
        for el in inst.elements.values():
            groups.setdefault(el.name, []).extend(el.items)
            for facet, items in el.facets.items():
                groups.setdefault(facet, []).extend(items)
            groups["items"] += [i for i in el.items if i not in groups["items"]]
    return groups


def resolve_columns(selector: str, role: str, known: set[str],
                    groups: dict[str, list[str]]) -> list[str] | None:
    """The canonical columns a rule's key names: an item group (responses), or a column."""
    if role == "responses" and selector in groups:
        return list(groups[selector])
    return [selector] if selector in known else None


def label_map(spec, scale: tuple[int, int]) -> dict[str, int]:
    """Normalised label -> number of a value_labels entry (shipped name, list or mapping)."""
    spec = LABEL_SETS.get(spec, spec) if isinstance(spec, str) else spec
    if isinstance(spec, dict):
        return {normalise_label(k): int(v) for k, v in spec.items()}
    return {normalise_label(_cell_text(k)): scale[0] + i for i, k in enumerate(spec)}


def _value_map(spec: dict) -> dict[str, str]:
    return {normalise_label(_cell_text(cell)): _cell_text(value)
            for value, cells in spec.items()
            for cell in (cells if isinstance(cells, list) else [cells])}


def _filters(spec: dict) -> tuple[Filter, ...]:
    out = []
    for f in spec.get("filters") or []:
        def norm(key):
            cells = f.get(key)
            if cells is None:
                return None
            return frozenset(normalise_label(_cell_text(c))
                             for c in (cells if isinstance(cells, list) else [cells]))
        out.append(Filter(str(f["column"]), str(f["reason"]), norm("keep"), norm("drop"),
                          bool(f.get("present"))))
    return tuple(out)


def table_rules(cfg: dict, role: str, known: set[str], groups: dict[str, list[str]],
                scales: dict[str, tuple[int, int]]) -> TableRules:
    """The rules of ``role`` from a checked study.yaml (:func:`check_rules` found no issue)."""
    spec = ((cfg.get("import") or {}).get(role)) or {}
    codes: dict[str, set] = {}
    for sel, cells in (spec.get("missing_codes") or {}).items():
        for col in resolve_columns(sel, role, known, groups) or []:
            codes.setdefault(col, set()).update(
                _cell_text(c).strip().lower() for c in (cells if isinstance(cells, list)
                                                         else [cells]))
    labels, label_text = {}, {}
    for sel, lab in (spec.get("value_labels") or {}).items():
        for col in resolve_columns(sel, role, known, groups) or []:
            labels[col] = label_map(lab, scales.get(col, (0, 0)))
            shown = LABEL_SETS.get(lab, lab) if isinstance(lab, str) else lab
            label_text[col] = [str(k) for k in shown]
    values, value_text = {}, {}
    for col, mapping in (spec.get("values") or {}).items():
        values[col] = _value_map(mapping)
        value_text[col] = "; ".join(
            f"{_cell_text(v)}: {', '.join(map(_cell_text, c if isinstance(c, list) else [c]))}"
            for v, c in mapping.items())
    return TableRules(role, spec, {k: frozenset(v) for k, v in codes.items()}, labels,
                      label_text, values, value_text, _filters(spec))


# ---------------------------------------------------------------------------------------------
# checking the rules against the instrument (before any file is read)

def check_rules(cfg: dict, columns: dict[str, dict[str, str]],
                scales: dict[str, tuple[int, int]], groups: dict[str, list[str]]) -> list[Issue]:
    """Every way ``import:`` and ``missing_codes:`` contradict the instrument or themselves.

    ``columns`` is role -> canonical column -> contract type (``scale``, ``nps``, ``bool``,
    ``int``, ``category`` ...), with the instrument's items in responses; ``scales`` the
    answer range of each scored column. A missing code that is a valid answer of a column it
    applies to (``"8"`` for ``nps`` on 0-10) is an error, never silent data loss; so is a code
    that is one of a column's answer labels, or a true/false word of a boolean column.

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` (each rule's errors, with their key paths) and by
    the "8" delivery of ``tests/exports/``.
    """
    issues = _global_code_issues(cfg.get("missing_codes"), scales, columns)
    waves = cfg.get("waves") or {}
    for role, spec in (cfg.get("import") or {}).items():
        spec, base = spec or {}, f"import.{role}"
        known = set(columns[role])
        issues += _filter_issues(spec, base)
        issues += _complete_issues(spec, base, role)
        issues += _selector_issues(spec, base, role, known, groups)
        issues += _label_issues(spec, base, role, known, groups, scales)
        issues += _column_code_issues(spec, base, role, known, groups, scales, columns[role])
        issues += _value_issues(spec, base, columns[role])
        issues += _derive_issues(spec, base, role, waves)
    return issues


def _global_code_issues(codes, scales, columns) -> list[Issue]:
    out = []
    bools = sorted(c for role in columns.values() for c, k in role.items() if k == "bool")
    for i, code in enumerate(codes or []):
        clash = _scale_clash(code, scales)
        if clash:
            out.append(Issue(f"missing_codes[{i}]", code, clash + "; give it only for the "
                             "columns that use it as a code, e.g. import: responses: "
                             f"missing_codes: {{items: [{_cell_text(code)!r}]}}"))
        elif _cell_text(code).strip().lower() in TRUE_WORDS | FALSE_WORDS:
            out.append(Issue(f"missing_codes[{i}]", code, f"{_cell_text(code)!r} is a true/false "
                             f"answer of boolean columns ({', '.join(dict.fromkeys(bools))}); "
                             "as a missing code it would blank them"))
    return out


def _scale_clash(code, scales: dict[str, tuple[int, int]]) -> str | None:
    """Why ``code`` is a valid answer of some scored column, or None."""
    x = _as_number(code)
    if x is None or x != int(x):
        return None
    hit = [c for c, (lo, hi) in scales.items() if lo <= x <= hi]
    if not hit:
        return None
    ranges = sorted({scales[c] for c in hit})
    where = ", ".join(f"{lo}-{hi}" for lo, hi in ranges)
    names = ", ".join(hit[:4]) + (f" and {len(hit) - 4} more" if len(hit) > 4 else "")
    return (f"{_cell_text(code)!r} is a valid answer of {names} (scale {where}): as a missing "
            f"code it would blank every genuine {_cell_text(code)}")


def _filter_issues(spec: dict, base: str) -> list[Issue]:
    out = []
    for i, f in enumerate(spec.get("filters") or []):
        given = [k for k in ("keep", "drop", "present") if k in (f or {})]
        if len(given) != 1:
            out.append(Issue(f"{base}.filters[{i}]", None, "a filter needs exactly one of keep, "
                             f"drop or present (got {', '.join(given) or 'none'})"))
    return out


def _complete_issues(spec: dict, base: str, role: str) -> list[Issue]:
    rule = spec.get("complete_when")
    if rule is None:
        return []
    if role != "responses":
        return [Issue(f"{base}.complete_when", None, "complete_when applies to responses only")]
    if not rule:
        return [Issue(f"{base}.complete_when", None, "give column, answered or both")]
    return []


def _did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _selector_issues(spec, base, role, known, groups) -> list[Issue]:
    out = []
    options = known | (set(groups) if role == "responses" else set())
    for key in ("missing_codes", "value_labels"):
        for sel in spec.get(key) or {}:
            if resolve_columns(sel, role, known, groups) is None:
                out.append(Issue(f"{base}.{key}.{sel}", sel, f"unknown column or item group "
                                 f"{sel!r} in {role}{_did_you_mean(sel, options)}"))
    for col in spec.get("values") or {}:
        if col not in known:
            out.append(Issue(f"{base}.values.{col}", col, f"unknown {role} column {col!r}"
                             f"{_did_you_mean(col, known)}"))
    return out


def _label_issues(spec, base, role, known, groups, scales) -> list[Issue]:
    out = []
    for sel, lab in (spec.get("value_labels") or {}).items():
        path = f"{base}.value_labels.{sel}"
        cols = resolve_columns(sel, role, known, groups) or []
        unscored = [c for c in cols if c not in scales]
        if unscored:
            out.append(Issue(path, sel, f"value labels apply to answer columns (items, nps); "
                             f"{', '.join(unscored[:3])} is not one"))
            continue
        out += _label_set_issues(path, lab, {scales[c] for c in cols})
    return out


def _label_set_issues(path: str, lab, ranges: set) -> list[Issue]:
    shown = LABEL_SETS.get(lab, lab) if isinstance(lab, str) else lab
    names = [normalise_label(_cell_text(k)) for k in shown]
    if len(set(names)) < len(names):
        return [Issue(path, None, "two labels are the same (ignoring case and spacing)")]
    out = []
    for lo, hi in sorted(ranges):
        if isinstance(shown, list) and len(shown) != hi - lo + 1:
            out.append(Issue(path, lab, f"{len(shown)} labels for a {lo}-{hi} scale "
                             f"({hi - lo + 1} answers): the labels would be scored "
                             f"{lo}-{lo + len(shown) - 1}"))
        elif isinstance(shown, dict):
            off = [k for k, v in shown.items() if not lo <= v <= hi]
            if off:
                out.append(Issue(path, off[0], f"label {off[0]!r} is {shown[off[0]]}, off the "
                                 f"{lo}-{hi} scale"))
    return out


def _column_code_issues(spec, base, role, known, groups, scales, kinds) -> list[Issue]:
    out = []
    labels = {}
    for sel, lab in (spec.get("value_labels") or {}).items():
        for col in resolve_columns(sel, role, known, groups) or []:
            if col in scales:
                labels[col] = label_map(lab, scales[col])
    values = {c: _value_map(m) for c, m in (spec.get("values") or {}).items()}
    for sel, cells in (spec.get("missing_codes") or {}).items():
        cols = resolve_columns(sel, role, known, groups) or []
        for i, code in enumerate(cells if isinstance(cells, list) else [cells]):
            why = _column_clash(code, cols, scales, labels, values, kinds)
            if why:
                out.append(Issue(f"{base}.missing_codes.{sel}[{i}]", code, why))
    return out


def _column_clash(code, cols, scales, labels, values, kinds) -> str | None:
    clash = _scale_clash(code, {c: scales[c] for c in cols if c in scales})
    if clash:
        return clash
    norm = normalise_label(_cell_text(code))
    for c in cols:
        if norm in labels.get(c, {}):
            return f"{_cell_text(code)!r} is an answer label of {c}: it cannot also be missing"
        if norm in values.get(c, {}):
            return f"{_cell_text(code)!r} is mapped to a value of {c} in values:"
        if kinds.get(c) == "bool" and c not in values and \
                _cell_text(code).strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return f"{_cell_text(code)!r} is a true/false answer of {c}"
    return None


def _value_issues(spec, base, kinds) -> list[Issue]:
    out = []
    for col, mapping in (spec.get("values") or {}).items():
        kind, path = kinds.get(col), f"{base}.values.{col}"
        if kind is None:
            continue  # reported as an unknown column
        if kind == "bool":
            bad = [v for v in mapping if not isinstance(v, bool)]
            need = "true or false"
        elif kind in ("int", "count"):
            bad = [v for v in mapping if isinstance(v, bool) or not isinstance(v, int)]
            need = "whole numbers"
        elif kind in ("category", "text", "id"):
            bad = [v for v in mapping if isinstance(v, bool)]
            need = "text"
        else:
            out.append(Issue(path, col, f"values: maps cells of true/false, whole-number and "
                             f"text columns; {col} is a {kind} column"))
            continue
        if bad:
            out.append(Issue(f"{path}.{_cell_text(bad[0])}", bad[0], f"{col} takes {need}"))
        out += _twice_mapped(mapping, path)
    return out


def _twice_mapped(mapping: dict, path: str) -> list[Issue]:
    seen: dict[str, str] = {}
    for value, cells in mapping.items():
        for cell in cells if isinstance(cells, list) else [cells]:
            norm = normalise_label(_cell_text(cell))
            if norm in seen and seen[norm] != _cell_text(value):
                return [Issue(f"{path}.{_cell_text(value)}", cell, f"{_cell_text(cell)!r} is "
                              f"also mapped to {seen[norm]}")]
            seen[norm] = _cell_text(value)
    return []


def _derive_issues(spec, base, role, waves) -> list[Issue]:
    if not (spec.get("derive") or {}).get("retained_next_wave"):
        return []
    path = f"{base}.derive.retained_next_wave"
    if role != "accounts":
        return [Issue(path, None, "retained_next_wave is derived in accounts only")]
    later = sorted(waves)[1:]
    unstarted = [w for w in later if not (waves[w] or {}).get("start")]
    if not waves or unstarted:
        what = ", ".join(map(str, unstarted)) if unstarted else "none declared"
        return [Issue(path, None, "needs waves: N: start: for every wave after the first, to "
                      f"compare churn dates with (missing: {what})")]
    return []


# ---------------------------------------------------------------------------------------------
# applying the rules

def filter_rows(raw: RawTable, filters: tuple[Filter, ...],
                fix: str) -> tuple[RawTable, list[tuple[str, int]], list[Problem]]:
    """``raw`` without the rows its filters leave out; (reason, rows left out) per filter, and
    a problem for each filter whose column the file does not have.

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` (counts, row numbers kept, a missing column) and by
    the Qualtrics deliveries of ``tests/exports/`` (preview and anonymous-link rows).
    """
    counts, problems = [], []
    for f in filters:
        if f.column not in raw.frame.columns:
            problems.append(Problem(raw.name, f.column, 1, None, "the column a filter reads is "
                                    "not in the file", kind="filter column missing", fix=fix))
            continue
        cells = text_cells(raw.frame[f.column])  # a typed column as its text
        if f.present:
            keep = cells.notna().to_numpy(dtype=bool)
        else:
            norm = normalised_cells(cells)
            inside = np.array([v in (f.keep or f.drop) for v in norm], dtype=bool)
            keep = inside if f.keep is not None else ~inside
        counts.append((f.reason, int((~keep).sum())))
        raw = raw.subset(keep)
    return raw, counts, problems


def _mapped(s: pd.Series, table: dict[str, str], codes: frozenset,
            numbers_ok: bool) -> tuple[pd.Series, np.ndarray]:
    """Cells replaced through ``table`` (normalised cell -> text); the mask of cells that are
    neither in it, nor a missing code, nor (``numbers_ok``) a number."""
    import pyarrow as pa

    idx, uniques = pd.factorize(s, use_na_sentinel=True)
    out, unknown = [], []
    for u in uniques:
        hit = table.get(normalise_label(u))
        out.append(str(u) if hit is None else hit)
        fine = hit is not None or str(u).strip().lower() in codes or \
            (numbers_ok and bool(_NUMBER.match(str(u).strip())))
        unknown.append(not fine)
    # each cell looked up through its value's index: no Python work per cell
    codes_ = pa.array(idx, type=pa.int32(), mask=idx < 0)
    values = pa.DictionaryArray.from_arrays(codes_, pa.array(out, type=pa.string()))
    text = pd.arrays.ArrowStringArray(values.dictionary_decode())
    bad = np.array(unknown + [False], dtype=bool)[idx]
    return pd.Series(text, index=s.index, dtype="string"), bad


def relabel(s: pd.Series, labels: dict[str, int], codes: frozenset) -> tuple[pd.Series, np.ndarray]:
    """Answer labels replaced by their numbers; numbers and missing codes pass; the mask of
    unknown labels (reported with the accepted labels).

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` (case and spacing ignored, numbers and codes pass)
    and against item means worked out by hand in ``tests/exports/``.
    """
    return _mapped(s, {k: str(v) for k, v in labels.items()}, codes, numbers_ok=True)


def remap(s: pd.Series, values: dict[str, str], codes: frozenset) -> tuple[pd.Series, np.ndarray]:
    """Cells replaced by the values study.yaml maps them to (``true``, ``2``, ``retail``); the
    mask of cells it does not map (and that are not missing codes).

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` and ``tests/data/test_study.py`` (an unmapped
    status is reported once, with what is mapped).
    """
    return _mapped(s, values, codes, numbers_ok=False)


def repeated_rows(frame: pd.DataFrame, keys: list[str], keep: str = "last",
                  order: pd.Series | None = None) -> np.ndarray:
    """Rows that repeat an earlier (``keep="last"``: a later) row's key, to be dropped.

    ``order`` (dates, say when each response was recorded) sorts the rows first; ties and
    blank dates keep file order. Rows with a blank key are never repeats.

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` (file order against date order, keep first or
    last, blank keys) and by the repeated Qualtrics response of ``tests/exports/``.
    """
    pos = np.arange(len(frame))
    if order is not None:
        pos = pos[np.lexsort((pos, order.isna().to_numpy(),
                              order.fillna(order.min()).to_numpy()))] if order.notna().any() \
            else pos
    sub = frame[keys].iloc[pos]
    dup = sub.duplicated(keep=keep).to_numpy() & sub.notna().all(axis=1).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    out[pos[dup]] = True
    return out


def complete_rows(frame: pd.DataFrame, flag: pd.Series | None, share: float | None,
                  answers: list[str]) -> np.ndarray:
    """Responses that are complete: ``flag`` true (a Finished column) and at least ``share``
    of ``answers`` answered, where each is given.

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` (flag, share, both) and by the unfinished responses
    of the Qualtrics and SurveyMonkey deliveries in ``tests/exports/``.
    """
    ok = np.ones(len(frame), dtype=bool)
    if flag is not None:
        ok &= flag.str.strip().str.lower().isin(TRUE_WORDS).fillna(False).to_numpy(dtype=bool)
    cols = [c for c in answers if c in frame.columns]
    if share is not None and cols:
        answered = frame[cols].notna().to_numpy().mean(axis=1)
        ok &= answered >= share - 1e-12  # 0.8 of 20 items is 16, not 15.999...
    return ok


def derive_retained(frame: pd.DataFrame, churn: pd.Series, waves: list[int],
                    starts: dict[int, pd.Timestamp]) -> tuple[pd.DataFrame, np.ndarray]:
    """``retained_next_wave`` of each account and wave from its churn date.

    Retained after wave w when the account had not churned before the next wave's start
    (``starts``; a blank churn date: still a customer); unknown (missing) after the last wave.
    A table without a ``wave`` column becomes one row per account and wave of ``waves``.
    Returns the frame and, for each of its rows, the position of the row it came from.

    Notes
    -----
    Tested in ``tests/data/test_rules.py`` (churn before, on and after the next start, blank,
    last wave) and by the CRM workbook delivery of ``tests/exports/``.
    """
    waves = sorted(waves)
    nxt = {w: starts.get(waves[i + 1]) for i, w in enumerate(waves[:-1])}
    source = np.arange(len(frame))
    if "wave" not in frame.columns:
        source = np.repeat(source, len(waves))
        frame = frame.iloc[source].reset_index(drop=True)
        frame.insert(1, "wave", pd.array(np.tile(waves, len(source) // max(len(waves), 1)),
                                         dtype="Int64"))
    when = churn.to_numpy()[source]
    limit = pd.to_datetime(pd.Series([nxt.get(w) if w is not pd.NA else None
                                      for w in frame["wave"]], dtype="object"))
    retained = pd.isna(when) | (when >= limit.to_numpy())
    frame["retained_next_wave"] = pd.array(retained, dtype="boolean")
    frame.loc[limit.isna().to_numpy(), "retained_next_wave"] = pd.NA
    return frame, source
