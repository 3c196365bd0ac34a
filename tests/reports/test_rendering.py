"""crqlab.reports.rendering: reviewer HTML pages."""
from __future__ import annotations

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup

from crqlab.reports import rendering

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg==")
HEADER = {"study": "mini", "client": "Client", "notebook": "x.ipynb", "title": "T",
          "parameters": {"seed": 1}, "inputs": {"a.csv": "ab" * 32}, "date": "2026-11-23",
          "version": "0.1.0"}


def _executed_notebook():
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell("# Title\n\n![local](pic.png) ![web](http://x.org/a.png)\n\n## Part")
    code = nbformat.v4.new_code_cell("print('secret code')")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="shown\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="a warning\n")]
    gone = nbformat.v4.new_code_cell("x = 1")
    gone.metadata["tags"] = ["remove-cell"]
    gone.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hidden cell\n")]
    nb.cells = [md, code, gone]
    return nb


def test_render_notebook(tmp_path):
    (tmp_path / "pic.png").write_bytes(PNG)
    html, notes = rendering.render_notebook(_executed_notebook(), header=HEADER,
                                            resources_dir=tmp_path)
    soup = BeautifulSoup(html, "html.parser")
    assert "secret code" not in html and "shown" in html
    assert "a warning" not in html and "hidden cell" not in html
    assert [img["src"][:22] for img in soup.find_all("img")] == ["data:image/png;base64,"]
    assert notes == ["image 'http://x.org/a.png' is not embedded and was removed"]
    assert not soup.find_all("script", src=True)
    assert [a.get_text() for a in soup.select(".crq-toc a")] == ["Title", "Part"]
    head = soup.select_one(".crq-header").get_text(" ", strip=True)
    assert "Random seed: 1" in head and "abababababab" in head and "Client" in head


def test_failed_render_keeps_errors_and_names_the_cell():
    nb = _executed_notebook()
    nb.cells[1].outputs.append(nbformat.v4.new_output(
        "error", ename="ValueError", evalue="bad", traceback=["Traceback (most recent call last)", "ValueError: bad"]))
    error = {"cell_index": 1, "cell_tag": "fit", "ename": "ValueError", "evalue": "bad",
             "source": "print('secret code')", "first_line": "print('secret code')"}
    html, _ = rendering.render_notebook(nb, header=HEADER, failed=True, error=error)
    soup = BeautifulSoup(html, "html.parser")
    box = soup.select_one(".crq-failed").get_text(" ", strip=True)
    assert "step 1" in box and "fit" in box and "ValueError: bad" in box
    assert "technical error" in box  # a library error in plain words; the details folded
    assert soup.select_one(".crq-failed details.crq-technical") is not None
    assert "Traceback" in html and "a warning" in html
    assert soup.select('details.crq-technical [data-mime-type="application/vnd.jupyter.stderr"]')


def test_render_index_marks_failures():
    page = rendering.render_index(
        run={"study": "mini", "client": None, "date": "d", "version": "v", "parameters": {},
             "inputs": {}, "n_ok": 1, "n_failed": 1},
        notebooks=[{"name": "a.ipynb", "title": "A", "href": "a/a.html", "status": "ok",
                    "duration_s": 1.0, "headline": [{"name": "nps", "label": "NPS", "est": 40.0,
                                                     "ci_low": 30.0, "ci_high": 50.0, "n": 100}],
                    "error": None, "warnings": []},
                   {"name": "b.ipynb", "title": "B", "href": "b/b.html", "status": "failed",
                    "duration_s": 2.0, "headline": [],
                    "error": {"cell_index": 4, "cell_tag": None, "ename": "KeyError",
                              "evalue": "'x'"}, "warnings": []}])
    soup = BeautifulSoup(page, "html.parser")
    rows = [r.get_text(" ", strip=True) for r in soup.select("tbody tr")]
    assert "NPS: 40.0 [30.0, 50.0] (NPS points, -100 to +100); n = 100 respondents" in rows[0]
    assert "stopped early" in rows[1] and "Stopped at step 4: The analysis stopped" in rows[1]
    assert "KeyError" not in rows[1]  # a library error is told in plain words


