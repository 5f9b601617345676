# Two commands set everything up on a fresh machine (Debian, Python 3.11):
#   make demo   – create/reuse .venv from env/requirements.lock, run the main job
#                 (writes only git-ignored files: store/, runs/, catalogs/{lake,features}.yaml)
#   make test   – same environment, run the test suite
# A second run with everything installed starts in seconds (stamp file).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := env/requirements.lock
STAMP  := $(VENV)/.pumplib-env-$(shell cat $(LOCK) pyproject.toml pumplib/features/_kernels.c | sha256sum | cut -c1-16)
PYTEST_ARGS ?=

.PHONY: env demo test lint bench sample lock clean-store browser broker docs

env: $(STAMP) browser broker

# Debian packages the tests need, installed when missing (as root with apt-get), else a
# warning: $(call debian,BINARY,PACKAGE,WHAT NEEDS IT)
define debian
	@test -x $(1) || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian $(2) for $(3)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2) >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2) >/dev/null; }; \
	  else echo "warning: $(1) missing and apt-get unavailable: $(3) will be skipped"; fi; }
endef

# headless browser tests drive Debian's chromium (never a Playwright browser download)
CHROMIUM ?= /usr/bin/chromium
browser:
	$(call debian,$(CHROMIUM),chromium,the browser tests)

# the live path's tests, demo and benchmark use Debian's MQTT broker (never a mock)
MOSQUITTO ?= /usr/sbin/mosquitto
broker:
	$(call debian,$(MOSQUITTO),mosquitto,the live-path tests)

$(STAMP): $(LOCK) pyproject.toml pumplib/features/_kernels.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	# the CPU wheel of torch first, alone, so nothing pulls a CUDA build
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.pumplib-env-*
	@touch $@

demo: env
	$(BIN)/pumplib demo

test: env
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# the offline documentation site (MkDocs, API reference from the numpydoc docstrings) in site/
docs: env
	$(BIN)/mkdocs build --strict --site-dir site

lint: env
	$(BIN)/ruff check pumplib tests benchmarks

bench: env
	$(BIN)/python benchmarks/bench_ingest.py

sample: env
	$(BIN)/pumplib simulate sample

# re-resolve the pins from env/requirements.in (needs the package index)
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q "torch==2.13.0"
	.venv-lock/bin/python -m pip install -q -r env/requirements.in
	.venv-lock/bin/python -m pip freeze | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/' > $(LOCK)
	rm -rf .venv-lock

# the store and what was generated from it (git ignores all of them)
clean-store:
	rm -rf store catalogs/lake.yaml catalogs/features.yaml
