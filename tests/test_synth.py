"""Tests of crqlab.synth: the data contract, determinism, and recovery of the planted truth."""
from __future__ import annotations

import filecmp
import json

import numpy as np
import pandas as pd
import pytest

from crqlab.data.instruments import load_instrument
from crqlab.paths import SAMPLE_STUDY
from crqlab.synth import PRESETS, OutputExistsError, SynthError, generate, write_study

FILES = ("contacts.csv", "responses.csv", "accounts.csv", "study.yaml", "truth.json")


@pytest.fixture(scope="module")
def tiny():
    return generate("tiny", seed=3)


def test_tables_follow_the_contract(tiny):
    crq = load_instrument("crq")
    c, r, a = tiny.contacts, tiny.responses, tiny.accounts
    assert {"wave", "contact_id", "account_id", "role", "responded", "newly_included", "invited_on",
            "responded_on", "reminders", "days_to_respond", "tenure_years", "confidential",
            "contact_name", "contact_email"} <= set(c.columns)
    assert set(crq.items) | {"wave", "contact_id", "nps", "strengths", "weaknesses"} <= set(r.columns)
    assert not c.duplicated(["wave", "contact_id"]).any()
    assert not a.duplicated(["wave", "account_id"]).any()
    # every response is a responded contact of the frame, and only those
    keys = c.loc[c["responded"].astype(bool), ["wave", "contact_id"]]
    pd.testing.assert_frame_equal(keys.reset_index(drop=True),
                                  r[["wave", "contact_id"]].reset_index(drop=True))
    items = r[crq.items].to_numpy(dtype=float, na_value=np.nan)
    assert np.nanmin(items) >= 1 and np.nanmax(items) <= 7
    assert r["nps"].between(0, 10).all()
    assert set(c["reminders"].unique()) <= {0, 1, 2}
    assert a.loc[a["wave"] == a["wave"].max(), "retained_next_wave"].isna().all()
    assert a.loc[a["wave"] < a["wave"].max(), "retained_next_wave"].notna().all()
    assert c["contact_email"].str.endswith(".example.com").all()
    assert c["wave"].nunique() == 3 and c.groupby("wave")["newly_included"].any().all()


