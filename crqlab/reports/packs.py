"""``crqlab packs``: account packs as one-page HTML and CSV, and the action list as CSV and XLSX.

:func:`write_packs` loads a study, computes the packs
(:func:`crqlab.studies.account_packs.account_packs`), renders every file in memory, scans every one for confidential respondents' names, e-mails and
contact ids (:func:`crqlab.data.privacy.find_leaks`; the XLSX is scanned part by part, unzipped),
and only then writes them - into a folder :func:`crqlab.reports.outputs.check_output_folder`
accepts (missing, empty, or marked by crqlab as account packs), each file atomically
(:func:`crqlab.files.write_atomic`). A rerun deletes only files its previous run listed in
``manifest.json``; anything else in the folder is left alone.

Every client string reaches HTML through :func:`crqlab.reports.present.escape_html`, and the page
is sanitised and carries the reports' Content-Security-Policy
(:func:`crqlab.reports.rendering.finish_page`); every text cell of a CSV or XLSX that a
spreadsheet could read as a formula (starting ``=``, ``+``, ``-``, ``@``, tab or carriage
return) is prefixed with ``'`` (:func:`safe_cell`, OWASP's CSV-injection rule).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crqlab.errors import CrqlabError
from crqlab.files import write_atomic
from crqlab.formatting import format_fixed
from crqlab.reports.outputs import MARKER, check_output_folder, write_marker
from crqlab.reports.present import escape_html as esc
from crqlab.reports.rendering import finish_page
from crqlab.studies.account_packs import NAME_WITHHELD

__all__ = ["PACKS_KIND", "MANIFEST", "PackLeakError", "safe_cell", "pack_file_stem",
           "render_pack", "pack_table", "actions_csv", "actions_xlsx", "build_files",
           "scan_files", "write_packs"]

#: Marker kind of an account-packs folder.
PACKS_KIND = "account-packs"
#: File listing what the last ``crqlab packs`` wrote (the only files a rerun may delete).
MANIFEST = "manifest.json"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,60}\Z")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FIXED_TIME = datetime(2000, 1, 1)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2733;
 margin:24px auto;max-width:1080px;font-size:13px;line-height:1.35}
h1{font-size:20px;margin:0 0 2px}h2{font-size:14px;margin:14px 0 4px;color:#23466e}
.sub{color:#555;margin:0 0 8px}.facts span{display:inline-block;margin-right:16px}
.tag{font-weight:600}.High{color:#a32020}.Medium{color:#a36b00}.Low{color:#2d6b35}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #dde3ea;
 padding:3px 6px;text-align:left;vertical-align:top}th{background:#f2f5f8;font-weight:600}
td.num{text-align:right;white-space:nowrap}.cols{display:flex;gap:18px}.cols>div{flex:1}
ul{margin:2px 0 2px 18px;padding:0}.note{color:#555;font-size:11px;margin-top:10px}
blockquote{margin:2px 0;padding:2px 8px;border-left:3px solid #c9d3de;color:#333}
@page{size:A4;margin:10mm}@media print{body{margin:0;max-width:none;font-size:10px}}
"""


class PackLeakError(CrqlabError):
    """A pack, CSV or XLSX would show a confidential identifier: nothing was written."""


