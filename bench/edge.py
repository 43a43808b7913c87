"""Rows and sections of `make bench` for issue 16 (an edge proxy faster than stock Pingora), kept beside bench.py:

- `throughput_rows`: setups added to the interleaved throughput rounds — nginx as a plain reverse proxy (2n),
  bare Pingora's early 401 (2x), the gateway's 401 for a token known to be bad (6n, the negative cache), pingap
  as a plain reverse proxy (8, a second Pingora-based gateway; skipped with a note when not built), and
  rate-limiting on Redis (4lr).
- `section_scaling`: 1 vs 2 server threads/workers for bare Pingora, the gateway (warm cache), nginx and pingap,
  with the client on the same two cores (said in the report).
- `section_allocs`: heap allocations per request of the unmodified binaries (bench/allocs/count_allocs.c, an
  LD_PRELOAD counter of the glibc allocator): nginx, bare Pingora (proxy and early 401), the gateway (no auth,
  warm introspection, known-bad token; its system-allocator build, which the counter can see).
- `section_instructions`: user-space instructions per request under valgrind's callgrind (deterministic, unlike
  RPS on a shared VM): bare Pingora (both profiles, proxy and early 401), the gateway (no auth, warm
  introspection, known-bad token; jemalloc, the default allocator) and its warm path with mimalloc and with the
  system allocator.
"""

import glob
import os
import secrets
import shutil
import subprocess
import time

import bench as B

PINGAP_VERSION = "0.13.1"


def pingap_bin():
    """The pingap binary built by bench/run.sh into a cache outside the repo (BENCH_PINGAP), or None."""
    path = os.environ.get("BENCH_PINGAP", "")
    return path if path and os.access(path, os.X_OK) else None


def pingap_conf(workdir, name, port, upstream, threads):
    path = os.path.join(workdir, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f"""# pingap {PINGAP_VERSION} as a plain reverse proxy: one upstream, one location, no plugins, no access log.
[basic]
threads = {threads}
pid_file = "{workdir}/{name}.pid"
upgrade_sock = "{workdir}/{name}.sock"
grace_period = "0s"
graceful_shutdown_timeout = "1s"

[upstreams.app]
addrs = ["127.0.0.1:{upstream}"]

[locations.all]
upstream = "app"
path = "/"

[servers.bench]
addr = "127.0.0.1:{port}"
locations = ["all"]
threads = {threads}
""")
    return path


def start_pingap(procs, name, port, upstream, threads, cpus):
    conf = pingap_conf(procs.workdir, name, port, upstream, threads)
    p = procs.start(name, [pingap_bin(), "-c", conf], cpus=cpus)
    B.wait_port(port, p)
    return p


def start_bare(procs, st, name, upstream, threads=1, reject=False, bin_dir=None, cpus=None, env=None):
    port = B.free_port()
    argv = [os.path.join(bin_dir or st.bin_dir, "bench-passthrough"), "--listen", f"127.0.0.1:{port}",
            "--upstream", f"127.0.0.1:{upstream}", "--threads", str(threads)] + (["--reject"] if reject else [])
    p = procs.start(name, argv, cpus=cpus or st.server_cpus, env=env)
    B.wait_port(port, p)
    return port


def start_nginx_proxy(procs, name, upstream, workers, cpus):
    port = B.free_port()
    B.start_nginx(procs, name, "nginx/proxy.conf.in", cpus, PORT=port, UPSTREAM_PORT=upstream, WORKERS=workers)
    return port


