# captum-infocam: every target creates .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench gpu-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[$*]"
	touch $@

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

demo: $(STAMP)
	$(PY) examples/quickstart.py

# One pytest-xdist worker per core, each taking whole test files (module fixtures built once).
test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n auto --dist loadfile
	$(VENV)/bin/ruff check .

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

docs: $(VENV)/.installed-docs
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/attribution_speed.py --table docs/benchmarks/attribution_speed.rst
	$(PY) benchmarks/wsol_speed.py --table docs/benchmarks/wsol_speed.md

# On a machine with CUDA: cuda-marked tests and GPU benchmark tables (under 8 minutes).
# PY=python3 uses another interpreter that has torch and captum (no .venv needed).
gpu-check:
	PY=$(PY) bash benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .ruff_cache