def safe_cell(value: Any) -> Any:
    """A cell as a spreadsheet must read it: text starting with ``= + - @``, tab or carriage
    return gets a leading ``'`` (read as text, never as a formula); other values unchanged.

    Notes
    -----
    OWASP "CSV Injection". Numbers crqlab computes (a negative NPS) stay numbers. Tested in
    ``tests/reports/test_packs.py`` with every starting character in CSV and XLSX.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def pack_file_stem(account_id: str) -> str:
    """``pack_<account_id>`` when the id is a plain name, else ``pack_<sha1 of the id>`` (an id
    is client data: ``../x`` or ``<script>`` never becomes a path)."""
    if _SAFE_STEM.match(account_id):
        return f"pack_{account_id}"
    return "pack_" + hashlib.sha1(account_id.encode("utf-8")).hexdigest()[:12]


def _num(x: Any, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else format_fixed(x, digits)


def _interval(est, lo, hi, digits: int) -> str:
    if est is None or pd.isna(est):
        return "–"
    return f"{_num(est, digits)} [{_num(lo, digits)}, {_num(hi, digits)}]"


def render_pack(pack, packs) -> str:
    """One account's pack as a complete, self-contained HTML page (escaped, sanitised, CSP)."""
    level = f"{round(packs.ci * 100)}%"
    rows = []
    for r in pack.scores.itertuples():
        d = 1 if r.score == "nps" else 2
        change = (_interval(r.change, r.change_ci_low, r.change_ci_high, d) + f" ({r.change_words})"
                  if not pd.isna(r.change) else "–")
        rows.append(f"<tr><td>{esc(r.label)}</td><td class='num'>{esc(_interval(r.est, r.ci_low, r.ci_high, d))}</td>"
                    f"<td class='num'>{r.n}</td>"
                    f"<td class='num'>{esc(_interval(r.client_est, r.client_ci_low, r.client_ci_high, d))}</td>"
                    f"<td class='num'>{r.client_n}</td><td>{esc(r.vs_client)}</td>"
                    f"<td>{esc(change)}</td></tr>")
    named = []
    for r in pack.respondents.itertuples():
        says = "".join(f"<blockquote><b>{label}:</b> {esc(t)}</blockquote>"
                       for label, t in (("Strengths", r.strengths), ("Weaknesses", r.weaknesses))
                       if isinstance(t, str) and t.strip())
        named.append(f"<tr><td>{esc(r.name)}</td><td>{esc(r.role)}</td>"
                     f"<td class='num'>{_num(r.nps, 0)}</td><td class='num'>{_num(r.crq_index)}</td>"
                     f"<td>{says}</td></tr>")
    withheld = (pack.respondents["name"] == NAME_WITHHELD).sum()
    withheld_note = (f" {withheld} named respondent(s) are listed with the name withheld: the name "
                     "reads as a confidential respondent's (the same name, or the same rare "
                     "surname), so printing it could point at that person." if withheld else "")
    conf = "".join(f"<blockquote><b>{esc(r.field.capitalize())}:</b> {esc(r.text)}</blockquote>"
                   for r in pack.comments.itertuples())
    themes = {}
    for r in pack.themes.itertuples():
        themes.setdefault(r.field, []).append(
            f"<li>{esc(r.label)}: {r.count} of {r.n} comments ({r.est:.0%}, "
            f"{r.ci_low:.0%}-{r.ci_high:.0%})</li>")
    theme_html = "".join(f"<div><b>{esc(f.capitalize())}</b><ul>{''.join(items)}</ul></div>"
                         for f, items in themes.items()) or "<div>No comments.</div>"
    prev = (f"change since {esc(pack.previous_label)}" if pack.previous_label
            else "change since the last wave")
    flags = "; ".join(pack.flags) or "none"
    conf_note = (f"Confidential respondents' answers are included in the figures above (at least "
                 f"{packs.min_cell_size} of them answered) and their comments are shown below "
                 "without names, in random order, with names and e-mails removed."
                 if pack.confidential_included else
                 f"Confidential respondents' answers are included only when at least "
                 f"{packs.min_cell_size} of an account's respondents chose confidentiality; "
                 "this pack shows named respondents only.")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(pack.account_name)}: account pack</title>
