#!/bin/bash
# User-space instructions per request of one server, under valgrind's callgrind: deterministic where wrk's
# RPS on a shared VM is not (rounds of the same build differed by 3x on 2026-12-01). Not part of `make bench`
# (valgrind is optional); used to A/B code changes on the hot path.
#
#   bench/instructions.sh NAME URL HEADER N CMD...
#
# Starts CMD under callgrind twice; each time sends N (then 3N) sequential keep-alive requests with curl to
# URL (HEADER, e.g. "Authorization: Bearer t", or ""), stops the server with SIGINT, and prints
# (Ir(3N) - Ir(N)) / 2N: startup and shutdown cancel out. The profiles stay in $OUT (default /tmp) as
# cg.NAME.N, for callgrind_annotate. Example (gateway and upstream already configured in gw.yaml):
#
#   bench/instructions.sh warm http://127.0.0.1:18000/ "Authorization: Bearer tok" 500 \
#       target/release/gateway run -c gw.yaml
set -euo pipefail
name=$1; url=$2; hdr=$3; n=$4; shift 4
out=${OUT:-/tmp}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
H=(); [ -n "$hdr" ] && H=(-H "$hdr")
for reqs in "$n" $((n * 3)); do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$name.$reqs" "$@" > "$out/cg.$name.$reqs.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -s -o /dev/null "${H[@]}" "$url" && break; sleep 0.5; done
  urls="$out/urls.$name"
  : > "$urls"
  for _ in $(seq 1 "$reqs"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >> "$urls"; done
  curl -s "${H[@]}" -K "$urls"
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
done
a=$(awk '/^summary:/{print $2}' "$out/cg.$name.$n")
b=$(awk '/^summary:/{print $2}' "$out/cg.$name.$((n * 3))")
echo "$name Ir/request=$(( (b - a) / (2 * n) ))"
