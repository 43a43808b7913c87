#!/usr/bin/env bash
# The shipped build of the gateway (`make dist`, and so `make run` and `make bench`): profile `dist` (release +
# fat LTO, one codegen unit) with profile-guided optimisation (PGO) from pgo/gateway.profdata.gz, when this
# toolchain's LLVM reads it (pgo/LLVM_VERSION, same major version); else the same build without it, said so.
# Arguments go to cargo (e.g. `--features mimalloc`). PGO=0 builds without the profile. pgo/README.md says how
# the profile is made (scripts/pgo-profile.sh) and what it buys.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PROFILE_GZ="pgo/gateway.profdata.gz"
want="$(cat pgo/LLVM_VERSION 2>/dev/null || true)"
have="$(rustc -vV | sed -n 's/^LLVM version: //p')"
if [ "${PGO:-1}" != 1 ]; then
    echo "dist: PGO=0, built without the profile" >&2
elif [ ! -f "$PROFILE_GZ" ]; then
    echo "dist: no $PROFILE_GZ, built without PGO" >&2
elif [ "${want%%.*}" != "${have%%.*}" ]; then
    echo "dist: $PROFILE_GZ is LLVM ${want:-?}'s, this rustc has LLVM $have: built without PGO" \
        "(scripts/pgo-profile.sh makes one for this toolchain)" >&2
else
    # The decompressed profile is named by its content, so that cargo rebuilds when the profile changes
    # (it tracks RUSTFLAGS, not the files they name).
    sum="$(sha256sum "$PROFILE_GZ" | cut -c1-16)"
    prof="$TARGET_DIR/pgo/gateway-$sum.profdata"
    if [ ! -f "$prof" ]; then
        mkdir -p "$TARGET_DIR/pgo"
        gzip -dc "$PROFILE_GZ" > "$prof.tmp" && mv "$prof.tmp" "$prof"
    fi
    # Functions changed since the profile was made are built as without it; LLVM's note for each is muted.
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-Cprofile-use=$prof -Cllvm-args=-no-pgo-warn-mismatch"
    echo "dist: PGO with $PROFILE_GZ ($sum, LLVM $have)" >&2
fi
exec cargo build --profile dist -p gateway "$@"
