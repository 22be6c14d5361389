"""Backends that misbehave (tests/integration/bad_backends.py): dying or
resetting before the response head, a malformed, oversized or
CR/NUL-carrying head, dying mid-body, more bytes than Content-Length, a
FastCGI record for the wrong request id. Each gives the client a clean
answer (502 before the head; after it, a response cut the way HTTP signals
it: the connection closes short of Content-Length), and the faulty backend
connection is never used for another request. A client that goes away
frees its request: FCGI_ABORT_REQUEST (or a close) to a FastCGI app, the
CGI process group ended."""

import json
import os
import socket
import time

import bad_backends
from servers import start_gatewayd
from support import Ctx, Suite, TestFailure, check, free_port, pid_alive, wait_until

SLOW_CGI = r"""#!/bin/sh
sleep 60 &
echo "$$ $!" > "$PIDS_FILE"
sleep 60
"""


def setup(ws):
    backends = {"h": bad_backends.HttpBackend(), "f": bad_backends.FastCgiBackend(),
                "s": bad_backends.ScgiBackend()}
    types = {"h": "http", "f": "fastcgi", "s": "scgi"}
    parent = ws.mkdir("projects")
    for name, server in backends.items():
        ws.mkdir("projects", name)
        cfg = {"backend": {"type": types[name], "upstream": f"127.0.0.1:{server.port}", "timeout_ms": 4000}}
        ws.write(os.path.join("projects", name, "project.json"), json.dumps(cfg))
    ws.mkdir("projects", "cgi")
    ws.write(os.path.join("projects", "cgi", "project.json"),
             json.dumps({"backend": {"type": "cgi", "script": "slow.cgi", "timeout_ms": 60000,
                                     "env": {"PIDS_FILE": ws.path("slow.pids")}}}))
    ws.write(os.path.join("projects", "cgi", "slow.cgi"), SLOW_CGI, mode=0o755)
    port = free_port()
    ctx = Ctx(ws, port=port, backends=backends)
    ctx.procs.append(start_gatewayd(ws, ["-b", "127.0.0.1", "-p", str(port), "-e", parent], port=port))
    return ctx


class Answer:
    def __init__(self, status, headers, body, complete):
        self.status, self.headers, self.body, self.complete = status, headers, body, complete

    def __repr__(self):
        return f"<{self.status} complete={self.complete} {self.body[:80]!r}>"


def get(port, target, timeout=15):
    """One GET; reads the response to its end or to the close. `complete`
    tells whether the body was all there (Content-Length or the last chunk)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = bytearray()
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise TestFailure(f"GET {target}: closed before a response head: {bytes(data[:200])!r}")
            data += chunk
        end = data.index(b"\r\n\r\n")
        lines = bytes(data[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        body = bytearray(data[end + 4:])
        length = headers.get("content-length")
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        while True:
            if length is not None and len(body) >= int(length):
                return Answer(status, headers, bytes(body), True)
            if chunked and body.endswith(b"\r\n0\r\n\r\n") or body == b"0\r\n\r\n":
                return Answer(status, headers, bytes(body), True)
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise TestFailure(f"GET {target}: response neither complete nor closed after {timeout}s")
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return Answer(status, headers, bytes(body), length is None and not chunked)
            body += chunk


def requests_of(ctx, name):
    return ctx.backends[name].log.requests()


def check_fresh_ok(ctx, name, faulty_conns, what):
    """A normal request to the project works, on a connection other than
    the faulty ones."""
    a = get(ctx.port, f"/{name}/ok")
    check(a.status == 200 and a.complete, f"{what}: the next request got {a}")
    conn = requests_of(ctx, name)[-1][0]
    check(conn not in faulty_conns, f"{what}: the next request reused backend connection {conn}")


def faulty_attempts(ctx, name, before, mode):
    """The connections that carried the faulty request. A request that
    failed on a kept-alive connection before any answer may be sent once
    more on a new one (the app may have closed the idle connection just as
    the request went out); never more, never on the same connection."""
    attempts = requests_of(ctx, name)[before:]
    check(1 <= len(attempts) <= 2 and all(m == mode for _, m in attempts),
          f"the backend saw {attempts}")
    conns = [c for c, _ in attempts]
    check(len(set(conns)) == len(conns), f"a retry on the same connection: {attempts}")
    return conns


def fault_case(name, mode):
    def case(ctx):
        before = len(requests_of(ctx, name))
        a = get(ctx.port, f"/{name}/{mode}")
        faulty_conns = faulty_attempts(ctx, name, before, mode)
        if mode in bad_backends.AFTER_HEAD:
            check(a.status == 200 and not a.complete, f"{mode}: expected a cut 200 response, got {a}")
        else:
            check(a.status == 502 and a.complete, f"{mode}: expected a complete 502, got {a}")
        check_fresh_ok(ctx, name, faulty_conns, mode)
    return case


def case_http_overrun(ctx):
    """Bytes past Content-Length are not passed on, and the connection that
    carried them is not reused (they would become the next response)."""
    before = len(requests_of(ctx, "h"))
    a = get(ctx.port, "/h/overrun")
    check(a.status == 200 and a.body == b"hello", f"expected 'hello', got {a}")
    check_fresh_ok(ctx, "h", faulty_attempts(ctx, "h", before, "overrun"), "after an overrun")
    check(b"forged" not in get(ctx.port, "/h/ok").body, "the forged response was served")


def case_fastcgi_wrong_request_id(ctx):
    before = len(requests_of(ctx, "f"))
    a = get(ctx.port, "/f/wrong-request-id")
    check(a.status == 502, f"expected 502, got {a}")
    check_fresh_ok(ctx, "f", faulty_attempts(ctx, "f", before, "wrong-request-id"),
                   "after a record for another id")


def case_fastcgi_client_abort(ctx):
    """The client goes away: the app hears of it (FCGI_ABORT_REQUEST on a
    kept connection, or the connection closed)."""
    log = ctx.backends["f"].log
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as s:
        s.sendall(b"GET /f/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: any(r[1] == "slow" for r in log.requests()), 10, "the slow request at the app")
    conn = [c for c, m in log.requests() if m == "slow"][-1]
    wait_until(lambda: any(c == conn and w in ("abort", "closed") for c, w, _ in log.snapshot()), 10,
               "FCGI_ABORT_REQUEST or a close after the client left")


def case_cgi_client_abort(ctx):
    """The client goes away: the CGI script and its child are ended."""
    pids_file = ctx.ws.path("slow.pids")
    if os.path.exists(pids_file):
        os.unlink(pids_file)
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as s:
        s.sendall(b"GET /cgi/ HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: os.path.exists(pids_file) and open(pids_file).read().strip(), 10, "the CGI pids")
    pids = [int(p) for p in open(pids_file).read().split()]
    wait_until(lambda: not any(pid_alive(p) for p in pids), 10, f"CGI processes {pids} ended")


def suites():
    cases = []
    for name in ("h", "f", "s"):
        for mode in bad_backends.BEFORE_HEAD + bad_backends.AFTER_HEAD:
            cases.append((f"{name}-{mode}", fault_case(name, mode), 30))
    cases += [
        ("h-overrun", case_http_overrun, 30),
        ("f-wrong-request-id", case_fastcgi_wrong_request_id, 30),
        ("f-client-abort", case_fastcgi_client_abort, 30),
        ("cgi-client-abort", case_cgi_client_abort, 30),
    ]
    return [Suite("faults", setup, cases)]
