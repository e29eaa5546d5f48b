# realfake: two commands do everything on a fresh clone.
#   make run    environment, data, every clean notebook executed in place -> CSV, figures, metrics
#   make test   environment, data links, unit tests + every notebook under nbval in the smoke profile
#               (REALFAKE_RECORD_TEST_TIME=1 make test records its time; python -m realfake.report puts it in the README)
# The run profile comes from REALFAKE_PROFILE (smoke|cpu|full; default full on a GPU, cpu otherwise).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REALFAKE_DATA ?= ../shared/data
CLEAN_NOTEBOOKS := $(sort $(wildcard notebooks/*_clean.ipynb))
HYPERTUNE_NOTEBOOKS := $(sort $(wildcard notebooks/*_hypertune.ipynb))
NOTEBOOKS := $(CLEAN_NOTEBOOKS) $(HYPERTUNE_NOTEBOOKS)

.PHONY: run test data hypertune env clean

run: env data
	$(BIN)/python -m realfake.run_notebooks $(CLEAN_NOTEBOOKS)

test: env data
	rm -rf results/smoke results/checkpoints/smoke
	REALFAKE_PROFILE=smoke MPLBACKEND=Agg $(BIN)/python -m pytest tests $(NOTEBOOKS) --nbval-lax -p no:cacheprovider

hypertune: env data
	$(BIN)/python -m realfake.run_notebooks $(HYPERTUNE_NOTEBOOKS)

data: env
	$(BIN)/python -m realfake.datalink $(REALFAKE_DATA)

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -r requirements.txt
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium) || true
	touch $@

clean:
	rm -rf .cache results/smoke results/checkpoints results/failed_notebooks
	find . -path ./.venv -prune -o \( -name '.*.tmp' -type f -o -name '.staging-*' -type d \) -print0 | xargs -0 rm -rf
