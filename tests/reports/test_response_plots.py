"""crqlab.reports.response_plots: the figures of the response-rate study, on hand-made frames.

Each figure is drawn from the study's own results; the checks are on what is drawn (how many
points and series, the suppressed groups left out, the labels with their n), not on pixels.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402
from studies.response_frames import design  # noqa: E402

from crqlab.reports import response_plots  # noqa: E402
from crqlab.reports.present import label  # noqa: E402
from crqlab.studies import response_rates as rr  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _title(ax) -> str:
    """The title wherever the style puts it (the house style: on the left)."""
    return "".join(ax.get_title(loc) for loc in ("left", "center", "right"))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def d():
    return design()


@pytest.fixture(scope="module")
def model(d):
    return rr.response_model(d, ["role", "size"], use_previous_score=False)


def test_rates_by_wave(d):
    by_wave = rr.rates_by_wave(d)
    ax = response_plots.rates_by_wave(d, by_wave).axes[0]
    bars = ax.containers
    assert [c.get_label() for c in bars] == ["response rate", "completion rate"]
    data = bars[0].lines[0]
    assert_allclose(np.asarray(data.get_xdata(), float), [-0.06, 0.94])  # dodged around waves
    assert_allclose(np.asarray(data.get_ydata(), float), 100 * by_wave["est"].iloc[:2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2021", "2022"]
    assert "n = 160 invitations" in ax.get_xlabel() and "95% CI (Wilson)" in ax.get_xlabel()


def test_account_histogram(d):
    spread = rr.account_spread(d)
    ax = response_plots.account_histogram(d, spread, 0.6625).axes[0]
    assert sum(p.get_height() for p in ax.patches) == 8
    assert "n = 8 accounts with 3+ invited contacts" in ax.get_xlabel()


def test_rate_score_draws_big_accounts_and_the_fit(d):
    fits = rr.rate_score_associations(d)
    fig = response_plots.rate_score(d, fits)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    pts = rr.account_points(d, "crq_index")
    assert len(ax.collections[0].get_offsets()) == int((pts["n"] >= 3).sum())
    fit = ax.lines[0]
    slope = fits.tables["crq_index"].set_index("term").loc["slope", "est"]
    x, y = fit.get_xdata() / 100, fit.get_ydata()
    assert_allclose(np.diff(y) / np.diff(x), slope)  # the weighted least-squares line
    assert "in 8 accounts" in ax.get_xlabel()


def test_lateness(d):
    ao = rr.armstrong_overton(d, "reminders")
    fig = response_plots.lateness(d, ao)
    ax = fig.axes[0]
    assert [t for t in ax.get_xticks()] == [0, 1, 2, 3]
    assert _title(ax) == "CRQ index by lateness, 2022"
    d2 = design()
    d2.min_cell = 18
    ax2 = response_plots.lateness(d2, ao).axes[0]
    assert "2 group(s) below 18 not drawn" in ax2.get_xlabel()


def test_weights(d, model):
    diag = rr.weight_diagnostics(d, model)
    ax1, ax2 = response_plots.weights(model, diag).axes
    assert sum(p.get_height() for p in ax1.patches) == d.n_responded
    # frame variables named by the glossary ("Role: operational", "Company size: small")
    assert [t.get_text() for t in ax2.get_yticklabels()] == [
        rr.variable_label(v, label) for v in diag.balance["variable"]]
    assert "Role: operational" in [t.get_text() for t in ax2.get_yticklabels()]


def test_sensitivity_range(d, model):
    sens = rr.sensitivity(d, model)
    fig = response_plots.sensitivity_range(d, sens)
    ax = fig.axes[0]
    frame = [ln for ln in ax.lines if ln.get_label() == "whole frame"]
    assert len(frame) == 1 and len(ax.collections) == 1  # the line and its shifted interval
    g = sens.results["crq_index"].grid
    assert_allclose(frame[0].get_xdata(), g["delta"])  # the whole range the data allow
    b = sens.results["crq_index"].bounds
    assert_allclose([g["delta"].min(), g["delta"].max()], [b["delta_min"], b["delta_max"]])
    nps_lines = [ln.get_label() for ln in fig.axes[1].lines if ln.get_linestyle() == "--"]
    assert nps_lines[0].endswith("0 (as many detractors as promoters)")


def test_precision(d):
    prec = rr.precision(d)
    fig = response_plots.precision(d, prec)
    assert [_title(a) for a in fig.axes] == ["CRQ index: precision",
                                                          "NPS: precision"]
    assert_allclose(fig.axes[0].lines[0].get_xdata(), np.arange(45, 86, 5))


def test_decomposition(d):
    dec = rr.decompose_changes(d, ["role"], n_boot=20, seed=1)
    overall = dec.overall(d)
    ax = response_plots.decomposition(d, overall).axes[0]
    heights = [p.get_height() for p in ax.patches]
    crq = overall[overall["score"] == "crq_index"].set_index("component")["est"]
    assert_allclose(heights, crq.loc[["total", "within", "composition"]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2021 to 2022"]


def test_published_series():
    series = pd.DataFrame({"year_shown": ["~2019", "2023"], "response_rate": [0.6, 0.7],
                           "rate_basis": ["completion rate", "share of customers"],
                           "crq": [5.5, np.nan], "nps": [40, 50]})
    ax_nps, ax_crq = response_plots.published_series(series).axes
    assert [t.get_text() for t in ax_nps.texts] == ["~2019", "2023 (share of customers)"]
    assert len(ax_crq.texts) == 1 and "1 points; illustration only" in ax_crq.get_xlabel()
