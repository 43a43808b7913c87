#!/usr/bin/env bash
# Makes pgo/gateway.profdata.gz, the profile scripts/dist.sh builds the shipped gateway with (pgo/README.md).
#   1. an instrumented `dist` build of the gateway (-Cprofile-generate), in $CARGO_TARGET_DIR/pgo-gen;
#   2. the training run: `make bench`'s throughput section (bench/bench.py, every row it measures: proxying,
#      introspection warm and cold, known-bad tokens, JWTs, the plugin routes, DPoP, buffering, h2c, ...) in
#      short rounds against that binary, each gateway process writing its counts;
#   3. llvm-profdata (rustup's llvm-tools, same LLVM as rustc) merges them; the profile and the LLVM version
#      it is for are written to pgo/. Commit both.
# Needs what `make bench` needs (it installs it) and a quiet machine is not required (counts, not times).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
GEN="$TARGET_DIR/pgo-gen"
log() { printf 'pgo: %s\n' "$*" >&2; }

BENCH_SETUP_ONLY=1 bench/run.sh
host="$(rustc -vV | sed -n 's/^host: //p')"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
[ -x "$PROFDATA" ] || rustup component add llvm-tools
[ -x "$PROFDATA" ] || { log "no llvm-profdata at $PROFDATA"; exit 1; }

rm -rf "$GEN/raw" "$GEN/bin" && mkdir -p "$GEN/raw" "$GEN/bin" "$GEN/build-raw"
log "instrumented build (target dir $GEN/target)"
# Build scripts and proc macros are instrumented too; their counts go to build-raw and are not used.
RUSTFLAGS="-Cprofile-generate=$GEN/build-raw" cargo build --profile dist -p gateway --target-dir "$GEN/target"
# The bench's bare-Pingora rows need bench-passthrough (not instrumented, not profiled).
cargo build --release -p bench-passthrough
ln -s "$GEN/target/dist/gateway" "$GEN/bin/gateway"
ln -s "$TARGET_DIR/release/bench-passthrough" "$GEN/bin/bench-passthrough"

log "training: bench.py's throughput section, 1 round of 2 s per row"
LLVM_PROFILE_FILE="$GEN/raw/gateway-%p.profraw" BENCH_SECTIONS=throughput BENCH_ROUNDS=1 BENCH_DURATION=2 \
    BENCH_WARMUP=0.5 BENCH_TOKENS=200 BENCH_OUT="$GEN/report.md" BENCH_LABEL="PGO training (not a measurement)" \
    python3 bench/bench.py --bin-dir "$GEN/bin" --command "scripts/pgo-profile.sh"
ls "$GEN"/raw/*.profraw >/dev/null
"$PROFDATA" merge -o "$GEN/gateway.profdata" "$GEN"/raw/*.profraw
gzip -9n < "$GEN/gateway.profdata" > pgo/gateway.profdata.gz
rustc -vV | sed -n 's/^LLVM version: //p' > pgo/LLVM_VERSION
log "wrote pgo/gateway.profdata.gz ($(wc -c < pgo/gateway.profdata.gz) bytes, LLVM $(cat pgo/LLVM_VERSION)) from" \
    "$(ls "$GEN"/raw/*.profraw | wc -l) gateway processes"
