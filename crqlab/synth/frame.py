"""The panel: accounts and their contact frames over waves, latent scores and retention."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from crqlab.synth.model import LatentModel
from crqlab.synth.params import SynthParams

__all__ = ["Panel", "simulate_panel", "wave_years"]

_FIRST = ("Alex", "Blair", "Casey", "Dana", "Eli", "Frankie", "Gale", "Harper", "Indy", "Jordan",
          "Kai", "Lee", "Morgan", "Noor", "Oak", "Parker", "Quinn", "Reese", "Sage", "Taylor",
          "Uma", "Val", "Wren", "Xan", "Yael", "Zuri", "Ari", "Bo", "Cam", "Dev", "Emery", "Fin",
          "Gray", "Hollis", "Ira", "Jules", "Kit", "Lane", "Milan", "Nico")
_LAST = ("Ashdown", "Birchley", "Carrow", "Dunmore", "Elsworth", "Fenwick", "Garside", "Holloway",
         "Ingram", "Jessop", "Kettering", "Lindqvist", "Marlow", "Northcott", "Oakes", "Pemberton",
         "Quarrie", "Radley", "Stanmore", "Thorne", "Upton", "Vance", "Whitlock", "Yardley",
         "Zeller", "Abbott", "Brennan", "Calder", "Draper", "Easton", "Fairley", "Gilmour",
         "Hartigan", "Iveson", "Jarrow", "Keswick", "Lowther", "Mercer", "Nettleton", "Orme")
# Account managers are staff of the supplier, not contacts: their surnames come from a pool that
# no contact shares, so a report naming a manager can never name a (confidential) respondent.
_MANAGER_LAST = ("Achterberg", "Boscawen", "Cheverell", "Delacourt", "Esterbrook", "Fitzwarren",
                 "Gravenor", "Hazeldine", "Inchbald", "Jolliffe", "Kingsmill", "Lanyon",
                 "Mortimer", "Netherby", "Ormerod", "Penhaligon", "Quarendon", "Rochford",
                 "Scudamore", "Trevelyan", "Umfreville", "Vavasour", "Wetherall", "Yelverton",
                 "Zouche", "Arkwright", "Blencowe", "Cresswell", "Dymoke", "Egerton",
                 "Fairfax", "Grenville", "Hesketh", "Isham", "Jervoise", "Knatchbull",
                 "Lyttelton", "Molyneux", "Nevill", "Oglander")
_ADJ = ("Amber", "Blue", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbour", "Iron",
        "Juniper", "Kestrel", "Lumen", "Meridian", "Northern", "Orchid", "Pioneer", "Quartz",
        "River", "Silver", "Thistle", "Union", "Vertex", "Willow", "Zephyr")
_NOUN = ("Analytics", "Brands", "Components", "Dynamics", "Foods", "Freight", "Health",
         "Holdings", "Industries", "Logistics", "Materials", "Networks", "Power", "Retail",
         "Services", "Systems", "Technologies", "Works")
_SUFFIX = ("Ltd", "plc", "GmbH", "AB", "BV", "Inc")
_TIERS = ("standard", "key", "strategic")


def wave_years(params: SynthParams) -> np.ndarray:
    """Years elapsed since wave 1 at each wave (from the invitation dates)."""
    d = [date.fromisoformat(x) for x in params.wave_dates]
    return np.array([(x - d[0]).days / 365.25 for x in d])


@dataclass
class Panel:
    """Everything about the frame that the later stages need."""

    accounts: pd.DataFrame            # one row per account ever active (registry)
    contacts: pd.DataFrame            # one row per contact ever invited (registry)
    waves: list = field(default_factory=list)      # per wave: DataFrame of the frame
    latents: list = field(default_factory=list)    # per wave: (n, p) latent scores
    account_waves: list = field(default_factory=list)  # per wave: DataFrame account states


class _Builder:
    """Grows the account and contact registries with their persistent random effects."""

    def __init__(self, params: SynthParams, model: LatentModel, rng: np.random.Generator):
        self.p, self.m, self.rng = params, model, rng
        self.acc: list[pd.DataFrame] = []
        self.con: list[pd.DataFrame] = []
        self.n_acc = self.n_con = 0
        k = params.n_account_managers
        self.managers = [f"{_FIRST[i % len(_FIRST)]} {_MANAGER_LAST[(7 * i + 3) % len(_MANAGER_LAST)]}"
                         for i in rng.permutation(len(_FIRST))[:k]]
        self.manager_effect = rng.normal(0.0, params.manager_onboarding_sd, size=k)

    def new_accounts(self, n: int, wave: int) -> np.ndarray:
        p, rng = self.p, self.rng
        idx = np.arange(self.n_acc, self.n_acc + n)
        self.n_acc += n
        band = rng.choice(len(p.size_bands), size=n, p=p.size_probs)
        tier = np.minimum(np.array([0, 0, 1, 2])[np.minimum(band, 3)] + (rng.random(n) < 0.15), 2)
        name = (np.array(_ADJ)[rng.integers(len(_ADJ), size=n)].astype(object) + " "
                + np.array(_NOUN)[rng.integers(len(_NOUN), size=n)] + " "
                + np.array(_SUFFIX)[rng.integers(len(_SUFFIX), size=n)])
        mgr = rng.integers(len(self.managers), size=n)
        frame_size = np.array(p.contacts_per_size)[band] * rng.lognormal(0.0, 0.3, size=n)
        df = pd.DataFrame({
            "account_idx": idx, "account_id": [f"A{i + 1:04d}" for i in idx],
            "account_name": name, "industry": np.array(p.industries)[rng.integers(len(p.industries), size=n)],
            "region": np.array(p.regions)[rng.integers(len(p.regions), size=n)],
            "manager_idx": mgr, "account_manager": np.array(self.managers)[mgr],
            "size": np.array(p.size_bands)[band], "tier": np.array(_TIERS)[tier],
            "frame_size": frame_size, "created_wave": wave,
            "resp_effect": rng.normal(0.0, p.resp_account_sd, size=n)})
        df["effects"] = list(self.m.draw(rng, n, "account"))
        self.acc.append(df)
        return idx

    def new_contacts(self, account_idx: np.ndarray, wave: int, newly: np.ndarray) -> pd.DataFrame:
        p, rng = self.p, self.rng
        n = len(account_idx)
        idx = np.arange(self.n_con, self.n_con + n)
        self.n_con += n
        first = rng.integers(len(_FIRST), size=n)
        last = rng.integers(len(_LAST), size=n)
        tenure = np.where(newly, rng.gamma(1.5, p.tenure_new_mean / 1.5, size=n),
                          rng.gamma(2.0, p.tenure_mean / 2.0, size=n))
        df = pd.DataFrame({
            "contact_idx": idx, "contact_id": [f"C{i + 1:05d}" for i in idx],
            "account_idx": account_idx,
            "role": np.array(p.roles)[rng.choice(len(p.roles), size=n, p=p.role_probs)],
            "entry_wave": wave, "tenure_at_entry": tenure, "privacy": rng.standard_normal(n),
            "first_name": np.array(_FIRST)[first], "last_name": np.array(_LAST)[last]})
        df["effects"] = list(self.m.draw(rng, n, "person"))
        self.con.append(df)
        return df

    def contacts_for(self, account_idx: np.ndarray, frame_size: np.ndarray, share_new: float,
                     wave: int, all_new: bool) -> pd.DataFrame:
        counts = 1 + self.rng.poisson(np.maximum(frame_size - 1, 0))
        owners = np.repeat(account_idx, counts)
        newly = np.ones(len(owners), bool) if all_new else self.rng.random(len(owners)) < share_new
        return self.new_contacts(owners, wave, newly).assign(newly_included=newly)


def simulate_panel(params: SynthParams, model: LatentModel, rng: np.random.Generator) -> Panel:
    """Accounts, contact frames, latent scores and retention, wave by wave.

    Contacts of a retained account stay with probability ``1 - contact_churn`` and are joined by
    Poisson(``contact_churn`` * frame size) newly included contacts; lost accounts are replaced
    by newly acquired ones whose contacts are all newly included.
    """
    b = _Builder(params, model, rng)
    years = wave_years(params)
    active = b.new_accounts(params.n_accounts, 1)
    acc = pd.concat(b.acc, ignore_index=True)
    frame = b.contacts_for(active, acc["frame_size"].to_numpy(), params.new_share_first_wave, 1,
                           all_new=False)[["contact_idx", "account_idx", "newly_included"]]
    dormant = rng.random(len(active)) < params.dormant_rate
    panel_waves, latents, acc_waves = [], [], []
    for w in range(1, params.n_waves + 1):
        acc = pd.concat(b.acc, ignore_index=True)
        con = pd.concat(b.con, ignore_index=True)
        frame = frame.sort_values("contact_idx", kind="stable").reset_index(drop=True)
        acc_eff = np.stack(acc["effects"].to_numpy())
        per_eff = np.stack(con["effects"].to_numpy())
        ci = frame["contact_idx"].to_numpy()
        ai = frame["account_idx"].to_numpy()
        innov = acc_eff[ai] + per_eff[ci] + model.draw(rng, len(frame), "wave")
        eta = model.propagate(innov, params.wave_shift[w - 1])
        c_info = con.iloc[ci]
        frame = frame.assign(
            wave=w, tenure_years=np.round(c_info["tenure_at_entry"].to_numpy()
                                          + years[w - 1] - years[c_info["entry_wave"].to_numpy() - 1], 1))
        mgr = acc["manager_idx"].to_numpy()[active]
        onboard_p = expit(logit(params.onboarding_rate) + b.manager_effect[mgr])
        state = pd.DataFrame({"account_idx": active, "wave": w, "dormant": dormant,
                              "onboarded": rng.random(len(active)) < onboard_p})
        # retention: logistic on the account mean of the retention driver (commitment by
        # default) over its frame (all contacts)
        mean_c = pd.Series(eta[:, model.index(params.retention_predictor)]).groupby(ai).mean()
        mean_c = mean_c.reindex(active).to_numpy()
        p_ret = expit(params.retention_intercept + params.retention_slope * mean_c
                      + params.retention_dormant * dormant)
        state["mean_retention_driver"] = mean_c
        state["p_retained"] = p_ret
        last = w == params.n_waves
        retained = np.ones(len(active), bool) if last else rng.random(len(active)) < p_ret
        state["retained_next_wave"] = pd.array([None] * len(active) if last else retained,
                                               dtype="boolean")
        panel_waves.append(frame)
        latents.append(eta)
        acc_waves.append(state)
        if last:
            break
        frame, active, dormant = _next_frame(b, params, acc, frame, active, dormant, retained, w + 1)
    return Panel(accounts=pd.concat(b.acc, ignore_index=True).drop(columns="effects"),
                 contacts=pd.concat(b.con, ignore_index=True).drop(columns="effects"),
                 waves=panel_waves, latents=latents, account_waves=acc_waves)


def _next_frame(b: _Builder, params: SynthParams, acc: pd.DataFrame, frame: pd.DataFrame,
                active: np.ndarray, dormant: np.ndarray, retained: np.ndarray, wave: int):
    rng = b.rng
    kept_acc = active[retained]
    kept_dormant = np.where(dormant[retained], rng.random(len(kept_acc)) < params.dormant_persistence,
                            rng.random(len(kept_acc)) < params.dormant_onset)
    stay = np.isin(frame["account_idx"].to_numpy(), kept_acc) & (rng.random(len(frame)) >= params.contact_churn)
    old = frame.loc[stay, ["contact_idx", "account_idx"]].assign(newly_included=False)
    size = acc["frame_size"].to_numpy()[kept_acc]
    n_new = rng.poisson(params.contact_churn * size)
    has = np.isin(kept_acc, old["account_idx"].to_numpy())
    n_new = np.where(has, n_new, np.maximum(n_new, 1))   # nobody left: at least one new contact
    joiners = b.new_contacts(np.repeat(kept_acc, n_new), wave, np.ones(n_new.sum(), bool))
    new_acc = b.new_accounts(int((~retained).sum()), wave)
    acc2 = pd.concat(b.acc, ignore_index=True)
    fresh = b.contacts_for(new_acc, acc2["frame_size"].to_numpy()[new_acc], 1.0, wave, all_new=True)
    parts = [old, joiners[["contact_idx", "account_idx"]].assign(newly_included=True),
             fresh[["contact_idx", "account_idx", "newly_included"]]]
    active2 = np.concatenate([kept_acc, new_acc])
    dormant2 = np.concatenate([kept_dormant, np.zeros(len(new_acc), bool)])
    order = np.argsort(active2, kind="stable")
    return pd.concat(parts, ignore_index=True), active2[order], dormant2[order]
