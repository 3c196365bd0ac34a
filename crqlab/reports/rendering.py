"""HTML for reviewers: executed notebooks without code, and the index page of a run.

A study report is the executed notebook rendered in-process by nbconvert with every input cell
and prompt removed, then finished here: a header naming the study, client, parameters, input
hashes, date and crqlab version; a table of contents built from the headings; every image
embedded as a ``data:`` URI (a local file is inlined, anything else is removed); no external
scripts (the pages work offline). Successful reports carry no error output and no stderr
(warnings stay in the executed ``.ipynb``); a failed report keeps the traceback and says which
cell failed.

Cells tagged ``remove-cell`` are dropped and cells tagged ``remove-output`` lose their outputs.

Every page crqlab writes (reports, ``index.html``, ``batch.html``) goes through
:func:`finish_page` (or its in-place form :func:`sanitize_html` plus the policy): script,
frames, plugins, ``<base>``, forms and refreshing ``<meta>`` are removed, as are event-handler
attributes and ``javascript:``/``vbscript:``/non-image ``data:`` URLs, and a
Content-Security-Policy (:data:`CSP`) forbids any script and any network request. This is the
second line of defence behind the escaping of client strings (:mod:`crqlab.reports.present`).
"""
from __future__ import annotations

import base64
import copy
import functools
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Formatter
from typing import TYPE_CHECKING, Any

from bs4 import BeautifulSoup

if TYPE_CHECKING:  # nbformat costs seconds to import; notebooks import this module
    import nbformat

from crqlab.formatting import (
    format_interval,
    format_kind,
    format_n,
    format_number,
    kind_of_unit,
    p_clause,
)
from crqlab.paths import PACKAGE_DIR

__all__ = ["TEMPLATES_DIR", "CSP", "LONG_TABLE_ROWS", "sanitize_html", "finish_page",
           "notebook_title", "short_title", "strip_for_review", "render_notebook", "render_index",
           "render_glossary", "stylesheet", "entry_text", "entry_label", "finding_parts",
           "finding_text", "is_illustrative", "group_findings"]

TEMPLATES_DIR = PACKAGE_DIR / "reports" / "templates"
_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
#: Rows of a table shown before the rest is collapsed under "show all rows".
LONG_TABLE_ROWS = 12
#: Colours a figure keeps when its PNG is re-encoded with a palette (plots use a few colours
#: and their anti-aliased edges; 96 keep both, at about a third of the bytes).
_PNG_COLOURS = 96

#: The Content-Security-Policy of every page: no script at all, nothing fetched from anywhere;
#: images only embedded (``data:``), styles only inline. Pages are static and self-contained.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; "
       "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")
#: Elements removed with their content: active content, frames, plugins, document-level
#: redirection, and the raw-text elements whose parsing differs between parsers.
_DROP_TAGS = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "portal",
              "base", "form", "link", "noscript", "noembed", "noframes", "xmp", "plaintext")
#: Attributes that hold a URL; there only relative, http(s), mailto and data:image/ URLs stay.
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster",
              "background", "srcset", "ping", "codebase", "cite", "longdesc", "lowsrc",
              "dynsrc", "manifest", "icon"}
_ACTIVE = ("javascript:", "vbscript:", "livescript:", "data:text/html", "expression(",
           "-moz-binding")
_SAFE_META = {"content-type", "content-security-policy"}


@functools.lru_cache(maxsize=1)
def _templates():
    """crqlab's page templates (one environment per process: each template compiles once)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = format_number
    env.filters["entry"] = entry_text
    env.filters["finding"] = finding_text
    env.filters["setting"] = _setting
    env.globals["css"] = stylesheet
    env.globals["finding_parts"] = finding_parts
    return env


def stylesheet() -> str:
    """The one stylesheet of every page (``templates/crqlab.css``, a few KB: only what the
    pages use)."""
    return (TEMPLATES_DIR / "crqlab.css").read_text(encoding="utf-8")


def _setting(item: tuple[str, Any]) -> str:
    """A notebook parameter as a reviewer reads it: ``Bootstrap resamples: 2,000``."""
    from crqlab.reports.glossary import describe_value, load

    name, value = item
    g = load()
    if name == "ci" and isinstance(value, float):
        return f"{g.parameter_label(name)}: {100 * value:g}%"
    return f"{g.parameter_label(name)}: {describe_value(value, g)}"


def _quantity(entry: Mapping[str, Any]):
    from crqlab.reports.glossary import load

    g = load()
    return g.quantity(entry["quantity"]) if entry.get("quantity") else \
        (g.quantity(entry["name"]) if entry.get("name") else None)


def _kind_unit(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, unit, what n counts) of a recorded entry or finding: the entry's own kind and unit
    first, then the glossary's, then the kind read from the unit."""
    q = _quantity(entry)
    unit = entry.get("unit") if entry.get("unit") is not None else (q.unit if q else "")
    if entry.get("name") and q is not None:  # headline numbers: one unit per quantity
        unit = q.unit
    kind = entry.get("kind") or (q.kind if q else None) or kind_of_unit(unit)
    return kind, str(unit or ""), (q.n_of if q else "respondents")


