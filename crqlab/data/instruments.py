"""Instruments as data: items -> (facets ->) elements -> levels, read from YAML.

Nothing else in crqlab hard-codes an item name: scoring, reliability, the SEM measurement
model and the plots all read an :class:`Instrument`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from crqlab.data.schema import INSTRUMENT_SCHEMA, YamlError, check, read_yaml
from crqlab.errors import InstrumentError
from crqlab.paths import INSTRUMENTS_DIR

__all__ = ["Element", "Instrument", "load_instrument", "available_instruments"]


@dataclass(frozen=True)
class Element:
    """One element: its items directly, or facets (name -> items) whose mean is the score."""

    name: str
    label: str
    level: str
    items: tuple[str, ...]
    facets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    facet_labels: dict[str, str] = field(default_factory=dict)

    @property
    def is_composite(self) -> bool:
        return bool(self.facets)


@dataclass(frozen=True)
class Instrument:
    """A validated instrument definition."""

    name: str
    title: str
    scale_min: int
    scale_max: int
    elements: dict[str, Element]
    reverse_keyed: tuple[str, ...] = ()
    index_name: str | None = None
    index_weights: dict[str, float] = field(default_factory=dict)
    paths: tuple[dict, ...] = ()

    @property
    def items(self) -> list[str]:
        """All items, in definition order (an item belongs to exactly one element)."""
        seen: dict[str, None] = {}
        for el in self.elements.values():
            for it in el.items:
                seen.setdefault(it, None)
        return list(seen)

    @property
    def levels(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for el in self.elements.values():
            out.setdefault(el.level, []).append(el.name)
        return out

    def element_items(self) -> dict[str, list[str]]:
        return {name: list(el.items) for name, el in self.elements.items()}

    def label(self, name: str) -> str:
        if name in self.elements:
            return self.elements[name].label
        for el in self.elements.values():
            if name in el.facet_labels:
                return el.facet_labels[name]
        if name == self.index_name:
            return "CRQ index" if self.name == "crq" else f"{self.title} index"
        return name


def _parse_items(where: str, raw: list) -> tuple[str, ...]:
    items = tuple(raw)
    if len(set(items)) != len(items):
        dup = sorted({i for i in items if items.count(i) > 1})
        raise InstrumentError(f"{where}: duplicate item(s) {dup}")
    return items


def _element(level: str, name: str, el: dict, item_owner: dict[str, str],
             source: str) -> Element:
    """One element; its items are recorded in ``item_owner`` (an item belongs to one element)."""
    where = f"{source}: element {name!r}"
    if "facets" in el and "items" in el:
        raise InstrumentError(f"{where} gives both 'items' and 'facets'; give one of them")
    if "facets" not in el and "items" not in el:
        raise InstrumentError(f"{where} has no items")
    facets = {f: _parse_items(f"{where}, facet {f!r}", spec["items"])
              for f, spec in (el.get("facets") or {}).items()}
    labels = {f: str(spec.get("label", f)) for f, spec in (el.get("facets") or {}).items()}
    items = tuple(i for f in facets.values() for i in f) if facets else \
        _parse_items(where, el["items"])
    for it in items:
        if it in item_owner:
            raise InstrumentError(
                f"{where}: item {it!r} already belongs to element {item_owner[it]!r}")
        item_owner[it] = name
    return Element(name=name, label=str(el.get("label", name)), level=level, items=items,
                   facets=facets, facet_labels=labels)


def _parse(spec: dict, source: str) -> Instrument:
    """The meaning of a definition whose keys and types :data:`INSTRUMENT_SCHEMA` checked."""
    smin, smax = spec["scale"]["min"], spec["scale"]["max"]
    if smin >= smax:
        raise InstrumentError(f"{source}: scale min {smin} must be below max {smax}")
    elements: dict[str, Element] = {}
    item_owner: dict[str, str] = {}
    for level, els in spec["levels"].items():
        for name, el in els.items():
            if name in elements:
                raise InstrumentError(f"{source}: element {name!r} is defined twice")
            elements[name] = _element(level, name, el, item_owner, source)
    reverse_raw = spec.get("reverse_keyed") or ()
    reverse = (reverse_raw,) if isinstance(reverse_raw, str) else tuple(reverse_raw)
    unknown = [r for r in reverse if r not in item_owner]
    if unknown:
        raise InstrumentError(f"{source}: reverse_keyed names unknown item(s) {unknown}")
    index = spec.get("index") or {}
    weights = {k: float(v) for k, v in (index.get("weights") or {}).items()}
    bad = [k for k in weights if k not in elements]
    if bad:
        raise InstrumentError(f"{source}: index weights name unknown element(s) {bad}")
    if weights and sum(weights.values()) <= 0:
        raise InstrumentError(f"{source}: index weights must sum to a positive number")
    paths = tuple(spec.get("paths") or ())
    for p in paths:
        for end in ("from", "to"):
            if p[end] not in elements:
                raise InstrumentError(f"{source}: path names unknown element {p[end]!r}")
    return Instrument(name=spec["name"], title=str(spec.get("title", spec["name"])),
                      scale_min=smin, scale_max=smax, elements=elements, reverse_keyed=reverse,
                      index_name=index.get("name"), index_weights=weights, paths=paths)


def available_instruments() -> list[str]:
    """Names of the instruments shipped with crqlab."""
    return sorted(p.stem for p in INSTRUMENTS_DIR.glob("*.yaml"))


@lru_cache(maxsize=32)
def _load_cached(path: str) -> Instrument:
    """Read (strictly: :func:`crqlab.data.schema.read_yaml`), check against the schema, parse."""
    p = Path(path)
    try:
        spec, lines = read_yaml(p)
    except YamlError as exc:
        raise InstrumentError(f"{p.name}: {exc}") from exc
    issues = check(spec, INSTRUMENT_SCHEMA, lines)
    if issues:
        raise InstrumentError(f"{p.name}: " + "; ".join(i.text() for i in issues[:20]))
    return _parse(spec, p.name)


def load_instrument(name_or_path: str | Path) -> Instrument:
    """Load and validate an instrument by shipped name (``"crq"``) or YAML path.

    Raises
    ------
    InstrumentError
        Unknown instrument, a file that breaks :data:`crqlab.data.schema.INSTRUMENT_SCHEMA`
        (unknown keys, wrong types), duplicate or unknown items, an element with no items.

    Notes
    -----
    Tested in ``tests/data/test_instruments.py`` (every shipped instrument; a malformed-definition
    corpus) and ``tests/hardening/test_hostile_inputs.py`` (unknown keys, aliases, non-UTF-8 files).
    """
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        known = re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", str(name_or_path))
        p = INSTRUMENTS_DIR / f"{name_or_path if known else '-'}.yaml"
    if not p.is_file():
        raise InstrumentError(f"unknown instrument {str(name_or_path)!r}; shipped: "
                              f"{available_instruments()}")
    return _load_cached(str(p.resolve()))
