"""crqlab.studies.where_to_act: the study logic of notebook 50 on simulated item-level frames.

Planted structure: trust drives commitment far more than the other elements do, and trust
performs worst (lowest mean), so it must be the strongest driver by every method and sit in
"concentrate here" on the importance-performance map.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crqlab.data.study import load_study
from crqlab.models.pls import ipma_quadrant
from crqlab.studies import where_to_act as w

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
ITEMS = {"trust": ["trust_1", "trust_2", "trust_3"], "commitment": ["commitment_1", "commitment_2", "commitment_3"],
         "satisfaction": ["satisfaction_1", "satisfaction_2", "satisfaction_3"],
         "solution": ["innovation", "leading_edge", "value_for_money"]}
N_BOOT = 40  # wiring, not interval precision


def _setup(data: pd.DataFrame, segments=("region",), min_cell: int = 5) -> w.Setup:
    labels = {e: e.capitalize() for e in ITEMS}
    labels["nps"] = "recommend (0-10)"
    return w.Setup(client="Client <b>", study="demo", items=ITEMS,
                   facets={"solution": {"innovation": ["innovation"], "leading_edge": ["leading_edge"],
                                        "value_for_money": ["value_for_money"]}},
                   labels=labels, scale=(1, 7), segments=tuple(segments), n_respondents=len(data),
                   n_accounts=int(data["account_id"].nunique()), min_cell=min_cell, ci=0.95)


def _frame(n_acc: int = 60, per: int = 8, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_acc * per
    acc = np.repeat(np.arange(n_acc), per)
    lat = {e: rng.normal(0, 1, n) + rng.normal(0, 0.3, n_acc)[acc] for e in ("trust", "satisfaction", "solution")}
    lat["commitment"] = 0.7 * lat["trust"] + 0.15 * lat["satisfaction"] + 0.05 * lat["solution"] + rng.normal(0, 0.6, n)
    means = {"trust": 3.6, "satisfaction": 5.2, "solution": 5.0, "commitment": 4.8}
    rows = {"account_id": [f"A{a:02d}" for a in acc],
            "region": np.where(acc < n_acc // 2, "North", np.where(acc < n_acc - 2, "South", "Tiny"))}
    for e, items in ITEMS.items():
        for i in items:
            rows[i] = np.clip(np.round(means[e] + 0.9 * lat[e] + rng.normal(0, 0.5, n)), 1, 7)
    data = pd.DataFrame(rows)
    for e, items in ITEMS.items():
        data[e] = data[items].mean(axis=1)
    data["nps"] = np.clip(np.round(5 + 1.5 * (data["commitment"] - 4.8) + rng.normal(0, 1, n)), 0, 10)
    return data


@pytest.fixture(scope="module")
def frame():
    return _frame()


def test_drivers_name_the_planted_driver_by_every_method(frame):
    s = _setup(frame)
    step = w.drivers(frame, s, "commitment", n_boot=N_BOOT, seed=1)
    assert not step.skipped, step.skipped
    names = [r.name for r in step.records]
    assert names[:2] == ["drivers_commitment.pls_total_effect", "drivers_commitment.pls_r2"]
    assert {"drivers_commitment.cbsem_total_effect", "drivers_commitment.relative_weight_share",
            "drivers_commitment.pls_q2_predict",
            "drivers_commitment.methods_agree_on_top", "drivers_commitment.pls_top_minus_second"} <= set(names)
    agree = next(r.value for r in step.records if r.name == "drivers_commitment.methods_agree_on_top")
    assert agree is True
    assert step.table.sort_values("est").iloc[-1]["element"] == "trust"
    assert list(step.shown.columns) == ["element", "PLS-SEM total effect", "CB-SEM total effect",
                                        "relative weight, % of R²"]
    # the gap to the runner-up is worded by the one rule: here it is clear
    assert "all methods name Trust" in step.findings[0]["text"]
    assert "clearly stronger" in step.text[0]
    lo, hi = step.findings[0]["ci"]
    assert 0 < lo < step.findings[0]["est"] < hi


def test_discriminant_validity_flags_overlapping_elements(frame):
    s = _setup(frame)
    step = w.discriminant_validity(frame, s, n_boot=N_BOOT, seed=5)
    assert len(step.table) == 6 and (step.table["ci_low"] <= step.table["est"]).all()
    assert step.text == ["Every pair of elements is clearly distinct: each HTMT interval lies below 0.90."]
    # satisfaction's answers made mostly copies of trust's: the pair cannot be told apart
    twin = frame.copy()
    rng = np.random.default_rng(0)
    for a, b in zip(ITEMS["satisfaction"], ITEMS["trust"]):
        twin[a] = np.where(rng.random(len(twin)) < 0.9, twin[b], twin[a])
    step = w.discriminant_validity(twin, _setup(twin), n_boot=N_BOOT, seed=5)
    rec = {r.name: r.value for r in step.records}
    assert rec["htmt.pairs_not_clearly_distinct"] >= 1
    assert "Trust and Satisfaction" in step.text[0] and "not clearly distinct" in step.text[0]


def test_importance_map_puts_the_planted_weak_driver_in_concentrate_here(frame):
    s = _setup(frame)
    step = w.importance_map(frame, s, "commitment", n_boot=N_BOOT, seed=2)
    t = step.table.set_index("construct")
    assert t.loc["trust", "quadrant"] == "concentrate here"
    mi, mp = t["importance"].mean(), t["performance"].mean()
    for c, r in t.iterrows():
        assert r["quadrant"] == ipma_quadrant(r["importance"], r["performance"], mi, mp)
        assert r["importance_ci_low"] <= r["importance"] <= r["importance_ci_high"]
        assert 0 <= r["performance_ci_low"] <= r["performance"] <= r["performance_ci_high"] <= 100
    # performance is the 0-100 rescaled mean: trust's items average about 3.6 on 1-7
    assert abs(t.loc["trust", "performance"] - (frame[ITEMS["trust"]].mean().mean() - 1) / 6 * 100) < 1.0
    assert "Trust" in step.text[0] and "concentrate here" in step.text[0]
    rec = {r.name: r.value for r in step.records}
    assert rec["ipma_commitment.concentrate_here"].startswith("trust")


def test_facet_map_splits_faceted_elements(frame):
    s = _setup(frame)
    step = w.importance_map(frame, s, "nps", n_boot=N_BOOT, seed=3, facets=True)
    assert {"innovation", "leading_edge", "value_for_money"} <= set(step.table["construct"])
    assert "solution" not in set(step.table["construct"])
    plain = _setup(frame)
    no_facets = w.Setup(**{**plain.__dict__, "facets": {}})
    skipped = w.importance_map(frame, no_facets, "nps", n_boot=N_BOOT, seed=3, facets=True)
    assert skipped.table is None and "no facets" in skipped.skipped[0]


def test_segment_maps_skip_small_segments(frame):
    s = _setup(frame)
    step = w.segment_maps(frame, s, "commitment", n_boot=20, seed=4, min_segment_n=100)
    assert set(step.table["level"]) == {"North", "South"}  # "Tiny": 16 respondents, not mapped
    assert "fewer than 100 respondents" in step.skipped[0]
    assert (step.table["n"] >= 100).all()
    none = w.segment_maps(frame, s, "commitment", n_boot=20, seed=4, min_segment_n=10_000)
    assert none.table is None and any(r.name == "skipped.ipma_commitment_segments" for r in none.records)
    assert {r.name for r in step.records} == {"ipma_commitment_segments.region"}


def test_one_account_says_what_cannot_be_estimated(frame):
    one = frame.assign(account_id="A00")
    s = _setup(one)
    step = w.drivers(one, s, "commitment", n_boot=N_BOOT, seed=1)
    assert step.table is None
    assert step.skipped == ["Drivers of Commitment: PLS-SEM could not be estimated (the account-cluster "
                            "bootstrap needs at least 2 accounts; the 480 complete responses come "
                            "from 1 account)."]
    few = w.importance_map(frame.head(12), _setup(frame.head(12)), "commitment", n_boot=N_BOOT, seed=1)
    assert "only 12 complete responses" in few.skipped[0]


def test_why_hides_library_detail():
    from crqlab.errors import ConvergenceError, InsufficientDataError
    assert w.why(InsufficientDataError("PLS indicator(s) without variance: ['trust_1']")) == \
        "the data are too few or a score does not vary"
    assert w.why(ConvergenceError("x")) == "the estimation did not settle on a solution"
    assert w.why(w.TooFew("only 3 complete responses")) == "only 3 complete responses"


def test_setup_and_frame_from_the_mini_study():
    study = load_study(FIXTURE)
    data = w.scored_frame(study)
    s = w.setup(study, data, min_cell=5)
    assert set(s.items) == set(study.instrument.elements)
    assert s.items["solution"] == ["innovation", "leading_edge", "value_for_money"]
    assert s.facets["service"]["reliability"] == ["reliability"]
    assert s.label("nps") == "recommend (0-10)" and s.scale == (1, 7)
    assert "nps" in data and "commitment" in data and "contact_email" not in data
    text = w.sample(s).text[0]
    assert f"{len(data):,} responses" in text
