"""Loading a study: ``study.yaml`` plus the contacts, responses and accounts tables.

:func:`load_study` maps export column names to canonical ones, reads "don't know" codes as
missing, converts every column to its contract type, checks every rule of the data contract
(``docs/data-contract.md``) and either returns a typed :class:`Study` or raises one
:class:`~crqlab.errors.ValidationError` listing every problem (file, column, row, value), up to
a cap. Raw files are opened for reading only.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from crqlab.data import rules as import_rules
from crqlab.data.instruments import Instrument, load_instrument
from crqlab.data.platforms import IDENTIFYING_COLUMNS, apply_layout, resolve_layout
from crqlab.data.readers import (
    RawTable,
    cell_text,
    is_typed,
    read_raw_table,
    stack_tables,
    text_cells,
)
from crqlab.data.rules import FALSE_WORDS, TRUE_WORDS, TableRules
from crqlab.data.schema import STUDY_SCHEMA, Issue, YamlError, check, read_yaml
from crqlab.errors import InstrumentError, Problem, ValidationError, fair_shares
from crqlab.paths import resolve_study_dir

__all__ = ["Study", "load_study", "read_study_config", "check_paths", "input_files",
           "hash_files", "file_entries", "TABLE_COLUMNS", "REQUIRED_COLUMNS", "PII_COLUMNS",
           "MAX_PROBLEMS", "IMPORT_REPORT_COLUMNS", "RUN_CACHE_ENV"]

#: Environment variable naming a folder where ``load_study(cache="auto")`` keeps the validated
#: tables of a study outside ``data/raw`` (which "auto" otherwise never caches). ``crqlab run``
#: sets it, for its notebooks only, to a folder inside its staging folder, removed before the
#: reports are published: the run's notebooks then validate the study once between them.
RUN_CACHE_ENV = "CRQLAB_RUN_CACHE"

MAX_PROBLEMS = 200
PII_COLUMNS = ("contact_name", "contact_email")

#: Canonical columns and their contract types. Instrument items are added per study.
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "contacts": {
        "wave": "int", "contact_id": "id", "account_id": "id", "role": "category",
        "responded": "bool", "newly_included": "bool", "invited_on": "date",
        "responded_on": "date", "reminders": "count", "days_to_respond": "count",
        "tenure_years": "nonneg", "confidential": "bool", "contact_name": "text",
        "contact_email": "text",
    },
    "responses": {
        "wave": "int", "contact_id": "id", "nps": "nps", "strengths": "text",
        "weaknesses": "text", "confidential": "bool",
    },
    "accounts": {
        "account_id": "id", "wave": "int", "account_name": "text", "industry": "category",
        "region": "category", "account_manager": "category", "size": "category",
        "tier": "category", "dormant": "bool", "retained_next_wave": "bool",
    },
}
#: Identifying columns: a blank cell there is an error (other values may be missing).
KEY_COLUMNS = {
    "contacts": ("wave", "contact_id", "account_id"),
    "responses": ("wave", "contact_id"),
    "accounts": ("account_id",),
}
#: Columns whose cells may not be blank nor a "don't know" code, and why.
NEVER_MISSING = {
    # a missing responded would count silently as a non-response in every response rate
    "contacts": {"responded": "every invited contact needs true or false"},
}
REQUIRED_COLUMNS = {
    "contacts": ("wave", "contact_id", "account_id", "role", "responded"),
    "responses": ("wave", "contact_id", "nps"),  # + the instrument's items
    "accounts": ("account_id",),
}
_TRUE, _FALSE = TRUE_WORDS, FALSE_WORDS
#: Columns of :meth:`Study.import_report`.
IMPORT_REPORT_COLUMNS = ("table", "file", "step", "rows")
_DEFAULT_MISSING = ("don't know", "dont know", "don’t know", "n/a", "na", "dk", "not applicable")


@dataclass(frozen=True, eq=False)
class Study:
    """A validated study: typed canonical tables, the instrument and the study facts.

    Attributes
    ----------
    contacts, responses : DataFrame
        Canonical, typed (nullable Int64 / boolean / category / string / datetime).
    accounts : DataFrame or None
        One row per account, or per account and wave when it has a ``wave`` column.
    instrument : Instrument
        The scored instrument (``crq`` by default); ``batteries`` holds further instruments.
    partials : DataFrame or None
        Responses that ``import: responses: complete_when`` found incomplete: typed like
        ``responses`` (without verbatims), counted and reported, never scored.
    import_log : list of dict
        What the import rules did, file by file (:meth:`import_report`).
    """

    name: str
    client: str
    root: Path
    config: dict
    instrument: Instrument
    batteries: dict[str, Instrument]
    contacts: pd.DataFrame
    responses: pd.DataFrame
    accounts: pd.DataFrame | None
    files: dict[str, Path]
    read_info: dict[str, dict] = field(default_factory=dict)
    partials: pd.DataFrame | None = None
    import_log: list[dict] = field(default_factory=list)

    @property
    def waves(self) -> list[int]:
        """Waves in the invitation frame, sorted."""
        return sorted(int(w) for w in self.contacts["wave"].dropna().unique())

    def wave_label(self, wave: int) -> str:
        spec = (self.config.get("waves") or {}).get(wave) or {}
        return str(spec.get("label", wave))

    def confidentiality_offered(self, wave: int) -> str:
        """``optional``, ``none`` or ``all`` for a wave (``unknown`` when not declared)."""
        spec = (self.config.get("waves") or {}).get(wave) or {}
        return str(spec.get("confidentiality", "unknown"))

    @property
    def segments(self) -> list[str]:
        return list(self.config.get("segments") or [])

    @property
    def min_cell_size(self) -> int:
        """Smallest group shown in any report (study.yaml; default 5; checked to be >= 3)."""
        from crqlab.data.privacy import DEFAULT_MIN_CELL_SIZE, check_min_cell_size

        return check_min_cell_size(self.config.get("min_cell_size", DEFAULT_MIN_CELL_SIZE),
                                   "study.yaml min_cell_size")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def items(self) -> list[str]:
        """Items of the instrument and of every battery present in the responses."""
        out = list(self.instrument.items)
        for inst in self.batteries.values():
            out += [i for i in inst.items if i not in out and i in self.responses.columns]
        return out

    def input_files(self) -> list[Path]:
        """``study.yaml``, every table file and the study's own instrument files."""
        return input_files(self.root, self.config)

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of every input file, by path relative to the study folder."""
        return hash_files(self.root, self.input_files())

    def respondents(self, pii: bool = False) -> pd.DataFrame:
        """One row per response with the contact's and the account's attributes joined.

        ``confidential`` is the respondent's choice (False where confidentiality was not
        offered, missing where unknown), and True for everyone in a wave declared
        ``confidentiality: all``. PII columns are dropped unless ``pii`` is True; with
        ``pii=True`` they are still blanked for confidential respondents.
        """
        contact_cols = [c for c in self.contacts.columns
                        if c not in ("responded", "confidential") and (pii or c not in PII_COLUMNS)]
        out = self.responses.merge(self.contacts[contact_cols], on=["wave", "contact_id"],
                                   how="left", validate="one_to_one")
        out["confidential"] = _confidential_flag(self.responses, self.contacts,
                                                 _all_confidential_waves(self.config))
        if pii:
            for c in PII_COLUMNS:
                if c in out:
                    out[c] = out[c].mask(out["confidential"].fillna(True).astype(bool))
        return self._join_accounts(out)

    def import_report(self) -> pd.DataFrame:
        """One row per table, file and step: rows read, left out by each filter (with its
        reason), repeats dropped, partial responses set aside, rows loaded.

        For notebook 00 and ``crqlab validate``; a study without import rules shows rows read
        and loaded per table.
        """
        return pd.DataFrame(self.import_log, columns=list(IMPORT_REPORT_COLUMNS))

    def frame(self) -> pd.DataFrame:
        """The invitation frame (contacts without PII) with account attributes joined."""
        out = self.contacts.drop(columns=[c for c in PII_COLUMNS if c in self.contacts.columns])
        return self._join_accounts(out)

    def _join_accounts(self, out: pd.DataFrame) -> pd.DataFrame:
        """Left-join the accounts table (per wave when it has a wave column)."""
        if self.accounts is None:
            return out
        keys = ["account_id", "wave"] if "wave" in self.accounts.columns else ["account_id"]
        acc = self.accounts.drop(columns=[c for c in self.accounts.columns
                                          if c in out.columns and c not in keys])
        return out.merge(acc, on=keys, how="left")

    def summary(self) -> str:
        """A short plain-text report: tables read, waves, response counts."""
        lines = [f"study {self.name!r} ({self.client}) at {self.root}",
                 f"instrument {self.instrument.name} ({len(self.instrument.items)} items, "
                 f"scale {self.instrument.scale_min}-{self.instrument.scale_max})"
                 + (f"; batteries {sorted(self.batteries)}" if self.batteries else "")]
        for role, path in self.files.items():
            info = self.read_info.get(role, {})
            how = ", ".join(f"{k} {v!r}" for k, v in info.items() if v is not None)
            read = [e["file"] for e in self.import_log if e["table"] == role and
                    e["step"] == "read"] or [path.name]
            names = ", ".join(read)
            lines.append(f"  {role}: {names} ({how})" if how else f"  {role}: {names}")
        lines += [f"  {e['table']}: {e['file']}: {e['step']}: {e['rows']} row(s)"
                  for e in self.import_log if e["step"] not in ("read", "loaded") and e["rows"]]
        c = self.contacts
        for w in self.waves:
            invited = int((c["wave"] == w).sum())
            responded = int(((c["wave"] == w) & c["responded"].fillna(False)).sum())
            lines.append(f"  wave {w} ({self.wave_label(w)}): {invited} invited, {responded} "
                         f"responded ({responded / invited:.1%})" if invited else
                         f"  wave {w}: nobody invited")
        lines.append(f"  {len(self.responses)} responses; "
                     f"{0 if self.accounts is None else self.accounts['account_id'].nunique()} "
                     "accounts in the accounts table")
        lines.append("valid: no problems found")
        return "\n".join(lines)


def _all_confidential_waves(cfg: dict) -> list[int]:
    """Waves declared ``confidentiality: all`` in study.yaml: everyone there is confidential."""
    waves = cfg.get("waves") or {}
    return [w for w, spec in waves.items() if (spec or {}).get("confidentiality") == "all"]


def _confidential_flag(responses: pd.DataFrame, contacts: pd.DataFrame,
                       all_waves: list[int] = ()) -> pd.Series:
    flag = pd.Series(pd.NA, index=responses.index, dtype="boolean")
    if "confidential" in contacts.columns:
        keyed = contacts.set_index(["wave", "contact_id"])["confidential"]
        idx = pd.MultiIndex.from_frame(responses[["wave", "contact_id"]])
        flag = pd.Series(keyed.reindex(idx).to_numpy(), index=responses.index, dtype="boolean")
    if "confidential" in responses.columns:
        flag = responses["confidential"].astype("boolean").fillna(flag)
    if len(all_waves):
        flag = flag.mask(responses["wave"].isin(all_waves).to_numpy(dtype=bool), True)
    return flag


# ---------------------------------------------------------------------------------------------
# study.yaml

def _yaml_problem(issue: Issue, file: str = "study.yaml") -> Problem:
    """A schema or YAML issue as a Problem: the key path is the column, the line in the text."""
    where = f"line {issue.line}: " if issue.line else ""
    return Problem(file, issue.path or None, None, issue.value, where + issue.message)


def read_study_config(study_dir: Path) -> dict:
    """Read ``study.yaml`` strictly and check it against :data:`crqlab.data.schema.STUDY_SCHEMA`.

    Checks the structure only (the tables are checked by :func:`load_study`): UTF-8 (a BOM is
    tolerated), no aliases, merge keys or duplicate keys, no unknown key (did-you-mean), every
    value's type and range, no export column mapped twice, and every file it names inside the
    study folder (:func:`check_paths`).

    Raises
    ------
    ValidationError
        Every problem, each naming the key (as ``column``), the line and the value.

    Notes
    -----
    Tested against every study.yaml shipped or used as a fixture (all valid) and by
    ``tests/hardening/test_hostile_inputs.py`` and ``tests/data/test_schema.py``.
    """
    return _read_config(Path(study_dir))[0]


def _read_config(root: Path) -> tuple[dict, dict[str, int]]:
    """:func:`read_study_config`, also returning the line of every key."""
    path = root / "study.yaml"
    if not path.is_file():
        raise ValidationError([Problem("study.yaml", None, None, None,
                                       f"no study.yaml in {root}")])
    try:
        cfg, lines = read_yaml(path)
    except YamlError as exc:
        raise ValidationError([_yaml_problem(i) for i in exc.issues]) from exc
    issues = check(cfg, STUDY_SCHEMA, lines)
    if not issues:
        issues = [i.located(lines) for i in _mapped_twice(cfg)]
    if issues:
        raise ValidationError([_yaml_problem(i) for i in issues])
    problems = check_paths(root, cfg)
    if problems:
        raise ValidationError(problems)
    return cfg, lines


def _check_rules(cfg: dict, lines: dict[str, int], instrument: Instrument,
                 batteries: dict[str, Instrument]) -> None:
    """study.yaml's import rules and missing codes against the instrument: a code that is a
    valid answer of a column it applies to is an error (:func:`crqlab.data.rules.check_rules`)."""
    scales, groups = _scales(instrument, batteries), _groups(instrument, batteries)
    columns = {role: dict(kinds) for role, kinds in TABLE_COLUMNS.items()}
    columns["responses"].update({i: "scale" for i in scales if i != "nps"})
    issues = import_rules.check_rules(cfg, columns, scales, groups)
    if issues:
        raise ValidationError([_yaml_problem(i.located(lines)) for i in issues])


def _scales(instrument: Instrument, batteries: dict[str, Instrument]) -> dict:
    """Answer range of every scored column: the items of each instrument, and nps."""
    scales = {i: (instrument.scale_min, instrument.scale_max) for i in instrument.items}
    for b in batteries.values():
        scales.update({i: (b.scale_min, b.scale_max) for i in b.items if i not in scales})
    scales["nps"] = (0, 10)
    return scales


def _groups(instrument: Instrument, batteries: dict[str, Instrument]) -> dict:
    return import_rules.column_groups([instrument, *batteries.values()])


def _mapped_twice(cfg: dict) -> list[Issue]:
    """An export column mapped to two canonical names in ``columns:``."""
    out = []
    for role, mapping in (cfg.get("columns") or {}).items():
        seen: dict[str, str] = {}
        for canonical, export in (mapping or {}).items():
            if export in seen:
                out.append(Issue(f"columns.{role}.{canonical}", export,
                                 f"this export column is already mapped to {seen[export]!r}"))
            seen.setdefault(export, canonical)
    return out


def file_entries(cfg: dict, role: str) -> list[tuple[str, int | None]]:
    """The files of a table as (reference, fixed wave or None), in study.yaml's order."""
    ref = (cfg.get("files") or {}).get(role)
    if ref is None:
        return []
    if isinstance(ref, list):
        return [(str(e["file"]), e.get("wave")) for e in ref]
    return [(str(ref), None)]


