"""Privacy of confidential respondents: small-cell suppression, safe verbatims, leak scanning.

Rules (DESIGN.md, Privacy): no names, e-mails or contact ids of confidential respondents in any
report; no verbatim attributed to them; no table cell or plot point for a group smaller than the
minimum cell size (default 5). Every study notebook routes its tables through
:func:`suppress_small` and its verbatims through :func:`safe_verbatims`; the runner scans every
file it publishes with :func:`find_leaks` before it replaces the previous reports.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_MIN_CELL_SIZE", "suppress_small", "safe_verbatims", "scrub_text",
           "confidential_identifiers", "unscannable_identifiers", "MIN_NUMERIC_IDENTIFIER",
           "find_leaks"]

DEFAULT_MIN_CELL_SIZE = 5
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ()/-]{7,}\d")


def suppress_small(table: pd.DataFrame, n_col: str = "n", min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
                   value_cols: Iterable[str] | None = None) -> pd.DataFrame:
    """Blank the numbers of rows whose group is smaller than ``min_cell_size``.

    The rows stay (a reader sees that the group exists and was suppressed); their value
    columns become missing, ``n`` is kept only as "< min" by setting it missing too, and a
    boolean ``suppressed`` column says which rows were blanked.

    Parameters
    ----------
    table : DataFrame
        One row per group, with a count column ``n_col``.
    value_cols : iterable of str, optional
        Columns to blank; default every numeric column except the count.
    """
    out = table.copy()
    small = pd.to_numeric(out[n_col], errors="coerce").fillna(0) < min_cell_size
    cols = list(value_cols) if value_cols is not None else [
        c for c in out.columns if c != n_col and pd.api.types.is_numeric_dtype(out[c])
        and not pd.api.types.is_bool_dtype(out[c])]
    for c in cols + [n_col]:
        if small.any():
            out[c] = out[c].astype("float64") if pd.api.types.is_integer_dtype(out[c]) else out[c]
            out.loc[small, c] = np.nan
    before = out["suppressed"].fillna(False).astype(bool).to_numpy() if "suppressed" in out else False
    out["suppressed"] = small.to_numpy() | before
    return out


def scrub_text(text: str, names: Iterable[str] = ()) -> str:
    """Mask e-mail addresses, phone numbers and the given names inside free text."""
    if not isinstance(text, str):
        return text
    out = _EMAIL.sub("[e-mail removed]", text)
    out = _PHONE.sub("[number removed]", out)
    pattern = _names_pattern(tuple(names))  # compiled once per set of names (cached)
    return pattern.sub("[name removed]", out) if pattern is not None else out


@lru_cache(maxsize=8)
def _names_pattern(names: tuple) -> re.Pattern | None:
    """One case-insensitive alternation of every name (longest first): one pass per text,
    however many names (a regex per name made a notebook's verbatim cell take minutes)."""
    usable = sorted({n for n in names if isinstance(n, str) and len(n) >= 3}, key=len,
                    reverse=True)
    if not usable:
        return None
    return re.compile("|".join(map(re.escape, usable)), flags=re.IGNORECASE)


def safe_verbatims(respondents: pd.DataFrame, column: str, *, by: str | None = None,
                   min_cell_size: int = DEFAULT_MIN_CELL_SIZE, names: Iterable[str] = (),
                   seed: int = 0) -> pd.DataFrame:
    """Verbatims that identify nobody: text only (plus a group column), shuffled, scrubbed.

    Contact and account ids, names and e-mails are never returned; e-mails, phone numbers and
    the given ``names`` are masked inside the text; rows are shuffled with ``seed`` so that
    order reveals nothing; a group (``by``) with fewer than ``min_cell_size`` verbatims is
    dropped whole, and if the whole set is smaller than that, nothing is returned.
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
    names = tuple(names)
    out[column] = out[column].astype(str).map(lambda t: scrub_text(t, names))
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
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    """Text as a reader sees it: entities and JSON escapes decoded, NFKC, spaces collapsed,
    case folded (so ``O&#x27;Brien``, ``M\\u00fcller`` and ``JANE DOE`` are found)."""
    text = _BASE64_RUN.sub(" ", text)
    text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = html.unescape(html.unescape(text))  # twice: HTML inside a JSON string inside HTML
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).casefold()


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

    Identifiers are matched as whole tokens (``C12`` does not match ``C123``), ignoring case,
    Unicode form and runs of white space, after decoding HTML entities and JSON ``\\uXXXX``
    escapes; embedded base64 data (images) is skipped. Text inside images is not read.
    Identifiers that cannot be told from ordinary report text (:func:`unscannable_identifiers`)
    are skipped.

    Notes
    -----
    Validated by tests/test_privacy.py and tests/test_privacy_canary.py (marker identifiers
    planted in a study, escaped forms, a full ``crqlab run``).
    """
    identifiers = [i for i in identifiers if i is not None]
    skip = unscannable_identifiers(identifiers)
    originals: dict[str, str] = {}
    for i in identifiers:
        if str(i).strip() and str(i) not in skip:
            originals.setdefault(_normalise(str(i)).strip(), str(i))
    idents = sorted(originals, key=len, reverse=True)
    if not idents:
        return []
    pattern = re.compile(r"(?<![\w@.-])(" + "|".join(map(re.escape, idents)) + r")(?![\w@-])")
    leaks = []
    for p in paths:
        p = Path(p)
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except (OSError, UnicodeError):
            continue
        for m in sorted(set(pattern.findall(_normalise(text)))):
            leaks.append((p, originals[m]))
    return leaks
