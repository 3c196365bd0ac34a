"""``crqlab init``: draft ``study.yaml`` for a client's delivery folder.

The draft is a starting point for a person, not a decision. It reads every file and every
sheet of every workbook, recognises survey platforms' exports (Qualtrics, SurveyMonkey, SPSS:
:mod:`crqlab.data.platforms`), treats survey files that differ only by a year as one table
with a wave per file, guesses which table holds the contacts (invitation frame), the responses
and the accounts (a cover sheet is never taken: a table needs its key column), maps export
columns to the canonical names of the data contract (``docs/data-contract.md``) by normalised
name, item-name patterns (``Trust Q1`` -> ``trust_1``), common synonyms, question text (the
statement of a matrix question, words such as "recommend"), abbreviations (``COMMIT1``) and
close spellings, and proposes import rules from the data: answer label sets, "don't know"
codes, status words for ``responded``, campaign names for waves, Qualtrics preview rows and
unfinished responses, repeated responses, churn dates. Every guess is written with a
``# guessed: ...`` comment, and what it could not map as ``# TODO``; :func:`draft_study` also
returns a listing of every file and sheet and what it was taken for. ``crqlab validate`` then
checks the result against the data.
"""
from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from crqlab.data.instruments import load_instrument
from crqlab.data.platforms import (
    IDENTIFYING_COLUMNS,
    QUALTRICS_COLUMNS,
    SURVEYMONKEY_COLUMNS,
    Layout,
    apply_layout,
    detect_layout,
)
from crqlab.data.readers import RawTable, read_raw_table
from crqlab.data.rules import FALSE_WORDS, LABEL_SETS, TRUE_WORDS, normalise_label
from crqlab.errors import CrqlabError, ValidationError

__all__ = ["TABLE_FILE_TYPES", "SYNONYMS", "TEXT_PATTERNS", "Mapping", "Source", "Candidate",
           "Draft", "normalise_column", "map_columns", "guess_roles", "draft_study",
           "draft_study_yaml"]

TABLE_FILE_TYPES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet", ".pq")
ROLES = ("contacts", "responses", "accounts")
_SEGMENTS = ("role", "newly_included", "industry", "region", "account_manager", "size", "tier")
_FUZZY_CUTOFF = 0.86

#: Export names (normalised, see :func:`normalise_column`) meaning each canonical column,
#: per table, best first. The canonical name itself always matches.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "wave": ("survey_wave", "round", "survey_round", "wave_number", "cycle", "survey_year",
                 "campaign", "campaign_name", "survey_name"),
        "contact_id": ("contactid", "contact_no", "contact_number", "respondent_id", "person_id",
                       "contact", "id", "external_reference", "external_data_reference",
                       "externaldatareference"),
        "account_id": ("accountid", "account", "account_no", "account_number", "company_id",
                       "customer_id", "client_id", "company", "customer", "organisation",
                       "organization"),
        "role": ("contact_role", "job_role", "role_type", "contact_type", "function", "position"),
        "responded": ("has_responded", "response_received", "completed", "complete", "responded_yn",
                      "response", "member_status", "response_status", "campaign_member_status",
                      "survey_status", "status"),
        "newly_included": ("new_contact", "new", "newly_added", "first_time_invited"),
        "invited_on": ("invited", "invitation_date", "date_invited", "invite_date", "sent_on"),
        "responded_on": ("response_date", "date_responded", "completed_on", "completion_date"),
        "reminders": ("reminders_sent", "number_of_reminders", "n_reminders", "reminder_count"),
        "days_to_respond": ("response_days", "days_to_response"),
        "tenure_years": ("tenure", "years_as_customer", "relationship_years"),
        "confidential": ("confidentiality", "keep_confidential", "confidential_response",
                         "anonymous"),
        "contact_name": ("name", "full_name", "respondent_name", "contact_full_name"),
        "contact_email": ("email", "e_mail", "email_address", "e_mail_address", "mail"),
    },
    "responses": {
        "wave": ("survey_wave", "round", "survey_round", "wave_number", "cycle", "survey_year"),
        "contact_id": ("contactid", "contact_no", "contact_number", "respondent_id", "person_id",
                       "contact", "id", "external_reference", "external_data_reference",
                       "externaldatareference", "custom_data_1", "custom_data"),
        "nps": ("likelihood_to_recommend", "likely_to_recommend", "ltr", "recommend",
                "recommendation", "net_promoter_score", "nps_score", "would_recommend",
                "how_likely_are_you_to_recommend_us"),
        "strengths": ("strength", "what_do_we_do_well", "positives", "likes", "best_things"),
        "weaknesses": ("weakness", "improvements", "areas_for_improvement", "what_could_we_improve",
                       "negatives", "dislikes", "improve"),
        "confidential": ("confidentiality", "keep_confidential", "confidential_response",
                         "anonymous"),
    },
    "accounts": {
        "account_id": ("accountid", "account", "account_no", "account_number", "company_id",
                       "customer_id", "client_id", "company", "customer"),
        "wave": ("survey_wave", "round", "survey_round", "cycle", "survey_year"),
        # "company"/"account" name the key first (account_id) and the name only when an ID
        # column is also there
        "account_name": ("company_name", "customer_name", "client_name", "name",
                         "organisation_name", "organization_name", "organisation", "organization",
                         "account", "company", "customer"),
        "industry": ("sector", "vertical", "industry_sector", "segment"),
        "region": ("territory", "geography", "geo", "area", "country", "market"),
        "account_manager": ("am", "kam", "key_account_manager", "owner", "account_owner",
                            "client_manager", "relationship_manager"),
        "size": ("company_size", "employees", "size_band", "revenue_band"),
        "tier": ("account_tier", "segment_tier", "priority"),
        "dormant": ("inactive", "is_dormant", "lapsed"),
        "retained_next_wave": ("retained", "renewed", "still_customer", "retention"),
    },
}
#: Words that point to a table when they appear in a file name.
_FILE_HINTS = {
    "contacts": ("contact", "frame", "invite", "invitation", "sample", "distribution", "panel"),
    "responses": ("response", "answer", "survey", "result", "feedback"),
    "accounts": ("account", "company", "companies", "customer", "client", "crm"),
}
_KEYS = {"wave", "contact_id", "account_id"}