def _local_refs(cfg: dict) -> dict[str, str]:
    """Key path -> file reference of every file study.yaml names in the study folder."""
    refs = {}
    for role, ref in (cfg.get("files") or {}).items():
        if isinstance(ref, list):
            refs.update({f"files.{role}[{i}].file": e["file"] for i, e in enumerate(ref)})
        elif ref is not None:
            refs[f"files.{role}"] = ref
    named = [("instrument", cfg.get("instrument", "crq"))]
    named += [(f"batteries[{i}]", b) for i, b in enumerate(cfg.get("batteries") or [])]
    refs.update({k: v for k, v in named if str(v).endswith((".yaml", ".yml"))})
    if cfg.get("themes"):
        refs["themes"] = cfg["themes"]
    return refs


def check_paths(root: Path, cfg: dict) -> list[Problem]:
    """Problems with files that resolve outside the study folder (symbolic links followed).

    The text of each path (relative, no ``..``) is checked by the schema; this resolves each
    one against the real folder, so that a link ``contacts.csv -> /etc/passwd`` or
    ``data -> ..`` is refused.

    Notes
    -----
    Tested in ``tests/hardening/test_hostile_inputs.py`` (``..``, absolute paths, links out of the folder).
    """
    base = Path(root).resolve()
    out = []
    for key, ref in _local_refs(cfg).items():
        try:
            target = (base / str(ref).split("#", 1)[0]).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic-link loop
            out.append(Problem("study.yaml", key, None, ref, f"cannot be resolved ({exc})"))
            continue
        if not target.is_relative_to(base):
            out.append(Problem("study.yaml", key, None, ref,
                               "resolves to a file outside the study folder (a symbolic link?); "
                               "copy the file into the folder"))
    return out


def input_files(root: Path, cfg: dict) -> list[Path]:
    """``study.yaml``, the tables and the study's own instrument files: exactly what is read."""
    root = Path(root)
    files = {root / str(ref).split("#", 1)[0] for ref in _local_refs(cfg).values()}
    return [root / "study.yaml", *sorted(files)]


def hash_files(root: Path, paths: list[Path]) -> dict[str, str]:
    """SHA-256 of each existing file, by path relative to ``root``."""
    out = {}
    for p in paths:
        if not p.is_file():
            continue
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[p.relative_to(root).as_posix()] = h.hexdigest()
    return out


# ---------------------------------------------------------------------------------------------
# column conversion

