"""crqlab.errors: problems grouped by kind, fair shares of a capped listing (issue 15)."""
from __future__ import annotations

import itertools

import pytest

from crqlab.errors import Problem, ValidationError, fair_shares


def _brute_force(counts: list[int], cap: int) -> list[int]:
    """The allocation fair_shares promises, by search: listing min(count, cap) in all, the
    smallest largest share ('water-filling'); ties broken towards earlier kinds."""
    total = min(sum(counts), cap)
    best = None
    for shares in itertools.product(*(range(c + 1) for c in counts)):
        if sum(shares) != total:
            continue
        key = (sorted(shares, reverse=True), [-s for s in shares])
        if best is None or key < best[0]:
            best = (key, list(shares))
    return best[1]


@pytest.mark.parametrize("counts, cap", [
    ([2000, 3, 3, 3], 200), ([5, 5], 3), ([1, 9, 4], 7), ([0, 6, 2], 5), ([3], 10),
    ([7, 7, 7], 20), ([4, 0, 0, 8], 6), ([2, 2, 2, 2], 3)])
def test_fair_shares_is_water_filling(counts, cap):
    small = [min(c, 12) for c in counts]  # the search is exponential; the rule is the same
    assert fair_shares(small, min(cap, 12)) == _brute_force(small, min(cap, 12))
    shares = fair_shares(counts, cap)
    assert sum(shares) == min(sum(counts), cap)
    assert all(0 <= s <= c for s, c in zip(shares, counts))


def test_a_flood_of_one_kind_hides_no_other():
    assert fair_shares([2000, 3, 3, 3], 200) == [191, 3, 3, 3]
    assert fair_shares([5, 5], None) == [5, 5]


def _p(kind: str, row: int, fix: str | None = None) -> Problem:
    return Problem("r.csv", "nps", row, "11", kind, fix=fix)


def test_report_groups_by_kind_with_counts_and_the_fixing_key():
    problems = [_p("off the 0-10 scale", r, fix="import.responses.missing_codes")
                for r in range(2, 5)] + [_p("text in a numeric column", 9)]
    err = ValidationError(problems, truncated=1997,
                          counts={"off the 0-10 scale": 2000, "text in a numeric column": 1})
    text = str(err)
    assert text.splitlines()[0] == "2001 problem(s) in the study data:"
    assert " 2000 x off the 0-10 scale (3 listed); fix in study.yaml: " \
           "import.responses.missing_codes" in text
    assert " 1 x text in a numeric column" in text
    assert text.count("\n  - ") == 4 and text.endswith("... and 1997 more not listed")
    kinds = err.kinds()
    assert [(k, n, f) for k, n, f, _ in kinds] == [
        ("off the 0-10 scale", 2000, "import.responses.missing_codes"),
        ("text in a numeric column", 1, None)]


def test_kind_and_fix_do_not_change_equality():
    assert Problem("a", "b", 2, "v", "m", kind="k", fix="x") == Problem("a", "b", 2, "v", "m")
    assert Problem("a", "b", 2, "v", "m").group == "m"
    assert Problem("a", "b", 2, "v", "m", kind="k").group == "k"


def test_one_kind_without_a_fix_lists_as_before():
    err = ValidationError([_p("off the 0-10 scale", 2)])
    assert str(err) == ("1 problem(s) in the study data:\n  - r.csv, column 'nps', row 2: off "
                        "the 0-10 scale (value '11')")
