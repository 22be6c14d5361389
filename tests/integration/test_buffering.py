"""Request buffering ("buffer_body" in project.json): a slow upload never
reaches the app until it is complete, so it cannot tie up an app process or
connection; the app then gets the whole body with its CONTENT_LENGTH, even
for a chunked upload. The app here is gatewayd's echo project over FastCGI
(it reports what it received), counted through a connection-counting relay.
"""

import hashlib
import json
import os
import socket
import threading
import time

from servers import start_gatewayd
from support import Ctx, Suite, check, free_port, wait_until


class CountingRelay:
    """TCP relay to the app that counts the connections gatewayd opens."""

    def __init__(self, target_port):
        self.target = target_port
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except OSError:
            pass


def setup(ws):
    app_port = free_port()
    ws_demo = ws.demo_projects()
    ctx = Ctx(ws)
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-p", str(app_port), "-s",
                                         os.path.join(ws_demo, "echo")], name="app", port=app_port))
    ctx.relay = CountingRelay(app_port)
    parent = ws.mkdir("front")
    tmp = ws.mkdir("front", "bodies")
    for name, extra in (("buffered", {"buffer_body": {"memory_bytes": 4096, "temp_dir": tmp}}),
                        ("direct", {})):
        ws.mkdir("front", name)
        cfg = {"backend": {"type": "fastcgi", "upstream": f"127.0.0.1:{ctx.relay.port}", "keepalive": 0}}
        cfg.update(extra)
        ws.write(os.path.join("front", name, "project.json"), json.dumps(cfg))
    ctx.port = free_port()
    ctx.procs.append(start_gatewayd(ws, ["-b", "127.0.0.1", "-p", str(ctx.port), "-e", parent],
                                    name="front", port=ctx.port))
    ctx.tmp = tmp
    return ctx


def read_response(s):
    data = bytearray()
    s.settimeout(20)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head, body


def slow_upload(ctx, project, body):
    """Sends half the body, reports how many app connections exist then,
    sends the rest and returns (connections while half sent, echo JSON)."""
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=20) as s:
        s.sendall(f"POST /{project}/up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:len(body) // 2])
        if project == "direct":
            # The control case: without buffering the app is reached at once.
            wait_until(lambda: ctx.relay.connections > ctx.before, 10, "the app connection")
        else:
            time.sleep(0.5)  # room for a wrong early connection to show
        during = ctx.relay.connections - ctx.before
        s.sendall(body[len(body) // 2:])
        head, out = read_response(s)
    check(head.startswith(b"HTTP/1.1 200"), f"{project}: {head[:100]!r}")
    return during, json.loads(out)


def case_slow_upload_waits(ctx):
    body = os.urandom(300 * 1024)
    for project, expected in (("direct", 1), ("buffered", 0)):
        ctx.before = ctx.relay.connections
        during, j = slow_upload(ctx, project, body)
        check(during == expected, f"{project}: {during} app connections while the upload was half sent")
        check(j["body_length"] == len(body) and j["body_sha256"] == hashlib.sha256(body).hexdigest(),
              f"{project}: the app got {j['body_length']} bytes")
    check(os.listdir(ctx.tmp) == [], f"files left in the temporary directory: {os.listdir(ctx.tmp)}")


def case_chunked_gets_content_length(ctx):
    body = os.urandom(100 * 1024 + 5)
    chunks = b"".join(b"%x\r\n" % len(body[i:i + 7000]) + body[i:i + 7000] + b"\r\n"
                      for i in range(0, len(body), 7000)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=20) as s:
        s.sendall(b"POST /buffered/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
        head, out = read_response(s)
    check(head.startswith(b"HTTP/1.1 200"), f"{head[:100]!r}")
    j = json.loads(out)
    check(j["content_length"] == len(body), f"CONTENT_LENGTH {j['content_length']!r}, expected {len(body)}")
    check(j["body_sha256"] == hashlib.sha256(body).hexdigest(), "the body differs")


def suites():
    return [Suite("buffering", setup, [("slow-upload-waits", case_slow_upload_waits, 60),
                                       ("chunked-gets-content-length", case_chunked_gets_content_length, 60)])]
