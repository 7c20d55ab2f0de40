# Millrace: `make run` starts the console on the local sandbox, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# PostgreSQL for the second test run; CI and the dev machines have it on 127.0.0.1:5432 (trust auth).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/millrace
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_REDIS_URL_SQLITE ?= redis://127.0.0.1:6379/14
TEST_REDIS_URL_PG_UNIT ?= redis://127.0.0.1:6379/13
TEST_REDIS_URL_DRILLS ?= redis://127.0.0.1:6379/11
# The browser tests drive Debian's chromium package through Playwright (never a browser download of its own).
MILLRACE_CHROMIUM ?= /usr/bin/chromium
export MILLRACE_CHROMIUM

.PHONY: setup run test lint bench browser

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

# Install chromium when it is missing and this machine can (root with apt-get, as on CI); else say so loudly.
browser:
	@if [ ! -x "$(MILLRACE_CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "== installing Debian's chromium for the browser tests =="; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "!! apt-get could not install chromium"; \
	fi; \
	if [ -x "$(MILLRACE_CHROMIUM)" ]; then :; \
	elif [ -n "$$MILLRACE_REQUIRE_BROWSER" ]; then \
	  echo "Chromium is required (MILLRACE_REQUIRE_BROWSER is set) but $(MILLRACE_CHROMIUM) is missing"; exit 1; \
	else \
	  echo "!! The browser tests will be SKIPPED: no Chromium at $(MILLRACE_CHROMIUM). Install Debian's chromium"; \
	  echo "!! (apt-get install chromium, as root) or set MILLRACE_CHROMIUM to a Chromium binary."; \
	fi

# Five jobs side by side, each with its own var/ folder, database and Redis database: the unit tests on
# SQLite (the default) and on PostgreSQL, the soak test (make run's processes for 2 minutes) and the crash
# drills in the background (logs in var/), and the other end-to-end tests (real Celery workers, moto
# server, Chromium: they mostly wait on real processes) on PostgreSQL in front.
# All are jobs of one shell that waits for them, so that Ctrl-C or a SIGTERM to make (which make passes
# on to this shell) stops them all at once: the trap SIGTERMs them (background jobs ignore SIGINT), and
# every process a test started dies with its pytest (console/processes.py). Nothing is left behind.
PYTEST_ARGS ?= --durations=8
# On PostgreSQL, the unit tests of what talks to the database in ways that differ between the two (the
# engine's writer, locks and races, the API's and the pages' queries, the SQL layer's two targets); forms,
# settings, accounts and the AWS session code run on SQLite only (PG_UNIT_TESTS=tests runs them all on both).
PG_UNIT_TESTS ?= tests/ingest tests/api tests/collections_app tests/queries
# Browser tests run after the crash drills, in their job: the other end-to-end tests are the longest pass.
BROWSER_TESTS := tests/e2e/test_browser.py tests/e2e/test_responsive.py tests/e2e/test_lambdas_browser.py
test: lint browser
	@rm -f var/test-sqlite.log var/test-pg-unit.log var/test-soak.log var/test-drills.log; mkdir -p var; \
	jobs_=""; pg_unit=""; \
	trap 'trap - EXIT; kill $$jobs_ 2>/dev/null; wait; echo "!! interrupted: every test pass stopped"; exit 130' INT TERM HUP; \
	trap 'kill $$jobs_ 2>/dev/null' EXIT; \
	echo "== unit tests on SQLite (the default), in the background: var/test-sqlite.log =="; \
	MILLRACE_TEST_VAR_DIR=var/test-sqlite MILLRACE_TEST_REDIS_URL=$(TEST_REDIS_URL_SQLITE) \
	  $(PY) -m pytest -m "not e2e" $(PYTEST_ARGS) > var/test-sqlite.log 2>&1 & sqlite=$$!; jobs_=$$sqlite; \
	echo "== soak test (make run's processes on the embedded defaults, 2 minutes), in the background: var/test-soak.log =="; \
	MILLRACE_TEST_VAR_DIR=var/test-soak $(PY) -m pytest -m soak -s $(PYTEST_ARGS) > var/test-soak.log 2>&1 & soak=$$!; \
	jobs_="$$sqlite $$soak"; \
	if $(PY) tests/services_up.py postgres "$(TEST_POSTGRES_URL)"; then \
	  echo "== unit tests on PostgreSQL ($(TEST_POSTGRES_URL)), in the background: var/test-pg-unit.log =="; \
	  MILLRACE_TEST_VAR_DIR=var/test-pg-unit DATABASE_URL=$(TEST_POSTGRES_URL) MILLRACE_TEST_REDIS_URL=$(TEST_REDIS_URL_PG_UNIT) \
	    $(PY) -m pytest -m "not e2e" $(PYTEST_ARGS) $(PG_UNIT_TESTS) > var/test-pg-unit.log 2>&1 & pg_unit=$$!; \
	  jobs_="$$sqlite $$soak $$pg_unit"; \
	  echo "== crash drills, then the browser tests, on PostgreSQL ($(TEST_POSTGRES_URL)_drills), in the background: var/test-drills.log =="; \
	  MILLRACE_TEST_VAR_DIR=var/test-drills DATABASE_URL=$(TEST_POSTGRES_URL)_drills MILLRACE_TEST_REDIS_URL=$(TEST_REDIS_URL_DRILLS) \
	    $(PY) -m pytest -s $(PYTEST_ARGS) tests/e2e/test_drills.py $(BROWSER_TESTS) > var/test-drills.log 2>&1 & drills=$$!; \
	  jobs_="$$sqlite $$soak $$pg_unit $$drills"; \
	  echo "== end-to-end tests on PostgreSQL ($(TEST_POSTGRES_URL)_e2e) =="; \
	  MILLRACE_TEST_VAR_DIR=var/test-pg DATABASE_URL=$(TEST_POSTGRES_URL)_e2e MILLRACE_TEST_REDIS_URL=$(TEST_REDIS_URL) \
	    $(PY) -m pytest -m "e2e and not soak" --ignore=tests/e2e/test_drills.py $(BROWSER_TESTS:%=--ignore=%) $(PYTEST_ARGS) & pg=$$!; \
	  jobs_="$$sqlite $$soak $$pg_unit $$drills $$pg"; \
	  wait $$pg; pg_status=$$?; wait $$pg_unit; pg_unit_status=$$?; wait $$drills; drills_status=$$?; \
	  echo "== unit tests on PostgreSQL: the end of var/test-pg-unit.log =="; tail -n 12 var/test-pg-unit.log; \
	  echo "== crash drills and browser tests: the end of var/test-drills.log =="; grep -A1 "crash drills:" var/test-drills.log; \
	  tail -n 3 var/test-drills.log; \
	elif [ -n "$$MILLRACE_REQUIRE_POSTGRES" ]; then \
	  echo "PostgreSQL is required (MILLRACE_REQUIRE_POSTGRES is set) but not reachable at $(TEST_POSTGRES_URL)"; \
	  pg_status=1; pg_unit_status=1; drills_status=1; \
	else \
	  echo "!! SKIPPED the PostgreSQL and end-to-end passes: nothing answers at $(TEST_POSTGRES_URL). Set TEST_POSTGRES_URL to run them."; \
	  pg_status=0; pg_unit_status=0; drills_status=0; \
	fi; \
	wait $$sqlite; sqlite_status=$$?; wait $$soak; soak_status=$$?; jobs_=""; \
	echo "== unit tests on SQLite: the end of var/test-sqlite.log =="; tail -n 12 var/test-sqlite.log; \
	echo "== soak test: the end of var/test-soak.log =="; tail -n 12 var/test-soak.log; \
	if [ "$$sqlite_status$$pg_unit_status$$pg_status$$drills_status$$soak_status" != "00000" ]; then \
	  echo "!! FAILED (exit codes: SQLite $$sqlite_status, PostgreSQL $$pg_unit_status, end-to-end $$pg_status," \
	    "drills $$drills_status, soak $$soak_status)"; exit 1; \
	fi

# The benchmarks run on PostgreSQL when it is there (export vs COPY needs it), in a database of their own.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/millrace_bench
bench: setup
	@if $(PY) tests/services_up.py postgres "$(BENCH_DATABASE_URL)"; then \
	  DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/run.py; \
	else \
	  echo "!! no PostgreSQL at $(BENCH_DATABASE_URL): benchmarks on SQLite, export vs COPY skipped"; $(PY) bench/run.py; \
	fi
