"""A plain HTTP/1.1 upstream for the buffering tests (tests/tests/buffering.rs), standard library only.

GET /big/<n>    n bytes (a repeating pattern), Content-Length, kept alive
POST /post      reads the body in 1 KiB pieces (counted as they arrive), answers {"length", "sha256"}
GET /pause/<n>/<first>[/chunked]  n bytes, Content-Length (or chunked): the first bytes, 0.2 s later the rest
GET /stats      {"connections": accepted so far, "received": body bytes of POSTs read so far}
Usage: bulk_upstream.py serve <port>
"""
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"connections": 0, "received": 0}
PATTERN = bytes(range(256)) * 4096  # 1 MiB


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            return self.reply(200, body)
        if self.path.startswith("/big/"):
            n = int(self.path[5:])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:
                piece = PATTERN[: min(n, len(PATTERN))]
                self.wfile.write(piece)
                n -= len(piece)
            return None
        if self.path.startswith("/pause/"):
            return self.pause(self.path[7:].split("/"))
        return self.reply(200, b'{"ok":true}')

    def pause(self, parts):
        """An answer whose first bytes come at once and the rest 0.2 s later (clients cancel in between)."""
        n, first = int(parts[0]), int(parts[1])
        chunked = parts[2:] == ["chunked"]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()

        def send(piece):
            if chunked:
                piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
            self.wfile.write(piece)

        try:
            send(PATTERN[:first])
            time.sleep(0.2)
            left = n - first
            while left > 0:
                piece = PATTERN[: min(left, len(PATTERN))]
                send(piece)
                left -= len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        digest = hashlib.sha256()
        total = 0
        while left > 0:
            piece = self.rfile.read(min(1024, left))
            if not piece:
                break
            digest.update(piece)
            total += len(piece)
            left -= len(piece)
            with LOCK:
                STATS["received"] += len(piece)
        self.reply(200, json.dumps({"length": total, "sha256": digest.hexdigest()}).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
