"""crqlab.paths: the path constants and the study folder a notebook parameter names."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from crqlab import paths
from crqlab.data.study import load_study

DEFAULT = "../data/raw/sample"  # the notebooks' default study_dir


@pytest.fixture
def chdir():
    here = Path.cwd()
    yield os.chdir
    os.chdir(here)


def test_constants_sit_in_the_repository():
    assert paths.PACKAGE_DIR == paths.REPO_ROOT / "crqlab"
    assert paths.NOTEBOOKS_DIR.is_dir() and paths.SAMPLE_STUDY.parent == paths.DATA_RAW


def test_notebook_default_resolves_from_the_repository_root(chdir):
    chdir(paths.REPO_ROOT)
    assert not Path(DEFAULT).exists()
    assert paths.resolve_study_dir(DEFAULT) == paths.SAMPLE_STUDY.resolve()
    assert load_study(DEFAULT, cache=False).name == "sample"


def test_notebook_default_is_kept_from_the_notebooks_folder(chdir):
    chdir(paths.NOTEBOOKS_DIR)
    assert paths.resolve_study_dir(DEFAULT) == Path(DEFAULT)


def test_absolute_existing_and_missing_paths_are_returned_as_given(chdir, tmp_path):
    chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    assert paths.resolve_study_dir(paths.SAMPLE_STUDY) == paths.SAMPLE_STUDY
    assert paths.resolve_study_dir("mine") == Path("mine")
    assert paths.resolve_study_dir("../data/raw/nowhere") == Path("../data/raw/nowhere")
