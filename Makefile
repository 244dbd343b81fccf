# Two commands set everything up from nothing but python3 and make:
#   make test   create .venv, install gymsamp with every extra and the test tools, lint, run all tests
#   make demo   create .venv if needed and run the main sampling demo
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: test demo lint format docs bench clean venv

venv: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# torch first, pinned to the local CPU build, so no later resolution can pull CUDA wheels.
$(INSTALLED): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --progress-bar off -c constraints.txt torch==2.13.0
	$(PIP) install --progress-bar off -c constraints.txt -e ".[all,test]"
	touch $(INSTALLED)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# pytest exits 5 when it collects no test; that is not a failure of the suite.
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc

demo: $(INSTALLED)
	$(BIN)/gymsamp sample CartPole-v1 --policy balance --randomize length=uniform:0.5,0.45 --min-rollouts 40 --seed 0 --out runs/demo/cartpole.npz --plot runs/demo/cartpole.png

docs: $(INSTALLED)
	$(BIN)/mkdocs build --strict

bench: $(INSTALLED)
	$(BIN)/python bench/bench_data.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache site
