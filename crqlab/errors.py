"""crqlab's error types: the only exceptions crqlab raises on purpose.

Every problem found in input data is a :class:`Problem` naming file, column, row and value;
:class:`ValidationError` carries all of them (up to a cap), not just the first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CrqlabError", "Problem", "ValidationError", "InstrumentError", "ConvergenceError",
           "InsufficientDataError", "shorten", "SHOWN_CHARS", "fair_shares"]

#: Longest value or column name a message shows; longer ones are cut and their length given.
SHOWN_CHARS = 60


def shorten(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr`` of a value for a message, cut to about ``limit`` characters.

    A cell of 20 MB is never echoed: a longer text is shown as its first characters, an
    ellipsis and its length (``'xxxx…' (20000000 characters)``).

    Notes
    -----
    Tested in ``tests/hardening/test_hostile_inputs.py`` (a 20 MB cell is named by column and row and
    the message stays short).
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit - 1] + '…'!r} ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit - 1]}… ({len(text):,} characters)"


class CrqlabError(Exception):
    """Base class of every error crqlab raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One problem in one input file.

    ``row`` is the row as numbered in the file: in CSV and XLSX the header is row 1, so the
    first record is row 2; in Parquet the first record is row 1. ``None`` where the problem
    concerns a whole column or file. ``kind`` groups problems in a report (default: the
    message); ``fix`` names the study.yaml key that fixes problems of this kind, when one does.
    Neither takes part in comparisons.
    """

    file: str
    column: str | None
    row: int | None
    value: object
    message: str
    kind: str | None = field(default=None, compare=False)
    fix: str | None = field(default=None, compare=False)

    @property
    def group(self) -> str:
        """What problems are grouped by in a report: ``kind``, else the message."""
        return self.kind or self.message

    def __str__(self) -> str:
        where = [self.file]
        if self.column is not None:
            where.append(f"column {shorten(self.column)}")
        if self.row is not None:
            where.append(f"row {self.row}")
        value = "" if self.value is None else f" (value {shorten(self.value)})"
        return f"{', '.join(where)}: {self.message}{value}"


def fair_shares(counts: list[int], cap: int | None) -> list[int]:
    """How many of each kind to list when at most ``cap`` may be listed in all.

    Water-filling: every kind gets the same share, a kind with fewer problems than its share
    gives the rest to the others; kinds that cannot all get one row are served in order. So a
    flood of one kind never hides another (2,000 of one kind and 3 of three others under a
    cap of 200 list 191 + 3 + 3 + 3).

    Notes
    -----
    Tested in ``tests/test_errors.py`` against a brute-force allocation.
    """
    if cap is None:
        return list(counts)
    shares = [0] * len(counts)
    left = max(int(cap), 0)
    open_ = [i for i, n in enumerate(counts) if n > 0]
    while left > 0 and open_:
        each = max(left // len(open_), 1)
        for i in list(open_):
            give = min(each, counts[i] - shares[i], left)
            shares[i] += give
            left -= give
            if shares[i] == counts[i]:
                open_.remove(i)
            if left == 0:
                break
    return shares


class ValidationError(CrqlabError, ValueError):
    """Input data broke the data contract. ``problems`` lists problems found (capped).

    ``truncated`` counts the problems found but not listed; ``counts`` (kind -> number found,
    listed or not) and ``fixes`` (kind -> the study.yaml key that fixes it) describe every kind,
    so that the report can say how many of each there are even when few are listed. The text
    groups the problems by kind when there is more than one.
    """

    def __init__(self, problems: list[Problem], truncated: int = 0,
                 counts: dict[str, int] | None = None, fixes: dict[str, str] | None = None):
        self.problems = list(problems)
        self.truncated = truncated
        self.counts = dict(counts) if counts is not None else self._listed_counts()
        self.fixes = {p.group: p.fix for p in self.problems if p.fix}
        self.fixes.update(fixes or {})
        super().__init__("\n".join(self._lines()))

    def _listed_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.group] = counts.get(p.group, 0) + 1
        return counts

    def kinds(self) -> list[tuple[str, int, str | None, list[Problem]]]:
        """(kind, number found, fixing study.yaml key or None, problems listed), in the order
        the kinds were first met."""
        order = list(self.counts) + [p.group for p in self.problems if p.group not in self.counts]
        listed: dict[str, list[Problem]] = {k: [] for k in dict.fromkeys(order)}
        for p in self.problems:
            listed[p.group].append(p)
        return [(k, self.counts.get(k, len(v)), self.fixes.get(k), v) for k, v in listed.items()]

    def _lines(self) -> list[str]:
        total = len(self.problems) + self.truncated
        kinds = self.kinds()
        lines = [f"{total} problem(s) in the study data:"]
        if len(kinds) <= 1 and not self.fixes:
            lines += [f"  - {p}" for p in self.problems]
        else:
            for kind, count, fix, shown in kinds:
                more = f" ({len(shown)} listed)" if len(shown) < count else ""
                hint = f"; fix in study.yaml: {fix}" if fix else ""
                what = kind if len(kind) <= 120 else kind[:119] + "…"
                lines.append(f" {count} x {what}{more}{hint}")
                lines += [f"  - {p}" for p in shown]
        if self.truncated:
            lines.append(f"  ... and {self.truncated} more not listed")
        return lines


class InstrumentError(CrqlabError, ValueError):
    """An instrument definition is malformed (unknown or duplicate items, empty element...)."""


class ConvergenceError(CrqlabError, RuntimeError):
    """A model did not converge or gave an improper solution; no estimate is reported."""


class InsufficientDataError(CrqlabError, ValueError):
    """An analysis cannot run on these data (too few cases, waves, groups...); says why and n."""
