# LeadOps: `make run` opens the app on demo data (with the demo sandbox, a simulated Email Bison);
# `make test` runs every test. Both set up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8501
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
AS_POSTGRES := $(if $(filter 0,$(shell id -u)),runuser -u postgres --,sudo -u postgres)

.PHONY: run test setup chromium postgres lint bench clean

setup: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet --user uv 2>/dev/null || \
		$(PYTHON) -m pip install --quiet uv 2>/dev/null || \
		$(PYTHON) -m pip install --quiet --break-system-packages uv
	@if command -v uv >/dev/null 2>&1; then uv sync --frozen --python $(PYTHON); \
		else $(PYTHON) -m uv sync --frozen --python $(PYTHON); fi
	@touch $@

run: setup
	$(VENV)/bin/leadops migrate
	$(VENV)/bin/leadops demo --if-empty
	$(VENV)/bin/leadops serve --host $(HOST) --port $(PORT)

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

# The master-database tests need a real PostgreSQL: Debian's package when pg_ctl is missing, and a
# running cluster on 127.0.0.1:5432 (user postgres; password from LEADOPS_TEST_PG_PASSWORD or
# "postgres" when the server asks for one).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		echo "Installing Debian's postgresql for the master-database tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	fi
	@if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v pg_lsclusters >/dev/null; then \
		ver=$$(ls /usr/lib/postgresql | sort -n | tail -1); \
		pg_lsclusters -h | grep -q "^$$ver main" || $(SUDO) pg_createcluster $$ver main >/dev/null; \
		$(SUDO) pg_ctlcluster $$ver main start; \
		$(AS_POSTGRES) psql -qc "ALTER USER postgres PASSWORD '$${LEADOPS_TEST_PG_PASSWORD:-postgres}'" >/dev/null; \
	fi

test: setup chromium postgres
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	@status=0; for b in benchmarks/[a-z]*.py; do \
		[ "$$b" = benchmarks/common.py ] && continue; \
		echo "== $$b"; $(VENV)/bin/python $$b || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
