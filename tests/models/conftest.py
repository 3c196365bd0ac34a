"""Fixtures of tests/models: the R reference values and data that test_association.py and
test_prediction.py share (made by tests/results/association/make_association.R; tests never
call R). A test module's own ``ref`` or ``study`` fixture takes precedence over these."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).parents[1] / "results" / "association"


@pytest.fixture(scope="module")
def ref():
    """association_ref.json: the values make_association.R printed."""
    return json.loads((HERE / "association_ref.json").read_text())


@pytest.fixture(scope="module")
def study():
    """study.csv: the study both R and these tests read."""
    return pd.read_csv(HERE / "study.csv")
