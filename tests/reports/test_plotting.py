"""crqlab.reports.plotting: the house style and labelled, privacy-aware plots."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402

from crqlab.reports import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_apply_style_sets_the_house_look():
    plotting.apply_style()
    rc = matplotlib.rcParams
    assert rc["axes.spines.top"] is False and rc["axes.titlelocation"] == "left"
    assert tuple(rc["figure.figsize"]) == (7.0, 4.2)
    assert rc["svg.hashsalt"] == "crqlab"


@pytest.mark.parametrize("name, unit, text", [
    ("crq_index", None, "CRQ index (1-7 scale)"),
    ("nps", None, "Net Promoter Score (NPS, -100 to +100)"),
    ("response_rate", None, "response rate (%)"),
    ("trust", "1-7 scale", "trust (1-7 scale)"),
    ("Days to respond", None, "Days to respond"),
])
def test_axis_label(name, unit, text):
    assert plotting.axis_label(name, unit) == text


def test_label_axes_shows_units_and_n():
    _, ax = plt.subplots()
    plotting.label_axes(ax, x="wave", y="crq_index", n=1234, n_accounts=56, title="T")
    assert ax.get_ylabel() == "CRQ index (1-7 scale)"
    assert ax.get_title(loc="left") == "T"
    assert ax.get_xlabel() == "wave\nn = 1,234 respondents in 56 accounts"
    _, ax = plt.subplots()
    ax.set_xlabel("days")
    plotting.label_axes(ax, n=80, n_what="invited contacts", note="2 groups suppressed")
    assert ax.get_xlabel() == "days\nn = 80 invited contacts\n2 groups suppressed"


def test_ci_plot_skips_suppressed_groups_and_says_so():
    table = pd.DataFrame({"role": ["a", "b", "c"], "est": [5.1, np.nan, 4.8],
                          "ci_low": [4.9, np.nan, 4.5], "ci_high": [5.3, np.nan, 5.1],
                          "n": [40, np.nan, 25], "suppressed": [False, True, False]})
    ax = plotting.ci_plot(table, "role", value_name="crq_index", n=65, min_cell_size=5)
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert set(ticks) == {"a  (n=40)", "c  (n=25)"}
    assert ticks["a  (n=40)"] > ticks["c  (n=25)"]  # first row on top
    text = ax.get_xlabel()
    assert text.startswith("CRQ index (1-7 scale)\n")
    assert "n = 65 respondents" in text and "1 group(s) not shown" in text and "of 5" in text
    intervals = [ln for ln in ax.lines if ln.get_gid() == "ci"]
    assert len(intervals) == 2  # one interval per shown group
    assert sorted(tuple(ln.get_xdata()) for ln in intervals) == [(4.5, 5.1), (4.9, 5.3)]


def test_share_bars_in_percent_with_category_colours():
    table = pd.DataFrame({"category": ["Rationals", "Ambassadors"], "est": [0.5, 0.3],
                          "ci_low": [0.45, 0.25], "ci_high": [0.55, 0.35]})
    ax = plotting.share_bars(table, "category", order=["Ambassadors", "Rationals"], n=200)
    bars = ax.patches
    assert [round(b.get_width(), 6) for b in bars] == [30.0, 50.0]
    assert matplotlib.colors.to_hex(bars[0].get_facecolor()) == plotting.STATUS_COLOURS["Ambassadors"]
    assert ax.get_xlabel() == "share (%)\nn = 200 respondents"


def test_trend_plot_labels_waves_and_leaves_gaps():
    table = pd.DataFrame({"wave": [1, 2, 3], "est": [5.1, np.nan, 5.4], "ci_low": [5.0, np.nan, 5.3],
                          "ci_high": [5.2, np.nan, 5.5], "n": [300, 3, 280],
                          "suppressed": [False, True, False]})
    ax = plotting.trend_plot(table, value_name="crq_index", labels={1: "2021", 2: "2022", 3: "2023"},
                             n=583)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2021", "2022", "2023"]
    line = ax.lines[0]
    assert list(line.get_xdata()) == [1, 3] and list(line.get_ydata()) == [5.1, 5.4]
    assert ax.get_ylabel() == "CRQ index (1-7 scale)"
    assert ax.get_xlabel() == "wave\nn = 583 respondents\n1 point(s) suppressed (below the minimum cell size)"


def test_intervals_are_drawn_where_they_lie_even_without_their_estimate():
    # a percentile bootstrap interval may not contain its estimate; errorbar would refuse it
    table = pd.DataFrame({"role": ["a", "b"], "est": [5.0, 4.0], "ci_low": [5.1, 3.8],
                          "ci_high": [5.4, 4.3], "n": [40, 30]})
    ax = plotting.ci_plot(table, "role")
    spans = sorted(tuple(ln.get_xdata()) for ln in ax.lines if ln.get_gid() == "ci")
    assert spans == [(3.8, 4.3), (5.1, 5.4)]
    trend = pd.DataFrame({"wave": [1, 2], "est": [0.5, 0.6], "ci_low": [0.55, 0.5],
                          "ci_high": [0.7, 0.7]})
    ax = plotting.trend_plot(trend)
    spans = [tuple(ln.get_ydata()) for ln in ax.lines if ln.get_gid() == "ci"]
    assert spans == [(0.55, 0.7), (0.5, 0.7)]
    shares = pd.DataFrame({"status": ["x"], "est": [0.4], "ci_low": [0.41], "ci_high": [0.5]})
    ax = plotting.share_bars(shares, "status")
    spans = [tuple(ln.get_xdata()) for ln in ax.lines if ln.get_gid() == "ci"]
    assert_allclose(spans, [(41.0, 50.0)], rtol=1e-12)


# -- plots a reader trusts (issue 17) ----------------------------------------------------------
def _waves(shift=0.0):
    return pd.DataFrame({"wave": [1, 2, 3, 4], "est": np.array([0.5, 0.55, 0.6, 0.52]) + shift,
                         "ci_low": np.array([0.45, 0.5, 0.55, 0.47]) + shift,
                         "ci_high": np.array([0.55, 0.6, 0.65, 0.57]) + shift, "n": 100})


def _data_artists(ax):
    return [a for a in [*ax.lines, *ax.collections, *ax.patches] if a.get_visible()]


def _two_series():
    _, ax = plt.subplots()
    plotting.trend_plot(_waves(), value_name="response rate", label="response rate", ax=ax)
    plotting.trend_plot(_waves(0.1), value_name="response rate", label="completion rate",
                        colour="C1", ax=ax)
    return ax


def test_legend_colours_are_the_colours_of_their_lines():
    ax = _two_series()
    leg = plotting.legend(ax)
    assert [t.get_text() for t in leg.get_texts()] == ["response rate", "completion rate"]
    by_label = {ln.get_label(): ln.get_color() for ln in ax.lines}
    for handle, text in zip(leg.legend_handles, leg.get_texts()):
        assert matplotlib.colors.same_color(handle.get_color(), by_label[text.get_text()])
    # the interval bars (same colours, no labels) are not in the legend
    assert len(leg.legend_handles) == 2


@pytest.mark.parametrize("where", ["right", "below"])
def test_legend_covers_no_data(where):
    ax = _two_series()
    leg = plotting.legend(ax, where=where)
    fig = ax.figure
    fig.canvas.draw()
    box = leg.get_window_extent()
    over = [a for a in _data_artists(ax) if box.overlaps(a.get_window_extent())]
    assert not over, over
    if where == "right":
        assert box.x0 > ax.get_window_extent().x1  # beside the axes, not on them


def test_legend_of_unlabelled_plot_is_none():
    _, ax = plt.subplots()
    plotting.trend_plot(_waves(), ax=ax)
    assert plotting.legend(ax) is None


def test_reference_line_is_explained_in_the_caption_and_notes():
    t = pd.DataFrame({"role": ["a", "b"], "est": [5.1, 5.6], "ci_low": [4.9, 5.4],
                      "ci_high": [5.3, 5.8], "n": [40, 50]})
    ax = plotting.ci_plot(t, "role", value_name="crq_index", title="CRQ index by role",
                          reference=5.42, reference_label="the score of all respondents")
    plotting.caption(ax, "Bars are 95% intervals.")
    notes = plotting.figure_notes(ax.figure)
    assert notes == {"title": "CRQ index by role",
                     "caption": "The dashed grey line marks the score of all respondents (5.42). "
                                "Bars are 95% intervals."}
    plotting.caption(ax.figure, "Only this.", append=False)
    assert plotting.figure_notes(ax.figure)["caption"] == "Only this."


def test_panels_sharing_a_reference_line_explain_it_once():
    # the scorecard's segment panels each draw the overall score: one sentence, not five
    t = pd.DataFrame({"g": ["a", "b"], "est": [5.1, 5.6], "ci_low": [4.9, 5.4],
                      "ci_high": [5.3, 5.8], "n": [40, 50]})
    fig, axes = plt.subplots(3, 1)
    for ax in axes:
        plotting.ci_plot(t, "g", value_name="crq_index", reference=5.42, ax=ax)
    assert plotting.figure_notes(fig)["caption"] == ("The dashed grey line marks the reference "
                                                      "value (5.42).")
    plt.close(fig)


def test_figures_shown_in_a_kernel_carry_title_and_caption():
    from IPython.core.formatters import PNGFormatter
    from matplotlib.figure import Figure

    formatter = PNGFormatter()
    formatter.for_type(Figure, lambda fig: b"png-bytes")  # the inline backend's printer
    fig, ax = plt.subplots()
    ax.set_title("Scores by wave")
    plotting.caption(fig, "The dotted line is the target.")
    formatter.for_type(Figure, plotting._describing_printer(formatter.lookup_by_type(Figure)))
    data, meta = formatter(fig)
    assert data == b"png-bytes"
    assert meta == {"title": "Scores by wave", "caption": "The dotted line is the target."}


def test_rate_plot_draws_one_rate_in_percent_on_a_0_100_axis():
    table = pd.DataFrame({"role": ["a", "a", "b", "b", "c", "c"],
                          "measure": ["response_rate", "completion_rate"] * 3,
                          "est": [0.5, 0.4, 0.8, 0.7, np.nan, np.nan],
                          "ci_low": [0.4, 0.3, 0.7, 0.6, np.nan, np.nan],
                          "ci_high": [0.6, 0.5, 0.9, 0.8, np.nan, np.nan],
                          "n": [40, 40, 30, 30, np.nan, np.nan],
                          "suppressed": [False, False, False, False, True, True]})
    ax = plotting.rate_plot(table, "role", title="Response", reference=0.55, min_cell_size=5,
                            n=74)
    assert ax.get_xlim() == (0, 100)
    spans = sorted(tuple(ln.get_xdata()) for ln in ax.lines if ln.get_gid() == "ci")
    assert_allclose(spans, [(40, 60), (70, 90)])  # response rates only, in percent
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert set(ticks) == {"a  (n=40)", "b  (n=30)"} and ticks["a  (n=40)"] > ticks["b  (n=30)"]
    ref = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(ref) == 1 and ref[0].get_xdata()[0] == pytest.approx(55)
    assert ax.get_xlabel().startswith("response rate (% of invited contacts)\nn = 74 invited")
    assert "1 group(s) not shown: below the minimum cell size of 5" in ax.get_xlabel()


def test_benchmark_plot_marks_the_score_and_the_top_decile():
    bench = pd.DataFrame({"crq_index": np.linspace(4.0, 6.0, 41), "nps": np.linspace(-20, 60, 41)})
    fig = plotting.benchmark_plot(bench, [("crq_index", 5.2, "1-7 scale"),
                                          ("nps", 31.0, "NPS, -100 to +100")], title="Position")
    left, right = fig.axes
    # the dotted line is the top decile's edge, the red one the score placed
    assert [ln.get_xdata()[0] for ln in left.lines] == [pytest.approx(5.8), 5.2]
    assert [ln.get_xdata()[0] for ln in right.lines] == [pytest.approx(52.0), 31.0]
    assert left.get_title(loc="left") == "Position"
    assert "n = 41 benchmark companies" in left.get_xlabel()
    plt.close(fig)
