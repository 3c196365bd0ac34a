"""crqlab.reports.present (client strings shown as text) and the page sanitiser of crqlab.reports.rendering.

Markdown is rendered by nbconvert's own renderer, the one that turns notebook outputs into
report HTML, and read back with BeautifulSoup: a value must come out as exactly its text, with
no element or attribute made from it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from crqlab.errors import CrqlabError
from crqlab.formatting import Caution, Finding, text
from crqlab.reports.present import (
    MarkupTemplateError,
    Md,
    bullet_list,
    code,
    escape_html,
    escape_md,
    md,
    not_estimated,
    paragraph,
    say,
    say_text,
    show_notes,
    show_result_table,
    styled,
    warning_box,
)
from crqlab.reports.rendering import CSP, finish_page, sanitize_html

HOSTILE = [
    "<img src=x onerror=\"document.title='PWNED'\">",
    "<script>alert(1)</script>",
    "[link](javascript:alert(1))",
    "<svg onload=alert(1)>",
    "*em* _u_ __strong__ `code` ~~del~~",
    "$x_1$ and $$y$$",
    "a | b\n---|---\nc | d",
    "# heading",
    "- item",
    "1. first",
    "> quote",
    "    indented code",
    "line one\n\nline two",
    "&lt;b&gt; &amp; &#42;",
    "\\*not em\\*",
    "http://example.org and www.example.org",
    "![img](x.png)",
    "<!-- comment --> tail",
    "trailing backslash \\",
    "   spaced   ",
    "{curly} {0} {name!r}",
    "===",
    "Ω ü — 中文 emoji 🙂",
    "snake_case_name _lead trail_ a__b x_*y*",
]


def _render(text: str) -> BeautifulSoup:
    return BeautifulSoup(markdown2html_mistune(str(text)), "html.parser")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _elements(soup: BeautifulSoup) -> list[str]:
    return [t.name for t in soup.find_all(True)]


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_value_renders_to_its_own_text_and_nothing_else(value):
    soup = _render(md("x {} y", value))
    assert _elements(soup) == ["p"]
    assert soup.p.attrs == {}
    assert _norm(soup.get_text()) == _norm(f"x {value} y")


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_value_keeps_the_template_markup_around_it(value):
    soup = _render(md("**{}** and `code`", value))
    assert _elements(soup) == ["p", "strong", "code"]
    assert _norm(soup.strong.get_text()) == _norm(value)


#: Random text made mostly of Markdown and HTML syntax (single characters and whole tokens).
MARKDOWNISH = st.lists(st.sampled_from(
    list("<>&\"'`*_[]()!#|~$\\{}-+=.:/;1a ") + ["\n", "\t", "\r", "é", "javascript:", "<img",
                                                  "onerror=", "http://", "&amp;", "&#42;",
                                                  "    ", "<script>", "</", "-->"]),
    max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(MARKDOWNISH)
def test_no_element_or_attribute_comes_from_random_markup(value):
    soup = _render(md("start {} end", value))
    assert _elements(soup) == ["p"] and soup.p.attrs == {}
    assert _norm(soup.get_text()) == _norm(f"start {value} end")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_shown_as_itself(value):
    value = value.replace("\x00", "")  # the renderer turns NUL into U+FFFD, as HTML does
    assume(value.strip())  # "****" (nothing between the stars) is not emphasis
    soup = _render(md("**{}**: end", value))
    assert _elements(soup) == ["p", "strong"]
    assert _norm(soup.get_text()) == _norm(f"{value}: end")


def test_md_formats_numbers_and_keeps_md_values():
    out = md("{n:,} of {k:.1f}% in {w} ({x})", n=12345, k=51.25, w="<b>2023</b>",
             x=md("**bold**"))
    assert isinstance(out, Md)
    assert out == "12,345 of 51.2% in &#60;b&#62;2023&#60;/b&#62; (**bold**)"


def test_template_must_be_a_literal_or_md():
    data = "<b>client</b>"
    with pytest.raises(MarkupTemplateError, match="literal"):
        md(f"**{data}**")
    with pytest.raises(MarkupTemplateError):
        md("**" + data + "**")
    assert issubclass(MarkupTemplateError, CrqlabError)
    built = md("**{}**", data)
    assert md(built) is built


def test_literal_handed_through_a_helper_is_accepted():
    def helper(template, **values):
        return md(template, **values)

    assert helper("*{x}* said", x="_y_") == "*&#95;y&#95;* said"


def test_md_pieces_compose_without_unescaping():
    text = md("**{}**", "a*b") + " and <i>" + Md(", ").join(["x_y", md("`z`")])
    assert text == "**a&#42;b**&#32;and &#60;i&#62;x_y, `z`"  # edge space kept as a space
    assert ("<u>" + md("*k*")) == "&#60;u&#62;*k*"
    assert bullet_list(["- a", md("**b**")]) == "- &#45; a\n- **b**"


@pytest.mark.parametrize("value", ["plain", "a`b", "``x``", " lead", "trail`", "<b>&amp;</b>"])
def test_code_span_shows_the_value_verbatim(value):
    soup = _render(md("see {}", code(value)))
    assert soup.code is not None and soup.code.get_text() == value


def test_escape_html_covers_text_and_attribute_metacharacters():
    assert escape_html("<a href='x' title=\"y\">&</a>") == (
        "&lt;a href=&#x27;x&#x27; title=&quot;y&quot;&gt;&amp;&lt;/a&gt;")
    assert escape_md(escape_md("<b>")) == escape_md("<b>")  # Md is not escaped twice


def test_styled_table_escapes_cells_labels_and_axis_names():
    t = pd.DataFrame({"<b>col</b>": ["<i>cell</i>", "*md*"], "n": [1234.5678, None]},
                     index=pd.Index(["<u>row</u>", "r2"], name="<s>idx</s>"))
    t.columns.name = "<em>cols</em>"
    html = styled(t, precision=2, na_rep="–", thousands=",", formatter={"n": "{:,.0f}"}).to_html()
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["b", "i", "u", "s", "em"])
    text = soup.get_text()
    for label in ("<b>col</b>", "<i>cell</i>", "<u>row</u>", "<s>idx</s>", "<em>cols</em>",
                  "1,235", "–"):
        assert label in text


def test_say_and_warning_box_display_escaped_content(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    say("**{}** says", "<script>x</script>")
    warning_box("<b>title</b>", ["<i>reason</i>"], note="a & b")
    assert shown[0].data == "**&#60;script&#62;x&#60;/script&#62;** says"
    box = BeautifulSoup(shown[1].data, "html.parser")
    assert not box.find_all(["b", "i", "script"])
    assert "Warning: <b>title</b>" in box.get_text() and "<i>reason</i>" in box.get_text()


def test_say_text_and_not_estimated_show_plain_text_as_itself(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    say_text("r = 0.46 [95% CI 0.44 to 0.49] for *all*", "", "<b>x</b>")
    not_estimated("The study has no `retained_next_wave` column.", "one_wave <i>")
    texts = [o.data for o in shown]
    assert len(texts) == 4  # the empty paragraph is not shown
    for data, plain in zip(texts[:2], ["r = 0.46 [95% CI 0.44 to 0.49] for *all*", "<b>x</b>"]):
        assert BeautifulSoup(markdown2html_mistune(data), "html.parser").get_text().strip() == plain
    html = markdown2html_mistune(texts[2])
    assert "<strong>Not estimated.</strong>" in html and "<code>" not in html
    assert BeautifulSoup(html, "html.parser").get_text().strip() == (
        "Not estimated. The study has no `retained_next_wave` column.")
    assert texts[3] == "**Not estimated.** one_wave &#60;i&#62;"  # "_" inside a word is no markup


@pytest.mark.parametrize("value", HOSTILE)
def test_paragraph_shows_quoted_names_as_code_and_every_value_as_text(value):
    reason = text("n = {n:,} in {wave} (the `min_n` parameter).", n=1234, wave=value)
    soup = _render(paragraph([Finding("Not estimated.", reason), "Plain: " + value]))
    assert _elements(soup) == ["p", "strong", "code"] and soup.p.attrs == {}
    assert soup.strong.get_text() == "Not estimated." and soup.code.get_text() == "min_n"
    assert _norm(soup.get_text()) == _norm(
        f"Not estimated. n = 1,234 in {value} (the min_n parameter). Plain: {value}")


@pytest.mark.parametrize("value", HOSTILE[:6])
def test_paragraph_lead_may_hold_values_and_rest_may_start_with_punctuation(value):
    lead = text("No retention outcome in {w}", w=value)
    soup = _render(paragraph(Finding(lead, text(": (`retained_next_wave` is empty)."))))
    assert _elements(soup) == ["p", "strong", "code"]
    assert _norm(soup.strong.get_text()) == _norm(f"No retention outcome in {value}")
    assert _norm(soup.get_text()) == _norm(f"No retention outcome in {value}: "
                                           "(retained_next_wave is empty).")


def test_paragraph_with_an_unpaired_backtick_quotes_nothing():
    soup = _render(paragraph(text("a ` b {x}", x="`y`")))
    assert _elements(soup) == ["p"] and _norm(soup.get_text()) == "a ` b `y`"


def test_show_notes_and_result_tables(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    show_notes(["<b>plain</b>", Caution("<i>t</i>", ["r1"], "note"), [Finding("Lead.", "rest")]])
    assert shown[0].data == "&#60;b&#62;plain&#60;/b&#62;"
    assert 'class="crq-warning"' in shown[1].data and "&lt;i&gt;t&lt;/i&gt;" in shown[1].data
    assert shown[2].data == "**Lead.** rest"
    table = pd.DataFrame({"latent": ["<b>a</b>", "b"], "est": [0.12345, None],
                          "p_value": [0.0004, 0.0456], "n": [1234.0, 56.0], "df": [7, 8]})
    show_result_table(table)
    soup = BeautifulSoup(shown[3].to_html(), "html.parser")
    cells = [td.get_text() for td in soup.find_all("td")]
    assert cells == ["<b>a</b>", "0.123", "< 0.001", "1,234", "7",
                     "b", "–", "0.046", "56", "8"]
    assert not soup.find_all("th", class_="row_heading")  # no index


# -- the page sanitiser --------------------------------------------------------------------------
SNIPPETS = [
    "<script>document.title='PWNED'</script>",
    "<SCRIPT SRC=http://x/x.js></SCRIPT>",
    "<img src=x onerror=\"document.title='PWNED'\">",
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    "<a href=\"javascript:alert(1)\">a</a>",
    "<a href=\" jAvA\tsCrIpT:alert(1)\">tab</a>",
    "<a href=\"vbscript:msgbox(1)\">vb</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">d</a>",
    "<iframe src=\"https://example.org\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"x.swf\"></object>",
    "<embed src=\"x.swf\">",
    "<base href=\"https://evil.example/\">",
    "<form action=\"https://evil.example\"><input name=q></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<details open ontoggle=alert(1)>d</details>",
    "<body onload=alert(1)>",
    "<div style=\"background:url(javascript:alert(1))\">s</div>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>t</text></a></svg>",
    "<svg><animate attributeName=href values=\"javascript:alert(1)\"/></svg>",
    "<math><maction actiontype=statusline xlink:href=\"javascript:alert(1)\">m</maction></math>",
    "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<button formaction=\"javascript:alert(1)\">b</button>",
]
_ACTIVE = ("script", "iframe", "object", "embed", "base", "form", "link", "noscript")


def _page(snippet: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>"
            f"<p>before</p>{snippet}<p>after</p></body></html>")


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_sanitiser_removes_active_content_and_keeps_the_rest(snippet):
    soup = BeautifulSoup(finish_page(_page(snippet)), "html.parser")
    assert soup.find_all(_ACTIVE) == []
    assert not soup.find_all("meta", attrs={"http-equiv": re.compile("refresh", re.I)})
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else value
            assert not name.lower().startswith("on"), (tag.name, name)
            flat = re.sub(r"[\s\x00-\x1f]", "", text).lower()
            assert "javascript:" not in flat and "vbscript:" not in flat, (tag.name, name)
            assert "data:text/html" not in flat, (tag.name, name)
    assert [p.get_text() for p in soup.find_all("p") if p.get_text() in ("before", "after")] \
        == ["before", "after"]
    assert soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"] == CSP


def test_sanitiser_keeps_embedded_figures_links_and_styles():
    png = "data:image/png;base64,iVBORw0KGgo="
    page = _page(f"<img src=\"{png}\" alt=\"fig\"><a href=\"#sec\">toc</a>"
                 "<a href=\"https://example.org/a\">web</a><span style=\"color:red\">r</span>"
                 "<style>p{color:blue}</style>")
    soup = BeautifulSoup(page, "html.parser")
    assert sanitize_html(soup) == 0
    out = BeautifulSoup(finish_page(page), "html.parser")
    assert out.img["src"] == png
    assert [a["href"] for a in out.find_all("a")] == ["#sec", "https://example.org/a"]
    assert out.span["style"] == "color:red" and out.style.get_text() == "p{color:blue}"


def test_policy_comes_right_after_the_charset_and_forbids_script():
    out = finish_page(_page(""))
    head = BeautifulSoup(out, "html.parser").head.find_all("meta")
    assert head[0].get("charset") == "utf-8"
    assert head[1]["http-equiv"] == "Content-Security-Policy"
    assert "default-src 'none'" in CSP and "script-src 'none'" in CSP
    assert "img-src data:" in CSP and "'unsafe-inline'" in CSP.split("style-src")[1].split(";")[0]


# -- the notebooks use these helpers ---------------------------------------------------------------
NOTEBOOK_PATHS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def _cells(path: Path):
    nb = nbformat.read(str(path), as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield i, ast.parse(cell.source)


def _template_problems(node: ast.Call) -> list[str]:
    """An f-string, concatenation or .format() as the template; a field inside backticks."""
    if not node.args:
        return []
    first = node.args[0]
    if isinstance(first, (ast.JoinedStr, ast.BinOp)) or (
            isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
            and first.func.attr == "format"):
        return [f"{ast.unparse(first)[:60]}: data built into the template"]
    literals = [n.value for n in ast.walk(first) if isinstance(n, ast.Constant)
                and isinstance(n.value, str)]
    return [f"{text[:60]!r}: a field inside backticks (use code())" for text in literals
            for inside in text.split("`")[1::2] if re.search(r"\{[^{}]*\}", inside)]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.stem)
def test_notebook_shows_text_only_through_crqlab_present(path):
    problems = []
    for i, tree in _cells(path):
        for node in ast.walk(tree):
            where = f"cell {i} line {getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and node.module == "IPython.display":
                raw = [a.name for a in node.names if a.name in ("HTML", "Markdown", "Latex")]
                problems += [f"{where}: imports {n} (use crqlab.reports.present)" for n in raw]
            elif isinstance(node, ast.FunctionDef) and node.name in ("say", "show_table"):
                problems.append(f"{where}: defines its own {node.name}")
            elif isinstance(node, ast.Attribute) and node.attr in ("style", "to_html"):
                problems.append(f"{where}: .{node.attr} (use crqlab.reports.present.show_table)")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("say", "md")):
                problems += [f"{where}: {p}" for p in _template_problems(node)]
    assert problems == []


def test_plain_words_for_caught_warnings_and_errors():
    import warnings

    from crqlab.errors import ConvergenceError
    from crqlab.reports import present

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("The MLE may be on the boundary of the parameter space.", UserWarning)
    assert "estimated at zero" in present.plain(caught[0])
    assert "no churned accounts" in present.plain(
        ConvergenceError("logistic model of retained_next_wave on nps: Perfect separation "
                         "detected, results not available"))
    assert present.plain("Too few respondents (n = 3).") == "Too few respondents (n = 3)."
    assert "plain" in present.__all__


def test_label_names_columns_from_the_glossary():
    from crqlab.reports.present import label

    assert label("tenure_years") == "Tenure (years)"
    assert label("prev_crq_index_known") == "Previous wave's CRQ index known"
    assert label("trust_2") == "Trust, question 2"  # CRQ items through the instrument
    assert label("some_new_column") == "Some new column"  # never a raw snake_case name
def test_labelled_tables_take_their_labels_from_the_glossary():
    from crqlab.reports.present import label, labelled

    assert label("ci_low") == "Lower 95% bound"
    assert label("commitment_1") == "Commitment, question 1"
    assert label("bootstrap_ci_high") == "Upper 95% bound (account-cluster bootstrap)"
    assert label(3) == 3
    table = pd.DataFrame({"item": ["commitment_1", "<b>x</b>"], "std_all": [0.8, 0.7],
                          "p_value": [0.001, 0.2]}, index=["rmsea", "cfi"])
    out = labelled(table, index=True)
    assert list(out.columns) == ["Question", "Standardised estimate", "p"]
    assert out["Question"].tolist() == ["Commitment, question 1", "<b>x</b>"]
    assert list(out.index) == ["RMSEA", "CFI"] and list(table.columns)[0] == "item"  # a copy
