# Two commands on a fresh machine with Rust and Python 3:
#   make demo   build everything, generate a 100 M-value dataset, compare means
#   make test   build everything, run the Rust and Python tests, the wheel
#               from fresh venvs (test-wheel), and the DataFusion feature and
#               its Python glue (test-datafusion)
# (`make test-aarch64` runs the kernel tests for aarch64 under qemu-user.)
# Everything Python goes into .venv; nothing is installed outside it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CARGO  ?= cargo
# Rust sources that the Python extension and the CLI are built from.
RUST_SRC := $(shell find src python/src -name '*.rs') Cargo.toml python/Cargo.toml $(wildcard Cargo.lock)
PY_SRC   := $(wildcard python/mapmean/*.py python/mapmean/*.pyi) pyproject.toml

.PHONY: all demo test test-rust test-python test-wheel test-datafusion datafusion-features lint-datafusion bench-datafusion aarch64-tools test-aarch64 bench lint fmt clean fuzz valgrind

all: $(VENV)/.built target/release/mapmean

$(VENV)/.venv-ready:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet 'maturin>=1.7,<2'
	touch $@

# Builds the extension in release mode and installs the package with the
# test, bench and dask dependencies declared in pyproject.toml (the tests of
# mapmean.dask need dask and distributed).
# An extension left by an earlier build (a per-version `.cpython-3XX-*.so`
# beside the abi3 `.abi3.so`) would be imported first: remove it.
$(VENV)/.built: $(VENV)/.venv-ready $(RUST_SRC) $(PY_SRC)
	rm -f python/mapmean/_mapmean.*.so
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet --extras test,bench,dask
	touch $@

target/release/mapmean: $(RUST_SRC)
	$(CARGO) build --release --bin mapmean

demo: all
	$(PY) examples/demo.py

test: all test-rust test-python test-wheel test-datafusion

test-rust:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

test-python: all
	$(PY) -m pytest -q

# The one abi3 wheel (CPython >= 3.9), built once, installed into a fresh
# venv of each WHEEL_PYTHONS version with no Rust toolchain on PATH, and
# checked there (package, `mapmean` console script, `python -m mapmean`);
# `-I` keeps the source tree off sys.path.
# numpy and pyarrow come from PyPI as wheels. An interpreter is taken from
# pyenv if it has one, else from PATH; a missing one fails the target.
WHEEL_PYTHONS ?= 3.9 3.12 3.13
WHEEL_DIR     := target/wheels
WHEEL_VENVS   := target/wheel-venvs
test-wheel: $(VENV)/.venv-ready
	rm -rf $(WHEEL_DIR)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin build --release --quiet --out $(WHEEL_DIR)
	set -e; wheel=$$(ls $(WHEEL_DIR)/mapmean-*-cp39-abi3-*.whl); \
	for v in $(WHEEL_PYTHONS); do \
	  py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v 2>/dev/null | tail -n 1); \
	  [ -n "$$py" ] || py=$$(command -v python$$v) || { echo "test-wheel: no python$$v" >&2; exit 1; }; \
	  venv=$(abspath $(WHEEL_VENVS))/$$v; rm -rf $$venv; $$py -m venv $$venv; \
	  PATH=$$venv/bin:/usr/bin:/bin $$venv/bin/python -m pip install --quiet "$$wheel"; \
	  env -u VIRTUAL_ENV PATH=$$venv/bin:/usr/bin:/bin $$venv/bin/python -I $(abspath python/wheel_check.py); \
	done

# DataFusion: the Rust `datafusion` feature (unit, integration and doc tests,
# the example) and the mapmean-datafusion wheel (python-datafusion/), all built
# in the cargo profile `datafusion` (target/datafusion), so DataFusion compiles
# once per run. The Python test must run here (MAPMEAN_REQUIRE_DATAFUSION=1),
# never skip. datafusion-features first proves that nothing builds twice.
DF_PROFILE := --profile datafusion
DF_SRC := $(RUST_SRC) $(shell find python-datafusion/src -name '*.rs') python-datafusion/Cargo.toml \
  python-datafusion/pyproject.toml $(wildcard python-datafusion/python/mapmean_datafusion/*)

$(VENV)/.datafusion-built: $(VENV)/.built $(DF_SRC)
	cd python-datafusion && VIRTUAL_ENV=$(abspath $(VENV)) $(abspath $(VENV))/bin/maturin develop $(DF_PROFILE) --quiet
	touch $@

test-datafusion: datafusion-features all $(VENV)/.datafusion-built
	$(CARGO) test $(DF_PROFILE) --features datafusion --lib datafusion::
	$(CARGO) test $(DF_PROFILE) --features datafusion --test datafusion
	$(CARGO) test $(DF_PROFILE) --features datafusion --doc datafusion
	$(CARGO) run $(DF_PROFILE) --features datafusion --example datafusion_sql
	MAPMEAN_REQUIRE_DATAFUSION=1 $(PY) -m pytest -q python/tests/test_datafusion.py

# The one-build guard (no compiling): the glue wheel and the `datafusion`
# tests must resolve every crate they share with the same features, or cargo
# builds DataFusion twice (the `datafusion` feature carries datafusion-ffi for
# this; python-datafusion/Cargo.toml turns on what mapmean's dev-dependencies
# turn on). Prints the crates that differ, if any. The workspace's own crates
# (mapmean, built with `internals` for tests) are small and left out.
DF_TREE := --prefix none -f '{p} [{f}]' --target $(shell rustc -vV | sed -n 's/^host: //p')
datafusion-features:
	mkdir -p target
	$(CARGO) tree -p mapmean-datafusion-python -e normal,build $(DF_TREE) | sed 's/ (\*)//' | grep -v ' (/' | sort -u > target/df-glue.txt
	$(CARGO) tree -p mapmean --features datafusion -e normal,build,dev $(DF_TREE) | sed 's/ (\*)//' | grep -v ' (/' | sort -u > target/df-test.txt
	diff target/df-glue.txt target/df-test.txt | sed -n 's/^[<>] \([^ ]*\) .*/\1/p' | sort | uniq -d > target/df-differ.txt
	@if [ -s target/df-differ.txt ]; then echo "features differ (DataFusion would build twice):"; \
	  grep -F -f target/df-differ.txt target/df-glue.txt target/df-test.txt; exit 1; fi

# Lints of the `datafusion` feature and the glue crate (.ci/run runs them
# after `make test`; not part of `make lint`, which needs no DataFusion build).
# Check builds: naming both packages makes clippy and rustdoc resolve the
# same features, so they share one check build of DataFusion.
DF_PACKAGES := -p mapmean -p mapmean-datafusion-python --features mapmean/datafusion
lint-datafusion:
	$(CARGO) clippy $(DF_PROFILE) $(DF_PACKAGES) --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc $(DF_PROFILE) $(DF_PACKAGES) --no-deps

# exact_mean against DataFusion's own avg, GROUP BY over many groups, in an
# optimised build (profile `datafusion-release`: a second DataFusion build).
bench-datafusion:
	$(CARGO) bench --profile datafusion-release --features datafusion --bench datafusion

# The kernel's unit tests built for aarch64 and run under qemu-user
# emulation: the NEON passes against the portable reference, bit for bit.
# `aarch64-tools` adds the Rust target, and installs the cross linker, the
# aarch64 C library and qemu-user with apt-get (as root) if they are
# missing. Not part of `make test`; .ci/run runs it when the tools install.
AARCH64 := aarch64-unknown-linux-gnu
AARCH64_SYSROOT := /usr/aarch64-linux-gnu
AARCH64_PACKAGES := qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
aarch64-tools:
	rustup target add $(AARCH64)
	if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
	  || [ ! -e $(AARCH64_SYSROOT)/lib/libc.so.6 ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y $(AARCH64_PACKAGES) || { apt-get update && apt-get install -y $(AARCH64_PACKAGES); }; \
	fi

test-aarch64: aarch64-tools
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $(AARCH64_SYSROOT)" \
	  $(CARGO) test --lib --target $(AARCH64) kernel::
	$(CARGO) clippy --lib --target $(AARCH64) -- -D warnings

bench: all bench-datafusion
	$(CARGO) bench --bench kernel -- --quiet
	$(PY) benches/compare.py

# Fuzzing (cargo-fuzz, libFuzzer): each target runs FUZZ_SECONDS, from seeds
# written by fuzz/seeds.py plus whatever fuzz/corpus/ holds from earlier runs.
# Needs a nightly toolchain if there is one; otherwise stable with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz uses -Z flags).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := ipc_file ipc_stream kernel state_bytes parquet_file
FUZZ_TOOLCHAIN := $(shell $(CARGO) +nightly --version >/dev/null 2>&1 && echo +nightly)
CARGO_FUZZ := .tools/bin/cargo-fuzz

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --root .tools

fuzz: all $(CARGO_FUZZ)
	$(PY) fuzz/seeds.py fuzz/corpus
	for target in $(FUZZ_TARGETS); do \
	  PATH="$(abspath .tools/bin):$$PATH" RUSTC_BOOTSTRAP=1 $(CARGO) $(FUZZ_TOOLCHAIN) fuzz run \
	    --fuzz-dir fuzz $$target fuzz/corpus/$$target -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	    || exit 1; \
	done

# The Rust tests of decoding and the kernel under valgrind's memcheck.
# (valgrind's CPU has no AVX-512: the kernel takes its AVX2 path there.)
VALGRIND_TESTS := --lib --test bad_input --test zero_copy --test truncation --test fuzz_regressions
valgrind:
	$(CARGO) test $(VALGRIND_TESTS) --no-run --message-format=json \
	  | $(PYTHON) -c 'import json, sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]]' \
	  > target/valgrind-tests.txt
	while read -r test; do \
	  echo "valgrind $$test"; \
	  PROPTEST_CASES=16 valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-possibly-lost=no \
	    --quiet "$$test" --test-threads=2 || exit 1; \
	done < target/valgrind-tests.txt

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --exclude mapmean-datafusion-python --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p mapmean

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) target data
