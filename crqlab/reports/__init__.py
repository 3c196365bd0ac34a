"""Layer 5, reports: running notebooks and turning their results into reviewer pages.

``crqlab run`` (:mod:`~crqlab.reports.runner`, :mod:`~crqlab.reports.batch`), results recording
(:mod:`~crqlab.reports.results`), HTML rendering (:mod:`~crqlab.reports.rendering`, with
``templates/``), plots (:mod:`~crqlab.reports.plotting`, :mod:`~crqlab.reports.pathdiagram`).
May import every layer below it.
"""
