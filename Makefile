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

.PHONY: all venv develop demo test test-rust test-python test-tools stubtest readme lint fmt wheel \
	bench bench-nfs fuzz fuzz-smoke clean airflow-venv

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --group dev
	touch $@

venv: $(STAMP)

# Build the extension in release mode into .venv (editable install).
develop: $(STAMP)
	PIP_QUIET=1 VIRTUAL_ENV=$(abspath $(VENV)) $(LOCK) $(BIN)/maturin develop --release --quiet

demo: develop
	$(PY) scripts/demo.py

test: lint test-rust fuzz-smoke wheel airflow-venv test-python stubtest readme
# Under `make test` the Airflow deployment tests are mandatory: naming their venv
# makes them fail, not skip, when it is missing (test-python inherits this).
test: export AFBUNDLE_AIRFLOW_VENV = $(abspath $(AIRFLOW_VENV))

# README's console session is generated; fail when it no longer matches a fresh run.
readme: develop
	$(PY) scripts/readme_example.py --check

test-rust: test-tools
	cargo test --quiet --no-default-features

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
test-python: develop test-tools
	$(PY) -m pytest -q || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc; }

stubtest: develop
	$(PY) -m mypy.stubtest afbundle._core --allowlist .stubtest-allowlist

lint: $(STAMP)
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --all-targets --no-default-features -- -D warnings
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
	PATH="$(abspath $(BIN)):$$PATH" $(LOCK) $(BIN)/maturin build --profile dist \
	  --zig --compatibility manylinux_2_28 --out dist

# A real Airflow deployment for tests/test_airflow_deployment.py, in its own
# virtualenv: Airflow and the Celery provider are installed once per set of
# requirements (the stamp's name carries their hash); afbundle's wheel from dist/
# is reinstalled whenever its bytes change (a sha256 kept beside the stamp).
# Pinned without Airflow's constraint files (not on PyPI): celery 5.7 removed a
# name the celery provider 3.26.0 imports (`celery.backends.database.retry`).
AIRFLOW_VENV ?= .airflow-venv
AIRFLOW_REQUIREMENTS := apache-airflow==3.3.2 apache-airflow-providers-celery==3.26.0 \
	celery[redis]==5.6.3
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell echo "$(AIRFLOW_REQUIREMENTS)" | sha256sum | cut -c1-16)

$(AIRFLOW_STAMP):
	rm -rf $(AIRFLOW_VENV)
	python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  $(foreach r,$(AIRFLOW_REQUIREMENTS),"$(r)")
	touch $@

airflow-venv: $(AIRFLOW_STAMP) wheel
	wheel=$$(ls dist/afbundle-*.whl); sum=$$(sha256sum $$wheel | cut -d' ' -f1); \
	if [ "$$(cat $(AIRFLOW_VENV)/.afbundle-wheel 2>/dev/null)" != "$$sum" ]; then \
	  $(AIRFLOW_VENV)/bin/python -m pip uninstall --quiet --yes afbundle 2>/dev/null || true; \
	  $(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $$wheel \
	    && echo "$$sum" > $(AIRFLOW_VENV)/.afbundle-wheel; \
	fi

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
fuzz: $(STAMP)
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	$(PY) fuzz/make_corpus.py
	cd fuzz && for target in trailer manifest reader; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

# The short run `make test` includes: every target for 20 s (about 1 minute,
# plus building the targets the first time). libFuzzer's chatter goes to a log;
# the summary (runs per target) is printed, the log's tail on failure.
FUZZ_LOG := target/fuzz-smoke.log
fuzz-smoke:
	@mkdir -p target
	@echo "fuzz: 3 targets, 20 s each (log: $(FUZZ_LOG))"
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20 > $(FUZZ_LOG) 2>&1 || { \
	  tail -n 60 $(FUZZ_LOG); echo "error: fuzzing failed; full log: $(FUZZ_LOG)" >&2; exit 1; }
	@grep -E "^Done [0-9]+ runs" $(FUZZ_LOG) | sed 's/^/fuzz: /'

clean:
	rm -rf target dist $(VENV) $(AIRFLOW_VENV) .pytest_cache .hypothesis
