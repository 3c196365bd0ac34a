"""``generate``: one synthetic study (tables, study.yaml content and the planted truth)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import norm

from crqlab.data.instruments import Instrument, load_instrument
from crqlab.synth.frame import Panel, simulate_panel, wave_years
from crqlab.synth.model import (
    LatentModel,
    Measurement,
    build_latent_model,
    build_measurement,
    element_scores,
    nps_from_answers,
    nps_measurement,
)
from crqlab.synth.params import LATER_KNOBS, SynthError, SynthParams, resolve_params
from crqlab.synth.verbatims import draw_verbatims, verbatim_model, verbatim_truth

__all__ = ["SyntheticStudy", "generate"]

SEGMENTS = ["role", "newly_included", "industry", "region", "account_manager"]


@dataclass(frozen=True, eq=False)
class SyntheticStudy:
    """A generated study: the three canonical tables, ``config`` (the study.yaml content) and
    ``truth`` (JSON-serialisable planted parameters and true values).

    ``latent`` (not written to disk) has one row per invited contact and wave with the latent
    scores (``latent_<name>``), the response and confidentiality probabilities, and the honest
    (as if confidential) and reported scores of every invited contact, for validation.
    ``params`` is the resolved :class:`~crqlab.synth.SynthParams`.
    """

    contacts: pd.DataFrame
    responses: pd.DataFrame
    accounts: pd.DataFrame
    config: dict
    truth: dict
    latent: pd.DataFrame = field(default=None, repr=False)
    params: SynthParams = field(default=None, repr=False)


def _solve_intercept(lin: np.ndarray, target: float) -> float:
    """Intercept a with mean(expit(a + lin)) == target."""
    if lin.size == 0:
        return float(logit(target))
    return float(brentq(lambda a: expit(a + lin).mean() - target, -30.0, 30.0, xtol=1e-12))


def _summary(inst: Instrument, items: dict, nps: np.ndarray, mask=None) -> dict:
    """Mean element scores, CRQ index, NPS and mean 0-10 answer over the rows in ``mask``."""
    if mask is not None:
        items = {k: v[mask] for k, v in items.items()}
        nps = nps[mask]
    out = {"n": int(len(nps))}
    with np.errstate(all="ignore"):
        for name, v in element_scores(inst, items).items():
            out[name] = float(np.nanmean(v)) if len(v) else float("nan")
        out["nps"] = nps_from_answers(nps)
        out["nps_mean"] = float(np.nanmean(nps)) if len(nps) else float("nan")
    return out


def _analytic(inst: Instrument, meas: Measurement, nps_m: Measurement, mu: np.ndarray,
              shift_item: float = 0.0, shift_nps: float = 0.0) -> dict:
    """Expected (superpopulation) scores of a wave with latent means ``mu``."""
    exp_items = meas.expected(mu, shift_item)
    values = {it: np.array([v]) for it, v in zip(meas.items, exp_items)}
    out = {k: float(v[0]) for k, v in element_scores(inst, values).items()}
    m = nps_m.location[0] + nps_m.scale * mu[nps_m.latent_index[0]] + shift_nps
    s = nps_m.scale
    out["nps"] = float(100 * (norm.sf((8.5 - m) / s) - norm.cdf((6.5 - m) / s)))
    out["nps_mean"] = float(nps_m.expected(mu, shift_nps)[0])
    return out


@dataclass
class _Ctx:
    params: SynthParams
    crq: Instrument
    model: LatentModel
    meas: Measurement
    nps_m: Measurement
    panel: Panel
    rng: np.random.Generator


def _response(ctx: _Ctx, w: int, frame: pd.DataFrame, eta: np.ndarray, reg: pd.DataFrame,
              st: pd.DataFrame) -> dict:
    p, rng, m = ctx.params, ctx.rng, ctx.model
    regime = p.confidentiality[w - 1]
    role_eff = reg["role"].map(p.resp_role_effects).to_numpy(float)
    lin = (role_eff + p.resp_onboarding * st["onboarded"].to_numpy(float)
           + p.resp_dormant * st["dormant"].to_numpy(float) + st["resp_effect"].to_numpy()
           + p.resp_nmar * eta[:, m.index(p.resp_predictor)]
           + (p.resp_privacy * reg["privacy"].to_numpy() if regime == "none" else 0.0))
    alpha = _solve_intercept(lin, p.response_rate[w - 1])
    prob = expit(alpha + lin)
    responded = rng.random(len(frame)) < prob
    # timing: lateness rises as the response driver (commitment by default) falls, so late
    # respondents resemble non-respondents
    late = -p.late_quality * eta[:, m.index(p.resp_predictor)] + rng.standard_normal(len(frame))
    cuts = norm.ppf(np.cumsum(p.reminder_shares)[:-1]) * np.sqrt(1 + p.late_quality**2)
    reminders = np.where(responded, np.digitize(late, cuts), 2)
    days = np.where(reminders == 2, 14 + rng.integers(0, 14, len(frame)),
                    7 * reminders + rng.integers(0, 7, len(frame)))
    return {"alpha": alpha, "prob": prob, "responded": responded, "reminders": reminders,
            "days": days, "linear": lin}


def _confidentiality(ctx: _Ctx, w: int, eta: np.ndarray, reg: pd.DataFrame, new: np.ndarray,
                     responded: np.ndarray) -> dict:
    p, rng, m = ctx.params, ctx.rng, ctx.model
    regime = p.confidentiality[w - 1]
    dis = -eta[:, m.index(p.conf_predictor)]
    z = (p.conf_dissatisfaction * dis + p.conf_dissatisfaction_new * new * dis
         + p.conf_privacy * reg["privacy"].to_numpy())
    rn, ro = responded & new, responded & ~new
    if rn.sum() and ro.sum():
        g_new = _solve_intercept(z[rn], p.conf_rate_new)
        target_old = (p.conf_rate * responded.sum() - p.conf_rate_new * rn.sum()) / ro.sum()
        g_old = _solve_intercept(z[ro], float(np.clip(target_old, 0.01, 0.99)))
    else:
        g_old = _solve_intercept(z[responded], p.conf_rate)
        g_new = g_old + float(logit(p.conf_rate_new) - logit(p.conf_rate))
    q = expit(np.where(new, g_new, g_old) + z)
    chose = rng.random(len(q)) < q
    named = np.full(len(q), regime == "none") | ((regime == "optional") & ~chose)
    if regime == "optional":
        flag = pd.array(chose, dtype="boolean")
    else:
        flag = pd.array([True if regime == "all" else None] * len(q), dtype="boolean")
    return {"intercept_new": g_new, "intercept_other": g_old, "prob": q, "chose": chose,
            "named": named, "flag": flag}


def _answers(ctx: _Ctx, eta: np.ndarray, reg: pd.DataFrame, named: np.ndarray) -> dict:
    p, rng, meas, nps_m = ctx.params, ctx.rng, ctx.meas, ctx.nps_m
    n = len(eta)
    ystar = meas.latent_response(eta, rng.standard_normal((n, len(meas.items))))
    lin = 1.0 + p.inflation_privacy * reg["privacy"].to_numpy()
    if p.inflation_commitment:  # added only when set, so default studies stay byte-identical
        lin = lin + p.inflation_commitment * eta[:, ctx.model.index("commitment")]
    mult = np.maximum(0.0, lin)
    honest = meas.answers(ystar)
    as_named = meas.answers(ystar + (p.inflation_item * mult)[:, None])
    nstar = nps_m.latent_response(eta, np.zeros((n, 1)))[:, 0]
    nps_honest = nps_m.answers(nstar)
    nps_named = nps_m.answers(nstar + p.inflation_nps * mult)
    reported = np.where(named[:, None], as_named, honest)
    dont_know = rng.random(reported.shape) < p.dont_know_rate
    return {"honest": honest, "as_named": as_named, "reported": reported,
            "observed": np.where(dont_know, np.nan, reported), "nps_honest": nps_honest,
            "nps_named": nps_named, "nps_reported": np.where(named, nps_named, nps_honest),
            "multiplier": mult}


def _inflation_truth(ctx: _Ctx, ans: dict, named: np.ndarray, responded: np.ndarray) -> dict:
    """Effect of being named in scale points: ATE over the frame, ATT over named respondents."""
    items = ctx.meas.items
    hon = {it: ans["honest"][:, j] for j, it in enumerate(items)}
    nam = {it: ans["as_named"][:, j] for j, it in enumerate(items)}
    crq_items = [it for it in items if it in ctx.crq.items]
    d_item = (ans["as_named"] - ans["honest"])[:, [items.index(i) for i in crq_items]].mean(axis=1)
    idx = ctx.crq.index_name
    d_crq = element_scores(ctx.crq, nam)[idx] - element_scores(ctx.crq, hon)[idx]
    d_nps = ans["nps_named"] - ans["nps_honest"]
    out = {}
    for tag, mask in (("ate", np.ones(len(named), bool)), ("att", named & responded)):
        ok = mask.any()
        out[f"{tag}_item"] = float(d_item[mask].mean()) if ok else None
        out[f"{tag}_crq_index"] = float(d_crq[mask].mean()) if ok else None
        out[f"{tag}_nps_mean"] = float(d_nps[mask].mean()) if ok else None
        out[f"{tag}_nps"] = (nps_from_answers(ans["nps_named"][mask])
                             - nps_from_answers(ans["nps_honest"][mask])) if ok else None
    out["n_named_respondents"] = int((named & responded).sum())
    return out


def _group_means(values: np.ndarray, new: np.ndarray, chose: np.ndarray, mask: np.ndarray) -> dict:
    groups = {"new_confidential": new & chose, "new_named": new & ~chose,
              "other_confidential": ~new & chose, "other_named": ~new & ~chose}
    out = {k: (float(values[g & mask].mean()) if (g & mask).any() else None) for k, g in groups.items()}
    if all(v is not None for v in out.values()):
        out["interaction"] = ((out["new_confidential"] - out["new_named"])
                              - (out["other_confidential"] - out["other_named"]))
    return out


def _wave(ctx: _Ctx, w: int) -> tuple:
    p, panel, meas = ctx.params, ctx.panel, ctx.meas
    frame, eta = panel.waves[w - 1], panel.latents[w - 1]
    st_acc = panel.account_waves[w - 1]
    reg = panel.contacts.iloc[frame["contact_idx"].to_numpy()].reset_index(drop=True)
    acc = panel.accounts.iloc[frame["account_idx"].to_numpy()].reset_index(drop=True)
    st = st_acc.set_index("account_idx").loc[frame["account_idx"].to_numpy()].reset_index()
    st["resp_effect"] = acc["resp_effect"].to_numpy()
    new = frame["newly_included"].to_numpy(bool)
    resp = _response(ctx, w, frame, eta, reg, st)
    conf = _confidentiality(ctx, w, eta, reg, new, resp["responded"])
    ans = _answers(ctx, eta, reg, conf["named"])
    texts = draw_verbatims(ctx.rng, p, frame["tenure_years"].to_numpy() >= p.long_tenure_years)
    offset = ctx.rng.integers(0, 5, len(st_acc))
    start = date.fromisoformat(p.wave_dates[w - 1])
    inv = pd.Series([start + timedelta(days=int(d)) for d in offset], index=st_acc["account_idx"])
    invited = pd.to_datetime(inv.reindex(frame["account_idx"]).to_numpy())
    r = resp["responded"]
    contacts = pd.DataFrame({
        "wave": w, "contact_id": reg["contact_id"].to_numpy(), "account_id": acc["account_id"].to_numpy(),
        "role": reg["role"].to_numpy(), "newly_included": pd.array(new, dtype="boolean"),
        "tenure_years": frame["tenure_years"].to_numpy(), "invited_on": invited,
        "responded": pd.array(r, dtype="boolean"),
        "responded_on": pd.Series(invited + pd.to_timedelta(resp["days"], unit="D")).where(r),
        "reminders": pd.array(resp["reminders"], dtype="Int64"),
        "days_to_respond": pd.array(np.where(r, resp["days"], 0), dtype="Int64"),
        "confidential": conf["flag"],
        "contact_name": (reg["first_name"] + " " + reg["last_name"]).to_numpy(),
        "contact_email": (reg["first_name"].str.lower() + "." + reg["last_name"].str.lower() + "."
                          + reg["contact_id"].str.lower() + "@"
                          + acc["account_id"].str.lower() + ".example.com").to_numpy()})
    contacts.loc[~r, "days_to_respond"] = pd.NA
    contacts.loc[~r, "confidential"] = pd.NA
    obs = ans["observed"][r]
    responses = pd.DataFrame({"wave": w, "contact_id": reg["contact_id"].to_numpy()[r]})
    for j, it in enumerate(meas.items):
        responses[it] = pd.array(obs[:, j], dtype="Float64").astype("Int64")
    responses["nps"] = pd.array(ans["nps_reported"][r].astype(int), dtype="Int64")
    responses["strengths"] = pd.array(texts["strengths"][r], dtype="string")
    responses["weaknesses"] = pd.array(texts["weaknesses"][r], dtype="string")
    responses["confidential"] = conf["flag"][r]
    accounts = _accounts_table(panel, st_acc, w)
    latent, truth = _wave_truth(ctx, w, frame, eta, reg, acc, resp, conf, ans, texts)
    return contacts, responses, accounts, latent, truth


def _accounts_table(panel: Panel, st: pd.DataFrame, w: int) -> pd.DataFrame:
    a = panel.accounts.iloc[st["account_idx"].to_numpy()].reset_index(drop=True)
    return pd.DataFrame({
        "wave": w, "account_id": a["account_id"], "account_name": a["account_name"],
        "industry": a["industry"], "region": a["region"], "account_manager": a["account_manager"],
        "size": a["size"], "tier": a["tier"], "dormant": pd.array(st["dormant"].to_numpy(), dtype="boolean"),
        "onboarded": pd.array(st["onboarded"].to_numpy(), dtype="boolean"),
        "retained_next_wave": pd.array(st["retained_next_wave"].to_numpy(), dtype="boolean")})


def _wave_truth(ctx: _Ctx, w, frame, eta, reg, acc, resp, conf, ans, texts):
    p, meas, model, crq = ctx.params, ctx.meas, ctx.model, ctx.crq
    r, named, new = resp["responded"], conf["named"], frame["newly_included"].to_numpy(bool)
    crq_items = set(crq.items)
    hon = {it: ans["honest"][:, j] for j, it in enumerate(meas.items) if it in crq_items}
    rep = {it: ans["reported"][:, j] for j, it in enumerate(meas.items) if it in crq_items}
    mu = model.means(p.wave_shift[w - 1])
    honest_scores = element_scores(crq, hon)
    reported_scores = element_scores(crq, rep)
    latent = pd.DataFrame({"wave": w, "contact_id": reg["contact_id"].to_numpy(),
                           "account_id": acc["account_id"].to_numpy()})
    for j, name in enumerate(model.names):
        latent[f"latent_{name}"] = eta[:, j]
    latent = latent.assign(
        privacy_preference=reg["privacy"].to_numpy(), p_respond=resp["prob"], responded=r,
        p_confidential=conf["prob"], would_choose_confidential=conf["chose"], named=named,
        inflation_multiplier=ans["multiplier"],
        **{f"honest_{k}": v for k, v in honest_scores.items()},
        **{f"reported_{k}": v for k, v in reported_scores.items()},
        honest_nps=ans["nps_honest"], reported_nps=ans["nps_reported"])
    truth = {
        "label": p.wave_labels[w - 1], "confidentiality": p.confidentiality[w - 1],
        "shift": p.wave_shift[w - 1],
        "latent_means": {n: float(v) for n, v in zip(model.names, mu)},
        "population": _summary(crq, hon, ans["nps_honest"]),
        "population_reported": _summary(crq, rep, ans["nps_reported"]),
        "model": _analytic(crq, meas, ctx.nps_m, mu),
        "model_if_named": _analytic(crq, meas, ctx.nps_m, mu, p.inflation_item, p.inflation_nps),
        "respondents_honest": _summary(crq, hon, ans["nps_honest"], r),
        "response": {"intercept": resp["alpha"], "mean_probability": float(resp["prob"].mean()),
                     "n_invited": int(len(r)), "n_accounts": int(frame["account_idx"].nunique()),
                     "planted_rate": p.response_rate[w - 1]},
        "inflation": _inflation_truth(ctx, ans, named, r),
    }
    if p.confidentiality[w - 1] == "optional":
        truth["confidentiality_choice"] = {
            "intercept_new": conf["intercept_new"], "intercept_other": conf["intercept_other"],
            "mean_probability_respondents": float(conf["prob"][r].mean()),
            "mean_probability_new_respondents": float(conf["prob"][r & new].mean()) if (r & new).any() else None,
            "honest_nps_mean_by_group": _group_means(ans["nps_honest"], new, conf["chose"], r),
            "reported_nps_mean_by_group": _group_means(ans["nps_reported"], new, conf["chose"], r)}
    st = ctx.panel.account_waves[w - 1]
    if w < p.n_waves:
        truth["retention"] = {"mean_probability": float(st["p_retained"].mean())}
    truth["verbatims"] = verbatim_truth(texts, r)
    return latent, truth


def _config(p: SynthParams, seed: int) -> dict:
    cfg = {"study": p.study, "client": p.client, "instrument": "crq"}
    if p.kmv:
        cfg["batteries"] = ["kmv"]
    cfg["seed"] = int(seed)
    cfg["waves"] = {w: {"label": lab, "confidentiality": c} for w, (lab, c)
                    in enumerate(zip(p.wave_labels, p.confidentiality), start=1)}
    cfg["files"] = {"contacts": "contacts.csv", "responses": "responses.csv",
                    "accounts": "accounts.csv"}
    cfg["missing_codes"] = [p.dont_know_code]
    cfg["segments"] = list(SEGMENTS)
    cfg["min_cell_size"] = 5
    return cfg


def _model_truth(ctx: _Ctx) -> dict:
    p, m, meas, nps_m = ctx.params, ctx.model, ctx.meas, ctx.nps_m
    exo = [m.index(n) for n in m.exogenous]
    return {
        "paths": m.paths(), "latent_order": list(m.names), "exogenous": list(m.exogenous),
        "exogenous_correlation": {m.names[i]: {m.names[j]: float(m.innovation_corr[i, j]) for j in exo}
                                  for i in exo},
        "disturbance_variance": {n: float(v) for n, v in zip(m.names, m.innovation_var)
                                 if n not in m.exogenous},
        "implied_correlation": {a: {b: float(m.sigma[i, j]) for j, b in enumerate(m.names)}
                                for i, a in enumerate(m.names)},
        "variance_shares": {n: dict(zip(("account", "person", "wave"), map(float, s)))
                            for n, s in zip(m.names, m.shares)},
        "measurement": {
            "items": {it: {"latent": m.names[k], "loading": float(l), "location": float(loc)}
                      for it, k, l, loc in zip(meas.items, meas.latent_index, meas.loading, meas.location)},
            "item_scale": meas.scale, "cuts": "answer k where k - 0.5 < y* <= k + 0.5, clipped",
            "nps": {"latent": "advocacy", "location": float(nps_m.location[0]), "scale": nps_m.scale}},
        "response_model": {
            "role_effects": dict(p.resp_role_effects), "onboarding": p.resp_onboarding,
            "dormant": p.resp_dormant, "account_sd": p.resp_account_sd,
            "nmar_commitment": p.resp_nmar, "privacy_when_not_offered": p.resp_privacy,
            "reminder_shares": list(p.reminder_shares), "late_quality": p.late_quality,
            **_later(p, nmar_predictor=("resp_predictor", f"{p.resp_predictor} latent"))},
        "confidentiality_model": {
            "rate": p.conf_rate, "rate_new": p.conf_rate_new,
            "dissatisfaction": p.conf_dissatisfaction,
            "dissatisfaction_x_newly_included": p.conf_dissatisfaction_new,
            "privacy": p.conf_privacy, "predictor": f"-{p.conf_predictor} latent"},
        "inflation": {"latent_item": p.inflation_item, "latent_nps": p.inflation_nps,
                      "privacy_multiplier": p.inflation_privacy,
                      **_later(p, commitment_multiplier=("inflation_commitment",
                                                         p.inflation_commitment))},
        "retention_model": {"intercept": p.retention_intercept, "slope": p.retention_slope,
                            "dormant": p.retention_dormant,
                            "predictor": f"account mean of the {p.retention_predictor} latent "
                                         "over its frame"},
    }


def _later(p: SynthParams, **entries) -> dict:
    """Truth entries of knobs in :data:`~crqlab.synth.params.LATER_KNOBS`, kept only when the
    knob is set away from its default (``name=(knob, value)``)."""
    default = SynthParams()
    return {k: v for k, (knob, v) in entries.items()
            if getattr(p, knob) != getattr(default, knob)}


def _params_record(p: SynthParams) -> dict:
    """Every parameter for ``truth.json``; later knobs only when away from their defaults."""
    default = SynthParams()
    return {k: v for k, v in dataclasses.asdict(p).items()
            if k not in LATER_KNOBS or v != getattr(default, k)}


def _check_predictors(p: SynthParams, model: LatentModel) -> None:
    for knob in ("conf_predictor", "resp_predictor", "retention_predictor"):
        if getattr(p, knob) not in model.names:
            raise SynthError(f"{knob} must be a latent of the model {list(model.names)}, got "
                             f"{getattr(p, knob)!r}")


def generate(preset: str = "sample", seed: int = 0, **overrides) -> SyntheticStudy:
    """Generate a synthetic B2B relationship study with planted truth.

    Parameters
    ----------
    preset : str
        A key of :data:`crqlab.synth.PRESETS` (``sample``, ``tiny``, ``company-a``,
        ``company-b``, ``kmv``).
    seed : int
        Seed of every random draw (numpy ``default_rng``).
    **overrides
        Fields of :class:`~crqlab.synth.SynthParams` to replace.

    Returns
    -------
    SyntheticStudy

    Notes
    -----
    Validated against its own planted truth in ``tests/test_synth.py`` (population NPS, response
    rates, confidentiality inflation, the trust -> commitment path).
    """
    params = resolve_params(preset, overrides)
    rng = np.random.default_rng(seed)
    crq = load_instrument("crq")
    instruments = [crq] + ([load_instrument("kmv")] if params.kmv else [])
    model = build_latent_model(params, crq, instruments[1] if params.kmv else None)
    _check_predictors(params, model)
    meas = build_measurement(params, model, instruments, rng)
    panel = simulate_panel(params, model, rng)
    ctx = _Ctx(params, crq, model, meas, nps_measurement(params, model), panel, rng)
    parts = [_wave(ctx, w) for w in range(1, params.n_waves + 1)]
    contacts, responses, accounts, latent = (pd.concat([x[i] for x in parts], ignore_index=True)
                                             for i in range(4))
    truth = {"preset": preset, "seed": int(seed), "params": _params_record(params),
             "instrument": "crq", "batteries": ["kmv"] if params.kmv else [],
             "waves": {str(w): x[4] for w, x in enumerate(parts, start=1)},
             "years_since_first_wave": [float(y) for y in wave_years(params)],
             **_model_truth(ctx), "verbatim_model": verbatim_model(params)}
    return SyntheticStudy(contacts=contacts, responses=responses, accounts=accounts,
                          config=_config(params, seed), truth=_jsonable(truth), latent=latent,
                          params=params)


def _jsonable(obj):
    """Plain JSON types, floats rounded to 6 decimals, NaN as None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else round(float(obj), 6)
    return obj
