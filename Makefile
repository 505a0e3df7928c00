# The two commands of the README: `make run` serves ctibridge with the embedded simulator,
# `make test` runs every check. Both work on a fresh machine: they create .venv and install
# what they need first (Python packages, npm packages, Debian's chromium).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8765

.PHONY: run test lint typecheck unit deps sysdeps clean bench fuzz

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

deps: $(STAMP)

# Debian packages the browser tests need (Playwright's own browser download does not work here).
sysdeps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: $(STAMP)
	$(BIN)/ctibridge serve --host $(HOST) --port $(PORT) --backend sim

LINTED  := $(wildcard src tests bench)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/

unit: $(STAMP)
	$(BIN)/pytest -q

test: $(STAMP) lint typecheck unit

# The benchmark (docs/performance.md): the hub against a bare echo server on the same stack, run
# side by side; writes bench/results/latest.json, the figures and the report's numbers (<10 min).
# JOURNAL picks the "journal on" journal (memory, or sqlite[:PATH] where the build has one).
JOURNAL ?= memory
bench: $(STAMP)
	$(BIN)/python -m bench.run --out bench/results --journal $(JOURNAL)
	$(BIN)/python -m bench.report bench/results/latest.json --doc docs/performance.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
