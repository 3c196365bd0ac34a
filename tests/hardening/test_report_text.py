"""Nothing from the machine room, and pages light enough to e-mail (issue 17, items 2 and 5).

Every page a run publishes (index, glossary, each report) is read as a reviewer reads it: its
visible text (BeautifulSoup ``get_text``, without style and script) is scanned for the patterns
of :data:`crqlab.reports.wording.MACHINE_ROOM` - absolute paths, Python reprs, package function
names, raw snake_case column names, float noise, counts written as floats, library messages,
citations of files outside the repository - and for pandas row numbers in tables. The studies:
the shipped sample and the fast degenerate studies, reusing the runs of
``tests/hardening/runs.py`` (the sample run is shared with the consistency check).

Failures that come from a notebook's own text are marked ``xfail(strict=True)`` in
:data:`KNOWN` with the notebook and what it shows, for the notebooks' next pass; each flips to
XPASS (and fails) once the notebook is fixed - then remove its entry. Whatever the rendering,
templates or runner add is fixed there, never listed here.

Page weight: every report of the sample < 400 KB, the index < 50 KB, and each page's own CSS
under 30 KB (nbconvert's embedded 266 KB are gone).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from crqlab.reports.wording import MACHINE_ROOM
from hardening.runs import (
    SCANNED,
    notebook_names,
    sample_run,
    scan_marks,
    scanned_run,
)

STUDIES = SCANNED
PAGES = ("index", "glossary", *(Path(n).stem for n in notebook_names()))
CHECKS = (*MACHINE_ROOM, "pandas row numbers")
KB = 1024

_NB = {n[:2]: f"notebooks/{n}" for n in notebook_names()}  # "10" -> notebooks/10_....ipynb


def _why(nb: str, what: str) -> str:
    return f"{_NB[nb]} shows {what} (notebook text; fix in the notebook, then drop this entry)"


#: (study or "*", page, check) -> reason: failures of the notebooks' own text, for their next pass.
KNOWN: dict[tuple[str, str, str], str] = {}


def _page(study: str, page: str) -> Path:
    out = scanned_run(study).out
    return out / f"{page}.html" if page in ("index", "glossary") else out / page / f"{page}.html"


def visible_text(path: Path) -> str:
    """What a reader of the page sees: the text without style and script elements."""
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["style", "script"]):
        tag.decompose()
    return soup.get_text(" ")


def row_number_tables(path: Path) -> list[str]:
    """Tables whose rows are headed 0, 1, 2, ... (a pandas default index shown as if it meant
    something)."""
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    bad = []
    for table in soup.find_all("table"):
        heads = [tr.find(["th", "td"]) for tr in table.select("tbody > tr")]
        texts = [h.get_text(strip=True) for h in heads if h is not None and h.name == "th"]
        if len(texts) >= 2 and texts == [str(i) for i in range(len(texts))]:
            bad.append(table.get_text(" ", strip=True)[:80])
    return bad


def _found(study: str, page: str, check: str) -> list[str]:
    path = _page(study, page)
    if check == "pandas row numbers":
        return row_number_tables(path)
    return sorted(set(MACHINE_ROOM[check].findall(visible_text(path))))


def _cases():
    out = []
    for study in STUDIES:
        for page in PAGES:
            for check in CHECKS:
                reason = KNOWN.get((study, page, check)) or KNOWN.get(("*", page, check))
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                out.append(pytest.param(study, page, check, marks=marks + scan_marks(study),
                                        id=f"{study}-{page[:2] if page[0].isdigit() else page}-"
                                           f"{re.sub(r'[^a-z]+', '_', check.lower())}"))
    return out


@pytest.mark.parametrize("study, page, check", _cases())
def test_no_machine_room_text(study, page, check):
    assert scanned_run(study).code == 0, scanned_run(study).stderr[-2000:]
    found = _found(study, page, check)
    assert not found, f"{page} of {study} shows {check}: {found[:12]}"


@pytest.mark.parametrize("page", PAGES)
def test_sample_pages_are_light(page):
    path = _page("sample", page)
    size = path.stat().st_size
    limit = 50 * KB if page in ("index", "glossary") else 400 * KB
    assert size < limit, f"{page}: {size / KB:.0f} KB"
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    css = sum(len(s.get_text().encode()) for s in soup.find_all("style"))
    assert css < 30 * KB, f"{page} carries {css / KB:.0f} KB of CSS"


def test_every_page_links_the_index_the_glossary_and_every_report():
    out = sample_run().out
    reports = [f"{p}/{p}.html" for p in PAGES[2:]]
    for page in PAGES:
        path = _page("sample", page)
        prefix = "" if path.parent == out else "../"
        links = [a["href"] for a in BeautifulSoup(path.read_text(encoding="utf-8"),
                                                  "html.parser").select("nav.crq-bar a")]
        assert links == [prefix + h for h in ("index.html", "glossary.html", *reports)], page


def test_every_image_has_alt_text():
    for page in PAGES[2:]:
        soup = BeautifulSoup(_page("sample", page).read_text(encoding="utf-8"), "html.parser")
        for img in soup.find_all("img"):
            alt = img.get("alt", "").strip()
            assert alt and "No description" not in alt, (page, alt)


def test_every_name_the_sample_run_records_has_a_glossary_quantity():
    """Names recorded by the study modules (not literal in the notebooks) are in the glossary."""
    import json

    from crqlab.reports import glossary

    names = {name for f in sorted(sample_run().out.glob("*/results.json"))
             for name in json.loads(f.read_text(encoding="utf-8")).get("entries", {})}
    assert len(names) > 100, len(names)
    missing = sorted(n for n in names if glossary.load().quantity(n) is None)
    assert not missing, f"add these to crqlab/reports/glossary.yaml: {missing}"
