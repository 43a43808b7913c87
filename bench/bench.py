#!/usr/bin/env python3
"""Benchmark orchestrator behind `make bench` (bench/run.sh installs, builds, then runs this).

Starts every server itself on 127.0.0.1 (free ports), pinned with `taskset`, runs `wrk`, and writes
docs/benchmarks.md and docs/benchmarks.svg. Python standard library only.

Sections (BENCH_SECTIONS, comma-separated, default all): throughput, scaling, allocs, instructions, coalescing,
memory, reload, scaleout (scaling, allocs and instructions, and throughput rows 2n/2x/6n/8/4lr, are in bench/edge.py).
BENCH_INSTR_REQUESTS (300: warm-up requests per instructions row; twice as many are counted).
BENCH_PINGAP (the pingap binary bench/run.sh built; row 8 and the scaling rows), BENCH_SCALING_CPUS ("0,1").
Knobs (environment): BENCH_DURATION (s, per measured wrk run, default 10), BENCH_ROUNDS (3),
BENCH_WARMUP (s, 1), BENCH_CONNECTIONS (32), BENCH_SERVER_CPUS ("0"), BENCH_CLIENT_CPUS ("1"),
BENCH_IDP_CPUS (= client CPUs), BENCH_TOKENS (1000), BENCH_MEM_COUNTS ("100000,1000000"),
BENCH_COALESCE (256), BENCH_IDP_DELAY_MS (100), BENCH_RELOAD_SERVICES (10000), BENCH_RELOAD_ROUNDS (5),
BENCH_RELOAD_INTERVAL (s, 1.0), BENCH_OUT (docs/benchmarks.md), BENCH_KEEP (1 keeps the work dir),
BENCH_LABEL (free text shown in the report's title, e.g. "smoke run"), BENCH_SCALEOUT_TOKENS (50), BENCH_MEM_SETTINGS ("key: value;..."
added to the memory instance's `gateway:` block, e.g. a token-cache capacity).
"""

import argparse
import base64
import concurrent.futures
import ctypes
import datetime
import http.server
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import report  # noqa: E402  (bench/report.py: markdown and SVG)

CLIENT_ID, CLIENT_SECRET = "kong", "kong-secret"
CLIENT_BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


class Settings:
    """Every knob, read once from the environment."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.duration = env_int("BENCH_DURATION", 10)
        self.rounds = env_int("BENCH_ROUNDS", 3)
        self.warmup = env_float("BENCH_WARMUP", 1)
        self.conns = env_int("BENCH_CONNECTIONS", 32)
        self.server_cpus = os.environ.get("BENCH_SERVER_CPUS", "0")
        self.client_cpus = os.environ.get("BENCH_CLIENT_CPUS", "1")
        self.idp_cpus = os.environ.get("BENCH_IDP_CPUS", self.client_cpus)
        self.tokens = env_int("BENCH_TOKENS", 1000)
        self.mem_counts = sorted(int(x) for x in os.environ.get("BENCH_MEM_COUNTS", "100000,1000000").split(",") if x)
        self.coalesce = env_int("BENCH_COALESCE", 256)
        self.idp_delay_ms = env_int("BENCH_IDP_DELAY_MS", 100)
        self.reload_services = env_int("BENCH_RELOAD_SERVICES", 10000)
        self.reload_rounds = env_int("BENCH_RELOAD_ROUNDS", 5)
        self.reload_interval = env_float("BENCH_RELOAD_INTERVAL", 1.0)
        self.scaleout_tokens = env_int("BENCH_SCALEOUT_TOKENS", 50)
        self.sections = [s.strip() for s in os.environ.get(
            "BENCH_SECTIONS", "throughput,scaling,allocs,instructions,coalescing,memory,reload,scaleout").split(",")
            if s.strip()]
        self.out = os.environ.get("BENCH_OUT", os.path.join(ROOT, "docs", "benchmarks.md"))
        self.keep = os.environ.get("BENCH_KEEP", "") == "1"
        self.label = os.environ.get("BENCH_LABEL", "")

    def wrk_threads(self):
        return max(1, len(cpu_list(self.client_cpus)))

    def as_dict(self):
        d = dict(vars(self))
        d["wrk_threads"] = self.wrk_threads()
        return d


def cpu_list(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


# ---------------------------------------------------------------------------------------------- processes

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    # Own process group (killed as a whole), and SIGTERM if the orchestrator dies without cleaning up.
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Procs:
    """Every process the harness starts; `stop_all` ends them (process groups), newest first."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, argv, cpus=None, stdout=None, env=None):
        if cpus:
            argv = ["taskset", "-c", cpus] + argv
        logf = open(os.path.join(self.workdir, f"{name}.log"), "ab")
        log(f"start {name}: {shlex.join(argv)}")
        p = subprocess.Popen(argv, stdout=stdout or logf, stderr=logf, stdin=subprocess.DEVNULL,
                             preexec_fn=_child_setup, env=env, cwd=self.workdir)
        p.bench_name = name
        p.bench_log = logf
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGINT, timeout=5):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{p.bench_name} did not stop in {timeout}s: SIGKILL")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        else:
            # Leftover children of a dead leader (e.g. nginx workers).
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        p.bench_log.close()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}; see its log in the work dir")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening after {timeout}s")


