"""Verbatim themes: dictionary loading, coding against hand coding and planted topics, shares
with Wilson intervals and suppression, unsupervised suggestions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import cohen_kappa_score

from crqlab.data.privacy import make_scrubber
from crqlab.measures.themes import (ThemeError, agreement, code_comments, comment_themes,
                                    load_themes,
                                    normalise_text, study_themes, suggest_themes, theme_shares)
from crqlab.stats import wilson_ci
from crqlab.synth import generate
from crqlab.synth.verbatims import PHRASES
from measures.themes_handcoded import CLAUSES, PLANTED_NEW, THEMES, comments

#: synthetic topic -> the dictionary's theme
TOPIC = {"responsiveness": "responsiveness", "account management": "account_management",
         "reliability": "reliability", "expertise": "expertise", "innovation": "innovation",
         "pricing": "pricing", "onboarding": "onboarding"}


@pytest.fixture(scope="module")
def themes():
    return load_themes()


@pytest.fixture(scope="module")
def handcoded():
    return comments()


def test_default_dictionary_loads(themes):
    assert len(themes.names) >= 10
    assert set(THEMES) <= set(themes.names)
    assert all(themes.labels[n] for n in themes.names)


def test_normalise_reads_plurals_case_and_accents():
    assert normalise_text("PRICES, Déliveries & processes!") == "price delivery process"
    assert normalise_text("Ce\u200bline's bus") == "celine s bus"


def test_wildcard_and_whole_words(themes):
    assert themes.codes("Genuinely innovative products") == ["innovation"]
    assert themes.codes("The roadmap feels stale") == ["innovation"]  # 'feel' is not 'fee'
    assert themes.codes("supported") == []  # whole words: support is not supported
    assert themes.codes("Invoices are wrong") == ["billing"]
    assert themes.codes(None) == [] and themes.codes("   ") == []


def test_hand_coded_agreement(themes, handcoded):
    # 240 comments of clauses written and coded by hand (tests/measures/themes_handcoded.py);
    # measured with the shipped dictionary: precision 1.000, recall 0.871, kappa 0.923 over
    # every theme-comment pair; reliability has the lowest recall (0.568: 'late', 'rock solid'
    # are not in the dictionary) - the misses are the consultant's to add.
    assert len(handcoded) >= 200
    coded = code_comments(handcoded["comment"], themes)
    table = agreement(coded, handcoded, THEMES).set_index("theme")
    overall = table.loc["all"]
    assert overall["precision"] >= 0.98
    assert overall["recall"] >= 0.85
    assert overall["kappa"] >= 0.90
    assert (table["recall"] >= 0.5).all()
    # kappa as sklearn computes it
    for t in ("pricing", "reliability"):
        assert_allclose(table.loc[t, "kappa"],
                        cohen_kappa_score(coded[t], handcoded[t]), atol=1e-12)
    # counts add up
    assert (table["true_pos"] + table["false_neg"]).loc[THEMES].tolist() == \
        [int(handcoded[t].sum()) for t in THEMES]


def test_every_synthetic_phrase_is_coded_with_its_topic(themes):
    for field, topics in PHRASES.items():
        for topic, phrases in topics.items():
            for p in phrases:
                assert TOPIC[topic] in themes.codes(p), (field, p)


def test_planted_topic_rates_recovered():
    # the generator plants topics with known rates and records the realised share among
    # respondents of each wave; coding the texts gives the same share exactly
    s = generate("tiny", seed=3)
    themes = load_themes()
    resp = s.responses
    for wave, truth in s.truth["waves"].items():
        r = resp[resp["wave"] == int(wave)]
        for field, topics in truth["verbatims"].items():
            coded = code_comments(r[field], themes)
            for topic, rates in topics.items():
                # truth.json keeps rates to 6 decimals
                assert_allclose(coded[TOPIC[topic]].mean(), rates["realised_rate"], atol=5e-7)


def test_shares_wilson_by_group_and_suppression(themes):
    texts = ["Too expensive."] * 6 + ["Slow to respond."] * 4 + [None] * 3 + \
        ["Great people."] * 2 + ["Prices up."] * 1
    coded = code_comments(pd.Series(texts), themes)
    coded["wave"] = [1] * 13 + [2] * 3
    shown = theme_shares(coded, ["pricing", "responsiveness"], by="wave", min_cell_size=3)
    assert not shown["suppressed"].any()
    w1 = shown[shown["wave"] == 1].set_index("theme")
    assert w1.loc["pricing", "n"] == 10 and w1.loc["pricing", "count"] == 6
    lo, hi = wilson_ci(6, 10)
    assert_allclose([w1.loc["pricing", "ci_low"], w1.loc["pricing", "ci_high"]], [lo, hi])
    assert shown[shown["wave"] == 2].set_index("theme").loc["pricing", "count"] == 1
    # at 5, wave 2's three comments are suppressed, and wave 1 too (total minus shown)
    out = theme_shares(coded, ["pricing", "responsiveness"], by="wave", min_cell_size=5)
    assert out["suppressed"].all() and out["est"].isna().all()
    alone = theme_shares(coded[coded["wave"] == 1], ["pricing"], min_cell_size=5)
    assert not alone["suppressed"].any() and alone.loc[0, "est"] == 0.6


def test_suggestion_finds_the_planted_theme(themes, handcoded):
    out = suggest_themes(handcoded["comment"], themes, seed=0, min_cell_size=5)
    assert len(out) >= 1
    assert "carbon" in out.loc[0, "terms"]
    planted = [c for c, codes in CLAUSES if PLANTED_NEW in codes]
    assert out.loc[0, "n_comments"] >= len(planted)
    assert ((out["n_comments"] >= 5) & (out["n"] >= out["n_comments"])).all()
    again = suggest_themes(handcoded["comment"], themes, seed=0, min_cell_size=5)
    pd.testing.assert_frame_equal(out, again)


def test_suggestion_never_shows_a_name_or_rare_term(themes):
    texts = [f"Kim Fenwickson said the carbon data is late {i}" for i in range(8)] + \
        ["Zanzibarquux once"] + ["Nothing."] * 3
    scrub = make_scrubber(["Kim Fenwickson"])
    out = suggest_themes(texts, themes, seed=0, min_cell_size=5, scrub=scrub)
    joined = " ".join(out["terms"])
    assert "carbon" in joined
    assert "fenwickson" not in joined and "kim" not in joined and "zanzibarquux" not in joined
    assert suggest_themes(["a b"] * 3, themes, min_cell_size=5).empty


def test_broken_dictionaries_are_refused(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("themes:\n  pricing:\n    phrase: [price]\n", encoding="utf-8")
    with pytest.raises(ThemeError, match=r"t\.yaml.*phrase"):
        load_themes(bad)
    bad.write_text("themes:\n  bad name:\n    phrases: [x]\n", encoding="utf-8")
    with pytest.raises(ThemeError, match="bad name"):
        load_themes(bad)
    with pytest.raises(ThemeError, match="does not exist"):
        load_themes(tmp_path / "missing.yaml")
    bad.write_text("themes:\n  pricing:\n    phrases: ['***']\n", encoding="utf-8")
    with pytest.raises(ThemeError, match="no phrase"):
        load_themes(bad)


def test_study_names_its_own_dictionary(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "themes:\n  carbon:\n    label: Carbon\n    phrases: [carbon*]\n", encoding="utf-8")

    class S:
        root = tmp_path
        config = {"themes": "mine.yaml"}

    own = study_themes(S())
    assert own.names == ["carbon"] and own.codes("Carbon-neutral by 2030") == ["carbon"]
    S.config = {}
    assert study_themes(S()).names == load_themes().names
    coded = code_comments(["carbon", np.nan], own)
    assert coded["carbon"].tolist() == [True, False] and coded["commented"].tolist() == [True, False]


def test_study_yaml_themes_key(tmp_path):
    from crqlab.data.study import load_study
    from crqlab.errors import ValidationError
    from hardening.builders import Frames, synth_frames, write_frames

    f = synth_frames()
    folder = write_frames(Frames(f.contacts, f.responses, f.accounts,
                                 dict(f.config, themes="mine.yaml")), tmp_path / "study")
    (folder / "mine.yaml").write_text(
        "themes:\n  price:\n    label: Price\n    phrases: [expensive, pric*]\n",
        encoding="utf-8")
    study = load_study(folder, cache=False)
    assert study_themes(study).names == ["price"]
    assert folder / "mine.yaml" in study.input_files()  # hashed with the inputs of a run
    bad = write_frames(Frames(f.contacts, f.responses, f.accounts,
                              dict(f.config, themes="../mine.yaml")), tmp_path / "bad")
    with pytest.raises(ValidationError, match=r"themes.*\.\."):
        load_study(bad, cache=False)


def test_comment_themes_by_wave_equal_theme_shares(themes):
    s = generate("tiny", seed=3)
    resp = s.responses.assign(wave=s.responses["wave"].astype(int))
    out = comment_themes(resp, themes, by="wave", min_cell_size=5)
    assert set(out["field"]) == {"strengths", "weaknesses"}
    for fld in ("strengths", "weaknesses"):
        coded = code_comments(resp[fld], themes).assign(wave=resp["wave"].to_numpy())
        direct = theme_shares(coded, themes.names, "wave", min_cell_size=5)
        got = out[out["field"] == fld].drop(columns=["field", "label"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, direct, check_dtype=False)
    assert (out["label"] == out["theme"].map(themes.labels)).all()
    whole = comment_themes(resp, themes, by=None)
    assert (whole.groupby("field")["n"].first() == resp[["strengths", "weaknesses"]]
            .notna().sum()).all()
