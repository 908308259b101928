# The two commands that matter: `make run` (the whole job on reference data) and `make test`.
# Both create the virtual environment on first use; nothing needs to be installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data
OUT    ?= artifacts

.PHONY: run test lint format venv clean help

help:
	@echo "make run    - generate reference data if missing, validate, window (prints a summary)"
	@echo "make test   - lint and run the whole test suite"
	@echo "make lint   - ruff check + format check"
	@echo "make format - ruff format"
	@echo "make clean  - remove generated data and artifacts (keeps the venv)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,kfp,test]'
	@touch $(STAMP)

venv: $(STAMP)

$(DATA)/dwcp_metrics.csv: | $(STAMP)
	$(BIN)/dwcp generate --output-dir $(DATA)

run: $(STAMP) $(DATA)/dwcp_metrics.csv
	$(BIN)/dwcp validate --data-path $(DATA)/dwcp_metrics.csv --report $(OUT)/validation_report.json
	$(BIN)/dwcp window --data-path $(DATA)/dwcp_metrics.csv --output-dir $(OUT)/windows
	$(BIN)/dwcp window --data-path $(DATA)/dwcp_test.csv --output-dir $(OUT)/test_windows --test-only

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(DATA) $(OUT)
