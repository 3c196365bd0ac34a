"""Property-based tests of the study loader (crqlab.data.study, crqlab.data.readers) with hypothesis.

1. Malformed tables - random text, numbers and blanks injected into random cells of a valid
   study, written in random encodings, delimiters, line endings and formats: only
   CrqlabError subclasses escape; every Problem names its file and says what is wrong; a
   problem with a cell names column and row, and the row and value point at the cell that was
   written there; values that are certainly wrong (letters or off-scale numbers in an item or
   NPS column) are always reported.
2. Corrupted bytes (bytes inserted, deleted, overwritten, files truncated): only CrqlabError.
3. Valid random studies round-trip: what was written is what is loaded, in every dialect.
4. Waves in a column, absent or fixed per file in contacts and responses, accounts absent,
   plain or per wave, waves declared, not declared or partly declared: an error message or a
   correct load, never a traceback (every pair of choices by default, all 81 under slow).

Examples are derandomised (the same examples on every run) and few, to keep this file fast.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crqlab import CrqlabError, ValidationError, load_study
from crqlab.data.instruments import load_instrument

ITEMS = load_instrument("crq").items
MISSING = ("Don't know",)
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Characters that survive every encoding tried here unchanged and cannot form UTF-8 sequences
# when written in cp1252 (no bytes 0x80-0xBF); no '=' (XLSX would store a formula), no '\r'
# (line endings are normalised).
ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "=") + "äöüßéèçñÄÖÜ\n"
text = st.text(alphabet=ALPHABET, max_size=12)
letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ", min_size=1, max_size=8)

DIALECTS = st.sampled_from([
    ("csv", "utf-8", ",", "\n"), ("csv", "utf-8-sig", ",", "\r\n"), ("csv", "cp1252", ";", "\r\n"),
    ("csv", "utf-8", "\t", "\n"), ("csv", "cp1252", ",", "\n"), ("xlsx", None, None, None),
    ("parquet", None, None, None)])

# Messages of problems found in one cell's own value (as opposed to cross-table rules).
CELL_MESSAGES = ("text in a numeric column", "off the", "must be a whole number",
                 "must not be negative", "not a boolean", "not a date", "is blank")
CROSS_MESSAGES = ("appears twice", "not in the invitation frame", "responded is false",
                  "disagrees with the contacts table", "wave not declared",
                  "account id unknown")


# ---------------------------------------------------------------------------------------------
# a small valid study as typed canonical frames

def _frames(n_contacts: int = 6, waves=(1, 2), seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    contacts, responses = [], []
    for w in waves:
        for i in range(n_contacts):
            responded = i < n_contacts - 1
            contacts.append({
                "wave": w, "contact_id": f"C{i:02d}", "account_id": f"A{i % 3}",
                "role": ["operational", "key decision maker"][i % 2], "responded": responded,
                "invited_on": dt.date(2020 + w, 3, 1 + i), "reminders": i % 3,
                "tenure_years": round(0.5 + 1.25 * i, 2),
                "confidential": bool(i % 2) if responded else None})
            if responded:
                row = {"wave": w, "contact_id": f"C{i:02d}"}
                row |= {it: int(v) for it, v in zip(ITEMS, rng.integers(1, 8, len(ITEMS)))}
                row["nps"] = int(rng.integers(0, 11))
                row["strengths"] = "good service"
                row["confidential"] = bool(i % 2)
                responses.append(row)
    accounts = pd.DataFrame({"account_id": ["A0", "A1", "A2"],
                             "industry": ["retail", "energy", "retail"]})
    return {"contacts": pd.DataFrame(contacts), "responses": pd.DataFrame(responses),
            "accounts": accounts}


def _text_cell(v, decimal: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return repr(float(v)).replace(".", decimal)
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()[:10]
    return str(v)


def _write(folder: Path, frames: dict[str, pd.DataFrame], dialect, waves) -> dict[str, str]:
    """Write the study; returns role -> file name. Cells that are str are written verbatim."""
    fmt, enc, sep, eol = dialect
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for role, frame in frames.items():
        name = f"{role}.{fmt}"
        if fmt == "csv":
            dec = "," if sep != "," else "."
            cells = frame.astype(object).map(lambda v: _text_cell(v, dec))
            data = cells.to_csv(sep=sep, index=False, lineterminator=eol).encode(enc)
            (folder / name).write_bytes(data)
        elif fmt == "xlsx":
            frame.astype(object).where(frame.notna(), None).to_excel(folder / name, index=False)
        else:
            frame.astype(object).map(lambda v: _text_cell(v, ".")).to_parquet(folder / name,
                                                                              index=False)
        names[role] = name
    cfg = {"study": "prop", "instrument": "crq", "files": names, "missing_codes": list(MISSING),
           "waves": {int(w): {"label": str(w), "confidentiality": "optional"} for w in waves}}
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return names


def _check_problem_shape(p) -> None:
    assert isinstance(p.file, str) and p.file
    assert isinstance(p.message, str) and p.message.strip()
    assert p.row is None or (isinstance(p.row, int) and p.row >= 1)
    if any(m in p.message for m in CELL_MESSAGES + CROSS_MESSAGES):
        assert p.column is not None and p.row is not None, p


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", "."))
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# 1. malformed cells

ROLES = ("contacts", "responses", "accounts")
value = st.one_of(
    text, letters,
    st.integers(-20, 30).map(str),
    st.floats(-50, 50, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["", " ", "n.a.", "Don't know", "seven", "5.5", "-1", "1e400", "nan",
                     "maybe", "31.02.2021", "TRUE", "0", "8", "11", '"', ";", ",", "\n"]))
injection = st.tuples(st.sampled_from(ROLES), st.integers(0, 10**6), st.integers(0, 10**6),
                      value)


@settings(max_examples=15, **SETTINGS)
@given(injections=st.lists(injection, min_size=1, max_size=6), dialect=DIALECTS)
def test_malformed_cells_are_reported_not_crashed(injections, dialect):
    frames = {k: v.astype(object) for k, v in _frames().items()}
    planted: dict[tuple[str, int, str], str] = {}
    for role, r, c, v in injections:
        f = frames[role]
        row, column = r % len(f), f.columns[c % f.shape[1]]
        f.iat[row, c % f.shape[1]] = v
        planted[(role, row, column)] = v
    first_row = 1 if dialect[0] == "parquet" else 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        names = _write(folder, frames, dialect, waves=(1, 2))
        role_of = {n: r for r, n in names.items()}
        try:
            load_study(folder)
            problems = []
        except ValidationError as exc:
            problems = exc.problems
            assert exc.truncated == 0
        except CrqlabError:
            return
    for p in problems:
        _check_problem_shape(p)
        if any(m in p.message for m in CELL_MESSAGES) and p.value is not None:
            # A cell's own value is at fault: it must be a cell we planted, found where we put it.
            key = (role_of[p.file], p.row - first_row, p.column)
            assert key in planted, (p, planted)
            assert p.value == planted[key].strip(), (p, planted[key])
    reported = {(p.file, p.column, p.row) for p in problems}
    for (role, row, column), v in planted.items():
        certain = column in ITEMS or column == "nps"
        s = v.strip()
        if not certain or not s or s.lower() in {m.lower() for m in MISSING}:
            continue
        lo, hi = (0, 10) if column == "nps" else (1, 7)
        wrong = (not _is_number(s)
                 or (s.lstrip("-").isdigit() and not lo <= int(s) <= hi))
        if wrong and s.lower() not in {"na", "n/a", "dk"}:
            assert (names[role], column, row + first_row) in reported, (v, problems)


# ---------------------------------------------------------------------------------------------
# 2. corrupted bytes

edit = st.tuples(st.sampled_from(["insert", "delete", "overwrite", "truncate"]),
                 st.integers(0, 10**6), st.binary(min_size=1, max_size=4))


@settings(max_examples=20, **SETTINGS)
@given(edits=st.lists(edit, min_size=1, max_size=4), dialect=DIALECTS,
       target=st.sampled_from(ROLES + ("study.yaml",)))
def test_corrupted_bytes_raise_only_crqlab_errors(edits, dialect, target):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        names = _write(folder, _frames(n_contacts=4), dialect, waves=(1, 2))
        path = folder / names.get(target, target)
        data = bytearray(path.read_bytes())
        for kind, pos, blob in edits:
            at = pos % (len(data) + 1)
            if kind == "insert":
                data[at:at] = blob
            elif kind == "delete":
                del data[at:at + len(blob)]
            elif kind == "overwrite":
                data[at:at + len(blob)] = blob
            else:
                del data[at:]
        path.write_bytes(bytes(data))
        try:
            load_study(folder)
        except ValidationError as exc:
            assert exc.problems or exc.truncated
            for p in exc.problems:
                _check_problem_shape(p)
        except CrqlabError:
            pass


# ---------------------------------------------------------------------------------------------
# 3. valid studies round-trip

item_value = st.one_of(st.integers(1, 7), st.none(), st.just("Don't know"))


@st.composite
def valid_study(draw):
    waves = draw(st.sampled_from([(1,), (1, 2), (2, 3, 5)]))
    n = draw(st.integers(1, 5))
    frames = _frames(n_contacts=n + 1, waves=waves, seed=draw(st.integers(0, 1000)))
    r = frames["responses"].astype(object)
    def column(strategy) -> pd.Series:  # object dtype: ints stay ints next to None
        return pd.Series([draw(strategy) for _ in range(len(r))], index=r.index, dtype=object)

    for it in draw(st.lists(st.sampled_from(ITEMS), max_size=5)):
        r[it] = column(item_value)
    r["nps"] = column(st.one_of(st.integers(0, 10), st.none()))
    r["strengths"] = column(text)
    c = frames["contacts"].astype(object)
    c["tenure_years"] = [draw(st.floats(0, 40).map(lambda x: round(x, 2))) for _ in range(len(c))]
    frames["responses"], frames["contacts"] = r, c
    return frames, waves


def _expected_numbers(col: pd.Series) -> pd.Series:
    return col.map(lambda v: v if isinstance(v, int) else pd.NA).astype("Int64")


@settings(max_examples=12, **SETTINGS)
@given(study=valid_study(), dialect=DIALECTS)
def test_valid_tables_round_trip(study, dialect):
    frames, waves = study
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp) / "s", frames, dialect, waves)
        s = load_study(Path(tmp) / "s")
    r, c = frames["responses"], frames["contacts"]
    assert len(s.responses) == len(r) and len(s.contacts) == len(c)
    for col in ITEMS + ["nps"]:
        pd.testing.assert_series_equal(s.responses[col], _expected_numbers(r[col]),
                                       check_names=False, check_index=False)
    want = r["strengths"].map(lambda t: t.strip() or pd.NA).astype("string")
    pd.testing.assert_series_equal(s.responses["strengths"], want, check_names=False)
    np.testing.assert_array_equal(s.contacts["tenure_years"].to_numpy(dtype=float),
                                  c["tenure_years"].to_numpy(dtype=float))
    assert s.contacts["responded"].tolist() == c["responded"].tolist()
    assert s.contacts["contact_id"].tolist() == c["contact_id"].tolist()
    assert s.waves == list(waves)
    assert (s.contacts["invited_on"].dt.date == c["invited_on"]).all()
    assert s.responses["confidential"].tolist() == r["confidential"].tolist()



# ---------------------------------------------------------------------------------------------
# 4. waves declared or not, in a column or fixed per file, in every table (issue 15)

WAVE_SOURCES = ("column", "none", "fixed")     # a wave column / no wave at all / one file a wave
ACCOUNTS = ("absent", "plain", "per_wave")     # no accounts / one row an account / a wave column
DECLARED = ("none", "all", "subset")           # waves: absent / both / only wave 1


def _wave_layout(folder: Path, frames: dict, contacts: str, responses: str, accounts: str,
                 declared: str) -> dict:
    """Write the study with each table's waves given as asked; returns study.yaml."""
    folder.mkdir(parents=True)
    files: dict = {}
    for role, how in (("contacts", contacts), ("responses", responses)):
        f = frames[role]
        if how == "column":
            f.to_csv(folder / f"{role}.csv", index=False)
            files[role] = f"{role}.csv"
        elif how == "none":
            f[f["wave"] == 1].drop(columns="wave").to_csv(folder / f"{role}.csv", index=False)
            files[role] = f"{role}.csv"
        else:
            files[role] = []
            for w in (1, 2):
                f[f["wave"] == w].drop(columns="wave").to_csv(folder / f"{role}_{w}.csv",
                                                              index=False)
                files[role].append({"file": f"{role}_{w}.csv", "wave": w})
    if accounts != "absent":
        a = frames["accounts"]
        if accounts == "per_wave":
            a = pd.concat([a.assign(wave=1), a.assign(wave=2)])
        a.to_csv(folder / "accounts.csv", index=False)
        files["accounts"] = "accounts.csv"
    cfg = {"study": "w", "files": files, "missing_codes": list(MISSING)}
    if declared != "none":
        cfg["waves"] = {w: {"label": str(w)} for w in ((1, 2) if declared == "all" else (1,))}
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return cfg


