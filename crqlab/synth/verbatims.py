"""Verbatim comments (``strengths``, ``weaknesses``) from topics with planted mention rates.

Each respondent mentions each topic independently with the planted probability of their
segment (tenure below ``long_tenure_years`` or not); the text joins one phrase per mentioned
topic, in topic order. The phrases are recorded in the truth so analyses can code the text.
"""
from __future__ import annotations

import numpy as np

from crqlab.synth.params import SynthParams

__all__ = ["PHRASES", "draw_verbatims", "verbatim_truth", "verbatim_model"]

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "strengths": {
        "responsiveness": ("They respond quickly when we raise an issue.", "A very responsive team."),
        "account management": ("Our account manager knows our business well.",
                               "Strong, proactive account management."),
        "reliability": ("They deliver what they promise.", "Reliable delivery, always on time."),
        "expertise": ("Deep technical expertise.", "Knowledgeable people who understand our sector."),
        "innovation": ("They keep bringing us new ideas.", "Genuinely innovative products."),
    },
    "weaknesses": {
        "pricing": ("Pricing has crept up and value for money is questionable.",
                    "Too expensive compared with the alternatives."),
        "responsiveness": ("Slow to respond to support requests.", "It takes too long to get answers."),
        "account management": ("Too many changes of account manager.",
                               "We rarely see our account manager."),
        "innovation": ("Little innovation in recent years.", "The product roadmap feels stale."),
        "onboarding": ("Onboarding new users was confusing.", "The onboarding process was slow."),
    },
}


def _topics(params: SynthParams) -> dict[str, dict]:
    return {"strengths": dict(params.strength_topics), "weaknesses": dict(params.weakness_topics)}


def draw_verbatims(rng: np.random.Generator, params: SynthParams, long_tenure: np.ndarray) -> dict:
    """Texts (object arrays, None = no comment), mention indicators and planted probabilities."""
    n = len(long_tenure)
    out: dict = {"mentions": {}, "probability": {}}
    for fld, topics in _topics(params).items():
        key = np.zeros(n, dtype=np.int64)   # base-3 code: per topic 0 = not named, 1/2 = phrase
        options = []
        for t, (topic, (short, long)) in enumerate(topics.items()):
            prob = np.where(long_tenure, long, short)
            hit = rng.random(n) < prob
            pick = rng.integers(0, 2, n)
            key += np.where(hit, 1 + pick, 0) * 3**t
            options.append(PHRASES[fld].get(topic, (f"{topic.capitalize()}.",) * 2))
            out["mentions"][(fld, topic)] = hit
            out["probability"][(fld, topic)] = prob
        codes, inverse = np.unique(key, return_inverse=True)
        texts = []
        for code in codes:
            digits = [(int(code) // 3**t) % 3 for t in range(len(options))]
            parts = [opt[d - 1] for opt, d in zip(options, digits) if d]
            texts.append(" ".join(parts) if parts else None)
        out[fld] = np.array(texts, dtype=object)[inverse]
    return out


def verbatim_truth(texts: dict, responded: np.ndarray) -> dict:
    """Per wave: expected and realised mention rates among respondents, per field and topic."""
    out: dict = {}
    for (fld, topic), prob in texts["probability"].items():
        hit = texts["mentions"][(fld, topic)]
        out.setdefault(fld, {})[topic] = {
            "expected_rate": float(prob[responded].mean()) if responded.any() else None,
            "realised_rate": float(hit[responded].mean()) if responded.any() else None}
    return out


def verbatim_model(params: SynthParams) -> dict:
    """Planted mention rates by segment and the phrases of each topic."""
    return {fld: {topic: {"rate_short_tenure": s, "rate_long_tenure": l,
                          "phrases": list(PHRASES[fld].get(topic, (f"{topic.capitalize()}.",)))}
                  for topic, (s, l) in topics.items()}
            for fld, topics in _topics(params).items()} | {
        "long_tenure_years": params.long_tenure_years,
        "segment": "tenure_years >= long_tenure_years"}