class _Collector:
    """Collects problems by kind, counting every one; lists at most ``cap`` in all (fairly
    shared between kinds, :func:`crqlab.errors.fair_shares`) and ``per_kind`` of each."""

    def __init__(self, cap: int = MAX_PROBLEMS, per_kind: int | None = None):
        self.cap, self.per_kind = cap, per_kind
        self.listed: dict[str, list[Problem]] = {}
        self.counts: dict[str, int] = {}
        self.export_names: dict[str, dict[str, str]] = {}  # file -> canonical -> export name

    def column(self, file: str, canonical: str | None) -> str | None:
        """The column as the file names it (with the canonical name when they differ)."""
        export = self.export_names.get(file, {}).get(canonical, canonical)
        return export if export == canonical else f"{export} ({canonical})"

    def _room(self, kind: str) -> int:
        limit = self.cap if self.per_kind is None else min(self.cap, self.per_kind)
        return max(limit - len(self.listed.setdefault(kind, [])), 0)

    def add(self, problem: Problem) -> None:
        kind = problem.group
        if self._room(kind):
            self.listed[kind].append(problem)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def absorb(self, exc: ValidationError) -> None:
        """The problems of a reader's error, with the ones it counted but did not list."""
        for p in exc.problems:
            self.add(p)
        listed = {k: sum(p.group == k for p in exc.problems) for k in exc.counts}
        for kind, n in exc.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n - listed[kind]
        unplaced = len(exc.problems) + exc.truncated - sum(exc.counts.values())
        if unplaced > 0:
            kind = exc.problems[-1].group if exc.problems else "more problems in the file"
            self.counts[kind] = self.counts.get(kind, 0) + unplaced

    def add_rows(self, table: RawTable, column: str | None, mask, values, message: str,
                 fix: str | None = None, kind: str | None = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        group = kind or message
        room = self._room(group)
        listed = rows[:room]
        # only the listed cells are looked at; a typed cell (a Parquet number) is shown as the
        # text a CSV export would hold, exactly as if the file had been read as text
        vals = values.iloc[listed].to_numpy(dtype=object) if hasattr(values, "iloc") \
            else np.asarray(values, dtype=object)[listed]
        name = self.column(table.name, column)
        for r, v in zip(listed, vals):
            value = None if pd.isna(v) else v if isinstance(v, str) else cell_text(v)
            self.listed[group].append(Problem(table.file_of(r), name, table.file_row(r), value,
                                              message, kind=kind, fix=fix))
        self.counts[group] = self.counts.get(group, 0) + len(rows)

    def raise_if_any(self) -> None:
        if not self.counts:
            return
        kinds = list(self.counts)
        shares = fair_shares([len(self.listed.get(k, [])) for k in kinds], self.cap)
        problems = [p for k, n in zip(kinds, shares) for p in self.listed.get(k, [])[:n]]
        fixes = {p.group: p.fix for ps in self.listed.values() for p in ps if p.fix}
        raise ValidationError(problems, truncated=sum(self.counts.values()) - len(problems),
                              counts=self.counts, fixes=fixes)


def _normalise_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _map_columns(table: RawTable, mapping: dict, role: str, col: _Collector) -> pd.DataFrame:
    """Rename export columns to canonical names (explicit mapping, then normalised names)."""
    frame = table.frame
    rename: dict[str, str] = {}
    for canonical, export in (mapping or {}).items():
        if export not in frame.columns:
            col.add(Problem(table.name, str(export), 1, None,
                            f"column mapped to {canonical!r} in study.yaml is not in the file",
                            kind="a column study.yaml maps is not in the file",
                            fix=f"columns.{role}"))
            continue
        rename[export] = canonical
    taken = set(rename.values())
    clashing = []
    for c in frame.columns:
        if c in rename:
            continue
        norm = _normalise_name(c)
        if norm in taken:
            col.add(Problem(table.name, c, 1, c,
                            f"column would map to {norm!r}, which another column already maps to",
                            fix=f"columns.{role}"))
            clashing.append(c)  # reported; left out so that no canonical name appears twice
            continue
        rename[c] = norm
        taken.add(norm)
    col.export_names[table.name] = {v: k for k, v in rename.items()}
    return frame.drop(columns=clashing).rename(columns=rename)


def _missing_mask(s: pd.Series, codes: set[str]) -> pd.Series:
    """Cells that are one of the (lower-case) missing codes; a typed column's cells compared
    by the text a CSV export would hold (:func:`_typed_code_mask`)."""
    if is_typed(s):
        return pd.Series(_typed_code_mask(s, codes), index=s.index)
    return s.str.lower().isin(codes).fillna(False)


def _typed_code_mask(s: pd.Series, codes: set[str]) -> np.ndarray:
    """Cells of a typed column whose text (:func:`crqlab.data.readers.text_cells`) is a missing
    code: each code that is exactly the text of some number (``-99``, ``8.5``; not ``08`` nor
    ``8.0``, which no number is written as) is compared as that number."""
    integer = pd.api.types.is_integer_dtype(s.dtype)
    found = []
    for c in codes:
        try:
            x = float(c)
        except (ValueError, OverflowError):
            continue
        if integer:
            if re.fullmatch(r"-?[0-9]+", c) and str(int(c)) == c:
                found.append(int(c))
        elif cell_text(x) == c:
            found.append(x)
    if not found:
        return np.zeros(len(s), dtype=bool)
    if integer:
        kind = np.dtype(getattr(s.dtype, "numpy_dtype", s.dtype))
        info = np.iinfo(kind)
        found = [v for v in found if info.min <= v <= info.max]
        if not found:
            return np.zeros(len(s), dtype=bool)
        values = s.to_numpy(dtype=kind, na_value=0)
        return np.isin(values, np.array(found, dtype=kind)) & s.notna().to_numpy(dtype=bool)
    return np.isin(s.to_numpy(dtype=float, na_value=np.nan), np.array(found, dtype=float))


#: Codes that a cell parsed as a number could equal: a digit, or Arrow's nan/inf words.
_NUMBER_LIKE = re.compile(r"[0-9]|nan|inf")


def _all_numbers(s: pd.Series, decimal: str, codes: set[str]) -> np.ndarray | None:
    """Every cell of a text column parsed as a number in one Arrow pass (NaN where blank), when
    every cell is one and no missing code could be one; else None (the careful path)."""
    if decimal == "," or any(_NUMBER_LIKE.search(c) for c in codes):
        return None
    import pyarrow as pa

    if not isinstance(s.array, pd.arrays.ArrowStringArray):
        return None
    try:
        return pa.chunked_array(s.array.__arrow_array__()).cast(pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError):
        return None


def _to_number(s: pd.Series, decimal: str) -> pd.Series:
    t = s
    if decimal == ",":
        t = t.str.replace(",", ".", regex=False)
    # float64 with NaN: to_numeric on a string column gives a nullable dtype whose comparisons
    # are NA where a cell is blank, which no boolean mask accepts.
    try:  # fast path: Arrow parses a clean column in one pass (the usual case)
        import pyarrow as pa

        if isinstance(t.array, pd.arrays.ArrowStringArray):  # no detour through objects
            arr = pa.chunked_array(t.array.__arrow_array__())
        else:
            arr = pa.array(t.to_numpy(dtype=object, na_value=None), type=pa.string())
        values = arr.cast(pa.float64()).to_numpy()
        return pd.Series(values, index=s.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError):
        pass  # a cell that is not a number: pandas finds which, the caller reports them
    num = pd.to_numeric(t, errors="coerce")
    return pd.Series(num.to_numpy(dtype=float, na_value=np.nan), index=s.index)


_NUMERIC_DATE = r"^\s*(\d{1,2})([./-])(\d{1,2})[./-]\d{2,4}(?:[ T].*)?$"
_SET_ORDER = "set 'read: dates: day-first' or 'month-first' in study.yaml"
_DATES_FIX = "read.dates"


def _parse_dates(table: RawTable, name: str, s: pd.Series, codes: set[str], order: str,
                 col: _Collector) -> pd.Series:
    """ISO 8601 dates first; then numeric dates such as 03/04/2023 in the study's order.

    With ``order="auto"`` the column decides: a first number above 12 means day-first, a
    second above 12 month-first. A column with both is an error on every such cell; a column
    where every date could be read either way (and some would differ) is an error too, asking
    for ``read: dates`` - nothing is silently read the wrong way round. Dates with month names
    (3 Apr 2023) are read as written.
    """
    out = pd.to_datetime(s, errors="coerce", format="ISO8601")
    rest = (s.notna() & out.isna() & ~_missing_mask(s, codes)).to_numpy(dtype=bool)
    reported = np.zeros(len(s), dtype=bool)
    if rest.any() and order != "iso":
        parts = s.str.extract(_NUMERIC_DATE)
        numeric = rest & parts[0].notna().to_numpy(dtype=bool)
        a = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        b = pd.to_numeric(parts[2], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        dotted = (parts[1] == ".").fillna(False).to_numpy(dtype=bool)
        day_first = order == "day-first"
        if order == "auto" and numeric.any():
            day_ev, month_ev = numeric & ((a > 12) | dotted), numeric & (b > 12)
            if day_ev.any() and month_ev.any():
                reported = day_ev | month_ev
                col.add_rows(table, name, reported, s, "dates in this column are written both "
                             f"day-first and month-first; {_SET_ORDER}", fix=_DATES_FIX)
            elif not day_ev.any() and not month_ev.any():
                reported = numeric & (a != b)
                col.add_rows(table, name, reported, s, "ambiguous date (day-first or "
                             f"month-first?); {_SET_ORDER}", fix=_DATES_FIX)
            day_first = bool(day_ev.any())
        elif numeric.any():  # an explicit order: a cell that cannot be read that way is wrong
            reported = numeric & ((b if day_first else a) > 12)
            col.add_rows(table, name, reported, s,
                         f"not a {'day' if day_first else 'month'}-first date (read: dates)",
                         fix=_DATES_FIX)
        todo = rest & ~reported
        if todo.any():
            out[todo] = pd.to_datetime(s[todo], errors="coerce", dayfirst=day_first,
                                       format="mixed")
    bad = (s.notna() & out.isna() & ~_missing_mask(s, codes)).to_numpy(dtype=bool) & ~reported
    col.add_rows(table, name, bad, s, "not a date")
    return out


def _convert(table: RawTable, frame: pd.DataFrame, name: str, kind: str, codes: set[str],
             scale: tuple[int, int] | None, col: _Collector, dates: str = "auto",
             role: str = "responses") -> pd.Series:
    s = frame[name]
    if kind in ("id", "text"):
        return s.astype("string")
    if kind == "category":
        # categories of the default string dtype, as a Parquet round trip gives them back
        return s.astype("str").astype("category")
    if kind == "bool":
        low = s.str.lower()
        out = pd.Series(pd.NA, index=s.index, dtype="boolean")
        out[low.isin(_TRUE).fillna(False)] = True
        out[low.isin(_FALSE).fillna(False)] = False
        bad = s.notna() & out.isna() & ~_missing_mask(s, codes)
        col.add_rows(table, name, bad, s, "not a boolean (true/false, yes/no, 1/0)",
                     fix=f"import.{role}.values.{name}")
        return out
    if kind == "date":
        return _parse_dates(table, name, s, codes, dates, col)
    # numeric kinds
    if is_typed(s):  # numbers as the file typed them: no cell is text
        x = s.to_numpy(dtype=float, na_value=np.nan)
        is_code = _typed_code_mask(s, codes)
        if is_code.any():
            x = np.where(is_code, np.nan, x)
        num = pd.Series(x, index=s.index, copy=False)
        text = np.zeros(len(s), dtype=bool)
    else:
        x = _all_numbers(s, table.decimal, codes)
        if x is not None:  # every cell a number and no code one: no code to look for
            num = pd.Series(x, index=s.index, copy=False)
            text = np.isnan(x) & s.notna().to_numpy(dtype=bool)  # "nan" written out
        else:
            is_code = _missing_mask(s, codes)
            num = _to_number(s.mask(is_code), table.decimal)
            text = s.notna() & ~is_code & num.isna()
    scored = kind in ("scale", "nps")
    col.add_rows(table, name, text, s, "text in a numeric column",
                 fix=f"missing_codes, or import.{role}.value_labels for answers written as "
                     "labels" if scored else "missing_codes")
    infinite = np.isinf(num.to_numpy())
    col.add_rows(table, name, infinite, s, "not a finite number (infinite, or beyond ±1.8e308)")
    num = num.mask(infinite)
    if kind == "nonneg":
        col.add_rows(table, name, num < 0, s, "must not be negative")
        return num.astype("Float64")
    return _whole_numbers(table, name, kind, s, num, scale, col, role)


#: Whole-number columns hold at most this (beyond it a float no longer holds every integer).
_MAX_WHOLE = 2**53


def _whole_numbers(table: RawTable, name: str, kind: str, s: pd.Series, num: pd.Series,
                   scale: tuple[int, int] | None, col: _Collector,
                   role: str = "responses") -> pd.Series:
    """Int64 of a whole-number column; each cell breaks at most one rule (size, fraction,
    sign, scale), so 1e308 or 18446744073709551615 is reported once, as too large."""
    if kind == "nps":
        scale = (0, 10)
    x = num.to_numpy(dtype=float, na_value=np.nan)  # numpy throughout: one pass per rule
    fine = _fine_whole_numbers(s, x, kind, scale)
    if fine is not None:  # the usual column: no cell breaks a rule
        return pd.Series(fine, index=s.index, copy=False)
    present = ~np.isnan(x)
    huge = present & (np.abs(x) > _MAX_WHOLE)
    col.add_rows(table, name, huge, s, f"too large for a whole number (at most {_MAX_WHOLE:,})")
    x = np.where(huge, np.nan, x)
    present &= ~huge
    frac = present & (x != np.floor(x))
    col.add_rows(table, name, frac, s, "must be a whole number")
    if kind == "count":
        col.add_rows(table, name, present & (x < 0), s, "must not be negative")
    if scale is not None:
        lo, hi = scale
        off = present & ~frac & ((x < lo) | (x > hi))
        col.add_rows(table, name, off, s, f"off the {lo}-{hi} scale",
                     fix=f"import.{role}.missing_codes, if the value is a code such as 8 for "
                         "\"don't know\"")
    whole = present & ~frac
    values = np.where(whole, x, 0).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(values, ~whole), index=s.index)


def _fine_whole_numbers(s: pd.Series, x: np.ndarray, kind: str,
                        scale: tuple[int, int] | None):
    """The Int64 array of :func:`_whole_numbers` when no cell breaks a rule (else None): a
    few passes over the column instead of one per rule. A typed integer column without blanks
    is checked by its smallest and largest value and kept as it is (no copy)."""
    lo, hi = scale if scale is not None else (-_MAX_WHOLE, _MAX_WHOLE)
    if kind == "count":
        lo = max(lo, 0)
    if s.dtype == np.int64 and len(x) and not np.isnan(x).any():
        v = np.asarray(s.array)  # writable, as a column of the result must be (no copy)
        # compared as integers: 2**53 + 1 is no float
        if max(lo, -_MAX_WHOLE) <= v.min() and v.max() <= min(hi, _MAX_WHOLE):
            return pd.arrays.IntegerArray(v, np.zeros(len(v), dtype=bool))
        return None
    with np.errstate(invalid="ignore"):
        whole = (x >= lo) & (x <= hi) & (np.abs(x) <= _MAX_WHOLE) & (x == np.floor(x))
    blank = ~whole
    if not np.isnan(x[blank]).all():
        return None
    with np.errstate(invalid="ignore"):  # a blank (NaN) casts to garbage, set to 0 below
        values = x.astype(np.int64)
    values[blank] = 0
    return pd.arrays.IntegerArray(values, blank)


def _infer_typed(s: pd.Series) -> pd.api.extensions.ExtensionArray:
    """:func:`_infer_many` of a typed column (:func:`crqlab.data.readers.is_typed`): the same
    type its text would be given."""
    x = s.to_numpy(dtype=float, na_value=np.nan)
    finite, present = np.isfinite(x), ~np.isnan(x)
    if not present.any() or not (finite == present).all():  # blank, or inf: text
        return text_cells(s).astype("string").array
    with np.errstate(invalid="ignore"):
        small = (np.abs(x) <= 2**53) & (np.mod(x, 1) == 0)
    values = np.where(finite, x, 0.0)
    if np.where(finite, small, True).all():
        return pd.arrays.IntegerArray(values.astype(np.int64), ~finite)
    return pd.arrays.FloatingArray(values, ~finite)


def _infer_many(frame: pd.DataFrame, names: list[str],
                decimal: str) -> dict[str, pd.api.extensions.ExtensionArray]:
    """Types of the extra columns: whole numbers as Int64 where every value is one, other
    numbers as Float64, anything else as text.

    All cells are parsed as numbers in one vectorised call (a 50,000-column export would
    otherwise cost a pandas round trip per column). Whole numbers beyond 2**53 stay Float64
    (Int64 cannot hold 1e308 exactly); ``inf`` and ``nan`` written as text make a column text.
    """
    import pyarrow as pa

    wanted = set(names)
    if not wanted:
        return {}
    out = {c: _infer_typed(s) for c, s in frame.items() if c in wanted and is_typed(s)}
    wanted -= set(out)
    picked = [c for c in frame.columns if c in wanted]  # one pass over the frame's columns
    columns = [s.array if isinstance(s.array, pd.arrays.ArrowStringArray)
               else s.astype("string").array for c, s in frame.items() if c in wanted]
    wordy = [_has_words(a) for a in columns]
    out.update({c: a.astype("string") for c, a, w in zip(picked, columns, wordy) if w})
    picked = [c for c, w in zip(picked, wordy) if not w]
    columns = [a for a, w in zip(columns, wordy) if not w]
    if not picked:
        return out
    n, k = len(frame), len(picked)
    chunks = [ch if ch.type == pa.string() else ch.cast(pa.string())
              for a in columns for ch in pa.chunked_array(a.__arrow_array__()).chunks]
    flat = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.string())))
    num = _numbers_by_column(flat, decimal, k, n)
    present = flat.notna().to_numpy(dtype=bool).reshape(k, n)
    finite = np.isfinite(num)
    numeric = present.any(axis=1) & (finite == present).all(axis=1)
    with np.errstate(invalid="ignore"):  # inf % 1 is nan: such a column is text anyway
        small = (np.abs(num) <= 2**53) & (np.mod(num, 1) == 0)
    whole = numeric & np.where(finite, small, True).all(axis=1)
    values = np.where(finite, num, 0.0)
    for j, c in enumerate(picked):
        if whole[j]:
            out[c] = pd.arrays.IntegerArray(values[j].astype(np.int64), ~finite[j])
        elif numeric[j]:
            out[c] = pd.arrays.FloatingArray(values[j], ~finite[j])
        else:
            out[c] = columns[j].astype("string")
    return out