def _evidence(entry: Mapping[str, Any], *, with_estimate: bool = True) -> str:
    """``"5.93 [5.87, 6.00] 1-7 scale; n = 821 respondents in 171 accounts; p < .001"``."""
    kind, unit, n_of = _kind_unit(entry)
    parts = []
    if with_estimate and entry.get("est") is not None:
        text = format_interval(entry["est"], entry.get("ci_low"), entry.get("ci_high"), kind)
        if unit and kind not in ("percent", "count", "fit") and not isinstance(entry["est"], str):
            text += f" ({unit})"
        parts.append(text)
    n = format_n(entry.get("n"), entry.get("n_accounts"), n_of)
    if n:
        parts.append(n)
    if entry.get("p_value") is not None:
        parts.append(p_clause(entry["p_value"]))
    return "; ".join(parts)


def entry_text(entry: Mapping[str, Any]) -> str:
    """A headline entry as text, its numbers written by the kind of its quantity (glossary):
    ``"51.1% [48.7, 53.6]; n = 1,608 invited contacts"``, or ``suppressed``.

    Notes
    -----
    Tested in ``tests/reports/test_rendering.py`` (counts recorded as floats, shares, NPS,
    p-values by the APA rule).
    """
    if entry.get("suppressed"):
        return "suppressed (group below the minimum size)"
    return _evidence(entry) or "–"


def entry_label(entry: Mapping[str, Any]) -> str:
    """The label of a headline entry: the notebook's label, else the glossary's name."""
    q = _quantity(entry)
    return str(entry.get("label") or (q.name if q else entry.get("name", "")))


def finding_parts(finding: Mapping[str, Any]) -> tuple[str, str]:
    """(sentence, evidence) of a recorded finding: the text with ``{est}``, ``{ci}``, ``{n}``
    and ``{p}`` written by the quantity's kind, and - when the text shows no ``{est}`` - the
    estimate, interval, n and p that follow it (otherwise ``""``)."""
    kind, _, n_of = _kind_unit(finding)
    est = finding.get("est")
    lo, hi = finding.get("ci_low"), finding.get("ci_high")
    ci = format_interval(0.0, lo, hi, kind).split(" ", 1)[1] if lo is not None and \
        hi is not None else ""
    values = {"est": format_kind(est, kind) if est is not None else "–", "ci": ci,
              "n": format_n(finding.get("n"), finding.get("n_accounts"), n_of),
              "p": p_clause(finding.get("p_value"))}
    text = str(finding.get("text", ""))
    sentence = " ".join(text.format(**values).split())
    shown = {f for _, f, _, _ in Formatter().parse(text) if f}
    return sentence, ("" if "est" in shown else _evidence(finding))


def finding_text(finding: Mapping[str, Any]) -> str:
    """A finding as one line of plain text: the sentence, then its evidence in brackets."""
    sentence, evidence = finding_parts(finding)
    return f"{sentence} ({evidence})" if evidence else sentence


def is_illustrative(entry: Mapping[str, Any]) -> bool:
    """An entry or finding resting on illustrative inputs (the shipped benchmark): flagged, or
    labelled so by its notebook. Never a headline, never on the index page."""
    if entry.get("illustrative"):
        return True
    words = " ".join(str(entry.get(k) or "") for k in ("label", "note", "unit", "text"))
    return "illustrative" in words.lower()