# -- findings, the bar, figures, tables, weight (issue 17) -------------------------------------
Q1, Q2 = "Where does the client stand?", "Do named responses inflate scores?"
FINDINGS = [
    {"question": Q1, "text": "The CRQ index is {est} {ci} on the 1-7 scale ({n}).", "est": 5.934,
     "ci_low": 5.874, "ci_high": 5.9953, "n": 821, "n_accounts": 171, "kind": "score"},
    {"question": Q1, "text": "Half of the invited contacts answered.", "est": 0.5112,
     "ci_low": 0.4868, "ci_high": 0.5356, "n": 1608, "quantity": "response_rate.wave_4",
     "kind": "percent"},
    {"question": Q1, "text": "Against the illustrative benchmark it sits at the top.", "est": 91,
     "ci_low": 88, "ci_high": 93, "n": 200, "kind": "count", "illustrative": True},
    {"question": Q2, "text": "Confidential respondents score lower ({p}).", "est": -0.27,
     "ci_low": -0.37, "ci_high": -0.16, "n": 822, "p_value": 0.00002, "kind": "score",
     "unit": "1-7 scale points"},
    {"question": Q2, "text": "No panel comparison: the study has one wave.", "kind": "number",
     "why_not": "one wave"},
]
NAV = {"study": "mini", "client": "Client", "prefix": "../", "current": "01_a",
       "reports": [{"stem": "00_q", "title": "Data quality", "href": "00_q/00_q.html"},
                   {"stem": "01_a", "title": "Scorecard", "href": "01_a/01_a.html"}]}


def test_finding_text_writes_numbers_by_kind():
    texts = [rendering.finding_text(f) for f in FINDINGS]
    assert texts[0] == ("The CRQ index is 5.93 [5.87, 6.00] on the 1-7 scale "
                        "(n = 821 respondents in 171 accounts).")
    assert texts[1] == ("Half of the invited contacts answered. "
                        "(51.1% [48.7, 53.6]; n = 1,608 invited contacts)")
    assert texts[3] == ("Confidential respondents score lower (p < .001). "
                        "(-0.27 [-0.37, -0.16] (1-7 scale points); n = 822 respondents; p < .001)")
    assert texts[4] == "No panel comparison: the study has one wave."
    assert [rendering.is_illustrative(f) for f in FINDINGS] == [False, False, True, False, False]


@pytest.mark.parametrize("entry, text", [
    ({"name": "nps", "est": 55.83941606, "ci_low": 48.95, "ci_high": 62.41, "n": 822.0,
      "n_accounts": 171.0}, "55.8 [49.0, 62.4] (NPS points, -100 to +100); "
                            "n = 822 respondents in 171 accounts"),
    ({"name": "response_rate.wave_4", "est": 0.5112, "ci_low": 0.4868, "ci_high": 0.5356,
      "n": 1608, "unit": "share of invited contacts (0-1)"},
     "51.1% [48.7, 53.6]; n = 1,608 invited contacts"),
    ({"name": "n_responses", "est": 3565}, "3,565"),
    ({"name": "fit.kmv_crq.rmsea", "est": 0.0, "ci_low": 0.0, "ci_high": 0.016486578, "n": 637},
     "0.000 [0.000, 0.016]; n = 637 respondents"),
    ({"name": "corr.nps_crq_index.pearson", "est": 0.4644, "ci_low": 0.4382, "ci_high": 0.4898,
      "n": 3558, "p_value": 7.6e-190}, "0.46 [0.44, 0.49] (-1 to +1); n = 3,558 respondents; "
                                        "p < .001"),
    ({"name": "best_predictor", "est": "commitment", "n": 501}, "commitment; n = 501 respondents"),
    ({"name": "unknown_thing", "est": 342.019385, "unit": "points on a scale"}, "342.02 (points on a scale)"),
    ({"name": "nps", "est": None, "suppressed": True}, "suppressed (group below the minimum size)"),
])
def test_entry_text_formats_by_the_glossary(entry, text):
    assert rendering.entry_text(entry) == text