def _numbers_by_column(flat: pd.Series, decimal: str, k: int, n: int) -> np.ndarray:
    """:func:`_to_number` of ``k`` columns of ``n`` cells laid end to end, as a (k, n) array:
    one Arrow parse of all of them, or - when a cell is not a number (an IP address) - each
    column on its own, so that only the columns that need it take pandas' slower parser."""
    import pyarrow as pa

    t = flat.str.replace(",", ".", regex=False) if decimal == "," else flat
    try:
        arr = pa.chunked_array(t.array.__arrow_array__())
        return arr.cast(pa.float64()).to_numpy().reshape(k, n)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError):
        pass
    return np.stack([_to_number(flat.iloc[j * n:(j + 1) * n].reset_index(drop=True), decimal)
                     .to_numpy(dtype=float) for j in range(k)]) if k else np.zeros((0, n))


def _has_words(values) -> bool:
    """A text column that cannot be numbers: a cell holds a character no number is written
    with (a letter other than e, a colon, a slash) or two decimal marks. Such columns skip
    the numeric parse (a Qualtrics export has a score of them: dates, ids, IP addresses)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.chunked_array(values.__arrow_array__()) if hasattr(values, "__arrow_array__") \
        else pa.chunked_array([pa.array(values, type=pa.string())])
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    # a letter, a colon ...; or two decimal marks (203.0.113.5), which no number has
    pattern = r"[^0-9eE+\-.,\s]|[.,][^.,]*[.,]"
    head = arr.slice(0, 1000)  # a text column shows it in its first cells, almost always
    if pc.any(pc.match_substring_regex(head, pattern)).as_py():
        return True
    return bool(pc.any(pc.match_substring_regex(arr, pattern)).as_py())


def _typed_table(table: RawTable, role: str, mapping: dict, types: dict[str, str],
                 scales: dict[str, tuple[int, int]], required: list[str], codes: set[str],
                 col: _Collector, dates: str = "auto",
                 rules: TableRules | None = None) -> pd.DataFrame:
    rules = rules or TableRules(role)
    frame = _map_columns(table, mapping, role, col)
    missing = [c for c in required if c not in frame.columns]
    for c in missing:
        col.add(Problem(table.name, c, None, None, f"required {role} column is missing "
                        f"(map it in study.yaml 'columns: {role}:' if the export names it otherwise)",
                        kind="a required column is missing", fix=f"columns.{role}"))
    inferred = _infer_many(frame, [c for c in frame.columns if c not in types], table.decimal)
    out, reported = {}, {}
    for name in frame.columns:
        if name in types:
            if is_typed(frame[name]) and not _stays_typed(table, name, types[name], rules, col):
                frame[name] = text_cells(frame[name])
            own = codes | rules.codes.get(name, frozenset())
            frame[name], reported[name] = _prepared(table, frame, name, types[name], own, rules,
                                                    col)
            out[name] = _convert(table, frame, name, types[name], own, scales.get(name), col,
                                 dates, role)
        else:
            out[name] = inferred[name]
    for key in KEY_COLUMNS[role]:
        if key in frame.columns:
            col.add_rows(table, key, frame[key].isna(), frame[key],
                         f"{key} is blank; every {role} row needs one",
                         fix=f"files.{role}[i].wave" if key == "wave"
                         else f"import.{role}.filters (present: true)")
    for name, why in NEVER_MISSING.get(role, {}).items():
        if name in out:  # cells of the wrong type are reported by the conversion
            raw = frame[name]
            own = codes | rules.codes.get(name, frozenset())
            gone = (out[name].isna() & (raw.isna() | _missing_mask(raw, own))).to_numpy(
                dtype=bool) & ~reported[name]
            col.add_rows(table, name, gone, raw, f"{name} is missing ({why})",
                         fix=f"import.{role}.values.{name}")
    # the typed columns as they are (a DataFrame of Series would copy every one)
    return pd.DataFrame({c: s.array if isinstance(s, pd.Series) else s for c, s in out.items()},
                        index=frame.index, copy=False)


#: Contract types checked as numbers (a typed Parquet column of these stays typed).
_NUMERIC_KINDS = ("int", "count", "nonneg", "scale", "nps")


def _stays_typed(table: RawTable, name: str, kind: str, rules: TableRules,
                 col: _Collector) -> bool:
    """Whether a typed column is checked as numbers: a numeric contract type whose cells no
    rule reads as text (answer labels, mapped values, SPSS labels and user-missing values)."""
    export = col.export_names.get(table.name, {}).get(name, name)
    return (kind in _NUMERIC_KINDS and name not in rules.labels and name not in rules.values
            and export not in table.labels and export not in table.user_missing)


def _prepared(table: RawTable, frame: pd.DataFrame, name: str, kind: str, codes: frozenset,
              rules: TableRules, col: _Collector) -> tuple[pd.Series, np.ndarray]:
    """A column's cells before conversion: SPSS user-missing values blanked and value labels
    applied to text columns; answer labels (``value_labels``) and mapped cells (``values``)
    replaced, each unknown cell reported with what is accepted (and blanked, so that it is
    reported once). Returns the cells and the mask of those reported."""
    s = frame[name]
    reported = np.zeros(len(s), dtype=bool)
    export = col.export_names.get(table.name, {}).get(name, name)
    if export in table.user_missing:
        s = s.mask(_user_missing(s, table.user_missing[export]))
    if export in table.labels and kind in ("id", "text", "category", "bool"):
        s = s.map(lambda v, lab=table.labels[export]: lab.get(v, v) if isinstance(v, str)
                  else v).astype("string")
    if name in rules.labels:
        s, bad = import_rules.relabel(s, rules.labels[name], codes)
        col.add_rows(table, name, bad, frame[name], "not one of the answer labels ("
                     + ", ".join(rules.label_text[name]) + "), a number or a missing code",
                     fix=f"import.{rules.role}.value_labels", kind="unknown answer label")
        reported |= bad
    if name in rules.values:
        s, bad = import_rules.remap(s, rules.values[name], codes)
        col.add_rows(table, name, bad, frame[name], f"not a value study.yaml maps for {name} ("
                     + rules.value_text[name] + ")", fix=f"import.{rules.role}.values.{name}",
                     kind=f"a {name} value study.yaml does not map")
        reported |= bad
    return (s.mask(reported) if reported.any() else s), reported


def _user_missing(s: pd.Series, ranges: list[tuple[float, float]]) -> np.ndarray:
    """Cells inside an SPSS user-missing range (discrete values are ranges of one value)."""
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    out = np.zeros(len(s), dtype=bool)
    for lo, hi in ranges:
        out |= (num >= lo) & (num <= hi)
    return out


# ---------------------------------------------------------------------------------------------
# cross-table rules

def _key_text(frame: pd.DataFrame, keys: list[str], mask: np.ndarray, limit: int) -> np.ndarray:
    """``"wave=1, contact_id=C7"`` for the first ``limit`` flagged rows (no more can be listed)."""
    out = np.full(len(frame), None, dtype=object)
    rows = np.flatnonzero(mask)[:limit]
    sub = frame[keys].iloc[rows].astype("string").fillna("")
    out[rows] = [", ".join(f"{k}={v}" for k, v in zip(keys, r)) for r in sub.itertuples(index=False)]
    return out


def _raw(table: RawTable, col: _Collector, canonical: str) -> pd.Series:
    """The column's cells as written in the file, for messages."""
    return table.frame[col.export_names.get(table.name, {}).get(canonical, canonical)]


