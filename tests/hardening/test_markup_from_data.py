"""No markup from data: hostile client strings never run in a browser and are shown as text.

One hostile study (``tests/hardening/markup.py``: the ``tiny`` synthetic study with markup in
the client, study, wave labels, a role, account names, industries, regions, account managers,
verbatims and a mapped column name) runs through ``crqlab run`` once per session. Every page
(each report and ``index.html``), plus a ``batch.html`` written by ``crqlab.reports.batch._html`` from
rows full of markup, is loaded in Debian's headless Chromium twice: as published, and with its
Content-Security-Policy removed (so the escaping and the sanitiser are tested on their own).
After loading, no payload may have run, and every place a planted value is shown must show the
whole value as text.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from crqlab.reports.batch import _html, summary_table
from crqlab.reports.packs import write_packs
from crqlab.reports.rendering import CSP
from hardening.markup import (
    PAYLOADS,
    chromium,
    dump_dom,
    executed,
    hostile_study,
    literal_problems,
    markup_run,
    visible_text,
)
from hardening.runs import notebook_names, workdir

pytestmark = pytest.mark.skipif(
    chromium() is None, reason="no chromium on PATH: install Debian's chromium "
    "(.ci/run does) to load the pages in a real browser")

PAGES = [n.removesuffix(".ipynb") for n in notebook_names()] + ["index", "glossary", "batch"]
REPORTS = PAGES[:-3]
#: field -> pages that must show it (at least one planted value of the field, as text).
EXPECTED = {
    "client": REPORTS + ["index"], "study": REPORTS + ["index"],
    "wave_label": [p for p in REPORTS if p[:2] in ("00", "30")], "role": ["00_data_quality"],
    "industry": ["01_scorecard"], "region": ["01_scorecard"],
    "account_manager": ["01_scorecard"], "column": ["01_scorecard"],
    "strengths": ["20_confidentiality"], "weaknesses": ["20_confidentiality"],
    "account_name": ["40_nps_crq"],  # the hidden-risk accounts with enough respondents
}
_CSP = re.compile(r"<meta[^>]*Content-Security-Policy[^>]*>", re.IGNORECASE)


def _batch_page(folder: Path) -> tuple[Path, dict[str, str]]:
    """``batch.html`` from rows whose study, error, failed notebooks, headline names and
    report folder are hostile (no batch run needed: ``_html`` is what writes the page)."""
    values = {f"ZQb{k:02d}": f"ZQb{k:02d}" + p for k, p in enumerate(PAYLOADS)}
    v = list(values.values())
    rows = [{"study": v[0], "status": "failed", "notebooks": 6, "failed": [v[1], v[2]],
             "out_dir": str(folder / "javascript:document.title='PWNED'"),
             "headline": {"00_data_quality": [{"name": v[3], "est": 0.5}]}, "error": v[4]},
            {"study": v[5], "status": "ok", "notebooks": 6, "failed": [],
             "out_dir": str(folder / "b"), "headline": {v[6]: [{"name": v[7], "est": 1.0}]},
             "error": None}]
    page = folder / "batch.html"
    page.write_text(_html(summary_table(rows), rows), encoding="utf-8")
    return page, values


@pytest.fixture(scope="module")
def browsed():
    """page name -> (served html, DOM as published, DOM without the CSP), and planted values."""
    study, run = markup_run()
    assert run.code == 0, run.stderr
    folder = workdir() / "markup-pages"
    folder.mkdir(parents=True, exist_ok=True)
    batch, batch_values = _batch_page(folder)
    pages = {p.stem: p for p in run.out.rglob("*.html")} | {"batch": batch}
    bare = {}
    for name, page in pages.items():
        bare[name] = folder / f"bare-{name}.html"
        bare[name].write_text(_CSP.sub("", page.read_text(encoding="utf-8")), encoding="utf-8")
    doms = dump_dom([*pages.values(), *bare.values()])
    out = {name: (pages[name].read_text(encoding="utf-8"), doms[pages[name]], doms[bare[name]])
           for name in pages}
    return out, study.all_values() | batch_values, study.values


def test_every_page_is_there_and_every_notebook_ran(browsed):
    pages, _, _ = browsed
    assert sorted(pages) == sorted(PAGES)
    _, run = markup_run()
    assert set(run.statuses().values()) == {"ok"}, run.statuses()


@pytest.mark.parametrize("page", PAGES)
def test_no_payload_runs_with_or_without_the_policy(browsed, page):
    served, dom, dom_bare = browsed[0][page]
    assert executed(served, dom) == []
    assert executed(served, dom_bare) == []


@pytest.mark.parametrize("page", PAGES)
def test_page_has_the_policy_and_no_active_content(browsed, page):
    served, _, dom_bare = browsed[0][page]
    soup = BeautifulSoup(served, "html.parser")
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp is not None and csp["content"] == CSP
    live = BeautifulSoup(dom_bare, "html.parser")
    assert live.find_all(["script", "iframe", "object", "embed", "base", "form"]) == []
    handlers = [(t.name, a) for t in live.find_all(True) for a in t.attrs
                if a.lower().startswith("on")]
    assert handlers == []
    assert not [t for t in live.find_all(href=True) if "javascript:" in t["href"].lower()]


@pytest.mark.parametrize("page", PAGES)
def test_payloads_are_shown_as_text(browsed, page):
    _, dom, _ = browsed[0][page]
    problems, _ = literal_problems(visible_text(dom), browsed[1])
    assert problems == []


@pytest.mark.parametrize("field", sorted(EXPECTED))
def test_each_field_is_shown_as_text_where_reports_show_it(browsed, field):
    pages, values, planted = browsed
    for page in EXPECTED[field]:
        _, shown = literal_problems(visible_text(pages[page][1]), values)
        assert shown & set(planted[field]), f"{field} not shown as text in {page}"


@pytest.mark.parametrize("page", REPORTS)
def test_sanitised_report_keeps_every_figure(browsed, page):
    # every figure the notebook drew is still embedded after the sanitiser (data:image/png)
    _, run = markup_run()
    nb = nbformat.read(str(run.out / page / f"{page}.ipynb"), as_version=4)
    drawn = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    soup = BeautifulSoup(browsed[0][page][0], "html.parser")
    assert drawn > 0
    assert len(soup.find_all("img", src=re.compile(r"^data:image/png;base64,"))) == drawn


def test_batch_page_shows_every_hostile_value(browsed):
    pages, values, _ = browsed
    _, shown = literal_problems(visible_text(pages["batch"][1]), values)
    assert {m for m in values if m.startswith("ZQb")} <= shown


def test_the_browser_check_sees_a_payload_that_runs(tmp_path):
    # the harness itself: the same payloads, unescaped and without a policy, do run
    page = tmp_path / "raw.html"
    served = ("<!DOCTYPE html><html><head><title>raw</title></head><body>"
              + "".join(PAYLOADS) + "</body></html>")
    page.write_text(served, encoding="utf-8")
    signs = executed(served, dump_dom([page])[page])
    assert any("title changed" in s for s in signs) and any("data-pwned" in s for s in signs)


#: Fields an account pack shows (tests/hardening/markup.py plants a payload in each).
PACK_FIELDS = ("client", "wave_label", "account_name", "account_manager", "role", "strengths",
               "weaknesses")


@pytest.fixture(scope="module")
def packs_browsed():
    """``crqlab packs`` on the hostile study: the index and three packs (every pack is the same
    template) loaded in Chromium as written and without its Content-Security-Policy."""
    study = hostile_study(workdir() / "studies" / "hostile-packs")
    out, packs = write_packs(study.folder, workdir() / "packs" / "hostile-packs", n_boot=200)
    written = sorted(out.rglob("*.html"))
    assert len(packs.packs) >= 3 and len(written) == len(packs.packs) + 1  # packs and index
    pages = [out / "index.html", *[p for p in written if p.name != "index.html"][:3]]
    bare = {}
    for page in pages:
        bare[page] = workdir() / "packs" / f"bare-{page.name}"
        bare[page].write_text(_CSP.sub("", page.read_text(encoding="utf-8")), encoding="utf-8")
    doms = dump_dom([*pages, *bare.values()])
    return {p.name: (p.read_text(encoding="utf-8"), doms[p], doms[bare[p]]) for p in pages}, study


def test_account_packs_run_no_payload_and_show_client_strings_as_text(packs_browsed):
    pages, study = packs_browsed
    values, shown = study.all_values(), set()
    for name, (served, dom, dom_bare) in pages.items():
        assert CSP in served, name
        assert executed(served, dom) == [] and executed(served, dom_bare) == [], name
        problems, found = literal_problems(visible_text(dom), values)
        assert problems == [], (name, problems[:3])
        shown |= found
    for field in PACK_FIELDS:  # each field's value reached the packs, and as text
        assert set(study.values[field]) & shown, field
