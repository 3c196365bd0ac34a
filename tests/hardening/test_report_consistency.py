"""One definition per quantity across the reports of a run (issue 17, item 3).

Several notebooks report the same quantity: the respondents of a wave, the accounts behind an
estimate, the NPS and CRQ index of the analysed wave, the response and completion rates. A
reviewer who reads 67.1% in one report and 66.9% in the next stops trusting both. This test
reads every ``results.json`` of a run (the sample study and the fast degenerate studies, the
runs of ``tests/hardening/runs.py`` shared with the visible-text scan) and checks that each
shared quantity, wherever it is recorded, has one value - and that counts are recorded as
whole numbers.

:data:`SHARED` defines the shared quantities: the names under which each notebook records
them (``{w}`` stands for every wave). A mismatch that needs a notebook change is marked
``xfail(strict=True)`` in :data:`KNOWN`, with the notebooks and values, for their next pass.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from hardening.runs import (
    SCANNED,
    notebook_names,
    sample_run,
    scan_marks,
    scanned_run,
)

STUDIES = SCANNED

#: quantity -> (notebook prefix, recorded value) pairs that must agree; "{w}" = each wave.
#: A table cell is written "table:<name>:<column>@<key column>=<value>[&<column>=<value>]"
#: (a wave column matches "4" and "4 (2023)").
SHARED: dict[str, tuple[tuple[str, str], ...]] = {
    "respondents, all waves": (("00", "n_responses.est"), ("40", "sample.n_respondents.est")),
    "survey waves": (("00", "n_waves.est"), ("40", "sample.n_waves.est")),
    "respondents per wave": (
        ("00", "table:frame_check:response_rows@wave={w}"),
        ("30", "table:response_rate.by_wave:n_events@wave={w}&measure=response_rate")),
    "respondents of the analysed wave": (("00", "table:frame_check:response_rows@wave={a}"),
                                         ("20", "share_confidential.n"),
                                         ("30", "weights.deff_kish.n")),
    "response rate per wave": (("00", "response_rate.wave_{w}.est"),
                               ("30", "response_rate.wave_{w}.est")),
    "invited contacts per wave": (("00", "response_rate.wave_{w}.n"),
                                  ("00", "table:frame_check:invited@wave={w}"),
                                  ("30", "response_rate.wave_{w}.n")),
    "completion rate per wave": (("00", "completion_rate.wave_{w}.est"),
                                 ("30", "completion_rate.wave_{w}.est")),
    "NPS of the analysed wave": (("01", "nps.est"), ("01", "nps.wave_{a}.est"),
                                 ("30", "nps_unweighted.est")),
    "NPS answers of the analysed wave": (("01", "nps.n"), ("01", "nps.wave_{a}.n"),
                                         ("30", "nps_unweighted.n")),
    "accounts behind the NPS": (("01", "nps.n_accounts"), ("30", "nps_unweighted.n_accounts"),
                                ("30", "nps_weighted.n_accounts")),
    "CRQ index of the analysed wave": (("01", "crq_index.est"), ("01", "crq_index.wave_{a}.est"),
                                       ("30", "crq_index_unweighted.est")),
    "CRQ respondents of the analysed wave": (("01", "crq_index.n"), ("01", "crq_index.wave_{a}.n"),
                                             ("30", "crq_index_unweighted.n"),
                                             ("30", "crq_index_weighted.n")),
    "accounts behind the CRQ index": (("01", "crq_index.n_accounts"),
                                      ("30", "crq_index_unweighted.n_accounts"),
                                      ("30", "crq_index_weighted.n_accounts")),
}
#: Fields that count things; a results file records them as whole numbers.
COUNT_FIELDS = ("n", "n_accounts", "n_groups", "n_events")

#: (study or "*", quantity) -> reason: disagreements that need a notebook change.
KNOWN: dict[tuple[str, str], str] = {}
#: (study or "*", notebook prefix) -> reason: counts recorded as floats. Empty since counts are
#: cast to whole numbers when recorded (crqlab.reports.results.clean_count).
KNOWN_FLOAT_COUNTS: dict[tuple[str, str], str] = {}


def _documents(study: str) -> dict[str, dict]:
    out = scanned_run(study).out
    return {p.parent.name[:2]: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(out.glob("*/results.json"))}


def _waves(docs: dict[str, dict]) -> list[int]:
    keys = " ".join(k for d in docs.values() for k in d.get("values", {}))
    return sorted({int(w) for w in re.findall(r"\bwave_(\d+)\b", keys)})


def _analysed_wave(docs: dict[str, dict]) -> int | None:
    values = docs.get("30", {}).get("values", {})
    wave = values.get("analysis_wave.est")
    return int(wave) if isinstance(wave, (int, float)) else None


def _cell(doc: dict, spec: str):
    _, table, rest = spec.split(":", 2)
    column, keys = rest.split("@", 1)
    conditions = [k.split("=", 1) for k in keys.split("&")]
    t = doc.get("tables", {}).get(table)
    if not t or any(c not in t["columns"] for c in [column, *(k for k, _ in conditions)]):
        return None

    def match(row, key, value):
        return str(row[key]) == value or str(row[key]).startswith(value + " (")

    rows = [dict(zip(t["columns"], r)) for r in t["data"]]
    hits = [r[column] for r in rows if all(match(r, k, v) for k, v in conditions)]
    return hits[0] if len(hits) == 1 else None


def shared_values(docs: dict[str, dict], quantity: str) -> dict[str, object]:
    """``"<notebook>:<name>" -> value`` of one shared quantity, for every wave it is recorded
    in (missing names - a notebook that skipped the analysis - are left out)."""
    found = {}
    analysed = _analysed_wave(docs)
    for nb, spec in SHARED[quantity]:
        doc = docs.get(nb)
        if doc is None:
            continue
        for w in (_waves(docs) if "{w}" in spec else [None]):
            name = spec.replace("{w}", str(w)).replace("{a}", str(analysed))
            if "{a}" in spec and analysed is None:
                continue
            value = _cell(doc, name) if name.startswith("table:") else doc["values"].get(name)
            if value is not None:
                found[f"{nb}:{name}"] = value
    return found


def disagreements(found: dict[str, object]) -> list[str]:
    """Values of one quantity that differ (per wave, when the names carry one)."""
    groups: dict[str, dict[str, object]] = {}
    for where, value in found.items():
        wave = re.search(r"wave_(\d+)|wave=(\d+)", where)
        key = (wave.group(1) or wave.group(2)) if wave else "-"
        groups.setdefault(key, {})[where] = value
    bad = []
    for wave, values in groups.items():
        nums = list(values.values())
        if len(nums) > 1 and any(not math.isclose(float(v), float(nums[0]), rel_tol=1e-9,
                                                  abs_tol=1e-12) for v in nums[1:]):
            bad.append(f"wave {wave}: {values}")
    return bad


def _param(study, key, known, **kw):
    reason = known.get((study, key)) or known.get(("*", key))
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(study, key, marks=marks + scan_marks(study), **kw)


@pytest.mark.parametrize("study, quantity",
                         [_param(s, q, KNOWN, id=f"{s}-{re.sub(r'[^a-z]+', '_', q.lower())}")
                          for s in STUDIES for q in SHARED])
def test_shared_quantity_has_one_value(study, quantity):
    docs = _documents(study)
    assert docs, "the run wrote no results"
    found = shared_values(docs, quantity)
    if study == "sample":  # every shared quantity is reported at least twice on the sample
        assert len({k.split(":")[0] for k in found}) >= 1 and len(found) >= 2, found
    assert not disagreements(found)


@pytest.mark.parametrize("study, notebook",
                         [_param(s, nb, KNOWN_FLOAT_COUNTS, id=f"{s}-{nb}") for s in STUDIES
                          for nb in (Path(n).stem[:2] for n in notebook_names())])
def test_counts_are_recorded_as_whole_numbers(study, notebook):
    doc = _documents(study).get(notebook)
    if doc is None:
        pytest.skip(f"no results.json for {notebook} in {study}")
    floats = sorted(k for k, v in doc["values"].items()
                    if k.rsplit(".", 1)[-1] in COUNT_FIELDS and isinstance(v, float))
    for name, t in doc.get("tables", {}).items():
        for col in (c for c in t["columns"] if c in COUNT_FIELDS):
            i = t["columns"].index(col)
            if any(isinstance(r[i], float) for r in t["data"]):
                floats.append(f"table {name}, column {col}")
    assert not floats, floats


def test_the_checks_see_a_disagreement():
    docs = {"00": {"values": {"completion_rate.wave_4.est": 0.5112}},
            "30": {"values": {"completion_rate.wave_4.est": 0.5106, "analysis_wave.est": 4}}}
    found = shared_values(docs, "completion rate per wave")
    assert disagreements(found) == [
        "wave 4: {'00:completion_rate.wave_4.est': 0.5112, '30:completion_rate.wave_4.est': "
        "0.5106}"]
    docs["30"]["values"]["completion_rate.wave_4.est"] = 0.5112
    assert disagreements(shared_values(docs, "completion rate per wave")) == []


def test_the_index_shows_no_illustrative_benchmark():
    """Item 6: an illustrative benchmark is never a headline: the index leaves it out."""
    index = (sample_run().out / "index.html").read_text(encoding="utf-8").lower()
    assert "illustrative" not in index and "benchmark percentile" not in index


def test_no_notebook_records_an_illustrative_headline():
    from crqlab.reports import results
    from crqlab.reports.rendering import is_illustrative

    illustrative = [f"{nb}:{e['name']}" for nb, doc in _documents("sample").items()
                    for e in results.headline(doc) if is_illustrative(e)]
    assert not illustrative


def test_documents_are_read_from_every_notebook():
    # every discovered notebook, no hand-kept list
    assert sorted(_documents("sample")) == sorted(Path(n).stem[:2] for n in notebook_names())
    assert Path(sample_run().out / "index.html").is_file()
