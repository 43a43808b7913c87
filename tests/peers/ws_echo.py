"""A real WebSocket peer for the end-to-end tests (the `websockets` library).

serve PORT            echo every message back on 127.0.0.1:PORT; prints READY when listening.
                      The handshake answer carries `X-Seen-Authorization: yes|no` (whether the request had one).
talk URL [HEADER...]  connect (HEADER as `Name: value`), send "hello" then a 64 KiB message, print one JSON line:
                      {"status": <handshake status>, "echo": [...replies...]} (status 101 when upgraded).
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def mark_auth(connection, request):
    seen = "yes" if request.headers.get("Authorization") else "no"
    connection.seen_auth = seen


def add_header(connection, request, response):
    response.headers["X-Seen-Authorization"] = getattr(connection, "seen_auth", "no")


async def run_server(port):
    async with serve(echo, "127.0.0.1", port, process_request=mark_auth, process_response=add_header):
        print("READY", flush=True)
        await asyncio.Future()


async def talk(url, headers):
    extra = [tuple(h.split(": ", 1)) for h in headers]
    try:
        async with connect(url, additional_headers=extra, open_timeout=10) as ws:
            replies = []
            for message in ("hello", "x" * 65536):
                await ws.send(message)
                reply = await asyncio.wait_for(ws.recv(), 10)
                replies.append(reply if len(reply) < 100 else f"<{len(reply)} bytes>")
            seen = ws.response.headers.get("X-Seen-Authorization")
            print(json.dumps({"status": ws.response.status_code, "echo": replies, "seen_authorization": seen}))
    except InvalidStatus as e:
        print(json.dumps({"status": e.response.status_code, "echo": []}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(run_server(int(sys.argv[2])))
    else:
        asyncio.run(talk(sys.argv[2], sys.argv[3:]))
