# The two entry points of the README: `make demo` (the article's experiments,
# then TensorBoard on them) and `make test` (the whole suite). Both install
# what they need first, so they work on a fresh machine.

PYTHON ?= python3
LOGDIR ?= logs/article
PORT ?= 6006

.PHONY: setup test demo experiments benchmarks

setup:
	bash scripts/setup.sh

test: setup
	$(PYTHON) -m pytest -q tests
	node --test tests/frontend/

experiments: setup
	$(PYTHON) -m experiments --quick --logdir $(LOGDIR)

demo: experiments
	$(PYTHON) -m tensorboard.main --logdir $(LOGDIR) --port $(PORT)

benchmarks: setup
	for b in benchmarks/*.py; do $(PYTHON) $$b || exit 1; done
