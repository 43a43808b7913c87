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

## run: setup + build, then IdP on :4593, httpbin on :8080, gateway on :8000 (admin :8001) until Ctrl-C
run: setup build
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
