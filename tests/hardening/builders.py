"""Study folders for the hardening tests, built with :mod:`crqlab.synth` and then edited.

Every builder starts from a small synthetic study (:func:`synth_frames`, preset ``tiny``), edits
the canonical tables and writes a study folder in the data contract (:func:`write_frames`).

- :func:`canary_study` - confidential respondents carry unique marker names, e-mails and
  contact ids (and markers inside some of their verbatims, some in the forms people write
  names in: ``CANARYNAME0001, Kim``, a zero-width space inside the name, a spelled-out
  e-mail), one account has only two respondents, one role only three: after ``crqlab run`` no
  marker may be published.
- :data:`DEGENERATE` - one edit each: a single wave, a single account, a wave without
  responses, identical answers, everyone confidential, no confidentiality column, no accounts
  table, no retention outcome, numeric contact ids, a single respondent, no NPS answer.
- :func:`malformed_copy` - a valid study with one bad cell, for the hostile-input properties.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from crqlab.synth import generate
from crqlab.synth.output import format_table

__all__ = ["Frames", "synth_frames", "write_frames", "CanaryMarkers", "canary_study",
           "DEGENERATE", "degenerate_study", "MARKER_PATTERN", "SMALL_ROLE", "SMALL_ACCOUNT_ID",
           "SMALL_ACCOUNT_NAME", "sha256_tree"]

SEED = 7
#: Any marker planted by :func:`canary_study` (names, e-mails, ids, the small account).
MARKER_PATTERN = re.compile(r"canary(?:name|id)?\d{4}|leak\.example|acanary\d+|canaryaccount",
                            re.IGNORECASE)
#: A role held by exactly three respondents (all in the latest wave).
SMALL_ROLE = "procurement"
#: An account with exactly two respondents (both confidential, latest wave).
SMALL_ACCOUNT_ID = "ACANARY99"
SMALL_ACCOUNT_NAME = "CANARYACCOUNT Ltd"


@dataclass(frozen=True)
class Frames:
    """Canonical tables of a study and its study.yaml content (``accounts`` may be None)."""

    contacts: pd.DataFrame
    responses: pd.DataFrame
    accounts: pd.DataFrame | None
    config: dict

    @property
    def items(self) -> list[str]:
        fixed = {"wave", "contact_id", "nps", "strengths", "weaknesses", "confidential"}
        return [c for c in self.responses.columns if c not in fixed]


def synth_frames(preset: str = "tiny", seed: int = SEED, **overrides) -> Frames:
    """A generated study as editable frames.

    Account managers are renamed ``Manager NN``: crqlab.synth draws managers' and contacts'
    names from one pool, and a confidential contact who shares an account manager's name makes
    the runner's leak scan withhold every report that names the manager (a true positive for the
    scanner, which cannot tell two people with one name apart, but not what these tests probe).
    """
    s = generate(preset, seed=seed, **overrides)
    accounts = s.accounts.copy()
    managers = sorted(accounts["account_manager"].dropna().unique())
    rename = {m: f"Manager {i + 1:02d}" for i, m in enumerate(managers)}
    accounts["account_manager"] = accounts["account_manager"].map(rename)
    return Frames(s.contacts.copy(), s.responses.copy(), accounts, dict(s.config))


def write_frames(frames: Frames, folder: Path) -> Path:
    """Write the frames as CSV plus study.yaml into ``folder`` (created); returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = dict(frames.config)
    dk = (cfg.get("missing_codes") or ["Don't know"])[0]
    tables = {"contacts": format_table(frames.contacts),
              "responses": format_table(frames.responses, {c: dk for c in frames.items})}
    if frames.accounts is not None:
        tables["accounts"] = format_table(frames.accounts)
    cfg["files"] = {role: f"{role}.csv" for role in tables}
    for role, table in tables.items():
        table.to_csv(folder / f"{role}.csv", index=False, lineterminator="\n", encoding="utf-8")
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True),
                                       encoding="utf-8")
    return folder


def _keys(df: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(df[["wave", "contact_id"]])


def _confidential_keys(f: Frames) -> pd.DataFrame:
    return f.responses.loc[f.responses["confidential"].fillna(False).astype(bool),
                           ["wave", "contact_id"]]


# -- privacy canary ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryMarkers:
    """What :func:`canary_study` planted."""

    folder: Path
    names: tuple[str, ...]
    emails: tuple[str, ...]
    ids: tuple[str, ...]
    verbatim_markers: tuple[str, ...]
    min_cell_size: int
    #: the verbatims written in name forms, as scrub_text must show them (see FORM_VERBATIMS)
    scrubbed_forms: tuple[str, ...] = ()


#: Verbatims of the latest wave's confidential respondents (the wave notebook 20 shows), each
#: naming its author in a form people write: (template, as scrubbed).
FORM_VERBATIMS = (
    ("CANARYNAME{num}, Kim: the invoices are wrong.", "[name removed]: the invoices are wrong."),
    ("Ask Kim\u200bCANARY\u200bNAME{num} about the invoices.",
     "Ask [name removed] about the invoices."),
    ("Write to canary{num} at leak dot example about the invoices.",
     "Write to [e-mail removed] about the invoices."),
)


def _plant_forms(responses: pd.DataFrame, latest: int) -> tuple[str, ...]:
    """Every non-blank ``weaknesses`` of a confidential respondent of the latest wave becomes a
    verbatim in a name form (cycling through :data:`FORM_VERBATIMS`): whichever the notebook
    shows, each form is among them."""
    rows = np.flatnonzero((responses["confidential"].fillna(False).astype(bool)
                           & (responses["wave"] == latest)
                           & responses["weaknesses"].notna()).to_numpy())
    col = responses.columns.get_loc("weaknesses")
    for k, row in enumerate(rows):
        num = responses.iloc[row]["contact_id"][-4:]
        responses.iloc[row, col] = FORM_VERBATIMS[k % len(FORM_VERBATIMS)][0].format(num=num)
    return tuple(scrubbed for _, scrubbed in FORM_VERBATIMS[:len(rows)])


def canary_study(folder: Path, *, min_cell_size: int = 10, seed: int = SEED) -> CanaryMarkers:
    """The privacy fixture: markers on every confidential respondent, a 2-respondent account,
    a 3-respondent role, and ``min_cell_size`` in study.yaml."""
    f = synth_frames(seed=seed)
    contacts, responses, accounts = f.contacts.copy(), f.responses.copy(), f.accounts.copy()
    latest = int(contacts["wave"].max())
    conf = _confidential_keys(f)
    # a contact confidential in any wave gets markers in every wave (panel links are kept)
    ever = sorted(conf["contact_id"].unique())
    new_id = {c: f"CANARYID{i + 1:04d}" for i, c in enumerate(ever)}
    named = contacts["contact_id"].isin(new_id)
    number = contacts.loc[named, "contact_id"].map(new_id).str[-4:]
    contacts.loc[named, "contact_name"] = "Kim CANARYNAME" + number
    contacts.loc[named, "contact_email"] = "canary" + number + "@leak.example"
    contacts["contact_id"] = contacts["contact_id"].replace(new_id)
    responses["contact_id"] = responses["contact_id"].replace(new_id)

    # markers inside verbatims: the respondent names him- or herself and gives an e-mail
    conf_rows = np.flatnonzero(responses["confidential"].fillna(False).astype(bool).to_numpy())
    verbatim_markers = []
    for k, row in enumerate(conf_rows[:12]):
        num = responses.iloc[row]["contact_id"][-4:]
        column = ("strengths", "weaknesses")[k % 2]
        text = (f"Call me, CANARYNAME{num}, on canary{num}@leak.example about the renewal."
                if k % 3 else f"CANARYNAME{num} here: the service desk is slow.")
        responses.iloc[row, responses.columns.get_loc(column)] = text
        verbatim_markers.append(f"CANARYNAME{num}")
    scrubbed_forms = _plant_forms(responses, latest)

    # an account with only two respondents, both confidential (latest wave)
    conf_latest = responses.loc[responses["confidential"].fillna(False).astype(bool)
                                & (responses["wave"] == latest), "contact_id"].iloc[:2].tolist()
    move = (contacts["wave"] == latest) & contacts["contact_id"].isin(conf_latest)
    template = accounts[(accounts["wave"] == latest)].iloc[[0]].copy() if "wave" in accounts \
        else accounts.iloc[[0]].copy()
    template["account_id"] = SMALL_ACCOUNT_ID
    template["account_name"] = SMALL_ACCOUNT_NAME
    contacts.loc[move, "account_id"] = SMALL_ACCOUNT_ID
    accounts = pd.concat([accounts, template], ignore_index=True)

    # a role held by exactly three respondents (latest wave), none of them the two above
    resp_latest = responses.loc[(responses["wave"] == latest)
                                & ~responses["contact_id"].isin(conf_latest), "contact_id"]
    three = resp_latest.iloc[[3, 10, 20]].tolist()
    contacts.loc[(contacts["wave"] == latest) & contacts["contact_id"].isin(three),
                 "role"] = SMALL_ROLE

    cfg = dict(f.config, study="privacy-fixture", client="Fixture Client Ltd",
               min_cell_size=int(min_cell_size))
    write_frames(Frames(contacts, responses, accounts, cfg), folder)
    in_frame = contacts[contacts["contact_id"].isin(new_id.values())]
    return CanaryMarkers(folder=Path(folder),
                         names=tuple(sorted(in_frame["contact_name"].unique())),
                         emails=tuple(sorted(in_frame["contact_email"].unique())),
                         ids=tuple(sorted(new_id.values())),
                         verbatim_markers=tuple(verbatim_markers),
                         min_cell_size=int(min_cell_size), scrubbed_forms=scrubbed_forms)


# -- degenerate studies -----------------------------------------------------------------------
def _one_wave(f: Frames) -> Frames:
    """Only wave 2 (optional confidentiality; wave numbers need not start at 1)."""
    keep = 2
    cfg = dict(f.config, waves={keep: f.config["waves"][keep]})
    acc = f.accounts[f.accounts["wave"] == keep].reset_index(drop=True)
    return Frames(f.contacts[f.contacts["wave"] == keep].reset_index(drop=True),
                  f.responses[f.responses["wave"] == keep].reset_index(drop=True), acc, cfg)


def _one_account(f: Frames) -> Frames:
    """Only the account with the most respondents, in every wave."""
    resp = f.responses.merge(f.contacts[["wave", "contact_id", "account_id"]], on=["wave", "contact_id"])
    biggest = resp["account_id"].value_counts().sort_index().idxmax()
    contacts = f.contacts[f.contacts["account_id"] == biggest].reset_index(drop=True)
    responses = f.responses[_keys(f.responses).isin(_keys(contacts))].reset_index(drop=True)
    accounts = f.accounts[f.accounts["account_id"] == biggest].reset_index(drop=True)
    return Frames(contacts, responses, accounts, f.config)


def _empty_wave(f: Frames) -> Frames:
    """The latest wave was fielded (contacts invited) but nobody responded."""
    last = int(f.contacts["wave"].max())
    contacts = f.contacts.copy()
    w = contacts["wave"] == last
    contacts.loc[w, "responded"] = False
    for c in ("responded_on", "reminders", "days_to_respond", "confidential"):
        if c in contacts:
            contacts.loc[w, c] = pd.NA if c != "responded_on" else pd.NaT
    responses = f.responses[f.responses["wave"] != last].reset_index(drop=True)
    return Frames(contacts, responses, f.accounts, f.config)


def _identical_answers(f: Frames) -> Frames:
    """Every respondent gives 6 to every item and 9 to the 0-10 question (no variance)."""
    responses = f.responses.copy()
    for item in f.items:
        responses[item] = pd.array([6] * len(responses), dtype="Int64")
    responses["nps"] = pd.array([9] * len(responses), dtype="Int64")
    return Frames(f.contacts, responses, f.accounts, f.config)


def _all_confidential(f: Frames) -> Frames:
    """Confidentiality imposed in every wave: every respondent is confidential."""
    contacts, responses = f.contacts.copy(), f.responses.copy()
    responded = contacts["responded"].fillna(False).astype(bool)
    contacts["confidential"] = pd.array([True if r else pd.NA for r in responded], dtype="boolean")
    responses["confidential"] = pd.array([True] * len(responses), dtype="boolean")
    waves = {w: dict(spec, confidentiality="all") for w, spec in f.config["waves"].items()}
    return Frames(contacts, responses, f.accounts, dict(f.config, waves=waves))


def _no_confidentiality_column(f: Frames) -> Frames:
    """The export has no confidentiality flag at all (study.yaml still declares the waves)."""
    return Frames(f.contacts.drop(columns="confidential"), f.responses.drop(columns="confidential"),
                  f.accounts, f.config)


def _no_accounts_table(f: Frames) -> Frames:
    """Only contacts and responses; account-level segments do not exist."""
    return Frames(f.contacts, f.responses, None, f.config)


def _no_retention_outcome(f: Frames) -> Frames:
    """The accounts table has no retained_next_wave column."""
    return Frames(f.contacts, f.responses, f.accounts.drop(columns="retained_next_wave"), f.config)


def _numeric_contact_ids(f: Frames) -> Frames:
    """Contact ids are plain numbers 1, 2, 3 ... (as many CRM exports have)."""
    ids = {c: str(i + 1) for i, c in enumerate(sorted(f.contacts["contact_id"].unique()))}
    return Frames(f.contacts.assign(contact_id=f.contacts["contact_id"].map(ids)),
                  f.responses.assign(contact_id=f.responses["contact_id"].map(ids)),
                  f.accounts, f.config)


def _one_respondent(f: Frames) -> Frames:
    """Everyone invited, one response in the whole study (the first of the latest wave)."""
    last = int(f.contacts["wave"].max())
    responses = f.responses[f.responses["wave"] == last].iloc[[0]].reset_index(drop=True)
    contacts = f.contacts.copy()
    others = ~_keys(contacts).isin(_keys(responses))
    contacts.loc[others, "responded"] = False
    for c in ("reminders", "days_to_respond", "confidential"):
        if c in contacts:
            contacts.loc[others, c] = pd.NA
    if "responded_on" in contacts:
        contacts.loc[others, "responded_on"] = pd.NaT
    return Frames(contacts, responses, f.accounts, f.config)


def _nps_all_missing(f: Frames) -> Frames:
    """Nobody answered the 0-10 question (every NPS cell blank)."""
    responses = f.responses.assign(nps=pd.array([pd.NA] * len(f.responses), dtype="Int64"))
    return Frames(f.contacts, responses, f.accounts, f.config)


#: name -> edit of a generated study.
DEGENERATE: dict[str, Callable[[Frames], Frames]] = {
    "one_wave": _one_wave,
    "one_account": _one_account,
    "empty_wave": _empty_wave,
    "identical_answers": _identical_answers,
    "all_confidential": _all_confidential,
    "no_confidentiality_column": _no_confidentiality_column,
    "no_accounts_table": _no_accounts_table,
    "no_retention_outcome": _no_retention_outcome,
    "numeric_contact_ids": _numeric_contact_ids,
    "one_respondent": _one_respondent,
    "nps_all_missing": _nps_all_missing,
}


def degenerate_study(name: str, folder: Path, seed: int = SEED) -> Path:
    """Write the degenerate study ``name`` (a key of :data:`DEGENERATE`) into ``folder``."""
    f = DEGENERATE[name](synth_frames(seed=seed))
    f = replace(f, config=dict(f.config, study=f"degenerate-{name.replace('_', '-')}"))
    return write_frames(f, folder)


def sha256_tree(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (hidden files included), by relative path."""
    import hashlib

    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
