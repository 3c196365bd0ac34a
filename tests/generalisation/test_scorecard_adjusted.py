"""The scorecard's adjusted headline against the planted whole-frame honest value, on three
generator structures and both designs the scorecard meets (issue 16, item 2).

The slow test runs seeds 0-19 (``scorecard_adjusted.run``, the runs behind the scorecard
section of ``docs/generalisation.md``) and asserts 90% coverage (18/20) of the headline
(non-response and inflation adjusted) for each design, structure and quantity; combinations
known to fall short are strict expected failures (:data:`SHORTFALLS`). The fast test runs one
seed of every structure and design: finite values, estimates inside their intervals, and the
adjusted headline closer to the truth than the reported value on average.
"""
from __future__ import annotations

import numpy as np
import pytest

from generalisation.scorecard_adjusted import (DEFAULT, DESIGNS, QUANTITIES, STRUCTURE_NAMES,
                                               coverage_table, run)

#: (design, quantity, structure) -> why the headline covers fewer than 18 of 20 seeds.
SHORTFALLS: dict[tuple[str, str, str], str] = {}


@pytest.fixture(scope="module")
def smoke():
    return run(seeds=range(1))


def test_smoke_every_design_structure_and_quantity(smoke):
    got = smoke[smoke["default"]].groupby(["design", "structure", "quantity"])["seed"].size()
    assert set(got.index) == {(d, s, q) for d in DESIGNS for s in STRUCTURE_NAMES
                              for q in QUANTITIES.values()}
    values = smoke[["est", "ci_low", "ci_high", "truth"]].to_numpy(float)
    assert np.isfinite(values).all()
    assert (smoke["ci_low"] <= smoke["est"]).all() and (smoke["est"] <= smoke["ci_high"]).all()
    assert set(smoke.loc[smoke["design"] == "sample", "design_method"]) >= {"cross_section"}
    assert set(smoke.loc[smoke["design"] == "company-a", "design_method"]) >= {"panel"}


def test_smoke_the_adjustment_moves_towards_the_truth(smoke):
    """Named answers are inflated and the more committed answer more often in every
    structure, so the reported value sits above the honest frame; the headline removes most of
    that (mean absolute error at most half the reported value's, over the 12 combinations)."""
    err = smoke.assign(e=(smoke["est"] - smoke["truth"]).abs()) \
        .pivot_table(index=["design", "structure", "quantity"], columns="method", values="e")
    scale = np.where([q == "NPS" for q in err.index.get_level_values("quantity")], 1.0, 50.0)
    assert (err["reported"] * scale).mean() > 2 * (err[DEFAULT] * scale).mean()


def _slow_cases():
    out = []
    for d in DESIGNS:
        for s in STRUCTURE_NAMES:
            for q in QUANTITIES.values():
                reason = SHORTFALLS.get((d, q, s))
                marks = [pytest.mark.slow] + ([pytest.mark.xfail(reason=reason, strict=True)]
                                              if reason else [])
                out.append(pytest.param(d, s, q, marks=marks, id=f"{d}-{s}-{q}"))
    return out


@pytest.fixture(scope="module")
def slow_table():
    return coverage_table(run(seeds=range(20)))


@pytest.mark.parametrize("design, structure, quantity", _slow_cases())
def test_headline_covers_the_whole_frame_honest_value(slow_table, design, structure,
                                                      quantity):
    row = slow_table[(slow_table["design"] == design) & (slow_table["structure"] == structure)
                     & (slow_table["quantity"] == quantity) & slow_table["default"]]
    assert len(row) == 1 and int(row["n"].iloc[0]) == 20
    assert int(row["covered"].iloc[0]) >= 18, row.to_dict("records")


def test_the_docs_section_is_kept_when_the_page_is_rebuilt(tmp_path):
    from generalisation.scorecard_adjusted import END, START, kept_section, write_section

    page = tmp_path / "g.md"
    page.write_text("# page\n\nbody\n", encoding="utf-8")
    write_section(page, f"{START}\nfirst\n{END}\n")
    write_section(page, f"{START}\nsecond\n{END}\n")
    text = page.read_text(encoding="utf-8")
    assert text.count(START) == 1 and "second" in text and "first" not in text
    assert kept_section(text) == f"{START}\nsecond\n{END}\n" and kept_section("x") == ""
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "generalisation.md").read_text(
        encoding="utf-8")
    assert "## Scorecard: the adjusted headline (notebook 01)" in kept_section(doc)
