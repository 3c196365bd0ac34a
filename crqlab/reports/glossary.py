"""The glossary: one source for the name, unit and definition of every quantity reports show.

The glossary is data (``crqlab/reports/glossary.yaml``); this module reads and checks it and
answers the questions the report layer asks while rendering:

- :meth:`Glossary.quantity` - which quantity a recorded name (``nps.wave_4``,
  ``path.kmv_crq.trust_commitment``) is: its human name, unit, kind (how its numbers are
  written, :data:`crqlab.formatting.KINDS`) and definition;
- :meth:`Glossary.parameter_label`, :meth:`Glossary.column_label`, :func:`describe_value` -
  human names of notebook parameters, table columns and parameter values;
- :meth:`Glossary.question` - the research question of a notebook (findings are grouped by it);
- :func:`markdown` - ``docs/glossary.md`` (``python -m crqlab.reports.glossary > docs/glossary.md``
  regenerates it; ``tests/reports/test_glossary.py`` keeps the two equal).

Nothing is read at import time; :func:`load` reads the file once per process.
"""
from __future__ import annotations

import fnmatch
import functools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crqlab.errors import CrqlabError
from crqlab.formatting import KINDS
from crqlab.paths import PACKAGE_DIR

__all__ = ["GLOSSARY_FILE", "GlossaryError", "Quantity", "Glossary", "load", "humanise",
           "describe_value", "markdown", "main"]

GLOSSARY_FILE = PACKAGE_DIR / "reports" / "glossary.yaml"
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_ITEM = re.compile(r"^([a-z][a-z_]*?)_(\d+)$")


class GlossaryError(CrqlabError, ValueError):
    """The glossary file breaks its own rules (unknown kind or section, a key twice)."""


@dataclass(frozen=True)
class Quantity:
    """One quantity of the glossary."""

    key: str
    section: str
    name: str
    unit: str
    kind: str
    definition: str
    matches: tuple[str, ...]
    n_of: str = "respondents"

    def specificity(self, recorded: str) -> tuple[int, int] | None:
        """How specifically a pattern of ``matches`` names ``recorded`` (exact beats wildcard,
        then more literal characters); ``None`` when none matches."""
        scores = [(int("*" not in pat), len(pat.replace("*", ""))) for pat in self.matches
                  if fnmatch.fnmatchcase(recorded, pat)]
        return max(scores) if scores else None


@dataclass(frozen=True)
class Glossary:
    """The parsed glossary (see the comments at the top of ``glossary.yaml``)."""

    quantities: tuple[Quantity, ...]
    sections: Mapping[str, str]
    questions: Mapping[str, str]
    parameters: Mapping[str, str]
    columns: Mapping[str, str]
    words: tuple[tuple[str, str], ...]

    def quantity(self, recorded: str) -> Quantity | None:
        """The quantity a recorded name is: the most specific match (an exact name, else the
        pattern with the most literal characters; the first listed on a tie), else ``None``."""
        best, score = None, None
        for q in self.quantities:
            s = q.specificity(recorded)
            if s is not None and (score is None or s > score):
                best, score = q, s
        return best

    def question(self, notebook: str) -> str | None:
        """The research question of a notebook, by the two-digit prefix of its file name."""
        return self.questions.get(Path(notebook).name[:2])

    def parameter_label(self, name: str) -> str:
        """``"Bootstrap resamples"`` for ``n_boot``; unknown names made readable."""
        return self.parameters.get(name) or humanise(name)

    def column_label(self, name: str) -> str:
        """``"Lower 95% bound"`` for ``ci_low``; CRQ items and unknown names made readable."""
        return self.columns.get(name) or _item_label(name) or humanise(name)


def humanise(name: str) -> str:
    """``"tenure_years"`` -> ``"Tenure years"``: a snake_case name as words (other text as is)."""
    if not isinstance(name, str) or not _SNAKE.match(name):
        return name
    text = name.replace("_", " ")
    return text[0].upper() + text[1:]


def _item_label(name: str) -> str | None:
    """``trust_1`` -> ``"Trust, question 1"``; a facet item (``leading_edge``) -> its label."""
    from crqlab.data.instruments import load_instrument

    crq = load_instrument("crq")
    if name not in crq.items:
        return None
    m = _ITEM.match(name)
    if m and m.group(1) in crq.elements:
        return f"{crq.label(m.group(1))}, question {m.group(2)}"
    return crq.label(name) if crq.label(name) != name else None


