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
	@echo "make bench  - wall time and API calls vs estate size -> docs/benchmarks.{md,json,png}"
	@echo "make build [ESTATE=path/to/estate.yaml] - sam build: the shipped Galerly estate, or the application"
	@echo "                     for your estate (its role and change rule generated from it; docs/deploy.md)"
	@echo "make fleet-template [ESTATE=...] - StackSet-ready template (no Transform) + code zips -> dist/fleet/"
	@echo "make fleet-package REGIONS=\"us-east-1 eu-west-1\" ARTIFACT_BUCKET_PREFIX=p [ENDPOINT_URL=u]"
	@echo "                     - upload them to <prefix>-<region> in every region (docs/fleet-template.md)"

$(STAMP): pyproject.toml requirements-dev.txt
	@PY312="$$(tools/find-python312)" && { [ -x $(PY) ] || "$$PY312" -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $@

venv: $(STAMP)

lint: $(STAMP) lint-template actionlint
	$(VENV)/bin/ruff check functions tests devtools $(wildcard bench)
	$(VENV)/bin/mypy  # strict, on functions/selfheal/selfheal, app.py and devtools (pyproject.toml [tool.mypy])

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

# The suite also runs the built function (.aws-sam/build), so it builds first. Lint and build do not depend on each
# other: once both venvs exist they run side by side (each mostly one core: mypy, cfn-lint, sam build), their output
# kept whole per target. Two workers, each with its own local AWS, each taking the next test as it finishes one (the
# slowest modules no longer load one worker); a module whose module- or class-scoped fixture is costly is one
# xdist_group, run by one worker (its fixture runs once).
PYTEST_WORKERS ?= 2
test: $(STAMP) $(SAM_STAMP)
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint build
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

demo: $(STAMP)
	$(PY) devtools/demo.py

clean:
	rm -rf $(VENV) .venv-sam .venv-bench .aws-sam .pytest_cache .hypothesis

# --- SAM application: template and workflow lint, build. Own venv: aws-sam-cli pins its own boto3. ---
SAM_VENV  ?= .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_ENV   := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1}
BUILT     := .aws-sam/build/template.yaml

.PHONY: sam-venv lint-template actionlint build

$(SAM_STAMP): requirements-sam.txt
	@PY312="$$(tools/find-python312)" && { [ -x $(SAM_VENV)/bin/python ] || "$$PY312" -m venv $(SAM_VENV); }
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

sam-venv: $(SAM_STAMP)

lint-template: $(SAM_STAMP)
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint --template-file template.yaml
	$(SAM_ENV) $(SAM_VENV)/bin/cfn-lint fleet/central.yaml

actionlint: $(SAM_STAMP)
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" actionlint .github/workflows/*.yml

# Rebuilt only when an input changed; sam build needs the runtime's python3.12 first on PATH. Then (SHIP_BUILD), with
# that python and the built layer's botocore: its service data parsed for the function (selfheal/servicedata.py), the
# methods dataclasses write for the package's classes compiled (selfheal/classcode.py), and bytecode for the function
# and the layer (Lambda's file system is read-only: a .pyc not shipped is compiled at every cold start; unchecked-hash,
# as file times do not survive packaging).
SAM_BUILD = PATH="$$(dirname "$$(tools/find-python312)"):$$PATH" $(SAM_ENV) $(SAM_VENV)/bin/sam build
define SHIP_BUILD
PYTHONPATH=.aws-sam/build/DepsLayer/python:.aws-sam/build/Function "$$(tools/find-python312)" -s -m \
	selfheal.servicedata .aws-sam/build/Function/selfheal/botocore-data.marshal
PYTHONPATH=.aws-sam/build/DepsLayer/python:.aws-sam/build/Function "$$(tools/find-python312)" -s -m selfheal.validators .aws-sam/build/Function/selfheal/_validators
PYTHONPATH=.aws-sam/build/Function:.aws-sam/build/DepsLayer/python POWERTOOLS_TRACE_DISABLED=true \
	"$$(tools/find-python312)" -s -c 'import sys, selfheal.classcode as c; c.main(sys.argv[1:])' \
	.aws-sam/build/Function/selfheal/classcode.marshal
"$$(tools/find-python312)" -s -m compileall -q -j 0 --invalidation-mode unchecked-hash \
	.aws-sam/build/Function .aws-sam/build/DepsLayer/python
