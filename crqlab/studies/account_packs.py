"""Close-the-loop account packs: what each account's manager takes into the feedback meeting.

For one wave (the latest with enough respondents unless asked), every account with at least
``min_cell_size`` respondents shown gets a pack (:class:`AccountPack`): the account's CRQ elements,
index and NPS against the client's overall, each with its interval and n; the change since the
account's previous wave; its relationship category; named respondents' scores and comments;
confidential respondents' comments unattributed; the themes the comments mention; the three
weakest elements as discussion points. :func:`action_list` has one row per account of the
wave's invitation frame for a CRM (owner, category, risk flags, priority, a blank due date).

Privacy rules (docs/hardening.md): a respondent is *named* only when not confidential in this
wave and never confidential in any wave (the contact id links the waves, as in
:func:`crqlab.data.privacy.confidential_identifiers`). An account's confidential respondents
enter its numbers - aggregates, change, flags - only when at least ``min_cell_size`` of them
answered in that wave (the named ones are shown one by one, so the aggregate minus them gives
the confidential group back); otherwise they are left out and the pack says only that
confidential answers are included from ``min_cell_size`` on, never how many there were. Their
comments appear only then, without attribution, shuffled, and scrubbed of every contact's name
and e-mail (:func:`crqlab.data.privacy.safe_verbatims`); named respondents' comments are scrubbed
of confidential respondents' names, and a named respondent whose name reads as a confidential
respondent's (same name, or same rare surname: :mod:`crqlab.data.nameforms`) is listed with the
name withheld (:data:`NAME_WITHHELD`).

Differencing is closed too: an account's comparison group is every respondent of the wave but
those shown for it, and no set of packs (or of earlier-wave aggregates behind the changes) may
leave 1 to ``min_cell_size - 1`` answers as the client's total minus them
(:func:`protect_remainder`). The reports layer (:mod:`crqlab.reports.packs`) writes the
files and runs the leak scan over every one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from crqlab.data.privacy import (confidential_identifiers, effective_min_cell_size,
                                 make_scrubber, safe_verbatims)
from crqlab.errors import InsufficientDataError
from crqlab.formatting import difference_words, format_fixed
from crqlab.measures.categories import relationship_category
from crqlab.measures.nps import nps, nps_bootstrap, nps_category, nps_test
from crqlab.measures.scoring import cluster_mean, score_items
from crqlab.measures.themes import ThemeDictionary, code_comments, study_themes
from crqlab.stats import wilson_ci

__all__ = ["AccountPack", "PackSet", "account_packs", "action_list", "welch_difference",
           "protect_remainder",
           "HIDDEN_RISK_MAX", "PRIORITIES", "ACTION_COLUMNS", "NAME_WITHHELD"]

#: A promoter whose trust or commitment is at most this (the neutral point of 1-7) is a
#: hidden-risk promoter (the rule of :func:`crqlab.models.association.hidden_risk`).
HIDDEN_RISK_MAX = 4.0
#: Priorities of the action list, highest first.
PRIORITIES = ("High", "Medium", "Low")
#: Columns of the action list, in the order a CRM import maps them.
ACTION_COLUMNS = ("account_id", "account_name", "owner", "category", "priority", "risk_flags",
                  "discussion_points", "n_respondents", "crq_index", "nps", "wave", "due_date")
_WEAK = ("Stalkers", "Opponents")


@dataclass
class AccountPack:
    """One account's pack (see the module notes for what enters it)."""

    account_id: str
    account_name: str
    owner: str
    wave: int
    wave_label: str
    previous_label: str | None
    n: int
    confidential_included: bool
    scores: pd.DataFrame
    category: str | None
    respondents: pd.DataFrame
    comments: pd.DataFrame
    themes: pd.DataFrame
    discussion: list[str]
    flags: list[str]
    priority: str


@dataclass
class PackSet:
    """Every pack of a wave, the action list, and the study facts a page shows."""

    study: str
    client: str
    wave: int
    wave_label: str
    min_cell_size: int
    ci: float
    packs: list[AccountPack]
    actions: pd.DataFrame
    identifiers: set[str] = field(repr=False, default_factory=set)