def notebook_title(nb: nbformat.NotebookNode, default: str) -> str:
    """The first level-1 Markdown heading of a notebook, else ``default``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown" or _PAPERMILL_ERROR_TAG in _tags(cell):
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return default


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def strip_for_review(nb: nbformat.NotebookNode, *, failed: bool) -> nbformat.NotebookNode:
    """A copy of an executed notebook fit for reviewers (inputs are hidden by the exporter).

    Drops ``remove-cell`` cells and the outputs of ``remove-output`` cells. Unless ``failed``:
    drops stderr streams (warnings stay in the executed notebook) and papermill's error banners.
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        tags = _tags(cell)
        if "remove-cell" in tags or (not failed and _PAPERMILL_ERROR_TAG in tags):
            continue
        if cell.cell_type == "code":
            if "remove-output" in tags:
                cell.outputs = []
            elif not failed:
                cell.outputs = [o for o in cell.outputs
                                if not (o.output_type == "stream" and o.get("name") == "stderr")
                                and o.output_type != "error"]
        cells.append(cell)
    nb.cells = cells
    return nb


#: What :func:`_normalised` drops: white space, the C0 controls and DEL (one pass in C: figure
#: ``src`` values are 50-150 KB of base64).
_IGNORED_IN_URLS = dict.fromkeys([*range(0x21), 0x7F])


def _normalised(value: Any) -> str:
    """An attribute value as a browser reads a URL scheme: case, white space and controls
    ignored (``" Java\tScript:"`` is ``javascript:``)."""
    text = " ".join(value) if isinstance(value, list) else str(value)
    return text.lower().translate(_IGNORED_IN_URLS)


def _unsafe_attr(name: str, value: Any) -> bool:
    name = name.lower()
    if name.startswith("on") or name == "srcdoc":
        return True
    v = _normalised(value)
    if any(a in v for a in _ACTIVE):
        return True
    return name in _URL_ATTRS and v.startswith("data:") and not v.startswith("data:image/")


def sanitize_html(soup: BeautifulSoup) -> int:
    """Remove active content from a parsed page, in place; returns how much was removed.

    Removes the elements of ``_DROP_TAGS`` (``<script>``, ``<iframe>``, ``<object>``,
    ``<embed>``, ``<base>``, ``<form>`` ...) and ``<meta http-equiv>`` other than content type
    and CSP (``refresh``), every ``on*`` event-handler attribute and ``srcdoc``, and attributes
    whose value holds ``javascript:``, ``vbscript:``, ``data:text/html`` or a CSS expression
    (case, white space and control characters ignored). In URL attributes only ``data:image/``
    survives of ``data:`` URLs, so embedded PNG figures stay.

    Notes
    -----
    Tested in ``tests/reports/test_present.py`` on a list of hostile snippets (each is neutralised and
    the text around it kept) and in ``tests/hardening/test_markup_from_data.py`` on every page of a run
    on a hostile study (loaded in headless Chromium; every figure of a report survives).
    """
    removed = 0
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        name = tag.name.lower()
        equiv = str(tag.get("http-equiv", "")).strip().lower()
        if name in _DROP_TAGS or (name == "meta" and equiv and equiv not in _SAFE_META):
            tag.decompose()
            removed += 1
            continue
        for attr in [a for a, v in tag.attrs.items() if _unsafe_attr(a, v)]:
            del tag[attr]
            removed += 1
    return removed


def _add_csp(soup: BeautifulSoup) -> None:
    """Put the :data:`CSP` meta element first in ``<head>`` (after the charset)."""
    head = soup.head
    if head is None:
        head = soup.new_tag("head")
        (soup.html or soup).insert(0, head)
    meta = soup.new_tag("meta", attrs={"http-equiv": "Content-Security-Policy", "content": CSP})
    charset = head.find("meta", charset=True)
    if charset is not None:
        charset.insert_after(meta)
    else:
        head.insert(0, meta)


def finish_page(page: str) -> str:
    """A complete HTML page sanitised (:func:`sanitize_html`) and carrying the :data:`CSP`."""
    soup = BeautifulSoup(page, "html.parser")
    sanitize_html(soup)
    _add_csp(soup)
    return str(soup)


def short_title(title: str) -> str:
    """A report's name for the bar of every page: its title up to a colon (``"Scorecard"``)."""
    head = str(title).split(":", 1)[0].strip()
    return head if len(head) <= 42 else head[:40].rstrip() + "…"


def _inline_images(soup: BeautifulSoup, base_dir: Path | None) -> list[str]:
    """Embed local images as data URIs; remove any other non-embedded image. Returns notes."""
    notes = []
    for img in soup.find_all("img"):
        src = img.get("src", "")
        if src.startswith("data:"):
            continue
        local = (base_dir / src) if base_dir is not None and "://" not in src else None
        if local is not None and local.is_file():
            mime = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
            img["src"] = f"data:{mime};base64," + base64.b64encode(local.read_bytes()).decode()
        else:
            shown = src if "://" in src else Path(src).name  # never a path of the machine
            notes.append(f"image {shown!r} is not embedded and was removed")
            repl = soup.new_tag("span", attrs={"class": "crq-missing-image"})
            repl.string = f"[image not available: {img.get('alt') or shown}]"
            img.replace_with(repl)
    return notes


