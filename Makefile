# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Everything else here is a step they share. Targets are file stamps, so a second run only
# redoes what changed.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Playwright drives the system Chromium; it must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export CELLPOINT_CHROMIUM ?= /usr/bin/chromium

LABEXT := python_stub/cellpoint/labextension
TS_SOURCES := $(shell find src style schema python_stub/cellpoint/models -type f) package.json tsconfig.json
PY_SOURCES := $(shell find python_stub/cellpoint -type f -not -path '*/labextension/*' -not -path '*/__pycache__/*') pyproject.toml

.PHONY: setup build install chromium lint test test-js test-py demo bench clean

setup: $(VENV)/.installed

# Build tools and JupyterLab first: the extension build calls `jupyter labextension build`.
$(VENV)/.tools:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "jupyterlab>=4.4,<5" hatchling hatch-jupyter-builder hatch-nodejs-version
	touch $@

# The package's dependencies and its dev extra's (pyproject.toml), without building it: what
# lint needs, and the package's install finds them in place.
define DEV_REQUIREMENTS
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
def expand(requirements):
    for requirement in requirements:
        name, _, rest = requirement.partition("[")
        if name != project["name"]:
            yield requirement
            continue
        for extra in rest.rstrip("]").split(","):
            yield from expand(extras[extra])
print("\n".join([*project["dependencies"], *expand(extras["dev"])]))
endef
export DEV_REQUIREMENTS

$(VENV)/.deps: pyproject.toml $(VENV)/.tools
	$(PY) -c "$$DEV_REQUIREMENTS" > $(VENV)/requirements-dev.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(LABEXT)/package.json: $(TS_SOURCES) node_modules/.installed $(VENV)/.tools
	npm run build:prod

build: $(LABEXT)/package.json

# A regular (non-editable) install: what tests and the demo use is what a user gets from pip.
$(VENV)/.installed: $(LABEXT)/package.json $(PY_SOURCES) $(VENV)/.deps
	$(PY) -m pip install -q --no-build-isolation ".[dev]"
	touch $@

install: $(VENV)/.installed

chromium:
	@command -v $(CELLPOINT_CHROMIUM) >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(VENV)/.deps node_modules/.installed
	npx eslint .
	npx prettier --check .
	npx tsc -p tsconfig.test.json
	$(VENV)/bin/ruff check python_stub tests
	$(VENV)/bin/ruff format --check python_stub tests
	$(VENV)/bin/mypy

test-js: node_modules/.installed
	npm test

test-py: install chromium
	$(VENV)/bin/pytest

test: lint test-js test-py

# The notebook runs in examples/ and writes its files to examples/demo-output/, next to the
# executed copy of itself.
demo: install
	$(VENV)/bin/jupyter nbconvert --to notebook --execute examples/demo.ipynb \
	  --output-dir examples/demo-output --output demo
	@echo "Executed: examples/demo-output/demo.ipynb (open it: $(VENV)/bin/jupyter lab examples/demo-output/demo.ipynb)"

# Accuracy (CAP and the baseline on held-out data) and speed figures of the kernel backend,
# then the browser engine's speed and memory in Chromium (WASM and WebGPU), printed; see README.
bench: install chromium
	$(VENV)/bin/python -m cellpoint.bench $(BENCH_ARGS)
	$(VENV)/bin/python -m cellpoint.batch.bench $(BATCH_BENCH_ARGS)
	$(VENV)/bin/python -m tests.browser.bench_engine $(BROWSER_BENCH_ARGS)
	$(VENV)/bin/python -m tests.browser.bench_review

clean:
	rm -rf lib $(LABEXT) tsconfig.tsbuildinfo examples/demo-output tests/artifacts $(VENV)/.installed
