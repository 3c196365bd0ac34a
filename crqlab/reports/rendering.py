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
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bs4 import BeautifulSoup

if TYPE_CHECKING:  # nbformat costs seconds to import; notebooks import this module
    import nbformat

from crqlab.formatting import format_entry, format_number
from crqlab.paths import PACKAGE_DIR

__all__ = ["TEMPLATES_DIR", "CSP", "sanitize_html", "finish_page", "notebook_title",
           "strip_for_review", "render_notebook", "render_index"]

TEMPLATES_DIR = PACKAGE_DIR / "reports" / "templates"
_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"

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


def _templates():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = format_number
    env.filters["entry"] = format_entry
    return env


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


def _normalised(value: Any) -> str:
    """An attribute value as a browser reads a URL scheme: case, white space and controls
    ignored (``" Java\tScript:"`` is ``javascript:``)."""
    text = " ".join(value) if isinstance(value, list) else str(value)
    return "".join(ch for ch in text.lower() if ch > " " and ch != "\x7f")


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
            notes.append(f"image {src!r} is not embedded and was removed")
            repl = soup.new_tag("span", attrs={"class": "crq-missing-image"})
            repl.string = f"[image not available: {img.get('alt') or src}]"
            img.replace_with(repl)
    return notes


def _toc(soup: BeautifulSoup) -> list[dict[str, Any]]:
    toc = []
    for h in soup.find_all(["h1", "h2", "h3"]):
        if not h.get("id") or h.find_parent(class_="crq-header"):
            continue
        for a in h.find_all("a", class_="anchor-link"):
            a.decompose()
        toc.append({"id": h["id"], "text": h.get_text(" ", strip=True), "level": int(h.name[1])})
    return toc


def render_notebook(nb: nbformat.NotebookNode, *, header: Mapping[str, Any], failed: bool = False,
                    error: Mapping[str, Any] | None = None,
                    resources_dir: Path | None = None) -> tuple[str, list[str]]:
    """Render an executed notebook to a stand-alone HTML report without code.

    Parameters
    ----------
    nb : NotebookNode
        The executed notebook.
    header : mapping
        ``title, study, client, notebook, parameters (dict), inputs (dict path -> sha256),
        date, version``; shown at the top.
    failed : bool
        Keep error outputs and stderr, and show ``error`` (``cell_index, cell_tag,
        first_line, ename, evalue, source``) in the header.
    resources_dir : Path, optional
        Folder that relative image paths in Markdown refer to (the notebooks folder).

    Returns
    -------
    html : str
    notes : list of str
        Problems fixed on the way (an image that could not be embedded).
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True,
                            anchor_link_text="")
    body, _ = exporter.from_notebook_node(strip_for_review(nb, failed=failed))
    soup = BeautifulSoup(body, "html.parser")
    notes = _inline_images(soup, resources_dir)
    toc = _toc(soup)
    env = _templates()
    css = (TEMPLATES_DIR / "crqlab.css").read_text(encoding="utf-8")
    top = env.get_template("report_header.html.j2").render(
        h=header, toc=toc, failed=failed, error=error, notes=notes)
    style = soup.new_tag("style")
    style.string = css
    (soup.head or soup).append(style)
    if soup.title is not None:
        soup.title.string = f"{header.get('title', '')} – {header.get('study', '')}"
    body_tag = soup.body or soup
    body_tag.insert(0, BeautifulSoup(top, "html.parser"))
    # every script goes, nbconvert's too: its MathJax and mermaid loaders are for interactive
    # pages, and the reports are static (the policy would block them anyway)
    sanitize_html(soup)
    _add_csp(soup)
    return str(soup), notes


def render_index(*, run: Mapping[str, Any], notebooks: Sequence[Mapping[str, Any]]) -> str:
    """The index page of a run: one row per notebook with its status and headline numbers.

    ``run`` holds ``study, client, date, version, parameters, inputs, n_ok, n_failed`` (and
    ``n_kept``, reports kept from earlier runs); each notebook ``name, title, href, status,
    date (of the run that made it), duration_s, headline (list of entries), error, warnings``.
    """
    env = _templates()
    css = (TEMPLATES_DIR / "crqlab.css").read_text(encoding="utf-8")
    return finish_page(env.get_template("index.html.j2").render(run=run, notebooks=notebooks,
                                                                css=css))
