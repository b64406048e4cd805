# DDMS: the two commands a new user needs.
#   make run   - virtual environment, install, migrate, start on SQLite with the built-in simulator
#   make test  - add the test dependencies, lint, run the whole suite (SQLite, PostgreSQL, UI, browser)
#                and print the combined coverage of ddms, collector and pages

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: running needs only the package, testing adds the [test] extras on top.
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Each test run writes its own coverage data files (.coverage.*); `coverage` combines them at the end.
# Measuring costs CPU (about +75 % on the unit tests, little wall time on a loaded machine); for a quick
# local run without it: make unit COVERAGE='.venv/bin/python -m'
COVERAGE ?= $(BIN)/coverage run -p -m
# Test processes per run (pytest-xdist). CI has 2 cores; measured on them (quiet, with coverage):
# pages 2:30 on 2 workers, 1:42 on 3; browser tests 3:03-4:00 on 2, 3:00 on 3 (they wait on Chromium
# and on their servers). Tests that share an expensive fixture carry pytest.mark.xdist_group and run
# on one worker.
JOBS   ?= 3
# The unit tests wait on servers, sockets and subprocesses between their CPU work: 4 workers keep both
# cores busy (10-11 min on 3 workers, 7:50 on 4).
UNIT_JOBS ?= 4
HOST   ?= 127.0.0.1
PORT   ?= 8000
SIM_PORT ?= 5020
export DDMS_DATA_DIR ?= ./data

.PHONY: run test install install-test lint unit pages e2e coverage-start coverage bench clean help chromium timescaledb screenshots

help:
	@echo "make run    start DDMS on http://$(HOST):$(PORT) (SQLite + simulator)"
	@echo "make test   run every test (needs PostgreSQL on 127.0.0.1:5432 and Chromium; TimescaleDB on 5433 is set up as root)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(TEST_STAMP)

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/ddms migrate
	COOKIE_SECURE=$${COOKIE_SECURE:-false} SIMULATOR_PORT=$(SIM_PORT) $(BIN)/ddms serve --host $(HOST) --port $(PORT) --simulator

lint: $(TEST_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The tests' timescaledb backend: a second cluster on 5433 with TimescaleDB from ../shared/timescaledb
# (a one-line no-op where that is missing; the TimescaleDB tests then skip, or fail with CI=true).
timescaledb:
	@.ci/timescaledb.sh

# Browser tests (tests/e2e, tests/security/browser) run only in `e2e`, NiceGUI page tests only in `pages`.
unit: $(TEST_STAMP) timescaledb
	$(COVERAGE) pytest tests --ignore=tests/pages --ignore=tests/e2e --ignore=tests/security/browser -q --durations=15 -n $(UNIT_JOBS)

pages: $(TEST_STAMP) timescaledb
	$(COVERAGE) pytest -p nicegui.testing.user_plugin tests/pages -q -n $(JOBS)

e2e: $(TEST_STAMP) chromium timescaledb
	$(COVERAGE) pytest tests/e2e tests/security/browser -q -n $(JOBS) --dist loadgroup

# The README's screenshots, taken by the browser tests; the CJK font draws the Chinese labels.
screenshots: $(TEST_STAMP) chromium
	@fc-list | grep -qi "noto.*cjk" || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; }
	DDMS_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e/test_screenshots.py -q

# Old data files would mix an earlier run into the report.
coverage-start: $(TEST_STAMP)
	$(BIN)/coverage erase

coverage: $(TEST_STAMP)
	@$(BIN)/coverage combine -q
	$(BIN)/coverage report

# Sequential even under `make -j`: each step needs the one before (the report needs every run's data).
test:
	$(MAKE) lint
	$(MAKE) coverage-start
	$(MAKE) unit
	$(MAKE) pages
	$(MAKE) e2e
	$(MAKE) coverage

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/collector.py
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/alarms.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.*
