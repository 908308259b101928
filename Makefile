# The two commands that matter: `make run` (the whole job on reference data) and `make test`.
# Both create the virtual environment on first use; nothing needs to be installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data
OUT    ?= artifacts

.PHONY: run readme bench test lint format venv clean help

help:
	@echo "make run    - the whole pipeline under kfp.local on reference data (generated if missing)"
	@echo "make readme - retrain on the default data and regenerate README's result tables"
	@echo "make test   - lint and run the whole test suite"
	@echo "make bench  - measure inference, batch throughput, windowing, validation, sizes"
	@echo "make lint   - ruff check + format check"
	@echo "make format - ruff format"
	@echo "make clean  - remove generated data and artifacts (keeps the venv)"
	@echo "make compile            - recompile components/ and pipelines/ YAML (commit the result)"
	@echo "make image / image-gpu  - build the container images (needs a Docker engine)"
	@echo "make kind-up / kind-e2e - local kind cluster with KFP, then a pipeline run on it"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,kfp,test]'
	@touch $(STAMP)

venv: $(STAMP)

# The compiled Kubeflow pipeline, end to end under kfp.local: validate -> window -> 4 trainers ->
# evaluate -> push (blessed models only, to a local object-store directory). It generates the
# reference data into $(DATA) first when it is missing.
run: $(STAMP)
	$(BIN)/dwcp pipeline run --local --data-dir $(DATA) --output-dir $(OUT)/pipeline

# Regenerate README's result tables from a real run on the default data.
# Always on freshly generated default data, so the tables describe what the code does now.
readme: $(STAMP)
	rm -rf $(OUT)/readme_data $(OUT)/readme_run
	$(BIN)/dwcp generate --output-dir $(OUT)/readme_data
	$(BIN)/dwcp train --data-path $(OUT)/readme_data/dwcp_metrics.csv --output-dir $(OUT)/readme_run --parallel
	mkdir -p docs/results
	cp $(OUT)/readme_run/training_report.json docs/results/training_report.json
	$(BIN)/python -m dwcp_training.readme_tables docs/results/training_report.json $(OUT)/readme_data README.md

# Benchmarks: generates data, trains a run, measures, writes bench/RESULTS.md (several minutes).
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(DATA) $(OUT)

# --- Kubeflow: compile, images, kind (pipelines/, components/, images/, manifests/, scripts/) --
# Image builds and kind need a Docker engine; the scripts refuse clearly without one.

.PHONY: compile image image-gpu kind-up kind-e2e kind-down

compile: $(STAMP)
	$(BIN)/dwcp pipeline compile

image:
	bash scripts/build-image.sh cpu

image-gpu:
	bash scripts/build-image.sh gpu

kind-up: $(STAMP)
	bash scripts/kind-up.sh

kind-e2e: $(STAMP)
	bash scripts/kind-e2e.sh

kind-down:
	kind delete cluster --name $${CLUSTER:-dwcp}
