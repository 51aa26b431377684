# `make test` on a fresh machine: creates the virtualenv, installs pinned dependencies, runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed

.PHONY: plan test lint lint-migrations bench clean

# The main job on a fresh machine, offline: the staging stack's resources and rollback budget.
plan: $(INSTALLED)
	$(BIN)/python -m ops plan staging

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# asl-validator, for the state machine definitions.
$(NODE_INSTALLED): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rollbacks don't roll back databases: every migration must be backward compatible.
lint-migrations: $(INSTALLED)
	$(BIN)/squawk migrations/*.sql

test: lint $(NODE_INSTALLED)
	$(BIN)/python -m pytest

# Figures, not pass/fail: never part of `make test`.
bench: $(INSTALLED)
	$(BIN)/python benchmarks/hook_import.py
	$(BIN)/python benchmarks/smoke_parallel.py

clean:
	rm -rf $(VENV) node_modules
