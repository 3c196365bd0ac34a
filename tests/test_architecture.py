"""The layers of docs/architecture.md, kept honest by import-linter's contracts in pyproject.toml."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import crqlab

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("data", "measures", "models", "studies", "reports", "synth")


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_every_module_sits_in_a_layer_or_the_foundation():
    foundation = {"errors", "paths", "files", "stats", "parallel", "interrupt", "formatting", "cli"}
    top = {m.name for m in pkgutil.iter_modules(crqlab.__path__)}
    assert top == foundation | set(LAYERS), sorted(top ^ (foundation | set(LAYERS)))


def test_each_package_module_has_a_test_module():
    """Tests mirror modules one to one: crqlab/<layer>/<m>.py -> tests/<layer>/test_<m>.py."""
    missing = []
    for layer in ("data", "measures", "models", "studies", "reports"):
        pkg = importlib.import_module(f"crqlab.{layer}")
        for m in pkgutil.iter_modules(pkg.__path__):
            if not (ROOT / "tests" / layer / f"test_{m.name}.py").is_file():
                missing.append(f"crqlab.{layer}.{m.name}")
    assert not missing, missing
