"""Layer 2, measures: scores computed from a study's answers.

NPS (:mod:`~crqlab.measures.nps`), CRQ element, facet and index scores
(:mod:`~crqlab.measures.scoring`), reliability (:mod:`~crqlab.measures.reliability`),
relationship categories (:mod:`~crqlab.measures.categories`) and norms
(:mod:`~crqlab.measures.norms`). Imports the data layer and the foundation modules.
"""
