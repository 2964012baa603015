# Two promises (README): `make book` builds the book on the demo study from a fresh clone, and
# `make test` runs the tests; each installs what it needs. Installation is idempotent: the stamp file
# is newer than pyproject.toml after the first run, so a second run installs nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STUDY ?= data/studies/demo.yml
PYTEST_ARGS ?=

.PHONY: install book run test test-fast bench workshop notebooks chromium clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(PY) -m smlib book --study $(STUDY)

run: $(STAMP)
	$(PY) -m smlib run --study $(STUDY)

workshop: $(STAMP)
	$(PY) -m smlib run --study data/studies/workshop.yml

test: $(STAMP) chromium
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py

notebooks: $(STAMP)
	$(PY) tools/nb.py build

chromium:
	@command -v chromium >/dev/null 2>&1 || bash tools/ensure_chromium.sh

clean:
	rm -rf _build book/chapters data/runs
