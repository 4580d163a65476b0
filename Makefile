# Two commands set everything up on a fresh machine that has only Python:
#   make run    the app with demo data, a Celery worker and beat (Ctrl-C stops)
#   make test   lint and the whole test suite (installs Chromium when missing)
# With DATABASE_URL / REDIS_URL set both use PostgreSQL and Redis; without,
# SQLite and Celery's filesystem broker under var/.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ACCOUNTS ?= 3000
BENCH_ACCOUNTS ?= 1000000

.PHONY: run test lint bench install browser clamav clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The preflight creates a missing PostgreSQL database and turns a
# configuration mistake into one line, before Django (or a traceback) starts.
run: $(STAMP)
	@$(PY) -m collections_app.preflight
	HTTPS=$${HTTPS:-false} $(PY) manage.py migrate --noinput
	HTTPS=$${HTTPS:-false} $(PY) manage.py seed_demo --accounts $(DEMO_ACCOUNTS) --if-empty
	HTTPS=$${HTTPS:-false} $(PY) manage.py devstack

# Debian's Chromium drives the browser tests; Playwright never downloads one.
browser:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's ClamAV for the virus scan tests: the tests run their own clamd with a
# small local signature database (EICAR's), so nothing is downloaded.
clamav:
	@test -x /usr/sbin/clamd || { \
	  echo "Installing Debian's clamav-daemon for the virus scan tests..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clamav-daemon libmagic1 >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: $(STAMP) browser clamav lint
	$(PY) manage.py makemigrations --check --dry-run >/dev/null
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) -m bench --accounts $(BENCH_ACCOUNTS)

clean:
	rm -rf var staticfiles .pytest_cache
