# crqlab - `make help` lists the commands. Every target installs the project into .venv first
# when it is missing, so a fresh clone needs nothing but python3 (3.10+).
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STUDY ?= data/raw/sample
export PYTHONHASHSEED := 0
# One BLAS thread per process: the runner and the tests already use one process per core, and
# small matrix work ran about 4x faster this way on a loaded 2-core machine.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dask]'
	touch $(STAMP)

.PHONY: help
help: ## list the commands
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: install
install: $(STAMP) ## create .venv and install crqlab with its dependencies

.PHONY: study
study: $(STAMP) ## run the sample study end to end -> reports/sample/index.html
	$(VENV)/bin/crqlab run $(STUDY)

.PHONY: test
test: $(STAMP) ## run the tests: unit, reference values, property tests, notebooks (not the slow ones)
	$(PY) -m pytest -q -m "not slow" tests --nbval-lax notebooks

.PHONY: test-slow
test-slow: $(STAMP) ## run the long simulation studies (coverage over many seeds)
	$(PY) -m pytest -q -m slow tests

.PHONY: lab
lab: $(STAMP) ## open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks

.PHONY: validate
validate: $(STAMP) ## validate a study folder (STUDY=data/raw/NAME)
	$(VENV)/bin/crqlab validate $(STUDY)

.PHONY: sample
sample: $(STAMP) ## regenerate data/raw/sample from the synthetic generator
	$(VENV)/bin/crqlab synth --preset sample --seed 2023 --out data/raw/sample --force

.PHONY: bench
bench: $(STAMP) ## run the benchmarks (prints ratios against in-process baselines)
	$(PY) benchmarks/run.py

.PHONY: clean
clean: ## remove reports and processed data (raw data is never touched)
	rm -rf reports/* data/processed/*
