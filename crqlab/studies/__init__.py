"""Layer 4, studies: one module per research question, the logic a study notebook calls.

Each module decides what a study's data allow (design, model, which comparisons can run and
why not) and words its findings; the notebooks only load, call, show and record. Studies are
independent of each other (an import-linter contract keeps them so). Imports models, measures,
data and foundation.
"""
