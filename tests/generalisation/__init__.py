"""Generalisation tests: the estimators of every study across generator structures
(``coverage.py``; the table of ``docs/generalisation.md`` is written by ``make_table.py``)."""
