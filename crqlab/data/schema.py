"""What ``study.yaml`` and instrument YAML files may hold, and a YAML reader that trusts neither.

Both files are described by declarative tables (:data:`STUDY_SCHEMA`, :data:`INSTRUMENT_SCHEMA`):
each key has a rule for the type and range of its value, whether it is required and its
default. :func:`check` walks a document against its table and returns every :class:`Issue`
(an unknown or misspelt key with a did-you-mean, a value of the wrong type or out of range, a
missing required key), each with its dotted key path. :func:`markdown_table` renders a table as
the reference in ``docs/data-contract.md`` (a test keeps the two equal).

:func:`read_yaml` reads a file as UTF-8 (a byte-order mark is tolerated; any other encoding is
an error naming the byte offset and line, never decoded by guessing), refuses files over
:data:`MAX_YAML_BYTES`, aliases (``*name``: no alias bomb can expand), merge keys (``<<``),
duplicate keys and nesting deeper than :data:`MAX_DEPTH`, and returns the line of every key for
messages.
"""
from __future__ import annotations

import codecs
import datetime as dt
import difflib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from crqlab.errors import CrqlabError, shorten

__all__ = ["Issue", "YamlError", "read_yaml", "check", "format_path", "markdown_table",
           "Rule", "Text", "Name", "Integer", "Number", "Choice", "Check", "RelPath",
           "InstrumentRef", "ListOf", "MapOf", "Key", "Fields", "Either", "Date", "Cell",
           "STUDY_SCHEMA", "INSTRUMENT_SCHEMA", "TABLE_ROLES", "DATE_ORDERS", "PLATFORMS",
           "LABEL_SET_NAMES", "MAX_YAML_BYTES", "MAX_DEPTH", "path_problem"]

#: A study.yaml or instrument file larger than this is refused before it is parsed.
MAX_YAML_BYTES = 1_000_000
#: Mappings and lists nested deeper than this are refused (the composer is recursive).
MAX_DEPTH = 20
TABLE_ROLES = ("contacts", "responses", "accounts")
#: ``read: dates:`` in study.yaml - how dates that are not ISO 8601 (2023-04-03) are read
DATE_ORDERS = ("auto", "iso", "day-first", "month-first")
#: ``import: TABLE: platform:`` - the survey platform whose export layout a file has
PLATFORMS = ("auto", "qualtrics", "surveymonkey", "spss", "table")
#: Shipped value-label sets (``crqlab.data.rules.LABEL_SETS`` holds their labels)
LABEL_SET_NAMES = ("agree-5", "agree-7", "likely-0-10")


@dataclass(frozen=True)
class Issue:
    """One problem in a YAML file: dotted key path (``""`` for the file), value, message, line."""

    path: str
    value: object
    message: str
    line: int | None = None

    def located(self, lines: dict[str, int]) -> Issue:
        """The same issue with the line of its key (or of the nearest enclosing key)."""
        path = self.path
        while path and path not in lines:
            last = re.search(r"(?:\.[^.\[]*|\[\d+\])$", path)
            path = path[:last.start()] if last else ""
        return Issue(self.path, self.value, self.message, lines.get(path, self.line))

    def text(self) -> str:
        """``line 7: 'read.dates' must be ...`` style text for messages."""
        where = f"line {self.line}: " if self.line else ""
        key = f"{shorten(self.path)}: " if self.path else ""
        return f"{where}{key}{self.message}"


