# The workbook's commands. `make test` and `make book` do everything on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
KERNEL := mi-workbook
# No hub, no telemetry: every run uses the bundled models and data only.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 WANDB_MODE=disabled \
	DO_NOT_TRACK=1 PYDEVD_DISABLE_FILE_VALIDATION=1
# Runs a command with the network switched off (a network namespace with loopback only) where possible.
NO_NET := tests/run_offline.sh
PYTEST_ARGS ?=
VENDOR := notebooks/_vendor/.done
# JupyterLab without its internet features: no news feed, no update check, and the news question answered.
LAB_FLAGS := --LabApp.extension_manager=readonly --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: setup browser test book lab models bench clean

setup: $(STAMP) $(VENDOR)

# Idempotent: reruns only when the pins or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name $(KERNEL) --display-name "MI Workbook (.venv)" >/dev/null
	mkdir -p $(dir $(LAB_SETTINGS))
	echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
		> $(LAB_SETTINGS)
	touch $@

# The widget manager and require.js for pages with live widgets, from npm (the site never asks a CDN).
$(VENDOR): mi_widgets/book/build.py | $(STAMP)
	$(BIN)/python -m mi_widgets.book --vendor >/dev/null

# Debian's Chromium for the browser test of the built site (Playwright drives it; its own download
# cannot work offline). Without root or apt the browser test skips, saying why.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null; } || echo "make browser: could not install chromium"

test: setup browser
	$(OFFLINE) $(NO_NET) $(BIN)/python -m pytest $(PYTEST_ARGS)

book: setup
	$(OFFLINE) $(NO_NET) $(BIN)/python -m mi_widgets.book --execute

# Loopback only, extension manager read-only (it would query PyPI), no news; root (containers) needs --allow-root.
lab: setup
	$(BIN)/python -m mi_widgets.book --notebooks
	$(OFFLINE) $(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_FLAGS) \
		--ServerApp.ip=127.0.0.1 --ServerApp.open_browser=False $(if $(filter 0,$(shell id -u)),--allow-root)

# The model suite, then the dictionaries shipped for the 4-layer model (they read its weights).
models: setup
	$(OFFLINE) $(BIN)/python -m mi_widgets.organisms.suite
	$(OFFLINE) $(BIN)/python -m mi_widgets.dictionaries.shipped

bench: setup
	$(BIN)/pip install --quiet -r requirements-bench.txt
	$(OFFLINE) $(NO_NET) $(BIN)/python tests/benchmarks/bench.py

clean:
	rm -rf notebooks/_build notebooks/_vendor .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
