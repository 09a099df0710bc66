# The README's two commands: `make demo` and `make test`. Both set up what they need and are idempotent.
VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.msm-installed
PIP      = $(BIN)/python -m pip --disable-pip-version-check -q
MSM      = $(BIN)/msm
DEMO_WS ?= msm-workspace

.PHONY: setup browser model demo test bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU build this machine serves: a bare `torch` requirement would make pip
# choose a multi-GB CUDA build (see docs/embedded-model.md). pyproject keeps a plain lower bound.
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev]"
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

test: setup browser
	$(BIN)/python -m pytest -q

bench: setup
	$(PIP) install -e ".[bench]"
	$(PIP) install --no-deps "datatrove==0.10.1"
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