endef
$(BUILT): $(SAM_STAMP) template.yaml samconfig.toml layers/deps/requirements.txt \
		$(shell find functions/selfheal -type f -not -path '*/__pycache__/*' -not -name '*.marshal' 2>/dev/null)
	$(SAM_BUILD) --template-file template.yaml
	$(SHIP_BUILD)
	@touch $@

# ESTATE=path/to/estate.yaml (several: merged, each resource declared once): the application for that estate —
# devtools/buildapp.py writes $(APP_DIR)/template.yaml (template.yaml with the role, the restore role and the change
# rule generated from the estate, a parameter per overridable var) and $(APP_DIR)/function/ (the code, carrying the
# estate); then cfn-lint and sam build. Without ESTATE: template.yaml, the shipped Galerly estate.
ESTATE    ?=
APP_DIR   := .aws-sam/estate
BUILT_FOR := .aws-sam/built-for
ifeq ($(strip $(ESTATE)),)
APP_TEMPLATE := template.yaml
build:
	@if [ -s $(BUILT_FOR) ]; then echo "replacing the build for $$(cat $(BUILT_FOR))"; rm -f $(BUILT) $(BUILT_FOR); fi
	@$(MAKE) --no-print-directory $(BUILT)
else
APP_TEMPLATE := $(APP_DIR)/template.yaml
build: $(STAMP) $(SAM_STAMP)
	$(PY) devtools/buildapp.py --out $(APP_DIR) $(ESTATE)
	$(SAM_VENV)/bin/cfn-lint $(APP_TEMPLATE)
	$(SAM_BUILD) --template-file $(APP_TEMPLATE)
	$(SHIP_BUILD)
	@echo "$(ESTATE)" > $(BUILT_FOR)
endif

# --- Local invoke: the real handler in-process on one event file; a fresh local AWS unless AWS_ENDPOINT_URL is set. ---
EVENT ?= events/scheduled.json
.PHONY: invoke

invoke: $(STAMP)
	$(PY) devtools/invoke.py $(EVENT)

# --- Benchmark: regenerates docs/benchmarks.{md,json,png} on a local AWS with 50 ms per call: the engine's speed, client
# construction and a cold Lambda init of the built function (about 6 minutes on a quiet machine); then bucket recovery
# against s3-pit-restore (bench/recover.py: its own section of benchmarks.md), and a restore drill's duration on AWS's
# clock scaled down (bench/drill.py, alone: `.venv/bin/python -m bench.drill`). ---
BENCH_ARGS ?=
BENCH_VENV ?= .venv-bench
.PHONY: bench bench-venv

bench: $(STAMP) build $(BENCH_VENV)/.installed
	$(PY) -m bench.run --drill --recover $(BENCH_ARGS)

# s3-pit-restore, the peer tool bench/recover.py times, in a venv of its own (never in the project's).
$(BENCH_VENV)/.installed: Makefile
	@PY312="$$(tools/find-python312)" && { [ -x $(BENCH_VENV)/bin/python ] || "$$PY312" -m venv $(BENCH_VENV); }
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check s3-pit-restore==0.9 boto3==1.43.11
	@touch $@

bench-venv: $(BENCH_VENV)/.installed

# --- Fleet: the StackSet-ready template (SAM transform applied here; StackSets take no Transform) and its code in one
# artifact bucket per region (docs/fleet-template.md). ---
FLEET_DIR              ?= dist/fleet
REGIONS                ?=
ARTIFACT_BUCKET_PREFIX ?=
ENDPOINT_URL           ?=
.PHONY: fleet-template fleet-package

fleet-template: $(SAM_STAMP) build
	$(SAM_ENV) $(SAM_VENV)/bin/python devtools/fleet_template.py --template $(APP_TEMPLATE) --build-dir .aws-sam/build \
		--out $(FLEET_DIR)
	$(SAM_VENV)/bin/cfn-lint $(FLEET_DIR)/template.yaml

fleet-package: fleet-template $(STAMP)
	$(PY) devtools/fleet_package.py --dist $(FLEET_DIR) --regions "$(REGIONS)" --prefix "$(ARTIFACT_BUCKET_PREFIX)" \
		$(if $(ENDPOINT_URL),--endpoint-url "$(ENDPOINT_URL)")
