"""The papermill engine of ``crqlab run``: the executed notebook is written when it starts and
when it ends, not after every cell.

papermill's default engine saves the whole executed notebook before and after every cell, so
that a notebook followed in an editor shows its progress. A study notebook has 50-60 cells and
its figures' PNGs are in the file, so those saves were about 370 JSON serialisations and schema
validations for a sample study's seven notebooks: 3.9 s of the run's worker process, spent
while its kernel waited for the next cell (issue 21). ``crqlab run`` writes its pages only
once a notebook ended, and a run's staging folder is published or removed as a whole, so
nobody reads those intermediate files.

:class:`SaveAtEndEngine` is papermill's own nbclient engine (papermill's plugin interface for
engines) with the saves between cells left out. The notebook is still written before its first
cell and, in papermill's ``finally``, after its last, so a notebook that failed, timed out or
lost its kernel keeps its executed copy, with every output up to the failure, as before. The
executed notebook is the same object papermill writes at the end either way, so its content
and the ``results.json`` a notebook records are unchanged.

Notes
-----
``tests/reports/test_engine.py`` checks that the engine writes the notebook twice for a run of
many cells (papermill's own engine: twice per cell more), and that a notebook stopped part-way
keeps the outputs of the cells before it; ``tests/reports/test_kernels.py`` checks the same
after a real timeout, and that warm and cold runs give the same ``results.json``. Measured in
``benchmarks/bench_warm.py``.
"""
from __future__ import annotations

from papermill.engines import NBClientEngine, papermill_engines

__all__ = ["ENGINE", "SaveAtEndEngine", "engine_name"]

#: The name ``crqlab run`` registers its engine under (papermill's ``engine_name``).
ENGINE = "crqlab"


class SaveAtEndEngine(NBClientEngine):
    """papermill's nbclient engine, saving the executed notebook only at its start and end."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        output_path, nb_man.output_path = nb_man.output_path, None  # no save between cells
        try:
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
        finally:
            nb_man.output_path = output_path  # papermill's notebook_complete saves next


def engine_name() -> str:
    """Register :class:`SaveAtEndEngine` with papermill and return its name, for
    ``papermill.execute_notebook(..., engine_name=engine_name())``. Registering again is
    harmless (papermill keeps one engine per name)."""
    papermill_engines.register(ENGINE, SaveAtEndEngine)
    return ENGINE
