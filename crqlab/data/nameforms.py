"""Every written form of a person's name or e-mail address, found in one pass over a text.

:mod:`crqlab.data.privacy` masks these forms in verbatims (:func:`crqlab.data.privacy.scrub_text`) and
looks for them in published reports (:func:`crqlab.data.privacy.find_leaks`). Both compare text
*folded* (:func:`fold`): case folded, accents stripped (``José`` = ``Jose``, ``Müller`` =
``Muller``; ``ß`` = ``ss``, ``ø`` = ``o``), zero-width characters (U+200B, U+200C, U+200D,
U+2060, U+FEFF) and soft hyphens removed, non-breaking spaces (U+00A0, U+202F) read as spaces.

The forms of a person ``Jane Q. Doe`` with e-mail ``jane.doe@acme.com`` (docs/hardening.md,
"Name forms"):

- the full name and first + last name, the words joined by nothing or up to four spaces, dots,
  commas, hyphens, apostrophes or underscores (``Jane Doe``, ``Jane.Doe``, ``jane_doe``,
  ``JaneDoe``, and ``Jane``, U+200B, ``Doe``);
- surname first (``Doe, Jane``, ``Doe Jane``), initial + surname (``J. Doe``, ``J.Doe``) and
  surname + initial (``Doe, J.``) - the initial needs its dot, so that ``a Price`` stays text;
- every word after the first name alone when :func:`rare_surname` says it is rare (at least
  four letters and not in the shipped list of common words that are also surnames);
- umlauts written either way (``Müller`` = ``Mueller`` = ``Muller``);
- the e-mail address with its ``@`` and dots written out: ``jane dot doe at acme dot com``,
  ``jane.doe [at] acme [dot] com``, ``jane(at)acme.com``, ``jane . doe @ acme . com``.

Texts are read with one compiled tokenising pattern (words, and the gaps between them); all
forms of all people go into one trie of words (hash lookups), so building grows linearly with
the number of contacts and matching with the length of the text, not with their product
(``benchmarks/workloads.py``, ``scrub_10k_contacts_100k_comments``). A regular expression with
every form as an alternative was tried first: compiling it for 10,000 contacts took 17 s.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

__all__ = ["fold", "fold_with_offsets", "common_words", "rare_surname", "IdentityMatcher",
           "identity_matcher", "person_forms", "email_forms", "literal_forms",
           "MIN_SURNAME_LETTERS", "INVISIBLE"]

#: Zero-width space, non-joiner and joiner, word joiner, byte-order mark, soft hyphen.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
#: A surname is scrubbed on its own only with at least this many letters (and when rare).
MIN_SURNAME_LETTERS = 4
_LETTERS = {"ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "ı": "i", "ð": "d", "þ": "th",
            "ħ": "h"}
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def _fold_char(ch: str) -> str:
    if ch in INVISIBLE:
        return ""
    return "".join(_LETTERS.get(c, c) for c in unicodedata.normalize("NFKD", ch.casefold())
                   if not unicodedata.combining(c))


class _FoldTable(dict):
    """``str.translate`` table that folds each character the first time it is seen."""

    def __missing__(self, code: int) -> str:
        value = self[code] = _fold_char(chr(code))
        return value


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Case folded, accents stripped, zero-width characters removed (see the module notes).

    Notes
    -----
    ASCII text is only lower-cased (the fast path of nearly every verbatim); other text goes
    through one ``str.translate`` whose table is filled lazily, one character at a time.
    """
    return text.lower() if text.isascii() else text.translate(_FOLD)


