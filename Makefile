# One entry point for the book. Everything runs inside .venv with the pinned dependencies.
#   make book                          set up, execute every chapter (quick), build _build/html
#   make chapter NAME=gaussian PROFILE=paper SET="runs=200 sizes=[100,1000]"
#   make test                          set up, run the tests (smoke profile) and ruff
#   make bench                         speed measurements in benchmarks/
#   make clean                         remove executed chapters, caches and the built site
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
NAME ?= gaussian
SET ?=

# Offline copies of the data sets (see README); an existing setting wins.
ifneq ($(wildcard ../shared/data),)
export COLLAPSE_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: setup book chapter html test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

book: setup
	$(BIN)/python -m collapse book --profile $(PROFILE)

chapter: setup
	$(BIN)/python -m collapse chapter $(NAME) --profile $(PROFILE) $(foreach s,$(SET),--set '$(s)')

html: setup
	$(BIN)/jupyter-book build . --warningiserror --keep-going

test: setup
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/pytest

bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build .cache book/*.ipynb book/execution.md