def normalise_column(name: object) -> str:
    """A column name as a comparable key: ``"Contact ID"`` / ``"ContactId"`` -> ``contact_id``.

    Accents are dropped, camelCase is split, anything not a letter or digit becomes ``_``, and
    item numbering is unified (``Trust Q1``, ``trust_01``, ``Trust (1)`` -> ``trust_1``).
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).replace("&", " and ")
    key = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")
    return re.sub(r"^([a-z][a-z_]*?)_?(?:q|item_?)?0*([1-9])$", r"\1_\2", key)


def _without_hints(key: str) -> str:
    """Drop scale hints and trailing noise: ``nps_0_10`` -> ``nps``, ``trust_1_1_7`` kept."""
    return re.sub(r"_(?:0_10|1_7|1_5|1_10|yes_no|y_n|scale)$", "", key)


@dataclass
class Mapping:
    """Column mapping of one table: canonical -> export name, plus what was left over."""

    role: str
    file: str
    columns: list[str]
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    how: dict[str, str] = field(default_factory=dict)

    def score(self, items: set[str]) -> float:
        """How much this table looks like its role: mapped columns, keys and items count less."""
        s = 0.0
        for canonical in self.mapped:
            s += 0.25 if canonical in _KEYS else (0.5 if canonical in items else 1.0)
        return s


def _candidates(role: str, items: list[str]) -> dict[str, tuple[str, ...]]:
    table = dict(SYNONYMS[role])
    if role == "responses":
        for it in items:
            table.setdefault(it, ())
    return table


#: Words in a question's text that name a canonical column (matched in the normalised text).
TEXT_PATTERNS: dict[str, dict[str, tuple[str, ...]]] = {
    "responses": {
        "nps": ("recommend",),
        "strengths": ("do_particularly_well", "do_well", "strength", "like_most", "best_thing"),
        "weaknesses": ("improve", "do_better", "weakness", "like_least"),
        "confidential": ("share_your_name", "may_we_share", "use_your_name", "pass_on_your_name",
                         "name_with"),
    },
}


def _stem(key: str) -> tuple[str, str]:
    """``commit_1`` -> (``commit``, ``1``); ``innov`` -> (``innov``, ``""``)."""
    m = re.fullmatch(r"([a-z][a-z_]*?)_?([0-9]*)", key)
    return (m.group(1).replace("_", ""), m.group(2)) if m else (key, "")


def _abbreviates(key: str, canonical: str) -> bool:
    """``COMMIT1`` for commitment_1, ``INNOV`` for innovation: a prefix of four letters or more
    with the same item number."""
    (a, an), (b, bn) = _stem(key), _stem(canonical)
    return len(a) >= 4 and an == bn and b.startswith(a) and a != b


def _tail(text: str) -> str:
    """The statement of a matrix question's text (after the last `` - `` or ``: ``)."""
    return normalise_column(re.split(r"\s+-\s+|:\s+", str(text))[-1])


def _scores(col: str, key: str, text: str, cands: dict, patterns: dict) -> list[tuple]:
    """(score, canonical, how) of every canonical column ``col`` may be. A long name is a
    question itself (SurveyMonkey names columns by their question text)."""
    out = []
    text = text or (col if len(col) > 30 or " - " in col or "?" in col else "")
    for canonical, syns in cands.items():
        if key == canonical or normalise_column(col) == canonical:
            out.append((3.0, canonical, "name"))
        elif key in syns:
            out.append((2.0 - syns.index(key) / 100, canonical, "synonym"))
        elif text and _tail(text) in (canonical, *syns):
            out.append((2.5, canonical, "question text"))
        elif text and any(p in normalise_column(text) for p in patterns.get(canonical, ())) \
                and "group" not in key:
            out.append((1.5, canonical, "question text"))
        else:
            best = max(difflib.SequenceMatcher(None, key, t).ratio() for t in (canonical, *syns))
            if best >= _FUZZY_CUTOFF and len(key) > 4:
                out.append((best, canonical, f"close spelling ({best:.2f})"))
    abbreviated = [c for c in cands if _abbreviates(key, c)]
    if len(abbreviated) == 1 and not any(c == abbreviated[0] for _, c, _ in out):
        out.append((1.2, abbreviated[0], "abbreviation"))
    return out


def map_columns(role: str, columns: list[str], file: str = "", items: list[str] = (),
                descriptions: dict[str, str] | None = None,
                ignore: frozenset = frozenset()) -> Mapping:
    """Map export columns to canonical ones for a table ``role``; each column is used once.

    Exact canonical names win, then question text (the statement of a matrix question equal to
    a canonical name: ``... - Reliability``), then synonyms in order, then words of the question
    text (``recommend`` -> nps), abbreviations (``COMMIT1`` -> commitment_1) and close spellings
    (difflib ratio at least 0.86, never for names of four letters or fewer). ``descriptions``
    holds each column's question text where the export gives one; ``ignore`` lists platform
    metadata columns that are never mapped.
    """
    cands = _candidates(role, list(items))
    patterns = TEXT_PATTERNS.get(role, {})
    descriptions = descriptions or {}
    scored: list[tuple[float, int, str, str, str]] = []
    for col in columns:
        if col in ignore:
            continue
        key = _without_hints(normalise_column(col))
        for score, canonical, how in _scores(col, key, descriptions.get(col, ""), cands,
                                             patterns):
            scored.append((score, 0, canonical, col, how))
    scored.sort(key=lambda t: (-t[0], columns.index(t[3]), t[2]))
    out = Mapping(role=role, file=file, columns=list(columns))
    used: set[str] = set()
    for _, _, canonical, col, how in scored:
        if canonical in out.mapped or col in used:
            continue
        out.mapped[canonical] = col
        out.how[canonical] = how
        used.add(col)
    out.unmapped = [c for c in columns if c not in used and c not in ignore]
    return out


