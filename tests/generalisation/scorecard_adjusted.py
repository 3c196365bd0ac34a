"""The scorecard's adjusted headline on three generator structures (issue 16, item 2).

Notebook 01 shows the NPS and CRQ index as reported and beside them, through
:func:`crqlab.studies.scorecard.adjusted_headlines`, (a) weighted to the invitation frame for
non-response and (b) also adjusted for named-answer inflation - the headline a reviewer should
read as "the whole frame answering honestly". Here (b), with (a) and the reported value beside
it, runs on 20 seeds of each structure (:data:`crqlab.synth.STRUCTURES`) for both designs the
scorecard meets:

* ``sample`` (wave 4 offers confidentiality as an option): the cross-sectional sensitivity
  range, from what the confidential respondents say to what all say;
* ``company-a`` (wave 1 offers confidentiality, wave 2 does not): the panel difference in
  differences taken off the weighted value.

Truth: the scored wave's ``population`` value of ``truth.json`` - every invited contact
answering honestly (as if confidential), which is what the adjusted headline claims to
estimate. The reported and the non-response-only values are scored against the same truth
to show what the adjustments remove. Rows: ``design, structure, seed, quantity, method,
default, est, ci_low, ci_high, truth``.

``python tests/generalisation/scorecard_adjusted.py`` (PYTHONPATH=.:tests) reruns the seeds
and writes the section of ``docs/generalisation.md`` between its markers (kept by
``make_table.py``).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from crqlab import synth
from crqlab.data.instruments import load_instrument
from crqlab.measures.scoring import score_items
from crqlab.models import weighting
from crqlab.studies.scorecard import adjusted_headlines

CRQ = load_instrument("crq")
STRUCTURE_NAMES = tuple(synth.STRUCTURES)
DESIGNS = ("sample", "company-a")
QUANTITIES = {"nps": "NPS", "crq_index": "CRQ index"}
DEFAULT = "adjusted (non-response and inflation)"
START, END = "<!-- scorecard-adjusted:start -->", "<!-- scorecard-adjusted:end -->"


def _respondents(study) -> pd.DataFrame:
    keep = ["wave", "contact_id", "account_id", "role", "newly_included"]
    r = study.responses.merge(study.contacts[keep], on=["wave", "contact_id"], how="left",
                              validate="one_to_one")
    return pd.concat([r, score_items(r, CRQ, facets=False, levels=False)], axis=1)


def adjusted_rows(design: str, structure: str, seed: int) -> list[dict]:
    """The scored (latest) wave's headlines of one synthetic study, as notebook 01 runs them."""
    study = synth.generate(design, seed=seed, **synth.STRUCTURES[structure])
    frame = study.contacts.merge(study.accounts, on=["wave", "account_id"], how="left")
    resp = _respondents(study)
    wave = max(int(w) for w in study.truth["waves"])
    truth = study.truth["waves"][str(wave)]["population"]
    adj = adjusted_headlines(frame, resp, wave, elements=list(CRQ.elements))
    current = resp[resp["wave"] == wave]
    rows = []
    for r in adj.table.itertuples():
        method = DEFAULT if r.adjustment == "inflation" else "adjusted (non-response only)"
        rows.append({"method": method, "default": r.adjustment == "inflation",
                     "design_method": r.method, "score": r.score, "est": r.est,
                     "ci_low": r.ci_low, "ci_high": r.ci_high})
    for s in QUANTITIES:
        pts = weighting.score_points(current[s].to_numpy(), s)
        m = weighting.weighted_mean(pts, np.ones(len(pts)), current["account_id"].to_numpy())
        rows.append({"method": "reported", "default": False, "design_method": "respondents",
                     "score": s, "est": m["est"], "ci_low": m["ci_low"],
                     "ci_high": m["ci_high"]})
    return [r | {"design": design, "structure": structure, "seed": int(seed),
                 "quantity": QUANTITIES[r.pop("score")], "truth": float(truth[s_key])}
            for r, s_key in ((r, r["score"]) for r in rows)]


def run(designs=DESIGNS, structures=STRUCTURE_NAMES, seeds=range(20)) -> pd.DataFrame:
    """All rows for the designs x structures x seeds."""
    rows = [r for d in designs for s in structures for seed in seeds
            for r in adjusted_rows(d, s, seed)]
    out = pd.DataFrame(rows)
    out["covered"] = (out["ci_low"] <= out["truth"]) & (out["truth"] <= out["ci_high"])
    return out


