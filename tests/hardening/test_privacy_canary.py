"""Privacy canary: confidential respondents carry marker identifiers; none may be published.

The fixture study (tests/hardening/builders.py: ``canary_study``) is the ``tiny`` synthetic
study with every confidential respondent's name, e-mail and contact id replaced by unique
markers (``Kim CANARYNAME0001``, ``canary0001@leak.example``, ``CANARYID0001``), markers inside
some of their verbatims (some in name forms: ``CANARYNAME0001, Kim``, a zero-width space inside
the name, ``canary0001 at leak dot example``), an account with only two respondents
(``ACANARY99``), a role with only three (``procurement``) and ``min_cell_size: 10``. Every study
notebook runs on it through ``crqlab run`` (small ``n_boot``); then nothing under the reports
folder may show a marker, a small group's estimate, or a verbatim beside an account, and the
verbatims in name forms are shown scrubbed (the report is published, not withheld).
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from crqlab.data.nameforms import fold
from crqlab.data.privacy import confidential_identifiers, find_leaks, unscannable_identifiers
from crqlab.data.study import load_study
from crqlab.reports import runner
from hardening import checks
from hardening.builders import MARKER_PATTERN, SMALL_ACCOUNT_ID, SMALL_ACCOUNT_NAME, SMALL_ROLE
from hardening.runs import canary_markers, canary_run, notebook_names, run_cli

NOTEBOOKS = notebook_names()

# Failures found by these tests in notebooks still being written by others; each is reported
# with the notebook's owner and flips to XPASS (strict) once fixed.
KNOWN: dict[tuple[str, str], str] = {}


def _params(test: str):
    out = []
    for name in NOTEBOOKS:
        reason = KNOWN.get((test, name))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(name, marks=marks, id=name.removesuffix(".ipynb")))
    return out


def _folder(name: str) -> Path:
    return canary_run().out / Path(name).stem


# -- the identifiers and the scanner (fast, no notebook) ---------------------------------------
def test_identifiers_are_every_marker_and_only_markers():
    m = canary_markers()
    ids = confidential_identifiers(load_study(m.folder, cache=False))
    assert set(m.names) | set(m.emails) | set(m.ids) == ids
    assert all(MARKER_PATTERN.search(i) for i in ids)


def test_identifiers_cover_every_wave_of_a_contact(tmp_path):
    # a contact confidential in wave 3 but named (with another e-mail) in wave 2: the wave-2
    # e-mail identifies the wave-3 answers through the contact id, so it is an identifier too
    m = canary_markers()
    study = load_study(m.folder, cache=False)
    c = study.contacts
    conf = study.respondents()
    conf = conf[conf["confidential"].fillna(False).astype(bool)]
    last = int(conf["wave"].max())
    cid = next(x for x in conf.loc[conf["wave"] == last, "contact_id"]
               if ((c["contact_id"] == x) & (c["wave"] < last)).any())
    raw = pd.read_csv(m.folder / "contacts.csv", dtype=str, keep_default_na=False)
    earlier = (raw["contact_id"] == cid) & (raw["wave"].astype(int) < last)
    raw.loc[earlier, "contact_email"] = "old.address.canary@leak.example"
    folder = tmp_path / "study"
    folder.mkdir()
    for f in m.folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    raw.to_csv(folder / "contacts.csv", index=False)
    ids = confidential_identifiers(load_study(folder, cache=False))
    assert "old.address.canary@leak.example" in ids


@pytest.mark.parametrize("shown", [
    "<td>CANARYNAME0001</td>",                    # as is
    "<p>canaryname0001 said</p>",                  # other case
    "<td>&#67;ANARYNAME0001</td>",                 # HTML entity
    '{"text/plain": "CANARY\\u004eAME0001"}',      # JSON escape in an .ipynb or results.json
    "<td>canary0001&#64;leak.example</td>",        # escaped @ in an e-mail
    "id\u00a0CANARYID0001,",                       # after a non-breaking space
    "<td>&amp;#67;ANARYID0001</td>",               # entity inside HTML inside a JSON string
])
def test_scanner_sees_escaped_and_recased_forms(tmp_path, shown):
    page = tmp_path / "report.html"
    page.write_text(shown, encoding="utf-8")
    ids = {"CANARYNAME0001", "canary0001@leak.example", "CANARYID0001"}
    assert [p for p, _ in find_leaks([page], ids)] == [page]


def test_scanner_ignores_longer_tokens_and_embedded_images(tmp_path):
    page = tmp_path / "report.html"
    # an id as part of a longer token, and inside a base64 image run, is no leak
    png = "iVBORw0KGgo" + "A" * 300 + "/C00012+" + "B" * 300
    page.write_text(f"<td>C000123</td><td>xC00012</td><img src='data:image/png;base64,{png}'>",
                    encoding="utf-8")
    assert find_leaks([page], {"C00012"}) == []
    page.write_text("<td>C00012</td>", encoding="utf-8")
    assert find_leaks([page], {"C00012"}) == [(page, "C00012")]


def test_short_and_numeric_ids_are_skipped(tmp_path):
    # "n = 12" must not withhold a report of a study whose contact ids are 1, 2, 3 ...; long
    # numeric ids and ids with letters are still found
    page = tmp_path / "report.html"
    page.write_text("<td>n = 12</td><td>C1</td><td>1234567</td><td>C00012</td><td>2021</td>",
                    encoding="utf-8")
    ids = {"12", "C1", "2021", "1234567", "C00012"}
    assert unscannable_identifiers(ids) == {"12", "C1", "2021"}
    assert sorted(i for _, i in find_leaks([page], ids)) == ["1234567", "C00012"]


# -- the full run -------------------------------------------------------------------------------
def test_run_succeeds_on_the_canary_study():
    run = canary_run()
    assert run.code == 0, run.stderr
    assert run.statuses() == {name: "ok" for name in NOTEBOOKS}
    assert "Traceback" not in run.stderr + run.stdout


def test_no_marker_in_any_published_file():
    # HTML, executed notebooks, results.json, run.json, index.html: no planted marker at all,
    # whether a name, an e-mail, a contact id, a verbatim marker or the 2-respondent account
    run = canary_run()
    files = checks.files_under(run.out)
    assert len(files) >= 3 * len(NOTEBOOKS) + 2
    assert checks.pattern_hits(files, MARKER_PATTERN) == {}


def test_no_marker_even_with_invisible_characters_removed():
    # a zero-width space inside a marker would hide it from the plain pattern above
    run = canary_run()
    hits = {}
    for p in checks.files_under(run.out):
        found = MARKER_PATTERN.findall(fold(p.read_text(encoding="utf-8", errors="replace")))
        if found:
            hits[p.name] = sorted(set(found))
    assert hits == {}


def test_name_forms_in_verbatims_are_scrubbed_not_withheld():
    # the latest wave's confidential verbatims name their authors as "CANARYNAME0001, Kim",
    # with a zero-width space inside the name, or with a spelled-out e-mail: notebook 20 shows
    # them with the name masked, and its report is published
    m, run = canary_markers(), canary_run()
    assert len(m.scrubbed_forms) == 3
    name = "20_confidentiality.ipynb"
    assert run.statuses()[name] == "ok"
    shown = checks.visible_text(_folder(name) / f"{Path(name).stem}.html")
    for sentence in m.scrubbed_forms:
        assert sentence in shown


def test_raw_data_untouched_by_the_run():
    # every file of the study folder hashes the same after the run, and run.json recorded them
    run = canary_run()
    assert run.raw_after == run.raw_before
    assert run.run_json()["inputs"] == {k: v for k, v in run.raw_before.items()
                                        if not k.startswith(".")}


@pytest.mark.parametrize("notebook", _params("small_group"))
def test_three_respondent_group_is_suppressed(notebook):
    # the role held by 3 respondents: every recorded row that names it is suppressed or shows
    # no estimate, and every HTML table row that names it shows no number but the threshold
    folder = _folder(notebook)
    bad = checks.label_violations(folder / "results.json", SMALL_ROLE)
    html = folder / f"{folder.name}.html"
    for cells in checks.html_table_rows_with(html, SMALL_ROLE):
        numbers = [c for c in cells if SMALL_ROLE not in c and re.search(r"\d", c)
                   and "suppressed" not in c and "fewer than" not in c]
        if numbers:
            bad.append(f"{html.name}: table row {cells}")
    assert bad == []


@pytest.mark.parametrize("notebook", _params("min_cell"))
def test_min_cell_size_from_study_yaml_is_applied(notebook):
    # the canary study sets min_cell_size: 10, so groups of 5-9 must be suppressed too
    folder = _folder(notebook)
    assert checks.small_cell_violations(folder / "results.json", canary_markers().min_cell_size) == []


@pytest.mark.parametrize("notebook", _params("account"))
def test_two_respondent_account_is_never_shown(notebook):
    folder = _folder(notebook)
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in checks.files_under(folder))
    assert SMALL_ACCOUNT_ID not in text and SMALL_ACCOUNT_NAME not in text


@pytest.mark.parametrize("notebook", _params("verbatims"))
def test_verbatims_never_beside_an_account(notebook):
    # a table row that shows a verbatim shows no account id or name (an account with few
    # respondents would attribute it); verbatims of confidential respondents included
    m = canary_markers()
    study = load_study(m.folder, cache=False)
    texts = set()
    for col in ("strengths", "weaknesses"):
        texts |= {t for t in study.responses[col].dropna().astype(str) if len(t) > 15}
    accounts = set(study.accounts["account_id"].astype(str)) | set(
        study.accounts["account_name"].astype(str))
    html = _folder(notebook) / f"{Path(notebook).stem}.html"
    soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    bad = []
    for tr in soup.find_all("tr"):
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])]
        if any(c in texts for c in cells) and any(c in accounts for c in cells):
            bad.append(cells)
    assert bad == []


# -- the runner withholds a report that shows a confidential identifier ------------------------
_PRINTS = {
    "plain": "print(name)",
    "upper": "print(name.upper())",
    "entity": "display(HTML('<b>&#' + str(ord(name[0])) + ';' + name[1:] + '</b>'))",
    "email_in_table": "display(pd.DataFrame({'who': [email]}))",
    "id_in_results": "results.record('who', cid)",
    "markdown": "display(Markdown(f'**{name}**'))",
}


def _leaky_notebook(code: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(
        'study_dir: str = "../data/raw/sample"  # study folder\n'
        'results_path: str = ""  # where results.json goes (empty: not saved)')
    params.metadata["tags"] = ["parameters"]
    setup = ("from pathlib import Path\nimport pandas as pd\n"
             "from IPython.display import HTML, Markdown, display\nfrom crqlab.reports import results\n"
             "c = pd.read_csv(Path(study_dir) / 'contacts.csv', dtype=str)\n"
             "row = c[c['contact_id'].str.startswith('CANARYID')].iloc[0]\n"
             "name, email, cid = row['contact_name'], row['contact_email'], row['contact_id']")
    nb.cells = [nbformat.v4.new_markdown_cell("# Stand-in"), params,
                nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(code),
                nbformat.v4.new_code_cell("results.save(results_path)")]
    return nb


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaky")
    nbdir = root / "notebooks"
    nbdir.mkdir()
    for i, (label, code) in enumerate(_PRINTS.items()):
        nbformat.write(_leaky_notebook(code), str(nbdir / f"{i:02d}_{label}.ipynb"))
    nbformat.write(_leaky_notebook("print('nobody named here')"), str(nbdir / "99_clean.ipynb"))
    out = root / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "NOTEBOOKS_DIR", nbdir)
        result = run_cli(canary_markers().folder, out)
    return result


@pytest.mark.parametrize("label", list(_PRINTS))
def test_report_printing_an_identifier_is_withheld(leaky_run, label):
    stem = f"{list(_PRINTS).index(label):02d}_{label}"
    assert leaky_run.code == 1
    assert leaky_run.statuses()[f"{stem}.ipynb"] == "failed"
    entry = next(n for n in leaky_run.run_json()["notebooks"] if n["name"] == f"{stem}.ipynb")
    assert entry["error"]["ename"] == "PrivacyLeak"
    assert sorted(p.name for p in (leaky_run.out / stem).iterdir()) == [f"{stem}.html"]
    assert "withheld" in (leaky_run.out / stem / f"{stem}.html").read_text(encoding="utf-8")
    assert f"{stem}.ipynb failed" in leaky_run.stderr and "PrivacyLeak" in leaky_run.stderr


def test_withheld_reports_do_not_leak_elsewhere(leaky_run):
    # the notice, index.html, run.json and the clean report show no marker; the clean one is ok
    assert leaky_run.statuses()["99_clean.ipynb"] == "ok"
    assert checks.pattern_hits(checks.files_under(leaky_run.out), MARKER_PATTERN) == {}


# -- processed data: the loader's Parquet cache ------------------------------------------------
@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    cache = tmp_path_factory.mktemp("processed")
    load_study(canary_markers().folder, cache=cache)
    (key,) = [p for p in cache.iterdir() if p.is_dir()]
    return {role: pd.read_parquet(key / f"{role}.parquet") for role in ("contacts", "responses")}


def test_cache_blanks_pii_on_confidential_rows(cached):
    c = cached["contacts"]
    conf = c["confidential"].fillna(False).astype(bool)
    assert conf.sum() > 20
    assert c.loc[conf, ["contact_name", "contact_email"]].isna().all().all()


def test_cache_blanks_pii_of_a_confidential_contact_in_every_wave(cached):
    c = cached["contacts"]
    ever = set(c.loc[c["confidential"].fillna(False).astype(bool), "contact_id"])
    rows = c[c["contact_id"].isin(ever)]
    assert rows[["contact_name", "contact_email"]].isna().all().all()


def test_cache_has_no_email_inside_confidential_verbatims(cached):
    r = cached["responses"]
    conf = r["confidential"].fillna(False).astype(bool)
    text = " ".join(r.loc[conf, ["strengths", "weaknesses"]].fillna("").astype(str).sum(axis=1))
    assert not re.search(r"canary\d{4}@leak\.example", text, re.IGNORECASE)
