"""crqlab's error types: the only exceptions crqlab raises on purpose.

Every problem found in input data is a :class:`Problem` naming file, column, row and value;
:class:`ValidationError` carries all of them (up to a cap), not just the first.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CrqlabError", "Problem", "ValidationError", "InstrumentError", "ConvergenceError",
           "InsufficientDataError", "shorten", "SHOWN_CHARS"]

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
    concerns a whole column or file.
    """

    file: str
    column: str | None
    row: int | None
    value: object
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.column is not None:
            where.append(f"column {shorten(self.column)}")
        if self.row is not None:
            where.append(f"row {self.row}")
        value = "" if self.value is None else f" (value {shorten(self.value)})"
        return f"{', '.join(where)}: {self.message}{value}"


class ValidationError(CrqlabError, ValueError):
    """Input data broke the data contract. ``problems`` lists every problem found (capped)."""

    def __init__(self, problems: list[Problem], truncated: int = 0):
        self.problems = list(problems)
        self.truncated = truncated
        lines = [f"{len(self.problems) + truncated} problem(s) in the study data:"]
        lines += [f"  - {p}" for p in self.problems]
        if truncated:
            lines.append(f"  ... and {truncated} more not listed")
        super().__init__("\n".join(lines))


class InstrumentError(CrqlabError, ValueError):
    """An instrument definition is malformed (unknown or duplicate items, empty element...)."""


class ConvergenceError(CrqlabError, RuntimeError):
    """A model did not converge or gave an improper solution; no estimate is reported."""


class InsufficientDataError(CrqlabError, ValueError):
    """An analysis cannot run on these data (too few cases, waves, groups...); says why and n."""
