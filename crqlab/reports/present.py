"""Presentation helpers: text from client data is shown as text, never read as markup.

Client names, wave labels, roles, account names, industries, regions, account managers,
segment levels, verbatims and column names come from the client's export and ``study.yaml``.
When such a string reaches Markdown or HTML unescaped, ``<img onerror=...>`` runs, ``*x*``
turns into emphasis and ``[a](javascript:...)`` into a link. Notebooks and pages therefore show
findings only through this module, where every interpolated value is escaped:

- :func:`say` / :func:`md` - Markdown from a literal template: ``say("**{name}** scores
  {x:.2f}", name=..., x=...)``. Only the template is markup; each value is escaped by
  :func:`escape_md`. A template must be a string literal of the calling code (or of a caller
  up to two levels above it, for helpers that hand a template on) or an :class:`Md` (text that
  is already safe Markdown); anything else, such as an f-string, raises
  :class:`MarkupTemplateError`.
- :class:`Md` - safe Markdown. Joining or adding plain strings escapes them
  (``Md("; ").join(names)``), so safe pieces can be assembled step by step.
- :func:`code` - a value as an inline code span; :func:`bullet_list` - a Markdown list.
- :func:`show_table` / :func:`styled` - a table through a pandas ``Styler`` that escapes cells,
  index and column labels and the axis names.
- :func:`warning_box` - an HTML warning box (title and reasons escaped).
- :func:`say_text` / :func:`not_estimated` - plain-text paragraphs (findings a study module
  worded) and "**Not estimated.** <reason>" notes, every character shown as itself.
- :func:`paragraph` / :func:`show_notes` - the plain-text wording of a study module
  (:class:`crqlab.formatting.Text`, :class:`~crqlab.formatting.Finding`,
  :class:`~crqlab.formatting.Caution`) as Markdown and warning boxes; :func:`show_result_table`
  - a result table with p-values and counts as reviewers read them.
- :func:`escape_html` - ``& < > " '`` as HTML entities (for HTML built outside templates).

The final pages are also sanitised and carry a Content-Security-Policy
(:func:`crqlab.reports.rendering.finish_page`): a second line of defence, not a substitute.
"""
from __future__ import annotations

import html
import re
import string
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from crqlab.errors import CrqlabError
from crqlab.formatting import Caution, Finding, Text, format_p

__all__ = ["Md", "MarkupTemplateError", "escape_html", "escape_md", "md", "say", "code",
           "bullet_list", "styled", "show_table", "warning_box", "say_text", "not_estimated",
           "paragraph", "show_notes", "show_result_table"]

#: Characters with a meaning in Markdown (CommonMark, GFM tables and strikethrough, the math
#: of Jupyter's renderer) or HTML, written as numeric character references: a renderer decodes
#: them to the character and never reads them as syntax.
_MD_SPECIAL = {c: f"&#{ord(c)};" for c in "\\`*[]{}<>#|~$"}
_MD_SPECIAL["&"] = "&amp;"
_MD_TABLE = str.maketrans(_MD_SPECIAL)
#: "_" except between two letters or digits: there (``tenure_years``) CommonMark never reads
#: it as emphasis, so column names stay readable in the Markdown source.
_UNDERSCORE = re.compile(r"_(?![^\W_])|(?<![^\W_])_")
#: Block syntax that only counts at the start of a line: list items, thematic breaks and
#: setext underlines (``- ``, ``+ ``, ``---``, ``===``) and ordered items (``1. ``, ``2) ``).
_LINE_START = re.compile(r"^([-+=])(?=[\s\-+=]|$)|^(\d{1,9})([.)])(?=\s|$)")
_BREAKS = re.compile(r"[ \t\f\v]*[\r\n][\s]*")
#: How many calling frames may hold a template literal (the caller and two helpers above it).
_CALLER_LEVELS = 3


class MarkupTemplateError(CrqlabError, TypeError):
    """A Markdown template that is neither a literal of the calling code nor :class:`Md`."""


class Md(str):
    """Markdown that is safe to show: literal template text plus escaped values.

    Plain strings combined with an ``Md`` are escaped: ``Md("**a**") + "<b>"`` keeps the bold
    and shows ``<b>`` as text, and ``Md(", ").join(values)`` escapes every value that is not
    itself ``Md``. ``Md(text)`` itself marks ``text`` as safe: use it only on literals.
    """

    __slots__ = ()

    def __add__(self, other: object) -> Md:
        return Md(str.__add__(self, escape_md(other)))

    def __radd__(self, other: object) -> Md:
        return Md(str.__add__(escape_md(other), self))

    def join(self, parts: Iterable[object]) -> Md:  # type: ignore[override]
        return Md(str.join(self, (escape_md(p) for p in parts)))

    def format(self, *args: Any, **kwargs: Any) -> Md:  # type: ignore[override]
        return Md(_FORMATTER.vformat(str(self), args, kwargs))

    def format_map(self, mapping: Mapping[str, Any]) -> Md:  # type: ignore[override]
        return Md(_FORMATTER.vformat(str(self), (), mapping))

    def __repr__(self) -> str:
        return f"Md({str.__repr__(self)})"


