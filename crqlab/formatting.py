"""Numbers and intervals as reviewers read them: one formatting rule for every page.

A foundation module (numpy and pandas only, nothing else of crqlab), so the study modules that word
findings and the report layer that renders them format alike.

Numbers are written by what they are (:data:`KINDS`, :func:`format_kind`): counts as integers
with thousands separators, scores to 2 decimals, NPS and percentages to 1, p-values by the APA
rule, fit indices to 3. The report layer looks the kind of each recorded quantity up in its
glossary (``crqlab/reports/glossary.yaml``). The older helpers (:func:`format_number`,
:func:`format_entry`, :func:`format_p`) keep their behaviour for the notebooks that use them.

Besides numbers, three small types let a study module word its findings as plain text while
keeping data apart from wording, so the report layer can show them safely
(:func:`crqlab.reports.present.paragraph`, :func:`crqlab.reports.present.show_notes`):

- :class:`Text` - a literal sentence template (names of parameters and columns quoted in
  backticks) and the values filled into its fields; ``str()`` is the plain sentence;
- :class:`Finding` - a claim (shown in bold) and the rest of its sentence;
- :class:`Caution` - a warning: its title, the reasons, a closing note.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["format_number", "format_entry", "format_ci", "format_p", "ci_table", "format_fixed",
           "format_ci_text", "format_signed_ci", "format_ci_sentence", "format_p_text", "Text",
           "text", "Finding", "Caution", "ci_label", "format_decimals", "format_with_ci",
           "ci_columns", "readable_table", "KINDS", "format_count", "format_score", "format_nps",
           "format_percent", "format_percentage_points", "format_p_apa", "p_clause", "format_fit",
           "format_coefficient", "format_kind", "format_interval", "kind_of_unit", "format_n",
           "NO_CLEAR_DIFFERENCE", "is_clear", "difference_words", "claim_words", "word_list"]


def format_number(x: Any) -> str:
    """A number for people: integers as is, floats to about three significant figures."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}".replace(",", " ") if abs(x) >= 10000 else str(x)
    if isinstance(x, float):
        ax = abs(x)
        if ax >= 100:
            return f"{x:.0f}"
        if ax >= 10:
            return f"{x:.1f}"
        if ax >= 1:
            return f"{x:.2f}"
        if ax == 0:
            return "0"
        if ax < 0.001:
            return f"{x:.1e}"
        return f"{x:.3f}"
    return str(x)


def format_entry(entry: Mapping[str, Any]) -> str:
    """One recorded entry as text: ``est [ci_low, ci_high] unit (n = n)``, or ``suppressed``."""
    if entry.get("suppressed"):
        return "suppressed (group below the minimum cell size)"
    unit = str(entry.get("unit") or "")
    share = unit.startswith("share") and isinstance(entry.get("est"), float)
    if share:  # shares are recorded 0-1 and shown in percent: "51.1% [48.7, 53.6] of invited"
        parts = [format_ci(entry["est"], entry.get("ci_low"), entry.get("ci_high"), digits=1,
                           scale=100).replace(" [", "% [", 1)]
        if "[" not in parts[0]:
            parts[0] += "%"
        unit = unit[len("share"):].strip()
    else:
        parts = [format_number(entry.get("est"))]
        if entry.get("ci_low") is not None and entry.get("ci_high") is not None:
            parts.append(f"[{format_number(entry['ci_low'])}, {format_number(entry['ci_high'])}]")
    if unit:
        parts.append(unit)
    extra = []
    if entry.get("p_value") is not None:
        p = format_p(entry["p_value"])
        extra.append(f"p {p}" if p.startswith("<") else f"p = {p}")
    if entry.get("n") is not None:
        extra.append(f"n = {format_number(entry['n'])}")
    if entry.get("n_accounts") is not None:
        extra.append(f"{format_number(entry['n_accounts'])} accounts")
    text = " ".join(parts)
    return f"{text} ({', '.join(extra)})" if extra else text


def format_ci(est: Any, ci_low: Any = None, ci_high: Any = None, *, digits: int = 2,
              scale: float = 1.0) -> str:
    """``"5.79 [5.73, 5.84]"``: an estimate and its interval, ``scale``-d (100 for percent)."""
    def one(v):
        return "–" if v is None or pd.isna(v) else f"{scale * float(v):.{digits}f}"

    if est is None or pd.isna(est):
        return "–"
    if ci_low is None or ci_high is None or pd.isna(ci_low) or pd.isna(ci_high):
        return one(est)
    return f"{one(est)} [{one(ci_low)}, {one(ci_high)}]"