def _figure_notebook(n_rows=30, caption="The dashed line marks the overall score."):
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell("# Scores\n\n## By wave")
    fig = nbformat.v4.new_code_cell("plot()")
    fig.outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(PNG).decode(), "text/plain": "<Figure>"},
        metadata={"image/png": {"title": "CRQ index by wave", "caption": caption}}),
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(PNG).decode(),
                                                      "text/plain": "<Figure>"})]
    rows = "".join(f"<tr><th>{i}</th><td>comment {i}</td></tr>" for i in range(n_rows))
    table = nbformat.v4.new_code_cell("table")
    table.outputs = [nbformat.v4.new_output("execute_result", data={
        "text/html": f"<table class='dataframe'><thead><tr><th></th><th>verbatim</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>", "text/plain": "t"}, execution_count=1)]
    nb.cells = [md, fig, table]
    return nb


def test_report_opens_with_the_bar_and_key_findings():
    html, _ = rendering.render_notebook(_figure_notebook(), header=HEADER, findings=FINDINGS,
                                        nav=NAV)
    soup = BeautifulSoup(html, "html.parser")
    bar = soup.select_one("nav.crq-bar")
    assert [a["href"] for a in bar.find_all("a")] == ["../index.html", "../glossary.html",
                                                      "../00_q/00_q.html", "../01_a/01_a.html"]
    assert bar.select_one(".crq-current").get_text() == "Scorecard"
    assert "mini – Client" in bar.get_text(" ", strip=True)
    box = soup.select_one(".crq-findings")
    assert [h.get_text() for h in box.find_all("h3")] == [Q1, Q2]
    items = [li.get_text(" ", strip=True) for li in box.find_all("li")]
    assert len(items) == 4 and not any("illustrative" in i for i in items)
    assert items[0].startswith("The CRQ index is 5.93 [5.87, 6.00]")
    # the box comes before the notebook's own content
    assert soup.find(string="Key findings").find_next("h1", id="Scores") is not None


def test_key_findings_follow_the_notebook_title_at_once():
    html, _ = rendering.render_notebook(_figure_notebook(), header=dict(HEADER, title="Scores"),
                                        findings=FINDINGS[:1], nav=NAV)
    soup = BeautifulSoup(html, "html.parser")
    assert [h.get_text(strip=True) for h in soup.find_all("h1")] == ["Scores"]
    header = soup.find("h1").find_next_sibling()
    assert "crq-header" in header["class"] and header.select_one(".crq-findings li")
    assert soup.body.contents[0].name == "nav"  # the bar first


def test_report_without_findings_says_so():
    html, _ = rendering.render_notebook(_figure_notebook(), header=HEADER)
    box = BeautifulSoup(html, "html.parser").select_one(".crq-findings")
    assert "records no findings" in box.get_text()


def test_figures_get_alt_text_and_captions():
    html, _ = rendering.render_notebook(_figure_notebook(), header=HEADER)
    soup = BeautifulSoup(html, "html.parser")
    first, second = soup.select(".jp-RenderedImage img")
    assert first["alt"] == "CRQ index by wave. The dashed line marks the overall score."
    assert first.find_parent("figure").figcaption.get_text() == \
        "The dashed line marks the overall score."
    assert second["alt"] == "Figure in the section “By wave”."  # no title: its section
    assert second.find_parent("figure") is None


def test_long_tables_collapse_and_row_numbers_go():
    html, _ = rendering.render_notebook(_figure_notebook(n_rows=30), header=HEADER)
    soup = BeautifulSoup(html, "html.parser")
    scroll = soup.select_one("main .crq-scroll")
    first = scroll.find("table")
    assert len(first.select("tbody tr")) == rendering.LONG_TABLE_ROWS
    details = scroll.select_one("details.crq-long")
    assert details.summary.get_text() == "Show the other 18 rows"
    assert len(details.select("tbody tr")) == 18
    assert details.select("thead th")[0].get_text() == "verbatim"
    # pandas' 0, 1, 2 ... are gone: the comment is the first cell of each row
    assert first.select("tbody tr")[0].find(["th", "td"]).get_text() == "comment 0"
    short, _ = rendering.render_notebook(_figure_notebook(n_rows=5), header=HEADER)
    assert 'class="crq-long"' not in short


