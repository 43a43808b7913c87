#!/usr/bin/env bash
# Reload cost of a generated config, without starting a gateway: the same 10k-service YAML as the reload
# section of `make bench` (bench/bench.py's generator), then
#   1. `gateway validate -c FILE` as a whole process, N runs (hyperfine when installed, else a loop);
#   2. `gateway validate -c FILE --timings` N runs: the in-process reload path (read, parse YAML, build,
#      validate, compile a snapshot: router, upstreams, plugins; drop), per phase, wall and thread-CPU ms,
#      min and median over the runs (the machine is shared: the minimum is the least disturbed run);
#   3. SIGHUP reloads of a running `gateway run` on that config, timed like bench.py's reload section (swap
#      the file, signal, poll the admin `/status` until the config hash changes), with peak RSS (SIGHUP=0: skip);
#   4. with CALLGRIND=1, instruction counts of one `--timings` run (valgrind; ~1 min), by function.
# Usage: bench/reload_profile.sh [SERVICES (10000)] [RUNS (7)]. Env: GATEWAY_BIN (target/release/gateway),
# OUT (work dir, default a new temp dir), CALLGRIND=1, RELOAD_RUST_LOG (the running gateway's RUST_LOG, default warn;
# "warn,gateway::control=debug" logs each reload's phases).
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-10000}
runs=${2:-7}
bin=${GATEWAY_BIN:-target/release/gateway}
out=${OUT:-$(mktemp -d -t reload-profile.XXXXXX)}
mkdir -p "$out"
[ -x "$bin" ] || cargo build --release -p gateway
yaml="$out/reload-$services.yaml"

python3 - "$services" "$yaml" <<'EOF'
import sys
sys.path.insert(0, "bench")
import bench  # noqa: E402  (only its generator is used; nothing is started)
n, path = int(sys.argv[1]), sys.argv[2]
# Same shape as section_reload: ports and issuer are placeholders (validate resolves, never connects).
text = bench.reload_yaml(18000, 18001, n, 18002, bench.oidc_plugin("http://127.0.0.1:18003/api/oidc"), "a")
with open(path, "w") as f:
    f.write(text)
print(f"reload_profile: {n} services, {len(text) / 1e6:.1f} MB -> {path}", file=sys.stderr)
EOF

"$bin" validate -c "$yaml" >/dev/null

echo "== gateway validate (whole process), $runs runs"
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 1 --runs "$runs" "$bin validate -c $yaml"
else
    for _ in $(seq "$runs"); do
        t0=$(date +%s%N)
        "$bin" validate -c "$yaml" >/dev/null
        echo $(( ($(date +%s%N) - t0) / 1000000 ))
    done | sort -n | awk '{a[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms\n", a[1], a[int((NR+1)/2)], a[NR]}'
fi

echo "== gateway validate --timings (reload path in process), $runs runs: min / median ms"
for i in $(seq "$runs"); do
    "$bin" validate -c "$yaml" --timings 2>&1 >/dev/null | sed -n 's/^timing //p' | grep -v '^phase' |
        sed "s/^/$i /"
done >"$out/timings.txt"
python3 - "$out/timings.txt" <<'EOF'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    parts = line.split()
    run, vals = parts[0], parts[-2:] if not line.split()[1] == "first" else parts[-1:]
    name = " ".join(parts[1:len(parts) - len(vals)])
    if name not in rows:
        order.append(name)
        rows[name] = []
    rows[name].append([float(v) for v in vals])
print(f"{'phase':<12} {'wall min':>9} {'wall med':>9} {'cpu min':>9} {'cpu med':>9}")
for name in order:
    cols = list(zip(*rows[name]))
    cells = []
    for col in cols:
        cells += [min(col), statistics.median(col)]
    print(f"{name:<12} " + " ".join(f"{c:>9.1f}" for c in cells))
EOF

if [ "${SIGHUP:-1}" = 1 ]; then
    echo "== SIGHUP reload of a running gateway (as bench.py's reload section: swap the file, signal, poll /status)"
    python3 - "$bin" "$services" "$runs" "$out" <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, time, urllib.request
sys.path.insert(0, "bench")
import bench  # noqa: E402
binary, n, runs, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
port, admin = free_port(), free_port()
plugin = bench.oidc_plugin("http://127.0.0.1:9/api/oidc")
upstream = free_port()  # one port for both versions: they differ in one tag only, as in bench.py
texts = [bench.reload_yaml(port, admin, n, upstream, plugin, t) for t in ("a", "b")]
path = os.path.join(out, "running.yaml")
with open(path, "w") as f:
    f.write(texts[0])
log = open(os.path.join(out, "running.log"), "w")
proc = subprocess.Popen([binary, "run", "-c", path], stdout=log, stderr=log,
                        env=dict(os.environ, RUST_LOG=os.environ.get("RELOAD_RUST_LOG", "warn")))
def config_hash():
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/status", timeout=5) as r:
        s = json.load(r)
    return (s.get("config") or {}).get("hash") or s.get("configuration_hash")
try:
    deadline = time.monotonic() + 120
    while True:
        try:
            config_hash()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gateway did not start, see {out}/running.log")
            time.sleep(0.05)
    times, peaks = [], []
    for i in range(runs):
        with open(path + ".tmp", "w") as f:
            f.write(texts[(i + 1) % 2])
        os.replace(path + ".tmp", path)
        old = config_hash()
        with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
            f.write("5")
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGHUP)
        while config_hash() == old:
            if time.monotonic() - t0 > 60:
                sys.exit("config hash unchanged 60 s after SIGHUP")
            time.sleep(0.002)
        times.append((time.monotonic() - t0) * 1000)
        with open(f"/proc/{proc.pid}/status") as f:
            peaks += [int(line.split()[1]) for line in f if line.startswith("VmHWM")]
        time.sleep(0.3)
    print(f"reload: min {min(times):.0f} ms, median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms ({runs} reloads); peak RSS {max(peaks) / 1024:.1f} MiB")
finally:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
PY
fi

if [ "${CALLGRIND:-0}" = 1 ]; then
    echo "== callgrind: instructions of one --timings run (both compiles: start, then reload)"
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "$bin" validate -c "$yaml" --timings \
        >/dev/null 2>"$out/callgrind.log" || true
    grep -E "Collected" "$out/callgrind.log" || true
    callgrind_annotate --inclusive=yes "$out/callgrind.out" 2>/dev/null |
        grep -E "parse_str_timed|deserialize_struct|Loader::next_document|build::build|validate::check|compile_timed|Router::compile|AuthRegistry::get|drop_in_place<gateway::snapshot::Snapshot>" |
        head -20
    echo "(full profile: callgrind_annotate --inclusive=yes $out/callgrind.out)"
fi
echo "reload_profile: files in $out"