class YamlError(CrqlabError):
    """A YAML file that cannot be read: not UTF-8, too large, not YAML, aliases, duplicates."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        super().__init__("; ".join(i.text() for i in self.issues))


def format_path(parts: tuple) -> str:
    """``("waves", "1", "[0]")`` -> ``waves.1[0]``."""
    out = ""
    for p in parts:
        out += p if p.startswith("[") else (f".{p}" if out else p)
    return out


# -- reading ----------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, merge keys or duplicate keys, and with a depth limit."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed: write the value "
                                "out in full", self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # 2021-02-30, an integer of 5,000 digits
            raise ConstructorError(None, None, f"cannot read this value ({shorten(str(exc), 80)})",
                                   node.start_mark) from exc

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConstructorError(None, None, "merge keys (<<) are not allowed",
                                       key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first is not None:
                raise ConstructorError(None, None, f"duplicate key {shorten(key)} (first on line "
                                       f"{first})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _decode(data: bytes) -> str:
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte, line = data[exc.start], data[:exc.start].count(b"\n") + 1
        raise YamlError([Issue("", f"{byte:#04x}", f"not UTF-8: byte {byte:#04x} at offset "
                               f"{exc.start}; save the file as UTF-8", line)]) from exc


def _key_lines(node, prefix: tuple = (), out: dict | None = None) -> dict[str, int]:
    """Line (1-based) of every key and list entry, by dotted path."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                path = prefix + (key.value,)
                out.setdefault(format_path(path), key.start_mark.line + 1)
                _key_lines(value, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            path = prefix + (f"[{i}]",)
            out.setdefault(format_path(path), value.start_mark.line + 1)
            _key_lines(value, path, out)
    return out


def read_yaml(path: Path) -> tuple[object, dict[str, int]]:
    """Read a crqlab YAML file strictly; return the document and the line of every key.

    Raises
    ------
    YamlError
        Larger than :data:`MAX_YAML_BYTES`, not UTF-8 (byte offset and line given), not YAML,
        an alias, a merge key, a duplicate key, too deep, a tag other than the standard ones.

    Notes
    -----
    Tested in ``tests/hardening/test_hostile_inputs.py`` (alias bomb, duplicate keys, cp1252, BOM,
    ``!!python/object``, 10,000 nested lists) and ``tests/data/test_schema.py``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise YamlError([Issue("", None, f"file is {size:,} bytes; crqlab reads YAML files "
                                   f"of at most {MAX_YAML_BYTES:,} bytes")])
        text = _decode(path.read_bytes())
    except OSError as exc:
        raise YamlError([Issue("", None, f"cannot read the file ({exc.strerror})")]) from exc
    loader = None
    try:
        loader = _StrictLoader(text)  # the reader refuses control characters right here
        node = loader.get_single_node()
        doc = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = "; ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlError([Issue("", None, f"not valid YAML: {what}",
                               mark.line + 1 if mark else None)]) from exc
    except yaml.reader.ReaderError as exc:
        line, char = text[:exc.position].count("\n") + 1, f"{exc.character:#06x}"
        raise YamlError([Issue("", char, f"not valid YAML: character {char} is not allowed "
                               f"({exc.reason})", line)]) from exc
    except yaml.YAMLError as exc:
        raise YamlError([Issue("", None, f"not valid YAML: {exc}")]) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return doc, _key_lines(node)


# -- rules ------------------------------------------------------------------------------------
def _type_name(value: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a mapping", type(None): "empty"}.get(type(value), type(value).__name__)


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 and c != "\t" or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029"
               for c in text)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A rule for one value. ``nullable``: an empty value (``~``, nothing) is allowed."""

    nullable: bool = False

    def issues(self, value: object, path: tuple) -> list[Issue]:
        if value is None:
            return [] if self.nullable else [Issue(format_path(path), None,
                                                   f"is empty; expected {self.describe()}")]
        return self._issues(value, path)

    def _issues(self, value: object, path: tuple) -> list[Issue]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def bad(self, value: object, path: tuple, what: str | None = None) -> list[Issue]:
        got = f" (got {_type_name(value)})" if what is None and not isinstance(value, str) else ""
        return [Issue(format_path(path), value, f"must be {what or self.describe()}{got}")]


@dataclass(frozen=True, kw_only=True)
class Text(Rule):
    """Text of at most ``max_len`` characters, no control characters or line breaks.

    ``scalars``: numbers and dates written without quotes are read as their text (a wave
    label ``2021``); ``true``/``false`` never are (write them in quotes).
    """

    max_len: int = 200
    scalars: bool = False
    controls: bool = False  # export column names may hold line breaks (wrapped headers)

    def _issues(self, value, path):
        if isinstance(value, bool) or not isinstance(
                value, (str, int, float, dt.date) if self.scalars else str):
            hint = " (write it in quotes)" if isinstance(value, (bool, int, float)) else ""
            return self.bad(value, path, f"text{hint}")
        text = str(value)
        if len(text) > self.max_len:
            return [Issue(format_path(path), value, f"is {len(text):,} characters long; at most "
                          f"{self.max_len:,} are allowed")]
        if not self.controls and _has_control(text):
            return [Issue(format_path(path), value, "must not hold control characters or line "
                          "breaks")]
        return self._extra(text, value, path)

    def _extra(self, text: str, value, path) -> list[Issue]:
        return []

    def describe(self):
        what = "text (line breaks allowed)" if self.controls else "text"
        return f"{what} of at most {self.max_len:,} characters"


@dataclass(frozen=True, kw_only=True)
class Name(Text):
    """An identifier: letters, digits and ``_``, not starting with a digit (``trust_1``)."""

    max_len: int = 100

    def _extra(self, text, value, path):
        return [] if text.isidentifier() else self.bad(value, path)

    def describe(self):
        return "a name (letters, digits and _, not starting with a digit)"


@dataclass(frozen=True, kw_only=True)
class Number(Rule):
    """A finite number (not ``true``/``false``) in ``[lo, hi]``; ``whole``: an integer (not
    ``5.0``)."""

    lo: float
    hi: float
    whole: bool = False

    def _issues(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            return self.bad(value, path)
        # math.isfinite only on floats: an int of 400 digits does not convert to one
        infinite = isinstance(value, float) and not math.isfinite(value)
        if infinite or not self.lo <= value <= self.hi:
            return self.bad(value, path, self.describe())
        return []

    def describe(self):
        what = "a whole number" if self.whole else "a number"
        return f"{what} from {self.lo:,.10g} to {self.hi:,.10g}"


@dataclass(frozen=True, kw_only=True)
class Integer(Number):
    """A whole number in ``[lo, hi]``."""

    whole: bool = True


@dataclass(frozen=True, kw_only=True)
class Choice(Rule):
    """One of ``values`` (compared exactly: ``None`` only when listed)."""

    values: tuple

    def issues(self, value, path):
        return [] if value is None and None in self.values else super().issues(value, path)

    def _issues(self, value, path):
        ok = any(value == v and type(value) is type(v) for v in self.values)
        return [] if ok else self.bad(value, path)

    def describe(self):
        def word(v):
            return "empty" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        return "one of " + ", ".join(word(v) for v in self.values)


@dataclass(frozen=True, kw_only=True)
class Check(Rule):
    """Text checked by a function that returns a complaint or None (``doc`` describes it)."""

    test: object
    doc: str

    def _issues(self, value, path):
        if not isinstance(value, str):
            return self.bad(value, path)
        complaint = self.test(value)
        return [Issue(format_path(path), value, complaint)] if complaint else []

    def describe(self):
        return self.doc


def path_problem(ref: str, suffixes: tuple[str, ...] = ()) -> str | None:
    """Why ``ref`` is not a relative path to a file inside the study folder (or None).

    Only the text is judged here; that the resolved path (symbolic links followed) stays in
    the folder is checked against the folder by :func:`crqlab.data.study.check_paths`.
    """
    name = ref.split("#", 1)[0]
    if not name.strip():
        return "must name a file"
    if _has_control(name):
        return "must not hold control characters or line breaks"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        return "must be a path relative to the study folder, not an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "must not contain '..': files must be inside the study folder"
    if suffixes and not name.lower().endswith(suffixes):
        return f"must end in {' or '.join(suffixes)}"
    return None


@dataclass(frozen=True, kw_only=True)
class RelPath(Rule):
    """A file inside the study folder, relative to it (``file.xlsx#Sheet`` picks a sheet)."""

    max_len: int = 500

    def _issues(self, value, path):
        if not isinstance(value, str):
            return self.bad(value, path)
        complaint = (f"is {len(value):,} characters long" if len(value) > self.max_len
                     else path_problem(value))
        return [Issue(format_path(path), value, complaint)] if complaint else []

    def describe(self):
        return "a file in the study folder, relative to it (`file.xlsx#Sheet` picks a sheet)"


@dataclass(frozen=True, kw_only=True)
class InstrumentRef(Rule):
    """A shipped instrument's name (``crq``) or a ``.yaml``/``.yml`` file in the study folder."""

    def _issues(self, value, path):
        if not isinstance(value, str):
            return self.bad(value, path)
        if value.endswith((".yaml", ".yml")):
            complaint = path_problem(value, (".yaml", ".yml"))
            return [Issue(format_path(path), value, complaint)] if complaint else []
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,99}", value):
            return self.bad(value, path)
        return []

    def describe(self):
        return "a shipped instrument's name (crq, healthcheck, kmv, trust_dna) or a .yaml file " \
               "in the study folder"


@dataclass(frozen=True, kw_only=True)
class ListOf(Rule):
    """A list of values that each follow ``item``; ``one_ok``: a single value is a list of one."""

    item: Rule
    min_len: int = 0
    unique: bool = False
    one_ok: bool = False

    def _issues(self, value, path):
        if self.one_ok and not isinstance(value, (list, dict)):
            value = [value]
        if not isinstance(value, list):
            return self.bad(value, path)
        if len(value) < self.min_len:
            need = "a non-empty list" if self.min_len == 1 else f"a list of at least {self.min_len}"
            return [Issue(format_path(path), None, f"must be {need}")]
        out = [i for k, v in enumerate(value) for i in self.item.issues(v, path + (f"[{k}]",))]
        if self.unique and not out:  # items are checked scalars here, so hashable
            twice = [v for v, n in Counter(value).items() if n > 1]
            out += [Issue(format_path(path), v, "is listed twice") for v in twice[:5]]
        return out

    def describe(self):
        head = "a non-empty list" if self.min_len == 1 else "a list"
        one = "; a single entry may be given without the list" if self.one_ok else ""
        return f"{head}; each entry {self.item.describe()}" + \
            ("; no entry twice" if self.unique else "") + one


@dataclass(frozen=True, kw_only=True)
class MapOf(Rule):
    """A mapping whose keys follow ``key`` and values ``value`` (``placeholder`` in the docs)."""

    key: Rule
    value: Rule
    placeholder: str
    min_len: int = 0

    def _issues(self, value, path):
        if not isinstance(value, dict):
            return self.bad(value, path)
        if len(value) < self.min_len:
            return [Issue(format_path(path), None, "must not be empty")]
        out = []
        for k, v in value.items():
            key_issues = self.key.issues(k, path + (str(k),))
            out += key_issues or self.value.issues(v, path + (str(k),))
        return out

    def describe(self):
        value = "keys below" if isinstance(self.value, Fields) else self.value.describe()
        return f"a mapping {self.placeholder} -> {value}; each {self.placeholder} " \
               f"{self.key.describe()}" + ("; not empty" if self.min_len else "")


@dataclass(frozen=True, kw_only=True)
class Either(Rule):
    """One of several rules, chosen by the shape of the value (text, list or mapping): a file
    name or a list of files. The first option whose shape fits judges the value."""

    options: tuple
    doc: str = ""  # how the docs describe it, when the options' own words are too long

    def _issues(self, value, path):
        for rule in self.options:
            if _fits(rule, value):
                return rule.issues(value, path)
        return self.bad(value, path)

    def describe(self):
        return self.doc or " or ".join(r.describe() for r in self.options)


def _fits(rule: Rule, value: object) -> bool:
    """Whether ``value`` has the shape ``rule`` judges (a list, a mapping, or a scalar)."""
    if isinstance(rule, ListOf):
        return isinstance(value, list) or (rule.one_ok and not isinstance(value, dict))
    if isinstance(rule, (MapOf, Fields)):
        return isinstance(value, dict)
    if isinstance(rule, Choice):
        return any(value == v and type(value) is type(v) for v in rule.values)
    if isinstance(rule, Number):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return not isinstance(value, (list, dict))


@dataclass(frozen=True, kw_only=True)
class Date(Rule):
    """A calendar date written as ISO 8601 (``2024-03-01``, quoted or not)."""

    def _issues(self, value, path):
        if isinstance(value, dt.date):
            return []
        if isinstance(value, str):
            try:
                dt.date.fromisoformat(value.strip())
                return []
            except ValueError:
                pass
        return self.bad(value, path)

    def describe(self):
        return "a date (2024-03-01)"


@dataclass(frozen=True, kw_only=True)
class Cell(Text):
    """A cell's content as an export may hold it: text, a number or true/false (compared as
    text, ignoring case and spacing)."""

    scalars: bool = True

    def _issues(self, value, path):
        return [] if isinstance(value, bool) else super()._issues(value, path)

    def describe(self):
        return f"a cell's text, number or true/false (at most {self.max_len:,} characters)"


@dataclass(frozen=True)
class Key:
    """One key of a :class:`Fields` table: its rule, whether required, default and meaning."""

    rule: Rule
    doc: str
    required: bool = False
    default: str = ""


@dataclass(frozen=True, kw_only=True)
class Fields(Rule):
    """A mapping with known keys; anything else is an error with a did-you-mean."""

    keys: dict[str, Key] = field(default_factory=dict)

    def _issues(self, value, path):
        if not isinstance(value, dict):
            return self.bad(value, path)
        out = [self._unknown(k, path) for k in value
               if not isinstance(k, str) or k not in self.keys]
        for name, key in self.keys.items():
            if name in value:
                out += key.rule.issues(value[name], path + (name,))
            elif key.required:
                out.append(Issue(format_path(path + (name,)), None,
                                 f"missing key {name!r} ({key.doc})"))
        return out

    def _unknown(self, key: object, path: tuple) -> Issue:
        close = difflib.get_close_matches(str(key), list(self.keys), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(self.keys)}"
        return Issue(format_path(path + (str(key),)), None, f"unknown key {shorten(key)}; {hint}")

    def describe(self):
        return "a mapping (keys below)"


def check(doc: object, schema: Fields, lines: dict[str, int] | None = None) -> list[Issue]:
    """Every issue of ``doc`` against ``schema``, each with the line of its key when known.

    Notes
    -----
    Tested in ``tests/data/test_schema.py`` (each rule, did-you-mean) and against every study.yaml
    and instrument shipped or used as a test fixture (all pass).
    """
    if not isinstance(doc, dict):
        return [Issue("", None, f"must be a mapping of keys ({', '.join(schema.keys)}), "
                      f"not {_type_name(doc)}")]
    return [i.located(lines or {}) for i in schema.issues(doc, ())]


# -- the two schemas --------------------------------------------------------------------------
def _encoding_problem(value: str) -> str | None:
    if value == "auto":
        return None
    try:
        info = codecs.lookup(value)
    except LookupError:
        return "is not an encoding Python knows (auto, utf-8, utf-8-sig, cp1252 ...)"
    return None if getattr(info, "_is_text_encoding", True) else "is not a text encoding"


def _delimiter_problem(value: str) -> str | None:
    if value == "auto":
        return None
    if len(value) != 1:
        return f"must be auto or a single character, not {len(value)} characters"
    if value.isalnum() or value in "\"'\r\n " or _has_control(value.replace("\t", "")):
        return "cannot be a letter, digit, quote, space or line break"
    return None


_LABEL = Text(scalars=True, max_len=200)
_TABLE_FILE = RelPath()
_COLUMN_MAP = MapOf(key=Text(max_len=200), value=Text(max_len=32_767, controls=True),
                    placeholder="CANONICAL", nullable=True)
_WAVE = Fields(nullable=True, keys={
    "label": Key(_LABEL, "shown in reports", default="the wave number"),
    "confidentiality": Key(Choice(values=("optional", "none", "all", "unknown")),
                           "whether respondents could, could not, or all had to choose "
                           "confidentiality", default="unknown"),
    "start": Key(Date(), "first day of the wave's fieldwork (derived retained_next_wave "
                 "compares churn dates with the next wave's start)", default="none"),
})
_FILE_ENTRY = Fields(keys={
    "file": Key(_TABLE_FILE, "one delivered file (`file.xlsx#Sheet` picks a sheet)",
                required=True),
    "wave": Key(Integer(lo=0, hi=2**31 - 1), "every row of this file belongs to this wave "
                "(for files without a wave column)", default="the file's wave column"),
})


def _table_files(doc: str) -> Key:
    rule = Either(options=(_TABLE_FILE, ListOf(item=_FILE_ENTRY, min_len=1)))
    return Key(rule, doc)


_SELECTOR = Text(max_len=200)
_CELLS = ListOf(item=Cell(max_len=200), one_ok=True)
_FILTER = Fields(keys={
    "column": Key(Text(max_len=32_767, controls=True), "the column as the export names it",
                  required=True),
    "keep": Key(_CELLS, "keep only rows whose cell is one of these", default="-"),
    "drop": Key(_CELLS, "leave out rows whose cell is one of these", default="-"),
    "present": Key(Choice(values=(True,)), "keep only rows where the cell is not blank",
                   default="-"),
    "reason": Key(Text(max_len=200), "why such rows are left out (shown with their count)",
                  required=True),
})
_LABELS = Either(options=(
    Choice(values=LABEL_SET_NAMES),
    ListOf(item=Cell(max_len=200), min_len=2),
    MapOf(key=Text(max_len=200), value=Integer(lo=-1000, hi=1000), placeholder="LABEL",
          min_len=1)),
    doc="a shipped label set (" + ", ".join(LABEL_SET_NAMES) + "), a list of labels lowest "
        "first, or a mapping label -> whole number")
_VALUE_MAP = MapOf(key=Either(options=(Choice(values=(True, False)), Integer(lo=-10**9, hi=10**9),
                                       Text(max_len=200)),
                              doc="true, false, a whole number or text"),
                   value=_CELLS, placeholder="VALUE", min_len=1)
_RULES = Fields(nullable=True, keys={
    "platform": Key(Choice(values=PLATFORMS), "the export's layout (header rows, metadata)",
                    default="auto (detected from the file's shape)"),
    "header_rows": Key(Integer(lo=1, hi=10), "rows that make up the header, joined with ' - '",
                       default="1; surveymonkey 2"),
    "skip_rows": Key(Integer(lo=0, hi=100), "rows after the header that hold no records "
                     "(question text, ImportId)", default="0; qualtrics 2 (legacy 1)"),
    "filters": Key(ListOf(item=_FILTER, nullable=True),
                   "rows left out before loading, each with its reason (counted)",
                   default="none"),
    "complete_when": Key(Fields(keys={
        "column": Key(Text(max_len=32_767, controls=True), "complete where this column is true "
                      "(true/1/yes)", default="-"),
        "answered": Key(Number(lo=0, hi=1), "complete where at least this share of the "
                        "instrument's items and nps is answered", default="-"),
    }), "which responses are complete; partials are counted and left out of scores",
        default="every response"),
    "missing_codes": Key(MapOf(key=_SELECTOR, value=_CELLS, placeholder="COLUMNS"),
                         "codes read as missing in these columns only (a column, items, or an "
                         "element of the instrument)", default="none"),
    "value_labels": Key(MapOf(key=_SELECTOR, value=_LABELS, placeholder="COLUMNS"),
                        "answer labels -> numbers: a shipped set (agree-5, agree-7, "
                        "likely-0-10), labels lowest first, or label: number",
                        default="none"),
    "values": Key(MapOf(key=Text(max_len=200), value=_VALUE_MAP, placeholder="CANONICAL"),
                  "cells -> values of a column (true/false, a wave number, a category)",
                  default="none"),
    "derive": Key(Fields(keys={
        "retained_next_wave": Key(Fields(keys={
            "churn_date": Key(Text(max_len=32_767, controls=True), "the churn-date column as "
                              "the export names it (blank: still a customer)", required=True),
        }), "retained until the next wave's start (waves.N.start); accounts only"),
    }), "columns computed from others", default="none"),
    "dedup": Key(Fields(keys={
        "keep": Key(Choice(values=("last", "first")), "which of repeated rows to keep",
                    default="last"),
        "order_by": Key(Text(max_len=32_767, controls=True), "a date column (as the export "
                        "names it) that orders repeated rows", default="file order"),
    }), "repeated rows of one key (a contact's second response in a wave) are dropped and "
        "counted", default="repeats are errors"),
})

#: study.yaml: every key crqlab reads, its rule, default and meaning.
STUDY_SCHEMA = Fields(keys={
    "study": Key(Text(scalars=True, max_len=100), "the study's name, shown in reports; also the "
                 "name of its reports folder, where crqlab run accepts only a plain name",
                 default="the folder's name"),
    "client": Key(Text(scalars=True, nullable=True), "shown in report headers", default="empty"),
    "instrument": Key(InstrumentRef(), "the scored instrument", default="crq"),
    "batteries": Key(ListOf(item=InstrumentRef(), unique=True, nullable=True),
                     "further instruments whose items may appear", default="none"),
    "seed": Key(Integer(lo=0, hi=2**32 - 1), "default seed of the study's analyses", default="0"),
    "waves": Key(MapOf(key=Integer(lo=0, hi=2**31 - 1), value=_WAVE, placeholder="WAVE",
                       nullable=True), "wave number -> label and facts", default="from the data"),
    "files": Key(Fields(keys={
        "contacts": Key(_table_files("the invitation frame").rule, "the invitation frame",
                        required=True),
        "responses": Key(_table_files("").rule, "one row per response", required=True),
        "accounts": Key(_table_files("").rule, "one row per account (and wave)",
                        default="none"),
    }), "the tables (CSV, TSV, XLSX, Parquet, SPSS .sav/.zsav)", required=True),
    "read": Key(Fields(nullable=True, keys={
        "encoding": Key(Check(test=_encoding_problem, doc="auto, or a text encoding (utf-8, "
                              "utf-8-sig, cp1252 ...)"), "CSV encoding", default="auto"),
        "delimiter": Key(Check(test=_delimiter_problem, doc="auto, or one character (not a "
                               "letter, digit, quote, space or line break)"),
                         "CSV delimiter", default="auto"),
        "decimal": Key(Choice(values=("auto", ".", ",")), "decimal mark in CSV", default="auto"),
        "dates": Key(Choice(values=DATE_ORDERS),
                     "order of numeric dates", default="auto"),
    }), "how CSV files are read", default="auto-detection"),
    "missing_codes": Key(ListOf(item=Text(scalars=True, max_len=200)),
                         "answers read as missing (never zero)",
                         default="Don't know, N/A, DK and a few more"),
    "columns": Key(Fields(nullable=True, keys={
        role: Key(_COLUMN_MAP, f"canonical name -> export column name in {role}", default="{}")
        for role in TABLE_ROLES}), "export column names that differ from canonical ones",
        default="{}"),
    "import": Key(MapOf(key=Choice(values=TABLE_ROLES), value=_RULES, placeholder="TABLE",
                        nullable=True),
                  "import rules per table: how the delivered files become the table",
                  default="none"),
    "segments": Key(ListOf(item=Text(max_len=100), unique=True, nullable=True),
                    "columns reports break results down by", default="none"),
    "min_cell_size": Key(Integer(lo=3, hi=1_000_000), "groups smaller than this are suppressed",
                         default="5"),
    "themes": Key(RelPath(), "theme dictionary of the comments (YAML: theme -> label, phrases; "
                  "crqlab.measures.themes)", default="crqlab's own"),
})

_ITEMS = ListOf(item=Name(), min_len=1)
_ELEMENT = Fields(keys={
    "label": Key(_LABEL, "shown in reports", default="the element's name"),
    "items": Key(_ITEMS, "the element's items (or give facets)"),
    "facets": Key(MapOf(key=Name(), value=Fields(keys={
        "label": Key(_LABEL, "shown in reports", default="the facet's name"),
        "items": Key(_ITEMS, "the facet's items", required=True),
    }), placeholder="FACET", min_len=1), "facets whose mean is the element's score"),
})

#: An instrument definition (crqlab/data/instruments/*.yaml or a study's own file).
INSTRUMENT_SCHEMA = Fields(keys={
    "name": Key(Name(), "the instrument's name", required=True),
    "title": Key(_LABEL, "shown in reports", default="the name"),
    "scale": Key(Fields(keys={
        "min": Key(Integer(lo=-1000, hi=1000), "lowest answer", required=True),
        "max": Key(Integer(lo=-1000, hi=1000), "highest answer", required=True),
    }), "the answer scale", required=True),
    "reverse_keyed": Key(ListOf(item=Name(), one_ok=True, nullable=True),
                         "items scored as min + max - x", default="none"),
    "index": Key(Fields(nullable=True, keys={
        "name": Key(Name(), "the index's name", default="none"),
        "weights": Key(MapOf(key=Name(), value=Number(lo=0, hi=1e6), placeholder="ELEMENT",
                             nullable=True), "weight of each element", default="none"),
    }), "an index: weighted mean of element scores", default="none"),
    "levels": Key(MapOf(key=Name(), value=MapOf(key=Name(), value=_ELEMENT,
                                                placeholder="ELEMENT", min_len=1),
                        placeholder="LEVEL", min_len=1), "levels -> elements", required=True),
    "paths": Key(ListOf(item=Fields(keys={
        "from": Key(Name(), "cause element", required=True),
        "to": Key(Name(), "effect element", required=True),
        "sign": Key(Choice(values=("+", "-", None)), "expected sign", default="+"),
    }), nullable=True), "hypothesised structural paths", default="none"),
})


# -- documentation ----------------------------------------------------------------------------
def _rows(schema: Fields, prefix: str) -> list[tuple[str, str, str, str]]:
    out = []
    for name, key in schema.keys.items():
        path = f"{prefix}{name}"
        need = "required" if key.required else (key.default or "-")
        empty = "; may be empty" if key.rule.nullable else ""
        out.append((path, key.rule.describe() + empty, need, key.doc))
        out += _nested(key.rule, path)
    return out


def _nested(rule: Rule, path: str) -> list[tuple[str, str, str, str]]:
    if isinstance(rule, Fields):
        return _rows(rule, f"{path}.")
    if isinstance(rule, MapOf):
        return _nested(rule.value, f"{path}.{rule.placeholder}")
    if isinstance(rule, ListOf) and isinstance(rule.item, Fields):
        return _rows(rule.item, f"{path}[i].")
    if isinstance(rule, Either):
        return [r for option in rule.options for r in _nested(option, path)]
    return []


def markdown_table(schema: Fields) -> str:
    """The schema as a Markdown table: key, type and range, default (or required), meaning."""
    lines = ["| key | type and range | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in _rows(schema, "")]
    return "\n".join(lines)