#: An orthogonal array L9(3^4): every pair of values of any two of the four dimensions is met.
PAIRWISE = [(0, 0, 0, 0), (0, 1, 1, 1), (0, 2, 2, 2), (1, 0, 1, 2), (1, 1, 2, 0), (1, 2, 0, 1),
            (2, 0, 2, 1), (2, 1, 0, 2), (2, 2, 1, 0)]


def _combos(exhaustive: bool):
    import itertools

    dims = (WAVE_SOURCES, WAVE_SOURCES, ACCOUNTS, DECLARED)
    if exhaustive:
        return list(itertools.product(*dims))
    return [tuple(d[i] for d, i in zip(dims, row)) for row in PAIRWISE]


def test_waves_in_every_pair_of_ways_give_an_error_message_or_a_correct_load():
    _check_wave_combinations(_combos(exhaustive=False))


@pytest.mark.slow
def test_waves_in_all_81_ways_give_an_error_message_or_a_correct_load():
    _check_wave_combinations(_combos(exhaustive=True))


def _check_wave_combinations(combos) -> None:
    frames = _frames(n_contacts=3, waves=(1, 2))
    written = frames["responses"].groupby("wave").size().to_dict()
    for combo in combos:
        contacts, responses, accounts, declared = combo
        with tempfile.TemporaryDirectory() as tmp:
            _wave_layout(Path(tmp) / "s", frames, *combo)
            error = None
            try:
                s = load_study(Path(tmp) / "s", cache=False)
            except ValidationError as exc:
                s, error = None, exc
                assert exc.problems, combo
                for p in exc.problems:
                    _check_problem_shape(p)
                assert any("wave" in f"{p.column} {p.message}" for p in exc.problems), combo
        valid = "none" not in (contacts, responses) and declared != "subset"
        assert (s is not None) == valid, (combo, str(error) if error else "loaded")
        if s is None:
            continue
        assert s.responses.groupby("wave").size().to_dict() == written, combo
        assert len(s.respondents()) == len(s.responses) and len(s.frame()) == len(s.contacts)
        assert "valid: no problems found" in s.summary()
