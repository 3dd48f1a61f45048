# The two commands of the README. Both set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
KERNEL := layers/core/python/smart0dte/domain/_pricing_kernel.so
KERNEL_V3 := layers/core/python/smart0dte/domain/_pricing_kernel_v3.so
KERNEL_FLAGS := -O3 -std=c99 -fPIC -shared -fno-math-errno -fno-trapping-math -ffp-contract=off -mtune=generic -Wall -Wextra
KERNEL_SRC := layers/core/python/smart0dte/domain/pricing_kernel.c
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := .tools/checkov/.installed
WEB_SRC := web/package.json web/package-lock.json web/vite.config.js web/index.html $(shell find web/src -type f)

.PHONY: demo test kernel

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[aws,gateway,ml,cdk,dev]"
	touch $(STAMP)

# checkov pins boto3, botocore and packaging below the project's: its own venv, which the
# infrastructure tests call (tests/infra/template_scans.py) beside cfn-lint from .venv.
$(CHECKOV_STAMP):
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install --quiet --upgrade pip
	.tools/checkov/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; fi

# The compiled pricing kernel, loaded by smart0dte.domain.pricing (numpy is its fallback) and shipped in
# the core layer: libm/libc only, so it also loads on Lambda (Amazon Linux 2023). Two builds of one
# source: x86-64-v2 runs on any x86_64 CPU, x86-64-v3 (AVX2) is taken where the CPU has it; no FP
# contraction, so both give bit-identical results. No -ffast-math: NaN and infinity carry the
# implied-vol statuses (-fno-trapping-math lets selects vectorise).
$(KERNEL): $(KERNEL_SRC)
	@if ! command -v $(CC) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq gcc libc6-dev; \
	  else echo "the pricing kernel needs a C compiler ($(CC)): sudo apt-get install -y gcc" >&2; exit 1; fi; fi
	$(CC) $(KERNEL_FLAGS) -march=x86-64-v2 -o $@ $(KERNEL_SRC) -lm

# The same source for CPUs with AVX2 and FMA (x86-64-v3), taken when pk_isa_level() says so.
$(KERNEL_V3): $(KERNEL_SRC) $(KERNEL)
	$(CC) $(KERNEL_FLAGS) -march=x86-64-v3 -o $@ $(KERNEL_SRC) -lm

kernel: $(KERNEL) $(KERNEL_V3)

# The dashboard: third-party JavaScript comes from npm, built into web/dist (never committed).
web/dist/index.html: $(WEB_SRC)
	cd web && npm ci --no-audit --no-fund && npm run build

demo: $(STAMP) $(KERNEL) $(KERNEL_V3) web/dist/index.html
	$(VENV)/bin/smart0dte demo

test: $(STAMP) $(CHECKOV_STAMP) $(CHROMIUM) $(KERNEL) $(KERNEL_V3) web/dist/index.html
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/core/python/smart0dte
	$(VENV)/bin/pytest
