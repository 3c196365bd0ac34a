"""Instruments as data: items -> (facets ->) elements -> levels, read from YAML.

Nothing else in crqlab hard-codes an item name: scoring, reliability, the SEM measurement
model and the plots all read an :class:`Instrument`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .errors import InstrumentError
from .paths import INSTRUMENTS_DIR

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


def _parse_items(where: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise InstrumentError(f"{where}: 'items' must be a non-empty list")
    items = tuple(str(i) for i in raw)
    if len(set(items)) != len(items):
        dup = sorted({i for i in items if items.count(i) > 1})
        raise InstrumentError(f"{where}: duplicate item(s) {dup}")
    if not all(i.isidentifier() for i in items):
        bad = [i for i in items if not i.isidentifier()]
        raise InstrumentError(f"{where}: item names must be identifiers, got {bad}")
    return items


def _parse(spec: dict, source: str) -> Instrument:
    if not isinstance(spec, dict):
        raise InstrumentError(f"{source}: an instrument must be a mapping")
    for key in ("name", "scale", "levels"):
        if key not in spec:
            raise InstrumentError(f"{source}: missing key {key!r}")
    scale = spec["scale"]
    try:
        smin, smax = int(scale["min"]), int(scale["max"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InstrumentError(f"{source}: scale needs integer min and max") from exc
    if smin >= smax:
        raise InstrumentError(f"{source}: scale min {smin} must be below max {smax}")
    elements: dict[str, Element] = {}
    item_owner: dict[str, str] = {}
    levels = spec["levels"]
    if not isinstance(levels, dict) or not levels:
        raise InstrumentError(f"{source}: 'levels' must be a non-empty mapping")
    for level, els in levels.items():
        if not isinstance(els, dict) or not els:
            raise InstrumentError(f"{source}: level {level!r} has no elements")
        for name, el in els.items():
            where = f"{source}: element {name!r}"
            if name in elements:
                raise InstrumentError(f"{where} is defined twice")
            if not isinstance(el, dict):
                raise InstrumentError(f"{where} must be a mapping")
            facets: dict[str, tuple[str, ...]] = {}
            facet_labels: dict[str, str] = {}
            if "facets" in el:
                if not el["facets"]:
                    raise InstrumentError(f"{where} has an empty 'facets'")
                if not isinstance(el["facets"], dict):
                    raise InstrumentError(f"{where}: 'facets' maps facet names to their items")
                for fname, fspec in el["facets"].items():
                    if not isinstance(fspec, dict):
                        raise InstrumentError(f"{where}, facet {fname!r} must be a mapping "
                                              "with 'items'")
                    facets[fname] = _parse_items(f"{where}, facet {fname!r}", fspec.get("items"))
                    facet_labels[fname] = str(fspec.get("label", fname))
                items = tuple(i for f in facets.values() for i in f)
            elif "items" in el:
                items = _parse_items(where, el["items"])
            else:
                raise InstrumentError(f"{where} has no items")
            for it in items:
                if it in item_owner:
                    raise InstrumentError(
                        f"{where}: item {it!r} already belongs to element {item_owner[it]!r}")
                item_owner[it] = name
            elements[name] = Element(name=name, label=str(el.get("label", name)), level=level,
                                     items=items, facets=facets, facet_labels=facet_labels)
    reverse_raw = spec.get("reverse_keyed") or ()
    if isinstance(reverse_raw, str):
        reverse_raw = [reverse_raw]
    if not isinstance(reverse_raw, (list, tuple)):
        raise InstrumentError(f"{source}: 'reverse_keyed' must be a list of items")
    reverse = tuple(str(r) for r in reverse_raw)
    unknown = [r for r in reverse if r not in item_owner]
    if unknown:
        raise InstrumentError(f"{source}: reverse_keyed names unknown item(s) {unknown}")
    index = spec.get("index") or {}
    if not isinstance(index, dict) or not isinstance(index.get("weights") or {}, dict):
        raise InstrumentError(f"{source}: 'index' must be a mapping with 'weights' by element")
    try:
        weights = {str(k): float(v) for k, v in (index.get("weights") or {}).items()}
    except (TypeError, ValueError) as exc:
        raise InstrumentError(f"{source}: index weights must be numbers ({exc})") from exc
    bad = [k for k in weights if k not in elements]
    if bad:
        raise InstrumentError(f"{source}: index weights name unknown element(s) {bad}")
    if weights and sum(weights.values()) <= 0:
        raise InstrumentError(f"{source}: index weights must sum to a positive number")
    paths = tuple(spec.get("paths") or ())
    if not all(isinstance(p, dict) for p in paths):
        raise InstrumentError(f"{source}: each path must be a mapping with 'from' and 'to'")
    for p in paths:
        for end in ("from", "to"):
            if p.get(end) not in elements:
                raise InstrumentError(f"{source}: path names unknown element {p.get(end)!r}")
    return Instrument(name=str(spec["name"]), title=str(spec.get("title", spec["name"])),
                      scale_min=smin, scale_max=smax, elements=elements, reverse_keyed=reverse,
                      index_name=index.get("name"), index_weights=weights, paths=paths)


def available_instruments() -> list[str]:
    """Names of the instruments shipped with crqlab."""
    return sorted(p.stem for p in INSTRUMENTS_DIR.glob("*.yaml"))


@lru_cache(maxsize=32)
def _load_cached(path: str) -> Instrument:
    p = Path(path)
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InstrumentError(f"{p}: not valid YAML: {exc}") from exc
    return _parse(spec, str(p.name))


def load_instrument(name_or_path: str | Path) -> Instrument:
    """Load and validate an instrument by shipped name (``"crq"``) or YAML path.

    Raises
    ------
    InstrumentError
        Unknown instrument, duplicate or unknown items, an element with no items.
    """
    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = INSTRUMENTS_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        raise InstrumentError(f"unknown instrument {str(name_or_path)!r}; shipped: "
                              f"{available_instruments()}")
    return _load_cached(str(p.resolve()))
