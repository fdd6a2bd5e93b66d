# Two commands for a fresh machine: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Most tests wait on real processes (sandbox, server, worker): run them side by side.
PYTEST_WORKERS ?= 3

.PHONY: run test lint ci-services contracts contracts-check weasyprint-libs

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

## Set up and run the whole product (sandbox, web, worker, scheduler) with demo data.
run: $(VENV)/.runtime weasyprint-libs
	$(PY) manage.py run_product

## Debian's Pango and HarfBuzz for WeasyPrint's statement PDFs (installed only when missing).
WEASYPRINT_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
weasyprint-libs:
	ldconfig -p | grep -q libpangoft2-1.0.so.0 && ldconfig -p | grep -q libharfbuzz-subset.so.0 \
		|| (apt-get update -qq && apt-get install -y -qq $(WEASYPRINT_DEBS))

## Debian's Chromium for the browser tests (Playwright's own download does not work offline).
/usr/bin/chromium:
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

## Set up and run the whole test suite.
test: $(VENV)/.dev /usr/bin/chromium weasyprint-libs
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
