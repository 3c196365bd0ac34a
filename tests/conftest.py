"""Shared test helpers: a small valid study written to a temporary folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from crqlab.data.instruments import load_instrument
from crqlab.reports import kernels

_NOTEBOOK_TESTS = Path(__file__).resolve().parent / "notebooks"


def _in_notebook_tests(item) -> bool:
    return item is not None and _NOTEBOOK_TESTS in Path(str(item.fspath)).resolve().parents


def pytest_runtest_teardown(item, nextitem):
    """The notebook tests share this process's warm kernel (tests/notebook_execution.py); it is
    killed once the next test is elsewhere, so no other test sees it."""
    if _in_notebook_tests(item) and not _in_notebook_tests(nextitem):
        kernels.shutdown_all()


def build_study_frames(n_accounts: int = 4, n_contacts: int = 20, waves=(1,), seed: int = 1):
    """Small canonical contacts / responses / accounts frames (valid by construction)."""
    rng = np.random.default_rng(seed)
    items = load_instrument("crq").items
    contacts, responses = [], []
    for w in waves:
        for i in range(n_contacts):
            responded = i < int(0.75 * n_contacts)
            contacts.append({"wave": w, "contact_id": f"C{i:03d}", "account_id": f"A{i % n_accounts}",
                             "role": ["operational", "key decision maker"][i % 2],
                             "responded": responded, "newly_included": i % 5 == 0,
                             "confidential": i % 3 == 0 if responded else None,
                             "contact_name": f"Person {i}", "contact_email": f"p{i}@example.com"})
            if responded:
                row = {"wave": w, "contact_id": f"C{i:03d}"}
                row |= {it: int(rng.integers(3, 8)) for it in items}
                row["nps"] = int(rng.integers(4, 11))
                row["strengths"] = "good service"
                responses.append(row)
    accounts = pd.DataFrame({"account_id": [f"A{a}" for a in range(n_accounts)],
                             "account_name": [f"Account {a}" for a in range(n_accounts)],
                             "industry": ["retail", "energy"] * (n_accounts // 2) + ["retail"] * (n_accounts % 2)})
    return pd.DataFrame(contacts), pd.DataFrame(responses), accounts


def write_study(folder: Path, contacts: pd.DataFrame, responses: pd.DataFrame,
                accounts: pd.DataFrame | None = None, config: dict | None = None,
                fmt: str = "csv") -> Path:
    """Write frames and a study.yaml into ``folder`` (CSV by default, or xlsx / parquet)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    tables = {"contacts": contacts, "responses": responses, "accounts": accounts}
    for role, frame in tables.items():
        if frame is None:
            continue
        name = f"{role}.{fmt}"
        if fmt == "csv":
            frame.to_csv(folder / name, index=False)
        elif fmt == "xlsx":
            frame.to_excel(folder / name, index=False)
        else:
            frame.to_parquet(folder / name, index=False)
        files[role] = name
    cfg = {"study": folder.name, "client": "Test client", "instrument": "crq", "files": files,
           "waves": {int(w): {"label": str(2020 + int(w)), "confidentiality": "optional"}
                     for w in sorted(contacts["wave"].unique())}}
    cfg |= config or {}
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return folder


def notebook_errors(nb) -> list[str]:
    """Error outputs and tracebacks anywhere in an executed notebook (``cell i: ...``)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                found.append(f"cell {i}: {o.ename}: {o.evalue}")
            elif o.output_type == "stream" and "Traceback" in o.text:
                found.append(f"cell {i}: traceback in {o.name}")
    return found


@pytest.fixture
def small_study(tmp_path) -> Path:
    """A valid two-wave study folder in CSV."""
    return write_study(tmp_path / "small", *build_study_frames(waves=(1, 2)))
