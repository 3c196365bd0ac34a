"""Every written form of a name or e-mail address is scrubbed from verbatims and found by the
leak scan (crqlab.data.nameforms through crqlab.data.privacy.scrub_text and find_leaks).

Each form is checked three ways: ``scrub_text`` turns the sentence holding it into exactly the
sentence with a placeholder, and ``find_leaks`` reports its person in an HTML page (the form
HTML-escaped) and in a JSON file (the form with ``\\uXXXX`` escapes, as in results.json and
.ipynb files). Negative cases pin the surname rule: common words that happen to be someone's
surname stay in ordinary text.
"""
from __future__ import annotations

import html
import json

import pandas as pd
import pytest

from crqlab.data.nameforms import common_words, rare_surname
from crqlab.data.privacy import find_leaks, safe_verbatims, scrub_text

PEOPLE = ["Jane Doe", "jane.doe@acme.example", "José Müller", "Anna Price", "Kim Nettleton",
          "Liam O'Brien", "Eva Best", "Tom Young"]
NAME, MAIL = "[name removed]", "[e-mail removed]"

#: (form as written in a comment, placeholder, whose form it is)
FORMS = [
    ("Jane Doe", NAME, "Jane Doe"),
    ("Doe, Jane", NAME, "Jane Doe"),                       # surname, comma, first name
    ("DOE JANE", NAME, "Jane Doe"),                        # surname first, upper case
    ("J. Doe", NAME, "Jane Doe"),                          # initial and surname
    ("J.Doe", NAME, "Jane Doe"),
    ("Doe, J.", NAME, "Jane Doe"),                         # surname and initial
    ("Jane\u200bDoe", NAME, "Jane Doe"),                   # zero-width space
    ("Jane\u200cDoe", NAME, "Jane Doe"),                   # zero-width non-joiner
    ("Jane\u200dDoe", NAME, "Jane Doe"),                   # zero-width joiner
    ("Jane\u2060Doe", NAME, "Jane Doe"),                   # word joiner
    ("Jane\ufeffDoe", NAME, "Jane Doe"),                   # byte-order mark
    ("Jane\u00a0Doe", NAME, "Jane Doe"),                   # non-breaking space
    ("Jane\u202fDoe", NAME, "Jane Doe"),                   # narrow non-breaking space
    ("Jane-Doe", NAME, "Jane Doe"),                        # hyphen
    ("Jane.Doe", NAME, "Jane Doe"),                        # dot
    ("Ja\u200bne D\u200boe", NAME, "Jane Doe"),            # zero-width inside the words
    ("Nettleton", NAME, "Kim Nettleton"),                  # rare surname alone
    ("NETTLETON, K.", NAME, "Kim Nettleton"),
    ("Jose Mueller", NAME, "José Müller"),                 # accent dropped, umlaut as ue
    ("MULLER, José", NAME, "José Müller"),                 # umlaut dropped
    ("Müller", NAME, "José Müller"),                       # rare surname alone
    ("Mueller", NAME, "José Müller"),
    ("Price, Anna", NAME, "Anna Price"),                   # common surname with first name
    ("A. Price", NAME, "Anna Price"),                      # common surname with initial
    ("Young, Tom", NAME, "Tom Young"),
    ("O'Brien", NAME, "Liam O'Brien"),                     # rare surname with an apostrophe
    ("Liam OBrien", NAME, "Liam O'Brien"),
    ("jane dot doe at acme dot example", MAIL, "jane.doe@acme.example"),   # spelled out
    ("jane.doe [at] acme [dot] example", MAIL, "jane.doe@acme.example"),   # bracketed
    ("jane.doe(at)acme.example", MAIL, "jane.doe@acme.example"),
    ("JANE DOT DOE AT ACME DOT EXAMPLE", MAIL, "jane.doe@acme.example"),
    ("jane . doe @ acme . example", MAIL, "jane.doe@acme.example"),        # spaced
    ("jane.doe {at} acme {dot} example", MAIL, "jane.doe@acme.example"),
    ("jane.doe@acme.example", MAIL, "jane.doe@acme.example"),              # as it is
]


def _sentence(form: str) -> str:
    return f"Thanks to {form} for the quick help"


@pytest.mark.parametrize("form, placeholder, person", FORMS, ids=[repr(f[0]) for f in FORMS])
def test_each_form_is_scrubbed(form, placeholder, person):
    assert scrub_text(_sentence(form), PEOPLE) == _sentence(placeholder)


@pytest.mark.parametrize("form, placeholder, person", FORMS, ids=[repr(f[0]) for f in FORMS])
def test_each_form_is_found_by_the_scan(tmp_path, form, placeholder, person):
    page = tmp_path / "report.html"
    page.write_text(f"<table><tr><td>{html.escape(_sentence(form))}</td></tr></table>",
                    encoding="utf-8")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"values": {"note": _sentence(form)}}, ensure_ascii=True),
                       encoding="utf-8")
    assert find_leaks([page, results], PEOPLE) == [(page, person), (results, person)]


def test_unknown_spelled_out_addresses_are_scrubbed():
    for text in ("write to bob dot smith at example dot org", "bob.smith [at] example [dot] org",
                 "bob(at)example.org please", "bob @ example . org"):
        out = scrub_text(text)
        assert MAIL in out and "bob" not in out.lower(), text


# -- negative cases: the surname rule ------------------------------------------------------------
@pytest.mark.parametrize("word, rare", [
    ("Nettleton", True), ("Müller", True), ("O'Brien", True), ("Fenwick", True),
    ("Young", False), ("Price", False), ("Best", False), ("Smith", False), ("Thomas", False),
    ("Lee", False),  # three letters: never alone
])
def test_surname_rule(word, rare):
    assert rare_surname(word) is rare


def test_common_word_list_is_small_and_holds_the_examples():
    words = common_words()
    assert 3000 < len(words) < 10000
    assert {"young", "price", "best", "smith", "thomas"} <= words
    assert not {"nettleton", "fenwick", "muller", "mueller"} & words


@pytest.mark.parametrize("text", [
    "The price was the best we have had since we were young.",
    "At a price, of course. Young teams do their best.",
    "Jane said the service was fine.",          # a first name alone is not scrubbed
    "Meet me at acme.com's office.",            # "me at" starts no address
])
def test_common_words_stay_in_ordinary_text(tmp_path, text):
    assert scrub_text(text, PEOPLE) == text
    page = tmp_path / "report.html"
    page.write_text(f"<p>{html.escape(text)}</p>", encoding="utf-8")
    assert find_leaks([page], PEOPLE) == []


def test_safe_verbatims_scrub_rather_than_drop():
    texts = ["Doe, Jane here: slow desk", "Ask J. Doe", "Fine", "jane dot doe at acme dot example",
             "Nettleton was helpful", "Good", "Price is fair"]
    out = safe_verbatims(pd.DataFrame({"c": texts}), "c", min_cell_size=5, names=PEOPLE,
                         terms=["Acme Holdings"], seed=0)
    assert len(out) == len(texts)
    assert sorted(out["c"]) == sorted([f"{NAME} here: slow desk", f"Ask {NAME}", "Fine", MAIL,
                                       f"{NAME} was helpful", "Good", "Price is fair"])


def test_terms_are_matched_whole_only():
    assert scrub_text("Acme  holdings renewed; acme was late", terms=["Acme Holdings"]) == \
        f"{NAME} renewed; acme was late"