def format_p(p: Any) -> str:
    """A p-value for people: ``"0.013"``, ``"< 0.001"``, ``"–"`` when missing."""
    if p is None or pd.isna(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def ci_table(table: pd.DataFrame, index: str | list[str], *, columns: str | None = None,
             digits: int = 2, scale: float = 1.0, n_col: str | None = "n",
             min_cell_size: int | None = None) -> pd.DataFrame:
    """A tidy result table as text for reviewers: ``est [ci_low, ci_high]`` per cell.

    Parameters
    ----------
    table : DataFrame
        ``est``, ``ci_low``, ``ci_high`` (``n``, ``suppressed``) and the ``index`` columns.
    index : str or list of str
        Row labels.
    columns : str, optional
        Spread this column's values over the columns (e.g. ``"wave"``); otherwise one column
        ``estimate`` plus ``n``.
    scale : float
        100 to show shares in percent.
    min_cell_size : int, optional
        Shown in the text of suppressed cells.
    """
    idx = [index] if isinstance(index, str) else list(index)
    supp = (table["suppressed"].fillna(False).astype(bool) if "suppressed" in table
            else pd.Series(False, index=table.index))
    why = f"suppressed (n < {min_cell_size})" if min_cell_size else "suppressed"
    text = [why if s else format_ci(r.est, getattr(r, "ci_low", None), getattr(r, "ci_high", None),
                                    digits=digits, scale=scale)
            for s, r in zip(supp, table.itertuples())]
    out = table[idx + ([columns] if columns else [])].copy()
    out["estimate"] = text
    if columns:
        wide = out.pivot_table(index=idx, columns=columns, values="estimate", aggfunc="first",
                               observed=True)
        rows = pd.MultiIndex.from_frame(out[idx].drop_duplicates()) if len(idx) > 1 else \
            pd.Index(out[idx[0]].drop_duplicates(), name=idx[0])
        wide = wide.reindex(index=rows, columns=list(out[columns].drop_duplicates()))
        wide.columns.name = columns
        return wide
    if n_col and n_col in table:
        out["n"] = ["" if s or pd.isna(v) else f"{int(v):,}" for s, v in zip(supp, table[n_col])]
    return out.set_index(idx)


# -- numbers by what they are (issue 17): one rule per kind of quantity ------------------------
#: Kinds of quantity and how each is written: ``count`` (integer with thousands separators),
#: ``score`` (2 decimals), ``nps`` (1 decimal), ``percent`` (a 0-1 share, written x100 with 1
#: decimal and ``%``), ``percentage_points`` (a difference of 0-1 shares, x100, 1 decimal),
#: ``p_value`` (the APA rule), ``fit`` (3 decimals), ``coefficient``
#: (correlations, standardised paths, effect sizes: 2 decimals), ``number`` (anything else).
KINDS = ("count", "score", "nps", "percent", "percentage_points", "p_value", "fit", "coefficient",
         "number")
_MISSING = "–"


def _absent(x: Any) -> bool:
    if x is None or isinstance(x, bool):
        return x is None
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def format_count(x: Any) -> str:
    """A count: ``"3,565"``; a whole float (``822.0``) is written as the integer it is.

    Notes
    -----
    A count recorded as a float with a fraction (an effective sample size) keeps one decimal.
    Tested in ``tests/test_formatting.py``.
    """
    if _absent(x):
        return _MISSING
    v = float(x)
    return f"{int(round(v)):,}" if v == round(v) else f"{v:,.1f}"


def format_score(x: Any) -> str:
    """A score on an answer scale (1-7, 0-10) or a difference of scores: 2 decimals."""
    return _MISSING if _absent(x) else f"{float(x):.2f}"


def format_nps(x: Any) -> str:
    """An NPS (-100 to +100) or a difference of NPS: 1 decimal."""
    return _MISSING if _absent(x) else f"{float(x):.1f}"


def format_percent(share: Any) -> str:
    """A share recorded on 0-1, written in percent with 1 decimal: ``0.5112`` -> ``"51.1%"``."""
    return _MISSING if _absent(share) else f"{100 * float(share):.1f}%"


def format_percentage_points(diff: Any) -> str:
    """A difference of two 0-1 shares in percentage points, 1 decimal: ``0.1853`` -> ``"18.5"``."""
    return _MISSING if _absent(diff) else f"{100 * float(diff):.1f}"


def format_p_apa(p: Any) -> str:
    """A p-value by the APA rule (7th ed., 6.36): exact to 3 decimals without the leading
    zero (``".013"``), ``"< .001"`` below 0.001 and ``"> .999"`` above 0.999.

    Notes
    -----
    Tested in ``tests/test_formatting.py`` at the boundaries (0.001, 0.0005, 0.9995).
    """
    if _absent(p):
        return _MISSING
    p = float(p)
    if p < 0.001:
        return "< .001"
    if p > 0.999:
        return "> .999"
    return f"{p:.3f}".lstrip("0")


def p_clause(p: Any) -> str:
    """``"p = .013"`` or ``"p < .001"`` (:func:`format_p_apa`); empty when ``p`` is missing."""
    if _absent(p):
        return ""
    text = format_p_apa(p)
    return f"p {text}" if text[0] in "<>" else f"p = {text}"


def format_fit(x: Any) -> str:
    """A fit index (CFI, TLI, RMSEA, SRMR, AVE, CR): 3 decimals."""
    return _MISSING if _absent(x) else f"{float(x):.3f}"


def format_coefficient(x: Any) -> str:
    """A correlation, standardised path or effect size: 2 decimals."""
    return _MISSING if _absent(x) else f"{float(x):.2f}"


def _format_plain(x: Any) -> str:
    if _absent(x):
        return _MISSING
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, str):
        return x
    v = float(x)
    if v == round(v) and abs(v) < 1e15:
        return f"{int(round(v)):,}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}"


