# The two Quick start commands: `make run` and `make test`. Each builds .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= examples/upstate.yaml

.PHONY: run check test lint check-types contracts pytest bench bench-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# axe-core for the browser tests (npm); without npm those tests skip, saying why.
BROWSER_DEPS := tests/browser/node_modules/.installed-stamp
$(BROWSER_DEPS): tests/browser/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --prefix tests/browser --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the accessibility checks of the browser tests will skip"; fi

# Serve the example on SQLite at http://127.0.0.1:8080, with its heartbeat job beside it.
run: $(STAMP)
	@examples/heartbeat.sh & hb=$$!; trap 'kill $$hb 2>/dev/null' EXIT INT TERM; \
	$(BIN)/upstate serve --config $(CONFIG)

# Every probed monitor of the example once, as a table (no server needed).
check: $(STAMP)
	$(BIN)/upstate check --config $(CONFIG) || test $$? -ne 2

test: lint check-types contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

check-types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) $(BROWSER_DEPS)
	$(BIN)/pytest

# What the benchmarks measure against (Debian packages; their services are not started).
bench-deps:
	@command -v nginx >/dev/null && command -v wrk >/dev/null && \
	  command -v prometheus-blackbox-exporter >/dev/null || { \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	  apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light prometheus-blackbox-exporter wrk >/dev/null; \
	  rm -f /usr/sbin/policy-rc.d; }

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache
