# viewsynth front door. Every target creates .venv and installs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CAPTURE ?= samples/openvslam
OUT ?= out
ARGS ?=
CONFIG ?= configs/train.yaml

.PHONY: interpolate test train benchmark lint install install-ray clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(VENV)/.ray: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(VENV)/.ray

install-ray: $(VENV)/.ray

interpolate: $(STAMP)
	$(BIN)/viewsynth interpolate $(CAPTURE) -o $(OUT) $(ARGS)

# The suite includes the Ray runner's test, so it installs the ray extra too.
test: $(VENV)/.ray
	$(BIN)/python -m pytest tests $(ARGS)

train: $(STAMP)
	$(BIN)/viewsynth train --config $(CONFIG) $(ARGS)

benchmark: $(STAMP)
	$(BIN)/viewsynth benchmark $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check viewsynth pipelines tests
	$(BIN)/ruff check viewsynth pipelines tests

clean:
	rm -rf $(VENV) out reports/benchmark/2*
