"""crqlab.reports.pathdiagram: layout of the KMV models and the drawn diagram against its input table."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch  # noqa: E402

from crqlab.models.sem import kmv_classic_model, kmv_crq_model, rival_model  # noqa: E402
from crqlab.reports.pathdiagram import NODE_HEIGHT, NODE_WIDTH, layered_layout, path_diagram  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _table(model, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"source": [p.source for p in model.paths],
                      "target": [p.target for p in model.paths]})
    t["std_all"] = rng.uniform(-0.6, 0.9, len(t)).round(3)
    t["p_value"] = np.where(np.arange(len(t)) % 3 == 0, 0.2, 0.001)  # every third not significant
    return t


def _edges(model):
    return [(p.source, p.target) for p in model.paths]


def test_crq_kmv_layout_puts_drivers_left_mediators_middle_outcomes_right():
    pos = layered_layout(_edges(kmv_crq_model()), x_gap=3.0, y_gap=1.5)
    col = {v: round(x / 3.0) for v, (x, _) in pos.items()}
    assert {v for v, c in col.items() if c == 0} == {"service", "experience", "solution",
                                                      "satisfaction"}
    assert col["trust"] == 1 and col["commitment"] == 2
    assert col["nps"] == col["retained_next_wave"] == 3
    # first column in model order from the top, centred on 0, y_gap apart
    first = [pos[v][1] for v in ("service", "experience", "solution", "satisfaction")]
    np.testing.assert_allclose(first, [2.25, 0.75, -0.75, -2.25])
    # trust sits at the mean height of its three predecessors (barycentre)
    assert pos["trust"][1] == pytest.approx(np.mean(first[:3]))


def test_classic_layout_sinks_share_the_last_column_and_nodes_do_not_overlap():
    model = kmv_classic_model()
    pos = layered_layout(_edges(model), y_gap=1.5)
    xs = {v: x for v, (x, _) in pos.items()}
    last = max(xs.values())
    assert {v for v, x in xs.items() if x == last} == set(model.outcomes)
    assert {v for v, x in xs.items() if x == 0} == set(model.antecedents)
    assert xs["trust"] < xs["commitment"] < last
    for x in set(xs.values()):
        ys = sorted(y for v, (xx, y) in pos.items() if xx == x)
        assert np.all(np.diff(ys) >= 1.5 - 1e-9)


def test_layout_rejects_a_cycle_and_keeps_isolated_nodes():
    with pytest.raises(ValueError, match="cycle"):
        layered_layout([("a", "b"), ("b", "c"), ("c", "a")])
    pos = layered_layout([("a", "b")], nodes=["lonely", "a", "b"])
    assert pos["lonely"][0] == 0 and pos["b"][0] > 0


@pytest.mark.parametrize("make", [kmv_crq_model, kmv_classic_model,
                                  lambda: rival_model(kmv_crq_model())],
                         ids=["kmv_crq", "kmv_classic", "rival"])
def test_every_path_is_one_arrow_with_its_estimate_in_the_right_style(make):
    model = make()
    table = _table(model)
    ax = path_diagram(table, latent=model.indicators, alpha=0.05, n=321, n_accounts=45)
    arrows = {a.get_gid(): a for a in ax.patches if isinstance(a, FancyArrowPatch)}
    assert len(arrows) == len(table)
    labels = {t.get_gid(): t.get_text() for t in ax.texts if "->" in (t.get_gid() or "")}
    for row in table.itertuples():
        key = f"{row.source}->{row.target}"
        style = arrows[key].get_linestyle()
        if row.p_value < 0.05:
            assert style in ("-", "solid")
        else:
            assert style in ("--", "dashed")
        assert labels[key] == f"{row.std_all:.2f}".replace("-", "−")
    latent = [p for p in ax.patches if isinstance(p, Ellipse)]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert {p.get_gid() for p in latent} == {f"node:{v}" for v in model.nodes
                                             if v in model.indicators}
    assert {p.get_gid() for p in boxes} == {f"node:{v}" for v in model.nodes
                                            if v not in model.indicators}
    assert "n = 321 respondents in 45 accounts" in ax.get_xlabel()


@pytest.mark.parametrize("make", [kmv_crq_model, kmv_classic_model])
def test_arrows_start_and_end_on_their_nodes_and_cross_no_other_node(make):
    model = make()
    ax = path_diagram(_table(model), latent=model.indicators)
    pos = {p.get_gid()[5:]: (p.center if isinstance(p, Ellipse) else
                             (p.get_x() + NODE_WIDTH / 2, p.get_y() + NODE_HEIGHT / 2))
           for p in ax.patches if (p.get_gid() or "").startswith("node:")}
    for arrow in (a for a in ax.patches if isinstance(a, FancyArrowPatch)):
        src, dst = arrow.get_gid().split("->")
        verts = arrow.get_path().vertices  # data coordinates, shaft then head
        for node, (x, y) in pos.items():
            inside = ((np.abs(verts[:, 0] - x) < NODE_WIDTH / 2 - 0.05)
                      & (np.abs(verts[:, 1] - y) < NODE_HEIGHT / 2 - 0.05))
            if node not in (src, dst):
                assert not inside.any(), f"{src}->{dst} crosses {node}"
        # the shaft starts on the source's outline and the head touches the target's outline
        radius = np.hypot(*(verts[0] - pos[src]))
        assert NODE_HEIGHT / 2 - 1e-6 <= radius <= np.hypot(NODE_WIDTH, NODE_HEIGHT) / 2 + 1e-6
        closest = np.min(np.hypot(verts[:, 0] - pos[dst][0], verts[:, 1] - pos[dst][1]))
        assert closest <= np.hypot(NODE_WIDTH, NODE_HEIGHT) / 2 + 1e-6


def test_r_squared_and_labels_are_printed_on_endogenous_nodes_only():
    model = kmv_crq_model()
    ax = path_diagram(_table(model), latent=model.indicators,
                      r_squared={"trust": 0.314, "service": 0.9, "nps": 0.566},
                      labels={"nps": "Net Promoter answer"})
    names = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("node:")}
    assert names["node:trust"] == "trust\nR² = 0.31"
    assert names["node:nps"] == "Net Promoter\nanswer\nR² = 0.57"
    assert names["node:service"] == "service"  # exogenous: no R-squared even if given


def test_missing_estimate_is_a_dash_and_drawn_dashed():
    t = pd.DataFrame({"source": ["a"], "target": ["b"], "std_all": [np.nan], "p_value": [np.nan]})
    ax = path_diagram(t)
    arrow = next(a for a in ax.patches if isinstance(a, FancyArrowPatch))
    assert arrow.get_linestyle() in ("--", "dashed")
    assert [x.get_text() for x in ax.texts if x.get_gid() == "a->b"] == ["–"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="columns"):
        path_diagram(pd.DataFrame({"source": ["a"], "target": ["b"]}))
    with pytest.raises(ValueError, match="no paths"):
        path_diagram(pd.DataFrame(columns=["source", "target", "std_all", "p_value"]))
    with pytest.raises(ValueError, match="no position"):
        path_diagram(pd.DataFrame({"source": ["a"], "target": ["b"], "std_all": [0.1],
                                   "p_value": [0.01]}), positions={"a": (0, 0)})


def test_fit_diagram_draws_a_fit_with_its_r_squared_n_and_accounts():
    from types import SimpleNamespace

    from crqlab.reports.pathdiagram import fit_diagram

    model = kmv_crq_model()
    table = _table(model)
    fit = SimpleNamespace(  # what fit_diagram reads of a crqlab.models.sem.SemFit
        model=model, n=321, hypotheses=lambda alpha: table,
        r_squared=pd.DataFrame({"variable": ["trust", "nps"], "r2": [0.314, 0.566]}),
        data=pd.DataFrame({"account_id": ["a", "b", "b", "c"]}))
    ax = fit_diagram(fit, title="CRQ form", note="wave 3")
    by_hand = path_diagram(table, latent=model.indicators, r_squared={"trust": 0.314, "nps": 0.566},
                           n=321, n_accounts=3, note="wave 3", title="CRQ form")
    texts = sorted((t.get_gid() or "", t.get_text()) for t in ax.texts)
    assert texts == sorted((t.get_gid() or "", t.get_text()) for t in by_hand.texts)
    assert ax.get_xlabel() == by_hand.get_xlabel() and "in 3 accounts" in ax.get_xlabel()
    assert ax.get_title() == "CRQ form"
    bare = fit_diagram(fit, table.head(2), cluster=None)
    assert len([p for p in bare.patches if isinstance(p, FancyArrowPatch)]) == 2
    assert "accounts" not in bare.get_xlabel()
