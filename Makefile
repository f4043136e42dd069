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

.PHONY: all venv develop demo test test-rust test-python stubtest lint fmt wheel bench clean

all: test

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --group dev
	touch $@

venv: $(STAMP)

# Build the extension in release mode into .venv (editable install).
develop: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(LOCK) $(BIN)/maturin develop --release

demo: develop
	$(PY) scripts/demo.py

test: lint test-rust wheel test-python stubtest

test-rust:
	cargo test --quiet --no-default-features

# pytest exits 5 when it collected nothing: that must fail, and say so.
test-python: develop
	$(PY) -m pytest -q || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc; }

stubtest: develop
	$(PY) -m mypy.stubtest afbundle._core --allowlist .stubtest-allowlist

lint: $(STAMP)
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --all-targets --no-default-features -- -D warnings
	$(BIN)/ruff check python tests benches scripts
	$(BIN)/ruff format --check python tests benches scripts
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

# Same-run comparisons with upstream on the MANY and BIG trees -> BENCHMARKS.md.
bench: develop
	$(PY) benches/report.py

clean:
	rm -rf target dist $(VENV) .pytest_cache .hypothesis
