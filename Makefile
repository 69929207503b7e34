# Everything a user types: `make demo` and `make test`. Both bootstrap themselves:
# a pinned uv in .tools/, then one locked virtualenv per supported Airflow line in .venvs/.
#   make test                 ruff + mypy, then the suite on Airflow 2.11, 3.0, 3.1, 3.2 and 3.3
#   make test AIRFLOW=3.3     the suite on one Airflow line only
#   make demo                 start the local Sim emulator and run the example against it
#   make lock                 re-resolve locks/airflow-*.txt after changing dependencies

SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
AIRFLOW_LINES := 2.11 3.0 3.1 3.2 3.3
AIRFLOW ?= $(AIRFLOW_LINES)
DEFAULT_AIRFLOW := 3.3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PYTEST_ARGS ?=
LINT_PATHS := $(wildcard airflow_provider_sim tests example_dags bench scripts)
export UV_CACHE_DIR ?= $(HOME)/.cache/uv

.PHONY: test lint demo lock bench conformance cluster-test screenshots clean $(addprefix test-,$(AIRFLOW_LINES)) $(addprefix env-,$(AIRFLOW_LINES))

test: lint $(addprefix test-,$(AIRFLOW))

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# One locked environment per Airflow line; rebuilt when its lock or pyproject.toml changes.
.venvs/af-%/.synced: locks/airflow-%.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venvs/af-$*
	$(UV) pip sync --quiet --python .venvs/af-$*/bin/python locks/airflow-$*.txt
	$(UV) pip install --quiet --python .venvs/af-$*/bin/python --no-deps -e .
	@touch $@

$(addprefix env-,$(AIRFLOW_LINES)): env-%: .venvs/af-%/.synced
	@true

lint: .venvs/af-$(DEFAULT_AIRFLOW)/.synced
	.venvs/af-$(DEFAULT_AIRFLOW)/bin/ruff check $(LINT_PATHS)
	.venvs/af-$(DEFAULT_AIRFLOW)/bin/ruff format --check $(LINT_PATHS)
	.venvs/af-$(DEFAULT_AIRFLOW)/bin/mypy

# Each run gets its own AIRFLOW_HOME (SQLite DB), so parallel runs cannot delete each other's.
# pytest exit code 5 means "no tests collected": for us that is a broken suite, not a pass.
$(addprefix test-,$(AIRFLOW_LINES)): test-%: .venvs/af-%/.synced
	@echo "=== Airflow $* ==="
	@.venvs/af-$*/bin/python -c "import airflow; print('apache-airflow', airflow.__version__)"
	@set +e; home=$$(mktemp -d "$${TMPDIR:-/tmp}/airflow-provider-sim-$*-XXXXXX"); \
	AIRFLOW_HOME=$$home AIRFLOW__CORE__LOAD_EXAMPLES=False \
	  .venvs/af-$*/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; rm -rf "$$home"; \
	if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests on Airflow $*: failing"; exit 1; fi; exit $$rc

demo: .venvs/af-$(DEFAULT_AIRFLOW)/.synced
	.venvs/af-$(DEFAULT_AIRFLOW)/bin/python scripts/demo.py

lock: | $(UV)
	for v in $(AIRFLOW_LINES); do \
	  $(UV) pip compile --quiet --python-version 3.11 --extra emulator --extra openlineage --extra test \
	    pyproject.toml locks/airflow-$$v.in -o locks/airflow-$$v.txt || exit 1; \
	done

clean:
	rm -rf .venvs $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The provider's conformance suite (tests/conformance) on Airflow 3.3: against an emulator it starts
# itself, or against your own Sim server (README, "Checking your own Sim server"):
#   make conformance SIM_BASE_URL=http://localhost:3000 SIM_API_KEY=sk-sim-... \
#        SIM_ECHO_WORKFLOW_ID=... SIM_FAIL_WORKFLOW_ID=...
conformance: .venvs/af-$(DEFAULT_AIRFLOW)/.synced
	@set +e; home=$$(mktemp -d "$${TMPDIR:-/tmp}/airflow-provider-sim-conformance-XXXXXX"); \
	AIRFLOW_HOME=$$home AIRFLOW__CORE__LOAD_EXAMPLES=False SIM_CONFORMANCE=server \
	  .venvs/af-$(DEFAULT_AIRFLOW)/bin/python -m pytest -rs tests/conformance $(PYTEST_ARGS); rc=$$?; \
	rm -rf "$$home"; exit $$rc

# Only the tests on real Airflow components (tests/cluster, Airflow 3.3; also part of `make test`): the
# production-shaped one starts PostgreSQL and Redis itself (apt-get installs postgresql and redis-server
# when missing), two Celery workers and two triggerers, all on loopback, and kills some of them mid-run.
cluster-test: .venvs/af-$(DEFAULT_AIRFLOW)/.synced
	@set +e; home=$$(mktemp -d "$${TMPDIR:-/tmp}/airflow-provider-sim-cluster-XXXXXX"); \
	AIRFLOW_HOME=$$home AIRFLOW__CORE__LOAD_EXAMPLES=False \
	  .venvs/af-$(DEFAULT_AIRFLOW)/bin/python -m pytest -s -m cluster tests/cluster $(PYTEST_ARGS); rc=$$?; \
	rm -rf "$$home"; if [ $$rc -eq 5 ]; then echo "make: no cluster tests collected: failing"; exit 1; fi; exit $$rc

# Benchmarks against the local emulator on Airflow 3.3 (< 10 min); writes bench/RESULTS.md.
#   make bench BENCH_ARGS=--smoke     a few seconds each, numbers not meaningful
BENCH_ARGS ?=
bench: .venvs/af-$(DEFAULT_AIRFLOW)/.synced
	rm -rf .airflow-home/bench; mkdir -p .airflow-home/bench
	AIRFLOW_HOME=$(CURDIR)/.airflow-home/bench AIRFLOW__CORE__LOAD_EXAMPLES=False \
	  .venvs/af-$(DEFAULT_AIRFLOW)/bin/python -m bench.run_all $(BENCH_ARGS)

# docs/connection-form-airflow-{2.11,3.3}.png: the Sim connection form in each major line's real web
# server, shot by headless Chromium (Debian's chromium, installed if missing; playwright in a throwaway
# venv under /tmp, never in .venvs/).
screenshots: .venvs/af-2.11/.synced .venvs/af-3.3/.synced
	$(PYTHON) scripts/screenshots.py 2.11 3.3
