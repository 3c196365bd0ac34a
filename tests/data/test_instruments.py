"""Instruments as data (crqlab.data.instruments): the shipped definitions and malformed ones."""
from __future__ import annotations

import copy

import pytest
import yaml

from crqlab import InstrumentError
from crqlab.data.instruments import available_instruments, load_instrument
from crqlab.paths import INSTRUMENTS_DIR

CRQ_ELEMENTS = ["trust", "commitment", "satisfaction", "experience", "solution", "service"]
# The 18 canonical CRQ items of docs/data-contract.md.
CRQ_ITEMS = ([f"{e}_{k}" for e in ("trust", "commitment", "satisfaction", "experience")
              for k in (1, 2, 3)]
             + ["innovation", "leading_edge", "value_for_money",
                "reliability", "responsiveness", "customer_care"])


def test_every_shipped_instrument_loads():
    names = available_instruments()
    assert {"crq", "kmv", "healthcheck", "trust_dna"} <= set(names)
    for name in names:
        inst = load_instrument(name)
        assert inst.name == name
        assert inst.scale_min < inst.scale_max
        assert inst.items and len(inst.items) == len(set(inst.items))
        assert all(el.items for el in inst.elements.values())
        # loading by path gives the same definition
        by_path = load_instrument(INSTRUMENTS_DIR / f"{name}.yaml")
        assert by_path.items == inst.items and list(by_path.elements) == list(inst.elements)


def test_crq_has_18_items_six_elements_and_facet_composites():
    crq = load_instrument("crq")
    assert (crq.scale_min, crq.scale_max) == (1, 7)
    assert sorted(crq.items) == sorted(CRQ_ITEMS) and len(crq.items) == 18
    assert list(crq.elements) == CRQ_ELEMENTS
    assert crq.levels == {"relationship": ["trust", "commitment", "satisfaction"],
                          "uniqueness": ["experience", "solution"], "service": ["service"]}
    composites = {n for n, el in crq.elements.items() if el.is_composite}
    assert composites == {"solution", "service"}
    assert crq.elements["solution"].facets == {
        "innovation": ("innovation",), "leading_edge": ("leading_edge",),
        "value_for_money": ("value_for_money",)}
    assert crq.elements["service"].facets == {
        "reliability": ("reliability",), "responsiveness": ("responsiveness",),
        "customer_care": ("customer_care",)}
    assert crq.elements["solution"].items == ("innovation", "leading_edge", "value_for_money")
    for el in ("trust", "commitment", "satisfaction", "experience"):
        assert crq.elements[el].items == tuple(f"{el}_{k}" for k in (1, 2, 3))
        assert not crq.elements[el].is_composite
    assert crq.index_name == "crq_index"
    assert crq.index_weights == {e: 1.0 for e in CRQ_ELEMENTS}
    assert crq.reverse_keyed == ()
    assert crq.label("solution") == "Solution" and crq.label("value_for_money") == "Value for Money"
    assert crq.label("crq_index") == "CRQ index" and crq.label("not_a_name") == "not_a_name"


def test_kmv_battery_reuses_crq_trust_and_commitment():
    kmv, crq = load_instrument("kmv"), load_instrument("crq")
    assert len(kmv.elements) == 12 and len(kmv.items) == 36
    for el in ("trust", "commitment"):
        assert kmv.elements[el].items == crq.elements[el].items
    assert len(kmv.paths) == 13
    assert all(p["from"] in kmv.elements and p["to"] in kmv.elements for p in kmv.paths)


def test_unknown_instrument_names_the_shipped_ones():
    with pytest.raises(InstrumentError, match="unknown instrument 'nope'.*crq"):
        load_instrument("nope")


# --- malformed definitions --------------------------------------------------------------------

BASE = {
    "name": "mini", "scale": {"min": 1, "max": 5},
    "levels": {"core": {
        "a": {"label": "A", "items": ["a_1", "a_2"]},
        "b": {"label": "B", "facets": {"b_x": {"items": ["b_x"]}, "b_y": {"items": ["b_y"]}}}}},
}


def _write(tmp_path, spec) -> str:
    p = tmp_path / "mini.yaml"
    p.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec), encoding="utf-8")
    return str(p)


def test_minimal_definition_loads(tmp_path):
    inst = load_instrument(_write(tmp_path, BASE))
    assert inst.items == ["a_1", "a_2", "b_x", "b_y"]
    assert inst.elements["b"].is_composite


def _broken(change):
    spec = copy.deepcopy(BASE)
    change(spec)
    return spec


def _core(spec):
    return spec["levels"]["core"]


MALFORMED = {
    "unknown reverse-keyed item": (
        lambda s: s.update(reverse_keyed=["a_1", "zz"]), r"reverse_keyed names unknown item.*zz"),
    "duplicate item in an element": (
        lambda s: _core(s)["a"].update(items=["a_1", "a_1"]), r"duplicate item.*a_1"),
    "element with no items": (
        lambda s: _core(s).update(c={"label": "C"}), r"element 'c' has no items"),
    "element with an empty item list": (
        lambda s: _core(s).update(c={"items": []}), r"'levels\.core\.c\.items': must be a non-empty list"),
    "an item in two elements": (
        lambda s: _core(s).update(c={"items": ["a_2"]}), r"'a_2' already belongs to element 'a'"),
    "an item in two facets": (
        lambda s: _core(s)["b"]["facets"].update(b_z={"items": ["b_x"]}),
        r"'b_x' already belongs to element 'b'"),
    "an element defined in two levels": (
        lambda s: s["levels"].update(other={"a": {"items": ["q"]}}), r"'a' is defined twice"),
    "empty facets": (lambda s: _core(s)["b"].update(facets={}), r"'levels\.core\.b\.facets': must not be empty"),
    "facet not a mapping": (
        lambda s: _core(s)["b"].update(facets={"b_x": ["b_x"]}), r"'levels\.core\.b\.facets\.b_x': must be a mapping"),
    "item name not an identifier": (
        lambda s: _core(s)["a"].update(items=["a 1"]), r"'levels\.core\.a\.items\[0\]': must be a name"),
    "scale min above max": (lambda s: s.update(scale={"min": 7, "max": 1}), r"must be below max"),
    "scale not integers": (lambda s: s.update(scale={"min": "low", "max": 7}), r"'scale\.min': must be a whole number"),
    "no levels": (lambda s: s.pop("levels"), r"missing key 'levels'"),
    "level without elements": (lambda s: s["levels"].update(empty={}), r"'levels\.empty': must not be empty"),
    "index weight of an unknown element": (
        lambda s: s.update(index={"name": "x", "weights": {"zz": 1}}), r"unknown element.*zz"),
    "index weights not numbers": (
        lambda s: s.update(index={"weights": {"a": "heavy"}}), r"'index\.weights\.a': must be a number"),
    "path to an unknown element": (
        lambda s: s.update(paths=[{"from": "a", "to": "zz"}]), r"unknown element 'zz'"),
    "path not a mapping": (lambda s: s.update(paths=["a -> b"]), r"'paths\[0\]': must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_definition_raises_instrument_error(tmp_path, case):
    change, pattern = MALFORMED[case]
    with pytest.raises(InstrumentError, match=pattern):
        load_instrument(_write(tmp_path, _broken(change)))


@pytest.mark.parametrize("text,pattern", [
    ("name: x\nlevels: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_unreadable_definition_raises_instrument_error(tmp_path, text, pattern):
    with pytest.raises(InstrumentError, match=pattern):
        load_instrument(_write(tmp_path, text))


def test_non_utf8_definition_raises_instrument_error(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes("name: x\ntitle: Zufriedenheit Müller\n".encode("cp1252"))
    with pytest.raises(InstrumentError, match="latin.yaml: line 2: not UTF-8: byte 0xfc at offset 30"):
        load_instrument(str(p))
