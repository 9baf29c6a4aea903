# seats: `make run` starts the local stack, `make test` runs the suite. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PAYMENTS ?= sandbox
export SAM_CLI_TELEMETRY := 0

.PHONY: install tools chromium run test fuzz bench lint build clean
FUZZ_EXAMPLES ?= 100

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# localstripe and aws-sam-cli pin versions of aiohttp / boto3 / pydantic that clash with ours:
# each gets a virtualenv of its own.
.venv-localstripe/.installed:
	$(PYTHON) -m venv .venv-localstripe
	.venv-localstripe/bin/pip install --quiet --upgrade pip
	.venv-localstripe/bin/pip install --quiet -r infra/localstripe-requirements.txt
	touch $@

.venv-sam/.installed:
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install --quiet --upgrade pip
	.venv-sam/bin/pip install --quiet "aws-sam-cli>=1.120"
	touch $@

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser of its own).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

tools: install .venv-localstripe/.installed chromium

run: install $(if $(filter stripe,$(PAYMENTS)),.venv-localstripe/.installed)
	SEATS_PAYMENTS=$(PAYMENTS) $(BIN)/seats-local start

test: tools
	$(BIN)/pytest -q -n 2 --timeout 300

# Schemathesis with a larger budget (make test runs 5 valid + 5 invalid cases per operation).
fuzz: install
	SEATS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SEATS_LEDGER_EXAMPLES=2000 $(BIN)/pytest -q -n 2 --timeout 1800 tests/reliability/test_fuzz.py tests/reliability/test_ledger_model.py

# Cold starts, DynamoDB requests, warm latency and renewal at scale; writes BENCHMARKS.md and bench/results.json.
bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m infra.openapi --check

build: install .venv-sam/.installed
	$(BIN)/cfn-lint template.yaml
	.venv-sam/bin/sam validate --lint
	.venv-sam/bin/sam build
	$(BIN)/python -m infra.bytecode .aws-sam/build

clean:
	rm -rf $(VENV) .venv-localstripe .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache
