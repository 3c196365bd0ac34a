"""Layer 1, data: from the files a client delivers to a validated :class:`~crqlab.data.study.Study`.

Readers of raw exports (:mod:`~crqlab.data.readers`), survey platforms' layouts
(:mod:`~crqlab.data.platforms`), study.yaml's import rules (:mod:`~crqlab.data.rules`), study
loading and the data contract
(:mod:`~crqlab.data.study`), instruments as data (:mod:`~crqlab.data.instruments`), data-quality
checks (:mod:`~crqlab.data.quality`), privacy rules (:mod:`~crqlab.data.privacy`) and the
``crqlab init`` draft of study.yaml (:mod:`~crqlab.data.draft_study`). Imports only the
foundation modules (errors, paths, files, stats, parallel).
"""
