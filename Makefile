# `make test` on a fresh machine: creates the virtualenv, installs pinned dependencies, runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: test lint bench clean

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# Figures, not pass/fail: never part of `make test`.
bench: $(INSTALLED)
	$(BIN)/python benchmarks/hook_import.py

clean:
	rm -rf $(VENV)