def _hint(role: str, file: str) -> float:
    name = normalise_column(Path(file).stem.replace("#", " "))
    return 1.5 if any(h in name for h in _FILE_HINTS[role]) else 0.0


#: What a table must have to be taken for a role.
_ROLE_KEYS = {"contacts": ("contact_id",), "responses": ("contact_id", "nps"),
              "accounts": ("account_id",)}


def _eligible(role: str, m: Mapping, items: set[str]) -> bool:
    if role == "responses":
        return "contact_id" in m.mapped and ("nps" in m.mapped or bool(items & set(m.mapped)))
    return all(k in m.mapped for k in _ROLE_KEYS[role])


def guess_roles(tables: dict[str, list[str]], items: list[str],
                descriptions: dict[str, dict[str, str]] | None = None,
                ignore: dict[str, frozenset] | None = None) -> dict[str, Mapping]:
    """Choose the table for each role (accounts optional) by mapped columns and file name.

    A table is taken for a role only if it has the role's key (contacts: a contact id;
    responses: a contact id and the recommend question or an item; accounts: an account id),
    so a cover sheet or a notes file is never taken for anything.
    """
    files = sorted(tables)
    descriptions, ignore = descriptions or {}, ignore or {}
    maps = {(r, f): map_columns(r, tables[f], f, items, descriptions.get(f),
                                ignore.get(f, frozenset())) for r in ROLES for f in files}
    item_set = set(items)

    def score(role: str, f: str | None) -> float | None:
        if f is None:
            return 0.0
        if not _eligible(role, maps[(role, f)], item_set):
            return None
        return maps[(role, f)].score(item_set) + _hint(role, f)

    best, best_score = None, -1.0
    options = [*files, None]
    for combo in itertools.product(options, repeat=len(ROLES)):
        chosen = [f for f in combo if f is not None]
        if len(chosen) != len(set(chosen)):
            continue
        scores = [score(r, f) for r, f in zip(ROLES, combo)]
        if None in scores:
            continue
        if sum(scores) > best_score:
            best, best_score = combo, sum(scores)
    return {r: maps[(r, f)] for r, f in zip(ROLES, best or ()) if f is not None}


def _q(text: object) -> str:
    """``text`` as a YAML double-quoted scalar that reads back exactly, on one line.

    PyYAML's emitter escapes every line break YAML knows (LF, CR, NEL U+0085, U+2028,
    U+2029), control characters, quotes and backslashes, so a column name cannot end the line,
    start a key, an alias, a tag or a comment - in a value or inside a ``#`` comment. (JSON
    quoting, used before, leaves U+2028 and U+2029 raw: YAML reads them as line breaks.)

    Notes
    -----
    Round-trip tested in ``tests/hardening/test_hostile_inputs.py`` (line separators, ``: ``, ``#``,
    ``- ``, ``{``, ``&anchor``, ``*alias``, ``!!python/object``, quotes, leading spaces).
    """
    out = yaml.safe_dump(str(text), default_style='"', allow_unicode=True, width=float("inf"))
    out = out.removesuffix("\n")
    if "\n" in out:  # never: the emitter escapes line breaks and width is unbounded
        raise CrqlabError(f"cannot quote {text!r} on one line")
    return out


def _study_name(folder: Path) -> str:
    """The folder's name as a plain ``study:`` name (ASCII letters, digits, ``_``, ``-``): it
    names the reports folder."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("_-")[:100]
    return name or "study"


# ---------------------------------------------------------------------------------------------
# what the folder holds

_TABLE_SUFFIXES = TABLE_FILE_TYPES + (".sav", ".zsav")
_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")
#: Platform metadata columns that name no canonical column (never mapped, listed once).
_PLATFORM_META = {
    "qualtrics": QUALTRICS_COLUMNS - {"ExternalReference"},
    "surveymonkey": SURVEYMONKEY_COLUMNS - {"Custom Data 1"},
}
#: Answers that mean "no answer" in a scored column (normalised with normalise_label).
_MISSING_WORDS = {normalise_label(w) for w in (
    "Don't know", "Dont know", "Do not know", "N/A", "NA", "Not applicable", "DK",
    "Prefer not to say", "No answer", "Not sure", "Can't say")}
_RESPONDED_WORDS = {normalise_label(w) for w in (
    "Responded", "Completed", "Complete", "Finished", "Submitted", "Answered", "Done", "Yes")}
_GENERIC_WORDS = {"survey", "surveys", "response", "responses", "results", "result", "export",
                  "data", "cx", "nps", "contacts", "contact", "accounts", "account", "crm",
                  "frame", "invitation", "invitations", "sample", "study", "client", "customer"}


@dataclass
class Source:
    """One table in the folder: a file, or one sheet of a workbook (``file.xlsx#Sheet``)."""

    ref: str
    table: RawTable | None = None
    layout: Layout | None = None
    error: str = ""

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.table.frame.columns]

    @property
    def year(self) -> int | None:
        found = _YEAR.findall(Path(self.ref).stem)
        return int(found[-1]) if found else None

    def describe(self) -> str:
        if self.table is None:
            return f"{self.ref}: cannot be read ({self.error})"
        shape = f"{len(self.table.frame)} row(s), {len(self.columns)} column(s)"
        return f"{self.ref}: {self.layout.describe()}; {shape}"