<style>{_CSS}</style></head><body>
<h1>{esc(pack.account_name)}</h1>
<p class="sub">Account {esc(pack.account_id)} · {esc(packs.client)} · survey {esc(pack.wave_label)} ·
account manager {esc(pack.owner)}</p>
<p class="facts"><span><span class="tag">Respondents shown:</span> {pack.n}</span>
<span><span class="tag">Relationship category:</span> {esc(pack.category or "not categorised")}</span>
<span><span class="tag">Priority:</span> <span class="tag {esc(pack.priority)}">{esc(pack.priority)}</span></span>
<span><span class="tag">Risk flags:</span> {esc(flags)}</span></p>
<h2>Scores against the client's overall ({level} intervals)</h2>
<table><thead><tr><th>score</th><th>this account</th><th>n</th><th>client overall</th><th>n</th>
<th>against the rest of the client</th><th>{prev}</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<div class="cols"><div><h2>Suggested discussion points (the three lowest element scores)</h2>
<ul>{''.join(f'<li>{esc(d)}</li>' for d in pack.discussion)}</ul></div>
<div><h2>What the comments mention ({level} intervals)</h2><div class="cols">{theme_html}</div></div></div>
<h2>Named respondents</h2>
<table><thead><tr><th>name</th><th>role</th><th>NPS answer</th><th>CRQ index</th><th>comments</th></tr></thead>
<tbody>{''.join(named) or '<tr><td colspan="5">No named respondents.</td></tr>'}</tbody></table>
{f'<h2>Comments of confidential respondents (unattributed)</h2>{conf}' if conf else ''}
<p class="note">{esc(conf_note)}{esc(withheld_note)} Scores are on 1-7 (NPS on -100 to +100); the account's
intervals are t intervals (NPS: Wald), the client's allow for clustering of respondents within
accounts. "No clear difference" means the interval of the difference includes zero. Themes are
coded with the study's theme dictionary. Relationship categories use crqlab's default grid
(an assumption, docs/methods.md).</p>
</body></html>
"""
    return finish_page(page)


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None or (isinstance(v, float) and np.isnan(v))
                        else safe_cell(v)) for k, v in r.items()})
    return buf.getvalue()


_PACK_COLUMNS = ["section", "item", "est", "ci_low", "ci_high", "n", "client_est",
                 "client_ci_low", "client_ci_high", "client_n", "vs_rest", "vs_rest_ci_low",
                 "vs_rest_ci_high", "vs_client", "change", "change_ci_low", "change_ci_high",
                 "change_words", "role", "text"]


def pack_table(pack) -> str:
    """The pack as CSV: one row per score, fact, discussion point, theme, named respondent's
    comment and unattributed comment (``section`` says which)."""
    rows: list[dict[str, Any]] = []
    for r in pack.scores.to_dict("records"):
        rows.append({"section": "score", "item": r["score"]} | {
            k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()
            if k in _PACK_COLUMNS})
    rows += [{"section": "fact", "item": k, "text": v} for k, v in (
        ("account_id", pack.account_id), ("account_name", pack.account_name),
        ("owner", pack.owner), ("wave", pack.wave_label), ("category", pack.category or ""),
        ("priority", pack.priority), ("risk_flags", "; ".join(pack.flags)))]
    rows += [{"section": "discussion point", "item": str(i + 1), "text": d}
             for i, d in enumerate(pack.discussion)]
    rows += [{"section": f"theme ({r.field})", "item": r.label, "est": round(r.est, 6),
              "ci_low": round(r.ci_low, 6), "ci_high": round(r.ci_high, 6), "n": r.n,
              "text": f"{r.count} of {r.n} comments"} for r in pack.themes.itertuples()]
    for r in pack.respondents.itertuples():
        rows.append({"section": "named respondent", "item": r.name, "role": r.role,
                     "est": r.crq_index, "text": f"NPS answer {_num(r.nps, 0)}"})
        rows += [{"section": f"named comment ({f})", "item": r.name, "text": t}
                 for f, t in (("strengths", r.strengths), ("weaknesses", r.weaknesses))
                 if isinstance(t, str) and t.strip()]
    rows += [{"section": f"unattributed comment ({r.field})", "item": "", "text": r.text}
             for r in pack.comments.itertuples()]
    return _csv(rows, _PACK_COLUMNS)


def actions_csv(actions: pd.DataFrame) -> str:
    """The action list as UTF-8 CSV (header row; formula-safe text cells)."""
    return _csv(actions.to_dict("records"), list(actions.columns))


def _deterministic_zip(data: bytes) -> bytes:
    """The same zip with every entry dated 1980-01-01 and the workbook's modification time
    fixed (same inputs, same bytes)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time there
                data = _MODIFIED.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            dst.writestr(fixed, data)
    return out.getvalue()


