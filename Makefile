# CVOps Workbench. Every target sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-workspace
# What a fresh install gets: exact versions of every package, tested together (`make lock` refreshes the file).
# `make LOCK= test` installs from pyproject.toml's ranges alone, as a library user would.
LOCK ?= constraints.txt

.PHONY: run demo test check bench screenshots docs clean-demo lock installer wheelhouse

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -e ".[dev,ray,openvino]" $(if $(LOCK),-c $(LOCK))
	@touch $(STAMP)

## lock: resolve pyproject.toml's ranges afresh in a temporary environment and write the exact versions to
## $(LOCK), which every other target installs from
lock:
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=23"
	.lock-venv/bin/python -m pip install --quiet ".[dev,ray,openvino]"
	@{ echo "# Exact versions a fresh install gets (make uses this file as pip constraints; refresh: make lock)."; \
	   echo "# Platform-specific packages (CUDA wheels, ...) only apply where pip would install them."; \
	   .lock-venv/bin/python -m pip freeze --exclude cvops-workbench; } > $(LOCK).tmp
	@mv $(LOCK).tmp $(LOCK) && rm -rf .lock-venv && echo "wrote $(LOCK)"

## run: open the workbench on the demo workspace (built on first use). Without a display the workbench says so
## (pointing to `make demo`) and a headless tour of the demo workspace runs instead.
run: $(STAMP)
	@test -f $(DEMO_DIR)/cvops.db || $(BIN)/cvops demo $(DEMO_DIR)
	@if $(BIN)/python -c "import sys; from cvops_app.main import has_display; sys.exit(not has_display())"; then \
		$(BIN)/cvops-workbench $(DEMO_DIR); \
	else \
		$(BIN)/cvops-workbench $(DEMO_DIR) || true; \
		echo; echo "== headless tour of $(DEMO_DIR) (the desktop window needs a display)"; \
		$(BIN)/cvops -w $(DEMO_DIR) stats && $(BIN)/cvops -w $(DEMO_DIR) classes list && \
		$(BIN)/cvops -w $(DEMO_DIR) images list --limit 10; \
	fi

## demo: (re)build the demo workspace from the synthetic shapes dataset (256 images), freeze a version of every image
## split 75/25 (v2), then train on it (fast preset, 20 epochs at 160 px, CPU-sized: mAP50 0.97-0.995 over 10 runs),
## register and evaluate a model on it; export the champion to ONNX, verify it (the gate), bundle it into
## $(DEMO_DIR)/edge-bundle and deploy that to $(DEMO_DIR)/deployed, where its selftest runs
DEMO_COUNT ?= 256
DEMO_SPLIT ?= 75/25
DEMO_TRAIN ?= --preset fast --epochs 20 --imgsz 160
DEMO_LAST_EXPORT = $(BIN)/cvops -w $(DEMO_DIR) export --list --json | $(BIN)/python -c "import json, sys; print(json.load(sys.stdin)[-1]['id'])"
demo: $(STAMP)
	$(BIN)/cvops demo $(DEMO_DIR) --force --count $(DEMO_COUNT)
	$(BIN)/cvops -w $(DEMO_DIR) version create -m "every demo image" --split $(DEMO_SPLIT) --resplit
	$(BIN)/cvops -w $(DEMO_DIR) train --version v2 $(DEMO_TRAIN)
	$(BIN)/cvops -w $(DEMO_DIR) models promote latest
	$(BIN)/cvops -w $(DEMO_DIR) evaluate champion
	$(BIN)/cvops -w $(DEMO_DIR) export champion --format onnx
	$(BIN)/cvops -w $(DEMO_DIR) verify $$($(DEMO_LAST_EXPORT))
	rm -rf $(DEMO_DIR)/edge-bundle
	$(BIN)/cvops -w $(DEMO_DIR) bundle $$($(DEMO_LAST_EXPORT)) $(DEMO_DIR)/edge-bundle
	$(BIN)/cvops -w $(DEMO_DIR) deploy $(DEMO_DIR)/edge-bundle --to $(DEMO_DIR)/deployed

## test: the whole test suite (the CI command)
test: $(STAMP)
	$(BIN)/python -m pytest

## check: the quick gate before a commit (a few minutes on 2 cores): lint (pyflakes), the import contracts between
## the core's layers (lint-imports, configured in pyproject.toml) and the tests not marked slow; `make test` runs them all
check: $(STAMP)
	$(BIN)/python -m pyflakes src app tests
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not slow" -q

## bench: speed and memory figures, each script printing JSON
bench: $(STAMP)
	@set -e; for script in tests/benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; done

## docs: draw the layers of the core and the app from the code and the import contracts (docs/architecture.svg)
docs: $(STAMP)
	$(BIN)/python resources/architecture.py docs/architecture.svg

## screenshots: render the pages and dialogs offscreen into docs/screenshots/ (and refresh the guide's shortcut table)
screenshots: $(STAMP)
	@test -f $(DEMO_DIR)/cvops.db || $(BIN)/cvops demo $(DEMO_DIR)
	$(BIN)/cvops-workbench $(DEMO_DIR) --screenshot docs/screenshots/images.png --page images --size 1400x860
	$(BIN)/cvops-workbench $(DEMO_DIR) --screenshot docs/screenshots/images-dark.png --page images --size 1400x860 --theme dark
	$(BIN)/cvops-workbench $(DEMO_DIR) --screenshot docs/screenshots/annotate.png --page annotate --size 1400x860
	$(BIN)/cvops-workbench $(DEMO_DIR) --screenshot docs/screenshots/versions.png --page versions --size 1400x860
	$(BIN)/cvops-workbench $(DEMO_DIR) --screenshot docs/screenshots/train.png --page train --size 1400x860
	$(BIN)/cvops-workbench $(DEMO_DIR) --screenshot docs/screenshots/models.png --page models --size 1400x860
	$(BIN)/python resources/screenshots.py $(DEMO_DIR) docs/screenshots docs/annotators-guide.md
	$(BIN)/python resources/screenshots_automation.py docs/screenshots
	$(BIN)/python resources/screenshots_training.py docs/screenshots
	$(BIN)/python resources/screenshots_tune.py docs/screenshots

## installer: the self-contained Linux application for VARIANT=cpu (default) or VARIANT=cuda: a PyInstaller
## one-folder build with both executables, a .tar.gz (install.sh into ~/.local) and a .deb under build/installer/,
## smoke-tested from a clean environment (installer/README.md). ICON_SVG=path overrides the icon's source.
VARIANT ?= cpu
installer:
	VARIANT=$(VARIANT) PYTHON=$(PYTHON) installer/build.sh $(VARIANT)

## wheelhouse: every wheel the workbench needs on this platform (PLATFORM=win_amd64 PY_VERSION=3.11 for another)
## for VARIANT=cpu|cuda into build/wheelhouse-$(VARIANT), with install-offline.sh / .ps1 to install it with no network
wheelhouse:
	VARIANT=$(VARIANT) PYTHON=$(PYTHON) installer/wheelhouse.sh $(VARIANT)

clean-demo:
	rm -rf $(DEMO_DIR)
