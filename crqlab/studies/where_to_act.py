"""Where to act: drivers of commitment and of the recommend answer, and the importance-performance
map of the CRQ elements (notebook ``50_where_to_act``).

Three estimators of what drives a target side by side, on the same driver model (the other
elements -> the target): CB-SEM (:mod:`crqlab.models.sem`, standardised effects), PLS-SEM
(:mod:`crqlab.models.pls`, standardised effects with account-cluster bootstrap intervals) and
Johnson's relative weights (:mod:`crqlab.models.association`, share of R2). In this driver model
each element's direct effect is its total effect on the target. Then the importance-performance
map (IPMA, Ringle & Sarstedt 2016) from the PLS model: importance = unstandardised total effect
on the target, performance = 0-100 score, both with bootstrap intervals, and the quadrant of each
element (split at the mean importance and mean performance), overall and by segment where the
segment has enough respondents.

Every function returns a :class:`Step` (records for ``results.json``, reasons a part could not
run, tables, plain-text findings); the notebook shows and records them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from crqlab.errors import ConvergenceError, CrqlabError, InsufficientDataError
from crqlab.formatting import claim_words, difference_words, format_ci, format_ci_text
from crqlab.measures.scoring import score_items
from crqlab.models import association, pls, sem

__all__ = ["NOT_ESTIMABLE", "TooFew", "why", "Record", "Step", "Setup", "scored_frame", "setup", "sample", "drivers", "importance_map",
           "segment_maps", "discriminant_validity", "summary"]

NOT_ESTIMABLE = (CrqlabError, np.linalg.LinAlgError, ValueError)


class TooFew(InsufficientDataError):
    """Too few complete responses or accounts for a model (its message is a plain sentence)."""


def why(exc: BaseException) -> str:
    """Why a model could not be estimated, in words a reviewer reads (no column names)."""
    if isinstance(exc, TooFew):
        return str(exc)
    if isinstance(exc, InsufficientDataError):
        return "the data are too few or a score does not vary"
    if isinstance(exc, ConvergenceError):
        return "the estimation did not settle on a solution"
    return "the data do not support the model"


class Record(NamedTuple):
    """One ``results.json`` entry (``results.record`` or ``record_table`` for a DataFrame)."""

    name: str
    value: Any
    options: dict


@dataclass
class Step:
    """What one section found."""

    records: list[Record] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    table: pd.DataFrame | None = None
    shown: pd.DataFrame | None = None

    def record(self, name: str, value: Any, **options: Any) -> None:
        self.records.append(Record(name, value, options))

    def skip(self, section: str, reason: str) -> Step:
        self.record(f"skipped.{section}", reason)
        self.skipped.append(reason)
        return self


@dataclass(frozen=True)
class Setup:
    """The instrument's elements and items, the targets, counts and settings."""

    client: str
    study: str
    items: dict            # element -> items (facet items for faceted elements)
    facets: dict           # element -> {facet: items}
    labels: dict           # element / facet -> label
    scale: tuple[int, int]
    segments: tuple[str, ...]
    n_respondents: int
    n_accounts: int
    min_cell: int
    ci: float

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def drivers_of(self, target: str) -> list[str]:
        return [e for e in self.items if e != target]


def scored_frame(study) -> pd.DataFrame:
    """One row per response: items, element scores, the 0-10 recommend answer (``nps``) and
    the account and segment columns. No names or e-mails."""
    respondents = study.respondents()
    scores = score_items(respondents, study.instrument, facets=False, levels=False)
    data = pd.concat([respondents.drop(columns=[c for c in scores.columns if c in respondents.columns]),
                      scores], axis=1)
    data["nps"] = pd.to_numeric(data["nps"], errors="coerce").astype(float)
    return data


def setup(study, data: pd.DataFrame, min_cell: int, ci: float = 0.95) -> Setup:
    """The :class:`Setup` of a loaded study."""
    inst = study.instrument
    items = {name: list(el.items) for name, el in inst.elements.items()}
    facets = {name: {f: list(i) for f, i in el.facets.items()} for name, el in inst.elements.items()
              if el.facets}
    labels = {name: el.label for name, el in inst.elements.items()}
    for el in inst.elements.values():
        labels.update(el.facet_labels)
    labels["nps"] = "recommend (0-10)"
    segs = tuple(s for s in study.segments if s in data.columns)
    return Setup(client=study.client, study=study.name, items=items, facets=facets, labels=labels,
                 scale=(inst.scale_min, inst.scale_max), segments=segs, n_respondents=len(data),
                 n_accounts=int(data["account_id"].nunique()) if len(data) else 0,
                 min_cell=min_cell, ci=ci)