_BY_KIND = {"count": format_count, "score": format_score, "nps": format_nps,
            "percent": format_percent, "percentage_points": format_percentage_points,
            "p_value": format_p_apa, "fit": format_fit,
            "coefficient": format_coefficient, "number": _format_plain}


def format_kind(x: Any, kind: str | None) -> str:
    """``x`` written by the rule of its ``kind`` (:data:`KINDS`; unknown or ``None``: number).

    Text values are returned as they are, booleans as ``yes``/``no``.
    """
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    return _BY_KIND.get(kind or "number", _format_plain)(x)


def format_interval(est: Any, ci_low: Any = None, ci_high: Any = None,
                    kind: str | None = None) -> str:
    """``"5.93 [5.87, 6.00]"``, ``"51.1% [48.7, 53.6]"``: an estimate and its interval."""
    text = format_kind(est, kind)
    if _absent(ci_low) or _absent(ci_high) or isinstance(est, str):
        return text
    low, high = format_kind(ci_low, kind), format_kind(ci_high, kind)
    if kind == "percent":  # "51.1% [48.7, 53.6]": the unit once
        low, high = low.rstrip("%"), high.rstrip("%")
    return f"{text} [{low}, {high}]"


def kind_of_unit(unit: str | None) -> str:
    """The kind of a quantity from the unit a notebook recorded (when no glossary entry says):
    shares -> ``percent``, NPS -> ``nps``, answer scales -> ``score``, else ``number``."""
    u = (unit or "").lower()
    if u.startswith("share") or u.startswith("%") or u.startswith("proportion"):
        return "percent"
    if "nps" in u or "-100" in u:
        return "nps"
    if "scale" in u or "points on" in u:
        return "score"
    if "standardised" in u or "correlation" in u:
        return "coefficient"
    return "number"


def format_n(n: Any = None, n_accounts: Any = None, what: str = "respondents") -> str:
    """``"n = 822 respondents in 171 accounts"``; ``""`` when neither is known."""
    parts = []
    if not _absent(n):
        parts.append(f"n = {format_count(n)} {what}".rstrip())
    if not _absent(n_accounts):
        acc = f"{format_count(n_accounts)} accounts"
        parts.append(f"in {acc}" if parts else acc)
    return " ".join(parts)


# -- running text: "0.46 [95% CI 0.44 to 0.49]", "p = 0.013" --------------------------------------
def _missing(x: Any) -> bool:
    return x is None or bool(pd.isna(x)) or (isinstance(x, float) and not math.isfinite(x))


def format_fixed(x: Any, digits: int = 2, *, sign: bool = False, grouping: bool = True) -> str:
    """A number for running text, ``"–"`` when missing.

    With ``grouping`` (the default): thousands separated, integers and whole floats of 100 or
    more without decimals (``"3,558"``), other floats with ``digits`` decimals (``"0.46"``,
    ``"1,234.50"``). Without: Python's plain fixed-point format (``"1234.50"``). ``sign``
    writes the sign of every number (``"+0.25"``), for differences and changes. A number that
    rounds to zero at ``digits`` is written as zero (``"0.000"``, ``"+0.000"``), never
    ``"-0.000"``.

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    if _missing(x):
        return "–"
    plus = "+" if sign else ""
    if not isinstance(x, (int, np.integer)) and round(float(x), digits) == 0:
        x = 0.0  # -0.0004 at 3 digits is "0.000", not "-0.000": a sign would claim a direction
    if not grouping:
        return f"{float(x):{plus}.{digits}f}"
    if isinstance(x, (int, np.integer)) or (float(x).is_integer() and abs(x) >= 100):
        return f"{int(x):{plus},}"
    return f"{float(x):{plus},.{digits}f}"


def format_ci_text(est: Any, ci_low: Any, ci_high: Any, *, ci: float = 0.95, digits: int = 2,
                   scale: float = 1.0, unit: str = "") -> str:
    """``"0.46 [95% CI 0.44 to 0.49]"``: an estimate and its interval for running text.

    ``scale`` multiplies all three (100 for percent) and ``unit`` follows each number
    (``"2% [95% CI 1% to 4%]"``); a missing number is a dash (:func:`format_fixed`).
    """
    def one(v):
        return format_fixed(None if v is None or pd.isna(v) else scale * v, digits) + unit

    return f"{one(est)} [{100 * ci:g}% CI {one(ci_low)} to {one(ci_high)}]"


def format_signed_ci(est: Any, ci_low: Any = None, ci_high: Any = None, *, digits: int = 2,
                     scale: float = 1.0) -> str:
    """A change and its interval with every sign shown: ``"+0.25 [-0.03, +0.47]"``.

    As :func:`format_ci` (``scale`` 100 for percent; the estimate alone when a bound is
    missing; ``"–"`` when the estimate is), for differences and changes.

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    if _missing(est):
        return "–"
    one = [format_fixed(None if _missing(v) else scale * float(v), digits, sign=True, grouping=False)
           for v in (est, ci_low, ci_high)]
    if _missing(ci_low) or _missing(ci_high):
        return one[0]
    return f"{one[0]} [{one[1]}, {one[2]}]"


def format_p_text(p: Any) -> str:
    """A p-value in running text: ``"p = 0.013"``, ``"p < 0.001"``, ``"p = –"`` when missing."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def format_ci_sentence(est: Any, ci_low: Any, ci_high: Any, *, level: float = 0.95,
                       digits: int = 2, sign: bool = False, scale: float = 1.0, unit: str = "",
                       p: Any = None, extra: str = "") -> str:
    """An estimate as a sentence reads it: ``"-0.16 (95% CI -0.37 to +0.05; p = 0.138)"``.

    Parameters
    ----------
    est, ci_low, ci_high : number
        The estimate and its bounds (missing ones are written ``–``).
    level : float
        Confidence level of the interval, named in the text (``0.9`` -> ``90% CI``).
    digits, sign, scale : int, bool, float
        Decimals, signs on every number (for differences), factor (100 for percent).
    unit : str
        Written right after the estimate (``"%"``, ``" points"``).
    p : float, optional
        P-value, added as :func:`format_p_text` when given.
    extra : str
        Further text inside the brackets (``"n = 160 and 662"``).

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    v = [None if _missing(x) else scale * float(x) for x in (est, ci_low, ci_high)]
    inside = [(f"{100 * level:g}% CI {format_fixed(v[1], digits, sign=sign, grouping=False)} to "
              f"{format_fixed(v[2], digits, sign=sign, grouping=False)}")]
    inside += [t for t in (format_p_text(p) if p is not None else "", extra) if t]
    return f"{format_fixed(v[0], digits, sign=sign, grouping=False)}{unit} ({'; '.join(inside)})"


