"""Rows of `make bench` for issue 31 (request and response buffering): a 1 MiB answer through the gateway with
`response_buffering: true` (Kong's default: the answer is taken as fast as the upstream sends it, into 32 KiB of
memory then the connection's temporary file when the client is slower) and `false` (it goes through the socket's
buffer only). wrk reads as fast as it can, so the rows measure the cost of the buffering path when the client is
fast (writes go straight to the socket; the buffer only takes what the socket refuses); the slow-client gain is
measured in tests/tests/buffering.rs (upstream connections held), not here.

The upstream serves `bytes-1m` (1 MiB, made here) from nginx's static upstream (`location /bytes-1m`).
"""

import os

import bench as B

SIZE = 1024 * 1024


def yaml(port, admin, up):
    base = B.gateway_yaml(port, admin, [("buffered", f"http://127.0.0.1:{up}/bytes-1m", "/buffered", False)])
    return base + "\n".join([
        "- name: streamed",
        f"  url: http://127.0.0.1:{up}/bytes-1m",
        "  routes:",
        "  - name: streamed-route",
        "    paths: [\"/streamed\"]",
        "    response_buffering: false",
    ]) + "\n"


def throughput_rows(st, procs, env, rotate):
    """Setups for the throughput rounds: (key, label, url, script, args, expect, admin)."""
    with open(os.path.join(procs.workdir, "bytes-1m"), "wb") as f:
        f.write(bytes(range(256)) * (SIZE // 256))
    up = env["upstream_port"]
    port, admin = B.free_port(), B.free_port()
    B.Gateway(procs, st, "gateway-buffering", yaml(port, admin, up), port, admin, st.server_cpus)
    path = os.path.join(procs.workdir, "token-none.txt")
    with open(path, "w") as f:
        f.write("none\n")
    return [
        ("gw_1m_buffered", "9b gateway, 1 MiB answer, response_buffering true (default)",
         f"http://127.0.0.1:{port}/buffered", rotate, [path], 200, None),
        ("gw_1m_streamed", "9s gateway, 1 MiB answer, response_buffering false",
         f"http://127.0.0.1:{port}/streamed", rotate, [path], 200, None),
    ]