def welch_difference(a, b, ci: float = 0.95) -> dict[str, Any]:
    """Difference of means ``a - b`` with a Welch interval: ``est, se, ci_low, ci_high, n``.

    Notes
    -----
    Welch (1947), Satterthwaite degrees of freedom; equals ``scipy.stats.ttest_ind(a, b,
    equal_var=False).confidence_interval`` (``tests/studies/test_account_packs.py``).
    Respondents are treated as independent (an account's respondents are one cluster; two waves of one
    account share some contacts, which makes the change interval somewhat conservative).
    """
    a = pd.to_numeric(pd.Series(a), errors="coerce").dropna().to_numpy(float)
    b = pd.to_numeric(pd.Series(b), errors="coerce").dropna().to_numpy(float)
    out = {"est": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "n": int(a.size + b.size)}
    if a.size < 2 or b.size < 2:
        return out
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    est = float(a.mean() - b.mean())
    se = float(np.sqrt(va + vb))
    out["est"] = est
    if se == 0:
        return out | {"se": 0.0, "ci_low": est, "ci_high": est}
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = float(st.t.ppf(0.5 + ci / 2, dof))
    return out | {"se": se, "ci_low": est - t * se, "ci_high": est + t * se}


def _shown(group: pd.DataFrame, min_cell_size: int) -> tuple[pd.DataFrame, bool]:
    """The respondents of one account and wave whose answers enter its numbers."""
    conf = group["is_confidential"]
    include = int(conf.sum()) >= min_cell_size
    return (group if include else group[~conf]), include and bool(conf.any())


def _score_rows(cur: pd.DataFrame, rest: pd.DataFrame, prev: pd.DataFrame | None,
                overall: dict[str, dict], elements: list[str], labels: dict[str, str],
                ci: float, no_change: str = "no earlier wave with enough respondents"
                ) -> pd.DataFrame:
    rows = []
    for s in [*elements, "crq_index", "nps"]:
        if s == "nps":
            acc = nps(cur["nps"], ci).iloc[0]
            acc = {"est": acc["est"], "ci_low": acc["ci_low"], "ci_high": acc["ci_high"],
                   "n": int(acc["n"])}
            vs = _nps_diff(cur["nps"], rest["nps"], ci)
            ch = _nps_diff(cur["nps"], prev["nps"], ci) if prev is not None else None
        else:
            acc = cluster_mean(cur[s], None, ci)
            vs = welch_difference(cur[s], rest[s], ci)
            ch = welch_difference(cur[s], prev[s], ci) if prev is not None else None
        o = overall[s]
        rows.append({"score": s, "label": labels.get(s, s), "est": acc["est"],
                     "ci_low": acc["ci_low"], "ci_high": acc["ci_high"], "n": acc["n"],
                     "client_est": o["est"], "client_ci_low": o["ci_low"],
                     "client_ci_high": o["ci_high"], "client_n": o["n"],
                     "vs_rest": vs["est"], "vs_rest_ci_low": vs["ci_low"],
                     "vs_rest_ci_high": vs["ci_high"],
                     "vs_client": difference_words(vs["ci_low"], vs["ci_high"],
                                                   higher="higher than the rest of the client",
                                                   lower="lower than the rest of the client"),
                     "change": ch["est"] if ch else np.nan,
                     "change_ci_low": ch["ci_low"] if ch else np.nan,
                     "change_ci_high": ch["ci_high"] if ch else np.nan,
                     "change_words": difference_words(ch["ci_low"], ch["ci_high"],
                                                      higher="up", lower="down")
                     if ch else no_change})
    return pd.DataFrame(rows)


