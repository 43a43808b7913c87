#!/usr/bin/env bash
# `make bench`: install what is missing, build the release binaries, run the benchmark (bench/bench.py) and
# rewrite docs/benchmarks.md + docs/benchmarks.svg. Loopback only; every process is stopped on exit.
# Knobs are environment variables (BENCH_DURATION, BENCH_ROUNDS, ...: see bench/bench.py and docs/benchmarks.md).
# BENCH_SKIP_SETUP=1 skips the installs, BENCH_SKIP_BUILD=1 the cargo build; BENCH_SETUP_ONLY=1 only installs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench: %s\n' "$*" >&2; }

# scripts/setup.sh installs what the tests need plus the packages named here (as root or through sudo).
install_tools() {
    local missing=()
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
    command -v nginx >/dev/null 2>&1 || missing+=(nginx)
    [ -e /usr/lib/nginx/modules/ngx_http_js_module.so ] || missing+=(libnginx-mod-http-js)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    scripts/setup.sh ${missing[@]+"${missing[@]}"}
    # The Debian nginx package starts a system nginx on :80; the benchmark needs none (and does not touch it).
}

[ "${BENCH_SKIP_SETUP:-0}" = 1 ] || install_tools
[ "${BENCH_SETUP_ONLY:-0}" = 1 ] && exit 0

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# The measured binaries are the `dist` profile's (fat LTO and PGO, what `make run` runs); the `release`
# profile's are measured too, so that the baseline (stock Pingora with its default profile) and the gains of
# LTO and PGO are all shown.
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p gateway -p bench-passthrough"
    cargo build --release -p gateway -p bench-passthrough
    # The shipped build (scripts/dist.sh: dist profile with PGO from pgo/gateway.profdata.gz) and, for the
    # allocator A/B (rows 4m, 4sys, the instructions section, and the allocation counts, which need glibc's
    # allocator), the same build with mimalloc and with the system allocator, kept aside; the default one
    # (jemalloc) last.
    log "scripts/dist.sh --features mimalloc"
    scripts/dist.sh --features mimalloc
    cp "$TARGET_DIR/dist/gateway" "$TARGET_DIR/dist/gateway-mimalloc"
    log "scripts/dist.sh --no-default-features (system allocator)"
    scripts/dist.sh --no-default-features
    cp "$TARGET_DIR/dist/gateway" "$TARGET_DIR/dist/gateway-system"
    log "scripts/dist.sh"
    scripts/dist.sh
    # Without PGO, in a target dir of its own (other RUSTFLAGS would rebuild the PGO build's crates): the
    # gateway (row 4np: what the profile buys) and bare Pingora with the vendored patches (rows 2, 2x: Pingora
    # in our profile but not trained: the gateway's profile covers its hot paths only as the gateway runs them).
    log "cargo build --profile dist -p gateway -p bench-passthrough, without PGO ($TARGET_DIR/nopgo)"
    cargo build --profile dist -p gateway -p bench-passthrough --target-dir "$TARGET_DIR/nopgo"
    cp "$TARGET_DIR/nopgo/dist/gateway" "$TARGET_DIR/dist/gateway-nopgo"
    cp "$TARGET_DIR/nopgo/dist/bench-passthrough" "$TARGET_DIR/dist/bench-passthrough"
    # Bare Pingora as Pingora's users build it (row 2r, the "stock" baseline): bench-passthrough against the
    # crates.io Pingora crates, none of the workspace's vendored patches (vendor/*/PATCH*.md), release profile,
    # in a workspace of its own. Rows 2 and 2x are the same program built here, with the patches.
    STOCK_SRC="$TARGET_DIR/stock-src"
    log "cargo build --release (bench-passthrough against crates.io Pingora, in $STOCK_SRC)"
    rm -rf "$STOCK_SRC" && mkdir -p "$STOCK_SRC"
    cp -r "$ROOT/crates/bench-passthrough/src" "$STOCK_SRC/"
    cat > "$STOCK_SRC/Cargo.toml" <<'TOML'
[package]
name = "bench-passthrough"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
pingora = { version = "=0.9.1", default-features = false, features = ["proxy", "openssl"] }
async-trait = "0.1"
bytes = "1"

[workspace]
TOML
    cp "$ROOT/Cargo.lock" "$STOCK_SRC/Cargo.lock"
    cargo build --release --manifest-path "$STOCK_SRC/Cargo.toml" --target-dir "$TARGET_DIR/stock"
fi
STOCK_BIN_DIR="$TARGET_DIR/stock/release"
for dir in dist release; do
    for bin in bench-passthrough gateway; do
        [ -x "$TARGET_DIR/$dir/$bin" ] || log "warning: $TARGET_DIR/$dir/$bin is missing"
    done
done

# pingap (a second Pingora-based gateway, row 8 and the scaling rows): built once from crates.io into a cache
# outside the repo with its own release profile (fat LTO, codegen-units 1, panic = abort); it needs protoc
# (Debian protobuf-compiler). If it cannot be built, its rows are skipped with a note in the report.
PINGAP_VERSION=0.13.1
PINGAP_ROOT="${BENCH_PINGAP_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/gateway-bench/pingap-$PINGAP_VERSION}"
build_pingap() {
    [ -x "$PINGAP_ROOT/bin/pingap" ] && return 0
    [ "${BENCH_SKIP_SETUP:-0}" = 1 ] || command -v protoc >/dev/null 2>&1 || scripts/setup.sh protobuf-compiler
    log "building pingap $PINGAP_VERSION into $PINGAP_ROOT (once; several minutes)"
    CARGO_TARGET_DIR="$PINGAP_ROOT.target" cargo install pingap --version "$PINGAP_VERSION" --locked \
        --root "$PINGAP_ROOT" && rm -rf "$PINGAP_ROOT.target"
}
if [ "${BENCH_SKIP_PINGAP:-0}" != 1 ]; then
    build_pingap || log "warning: pingap $PINGAP_VERSION could not be built; its rows are skipped"
fi
[ -x "$PINGAP_ROOT/bin/pingap" ] && export BENCH_PINGAP="$PINGAP_ROOT/bin/pingap"

# Run the orchestrator as a child and stop it (it stops what it started) whatever ends this script.
child=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cmd="make bench"
[ "${BENCH_COMMAND:-}" != "" ] && cmd="$BENCH_COMMAND"
python3 "$ROOT/bench/bench.py" --bin-dir "$TARGET_DIR/dist" --baseline-bin-dir "$TARGET_DIR/release" \
    --stock-bin-dir "$STOCK_BIN_DIR" \
    --command "$cmd" &
child=$!
wait "$child"