def test_write_study_is_deterministic_and_refuses_to_overwrite(tmp_path):
    a = write_study("tiny", seed=5, out=tmp_path / "a")
    b = write_study("tiny", seed=5, out=tmp_path / "b")
    c = write_study("tiny", seed=6, out=tmp_path / "c")
    for f in FILES:
        assert filecmp.cmp(a / f, b / f, shallow=False), f
    assert not filecmp.cmp(a / "responses.csv", c / "responses.csv", shallow=False)
    with pytest.raises(OutputExistsError):
        write_study("tiny", seed=5, out=a)
    write_study("tiny", seed=6, out=a, force=True)
    assert filecmp.cmp(a / "responses.csv", c / "responses.csv", shallow=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary left


def test_committed_sample_is_reproducible(tmp_path):
    out = write_study("sample", seed=2023, out=tmp_path / "sample")
    for f in FILES:
        assert filecmp.cmp(out / f, SAMPLE_STUDY / f, shallow=False), f


def test_unknown_preset_and_parameter_are_refused():
    with pytest.raises(SynthError):
        generate("nope")
    with pytest.raises(SynthError):
        generate("tiny", not_a_field=1)
    with pytest.raises(SynthError):
        generate("tiny", response_rate=(0.5, 0.5))  # three waves, two rates


def test_truth_is_json_and_complete(tiny):
    text = json.dumps(tiny.truth, sort_keys=True)
    truth = json.loads(text)
    assert set(truth["waves"]) == {"1", "2", "3"}
    w = truth["waves"]["2"]
    for key in ("nps", "nps_mean", "crq_index", "trust", "commitment", "satisfaction",
                "experience", "solution", "service"):
        assert key in w["population"] and key in w["model"] and key in w["population_reported"]
    assert -100 <= w["population"]["nps"] <= 100
    paths = {(p["from"], p["to"]): p["std_all"] for p in truth["paths"]}
    assert paths[("trust", "commitment")] == PRESETS["tiny"].crq_paths[6][2]
    assert truth["inflation"]["latent_item"] == PRESETS["tiny"].inflation_item


# ---------------------------------------------------------------------------------------------
# Recovery of the planted truth on large studies (the tiny preset with 3,000 accounts: about
# 25,000 invited contacts per wave, generated in a second or two).

CRQ = load_instrument("crq")
BIG = {"n_accounts": 3000}
# Missing at random by construction: response and timing do not depend on the latents, no
# survivorship (retention independent of commitment), and confidentiality is a coin flip.
MAR = {"resp_nmar": 0.0, "resp_privacy": 0.0, "late_quality": 0.0, "retention_slope": 0.0,
       "conf_dissatisfaction": 0.0, "conf_privacy": 0.0, "conf_rate": 0.5, "conf_rate_new": 0.5,
       "confidentiality": ("optional",) * 3}


@pytest.fixture(scope="module")
def big():
    """Default (not-at-random) mechanisms, confidentiality optional in every wave."""
    return generate("tiny", seed=11, confidentiality=("optional",) * 3, **BIG)


@pytest.fixture(scope="module")
def big_mar():
    return generate("tiny", seed=12, **BIG, **MAR)


def _crq_index(responses: pd.DataFrame) -> np.ndarray:
    from crqlab.measures.scoring import score_items

    return score_items(responses, CRQ, facets=False, levels=False)[CRQ.index_name].to_numpy()


def _named(responses: pd.DataFrame) -> np.ndarray:
    return ~responses["confidential"].astype(bool).to_numpy()


def test_population_matches_the_analytic_model(big_mar):
    # The realised honest answers of all invited contacts against the closed-form expectation
    # under the latent model (normal latents through the thresholds): checks the simulation.
    for w, t in big_mar.truth["waves"].items():
        assert t["population"]["n"] > 20000
        assert abs(t["population"]["nps"] - t["model"]["nps"]) < 2.0, w
        assert abs(t["population"]["crq_index"] - t["model"]["crq_index"]) < 0.03, w
        for el in CRQ.elements:
            assert abs(t["population"][el] - t["model"][el]) < 0.05, (w, el)


def test_population_nps_recovered_when_missing_at_random(big_mar):
    # Under MAR the confidential respondents (a coin-flip subset, answering honestly) estimate
    # the true pre-non-response population NPS; named respondents estimate the named version.
    from crqlab.measures.nps import nps

    r = big_mar.responses
    for w, t in big_mar.truth["waves"].items():
        g = r[r["wave"] == int(w)]
        honest = g.loc[~_named(g), "nps"].to_numpy(dtype=float)
        est = nps(honest).iloc[0]
        assert est["n"] > 5000
        assert abs(est["est"] - t["population"]["nps"]) < 2.0, w
        assert abs(np.nanmean(_crq_index(g[~_named(g)])) - t["population"]["crq_index"]) < 0.05


def test_response_rate_matches_planted_probability(big):
    c = big.contacts
    for w, t in big.truth["waves"].items():
        rate = c.loc[c["wave"] == int(w), "responded"].astype(bool).mean()
        assert abs(rate - t["response"]["mean_probability"]) < 0.01, w
        # the solved intercept makes the mean probability exactly the planted rate
        assert abs(t["response"]["mean_probability"] - t["response"]["planted_rate"]) < 1e-6


def test_late_respondents_resemble_non_respondents(big):
    # Not missing at random: commitment drives response and its timing, so early respondents
    # are more committed than late ones, and late respondents resemble non-respondents
    # (Armstrong & Overton 1977).
    lat = big.latent.merge(big.contacts[["wave", "contact_id", "reminders"]], on=["wave", "contact_id"])
    early = lat.loc[lat["responded"] & (lat["reminders"] == 0), "latent_commitment"].mean()
    late = lat.loc[lat["responded"] & (lat["reminders"] == 2), "latent_commitment"].mean()
    never = lat.loc[~lat["responded"], "latent_commitment"].mean()
    assert early > late + 0.1 and early > never + 0.1
    assert abs(late - never) < 0.1


def test_inflation_recovered_when_choice_is_random(big_mar):
    # Confidentiality chosen by a coin flip: named minus confidential respondents' mean score
    # estimates the planted inflation (average effect of being named, scale points).
    r = big_mar.responses
    for w, t in big_mar.truth["waves"].items():
        g = r[r["wave"] == int(w)]
        named, crq = _named(g), _crq_index(g)
        truth = t["inflation"]
        d_crq = np.nanmean(crq[named]) - np.nanmean(crq[~named])
        assert abs(d_crq - truth["ate_crq_index"]) < 0.15
        d_nps = g.loc[named, "nps"].mean() - g.loc[~named, "nps"].mean()
        assert abs(d_nps - truth["ate_nps_mean"]) < 0.15
    assert 0.1 < truth["ate_crq_index"] < 0.2  # 0.15 latent shift, less at the ceiling


def test_inflation_recovered_at_equal_latent(big):
    # Dissatisfied and newly included contacts choose confidentiality, so the naive named -
    # confidential difference is biased upwards. Compared at equal latent relationship (OLS of
    # the reported CRQ index on named plus cubic polynomials of the six CRQ element latents,
    # from the generator's latent frame), the named coefficient recovers the inflation among
    # named respondents.
    r = big.responses
    lat = big.latent[big.latent["responded"]].reset_index(drop=True)
    assert (lat["contact_id"].to_numpy() == r["contact_id"].to_numpy()).all()
    cols = [f"latent_{e}" for e in CRQ.elements]
    for w, t in big.truth["waves"].items():
        m = (r["wave"] == int(w)).to_numpy()
        g, named = r[m], _named(r[m])
        crq = _crq_index(g)
        ok = ~np.isnan(crq)
        z = lat.loc[m, cols].to_numpy()
        x = np.column_stack([np.ones(m.sum()), named, z, z**2, z**3])
        b = np.linalg.lstsq(x[ok], crq[ok], rcond=None)[0]
        naive = crq[named & ok].mean() - crq[~named & ok].mean()
        assert abs(b[1] - t["inflation"]["att_crq_index"]) < 0.15, w
        assert naive > t["inflation"]["att_crq_index"] + 0.1  # selection makes the naive biased


def test_trust_to_commitment_path_from_latents(big):
    # OLS of the commitment latent on its parents (trust, satisfaction) within each wave; all
    # latents have unit variance, so the slope is the standardised path coefficient.
    planted = {(p["from"], p["to"]): p["std_all"] for p in big.truth["paths"]}
    for w, g in big.latent.groupby("wave"):
        x = np.column_stack([np.ones(len(g)), g["latent_trust"], g["latent_satisfaction"]])
        b = np.linalg.lstsq(x, g["latent_commitment"], rcond=None)[0]
        assert abs(b[1] - planted[("trust", "commitment")]) < 0.05, w
        assert abs(b[2] - planted[("satisfaction", "commitment")]) < 0.05, w


def _alpha(m: np.ndarray) -> float:
    m = m[~np.isnan(m).any(axis=1)]
    k = m.shape[1]
    return k / (k - 1) * (1 - m.var(axis=0, ddof=1).sum() / m.sum(axis=1).var(ddof=1))


def test_trust_to_commitment_path_from_items(big_mar):
    # From the respondents' answers only: element scores (item means), their correlations
    # disattenuated by Cronbach's alpha (Spearman's correction), then the standardised
    # regression of commitment on trust and satisfaction. MAR study, so respondents are not
    # selected on commitment.
    planted = {(p["from"], p["to"]): p["std_all"] for p in big_mar.truth["paths"]}
    els = ("trust", "satisfaction", "commitment")
    for w, g in big_mar.responses.groupby("wave"):
        blocks = {e: g[list(CRQ.elements[e].items)].to_numpy(dtype=float, na_value=np.nan) for e in els}
        scores = pd.DataFrame({e: np.nanmean(b, axis=1) for e, b in blocks.items()})
        alpha = np.array([_alpha(blocks[e]) for e in els])
        r = scores.corr().to_numpy() / np.sqrt(np.outer(alpha, alpha))
        np.fill_diagonal(r, 1.0)
        beta = np.linalg.solve(r[:2, :2], r[:2, 2])
        assert abs(beta[0] - planted[("trust", "commitment")]) < 0.05, w


def test_satisfaction_more_volatile_than_trust(big):
    # Same contact, consecutive waves: trust persists more than satisfaction, in the latents
    # and in the observed element scores of repeat respondents.
    lat = big.latent
    a = lat[lat["wave"] == 1].merge(lat[lat["wave"] == 2], on="contact_id")
    r_trust = np.corrcoef(a["latent_trust_x"], a["latent_trust_y"])[0, 1]
    r_sat = np.corrcoef(a["latent_satisfaction_x"], a["latent_satisfaction_y"])[0, 1]
    assert r_trust > r_sat + 0.2
    r = big.responses
    obs = {}
    for e in ("trust", "satisfaction"):
        s = r[["wave", "contact_id"]].assign(v=r[list(CRQ.elements[e].items)].astype(float).mean(axis=1))
        pair = s[s["wave"] == 1].merge(s[s["wave"] == 2], on="contact_id").dropna()
        obs[e] = np.corrcoef(pair["v_x"], pair["v_y"])[0, 1]
    assert obs["trust"] > obs["satisfaction"] + 0.1


def test_retention_slope_recovered(big):
    import statsmodels.api as sm

    lat = big.latent
    acc = big.accounts[big.accounts["wave"] < 3]
    mean_c = lat.groupby(["wave", "account_id"])["latent_commitment"].mean().rename("c")
    d = acc.merge(mean_c.reset_index(), on=["wave", "account_id"])
    x = sm.add_constant(np.column_stack([d["c"], d["dormant"].astype(float)]))
    fit = sm.Logit(d["retained_next_wave"].astype(float).to_numpy(), x).fit(disp=0)
    planted = big.truth["retention_model"]
    ci = fit.conf_int(0.01)
    assert ci[1, 0] < planted["slope"] < ci[1, 1]
    assert ci[0, 0] < planted["intercept"] < ci[0, 1]


def test_verbatim_mention_rates(big):
    # Code the weaknesses text back to topics with the phrases recorded in the truth; the
    # pricing weakness is named by about 15% and more often by long-tenure contacts.
    vm = big.truth["verbatim_model"]
    phrases = vm["weaknesses"]["pricing"]["phrases"]
    r = big.responses.merge(big.contacts[["wave", "contact_id", "tenure_years"]], on=["wave", "contact_id"])
    text = r["weaknesses"].fillna("")
    hit = np.logical_or.reduce([text.str.contains(p, regex=False) for p in phrases])
    long = (r["tenure_years"] >= vm["long_tenure_years"]).to_numpy()
    for mask, rate in ((long, vm["weaknesses"]["pricing"]["rate_long_tenure"]),
                       (~long, vm["weaknesses"]["pricing"]["rate_short_tenure"])):
        se = np.sqrt(rate * (1 - rate) / mask.sum())
        assert abs(hit[mask].mean() - rate) < 4 * se
    assert 0.12 < hit.mean() < 0.18


def test_company_a_calibrated_to_methods_table():
    # docs/methods.md section 3: of those who chose confidentiality in survey 1, 55% completed
    # survey 2 (6.3 -> 7.5 on the 0-10 question); of those who waived it 70% (7.1 -> 7.2).
    s = generate("company-a", seed=1, n_accounts=3000)
    c, r = s.contacts, s.responses
    w1 = r[r["wave"] == 1]
    invited2 = set(c.loc[c["wave"] == 2, "contact_id"])
    r2 = r[r["wave"] == 2].set_index("contact_id")["nps"]
    target = {True: (0.55, 6.3, 7.5), False: (0.70, 7.1, 7.2)}
    for chose, (completion, before, after) in target.items():
        g = w1[(w1["confidential"].astype(bool) == chose) & w1["contact_id"].isin(invited2)]
        done = g["contact_id"].isin(r2.index)
        assert abs(done.mean() - completion) < 0.03, chose
        assert abs(w1.loc[w1["confidential"].astype(bool) == chose, "nps"].mean() - before) < 0.3
        assert abs(r2[g.loc[done.to_numpy(), "contact_id"]].mean() - after) < 0.3


def test_company_b_newly_included_interaction():
    # 26% choose confidentiality, 38% of the newly included; newly included confidential
    # respondents score clearly lower (the planted interaction), others barely differ.
    s = generate("company-b", seed=1, n_accounts=2000)
    last = s.truth["params"]["wave_labels"].__len__()
    g = s.responses[s.responses["wave"] == last].merge(
        s.contacts[["wave", "contact_id", "newly_included"]], on=["wave", "contact_id"])
    conf, new = g["confidential"].astype(bool), g["newly_included"].astype(bool)
    assert abs(conf.mean() - 0.26) < 0.02 and abs(conf[new].mean() - 0.38) < 0.03
    means = g.groupby([new.rename("new"), conf.rename("conf")])["nps"].mean()
    assert means[(True, True)] < means[(True, False)] - 0.5
    interaction = (means[(True, True)] - means[(True, False)]) - (means[(False, True)] - means[(False, False)])
    truth = s.truth["waves"][str(last)]["confidentiality_choice"]["reported_nps_mean_by_group"]
    assert abs(interaction - truth["interaction"]) < 1e-5  # truth.json keeps 6 decimals
    assert truth["interaction"] < -0.4


def test_kmv_battery_and_paths():
    kmv = load_instrument("kmv")
    s = generate("kmv", seed=2, n_accounts=1500)
    assert s.config["batteries"] == ["kmv"]
    assert set(kmv.items) <= set(s.responses.columns)
    planted = {(p["from"], p["to"]): p["std_all"] for p in s.truth["paths"]}
    for p in kmv.paths:  # every KMV path planted with its hypothesised sign
        coef = planted[(p["from"], p["to"])]
        assert np.sign(coef) == (-1 if p["sign"] == "-" else 1)
    lat = s.latent[s.latent["wave"] == 1]
    for to in {p["to"] for p in kmv.paths}:
        parents = [f for (f, t) in planted if t == to]
        x = np.column_stack([np.ones(len(lat))] + [lat[f"latent_{f}"] for f in parents])
        b = np.linalg.lstsq(x, lat[f"latent_{to}"], rcond=None)[0][1:]
        for f, est in zip(parents, b):
            assert abs(est - planted[(f, to)]) < 0.05, (f, to)


def test_kmv_paths_recovered_by_sem_on_items():
    # End to end through the measurement model: semopy's ML fit of the KMV model (kmv.yaml
    # measurement + paths) on the wave-1 answers of a missing-at-random, uninflated kmv study.
    # The 1-7 items are treated as continuous, which attenuates slightly; the estimates'
    # standard errors are about 0.015, so 0.06 is about four of them.
    import semopy

    kmv = load_instrument("kmv")
    s = generate("kmv", seed=3, n_accounts=1500, resp_nmar=0.0, resp_privacy=0.0,
                 late_quality=0.0, retention_slope=0.0, inflation_item=0.0)
    data = s.responses.loc[s.responses["wave"] == 1, kmv.items].astype(float).dropna()
    parents: dict[str, list[str]] = {}
    for p in kmv.paths:
        parents.setdefault(p["to"], []).append(p["from"])
    desc = "\n".join([f"{e} =~ {' + '.join(el.items)}" for e, el in kmv.elements.items()]
                     + [f"{t} ~ {' + '.join(f)}" for t, f in parents.items()])
    model = semopy.Model(desc)
    model.fit(data)
    est = model.inspect(std_est=True)
    est = est[(est["op"] == "~") & est["lval"].isin(list(kmv.elements))
              & est["rval"].isin(list(kmv.elements))]
    planted = {(p["from"], p["to"]): p["std_all"] for p in s.truth["paths"]}
    assert len(est) == len(kmv.paths)
    for to, frm, std in zip(est["lval"], est["rval"], est["Est. Std"]):
        assert abs(std - planted[(frm, to)]) < 0.06, (frm, to)


def test_sample_is_calibrated_to_published_figures():
    from crqlab.synth.calibration import calibration_table

    t = calibration_table().set_index(["label", "quantity"])
    for label in ("2020", "2021", "2022"):  # published completion rates 66%, 55%, 48%
        row = t.loc[(label, "response_rate")]
        assert abs(row["est"] - row["published"]) < 0.03
    assert abs(t.loc[("2023", "accounts_covered"), "est"] - 0.85) < 0.03
    crq = t.xs("crq_index", level="quantity")["est"]
    nps = t.xs("nps", level="quantity")["est"]
    assert crq.between(5.4, 6.1).all() and nps.between(20, 60).all()
    assert crq.is_monotonic_increasing and nps.is_monotonic_increasing
    assert abs(crq["2023"] - 6.0) < 0.1 and abs(nps["2023"] - 55) < 5


def test_readme_calibration_table_is_current():
    from crqlab.paths import DATA_RAW
    from crqlab.synth.calibration import calibration_markdown, model_markdown

    text = (DATA_RAW / "README.md").read_text(encoding="utf-8")
    assert calibration_markdown() in text and model_markdown() in text


def test_sample_loads_with_the_study_loader():
    from crqlab.data.study import load_study

    study = load_study(SAMPLE_STUDY)
    assert len(study.responses) == len(generate("sample", seed=2023).responses)


def test_account_manager_names_never_collide_with_contact_names():
    # Managers are named in reports; a manager sharing a confidential respondent's name would
    # make the runner's privacy scan withhold the report (and would be a real ambiguity).
    s = generate("sample", seed=2023)
    managers = set(s.accounts["account_manager"].astype(str))
    contacts = set(s.contacts["contact_name"].dropna().astype(str))
    assert managers and not (managers & contacts)
    surnames = {m.split()[-1] for m in managers}
    assert not surnames & {c.split()[-1] for c in contacts}


# -- structure knobs (issue 16): which element drives confidentiality, response, retention ------
def _logit(y, columns):
    import statsmodels.api as sm

    return sm.Logit(np.asarray(y, float), sm.add_constant(np.column_stack(columns))).fit(disp=0)


@pytest.fixture(scope="module")
def restructured():
    """Response driven by trust, retention by satisfaction, inflation going with commitment."""
    return generate("tiny", seed=21, confidentiality=("optional",) * 3, resp_predictor="trust",
                    resp_nmar=1.0, resp_privacy=0.0, retention_predictor="satisfaction",
                    inflation_commitment=-0.5, **BIG)


def test_later_knobs_recorded_only_when_set(tiny, restructured):
    from crqlab.synth.params import LATER_KNOBS

    assert not set(LATER_KNOBS) & set(tiny.truth["params"])      # defaults: truth unchanged
    assert "nmar_predictor" not in tiny.truth["response_model"]
    assert {k: restructured.truth["params"][k] for k in LATER_KNOBS} == {
        "resp_predictor": "trust", "inflation_commitment": -0.5,
        "retention_predictor": "satisfaction"}
    assert restructured.truth["response_model"]["nmar_predictor"] == "trust latent"
    assert restructured.truth["inflation"]["commitment_multiplier"] == -0.5
    assert "satisfaction latent" in restructured.truth["retention_model"]["predictor"]


def test_response_follows_resp_predictor(restructured):
    from scipy.special import logit

    lat = restructured.latent
    X = np.column_stack([np.ones(len(lat)), lat["latent_trust"], lat["latent_commitment"]])
    # the planted linear predictor: its slope on trust is resp_nmar = 1 and, with trust in, none
    # on commitment (the other terms - role, onboarding, account - are independent of both)
    coef = np.linalg.lstsq(X, logit(lat["p_respond"]), rcond=None)[0]
    assert abs(coef[1] - 1.0) < 0.05 and abs(coef[2]) < 0.05
    # and the realised responses: commitment adds nothing once trust is known
    ci = _logit(lat["responded"], [lat["latent_trust"], lat["latent_commitment"]]).conf_int(0.01)
    assert ci[1, 0] > 0.5 and ci[2, 0] < 0 < ci[2, 1]


def test_retention_follows_retention_predictor(restructured):
    lat, acc = restructured.latent, restructured.accounts
    acc = acc[acc["wave"] < 3]
    means = lat.groupby(["wave", "account_id"])[["latent_satisfaction",
                                                 "latent_commitment"]].mean().reset_index()
    d = acc.merge(means, on=["wave", "account_id"])
    fit = _logit(d["retained_next_wave"], [d["latent_satisfaction"], d["latent_commitment"],
                                           d["dormant"].astype(float)])
    ci = fit.conf_int(0.01)
    slope = restructured.truth["retention_model"]["slope"]
    assert ci[1, 0] < slope < ci[1, 1] and ci[2, 0] < 0 < ci[2, 1]


def test_inflation_multiplier_follows_commitment(restructured):
    lat = restructured.latent
    expected = np.maximum(0.0, 1.0 - 0.5 * lat["latent_commitment"])  # inflation_privacy = 0
    np.testing.assert_allclose(lat["inflation_multiplier"], expected, rtol=1e-12)
    # named answers of the less committed are inflated more: reported - honest 0-10 answer
    named = lat[lat["named"]]
    gain = named["reported_nps"] - named["honest_nps"]
    assert np.corrcoef(gain, named["latent_commitment"])[0, 1] < -0.1


def test_unknown_predictor_is_refused():
    with pytest.raises(SynthError, match="resp_predictor"):
        generate("tiny", resp_predictor="loyalty")


@pytest.mark.parametrize("structure", ["satisfaction", "commitment", "trust"])
def test_structures_generate_on_every_design(structure):
    from crqlab.synth import STRUCTURES

    for preset in ("company-a", "tiny"):
        s = generate(preset, seed=1, **STRUCTURES[structure])
        assert s.truth["confidentiality_model"]["predictor"] == \
            f"-{STRUCTURES[structure].get('conf_predictor', s.params.conf_predictor)} latent"
