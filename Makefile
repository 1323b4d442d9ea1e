# `make run` and `make test` each create .venv when missing and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-postgres lint bench clean web screenshots

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian run 'apt-get install python3-venv'"; exit 1; }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(STAMP)
	$(BIN)/partnerships run --once --log-level warning

# The web desk on the example state (state/): http://127.0.0.1:8025, plain http, so the cookie is not Secure.
web: $(STAMP)
	$(BIN)/partnerships replay examples/inbox.mbox --log-level error >/dev/null
	@$(BIN)/partnerships users list | grep -q . || { echo "no desk account yet: run"; \
		echo "  $(BIN)/partnerships users add NAME"; exit 1; }
	$(BIN)/partnerships web --listen 127.0.0.1:8025 --insecure-cookie

# Refresh docs/screenshots/ from the browser tests.
screenshots: $(STAMP)
	PARTNERSHIPS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q tests/web/test_web_browser.py

lint: $(STAMP)
	$(BIN)/ruff check .

# The whole suite twice: on SQLite, then with every state on a throw-away PostgreSQL cluster the tests start
# (tests marked sqlite_only are skipped there, with their reason). pytest-xdist spreads each run over the cores;
# a test file stays on one worker, so its module fixtures are built once. `make test PYTEST_PARALLEL=`: one process.
PYTEST_PARALLEL ?= -n auto --dist loadfile

test: $(STAMP) lint
	bash scripts/install-test-deps.sh
	$(BIN)/pytest -q $(PYTEST_PARALLEL)
	PARTNERSHIPS_TEST_DATABASE=postgresql $(BIN)/pytest -q $(PYTEST_PARALLEL)

test-postgres: $(STAMP)
	bash scripts/install-test-deps.sh
	PARTNERSHIPS_TEST_DATABASE=postgresql $(BIN)/pytest -q $(PYTEST_PARALLEL)

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) state/*.sqlite3* state/outbox
