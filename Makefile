# codetracer-bundle: every target names a step; the work is done by the
# release toolkit (packaging/ctbundle), cargo, or pytest.
SHELL := /bin/bash
PY    ?= .venv/bin/python
TOOLKIT := PYTHONPATH=$(CURDIR)/packaging $(PY) -m ctbundle
PYTEST_ARGS ?=

.PHONY: help setup lock format wheel wheel-linux wheel-windows wheel-macos wheels stage shims appimage dmg windows test test-fast test-rust test-py lint bench clean

help:
	@echo "make setup      set up this machine (apt packages, .venv, pyenv pythons)"
	@echo "make lock       re-pin requirements-dev.txt (versions, hashes) from requirements-dev.in; UPGRADE=1: newest"
	@echo "make wheel      build the recorder wheel into dist/ (skipped when unchanged)"
	@echo "make wheel-windows  cross-compile the win_amd64 wheel into dist/windows/"
	@echo "make wheel-macos    build the macOS universal2 wheel into dist/macos/ (zig)"
	@echo "make stage      stage resources/python/ (unpacked wheel + ct runtime)"
	@echo "make shims      render the launcher shims for every platform"
	@echo "make appimage   build dist/CodeTracer-<version>-x86_64.AppImage"
	@echo "make dmg        build the macOS .app and DMG (hybrid ISO on Linux), with the macOS wheel"
	@echo "make windows    build the Windows installer, with the Windows wheel"
	@echo "make test       run every test suite (Rust, Python, lints)"
	@echo "make lint       the lints alone: ruff, mypy, the recorder's error policy, clippy"
	@echo "make format     reformat the Python of FORMAT_PATHS (ruff format)"
	@echo "make test-fast  the Python tests without the slow builds, bundles and wine (~90 s warm)"
	@echo "make bench      run the benchmarks and write docs/performance.md"

setup:
	tools/bootstrap.sh

# The Python build and test tools: requirements-dev.in says what is needed,
# requirements-dev.txt pins each (and what it needs) with its sha256 hashes,
# for Python 3.12 on every OS the release workflow runs on; `make setup`
# installs it with --require-hashes. Pins that still fit are kept; UPGRADE=1
# moves each to the newest allowed.
lock:
	$(PY) -m uv pip compile --universal --python-version 3.12 --generate-hashes --quiet \
	  --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) requirements-dev.in -o requirements-dev.txt

# --- recorder ---------------------------------------------------------------
wheel:
	$(TOOLKIT) wheel

wheel-linux: wheel

wheel-windows:
	$(TOOLKIT) wheel --platform windows

wheel-macos:
	$(TOOLKIT) wheel --platform macos

wheels: wheel wheel-windows wheel-macos

# --- release toolkit --------------------------------------------------------
stage:
	$(TOOLKIT) stage

shims:
	$(TOOLKIT) shims

# --- bundles ----------------------------------------------------------------
appimage:
	$(TOOLKIT) appimage

dmg:
	$(TOOLKIT) dmg

windows:
	$(TOOLKIT) windows

# --- tests ------------------------------------------------------------------
test: lint test-rust test-py

# The recorder's unit tests run an embedded interpreter: its libpython.
test-rust:
	LD_LIBRARY_PATH=$$($(PY) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))') \
	  PYO3_PYTHON=$(CURDIR)/$(PY) cargo test --manifest-path recorder/Cargo.toml --workspace --quiet

test-py: wheel
	$(PY) -m pytest tests $(PYTEST_ARGS)

# Everything but the long builds (fault-injection wheel, AppImage runtime, a
# second wheel build), the bundles, wine and the `slow` long tail of the
# portable and ctfs suites; in parallel when pytest-xdist is installed
# (requirements-dev.txt): ~90 s for 928 tests, warm, on 2 cores. CI runs `make test`.
XDIST = $(shell $(PY) -c "import xdist" 2>/dev/null && echo "-n 2")
test-fast: wheel
	$(PY) -m pytest tests -q -m "not slow and not wine and not build" $(XDIST) $(PYTEST_ARGS)

# Clippy for every platform a bundle ships (check only: no linker needed; zig
# compiles the C of -sys crates such as zstd's for the target), so
# none of them can rot: the Rust targets of the Windows and macOS wheels
# (defaults.toml), which tools/bootstrap.sh installs.
CROSS_TARGETS = $(shell PYTHONPATH=$(CURDIR)/packaging $(PY) -c 'from ctbundle._wheel import rust_targets; print(*rust_targets())')

# Python (pyproject.toml [tool.ruff], [tool.mypy]): ruff lints every file,
# mypy checks ct, the toolkit, the recorder's Python and the benchmarks'
# harness strictly (not tests/: a `type: ignore` there silences nothing), and
# the format check covers FORMAT_PATHS, all the Python ruff lints.
FORMAT_PATHS = ct packaging bench recorder/python tests

format:
	$(PY) -m ruff format $(FORMAT_PATHS)

lint:
	$(PY) -m ruff check --quiet .
	$(PY) -m ruff format --check --quiet $(FORMAT_PATHS)
	$(PY) -m mypy
	tools/lint-errors.sh
	PYO3_PYTHON=$(CURDIR)/$(PY) cargo clippy --manifest-path recorder/Cargo.toml --workspace --all-targets --quiet -- -D warnings
	for target in $(CROSS_TARGETS); do \
	  PATH=$(CURDIR)/.venv/bin:$$PATH PYO3_PYTHON=$(CURDIR)/$(PY) cargo-zigbuild clippy --manifest-path recorder/Cargo.toml \
	    --workspace --all-targets --target $$target --quiet -- -D warnings || exit 1; \
	done

# --- benchmarks (never in CI) -------------------------------------------------
# bench/run.py sets up .venvs/bench-* itself (viztracer, upstream 0.3.0, our
# wheel from dist/, the _ctfloor extension); BENCH_ARGS="--runs 3 --only recursion" etc.
BENCH_ARGS ?=
bench: wheel
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/real_programs.py

clean:
	rm -rf dist build .cache target recorder/target
