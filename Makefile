# Two commands for a fresh machine: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Most tests wait on real processes (sandbox, server, worker): run them side by side.
PYTEST_WORKERS ?= 3

.PHONY: run test lint ci-services contracts contracts-check

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

## Set up and run the whole product (sandbox, web, worker, scheduler) with demo data.
run: $(VENV)/.runtime
	$(PY) manage.py run_product

## Debian's Chromium for the browser tests (Playwright's own download does not work offline).
/usr/bin/chromium:
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

## Set up and run the whole test suite.
test: $(VENV)/.dev /usr/bin/chromium
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) contracts/build.py --check
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

## Compile the sandbox chain's contracts (contracts/*.vy) into contracts/build/ (commit the result).
contracts: $(VENV)/.dev
	$(PY) contracts/build.py

## Fail if contracts/build/ is not what the pinned compiler makes of contracts/*.vy.
contracts-check: $(VENV)/.dev
	$(PY) contracts/build.py --check
