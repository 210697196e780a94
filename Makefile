# selfheal — every target builds what it needs; nothing relies on what a machine happened to have installed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     ?= .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed

.PHONY: help venv demo test unit lint clean

help:
	@echo "make demo   - heal an estate on a local moto server (starts and stops it)"
	@echo "make test   - lint + the whole test suite"

$(STAMP): pyproject.toml requirements-dev.txt
	@PY312="$$(tools/find-python312)" && { [ -x $(PY) ] || "$$PY312" -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check functions tests devtools bench

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test: lint $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) devtools/demo.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .hypothesis
