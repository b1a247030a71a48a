# The two commands of the README:
#   make demo   set everything up, then run the main job on the built-in demo songs
#   make test   set everything up, then run every check and test (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= separation,download,dev

.PHONY: setup demo test check lint typecheck system-demo system-test clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

system-demo:
	bash scripts/install-system.sh --optional ffmpeg

system-test:
	bash scripts/install-system.sh ffmpeg chromium

demo: system-demo setup
	$(PY) -m soundforge demo

lint: setup
	$(PY) -m ruff check soundforge tests benchmarks

typecheck: setup
	$(PY) -m mypy

check: lint typecheck

test: system-test setup check
	$(PY) -m pytest

clean:
	rm -rf $(VENV) soundforge-demo .pytest_cache .mypy_cache .ruff_cache
