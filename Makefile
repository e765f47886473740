# CVOps Workbench. Every target sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-workspace

.PHONY: run demo test bench clean-demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## run: the main job (until the GUI lands: the headless demo, then a tour of the demo workspace)
run: $(STAMP)
	@test -f $(DEMO_DIR)/cvops.db || $(BIN)/cvops demo $(DEMO_DIR)
	$(BIN)/cvops -w $(DEMO_DIR) stats
	$(BIN)/cvops -w $(DEMO_DIR) classes list
	$(BIN)/cvops -w $(DEMO_DIR) images list --limit 10
	$(BIN)/cvops -w $(DEMO_DIR) doctor --quick

## demo: (re)build the demo workspace from the synthetic shapes dataset
demo: $(STAMP)
	$(BIN)/cvops demo $(DEMO_DIR) --force

## test: the whole test suite (the CI command)
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: speed and memory figures, each script printing JSON
bench: $(STAMP)
	@set -e; for script in tests/benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; done

clean-demo:
	rm -rf $(DEMO_DIR)
