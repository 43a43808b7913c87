#!/usr/bin/env python3
"""The refusal path (row 6n: a token the negative cache knows → 401) against bare Pingora's early 401 (row 2x,
`bench-passthrough --reject`), outside `make bench`, for A/B work on that path.

    python3 bench/refusal.py instr     GATEWAY[,GATEWAY...] BARE [N]          # callgrind, N + 2N sequential requests
    python3 bench/refusal.py instrload GATEWAY[,GATEWAY...] BARE [SECONDS]    # callgrind under wrk -c32
    python3 bench/refusal.py strace    GATEWAY[,GATEWAY...] BARE [N]          # syscalls per request
    python3 bench/refusal.py cpu       GATEWAY[,GATEWAY...] BARE ROUNDS SECS  # interleaved wrk: RPS, user/sys µs

Run from the repository root. One IdP (`scripts/idp.py`, as the bench starts it) and the nginx upstream are
started; each gateway gets the instructions section's configuration (`/` behind openid-connect introspection).
The first request introspects the `garbage-…` token (inactive), every later one is refused from the negative
cache. `instr` uses `bench/edge.py`'s `callgrind_per_request`; its dumps are kept as `$OUT/cg.NAME` (default
/tmp) for `callgrind_annotate`. `cpu` runs the servers on CPU 0 and wrk on CPU 1 (a busy machine makes RPS
noisy; the user CPU per request from /proc is steadier).
"""
import glob
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
import bench as B  # noqa: E402
import edge  # noqa: E402