def coverage_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per design, quantity, method and structure: seeds, means, error and coverage."""
    g = runs.assign(error=runs["est"] - runs["truth"], width=runs["ci_high"] - runs["ci_low"])
    keys = ["design", "quantity", "method", "default", "structure"]
    out = g.groupby(keys, sort=False).agg(
        n=("seed", "size"), est=("est", "mean"), truth=("truth", "mean"),
        error=("error", "mean"), error_sd=("error", "std"), width=("width", "mean"),
        covered=("covered", "sum")).reset_index()
    out["coverage"] = out["covered"] / out["n"]
    return out


def _num(x: float) -> str:
    return f"{x:+.3f}" if abs(x) < 10 else f"{x:+.1f}"


def section(table: pd.DataFrame, n_seeds: int) -> str:
    """The Markdown section of ``docs/generalisation.md`` (between the markers)."""
    lines = [START, "", "## Scorecard: the adjusted headline (notebook 01)", "",
             "Notebook 01 shows the NPS and CRQ index as reported and beside them the value "
             "weighted to the invitation frame for non-response and the value also adjusted "
             "for named-answer inflation (`crqlab.studies.scorecard.adjusted_headlines`): "
             "under preset `sample` (wave 4 offers confidentiality as an option) a sensitivity "
             "range from what the confidential respondents say to what all say, both weighted "
             "(its interval runs from the lower end's lower bound to the upper end's upper "
             "bound); under preset `company-a` (wave 1 offers confidentiality, wave 2 does "
             "not) the doubly robust panel difference in differences taken off the weighted "
             "value. Truth: the scored wave's whole frame answering honestly (`population`), "
             "which is what the adjusted headline claims to estimate; the reported and the "
             "non-response-only values are scored against the same truth to show what each "
             f"adjustment removes. {n_seeds} seeds per structure; **bold** below 90%.", "",
             "Frame weights alone cannot reach the honest value (the named-answer inflation "
             "and the part of non-response that follows the relationship itself stay), so the "
             "reported and non-response-only values miss it in most seeds. The adjusted "
             "headline covers it in every combination (18/20 or more), at a price in width: "
             "the cross-sectional range spans what the confidential and all respondents say "
             "(its interval is 28 to 54 NPS points and 0.4 to 0.5 CRQ points wide), and the panel "
             "difference in differences on NPS points is imprecise (about 40 points wide). "
             "Where it reaches 18/20 only (`company-a` under `commitment` and `trust`), the "
             "panel's inflation is that of the contacts who answered confidentially first, "
             "taken to hold for every named answer.", "",
             "| design | quantity | method | structure | mean estimate | mean truth | "
             "mean error (SD) | mean CI width | coverage |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        cov = f"{int(r.covered)}/{int(r.n)}"
        cov = f"**{cov}** (below 90%)" if r.coverage < 0.9 else cov
        method = f"**{r.method}** (headline)" if r.default else r.method
        lines.append(f"| {r.design} | {r.quantity} | {method} | {r.structure} | {_num(r.est)} "
                     f"| {_num(r.truth)} | {_num(r.error)} ({r.error_sd:.3f}) | "
                     f"{r.width:.3f} | {cov} |")
    lines += ["", END, ""]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace the marked section of ``path`` (append it when absent)."""
    old = path.read_text(encoding="utf-8")
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")


def kept_section(text: str) -> str:
    """The marked section of a page's text (``""`` when absent): what make_table.py keeps."""
    if START not in text or END not in text:
        return ""
    return START + text.split(START, 1)[1].split(END, 1)[0] + END + "\n"


if __name__ == "__main__":
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if len(sys.argv) > 2:  # rebuild the section from rows written before
        runs = pd.read_csv(sys.argv[2])
    else:
        runs = run(seeds=range(seeds))
        runs.to_csv(Path(tempfile.gettempdir()) / "scorecard_adjusted_runs.csv", index=False)
    tab = coverage_table(runs)
    doc = Path(__file__).resolve().parents[2] / "docs" / "generalisation.md"
    write_section(doc, section(tab, seeds))
    print(tab.to_string())
