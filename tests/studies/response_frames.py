"""Small hand-made frames for the response-rate study and its figures (no study files).

Accounts differ in a planted relationship quality that raises both response and scores, key
decision makers answer more, and later respondents (more reminders) score a little lower.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from crqlab.studies import response_rates as rr


def frames(waves=(1, 2), n_accounts: int = 8, per_account: int = 10, seed: int = 3):
    """``(frame, scores)``: the invitation frame of every wave and the respondents' scores."""
    rng = np.random.default_rng(seed)
    roles = ("key decision maker", "operational", "administrative")
    quality = rng.normal(0, 0.6, n_accounts)
    frame, scores = [], []
    for w in waves:
        for a in range(n_accounts):
            for i in range(per_account):
                cid, role = f"C{a:02d}{i:02d}", roles[i % 3]
                logit = 0.4 + quality[a] + (0.8 if role == roles[0] else 0.0)
                responded = bool(rng.random() < 1 / (1 + np.exp(-logit)))
                reminders = int(rng.integers(0, 3)) if responded else np.nan
                days = float(rng.integers(1, 30)) if responded else np.nan
                frame.append({"wave": w, "contact_id": cid, "account_id": f"A{a:02d}",
                              "role": role, "responded": responded, "reminders": reminders,
                              "days_to_respond": days,
                              "tenure_years": np.nan if i == 9 else float(i % 7),
                              "size": ("small", "large")[a % 2], "account_manager": f"AM {a % 3}",
                              "newly_included": i % 4 == 0})
                if responded:
                    crq = 5 + quality[a] - 0.15 * reminders + 0.1 * w + rng.normal(0, 0.5)
                    nps = round(7.5 + 2 * quality[a] + rng.normal(0, 1.2))
                    scores.append({"wave": w, "contact_id": cid, "account_id": f"A{a:02d}",
                                   "role": role, "newly_included": i % 4 == 0,
                                   "crq_index": float(np.clip(crq, 1, 7)),
                                   "nps": int(np.clip(nps, 0, 10))})
    return pd.DataFrame(frame), pd.DataFrame(scores)


def design(waves=(1, 2), *, min_cell: int = 3, nps_score: str = "nps", **kw) -> rr.Design:
    """A :class:`~crqlab.studies.response_rates.Design` of :func:`frames`, latest wave."""
    frame, scores = frames(waves, **kw)
    if nps_score != "nps":
        scores = scores.rename(columns={"nps": nps_score})
    crq, nps = rr.score_info("crq_index", nps_score)
    return rr.Design(frame, scores, max(waves), {w: str(2020 + w) for w in waves}, crq, nps,
                     min_cell)
