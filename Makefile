# The two commands of the README: `make run` serves ctibridge with the embedded simulator,
# `make test` runs every check. Both work on a fresh machine: they create .venv and install
# what they need first (Python packages, npm packages, Debian's chromium).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8765

.PHONY: run test lint typecheck unit deps sysdeps clean bench fuzz bridge-check oldest

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[connect,test,bench,cluster]'
	touch $(STAMP) $(SERVE_STAMP)

# `make run` needs only the package and its runtime dependencies (no test or bench tools, no npm
# packages: the simulator serves no Streams library); pip prints each package as it installs it.
SERVE_STAMP := $(VENV)/.installed-serve
$(SERVE_STAMP): pyproject.toml
	@echo "ctibridge: first run - creating .venv and installing what serving needs"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --progress-bar on -e .
	touch $(SERVE_STAMP)

# The Streams bridge: amazon-connect-streams (pinned in bridge/package-lock.json) is served by the
# hub from a copy beside the bridge page, never from a CDN; typescript type-checks bridge.js.
NPM_STAMP := bridge/node_modules/.installed
STREAMS_BUNDLE := src/ctibridge/static/bridge/vendor/connect-streams-min.js

$(NPM_STAMP): bridge/package.json bridge/package-lock.json
	cd bridge && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

$(STREAMS_BUNDLE): $(NPM_STAMP)
	mkdir -p $(dir $@)
	cp bridge/node_modules/amazon-connect-streams/release/connect-streams-min.js $@

# axe-core (pinned in tests/browser/axe/package-lock.json): the browser tests run it in the page
AXE_STAMP := tests/browser/axe/node_modules/.installed
$(AXE_STAMP): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	cd tests/browser/axe && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(AXE_STAMP)

deps: $(STAMP) $(STREAMS_BUNDLE) $(AXE_STAMP)

# fails when bridge.js calls a Streams method the package's own type definitions do not declare,
# or when the toolbar's scripts misuse the DOM (bridge/tsconfig.toolbar.json, the same typescript)
bridge-check: $(NPM_STAMP)
	bridge/node_modules/.bin/tsc -p bridge/tsconfig.json
	bridge/node_modules/.bin/tsc -p bridge/tsconfig.toolbar.json

# Debian packages the browser and cluster tests need (Playwright's own browser download does not work here).
# The browser tests launch /usr/bin/chromium (root installs directly, others through sudo).
sysdeps:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x /usr/bin/redis-server || { \
	  echo "installing Debian's redis-server (the cluster tests start their own)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# --insecure: no tokens, for a demo on this machine only (refused on a non-loopback HOST);
# the journal under var/ (gitignored) lets apps resume across restarts of `make run`.
JOURNAL_DB ?= var/journal.db
run: $(SERVE_STAMP)
	$(BIN)/ctibridge serve --host $(HOST) --port $(PORT) --backend sim --insecure --journal $(JOURNAL_DB)

LINTED  := $(wildcard src tests bench)

lint: $(STAMP) bridge-check
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# The tests import each other as pytest puts them on sys.path: `support.*`, `livehub` from tests/,
# and in these folders their own helpers by bare name (`e2e_support`, `toolbar_page`, ...). mypy
# is given the same roots, one pass per such folder (each has its own `conftest`), so those
# imports are checked, not Any.
TESTS_OWN_ROOT := e2e browser engine cluster fuzz conformance
TESTS_FOLDERS := $(sort $(foreach f,$(wildcard tests/*/*.py tests/*/*/*.py),$(word 2,$(subst /, ,$(f)))))
TESTS_SHARED_ROOT := $(addprefix tests/,$(filter-out $(TESTS_OWN_ROOT),$(TESTS_FOLDERS))) \
	$(wildcard tests/*.py)

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/
	MYPYPATH=tests $(BIN)/mypy --config-file tests/mypy.ini $(sort $(TESTS_SHARED_ROOT))
	for d in $(TESTS_OWN_ROOT); do \
	  MYPYPATH=tests/$$d:tests $(BIN)/mypy --config-file tests/mypy.ini tests/$$d || exit 1; done

# no sudo here: `make test` (or `make sysdeps`) installs the Debian packages the browser tests need
unit: $(STAMP) $(STREAMS_BUNDLE) $(AXE_STAMP)
	$(BIN)/pytest -q

# The lower end of the uvicorn range pyproject.toml allows, under the hub and end-to-end tests
# (hub/transport.py builds on uvicorn's internals): installed beside .venv, first on the path.
UVICORN_OLDEST := $(shell sed -n 's/.*"uvicorn\[standard\]>=\([0-9.]*\),.*/\1/p' pyproject.toml)
oldest: $(STAMP)
	$(BIN)/pip install -q --no-deps --target var/uvicorn-oldest 'uvicorn==$(UVICORN_OLDEST)'
	PYTHONPATH=var/uvicorn-oldest $(BIN)/python -c \
	  "import sys, uvicorn; from packaging.version import Version as V; \
	   sys.exit(V(uvicorn.__version__) != V('$(UVICORN_OLDEST)') and 'not the oldest uvicorn')"
	PYTHONPATH=var/uvicorn-oldest $(BIN)/pytest -q -p no:cacheprovider tests/hub tests/e2e

test: $(STAMP) $(STREAMS_BUNDLE) $(AXE_STAMP) sysdeps lint typecheck unit oldest

# The long fuzz run: 100,000 bad frames at a live hub (numbers: bench/results/fuzz.json), then
# coverage-guided fuzzing of the decoder with atheris, seeded with the published requests
# (libFuzzer's final stats: bench/results/fuzz-atheris.txt).
FUZZ_FRAMES ?= 100000
ATHERIS_RUNS ?= 2000000
fuzz: $(STAMP)
	CTIBRIDGE_FUZZ_FRAMES=$(FUZZ_FRAMES) CTIBRIDGE_FUZZ_REPORT=bench/results/fuzz.json \
	  $(BIN)/pytest -q tests/fuzz/test_live_fuzz.py
	@cat bench/results/fuzz.json
	$(BIN)/pip install -q -e '.[fuzz]'
	mkdir -p var/fuzz-corpus && cp tests/fixtures/samples/*-request*.json var/fuzz-corpus/
	$(BIN)/python tests/fuzz/atheris_decode.py -runs=$(ATHERIS_RUNS) -max_len=4096 \
	  -print_final_stats=1 var/fuzz-corpus 2> var/atheris.log || { tail -n 40 var/atheris.log; exit 1; }
	grep -E '^(Done|stat::)' var/atheris.log > bench/results/fuzz-atheris.txt
	@cat bench/results/fuzz-atheris.txt

# The benchmark (docs/performance.md): the hub against a bare echo server on the same stack, run
# side by side; writes bench/results/latest.json, the figures and the report's numbers (<10 min).
# JOURNAL picks the "journal on" journal: sqlite[:PATH] (the hub's SqliteJournal) or memory.
JOURNAL ?= sqlite
bench: $(STAMP) sysdeps
	$(BIN)/python -m bench.run --out bench/results --journal $(JOURNAL)
	$(BIN)/python -m bench.report bench/results/latest.json --doc docs/performance.md
	$(BIN)/python -m bench.cluster --out bench/results --doc docs/performance.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bridge/node_modules $(dir $(STREAMS_BUNDLE)) \
	  tests/browser/axe/node_modules
