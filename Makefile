# Millrace: `make run` starts the console on the local sandbox, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# PostgreSQL for the second test run; CI and the dev machines have it on 127.0.0.1:5432 (trust auth).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/millrace
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: setup run test lint bench

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py serve

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

test: lint
	@echo "== tests on SQLite (the default; the engine's end-to-end tests run on PostgreSQL below) =="
	MILLRACE_TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest --ignore=tests/e2e
	@if $(PY) tests/services_up.py postgres "$(TEST_POSTGRES_URL)"; then \
	  echo "== tests on PostgreSQL ($(TEST_POSTGRES_URL)) =="; \
	  DATABASE_URL=$(TEST_POSTGRES_URL) MILLRACE_TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest; \
	elif [ -n "$$MILLRACE_REQUIRE_POSTGRES" ]; then \
	  echo "PostgreSQL is required (MILLRACE_REQUIRE_POSTGRES is set) but not reachable at $(TEST_POSTGRES_URL)"; exit 1; \
	else \
	  echo "!! SKIPPED the PostgreSQL run: nothing answers at $(TEST_POSTGRES_URL). Set TEST_POSTGRES_URL to run it."; \
	fi

# The benchmarks run on PostgreSQL when it is there (export vs COPY needs it), in a database of their own.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/millrace_bench
bench: setup
	@if $(PY) tests/services_up.py postgres "$(BENCH_DATABASE_URL)"; then \
	  DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/run.py; \
	else \
	  echo "!! no PostgreSQL at $(BENCH_DATABASE_URL): benchmarks on SQLite, export vs COPY skipped"; $(PY) bench/run.py; \
	fi
