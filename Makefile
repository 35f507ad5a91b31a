# MoSAiC for QGIS. The two commands: `make demo` and `make test`. Each sets the machine up by itself.
SHELL := /bin/bash
PY := .venv/bin/python
VERSION := $(shell sed -n 's/^version=//p' metadata.txt)
export QT_QPA_PLATFORM ?= offscreen
export MOSAIC_SHARED_DATA ?= $(abspath ../shared/data)

.PHONY: setup demo test test-fast lint docs package qgis qgis-matrix bench screenshots clean

setup:
	@bash tools/setup_env.sh

demo: setup
	$(PY) -m mosaic.backend.demo --out out/demo

test: setup lint docs
	$(PY) -m pytest tests
	bash tools/qgis_matrix.sh

test-fast: setup
	$(PY) -m pytest tests -m "not slow"

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/bandit -q -r plugin backend tools __init__.py -ll -c pyproject.toml
	.venv/bin/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files -- ':!*.tif' ':!*.png' ':!*.mdb' ':!*.parquet' ':!*.onnx' ':!.secrets.baseline')

# the documentation site (mkdocs.yml, docs/) into out/site; --strict: a broken link or anchor fails the build
docs: setup
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict

package: setup
	$(PY) tools/package_plugin.py --out dist

qgis: setup
	bash tools/run_qgis.sh

# the plugin's real-QGIS checks in QGIS 3.40 (Debian 13) and 3.44 (Debian unstable) roots, cached under
# ~/.cache/mosaic-qgis/roots (root; first run about 4 min, then about 35 s)
qgis-matrix: setup
	bash tools/qgis_matrix.sh

bench: setup
	.venv/bin/mosaic bench data
	.venv/bin/mosaic bench train
	.venv/bin/mosaic bench predict
	$(PY) tools/plugin_bench.py

# rewrite the README screenshots in docs/img from real runs (ordinary test runs save them in a temporary folder)
screenshots: setup
	MOSAIC_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -p no:cacheprovider tests/plugin/test_screenshots.py \
		tests/plugin/test_training_dialog.py::test_trained_from_the_menu_the_model_reaches_the_dock

clean:
	rm -rf dist out .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
