# DDMS: the two commands a new user needs.
#   make run   - virtual environment, install, migrate, start on SQLite with the built-in simulator
#   make test  - install test dependencies and run the whole suite (SQLite, PostgreSQL, UI, browser)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
SIM_PORT ?= 5020
export DDMS_DATA_DIR ?= ./data

.PHONY: run test install lint unit pages e2e bench clean help chromium

help:
	@echo "make run    start DDMS on http://$(HOST):$(PORT) (SQLite + simulator)"
	@echo "make test   run every test (needs PostgreSQL on 127.0.0.1:5432 and Chromium)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ddms migrate
	COOKIE_SECURE=$${COOKIE_SECURE:-false} SIMULATOR_PORT=$(SIM_PORT) $(BIN)/ddms serve --host $(HOST) --port $(PORT) --simulator

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Browser tests (tests/e2e, tests/security/browser) run only in `e2e`, NiceGUI page tests only in `pages`.
unit: $(STAMP)
	$(BIN)/pytest tests --ignore=tests/pages --ignore=tests/e2e --ignore=tests/security/browser -q

pages: $(STAMP)
	$(BIN)/pytest -p nicegui.testing.user_plugin tests/pages -q

e2e: $(STAMP) chromium
	$(BIN)/pytest tests/e2e tests/security/browser -q

test: lint unit pages e2e

bench: $(STAMP)
	$(BIN)/python benchmarks/collector.py
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/alarms.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
