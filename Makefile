# The two commands of the README:
#   make demo   set everything up, then run the main job on the built-in demo songs
#   make test   set everything up, then run every check and test (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= separation,download,dev

.PHONY: setup python-check demo test check lint typecheck system-demo system-test clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@bash scripts/check-python.sh "$(PYTHON)" "$(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	# Jupyter kernel "python3" = this venv's python (notebooks, nbval, papermill batch runs, JupyterLab)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (SoundForge .venv)"
	touch $@

# The Python check runs first, every time: a wrong PYTHON creates nothing, and a .venv made by another
# Python (or left broken) is removed, so the recursive make below rebuilds it.
python-check:
	@bash scripts/check-python.sh "$(PYTHON)" "$(VENV)"

setup: python-check
	@$(MAKE) --no-print-directory $(VENV)/.installed

system-demo:
	bash scripts/install-system.sh --optional ffmpeg

system-test:
	bash scripts/install-system.sh ffmpeg chromium

demo: system-demo setup
	$(PY) -m soundforge demo

lint: setup
	$(PY) -m ruff check soundforge tests benchmarks notebooks

typecheck: setup
	$(PY) -m mypy

check: lint typecheck

# pytest runs tests/ and, through nbval, every notebook in notebooks/ (pyproject.toml);
# SOUNDFORGE_REQUIRE_BROWSER: the JupyterLab + Chromium test fails instead of skipping when Chromium is missing.
test: system-test setup check
	SOUNDFORGE_REQUIRE_BROWSER=1 $(PY) -m pytest

# Everything make and the tests create in the clone (workspaces of tests live in temporary folders).
clean:
	rm -rf $(VENV) soundforge-demo .pytest_cache .mypy_cache .ruff_cache test-artifacts build dist *.egg-info
	find . -path ./.git -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print \
		| xargs rm -rf
