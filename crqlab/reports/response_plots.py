"""The figures of the response-rate study (notebook ``30_response_rates``).

Each function draws one figure from the results of :mod:`crqlab.studies.response_rates` in
the house style (:mod:`crqlab.reports.plotting`: axes with units, n under the axis) and returns
the matplotlib Figure; the notebook shows it. Groups below the minimum cell size are never drawn.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crqlab.formatting import ci_label
from crqlab.reports.plotting import label_axes, legend
from crqlab.reports.present import label
from crqlab.studies import response_rates as rr

__all__ = [
    "account_histogram",
    "decomposition",
    "lateness",
    "precision",
    "published_series",
    "rate_score",
    "rates_by_wave",
    "sensitivity_range",
    "weights",
]


#: Size of the two-panel figures relative to their design size: the report of notebook 30
#: carries eleven figures and must stay light enough to e-mail (tests/hardening, < 400 KB).
SCALE = 0.88


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _panels(k: int, width: float, height: float):
    """A row of ``k`` panels, each ``width`` wide."""
    return _plt().subplots(1, k, figsize=(SCALE * width * k, SCALE * height), squeeze=False)


def rates_by_wave(d: rr.Design, by_wave: pd.DataFrame):
    """Response and completion rate of every wave, in percent, with Wilson intervals."""
    fig, ax = _plt().subplots()
    series = (("response_rate", "o"), ("completion_rate", "s"))
    for (measure, marker), shift in zip(series, (-0.06, 0.06)):
        t = by_wave[(by_wave["measure"] == measure) & ~by_wave["suppressed"]]
        x = np.array([d.waves.index(int(w)) for w in t["wave"]]) + shift
        ax.errorbar(x, 100 * t["est"], yerr=[100 * (t["est"] - t["ci_low"]),
                                             100 * (t["ci_high"] - t["est"])],
                    marker=marker, capsize=3, label=measure.replace("_", " "))
    ax.set_xticks(range(len(d.waves)), [d.labels[w] for w in d.waves])
    ax.set_ylim(0, 100)
    ax.legend(loc="lower left")
    label_axes(ax, x="wave", y="response_rate", y_unit="% of invited contacts",
               title="Response and completion by wave", n=len(d.frame), n_what="invitations",
               note=f"bars: {ci_label(d.ci)} (Wilson)")
    return fig


def account_histogram(d: rr.Design, spread: rr.AccountSpread, overall: float):
    """Account response rates (accounts shown only), with the overall rate dashed."""
    fig, ax = _plt().subplots()
    ax.hist(100 * spread.shown["est"], bins=np.linspace(0, 100, 11), edgecolor="white")
    ax.axvline(100 * overall, color="0.3", ls="--", lw=1)
    label_axes(ax, x="account response rate", x_unit="%", y="accounts",
               title=f"Response rate across accounts, {d.label}", n=len(spread.shown),
               n_what=f"accounts with {d.min_cell}+ invited contacts", note="dashed: overall rate")
    return fig


def rate_score(d: rr.Design, fits: rr.Fits):
    """Account mean score against account response rate, with the weighted fit line.

    Accounts with fewer than ``min_cell`` respondents are not drawn, but are in the fit.
    """
    fig, axes = _panels(len(fits.tables), 5.2, 4.2)
    for ax, (s, t) in zip(axes[0], fits.tables.items()):
        a = rr.account_points(d, s)
        big = a[a["n"] >= d.min_cell]
        ax.scatter(100 * big["response_rate"], big["est"], s=8 + 3 * big["n"], alpha=0.45)
        slope = t.set_index("term").loc["slope", "est"]
        xbar = np.average(a["response_rate"], weights=a["n"])
        ybar = np.average(a["est"], weights=a["n"])
        xs = np.linspace(a["response_rate"].min(), a["response_rate"].max(), 20)
        ax.plot(100 * xs, ybar + slope * (xs - xbar), color="C1", lw=2, label="weighted fit")
        ax.legend(loc="lower right")
        info = d.score(s)
        label_axes(ax, x="account response rate", x_unit="%", y=s, y_unit=info.unit,
                   n=int(a["n"].sum()), n_accounts=len(a),
                   title=f"{info.name} against response, by account",
                   note=f"points: accounts with {d.min_cell}+ respondents, sized by n")
    fig.tight_layout()
    return fig


def _lateness_panel(ax, d: rr.Design, ao: rr.Lateness, s: str) -> None:
    g = rr.lateness_groups(d, ao.by, s)
    vis = g[~g["suppressed"]]
    ax.errorbar(vis["x"], vis["est"], fmt="o", capsize=3, label="respondents",
                yerr=[vis["est"] - vis["ci_low"], vis["ci_high"] - vis["est"]])
    t = ao.trend[s].set_index("quantity")
    sl, rm = t.loc["slope", "est"], t.loc["respondent_mean"]
    ex = t.loc["nonrespondent_extrapolated"]
    xs = np.array([g["x"].min(), ex["x"]])
    ax.plot(xs, rm["est"] + sl * (xs - rm["x"]), color="C1", ls="--", label="linear trend")
    ax.errorbar([ex["x"]], [ex["est"]], fmt="o", mfc="white", color="C3", capsize=3,
                yerr=[[ex["est"] - ex["ci_low"]], [ex["ci_high"] - ex["est"]]],
                label="non-respondents (assumed to continue the trend)")
    hidden = int(g["suppressed"].sum())
    if ao.by == "reminders":
        ax.set_xticks(np.arange(0, int(np.ceil(ex["x"])) + 1))
    info = d.score(s)
    label_axes(ax, x="reminders before answering" if ao.by == "reminders" else "days to respond",
               x_unit="", y=s, y_unit=info.unit, n=int(t.loc["slope", "n"]),
               n_accounts=int(t.loc["slope", "n_accounts"]),
               title=f"{info.name} by lateness, {d.label}",
               note=(f"{hidden} group(s) below {d.min_cell} not drawn; " if hidden else "")
               + f"bars: {ci_label(d.ci)}, clustered by account")


def lateness(d: rr.Design, ao: rr.Lateness):
    """Mean score by lateness, the linear trend and the extrapolated non-respondents."""
    fig, axes = _panels(len(ao.trend), 5.2, 4.2)
    for ax, s in zip(axes[0], ao.trend):
        _lateness_panel(ax, d, ao, s)
    fig.tight_layout()
    # the same series in every panel: one legend beside the last, added after the layout so
    # that it widens the saved figure instead of squeezing the panels
    legend(axes[0][-1], where="right")
    return fig


def weights(model: rr.ResponseModel, diag: rr.Diagnostics):
    """The weights' distribution, and balance before and after weighting."""
    ws, bal = diag.summary, diag.balance
    fig, (ax1, ax2) = _plt().subplots(1, 2, figsize=(SCALE * 11,
                                                     max(3.2, 0.3 * len(bal) + 1.4)),
                                      gridspec_kw={"width_ratios": [1, 1.2]})
    ax1.hist(model.weights, bins=30, edgecolor="white")
    label_axes(ax1, x="propensity weight", y="respondents", n=int(ws["n"]),
               title="Weight distribution",
               note=f"design effect {ws['deff_kish']:.2f}, effective n {ws['n_eff']:.0f}")
    y = np.arange(len(bal))[::-1]
    ax2.scatter(bal["asmd_before"], y, marker="o", facecolors="white", edgecolors="C3",
                label="before")
    ax2.scatter(bal["asmd_after"], y, marker="o", color="C0", label="after weighting")
    ax2.axvline(0.1, color="0.5", ls="--", lw=1)
    ax2.set_yticks(y, [rr.variable_label(v, label) for v in bal["variable"]])
    label_axes(ax2, x="absolute standardised difference", y=None,
               title="Balance: respondents against the frame")
    fig.tight_layout()
    legend(ax2, where="right")  # after the layout: beside the panel, never over the points
    from crqlab.reports.plotting import caption

    caption(fig, "The dashed line marks 0.1, below which a variable is usually read as "
                 "balanced.")
    return fig


