"""Account packs (crqlab.studies.account_packs): numbers against direct calls, the confidential
rules, the action list. The study is the privacy fixture (tests/hardening/builders.py:
confidential respondents carry marker names, e-mails and ids; an account of two confidential
respondents) with a minimum cell size of 3."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as st

from crqlab.data.privacy import confidential_identifiers
from crqlab.data.study import load_study
from crqlab.errors import InsufficientDataError
from crqlab.measures.categories import relationship_category
from crqlab.measures.nps import nps
from crqlab.measures.scoring import cluster_mean, score_items
from crqlab.studies.account_packs import (ACTION_COLUMNS, NAME_WITHHELD, PRIORITIES, account_packs,
                                  protect_remainder, welch_difference)
from hardening.builders import MARKER_PATTERN, SMALL_ACCOUNT_ID, canary_study

IDENT = r"canary(?:name|id)?\d{4}|leak\.example"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    m = canary_study(tmp_path_factory.mktemp("packs") / "study", min_cell_size=3)
    return load_study(m.folder, cache=False)


@pytest.fixture(scope="module")
def packs(study):
    return account_packs(study, n_boot=200)


@pytest.fixture(scope="module")
def frame(study):
    r = study.respondents(pii=True)
    s = score_items(r, study.instrument, facets=False, levels=False)
    out = pd.concat([r, s], axis=1)
    ever = set(out.loc[out["confidential"].fillna(False).astype(bool), "contact_id"])
    out["conf"] = out["confidential"].fillna(True).astype(bool) | out["contact_id"].isin(ever)
    return out


def test_welch_equals_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(5, 1, 12), rng.normal(5.5, 2, 30)
    res = welch_difference(a, b, ci=0.9)
    ref = st.ttest_ind(a, b, equal_var=False).confidence_interval(0.9)
    assert_allclose([res["ci_low"], res["ci_high"]], [ref.low, ref.high], rtol=1e-12)
    assert_allclose(res["est"], a.mean() - b.mean(), rtol=1e-12)
    assert res["n"] == 42
    assert np.isnan(welch_difference([1.0], b)["ci_low"])


def test_latest_wave_and_eligibility(packs, study, frame):
    assert packs.wave == max(study.waves) and packs.min_cell_size == 3
    cur = frame[frame["wave"] == packs.wave]
    for p in packs.packs:
        g = cur[cur["account_id"] == p.account_id]
        n_conf = int(g["conf"].sum())
        assert p.confidential_included == (n_conf >= 3)
        assert p.n == (len(g) if n_conf >= 3 else int((~g["conf"]).sum()))
        assert p.n >= 3
    assert SMALL_ACCOUNT_ID not in {p.account_id for p in packs.packs}
    assert any(p.confidential_included for p in packs.packs)
    assert any(not p.confidential_included and len(p.comments) == 0 for p in packs.packs)


def test_numbers_equal_direct_calls(packs, frame):
    cur = frame[frame["wave"] == packs.wave]
    for p in packs.packs[:4]:
        g = cur[cur["account_id"] == p.account_id]
        shown = g if p.confidential_included else g[~g["conf"]]
        sc = p.scores.set_index("score")
        for s in ("trust", "crq_index"):
            direct = cluster_mean(shown[s], None)
            assert_allclose(sc.loc[s, ["est", "ci_low", "ci_high"]].astype(float),
                            [direct["est"], direct["ci_low"], direct["ci_high"]], rtol=1e-12)
            client = cluster_mean(cur[s], cur["account_id"].astype(str))
            assert_allclose(sc.loc[s, "client_est"], client["est"], rtol=1e-12)
            rest = cur.drop(index=shown.index)
            diff = welch_difference(shown[s], rest[s])
            assert_allclose(sc.loc[s, "vs_rest"], diff["est"], rtol=1e-12)
        n = nps(shown["nps"]).iloc[0]
        assert_allclose(sc.loc["nps", ["est", "ci_low", "ci_high"]].astype(float),
                        n[["est", "ci_low", "ci_high"]].astype(float), rtol=1e-12)
        means = sc.loc[["trust", "commitment", "satisfaction", "experience", "solution",
                        "service"], "est"]
        cat = relationship_category(pd.DataFrame([means.to_dict()])).iloc[0]
        assert p.category == (None if pd.isna(cat) else cat)
        weakest = means.sort_values(kind="stable").index[:3]
        assert [d.split(":")[0].lower() for d in p.discussion] == list(weakest)


def test_no_confidential_identifier_in_any_pack(packs, study):
    ids = confidential_identifiers(study)
    assert ids and all(MARKER_PATTERN.search(i) for i in ids)
    for p in packs.packs:
        shown = " ".join(map(str, [*p.respondents.to_numpy().ravel(), *p.comments["text"],
                                   *p.discussion, *p.flags, p.owner, p.account_name]))
        assert not pd.Series([shown]).str.contains(IDENT, case=False, regex=True).any(), \
            p.account_id
        withheld = p.respondents["name"] == NAME_WITHHELD
        assert not p.respondents.loc[~withheld, "name"].str.contains(IDENT, case=False).any()


def test_confidential_comments_unattributed_and_only_from_min(packs):
    for p in packs.packs:
        assert list(p.comments.columns) == ["field", "text"]
        if not p.confidential_included:
            assert p.comments.empty


def test_action_list(packs, study):
    a = packs.actions
    assert tuple(a.columns) == ACTION_COLUMNS
    frame = study.frame()
    invited = set(frame.loc[frame["wave"] == packs.wave, "account_id"].astype(str))
    assert set(a["account_id"]) == invited and a["account_id"].is_unique
    assert set(a["priority"]) <= set(PRIORITIES)
    assert (a["due_date"] == "").all()
    rank = a["priority"].map({p: i for i, p in enumerate(PRIORITIES)})
    assert rank.is_monotonic_increasing
    small = a.set_index("account_id").loc[SMALL_ACCOUNT_ID]
    # two confidential respondents only: nothing about them, not even their number
    assert small["n_respondents"] == 0 and small["category"] == "" and np.isnan(small["nps"])
    by_id = {p.account_id: p for p in packs.packs}
    for row in a.itertuples():
        if row.account_id in by_id:
            assert row.category == (by_id[row.account_id].category or "")
            assert row.n_respondents == by_id[row.account_id].n
        else:
            assert row.category == "" and "too few respondents for a pack" in row.risk_flags


def test_hidden_risk_flag_counts(packs, frame):
    cur = frame[frame["wave"] == packs.wave]
    for p in packs.packs:
        g = cur[cur["account_id"] == p.account_id]
        shown = g if p.confidential_included else g[~g["conf"]]
        k = int(((shown["nps"] >= 9) & ((shown["trust"] <= 4) | (shown["commitment"] <= 4))).sum())
        flag = [f for f in p.flags if f.startswith("hidden-risk")]
        assert flag == ([f"hidden-risk promoters: {k}"] if k else [])
        if flag:
            assert p.priority == "High"


def test_wave_choice_and_refusals(study):
    with pytest.raises(InsufficientDataError, match="fewer than"):
        account_packs(study, wave=99, n_boot=50)
    first = account_packs(study, wave=min(study.waves), n_boot=50)
    assert first.wave == min(study.waves)
    assert all(p.previous_label is None for p in first.packs)
    with pytest.raises(InsufficientDataError, match="no wave"):
        account_packs(study, min_cell_size=100_000, n_boot=50)


def test_theme_counts_equal_coding_of_the_comments_shown(packs):
    from crqlab.measures.themes import code_comments, load_themes

    themes = load_themes()
    for p in packs.packs:
        for fld in ("strengths", "weaknesses"):
            texts = pd.concat([p.respondents[fld], p.comments.loc[p.comments["field"] == fld,
                                                                  "text"]]).dropna()
            coded = code_comments(texts.reset_index(drop=True), themes)
            got = p.themes[p.themes["field"] == fld].set_index("theme")
            for t in themes.names:
                k = int(coded[t].sum())
                assert (got.loc[t, "count"] if t in got.index else 0) == k
            if len(got):
                assert (got["n"] == int(coded["commented"].sum())).all()
                assert ((got["ci_low"] <= got["est"]) & (got["est"] <= got["ci_high"])).all()


def test_protect_remainder_rule():
    # total 20; parts 8 and 9 leave 3 (< 5) unshown: the smaller part is withheld -> 11 left
    assert protect_remainder({"x": 20}, [{"x": 8}, {"x": 9}], 5) == {0}
    assert protect_remainder({"x": 22}, [{"x": 8}, {"x": 9}], 5) == set()  # 5 left: fine
    assert protect_remainder({"x": 17}, [{"x": 8}, {"x": 9}], 5) == set()  # nothing left
    # any score counts: nps answered by fewer
    assert protect_remainder({"x": 30, "nps": 19}, [{"x": 8, "nps": 8}, {"x": 9, "nps": 9}],
                             5) == {0}


def test_no_small_remainder_behind_the_packs(packs, frame):
    cur = frame[frame["wave"] == packs.wave]
    for s in ("trust", "crq_index", "nps"):
        shown = sum(int(p.scores.set_index("score").loc[s, "n"]) for p in packs.packs)
        left = int(cur[s].notna().sum()) - shown
        assert left == 0 or left >= packs.min_cell_size, s
    # the comparison group is everyone but those shown: its mean follows from shown numbers
    p = packs.packs[0]
    sc = p.scores.set_index("score")
    n_all = int(cur["trust"].notna().sum())
    rest_mean = (cur["trust"].sum() - sc.loc["trust", "est"] * sc.loc["trust", "n"]) / (
        n_all - sc.loc["trust", "n"])
    assert_allclose(sc.loc["trust", "est"] - rest_mean, sc.loc["trust", "vs_rest"], rtol=1e-9)
