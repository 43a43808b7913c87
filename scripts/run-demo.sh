#!/usr/bin/env bash
# Run the demo in the foreground: the IdP (Glewlwyd) on 127.0.0.1:4593, httpbin on 127.0.0.1:8080 and the
# gateway on :8000 (Admin API on 127.0.0.1:8001) with gateway.yaml (Admin API writes land in it, as the
# how-to expects; `git diff gateway.yaml` shows them, `git checkout gateway.yaml` undoes them). Ctrl-C stops everything.
# State and logs live in .run/. Run `make run` (setup + the dist build, fat LTO, + this script).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUN="$ROOT/.run"
IDP_PORT=4593
HTTPBIN_PORT=8080
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
GATEWAY_BIN="${GATEWAY_BIN:-$TARGET_DIR/dist/gateway}"

log() { printf 'run-demo: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

[ -x "$GATEWAY_BIN" ] || die "$GATEWAY_BIN is missing: run 'make build'"
[ -x "$ROOT/.venv/bin/gunicorn" ] || die ".venv is missing: run 'make setup'"
for port in "$IDP_PORT" "$HTTPBIN_PORT" 8000 8001; do
    if port_busy "$port"; then
        die "127.0.0.1:$port is already in use (another 'make run'?)"
    fi
done

mkdir -p "$RUN"

PIDS=()
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
    trap - EXIT INT TERM
    log "stopping"
    local pid
    # Each child gets the signal that stops it quickly; the gateway's SIGTERM would wait its grace period.
    if [ -n "${GATEWAY_PID:-}" ]; then
        kill -INT "$GATEWAY_PID" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${PIDS[@]}" ${GATEWAY_PID:+"$GATEWAY_PID"}; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}" ${GATEWAY_PID:+"$GATEWAY_PID"}; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. IdP: prints "READY <issuer>" once provisioned.
rm -f "$RUN/idp.out"
python3 "$ROOT/scripts/idp.py" serve --dir "$RUN/idp" --port "$IDP_PORT" >"$RUN/idp.out" 2>"$RUN/idp.log" &
IDP_PID=$!
PIDS+=("$IDP_PID")

# 2. httpbin (starts while the IdP boots).
"$ROOT/scripts/httpbin.sh" "$HTTPBIN_PORT" >"$RUN/httpbin.log" 2>&1 &
PIDS+=("$!")

for _ in $(seq 1 300); do
    grep -q '^READY ' "$RUN/idp.out" 2>/dev/null && break
    kill -0 "$IDP_PID" 2>/dev/null || { cat "$RUN/idp.log" >&2; die "the IdP failed to start (see .run/idp/glewlwyd.log)"; }
    sleep 0.1
done
grep -q '^READY ' "$RUN/idp.out" || die "the IdP did not become ready (see .run/idp.log)"
log "IdP ready: $(cut -d' ' -f2 "$RUN/idp.out")   users john/doe (openid read), jane/doe2 (openid), alice/alice-pw"

for _ in $(seq 1 300); do
    port_busy "$HTTPBIN_PORT" && break
    sleep 0.1
done
port_busy "$HTTPBIN_PORT" || { cat "$RUN/httpbin.log" >&2; die "httpbin did not start"; }
log "httpbin ready: http://127.0.0.1:$HTTPBIN_PORT (log in .run/httpbin.log)"

# 3. The gateway, its log on this terminal.
RUST_LOG="${RUST_LOG:-info}" "$GATEWAY_BIN" run -c "$ROOT/gateway.yaml" --pid-file "$RUN/gateway.pid" --upgrade-sock "$RUN/gateway.upgrade.sock" &
GATEWAY_PID=$!

for _ in $(seq 1 300); do
    port_busy 8000 && break
    kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway exited"
    sleep 0.1
done
port_busy 8000 || die "the gateway does not listen on :8000"

cat >&2 <<EOF

  Gateway on http://127.0.0.1:8000 (Admin API http://127.0.0.1:8001), config gateway.yaml.
  Put httpie on your PATH:   source .venv/bin/activate
  Then try:                  http :8000                 (401)
                             http -a john:doe :8000     (password grant through the gateway)
  Press Ctrl-C to stop everything.

EOF

# Stop everything as soon as any of the three exits.
set +e
wait -n "${PIDS[@]}" "$GATEWAY_PID"
status=$?
set -e
log "a process exited (status $status)"
exit "$status"