def _smaller_png(data: bytes) -> bytes:
    """A figure's PNG re-encoded with a palette of :data:`_PNG_COLOURS` on white, when that is
    smaller (figures are about three times lighter; pages stay under their weight budget)."""
    import io

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return data
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgba = im.convert("RGBA")
    except (OSError, ValueError):
        return data
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.quantize(colors=_PNG_COLOURS, method=Image.Quantize.MEDIANCUT,
                  dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


#: The alt text nbconvert gives every output image (it says nothing).
_NBCONVERT_ALT = "No description has been provided for this image"
_RICHER_THAN_PNG = ("text/html", "application/pdf", "text/latex", "image/svg+xml")


def _figure_notes(nb: nbformat.NotebookNode) -> list[dict[str, str]]:
    """Title and caption of every PNG figure the exporter will show, in page order (set by
    :func:`crqlab.reports.plotting.apply_style` in the output's metadata)."""
    notes = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if "image/png" in data and not any(k in data for k in _RICHER_THAN_PNG):
                meta = out.get("metadata", {}).get("image/png", {})
                notes.append({"title": str(meta.get("title") or ""),
                              "caption": str(meta.get("caption") or "")})
    return notes


def _heading_before(tag) -> str:
    h = tag.find_previous(["h1", "h2", "h3"])
    return h.get_text(" ", strip=True) if h is not None else ""


def _describe_figures(soup: BeautifulSoup, notes: list[dict[str, str]]) -> None:
    """Every image gets alt text from its title and caption (else the section it is in), every
    figure with a caption a visible ``<figcaption>``; PNGs are made lighter."""
    figures = soup.select(".jp-RenderedImage img")
    pngs = [img for img in figures if img.get("src", "").startswith("data:image/png")]
    by_img = dict(zip(map(id, pngs), notes)) if len(pngs) == len(notes) else {}
    for img in soup.find_all("img"):
        src = img.get("src", "")
        if src.startswith("data:image/png;base64,"):
            raw = _smaller_png(base64.b64decode(src.split(",", 1)[1]))
            img["src"] = "data:image/png;base64," + base64.b64encode(raw).decode()
        note = by_img.get(id(img), {})
        title, caption = note.get("title", ""), note.get("caption", "")
        text = " ".join(t.rstrip(".") + "." for t in (title, caption) if t)
        if not text and img.get("alt") != _NBCONVERT_ALT:
            text = img.get("alt") or ""
        if not text:
            where = _heading_before(img)
            text = f"Figure in the section “{where}”." if where else "Figure."
        img["alt"] = text
        if caption:
            figure = soup.new_tag("figure")
            img.wrap(figure)
            cap = soup.new_tag("figcaption")
            cap.string = caption
            figure.append(cap)


def _drop_row_numbers(table) -> None:
    """Remove the row numbers pandas prints for a default index (0, 1, 2, ...): they mean
    nothing to a reviewer (and sit beside verbatims as if they were ids)."""
    body = table.find("tbody")
    rows = body.find_all("tr", recursive=False) if body is not None else []
    if len(rows) < 2:
        return
    firsts = [r.find(["th", "td"], recursive=False) for r in rows]
    if any(c is None or c.name != "th" or c.get("rowspan") for c in firsts):
        return
    if [c.get_text(strip=True) for c in firsts] != [str(i) for i in range(len(rows))]:
        return
    head_rows = table.find("thead").find_all("tr") if table.find("thead") else []
    heads = [r.find(["th", "td"], recursive=False) for r in head_rows]
    if any(h is None or h.get_text(strip=True) or h.get("colspan") for h in heads):
        return
    for c in firsts + heads:
        c.decompose()


def _collapse(soup: BeautifulSoup, table) -> None:
    """Show the first :data:`LONG_TABLE_ROWS` rows; the rest under "show the other N rows"
    (a table with cells spanning rows is collapsed whole)."""
    body = table.find("tbody")
    rows = body.find_all("tr", recursive=False) if body is not None else []
    if len(rows) <= LONG_TABLE_ROWS:
        return
    details = soup.new_tag("details", attrs={"class": "crq-long"})
    summary = soup.new_tag("summary")
    details.append(summary)
    if body.find(attrs={"rowspan": True}) is not None:
        summary.string = f"Show the table ({len(rows)} rows)"
        table.wrap(details)
        return
    rest = copy.copy(table)
    rest.attrs.pop("id", None)
    for tr in rest.find("tbody").find_all("tr", recursive=False)[:LONG_TABLE_ROWS]:
        tr.decompose()
    for tr in rows[LONG_TABLE_ROWS:]:
        tr.decompose()
    summary.string = f"Show the other {len(rows) - LONG_TABLE_ROWS} rows"
    details.append(rest)
    table.insert_after(details)


def _finish_tables(soup: BeautifulSoup) -> None:
    """Tables of the notebook: pandas row numbers removed, never wider than the page (each
    scrolls inside its own box), long ones collapsed after :data:`LONG_TABLE_ROWS` rows."""
    main = soup.find("main") or soup.body or soup
    for table in main.find_all("table"):
        if table.find_parent(class_=["crq-header", "crq-scroll"]) is not None:
            continue
        _drop_row_numbers(table)
        scroll = soup.new_tag("div", attrs={"class": "crq-scroll"})
        table.wrap(scroll)
        _collapse(soup, table)


def _technical_details(soup: BeautifulSoup) -> None:
    """Tracebacks of a failed report: kept for the analyst, folded under a summary."""
    for out in soup.select('[data-mime-type="application/vnd.jupyter.stderr"]'):
        details = soup.new_tag("details", attrs={"class": "crq-technical"})
        summary = soup.new_tag("summary")
        summary.string = "Technical details for an analyst"
        out.wrap(details)
        details.insert(0, summary)


def _toc(soup: BeautifulSoup) -> list[dict[str, Any]]:
    toc = []
    for h in soup.find_all(["h1", "h2", "h3"]):
        if not h.get("id") or h.find_parent(class_="crq-header"):
            continue
        for a in h.find_all("a", class_="anchor-link"):
            a.decompose()
        toc.append({"id": h["id"], "text": h.get_text(" ", strip=True), "level": int(h.name[1])})
    return toc


def _own_head(soup: BeautifulSoup, title: str) -> None:
    """nbconvert's head (266 KB of CSS, script loaders) replaced by the one small stylesheet."""
    head = soup.head
    if head is None:
        head = soup.new_tag("head")
        (soup.html or soup).insert(0, head)
    for tag in head.find_all(["style", "script", "link"]):
        tag.decompose()
    style = soup.new_tag("style")
    style.string = stylesheet()
    head.append(style)
    if soup.title is None:
        head.append(soup.new_tag("title"))
    soup.title.string = title


def _notebook_h1(soup: BeautifulSoup, title: Any):
    """The notebook's own title (its first level-1 heading, when it reads as ``title``)."""
    main = soup.find("main") or soup
    h1 = main.find("h1")
    if h1 is None or h1.get_text(" ", strip=True) != str(title or "").strip():
        return None
    return h1


def group_findings(rows: Sequence[Mapping[str, Any]], *, glossary=None
                   ) -> list[dict[str, Any]]:
    """Findings of several reports grouped by research question, in report order: each group
    ``question`` and ``items`` (``finding``, ``title``, ``href`` of its report). Illustrative
    findings are left out (they are never headlines)."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        for f in row.get("findings") or []:
            if is_illustrative(f):
                continue
            q = f.get("question") or (glossary.question(row["name"]) if glossary else "")
            g = groups.setdefault(q, {"question": q, "items": []})
            g["items"].append({"finding": f, "title": row.get("title"), "href": row.get("href")})
    return list(groups.values())


@functools.lru_cache(maxsize=1)
def _exporter():
    """nbconvert's HTML exporter without code, made once per process (making one compiles its
    templates again: about 0.3 s of every notebook's rendering)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True, embed_images=True, anchor_link_text="")


def render_notebook(nb: nbformat.NotebookNode, *, header: Mapping[str, Any], failed: bool = False,
                    error: Mapping[str, Any] | None = None,
                    resources_dir: Path | None = None,
                    findings: Sequence[Mapping[str, Any]] | None = None,
                    nav: Mapping[str, Any] | None = None) -> tuple[str, list[str]]:
    """Render an executed notebook to a stand-alone HTML report without code.

    Parameters
    ----------
    nb : NotebookNode
        The executed notebook.
    header : mapping
        ``title, study, client, notebook, parameters (dict), inputs (dict path -> sha256),
        date, version``; shown at the top (provenance folded under "About this report").
    failed : bool
        Keep error outputs and stderr (folded under "technical details"), and show ``error``
        (``cell_index, cell_tag, first_line, ename, evalue, source``) as a plain sentence
        (:func:`crqlab.reports.wording.plain_error`) in the header.
    resources_dir : Path, optional
        Folder that relative image paths in Markdown refer to (the notebooks folder).
    findings : sequence of mappings, optional
        The notebook's recorded findings (:func:`crqlab.reports.results.findings`): the "Key
        findings" box that opens the report.
    nav : mapping, optional
        The bar at the top: ``study``, ``client``, ``prefix`` (path to the reports folder,
        ``"../"``), ``current`` (this report's stem) and ``reports`` (``stem``, ``title``,
        ``href`` relative to the reports folder) for the links to the index, the glossary
        and the sibling reports.

    Returns
    -------
    html : str
    notes : list of str
        Problems fixed on the way (an image that could not be embedded).

    Notes
    -----
    Tested in ``tests/reports/test_rendering.py`` (findings box, bar, alt text and captions,
    collapsed tables, row numbers, stylesheet) and ``tests/reports/test_runner.py`` (a whole
    run); every page of the sample study is scanned for machine-room text and weighed in
    ``tests/hardening/test_report_text.py``.
    """
    from crqlab.reports.wording import plain_error

    shown = strip_for_review(nb, failed=failed)
    body, _ = _exporter().from_notebook_node(shown)
    soup = BeautifulSoup(body, "html.parser")
    notes = _inline_images(soup, resources_dir)
    _describe_figures(soup, _figure_notes(shown))
    _finish_tables(soup)
    _technical_details(soup)
    toc = _toc(soup)
    title = _notebook_h1(soup, header.get("title"))
    env = _templates()
    visible = [f for f in findings or [] if not is_illustrative(f)]
    top = env.get_template("report_header.html.j2").render(
        h=header, toc=toc, failed=failed, error=error, notes=notes, findings=visible,
        show_title=title is None, plain_error=plain_error(error.get("ename"), error.get("evalue"))
        if error else "")
    _own_head(soup, f"{header.get('title', '')} – {header.get('study', '')}")
    body_tag = soup.body or soup
    if title is not None:  # the notebook's title, then at once its key findings
        title.insert_after(BeautifulSoup(top, "html.parser"))
    else:
        (soup.find("main") or body_tag).insert(0, BeautifulSoup(top, "html.parser"))
    body_tag.insert(0, BeautifulSoup(env.get_template("_bar.html.j2").render(nav=nav),
                                     "html.parser"))
    # every script goes, nbconvert's too: its MathJax and mermaid loaders are for interactive
    # pages, and the reports are static (the policy would block them anyway)
    sanitize_html(soup)
    _add_csp(soup)
    return str(soup), notes


def render_index(*, run: Mapping[str, Any], notebooks: Sequence[Mapping[str, Any]],
                 nav: Mapping[str, Any] | None = None) -> str:
    """The index page of a run: the findings of every report in plain words, grouped by
    research question, then one row per report with its status and headline numbers.

    ``run`` holds ``study, client, date, version, parameters, inputs, n_ok, n_failed`` (and
    ``n_kept``, reports kept from earlier runs); each notebook ``name, title, href, status,
    date (of the run that made it), duration_s, headline (list of entries), findings, error,
    warnings``. Illustrative entries and findings (the shipped benchmark) are left out.
    """
    from crqlab.reports.glossary import load
    from crqlab.reports.wording import plain_error

    rows = [dict(nb, headline=[e for e in nb.get("headline") or [] if not is_illustrative(e)],
                 plain_error=plain_error(nb["error"].get("ename"), nb["error"].get("evalue"))
                 if nb.get("error") else "")
            for nb in notebooks]
    groups = group_findings(rows, glossary=load())
    return finish_page(_templates().get_template("index.html.j2").render(
        run=run, notebooks=rows, groups=groups, nav=nav or {}, entry_label=entry_label))


def render_glossary(*, nav: Mapping[str, Any] | None = None) -> str:
    """The glossary page of a run (``glossary.html``): every quantity with its unit and
    definition, by section, and the words the reports use (from ``glossary.yaml``)."""
    from crqlab.reports.glossary import load

    g = load()
    sections = [{"title": title, "quantities": [q for q in g.quantities if q.section == key]}
                for key, title in g.sections.items()]
    return finish_page(_templates().get_template("glossary.html.j2").render(
        glossary=g, sections=sections, nav=nav or {}))
