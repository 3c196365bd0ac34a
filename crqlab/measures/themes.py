"""Verbatim themes: comments coded with a consultant-editable dictionary, shares with intervals.

The ``strengths`` and ``weaknesses`` comments are coded into themes by a dictionary (YAML:
theme -> label and phrases; :data:`DEFAULT_THEMES` ships with crqlab, a study names its own
with ``themes:`` in study.yaml). A comment carries a theme when it contains one of the theme's
phrases as whole words (:func:`code_comments`); :func:`theme_shares` gives the share of comments
mentioning each theme with a Wilson interval, by segment or wave, small groups suppressed;
:func:`suggest_themes` proposes themes the dictionary does not cover (TF-IDF and non-negative
matrix factorisation of the comments no theme coded, as terms only - never a comment).

Matching reads text the way :func:`crqlab.data.nameforms.fold` does (case, accents, zero-width
characters), splits it into words, and reads plurals as singulars (``prices`` as ``price``,
``deliveries`` as ``delivery``); a phrase word ending in ``*`` matches every word starting with
it (``innovat*``). That is a deliberately transparent rule: a consultant can see why a comment
was coded and fix the dictionary, which a trained classifier would not allow.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crqlab.data.nameforms import fold
from crqlab.data.privacy import DEFAULT_MIN_CELL_SIZE, suppress_small
from crqlab.data.schema import Fields, Key, ListOf, MapOf, Name, Text, YamlError, check, read_yaml
from crqlab.errors import CrqlabError
from crqlab.stats import proportion_ci

__all__ = ["DEFAULT_THEMES", "THEMES_SCHEMA", "ThemeError", "Theme", "ThemeDictionary",
           "load_themes", "study_themes", "normalise_text", "code_comments", "theme_shares",
           "comment_themes", "suggest_themes", "agreement"]

#: The theme dictionary shipped with crqlab.
DEFAULT_THEMES = Path(__file__).with_name("themes.yaml")

#: What a theme dictionary file may hold.
THEMES_SCHEMA = Fields(keys={
    "themes": Key(MapOf(key=Name(), value=Fields(keys={
        "label": Key(Text(max_len=100), "shown in reports", default="the theme's name"),
        "phrases": Key(ListOf(item=Text(max_len=200), min_len=1, unique=True),
                       "words or phrases that code a comment with the theme", required=True),
    }), placeholder="THEME", min_len=1), "theme -> label and phrases", required=True),
})

_WORD = re.compile(r"[^\W_]+")


class ThemeError(CrqlabError, ValueError):
    """A theme dictionary that cannot be used (file, key and value named)."""


@dataclass(frozen=True)
class Theme:
    """One theme: its name (an identifier), label and phrases."""

    name: str
    label: str
    phrases: tuple[str, ...]


def _singular(word: str) -> str:
    """``prices`` -> ``price``, ``deliveries`` -> ``delivery``, ``processes`` -> ``process``;
    ``process``, ``bus`` kept."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalise_text(text: str) -> str:
    """A comment as the words matching reads: folded, singular, joined by single spaces."""
    return " ".join(_singular(w) for w in _WORD.findall(fold(str(text))))


def _phrase_pattern(phrase: str) -> str | None:
    parts = []
    for word in phrase.split():
        wild = word.endswith("*")
        words = _WORD.findall(fold(word.rstrip("*")))
        if not words:
            continue
        body = [re.escape(w) for w in words[:-1]]
        last = words[-1]
        body.append(re.escape(last) + r"\w*" if wild else re.escape(_singular(last)))
        parts.append(" ".join(body))
    return r"(?<!\w)" + " ".join(parts) + r"(?!\w)" if parts else None


