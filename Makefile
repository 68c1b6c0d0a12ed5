# vox2pix — the two commands:
#   make demo   synthesize → train E → train D → evaluate → report, on the built-in synthetic world (CPU)
#   make test   the whole test suite (Rust, then the Python package's pytest suite)
# Both install libtorch (PyPI wheel torch==2.11.0) into ~/.cache/vox2pix on first use; see scripts/env.sh.
SHELL := /bin/bash
ENV := . scripts/env.sh &&
DEMO_OUT ?= runs/demo
DEVICE ?= cpu

.PHONY: demo test setup build fmt clippy bench fixtures
setup:
	@bash scripts/setup.sh

build: setup
	$(ENV) cargo build --release

demo: build
	$(ENV) "$$CARGO_TARGET_DIR/release/vox2pix" demo --out $(DEMO_OUT) --device $(DEVICE)

test: setup
	@bash scripts/setup_browser.sh
	python3 tools/check_msrv.py
	$(ENV) cargo test --release --no-fail-fast
	@bash scripts/setup_python.sh
	$(ENV) VOX2PIX_BIN="$$CARGO_TARGET_DIR/release/vox2pix" PYTHONPATH="$$(bash scripts/setup_python.sh --pythonpath)" \
	  python3 -m pytest -q python/tests

bench: build
	$(ENV) "$$CARGO_TARGET_DIR/release/vox2pix" bench step --device $(DEVICE)

fmt:
	cargo fmt --all

clippy: setup
	$(ENV) cargo clippy --release --all-targets -- -D warnings
	$(ENV) cargo clippy --release -p vox2pix-python -- -D warnings

# Regenerates the committed test fixtures (needs the torch install from `make setup`, plus torchvision for nn fixtures).
fixtures: setup
	$(ENV) PYTHONPATH="$$VOX2PIX_TORCH_DIR" python3 tools/make_npz_fixtures.py