def http_call(url, data=None, headers=None, timeout=10):
    """(status, body bytes) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def proc_status(pid):
    """VmRSS / VmHWM of a process in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def reset_peak_rss(pid):
    """Reset VmHWM (Linux >= 4.0); False when not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- templates

def render(template, dest, **values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError(f"{template}: unfilled {left}")
    with open(dest, "w") as f:
        f.write(text)
    return dest


def nginx_user_line():
    # Workers of a root master run unprivileged: say which user, and make what they touch reachable.
    return "user nobody nogroup;" if os.geteuid() == 0 else ""


def start_nginx(procs, name, template, cpus, **values):
    conf = render(template, os.path.join(procs.workdir, f"{name}.conf"), USER=nginx_user_line(),
                  DIR=procs.workdir, BENCH=HERE, NAME=name, **values)
    test = subprocess.run(["nginx", "-t", "-q", "-p", procs.workdir, "-c", conf, "-e", "stderr"],
                          capture_output=True, text=True)
    if test.returncode != 0:
        raise RuntimeError(f"nginx -t {conf}: {test.stderr.strip()}")
    p = procs.start(name, ["nginx", "-p", procs.workdir, "-c", conf, "-e",
                           os.path.join(procs.workdir, f"{name}.error.log")], cpus=cpus)
    wait_port(values["PORT"], p)
    return p


def lua_script(workdir, name):
    """The scenario's wrk script with the shared reporter appended (wrk takes one file)."""
    dest = os.path.join(workdir, f"wrk-{name}.lua")
    if not os.path.exists(dest):
        with open(os.path.join(HERE, "lua", f"{name}.lua")) as a, open(os.path.join(HERE, "lua", "report.lua")) as b:
            text = a.read() + "\n" + b.read()
        with open(dest, "w") as f:
            f.write(text)
    return dest


# ---------------------------------------------------------------------------------------------- wrk

def run_wrk(st, url, script, args=(), duration=None, conns=None, threads=None, cpus=None, timeout_s=5):
    duration = max(1, round(duration if duration is not None else st.duration))  # wrk takes whole seconds
    cmd = ["wrk", f"-t{threads or st.wrk_threads()}", f"-c{conns or st.conns}", f"-d{duration}s",
           f"--timeout={timeout_s}s", "--latency", "-s", script, url]
    if args:
        cmd += ["--"] + [str(a) for a in args]
    if cpus is not False:
        cmd = ["taskset", "-c", cpus or st.client_cpus] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=float(duration) + 60)
    m = re.search(r"^BENCHJSON (\{.*\})$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({r.returncode}): {r.stdout[-500:]} {r.stderr[-500:]}")
    res = json.loads(m.group(1))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6) if res["duration_us"] else 0.0
    res["errors"] = res["connect_errors"] + res["read_errors"] + res["write_errors"] + res["timeouts"]
    res["command"] = shlex.join(cmd)
    return res