def actions_xlsx(actions: pd.DataFrame) -> bytes:
    """The action list as an XLSX workbook (one sheet ``actions``; text cells formula-safe and
    stripped of characters XML cannot hold; byte-identical for the same list)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "actions"
    ws.append(list(actions.columns))
    for rec in actions.itertuples(index=False):
        row = []
        for v in rec:
            if isinstance(v, str):
                v = safe_cell(_ILLEGAL_XML.sub("", v))
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                v = None
            elif isinstance(v, (np.integer, np.floating)):
                v = v.item()
            row.append(v)
        ws.append(row)
    for cell in ws[1]:
        cell.style = "Headline 4"
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if cell.data_type == "f":  # never: every '=' text is prefixed; kept as a guard
                raise CrqlabError("a formula reached the action list")
    wb.properties.created = wb.properties.modified = _FIXED_TIME
    wb.properties.creator = "crqlab"
    buf = io.BytesIO()
    wb.save(buf)
    return _deterministic_zip(buf.getvalue())


def _index_page(packs, names: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td><a href='{esc(names[p.account_id])}.html'>{esc(p.account_name)}</a></td>"
        f"<td>{esc(p.account_id)}</td><td>{esc(p.owner)}</td><td>{esc(p.category or '')}</td>"
        f"<td class='tag {esc(p.priority)}'>{esc(p.priority)}</td><td>{p.n}</td></tr>"
        for p in packs.packs)
    return finish_page(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Account packs: {esc(packs.study)}</title>
<style>{_CSS}</style></head><body><h1>Account packs</h1>
<p class="sub">{esc(packs.client)} · survey {esc(packs.wave_label)} · {len(packs.packs)} accounts with at
least {packs.min_cell_size} respondents shown · action list: <a href="actions.csv">actions.csv</a>,
<a href="actions.xlsx">actions.xlsx</a></p>
<table><thead><tr><th>account</th><th>id</th><th>account manager</th><th>category</th>
<th>priority</th><th>respondents shown</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
""")


def build_files(packs) -> dict[str, bytes]:
    """Every file of the packs folder, by name: ``index.html``, ``pack_<id>.html`` and
    ``.csv`` per account, ``actions.csv``, ``actions.xlsx`` (:func:`write_packs` adds
    ``packs.json``, the settings and the SHA-256 of every input file)."""
    names = {p.account_id: pack_file_stem(p.account_id) for p in packs.packs}
    if len(set(names.values())) != len(names):  # two ids hashing alike: never overwrite
        raise CrqlabError("two account ids give the same pack file name")
    files: dict[str, bytes] = {}
    for p in packs.packs:
        stem = names[p.account_id]
        files[f"{stem}.html"] = render_pack(p, packs).encode("utf-8")
        files[f"{stem}.csv"] = pack_table(p).encode("utf-8")
    files["actions.csv"] = actions_csv(packs.actions).encode("utf-8")
    files["actions.xlsx"] = actions_xlsx(packs.actions)
    files["index.html"] = _index_page(packs, names).encode("utf-8")
    return files


