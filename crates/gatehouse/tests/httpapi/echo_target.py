"""An internal HTTP API that misbehaves the ways the HTTP API tests need: it echoes the
request's headers (so the injected credential would come back), redirects where it is told,
fails with an error page quoting the credential, streams a large JSON answer, and logs every
request that reached it (one JSON line per request in the file named by argv[2]). `/ws` is a
WebSocket that echoes each message back; `/events` streams server-sent events; `/gzip`
answers compressed whatever was asked.

    python3 echo_target.py PORT_FILE LOG_FILE

It binds 127.0.0.1:0 and writes its port to PORT_FILE.
"""

import base64
import gzip
import hashlib
import json
import os
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body):
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(json.dumps({
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }) + "\n")

    def answer(self, status, body, content_type="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.record(body)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        if url.path == "/echo":
            echoed = {k.lower(): v for k, v in self.headers.items()}
            self.answer(200, json.dumps({"headers": echoed, "method": self.command}).encode(),
                        extra=[("X-Seen-Authorization", auth)])
        elif url.path == "/redirect":
            self.answer(302, b"", extra=[("Location", query["to"][0])])
        elif url.path == "/error":
            page = f"<html><body>500: upstream refused credential {auth}</body></html>"
            self.answer(500, page.encode(), "text/html")
        elif url.path == "/people":
            people = [{"name": "Ana", "email": "ana@example.com", "card": "4111 1111 1111 1111",
                       "password": "hunter2-but-longer"}]
            self.answer(200, json.dumps({"items": people}).encode())
        elif url.path == "/gzip":
            packed = gzip.compress(json.dumps({"owner": "ana@example.com"}).encode())
            self.answer(200, packed, extra=[("Content-Encoding", "gzip")])
        elif url.path == "/graphql":
            self.answer(200, b'{"data":{}}')
        elif url.path == "/events":
            self.events()
        elif url.path == "/ws":
            self.websocket()
        elif url.path == "/big":
            self.big(int(query.get("mb", ["100"])[0]))
        elif url.path == "/binary":
            self.answer(200, bytes(range(256)), "application/octet-stream")
        else:
            self.answer(404, b'{"error":"not found"}')

    def events(self):
        """Server-sent events: one at once, the next only once the test has seen the first
        (it creates LOG_FILE.release), so an answer held back anywhere would never end."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        chunk(b"data: first event\n\n")
        deadline = time.monotonic() + 20
        while not os.path.exists(sys.argv[2] + ".release") and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(sys.argv[2] + ".release"):
            chunk(b"data: mail bob@example.com\n\n")
        else:
            chunk(b"data: the first event never reached the client\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            reply = payload if opcode != 1 else b"echo: " + payload
            frame = bytes([0x80 | opcode])
            frame += bytes([len(reply)]) if len(reply) < 126 else b"\x7e" + struct.pack(">H", len(reply))
            self.wfile.write(frame + reply)
            self.wfile.flush()
            if opcode == 8:
                return

    def big(self, megabytes):
        item = json.dumps({"id": 1, "note": "x" * 900, "email": "bob@example.com"}).encode()
        count = megabytes * 1024 * 1024 // (len(item) + 1)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        chunk(b'{"items":[')
        batch = []
        for index in range(count):
            batch.append((b"," if index else b"") + item)
            if len(batch) == 64:
                chunk(b"".join(batch))
                batch = []
        if batch:
            chunk(b"".join(batch))
        chunk(b"]}")
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w", encoding="utf-8") as port_file:
    port_file.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
