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

pytest: $(STAMP)
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
