"""Privacy of confidential respondents: small-cell suppression, safe verbatims, leak scanning.

Rules (docs/hardening.md, sections 1, 2 and 7): no names, e-mails or contact ids of
confidential respondents in any report, in any form they can be written
(:mod:`crqlab.data.nameforms`); no verbatim attributed to them; no table cell or plot point for a
group smaller than the minimum cell size (default 5, never below 3), and no such group's value
recoverable from a total and the cells shown (complementary suppression). Every study notebook
routes its tables through :func:`suppress_small` and its verbatims through
:func:`safe_verbatims`; the runner scans every file it publishes with :func:`find_leaks` before it
replaces the previous reports.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crqlab.data.nameforms import fold, identity_matcher
from crqlab.errors import CrqlabError

__all__ = ["DEFAULT_MIN_CELL_SIZE", "MIN_CELL_SIZE_FLOOR", "PrivacySettingError",
           "check_min_cell_size", "effective_min_cell_size", "suppress_small",
           "complementary_suppression", "safe_verbatims", "scrub_text", "make_scrubber",
           "confidential_identifiers", "unscannable_identifiers", "MIN_NUMERIC_IDENTIFIER",
           "find_leaks"]

DEFAULT_MIN_CELL_SIZE = 5
#: No study or notebook parameter may set a minimum cell size below this.
MIN_CELL_SIZE_FLOOR = 3
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ()/-]{7,}\d")


class PrivacySettingError(CrqlabError, ValueError):
    """A privacy setting (``min_cell_size``) has a value that would loosen the rules."""


# -- minimum cell size ---------------------------------------------------------------------------
def check_min_cell_size(value: Any, where: str = "min_cell_size", *,
                        allow_zero: bool = False) -> int:
    """``value`` as a minimum cell size: an integer of at least :data:`MIN_CELL_SIZE_FLOOR`.

    ``True``, ``2``, ``4.5``, ``"five"`` and ``"5"`` are errors (``PrivacySettingError``, naming
    ``where`` and the value); with ``allow_zero`` a notebook parameter may be 0, meaning "the
    study's own".

    Notes
    -----
    Tested in ``tests/data/test_privacy.py`` (study.yaml, notebook parameter and ``crqlab run -p``,
    which exits 2 with the message).
    """
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if ok and (int(value) >= MIN_CELL_SIZE_FLOOR or (allow_zero and int(value) == 0)):
        return int(value)
    zero = " (or 0 for the study's own)" if allow_zero else ""
    raise PrivacySettingError(f"{where}: {value!r} is not a valid minimum cell size; it must be "
                              f"a whole number of at least {MIN_CELL_SIZE_FLOOR}{zero}")


def effective_min_cell_size(study, parameter: Any = 0) -> int:
    """The larger of a notebook's ``min_cell_size`` parameter (checked; 0 = the study's own)
    and the study's own ``min_cell_size``: a parameter may raise the rule, never loosen it.

    Notes
    -----
    Used by notebooks 20, 30 and 40; tested in ``tests/data/test_privacy.py``.
    """
    own = check_min_cell_size(study.min_cell_size, "study.yaml min_cell_size")
    return max(check_min_cell_size(parameter, "parameter min_cell_size", allow_zero=True), own)


# -- small cells ---------------------------------------------------------------------------------
def complementary_suppression(n: Sequence[float], small: Sequence[bool], min_cell_size: int,
                              remainder: float = 0.0) -> np.ndarray:
    """Which cells of one partition to suppress so that no small cell can be recovered.

    Parameters
    ----------
    n : sequence of float
        Size of each cell (missing counts as 0).
    small : sequence of bool
        Primary suppressions (cells below the minimum).
    min_cell_size : int
        The minimum.
    remainder : float
        Members of the partition's total that are in no cell shown (e.g. a missing group
        value); when between 1 and ``min_cell_size - 1`` they form a small hidden cell of
        their own, recoverable as the total minus the cells.

    Returns
    -------
    ndarray of bool
        Primary plus secondary suppressions.

    Notes
    -----
    The rule of complementary (secondary) cell suppression for tables with published totals
    (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, ch. 4; tau-argus'
    primary and secondary suppression): while exactly one cell of a partition is hidden, the
    total minus the shown cells gives it back, so the smallest cell still shown is suppressed
    too. Empty cells hide nobody and do not count. crqlab adds the sufficiency condition of the same chapter's protection idea in its
    simplest form: suppression continues, smallest first, until the hidden cells together hold
    at least ``min_cell_size`` members, because the total minus the shown cells is their
    union, and a union smaller than the minimum is itself a small cell. Tested in
    ``tests/data/test_privacy.py`` (for every partition: total minus shown never equals a hidden
    cell's n or sum, and the hidden union is at least the minimum or the whole partition).
    """
    size = np.nan_to_num(np.asarray(n, dtype="float64"), nan=0.0)
    hidden = np.asarray(small, dtype=bool).copy()
    extra = float(remainder) if 0 < remainder < min_cell_size else 0.0
    while (~hidden).any():
        count = int((hidden & (size > 0)).sum()) + (extra > 0)  # empty cells disclose nothing
        if count == 0 or (count >= 2 and size[hidden].sum() + extra >= min_cell_size):
            break
        shown = np.flatnonzero(~hidden)
        hidden[shown[np.argmin(size[shown])]] = True
    return hidden


def _partitions(table: pd.DataFrame, partition) -> dict:
    """Row positions of each partition, keyed by its value (a tuple for several columns)."""
    if partition is False or partition is None:
        return {}
    cols = [] if partition is True else [partition] if isinstance(partition, str) \
        else list(partition)
    if not cols:
        return {None: np.arange(len(table))}
    groups = table.reset_index(drop=True).groupby(cols if len(cols) > 1 else cols[0],
                                                  dropna=False, sort=False)
    return groups.indices


def _remainder(total, key, cells: float) -> float:
    if total is None:
        return 0.0
    t = total.get(key) if isinstance(total, (Mapping, pd.Series)) else total
    return max(float(t) - cells, 0.0) if t is not None and pd.notna(t) else 0.0


def suppress_small(table: pd.DataFrame, n_col: str = "n", min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
                   value_cols: Iterable[str] | None = None, *, partition: bool | str | Sequence[str] = False,
                   total: float | Mapping | None = None) -> pd.DataFrame:
    """Blank the numbers of rows whose group is smaller than ``min_cell_size``, and of the rows
    that would give them away.

    The rows stay (a reader sees that the group exists and was suppressed); their value
    columns and ``n`` become missing, and a boolean ``suppressed`` column says which rows were
    blanked (earlier suppressions are kept).

    Parameters
    ----------
    table : DataFrame
        One row per group, with a count column ``n_col``.
    value_cols : iterable of str, optional
        Columns to blank; default every numeric column except the count.
    partition : bool, str or list of str
        Whether the rows partition a total that is (or may be) published, so that a suppressed
        row could be recovered as total minus the others. ``True``: all rows are one partition
        (roles of all respondents); column name(s): rows sharing their values are one
        partition each (``"wave"`` for a wave x role table; add ``"measure"`` or ``"score"``
        in long tables). Each partition then gets complementary suppression
        (:func:`complementary_suppression`). ``False`` (default): small rows only.
    total : number or mapping, optional
        The size of the total each partition splits (a number with ``partition=True``, else
        a mapping from the partition's value, a tuple for several columns). Members in no row
        (a missing group value) then count as a hidden cell.

    Notes
    -----
    Tested in ``tests/data/test_privacy.py``: primary suppression, the complementary rule on group
    tables with totals (including a remainder), and that no suppressed row keeps an n.
    """
    out = table.copy()
    n = pd.to_numeric(out[n_col], errors="coerce")
    small = (n.fillna(0) < min_cell_size).to_numpy()
    before = out["suppressed"].fillna(False).astype(bool).to_numpy() if "suppressed" in out \
        else np.zeros(len(out), dtype=bool)
    hidden = small | before
    for key, rows in _partitions(out, partition).items():
        hidden[rows] = complementary_suppression(
            n.iloc[rows], hidden[rows], min_cell_size,
            _remainder(total, key, float(n.iloc[rows].fillna(0).sum())))
    cols = list(value_cols) if value_cols is not None else [
        c for c in out.columns if c != n_col and pd.api.types.is_numeric_dtype(out[c])
        and not pd.api.types.is_bool_dtype(out[c])]
    if hidden.any():
        for c in cols + [n_col]:
            if pd.api.types.is_integer_dtype(out[c]):
                out[c] = out[c].astype("float64")
            out.loc[hidden, c] = np.nan
    out["suppressed"] = hidden
    return out


# -- verbatims -----------------------------------------------------------------------------------
_DOT_WORD = r"\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+"
_DOT_TIGHT, _DOT_LOOSE = rf"(?:{_DOT_WORD}|\.)", rf"(?:{_DOT_WORD}|\s*\.\s*)"
_LOCAL = rf"[\w+-]+(?:{_DOT_TIGHT}[\w+-]+)*"


def _domain(dot: str) -> str:
    return rf"[\w-]+(?:{dot}[\w-]+)*{dot}[a-z]{{2,24}}(?![\w@])"


#: Words before a plain " at " that start a sentence, not an address ("meet me at acme.com").
_NOT_LOCAL = r"(?!(?:me|us|you|him|her|them|it|is|are|was|were|be|am|or|and|but|here|there|" \
             r"mail|email|e-mail|write|reach|contact|find|call|meet|met|work|works|worked|based|" \
             r"located|available|online|look|looked)\s)"
#: An address written out: ``jane dot doe at acme dot com``, ``jane.doe [at] acme [dot] com``,
#: ``jane(at)acme.com``, ``jane @ acme . com`` (any case). Known addresses are also matched in
#: every form by the identity matcher; this catches unknown ones. After a plain " at " the
#: dots must be spelled out or unspaced, so that "at home. Then" is no address.
_SPELLED_EMAIL = re.compile(
    rf"(?<![\w.@])(?:{_LOCAL}(?:\s*[\[({{<]\s*at\s*[\])}}>]\s*|\s+@\s*|\s*@\s+){_domain(_DOT_LOOSE)}"
    rf"|{_NOT_LOCAL}{_LOCAL}\s+at\s+{_domain(_DOT_TIGHT)})", re.IGNORECASE)
#: Cheap test first: a text with no "@" and no " at " / "(at)" holds no address at all.
_AT_HINT = re.compile(r"@|[\s\[({<]at[\s\])}>]", re.IGNORECASE)
_LABELS = {"e": "[e-mail removed]", "n": "[name removed]"}


def _scrub(text: str, matcher) -> str:
    out = _EMAIL.sub(_LABELS["e"], text)
    spans = matcher.spans(out) if matcher else []
    for start, end, kind, _ in reversed(spans):
        out = out[:start] + _LABELS[kind] + out[end:]
    if _AT_HINT.search(out):
        out = _SPELLED_EMAIL.sub(_LABELS["e"], out)
    return _PHONE.sub("[number removed]", out)


def make_scrubber(names: Iterable[str] = (), terms: Iterable[str] = ()) -> Callable[[Any], Any]:
    """:func:`scrub_text` with the names and terms compiled once: a function of one text
    (non-strings, such as missing values, are returned as they are)."""
    matcher = identity_matcher(tuple(names), tuple(terms))
    return lambda text: _scrub(text, matcher) if isinstance(text, str) else text


def scrub_text(text: str, names: Iterable[str] = (), *, terms: Iterable[str] = ()) -> str:
    """Mask e-mail addresses, phone numbers, and the given names and terms inside free text.

    Parameters
    ----------
    text : str
        Free text (a non-string is returned as it is).
    names : iterable of str
        People's names and e-mail addresses, masked in every form they are written
        (:mod:`crqlab.data.nameforms`: ``Doe, Jane``, ``J. Doe``, a rare surname alone, zero-width
        or non-breaking spaces, accents, ``jane dot doe at acme dot com`` ...).
    terms : iterable of str
        Other identifying strings (account names), masked whole in any case, accents or
        spacing, never reordered or shortened.

    Notes
    -----
    Any e-mail address, written plainly or spelled out, becomes ``[e-mail removed]``; names
    become ``[name removed]``; phone numbers ``[number removed]``. Tested form by form in
    ``tests/data/test_privacy.py``; common words equal to a surname (``Young``, ``Price``) stay in
    ordinary text.
    """
    return make_scrubber(names, terms)(text)


def safe_verbatims(respondents: pd.DataFrame, column: str, *, by: str | None = None,
                   min_cell_size: int = DEFAULT_MIN_CELL_SIZE, names: Iterable[str] = (),
                   terms: Iterable[str] = (), seed: int = 0) -> pd.DataFrame:
    """Verbatims that identify nobody: text only (plus a group column), shuffled, scrubbed.

    Contact and account ids, names and e-mails are never returned; e-mails, phone numbers and
    the given ``names`` (every form, :func:`scrub_text`) and ``terms`` are masked inside the
    text; rows are shuffled with ``seed`` so that order reveals nothing; a group (``by``) with
    fewer than ``min_cell_size`` verbatims is dropped whole, and if the whole set is smaller
    than that, nothing is returned.

    Notes
    -----
    The names are compiled once per call (:func:`crqlab.data.nameforms.identity_matcher`), so
    10,000 contacts and 100,000 comments take seconds (``benchmarks/workloads.py``).
    """
    if column not in respondents:
        return pd.DataFrame(columns=[c for c in (by, column) if c])
    keep = [c for c in (by, column) if c]
    out = respondents.loc[respondents[column].notna(), keep].copy()
    out = out[out[column].astype(str).str.strip() != ""]
    if by:
        sizes = out.groupby(by, observed=True)[column].transform("size")
        out = out[sizes >= min_cell_size]
    if len(out) < min_cell_size:
        return out.iloc[0:0].reset_index(drop=True)
    out[column] = out[column].astype(str).map(make_scrubber(names, terms))
    order = np.random.default_rng(seed).permutation(len(out))
    return out.iloc[order].reset_index(drop=True)


def confidential_identifiers(study) -> set[str]:
    """Names, e-mails and contact ids of every respondent who chose confidentiality.

    A contact who was confidential in any wave is covered in every wave: the contact id links
    the waves, so a name shown from a wave where the contact was named (or not asked) would
    identify the confidential answers too. Every name and e-mail the frame ever gives that
    contact is included.
    """
    conf = study.respondents()["confidential"].fillna(False).astype(bool).to_numpy()
    ids = set(study.responses.loc[conf, "contact_id"].dropna().astype(str))
    c = study.contacts[study.contacts["contact_id"].astype(str).isin(ids)]
    for col in ("contact_name", "contact_email"):
        if col in c:
            ids |= {v for v in c[col].dropna().astype(str) if len(v.strip()) >= 3}
    return ids


# Runs of base64 (embedded images): nothing readable hides there, and scanning them only
# yields chance matches of short ids.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_JSON_SPACE = re.compile(r"\\[nrt]")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    """Text as a reader sees it: entities and JSON escapes decoded (``\\n`` as a space), NFKC,
    spaces collapsed, then :func:`crqlab.data.nameforms.fold`-ed (case, accents, zero-width
    characters), so ``O&#x27;Brien``, ``M\\u00fcller``, ``JANE DOE`` and ``Jane&#8203;Doe`` are
    found."""
    text = _BASE64_RUN.sub(" ", text)
    text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _JSON_SPACE.sub(" ", text)
    text = html.unescape(html.unescape(text))  # twice: HTML inside a JSON string inside HTML
    return fold(_SPACES.sub(" ", unicodedata.normalize("NFKC", text)))


#: Shortest all-digit identifier the scan looks for: shorter numbers (counts, years, n) are
#: everywhere in a report, so a numeric contact id like ``1012`` cannot be told from them.
MIN_NUMERIC_IDENTIFIER = 7


def unscannable_identifiers(identifiers: Iterable[str]) -> set[str]:
    """Identifiers :func:`find_leaks` skips: shorter than 3 characters, or digits only (after
    removing spaces and separators) with fewer than :data:`MIN_NUMERIC_IDENTIFIER` digits.

    Such an id (``7``, ``C1``, ``1012``) looks like an ordinary number or label of a report, so
    scanning for it would withhold every report; these contact ids are protected only by the
    rule that no notebook displays contact ids.
    """
    out = set()
    for i in identifiers:
        text = str(i).strip() if i is not None else ""
        digits = re.sub(r"[\s.,_/-]", "", text)
        if len(text) < 3 or (digits.isdigit() and len(digits) < MIN_NUMERIC_IDENTIFIER):
            out.add(str(i))
    return out


def find_leaks(paths: Iterable[Path], identifiers: Iterable[str]) -> list[tuple[Path, str]]:
    """Every (file, identifier) where a confidential identifier appears in a text file.

    Names and e-mail addresses are found in every form :mod:`crqlab.data.nameforms` knows
    (``Doe, Jane``, ``J. Doe``, a rare surname alone, ``jane dot doe at acme dot com``, zero-width
    or non-breaking spaces, accents and umlauts); contact ids and one-word names as whole
    words. Matching ignores case, Unicode form and runs of white space, after decoding HTML
    entities and JSON ``\\uXXXX`` escapes; embedded base64 data (images) is skipped. Text
    inside images is not read. Identifiers that cannot be told from ordinary report text
    (:func:`unscannable_identifiers`) are skipped.

    Notes
    -----
    Validated by tests/data/test_privacy.py (every name form in an HTML and a JSON file) and
    tests/hardening/test_privacy_canary.py (marker identifiers planted in a study, escaped forms, a full
    ``crqlab run``).
    """
    identifiers = [str(i) for i in identifiers if i is not None and str(i).strip()]
    skip = unscannable_identifiers(identifiers)
    matcher = identity_matcher(tuple(sorted(i for i in identifiers if i not in skip)))
    if not matcher:
        return []
    leaks = []
    for p in paths:
        p = Path(p)
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except (OSError, UnicodeError):
            continue
        for ident in sorted({i for *_, i in matcher.matches(_normalise(text))}):
            leaks.append((p, ident))
    return leaks
