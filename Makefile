# `make demo` and `make test` work on a fresh machine: each sets up .venv first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test notebooks bench clean

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

test: setup
	$(BIN)/python -m pytest

notebooks: setup
	$(BIN)/python -m pytest tests/test_notebooks.py

bench: setup
	$(BIN)/python scripts/bench.py --json results/bench.json
	$(BIN)/python scripts/bench_embedding.py

clean:
	rm -rf $(VENV) build dist *.egg-info
