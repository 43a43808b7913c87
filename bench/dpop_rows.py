"""Rows of `make bench` for DPoP (issue 32), beside bench.py's bearer rows: one gateway route with openid-connect
`proof_of_possession_dpop: optional` in front of a small in-process IdP (discovery + introspection) that says
every token is active and binds one of them (`cnf.jkt`) to the benchmark's Ed25519 key.

- `4d`: the bound token, warm in the introspection cache, with a fresh DPoP proof on every request (proof
  signature, htm/htu/ath/iat checks, thumbprint binding and the replay store all run per request);
- `4db`: the same route with an unbound token as a plain bearer (the DPoP checks off the path): the pair shows
  what a proof costs.

Proofs are made by bench/dpop_proofs.mjs (Node, already needed by the tests' IdP) right before each wrk run,
one file per wrk thread, each proof sent once (bench/lua/dpop.lua). BENCH_DPOP_RPS (default 40000) sizes them:
RPS x (duration + 1) x 1.5 per run, split over the wrk threads.

`python3 bench/dpop_rows.py --gateway target/release/gateway` runs just these two rows (nginx static upstream,
interleaved rounds, the same pinning knobs), for a quick measurement.
"""

import http.server
import json
import os
import subprocess
import threading
import time

import bench as B

BOUND = "bench-dpop-bound-token-0123456789abcdef"
UNBOUND = "bench-dpop-bearer-token-0123456789abcdef"
HERE = os.path.dirname(os.path.abspath(__file__))


class FakeIdp:
    """Discovery and introspection on 127.0.0.1: every token active for a day; BOUND carries `cnf.jkt`."""

    def __init__(self, jkt):
        outer = self
        self.calls = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, doc):
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.answer({"issuer": outer.issuer, "introspection_endpoint": f"{outer.issuer}/introspect"})

            def do_POST(self):
                outer.calls += 1
                form = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)).decode()
                doc = {"active": True, "exp": int(time.time()) + 86400, "scope": "read"}
                if f"token={BOUND}" in form:
                    doc["cnf"] = {"jkt": jkt}
                self.answer(doc)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Proofs:
    """Makes a fresh set of proof files before each wrk run (a callable argument of the row; see bench.fresh)."""

    def __init__(self, workdir, threads, per_run, htu):
        self.workdir, self.threads, self.htu = workdir, threads, htu
        self.per_thread = max(1, per_run // max(1, threads))
        self.key = os.path.join(workdir, "dpop-key.pem")
        self.n = 0
        self.jkt = self.make()

    def make(self):
        self.n += 1
        prefix = os.path.join(self.workdir, f"dpop-proofs-{self.n}")
        t0 = time.monotonic()
        out = subprocess.run(["node", os.path.join(HERE, "dpop_proofs.mjs"), self.key, prefix, str(self.threads),
                              str(self.per_thread), self.htu, BOUND], check=True, capture_output=True, text=True)
        B.log(f"dpop: {self.threads * self.per_thread} proofs in {time.monotonic() - t0:.1f}s")
        old = os.path.join(self.workdir, f"dpop-proofs-{self.n - 1}")
        for t in range(self.threads):
            if os.path.exists(f"{old}-{t}.txt"):
                os.remove(f"{old}-{t}.txt")
        self.prefix = prefix
        return out.stdout.strip()

    def __call__(self):
        self.make()
        return self.prefix


def plugin(issuer):
    return {"issuer": issuer, "client_id": ["bench"], "client_secret": ["bench-secret"],
            "auth_methods": ["introspection"], "bearer_token_param_type": ["header"],
            "proof_of_possession_dpop": "optional"}


def per_run(st):
    return int(B.env_int("BENCH_DPOP_RPS", 40000) * (st.duration + 1) * 1.5)


def throughput_rows(st, procs, env, rotate):
    """Setups for the throughput rounds: (key, label, url, script, args, expect, admin)."""
    up = env["upstream_port"]
    port, admin = B.free_port(), B.free_port()
    proofs = Proofs(procs.workdir, st.wrk_threads(), per_run(st), f"http://127.0.0.1:{port}/dpop")
    idp = FakeIdp(proofs.jkt)
    B.Gateway(procs, st, "gateway-dpop", B.gateway_yaml(port, admin, [
        ("dpop", f"http://127.0.0.1:{up}/", "/dpop", True)], plugin(idp.issuer)), port, admin, st.server_cpus)
    bearer = os.path.join(procs.workdir, "token-dpop-bearer.txt")
    with open(bearer, "w") as f:
        f.write(UNBOUND + "\n")
    url = f"http://127.0.0.1:{port}/dpop"
    return [
        ("gw_dpop_bearer", "4db gateway, introspection, warm cache, DPoP optional, unbound bearer token", url,
         rotate, [bearer], 200, admin),
        ("gw_dpop", "4d gateway, introspection, warm cache, DPoP-bound token, fresh EdDSA proof per request", url,
         B.lua_script(procs.workdir, "dpop"), [proofs, BOUND], 200, admin),
    ]


def main():
    import argparse  # noqa: PLC0415
    import statistics  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    st = B.Settings(os.path.dirname(os.path.abspath(args.gateway)))
    st.duration, st.rounds = args.duration, args.rounds
    with tempfile.TemporaryDirectory() as wd:
        os.chmod(wd, 0o755)
        os.makedirs(os.path.join(wd, "tmp"), mode=0o755)
        procs = B.Procs(wd)
        try:
            up, port, admin = B.free_port(), B.free_port(), B.free_port()
            B.start_nginx(procs, "upstream", "nginx/upstream.conf.in", st.server_cpus, PORT=up)
            proofs = Proofs(wd, st.wrk_threads(), per_run(st), f"http://127.0.0.1:{port}/dpop")
            idp = FakeIdp(proofs.jkt)
            yaml = B.gateway_yaml(port, admin, [("dpop", f"http://127.0.0.1:{up}/", "/dpop", True)],
                                  plugin(idp.issuer))
            B.Gateway(procs, st, "gateway-dpop", yaml, port, admin, st.server_cpus, binary=args.gateway)
            bearer = os.path.join(wd, "bearer.txt")
            with open(bearer, "w") as f:
                f.write(UNBOUND + "\n")
            rotate, dpop = B.lua_script(wd, "rotate"), B.lua_script(wd, "dpop")
            url = f"http://127.0.0.1:{port}/dpop"
            res = {"bearer": [], "dpop": []}
            for _ in range(args.rounds):
                res["bearer"].append(B.run_wrk(st, url, rotate, [bearer]))
                res["dpop"].append(B.run_wrk(st, url, dpop, [proofs(), BOUND]))
            for k, rs in res.items():
                print(f"{k:7s} rps {statistics.median(r['rps'] for r in rs):8.0f}  p50 "
                      f"{statistics.median(r['p50_us'] for r in rs) / 1000:.2f} ms  p99 "
                      f"{statistics.median(r['p99_us'] for r in rs) / 1000:.2f} ms  non-2xx "
                      f"{sum(r['status_errors'] for r in rs)}  rounds {[round(r['rps']) for r in rs]}")
            print(f"IdP introspection calls: {idp.calls}")
        finally:
            procs.stop_all()


if __name__ == "__main__":
    main()
