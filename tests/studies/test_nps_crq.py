"""crqlab.studies.nps_crq: the study logic of notebook 40 on small hand-made frames.

Each section is checked for what it records (names, order, the estimator's numbers), for the
sentence it words from those numbers, and for the "cannot run because" branches. The frames are
simulated with planted structure: commitment drives the NPS answer, an account's level drives
retention, satisfaction carries an account-wave shock that trust does not (so it is the more
volatile) and commitment one too (so NPS and the CRQ index move together within accounts).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crqlab.data.study import load_study
from crqlab.measures.scoring import score_items
from crqlab.models import association, prediction
from crqlab.studies import nps_crq

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
ELEMENTS = ["trust", "commitment", "satisfaction", "experience", "solution", "service"]
TARGETS = ("crq_index", *ELEMENTS)
N_BOOT = 40  # wiring, not interval precision


def _frame(n_acc: int = 24, waves=(1, 2, 3), per: int = 5, seed: int = 3) -> pd.DataFrame:
    """Respondents in accounts and waves with planted structure (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows = []
    acc = rng.normal(0, 0.6, n_acc)
    for a in range(n_acc):
        for w in waves:
            shock = rng.normal(0, 0.5)  # account-wave shock of satisfaction only
            moved = rng.normal(0, 0.5)  # and of commitment, which drives the NPS answer
            retained = float(rng.random() < 1 / (1 + np.exp(-(1.0 + 3 * acc[a]))))
            for _ in range(per):
                e = rng.normal(0, 0.7, 6)
                s = dict(zip(ELEMENTS, 4.5 + acc[a] + e))
                s["satisfaction"] += 1.5 * shock
                s["commitment"] += moved
                s = {k: float(np.clip(v, 1, 7)) for k, v in s.items()}
                nps = np.clip(np.round(5 + 1.6 * (s["commitment"] - 4.5) + rng.normal(0, 1)), 0, 10)
                rows.append({"account_id": f"A{a:02d}", "wave": w, **s, "nps": float(nps),
                             "retained_next_wave": retained if w < max(waves) else np.nan})
    data = pd.DataFrame(rows)
    data["crq_index"] = data[ELEMENTS].mean(axis=1)
    cats = np.array(["Ambassadors", "Rationals", "Ambivalents", "Stalkers", "Opponents"])
    data["relationship_category"] = cats[np.clip(((7 - data["crq_index"]) / 1.0).astype(int),
                                                 0, 4)]
    return data


def _design(data: pd.DataFrame, min_cell: int = 5) -> nps_crq.Design:
    waves = tuple(sorted(int(w) for w in data["wave"].unique()))
    return nps_crq.Design(client="Client <b>", study="demo", targets=TARGETS, waves=waves,
                          wave_labels={w: str(2020 + w) for w in waves},
                          n_respondents=len(data), n_accounts=data["account_id"].nunique(),
                          n_pairs=int(data[["nps", "crq_index"]].notna().all(axis=1).sum()),
                          min_cell=min_cell, ci=0.95)


@pytest.fixture(scope="module")
def data():
    return _frame()


@pytest.fixture(scope="module")
def design(data):
    return _design(data)


@pytest.fixture(scope="module")
def one_wave():
    d = _frame(waves=(1,))
    return d, _design(d)


def _names(step):
    return [r.name for r in step.records]


def _value(step, name):
    return next(r.value for r in step.records if r.name == name)


def _record(step, name):
    return next(r for r in step.records if r.name == name)


# -- set-up ------------------------------------------------------------------------------------
def test_scored_frame_and_describe_on_the_fixture_study():
    study = load_study(FIXTURE)
    data = nps_crq.scored_frame(study)
    respondents = study.respondents()
    scores = score_items(respondents, study.instrument, facets=False, levels=False)
    assert len(data) == len(respondents) == 55
    pd.testing.assert_series_equal(data["crq_index"], scores["crq_index"])
    assert data["nps"].dtype == float and data["nps"].isna().sum() == 1  # one planted missing
    assert data["relationship_category"].notna().any()
    assert not {"contact_name", "contact_email"} & set(data.columns)
    d = nps_crq.describe(study, data, min_cell=5, ci=0.9)
    assert d.targets == TARGETS and d.index_name == "crq_index" and d.elements == ELEMENTS
    assert d.waves == (1, 2) and d.latest == 2 and d.wave_labels[1] == study.wave_label(1)
    assert (d.n_respondents, d.n_accounts) == (55, respondents["account_id"].nunique())
    assert d.n_pairs == int((data["nps"].notna() & data["crq_index"].notna()).sum())
    assert d.pct == "90%" and d.label("nps") == "NPS (net score)"
    assert d.label("crq_index") == "CRQ index" and d.label("trust") == "trust"


def test_sample_records_counts_and_words_them(design, one_wave):
    step = nps_crq.sample(design)
    assert step.records[0] == ("sample.n_respondents", 360,
                               {"n_accounts": 24, "label": "Responses analysed"})
    assert _names(step) == ["sample.n_respondents", "sample.n_waves", "sample.min_cell_size"]
    assert step.text[0].startswith("Client <b> (demo): 360 responses from 24 accounts in 3 waves "
                                   "(2021, 2022, 2023). 360 responses have both")
    assert "in 1 wave (2021)" in nps_crq.sample(one_wave[1]).text[0]


@pytest.mark.parametrize("r, word", [(0.05, "negligible"), (-0.2, "weak"), (0.3, "moderate"),
                                     (-0.49, "moderate"), (0.5, "strong")])
def test_strength_follows_cohen(r, word):
    assert nps_crq.strength(r) == word


# -- correlations ------------------------------------------------------------------------------
def test_respondent_correlations_record_the_estimator_and_word_it(data, design):
    step = nps_crq.respondent_correlations(data, design)
    expected = association.correlations(data, x="nps", y=list(TARGETS))
    assert _names(step)[:3] == ["corr.nps_crq_index.pearson", "corr.nps_crq_index.spearman",
                                "corr.nps_crq_index.kendall"]
    assert len(step.records) == 7 * 3 + 1 and step.records[-1].name == "corr.respondent"
    headline = [r.name for r in step.records if r.options.get("headline")]
    assert headline == ["corr.nps_crq_index.pearson"]
    pd.testing.assert_frame_equal(step.table, expected)
    r = expected.query("y == 'crq_index' and method == 'pearson'").iloc[0]
    assert step.headline["est"] == r["est"]
    assert f"r = {r['est']:.2f} [95% CI {r['ci_low']:.2f} to {r['ci_high']:.2f}]" in step.text[0]
    pear = expected[expected["method"] == "pearson"].set_index("y").loc[ELEMENTS, "est"]
    assert pear.idxmax() == "commitment"  # planted: commitment drives the answer
    assert "the highest estimate is for commitment" in step.text[0]
    assert step.text[0].endswith("their intervals do not overlap, so the order is clear.")
    assert list(step.shown.columns) == ["NPS answer with", "Pearson r", "Spearman ρ",
                                        "Kendall τ-b", "n"]
    assert step.shown["NPS answer with"].iloc[0] == "CRQ index" and step.shown["n"].iloc[0] == "360"
    assert step.summary[0].startswith("Respondents: NPS answer and CRQ index correlate r = ")


@pytest.mark.parametrize("r, start, words", [
    ({"est": 0.7, "ci_low": 0.6, "ci_high": 0.8}, "The whole interval lies above 0.5",
     "holds between respondents"),
    ({"est": 0.55, "ci_low": 0.45, "ci_high": 0.65}, "The interval reaches across 0.5 (the "
     "estimate is strong)", "the data cannot tell"),
    ({"est": 0.45, "ci_low": 0.4, "ci_high": 0.52}, "The interval reaches across 0.5 (the "
     "estimate is below 0.5)", "the data cannot tell"),
    ({"est": 0.3, "ci_low": 0.2, "ci_high": 0.4}, "The whole interval lies below 0.5",
     "the data contradict"),
])
def test_high_correlation_claim_follows_the_interval(r, start, words):
    claim = nps_crq._high_correlation_claim(r)
    assert claim.startswith(start) and words in claim
    assert ("holds" in claim) == (r["ci_low"] > 0.5)  # "holds" only when the interval says so
    if r["est"] == 0.3:
        assert "share 9% of their variance" in claim  # 0.3² = 9%


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_constant_answers_skip_the_respondent_correlations(data, design):
    step = nps_crq.respondent_correlations(data.assign(nps=7.0), design)
    assert step.table is None and step.text == [] and step.summary == []
    assert _names(step) == ["skipped.corr_respondent"]
    assert step.skipped[0].startswith("Correlations between respondents: ")
    assert np.isnan(step.headline["est"])


def test_account_correlations_per_account_and_account_wave(data, design):
    r_resp = {"est": 0.0, "ci_low": -0.1, "ci_high": -0.05}  # far below: "higher than"
    step = nps_crq.account_correlations(data, design, r_resp)
    acc = step.table
    assert set(acc["unit"]) == {"account", "account_wave"}
    mine = acc[(acc["unit"] == "account") & (acc["method"] == "pearson")].reset_index(drop=True)
    ref = association.account_correlations(data, x="nps", y=list(TARGETS), methods=("pearson",))
    np.testing.assert_allclose(mine["est"], ref["est"], rtol=1e-12)
    assert len(step.records) == 7 * 2 * 2 + 1
    assert step.records[0].options == {"n_accounts": 24}
    assert "correlation is higher than the respondent-level one" in step.text[0]
    assert "more consistently than they rank people" in step.text[0]
    assert step.shown["units"].iloc[0] == "24" and step.shown["unit"].tolist()[:2] == [
        "account", "account and wave"]
    assert step.summary[0].endswith("(24 accounts, weighted by respondents).")


def test_account_correlations_one_wave_and_too_few_accounts(one_wave):
    data, design = one_wave
    step = nps_crq.account_correlations(data, design, {"est": 0.5, "ci_low": 0.4,
                                                        "ci_high": 0.6})
    assert set(step.table["unit"]) == {"account"} and "per account, r = " in step.text[0]
    few = data[data["account_id"].isin(["A00", "A01", "A02"])]
    skipped = nps_crq.account_correlations(few, _design(few), {"est": 0.5})
    assert _names(skipped) == ["skipped.corr_account_account"] and skipped.table is None
    assert skipped.skipped[0].startswith("Account-level correlations (account): ")


def test_repeated_measures_needs_two_waves(data, design, one_wave):
    step = nps_crq.repeated_measures(one_wave[0], one_wave[1], {"est": 0.4})
    assert _names(step) == ["skipped.rm_corr"]
    assert step.skipped[0] == ("The study has one wave (2021; 120 responses from 24 accounts): "
                               "change within an account needs at least two waves.")
    step = nps_crq.repeated_measures(data, design, {"est": 0.4})
    ref = association.rm_corr(data, x="nps", y="crq_index", within="wave").iloc[0]
    first = step.records[0]
    assert first.name == "rm_corr.nps_crq_index" and first.options["headline"]
    assert first.value["est"] == ref["est"] and first.options["n_accounts"] == 24
    assert "its NPS answer rises with it" in step.text[0]  # planted: a positive co-movement
    assert step.shown["account-waves"].iloc[0] == "72" and step.shown["accounts"].iloc[0] == "24"


def test_within_between_records_the_model_and_words_the_contextual_effect(data, design):
    # planted: NPS rises with the account's mean index far more than within it
    boosted = data.assign(nps=data["nps"] + 3 * (data.groupby("account_id")["crq_index"]
                                                 .transform("mean") - 4.5))
    step = nps_crq.within_between(boosted, design)
    ref = association.within_between(boosted, y="nps", x="crq_index").set_index("term")
    assert _names(step)[:2] == ["within_between.intercept", "within_between.crq_index_within"]
    assert _value(step, "within_between.contextual")["est"] == ref.loc["contextual", "est"]
    assert ref.loc["contextual", "est"] > 0 and ref.loc["contextual", "p_value"] < 0.05
    assert step.text[0].startswith("Variance components: between accounts ")
    assert "the association is stronger between accounts than within them" in step.text[1]
    assert list(step.shown.columns) == ["term", "NPS answer points per CRQ point [95% CI]", "z",
                                        "p"]
    assert "var_account" not in set(step.shown["term"])  # only terms with a standard error


def test_within_between_not_estimable_is_skipped(design):
    tiny = pd.DataFrame({"account_id": ["A", "A", "B"], "wave": 1, "nps": [5.0, 6.0, 7.0],
                         "crq_index": [4.0, 5.0, 6.0]})
    step = nps_crq.within_between(tiny, design)
    assert _names(step) == ["skipped.within_between"]
    assert step.skipped[0].startswith("Within/between-account model: ")


# -- drivers and categories --------------------------------------------------------------------
def test_drivers_find_the_planted_driver(data, design):
    step = nps_crq.drivers(data, design, n_boot=N_BOOT, seed=1)
    rw = step.table[(step.table["measure"] == "relative_weight")
                    & (step.table["predictor"] != "r_squared")]
    assert rw["share"].sum() == pytest.approx(1)  # relative weights split R² whole
    assert _value(step, "drivers.top") == "commitment" == step.plot["predictor"].iloc[0]
    assert step.records[-1] == ("drivers.top", "commitment", {"label": "Strongest driver of NPS"})
    assert len([n for n in _names(step) if "_share." in n]) == 12
    assert step.plot_n == {"n": 360, "n_accounts": 24}
    assert step.shown["rank"].tolist() == sorted(step.shown["rank"])
    assert "commitment carries" in step.text[0] and step.summary[0].startswith("Drivers: ")


def test_drivers_need_two_accounts(data):
    one = data[data["account_id"] == "A00"]
    step = nps_crq.drivers(one, _design(one), n_boot=N_BOOT, seed=1)
    assert step.skipped == ["Driver analysis: the account-clustered bootstrap needs at least 2 "
                            "accounts, n_accounts=1."]


def test_crosstab_matches_chi_square_and_hides_small_cells(data, design):
    step = nps_crq.crosstab(data, design)
    cats = pd.cut(data["nps"], [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"])
    observed = pd.crosstab(cats, data["relationship_category"])
    observed = observed.loc[observed.sum(axis=1) > 0, observed.sum(axis=0) > 0]
    chi2, p, dof, _ = stats.chi2_contingency(observed, correction=False)
    rec = step.records[1]
    assert rec.name == "crosstab.chisq" and rec.value == pytest.approx(chi2, rel=1e-12)
    assert rec.options["df"] == dof and rec.options["p_value"] == pytest.approx(p, rel=1e-9)
    assert step.records[0].options == {"min_cell_size": 5}
    small = step.table["suppressed"]
    assert small.any()  # the simulated table has small cells
    assert (step.shown == "suppressed").sum().sum() >= small.sum()
    assert step.shown["NPS category"].tolist() == ["promoter", "passive", "detractor"]
    assert "NPS category and relationship category are associated (χ²(" in step.text[0]


def test_crosstab_of_one_category_is_skipped(data, design):
    step = nps_crq.crosstab(data.assign(relationship_category="Rationals"), design)
    assert _names(step) == ["skipped.crosstab"]
    assert step.skipped[0].startswith("NPS x relationship category: chi-square needs")


# -- hidden risk -------------------------------------------------------------------------------
def _promoters() -> pd.DataFrame:
    """Latest wave: account P has 6 respondents (5 promoters, 2 with trust <= 4), account Q 3
    (2 promoters, 1 with commitment <= 4); an older wave's low-trust promoter does not count."""
    rows = [("P", 2, 10, 3.5, 6.0), ("P", 2, 9, 4.0, 6.0), ("P", 2, 9, 6.0, 6.0),
            ("P", 2, 10, 6.0, 5.0), ("P", 2, 9, 5.0, 5.0), ("P", 2, 3, 2.0, 2.0),
            ("Q", 2, 9, 6.0, 3.0), ("Q", 2, 10, 6.0, 6.0), ("Q", 2, 7, 3.0, 3.0),
            ("P", 1, 10, 1.0, 1.0)]
    return pd.DataFrame(rows, columns=["account_id", "wave", "nps", "trust", "commitment"])


def test_hidden_risk_counts_lists_and_names():
    frame = _promoters()
    d = nps_crq.Design("c", "s", TARGETS, (1, 2), {1: "2021", 2: "2022"}, len(frame), 2, 10, 5)
    accounts = pd.DataFrame({"account_id": ["P", "Q"], "account_name": ["Pear plc", "Quince"]})
    step = nps_crq.hidden_risk(frame, d, accounts, trust_max=4.0, commitment_max=4.0,
                               n_boot=N_BOOT, seed=2)
    share = step.records[0]
    assert share.name == "hidden_risk.share_promoters" and share.value == pytest.approx(3 / 7)
    assert share.options["n"] == 7 and share.options["n_accounts"] == 2
    assert share.options["label"] == "Promoters with trust ≤ 4.0 or commitment ≤ 4.0"
    lo, hi = share.options["ci"]
    assert 0 <= lo <= 3 / 7 <= hi <= 1
    assert _value(step, "hidden_risk.accounts_flagged") == 2  # P and Q
    assert _value(step, "hidden_risk.accounts_listed") == 1  # Q has 3 < 5 respondents
    listed = _value(step, "hidden_risk.accounts")
    assert listed[["account_id", "account_name", "n", "n_hidden_risk"]].values.tolist() == [
        ["P", "Pear plc", 6, 2]]  # no industry column: listed without it
    assert step.shown["share of promoters"].tolist() == ["40%"]  # 2 of P's 5 promoters
    assert step.text[0].startswith("In wave 2022, 3 of 7 promoters (43% [95% CI ")
    assert "They sit in 2 accounts. Listed below: 1 with at least 5" in step.text[0]


def test_hidden_risk_needs_min_cell_promoters():
    frame = _promoters()
    d = nps_crq.Design("c", "s", TARGETS, (1, 2), {1: "2021", 2: "2022"}, len(frame), 2, 10, 8)
    step = nps_crq.hidden_risk(frame, d, None, 4.0, 4.0, n_boot=N_BOOT, seed=2)
    assert step.skipped == ["7 promoters in wave 2022: fewer than the minimum cell size of 8."]
    assert _names(step) == ["skipped.hidden_risk"]


# -- retention ---------------------------------------------------------------------------------
def test_net_score_frame():
    out = nps_crq.net_score_frame(pd.DataFrame({"nps": [10.0, 8.0, 6.0, np.nan, 9.0]}))
    assert out["nps"].tolist()[:3] == [100.0, 0.0, -100.0] and np.isnan(out["nps"].iloc[3])
    assert out["nps_mean"].tolist()[:3] == [10.0, 8.0, 6.0]


def test_retention_ranks_the_measures_like_the_estimator(data, design):
    step = nps_crq.retention(data, design, "retained_next_wave", n_boot=N_BOOT, seed=4)
    measures = ["nps", "nps_mean", "crq_index", "commitment", "trust", "satisfaction"]
    ref = prediction.predictive_validity(nps_crq.net_score_frame(data), "retained_next_wave",
                                         predictors=measures, n_boot=N_BOOT, seed=4)
    pd.testing.assert_frame_equal(step.table, ref)
    aucs = {m: _value(step, f"auc.{m}")["est"] for m in measures}
    assert _value(step, "best_predictor") == design.label(max(aucs, key=aucs.get))
    units = prediction.outcome_units(nps_crq.net_score_frame(data), "retained_next_wave",
                                     measures).dropna(subset=measures)
    assert len(units) == 48  # 24 accounts x the 2 waves whose outcome is known
    assert step.records[-1].name == "auc_diff.nps_vs_crq_index"
    assert _value(step, "retention.n_events") == int(units["retained_next_wave"].sum())
    assert len([n for n in _names(step) if n.startswith("auc_diff_vs_best.")]) == 5
    assert step.plot_n == {"n": 48, "n_accounts": 24}
    best = design.label(ref["predictor"].iloc[0])
    assert step.text[0].startswith("Over 48 account-waves (24 accounts; ")
    assert f"{best} has the highest AUC, " in step.text[0]
    assert step.summary[0].startswith(f"Retention: {best} has the highest AUC (")
    second = design.label(ref["predictor"].iloc[1])
    assert f"), no clear difference from {second}; NPS AUC" in step.summary[0]  # planted: small n
    assert _record(step, "best_predictor").options["note"].startswith("no clear difference from")


def test_retention_cannot_run_without_an_observed_consistent_outcome(data, design):
    absent = nps_crq.retention(data.drop(columns="retained_next_wave"), design,
                               "retained_next_wave", n_boot=N_BOOT, seed=4)
    assert "no 'retained next wave' column" in absent.skipped[0]
    assert "(24 accounts, 360 responses)" in absent.skipped[0]
    unobserved = nps_crq.retention(data.assign(retained_next_wave=np.nan), design,
                                   "retained_next_wave", n_boot=N_BOOT, seed=4)
    assert "is not observed for any of the 24 accounts (3 waves:" in unobserved.skipped[0]
    mixed = data.copy()
    mixed.loc[mixed.index[0], "retained_next_wave"] = 1 - mixed.loc[mixed.index[1],
                                                                    "retained_next_wave"]
    disagree = nps_crq.retention(mixed, design, "retained_next_wave", n_boot=N_BOOT, seed=4)
    assert disagree.skipped[0].startswith("'retained next wave' cannot be used as an account "
                                          "outcome: ")
    for step in (absent, unobserved, disagree):
        assert _names(step) == ["skipped.retention"] and step.table is None


def _ranking(best: str, highs: list[float]) -> pd.DataFrame:
    """A ranking of three measures; ``highs`` are the upper bounds of the differences from the
    best (below 0: significantly worse)."""
    preds = [best] + [p for p in ("nps", "commitment", "trust") if p != best]
    return pd.DataFrame({"rank": [1, 2, 3], "predictor": preds, "est": [0.8, 0.7, 0.6],
                         "ci_low": [0.7, 0.6, 0.5], "ci_high": [0.9, 0.8, 0.7],
                         "diff_est": [np.nan, -0.1, -0.2], "diff_ci_low": [np.nan, -0.2, -0.3],
                         "diff_ci_high": [np.nan] + highs, "boot_p_value": [np.nan, 0.02, 0.3]})


@pytest.mark.parametrize("best, highs, start", [
    ("nps", [-0.01, -0.05], "NPS predicts retention better than every other measure here"),
    ("nps", [-0.01, 0.05], "NPS has the highest AUC, but there is no clear difference from "
                           "trust (the intervals"),
    ("commitment", [-0.01, 0.05], "NPS is not the best predictor of retention: commitment "
                                  "predicts better (AUC difference -0.100 [95% CI -0.200 to "
                                  "-0.010])"),
    ("trust", [0.05, -0.01], "NPS does not have the highest AUC (trust does), but there is no "
                             "clear difference between them (AUC difference -0.100 [95% CI "
                             "-0.200 to 0.050])"),
])
def test_retention_verdict(best, highs, start, design):
    verdict, rank = nps_crq._retention_verdict(_ranking(best, highs), design)
    assert verdict.startswith(start)
    assert "significantly" not in verdict and "though not" not in verdict
    assert (rank is None) == (best == "nps")
    if rank:
        assert rank.startswith("NPS (net score) ranks 2 of 3 with AUC 0.70 [95% CI 0.60 to 0.80]")


# -- volatility and summary --------------------------------------------------------------------
def test_volatility_finds_the_planted_volatile_satisfaction(data, design, one_wave):
    step = nps_crq.volatility(data, design)
    ref = association.volatility(data).set_index("measure")
    diff = _value(step, "volatility.difference")
    assert diff["est"] == ref.loc["difference", "est"] and diff["ci_low"] > 0
    assert _names(step) == ["volatility", "volatility.satisfaction", "volatility.trust",
                            "volatility.difference"]
    assert "satisfaction is more volatile than trust. A single wave's" in step.text[0]
    assert step.shown["accounts"].tolist() == ["24"] * 3
    assert step.summary[0].endswith("(24 accounts): satisfaction is more volatile than trust.")
    one = nps_crq.volatility(*one_wave)
    assert one.skipped == ["The study has one wave (2021; 24 accounts): wave-to-wave change "
                           "needs at least two waves."]
    few = data[data["account_id"].isin(["A00", "A01"])]
    assert nps_crq.volatility(few, _design(few)).skipped[0].startswith(
        "Volatility: volatility needs at least 3 accounts")


def test_summary_keeps_the_order_of_the_steps():
    a, b = nps_crq.Step(summary=["first"]), nps_crq.Step(summary=["second", "third"])
    assert nps_crq.summary(a, nps_crq.Step(), b) == ["first", "second", "third"]
    assert nps_crq.summary(nps_crq.Step()) == []


def test_step_skip_records_the_reason_in_order():
    step = nps_crq.Step()
    step.record("x", 1.0, n=3)
    assert step.skip("part", "too few") is step
    assert step.records == [("x", 1.0, {"n": 3}), ("skipped.part", "too few", {})]
    assert step.skipped == ["too few"]


# -- the one wording rule (issue 16 item 3): words of direction follow the intervals ------------
def test_apart_gives_conservative_bounds_that_exclude_zero_only_without_overlap():
    a, b = {"est": 0.5, "ci_low": 0.4, "ci_high": 0.6}, {"est": 0.3, "ci_low": 0.2, "ci_high": 0.35}
    assert nps_crq._apart(a, b) == pytest.approx((0.05, 0.4))
    assert nps_crq._apart(a, {"est": 0.4, "ci_low": 0.3, "ci_high": 0.45})[0] < 0  # overlap


def test_account_comparison_without_a_clear_difference_says_so(data, design):
    step = nps_crq.account_correlations(data, design, {"est": 0.6, "ci_low": 0.0, "ci_high": 0.99})
    assert "is not clearly different from the respondent-level one" in step.text[0]
    assert "no clear difference: the intervals overlap" in step.text[0]
    assert "higher than" not in step.text[0] and "lower than" not in step.text[0]


def test_within_between_and_crosstab_words_follow_the_statistics(design):
    t = pd.DataFrame({
        "term": ["crq_index_within", "crq_index_between", "contextual", "var_account",
                 "var_residual", "icc"],
        "est": [1.0, 1.2, 0.2, 0.5, 2.0, 0.2], "ci_low": [0.8, 0.9, -0.1, np.nan, np.nan, np.nan],
        "ci_high": [1.2, 1.5, 0.5, np.nan, np.nan, np.nan],
        "p_value": [0.0, 0.0, 0.01, *[np.nan] * 3],
        "n": [300] * 6, "n_accounts": [30] * 6}).set_index("term")
    words = nps_crq._within_between_text(t, design)[1]
    # p = 0.01 but the interval holds zero: the interval decides, as everywhere
    assert "no clear difference between the within- and between-account associations" in words
    t.loc["contextual", ["ci_low", "ci_high"]] = [0.05, 0.5]
    words = nps_crq._within_between_text(t, design)[1]
    assert "stronger between accounts than within them" in words
    xtab = pd.DataFrame({"nps_category": ["promoter"], "relationship_category": ["Ambassadors"],
                         "row_share": [0.5]})
    test = {"df": 8, "stat": 9.0, "p_value": 0.34, "cramers_v": 0.1, "n": 200, "min_expected": 6}
    calm = nps_crq._crosstab_text(xtab, test, 0.05)
    assert "show no clear difference: no clear association at the 0.05 level" in calm
    assert "are associated" not in calm and "interchangeable" not in calm
    assert "are associated" in nps_crq._crosstab_text(xtab, test | {"p_value": 0.01}, 0.05)


# -- the study's own bias: the correlation among confidential respondents (issue 16 item 2) ----
@pytest.fixture(scope="module")
def inflated():
    """A study whose named answers are inflated most by the less committed (the ``commitment``
    structure of crqlab.synth) and its planted correlation: the honest 0-10 answer with the
    honest CRQ index over every invited contact of every wave."""
    from crqlab import synth
    from generalisation.coverage import respondents as synthetic_respondents

    study = synth.generate("sample", seed=2, **synth.STRUCTURES["commitment"])
    truth = float(np.corrcoef(study.latent["honest_nps"], study.latent["honest_crq_index"])[0, 1])
    return synthetic_respondents(study), truth


def test_confidential_correlation_is_closer_to_the_planted_one(inflated):
    frame, truth = inflated
    design = _design(frame)
    reported = nps_crq.respondent_correlations(frame, design).headline
    step = nps_crq.confidential_correlation(frame, design, reported)
    r = _value(step, "corr.nps_crq_index.confidential")
    conf = frame[frame["confidential"].eq(True)].dropna(subset=["nps", "crq_index"])
    ref = association.correlations(conf, x="nps", y=["crq_index"], methods=("pearson",)).iloc[0]
    assert r["est"] == ref["est"] and r["n"] == len(conf)
    # inflation that goes with commitment flattens the reported r; confidential answers are free
    # of it and their interval holds the planted value
    assert abs(r["est"] - truth) < abs(reported["est"] - truth) - 0.05
    assert r["ci_low"] <= truth <= r["ci_high"] and not reported["ci_high"] >= truth
    rec = _record(step, "corr.nps_crq_index.confidential")
    assert rec.options["headline"] and rec.options["n_accounts"] == conf["account_id"].nunique()
    assert step.text[0].startswith("Controlled for the study's own bias: among the ")
    # the words follow the statistics: "below" only when the reported r is under the interval
    where = "below" if reported["est"] < r["ci_low"] else "inside"
    assert f"The reported value lies {where} the confidential respondents' interval" in step.text[0]
    assert step.text[0].endswith(nps_crq.CONFIDENTIAL_ASSUMPTIONS)
    assert step.shown["respondents"].tolist() == ["all (as reported)", "confidential only"]


def test_confidential_correlation_cannot_run_because(data, design):
    none = nps_crq.confidential_correlation(data, design, {"est": 0.5})
    assert _names(none) == ["skipped.corr_confidential"] and none.table is None
    assert none.skipped[0].startswith("No respondent answered confidentially")
    few = data.assign(confidential=np.arange(len(data)) < 6)
    assert nps_crq.confidential_correlation(few, design, {"est": 0.5}).skipped == [
        "Fewer than 10 confidential respondents with both scores: too few for a correlation."]


# -- findings (issue 17 item 1) ------------------------------------------------------------------
def test_findings_answer_the_question_with_estimate_interval_and_n(data, design):
    from crqlab.reports import results
    from crqlab.reports.rendering import finding_text

    corr = nps_crq.respondent_correlations(data, design)
    conf = nps_crq.confidential_correlation(
        data.assign(confidential=np.arange(len(data)) % 3 == 0), design, corr.headline)
    ret = nps_crq.retention(data, design, "retained_next_wave", n_boot=N_BOOT, seed=4)
    found = nps_crq.findings(corr, conf, ret, design)
    assert [f["quantity"] for f in found] == [
        "corr.nps_crq_index.pearson", "corr.nps_crq_index.confidential",
        f"auc.{ret.table['predictor'].iloc[0]}", "auc_diff.nps_vs_crq_index"]
    assert {f["question"] for f in found} == {nps_crq.QUESTION}
    r = corr.headline
    assert found[0]["est"] == r["est"] and found[0]["ci"] == (r["ci_low"], r["ci_high"])
    claim = "holds" if r["ci_low"] > 0.5 else "cannot tell" if r["ci_high"] > 0.5 else "contradict"
    assert claim in found[0]["text"]
    second = ret.table.iloc[1]
    lead = "a clear lead" if second["diff_ci_high"] < 0 else "no clear difference from"
    assert lead in found[2]["text"]
    rec = results.Recorder(min_cell_size=5)
    for f in found:  # each is a valid finding: evidence present, no machine-room text
        rec.finding(**f)
    assert all("{" not in finding_text(f) for f in rec.as_dict()["findings"])


def test_findings_say_why_when_a_part_cannot_run(one_wave):
    data, design = one_wave
    corr = nps_crq.respondent_correlations(data, design)
    none = nps_crq.findings(corr, nps_crq.Step(), nps_crq.retention(
        data.drop(columns="retained_next_wave"), design, "retained_next_wave", 10, 1), design)
    assert len(none) == 2 and none[1]["why_not"] == "retention could not be analysed"
    assert none[1]["text"].startswith("Which measure predicts retention could not be tested on "
                                      "these data: The study has no 'retained next wave' column")