def sensitivity_range(d: rr.Design, sens: rr.Sensitivity):
    """Each score of the whole frame against the assumed difference of non-respondents
    (delta), over the range the data allow, with the threshold of every conclusion."""
    import re

    from crqlab.reports.plotting import caption

    fig, axes = _panels(len(sens.results), 5.4, 4.2)
    for ax, (s, res) in zip(axes[0], sens.results.items()):
        g, info = res.grid, d.score(s)
        ax.plot(g["delta"], g["est"], color="C0", lw=2, label="whole frame")
        ax.fill_between(g["delta"], g["ci_low"], g["ci_high"], color="C0", alpha=0.15)
        for k, (_, r) in enumerate(res.tipping[res.tipping["threshold"].notna()].iterrows()):
            what = re.sub(r"^the headline is (above|below|not clearly different from) ", "",
                          r["conclusion"])
            ax.axhline(r["threshold"], color=f"C{k + 1}", ls="--", lw=1.2, label=what)
            ax.annotate(what, xy=(0.02, r["threshold"]), xycoords=("axes fraction", "data"),
                        xytext=(0, 3), textcoords="offset points", fontsize="x-small",
                        color=f"C{k + 1}")
        ax.axvline(0.0, color="0.3", ls=":", lw=1)
        label_axes(ax, x="delta", x_unit=info.unit, y=s, y_unit=info.unit,
                   n=int(res.bounds["n"]), title=f"{info.name} if non-respondents differ")
    caption(fig, f"The solid line is the whole frame's value, shaded its {ci_label(d.ci)} "
                 "(the base interval, shifted with delta). The dotted line marks delta 0 "
                 "(non-respondents like comparable respondents); dashed lines are the thresholds "
                 "of the conclusions, named at their left end. The x axis spans every delta the "
                 "observed answers allow.")
    fig.tight_layout()
    return fig


