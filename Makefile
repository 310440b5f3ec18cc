# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv on a fresh machine and install what they need; nothing by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck check install browsers clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/careloop demo

lint: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/lint-imports
	$(BIN)/ruff format --check src tests benchmarks tools

typecheck: install
	$(BIN)/mypy

test: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The README's screenshots, taken by the browser tests (Chromium) on their seeded site.
screenshots: install
	CARELOOP_SCREENSHOTS=1 $(BIN)/python -m pytest -p no:xdist -q tests/web -k browser

clean:
	rm -rf $(VENV) careloop.db .pytest_cache .mypy_cache .ruff_cache
