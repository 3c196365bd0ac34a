"""crqlab.reports.engine: the executed notebook is written at its start and end only.

papermill's cell loop is stood in for by one that starts and completes every cell (as
papermill's nbclient wrapper does) and can fail part-way, so the saves are counted without a
kernel; ``tests/reports/test_kernels.py`` runs the engine on real kernels, including a timeout.
"""
from __future__ import annotations

import nbformat
import papermill as pm
import pytest
from papermill.engines import NBClientEngine

from crqlab.reports import engine


class Planted(RuntimeError):
    pass


def _cells(fail_at: int | None):
    """A stand-in for papermill's nbclient cell loop: every cell started, given an output and
    completed; at ``fail_at`` the cell raises instead (as a timeout or a dead kernel does)."""

    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        for i, cell in enumerate(nb_man.nb.cells):
            nb_man.cell_start(cell, i)
            if i == fail_at:
                raise Planted("kernel died")
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"cell {i}\n")]
            nb_man.cell_complete(cell, i)

    return classmethod(execute_managed_notebook)


def _notebook(cells: int) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"print('cell {i}')") for i in range(cells)]
    return nb


@pytest.fixture
def saves(monkeypatch):
    """Paths papermill's execution manager wrote, in order."""
    import papermill.engines as pe

    written: list[str] = []
    real = pe.write_ipynb

    def counting(nb, path):
        written.append(path)
        return real(nb, path)

    monkeypatch.setattr(pe, "write_ipynb", counting)
    return written


@pytest.mark.parametrize("name, expected", [
    (engine.engine_name, 2),        # before the first cell, after the last
    (lambda: "nbclient", 2 + 2 * 30),  # papermill's default: also before and after each cell
])
def test_saves_at_start_and_end_only(tmp_path, monkeypatch, saves, name, expected):
    monkeypatch.setattr(NBClientEngine, "execute_managed_notebook", _cells(fail_at=None))
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(_notebook(30), str(src))
    pm.execute_notebook(str(src), str(out), engine_name=name(), progress_bar=False)
    assert len(saves) == expected
    executed = nbformat.read(str(out), as_version=4)
    assert [c.outputs[0]["text"] for c in executed.cells] == [f"cell {i}\n" for i in range(30)]
    assert all(c.metadata.papermill["status"] == "completed" for c in executed.cells)


def test_a_notebook_that_stops_keeps_its_outputs_so_far(tmp_path, monkeypatch, saves):
    monkeypatch.setattr(NBClientEngine, "execute_managed_notebook", _cells(fail_at=3))
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(_notebook(6), str(src))
    with pytest.raises(Planted):
        pm.execute_notebook(str(src), str(out), engine_name=engine.engine_name(),
                            progress_bar=False)
    assert len(saves) == 2
    executed = nbformat.read(str(out), as_version=4)
    assert [len(c.outputs) for c in executed.cells] == [1, 1, 1, 0, 0, 0]
    assert executed.cells[3].metadata.papermill["status"] == "running"


def test_registering_again_keeps_one_engine():
    from papermill.engines import papermill_engines

    assert engine.engine_name() == engine.engine_name() == engine.ENGINE
    assert papermill_engines.get_engine(engine.ENGINE) is engine.SaveAtEndEngine
