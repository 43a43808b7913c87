#!/usr/bin/env bash
# Install what the demo and the tests need; idempotent, and quick when everything is already there.
#   - Debian packages: cmake (pingora-core builds zlib-ng), glewlwyd (the IdP), sqlite3, openssl, curl, jq,
#     pkg-config, libssl-dev, redis-server, dnsmasq-base (the real DNS server of the DNS tests), systemd
#     (`systemd-analyze verify` checks deploy/systemd/gateway.service), etcd-server and etcd-client (the real
#     etcd of the config-store tests, and etcdctl), protobuf-compiler and libprotobuf-dev (protoc and its
#     well-known types: the etcd-client crate compiles etcd's .proto files when it builds);
#   - a Python venv at .venv with the pinned httpbin, gunicorn and httpie of scripts/requirements.txt;
#   - the second IdP of the e2e tests, npm `oidc-provider` pinned in tests/peers/oidc-provider/package-lock.json
#     (`npm ci`; Node from Debian's `nodejs`, which brings npm);
#   - cargo-nextest.
# `apt-get update` runs only when a package is missing; pip runs only when requirements.txt changed.
# Arguments are further Debian packages to install the same way (bench/run.sh passes the benchmark's tools).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(cmake glewlwyd sqlite3 openssl curl jq pkg-config libssl-dev redis-server dnsmasq-base nodejs systemd chromium prometheus etcd-server etcd-client protobuf-compiler libprotobuf-dev "$@")
OIDC_PROVIDER_DIR="$ROOT/tests/peers/oidc-provider"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/scripts/requirements.txt"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        exit 1
    fi
}

setup_apt() {
    local missing=() installed pkg
    # One dpkg-query for all packages: "name status" lines for the ones dpkg knows.
    installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)"
    for pkg in "${APT_PACKAGES[@]}"; do
        grep -qx "$pkg install ok installed" <<<"$installed" || missing+=("$pkg")
    done
    # The venv module is a separate Debian package when python3 is the system one (only needed to create .venv).
    if ! venv_ok && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        return
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

venv_ok() {
    "$VENV/bin/python" -c '' >/dev/null 2>&1
}

setup_venv() {
    if ! venv_ok; then
        log "creating the Python venv at .venv"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local want stamp="$VENV/.requirements.sha256" have=""
    want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
    [ -f "$stamp" ] && have="$(cat "$stamp")"
    if [ "$want" != "$have" ]; then
        log "installing Python packages from scripts/requirements.txt"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
        printf '%s\n' "$want" >"$stamp"
    fi
}

setup_oidc_provider() {
    # npm ci again only when the lock file changed (a stamp beside node_modules).
    local want stamp="$OIDC_PROVIDER_DIR/node_modules/.lock.sha256" have=""
    want="$(sha256sum "$OIDC_PROVIDER_DIR/package-lock.json" | cut -d' ' -f1)"
    [ -f "$stamp" ] && have="$(cat "$stamp")"
    if [ "$want" != "$have" ]; then
        log "installing oidc-provider (npm ci in tests/peers/oidc-provider)"
        (cd "$OIDC_PROVIDER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
        printf '%s\n' "$want" >"$stamp"
    fi
}

setup_nextest() {
    if cargo nextest --version >/dev/null 2>&1; then
        return
    fi
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
}

setup_apt
setup_venv
setup_oidc_provider
setup_nextest
