# One command per task; .ci/run calls `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup demo test lint typecheck security check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/steward demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

security: setup
	$(BIN)/bandit -q -r modelsteward flows tasks deployments --severity-level high

check: lint typecheck security

test: check
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks

lock: $(BIN)/python
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra test pyproject.toml -o requirements.lock

clean:
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
