# `make plan` and `make test` on a fresh machine: each creates the virtualenv and installs the
# locked set it needs (requirements/*.txt, from pyproject.toml by `make lock`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# What the stacks and `plan` need; the test and lint tools on top of it.
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev
NODE_INSTALLED := node_modules/.installed
COMPILE := $(BIN)/pip-compile --quiet --allow-unsafe --no-header --no-emit-index-url --no-emit-find-links --strip-extras

.PHONY: plan test lint lint-migrations bench lock schema clean

# The main job on a fresh machine, offline: the staging stack's resources and rollback budget.
plan: $(RUNTIME)
	$(BIN)/python -m ops plan staging

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): requirements/runtime.txt | $(BIN)/python
	$(PIP) -r requirements/runtime.txt
	touch $@

$(DEV): requirements/dev.txt | $(BIN)/python
	$(PIP) -r requirements/dev.txt
	touch $@

# asl-validator, for the state machine definitions.
$(NODE_INSTALLED): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Rollbacks don't roll back databases: every migration must be backward compatible.
lint-migrations: $(DEV)
	$(BIN)/squawk migrations/*.sql

# Both cores: pytest-xdist runs the suite in two worker processes, each with its own mocks and
# loopback servers.
test: lint $(NODE_INSTALLED)
	$(BIN)/python -m pytest -n 2

# Figures, never an exit code: never part of `make test`. detection.py prints the detection model's
# grid (static alarms, judge, judge with probes) and the issue's goals, PASS or FAIL (about a minute
# on two cores).
bench: $(DEV)
	$(BIN)/python benchmarks/hook_import.py
	$(BIN)/python benchmarks/smoke_parallel.py
	$(BIN)/python benchmarks/detection.py
	$(BIN)/python benchmarks/plan_speed.py

# Re-resolve the locks after a change to pyproject.toml's dependencies (pins already there are kept).
lock: $(DEV)
	$(COMPILE) --all-extras -o requirements/dev.txt pyproject.toml
	$(COMPILE) --extra vpc --extra plan --extra stacks -c requirements/dev.txt -o requirements/runtime.txt pyproject.toml

# The stack files' JSON Schema, from settings.py's models (a test keeps it current).
schema: $(RUNTIME)
	$(BIN)/python settings.py > stack.schema.json

clean:
	rm -rf $(VENV) node_modules
