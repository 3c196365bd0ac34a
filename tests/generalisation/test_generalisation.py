"""Every study's estimators on three generator structures (issue 16, item 4).

The slow test runs seeds 0-19 of each structure (``coverage.run``, the runs behind
``docs/generalisation.md``) and asserts 90% coverage (18/20) for each default (headline)
estimator on each structure; the combinations known to fall short are strict expected
failures (``shortfalls.KNOWN_SHORTFALLS``), so a change that repairs - or breaks - one shows.
The fast smoke test runs two seeds: every estimator on every structure, finite, ordered, near
its planted truth where it is expected to be, and the structures really differ.
"""
from __future__ import annotations

import numpy as np
import pytest

from generalisation.coverage import ESTIMATORS, STRUCTURE_NAMES, coverage_table, run
from generalisation.shortfalls import ASSERTED, KNOWN_SHORTFALLS

FAST_SEEDS, SLOW_SEEDS = range(2), range(20)


@pytest.fixture(scope="module")
def smoke():
    # cross-sectional truth from a 1,000-account study (5x the sample): enough for a smoke test
    return run(seeds=FAST_SEEDS, n_truth=1000)


def test_smoke_every_estimator_on_every_structure(smoke):
    got = smoke.groupby(["estimator", "structure"])["seed"].nunique()
    assert set(got.index) == {(e, s) for e in ESTIMATORS for s in STRUCTURE_NAMES}
    assert (got == len(FAST_SEEDS)).all()
    values = smoke[["est", "ci_low", "ci_high", "truth"]].to_numpy(float)
    assert np.isfinite(values).all()
    assert (smoke["ci_low"] <= smoke["est"]).all() and (smoke["est"] <= smoke["ci_high"]).all()
    assert set(smoke.loc[smoke["estimator"] == "morgan_hunt", "method"]) == {
        "kmv_crq", "confidential"}  # both fits proper


def test_smoke_defaults_near_their_truth(smoke):
    """Default estimators not known to fall short: each seed's error within 4 standard errors
    (SE = interval width / 3.92; P(|z| > 4) = 6e-5 per check)."""
    keys = {(e, q, m) for e, q, m in ASSERTED}
    rows = smoke[[(e, q, m) in keys for e, q, m in zip(smoke["estimator"], smoke["quantity"],
                                                        smoke["method"])]]
    rows = rows[[(e, q, s) not in KNOWN_SHORTFALLS for e, q, s in
                 zip(rows["estimator"], rows["quantity"], rows["structure"])]]
    rows = rows[rows["method"] != "mnar_range"]
    se = (rows["ci_high"] - rows["ci_low"]) / 3.92
    bad = rows[(rows["est"] - rows["truth"]).abs() > 4 * se]
    assert bad.empty, bad[["estimator", "quantity", "structure", "seed", "est", "truth"]]
    assert len(rows) > 30


def test_smoke_structures_plant_what_they_say(smoke):
    """The knobs take effect: the planted inflation DiD follows the inflation size (commitment
    1.0 > satisfaction 0.8 > trust 0.3 on the latent scale), and the not-at-random range holds
    the frame truth everywhere."""
    did = smoke[(smoke["quantity"] == "DiD, 0-10 answer") & (smoke["method"] == "plain")]
    truth = did.groupby("structure")["truth"].mean()
    assert truth["commitment"] > truth["satisfaction"] > truth["trust"] > 0
    assert smoke.loc[smoke["method"] == "mnar_range", "covered"].all()


@pytest.fixture(scope="module")
def coverage20():
    return coverage_table(run(seeds=SLOW_SEEDS, n_truth=4000)).set_index(
        ["estimator", "quantity", "method", "structure"])


def _cases():
    for est, quantity, method in ASSERTED:
        for structure in STRUCTURE_NAMES:
            why = KNOWN_SHORTFALLS.get((est, quantity, structure))
            marks = [pytest.mark.slow]
            if why and method != "mnar_range":
                marks.append(pytest.mark.xfail(reason=why, strict=True))
            yield pytest.param(est, quantity, method, structure, marks=marks,
                               id=f"{est}-{quantity}-{method}-{structure}")


@pytest.mark.parametrize("estimator, quantity, method, structure", list(_cases()))
def test_coverage_20_seeds(coverage20, estimator, quantity, method, structure):
    """18/20 or more intervals hold the planted truth (the >= 90% of issue 16)."""
    r = coverage20.loc[(estimator, quantity, method, structure)]
    assert r["n"] == len(SLOW_SEEDS)
    assert r["covered"] >= 18, (r["covered"], r["error"])