def describe_value(value: Any, glossary: Glossary | None = None) -> str:
    """A parameter value as text: lists joined, snake_case values as words, booleans yes/no."""
    g = glossary or load()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(describe_value(v, g) for v in value) or "none"
    if isinstance(value, str):
        return g.column_label(value) if _SNAKE.match(value) else (value or "none")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _quantity(entry: Mapping[str, Any], sections: Mapping[str, str]) -> Quantity:
    key = entry.get("key")
    if entry.get("kind") not in KINDS:
        raise GlossaryError(f"glossary quantity {key!r}: kind {entry.get('kind')!r} is not one "
                            f"of {', '.join(KINDS)}")
    if entry.get("section") not in sections:
        raise GlossaryError(f"glossary quantity {key!r}: unknown section {entry.get('section')!r}")
    for field in ("name", "definition", "matches"):
        if not entry.get(field):
            raise GlossaryError(f"glossary quantity {key!r} has no {field}")
    return Quantity(key=str(key), section=entry["section"], name=str(entry["name"]),
                    unit=str(entry.get("unit") or ""), kind=entry["kind"],
                    definition=" ".join(str(entry["definition"]).split()),
                    matches=tuple(str(m) for m in entry["matches"]),
                    n_of=str(entry.get("n_of") or "respondents"))


def _parse(doc: Mapping[str, Any]) -> Glossary:
    sections = {s["key"]: s["title"] for s in doc["sections"]}
    quantities = tuple(_quantity(e, sections) for e in doc["quantities"])
    keys = [q.key for q in quantities]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise GlossaryError(f"glossary quantities listed twice: {', '.join(twice)}")
    return Glossary(quantities=quantities, sections=sections,
                    questions={str(q["notebook"]): q["question"] for q in doc["questions"]},
                    parameters=dict(doc.get("parameters") or {}),
                    columns=dict(doc.get("columns") or {}),
                    words=tuple((w["term"], " ".join(w["definition"].split()))
                                for w in doc.get("words") or []))


@functools.cache
def _load_cached(path: str) -> Glossary:
    with open(path, encoding="utf-8") as fh:
        return _parse(yaml.safe_load(fh))


def load(path: str | Path = GLOSSARY_FILE) -> Glossary:
    """The glossary in ``path`` (default: the shipped one), read once per process.

    Raises
    ------
    GlossaryError
        An unknown kind or section, a quantity without name or definition, a key twice.

    Notes
    -----
    Tested in ``tests/reports/test_glossary.py``: every headline and finding name a study
    notebook records is covered, and ``docs/glossary.md`` equals :func:`markdown`.
    """
    return _load_cached(str(Path(path).resolve()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(glossary: Glossary | None = None) -> str:
    """``docs/glossary.md``: quantities by section (name, unit, definition, recorded names),
    the research questions, the words, parameter and column names."""
    g = glossary or load()
    out = ["# Glossary", "",
           "Every quantity the reports show, with its unit and definition. Generated from",
           "`crqlab/reports/glossary.yaml` by `python -m crqlab.reports.glossary > docs/glossary.md`;",
           "each run also writes it as `glossary.html`, linked from every report. The last column",
           "gives the names notebooks record in `results.json` (for analysts; reports never show",
           "them).", "", "## Research questions", "", "| notebook | question |", "|---|---|"]
    out += [f"| {nb} | {_cell(q)} |" for nb, q in g.questions.items()]
    for key, title in g.sections.items():
        out += ["", f"## {title}", "", "| quantity | unit | definition | recorded as |",
                "|---|---|---|---|"]
        for q in (q for q in g.quantities if q.section == key):
            names = ", ".join(f"`{m}`" for m in q.matches)
            out.append(f"| {_cell(q.name)} | {_cell(q.unit) or '-'} | {_cell(q.definition)} "
                       f"| {names} |")
    out += ["", "## Words", "", "| word | meaning |", "|---|---|"]
    out += [f"| {_cell(t)} | {_cell(d)} |" for t, d in g.words]
    out += ["", "## Notebook parameters", "", "| parameter | shown as |", "|---|---|"]
    out += [f"| `{k}` | {_cell(v)} |" for k, v in g.parameters.items()]
    out += ["", "## Table columns", "", "| column | shown as |", "|---|---|"]
    out += [f"| `{k}` | {_cell(v)} |" for k, v in g.columns.items()]
    return "\n".join(out) + "\n"


def main() -> int:
    """Print :func:`markdown` (``python -m crqlab.reports.glossary > docs/glossary.md``)."""
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
