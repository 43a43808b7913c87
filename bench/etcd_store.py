#!/usr/bin/env python3
"""The etcd config store at scale (not run in CI; numbers go to bench/notes.md by hand).

1. A declarative document of SERVICES services (one route each) is pushed to a real etcd
   (`gateway config push`), started here on free loopback ports with its data in a temp dir.
2. Three gateway nodes start on it, one after the other: start-up load time = from the process start to the
   Admin API's `/status` answering with the document's revision (includes reading etcd, parsing, compiling).
3. One-entity writes: `PATCH /services/svc-1` on node A, then the time until nodes B and C report the new
   revision on `/status` (polled every 2 ms), WRITES times; min / median / max.

Usage: bench/etcd_store.py [SERVICES (10000)] [WRITES (10)]. Env: GATEWAY_BIN (target/release/gateway), KEEP=1
keeps the work dir (node logs; RUST_LOG=info adds each change's `ms=`).
Needs etcd and etcdctl (scripts/setup.sh installs Debian's etcd-server and etcd-client).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GATEWAY_BIN", os.path.join(ROOT, "target/release/gateway"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on {port}")


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def revision(admin):
    try:
        return get_json(f"http://127.0.0.1:{admin}/status")["config"]["revision"]
    except OSError:
        return None


def document(n):
    lines = ['_format_version: "3.0"', "services:"]
    for i in range(n):
        lines += [
            f"- name: svc-{i}",
            f"  url: http://127.0.0.1:9/s{i}",
            "  routes:",
            f"  - name: route-{i}",
            f"    paths: [/s{i}/]",
        ]
    return "\n".join(lines) + "\n"


def node_yaml(proxy, admin, endpoint, cache):
    return (
        '_format_version: "3.0"\n'
        "gateway:\n"
        f"  proxy_listen: 127.0.0.1:{proxy}\n"
        f"  admin_listen: 127.0.0.1:{admin}\n"
        "  worker_threads: 1\n"
        "  log_level: warn\n"
        "  config_store:\n"
        "    kind: etcd\n"
        f"    endpoints: [{endpoint}]\n"
        f"    cache_file: {cache}\n"
    )


def summary(values):
    values = sorted(values)
    return f"min {values[0]:.1f} ms, median {statistics.median(values):.1f} ms, max {values[-1]:.1f} ms"


def main():
    services = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    writes = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "gateway"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="etcd-store-bench.")
    procs = []
    try:
        client, peer = free_port(), free_port()
        endpoint = f"http://127.0.0.1:{client}"
        etcd = subprocess.Popen(
            ["etcd", "--name", "bench", "--data-dir", f"{work}/etcd",
             "--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
             "--max-request-bytes", str(64 << 20)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(etcd)
        wait_port(client)

        nodes = []
        for i in range(3):
            proxy, admin = free_port(), free_port()
            path = f"{work}/node{i}.yaml"
            with open(path, "w") as f:
                f.write(node_yaml(proxy, admin, endpoint, f"{work}/node{i}.cache"))
            nodes.append((path, admin))

        doc = f"{work}/services.yaml"
        text = document(services)
        with open(doc, "w") as f:
            f.write(text)
        t0 = time.perf_counter()
        subprocess.run([BIN, "config", "push", doc, "-c", nodes[0][0]], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"push: {services} services, {len(text) / 1e6:.2f} MB, "
              f"{(time.perf_counter() - t0) * 1e3:.0f} ms (validate + write, one process)")
        out = subprocess.run(["etcdctl", f"--endpoints={endpoint}", "get", "/gateway/config", "-w", "json"],
                             env={**os.environ, "ETCDCTL_API": "3"}, check=True,
                             capture_output=True, text=True).stdout
        rev = json.loads(out)["kvs"][0]["mod_revision"]

        starts = []
        for path, admin in nodes:
            t0 = time.perf_counter()
            procs.append(subprocess.Popen([BIN, "run", "-c", path], stdout=subprocess.DEVNULL,
                                          stderr=open(path + ".log", "w")))
            while revision(admin) != rev:
                if procs[-1].poll() is not None:
                    raise SystemExit(open(path + ".log").read())
                time.sleep(0.002)
            starts.append((time.perf_counter() - t0) * 1e3)
        print(f"node start-up with the document loaded from etcd: {summary(starts)} "
              f"({', '.join(f'{s:.0f}' for s in starts)} ms)")

        a, others = nodes[0][1], [n[1] for n in nodes[1:]]
        answers, spreads = [], []
        for i in range(writes):
            req = urllib.request.Request(f"http://127.0.0.1:{a}/services/svc-1",
                                         data=f"path=/w{i}".encode(), method="PATCH")
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 200, r.status
            answers.append((time.perf_counter() - t0) * 1e3)
            target = revision(a)
            while any(revision(o) != target for o in others):
                time.sleep(0.002)
            spreads.append((time.perf_counter() - t0) * 1e3)
        print(f"one-entity write, PATCH answered on node A: {summary(answers)}")
        print(f"one-entity write, applied on nodes B and C (from the PATCH): {summary(spreads)}")
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()
        if os.environ.get("KEEP") == "1":
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
