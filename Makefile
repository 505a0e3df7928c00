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

# --insecure: no tokens, for a demo on this machine only (refused on a non-loopback HOST);
# the journal under var/ (gitignored) lets apps resume across restarts of `make run`.
run: $(STAMP)
	$(BIN)/ctibridge serve --host $(HOST) --port $(PORT) --backend sim --insecure --journal var/journal.db

LINTED  := $(wildcard src tests bench)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/

unit: $(STAMP)
	$(BIN)/pytest -q

test: $(STAMP) lint typecheck unit

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
