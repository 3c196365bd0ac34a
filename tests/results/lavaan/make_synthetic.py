"""Synthetic KMV-shaped data sets that make_lavaan.R fits in lavaan.

(crqlab.synth was not committed when these were made; they come from crqlab.models.sem.simulate_sem.)

Run from the repository root:  .venv/bin/python tests/results/lavaan/make_synthetic.py
Writes beside this file:
  kmv_synthetic.csv          the CRQ form of KMV (18 CRQ items on 1-7, nps 0-10, binary
                             retained_next_wave, account_id, role), two roles with different
                             planted commitment paths, 700 respondents
  kmv_crq.lav, kmv_crq_rival.lav      the model syntax crqlab generates for it
  kmv_classic_synthetic.csv  Morgan & Hunt's KMV battery (36 items, continuous), 800 respondents
  kmv_classic.lav            its syntax
tests/models/test_sem.py regenerates both data sets with these functions and checks the committed files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crqlab.models.sem import kmv_classic_model, kmv_crq_model, rival_model, simulate_sem

HERE = Path(__file__).resolve().parent
SEED = 20261123

# Planted standardised paths of the CRQ form, per role (key decision makers' commitment is
# planted to matter more for advocacy and retention).
CRQ_PATHS = {
    "key decision maker": {("service", "trust"): 0.30, ("experience", "trust"): 0.25,
                           ("solution", "trust"): 0.15, ("trust", "commitment"): 0.45,
                           ("satisfaction", "commitment"): 0.25, ("commitment", "nps"): 0.70,
                           ("commitment", "retained_next_wave"): 0.50},
    "other": {("service", "trust"): 0.30, ("experience", "trust"): 0.25,
              ("solution", "trust"): 0.15, ("trust", "commitment"): 0.45,
              ("satisfaction", "commitment"): 0.25, ("commitment", "nps"): 0.45,
              ("commitment", "retained_next_wave"): 0.35},
}
ROLE_N = {"key decision maker": 250, "other": 450}


def make_kmv_synthetic(seed: int = SEED) -> pd.DataFrame:
    """The CRQ-form KMV data set: per role, simulate_sem with 1-7 items and a 0-10 nps.

    Items load 0.75-0.90 (fixed per item by the seed), exogenous drivers correlate 0.5,
    retention prevalence 0.85, 0-10 nps at location 8 and SD 1.8, 60 + 110 accounts with an
    intra-account correlation of 0.2.
    """
    model = kmv_crq_model()
    rng = np.random.default_rng(seed)
    items = [i for its in model.indicators.values() for i in its]
    loadings = dict(zip(items, np.round(rng.uniform(0.75, 0.90, len(items)), 2)))
    parts = []
    for k, (role, n) in enumerate(ROLE_N.items()):
        d = simulate_sem(model, n, coefficients=CRQ_PATHS[role], loadings=loadings,
                         exo_corr=0.5, binary={"retained_next_wave": 0.85}, item_scale=(1, 7),
                         outcome_scales={"nps": (0, 10, 8, 1.8)}, n_accounts=n // 4,
                         icc=0.2, seed=seed + k + 1)
        d["account_id"] = f"{'KO'[k]}" + d["account_id"]
        d.insert(0, "role", role)
        parts.append(d)
    out = pd.concat(parts, ignore_index=True)
    for c in out.columns:
        if c not in ("role", "account_id"):
            out[c] = out[c].astype(int)
    return out


def make_kmv_classic_synthetic(seed: int = SEED) -> pd.DataFrame:
    """Morgan & Hunt's battery from kmv.yaml: 800 respondents, continuous items, loading 0.8,
    antecedents correlated 0.3, every hypothesised path 0.3 with its sign, rounded to 4
    decimals."""
    model = kmv_classic_model()
    coef = {(p.source, p.target): (0.3 if p.sign == "+" else -0.3) for p in model.paths}
    d = simulate_sem(model, 800, coefficients=coef, loadings=0.8, exo_corr=0.3, seed=seed)
    return d.round(4)


def main() -> None:
    crq = kmv_crq_model()
    make_kmv_synthetic().to_csv(HERE / "kmv_synthetic.csv", index=False)
    (HERE / "kmv_crq.lav").write_text(crq.syntax, encoding="utf-8")
    (HERE / "kmv_crq_rival.lav").write_text(rival_model(crq).syntax, encoding="utf-8")
    make_kmv_classic_synthetic().to_csv(HERE / "kmv_classic_synthetic.csv", index=False)
    (HERE / "kmv_classic.lav").write_text(kmv_classic_model().syntax, encoding="utf-8")


if __name__ == "__main__":
    main()
