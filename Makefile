# Entry points: `make run` (the demo) and `make test` (what CI runs). See README.md.
# Everything is built once, in the release profile: clippy, the binary and the tests share its artifacts.

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: setup build run test fmt lint

## setup: install Debian packages, .venv (httpbin, gunicorn, httpie) and cargo-nextest when missing
setup:
	scripts/setup.sh

## build: the release build of the whole workspace (target/release/gateway)
build:
	$(CARGO) build --release --workspace

## dist: the shipped build of the gateway (profile `dist`: release + fat LTO, one codegen unit, PGO from
## pgo/gateway.profdata.gz; target/dist/gateway; scripts/dist.sh)
.PHONY: dist
dist:
	scripts/dist.sh

.PHONY: pgo-profile
## pgo-profile: remake pgo/gateway.profdata.gz (instrumented build + bench.py's throughput section; pgo/README.md)
pgo-profile:
	scripts/pgo-profile.sh

## run: setup + the dist build, then IdP on :4593, httpbin on :8080, gateway on :8000 (admin :8001) until Ctrl-C
run: setup dist
	scripts/run-demo.sh

## test: format check, clippy, release build, then every test (unit and end-to-end) against that build
test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	$(CARGO) build --release --workspace
	$(CARGO) nextest run --workspace --cargo-profile release

## fmt: format the code
fmt:
	$(CARGO) fmt --all

## lint: format check and clippy (release profile, shared with build and test)
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

## bench: wrk benchmark of the gateway against bare Pingora and nginx auth_request (not part of test);
## rewrites docs/benchmarks.md and docs/benchmarks.svg. Knobs: BENCH_DURATION, BENCH_ROUNDS, ... (bench/run.sh)
.PHONY: bench
bench:
	bench/run.sh

## fuzz: property tests of the YAML loader, Admin API form decoding/patch merge, token extraction and the
## Basic decoder with many cases (`make test` runs them with proptest's default of 256; cargo-fuzz needs a
## nightly toolchain, see docs/security.md). Override the count with FUZZ_CASES=...
FUZZ_CASES ?= 100000
.PHONY: fuzz
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p gateway-config -p gateway-auth --test proptests
