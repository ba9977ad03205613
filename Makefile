# Two entry points (see README Quickstart): `make demo` and `make test`.
# Both create .venv on first use; nothing else needs to be installed first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.demo

# -n auto: one pytest worker per core (most tests are single-threaded XLA compiles, so two
# workers on 2 cores take the suite from ~16 to ~12 minutes); --durations names the slowest
test: $(STAMP)
	$(PY) -m pytest -q -n auto --durations=20

test-fast: $(STAMP)
	$(PY) -m pytest -q -n auto -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache
