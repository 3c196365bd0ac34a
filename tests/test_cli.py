"""The ``crqlab`` command line (crqlab.cli): validate, help, errors without tracebacks."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from crqlab.cli import build_parser, main

CORPUS = Path(__file__).resolve().parent / "malformed"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "crqlab.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=env)


def test_validate_good_study_exits_0_and_prints_the_summary(small_study, capsys):
    assert main(["validate", str(small_study)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "study 'small'" in out
    assert "instrument crq (18 items, scale 1-7)" in out
    assert "contacts: contacts.csv (encoding 'utf-8', delimiter ',')" in out
    # conftest's study: 20 contacts per wave, 75% responded
    assert "wave 1 (2021): 20 invited, 15 responded (75.0%)" in out
    assert "wave 2 (2022): 20 invited, 15 responded (75.0%)" in out
    assert "30 responses" in out
    assert out.rstrip().endswith("valid: no problems found")


def test_validate_bad_study_exits_2_and_lists_problems_without_traceback():
    proc = _run("validate", str(CORPUS / "crq_item_0_and_8"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("crqlab validate: error: 2 problem(s) in the study data:")
    assert ("responses.csv, column 'Trust 2 (trust_2)', row 3: off the 1-7 scale (value '0')"
            in proc.stderr)
    assert ("responses.csv, column 'Customer care (customer_care)', row 12: off the 1-7 scale "
            "(value '8')" in proc.stderr)


@pytest.mark.parametrize("case", ["missing_study_yaml", "empty_file", "duplicate_header",
                                  "ragged_row", "xlsx_export", "unknown_instrument"])
def test_validate_reports_every_kind_of_bad_input_as_exit_2(case, capsys):
    assert main(["validate", str(CORPUS / case)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("crqlab validate: error: ")
    assert "Traceback" not in err


def test_validate_of_a_folder_that_does_not_exist(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    assert "no study.yaml" in capsys.readouterr().err


def test_module_help_lists_the_commands():
    proc = _run("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: crqlab")
    for command in ("validate", "synth", "init", "run", "power"):
        assert command in proc.stdout
    sub = _run("validate", "--help")
    assert sub.returncode == 0 and "study_dir" in sub.stdout


def test_help_is_plain_text():
    text = build_parser().format_help()
    for markup in ("``", ":func:", ":class:", "crqlab.", "__"):
        assert markup not in text, markup
    assert text.splitlines()[2].startswith("crqlab: NPS and CRQ studies")
    assert "examples:" in text and "crqlab run data/raw/sample" in text


def test_usage_errors_exit_2_with_argparse_message(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "required: command" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2


def test_version_and_console_script():
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("crqlab") == "crqlab.cli:main"


def test_synth_names_studies_by_folder_or_preset_and_seed(tmp_path):
    """A batch of seeds is a batch of distinct studies (issue 21, item 5)."""
    import yaml

    from crqlab.cli import synth_study_name

    assert synth_study_name(Path("data/raw/sample"), "sample", 2023) == "sample"
    assert synth_study_name(Path("runs/2024-b"), "company-a", 7) == "company_a_seed_7"
    names = []
    for seed in (1, 2):
        out = tmp_path / f"seed-{seed}"
        assert main(["synth", "--preset", "sample", "--seed", str(seed), "--out", str(out)]) == 0
        names.append(yaml.safe_load((out / "study.yaml").read_text())["study"])
    assert names == ["sample_seed_1", "sample_seed_2"]
    assert main(["synth", "--seed", "1", "--name", "2bad name", "--out",
                 str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
