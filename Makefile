# Two commands on a fresh machine: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Only this computer until sign-in is set up (README: Sign-in, roles and budgets); the app refuses any other address
# without sign-in unless ALLOW_PUBLIC_WITHOUT_AUTH=true.
ADDRESS ?= 127.0.0.1

.PHONY: run test worker lint format typecheck lock bench presets screenshot clean services migration

# Installs come from the lock files (exact versions, sha256 hashes): a fresh machine gets what the tests passed
# with. requirements*.txt keep the ranges; `make lock` re-pins from them (see the `lock` target).
UV_VERSION := 0.13.8
LOCK := $(PY) -m uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock"

$(VENV)/.runtime: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.lock
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	touch $@

run: $(VENV)/.runtime
	@echo "ImageGecko Studio: open http://$(ADDRESS):$(PORT) in your browser (none opens by itself; another port: make run PORT=8600)"
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --server.address $(ADDRESS)

worker: $(VENV)/.runtime
	$(PY) -m lib.worker

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) scripts/mypy_gate.py
	$(PY) -m pytest -n 2 --dist loadgroup -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .

format: $(VENV)/.dev
	$(PY) -m ruff format .

# mypy must not report more errors than mypy-baseline.txt (only ever lowered; 0 = clean).
typecheck: $(VENV)/.dev
	$(PY) scripts/mypy_gate.py

# Re-pin requirements.lock and requirements-dev.lock after editing requirements*.txt: pins already in a lock are
# kept unless the ranges exclude them (`make lock UPGRADE=1` moves every pin to the newest allowed release).
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(LOCK) $(if $(UPGRADE),--upgrade) requirements.txt -o requirements.lock
	$(LOCK) $(if $(UPGRADE),--upgrade) requirements-dev.txt -o requirements-dev.lock

bench: $(VENV)/.runtime
	$(PY) -m bench.pipeline

presets: $(VENV)/.runtime
	$(PY) scripts/make_contact_sheet.py

# Re-take docs/screenshot-gallery.png (the README's picture) with the browser test.
screenshot: $(VENV)/.dev
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q -m e2e tests/e2e

# A throw-away PostgreSQL and S3-compatible server on 127.0.0.1 (several machines, tried on one).
services: $(VENV)/.dev
	$(PY) -m scripts.dev_services

# After changing lib/models.py: write the Alembic revision for it (review it, then commit it).
migration: $(VENV)/.runtime
	$(PY) -m scripts.new_migration "$(m)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