@dataclass(frozen=True)
class ThemeDictionary:
    """Themes in file order, each phrase compiled once (:meth:`codes` codes one comment)."""

    themes: tuple[Theme, ...]
    source: str = "crqlab default"

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.themes]

    @property
    def labels(self) -> dict[str, str]:
        return {t.name: t.label for t in self.themes}

    def __post_init__(self):
        compiled = {}
        for t in self.themes:
            pats = [p for p in map(_phrase_pattern, t.phrases) if p]
            if not pats:
                raise ThemeError(f"{self.source}: theme {t.name!r} has no phrase with a word")
            compiled[t.name] = re.compile("|".join(pats))
        object.__setattr__(self, "_compiled", compiled)

    def codes(self, text: object) -> list[str]:
        """Names of the themes a comment mentions (none for a missing or blank comment)."""
        if not isinstance(text, str) or not text.strip():
            return []
        norm = normalise_text(text)
        return [name for name, pat in self._compiled.items() if pat.search(norm)]


def load_themes(path: str | Path | None = None) -> ThemeDictionary:
    """Read and check a theme dictionary (default :data:`DEFAULT_THEMES`).

    Raises
    ------
    ThemeError
        The file is missing, not strict YAML (:func:`crqlab.data.schema.read_yaml`), or breaks
        :data:`THEMES_SCHEMA` (unknown keys with a did-you-mean, a theme without phrases, a
        theme name that is not an identifier); the message names the file, line and key.

    Notes
    -----
    Tested in ``tests/measures/test_themes.py`` (the shipped file; broken files).
    """
    p = Path(path) if path is not None else DEFAULT_THEMES
    if not p.is_file():
        raise ThemeError(f"theme dictionary {p} does not exist")
    try:
        doc, lines = read_yaml(p)
    except YamlError as exc:
        raise ThemeError(f"{p.name}: {exc}") from exc
    issues = check(doc, THEMES_SCHEMA, lines)
    if issues:
        raise ThemeError(f"{p.name}: " + "; ".join(i.text() for i in issues[:20]))
    themes = tuple(Theme(name, str(spec.get("label") or name), tuple(map(str, spec["phrases"])))
                   for name, spec in doc["themes"].items())
    return ThemeDictionary(themes, source=p.name if path is not None else "crqlab default")


def study_themes(study) -> ThemeDictionary:
    """The study's own dictionary (``themes:`` in study.yaml, a file in the study folder), else
    the default."""
    ref = (getattr(study, "config", None) or {}).get("themes")
    return load_themes(Path(study.root) / ref) if ref else load_themes()


def code_comments(texts: Iterable[object], themes: ThemeDictionary | None = None) -> pd.DataFrame:
    """One row per comment, one boolean column per theme, plus ``commented`` (non-blank).

    Parameters
    ----------
    texts : iterable
        Comments (missing or blank ones code as no theme and ``commented`` False).
    themes : ThemeDictionary, optional
        Default :func:`load_themes` ().

    Returns
    -------
    DataFrame
        Same index as ``texts`` when it is a Series.

    Notes
    -----
    Agreement with hand coding on 240 comments written for the test, and recovery of the
    synthetic generator's planted topics, in ``tests/measures/test_themes.py``.
    """
    themes = themes or load_themes()
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    codes = [set(themes.codes(t)) for t in series]
    out = pd.DataFrame({name: [name in c for c in codes] for name in themes.names},
                       index=series.index, dtype=bool)
    out["commented"] = [isinstance(t, str) and bool(t.strip()) for t in series]
    return out