def precision(d: rr.Design, prec: rr.Precision):
    """Margin of error of each score against response rate, observed response dotted."""
    table = prec.table
    fig, axes = _panels(table["score"].nunique(), 5.2, 3.8)
    for ax, (s, t) in zip(axes[0], table.groupby("score", sort=False)):
        ax.plot(100 * t["response_rate"], t["moe"], marker="o")
        ax.axvline(100 * d.response_rate, color="0.3", ls=":", lw=1)
        ax.set_ylim(bottom=0)
        label_axes(ax, x="response_rate", x_unit="% of invited contacts", y="margin of error",
                   y_unit=d.score(s).unit, title=f"{d.score(s).name}: precision",
                   note=f"frame of {d.n_invited:,}; dotted: observed response")
    fig.tight_layout()
    return fig


def decomposition(d: rr.Design, overall: pd.DataFrame):
    """Total change, scores changed and who answered changed, per pair of waves and score."""
    fig, axes = _panels(len(d.score_columns), 5.4, 4.0)
    comps = [("total", "total change"), ("within", "scores changed"),
             ("composition", "who answered changed")]
    for ax, s in zip(axes[0], d.score_columns):
        sub = overall[overall["score"] == s]
        pairs = list(dict.fromkeys(zip(sub["from"], sub["to"])))
        x = np.arange(len(pairs))
        for i, (comp, lab) in enumerate(comps):
            c = sub[sub["component"] == comp]
            # clipped: a zero-width interval can miss its estimate by rounding
            ax.bar(x + (i - 1) * 0.27, c["est"], width=0.27, label=lab,
                   yerr=np.clip([c["est"] - c["ci_low"], c["ci_high"] - c["est"]], 0, None),
                   capsize=2)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xticks(x, [f"{p} to {q}" for p, q in pairs])
        ax.legend(fontsize="small", loc="best")
        info = d.score(s)
        label_axes(ax, x="waves", y=f"change in {info.name}", y_unit=info.unit,
                   title=f"{info.name}: what changed",
                   note=f"bars: {ci_label(d.ci)}, account bootstrap")
    fig.tight_layout()
    return fig


def published_series(series: pd.DataFrame):
    """Published NPS and CRQ against published response rate; shares of customers hollow."""
    fig, (ax1, ax2) = _plt().subplots(1, 2, figsize=(SCALE * 11, SCALE * 4.0))
    for ax, col, unit in ((ax1, "nps", "NPS, -100 to +100"), (ax2, "crq", "1-7 scale")):
        pts = series.dropna(subset=["response_rate", col])
        for _, r in pts.iterrows():
            hollow = r["rate_basis"] != "completion rate"
            ax.scatter(100 * r["response_rate"], r[col], s=60, color="C0",
                       facecolors="white" if hollow else "C0")
            ax.annotate(r["year_shown"] + (" (share of customers)" if hollow else ""),
                        (100 * r["response_rate"], r[col]), xytext=(5, 4),
                        textcoords="offset points", fontsize="small")
        ax.set_xlim(30, 100)
        label_axes(ax, x="published response rate", x_unit="%",
                   y="crq_index" if col == "crq" else "nps", y_unit=unit,
                   title=f"Published {col.upper()} against response",
                   note=f"{len(pts)} points; illustration only, no fit")
    fig.tight_layout()
    return fig