def scan_files(files: dict[str, bytes], identifiers) -> list[tuple[str, str]]:
    """(file, identifier) of every confidential identifier in the files: text files as they
    are, XLSX and other zips part by part (their XML is compressed)."""
    from crqlab.data.privacy import find_leaks

    found = []
    with tempfile.TemporaryDirectory(prefix="crqlab-packs-scan-") as tmp:
        paths: dict[Path, str] = {}
        for i, (name, data) in enumerate(sorted(files.items())):
            if data[:2] == b"PK":
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    for j, member in enumerate(z.namelist()):
                        p = Path(tmp) / f"{i}-{j}.xml"
                        p.write_bytes(z.read(member))
                        paths[p] = name
            else:
                p = Path(tmp) / f"{i}.txt"
                p.write_bytes(data)
                paths[p] = name
        for p, ident in find_leaks(list(paths), identifiers):
            found.append((paths[p], ident))
    return sorted(set(found))


def _previous_files(out: Path) -> list[str]:
    try:
        doc = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = doc.get("files") if isinstance(doc, dict) else None
    return [f for f in files if isinstance(f, str) and "/" not in f and "\\" not in f
            and f not in (MARKER, MANIFEST) and not f.startswith(".")] \
        if isinstance(files, list) else []


def _provenance(study, packs, **settings: Any) -> bytes:
    """``packs.json``: what was run on which inputs (SHA-256 of every input file), for the
    record; the same inputs and settings give the same bytes."""
    from crqlab import __version__

    doc = {"study": packs.study, "client": packs.client, "wave": packs.wave,
           "wave_label": packs.wave_label, "min_cell_size": packs.min_cell_size, "ci": packs.ci,
           "seed": study.seed if settings.get("seed") is None else settings["seed"],
           "n_boot": settings.get("n_boot"), "inputs": study.input_hashes(),
           "crqlab": __version__, "packs": len(packs.packs), "accounts_listed": len(packs.actions)}
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write_packs(study_dir: str | Path, out: str | Path, *, wave: int = 0,
                min_cell_size: int = 0, ci: float = 0.95, n_boot: int = 2000,
                seed: int | None = None) -> tuple[Path, Any]:
    """``crqlab packs``: compute, render, scan, then write the packs folder.

    Returns the folder and the :class:`~crqlab.studies.account_packs.PackSet`.

    Raises
    ------
    OutputFolderError
        ``out`` is refused (before anything is computed or written).
    PackLeakError
        A file would show a confidential identifier (names the files and the number of
        identifiers, never the identifiers); nothing is written.

    Notes
    -----
    Tested in ``tests/reports/test_packs.py``: a study with planted confidential names,
    e-mails and ids (none in any file), hostile account names and comments, refused folders,
    a rerun deleting only its own files, byte-identical reruns.
    """
    from crqlab.data.study import load_study
    from crqlab.studies.account_packs import account_packs

    study_dir = Path(study_dir).resolve()
    out = check_output_folder(Path(out), study_dir, kind=PACKS_KIND)
    # cache=False: the Parquet cache blanks the confidential names the scan looks for
    study = load_study(study_dir, cache=False)
    packs = account_packs(study, wave=wave, min_cell_size=min_cell_size, ci=ci, n_boot=n_boot,
                          seed=seed)
    files = build_files(packs)
    files["packs.json"] = _provenance(study, packs, n_boot=n_boot, seed=seed)
    leaks = scan_files(files, packs.identifiers)
    if leaks:
        where = sorted({f for f, _ in leaks})
        raise PackLeakError(f"{len({i for _, i in leaks})} confidential identifier(s) would "
                            f"appear in {', '.join(where[:10])}; no pack was written")
    previous = _previous_files(out) if out.is_dir() else []
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, PACKS_KIND, study=packs.study)
    # list old and new first: a run stopped half-way still knows every file it may delete
    write_atomic(out / MANIFEST, json.dumps({"files": sorted(set(previous) | set(files))},
                                            indent=1) + "\n")
    for name, data in sorted(files.items()):
        write_atomic(out / name, data)
    for name in sorted(set(previous) - set(files)):
        p = out / name
        if p.is_file() and not p.is_symlink():
            p.unlink()
    write_atomic(out / MANIFEST, json.dumps({"files": sorted(files)}, indent=1) + "\n")
    return out, packs
