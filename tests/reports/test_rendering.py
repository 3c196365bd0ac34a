"""crqlab.reports.rendering: reviewer HTML pages."""
from __future__ import annotations

import base64

import nbformat
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
    assert "seed = 1" in head and "abababababab" in head and "Client" in head


def test_failed_render_keeps_errors_and_names_the_cell():
    nb = _executed_notebook()
    nb.cells[1].outputs.append(nbformat.v4.new_output(
        "error", ename="ValueError", evalue="bad", traceback=["Traceback (most recent call last)", "ValueError: bad"]))
    error = {"cell_index": 1, "cell_tag": "fit", "ename": "ValueError", "evalue": "bad",
             "source": "print('secret code')", "first_line": "print('secret code')"}
    html, _ = rendering.render_notebook(nb, header=HEADER, failed=True, error=error)
    soup = BeautifulSoup(html, "html.parser")
    box = soup.select_one(".crq-failed").get_text(" ", strip=True)
    assert "cell 1" in box and "fit" in box and "ValueError: bad" in box
    assert "Traceback" in html and "a warning" in html


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
    assert "NPS: 40.0 [30.0, 50.0] (n = 100)" in rows[0]
    assert "failed" in rows[1] and "cell 4: KeyError" in rows[1]
