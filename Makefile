# Set-up and everyday commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := training/llmrouter_dc
MODELS := models
HOST ?= 127.0.0.1
PORT ?= 50051

.PHONY: run train test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: that takes the local CPU build instead of a multi-GB CUDA one.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	touch $@

$(VENV)/.installed: pyproject.toml hatch_build.py $(wildcard protos/router_ml/v1/*.proto) $(VENV)/.torch
	$(BIN)/pip install -e '.[dev]'
	touch $@

TRAIN = HF_HUB_OFFLINE=1 $(BIN)/router-ml train --data $(DATA)/outcomes.jsonl.gz --catalog $(DATA)/catalog.toml --out $(MODELS)

# A new version every time.
train: $(VENV)/.installed
	$(TRAIN)

# Only when there is none yet, so `make run` does not add a version (~160 MB) on every start.
$(MODELS)/current: | $(VENV)/.installed
	$(TRAIN)

run: $(MODELS)/current
	HF_HUB_OFFLINE=1 $(BIN)/router-ml serve --model $(MODELS) --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