def _key_codes(frames: list[pd.DataFrame], keys: list[str]) -> list[np.ndarray]:
    """Integer codes of each frame's key tuples, coded alike across ``frames``.

    Each key column is factorised once over all frames (as text where the frames' types differ,
    so that ``1`` and ``"1"`` compare as the string comparison did), and the columns' codes are
    combined tuple by tuple into one ``int64`` (re-factorised once their range passes four
    codes a row, so it never overflows). A missing key part is a value of its own (code 0), as ``duplicated`` treats NaN.
    Membership and duplicate checks on these integers replace string ``MultiIndex`` objects
    (issue 21: 21-37% of a load went to those).
    """
    sizes = np.cumsum([0, *(len(f) for f in frames)])
    combined = np.zeros(sizes[-1], dtype=np.int64)
    # codes below this need no re-factorising: they stay far from overflow, and a membership
    # table (np.isin kind="table") over them stays small
    span, limit = 1, max(4 * int(sizes[-1]), 1 << 20)
    for k in keys:
        cols = [f[k] for f in frames]
        if len({str(c.dtype) for c in cols}) > 1:
            cols = [c.astype("string") for c in cols]
        codes, uniques = pd.factorize(pd.concat(cols, ignore_index=True), use_na_sentinel=True)
        combined = combined * (len(uniques) + 1) + (codes.astype(np.int64) + 1)
        del codes
        span *= len(uniques) + 1
        if span > limit:
            combined, uniques = pd.factorize(combined)
            span = len(uniques)
    return [combined[a:b] for a, b in zip(sizes[:-1], sizes[1:])]