class Text(NamedTuple):
    """Plain text whose wording is kept apart from the data in it.

    ``template`` is a literal of the code that words it: ``{name}`` fields are filled from
    ``values`` as :meth:`str.format` does, and names of parameters, columns or settings may be
    quoted in backticks (outside any field). ``str(text)`` is the sentence as plain text
    (what results.json records); the report layer shows the quoted names as code and every
    value escaped.
    """

    template: str
    values: Mapping[str, Any] = MappingProxyType({})

    def __str__(self) -> str:
        return self.template.format(**self.values)


def text(template: str, /, **values: Any) -> Text:
    """``Text(template, values)``: ``text("n = {n} in {wave}", n=12, wave=label)``."""
    return Text(template, MappingProxyType(dict(values)))


#: Punctuation that follows a bold lead without a space.
_CLOSING = tuple(",.;:)")


class Finding(NamedTuple):
    """A sentence that leads with its claim: ``lead`` (shown in bold), then ``rest``.

    The two are joined by a space unless ``rest`` is empty or starts with punctuation
    (``Finding("Convergent validity holds", ": every ...")``).
    """

    lead: str | Text
    rest: str | Text = ""

    @property
    def separator(self) -> str:
        """What goes between lead and rest: ``""`` or ``" "``."""
        rest = str(self.rest)
        return "" if not rest or rest.startswith(_CLOSING) else " "

    def __str__(self) -> str:
        return f"{self.lead}{self.separator}{self.rest}"


class Caution(NamedTuple):
    """A warning for the reader: ``title``, the ``reasons`` as a list, then ``note``."""

    title: str
    reasons: Sequence[str] = ()
    note: str = ""

    def __str__(self) -> str:
        reasons = "; ".join(map(str, self.reasons))
        return " ".join(p for p in (f"Warning: {self.title}", reasons, self.note) if p)


# -- signed numbers and shares in sentences, interval text columns --------------------------------
def ci_label(ci: float) -> str:
    """``"95% CI"``: the name of an interval at confidence level ``ci``."""
    return f"{ci:.0%} CI"


def format_decimals(x: Any, digits: int = 2, *, signed: bool = False,
                    percent: bool = False) -> str:
    """:func:`format_fixed` without grouping, for shares and signed changes in sentences.

    ``"5.92"``, ``"+0.13"`` (``signed``), ``"51.1%"`` (``percent``: a 0-1 share in percent);
    a value that rounds to zero is ``"0.00"`` or ``"+0.00"``, never ``"-0.00"``; ``"–"`` when
    missing.

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    if x is None or pd.isna(x):
        return format_fixed(None)
    x = 100 * float(x) if percent else float(x)
    if round(x, digits) == 0:
        x = 0.0
    return format_fixed(x, digits, sign=signed, grouping=False) + ("%" if percent else "")


def format_with_ci(row: Mapping[str, Any], digits: int = 2, *, signed: bool = False,
                   percent: bool = False, ci: float = 0.95) -> str:
    """``"5.92 (95% CI 5.86 to 5.98)"``: ``est`` of a result row with its interval, in a sentence.

    ``row`` is a tidy result row (``est``, ``ci_low``, ``ci_high``); numbers as
    :func:`format_decimals` (signed changes, shares in percent after every number, unlike
    :func:`format_ci_sentence`), the level named by :func:`ci_label`.

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    low, high = (format_decimals(row[k], digits, signed=signed, percent=percent)
                 for k in ("ci_low", "ci_high"))
    est = format_decimals(row["est"], digits, signed=signed, percent=percent)
    return f"{est} ({ci_label(ci)} {low} to {high})"