def theme_shares(coded: pd.DataFrame, themes: Sequence[str], by: str | Sequence[str] | None = None,
                 *, ci: float = 0.95, min_cell_size: int = DEFAULT_MIN_CELL_SIZE) -> pd.DataFrame:
    """Share of comments mentioning each theme, with Wilson intervals, by group.

    Parameters
    ----------
    coded : DataFrame
        :func:`code_comments` output (with ``commented``), grouping columns joined.
    themes : sequence of str
        Theme columns to count.
    by : str or list of str, optional
        Grouping columns (``wave``, a segment).
    min_cell_size : int
        Groups with fewer comments are suppressed (numbers and ``n`` blanked); within each
        value of the other grouping columns the groups of the last one partition the comments,
        so complementary suppression applies (:func:`crqlab.data.privacy.suppress_small`).

    Returns
    -------
    DataFrame
        ``[*by], theme, count, est, ci_low, ci_high, n, suppressed``: ``n`` is the number of
        comments in the group, ``est`` the share (0-1) mentioning the theme.

    Notes
    -----
    Intervals from :func:`crqlab.stats.proportion_ci` (Wilson, validated against statsmodels).
    Comments are treated as independent: a respondent writes at most one comment per field,
    but respondents cluster in accounts, so the intervals are somewhat narrow when accounts
    differ. Tested in ``tests/measures/test_themes.py`` (counts by hand, suppression).
    """
    by = [by] if isinstance(by, str) else list(by or [])
    data = coded[coded["commented"]]
    groups = data.groupby(by, observed=True, sort=True, dropna=False) if by else [((), data)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        n = len(g)
        counts = [int(g[t].sum()) for t in themes]
        tab = proportion_ci(counts, [n] * len(counts), ci)
        for t, c, (_, r) in zip(themes, counts, tab.iterrows()):
            rows.append(dict(zip(by, key)) | {"theme": t, "count": c, "est": r["est"],
                                              "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                                              "n": n})
    cols = [*by, "theme", "count", "est", "ci_low", "ci_high", "n"]
    out = pd.DataFrame(rows, columns=cols)
    out["count"] = out["count"].astype("float64")
    return suppress_small(out, "n", min_cell_size, value_cols=["count", "est", "ci_low", "ci_high"],
                          partition=[*by[:-1], "theme"] if by else False)


def comment_themes(respondents: pd.DataFrame, themes: ThemeDictionary | None = None,
                   by: str | Sequence[str] | None = ("wave",),
                   fields: Sequence[str] = ("strengths", "weaknesses"), *, ci: float = 0.95,
                   min_cell_size: int = DEFAULT_MIN_CELL_SIZE) -> pd.DataFrame:
    """Theme shares of each comment field by group: :func:`theme_shares` per field, stacked.

    Returns ``field, [*by], theme, label, count, est, ci_low, ci_high, n, suppressed``; a
    field missing from ``respondents`` is skipped. Only counts leave this function, never a
    comment.

    Notes
    -----
    Tested in ``tests/measures/test_themes.py`` against :func:`theme_shares` field by field.
    """
    themes = themes or load_themes()
    by_cols = [by] if isinstance(by, str) else list(by or [])
    out = []
    for fld in fields:
        if fld not in respondents:
            continue
        coded = code_comments(respondents[fld], themes)
        if by_cols:
            coded[by_cols] = respondents[by_cols].to_numpy()
        tab = theme_shares(coded, themes.names, by_cols or None, ci=ci,
                           min_cell_size=min_cell_size)
        tab.insert(0, "field", fld)
        tab.insert(tab.columns.get_loc("theme") + 1, "label", tab["theme"].map(themes.labels))
        out.append(tab)
    cols = ["field", *by_cols, "theme", "label", "count", "est", "ci_low", "ci_high", "n",
            "suppressed"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def suggest_themes(texts: Iterable[object], themes: ThemeDictionary | None = None, *,
                   n_suggestions: int = 5, n_terms: int = 6, seed: int = 0,
                   min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
                   scrub: Callable[[str], str] | None = None) -> pd.DataFrame:
    """Themes the dictionary misses: NMF of the TF-IDF of comments no theme coded.

    Parameters
    ----------
    texts : iterable
        Comments.
    themes : ThemeDictionary, optional
        The dictionary in use; comments it codes are left out.
    n_suggestions, n_terms : int
        Components of the factorisation, and terms shown for each.
    seed : int
        ``random_state`` of the factorisation (the NNDSVDa start is deterministic too).
    min_cell_size : int
        A term must occur in at least this many comments (``min_df``), and a suggestion is
        listed only when at least this many comments load mainly on it: no term or suggestion
        can point at one person's comment.
    scrub : callable, optional
        Applied to each comment first (:func:`crqlab.data.privacy.make_scrubber`): names and
        e-mails become placeholders, which are then dropped as terms.

    Returns
    -------
    DataFrame
        ``suggestion, terms, n_comments, share, n``: ``terms`` the top words and word pairs
        joined by ``", "``, ``n_comments`` the uncoded comments loading mainly on it, ``share``
        their share of the ``n`` uncoded comments. Empty when too few uncoded comments.

    Notes
    -----
    scikit-learn's ``TfidfVectorizer`` (English stop words, words and word pairs, sublinear
    term frequency) and ``NMF`` (Frobenius loss, ``init="nndsvda"``). Validated in
    ``tests/measures/test_themes.py``: a theme planted in the hand-coded set and absent from
    the dictionary is the top suggestion's vocabulary; same inputs and seed, same output.
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    themes = themes or load_themes()
    cols = ["suggestion", "terms", "n_comments", "share", "n"]
    docs = [t for t in texts if isinstance(t, str) and t.strip() and not themes.codes(t)]
    if scrub is not None:
        docs = [scrub(t) for t in docs]
    docs = [re.sub(r"\[(?:name|e-mail|number) removed\]", " ", d) for d in docs]
    if len(docs) < max(2 * min_cell_size, n_suggestions):
        return pd.DataFrame(columns=cols)
    vec = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True,
                          min_df=max(2, int(min_cell_size)), max_df=0.9,
                          token_pattern=r"(?u)\b[^\W\d_]{3,}\b")
    try:
        x = vec.fit_transform(docs)
    except ValueError:  # no term occurs in min_df comments
        return pd.DataFrame(columns=cols)
    k = int(min(n_suggestions, x.shape[1], x.shape[0]))
    if k < 1:
        return pd.DataFrame(columns=cols)
    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=1000)
    w = model.fit_transform(x)
    terms = vec.get_feature_names_out()
    main = np.where(w.max(axis=1) > 0, w.argmax(axis=1), -1)
    rows = []
    for j in range(k):
        n_j = int((main == j).sum())
        if n_j < min_cell_size:
            continue
        top = np.argsort(-model.components_[j], kind="stable")[:n_terms]
        rows.append({"terms": ", ".join(terms[i] for i in top if model.components_[j, i] > 0),
                     "n_comments": n_j, "share": n_j / len(docs), "n": len(docs)})
    rows.sort(key=lambda r: (-r["n_comments"], r["terms"]))
    out = pd.DataFrame(rows, columns=cols[1:])
    out.insert(0, "suggestion", np.arange(1, len(out) + 1))
    return out


def agreement(coded: pd.DataFrame, truth: pd.DataFrame, themes: Sequence[str]) -> pd.DataFrame:
    """Agreement of coding with hand coding, per theme and over all (``theme == "all"``).

    Returns ``theme, n, true_pos, false_pos, false_neg, precision, recall, kappa`` (Cohen's
    kappa of the two binary codings; the pooled row over every theme-comment pair).

    Notes
    -----
    Cohen (1960); kappa checked against ``sklearn.metrics.cohen_kappa_score`` in
    ``tests/measures/test_themes.py``.
    """
    rows = []

    def one(name, a, b):
        a, b = np.asarray(a, bool), np.asarray(b, bool)
        tp, fp, fn = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
        n = a.size
        po = float((a == b).mean()) if n else np.nan
        pe = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())) if n else np.nan
        rows.append({"theme": name, "n": n, "true_pos": tp, "false_pos": fp, "false_neg": fn,
                     "precision": tp / (tp + fp) if tp + fp else np.nan,
                     "recall": tp / (tp + fn) if tp + fn else np.nan,
                     "kappa": (po - pe) / (1 - pe) if pe < 1 else np.nan})

    for t in themes:
        one(t, coded[t], truth[t])
    one("all", np.concatenate([coded[t].to_numpy(bool) for t in themes]),
        np.concatenate([truth[t].to_numpy(bool) for t in themes]))
    return pd.DataFrame(rows)