class _EscapingFormatter(string.Formatter):
    """``str.format`` whose replacement fields come out through :func:`escape_md`."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Md):
            return value if not format_spec else Md(format(str(value), format_spec))
        return escape_md(format(value, format_spec))


_FORMATTER = _EscapingFormatter()


def escape_html(value: object) -> str:
    """``str(value)`` with ``& < > " '`` as HTML entities: text in an element or attribute.

    Notes
    -----
    ``html.escape(..., quote=True)``; tested by ``tests/reports/test_present.py``.
    """
    return html.escape(str(value), quote=True)


def escape_md(value: object) -> Md:
    """``str(value)`` as Markdown that renders to exactly that text (an :class:`Md` unchanged).

    Every character with a meaning in Markdown or HTML (``\\ ` * _ [ ] { } < > # | ~ $ &``)
    becomes a character reference (``_`` only where it could delimit emphasis: not between two
    letters or digits), as does the colon of ``://`` (no automatic links); a
    leading list, rule or heading-underline marker is escaped too; line breaks (with the white
    space around them) become one space, and white space at either end one ``&#32;``, so a
    value can never start a block of its own nor break the emphasis around it.

    Notes
    -----
    Tested in ``tests/reports/test_present.py`` through nbconvert's own Markdown renderer (the one
    that renders reports): the text of the HTML equals the value with white space
    normalised, and no element or attribute comes from the value (hypothesis, random text
    drawn mostly from Markdown and HTML syntax).
    """
    if isinstance(value, Md):
        return value
    text = _BREAKS.sub(" ", str(value))
    core = text.strip()
    core = _UNDERSCORE.sub("&#95;", core.translate(_MD_TABLE))
    core = core.replace("://", "&#58;//")  # no bare-URL autolinks
    core = _LINE_START.sub(_escape_line_start, core, count=1)
    if not core:
        return Md("&#32;" if text else "")
    # white space at either end as a reference: never indentation, never breaks emphasis
    return Md(("&#32;" if text[0].isspace() else "") + core
              + ("&#32;" if text[-1].isspace() else ""))


def _escape_line_start(m: re.Match) -> str:
    if m.group(1):
        return f"&#{ord(m.group(1))};"
    return f"{m.group(2)}&#{ord(m.group(3))};"


def code(value: object) -> Md:
    """``value`` as an inline code span (shown verbatim, in a monospace font).

    Notes
    -----
    The fence is one backtick longer than the longest run in ``value``, padded when the value
    starts or ends with a backtick or space; tested in ``tests/reports/test_present.py`` (the rendered
    ``<code>`` holds exactly the value, for values with backticks, spaces and markup).
    """
    text = _BREAKS.sub(" ", str(value))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def _literal_in_caller(template: str, depth: int) -> bool:
    """Whether ``template`` is a string constant of the code ``depth`` frames up, or of one
    of the two frames above it (a literal handed through a helper such as ``skip``)."""
    try:
        frame = sys._getframe(depth + 1)
    except (AttributeError, ValueError):  # pragma: no cover - not CPython: cannot check
        return True
    for _ in range(_CALLER_LEVELS):
        if frame is None:
            return False
        if any(type(c) is str and c == template for c in frame.f_code.co_consts):
            return True
        frame = frame.f_back
    return False


def _render(template: str, args: tuple, kwargs: dict, depth: int) -> Md:
    if isinstance(template, Md):
        return template.format(*args, **kwargs) if args or kwargs else template
    if not isinstance(template, str) or not _literal_in_caller(template, depth + 1):
        raise MarkupTemplateError(
            f"a Markdown template must be a string literal or crqlab.reports.present.Md, got "
            f"{type(template).__name__} {str(template)[:60]!r}: pass data as arguments, e.g. "
            "say('**{name}** scores {x}', name=..., x=...), or build the text with md()")
    return Md(template).format(*args, **kwargs)


def md(template: str, /, *args: Any, **kwargs: Any) -> Md:
    """Format a literal Markdown template; every argument is escaped (:func:`escape_md`).

    ``md("**{name}**: {n:,} responses", name=client, n=count)``. Arguments that are already
    :class:`Md` (from :func:`md`, :func:`code`, :func:`bullet_list`) are inserted as they are.
    Braces meant literally in the template are doubled (``{{``), as with ``str.format``.

    Raises
    ------
    MarkupTemplateError
        ``template`` is neither a string literal of the calling code nor :class:`Md` (an
        f-string or a concatenation would carry data into the markup).

    Notes
    -----
    Tested in ``tests/reports/test_present.py``: f-strings and concatenations are refused, a literal
    handed through a helper is accepted, numbers keep their format spec, ``Md`` values are
    inserted unchanged; every notebook is linted for templates built from data.
    """
    return _render(template, args, kwargs, depth=1)


def say(template: str, /, *args: Any, **kwargs: Any) -> None:
    """Show ``md(template, *args, **kwargs)`` as Markdown in the notebook's output."""
    from IPython.display import Markdown, display

    display(Markdown(str(_render(template, args, kwargs, depth=1))))


def bullet_list(items: Iterable[object]) -> Md:
    """A Markdown bullet list, one item per entry (plain strings escaped, :class:`Md` kept)."""
    return Md("\n").join(Md("- ") + item for item in items)


def warning_box(title: object, reasons: Iterable[object], note: object = "") -> None:
    """Show an HTML warning box: ``Warning: title``, the reasons as a list, then ``note``.

    A reason that is a caught warning or exception is shown in plain words (:func:`plain`).
    """
    from IPython.display import HTML, display

    items = "".join(f"<li>{escape_html(plain(r))}</li>" for r in reasons)
    display(HTML(
        '<div class="crq-warning" role="alert" style="border-left: 6px solid #d55e00; '
        'background: #fdf0e6; padding: 0.6em 1em; margin: 0.6em 0;">'
        f"<strong>Warning: {escape_html(title)}</strong><ul>{items}</ul>"
        + (f"<p>{escape_html(note)}</p>" if note else "") + "</div>"))


def _escaped_names(names) -> list:
    return [None if n is None else escape_html(n) for n in names]


def styled(table, *, formatter: Mapping[str, Any] | None = None, precision: int | None = None,
           na_rep: str | None = None, thousands: str | None = None, hide_index: bool = False):
    """A pandas ``Styler`` of ``table`` that shows every string literally.

    Cells, index and column labels are escaped by the Styler (``escape="html"``); the index
    and column names, which the Styler would print raw, are escaped here. ``precision``,
    ``na_rep`` and ``thousands`` apply to every cell, ``formatter`` (column -> format string or
    function of the raw value) to some columns.

    Notes
    -----
    Tested in ``tests/reports/test_present.py`` (markup in cells, labels and axis names comes out as
    text) and, in a headless browser, by ``tests/hardening/test_markup_from_data.py``.
    """
    import pandas as pd

    t = table.to_frame() if isinstance(table, pd.Series) else table
    t = t.rename_axis(index=_escaped_names(t.index.names),
                      columns=_escaped_names(t.columns.names))
    common = {"na_rep": na_rep, "precision": precision, "thousands": thousands,
              "escape": "html"}
    st = t.style.format(None, **common)
    if formatter:
        st = st.format(dict(formatter), **common)
    st = st.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    return st.hide(axis="index") if hide_index else st


def show_table(table, **options: Any) -> None:
    """Display :func:`styled` ``(table, **options)`` in the notebook's output."""
    from IPython.display import display

    display(styled(table, **options))


def plain(message: object) -> str:
    """A caught warning or exception as a sentence a reviewer reads (library messages such as
    "Perfect separation detected" through :func:`crqlab.reports.wording.plain_warning` /
    :func:`~crqlab.reports.wording.plain_error`); text is returned as it is.

    Notes
    -----
    Tested in ``tests/reports/test_present.py``.
    """
    import warnings

    from crqlab.reports.wording import plain_error, plain_warning

    if isinstance(message, (Warning, warnings.WarningMessage)):
        return plain_warning(message)
    if isinstance(message, BaseException):
        return plain_error(type(message).__name__, str(message))
    return str(message)


__all__ += ["plain"]  # added by issue 17 (kept apart so that parallel additions merge)


def say_text(*texts: object) -> None:
    """Show each plain-text paragraph as Markdown that renders to exactly that text.

    For sentences worded outside the notebook (``crqlab.studies``): nothing in them is read as
    markup (:func:`escape_md`). Empty texts are skipped.

    Notes
    -----
    Tested in ``tests/reports/test_present.py`` (markup in the text is displayed escaped).
    """
    from IPython.display import Markdown, display

    for text in texts:
        if str(text):
            display(Markdown(str(escape_md(text))))


def not_estimated(*reasons: object) -> None:
    """Show ``**Not estimated.** <reason>`` for each reason a section could not run (escaped).

    Notes
    -----
    Tested in ``tests/reports/test_present.py``.
    """
    from IPython.display import Markdown, display

    for reason in reasons:
        display(Markdown(str(Md("**Not estimated.** ") + reason)))
def _text_markdown(value: Text) -> Md:
    """A :class:`Text`: backtick-quoted names of the template as code, the rest escaped."""
    pieces = value.template.split("`")
    if len(pieces) % 2 == 0:  # an unpaired backtick quotes nothing
        return escape_md(str(value))
    return Md("").join(code(p) if i % 2 else escape_md(p.format(**value.values))
                       for i, p in enumerate(pieces))


def _part_markdown(part: object) -> Md:
    if isinstance(part, Finding):
        return (Md("**") + _part_markdown(part.lead) + Md("**" + part.separator)
                + _part_markdown(part.rest))
    if isinstance(part, Text):
        return _text_markdown(part)
    return escape_md(part)


def paragraph(parts: object) -> Md:
    """Plain-text wording as one Markdown paragraph, every value shown as text.

    ``parts`` is one part or a list of parts, joined by spaces: a ``str`` (escaped whole), a
    :class:`crqlab.formatting.Text` (its template's backtick-quoted names as code, its values
    escaped) or a :class:`crqlab.formatting.Finding` (the lead in bold).

    Notes
    -----
    Tested in ``tests/reports/test_present.py`` through nbconvert's Markdown renderer: the
    text of the HTML is ``str()`` of the parts (less the quoting backticks), hostile values
    make no element, quoted names become ``<code>`` and leads ``<strong>``.
    """
    if isinstance(parts, (str, Text, Finding)):
        parts = [parts]
    return Md(" ").join(_part_markdown(p) for p in parts)


def show_notes(notes: Iterable[object]) -> None:
    """Display a study step's notes in order: a :class:`crqlab.formatting.Caution` as a
    :func:`warning_box`, anything else as a :func:`paragraph`."""
    for note in notes:
        if isinstance(note, Caution):
            warning_box(note.title, note.reasons, note.note)
        else:
            say(paragraph(note))


#: Columns of result tables whose values are names (items, constructs): shown by their
#: glossary labels too (``commitment_1`` as "Commitment, question 1").
NAME_COLUMNS = ("item", "latent", "latent_a", "latent_b", "source", "target", "model")


def label(name: object) -> object:
    """The reviewers' name of a column, item, frame variable or parameter, from the glossary
    (``ci_low`` -> "Lower 95% bound", ``commitment_1`` -> "Commitment, question 1",
    ``tenure_years`` -> "Tenure (years)"); values that are not text unchanged.

    Notes
    -----
    :meth:`crqlab.reports.glossary.Glossary.column_label`, so every label a notebook shows
    comes from the glossary; tested in ``tests/reports/test_present.py``.
    """
    from crqlab.reports.glossary import load

    return load().column_label(name) if isinstance(name, str) else name


def labelled(table, *, columns: bool = True, index: bool = False,
             values: Iterable[str] = NAME_COLUMNS):
    """A copy of ``table`` for reviewers: column names (and, with ``index``, index labels) by
    their glossary labels, and the values of the ``values`` columns too (item and construct
    names). Tested in ``tests/reports/test_present.py``."""
    import pandas as pd

    t = table.to_frame() if isinstance(table, pd.Series) else table.copy()
    for c in values:
        if c in t.columns:
            t[c] = t[c].map(label)
    if index:
        t.index = t.index.map(label)
    if columns:
        t.columns = t.columns.map(label)
    return t


def show_result_table(table, digits: int = 3,
                      counts: Iterable[str] = ("n", "df", "n_items", "n_accounts", "n_groups",
                                               "reported_n", "confidential_n"),
                      labels: bool = True) -> None:
    """Display a result table for reviewers: ``p_value`` as ``"< 0.001"`` or ``"0.013"``,
    ``counts`` columns as integers with thousands separators, other numbers to ``digits``
    decimals, ``"–"`` for missing values, no index; with ``labels`` the columns, and the
    names in :data:`NAME_COLUMNS`, by their glossary labels (:func:`labelled`)."""
    formatter: dict[str, Any] = {c: format_p for c in table.columns if c == "p_value"}
    formatter.update({c: "{:,.0f}" for c in table.columns if c in tuple(counts)})
    if labels:
        formatter = {label(c): f for c, f in formatter.items()}
        table = labelled(table)
    show_table(table, formatter=formatter, precision=digits, na_rep="–", thousands=",",
               hide_index=True)


__all__ += ["NAME_COLUMNS", "label", "labelled"]