def _nps_diff(x, y, ci: float) -> dict[str, Any]:
    x, y = pd.to_numeric(x, errors="coerce").dropna(), pd.to_numeric(y, errors="coerce").dropna()
    if len(x) < 1 or len(y) < 1:
        return {"est": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    r = nps_test(x, y, method="wald", ci=ci).iloc[0]
    return {"est": r["est"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}


def _overall(data: pd.DataFrame, scores: list[str], ci: float, n_boot: int, seed: int
             ) -> dict[str, dict]:
    """The client's overall scores: every respondent of the wave, account-cluster intervals."""
    out = {s: cluster_mean(data[s], data["account_id"], ci) for s in scores}
    answered = data["nps"].notna()
    if answered.sum() >= 2:
        b = nps_bootstrap(data.loc[answered, "nps"], data.loc[answered, "account_id"],
                          n_boot=n_boot, ci=ci, seed=seed).iloc[0]
        out["nps"] = {"est": b["est"], "ci_low": b["ci_low"], "ci_high": b["ci_high"],
                      "n": int(b["n"])}
    else:
        out["nps"] = {"est": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                      "n": int(answered.sum())}
    return out


def _flags(cur: pd.DataFrame, scores: pd.DataFrame, category: str | None) -> list[str]:
    flags = []
    promoter = nps_category(cur["nps"]).to_numpy() == "promoter"
    low = ((cur["trust"] <= HIDDEN_RISK_MAX) | (cur["commitment"] <= HIDDEN_RISK_MAX)).to_numpy()
    hidden = int((promoter & low).sum())
    if hidden:
        flags.append(f"hidden-risk promoters: {hidden}")
    if category in _WEAK:
        flags.append(f"weak relationship ({category})")
    idx = scores.set_index("score")
    if "crq_index" in idx.index and difference_words(
            idx.loc["crq_index", "change_ci_low"], idx.loc["crq_index", "change_ci_high"],
            higher="", lower="down") == "down":
        flags.append("CRQ index down since the last wave")
    if "nps" in idx.index and difference_words(idx.loc["nps", "ci_low"], idx.loc["nps", "ci_high"],
                                               higher="", lower="negative") == "negative":
        flags.append("NPS below zero")
    return flags


def _priority(flags: list[str], category: str | None) -> str:
    if any(f.startswith(("hidden-risk", "weak relationship", "CRQ index down")) for f in flags):
        return "High"
    if category == "Ambivalents" or flags:
        return "Medium"
    return "Low"


def _discussion(scores: pd.DataFrame, elements: list[str]) -> list[str]:
    el = scores[scores["score"].isin(elements)].dropna(subset=["est"])
    weakest = el.sort_values(["est", "score"], kind="stable").head(3)
    return [f"{r.label}: {format_fixed(r.est)} (client {format_fixed(r.client_est)}; "
            f"{r.vs_client})" for r in weakest.itertuples()]


def _theme_counts(texts: pd.DataFrame, themes: ThemeDictionary) -> pd.DataFrame:
    rows = []
    for fld in ("strengths", "weaknesses"):
        sub = texts[texts["field"] == fld]
        if sub.empty:
            continue
        coded = code_comments(sub["text"], themes)
        n = int(coded["commented"].sum())
        for t in themes.names:
            c = int(coded[t].sum())
            if c:
                lo, hi = wilson_ci(c, n)
                rows.append({"field": fld, "theme": t, "label": themes.labels[t], "count": c,
                             "est": c / n, "ci_low": float(lo), "ci_high": float(hi), "n": n})
    out = pd.DataFrame(rows, columns=["field", "theme", "label", "count", "est", "ci_low",
                                      "ci_high", "n"])
    return out.sort_values(["field", "count", "theme"], ascending=[True, False, True],
                           ignore_index=True)


_SCORES_COUNTED = ("nps", "crq_index")


def protect_remainder(totals: dict[str, int], parts: list[dict[str, int]],
                      min_cell_size: int) -> set[int]:
    """Which parts to withhold so that no small group is the total minus the parts shown.

    ``totals`` gives, per score, the answers behind a published total (the client overall);
    ``parts``, the answers behind each part shown (a pack's aggregate). When the answers in no
    part shown number 1 to ``min_cell_size - 1`` for some score, the total minus the parts
    gives their sum back: the smallest part still shown is withheld, until none does.

    Notes
    -----
    Complementary suppression (:func:`crqlab.data.privacy.complementary_suppression`) for one
    total split into shown parts and a hidden remainder. Tested in
    ``tests/studies/test_account_packs.py``.
    """
    hidden: set[int] = set()

    def small() -> bool:
        for s, total in totals.items():
            left = total - sum(p.get(s, 0) for i, p in enumerate(parts) if i not in hidden)
            if 0 < left < min_cell_size:
                return True
        return False

    while small() and len(hidden) < len(parts):
        shown = [i for i in range(len(parts)) if i not in hidden]
        hidden.add(min(shown, key=lambda i: (max(parts[i].values(), default=0), i)))
    return hidden


def _counts(frame: pd.DataFrame, scores) -> dict[str, int]:
    return {s: int(frame[s].notna().sum()) for s in scores}


def _protect_packs(packs, shown, cur_all, data, elements, labels, overall, mcs, ci):
    """Withhold packs (current wave) and changes (earlier waves) that would let the client's
    total minus the packs give a small group back (:func:`protect_remainder`)."""
    scores = [*elements, *_SCORES_COUNTED]
    drop = protect_remainder(_counts(cur_all, scores),
                             [_counts(cur, scores) for cur, *_ in shown], mcs)
    packs = [p for i, p in enumerate(packs) if i not in drop]
    shown = [x for i, x in enumerate(shown) if i not in drop]
    for w in sorted({x[3] for x in shown if x[3] is not None}):
        using = [i for i, x in enumerate(shown) if x[3] == w]
        blank = protect_remainder(_counts(data[data["wave"] == w], scores),
                                  [_counts(shown[i][2], scores) for i in using], mcs)
        for k in blank:
            i = using[k]
            cur, rest, _, _ = shown[i]
            packs[i].scores = _score_rows(cur, rest, None, overall, elements, labels, ci,
                                          no_change="not shown (it would single out a small "
                                                    "group of the earlier wave)")
            packs[i].previous_label = None
            shown[i] = (cur, rest, None, None)
    return packs, shown


def account_packs(study, *, wave: int = 0, min_cell_size: int = 0, ci: float = 0.95,
                  n_boot: int = 2000, seed: int | None = None,
                  themes: ThemeDictionary | None = None) -> PackSet:
    """Every account pack of one wave, and the action list.

    Parameters
    ----------
    study : Study
        Loaded with ``cache=False`` (the cache blanks the confidential names the scrubbing
        needs).
    wave : int
        0: the latest wave with at least ``min_cell_size`` respondents.
    min_cell_size : int
        0: the study's own; a larger value raises it, a smaller one is refused
        (:func:`crqlab.data.privacy.effective_min_cell_size`).
    ci, n_boot, seed : float, int, int
        Interval level, bootstrap resamples of the client's NPS (account clusters), seed
        (default the study's).
    themes : ThemeDictionary, optional
        Default: the study's (:func:`crqlab.measures.themes.study_themes`).

    Returns
    -------
    PackSet

    Notes
    -----
    Account intervals: t intervals of the respondents' mean; NPS Wald (R ``NPS``). Client
    intervals: account-cluster (:func:`crqlab.measures.scoring.cluster_mean`,
    :func:`crqlab.measures.nps.nps_bootstrap`). "Higher/lower than the rest of the client"
    compares the account's respondents shown with every other respondent of the wave (Welch;
    NPS Wald) and says so only when the interval excludes 0
    (:func:`crqlab.formatting.difference_words`); the other respondents' mean follows from
    the client overall and the account's numbers, so it discloses nothing new. Packs whose
    sum with the others would leave a small group as the client's total minus them are
    withheld, and so are changes that would do the same for an earlier wave
    (:func:`protect_remainder`).
    Tested in ``tests/studies/test_account_packs.py`` on hand-made studies: numbers against direct
    calls, the confidential rules, and the sample study.
    """
    mcs = effective_min_cell_size(study, min_cell_size)
    seed = study.seed if seed is None else seed
    themes = themes or study_themes(study)
    resp = study.respondents(pii=True)
    scored = score_items(resp, study.instrument, facets=False, levels=False)
    elements = list(study.instrument.elements)
    labels = {e: el.label for e, el in study.instrument.elements.items()} | {
        "crq_index": "CRQ index", "nps": "NPS"}
    data = pd.concat([resp.drop(columns=[c for c in scored.columns if c in resp.columns]),
                      scored], axis=1)
    identifiers = confidential_identifiers(study)
    chose = data["confidential"].astype("boolean")
    ever = set(data.loc[chose.fillna(False).astype(bool), "contact_id"].astype(str))
    # unknown counts as confidential, except in a wave where study.yaml says none was offered
    offered_none = data["wave"].map(lambda w: study.confidentiality_offered(int(w)) == "none")
    conf_now = chose.mask(chose.isna() & offered_none.astype(bool), False).fillna(True).astype(bool)
    data["is_confidential"] = conf_now | data["contact_id"].astype(str).isin(ever)
    data["account_id"] = data["account_id"].astype(str)
    per_wave = data["wave"].value_counts()
    waves = sorted(int(w) for w in per_wave.index if per_wave[w] >= mcs)
    if not waves:
        raise InsufficientDataError(f"no wave has at least {mcs} respondents: no packs")
    wave = int(wave) or waves[-1]
    if wave not in waves:
        raise InsufficientDataError(f"wave {wave} has fewer than {mcs} respondents (or none): "
                                    f"waves with enough: {waves}")
    earlier = [w for w in sorted(int(w) for w in per_wave.index) if w < wave]
    cur_all = data[data["wave"] == wave]
    overall = _overall(cur_all, [*elements, "crq_index"], ci, n_boot, seed)
    scrub_named = make_scrubber(sorted(identifiers))
    everyone = [str(v) for c in ("contact_name", "contact_email") if c in study.contacts
                for v in study.contacts[c].dropna().unique() if len(str(v).strip()) >= 3]
    packs, shown = [], []
    for acc, g in cur_all.groupby("account_id", sort=True):
        cur, conf_in = _shown(g, mcs)
        if len(cur) < mcs:
            continue
        prev = None
        for w in reversed(earlier):
            pg = data[(data["wave"] == w) & (data["account_id"] == acc)]
            p, _ = _shown(pg, mcs)
            if len(p) >= mcs:
                prev, prev_label, prev_wave = p, study.wave_label(w), w
                break
        # the client's other respondents: everyone but those shown here (this account's
        # confidential ones left out included), so the comparison is arithmetic of numbers
        # the pack shows anyway (client overall and n, the account's) and discloses nothing
        rest = cur_all.drop(index=cur.index)
        scores = _score_rows(cur, rest, prev, overall, elements, labels, ci)
        means = scores.set_index("score")["est"]
        category = relationship_category(pd.DataFrame([means[elements]]).reset_index(drop=True)
                                         ).iloc[0]
        category = None if pd.isna(category) else str(category)
        named = cur[~cur["is_confidential"]].sort_values(["contact_name", "contact_id"],
                                                         na_position="last")
        respondents = pd.DataFrame({
            "name": [_shown_name(v, scrub_named) for v in named["contact_name"]],
            "role": named["role"].astype("string").fillna("").to_numpy() if "role" in named
            else "",
            "nps": named["nps"].to_numpy(dtype=float, na_value=np.nan),
            "crq_index": named["crq_index"].to_numpy(dtype=float),
            "strengths": named["strengths"].map(scrub_named).to_numpy(),
            "weaknesses": named["weaknesses"].map(scrub_named).to_numpy()})
        texts = [pd.DataFrame({"field": fld, "text": named[fld].map(scrub_named)})
                 for fld in ("strengths", "weaknesses")]
        unattributed = []
        if conf_in:
            conf = cur[cur["is_confidential"]]
            for fld in ("strengths", "weaknesses"):
                v = safe_verbatims(conf, fld, min_cell_size=mcs, names=everyone,
                                   seed=seed + len(unattributed))
                unattributed.append(pd.DataFrame({"field": fld, "text": v[fld].to_numpy()}))
        comments = (pd.concat(unattributed, ignore_index=True) if unattributed
                    else pd.DataFrame(columns=["field", "text"]))
        all_texts = pd.concat([*texts, comments], ignore_index=True).dropna(subset=["text"])
        first = g.iloc[0]
        packs.append(AccountPack(
            account_id=str(acc), account_name=str(_text(first.get("account_name"), acc)),
            owner=_text(first.get("account_manager"), ""), wave=wave,
            wave_label=study.wave_label(wave),
            previous_label=prev_label if prev is not None else None, n=len(cur),
            confidential_included=conf_in, scores=scores, category=category,
            respondents=respondents, comments=comments,
            themes=_theme_counts(all_texts, themes), discussion=_discussion(scores, elements),
            flags=[], priority=""))
        shown.append((cur, rest, prev, prev_wave if prev is not None else None))
    packs, shown = _protect_packs(packs, shown, cur_all, data, elements, labels, overall, mcs,
                                  ci)
    for p, (cur, *_) in zip(packs, shown):
        p.flags = _flags(cur, p.scores, p.category)
        p.priority = _priority(p.flags, p.category)
    actions = action_list(study, data, packs, wave, mcs)
    return PackSet(study=study.name, client=str(study.client or ""), wave=wave,
                   wave_label=study.wave_label(wave), min_cell_size=mcs, ci=ci, packs=packs,
                   actions=actions, identifiers=identifiers)


#: Shown instead of a named respondent's name that reads as a confidential respondent's.
NAME_WITHHELD = "(name withheld)"


def _shown_name(name: Any, scrub) -> str:
    """A named respondent's name, unless it is missing or holds a form of a confidential
    respondent's name (the same first and last name, or the same rare surname): the leak
    scan cannot tell two people of one name apart, and neither could a reader."""
    if not isinstance(name, str) or not name.strip():
        return "(no name given)"
    return name if scrub(name) == name else NAME_WITHHELD


def _text(value: Any, default: Any) -> str:
    return str(default) if value is None or (not isinstance(value, str) and pd.isna(value)) \
        else str(value)


def action_list(study, data: pd.DataFrame, packs: list[AccountPack], wave: int,
                min_cell_size: int) -> pd.DataFrame:
    """One row per account invited in ``wave`` (:data:`ACTION_COLUMNS`), highest priority first.

    Accounts without a pack (fewer than ``min_cell_size`` respondents shown) are listed too -
    every account of the invitation frame, so that a row reveals nothing about who answered -
    with the category blank and only flags from named respondents.

    Notes
    -----
    ``due_date`` is left blank for the account manager; ``owner`` is the account manager of
    the accounts table. Tested in ``tests/studies/test_account_packs.py``.
    """
    by_id = {p.account_id: p for p in packs}
    frame = study.frame()
    frame = frame[frame["wave"] == wave]
    cur = data[data["wave"] == wave]
    rows = []
    for acc, g in frame.groupby(frame["account_id"].astype(str), sort=True):
        p = by_id.get(acc)
        first = g.iloc[0]
        if p is not None:
            idx = p.scores.set_index("score")["est"]
            row = {"category": p.category or "", "priority": p.priority,
                   "risk_flags": "; ".join(p.flags),
                   "discussion_points": "; ".join(d.split(":")[0] for d in p.discussion),
                   "n_respondents": p.n, "crq_index": round(float(idx["crq_index"]), 2),
                   "nps": round(float(idx["nps"]), 1)}
        else:
            shown, _ = _shown(cur[cur["account_id"] == acc], min_cell_size)
            named = shown[~shown["is_confidential"]]
            flags = ["too few respondents for a pack"]
            promoter = nps_category(named["nps"]).to_numpy() == "promoter"
            low = ((named["trust"] <= HIDDEN_RISK_MAX)
                   | (named["commitment"] <= HIDDEN_RISK_MAX)).to_numpy()
            if (promoter & low).any():
                flags.insert(0, f"hidden-risk promoters: {int((promoter & low).sum())}")
            row = {"category": "", "priority": "High" if len(flags) > 1 else "Low",
                   "risk_flags": "; ".join(flags), "discussion_points": "",
                   "n_respondents": len(named), "crq_index": np.nan, "nps": np.nan}
        rows.append({"account_id": acc,
                     "account_name": _text(first.get("account_name"), acc),
                     "owner": _text(first.get("account_manager"), ""), **row,
                     "wave": study.wave_label(wave), "due_date": ""})
    out = pd.DataFrame(rows, columns=list(ACTION_COLUMNS))
    rank = out["priority"].map({p: i for i, p in enumerate(PRIORITIES)})
    return out.assign(_r=rank).sort_values(["_r", "account_id"], kind="stable"
                                           ).drop(columns="_r").reset_index(drop=True)
