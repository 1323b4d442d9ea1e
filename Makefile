# `make run` and `make test` each create .venv when missing and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian run 'apt-get install python3-venv'"; exit 1; }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(STAMP)
	$(BIN)/partnerships run --once --log-level warning

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	bash scripts/install-test-deps.sh
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) state/*.sqlite3* state/outbox
