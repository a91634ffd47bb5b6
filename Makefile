# Two commands on a fresh machine with Rust and Python 3:
#   make demo   build everything, generate a 100 M-value dataset, compare means
#   make test   build everything, run the Rust and Python tests
# Everything Python goes into .venv; nothing is installed outside it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CARGO  ?= cargo
# Rust sources that the Python extension and the CLI are built from.
RUST_SRC := $(shell find src python/src -name '*.rs') Cargo.toml python/Cargo.toml $(wildcard Cargo.lock)
PY_SRC   := $(wildcard python/mapmean/*.py python/mapmean/*.pyi) pyproject.toml

.PHONY: all demo test test-rust test-python bench lint fmt clean

all: $(VENV)/.built target/release/mapmean

$(VENV)/.venv-ready:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet 'maturin>=1.7,<2'
	touch $@

# Builds the extension in release mode and installs the package with the
# test and bench dependencies declared in pyproject.toml.
$(VENV)/.built: $(VENV)/.venv-ready $(RUST_SRC) $(PY_SRC)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet --extras test,bench
	touch $@

target/release/mapmean: $(RUST_SRC)
	$(CARGO) build --release --bin mapmean

demo: all
	$(PY) examples/demo.py

test: all test-rust test-python

test-rust:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

test-python: all
	$(PY) -m pytest -q

bench: all
	$(CARGO) bench --bench kernel -- --quiet
	$(PY) benches/compare.py

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) target data