def fold_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """:func:`fold` plus, where lengths change, the index in ``text`` of each folded character.

    ``None`` means folded position ``i`` is ``text[i]``. A match ``[a, b)`` in the folded text
    covers ``text[starts[a] : starts[b - 1] + 1]``.
    """
    if text.isascii():
        return text.lower(), None
    pieces = [_FOLD[ord(c)] for c in text]
    folded = "".join(pieces)
    if len(folded) == len(text) and all(len(p) == 1 for p in pieces):
        return folded, None
    starts = [i for i, p in enumerate(pieces) for _ in p]
    return folded, starts


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The shipped list ``crqlab/data/common_words.txt``: common English words and first
    names that are also surnames (derivation in the file's header)."""
    path = Path(__file__).parent / "common_words.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def _variants(word: str) -> list[str]:
    """Folded spellings of one word: as written, umlauts as ae/oe/ue, ae/oe/ue as a/o/u."""
    plain = fold(word)
    out = {plain, fold(word.casefold().translate(_UMLAUTS))}
    if re.search("[aou]e(?=[a-z])", plain):
        out.add(re.sub("([aou])e(?=[a-z])", r"\1", plain))
    return sorted(out, key=lambda v: (v != plain, v))


def rare_surname(word: str) -> bool:
    """Whether a surname is scrubbed (and scanned for) on its own.

    True when the word has at least :data:`MIN_SURNAME_LETTERS` letters and none of its
    spellings (accents stripped, umlauts either way, apostrophes and hyphens removed) is in
    :func:`common_words`. ``Fenwick``, ``Nettleton``, ``Müller`` are rare; ``Young``, ``Price``,
    ``Best``, ``Smith``, ``Thomas`` are common and are masked only together with a first name
    or initial.

    Notes
    -----
    Pinned in ``tests/data/test_nameforms.py`` (these examples, and ordinary sentences with
    ``price``, ``best``, ``young`` left unchanged and not flagged by the scan).
    """
    common = common_words()
    joined = ["".join(re.findall(r"[^\W_]+", v)) for v in _variants(word)]
    return (sum(ch.isalpha() for ch in joined[0]) >= MIN_SURNAME_LETTERS
            and not any(j in common for j in joined))


# -- reading a text as words and gaps --------------------------------------------------------
#: The one pattern every text and identifier is read with: words (group 1), and "at" / "dot"
#: written out (``[at]``, `` dot ``), which belong to the gap between two words.
_TOKENS = re.compile(r"\s+(?:at|dot)\s+|[\[({<]\s*(?:at|dot)\s*[\])}>]|([^\W_]+)")
_SEP_GAP = re.compile(r"[\s.,'’_\-‐‑–·]{1,4}")
_AT_GAP = re.compile(r"\s*(?:@|[\[({<]\s*at\s*[\])}>])\s*|\s+at\s+")
_DOT_GAP = re.compile(r"\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+")
#: Edges of the trie a gap of the text may follow: S name separator, I the dot after an
#: initial, D a dot of an e-mail address, A its at; any other gap only an edge of that exact gap.
_EDGES_FOR = {"sep": ("S",), "sepdot": ("S", "I", "D"), "dot": ("D",), "at": ("A",)}
_TRAILING_DOT = re.compile(r"\s?\.")
_PRIVATE = re.compile("[\ue000-\uf8ff]")


def _gap_kind(gap: str) -> str:
    """``sep`` (one to four separators), ``sepdot`` (the same with a dot), ``at``, ``dot``, or
    ``=`` and the gap itself."""
    if _SEP_GAP.fullmatch(gap):
        return "sepdot" if "." in gap else "sep"
    if _AT_GAP.fullmatch(gap):
        return "at"
    return "dot" if _DOT_GAP.fullmatch(gap) else "=" + gap


def _read(folded: str) -> tuple[list[str], list[int], list[int]]:
    """Words of a folded text with their start and end positions."""
    matches = [m for m in _TOKENS.finditer(folded) if m.group(1)]
    return [m.group(1) for m in matches], [m.start() for m in matches], [m.end() for m in matches]


# -- forms of an identifier: (tokens, edges between them, needs a trailing dot) ---------------
Form = tuple[tuple[str, ...], tuple[str, ...], bool]


def _pieces(text: str, email: bool = False) -> tuple[list[str], list[str]]:
    """Tokens of a folded identifier and the edge of each gap between them."""
    words, starts, ends = _read(text)
    edges = []
    for kind in (_gap_kind(text[e:s]) for e, s in zip(ends, starts[1:])):
        if kind == "at":
            edges.append("A")
        elif kind in ("sep", "sepdot"):
            edges.append("D" if email and kind == "sepdot" else "S")
        else:
            edges.append(kind)
    return words, edges


def _joined(tokens: list[str], edges: list[str]) -> Iterator[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The tokens as given and with the words at name separators run together (``JaneDoe``,
    or ``Jane\\u200bDoe`` once the zero-width space is folded away); all 2^k ways up to k = 4."""
    seps = [i for i, e in enumerate(edges) if e == "S"]
    choices = itertools.product((False, True), repeat=len(seps)) if len(seps) <= 4 else \
        [(False,) * len(seps), (True,) * len(seps)]
    for choice in choices:
        merge = {i for i, c in zip(seps, choice) if c}
        out_t, out_e = [tokens[0]], []
        for i, (e, t) in enumerate(zip(edges, tokens[1:])):
            if i in merge:
                out_t[-1] += t
            else:
                out_t.append(t)
                out_e.append(e)
        yield tuple(out_t), tuple(out_e)


def _chain(words: list[tuple[list[str], list[str]]], glue: list[str], trail: bool = False
           ) -> Iterator[Form]:
    """Words (tokens, inner edges) joined by the ``glue`` edges, in every joined variant."""
    tokens, edges = list(words[0][0]), list(words[0][1])
    for g, (t, e) in zip(glue, words[1:]):
        tokens += t
        edges += [g, *e]
    for t, e in _joined(tokens, edges):
        yield t, e, trail


def _name_words(name: str) -> list[tuple[str, list[tuple[list[str], list[str]]]]]:
    """Each word of a name with its spellings as pieces, given name first (``Doe, Jane``
    turned round)."""
    if "," in name:
        surname, given = name.split(",", 1)
        name = f"{given} {surname}"
    words = [(w, [_pieces(v) for v in _variants(w)]) for w in _PRIVATE.sub("", name).split()]
    return [(w, s) for w, s in words if s[0][0]]


def _name_forms(words) -> Iterator[Form]:
    """Forms of a name of two or more words (module notes)."""
    first, rest = words[0][1], [s for _, s in words[1:]]
    last = rest[-1]
    shapes = [[first, *rest], [first, last], [last, first]] + ([[*rest, first]] if len(rest) > 1
                                                               else [])
    for shape in shapes:
        for combo in itertools.islice(itertools.product(*shape), 32):
            yield from _chain(list(combo), ["S"] * (len(combo) - 1))
    initial = ([first[0][0][0][0]], [])
    for spelling in last:
        yield from _chain([initial, spelling], ["I"])
        yield from _chain([spelling, initial], ["S"], trail=True)
    for word, spellings in words[1:]:
        if rare_surname(word):
            for spelling in spellings:
                yield from _chain([spelling], [])


def person_forms(name: str) -> set[Form]:
    """Every form of a person's name: one word as written (3+ characters); two or more words
    in all the forms of the module notes."""
    words = _name_words(name)
    if len(words) == 1:
        return {f for s in words[0][1] for f in _chain([s], [])
                if len("".join(f[0])) >= 3}
    return set(_name_forms(words)) if words else set()


def email_forms(address: str) -> set[Form]:
    """The address with its ``@`` and dots written any way (spelled out, bracketed, spaced)."""
    folded = fold(_PRIVATE.sub("", address.strip()))
    if "@" not in folded.strip("@"):
        return set()
    tokens, edges = _pieces(folded, email=True)
    return {(tuple(tokens), tuple(edges), False)} if tokens else set()


def literal_forms(term: str) -> set[Form]:
    """A term matched whole (account names, ids): any case, accents or spacing, words possibly
    run together; never reordered or shortened."""
    tokens, edges = _pieces(fold(_PRIVATE.sub("", term)))
    return set(_chain([(tokens, edges)], [])) if tokens else set()


def _classify(identifier: str) -> tuple[str, set[Form]]:
    """``e`` and the e-mail forms; ``n`` and the name forms (letters with a space or comma);
    else ``n`` and the identifier as a literal (contact ids, one-word names)."""
    text = identifier.strip()
    if "@" in text:
        return "e", email_forms(text)
    if re.search(r"[\s,]", text) and re.search(r"[^\W\d_]", text):
        return "n", person_forms(text)
    return "n", literal_forms(text)


# -- the matcher -------------------------------------------------------------------------------
class IdentityMatcher:
    """Every form of a set of identifiers, as a trie of words; finds them in folded text.

    A node is a dict from ``(edge, word)`` to the next node; key ``None`` holds what ends there
    (``{needs trailing dot: (kind, identifier)}``). The root is keyed by the first word alone.
    ``anchors`` holds the longest word of every form: a text without any of them is passed by
    after one tokenising pass (nearly every comment), whatever the number of identifiers.
    """

    def __init__(self) -> None:
        self._root: dict = {}
        self._anchors: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._root)

    def add(self, kind: str, identifier: str, forms: Iterable[Form]) -> None:
        for tokens, edges, trail in forms:
            self._anchors.add(max(reversed(tokens), key=len))
            node = self._root.setdefault(tokens[0], {})
            for edge, token in zip(edges, tokens[1:]):
                node = node.setdefault((edge, token), {})
            node.setdefault(None, {}).setdefault(trail, (kind, identifier))

    def matches(self, folded: str) -> list[tuple[int, int, str, str]]:
        """``(start, end, kind, identifier)`` of each longest match in folded text, left to
        right, not overlapping."""
        if not self._anchors.intersection(_TOKENS.findall(folded)):
            return []
        words, starts, ends = _read(folded)
        out, i = [], 0
        while i < len(words):
            hit = self._longest(folded, words, starts, ends, i) if words[i] in self._root \
                else None
            if hit is None:
                i += 1
                continue
            j, end, kind, ident = hit
            out.append((starts[i], end, kind, ident))
            i = j + 1
        return out

    def _longest(self, folded, words, starts, ends, i):
        """The longest form starting at word ``i``: (last word, end, kind, identifier)."""
        best = None
        stack = [(self._root[words[i]], i)]
        while stack:
            node, j = stack.pop()
            for trail, (kind, ident) in node.get(None, {}).items():
                dot = _TRAILING_DOT.match(folded, ends[j]) if trail else None
                if (dot or not trail) and (best is None or j > best[0]):
                    best = (j, dot.end() if dot else ends[j], kind, ident)
            if j + 1 < len(words) and len(node) > (None in node):  # the node has children
                gap = _gap_kind(folded[ends[j]:starts[j + 1]])
                for edge in _EDGES_FOR.get(gap, (gap,)):
                    child = node.get((edge, words[j + 1]))
                    if child is not None:
                        stack.append((child, j + 1))
        return best

    def spans(self, text: str) -> list[tuple[int, int, str, str]]:
        """:meth:`matches` in the positions of the original (unfolded) ``text``."""
        folded, starts = fold_with_offsets(text)
        found = self.matches(folded)
        if starts is None:
            return found
        return [(starts[a], starts[b - 1] + 1, k, i) for a, b, k, i in found]


@lru_cache(maxsize=4)
def identity_matcher(names: tuple[str, ...], terms: tuple[str, ...] = ()) -> IdentityMatcher:
    """Every form of ``names`` (people's names and e-mail addresses) and ``terms`` (matched
    whole) in one :class:`IdentityMatcher`.

    Notes
    -----
    Built in one pass over the identifiers (hash inserts, no regular expression per name), so
    building and matching grow linearly with the number of contacts and the length of the text:
    10,000 contacts and 100,000 comments in ``benchmarks/workloads.py`` (``scrub``). Tested
    form by form in ``tests/data/test_privacy.py`` (each form scrubbed and found by the scan).
    """
    matcher = IdentityMatcher()
    for n in names:
        if isinstance(n, str) and n.strip():
            kind, forms = _classify(n)
            matcher.add(kind, n, forms)
    for t in terms:
        if isinstance(t, str) and t.strip():
            matcher.add("n", t, literal_forms(t))
    return matcher
