# One entry point for the book. Everything runs inside .venv with the pinned dependencies.
#   make book                          set up, execute every chapter (quick), build _build/html
#   make chapter NAME=gaussian PROFILE=paper SET="runs=200 sizes=[100,1000]"
#   make test                          set up, run the tests (smoke profile) and ruff
#   make bench                         speed measurements in benchmarks/
#   make pdf                           execute (cached) and print the whole book to _build/pdf/book.pdf
#   make student OUT=student           every chapter without solutions (.ipynb and .md)
#   make assignments OUT=assignments   graded assignments (otter-grader): student/ and autograder/
#   make clean                         remove executed chapters, caches and the built site
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
NAME ?= gaussian
SET ?=
OUT ?= student
# make pdf: a single-page HTML build printed by headless Chromium (offline)
SITE ?= .
CHROMIUM ?= $(firstword $(foreach b,chromium chromium-browser google-chrome,$(shell command -v $(b) 2>/dev/null)))

# Offline copies of the data sets (see README); an existing setting wins.
ifneq ($(wildcard ../shared/data),)
export COLLAPSE_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: setup book chapter html pdf pdf-only student assignments test bench clean

setup: $(VENV)/.installed

# uv installs the same pins as pip in a fraction of the time (measured on 2 cores: 48 s
# against pip's 125 s); INSTALLER=pip uses pip alone. Bytecode is compiled at install
# because a chapter's kernel imports torch and transformers: from source that costs 24 s
# per kernel instead of 9 where PYTHONDONTWRITEBYTECODE is set. pip's find-links (a local
# torch wheel, for one) apply to uv too.
INSTALLER ?= uv
UV_VERSION := 0.13.9
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifeq ($(INSTALLER),pip)
	$(BIN)/pip install --quiet -e ".[test]"
else
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode \
	    $(foreach link,$(FIND_LINKS),--find-links $(link)) -e ".[test]"
endif
	touch $@

book: setup
	$(BIN)/python -m collapse book --profile $(PROFILE)

chapter: setup
	$(BIN)/python -m collapse chapter $(NAME) --profile $(PROFILE) $(foreach s,$(SET),--set '$(s)')

html: setup
	$(BIN)/jupyter-book build . --warningiserror --keep-going

pdf: setup
	$(BIN)/python -m collapse book --profile $(PROFILE) --no-build
	$(MAKE) pdf-only

# Print the chapters already executed in $(SITE)/book (no execution).
pdf-only: setup
	@if [ -z "$(CHROMIUM)" ]; then echo "make pdf needs Chromium: apt-get install chromium" \
	    "(or set CHROMIUM=/path/to/chrome)" >&2; exit 1; fi
	$(BIN)/jupyter-book build $(SITE) --builder singlehtml --keep-going
	mkdir -p $(SITE)/_build/pdf
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --no-first-run --disable-sync \
	    --disable-background-networking --disable-component-update --no-pdf-header-footer \
	    --user-data-dir=$(abspath $(SITE))/_build/pdf/.chromium --virtual-time-budget=60000 \
	    --run-all-compositor-stages-before-draw \
	    --print-to-pdf=$(abspath $(SITE))/_build/pdf/book.pdf \
	    file://$(abspath $(SITE))/_build/singlehtml/index.html
	rm -rf $(SITE)/_build/pdf/.chromium
	@echo "wrote $(SITE)/_build/pdf/book.pdf"

student: setup
	$(BIN)/python -m collapse student --out $(OUT)

assignments: setup
	$(BIN)/python -m collapse assignments --out $(if $(filter file,$(origin OUT)),assignments,$(OUT)) --profile $(PROFILE)

test: setup
	$(BIN)/ruff check lib tests benchmarks
	$(BIN)/pytest

bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf _build .cache book/*.ipynb book/execution.md
