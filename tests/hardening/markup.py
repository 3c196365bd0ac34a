"""A study whose every client string is hostile markup, its run, and a headless browser.

:func:`hostile_study` starts from the ``tiny`` synthetic study (like the privacy canary) and
puts a payload into each field a client controls: client, study, wave labels, a role, account
names, industries, regions, account managers, verbatims, and a column name (an export column
mapped in ``study.yaml`` to a hostile name and listed as a segment). Every value is a unique
marker (``ZQ`` and three characters) followed by a payload, so a test can find each place a
value is shown and check that the whole value is there as text.

Each payload, if it ran, would change ``document.title`` or give ``<body>`` the attribute
``data-pwned``. :func:`dump_dom` loads pages in Debian's headless Chromium and returns the DOM
after loading (:func:`executed` compares it with the page as served).
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

from .builders import Frames, synth_frames, write_frames
from .runs import CliRun, run_cli, workdir

__all__ = ["PAYLOADS", "HostileStudy", "hostile_study", "markup_run", "chromium", "dump_dom",
           "visible_text", "executed", "literal_problems", "MARKER"]

#: Attacks: event handlers that fire on load (img, svg, details), script setting the title or
#: an attribute of <body>, a script in an iframe, a javascript: Markdown link with raw HTML,
#: and Markdown/Jupyter syntax (emphasis, code, strikethrough, math, table pipe, heading).
PAYLOADS = (
    "<img src=x onerror=\"document.title='PWNED'\">",
    "<script>document.title='PWNED'</script>",
    "<svg onload=\"document.title='PWNED'\">",
    "*em* _u_ `tk` ~~s~~ $x$ | &amp; \\ # h **b**",
    "<details open ontoggle=\"document.title='PWNED'\">",
    "<script>document.body.setAttribute('data-pwned',1)</script>",
    "[lnk](javascript:document.title='PWNED') <b>b</b>",
    "<iframe srcdoc=\"<script>parent.document.title='PWNED'</script>\">",
)
#: A marker: ``ZQ`` and three letters or digits; every planted value starts with one.
MARKER = re.compile(r"ZQ[a-z0-9]{3}")
#: The name the export column is mapped to (no underscore: reports show "_" as a space there).
COLUMN = "ZQcol" + PAYLOADS[0]
EXPORT_COLUMN = "Seg<b>X</b>"


@dataclass(frozen=True)
class HostileStudy:
    """What :func:`hostile_study` planted: field -> {marker: whole value}."""

    folder: Path
    values: dict[str, dict[str, str]]

    def all_values(self) -> dict[str, str]:
        return {m: v for field in self.values.values() for m, v in field.items()}


def _planted(prefix: str, originals, offset: int = 0) -> dict:
    """original value -> marker + payload, payloads in turn (``ZQ`` + prefix + 2 digits)."""
    return {o: f"ZQ{prefix}{k:02d}" + PAYLOADS[(k + offset) % len(PAYLOADS)]
            for k, o in enumerate(sorted(originals))}


def _by_marker(mapping: dict) -> dict[str, str]:
    return {MARKER.match(v).group(0): v for v in mapping.values()}


def hostile_study(folder: Path) -> HostileStudy:
    """Write the hostile study into ``folder``."""
    f = synth_frames()
    contacts, responses, accounts = f.contacts.copy(), f.responses.copy(), f.accounts.copy()
    values: dict[str, dict[str, str]] = {}
    # study: must be a plain identifier (it names the reports folder; tests/reports/test_outputs.py
    # shows markup there refused), so the study name carries no payload
    single = {"client": "ZQcli" + PAYLOADS[0], "study": "ZQstu_plain-name",
              "role": "ZQrol" + PAYLOADS[4], "strengths": "ZQvbs" + PAYLOADS[3],
              "weaknesses": "ZQvbw" + PAYLOADS[6], "column": COLUMN}
    values.update({k: _by_marker({k: v}) for k, v in single.items()})
    contacts["role"] = contacts["role"].replace({"administrative": single["role"]})
    for column in ("strengths", "weaknesses"):
        responses[column] = responses[column].where(responses[column].isna(), single[column])
    for field, prefix, offset in (("account_name", "a", 5), ("industry", "i", 1),
                                  ("region", "r", 2), ("account_manager", "m", 4)):
        mapping = _planted(prefix, accounts[field].dropna().unique(), offset)
        accounts[field] = accounts[field].map(mapping)
        values[field] = _by_marker(mapping)
    # an export column that study.yaml maps to a hostile name, used as a segment
    accounts[EXPORT_COLUMN] = ["alpha" if i % 2 else "beta" for i in range(len(accounts))]
    waves = {w: dict(spec, label=f"ZQwv{w}" + PAYLOADS[(w + 1) % len(PAYLOADS)])
             for w, spec in f.config["waves"].items()}
    values["wave_label"] = {f"ZQwv{w}": spec["label"] for w, spec in waves.items()}
    cfg = dict(f.config, study=single["study"], client=single["client"], waves=waves,
               columns={"accounts": {COLUMN: EXPORT_COLUMN}},
               segments=[*f.config["segments"], COLUMN])
    write_frames(Frames(contacts, responses, accounts, cfg), folder)
    return HostileStudy(Path(folder), values)


@functools.cache
def _hostile() -> HostileStudy:
    return hostile_study(workdir() / "studies" / "hostile-markup")


@functools.cache
def markup_run() -> tuple[HostileStudy, CliRun]:
    """Every notebook on the hostile study (once per test session)."""
    study = _hostile()
    return study, run_cli(study.folder, workdir() / "reports" / "hostile-markup")


# -- the browser -------------------------------------------------------------------------------
def chromium() -> str | None:
    return shutil.which("chromium")


def _dump_one(page: Path) -> str:
    profile = tempfile.mkdtemp(prefix="crqlab-chromium-")
    try:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=2000",
             "--dump-dom", Path(page).resolve().as_uri()],
            capture_output=True, text=True, timeout=180, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return done.stdout


def dump_dom(pages) -> dict[Path, str]:
    """page -> its DOM after loading in headless Chromium (two browsers at a time)."""
    pages = [Path(p) for p in pages]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(pages, pool.map(_dump_one, pages)))


def executed(served: str, dom: str) -> list[str]:
    """Signs that script ran: the title changed, or an element carries ``data-pwned``."""
    before, after = BeautifulSoup(served, "html.parser"), BeautifulSoup(dom, "html.parser")
    signs = []
    title = (before.title.get_text() if before.title else "", after.title.get_text()
             if after.title else "")
    if title[0] != title[1]:
        signs.append(f"title changed from {title[0]!r} to {title[1]!r}")
    signs += [f"<{t.name} data-pwned>" for t in after.find_all(attrs={"data-pwned": True})]
    return signs


def visible_text(dom: str) -> str:
    """The text of ``<body>`` as a reader sees it (white space collapsed)."""
    soup = BeautifulSoup(dom, "html.parser")
    body = soup.body or soup
    for t in body.find_all(["style", "script"]):
        t.decompose()
    return re.sub(r"\s+", " ", body.get_text(""))


def literal_problems(text: str, values: dict[str, str]) -> tuple[list[str], set[str]]:
    """Occurrences of a marker not followed by the rest of its value as text, and the markers
    shown as text. A table cell that pandas cut to its column width ("..." after the first
    characters) counts as shown when what is left is the value's start."""
    problems, shown = [], set()
    for m in MARKER.finditer(text):
        value = values.get(m.group(0))
        if value is None:
            problems.append(f"unknown marker {m.group(0)!r}")
            continue
        cut = text[m.start():m.start() + len(value) + 3]
        dots = cut.find("...")
        if cut.startswith(value) or (dots > len(m.group(0)) and value.startswith(cut[:dots])):
            shown.add(m.group(0))
        else:
            problems.append(f"{m.group(0)}: shown as {cut!r}, planted {value!r}")
    return problems, shown
