# Two commands on a fresh machine: `make demo` installs and runs the monitor, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench

$(BIN)/monitor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(BIN)/monitor

install: $(BIN)/monitor

# The dashboard on the demo corpus, polled from disk into a throwaway database.
demo: install
	$(BIN)/monitor demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check monitor tests bench
	$(BIN)/mypy monitor

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/polling.py
