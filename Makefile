# Typewire: `make run` starts the whole product on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
DEMO_ENV := var/demo.env
# The test suite runs in this many parallel lanes (pytest-xdist; each has its own test database
# and Redis databases: tests/lanes.py). TEST_LANES=0 runs it in one process.
TEST_LANES ?= 3

.PHONY: install run test lint browser wrk bench bench-quick

# Python 3.13 comes from pyenv (selected by .python-version); uv installs the locked versions.
$(VENV)/bin/uv:
	python3.13 -m venv $(VENV) 2>/dev/null || python -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(VENV)/bin/uv pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(VENV)/bin/uv sync --frozen --inexact --python $(PY)
	@touch $@

install: $(VENV)/.synced

# Demo secrets are generated once and kept in var/demo.env (never committed).
$(DEMO_ENV): | $(VENV)/.synced
	@mkdir -p var
	@{ echo "DEBUG=true"; \
	   echo "SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	   echo "FIELD_ENCRYPTION_KEY=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"; \
	 } > $@

run: install $(DEMO_ENV)
	$(VENV)/bin/honcho run -e $(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(VENV)/bin/honcho run -e $(DEMO_ENV) $(PY) manage.py load_demo --url "http://$(HOST):$(PORT)/"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HOST=$(HOST) exec $(VENV)/bin/honcho start -e $(DEMO_ENV) -f Procfile -p $(PORT)

# Debian's Chromium drives the browser tests (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(VENV)/bin/pytest -n $(TEST_LANES) --dist load --maxschedchunk 2

# The benchmark suite (README "Performance"): the stack as real processes, wrk as the load.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

bench: install wrk
	$(PY) -m bench $(BENCH_ARGS)

# The CI profile: short, prints the table, fails only on request errors or lost events.
bench-quick: install wrk
	$(PY) -m bench --quick

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(VENV)/bin/mypy .
