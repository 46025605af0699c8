# The two entry points of the README: `make demo` (the article's experiments,
# then TensorBoard on them) and `make test` (the whole suite). Both install
# what they need first (scripts/setup.sh), into the virtual environment that
# is active or else the project's own .venv, so they work on a fresh machine,
# including a stock Debian/Ubuntu whose python3 refuses `pip install` (PEP 668).

LOGDIR ?= logs/article
PORT ?= 6006
# The environment's python: the active virtual environment's, or .venv's.
PYTHON ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,.venv/bin/python)
# `make test-fast PYTEST_ARGS=...` and `make test PYTEST_ARGS=...` pass options on.
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo experiments benchmarks

setup:
	bash scripts/setup.sh

test: setup
	$(PYTHON) -m pytest -q --durations=25 $(PYTEST_ARGS) tests
	node --test tests/frontend/

test-fast:
	$(PYTHON) -m pytest -q -m "not slow" $(PYTEST_ARGS) tests
	node --test tests/frontend/

experiments: setup
	$(PYTHON) -m experiments --quick --logdir $(LOGDIR)

demo: experiments
	$(PYTHON) -m tensorboard.main --logdir $(LOGDIR) --port $(PORT)

benchmarks: setup
	for b in benchmarks/bench_*.py; do $(PYTHON) $$b || exit 1; done