def run_h2load(st, url, token, duration=None):
    """h2load (nghttp2) over h2c with prior knowledge: the same connection count as wrk, one stream in flight per
    connection (so the request concurrency matches wrk's), the bearer token in a header. Percentiles come from its
    per-request log. Same result keys as run_wrk."""
    duration = max(1, round(duration if duration is not None else st.duration))
    log_file = os.path.join(tempfile.gettempdir(), f"h2load-{os.getpid()}.log")
    cmd = ["h2load", f"-c{st.conns}", "-m1", f"-t{st.wrk_threads()}", f"-D{duration}", "-H",
           f"Authorization: Bearer {token}", f"--log-file={log_file}", url]
    shown = shlex.join(["taskset", "-c", st.client_cpus] + cmd[:6] + ["-H", "Authorization: Bearer <token>"] + cmd[8:])
    r = subprocess.run(["taskset", "-c", st.client_cpus] + cmd, capture_output=True, text=True,
                       timeout=float(duration) + 60)
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"h2load failed ({r.returncode}): {r.stdout[-500:]} {r.stderr[-500:]}")
    lat, statuses = [], []
    with open(log_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                statuses.append(int(parts[1]))
                lat.append(int(parts[2]))
    os.unlink(log_file)
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
    failed = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", r.stdout)
    errors = sum(int(x) for x in failed.groups()) if failed else 0
    return {"rps": float(m.group(2)), "requests": len(lat), "p50_us": pick(0.5), "p99_us": pick(0.99),
            "status_errors": sum(1 for s in statuses if not 200 <= s < 300), "errors": errors, "command": shown}


# ---------------------------------------------------------------------------------------------- metrics

def metric_sum(admin_port, name, **labels):
    """Sum of a Prometheus counter over the series whose labels include `labels`."""
    status, body = http_call(f"http://127.0.0.1:{admin_port}/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^(\w+)(?:\{(.*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def idp_introspections(admin_port):
    return metric_sum(admin_port, "gateway_idp_requests_total", endpoint="introspection")


# ---------------------------------------------------------------------------------------------- IdP

def start_idp(procs, st):
    idp_script = os.path.join(ROOT, "scripts", "idp.py")
    if not os.path.exists(idp_script):
        raise RuntimeError("scripts/idp.py is missing")
    port = free_port()
    p = procs.start("idp", [sys.executable, idp_script, "serve", "--dir", os.path.join(procs.workdir, "idp"),
                            "--port", str(port)], cpus=st.idp_cpus, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 120
    issuer = None
    while time.monotonic() < deadline:
        line = p.stdout.readline().decode()
        if not line:
            if p.poll() is not None:
                raise RuntimeError("idp.py exited before READY; see idp.log")
            continue
        if line.startswith("READY "):
            issuer = line.split()[1]
            break
    if not issuer:
        raise RuntimeError("idp.py did not print READY in 120 s")
    # Keep draining its stdout so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in iter(p.stdout.readline, b"")], daemon=True).start()
    return port, issuer


def token_request(issuer, form):
    status, body = http_call(f"{issuer}/token", data=form.encode(), headers={
        "Authorization": f"Basic {CLIENT_BASIC}", "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"token endpoint answered {status}: {body[:200]!r}")
    return json.loads(body)


def mint_tokens(issuer, n):
    """n distinct active access tokens of john: one password grant, then refresh grants (no password
    hashing per token: ~3x faster than n password grants on Glewlwyd)."""
    first = token_request(issuer, "grant_type=password&username=john&password=doe&scope=openid%20read")
    tokens = [first["access_token"]]
    refresh = first.get("refresh_token")
    if n <= 1:
        return tokens
    form = (f"grant_type=refresh_token&refresh_token={refresh}" if refresh
            else "grant_type=password&username=john&password=doe&scope=openid%20read")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        tokens += list(ex.map(lambda _: token_request(issuer, form)["access_token"], range(n - 1)))
    log(f"minted {len(tokens)} tokens in {time.monotonic() - t0:.1f}s")
    if len(set(tokens)) != len(tokens):
        raise RuntimeError("the IdP returned duplicate tokens")
    return tokens


class DelayProxy:
    """In-process HTTP proxy in front of the IdP's introspection endpoint that waits `delay_ms` before
    forwarding and counts the calls: it makes N concurrent requests overlap one in-flight IdP call, so the
    coalescing test cannot pass by luck of timing."""

    def __init__(self, idp_port, delay_ms):
        outer = self
        self.calls = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                with outer.lock:
                    outer.calls += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                time.sleep(delay_ms / 1000)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("authorization", "content-type", "accept")}
                status, answer = http_call(f"http://127.0.0.1:{idp_port}{self.path}", data=body, headers=hdrs)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------- gateway

def gateway_bin(st):
    return os.path.join(st.bin_dir, "gateway")


def gateway_yaml(port, admin_port, services, plugin=None, threads=1, upstreams=(), h2c_port=None):
    """Gateway YAML: `services` is a list of (name, upstream_url, path, with_plugin[, extra_plugins]) where
    extra_plugins is a list of (plugin name, config dict) added after openid-connect; `upstreams` a list of
    (name, [target, ...]) (round-robin, default weights, no health checks)."""
    listen = f"127.0.0.1:{port}" + (f", 127.0.0.1:{h2c_port} http2" if h2c_port else "")
    lines = ['_format_version: "3.0"', "gateway:", f"  proxy_listen: {listen}",
             f"  admin_listen: 127.0.0.1:{admin_port}", f"  worker_threads: {threads}",
             "  log_level: warn", "  access_log: false", "  grace_period_seconds: 0",
             "  graceful_shutdown_timeout_seconds: 1", "services:"]
    for svc in services:
        name, url, path, with_plugin = svc[:4]
        extra = svc[4] if len(svc) > 4 else []
        lines += [f"- name: {name}", f"  url: {url}", "  routes:", f"  - name: {name}-route",
                  f"    paths: [\"{path}\"]"]
        if (with_plugin and plugin) or extra:
            lines.append("  plugins:")
        if with_plugin and plugin:
            lines += ["  - name: openid-connect", "    config:"]
            lines += [f"      {k}: {json.dumps(v)}" for k, v in plugin.items()]
        for extra_name, extra_cfg in extra:
            lines += [f"  - name: {extra_name}", "    config:"]
            lines += [f"      {k}: {json.dumps(v)}" for k, v in extra_cfg.items()]
    if upstreams:
        lines.append("upstreams:")
        for name, targets in upstreams:
            lines += [f"- name: {name}", "  targets:"] + [f"  - target: {t}" for t in targets]
    return "\n".join(lines) + "\n"


def oidc_plugin(issuer, introspection_endpoint=None):
    cfg = {"issuer": issuer, "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET],
           "auth_methods": ["introspection"], "bearer_token_param_type": ["header"]}
    if introspection_endpoint:
        cfg["introspection_endpoint"] = introspection_endpoint
    return cfg


class Gateway:
    def __init__(self, procs, st, name, yaml_text, port, admin_port, cpus, binary=None):
        self.procs, self.name, self.port, self.admin_port = procs, name, port, admin_port
        self.path = os.path.join(procs.workdir, f"{name}.yaml")
        with open(self.path, "w") as f:
            f.write(yaml_text)
        t0 = time.monotonic()
        env = dict(os.environ, RUST_LOG=os.environ.get("BENCH_RUST_LOG", "warn"))
        self.proc = procs.start(name, [binary or gateway_bin(st), "run", "-c", self.path], cpus=cpus, env=env)
        self.hash = self.wait_ready()
        self.startup_s = time.monotonic() - t0

    def status(self):
        status, body = http_call(f"http://127.0.0.1:{self.admin_port}/status", timeout=5)
        if status != 200:
            raise RuntimeError(f"{self.name} /status answered {status}")
        return json.loads(body)

    def config_hash(self):
        s = self.status()
        return (s.get("config") or {}).get("hash") or s.get("configuration_hash")

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.name}.log")
            try:
                h = self.config_hash()
                wait_port(self.port, self.proc, timeout=10)
                return h
            except (OSError, RuntimeError, ValueError):
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} not ready after {timeout}s")

    def stop(self):
        self.procs.stop(self.proc)


# ---------------------------------------------------------------------------------------------- sections

def check_status(url, token, want):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body = http_call(url, headers=headers)
    if status != want:
        raise RuntimeError(f"GET {url} answered {status} (want {want}): {body[:200]!r}")


def jwt_plugin(issuer):
    """openid-connect verifying JWT access tokens locally (`bearer`) with the issuer's JWKS."""
    return {"issuer": issuer, "auth_methods": ["bearer"], "bearer_token_param_type": ["header"]}


def section_throughput(st, procs, env, results):
    """Setups 1-7, interleaved rounds."""
    up, idp_port, issuer, tokens = env["upstream_port"], env["idp_port"], env["issuer"], env["tokens"]
    wd = procs.workdir
    one = os.path.join(wd, "token-1.txt")
    many = os.path.join(wd, f"tokens-{len(tokens)}.txt")
    with open(one, "w") as f:
        f.write(tokens[0] + "\n")
    with open(many, "w") as f:
        f.write("\n".join(tokens) + "\n")
    rotate, unseen = lua_script(wd, "rotate"), lua_script(wd, "unseen")
    token_len = len(tokens[0])

    scen = []  # (key, label, url, script, args, expect, admin_port for IdP counting)

    scen.append(("direct", "1 upstream direct (nginx static)", f"http://127.0.0.1:{up}/", rotate, [one], 200, None))

    bare_port = free_port()
    bare_bin = os.path.join(st.bin_dir, "bench-passthrough")
    p = procs.start("bare-pingora", [bare_bin, "--listen", f"127.0.0.1:{bare_port}", "--upstream",
                                     f"127.0.0.1:{up}", "--threads", "1"], cpus=st.server_cpus)
    wait_port(bare_port, p)
    scen.append(("bare", "2 bare Pingora passthrough", f"http://127.0.0.1:{bare_port}/", rotate, [one], 200, None))
    base_dir = getattr(st, "baseline_bin_dir", None)
    stock_dir = getattr(st, "stock_bin_dir", None) or base_dir
    if stock_dir and os.access(os.path.join(stock_dir, "bench-passthrough"), os.X_OK):
        rel_port = free_port()
        p = procs.start("bare-pingora-release", [os.path.join(stock_dir, "bench-passthrough"), "--listen",
                                                 f"127.0.0.1:{rel_port}", "--upstream", f"127.0.0.1:{up}",
                                                 "--threads", "1"], cpus=st.server_cpus)
        wait_port(rel_port, p)
        scen.append(("bare_release", "2r bare Pingora passthrough, release profile (stock Pingora defaults: crates.io "
                     "Pingora, none of the vendored patches)",
                     f"http://127.0.0.1:{rel_port}/", rotate, [one], 200, None))

    have_gw = os.access(gateway_bin(st), os.X_OK)
    if have_gw:
        ga_port, ga_admin, ga_h2 = free_port(), free_port(), free_port()
        plugin = oidc_plugin(issuer)
        ga = Gateway(procs, st, "gateway-a", gateway_yaml(ga_port, ga_admin, [
            ("open", f"http://127.0.0.1:{up}/", "/open", False),
            ("balanced", "http://lb.upstream/", "/balanced", False),
            # Rate-limiting on top of warm introspection; the limit is never reached (the row measures its cost).
            ("limited", f"http://127.0.0.1:{up}/", "/limited", True,
             [("rate-limiting", {"second": 1000000000, "limit_by": "ip", "policy": "local"})]),
            # The same tokens (Glewlwyd's access tokens are RS256 JWTs) verified locally against the
            # IdP's JWKS: `bearer` only, no introspection.
            ("jwt", f"http://127.0.0.1:{up}/", "/jwt", False, [("openid-connect", jwt_plugin(issuer))]),
            ("api", f"http://127.0.0.1:{up}/", "/", True)], plugin,
            upstreams=[("lb.upstream", [f"127.0.0.1:{up}", f"127.0.0.2:{up}"])], h2c_port=ga_h2),
            ga_port, ga_admin, st.server_cpus)
        if base_dir and os.access(os.path.join(base_dir, "gateway"), os.X_OK):
            gr_port, gr_admin = free_port(), free_port()
            Gateway(procs, st, "gateway-release", gateway_yaml(gr_port, gr_admin, [
                ("api", f"http://127.0.0.1:{up}/", "/", True)], plugin), gr_port, gr_admin, st.server_cpus,
                binary=os.path.join(base_dir, "gateway"))
            scen.append(("gw_warm_release", "4r gateway, introspection, warm cache, release profile",
                         f"http://127.0.0.1:{gr_port}/", rotate, [one], 200, gr_admin))
        for alloc, row, what in (("mimalloc", "4m", "mimalloc"), ("system", "4sys", "system allocator"),
                                 ("nopgo", "4np", "without PGO (jemalloc)")):
            alloc_bin = os.path.join(st.bin_dir, f"gateway-{alloc}")
            if not os.access(alloc_bin, os.X_OK):
                continue
            gm_port, gm_admin = free_port(), free_port()
            Gateway(procs, st, f"gateway-{alloc}", gateway_yaml(gm_port, gm_admin, [
                ("api", f"http://127.0.0.1:{up}/", "/", True)], plugin), gm_port, gm_admin, st.server_cpus,
                binary=alloc_bin)
            scen.append((f"gw_warm_{alloc}", f"{row} gateway, introspection, warm cache, dist profile, {what}",
                         f"http://127.0.0.1:{gm_port}/", rotate, [one], 200, gm_admin))
        # Cold tokens get their own instance so that their misses never evict the other setups' entries.
        gb_port, gb_admin = free_port(), free_port()
        gb = Gateway(procs, st, "gateway-cold", gateway_yaml(gb_port, gb_admin, [
            ("api", f"http://127.0.0.1:{up}/", "/", True)], plugin), gb_port, gb_admin, st.server_cpus)
        env["gateway_cold"] = gb
        scen += [
            ("gw_noauth", "3 gateway, route without auth", f"http://127.0.0.1:{ga_port}/open", rotate, [one], 200, None),
            ("gw_balanced", "3b gateway, route without auth, upstream of 2 targets (round-robin)", f"http://127.0.0.1:{ga_port}/balanced", rotate, [one], 200, None),
            ("gw_warm", "4 gateway, introspection, warm cache (1 token)", f"http://127.0.0.1:{ga_port}/", rotate, [one], 200, ga_admin),
            ("gw_warm_h2", "4h gateway, introspection, warm cache, h2c (h2load, 1 stream per connection)", f"http://127.0.0.1:{ga_h2}/", "h2load", [tokens[0]], 200, ga_admin),
            ("gw_warm_rl", "4l gateway, introspection, warm cache, rate-limiting local (never limited)", f"http://127.0.0.1:{ga_port}/limited", rotate, [one], 200, ga_admin),
            ("gw_jwt", "4j gateway, JWT verified locally (bearer, RS256 via JWKS, no introspection)", f"http://127.0.0.1:{ga_port}/jwt", rotate, [one], 200, ga_admin),
            ("gw_many", f"5 gateway, introspection, {len(tokens)} distinct tokens", f"http://127.0.0.1:{ga_port}/", rotate, [many], 200, ga_admin),
            ("gw_cold", "6 gateway, unseen tokens (IdP-bound)", f"http://127.0.0.1:{gb_port}/", unseen, [token_len, "SALT"], 401, gb_admin),
        ]
    else:
        results["notes"].append(f"gateway binary {gateway_bin(st)} missing: setups 3-6 not run")

    import edge  # noqa: PLC0415 - bench/edge.py imports this module
    if have_gw:
        import plugin_rows  # noqa: PLC0415 - bench/plugin_rows.py imports this module
        scen += plugin_rows.throughput_rows(st, procs, env, rotate)
        import dpop_rows  # noqa: PLC0415 - bench/dpop_rows.py imports this module
        scen += dpop_rows.throughput_rows(st, procs, env, rotate)
        import buffer_rows  # noqa: PLC0415 - bench/buffer_rows.py imports this module
        scen += buffer_rows.throughput_rows(st, procs, env, rotate)
    scen += edge.throughput_rows(st, procs, env, results, rotate, one, ga_port if have_gw else None,
                                 ga_admin if have_gw else None)

    peer_port = free_port()
    issuer_path = re.sub(r"^https?://[^/]+", "", issuer)
    start_nginx(procs, "nginx-peer", "nginx/peer.conf.in", st.server_cpus, PORT=peer_port,
                UPSTREAM_PORT=up, IDP_PORT=idp_port, IDP_PATH=issuer_path, CLIENT_BASIC=CLIENT_BASIC)
    scen += [
        ("nginx_warm", "7 nginx auth_request + njs + proxy_cache (1 token)", f"http://127.0.0.1:{peer_port}/", rotate, [one], 200, None),
        ("nginx_many", f"7b nginx auth_request + njs + proxy_cache ({len(tokens)} tokens)", f"http://127.0.0.1:{peer_port}/", rotate, [many], 200, None),
    ]

    # Correctness first: every setup answers what it should, else it is reported, not measured.
    live = []
    for s in scen:
        key, label, url, script, args, want, _admin = s
        try:
            # The token the row's `rotate` script sends first (a plugin row has its own, e.g. the jwt
            # plugin's HS256 token); an expected refusal gets a token never issued.
            token = tokens[0]
            if os.path.basename(script) == "wrk-rotate.lua" and args and os.path.isfile(args[0]):
                with open(args[0]) as f:
                    token = f.readline().strip() or token
            check_status(url, token if want == 200 else "never-issued-" + secrets.token_hex(8), want)
            if key in ("gw_many", "nginx_many"):
                check_status(url, tokens[-1], 200)
            live.append(s)
        except Exception as e:  # noqa: BLE001 - reported, the run goes on
            results["notes"].append(f"{label}: not measured, sanity check failed: {e}")
            log(f"{label}: sanity check failed: {e}")

    # The many-token setups start with every token cached once (the warm-up runs are too short to be sure).
    for key, label, url, *_ in live:
        if key in ("gw_many", "nginx_many"):
            t0 = time.monotonic()
            bad = prime(url, tokens)
            log(f"primed {key} with {len(tokens)} tokens in {time.monotonic() - t0:.1f}s" + (f", {bad} not 200" if bad else ""))

    runs = {s[0]: [] for s in live}
    for rnd in range(1, st.rounds + 1):
        for key, label, url, script, args, _want, admin in live:
            def fresh(args):
                # A new salt for every wrk run: unseen tokens must never repeat, not even the warm-up's. A
                # callable argument makes its value per run (the DPoP rows' fresh proof files).
                return [a() if callable(a) else secrets.token_hex(4) if a == "SALT" else a for a in args]

            if st.warmup > 0:
                if script == "h2load":
                    run_h2load(st, url, args[0], duration=st.warmup)
                else:
                    run_wrk(st, url, script, fresh(args), duration=st.warmup)
            before = idp_introspections(admin) if admin else None
            res = run_h2load(st, url, args[0]) if script == "h2load" else run_wrk(st, url, script, fresh(args))
            if admin:
                res["idp_calls"] = idp_introspections(admin) - before
            runs[key].append(res)
            log(f"round {rnd}/{st.rounds} {key:11s} {res['rps']:9.0f} rps  p50 {res['p50_us'] / 1000:6.2f} ms"
                f"  p99 {res['p99_us'] / 1000:6.2f} ms  non-2xx {res['status_errors']}  errors {res['errors']}"
                + (f"  idp calls {res['idp_calls']:.0f}" if admin else ""))
    for key, label, url, _script, args, want, admin in live:
        rs = runs[key]
        entry = {
            "key": key, "label": label, "url": url, "expect": want,
            "rps": statistics.median(r["rps"] for r in rs),
            "p50_ms": statistics.median(r["p50_us"] for r in rs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in rs) / 1000,
            "rounds": [{k: r[k] for k in ["rps", "p50_us", "p99_us", "requests", "status_errors", "errors"]
                        + (["idp_calls"] if admin else [])} for r in rs],
            "non_expected": sum(r["status_errors"] if want == 200 else r["requests"] - r["status_errors"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
            "command": rs[-1]["command"],
        }
        if admin:
            entry["idp_calls_per_request"] = sum(r["idp_calls"] for r in rs) / max(1, sum(r["requests"] for r in rs))
        results["throughput"].append(entry)


def prime(url, tokens, workers=8):
    """One request per token; the number of answers that were not 200."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        statuses = list(ex.map(lambda t: http_call(url, headers={"Authorization": f"Bearer {t}"})[0], tokens))
    return sum(1 for s in statuses if s != 200)


def probe_cached(port, tokens):
    """Sends each token once over one keep-alive connection; the statuses that were not 200."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bad = 0
    for t in tokens:
        conn.request("GET", "/", headers={"Authorization": f"Bearer {t}"})
        r = conn.getresponse()
        r.read()
        bad += r.status != 200
    conn.close()
    return bad


def coalesce_burst(port, token, n):
    """n connections opened first, then one request each at the same moment; the statuses."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
           "Connection: close\r\n\r\n").encode()
    barrier = threading.Barrier(n)
    statuses = [None] * n

    def one(i):
        s = socks[i]
        barrier.wait()
        s.sendall(req)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        statuses[i] = int(m.group(1)) if m else 0
        s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    return counts


def section_coalescing(st, procs, env, results):
    if not os.access(gateway_bin(st), os.X_OK):
        results["notes"].append("coalescing: gateway binary missing, not run")
        return
    proxy = DelayProxy(env["idp_port"], st.idp_delay_ms)
    try:
        port, admin = free_port(), free_port()
        intro = f"http://127.0.0.1:{proxy.port}{re.sub(r'^https?://[^/]+', '', env['issuer'])}/introspect"
        gw = Gateway(procs, st, "gateway-coalesce", gateway_yaml(port, admin, [
            ("api", f"http://127.0.0.1:{env['upstream_port']}/", "/", True)],
            oidc_plugin(env["issuer"], intro)), port, admin, st.server_cpus)
        fresh = mint_tokens(env["issuer"], 1)[0]
        cases = [("valid token, never seen", fresh, 200), ("garbage token, never seen", "garbage-" + secrets.token_hex(24), 401)]
        for label, tok, want in cases:
            before_m, before_p = idp_introspections(admin), proxy.calls
            t0 = time.monotonic()
            counts = coalesce_burst(port, tok, st.coalesce)
            wall = time.monotonic() - t0
            row = {"case": label, "concurrent": st.coalesce, "statuses": counts, "want": want,
                   "idp_calls_metrics": idp_introspections(admin) - before_m,
                   "idp_calls_seen_by_proxy": proxy.calls - before_p, "wall_s": wall,
                   "idp_delay_ms": st.idp_delay_ms}
            log(f"coalescing {label}: statuses {counts}, IdP calls {row['idp_calls_metrics']:.0f} (metrics) / "
                f"{row['idp_calls_seen_by_proxy']} (proxy), {wall * 1000:.0f} ms")
            results["coalescing"].append(row)
        gw.stop()
    finally:
        proxy.close()


def section_scaleout(st, procs, env, results):
    """1 vs 3 gateway nodes, with and without the shared cache (`gateway.cluster_cache` on a redis-server):
    IdP introspection calls per token (each fresh token sent once to every node at the same moment) and
    RPS (one wrk per node at the same time, the connections split between them, over the cached tokens)."""
    if not os.access(gateway_bin(st), os.X_OK):
        results["notes"].append("scaleout: gateway binary missing, not run")
        return
    if shutil.which("redis-server") is None:
        results["notes"].append("scaleout: redis-server missing (Debian package redis-server), not run")
        return
    redis_port = free_port()
    p = procs.start("redis", ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
                              "--bind", "127.0.0.1"], cpus=st.server_cpus)
    wait_port(redis_port, p)
    up = env["upstream_port"]
    rotate = lua_script(procs.workdir, "rotate")
    cluster = ("  cluster_cache:\n"
               f"    redis_url: redis://127.0.0.1:{redis_port}\n"
               "    salt: bench-cluster-salt-0123456789\n")
    for key, label, n, shared in (("one", "1 node, local cache", 1, False),
                                  ("three_local", "3 nodes, local caches only", 3, False),
                                  ("three_shared", "3 nodes, shared cache (Redis)", 3, True)):
        nodes = []
        for i in range(n):
            port, admin = free_port(), free_port()
            yaml_text = gateway_yaml(port, admin, [("api", f"http://127.0.0.1:{up}/", "/", True)],
                                     oidc_plugin(env["issuer"]))
            if shared:
                yaml_text = yaml_text.replace("\nservices:\n", "\n" + cluster + "services:\n", 1)
            nodes.append(Gateway(procs, st, f"gateway-{key}-{i}", yaml_text, port, admin, st.server_cpus))
        tokens = mint_tokens(env["issuer"], st.scaleout_tokens)
        before = sum(idp_introspections(g.admin_port) for g in nodes)
        pairs = [(g, t) for t in tokens for g in nodes]
        with concurrent.futures.ThreadPoolExecutor(max(4, 2 * n)) as ex:
            statuses = list(ex.map(lambda gt: http_call(f"http://127.0.0.1:{gt[0].port}/",
                                                        headers={"Authorization": f"Bearer {gt[1]}"})[0], pairs))
        calls = sum(idp_introspections(g.admin_port) for g in nodes) - before
        tok_file = os.path.join(procs.workdir, f"tokens-scaleout-{key}.txt")
        with open(tok_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            runs = list(ex.map(lambda g: run_wrk(st, f"http://127.0.0.1:{g.port}/", rotate, [tok_file],
                                                 conns=max(1, st.conns // n)), nodes))
        row = {"key": key, "label": label, "nodes": n, "shared": shared, "tokens": len(tokens),
               "requests_per_token": n, "non_200_first_pass": sum(1 for s in statuses if s != 200),
               "idp_calls": calls, "idp_calls_per_token": calls / max(1, len(tokens)),
               "rps": sum(r["rps"] for r in runs), "p99_ms": max(r["p99_us"] for r in runs) / 1000,
               "wrk_errors": sum(r["errors"] + r["status_errors"] for r in runs)}
        log(f"scaleout {label}: IdP calls per token {row['idp_calls_per_token']:.2f}, "
            f"{row['rps']:.0f} rps (p99 {row['p99_ms']:.2f} ms)")
        results["scaleout"].append(row)
        for g in nodes:
            g.stop()


def section_memory(st, procs, env, results):
    if not os.access(gateway_bin(st), os.X_OK):
        results["notes"].append("memory: gateway binary missing, not run")
        return
    fake_port = free_port()
    now = int(time.time())
    start_nginx(procs, "fake-idp", "nginx/fake-idp.conf.in", None, PORT=fake_port, EXP=now + 7200, IAT=now)
    port, admin = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    text = gateway_yaml(port, admin, [("api", f"http://127.0.0.1:{env['upstream_port']}/", "/", True)],
                        oidc_plugin(fake, fake + "/introspect"), threads=2)  # 2 threads: a faster fill
    # The token cache must hold the largest count measured (default capacity: 100k entries per plugin config).
    extra = os.environ.get("BENCH_MEM_SETTINGS", f"token_cache_size: {max(st.mem_counts) + 100000}")
    if extra:
        text = text.replace("services:\n", "".join(f"  {kv.strip()}\n" for kv in extra.split(";")) + "services:\n", 1)
    gw = Gateway(procs, st, "gateway-memory", text, port, admin, None)
    fill = lua_script(procs.workdir, "fill")
    prefix = "mem" + secrets.token_hex(12) + "-"
    # Warm the process (pools, discovery, first allocations) before the baseline.
    run_wrk(st, f"http://127.0.0.1:{port}/", fill, [prefix + "warm", 0, 1000], duration=30, conns=16,
            threads=1, cpus=False)
    time.sleep(0.5)
    base = proc_status(gw.proc.pid)["VmRSS"]
    base_entries = idp_introspections(admin)
    results["memory"].append({"entries": 0, "rss_kib": base, "note": "after 1000 warm-up tokens"})
    log(f"memory: baseline RSS {base / 1024:.1f} MiB")
    done = 0
    for target in st.mem_counts:
        last = results["memory"][-1]
        if last.get("retained_misses") or last.get("skipped"):
            # Any eviction means the cache is at capacity: a larger count cannot be held (and would cost minutes).
            log(f"memory: {target} tokens skipped: the cache already evicted at {last['entries']}")
            results["memory"].append({"entries": target, "skipped": True})
            continue
        todo = target - done
        t0 = time.monotonic()
        r = run_wrk(st, f"http://127.0.0.1:{port}/", fill, [prefix, done, todo], duration=900, conns=32,
                    threads=1, cpus=False)
        done = target
        time.sleep(1)
        rss = proc_status(gw.proc.pid)["VmRSS"]
        entries = idp_introspections(admin) - base_entries
        row = {"entries": target, "idp_calls": entries, "rss_kib": rss,
               "bytes_per_entry": (rss - base) * 1024 / max(1, entries), "fill_s": time.monotonic() - t0,
               "fill_rps": r["rps"], "non_2xx": r["status_errors"]}
        # Are the tokens still cached? A bounded cache evicts, and then bytes/entry means nothing. Probe a
        # sample spread over every token sent so far, never probed before (a probe makes its tokens "hot").
        probe = min(1000, target)
        step = max(1, target // probe)
        sample = [f"{prefix}{k}" for k in range(1 + len(results['memory']) % step, target + 1, step)][:probe]
        calls0 = idp_introspections(admin)
        bad = probe_cached(port, sample)
        row["retained_sample"] = len(sample)
        row["retained_misses"] = idp_introspections(admin) - calls0
        row["probe_non_200"] = bad
        # Entries actually held ≈ tokens sent × share of the sample still cached.
        row["retained_share"] = 1 - row["retained_misses"] / max(1, len(sample))
        row["entries_held_est"] = entries * row["retained_share"]
        row["bytes_per_entry"] = (rss - base) * 1024 / max(1.0, row["entries_held_est"])
        base_entries += row["retained_misses"]
        log(f"memory: {target} tokens -> RSS {rss / 1024:.1f} MiB, {row['bytes_per_entry']:.0f} B/entry, "
            f"{row['retained_misses']:.0f} of {len(sample)} sampled tokens re-introspected")
        results["memory"].append(row)
    gw.stop()


def reload_yaml(port, admin, n, upstream, plugin, tag):
    services = [("bench", f"http://127.0.0.1:{upstream}/", "/", True)]
    services += [(f"svc-{i:05d}", f"http://127.0.0.1:{upstream}/s{i}", f"/s{i:05d}", True) for i in range(1, n)]
    text = gateway_yaml(port, admin, services, plugin)
    return text.replace("- name: svc-00001\n", f"- name: svc-00001\n  tags: [\"{tag}\"]\n", 1)


def section_reload(st, procs, env, results):
    if not os.access(gateway_bin(st), os.X_OK):
        results["notes"].append("reload: gateway binary missing, not run")
        return
    n = st.reload_services
    port, admin = free_port(), free_port()
    plugin = oidc_plugin(env["issuer"])
    texts = [reload_yaml(port, admin, n, env["upstream_port"], plugin, t) for t in ("a", "b")]
    gw = Gateway(procs, st, "gateway-reload", texts[0], port, admin, st.server_cpus)
    rs = {"services": n, "routes": n, "plugins": n, "yaml_bytes": len(texts[0]), "startup_s": gw.startup_s,
          "rss_after_start_kib": proc_status(gw.proc.pid)["VmRSS"], "reloads": []}
    log(f"reload: {n} services, started in {gw.startup_s * 1000:.0f} ms")
    check_status(f"http://127.0.0.1:{port}/", env["tokens"][0], 200)
    cur = 0

    def reload_once():
        nonlocal cur
        cur ^= 1
        tmp = gw.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(texts[cur])
        os.replace(tmp, gw.path)
        old = gw.config_hash()
        can_reset = reset_peak_rss(gw.proc.pid)
        t0 = time.monotonic()
        os.kill(gw.proc.pid, signal.SIGHUP)
        while True:
            if gw.config_hash() != old:
                break
            if time.monotonic() - t0 > 60:
                raise RuntimeError("reload: config hash unchanged 60 s after SIGHUP")
            time.sleep(0.002)
        dt = time.monotonic() - t0
        ps = proc_status(gw.proc.pid)
        return {"seconds": dt, "peak_rss_kib": ps["VmHWM"] if can_reset else None, "rss_kib": ps["VmRSS"]}

    for _ in range(st.reload_rounds):
        r = reload_once()
        rs["reloads"].append(r)
        log(f"reload: {r['seconds'] * 1000:.0f} ms, peak RSS {r['peak_rss_kib']} KiB")
        time.sleep(0.3)
    one = os.path.join(procs.workdir, "token-1.txt")
    if not os.path.exists(one):
        with open(one, "w") as f:
            f.write(env["tokens"][0] + "\n")
    rotate = lua_script(procs.workdir, "rotate")
    url = f"http://127.0.0.1:{port}/"
    run_wrk(st, url, rotate, [one], duration=st.warmup or 1)
    steady = run_wrk(st, url, rotate, [one])
    stop = threading.Event()
    during = {"count": 0, "errors": []}

    def reloader():
        while not stop.wait(st.reload_interval):
            try:
                reload_once()
                during["count"] += 1
            except Exception as e:  # noqa: BLE001
                during["errors"].append(str(e))
                return

    th = threading.Thread(target=reloader, daemon=True)
    th.start()
    loaded = run_wrk(st, url, rotate, [one])
    stop.set()
    th.join(120)
    rs["rps_steady"] = steady["rps"]
    rs["rps_during_reloads"] = loaded["rps"]
    rs["p99_ms_steady"] = steady["p99_us"] / 1000
    rs["p99_ms_during_reloads"] = loaded["p99_us"] / 1000
    rs["reloads_during_load"] = during["count"]
    rs["reload_errors"] = during["errors"]
    rs["non_2xx_during_reloads"] = loaded["status_errors"]
    rs["socket_errors_during_reloads"] = loaded["errors"]
    log(f"reload: {steady['rps']:.0f} rps steady, {loaded['rps']:.0f} rps during {during['count']} reloads, "
        f"non-2xx {loaded['status_errors']}")
    results["reload"] = rs
    gw.stop()


# ---------------------------------------------------------------------------------------------- main

def versions(st):
    def out(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            return "?"

    def deb(pkg):
        return out(["dpkg-query", "-W", "-f=${Version}", pkg]) or "?"

    def cpu():
        try:
            with open("/proc/cpuinfo") as f:
                m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
                return m.group(1) if m else platform.processor()
        except OSError:
            return "?"

    def mem():
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
        return f"{kb / 1024 / 1024:.1f} GiB"

    lock = os.path.join(ROOT, "Cargo.lock")
    pingora = "?"
    if os.path.exists(lock):
        with open(lock) as f:
            m = re.search(r'name = "pingora"\nversion = "([^"]+)"', f.read())
            pingora = m.group(1) if m else "?"
    git = out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "-C", ROOT, "status", "--porcelain"])
    return {
        "cpu": cpu(), "cores": os.cpu_count(), "memory": mem(), "kernel": platform.release(),
        "os": out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "rustc": out(["rustc", "--version"]), "pingora": pingora,
        "nginx": out(["nginx", "-v"]).replace("nginx version: ", ""),
        "njs": deb("libnginx-mod-http-js"), "glewlwyd": deb("glewlwyd"), "wrk": deb("wrk"),
        "python": platform.python_version(),
        "git": (git if re.fullmatch(r"[0-9a-f]+", git or "") else "no commit") + (" (dirty)" if dirty and dirty != "?" else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True, help="directory with the measured (dist profile) binaries")
    ap.add_argument("--baseline-bin-dir", default=None,
                    help="directory with the release-profile binaries (rows 2r and 4r); omitted: not run")
    ap.add_argument("--stock-bin-dir", default=None,
                    help="directory with bench-passthrough built against crates.io Pingora, none of the vendored "
                         "patches (row 2r); omitted: --baseline-bin-dir's")
    ap.add_argument("--command", default="make bench", help="the command line to print in the report")
    a = ap.parse_args()
    st = Settings(a.bin_dir)
    st.baseline_bin_dir = a.baseline_bin_dir
    st.stock_bin_dir = a.stock_bin_dir
    workdir = tempfile.mkdtemp(prefix="gateway-bench.")
    # nginx workers run as nobody: they must be able to traverse the work dir.
    os.chmod(workdir, 0o755)
    os.makedirs(os.path.join(workdir, "tmp"), mode=0o755)
    log(f"work dir {workdir}")
    procs = Procs(workdir)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    results = {"settings": st.as_dict(), "machine": versions(st), "command": a.command, "env": {
        k: v for k, v in os.environ.items() if k.startswith("BENCH_")}, "notes": [], "throughput": [],
        "coalescing": [], "memory": [], "reload": None, "scaleout": [], "scaling": None, "allocs": [],
        "workdir": workdir}
    t_start = time.monotonic()
    ok = False
    try:
        env = {}
        env["upstream_port"] = free_port()
        start_nginx(procs, "upstream", "nginx/upstream.conf.in", st.server_cpus, PORT=env["upstream_port"])
        env["idp_port"], env["issuer"] = start_idp(procs, st)
        log(f"IdP ready: {env['issuer']}")
        env["tokens"] = mint_tokens(env["issuer"], st.tokens)
        import edge  # noqa: PLC0415 - bench/edge.py imports this module
        for name, fn in (("throughput", section_throughput), ("scaling", edge.section_scaling),
                         ("allocs", edge.section_allocs), ("instructions", edge.section_instructions),
                         ("coalescing", section_coalescing),
                         ("memory", section_memory), ("reload", section_reload),
                         ("scaleout", section_scaleout)):
            if name not in st.sections:
                continue
            t0 = time.monotonic()
            log(f"== {name}")
            try:
                fn(st, procs, env, results)
            except Exception as e:  # noqa: BLE001 - one failed section does not lose the others
                log(f"section {name} failed: {e}")
                results["notes"].append(f"{name}: failed: {e}")
            results.setdefault("section_seconds", {})[name] = time.monotonic() - t0
        ok = True
    finally:
        # Cleaning up: a second signal (e.g. Ctrl-C, then run.sh's SIGTERM) must not cut it short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_all()
        results["total_seconds"] = time.monotonic() - t_start
        # Raw results next to the binaries (the target dir is not versioned): `bench/report.py` re-renders them.
        results_file = os.path.join(os.path.dirname(os.path.abspath(st.bin_dir)), "bench-results.json")
        for dest in (results_file, os.path.join(workdir, "results.json")):
            with open(dest, "w") as f:
                json.dump(results, f, indent=2)
        if ok:
            svg = os.path.splitext(st.out)[0] + ".svg"
            report.write_svg(results, svg)
            report.write_markdown(results, st.out, os.path.basename(svg))
            log(f"wrote {st.out} and {svg} ({results['total_seconds']:.0f} s); raw results {results_file}")
        if not st.keep and ok:
            shutil.rmtree(workdir, ignore_errors=True)
            log("work dir removed (BENCH_KEEP=1 keeps it)")
    failed = [n for n in results["notes"] if "failed" in n]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