def sample(s: Setup) -> Step:
    step = Step()
    step.record("sample.n_respondents", s.n_respondents, n_accounts=s.n_accounts,
                label="Responses analysed")
    step.record("sample.min_cell_size", s.min_cell)
    step.text.append(f"{s.client} ({s.study}): {s.n_respondents:,} responses from {s.n_accounts:,} "
                     f"accounts. Groups smaller than {s.min_cell} respondents are suppressed.")
    return step


def _pls_model(s: Setup, target: str, split_facets: bool = False) -> pls.PlsModel:
    blocks: dict = {}
    for e in s.drivers_of(target):
        if split_facets and e in s.facets:
            for f, its in s.facets[e].items():
                blocks[f] = its
        else:
            blocks[e] = s.items[e]
    blocks[target] = ["nps"] if target == "nps" else s.items[target]
    return pls.PlsModel(blocks, [(d, target) for d in blocks if d != target])


def _scale(s: Setup, model: pls.PlsModel) -> dict:
    return {i: ((0, 10) if i == "nps" else s.scale) for i in model.indicators}


def _check(s: Setup, data: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    ok = data.dropna(subset=cols, how="any")
    need = max(s.min_cell, 30)
    if len(ok) < need:
        raise TooFew(f"only {len(ok)} complete responses, at least {need} needed")
    k = int(ok["account_id"].nunique())
    if k < 2:
        raise TooFew(f"the account-cluster bootstrap needs at least 2 accounts; the {len(ok)} "
                     f"complete responses come from {k} account")
    return ok


def _cbsem(s: Setup, data: pd.DataFrame, target: str) -> pd.DataFrame:
    drivers = s.drivers_of(target)
    measured = [*drivers, target] if target != "nps" else drivers
    syntax = sem.measurement_syntax({e: s.items[e] for e in measured})
    fit = sem.fit_sem(f"{syntax}\n{target} ~ " + " + ".join(drivers), data, on_improper="raise",
                      ci=s.ci)
    reg = fit.parameters[(fit.parameters["op"] == "~") & (fit.parameters["lhs"] == target)]
    ratio = reg["std_all"] / reg["est"]
    # the standardised interval rescales the Wald interval of the raw path by the point
    # estimate's standardisation factor (implied SDs held fixed)
    return pd.DataFrame({"element": reg["rhs"].to_numpy(), "est": reg["std_all"].to_numpy(),
                         "ci_low": np.minimum(reg["ci_low"] * ratio, reg["ci_high"] * ratio).to_numpy(),
                         "ci_high": np.maximum(reg["ci_low"] * ratio, reg["ci_high"] * ratio).to_numpy(),
                         "n": fit.n})


def _ct(v) -> str:
    return format_ci(v["est"], v["ci_low"], v["ci_high"], digits=2)


def drivers(data: pd.DataFrame, s: Setup, target: str, n_boot: int, seed: int) -> Step:
    """CB-SEM, PLS-SEM and relative weights of the other elements for ``target`` side by side."""
    step, key = Step(), f"drivers_{target}"
    drv = s.drivers_of(target)
    cols = [i for e in drv for i in s.items[e]] + (["nps"] if target == "nps" else s.items[target])
    try:
        ok = _check(s, data, cols + drv + ([target] if target != "nps" else []))
        model = _pls_model(s, target)
        fit = pls.fit_pls(model, ok, missing="listwise")
        boot = pls.bootstrap_pls(fit, ok, cluster="account_id", n_boot=n_boot, seed=seed, ci=s.ci)
    except NOT_ESTIMABLE as exc:
        return step.skip(key, f"Drivers of {s.label(target)}: PLS-SEM could not be estimated ({why(exc)}).")
    n_acc = int(ok["account_id"].nunique())
    p = boot.total_effects.rename(columns={"from": "element"})
    p = p[p["to"] == target][["element", "est", "ci_low", "ci_high", "n"]].reset_index(drop=True)
    try:
        cb = _cbsem(s, ok, target)
    except NOT_ESTIMABLE as exc:
        cb = None
        step.skip(f"{key}.cbsem", f"CB-SEM for {s.label(target)} could not be estimated ({why(exc)}).")
    try:
        rw = association.driver_analysis(ok, y=target, x=drv, measures=("relative_weight",),
                                         n_boot=n_boot, seed=seed, ci=s.ci)
        rw = rw[rw["predictor"] != "r_squared"].rename(columns={"predictor": "element"})
    except NOT_ESTIMABLE as exc:
        rw = None
        step.skip(f"{key}.relative_weights", f"Relative weights for {s.label(target)} could not be "
                  f"estimated ({why(exc)}).")
    step.record(f"{key}.pls_total_effect", p.assign(n_accounts=n_acc), index=False)
    step.record(f"{key}.pls_r2", boot.r2.iloc[0][["est", "ci_low", "ci_high", "n"]], n_accounts=n_acc)
    try:  # out-of-sample: 10 folds of whole accounts
        folds = pd.factorize(ok["account_id"], sort=True)[0] % 10
        q2 = pls.q2_predict(fit, ok, folds=folds, ci=s.ci).iloc[0]
        step.record(f"{key}.pls_q2_predict", q2[["est", "se", "ci_low", "ci_high", "n"]], n_accounts=n_acc)
        q2_text = (f" Predicting {s.label(target)} for accounts left out of the estimation "
                   f"(10 folds of whole accounts), Q²predict is "
                   + format_ci_text(q2["est"], q2["ci_low"], q2["ci_high"], ci=s.ci, digits=2)
                   + ": the model predicts "
                   + difference_words(q2["ci_low"], q2["ci_high"], higher="better than",
                                      lower="worse than", none="not clearly better than")
                   + " the mean.")
    except NOT_ESTIMABLE:
        q2_text = ""
    shown = pd.DataFrame({"element": [s.label(e) for e in p["element"]],
                          "PLS-SEM total effect": [_ct(r) for _, r in p.iterrows()]})
    ranks = {"PLS-SEM": list(p.sort_values("est", ascending=False)["element"])}
    if cb is not None:
        step.record(f"{key}.cbsem_total_effect", cb.assign(n_accounts=n_acc), index=False)
        cbi = cb.set_index("element").loc[p["element"]]
        shown["CB-SEM total effect"] = [_ct(r) for _, r in cbi.iterrows()]
        ranks["CB-SEM"] = list(cb.sort_values("est", ascending=False)["element"])
    if rw is not None:
        rwt = rw.set_index("element").loc[p["element"]]
        tab = pd.DataFrame({"element": p["element"].to_numpy(), "est": rwt["share"].to_numpy(),
                            "ci_low": rwt["share_ci_low"].to_numpy(),
                            "ci_high": rwt["share_ci_high"].to_numpy(), "n": rwt["n"].to_numpy(),
                            "n_accounts": n_acc})
        step.record(f"{key}.relative_weight_share", tab, index=False)
        shown["relative weight, % of R²"] = [format_ci(r["est"], r["ci_low"], r["ci_high"], digits=1, scale=100)
                                             for _, r in tab.iterrows()]
        ranks["relative weights"] = list(tab.sort_values("est", ascending=False)["element"])
    step.shown, step.table = shown, p
    tops = {m: r[0] for m, r in ranks.items()}
    agree = len(set(tops.values())) == 1
    step.record(f"{key}.methods_agree_on_top", agree)
    best = p.sort_values("est", ascending=False).iloc[0]
    second = p.sort_values("est", ascending=False).iloc[1] if len(p) > 1 else None
    methods = ", ".join(f"{m}: {s.label(t)}" for m, t in tops.items())
    gap = ""
    if second is not None:
        te = boot.total_effects.reset_index(drop=True)
        ia = int(te.index[(te["from"] == best["element"]) & (te["to"] == target)][0])
        ib = int(te.index[(te["from"] == second["element"]) & (te["to"] == target)][0])
        lo, hi = boot.difference("total_effects", ia, ib)
        words = difference_words(lo, hi, higher="clearly stronger", lower="clearly weaker")
        gap = (f" Against the runner-up, {s.label(second['element'])}, its PLS-SEM effect is: {words} "
               f"(difference {format_ci(best['est'] - second['est'], lo, hi, digits=2)}).")
        step.record(f"{key}.pls_top_minus_second", {"est": best["est"] - second["est"], "ci_low": lo,
                                                     "ci_high": hi, "n": int(best["n"])}, n_accounts=n_acc)
    step.text.append(
        f"Strongest driver of {s.label(target)} by method - {methods}; "
        + ("the three methods agree on it." if agree else "the methods do not agree on it.")
        + f" PLS-SEM: {s.label(best['element'])} has a total effect of "
        + format_ci_text(best["est"], best["ci_low"], best["ci_high"], ci=s.ci, digits=2)
        + f" standard deviations of {s.label(target)} per standard deviation, "
        + claim_words(best["ci_low"], best["ci_high"]).replace("the claim holds",
                                                              "a clearly positive effect")
        + "." + gap + q2_text)
    verdict = (f"all methods name {s.label(best['element'])}" if agree else
               "the methods do not agree (" + methods + ")")
    step.findings.append({
        "text": f"Strongest driver of {s.label(target)}: {verdict}; its total effect by PLS-SEM is "
                "{est} {ci} standard deviations per standard deviation ({n}).",
        "est": float(best["est"]), "ci": (float(best["ci_low"]), float(best["ci_high"])),
        "n": int(best["n"]), "n_accounts": n_acc, "quantity": f"{key}.pls_total_effect"})
    return step


def discriminant_validity(data: pd.DataFrame, s: Setup, n_boot: int, seed: int,
                          threshold: float = 0.90) -> Step:
    """HTMT of every pair of elements with account-cluster bootstrap intervals: are the elements
    distinct enough to be read as separate drivers (Henseler, Ringle & Sarstedt 2015)?"""
    step = Step()
    try:
        model = _pls_model(s, "commitment")
        ok = _check(s, data, model.indicators)
        fit = pls.fit_pls(model, ok, missing="listwise")
        boot = pls.bootstrap_pls(fit, ok, cluster="account_id", n_boot=n_boot, seed=seed, ci=s.ci)
    except NOT_ESTIMABLE as exc:
        return step.skip("htmt", f"Distinctness of the elements: could not be estimated ({why(exc)}).")
    h = boot.htmt[["construct_a", "construct_b", "est", "ci_low", "ci_high", "n"]].copy()
    h["n_accounts"] = int(ok["account_id"].nunique())
    step.table = h
    step.record("htmt", h, index=False)
    verdict = [claim_words(r["ci_low"] - threshold, r["ci_high"] - threshold, direction=-1)
               for _, r in h.iterrows()]
    step.shown = pd.DataFrame({
        "pair": [f"{s.label(a)} - {s.label(b)}" for a, b in zip(h["construct_a"], h["construct_b"])],
        "HTMT": [_ct(r) for _, r in h.iterrows()],
        f"below {threshold:.2f}?": [{"the claim holds": "yes", "the data contradict the claim": "no"}
                                    .get(v, "cannot tell") for v in verdict]})
    unclear = [f"{s.label(a)} and {s.label(b)}" for (a, b), v in
               zip(zip(h["construct_a"], h["construct_b"]), verdict) if v != "the claim holds"]
    step.record("htmt.pairs_not_clearly_distinct", len(unclear), n=int(h["n"].iloc[0]))
    if unclear:
        step.text.append(f"{len(unclear)} of {len(h)} pairs of elements are not clearly distinct "
                         f"(their HTMT interval reaches {threshold:.2f}): {'; '.join(unclear)}. "
                         "Effects of such elements are hard to tell apart, so their ranking as drivers "
                         "is less certain.")
    else:
        step.text.append(f"Every pair of elements is clearly distinct: each HTMT interval lies below "
                         f"{threshold:.2f}.")
    return step


def importance_map(data: pd.DataFrame, s: Setup, target: str, n_boot: int, seed: int,
                   facets: bool = False, name: str | None = None) -> Step:
    """IPMA on ``target``: importance and performance with intervals, and the quadrant."""
    step = Step()
    key = name or f"ipma_{target}" + ("_facets" if facets else "")
    try:
        model = _pls_model(s, target, split_facets=facets)
        if facets and len(model.blocks) == len(_pls_model(s, target).blocks):
            return step.skip(key, "The instrument has no facets: the facet map is the element map.")
        ok = _check(s, data, model.indicators)
        fit = pls.fit_pls(model, ok, missing="listwise")
        boot = pls.bootstrap_pls(fit, ok, cluster="account_id", n_boot=n_boot, seed=seed, ci=s.ci,
                                 ipma_target=target, ipma_scale=_scale(s, model))
    except NOT_ESTIMABLE as exc:
        what = "of the facets " if facets else ""
        return step.skip(key, f"Importance-performance map {what}for {s.label(target)}: could not be "
                         f"estimated ({why(exc)}).")
    t = boot.ipma.copy()
    mi, mp = t["importance"].mean(), t["performance"].mean()
    t["quadrant"] = [pls.ipma_quadrant(r["importance"], r["performance"], mi, mp) for _, r in t.iterrows()]
    t["n_accounts"] = int(ok["account_id"].nunique())
    step.table = t
    step.record(key, t.drop(columns=[c for c in t.columns if c.endswith("_se") or c in ("se", "z", "p_value")]),
                index=False)
    step.shown = pd.DataFrame({
        "element": [s.label(c) for c in t["construct"]],
        "importance (points per point)": [format_ci(r["importance"], r["importance_ci_low"],
                                                    r["importance_ci_high"], digits=2) for _, r in t.iterrows()],
        "performance (0-100)": [format_ci(r["performance"], r["performance_ci_low"],
                                          r["performance_ci_high"], digits=1) for _, r in t.iterrows()],
        "quadrant": t["quadrant"].to_numpy()})
    conc = t[t["quadrant"] == "concentrate here"]
    # "concentrate here" is a firm call only when importance is clearly above the mean
    # importance and performance clearly below the mean performance
    firm = [r["construct"] for _, r in conc.iterrows()
            if difference_words(r["importance_ci_low"] - mi, r["importance_ci_high"] - mi,
                                higher="above", lower="below") == "above"
            and difference_words(r["performance_ci_low"] - mp, r["performance_ci_high"] - mp,
                                 higher="above", lower="below") == "below"]
    what = "facets" if facets else "elements"
    if len(conc):
        lead = conc.sort_values("importance", ascending=False).iloc[0]
        txt = (f"For {s.label(target)}, the {what} in 'concentrate here' (above-average importance, "
               f"below-average performance) are {', '.join(s.label(c) for c in conc['construct'])}; "
               + (f"for {', '.join(s.label(c) for c in firm)} both intervals are clear of the means."
                  if firm else "no interval is wholly clear of the means, so this placement is tentative."))
        lead_words = f" The most important of them, {s.label(lead['construct'])}, "
    else:
        lead = t.sort_values("importance", ascending=False).iloc[0]
        txt = f"For {s.label(target)}, no {what[:-1]} falls in 'concentrate here'."
        lead_words = f" The most important, {s.label(lead['construct'])} ({lead['quadrant']}), "
    step.findings.append({"text": txt + lead_words + "raises the target by {est} {ci} points (0-100) "
                          "per point of its own performance ({n}).",
                          "est": float(lead["importance"]),
                          "ci": (float(lead["importance_ci_low"]), float(lead["importance_ci_high"])),
                          "n": int(lead["n"]), "n_accounts": int(t["n_accounts"].iloc[0]),
                          "quantity": key})
    step.text.append(txt)
    step.record(f"{key}.concentrate_here", ", ".join(conc["construct"]) or "none")
    return step


def segment_maps(data: pd.DataFrame, s: Setup, target: str, n_boot: int, seed: int,
                 min_segment_n: int) -> Step:
    """The quadrant of each element per segment, where a segment has enough respondents."""
    step = Step()
    rows, skipped = [], []
    floor = max(min_segment_n, s.min_cell)
    for col in s.segments:
        for level, part in data.groupby(col, sort=True, observed=True):
            if len(part) < floor or part["account_id"].nunique() < 2:
                skipped.append(f"{col} = {level}")
                continue
            st = importance_map(part, s, target, n_boot, seed, name="segment")
            if st.table is None:
                skipped.append(f"{col} = {level}")
                continue
            for _, r in st.table.iterrows():
                rows.append({"segment": col, "level": str(level), "element": r["construct"],
                             "importance": r["importance"], "importance_ci_low": r["importance_ci_low"],
                             "importance_ci_high": r["importance_ci_high"],
                             "performance": r["performance"], "performance_ci_low": r["performance_ci_low"],
                             "performance_ci_high": r["performance_ci_high"],
                             "quadrant": r["quadrant"], "n": int(r["n"]), "n_accounts": int(r["n_accounts"])})
    if skipped:
        step.skipped.append(f"Segments with fewer than {floor} respondents (or one account) are not "
                            f"mapped: {len(skipped)} segment level(s).")
    if not rows:
        return step.skip(f"ipma_{target}_segments", f"No segment has {floor} respondents or more in "
                         "at least two accounts: no map by segment.")
    t = pd.DataFrame(rows)
    step.table = t
    for col, part in t.groupby("segment", sort=False):  # one table per segment variable
        safe = re.sub(r"[^a-z0-9_]+", "_", str(col).lower()).strip("_") or "segment"
        step.record(f"ipma_{target}_segments.{safe}", part.reset_index(drop=True), index=False)
    step.shown = t.pivot_table(index=["segment", "level"], columns="element", values="quadrant",
                               aggfunc="first").reset_index().rename(columns=s.label)
    return step


def summary(*steps: Step) -> list[str]:
    return [t for st in steps for t in st.text[:1]]
