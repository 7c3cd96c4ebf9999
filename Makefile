# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Needs only a Python 3.11 on PATH: uv comes from PyPI into .tools/, and uv never downloads a Python.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV := .tools/bin/uv
VENV := .venv/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: setup demo test lint unit mutation bench bench-api bench-tenants clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q "uv==0.13.9"

$(VENV): $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml libs/*/pyproject.toml
	$(UV) sync --frozen -q
	@touch $(VENV)

setup: $(VENV)

## demo: broker, database, simulated tenants (SHARED_MACS=50 Macs in both MDMs), all services, a first
## sync, the API (ONCE=1 exits). Ctrl-C, SIGTERM or SIGHUP stop everything it started.
demo: $(VENV)
	.venv/bin/devstack demo $(if $(ONCE),--once) $(if $(DEVICES),--devices $(DEVICES)) $(if $(SHARED_MACS),--shared-macs $(SHARED_MACS))

## test: lint + the whole suite (unit, integration against real PostgreSQL and Tansu, e2e)
test: $(VENV) lint
	.venv/bin/pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$rc

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

## unit: the tests marked `unit` (no I/O at all, enforced by conftest.py): fast, no database or broker
unit: $(VENV)
	.venv/bin/pytest -m unit -q $(PYTEST_ARGS)

## mutation: mutmut over the reconciler core, both translators and the CSV code (scripts/mutation.py;
## minutes per target, not in CI). `make mutation TARGETS=reconciler-core MUTATION_ARGS=--rerun`; docs/mutation.md
mutation: $(VENV)
	.venv/bin/python scripts/mutation.py $(TARGETS) $(MUTATION_ARGS)

## bench: the same pipeline with 100,000 simulated Intune devices
bench: $(VENV)
	.venv/bin/devstack bench $(if $(DEVICES),--devices $(DEVICES))

## bench-api: the API's reads at 1,000,000 seeded devices, 50 clients (wrk: `apt-get install -y wrk`);
## `make bench-api DEVICES=100000 WORKERS=2 BENCH_ARGS="--only sort"`; docs/performance.md
bench-api: $(VENV)
	.venv/bin/python -m devstack.bench_api $(if $(DEVICES),--devices $(DEVICES)) $(if $(WORKERS),--workers $(WORKERS)) $(BENCH_ARGS)

## bench-tenants: TENANTS tenants × DEVICES_PER_TENANT Intune devices synced at the same moment, once per
## reconciler count (issue 12 item 3); `make bench-tenants TENANTS=200 DEVICES_PER_TENANT=500 RECONCILERS="1 2"`
bench-tenants: $(VENV)
	.venv/bin/devstack bench-tenants $(if $(TENANTS),--tenants $(TENANTS)) $(if $(DEVICES_PER_TENANT),--devices-per-tenant $(DEVICES_PER_TENANT)) $(if $(RECONCILERS),--reconcilers $(RECONCILERS)) $(if $(PARTITIONS),--partitions $(PARTITIONS))

## chaos: a clean scenario vs. ROUNDS rounds with services SIGKILLed at random points (issue 9)
chaos: $(VENV)
	.venv/bin/devstack chaos --devices $(or $(DEVICES),50000) --rounds $(or $(ROUNDS),10)

clean:
	rm -rf .venv .tools .run
