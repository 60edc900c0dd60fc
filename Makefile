# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-unit lint prometheus bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

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
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