def start_redis(procs):
    if shutil.which("redis-server") is None:
        return None
    port = B.free_port()
    p = procs.start(f"redis-{port}", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"])
    B.wait_port(port, p)
    return port


def garbage_token_file(workdir):
    """One token the IdP never issued: the first request is introspected (inactive), the rest hit the negative
    cache."""
    path = os.path.join(workdir, "token-garbage.txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("garbage-" + secrets.token_hex(24) + "\n")
    return path


def throughput_rows(st, procs, env, results, rotate, one, ga_port, ga_admin):
    """Setups for the throughput rounds: (key, label, url, script, args, expect, admin)."""
    up = env["upstream_port"]
    rows = []
    port = start_nginx_proxy(procs, "nginx-proxy", up, 1, st.server_cpus)
    rows.append(("nginx_proxy", "2n nginx plain reverse proxy (1 worker)", f"http://127.0.0.1:{port}/", rotate,
                 [one], 200, None))
    port = start_bare(procs, st, "bare-pingora-401", up, reject=True)
    rows.append(("bare_401", "2x bare Pingora early 401 (no upstream)", f"http://127.0.0.1:{port}/", rotate,
                 [one], 401, None))
    if pingap_bin():
        port = B.free_port()
        start_pingap(procs, "pingap", port, up, 1, st.server_cpus)
        rows.append(("pingap", f"8 pingap {PINGAP_VERSION} plain reverse proxy (1 thread)",
                     f"http://127.0.0.1:{port}/", rotate, [one], 200, None))
    else:
        results["notes"].append("pingap: not built (bench/run.sh builds it into a cache; needs protoc), row 8 "
                                "not run")
    if ga_port:
        rows.append(("gw_reject", "6n gateway, token known to be bad → 401 (negative cache)",
                     f"http://127.0.0.1:{ga_port}/", rotate, [garbage_token_file(procs.workdir)], 401, ga_admin))
        redis_port = start_redis(procs)
        if redis_port:
            gr_port, gr_admin = B.free_port(), B.free_port()
            B.Gateway(procs, st, "gateway-rl-redis", B.gateway_yaml(gr_port, gr_admin, [
                ("limited", f"http://127.0.0.1:{up}/", "/", True,
                 [("rate-limiting", {"second": 1000000000, "limit_by": "ip", "policy": "redis",
                                     "redis": {"host": "127.0.0.1", "port": redis_port}})])],
                B.oidc_plugin(env["issuer"])), gr_port, gr_admin, st.server_cpus)
            rows.append(("gw_warm_rlr", "4lr gateway, introspection, warm cache, rate-limiting redis (never limited)",
                         f"http://127.0.0.1:{gr_port}/", rotate, [one], 200, gr_admin))
        else:
            results["notes"].append("4lr: redis-server missing, not run")
    return rows


def section_scaling(st, procs, env, results):
    """1 vs 2 server threads (nginx: workers) on cores 0-1, the client on the same cores."""
    up, cpus = env["upstream_port"], os.environ.get("BENCH_SCALING_CPUS", "0,1")
    one = os.path.join(procs.workdir, "token-1.txt")
    with open(one, "w") as f:
        f.write(env["tokens"][0] + "\n")
    rotate = B.lua_script(procs.workdir, "rotate")
    plugin = B.oidc_plugin(env["issuer"])
    setups = []
    for threads in (1, 2):
        port = start_bare(procs, st, f"bare-{threads}t", up, threads=threads, cpus=cpus)
        setups.append(("bare", threads, f"http://127.0.0.1:{port}/"))
        gp, ga = B.free_port(), B.free_port()
        B.Gateway(procs, st, f"gateway-{threads}t", B.gateway_yaml(gp, ga, [
            ("api", f"http://127.0.0.1:{up}/", "/", True)], plugin, threads=threads), gp, ga, cpus)
        setups.append(("gateway warm", threads, f"http://127.0.0.1:{gp}/"))
        port = start_nginx_proxy(procs, f"nginx-proxy-{threads}w", up, threads, cpus)
        setups.append(("nginx proxy", threads, f"http://127.0.0.1:{port}/"))
        if pingap_bin():
            port = B.free_port()
            start_pingap(procs, f"pingap-{threads}t", port, up, threads, cpus)
            setups.append(("pingap", threads, f"http://127.0.0.1:{port}/"))
    for _name, _t, url in setups:
        B.check_status(url, env["tokens"][0], 200)
    runs = {(n, t): [] for n, t, _ in setups}
    for rnd in range(1, st.rounds + 1):
        for name, threads, url in setups:
            if st.warmup > 0:
                B.run_wrk(st, url, rotate, [one], duration=st.warmup, threads=2, cpus=cpus)
            res = B.run_wrk(st, url, rotate, [one], threads=2, cpus=cpus)
            runs[(name, threads)].append(res["rps"])
            B.log(f"scaling round {rnd}/{st.rounds} {name} {threads}t {res['rps']:9.0f} rps")
    results["scaling"] = {"cpus": cpus, "rows": [
        {"setup": n, "threads": t, "rps": sorted(v)[len(v) // 2], "rounds": v} for (n, t), v in runs.items()]}


def _alloc_counts(directory):
    allocs = frees = 0
    for path in glob.glob(os.path.join(directory, "allocs.*")):
        with open(path) as f:
            parts = f.read().split()
        if len(parts) >= 2:
            allocs += int(parts[0])
            frees += int(parts[1])
    return allocs, frees


def section_allocs(st, procs, env, results):
    """Allocations per request: each binary under the LD_PRELOAD counter, a warm-up, then a wrk run whose
    request count divides the allocations made during it (background work included)."""
    if shutil.which("cc") is None:
        results["notes"].append("allocs: no C compiler (cc), not run")
        return
    so = os.path.join(procs.workdir, "count_allocs.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, os.path.join(B.HERE, "allocs", "count_allocs.c")],
                   check=True)
    up = env["upstream_port"]
    one = os.path.join(procs.workdir, "token-1.txt")
    with open(one, "w") as f:
        f.write(env["tokens"][0] + "\n")
    rotate = B.lua_script(procs.workdir, "rotate")

    def counted(name):
        d = os.path.join(procs.workdir, f"allocs-{name}")
        os.makedirs(d, exist_ok=True)
        return d, dict(os.environ, LD_PRELOAD=so, ALLOC_COUNT_DIR=d,
                       RUST_LOG=os.environ.get("BENCH_RUST_LOG", "warn"))

    cases = []  # (label, count dir, url, token file, expected status)
    d, e = counted("nginx")
    port = B.free_port()
    conf = B.render("nginx/proxy.conf.in", os.path.join(procs.workdir, "nginx-allocs.conf"),
                    USER=B.nginx_user_line(), DIR=procs.workdir, BENCH=B.HERE, NAME="nginx-allocs", PORT=port,
                    UPSTREAM_PORT=up, WORKERS=1)
    os.chmod(d, 0o777)  # the worker runs as nobody and writes its own count file
    p = procs.start("nginx-allocs", ["nginx", "-p", procs.workdir, "-c", conf, "-e",
                                     os.path.join(procs.workdir, "nginx-allocs.error.log")], cpus=st.server_cpus,
                    env=e)
    B.wait_port(port, p)
    cases.append(("nginx plain reverse proxy", d, f"http://127.0.0.1:{port}/", one, 200))
    d, e = counted("bare")
    port = start_bare(procs, st, "bare-allocs", up, env=e)
    cases.append(("bare Pingora passthrough", d, f"http://127.0.0.1:{port}/", one, 200))
    d, e = counted("bare401")
    port = start_bare(procs, st, "bare401-allocs", up, reject=True, env=e)
    cases.append(("bare Pingora early 401", d, f"http://127.0.0.1:{port}/", one, 401))
    d, e = counted("gateway")
    gp, ga = B.free_port(), B.free_port()
    gw_yaml = B.gateway_yaml(gp, ga, [("open", f"http://127.0.0.1:{up}/", "/open", False),
                                      ("api", f"http://127.0.0.1:{up}/", "/", True)], B.oidc_plugin(env["issuer"]))
    path = os.path.join(procs.workdir, "gateway-allocs.yaml")
    with open(path, "w") as f:
        f.write(gw_yaml)
    # The counter sees glibc's allocator only: the gateway's system-allocator build (the default links jemalloc).
    system_bin = os.path.join(st.bin_dir, "gateway-system")
    binary = system_bin if os.access(system_bin, os.X_OK) else B.gateway_bin(st)
    p = procs.start("gateway-allocs", [binary, "run", "-c", path], cpus=st.server_cpus, env=e)
    B.wait_port(gp, p)
    B.wait_port(ga, p)
    cases.append(("gateway, route without auth", d, f"http://127.0.0.1:{gp}/open", one, 200))
    cases.append(("gateway, introspection, warm cache", d, f"http://127.0.0.1:{gp}/", one, 200))
    cases.append(("gateway, token known to be bad → 401", d, f"http://127.0.0.1:{gp}/",
                  garbage_token_file(procs.workdir), 401))
    rows = []
    duration = min(st.duration, 5)
    for label, d, url, tokens, want in cases:
        with open(tokens) as f:
            B.check_status(url, f.read().strip(), want)
        B.run_wrk(st, url, rotate, [tokens], duration=1)
        time.sleep(0.2)
        a0, f0 = _alloc_counts(d)
        res = B.run_wrk(st, url, rotate, [tokens], duration=duration)
        time.sleep(0.2)
        a1, f1 = _alloc_counts(d)
        n = max(1, res["requests"])
        rows.append({"setup": label, "requests": res["requests"], "allocs_per_request": (a1 - a0) / n,
                     "frees_per_request": (f1 - f0) / n, "rps_counted": res["rps"]})
        B.log(f"allocs: {label}: {(a1 - a0) / n:.1f} allocations/request over {res['requests']} requests")
    results["allocs"] = rows


def callgrind_per_request(procs, st, name, argv, port, url, token, n, headers=()):
    """User-space instructions per request of one server under callgrind: instrumentation starts once the
    server listens, `n` keep-alive requests (one curl process, one connection; `headers`: extra
    "Name: value" request headers) warm it up, the counters are zeroed, then 2n more are counted and dumped.
    Deterministic where RPS on a shared VM is not."""
    out = os.path.join(procs.workdir, f"callgrind.{name}")
    p = procs.start(f"callgrind-{name}", ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                          f"--callgrind-out-file={out}"] + argv, cpus=st.server_cpus)
    try:
        B.wait_port(port, p, timeout=180)
        hdr = ["-H", f"Authorization: Bearer {token}"] if token else []
        for h in headers:
            hdr += ["-H", h]
        urls = os.path.join(procs.workdir, f"urls.{name}")

        def send(count):
            with open(urls, "w") as f:
                f.write(f'url = "{url}"\noutput = "/dev/null"\n' * count)
            subprocess.run(["curl", "-s", *hdr, "-K", urls], check=True, timeout=600)

        def control(*flags):
            subprocess.run(["callgrind_control", *flags, str(p.pid)], check=True, stdout=subprocess.DEVNULL,
                           timeout=120)

        control("-i", "on")
        send(n)
        control("-z")
        send(2 * n)
        control("-d")
        dumps = sorted(glob.glob(out + ".*"), key=lambda f: int(f.rsplit(".", 1)[1]))
        with open(dumps[-1]) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
        return total / (2 * n)
    finally:
        procs.stop(p)


def section_instructions(st, procs, env, results):
    """Instructions per request (callgrind) of bare Pingora and the gateway, on the same paths as the
    throughput rows, and the gateway's warm path with each allocator (where those builds exist)."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        results["notes"].append("instructions: valgrind is not installed, not run")
        return
    n = B.env_int("BENCH_INSTR_REQUESTS", 300)
    up = env["upstream_port"]
    good = env["tokens"][0]
    with open(garbage_token_file(procs.workdir)) as f:
        bad = f.read().strip()
    rows = []

    def bare(label, bin_dir, reject):
        port = B.free_port()
        argv = [os.path.join(bin_dir, "bench-passthrough"), "--listen", f"127.0.0.1:{port}", "--upstream",
                f"127.0.0.1:{up}", "--threads", "1"] + (["--reject"] if reject else [])
        if os.access(argv[0], os.X_OK):
            ir = callgrind_per_request(procs, st, f"bare{len(rows)}", argv, port, f"http://127.0.0.1:{port}/",
                                       None, n)
            rows.append({"setup": label, "key": label, "instructions": ir})

    def gateway(label, binary, cases):
        if not os.access(binary, os.X_OK):
            return
        port, admin = B.free_port(), B.free_port()
        path = os.path.join(procs.workdir, f"gateway-instr{len(rows)}.yaml")
        with open(path, "w") as f:
            f.write(B.gateway_yaml(port, admin, [("open", f"http://127.0.0.1:{up}/", "/open", False),
                                                 ("api", f"http://127.0.0.1:{up}/", "/", True)],
                                   B.oidc_plugin(env["issuer"])))
        for case, route, token in cases:
            ir = callgrind_per_request(procs, st, f"gw{len(rows)}", [binary, "run", "-c", path], port,
                                       f"http://127.0.0.1:{port}{route}", token, n)
            rows.append({"setup": f"{label}, {case}", "key": f"{label}|{case}", "instructions": ir})

    base_dir = getattr(st, "stock_bin_dir", None) or getattr(st, "baseline_bin_dir", None)
    bare("bare Pingora passthrough", st.bin_dir, False)
    if base_dir:
        bare("bare Pingora passthrough, release profile (stock defaults)", base_dir, False)
    bare("bare Pingora early 401", st.bin_dir, True)
    gateway("gateway", B.gateway_bin(st), [("route without auth", "/open", None),
                                           ("introspection, warm cache", "/", good),
                                           ("token known to be bad → 401", "/", bad)])
    for alloc in ("mimalloc", "system"):
        gateway(f"gateway {alloc}", os.path.join(st.bin_dir, f"gateway-{alloc}"),
                [("introspection, warm cache", "/", good)])
    if os.access(B.gateway_bin(st), os.X_OK):
        import plugin_rows  # noqa: PLC0415 - bench/plugin_rows.py imports bench, as this module does
        rows += plugin_rows.instruction_rows(
            st, procs, env, n,
            lambda name, argv, port, url, token, count, headers: callgrind_per_request(
                procs, st, name, argv, port, url, token, count, headers))
    results["instructions"] = {"requests": 2 * n, "rows": rows}
    for r in rows:
        B.log(f"instructions: {r['setup']}: {r['instructions']:,.0f} per request")
