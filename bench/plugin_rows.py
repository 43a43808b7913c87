"""Rows of `make bench` for issue 27 (Kong's plugins on one pipeline), kept beside bench.py and edge.py.

One gateway with a consumer holding a key-auth key, a jwt secret (HS256), a basic-auth password and an acl
group, and four routes on the same upstream:

- `/plain`: no plugin (the base of the plugin rows), asked twice: with a bare request (the base of the rows
  whose client sends nothing more) and with the chains' request (`?apikey=…` and a browser's `Origin`), the
  base of the chains: the chain rows then differ from their base by the route's plugins alone, not also by the
  client's longer request line and one more header, which every route pays to parse, forward and log;
- `/keyauth`: key-auth alone (the key in the query string: wrk's `rotate` script sets a bearer Authorization
  header that key-auth does not read);
- `/jwt`: Kong's jwt plugin (HS256 token in `Authorization: Bearer`);
- `/chain4`: key-auth, basic-auth (with `anonymous`: skipped once key-auth authenticated, Kong's logical OR),
  acl (allow the consumer's group) and rate-limiting (local, never reached) — four plugins, the same key;
- `/cached`: proxy-cache (memory strategy, Kong's defaults): the upstream's JSON answer is stored by the first
  request (the correctness check), every measured request is a hit answered by the gateway itself (issue 28);
- `/chain5`: the Kong-typical edge chain (issue 28): cors (one origin, credentials), correlation-id (Kong's
  defaults: `Kong-Request-ID`, `uuid#counter`), request-transformer (adds one header and one query argument),
  key-auth and rate-limiting (local, per minute, never reached); the client sends a browser's `Origin`;
- `/chain6`: the same chain plus prometheus (all flags on): issue 33's Kong-typical chain;
- `/prom`: prometheus alone with every flag on (`per_consumer`, `status_code_metrics`, `latency_metrics`,
  `bandwidth_metrics`, `upstream_health_metrics`), and `/otel1` / `/otel100`: opentelemetry alone with
  `sampling_rate` 0.01 and 1, exporting to the static upstream's `/v1/traces` (nginx answers the OTLP POSTs with
  200 and drops them): issue 29's "each costs at most 3 % over the same route without it".

The targets: "a chain of four plugins costs at most 5 % over the same route with one": `/chain4` against
`/keyauth`, in RPS (same run, interleaved rounds) and in instructions per request (callgrind); "the Kong-typical
chain at most 10 % slower than the plain route": `/chain5` (issue 28) and `/chain6` (issue 33) against `/plain`
asked with the same request (also reported against the bare request, as before 2026-12-06);
"a proxy-cache hit serves at least twice the requests of a proxied request": `/cached` against `/plain`; and
"prometheus (all flags) and opentelemetry at 0.01 each cost at most 3 %": `/prom` and `/otel1` against `/plain`.
"""

import base64
import hashlib
import hmac
import json
import os

import bench as B

