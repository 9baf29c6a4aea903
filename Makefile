# seats: `make run` starts the local stack, `make test` runs the suite. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PAYMENTS ?= sandbox

.PHONY: install run test lint fuzz bench build clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

run: install
	SEATS_PAYMENTS=$(PAYMENTS) $(BIN)/seats-local start

test: install
	$(BIN)/pytest -q -n 2 --timeout 300

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
