# The two commands that matter: `make demo` (set up + run the main job) and `make test` (set up + tests).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python scripts/install_mongod.py
	touch $(STAMP)

demo: install
	$(BIN)/gristmill demo demo-workspace --allow-random-weights

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo-workspace demo-workspace-release .pytest_cache artifacts
