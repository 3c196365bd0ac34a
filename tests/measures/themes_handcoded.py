"""Hand-coded comments for the theme tests: clauses written for the test, each coded by hand.

Each clause below was written for this test and coded by reading it (not by running the
dictionary); some use words the default dictionary does not know, so recall is below 1 on
purpose. :func:`comments` joins one or two clauses into a comment (seeded), 240 comments in
all; a comment's hand codes are the union of its clauses' codes. ``sustainability`` is a
theme the dictionary does not have: the unsupervised suggestion should find it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CLAUSES", "THEMES", "PLANTED_NEW", "comments"]

PLANTED_NEW = "sustainability"

CLAUSES: list[tuple[str, tuple[str, ...]]] = [
    # responsiveness
    ("They always get back to us within the hour.", ("responsiveness",)),
    ("Replies to our emails come very quickly.", ("responsiveness",)),
    ("We wait days for a response to simple questions.", ("responsiveness",)),
    ("Response times have got worse this year.", ("responsiveness",)),
    ("A fast and responsive team.", ("responsiveness",)),
    ("Sometimes we have to chase them several times.", ("responsiveness",)),
    ("Nobody calls back when they say they will.", ("responsiveness",)),
    ("Urgent requests are handled promptly.", ("responsiveness",)),
    ("It takes far too long to get a decision.", ("responsiveness",)),
    ("Quick turnaround on quotes.", ("responsiveness",)),
    # account management
    ("Our account manager is excellent and knows our business.", ("account_management",)),
    ("We have had three account managers in two years.", ("account_management",)),
    ("The account team visits us regularly.", ("account_management",)),
    ("We never see anyone from their side unless there is a renewal.", ("account_management",)),
    ("Our relationship manager is proactive about new opportunities.", ("account_management",)),
    ("Account management feels reactive.", ("account_management",)),
    ("Sarah on their side goes above and beyond for us.", ("account_management",)),
    # reliability
    ("Deliveries always arrive on time.", ("reliability",)),
    ("They do what they promise, every time.", ("reliability",)),
    ("Missed deadlines on the last two projects.", ("reliability",)),
    ("A dependable partner.", ("reliability",)),
    ("Shipments are often late.", ("reliability",)),
    ("Very consistent service over many years.", ("reliability",)),
    ("The system is rock solid.", ("reliability",)),
    # expertise
    ("Their engineers really know their stuff.", ("expertise",)),
    ("Impressive technical expertise.", ("expertise",)),
    ("They understand our industry better than competitors do.", ("expertise",)),
    ("The consultants they send are too junior.", ("expertise",)),
    ("Specialists who can solve hard problems.", ("expertise",)),
    ("Staff lack knowledge of our regulations.", ("expertise",)),
    ("Smart people with deep experience in logistics.", ("expertise",)),
    # innovation
    ("They bring us new ideas every quarter.", ("innovation",)),
    ("The product has not changed in years and feels outdated.", ("innovation",)),
    ("An innovative partner.", ("innovation",)),
    ("We would like to see the roadmap shared earlier.", ("innovation",)),
    ("They are at the cutting edge of the market.", ("innovation",)),
    ("Competitors are moving faster with new features.", ("innovation",)),
    # pricing
    ("Prices went up again without explanation.", ("pricing",)),
    ("Good value for money overall.", ("pricing",)),
    ("Too expensive for what we get.", ("pricing",)),
    ("Their rates are competitive.", ("pricing",)),
    ("Costs are hard to predict.", ("pricing",)),
    ("We were offered a fair discount at renewal.", ("pricing",)),
    ("The licence is overpriced.", ("pricing",)),
    # onboarding
    ("Onboarding was smooth and well organised.", ("onboarding",)),
    ("The implementation took twice as long as planned.", ("onboarding",)),
    ("Training for new staff is poor.", ("onboarding",)),
    ("Setting up new users is confusing.", ("onboarding",)),
    ("The migration from our old system went well.", ("onboarding",)),
    # support
    ("The service desk is friendly and helpful.", ("support",)),
    ("Support tickets stay open for weeks.", ("support",)),
    ("The helpdesk solved our problem on the first call.", ("support",)),
    ("Technical support is excellent.", ("support",)),
    ("After-sales care is lacking.", ("support",)),
    # communication
    ("They keep us informed about changes.", ("communication",)),
    ("Communication could be much better.", ("communication",)),
    ("We found out about the price change from a third party.", ("communication", "pricing")),
    ("No updates during the outage.", ("communication", "quality")),
    ("They listen to our feedback.", ("communication",)),
    ("Very transparent about problems.", ("communication",)),
    # quality
    ("The software has too many bugs.", ("quality",)),
    ("High quality products.", ("quality",)),
    ("Frequent errors in the reports they send.", ("quality",)),
    ("The platform crashes at month end.", ("quality",)),
    ("Workmanship is first class.", ("quality",)),
    ("Several outages this year.", ("quality",)),
    # billing
    ("Invoices are often wrong.", ("billing",)),
    ("Billing is clear and accurate.", ("billing",)),
    ("Getting a credit note takes months.", ("billing",)),
    ("Payment terms are flexible.", ("billing",)),
    # two themes in one clause
    ("The support team responds quickly to tickets.", ("support", "responsiveness")),
    ("Our account manager never replies to emails.", ("account_management", "responsiveness")),
    ("Expensive, and the quality has dropped.", ("pricing", "quality")),
    ("Knowledgeable trainers made the rollout easy.", ("expertise", "onboarding")),
    # the theme the dictionary lacks (planted for the suggestion)
    ("We need better carbon reporting from suppliers.", (PLANTED_NEW,)),
    ("Their carbon footprint data is incomplete.", (PLANTED_NEW,)),
    ("Environmental commitments are vague.", (PLANTED_NEW,)),
    ("No clear plan for carbon emissions reduction.", (PLANTED_NEW,)),
    ("Packaging waste is excessive, carbon heavy.", (PLANTED_NEW,)),
    ("Sustainability targets and carbon data would help our own reporting.", (PLANTED_NEW,)),
    # no theme
    ("Nothing to add.", ()),
    ("Keep it up.", ()),
    ("Overall a good year.", ()),
    ("No comment.", ()),
    ("Happy with everything.", ()),
    ("Hard to say.", ()),
    ("We have been customers since 2009.", ()),
    ("The office move was disruptive for us.", ()),
]

#: Themes of the hand coding that the default dictionary also has.
THEMES = sorted({t for _, codes in CLAUSES for t in codes} - {PLANTED_NEW})


def comments(n: int = 240, seed: int = 20) -> pd.DataFrame:
    """``n`` comments of one or two clauses with their hand codes (one boolean column per
    theme, including :data:`PLANTED_NEW`); every clause is used at least once."""
    rng = np.random.default_rng(seed)
    k = len(CLAUSES)
    first = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    rng.shuffle(first)
    rows = []
    for i, a in enumerate(first):
        parts = [int(a)]
        if rng.random() < 0.4:
            b = int(rng.integers(0, k))
            if b != a:
                parts.append(b)
        text = " ".join(CLAUSES[p][0] for p in parts)
        codes = {t for p in parts for t in CLAUSES[p][1]}
        rows.append({"comment": text} | {t: t in codes for t in [*THEMES, PLANTED_NEW]})
    return pd.DataFrame(rows)
