# The README's two commands: `make demo` and `make test`. Both set up what they need and are idempotent.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.msm-installed
PIP      = $(BIN)/python -m pip --disable-pip-version-check -q
MSM      = $(BIN)/msm
DEMO_WS ?= msm-workspace

.PHONY: setup browser model demo lint test docs cli-docs bench min-versions constraints clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build: a bare `torch` requirement would make pip choose a multi-GB CUDA
# build (docs/dependencies.md). pyproject keeps a plain lower bound. Everything else comes from the tested
# set in constraints.txt, so `make test` and `make demo` install what the suite last passed with.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev]" -c constraints.txt
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the review app's real-browser tests (Playwright's own browser download cannot work
# offline). Installed once; skipped when present.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

model: setup
	$(MSM) --workspace $(DEMO_WS) models pull smollm2-135m

demo: model
	bash scripts/demo.sh $(DEMO_WS)

# The import layering (.importlinter, over the whole mapped package: scripts/lint_imports.py says why) and ruff.
lint: setup
	$(BIN)/python scripts/lint_imports.py
	$(BIN)/ruff check .

test: lint setup browser docs
	$(BIN)/python -m pytest -q

# The manual (docs/, mkdocs.yml) into build/site/. --strict: a link to a missing page or image, or to an anchor
# that no heading has, fails the build (and so `make test`). Not --quiet: it hides the warnings --strict counts.
docs: setup
	$(BIN)/mkdocs build --strict

# Rewrite docs/cli.md from every command's --help (tests/test_cli_reference.py fails when it is out of date).
cli-docs: setup
	$(BIN)/python scripts/cli_reference.py

bench: setup
	$(PIP) install -e ".[bench]" -c constraints.txt
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The version floors: a fresh .venv-min with every direct dependency at its pyproject floor runs the fast tests.
min-versions:
	bash scripts/check_min_versions.sh

# Rewrite constraints.txt from the installed set (after a green `make test` with upgraded packages).
constraints: setup
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch==' | LC_ALL=C sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean-venv:
	rm -rf $(VENV)
