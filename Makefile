# `make demo` and `make test` work on a fresh machine: each sets up .venv first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test notebooks bench browser clean

setup: $(STAMP)

# torch is installed alone and first, pinned: a looser requirement resolved by pip pulls CUDA builds.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/spasmqa build
	$(BIN)/spasmqa demo

test: setup browser
	$(BIN)/python -m pytest

# The browser tests drive Debian's chromium (Playwright's own browser download does not work offline).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| { echo "install Debian's chromium (apt-get install chromium, as root) for the browser tests"; exit 1; }

notebooks: setup
	$(BIN)/python -m pytest tests/test_notebooks.py

bench: setup
	$(BIN)/python scripts/bench.py --json results/bench.json
	$(BIN)/python scripts/bench_embedding.py

clean:
	rm -rf $(VENV) build dist *.egg-info