@dataclass
class Candidate:
    """What may become one table: a source, or a series of sources with the same columns
    whose names carry different years (one survey export per wave)."""

    sources: list[Source]

    @property
    def key(self) -> str:
        return " + ".join(s.ref for s in self.sources)

    @property
    def columns(self) -> list[str]:
        return self.sources[0].columns

    @property
    def layout(self) -> Layout:
        return self.sources[0].layout

    @property
    def descriptions(self) -> dict[str, str]:
        return {k: v for s in reversed(self.sources) for k, v in s.table.descriptions.items()}

    @property
    def ignore(self) -> frozenset:
        return frozenset(_PLATFORM_META.get(self.layout.platform, ())) & set(self.columns)

    def frame(self) -> pd.DataFrame:
        return pd.concat([s.table.frame for s in self.sources], ignore_index=True)

    def column(self, name: str) -> pd.Series:
        """A column's cells, trimmed, blanks dropped."""
        return self.frame()[name].dropna().astype(str).str.strip()


def _sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    from crqlab.data.readers import _workbook_errors

    try:
        wb = load_workbook(path, read_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    except _workbook_errors():
        return []


def _refs(path: Path) -> list[str]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = _sheet_names(path)
        if len(sheets) > 1:
            return [f"{path.name}#{s}" for s in sheets]
    return [path.name]


def _sources(folder: Path) -> list[Source]:
    """Every table file and every sheet of every workbook, read with its platform's layout."""
    out = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in _TABLE_SUFFIXES or \
                p.name.startswith((".", "~$")):
            continue
        for ref in _refs(p):
            try:
                raw = read_raw_table(folder / ref)
                layout = detect_layout(raw)
                out.append(Source(ref, apply_layout(raw, layout), layout))
            except ValidationError as exc:
                first = exc.problems[0] if exc.problems else exc
                out.append(Source(ref, error=str(first)))
    return out


def _candidates_of(sources: list[Source]) -> list[Candidate]:
    """Sources with the same columns and different years in their names become one series."""
    groups: dict[tuple, list[Source]] = {}
    for src in sources:
        if src.table is not None:
            groups.setdefault(tuple(src.columns), []).append(src)
    out = []
    for members in groups.values():
        years = [m.year for m in members]
        if len(members) > 1 and None not in years and len(set(years)) == len(years):
            out.append(Candidate(sorted(members, key=lambda m: m.year)))
        else:
            out += [Candidate([m]) for m in members]
    return out


# ---------------------------------------------------------------------------------------------
# guesses: each becomes a line of the draft with its "# guessed: ..." comment

@dataclass
class _Plan:
    """Everything the draft says, decided before it is written."""

    cands: dict[str, Candidate]
    maps: dict[str, Mapping]
    items: list[str]
    scale: tuple[int, int]
    year_waves: dict[int, int] = field(default_factory=dict)
    file_waves: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)
    waves: dict[int, dict] = field(default_factory=dict)
    rules: dict[str, list[str]] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    labelled: dict[str, set] = field(default_factory=dict)  # column -> labels a set explains
    client: tuple[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    rules_for_wave: set = field(default_factory=set)  # roles whose wave is a values: map

    def rule(self, role: str, *lines: str) -> None:
        self.rules.setdefault(role, []).extend(lines)

    def values(self, role: str, canonical: str) -> pd.Series | None:
        m = self.maps.get(role)
        if m is None or canonical not in m.mapped:
            return None
        return self.cands[role].column(m.mapped[canonical])


def _guess_waves(plan: _Plan) -> None:
    """Waves from the years in survey file names and campaign names, or from wave columns."""
    years = set()
    for role in ("responses", "contacts"):
        cand = plan.cands.get(role)
        if cand is not None and "wave" not in plan.maps[role].mapped:
            years |= {s.year for s in cand.sources if s.year is not None}
    plan.year_waves = {y: i + 1 for i, y in enumerate(sorted(years))}
    for role in ("responses", "contacts"):
        cand = plan.cands.get(role)
        if cand is None or "wave" in plan.maps[role].mapped:
            continue
        entries = [(s.ref, plan.year_waves[s.year], f"{s.year} in the file name")
                   for s in cand.sources if s.year in plan.year_waves]
        if len(entries) == len(cand.sources):
            plan.file_waves[role] = entries
        elif len(cand.sources) == 1 and len(plan.year_waves) <= 1:
            plan.file_waves[role] = [(cand.sources[0].ref, 1, "one file, one wave")]
    _campaign_waves(plan)
    for role, entries in plan.file_waves.items():
        for _, w, _why in entries:
            year = next((y for y, v in plan.year_waves.items() if v == w), None)
            plan.waves.setdefault(w, {"label": str(year) if year else str(w)})
    for w in _column_waves(plan):
        plan.waves.setdefault(w, {"label": str(w)})


def _column_waves(plan: _Plan) -> list[int]:
    for role in ("contacts", "responses"):
        vals = plan.values(role, "wave")
        if vals is not None and role not in plan.rules_for_wave:
            ints = pd.to_numeric(pd.Series(vals.unique()), errors="coerce")
            if len(ints) and ints.notna().all() and (ints % 1 == 0).all():
                return sorted(int(v) for v in ints)
    return []


def _campaign_waves(plan: _Plan) -> None:
    """A contacts wave column of campaign names: mapped to waves by the years they carry."""
    vals = plan.values("contacts", "wave")
    if vals is None:
        return
    distinct = sorted(vals.unique())
    if pd.to_numeric(pd.Series(distinct), errors="coerce").notna().all():
        return
    years = {v: _YEAR.findall(v) for v in distinct}
    if not plan.year_waves:
        plan.year_waves = {int(y): i + 1 for i, y in enumerate(sorted(
            {int(f[-1]) for f in years.values() if f}))}
    by_wave: dict[int, list[str]] = {}
    for v, found in years.items():
        if found and int(found[-1]) in plan.year_waves:
            by_wave.setdefault(plan.year_waves[int(found[-1])], []).append(v)
    if sum(len(v) for v in by_wave.values()) != len(distinct):
        plan.rule("contacts", "    # TODO: wave is mapped to a column of names; map each to a "
                  "wave number under values: wave:")
        return
    body = ", ".join(f"{w}: [{', '.join(_q(v) for v in vs)}]" for w, vs in sorted(by_wave.items()))
    plan.rule("contacts", "    values:", f"      wave: {{{body}}}    # guessed: the years in "
              "these names are the years of the survey files")
    plan.rules_for_wave.add("contacts")
    for w in by_wave:
        year = next(y for y, v in plan.year_waves.items() if v == w)
        plan.waves.setdefault(w, {"label": str(year)})


def _guess_responded(plan: _Plan) -> None:
    """A status column (Sent / Responded / Bounced) read as responded through values:."""
    vals = plan.values("contacts", "responded")
    if vals is None:
        return
    distinct = sorted(vals.unique())
    low = {v.lower() for v in distinct}
    if low <= set(TRUE_WORDS | FALSE_WORDS):
        return
    yes = [v for v in distinct if normalise_label(v) in _RESPONDED_WORDS]
    no = [v for v in distinct if v not in yes]
    line = (f"      responded: {{true: [{', '.join(map(_q, yes))}], false: "
            f"[{', '.join(map(_q, no))}]}}    # guessed: status words; responded: "
            f"{_comment(', '.join(yes) or 'none')}, not: {_comment(', '.join(no) or 'none')}")
    if not any(ln.strip() == "values:" for ln in plan.rules.get("contacts", [])):
        plan.rule("contacts", "    values:")
    plan.rule("contacts", line)


def _guess_platform(plan: _Plan, role: str) -> None:
    cand = plan.cands.get(role)
    if cand is None or cand.layout.platform in ("table", "spss"):
        return
    lay = cand.layout
    plan.rule(role, f"    platform: {lay.platform}    # guessed: {_comment(lay.evidence)}")
    if lay.platform == "qualtrics":
        _qualtrics_rules(plan, role, cand)


def _qualtrics_rules(plan: _Plan, role: str, cand: Candidate) -> None:
    frame = cand.frame()
    filters = []
    if "Status" in frame.columns:
        numeric = frame["Status"].dropna().str.fullmatch(r"[0-9]+").all()
        # Qualtrics' response types: 1/2 preview and test, 8/9/12 spam, 17 offline preview
        drop = ["1", "2", "8", "9", "12", "17"] if numeric else [
            "Survey Preview", "Survey Test", "Spam", "Preview Spam", "Imported Spam",
            "Offline Survey Preview"]
        n = int(frame["Status"].isin(drop).sum())
        filters.append(f"      - {{column: \"Status\", drop: [{', '.join(map(_q, drop))}], "
                       f"reason: \"preview, test or spam response\"}}    # guessed: Qualtrics "
                       f"marks them in Status ({n} here)")
    cid = plan.maps[role].mapped.get("contact_id")
    real = ~frame["Status"].isin(drop) if "Status" in frame.columns else True
    if cid is not None and (frame[cid].isna() & real).any():
        n = int((frame[cid].isna() & real).sum())
        filters.append(f"      - {{column: {_q(cid)}, present: true, reason: \"no contact id "
                       f"(anonymous link)\"}}    # guessed: {n} response(s) without one")
    if filters:
        plan.rule(role, "    filters:", *filters)
    if "Finished" in frame.columns:
        n = int((~frame["Finished"].str.strip().str.lower().isin(TRUE_WORDS)).sum())
        plan.rule(role, f"    complete_when: {{column: \"Finished\"}}    # guessed: {n} "
                  "response(s) not finished, set aside as partial")


def _comment(text: str) -> str:
    """Text for a ``#`` comment, on one line (quoted when it holds anything unusual)."""
    plain = re.fullmatch(r"[A-Za-z0-9 ,.;:()_'\-+/=]*", text)
    return text if plain else _q(text)


def _labels_fitting(found: set[str], scale: tuple[int, int]) -> str | None:
    """The shipped label set whose labels include every label found (and fits the scale)."""
    for name, labels in LABEL_SETS.items():
        if not isinstance(labels, list) or len(labels) != scale[1] - scale[0] + 1:
            continue
        if found <= {normalise_label(x) for x in labels}:
            return name
    return None


def _guess_labels(plan: _Plan) -> None:
    """Answers written as labels: a shipped label set per item group, missing words kept."""
    lines = []
    texts: dict[str, set] = {}
    for c in plan.items:
        vals = plan.values("responses", c)
        if vals is not None:
            words = {normalise_label(v) for v in vals.unique()
                     if not re.fullmatch(r"-?[0-9]+([.,][0-9]+)?", v)}
            texts[c] = words - _MISSING_WORDS
    found = set().union(*texts.values()) if texts else set()
    if found:
        name = _labels_fitting(found, plan.scale)
        if name:
            lines.append(f"      items: {name}    # guessed: the item answers use {len(found)} "
                         "of the labels of this set")
            plan.labelled.update({c: found for c in texts})
        else:
            plan.notes.append("item answers are text that no shipped label set explains: "
                              + ", ".join(sorted(found)[:8]))
    nps = plan.values("responses", "nps")
    if nps is not None:
        words = {normalise_label(v) for v in nps.unique()
                 if not re.fullmatch(r"[0-9]+", v)} - _MISSING_WORDS
        ends = {normalise_label(k) for k in LABEL_SETS["likely-0-10"]}
        if words and words <= ends:
            lines.append("      nps: likely-0-10    # guessed: 0 and 10 carry Qualtrics' "
                         "end labels")
            plan.labelled["nps"] = words
    if lines:
        plan.rule("responses", "    value_labels:", *lines)


def _guess_partials(plan: _Plan) -> None:
    """Without a Finished flag: responses with fewer than half the answers are partial."""
    cand, m = plan.cands.get("responses"), plan.maps.get("responses")
    if cand is None or cand.layout.platform == "qualtrics":
        return
    cols = [m.mapped[c] for c in [*plan.items, "nps"] if c in m.mapped]
    if not cols:
        return
    share = cand.frame()[cols].notna().mean(axis=1)
    n = int((share < 0.5).sum())
    if n:
        plan.rule("responses", f"    complete_when: {{answered: 0.5}}    # guessed: {n} "
                  "response(s) answered fewer than half the questions, set aside as partial")


def _guess_codes(plan: _Plan) -> None:
    """"Don't know" written as text (study-wide), or as a number off the scale (items only)."""
    seen: dict[str, int] = {}
    off: dict[str, int] = {}
    cand = plan.cands.get("responses")
    for c in [*plan.items, "nps"]:
        vals = plan.values("responses", c)
        if vals is None:
            continue
        spss = cand.sources[0].table.user_missing.get(plan.maps["responses"].mapped[c], [])
        lo, hi = (0, 10) if c == "nps" else plan.scale
        for v in vals:
            if normalise_label(v) in plan.labelled.get(c, ()):
                continue
            x = pd.to_numeric(v.replace(",", "."), errors="coerce")
            if pd.isna(x):
                seen[v] = seen.get(v, 0) + 1
            elif c != "nps" and x == int(x) and not lo <= x <= hi and \
                    not any(a <= x <= b for a, b in spss):
                off[str(int(x))] = off.get(str(int(x)), 0) + 1
    plan.codes = sorted(seen, key=lambda v: (-seen[v], v))[:8]
    if off:
        codes = sorted(off, key=lambda v: -off[v])
        plan.rule("responses", "    missing_codes:",
                  f"      items: [{', '.join(map(_q, codes))}]    # guessed: "
                  + "; ".join(f"{c} is off the {plan.scale[0]}-{plan.scale[1]} scale and "
                              f"appears {off[c]} times in the items" for c in codes)
                  + " (a \"don't know\" code); never listed for nps, where it is an answer")


_SHARE = re.compile(r"share|use|pass on|name", re.I)


def _guess_confidential(plan: _Plan) -> None:
    """"May we share your name?" answered No means confidential: an inverted boolean."""
    m = plan.maps.get("responses")
    if m is None or "confidential" not in m.mapped:
        return
    col = m.mapped["confidential"]
    text = plan.cands["responses"].descriptions.get(col, col)
    vals = {normalise_label(v) for v in plan.values("responses", "confidential").unique()}
    if _SHARE.search(text) and vals and vals <= {"yes", "no", "1", "2"}:
        no, yes = ("2", "1") if vals <= {"1", "2"} else ("No", "Yes")
        plan.rule("responses", "    values:", f"      confidential: {{true: [{_q(no)}], false: "
                  f"[{_q(yes)}]}}    # guessed: {_comment(_short(text))} - answered {no}, the "
                  "respondent chose confidentiality")
        for spec in plan.waves.values():
            spec["confidentiality"] = "optional"
            spec["why"] = "the survey asked whether names may be shared"


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _response_waves(plan: _Plan) -> pd.Series | None:
    cand = plan.cands["responses"]
    if "responses" in plan.file_waves:
        return pd.Series(np.repeat([w for _, w, _ in plan.file_waves["responses"]],
                                   [len(s.table.frame) for s in cand.sources]))
    vals = plan.values("responses", "wave")
    return None if vals is None else cand.frame()[plan.maps["responses"].mapped["wave"]]


def _guess_dedup(plan: _Plan) -> None:
    """A contact who answered twice in a wave: keep the last, by the recorded date."""
    m = plan.maps.get("responses")
    waves = _response_waves(plan) if m is not None else None
    if waves is None or "contact_id" not in m.mapped:
        return
    frame = plan.cands["responses"].frame()
    keys = pd.DataFrame({"w": waves.astype(str).to_numpy(), "c": frame[m.mapped["contact_id"]]})
    if "Finished" in frame.columns:
        keys = keys[frame["Finished"].str.strip().str.lower().isin(TRUE_WORDS).to_numpy()]
    twice = int(keys.dropna().duplicated().sum())
    if not twice:
        return
    order = next((c for c in ("RecordedDate", "EndDate", "End Date") if c in frame.columns), None)
    by = f", order_by: {_q(order)}" if order else ""
    plan.rule("responses", f"    dedup: {{keep: last{by}}}    # guessed: {twice} repeated "
              "response(s) of one contact in one wave; the last is kept")


_CHURN = re.compile(r"churn|lost|cancel|terminat|left_on|end_of_contract")


def _guess_churn(plan: _Plan) -> None:
    """A churn-date column in accounts: retained_next_wave derived against wave starts."""
    m = plan.maps.get("accounts")
    if m is None or "retained_next_wave" in m.mapped:
        return
    col = next((c for c in m.unmapped if _CHURN.search(normalise_column(c))), None)
    if col is None or not _wave_starts(plan):
        return
    plan.rule("accounts", "    derive:", f"      retained_next_wave: {{churn_date: {_q(col)}}}"
              "    # guessed: an account is retained when it had not churned by the next "
              "wave's start")


def _wave_starts(plan: _Plan) -> bool:
    """Each wave's start: the earliest invitation date of its contacts."""
    m = plan.maps.get("contacts")
    if m is None or "invited_on" not in m.mapped or len(plan.waves) < 2:
        return False
    frame = plan.cands["contacts"].frame()
    dates = pd.to_datetime(frame[m.mapped["invited_on"]], errors="coerce", format="ISO8601")
    waves = _contact_waves(plan, frame)
    if waves is None:
        return False
    first = dates.groupby(waves.to_numpy()).min()
    for w, spec in plan.waves.items():
        if w in first.index and pd.notna(first[w]):
            spec["start"] = first[w].date().isoformat()
    return all("start" in spec for w, spec in plan.waves.items() if w != min(plan.waves))


def _contact_waves(plan: _Plan, frame: pd.DataFrame) -> pd.Series | None:
    m = plan.maps["contacts"]
    if "contacts" in plan.file_waves:
        cand = plan.cands["contacts"]
        return pd.Series(np.repeat([w for _, w, _ in plan.file_waves["contacts"]],
                                   [len(s.table.frame) for s in cand.sources]))
    if "wave" not in m.mapped:
        return None
    raw = frame[m.mapped["wave"]].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce")
    if num.notna().all():
        return num.astype(int)
    years = raw.str.extract(_YEAR.pattern, expand=False)
    return pd.to_numeric(years, errors="coerce").map(plan.year_waves)


def _guess_client(plan: _Plan) -> None:
    cand = plan.cands.get("responses")
    if cand is None:
        return
    firsts = {re.split(r"[^A-Za-z]+", Path(s.ref).stem)[0] for s in cand.sources}
    word = firsts.pop() if len(firsts) == 1 else ""
    if len(word) >= 3 and word.lower() not in _GENERIC_WORDS:
        plan.client = (word[:1].upper() + word[1:], "the word the survey files start with")


# ---------------------------------------------------------------------------------------------
# writing the draft

def _columns_block(plan: _Plan) -> list[str]:
    from crqlab.data.study import REQUIRED_COLUMNS

    lines = ["columns:                # canonical name: export column name"]
    for role in ROLES:
        m = plan.maps.get(role)
        if m is None:
            lines.append(f"  {role}: {{}}")
            continue
        pairs = sorted(m.mapped.items(), key=lambda kv: m.columns.index(kv[1]))
        body = [f"    {canonical}: {_q(col)}  # {_how(m.how[canonical])}"
                for canonical, col in pairs if col != canonical]
        fixed = {"wave"} if role in plan.file_waves else set()
        required = list(REQUIRED_COLUMNS[role]) + (plan.items if role == "responses" else [])
        missing = [c for c in required if c not in m.mapped and c not in fixed]
        body += [f"    # TODO: unmapped required column {c}: no export column matched"
                 for c in missing]
        used = _used_by_rules(plan, role)
        body += [f"    # TODO: unmapped: {_q(c)} (kept as an extra column; map it or ignore it)"
                 for c in m.unmapped if c not in used]
        body += [f"    # {_q(c)}: read by the import rules below" for c in m.unmapped if c in used]
        platform = plan.cands[role].layout.platform
        hidden = IDENTIFYING_COLUMNS.get(platform, frozenset())
        kept = sorted(plan.cands[role].ignore - hidden)
        dropped = sorted(plan.cands[role].ignore & hidden)
        if kept:
            body.append(f"    # {platform} metadata kept as extra columns: {_q(', '.join(kept))}")
        if dropped:
            body.append(f"    # {platform} metadata not loaded (it identifies respondents): "
                        f"{_q(', '.join(dropped))}")
        lines.append(f"  {role}:" + ("" if body else " {}"))
        lines += body
    return lines


def _used_by_rules(plan: _Plan, role: str) -> set[str]:
    """Export columns the drafted import rules of ``role`` read (a churn date)."""
    text = "\n".join(plan.rules.get(role, []))
    return {c for c in plan.maps[role].unmapped if _q(c) in text}


def _how(how: str) -> str:
    return how if how == "name" else f"guessed: {how}"


def _files_block(plan: _Plan) -> list[str]:
    lines = ["files:"]
    for role in ROLES:
        cand, m = plan.cands.get(role), plan.maps.get(role)
        if cand is None:
            need = "optional" if role == "accounts" else "required"
            lines.append(f"  # {role}: TODO: no file looks like the {role} table ({need})")
            continue
        why = f"    # guessed: {_matched(m, plan.items)}"
        if role in plan.file_waves:
            lines.append(f"  {role}:{why}")
            lines += [f"    - {{file: {_q(ref)}, wave: {w}}}    # guessed: {_comment(reason)}"
                      for ref, w, reason in plan.file_waves[role]]
        else:
            lines.append(f"  {role}: {_q(cand.sources[0].ref)}{why}")
    return lines


def _matched(m: Mapping, items: list[str]) -> str:
    """``matched contact_id, nps, 18 items`` for comments and the listing."""
    named = [c for c in m.mapped if c not in items]
    n_items = sum(c in m.mapped for c in items)
    what = named[:6] + ([f"{n_items} items"] if n_items else [])
    more = f" and {len(named) - 6} more" if len(named) > 6 else ""
    return "matched " + ", ".join(what) + more


def _waves_block(plan: _Plan) -> list[str]:
    if not plan.waves:
        return []
    unknown = any(spec.get("confidentiality", "unknown") == "unknown"
                  for spec in plan.waves.values())
    lines = ["waves:                  # " + ("TODO: labels and whether confidentiality was "
                                             "offered (optional | none | all)" if unknown else
                                             "check the labels and confidentiality")]
    for w, spec in sorted(plan.waves.items()):
        conf = spec.get("confidentiality", "unknown")
        start = f", start: {spec['start']}" if "start" in spec else ""
        notes = [f"label from {spec['label']} in the file names"] if spec["label"] != str(w) \
            else []
        notes += [spec["why"]] if "why" in spec else []
        notes += ["start: earliest invitation of the wave"] if start else []
        tail = f"    # guessed: {'; '.join(notes)}" if notes else ""
        lines.append(f"  {w}: {{label: {_q(spec['label'])}, confidentiality: {conf}{start}}}"
                     f"{tail}")
    return lines


def _import_block(plan: _Plan) -> list[str]:
    if not plan.rules:
        return []
    lines = ["import:                 # how the delivered files become the tables"]
    for role in ROLES:
        if plan.rules.get(role):
            lines.append(f"  {role}:")
            lines += plan.rules[role]
    return lines


def _draft_text(folder: Path, plan: _Plan, instrument: str, batteries: list[str]) -> str:
    client = f"client: {_q(plan.client[0])}    # guessed: {plan.client[1]}" if plan.client \
        else "client: TODO    # TODO: the client's name, shown in report headers"
    lines = [
        "# Drafted by `crqlab init` from the tables in this folder. Check every line (each",
        "# guess says why it was made), resolve the TODOs, then run:",
        f"#   crqlab validate {_q(folder)}",
        "# Reference: docs/data-contract.md",
        f"study: {_q(_study_name(folder))}    # identifier: reports go to reports/<study>/",
        client, f"instrument: {instrument}"]
    if batteries:
        lines.append(f"batteries: [{', '.join(batteries)}]")
    lines.append("seed: 1    # default seed of this study's analyses")
    lines += _waves_block(plan)
    lines += _unusable_waves(plan)
    lines += _files_block(plan)
    lines.append(f"missing_codes: [{', '.join(_q(c) for c in plan.codes)}]"
                 + ("    # text found in scored columns: check each is a \"don't know\""
                    if plan.codes else "    # TODO: labels that mean \"don't know\" / \"N/A\""))
    lines += _columns_block(plan)
    lines += _import_block(plan)
    mapped = {c for m in plan.maps.values() for c in m.mapped}
    lines.append(f"segments: [{', '.join(s for s in _SEGMENTS if s in mapped)}]")
    lines.append("min_cell_size: 5        # groups smaller than this are suppressed in reports")
    return "\n".join(lines) + "\n"


def _unusable_waves(plan: _Plan) -> list[str]:
    """Wave values that are not whole numbers and no rule maps: a TODO."""
    for role in ("contacts", "responses"):
        vals = plan.values(role, "wave")
        if vals is None or role in plan.rules_for_wave:
            continue
        distinct = sorted(vals.unique())
        if not pd.to_numeric(pd.Series(distinct), errors="coerce").notna().all():
            return [f"# TODO: wave values are not integers ({', '.join(map(_q, distinct[:6]))});"
                    " map them under import: values: wave:"]
    return []


# ---------------------------------------------------------------------------------------------

@dataclass
class Draft:
    """A drafted study.yaml: where it was written, its text, and what was seen in the folder
    (one line per file or sheet: what it was taken for, and why)."""

    path: Path
    text: str
    listing: list[str]


def _listing(sources: list[Source], plan: _Plan) -> list[str]:
    taken = {s.ref: role for role, c in plan.cands.items() for s in c.sources}
    out = []
    for src in sources:
        role = taken.get(src.ref)
        if src.table is None:
            out.append(f"{src.describe()} -> not used")
        elif role is None:
            out.append(f"{src.describe()} -> not used (no contacts, responses or accounts "
                       "key column matched)")
        else:
            wave = next((f", wave {w}" for r, w, _ in plan.file_waves.get(role, ())
                         if r == src.ref), "")
            out.append(f"{src.describe()} -> {role}{wave}; {_matched(plan.maps[role], plan.items)}")
    return out + [f"note: {n}" for n in plan.notes]


def _plan(sources: list[Source], items: list[str], scale: tuple[int, int]) -> _Plan:
    cands = {c.key: c for c in _candidates_of(sources)}
    maps = guess_roles({k: c.columns for k, c in cands.items()}, items,
                       {k: c.descriptions for k, c in cands.items()},
                       {k: c.ignore for k, c in cands.items()})
    plan = _Plan({r: cands[m.file] for r, m in maps.items()}, maps, items, scale)
    _guess_waves(plan)
    _guess_responded(plan)
    for role in ROLES:
        _guess_platform(plan, role)
    if "responses" in plan.maps:
        _guess_partials(plan)
        _guess_labels(plan)
        _guess_codes(plan)
        _guess_confidential(plan)
        _guess_dedup(plan)
    _guess_churn(plan)
    _guess_client(plan)
    return plan


def draft_study(export_dir: Path | str, *, force: bool = False,
                instrument: str = "crq") -> Draft:
    """Write a draft ``study.yaml`` into a client's delivery folder.

    Parameters
    ----------
    export_dir : path
        Folder with the delivered tables (CSV, TSV, XLSX with any number of sheets, Parquet,
        SPSS ``.sav``/``.zsav``).
    force : bool
        Replace an existing ``study.yaml``.
    instrument : str
        Instrument whose items are looked for in the responses.

    Returns
    -------
    Draft
        The path written, the text, and one listing line per file and sheet.

    Raises
    ------
    CrqlabError
        The folder does not exist or holds no readable table, or ``study.yaml`` exists and
        ``force`` is false.

    Notes
    -----
    Tested on four deliveries written by hand the way Qualtrics, SurveyMonkey, SPSS and a CRM
    write them (``tests/exports/``): the Qualtrics + CRM draft validates with no edit, and
    each guess is checked for its comment; and on messy and hostile exports
    (``tests/data/test_draft_study.py``, ``tests/hardening/test_hostile_inputs.py``).
    """
    from crqlab.files import write_atomic

    folder = Path(export_dir)
    if not folder.is_dir():
        raise CrqlabError(f"{folder} is not a folder")
    target = folder / "study.yaml"
    if target.exists() and not force:
        raise CrqlabError(f"{target} exists; use --force to replace it")
    sources = _sources(folder)
    if not any(s.table is not None for s in sources):
        unread = "".join(f"\n  {s.describe()}" for s in sources)
        raise CrqlabError(f"no table (csv, tsv, xlsx, parquet, sav) could be read in "
                          f"{folder}{unread}")
    inst = load_instrument(instrument)
    battery = load_instrument("kmv")
    extra = [i for i in battery.items if i not in inst.items]
    plan = _plan(sources, inst.items + extra, (inst.scale_min, inst.scale_max))
    plan.items = list(inst.items)
    resp = plan.maps.get("responses")
    batteries = ["kmv"] if resp is not None and any(i in resp.mapped for i in extra) else []
    text = _draft_text(folder, plan, instrument, batteries)
    write_atomic(target, text)
    return Draft(target, text, _listing(sources, plan))


def draft_study_yaml(export_dir: Path | str, *, force: bool = False,
                     instrument: str = "crq") -> Path:
    """:func:`draft_study`, returning only the path written."""
    return draft_study(export_dir, force=force, instrument=instrument).path
