# Two commands matter (see README): `make demo` and `make test`.
# Everything else is a step they depend on.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed
# maturin/cargo builds are serialised so parallel callers never race on .venv.
LOCK := flock $(VENV)/.build.lock
# How many steps `make test` runs at once. Each cargo build uses every core on
# its own; the pip installs and the tests that wait on processes leave room.
TEST_JOBS ?= 4
# The real Airflow deployment tests/test_airflow_deployment.py starts, in its own
# virtualenv, installed once per set of requirements (the stamp's name carries their
# hash). Pinned without Airflow's constraint files (not on PyPI): celery 5.7 removed a
# name the celery provider 3.26.0 imports (`celery.backends.database.retry`).
AIRFLOW_VENV ?= .airflow-venv
AIRFLOW_REQUIREMENTS := apache-airflow==3.3.2 apache-airflow-providers-celery==3.26.0 \
	celery[redis]==5.6.3
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell echo "$(AIRFLOW_REQUIREMENTS)" | sha256sum | cut -c1-16)

.PHONY: all venv develop demo test test-steps test-rust test-python test-airflow test-tools \
	install-wheel stubtest readme lint lint-rust lint-python fmt wheel bench bench-nfs \
	fuzz fuzz-build fuzz-smoke fuzz-smoke-build clean airflow-venv

all: test

# A venv with one dependency group of pyproject.toml (pip >= 25.1 reads them):
# $(call group-venv,DIR,GROUP), in the recipe of DIR's stamp file.
define group-venv
test -x $(1)/bin/python || python3 -m venv $(1)
$(1)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
$(1)/bin/python -m pip install --quiet --disable-pip-version-check --group $(2)
touch $@
endef

# Install the wheel WHEEL (a glob) into the venv DIR unless DIR already has exactly
# these bytes (their sha256 is kept in DIR/.afbundle-wheel): $(call install-wheel,DIR,WHEEL)
define install-wheel
wheel=$$(ls $(2)); sum=$$(sha256sum $$wheel | cut -d' ' -f1); \
if [ "$$(cat $(1)/.afbundle-wheel 2>/dev/null)" != "$$sum" ]; then \
  $(1)/bin/python -m pip uninstall --quiet --yes afbundle 2>/dev/null || true; \
  $(1)/bin/python -m pip install --quiet --disable-pip-version-check $$wheel \
    && echo "$$sum" > $(1)/.afbundle-wheel; \
fi
endef

# $(call logged,LOG,COMMAND): COMMAND's output goes to LOG, and its tail is shown
# when it fails.
define logged
mkdir -p $(dir $(1)); $(2) > $(1) 2>&1 || { \
  tail -n 60 $(1); echo "error: '$(strip $(2))' failed; full log: $(1)" >&2; exit 1; }
endef

$(STAMP): pyproject.toml
	$(call group-venv,$(VENV),dev)

venv: $(STAMP)

# Build the extension in release mode into .venv as an editable install (for working
# on the code; `make test` installs the wheel it tests instead).
develop: $(STAMP)
	rm -f $(VENV)/.afbundle-wheel
	PIP_QUIET=1 VIRTUAL_ENV=$(abspath $(VENV)) $(LOCK) $(BIN)/maturin develop --release --quiet

# The demo needs the extension and jsonschema only: its own small venv (maturin, the
# `demo` group) and a debug build (half the compile time of a release build; its
# symbols stripped, 3 MB instead of 47), installed as a wheel so that the source
# tree's editable install is left alone. `make test` reuses the compiled dependencies.
DEMO_VENV ?= .venv-demo
DEMO_WHEELS := target/demo-wheel
$(DEMO_VENV)/.deps-installed: pyproject.toml
	$(call group-venv,$(DEMO_VENV),demo)

demo: $(DEMO_VENV)/.deps-installed
	rm -f $(DEMO_WHEELS)/afbundle-*.whl
	flock $(DEMO_VENV)/.build.lock $(DEMO_VENV)/bin/maturin build --quiet --profile dev \
	  --strip --compatibility linux --out $(DEMO_WHEELS)
	$(call install-wheel,$(DEMO_VENV),$(DEMO_WHEELS)/afbundle-*.whl)
	$(DEMO_VENV)/bin/python scripts/demo.py

# Every step in parallel, TEST_JOBS at a time, each step's output printed in one piece
# when it ends (GNU make's --output-sync); the first failure fails `make test`.
TEST_STEPS := lint test-rust fuzz-smoke test-python test-airflow stubtest readme
test:
	@echo "make test: $(TEST_STEPS), $(TEST_JOBS) steps at a time (output shown as each ends)"
	@start=$$(date +%s); \
	  $(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-steps; \
	  echo "make test: all passed in $$(( $$(date +%s) - start )) s"
# Under `make test` the Airflow deployment tests are mandatory: naming their venv
# makes them fail, not skip, when it is missing (every step inherits this).
test: export AFBUNDLE_AIRFLOW_VENV = $(abspath $(AIRFLOW_VENV))

# Started in this order as job slots free up: the downloads first (they mostly wait
# on the network), the wheel as soon as .venv exists (the Python tests wait for it),
# the fuzz build early (its 1-minute run comes after it).
test-steps: $(AIRFLOW_STAMP) $(STAMP) test-tools wheel fuzz-smoke-build lint-rust $(TEST_STEPS)

# The tests import the wheel `make wheel` built (the one workers install, linked with
# zig), installed into .venv: one release build serves every step.
install-wheel: wheel $(STAMP)
	$(call install-wheel,$(VENV),dist/afbundle-*.whl)

# README's console sessions are generated; fail when they no longer match a fresh run.
readme: install-wheel
	$(PY) scripts/readme_example.py --check

# MAKEFLAGS is emptied: under `make test -j` it names a jobserver whose descriptors
# only recursive makes get, and rustdoc would warn that it cannot open them.
test-rust: test-tools
	MAKEFLAGS= cargo test --quiet --no-default-features

# tests/test_signing.py signs with OpenSSH's own ssh-keygen (Debian: openssh-client);
# tests/test_airflow_deployment.py starts Debian's redis-server as its Celery broker.
test-tools:
	command -v ssh-keygen >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client; }
	command -v redis-server >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	command -v strace >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }

# pytest exits 5 when it collected nothing: that must fail, and say so.
define pytest
$(PY) -m pytest -q $(1) || { rc=$$?; \
  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests ($@)" >&2; fi; exit $$rc; }
endef

# Everything but the deployment tests, on two workers; all tests of one file run in one
# worker (--dist loadfile), so module fixtures are set up once and a file's tests never
# race each other (test_trust.py creates its second user once).
test-python: install-wheel test-tools
	$(call pytest,-n 2 --dist loadfile -m "not airflow_deployment")

# The real-Airflow deployment tests (marker airflow_deployment), once .airflow-venv is in.
test-airflow: airflow-venv install-wheel test-tools
	$(call pytest,-m airflow_deployment)

stubtest: install-wheel
	$(PY) -m mypy.stubtest afbundle._core --allowlist .stubtest-allowlist

lint: lint-rust lint-python

lint-rust:
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --all-targets --no-default-features -- -D warnings

lint-python: $(STAMP)
	$(BIN)/ruff check python tests benches scripts fuzz
	$(BIN)/ruff format --check python tests benches scripts fuzz
	$(BIN)/mypy --strict python/afbundle

fmt: $(STAMP)
	cargo fmt
	$(BIN)/ruff format python tests benches scripts
	$(BIN)/ruff check --fix python tests benches scripts

# The abi3 wheel workers install: manylinux_2_28 (glibc >= 2.28), linked with
# zig (the `ziglang` package from PyPI) so it runs on older distributions than
# the build machine. test_wheel.py installs it into a fresh virtualenv.
wheel: $(STAMP)
	rm -f dist/afbundle-*.whl
	PATH="$(abspath $(BIN)):$$PATH" $(LOCK) $(BIN)/maturin build --quiet --profile dist \
	  --zig --compatibility manylinux_2_28 --out dist

# A real Airflow deployment for tests/test_airflow_deployment.py, in its own
# virtualenv (AIRFLOW_VENV, above): Airflow and the Celery provider are installed once
# per set of requirements; afbundle's wheel from dist/ is reinstalled whenever its
# bytes change.

$(AIRFLOW_STAMP):
	rm -rf $(AIRFLOW_VENV)
	python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  $(foreach r,$(AIRFLOW_REQUIREMENTS),"$(r)")
	touch $@

airflow-venv: $(AIRFLOW_STAMP) wheel
	$(call install-wheel,$(AIRFLOW_VENV),dist/afbundle-*.whl)

# Same-run comparisons with upstream on the MANY and BIG trees, the local
# floor, and the network file system benchmark (latencyfs, a FUSE passthrough
# with 1 ms per operation; skipped with the reason when FUSE is unavailable:
# needs /dev/fuse and Debian's fuse3 + libfuse3-dev) -> BENCHMARKS.md.
bench: develop
	$(PY) benches/report.py

# Only the network file system benchmark, printed (BENCHMARKS.md untouched).
# AFBUNDLE_NFS_DELAY_US sets the latency per operation (default 1000).
bench-nfs: develop
	$(PY) -m pytest benches/test_nfs.py -q -p no:cacheprovider --benchmark-only

# libFuzzer targets (trailer, manifest, reader) for FUZZ_SECONDS each, from a
# seed corpus generated by fuzz/make_corpus.py. cargo-fuzz's -Z flags are
# accepted on the stable toolchain through RUSTC_BOOTSTRAP. cargo-fuzz is
# installed from crates.io on first use. A long run: `make fuzz FUZZ_SECONDS=3600`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := trailer manifest reader
fuzz-build:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O

fuzz: fuzz-build $(STAMP)
	$(PY) fuzz/make_corpus.py
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

# The short run `make test` includes: every target for 20 s (1 minute, after the
# build, which starts with `make test` itself since it needs no venv). The build's
# and libFuzzer's chatter go to logs; the summary (runs per target) is printed, a
# log's tail on failure.
FUZZ_LOG := target/fuzz-smoke.log
fuzz-smoke-build:
	@$(call logged,target/fuzz-build.log,$(MAKE) --no-print-directory fuzz-build)

fuzz-smoke: fuzz-smoke-build $(STAMP)
	@echo "fuzz: $(words $(FUZZ_TARGETS)) targets, 20 s each (log: $(FUZZ_LOG))"
	@$(call logged,$(FUZZ_LOG),$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20)
	@grep -E "^Done [0-9]+ runs" $(FUZZ_LOG) | sed 's/^/fuzz: /'

clean:
	rm -rf target dist $(VENV) $(DEMO_VENV) $(AIRFLOW_VENV) .pytest_cache .hypothesis
