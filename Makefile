# Communis — the two commands: `make run` (demo server) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format install install-dev migrate demo loadtest clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Communis needs Python 3.11 or newer on PATH."; exit 1; }
	$(PYTHON) scripts/bootstrap.py
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput -v0

demo: migrate
	$(PY) manage.py seed_demo

run: demo
	@echo ""
	@echo "  Communis is starting: open http://$(HOST):$(PORT)/"
	@echo "  Demo logins (password: communis-demo):"
	@echo "    anna, bertil, cecilia (staff) · david (moderator) · eva (manager)"
	@echo "    fredrik (communicator) · greta (crisis team)"
	@echo "  Stop with Ctrl+C."
	@echo ""
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) chatserver.asgi:application

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

loadtest: migrate
	$(PY) manage.py loadtest $(ARGS)

clean:
	rm -rf $(VENV) var *.egg-info
