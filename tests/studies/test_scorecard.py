"""crqlab.studies.scorecard: choosing the scored wave, changes between waves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crqlab.errors import InsufficientDataError
from crqlab.measures.nps import nps_test
from crqlab.models.bias import clustered_effects
from crqlab.studies.scorecard import choose_wave, wave_changes


def _respondents(counts: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"wave": [w for w, k in counts.items() for _ in range(k)]})


def test_latest_wave_with_enough_respondents_is_chosen():
    c = choose_wave(_respondents({1: 8, 2: 9, 3: 2}), [1, 2, 3, 4], 0, 5)
    assert (c.wave, c.answered, c.scorable, c.silent, c.small) == (2, [1, 2, 3], [1, 2], [4], [3])


def test_an_asked_wave_is_kept():
    assert choose_wave(_respondents({1: 8, 2: 9}), [1, 2], 1, 5).wave == 1


@pytest.mark.parametrize("counts, waves, wave, error, match", [
    ({}, [1], 0, InsufficientDataError, "no responses in any wave"),
    ({1: 2, 2: 3}, [1, 2], 0, InsufficientDataError, "no wave has at least 5"),
    ({1: 8}, [1], 7, ValueError, "wave 7 is not in this study"),
    ({1: 8}, [1, 2], 2, InsufficientDataError, "wave 2 has no responses"),
    ({1: 8, 2: 3}, [1, 2], 2, InsufficientDataError, "wave 2 has fewer than 5"),
])
def test_waves_that_cannot_be_scored_say_why(counts, waves, wave, error, match):
    with pytest.raises(error, match=match):
        choose_wave(_respondents(counts), waves, wave, 5)


def _scores(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for w, shift in ((1, 0.0), (2, 0.4), (3, 0.1)):
        for i in range(60):
            rows.append({"wave": w, "account_id": f"A{i % 12}",
                         "crq_index": 5 + shift + rng.normal(0, 0.8),
                         "nps": int(rng.integers(4 + w, 11))})
    return pd.DataFrame(rows)


def test_changes_equal_the_two_estimators_called_directly():
    scores = _scores()
    entries, table = wave_changes(scores, [1, 3], "crq_index", {1: "2021", 3: "2023"}, ci=0.9,
                                  n_boot=50, seed=7)
    assert [e[0] for e in entries] == ["crq_index.change_w1_w3", "nps.change_w1_w3"]
    pair = scores[scores["wave"].isin([1, 3])].assign(later=lambda d: d["wave"] == 3)
    crq = clustered_effects(pair, "crq_index", group="later", moderator=None, controls=(),
                            ci=0.9).set_index("term").loc["later"]
    later = pair["later"]
    nps = nps_test(pair.loc[later, "nps"], pair.loc[~later, "nps"], method="bootstrap",
                   clusters_x=pair.loc[later, "account_id"],
                   clusters_y=pair.loc[~later, "account_id"], joint=True, n_boot=50, seed=7,
                   ci=0.9).iloc[0]
    assert entries[0][1] == crq["est"] and entries[0][2]["ci"] == (crq["ci_low"], crq["ci_high"])
    assert entries[1][1] == nps["est"] and entries[1][2]["p_value"] == nps["p_value"]
    assert entries[0][2]["n"] == 120 and entries[0][2]["unit"] == "1-7 scale"
    assert list(table["change"]) == ["2021 to 2023"] * 2
    assert list(table["score"]) == ["crq_index", "nps"]


def test_one_shown_wave_gives_no_change():
    entries, table = wave_changes(_scores(), [2], "crq_index", {2: "x"}, ci=0.95, n_boot=20,
                                  seed=1)
    assert entries == [] and table.empty
