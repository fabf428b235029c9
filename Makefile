# The one task runner. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SOURCES := pyproject.toml $(shell find src migrations sql -type f -not -name '*.pyc' 2>/dev/null)
DEMO_STUDENTS ?= 5000

.PHONY: install demo test lint bench docs lint-verdicts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# A real (non-editable) install: tests run against what `pip install .` ships.
$(STAMP): $(BIN)/python $(SOURCES)
	$(BIN)/python -m pip install -q '.[dev]'
	$(BIN)/python -m pip install -q --no-deps --force-reinstall .
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/watoto-schema local start
	$(BIN)/watoto-schema --local migrate
	$(BIN)/watoto-schema --local sample-data --students $(DEMO_STUDENTS) --if-empty
	$(BIN)/watoto-schema --local status

# Two xdist workers share one throwaway cluster and one template (the project's own pytest
# plugin); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# Benchmarks print figures and ratios against a reference measured in the same run.
BENCHES := $(sort $(wildcard bench/*_speed.py))
bench: install
	@set -e; for script in $(BENCHES); do echo "== $$script"; $(BIN)/python "$$script"; done

docs: install
	$(BIN)/python -m watoto_schema.cli.reference > docs/cli.md

# The release record of the shipped migrations' lint verdicts, which `migrate` trusts while
# their checksums hold (docs/lint.md); tests/test_lint_verdicts.py fails when it is not current.
lint-verdicts: install
	$(BIN)/python -m watoto_schema.lint.verdicts migrations
	$(MAKE) install

clean:
	-$(BIN)/watoto-schema local destroy --yes
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
