"""``crqlab init``: draft ``study.yaml`` for a client's export folder.

The draft is a starting point for a person, not a decision: it guesses which file holds the
contacts (invitation frame), the responses and the accounts, maps export column names to the
canonical names of the data contract (``docs/data-contract.md``) by normalised name, item-name
patterns (``Trust Q1`` -> ``trust_1``), common synonyms (``Likelihood to recommend`` -> ``nps``,
``Company`` -> ``account_id``) and close spellings, and writes what it could not map as
``# TODO`` comments. ``crqlab validate`` then checks the result against the data.
"""
from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from crqlab.data.instruments import load_instrument
from crqlab.errors import CrqlabError, ValidationError

__all__ = ["TABLE_FILE_TYPES", "SYNONYMS", "Mapping", "normalise_column", "map_columns",
           "guess_roles", "draft_study_yaml"]

TABLE_FILE_TYPES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet", ".pq")
ROLES = ("contacts", "responses", "accounts")
_SEGMENTS = ("role", "newly_included", "industry", "region", "account_manager", "size", "tier")
_FUZZY_CUTOFF = 0.86

#: Export names (normalised, see :func:`normalise_column`) meaning each canonical column,
#: per table, best first. The canonical name itself always matches.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "wave": ("survey_wave", "round", "survey_round", "wave_number", "cycle", "survey_year"),
        "contact_id": ("contactid", "contact_no", "contact_number", "respondent_id", "person_id",
                       "contact", "id"),
        "account_id": ("accountid", "account", "account_no", "account_number", "company_id",
                       "customer_id", "client_id", "company", "customer", "organisation",
                       "organization"),
        "role": ("contact_role", "job_role", "role_type", "contact_type", "function", "position"),
        "responded": ("has_responded", "response_received", "completed", "complete", "responded_yn",
                      "response"),
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
                       "contact", "id"),
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


def map_columns(role: str, columns: list[str], file: str = "", items: list[str] = ()) -> Mapping:
    """Map export columns to canonical ones for a table ``role``; each column is used once.

    Exact canonical names win, then synonyms in order, then close spellings (difflib ratio at
    least 0.86, never for names of four letters or fewer).
    """
    cands = _candidates(role, list(items))
    keys = {c: _without_hints(normalise_column(c)) for c in columns}
    scored: list[tuple[float, int, str, str, str]] = []
    for col, key in keys.items():
        for canonical, syns in cands.items():
            if key == canonical or normalise_column(col) == canonical:
                scored.append((3.0, 0, canonical, col, "name"))
            elif key in syns:
                scored.append((2.0 - syns.index(key) / 100, 0, canonical, col, "synonym"))
            else:
                targets = (canonical, *syns)
                best = max(difflib.SequenceMatcher(None, key, t).ratio() for t in targets)
                if best >= _FUZZY_CUTOFF and len(key) > 4:
                    scored.append((best, 0, canonical, col, f"close spelling ({best:.2f})"))
    scored.sort(key=lambda t: (-t[0], columns.index(t[3]), t[2]))
    out = Mapping(role=role, file=file, columns=list(columns))
    used: set[str] = set()
    for _, _, canonical, col, how in scored:
        if canonical in out.mapped or col in used:
            continue
        out.mapped[canonical] = col
        out.how[canonical] = how
        used.add(col)
    out.unmapped = [c for c in columns if c not in used]
    return out


def _hint(role: str, file: str) -> float:
    name = normalise_column(Path(file).stem)
    return 1.5 if any(h in name for h in _FILE_HINTS[role]) else 0.0


def guess_roles(tables: dict[str, list[str]], items: list[str]) -> dict[str, Mapping]:
    """Choose the file for each table role (accounts optional) by mapped columns and file name."""
    files = sorted(tables)
    maps = {(r, f): map_columns(r, tables[f], f, items) for r in ROLES for f in files}
    item_set = set(items)

    def score(role: str, f: str | None) -> float:
        if f is None:
            return 0.0
        return maps[(role, f)].score(item_set) + _hint(role, f)

    best, best_score = None, -1.0
    options = [*files, None]
    for combo in itertools.product(options, repeat=len(ROLES)):
        chosen = [f for f in combo if f is not None]
        if len(chosen) != len(set(chosen)):
            continue
        total = sum(score(r, f) for r, f in zip(ROLES, combo))
        if total > best_score:
            best, best_score = combo, total
    return {r: maps[(r, f)] for r, f in zip(ROLES, best or ()) if f is not None}


def _read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    from crqlab.data.readers import read_raw_table

    out = {}
    for p in sorted(folder.iterdir()):
        if (p.is_file() and p.suffix.lower() in TABLE_FILE_TYPES and not p.name.startswith((".", "~$"))):
            try:
                out[p.name] = read_raw_table(p).frame
            except ValidationError as exc:
                raise CrqlabError(f"cannot read {p.name} in {folder}:\n{exc}") from exc
    return out


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


def _non_numeric(frames: dict[str, pd.DataFrame], maps: dict[str, Mapping],
                 scored: list[str]) -> list[str]:
    """Text found in scored columns (items, nps): the export's "don't know" labels."""
    m = maps.get("responses")
    if m is None:
        return []
    seen: dict[str, int] = {}
    for canonical in scored:
        col = m.mapped.get(canonical)
        if col is None:
            continue
        s = frames[m.file][col].dropna().astype(str).str.strip()
        bad = s[pd.to_numeric(s.str.replace(",", ".", regex=False), errors="coerce").isna()]
        for v in bad[bad != ""]:
            seen[v] = seen.get(v, 0) + 1
    return sorted(seen, key=lambda v: (-seen[v], v))[:8]


