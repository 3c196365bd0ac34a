"""The calibration table: the sample study's per-wave figures beside the published ones.

``update_readme()`` rewrites the table and the generative-model section of
``data/raw/README.md`` (between their markers), so the README always shows what the committed
sample gives and the model as documented in :mod:`crqlab.synth`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crqlab.data.instruments import load_instrument
from crqlab.measures.scoring import score_items
from crqlab.paths import DATA_RAW
from crqlab.stats import mean_ci, proportion_ci
from crqlab.synth.generate import SyntheticStudy, generate

__all__ = ["PUBLISHED", "calibration_table", "calibration_markdown", "model_markdown",
           "update_readme"]

#: Deep-Insight's assessments of its own clients (docs/methods.md section 4): label -> quantity ->
#: (value or None, note). ``accounts_covered`` is the share of customers (accounts) that gave
#: feedback; ``response_rate`` the contact completion rate.
PUBLISHED: dict[str, dict[str, tuple]] = {
    "2020": {"response_rate": (0.66, "66%"), "crq_index": (5.7, "5.7"), "nps": (44.0, "+44")},
    "2021": {"response_rate": (0.55, "55%")},
    "2022": {"response_rate": (0.48, "48%"), "crq_index": (None, "highest yet"),
             "nps": (None, "highest yet, over +50")},
    "2023": {"accounts_covered": (0.85, "85% of customers"), "crq_index": (6.0, "6.0"),
             "nps": (55.0, "+55")},
}
_MARK_START = "<!-- calibration:start -->"
_MARK_END = "<!-- calibration:end -->"


def _nps_row(x: np.ndarray) -> dict:
    from crqlab.measures.nps import (
        nps,  # the workbook's own NPS with its R-validated standard error
    )

    r = nps(x).iloc[0]
    return {"est": r["est"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"]}


def calibration_table(study: SyntheticStudy | None = None) -> pd.DataFrame:
    """Observed per-wave response rate, accounts covered, CRQ index, NPS and mean 0-10 answer.

    Parameters
    ----------
    study : SyntheticStudy, optional
        Default: the committed sample, ``generate("sample", seed=2023)``.

    Returns
    -------
    DataFrame
        Long format: ``wave, label, quantity, est, ci_low, ci_high, n, truth, published,
        published_note``. Rates are proportions with Wilson intervals; ``crq_index`` and
        ``nps_mean`` t intervals; ``nps`` (-100..100) the Wald interval of :func:`crqlab.measures.nps.nps`.
        ``truth`` is the planted pre-non-response population value (honest answers of every
        invited contact) or the planted mean response probability.

    Notes
    -----
    Intervals treat respondents as independent (no account clustering): they describe the
    sampling noise of the generator's draws, not a survey estimate.
    """
    s = study if study is not None else generate("sample", seed=2023)
    crq = load_instrument("crq")
    scored = score_items(s.responses, crq, facets=False, levels=False)
    rows = []
    for w, label in enumerate(s.truth["params"]["wave_labels"], start=1):
        c = s.contacts[s.contacts["wave"] == w]
        mask = (s.responses["wave"] == w).to_numpy()
        truth = s.truth["waves"][str(w)]
        pub = PUBLISHED.get(str(label), {})
        covered = c.groupby("account_id")["responded"].any()
        resp = c["responded"].astype(bool)
        est = {
            "response_rate": proportion_ci(resp.sum(), len(resp)).iloc[0].to_dict(),
            "accounts_covered": proportion_ci(covered.sum(), len(covered)).iloc[0].to_dict(),
            "crq_index": mean_ci(scored.loc[mask, crq.index_name]).to_dict(),
            "nps": _nps_row(s.responses.loc[mask, "nps"].to_numpy(dtype=float, na_value=np.nan)),
            "nps_mean": mean_ci(s.responses.loc[mask, "nps"].astype(float)).to_dict(),
        }
        true = {"response_rate": truth["response"]["mean_probability"],
                "crq_index": truth["population"]["crq_index"],
                "nps": truth["population"]["nps"], "nps_mean": truth["population"]["nps_mean"]}
        for q, e in est.items():
            value, note = pub.get(q, (None, ""))
            rows.append({"wave": w, "label": str(label), "quantity": q, "est": e["est"],
                         "ci_low": e["ci_low"], "ci_high": e["ci_high"], "n": int(e["n"]),
                         "truth": true.get(q, np.nan),
                         "published": np.nan if value is None else value,
                         "published_note": note})
    return pd.DataFrame(rows)


def _fmt(q: str, x: float) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if q in ("response_rate", "accounts_covered"):
        return f"{100 * x:.1f}%"
    if q == "nps":
        return f"{x:+.1f}"
    return f"{x:.2f}"


def calibration_markdown(table: pd.DataFrame | None = None) -> str:
    """The calibration table as Markdown: one row per wave and quantity."""
    t = calibration_table() if table is None else table
    lines = ["| wave | quantity | sample (95% CI) | n | planted truth | published |",
             "|---|---|---|---|---|---|"]
    for r in t.itertuples():
        ci = f"{_fmt(r.quantity, r.est)} ({_fmt(r.quantity, r.ci_low)} to {_fmt(r.quantity, r.ci_high)})"
        lines.append(f"| {r.label} | {r.quantity} | {ci} | {r.n} | "
                     f"{_fmt(r.quantity, r.truth)} | {r.published_note} |")
    return "\n".join(lines) + "\n"


def model_markdown() -> str:
    """The generative-model section of the :mod:`crqlab.synth` docstring, as Markdown."""
    from crqlab.synth import __doc__ as doc

    return doc.split("Generative model\n----------------\n", 1)[1].strip() + "\n"


def _replace_between(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def update_readme(path: str | Path | None = None, table: pd.DataFrame | None = None) -> Path:
    """Rewrite the generative-model section and the calibration table of ``data/raw/README.md``
    (each between its HTML-comment markers; appended when the markers are missing)."""
    p = Path(path) if path is not None else DATA_RAW / "README.md"
    text = p.read_text(encoding="utf-8")
    text = _replace_between(text, "<!-- model:start -->", "<!-- model:end -->", model_markdown())
    text = _replace_between(text, _MARK_START, _MARK_END, calibration_markdown(table))
    p.write_text(text, encoding="utf-8")
    return p
