# Two commands on a fresh machine: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test worker lint format bench presets screenshot clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	@echo "ImageGecko Studio: open http://localhost:$(PORT) in your browser (make run PORT=8600 for another port)"
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

worker: $(VENV)/.runtime
	$(PY) -m lib.worker

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n 2 --dist loadgroup -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .

format: $(VENV)/.dev
	$(PY) -m ruff format .

bench: $(VENV)/.runtime
	$(PY) -m bench.pipeline

presets: $(VENV)/.runtime
	$(PY) scripts/make_contact_sheet.py

# Re-take docs/screenshot-gallery.png (the README's picture) with the browser test.
screenshot: $(VENV)/.dev
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q -m e2e tests/e2e

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