API_KEY = "bench-key-0123456789abcdef"
JWT_ISS = "bench-issuer"
JWT_SECRET = "bench-secret-0123456789abcdef0123"
ORIGIN = "https://app.example.com"


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token():
    """An HS256 JWT whose `iss` names the consumer's jwt secret (no exp: Kong verifies none by default)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"iss": JWT_ISS, "sub": "bench"}).encode())
    signing = f"{header}.{payload}".encode()
    sig = _b64(hmac.new(JWT_SECRET.encode(), signing, hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


def yaml(port, admin, up):
    base = B.gateway_yaml(port, admin, [("plain", f"http://127.0.0.1:{up}/", "/plain", False)])
    svc = lambda name, plugins: [f"- name: {name}", f"  url: http://127.0.0.1:{up}/", "  routes:",  # noqa: E731
                                 f"  - name: {name}-route", f"    paths: [\"/{name}\"]", "  plugins:"] + [
        f"  - {{name: {n}, config: {json.dumps(c)}}}" for n, c in plugins]
    key_auth = ("key-auth", {"key_names": ["apikey"]})
    lines = svc("keyauth", [key_auth])
    lines += svc("jwt", [("jwt", {})])
    lines += svc("chain4", [key_auth, ("basic-auth", {"anonymous": "bench"}), ("acl", {"allow": ["bench"]}),
                            ("rate-limiting", {"second": 1000000000, "limit_by": "consumer", "policy": "local"})])
    lines += svc("cached", [("proxy-cache", {"strategy": "memory"})])
    chain5 = [("cors", {"origins": [ORIGIN], "credentials": True}), ("correlation-id", {}),
              ("request-transformer", {"add": {"headers": ["X-Bench-Chain:5"], "querystring": ["source:bench"]}}),
              key_auth, ("rate-limiting", {"minute": 1000000000, "policy": "local"})]
    prometheus = ("prometheus", {"per_consumer": True, "status_code_metrics": True, "latency_metrics": True,
                                 "bandwidth_metrics": True, "upstream_health_metrics": True})
    lines += svc("chain5", chain5)
    lines += svc("chain6", chain5 + [prometheus])
    lines += svc("prom", [prometheus])
    otel = lambda rate: ("opentelemetry", {"traces_endpoint": f"http://127.0.0.1:{up}/v1/traces",  # noqa: E731
                                           "sampling_rate": rate})
    lines += svc("otel1", [otel(0.01)])
    lines += svc("otel100", [otel(1.0)])
    lines += ["consumers:", "- username: bench",
              f"  keyauth_credentials: [{{key: {API_KEY}}}]",
              f"  jwt_secrets: [{{key: {JWT_ISS}, secret: {JWT_SECRET}, algorithm: HS256}}]",
              "  basicauth_credentials: [{username: bench, password: bench-password}]",
              "  acls: [{group: bench}]"]
    return base + "\n".join(lines) + "\n"


def cases():
    """(key, label, route with query, token for Authorization: Bearer or None, extra request headers)."""
    q = f"?apikey={API_KEY}"
    return [
        ("gw_plain", "9 gateway, plugin routes: no plugin", "/plain", None, []),
        ("gw_plain_same", "9s gateway, plugin routes: no plugin, the chains' request (key in the query, Origin)",
         f"/plain{q}", None, [f"Origin: {ORIGIN}"]),
        ("gw_keyauth", "9k gateway, key-auth (key in the query)", f"/keyauth{q}", None, []),
        ("gw_jwtplugin", "9j gateway, jwt plugin (HS256)", "/jwt", jwt_token(), []),
        ("gw_chain4", "9c gateway, chain of four: key-auth, basic-auth (OR-skipped), acl, rate-limiting",
         f"/chain4{q}", None, []),
        ("gw_chain5", "9e gateway, Kong-typical chain: cors, correlation-id, request-transformer, key-auth, "
         "rate-limiting", f"/chain5{q}", None, [f"Origin: {ORIGIN}"]),
        ("gw_chain6", "9f gateway, Kong-typical chain of six: chain of five + prometheus (all flags)",
         f"/chain6{q}", None, [f"Origin: {ORIGIN}"]),
        ("gw_cache_hit", "9p gateway, proxy-cache hit (memory strategy; the upstream is not asked)", "/cached", None,
         []),
        ("gw_prom", "9m gateway, prometheus plugin, every flag on", "/prom", None, []),
        ("gw_otel1", "9o gateway, opentelemetry, sampling_rate 0.01", "/otel1", None, []),
        ("gw_otel100", "9O gateway, opentelemetry, sampling_rate 1 (every request exported)", "/otel100", None, []),
    ]


def throughput_rows(st, procs, env, rotate):
    """Setups for the throughput rounds: (key, label, url, script, args, expect, admin)."""
    up = env["upstream_port"]
    port, admin = B.free_port(), B.free_port()
    B.Gateway(procs, st, "gateway-plugins", yaml(port, admin, up), port, admin, st.server_cpus)
    rows = []
    for key, label, route, token, headers in cases():
        path = os.path.join(procs.workdir, f"token-{key}.txt")
        with open(path, "w") as f:
            f.write((token or "none") + "\n")
        rows.append((key, label, f"http://127.0.0.1:{port}{route}", rotate, [path] + headers, 200, None))
    return rows


def instruction_rows(st, procs, env, n, measure):
    """Instructions per request of the plugin routes: `measure(name, argv, port, url, token, n, headers)`."""
    up = env["upstream_port"]
    port, admin = B.free_port(), B.free_port()
    path = os.path.join(procs.workdir, "gateway-plugins-instr.yaml")
    with open(path, "w") as f:
        f.write(yaml(port, admin, up))
    rows = []
    for key, label, route, token, headers in cases():
        ir = measure(f"plugins-{key}", [B.gateway_bin(st), "run", "-c", path], port,
                     f"http://127.0.0.1:{port}{route}", token, n, headers)
        rows.append({"setup": f"gateway, {label.split(', ', 1)[1]}", "key": f"plugins|{key}", "instructions": ir})
    return rows
