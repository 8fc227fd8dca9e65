# Adimple — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_ARGS ?=
PYTEST_ARGS ?= -n 2

.PHONY: install demo test lint typecheck pytest chromium axe serve benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Installs, then builds a demo portfolio in ./adimple.db and runs the main job over it.
demo: install
	$(BIN)/adimple demo $(DEMO_ARGS)

## Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

## axe-core (npm registry) for the accessibility checks the browser tests inject into pages.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

axe: node_modules/.installed

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install chromium axe
	$(BIN)/pytest $(PYTEST_ARGS)

## ruff, mypy, then every test on SQLite and PostgreSQL.
test: install chromium lint typecheck pytest

serve: install
	$(BIN)/adimple serve

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis adimple.db adimple.db-*