def _waves(frames: dict[str, pd.DataFrame], maps: dict[str, Mapping]) -> tuple[list, bool]:
    for role in ("contacts", "responses"):
        m = maps.get(role)
        if m is not None and "wave" in m.mapped:
            vals = frames[m.file][m.mapped["wave"]].dropna().astype(str).str.strip().unique()
            ints = pd.to_numeric(pd.Series(vals), errors="coerce")
            ok = bool(len(vals)) and ints.notna().all() and (ints % 1 == 0).all()
            return (sorted(int(v) for v in ints) if ok else sorted(vals)), ok
    return [], False


def _columns_block(maps: dict[str, Mapping], items: list[str]) -> list[str]:
    from crqlab.data.study import REQUIRED_COLUMNS

    lines = ["columns:                # canonical name: export column name"]
    for role in ROLES:
        m = maps.get(role)
        if m is None:
            lines.append(f"  {role}: {{}}")
            continue
        pairs = sorted(m.mapped.items(), key=lambda kv: m.columns.index(kv[1]))
        body = [f"    {canonical}: {_q(col)}  # {m.how[canonical]}"
                for canonical, col in pairs if col != canonical]
        required = list(REQUIRED_COLUMNS[role]) + (items if role == "responses" else [])
        missing = [c for c in required if c not in m.mapped]
        body += [f"    # TODO: unmapped required column {c}: no export column matched"
                 for c in missing]
        body += [f"    # TODO: unmapped: {_q(c)} (kept as an extra column; map it or ignore it)"
                 for c in m.unmapped]
        lines.append(f"  {role}:" + ("" if body else " {}"))
        lines += body
    return lines


def _draft_text(folder: Path, frames: dict[str, pd.DataFrame], maps: dict[str, Mapping],
                instrument: str, items: list[str], batteries: list[str]) -> str:
    waves, int_waves = _waves(frames, maps)
    codes = _non_numeric(frames, maps, [*items, "nps"])
    mapped = {c for m in maps.values() for c in m.mapped}
    segments = [s for s in _SEGMENTS if s in mapped]
    lines = [
        "# Drafted by `crqlab init` from the tables in this folder. Check every line, resolve",
        f"# the TODOs, then run: crqlab validate {_q(folder)}",
        "# Reference: docs/data-contract.md",
        f"study: {_q(_study_name(folder))}    # identifier: reports go to reports/<study>/",
        "client: TODO    # TODO: the client's name, shown in report headers",
        f"instrument: {instrument}",
    ]
    if batteries:
        lines.append(f"batteries: [{', '.join(batteries)}]")
    lines.append("seed: 1    # default seed of this study's analyses")
    if waves and int_waves:
        lines.append("waves:                  # TODO: labels and whether confidentiality was "
                     "offered (optional | none | all)")
        lines += [f"  {w}: {{label: {_q(w)}, confidentiality: unknown}}" for w in waves]
    elif waves:
        lines.append(f"# TODO: wave values are not integers ({', '.join(map(_q, waves[:6]))}); "
                     "recode them as 1, 2, ... in the export")
    lines.append("files:")
    for role in ROLES:
        m = maps.get(role)
        if m is not None:
            lines.append(f"  {role}: {_q(m.file)}")
        else:
            need = "optional" if role == "accounts" else "required"
            lines.append(f"  # {role}: TODO: no file looks like the {role} table ({need})")
    lines.append(f"missing_codes: [{', '.join(_q(c) for c in codes)}]"
                 + ("    # text found in scored columns: check each is a \"don't know\""
                    if codes else "    # TODO: labels that mean \"don't know\" / \"N/A\""))
    lines += _columns_block(maps, items)
    lines.append(f"segments: [{', '.join(segments)}]")
    lines.append("min_cell_size: 5        # groups smaller than this are suppressed in reports")
    return "\n".join(lines) + "\n"


def draft_study_yaml(export_dir: Path | str, *, force: bool = False,
                     instrument: str = "crq") -> Path:
    """Write a draft ``study.yaml`` into a client export folder and return its path.

    Parameters
    ----------
    export_dir : path
        Folder with the export tables (CSV, XLSX, Parquet).
    force : bool
        Replace an existing ``study.yaml``.
    instrument : str
        Instrument whose items are looked for in the responses.

    Raises
    ------
    CrqlabError
        The folder does not exist or holds no table, a table cannot be read, or ``study.yaml``
        exists and ``force`` is false.
    """
    from crqlab.files import write_atomic

    folder = Path(export_dir)
    if not folder.is_dir():
        raise CrqlabError(f"{folder} is not a folder")
    target = folder / "study.yaml"
    if target.exists() and not force:
        raise CrqlabError(f"{target} exists; use --force to replace it")
    frames = _read_tables(folder)
    if not frames:
        raise CrqlabError(f"no table (csv, xlsx, parquet) in {folder}")
    inst = load_instrument(instrument)
    battery = load_instrument("kmv")
    extra = [i for i in battery.items if i not in inst.items]
    maps = guess_roles({f: [str(c) for c in df.columns] for f, df in frames.items()},
                       inst.items + extra)
    resp = maps.get("responses")
    batteries = ["kmv"] if resp is not None and any(i in resp.mapped for i in extra) else []
    text = _draft_text(folder, frames, maps, instrument, inst.items, batteries)
    write_atomic(target, text)
    return target