def main():
    mode = sys.argv[1]
    gateways = [os.path.abspath(x) for x in sys.argv[2].split(",")]
    bare = os.path.abspath(sys.argv[3])
    rest = sys.argv[4:]
    out_dir = os.environ.get("OUT", "/tmp")
    work = tempfile.mkdtemp(prefix="refusal-")
    for d in ("tmp", "logs"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    procs = B.Procs(work)
    st = types.SimpleNamespace(server_cpus=None, client_cpus="1", idp_cpus="1", bin_dir=os.path.dirname(bare),
                               duration=5, conns=32, wrk_threads=lambda: 1)
    bad = "garbage-" + secrets.token_hex(24)
    token_file = os.path.join(work, "bad.txt")
    with open(token_file, "w") as f:
        f.write(bad + "\n")
    try:
        up = B.free_port()
        B.start_nginx(procs, "upstream", "nginx/upstream.conf.in", None, PORT=up)
        _, issuer = B.start_idp(procs, st)

        def gateway_config():
            port, admin = B.free_port(), B.free_port()
            return port, admin, B.gateway_yaml(port, admin, [("open", f"http://127.0.0.1:{up}/", "/open", False),
                                                             ("api", f"http://127.0.0.1:{up}/", "/", True)],
                                               B.oidc_plugin(issuer))

        servers = []  # (name, argv, port, yaml path or None)
        port = B.free_port()
        servers.append(("bare", [bare, "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{up}",
                                 "--threads", "1", "--reject"], port, None))
        for i, binary in enumerate(gateways):
            port, _admin, text = gateway_config()
            path = os.path.join(work, f"gw{i}.yaml")
            with open(path, "w") as f:
                f.write(text)
            servers.append((f"gw{i}:{os.path.basename(binary)}", [binary, "run", "-c", path], port, path))
        rotate = B.lua_script(work, "rotate")
        if mode == "instr":
            n = int(rest[0]) if rest else 300
            for name, argv, port, _ in servers:
                tag = name.replace(":", "-")
                ir = edge.callgrind_per_request(procs, st, tag, argv, port, f"http://127.0.0.1:{port}/", bad, n)
                dumps = sorted(glob.glob(os.path.join(work, f"callgrind.{tag}.*")),
                               key=lambda f: int(f.rsplit(".", 1)[1]))
                shutil.copy(dumps[-1], os.path.join(out_dir, f"cg.{tag}"))
                print(f"{name}\t{ir:,.0f} instructions/request ({2 * n} requests)", flush=True)
        elif mode == "instrload":
            secs = float(rest[0]) if rest else 5
            for name, argv, port, _ in servers:
                tag = name.replace(":", "-")
                out = os.path.join(work, f"callgrind.{tag}")
                p = procs.start(f"cg-{tag}", ["taskset", "-c", "0", "valgrind", "--tool=callgrind",
                                              "--instr-atstart=no", f"--callgrind-out-file={out}"] + argv)
                B.wait_port(port, p, timeout=180)

                def control(*flags, pid=p.pid):
                    subprocess.run(["callgrind_control", *flags, str(pid)], check=True,
                                   stdout=subprocess.DEVNULL, timeout=120)

                control("-i", "on")
                B.run_wrk(st, f"http://127.0.0.1:{port}/", rotate, [token_file], duration=2)
                control("-z")
                res = B.run_wrk(st, f"http://127.0.0.1:{port}/", rotate, [token_file], duration=secs)
                control("-d")
                dumps = sorted(glob.glob(out + ".*"), key=lambda f: int(f.rsplit(".", 1)[1]))
                with open(dumps[-1]) as f:
                    total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
                shutil.copy(dumps[-1], os.path.join(out_dir, f"cgl.{tag}"))
                print(f"{name}\t{total / res['requests']:,.0f} instructions/request under load "
                      f"({res['requests']} requests)", flush=True)
                procs.stop(p)
        elif mode == "strace":
            n = int(rest[0]) if rest else 500
            urls = os.path.join(work, "urls")
            for name, argv, port, _ in servers:
                p = procs.start(name.replace(":", "-"), argv)
                B.wait_port(port, p, timeout=60)

                def send(count, port=port):
                    with open(urls, "w") as f:
                        f.write(f'url = "http://127.0.0.1:{port}/"\noutput = "/dev/null"\n' * count)
                    subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {bad}", "-K", urls], check=True)

                send(50)
                counts = os.path.join(work, "strace.out")
                s = subprocess.Popen(["strace", "-f", "-c", "-o", counts, "-p", str(p.pid)],
                                     stderr=subprocess.DEVNULL)
                time.sleep(1.0)
                send(n)
                time.sleep(0.3)
                s.send_signal(signal.SIGINT)
                s.wait()
                procs.stop(p)
                print(f"{name}: syscalls per request over {n} sequential requests", flush=True)
                with open(counts) as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) >= 5 and parts[3].isdigit():
                            print(f"  {parts[-1]:20s} {int(parts[3]) / n:6.2f}")
        elif mode == "cpu":
            rounds, secs = int(rest[0]), float(rest[1])
            rows = []
            for name, argv, port, _ in servers:
                p = procs.start(name.replace(":", "-"), argv, cpus="0")
                B.wait_port(port, p, timeout=60)
                B.check_status(f"http://127.0.0.1:{port}/", bad, 401)
                rows.append((name, port, p))
            tick = os.sysconf("SC_CLK_TCK")

            def cpu(pid):
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return int(fields[11]) / tick, int(fields[12]) / tick

            res = {name: [] for name, _, _ in rows}
            for _ in range(rounds):
                for name, port, p in rows:
                    u0, s0 = cpu(p.pid)
                    out = B.run_wrk(st, f"http://127.0.0.1:{port}/", rotate, [token_file], duration=secs)
                    u1, s1 = cpu(p.pid)
                    n = out["requests"]
                    res[name].append((out["rps"], (u1 - u0) / n * 1e6, (s1 - s0) / n * 1e6))
            base = statistics.median(x[0] for x in res["bare"])
            for name, v in res.items():
                med = statistics.median(x[0] for x in v)
                print(f"{name:28s} RPS {' '.join(f'{x[0]:.0f}' for x in v)} median {med:.0f} ({med / base:.3f}x "
                      f"bare); user {statistics.median(x[1] for x in v):.2f} sys "
                      f"{statistics.median(x[2] for x in v):.2f} µs/request", flush=True)
        else:
            sys.exit(f"unknown mode {mode!r}; see the docstring")
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
