# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both create/refresh the local virtual environment .venv from the pinned requirements first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rastlib-installed

.PHONY: demo test venv clean-venv

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m rastlib demo --out results/demo

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