def test_row_headers_that_mean_something_stay():
    nb = _figure_notebook(n_rows=3)
    nb.cells[2].outputs[0]["data"]["text/html"] = (
        "<table><thead><tr><th></th><th>n</th></tr></thead><tbody><tr><th>1</th><td>5</td></tr>"
        "<tr><th>2</th><td>6</td></tr></tbody></table>")  # waves 1 and 2, not row numbers
    soup = BeautifulSoup(rendering.render_notebook(nb, header=HEADER)[0], "html.parser")
    assert [th.get_text() for th in soup.select("main tbody th")] == ["1", "2"]


def test_pages_carry_only_the_small_stylesheet():
    html, _ = rendering.render_notebook(_figure_notebook(), header=HEADER, nav=NAV)
    soup = BeautifulSoup(html, "html.parser")
    css = "".join(s.get_text() for s in soup.head.find_all("style"))
    assert css == rendering.stylesheet()
    assert len(css.encode()) < 10_000  # nbconvert's own CSS was 266 KB
    assert len(html.encode()) < 30_000  # the page without figures of any size
    assert ".crq-scroll" in css and "overflow-x: auto" in css  # no table wider than the page
    run = {"study": "mini", "client": None, "date": "d", "version": "v", "parameters": {},
           "inputs": {}, "n_ok": 0, "n_failed": 0}
    for page in (rendering.render_index(run=run, notebooks=[]), rendering.render_glossary()):
        soup = BeautifulSoup(page, "html.parser")  # the same stylesheet, not HTML-escaped
        assert "".join(s.get_text() for s in soup.head.find_all("style")).strip() == \
            rendering.stylesheet().strip()


def test_index_opens_with_findings_by_question_and_filters_illustrative():
    page = rendering.render_index(
        run={"study": "mini", "client": "Client", "date": "d", "version": "v",
             "parameters": {"n_boot": 200}, "inputs": {}, "n_ok": 2, "n_failed": 0},
        notebooks=[{"name": "01_a.ipynb", "title": "Scorecard", "href": "01_a/01_a.html",
                    "status": "ok", "duration_s": 1.0, "findings": FINDINGS[:3],
                    "headline": [{"name": "benchmark.crq_index.percentile", "est": 91.0,
                                  "note": "illustrative benchmark"},
                                 {"name": "crq_index", "est": 5.93, "n": 821}],
                    "error": None, "warnings": []},
                   {"name": "20_b.ipynb", "title": "Confidentiality", "href": "20_b/20_b.html",
                    "status": "ok", "duration_s": 1.0, "findings": FINDINGS[3:], "headline": [],
                    "error": None, "warnings": []}],
        nav=dict(NAV, prefix="", current="index"))
    soup = BeautifulSoup(page, "html.parser")
    findings = soup.select_one(".crq-findings")
    assert findings.find_next("table", class_="crq-table") is not None  # findings first
    assert [h.get_text() for h in findings.find_all("h3")] == [Q1, Q2]
    text = soup.get_text(" ", strip=True)
    assert "illustrative" not in text.lower() and "91" not in text
    assert "CRQ index: 5.93 (1-7 scale); n = 821 respondents" in text
    assert "Bootstrap resamples: 200" in text
    assert [a["href"] for a in findings.select("p.crq-small a")] == ["01_a/01_a.html",
                                                                    "20_b/20_b.html"]
    assert soup.select_one("nav.crq-bar .crq-current").get_text() == "Findings and index"


def test_glossary_page_lists_every_quantity():
    from crqlab.reports.glossary import load

    soup = BeautifulSoup(rendering.render_glossary(nav=dict(NAV, prefix="", current="glossary")),
                         "html.parser")
    terms = [dt.get_text(" ", strip=True) for dt in soup.select("dl.crq-glossary dt")]
    for q in load().quantities:
        assert any(t.startswith(q.name) for t in terms), q.name
    assert soup.select_one("nav.crq-bar .crq-current").get_text() == "Glossary"


def test_figures_are_made_lighter_without_changing_their_size():
    import io

    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots()
    ax.plot(range(50), [i % 7 for i in range(50)], "-o")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    small = rendering._smaller_png(buf.getvalue())
    assert len(small) < 0.8 * len(buf.getvalue())
    assert Image.open(io.BytesIO(small)).size == Image.open(buf).size
    assert rendering._smaller_png(b"not a png") == b"not a png"
