"""Layer 3, models: the statistical models the research questions are answered with.

Structural equation models (:mod:`~crqlab.models.sem`) and construct validity
(:mod:`~crqlab.models.validity`); confidentiality-bias estimators (:mod:`~crqlab.models.bias`);
non-response analysis (:mod:`~crqlab.models.nonresponse`) and weighting
(:mod:`~crqlab.models.weighting`); NPS/CRQ association (:mod:`~crqlab.models.association`) and
retention prediction (:mod:`~crqlab.models.prediction`); PLS path modelling and the
importance-performance map (:mod:`~crqlab.models.pls`). Imports measures, data and foundation.
"""