def ci_columns(table: pd.DataFrame, digits: int = 2, *, signed: bool = False,
               percent: bool = False, ci: float = 0.95,
               min_cell_size: int | None = None) -> pd.DataFrame:
    """``est, ci_low, ci_high`` of a tidy table as text columns ``estimate`` and ``95% CI``.

    The two columns take the place of ``est``; a ``suppressed`` row reads ``suppressed (< 5)``
    (with ``min_cell_size``) and the ``suppressed`` column is dropped. Numbers as
    :func:`format_decimals`; an interval reads ``"5.86 to 5.98"``, blank where missing.

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    out = table.copy()
    sup = (out["suppressed"].fillna(False).astype(bool) if "suppressed" in out
           else pd.Series(False, index=out.index))
    why = f"suppressed (< {min_cell_size})" if min_cell_size is not None else "suppressed"
    fixed = {"signed": signed, "percent": percent}
    est = [why if s else format_decimals(e, digits, **fixed) for e, s in zip(out["est"], sup)]
    cis = ["" if pd.isna(lo) else f"{format_decimals(lo, digits, **fixed)} to "
           f"{format_decimals(hi, digits, **fixed)}"
           for lo, hi in zip(out["ci_low"], out["ci_high"])]
    at = list(out.columns).index("est")
    out = out.drop(columns=[c for c in ("est", "ci_low", "ci_high", "suppressed") if c in out])
    out.insert(at, "estimate", est)
    out.insert(at + 1, ci_label(ci), cis)
    return out


def readable_table(table: pd.DataFrame, *, headers: Mapping[str, str] | None = None,
                   words: Mapping[Any, str] | None = None, word_columns=(),
                   counts=()) -> pd.DataFrame:
    """A result table for reviewers: plain words for codes, counts as ``1,234``, readable headers.

    Parameters
    ----------
    table : DataFrame
        Any table; its index is dropped.
    headers : mapping, optional
        Column name -> header; other names show with ``_`` as spaces.
    words : mapping, optional
        Code -> words (``"late_minus_early"`` -> ``"late minus early"``), applied to the
        values of ``word_columns``; other values stay.
    counts : iterable of str
        Columns of counts, shown as whole numbers with a thousands comma (blank when missing).

    Notes
    -----
    Tested in ``tests/test_formatting.py``.
    """
    t = table.reset_index(drop=True).copy()
    words = words or {}
    for c in word_columns:
        if c in t:
            t[c] = t[c].map(lambda v: words.get(v, v))
    for c in counts:
        if c in t:
            t[c] = [("" if pd.isna(v) else f"{v:,.0f}") for v in t[c]]
    headers = headers or {}
    return t.rename(columns={c: headers.get(c, c.replace("_", " ")) for c in t.columns})


# --- The one wording rule (issue 16, item 3) ----------------------------------------------------
#: The words every report uses for a difference whose interval holds zero.
NO_CLEAR_DIFFERENCE = "no clear difference"


def is_clear(ci_low: Any, ci_high: Any, null: float = 0.0) -> bool:
    """Whether an interval lies wholly on one side of ``null`` (both bounds known): the test
    behind every word of direction in a report."""
    if _missing(ci_low) or _missing(ci_high):
        return False
    return float(ci_low) > null or float(ci_high) < null


def difference_words(ci_low: Any, ci_high: Any, *, higher: str, lower: str,
                     null: float = 0.0, none: str = NO_CLEAR_DIFFERENCE) -> str:
    """The one rule for words of direction: ``higher`` when the interval lies above ``null``,
    ``lower`` when below, and ``none`` (``"no clear difference"``) when it holds ``null`` or a
    bound is missing.

    Parameters
    ----------
    ci_low, ci_high : number
        The interval of the difference (or of an estimate against ``null``), at the report's
        confidence level.
    higher, lower : str
        The words for a clear difference up and down (``"better"``, ``"lower"``...).
    null : float
        The value of no difference (0 for differences, 0.5 for an AUC against chance...).
    none : str
        The words when the interval does not exclude ``null``.

    Returns
    -------
    str

    Notes
    -----
    Every sentence a study writes about a difference or a ranking goes through this function
    (or :func:`claim_words`), so "better" is never printed on a non-significant difference.
    Tested in ``tests/test_formatting.py``.
    """
    if not is_clear(ci_low, ci_high, null):
        return none
    return higher if float(ci_low) > null else lower


def claim_words(ci_low: Any, ci_high: Any, *, direction: int = 1, null: float = 0.0) -> str:
    """Whether an interval supports a directional claim (``direction`` +1: above ``null``; -1:
    below): ``"the claim holds"`` only when the whole interval is on the claimed side,
    ``"the data contradict the claim"`` when it is wholly on the other side, else
    ``"the data cannot tell"``.

    Notes
    -----
    The companion of :func:`difference_words` for claims taken from the literature (Morgan &
    Hunt's paths, "NPS and CRQ move together"). Tested in ``tests/test_formatting.py``.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if not is_clear(ci_low, ci_high, null):
        return "the data cannot tell"
    above = float(ci_low) > null
    return "the claim holds" if above == (direction == 1) else "the data contradict the claim"


def word_list(words: Sequence[str]) -> str:
    """Words as a sentence lists them: ``"a"``, ``"a and b"``, ``"a, b and c"``."""
    words = [str(w) for w in words]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)
