"""Plain words for reviewers: library messages as sentences, and what must never show.

Two things live here, so that the report layer and its tests agree on them:

- :func:`plain_warning` / :func:`plain_error` - a message of a library (statsmodels, scipy,
  semopy, pandas) or of a failed notebook, as a sentence a reviewer reads: a table of known
  messages (:data:`KNOWN_MESSAGES`) and a generic sentence for the rest. crqlab's own errors
  (subclasses of :class:`crqlab.errors.CrqlabError`) are already written for people and pass
  through unchanged.
- :data:`MACHINE_ROOM` / :func:`machine_room` - the patterns of text a reviewer should never
  see (absolute paths, Python reprs, package function names, raw column names, float noise,
  counts written as floats, library messages, citations of files outside the repository).
  The visible-text scan of every page (``tests/hardening/test_report_text.py``) and the check of
  recorded findings (:meth:`crqlab.reports.results.Recorder.finding`) use the same patterns.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

from crqlab.errors import CrqlabError

__all__ = ["KNOWN_MESSAGES", "GENERIC_WARNING", "MACHINE_ROOM", "plain_warning", "plain_error",
           "machine_room", "is_crqlab_error"]

#: Known library messages (a regular expression, case-insensitive) and the sentence shown
#: instead. The first match wins.
KNOWN_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"perfect (?:quasi-)?separation",
     "The model could not be estimated as usual: one group had no churned accounts (or only "
     "churned ones), so the outcome is predicted perfectly and its effect has no finite size."),
    (r"on the boundary of the parameter space|boundary (?:fit|estimate)|singular fit",
     "A variance in the model was estimated at zero: accounts differ too little for the model "
     "to tell them apart, so its intervals are less reliable."),
    (r"converge|convergencewarning|optimization failed|iteration limit|maximum number of iter",
     "The model's estimation did not settle on a solution; read its numbers with care."),
    (r"hessian|singular matrix|not positive definite|full rank|collinear",
     "The model could not be estimated precisely: some of its inputs carry the same "
     "information (for example a score that does not vary)."),
    (r"input array is constant|constantinput|correlation coefficient is not defined",
     "A score did not vary, so its correlation is undefined."),
    (r"precision loss occurred|nearly identical",
     "Almost all answers in a group were identical, so tests on it say little."),
    (r"degrees of freedom <= 0|ddof",
     "Too few answers to estimate the spread of a group."),
    (r"mean of empty slice|empty (?:slice|sequence|frame|array)|all-nan",
     "A group had no answers, so its figure could not be computed."),
    (r"divide by zero|invalid value encountered|division by zero",
     "A calculation had no valid result: a group without members or without variation."),
    (r"timed? ?out|timeout", "The analysis took longer than allowed and was stopped."),
    (r"memoryerror|out of memory", "The analysis ran out of memory."),
)
#: The sentence for a library message that is not in :data:`KNOWN_MESSAGES`.
GENERIC_WARNING = ("A calculation raised a technical warning; read its figures with care (the "
                   "executed notebook beside this report has the details for an analyst).")
_GENERIC_ERROR = ("The analysis stopped on a technical error; the executed notebook beside this "
                  "report has the details for an analyst.")

#: What a reviewer never sees: name -> pattern of the visible text of a page.
MACHINE_ROOM: dict[str, re.Pattern] = {
    "absolute path": re.compile(r"(?<![\w.:/~-])/(?:[\w.@+-]+/)+[\w.@+-]+|\b[A-Za-z]:\\[\w\\. -]+"),
    "Python repr": re.compile(r"\b[A-Za-z_]\w*\(\w+="),
    "package function name": re.compile(r"\bcrqlab\.\w+"),
    "raw column name": re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"),
    "float noise": re.compile(r"\d+\.\d{5,}"),
    "count written as a float": re.compile(
        r"\bn\s*=\s*\d[\d,]*\.0\b|\b\d[\d,]*\.0\s+(?:accounts|respondents|responses|contacts)\b"),
    "library message": re.compile(
        r"(?i)perfect separation|on the boundary of the parameter space|\w+Warning\b|"
        r"Traceback \(most recent|optimization failed|divide by zero encountered|"
        r"invalid value encountered|mean of empty slice"),
    "file outside the repository": re.compile(r"\b(?:METHODS|DESIGN)\.md\b"),
}


def _message_text(message: Any) -> str:
    if isinstance(message, warnings.WarningMessage):
        return f"{message.category.__name__}: {message.message}"
    if isinstance(message, BaseException):
        return f"{type(message).__name__}: {message}"
    return str(message)


def _known(text: str) -> str | None:
    for pattern, sentence in KNOWN_MESSAGES:
        if re.search(pattern, text, re.IGNORECASE):
            return sentence
    return None


def plain_warning(message: Any) -> str:
    """A library warning as a sentence a reviewer can read.

    Parameters
    ----------
    message : str, Warning, warnings.WarningMessage or exception
        What the library said.

    Returns
    -------
    str
        The sentence of the first matching entry of :data:`KNOWN_MESSAGES`, else
        :data:`GENERIC_WARNING`.

    Notes
    -----
    Tested in ``tests/reports/test_wording.py`` on the messages statsmodels, scipy and numpy
    actually raise (perfect separation in a logit, a boundary mixed model, a constant input
    to a correlation, an empty mean): each becomes its sentence and none leaks through.
    """
    return _known(_message_text(message)) or GENERIC_WARNING


def is_crqlab_error(ename: str | None) -> bool:
    """Whether ``ename`` names :class:`~crqlab.errors.CrqlabError` or one of its subclasses
    (imported ones: the errors every layer defines)."""
    names, todo = set(), [CrqlabError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return bool(ename) and ename in names


def plain_error(ename: str | None, evalue: str | None) -> str:
    """The error of a failed notebook as a sentence: a known library message (also inside one
    of crqlab's errors) through :data:`KNOWN_MESSAGES`; crqlab's own messages (written for
    people: file, column, row, value) as they are; anything else as a generic sentence."""
    known = _known(f"{ename}: {evalue}")
    if known is None and (is_crqlab_error(ename) or ename == "PrivacyLeak"):
        return str(evalue or "").strip() or _GENERIC_ERROR
    return known or _GENERIC_ERROR


def machine_room(text: str) -> dict[str, list[str]]:
    """The :data:`MACHINE_ROOM` patterns found in ``text``: name -> sorted distinct matches."""
    found = {}
    for name, pattern in MACHINE_ROOM.items():
        hits = sorted(set(pattern.findall(text)))
        if hits:
            found[name] = hits
    return found
