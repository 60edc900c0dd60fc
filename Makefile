# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# Label Studio (the server behind `alstream demo --ui` and the browser tests) lives in its own venv:
# it pins numpy, pyarrow and others to its own versions. alstream itself only needs label-studio-sdk.
LS_VENV    ?= .venv-label-studio
LS_STAMP    = $(LS_VENV)/.installed
LABEL_STUDIO_VERSION ?= 1.23.2

.PHONY: demo test test-unit lint prometheus bench install label-studio clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,label-studio]'
	touch $(STAMP)

install: $(STAMP)

## Installs the Label Studio server into .venv-label-studio (~1 GB, several minutes).
$(LS_STAMP):
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet --upgrade pip
	$(LS_VENV)/bin/pip install --quiet 'label-studio==$(LABEL_STUDIO_VERSION)'
	touch $(LS_STAMP)

label-studio: $(LS_STAMP)

## Sets up and runs the main job: the whole active-learning loop on the embedded broker.
demo: $(STAMP)
	$(BIN)/alstream demo $(DEMO_ARGS)

## Lint and types: what .pre-commit-config.yaml runs on each commit, over the whole tree.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Debian's prometheus/promtool for the observability tests: installed as root, else a loud warning.
prometheus:
	@.ci/install-prometheus

## Sets up and runs lint, then the whole test suite (unit, integration, e2e).
test: $(STAMP) lint prometheus
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

## Benchmarks print ratios measured side by side in one run.
bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python -m bench.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) $(LS_VENV) .pytest_cache build *.egg-info