def _check_duplicates(table: RawTable, frame: pd.DataFrame, keys: list[str], what: str,
                      col: _Collector, fix: str | None = None,
                      codes: np.ndarray | None = None) -> None:
    if not set(keys) <= set(frame.columns) or frame.empty:
        return
    if codes is None:
        (codes,) = _key_codes([frame], keys)
    dup = pd.Series(codes).duplicated(keep="first").to_numpy()
    if dup.any():
        col.add_rows(table, keys[-1], dup, _key_text(frame, keys, dup, col.cap),
                     f"{what} appears twice", fix=fix)


def _check_membership(table: RawTable, frame: pd.DataFrame, keys: list[str], known: pd.DataFrame,
                      message: str, col: _Collector, column: str | None = None,
                      fix: str | None = None,
                      codes: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    if not set(keys) <= set(frame.columns) or not set(keys) <= set(known.columns):
        return
    probe, idx = codes if codes is not None else _key_codes([frame, known], keys)
    bad = ~np.isin(probe, idx, kind="table")
    bad &= frame[keys].notna().all(axis=1).to_numpy()
    if bad.any():
        col.add_rows(table, column or keys[-1], bad, _key_text(frame, keys, bad, col.cap), message,
                     fix=fix)


def _cross_checks(tables: dict[str, RawTable], frames: dict[str, pd.DataFrame], cfg: dict,
                  col: _Collector) -> None:
    con, res = frames["contacts"], frames["responses"]
    tc, tr = tables["contacts"], tables["responses"]
    keys = ["wave", "contact_id"]
    both = set(keys) <= set(con.columns) & set(res.columns)
    # one coding of the (wave, contact) keys of both tables serves all four checks
    con_codes, res_codes = _key_codes([con, res], keys) if both else (None, None)
    _check_duplicates(tc, con, keys, "the same contact in the same wave", col,
                      fix="import.contacts.dedup", codes=con_codes)
    _check_duplicates(tr, res, keys, "a second response of the same contact",
                      col, fix="import.responses.dedup", codes=res_codes)
    _check_membership(tr, res, keys, con,
                      "response from a contact who is not in the invitation frame of that wave",
                      col, fix="import.responses.filters, or files (the right frame for the wave)",
                      codes=(res_codes, con_codes) if both else None)
    if both and "responded" in con.columns:
        has_resp = np.isin(con_codes, res_codes, kind="table")
        bad = has_resp & (con["responded"].fillna(True) == False).to_numpy()  # noqa: E712
        col.add_rows(tc, "responded", bad, _raw(tc, col, "responded"),
                     "responded is false but a response exists",
                     fix="import.contacts.values.responded")
    if ({"confidential"} <= set(con.columns) & set(res.columns)
            and set(keys) <= set(res.columns) & set(con.columns)):
        # One frame row per key (duplicates are reported above), so that the merge keeps the
        # responses' rows in order and row numbers stay aligned.
        frame_conf = con[keys + ["confidential"]].drop_duplicates(subset=keys, keep="first")
        joined = res[keys + ["confidential"]].merge(
            frame_conf, on=keys, how="left", suffixes=("", "_frame"))
        bad = (joined["confidential"].notna() & joined["confidential_frame"].notna()
               & (joined["confidential"] != joined["confidential_frame"])).to_numpy(dtype=bool)
        col.add_rows(tr, "confidential", bad, _raw(tr, col, "confidential"),
                     "disagrees with the contacts table")
    declared = cfg.get("waves")
    if declared:
        for role in ("contacts", "responses"):
            f = frames[role]
            if "wave" in f.columns:
                bad = f["wave"].notna() & ~f["wave"].isin(list(declared))
                col.add_rows(tables[role], "wave", bad, _raw(tables[role], col, "wave"),
                             f"wave not declared in study.yaml (declared: {sorted(declared)})",
                             fix="waves")
    acc = frames.get("accounts")
    if acc is not None and "account_id" in acc.columns:
        ta = tables["accounts"]
        akeys = ["account_id", "wave"] if "wave" in acc.columns else ["account_id"]
        _check_duplicates(ta, acc, akeys, "the same account", col)
        if "account_id" in con.columns:
            ckeys = akeys if "wave" in con.columns else ["account_id"]
            _check_membership(tc, con, ckeys, acc, "account id unknown in the accounts table", col,
                              column="account_id")


# ---------------------------------------------------------------------------------------------

def _instruments(cfg: dict, root: Path) -> tuple[Instrument, dict[str, Instrument]]:
    def _one(ref: str, key: str) -> Instrument:
        local = ref.endswith((".yaml", ".yml"))
        try:
            return load_instrument(root / ref if local else ref)
        except InstrumentError as exc:
            raise ValidationError([Problem("study.yaml", key, None, ref, str(exc))]) from exc

    main = _one(cfg.get("instrument", "crq"), "instrument")
    batteries = {b.name: b for b in (_one(r, "batteries")
                                     for r in cfg.get("batteries") or [])}
    return main, batteries


def _files_of(root: Path, cfg: dict) -> dict[str, Path]:
    """Role -> its (first) file."""
    return {role: root / file_entries(cfg, role)[0][0].split("#", 1)[0]
            for role in (cfg["files"] or {}) if file_entries(cfg, role)}


def _all_files_of(root: Path, cfg: dict) -> dict[str, Path]:
    """Every table file, by its study.yaml reference (for the cache key)."""
    return {ref: root / ref.split("#", 1)[0]
            for role in sorted(cfg["files"] or {}) for ref, _ in file_entries(cfg, role)}


@dataclass
class _Load:
    """What every step of loading one study needs: the config, scales, problems and the log."""

    root: Path
    cfg: dict
    instrument: Instrument
    batteries: dict[str, Instrument]
    col: _Collector
    log: list[dict] = field(default_factory=list)

    @property
    def read(self) -> dict:
        return self.cfg.get("read") or {}

    @property
    def codes(self) -> set[str]:
        return {str(c).strip().lower() for c in self.cfg.get("missing_codes", _DEFAULT_MISSING)}

    @property
    def scales(self) -> dict[str, tuple[int, int]]:
        item_scale = (self.instrument.scale_min, self.instrument.scale_max)
        scales = {i: item_scale for i in self.instrument.items}
        for b in self.batteries.values():
            scales.update({i: (b.scale_min, b.scale_max) for i in b.items})
        return scales

    def mapping(self, role: str) -> dict:
        return (self.cfg.get("columns") or {}).get(role) or {}

    def rules(self, role: str) -> TableRules:
        known = set(TABLE_COLUMNS[role]) | (set(self.scales) if role == "responses" else set())
        return import_rules.table_rules(self.cfg, role, known,
                                        _groups(self.instrument, self.batteries),
                                        {**self.scales, "nps": (0, 10)})

    def note(self, role: str, file: str, step: str, rows: int) -> None:
        self.log.append({"table": role, "file": file, "step": step, "rows": int(rows)})


def _validated_frames(root: Path, cfg: dict, instrument: Instrument,
                      batteries: dict[str, Instrument], max_problems: int,
                      per_kind: int | None = None):
    """Read, type and check every table; raise one ValidationError listing all problems.

    Returns the typed frames (with ``partials`` when a completion rule set some aside), what
    was read of each table, and the import log.
    """
    ld = _Load(root, cfg, instrument, batteries, _Collector(max_problems, per_kind))
    dates = ld.read.get("dates", "auto")  # one of schema.DATE_ORDERS (checked)
    scales = ld.scales
    tables: dict[str, RawTable] = {}
    frames: dict[str, pd.DataFrame] = {}
    for role in ("contacts", "responses", "accounts"):
        rules = ld.rules(role)
        table = _read_role(ld, role, rules)
        _release_arrow_memory()
        if table is None:
            continue
        tables[role] = table
        if table.frame.empty:
            ld.col.add(Problem(table.name, None, None, None,
                               f"the {role} table has a header but no rows: no {role}"))
            continue
        types = dict(TABLE_COLUMNS[role])
        required = list(REQUIRED_COLUMNS[role])
        if role == "responses":
            types.update({i: "scale" for i in scales})
            required += instrument.items
        frame = _typed_table(table, role, ld.mapping(role), types, scales, required, ld.codes,
                             ld.col, dates, rules)
        table, frames[role] = _after_typing(ld, role, rules, table, frame, frames)
        tables[role] = _for_messages(table, ld.col)
        del table, frame
        _release_arrow_memory()
    if {"contacts", "responses"} <= set(frames):
        _cross_checks(tables, frames, cfg, ld.col)
    ld.col.raise_if_any()
    info = {r: _read_info(t) for r, t in tables.items()}
    return frames, info, ld.log


#: Raw columns that the cross-table checks quote (:func:`_cross_checks`).
_QUOTED = ("wave", "responded", "confidential")


def _for_messages(table: RawTable, col: _Collector) -> RawTable:
    """A typed table's raw file with only the columns the cross-table checks still quote: the
    others (every answer, as text in a CSV) are freed before the next table is read."""
    from dataclasses import replace

    names = col.export_names.get(table.name, {})
    keep = [c for c in dict.fromkeys(names.get(k, k) for k in _QUOTED) if c in table.frame.columns]
    return replace(table, frame=table.frame[keep])


def _release_arrow_memory() -> None:
    """Give the memory Arrow's allocator keeps after a table is read back to the system: NumPy
    allocates elsewhere and cannot reuse it, so it would only raise the peak of a load."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _read_info(table: RawTable) -> dict:
    info = {"encoding": table.encoding, "delimiter": table.delimiter}
    if table.platform not in (None, "table"):
        info["layout"] = table.layout
    return info


def _read_role(ld: _Load, role: str, rules: TableRules) -> RawTable | None:
    """Every file of a table, each read with its platform's layout, fixed wave and filters,
    then stacked; None when no file could be read."""
    parts = []
    for ref, wave in file_entries(ld.cfg, role):
        try:
            raw = read_raw_table(ld.root / ref, encoding=ld.read.get("encoding", "auto"),
                                 delimiter=ld.read.get("delimiter", "auto"),
                                 decimal=ld.read.get("decimal", "auto"), typed=True)
            raw = apply_layout(raw, resolve_layout(raw, rules.spec))
        except ValidationError as exc:
            ld.col.absorb(exc)
            continue
        ld.note(role, ref, "read", len(raw.frame))
        raw = _without_identifying(raw, ld.mapping(role))
        if wave is not None:
            raw = _fixed_wave(ld, role, raw, wave)
        raw, counts, problems = import_rules.filter_rows(raw, rules.filters,
                                                         f"import.{role}.filters")
        for p in problems:
            ld.col.add(p)
        for reason, n in counts:
            ld.note(role, ref, f"left out: {reason}", n)
        parts.append(raw)
    if len(parts) > 1:
        _columns_in_every_file(ld, role, parts)
    return stack_tables(parts) if parts else None


def _without_identifying(raw: RawTable, mapping: dict) -> RawTable:
    """A platform export without the metadata that identifies respondents (names, e-mails,
    IP addresses, locations: :data:`crqlab.data.platforms.IDENTIFYING_COLUMNS`), unless
    study.yaml maps the column to a canonical name."""
    from dataclasses import replace

    drop = [c for c in IDENTIFYING_COLUMNS.get(raw.platform, ())
            if c in raw.frame.columns and c not in mapping.values()]
    if not drop:
        return raw
    return replace(raw, frame=raw.frame.drop(columns=drop),
                   layout=f"{raw.layout}; not loaded (they identify respondents): "
                          f"{', '.join(sorted(drop))}")


def _fixed_wave(ld: _Load, role: str, raw: RawTable, wave: int) -> RawTable:
    """The file with a wave column holding ``wave`` (study.yaml's ``files: - wave:``)."""
    from dataclasses import replace

    name = ld.mapping(role).get("wave", "wave")
    own = [c for c in raw.frame.columns if c == name or _normalise_name(c) == "wave"]
    if own:
        ld.col.add(Problem(raw.name, own[0], 1, None, f"study.yaml fixes wave {wave} for this "
                           "file, but it has its own wave column", fix=f"files.{role}"))
        return raw
    frame = raw.frame.assign(**{name: pd.array([str(wave)] * len(raw.frame), dtype="string")})
    return replace(raw, frame=frame)


def _columns_in_every_file(ld: _Load, role: str, parts: list[RawTable]) -> None:
    """A column study.yaml maps for a required canonical name must be in every file."""
    required = set(REQUIRED_COLUMNS[role]) | (set(ld.instrument.items)
                                              if role == "responses" else set())
    mapping = ld.mapping(role)
    for raw in parts:
        for canonical, export in mapping.items():
            if canonical in required and export not in raw.frame.columns:
                ld.col.add(Problem(raw.name, str(export), 1, None, f"column mapped to "
                                   f"{canonical!r} in study.yaml is not in the file",
                                   kind="a column study.yaml maps is not in the file",
                                   fix=f"columns.{role}"))


def _after_typing(ld: _Load, role: str, rules: TableRules, table: RawTable,
                  frame: pd.DataFrame, frames: dict) -> tuple[RawTable, pd.DataFrame]:
    """Completion, repeats and derived columns; the table keeps its rows aligned with the
    frame (for row numbers in messages)."""
    if role == "responses" and (rules.complete_column or rules.complete_share is not None):
        table, frame, partial = _partials(ld, rules, table, frame)
        if partial is not None:
            frames["partials"] = partial
    if rules.dedup is not None:
        table, frame = _dedup(ld, role, rules, table, frame)
    if rules.churn_column:
        table, frame = _derived_retention(ld, rules, table, frame)
    ld.note(role, table.name, "loaded", len(frame))
    return table, frame


def _export_column(ld: _Load, table: RawTable, column: str, key: str) -> pd.Series | None:
    """A column of the export that a rule reads (``Finished``, ``RecordedDate``)."""
    if column in table.frame.columns:
        return text_cells(table.frame[column])
    ld.col.add(Problem(table.name, column, 1, None, "the column a rule reads is not in the "
                       "file", kind="a column an import rule reads is not in the file", fix=key))
    return None


def _partials(ld: _Load, rules: TableRules, table: RawTable, frame: pd.DataFrame):
    flag = None
    if rules.complete_column:
        flag = _export_column(ld, table, rules.complete_column, "import.responses.complete_when")
        if flag is None:
            return table, frame, None
    answers = [*ld.instrument.items, "nps"]
    done = import_rules.complete_rows(frame, flag, rules.complete_share, answers)
    ld.note("responses", table.name, "partial: set aside, not scored", int((~done).sum()))
    partial = frame.loc[~done].drop(columns=[c for c in ("strengths", "weaknesses")
                                             if c in frame.columns]).reset_index(drop=True)
    return table.subset(done), frame.loc[done].reset_index(drop=True), partial


def _dedup(ld: _Load, role: str, rules: TableRules, table: RawTable, frame: pd.DataFrame):
    keys = {"contacts": ["wave", "contact_id"], "responses": ["wave", "contact_id"],
            "accounts": ["account_id", "wave"] if "wave" in frame.columns else ["account_id"]}
    keys = [k for k in keys[role] if k in frame.columns]
    order, keep = None, rules.dedup.get("keep", "last")
    if rules.dedup.get("order_by"):
        raw = _export_column(ld, table, rules.dedup["order_by"], f"import.{role}.dedup.order_by")
        if raw is None:
            return table, frame
        order = _parse_dates(table, rules.dedup["order_by"], raw, ld.codes,
                             ld.read.get("dates", "auto"), ld.col)
    if not keys:
        return table, frame
    drop = import_rules.repeated_rows(frame, keys, keep, order)
    ld.note(role, table.name, f"repeated: dropped, kept the {keep}", int(drop.sum()))
    return table.subset(~drop), frame.loc[~drop].reset_index(drop=True)


def _derived_retention(ld: _Load, rules: TableRules, table: RawTable, frame: pd.DataFrame):
    if "retained_next_wave" in frame.columns:
        ld.col.add(Problem(table.name, "retained_next_wave", 1, None, "the table has a "
                           "retained_next_wave column and study.yaml derives one",
                           fix="import.accounts.derive"))
        return table, frame
    raw = _export_column(ld, table, rules.churn_column, "import.accounts.derive")
    if raw is None:
        return table, frame
    churn = _parse_dates(table, rules.churn_column, raw, ld.codes, ld.read.get("dates", "auto"),
                         ld.col)
    waves = ld.cfg.get("waves") or {}
    starts = {w: pd.Timestamp(str((spec or {}).get("start"))) for w, spec in waves.items()
              if (spec or {}).get("start") is not None}
    frame, source = import_rules.derive_retained(frame, churn, sorted(waves), starts)
    return table.take(source), frame


# ---------------------------------------------------------------------------------------------
# validated Parquet cache (data/processed/<study>/<input hash>/)

def _cache_dir(root: Path, cfg: dict, cache) -> Path | None:
    from crqlab.paths import DATA_PROCESSED, DATA_RAW

    if cache is False or cache is None:
        return None
    if cache == "auto":
        try:
            root.relative_to(DATA_RAW.resolve())
        except ValueError:
            run_cache = os.environ.get(RUN_CACHE_ENV)
            return Path(run_cache) if run_cache else None
        name = str(cfg.get("study", root.name))
        # the study's name is text from study.yaml: a folder name only when it is a plain one
        plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name) and ".." not in name
        return DATA_PROCESSED / (name if plain else root.name)
    return Path(cache)


def _cache_key(root: Path, cfg: dict, files: dict[str, Path],
               instruments: list[Instrument]) -> str:
    from crqlab import __version__

    h = hashlib.sha256(f"crqlab {__version__}\n".encode())
    # the loader's own code is part of the key: a fixed validation rule revalidates old caches
    # (and a fixed scrubber re-scrubs them: the cache keeps scrubbed verbatims)
    for module in ("study.py", "readers.py", "schema.py", "instruments.py", "privacy.py",
                   "nameforms.py", "common_words.txt", "rules.py", "platforms.py"):
        h.update((Path(__file__).parent / module).read_bytes())
    h.update((root / "study.yaml").read_bytes())
    for role in sorted(files):
        h.update(role.encode())
        h.update(files[role].read_bytes() if files[role].is_file() else b"<missing>")
    for inst in instruments:
        h.update(repr(inst).encode())
    return h.hexdigest()[:32]


def _cache_read(folder: Path) -> tuple[dict[str, pd.DataFrame], dict, list] | None:
    meta = folder / "meta.yaml"
    if not meta.is_file():
        return None
    try:
        info = yaml.safe_load(meta.read_text(encoding="utf-8"))
        frames = {role: pd.read_parquet(folder / f"{role}.parquet") for role in info["tables"]}
    except (OSError, ValueError, KeyError, yaml.YAMLError):
        return None  # a damaged cache is rebuilt, never trusted
    return frames, info["read_info"], info.get("import_log") or []


def _cache_write(folder: Path, frames: dict[str, pd.DataFrame], read_info: dict,
                 all_waves: list[int] = (), log: list[dict] = ()) -> None:
    """Write atomically: a temporary sibling folder, renamed into place."""
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for role, frame in _private_copy(frames, all_waves).items():
            frame.to_parquet(tmp / f"{role}.parquet", index=False)
        (tmp / "meta.yaml").write_text(yaml.safe_dump(
            {"tables": sorted(frames), "read_info": read_info, "import_log": list(log)}),
            encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process wrote the same key first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a cache that cannot be written is no error


def _ever_confidential(frames: dict[str, pd.DataFrame], all_waves: list[int] = ()) -> set:
    """Contact ids that chose confidentiality in any wave, by either table's flag, and every
    respondent of a wave declared ``confidentiality: all``."""
    ids = set(frames["responses"].loc[frames["responses"]["wave"].isin(list(all_waves)),
                                      "contact_id"])
    for role in ("contacts", "responses"):
        f = frames.get(role)
        if f is not None and {"confidential", "contact_id"} <= set(f.columns):
            ids |= set(f.loc[f["confidential"].fillna(False).astype(bool), "contact_id"])
    return ids


def _private_copy(frames: dict[str, pd.DataFrame], all_waves: list[int] = ()
                  ) -> dict[str, pd.DataFrame]:
    """What may be kept in data/processed: PII only of contacts who never chose
    confidentiality (in every wave, since the contact id links the waves; everyone responding
    in a ``confidentiality: all`` wave counts as choosing it), and e-mails, phone numbers and
    names (every form, :func:`crqlab.data.privacy.scrub_text`) scrubbed from confidential
    respondents' verbatims."""
    from crqlab.data.privacy import make_scrubber

    ever = _ever_confidential(frames, all_waves)
    out = dict(frames)
    contacts = frames["contacts"]
    pii = [c for c in PII_COLUMNS if c in contacts.columns]
    hidden = contacts["contact_id"].isin(ever) if ever else pd.Series(False, index=contacts.index)
    if pii and hidden.any():
        contacts = contacts.copy()
        for c in pii:
            contacts[c] = contacts[c].mask(hidden)
        out["contacts"] = contacts
    res = frames["responses"]
    text = [c for c in ("strengths", "weaknesses") if c in res.columns]
    conf = res["contact_id"].isin(ever) if ever else pd.Series(False, index=res.index)
    if text and conf.any():
        known = frames["contacts"].loc[frames["contacts"]["contact_id"].isin(ever), pii]
        scrub = make_scrubber(tuple(v for c in pii for v in known[c].dropna().astype(str)))
        res = res.copy()
        for c in text:
            res.loc[conf, c] = res.loc[conf, c].map(scrub)
        out["responses"] = res
    return out


def load_study(study_dir: str | Path, *, max_problems: int = MAX_PROBLEMS,
               cache: bool | str | Path | None = "auto", per_kind: int | None = None) -> Study:
    """Load, type and validate a study folder.

    Parameters
    ----------
    study_dir : str or Path
        Folder holding ``study.yaml`` and the tables it names.
    max_problems : int
        How many problems to list in all before counting the rest; every kind of problem gets
        a fair share (:func:`crqlab.errors.fair_shares`), so one kind never hides another.
    cache : "auto", path or False
        Where validated tables are kept as Parquet, keyed by the SHA-256 of every input file,
        ``study.yaml``, the instruments and the crqlab version: a later load of unchanged inputs
        reads them instead of revalidating. ``"auto"`` caches studies under ``data/raw/`` in
        ``data/processed/<study>/``, and others in the folder :data:`RUN_CACHE_ENV` names, if
        set (``crqlab run`` does); a path caches there; False never caches. The cache keeps
        names and e-mails only of contacts who never chose confidentiality, and scrubs e-mails,
        phone numbers and names from confidential respondents' verbatims, so a study loaded
        from it has those blanked.
    per_kind : int, optional
        List at most this many problems of each kind (``crqlab validate --per-kind``).

    Returns
    -------
    Study

    Raises
    ------
    ValidationError
        Every problem found: missing required columns, values off the scale (NPS 11, an item
        0 or 8), text in numeric columns, the same contact twice in a wave, a response with no
        contact in the frame, ``responded`` blank or false where a response exists, unknown
        account ids, undeclared waves, unreadable files. Each names file, column, row and
        value.

    Notes
    -----
    Validated by the malformed-export corpus in ``tests/malformed/`` (each case rejected with
    its file, column, row and value; raw bytes unchanged) and by property tests; the cache by
    ``tests/data/test_study.py`` (a cached load equals a fresh one; a changed input misses the cache).
    """
    root = resolve_study_dir(study_dir).resolve()  # notebooks' "../data/raw/x" from anywhere
    cfg, lines = _read_config(root)
    instrument, batteries = _instruments(cfg, root)
    _check_rules(cfg, lines, instrument, batteries)
    files = _files_of(root, cfg)
    cache_root = _cache_dir(root, cfg, cache)
    frames = None
    if cache_root is not None:
        key_dir = cache_root / _cache_key(root, cfg, _all_files_of(root, cfg),
                                          [instrument, *batteries.values()])
        hit = _cache_read(key_dir)
        if hit is not None:
            frames, read_info, log = hit
    if frames is None:
        frames, read_info, log = _validated_frames(root, cfg, instrument, batteries,
                                                   max_problems, per_kind)
        if cache_root is not None:
            _cache_write(key_dir, frames, read_info, _all_confidential_waves(cfg), log)
    return Study(
        name=str(cfg.get("study", root.name)), client=str(cfg.get("client", "")), root=root,
        config=cfg, instrument=instrument, batteries=batteries, contacts=frames["contacts"],
        responses=frames["responses"], accounts=frames.get("accounts"), files=files,
        read_info=read_info, partials=frames.get("partials"), import_log=list(log),
    )
