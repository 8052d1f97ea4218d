# make run   : set up .venv, run the eight notebooks (smoke profile) and build the book from that run
# make test  : set up .venv and run the quick tests; make test-all: every test, as CI runs them
# Variables: DATA (a FER2013 path, kaggle, synthetic or auto), PROFILE (smoke, cpu, full),
#            BACKEND (tensorflow, jax), RUN_DIR, PYTHON (the interpreter that makes .venv)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= auto
PROFILE ?= smoke
RUN_DIR ?= runs/$(PROFILE)
BACKEND ?=

.PHONY: setup run test test-all book publish bench clean

# setuptools 77 reads pyproject's SPDX licence; the install tests build the wheel with this one.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77"
	$(BIN)/python -m pip install --quiet -e ".[dev,jax,opencv]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/ferlib run --profile $(PROFILE) --data $(DATA) --run-dir $(RUN_DIR) $(if $(BACKEND),--backend $(BACKEND))

# The quick tests (a few minutes); `make test-all` adds the slow ones that train models and run
# notebooks (most of an hour on a 2-core CPU), as CI does.
test: setup
	$(BIN)/python -m pytest -m "not slow"

test-all: setup
	$(BIN)/python -m pytest

# Rebuild the published book (book/results holds the executed notebooks of the published run).
book: setup
	$(BIN)/jupyter-book build book/ -W -n --keep-going --all

publish: setup
	$(BIN)/ferlib publish $(RUN_DIR)

bench: setup
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_augment.py
	$(BIN)/python benchmarks/bench_predict.py

clean:
	rm -rf book/_build runs/smoke
