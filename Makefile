# The README's two set-up commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: demo test lint typecheck unit install clean regen-migration

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf demo-run && mkdir -p demo-run
	cd demo-run && ../$(BIN)/relance demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

clean:
	rm -rf $(VENV) demo-run .pytest_cache .mypy_cache .ruff_cache

# Development: squash the schema into the single initial migration from the models (no release yet).
regen-migration: $(STAMP)
	rm -f core/migrations/versions/0001_initial_schema.py /tmp/relance-regen.db
	$(BIN)/python -c "from core.migrate import autogenerate; autogenerate('sqlite:////tmp/relance-regen.db', 'initial schema', '0001')"
	rm -f /tmp/relance-regen.db
