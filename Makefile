# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST_ARGS ?= -n 2

.PHONY: demo test lint format type bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

demo: $(PY)
	$(PIP) install -e ".[extra]"
	$(PY) examples/demo.py

test: $(PY)
	$(PIP) install -e ".[tests]"
	$(PY) -m pytest $(PYTEST_ARGS) tests

lint: $(PY)
	$(PIP) install ruff
	$(PY) -m ruff check mlx_baselines3 tests examples benchmarks
	$(PY) -m ruff format --check mlx_baselines3 tests examples benchmarks

format: $(PY)
	$(PIP) install ruff
	$(PY) -m ruff check --fix mlx_baselines3 tests examples benchmarks
	$(PY) -m ruff format mlx_baselines3 tests examples benchmarks

type: $(PY)
	$(PIP) install -e ".[tests]"
	$(PY) -m mypy mlx_baselines3

bench: $(PY)
	$(PIP) install -e ".[extra,bench]"
	$(PY) benchmarks/bench.py

docs: $(PY)
	$(PIP) install -e ".[docs]"
	$(VENV)/bin/mkdocs build

clean:
	rm -rf $(VENV) build dist *.egg-info demo_output .pytest_cache
