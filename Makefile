# The two commands of the README. Both set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
WEB_SRC := web/package.json web/package-lock.json web/vite.config.js web/index.html $(shell find web/src -type f)

.PHONY: demo test

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[aws,gateway,ml,cdk,dev]"
	touch $(STAMP)

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; fi

# The dashboard: third-party JavaScript comes from npm, built into web/dist (never committed).
web/dist/index.html: $(WEB_SRC)
	cd web && npm ci --no-audit --no-fund && npm run build

demo: $(STAMP) web/dist/index.html
	$(VENV)/bin/smart0dte demo

test: $(STAMP) $(CHROMIUM) web/dist/index.html
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/core/python/smart0dte/domain
	$(VENV)/bin/pytest
