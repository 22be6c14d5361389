"""Malformed input on every protocol (tests/integration/malformed_corpus.py):
each input gets its exact answer and the connection is closed, and a
normal request on a fresh connection of the same listener succeeds
afterwards. One gatewayd serves FastCGI, SCGI, AJP13 and HTTP at once, so a
bad byte on one protocol is also seen not to disturb the others."""

import json
import re
import socket
import struct
import time

import ajp
import fcgi
import malformed_corpus as corpus
import scgi
from servers import start_gatewayd
from support import Ctx, Suite, TestFailure, check, free_port

PROTOCOLS = ("http", "fcgi", "scgi", "ajp")


def setup(ws):
    ports = {p: free_port() for p in PROTOCOLS}
    config = {
        "listeners": [{"protocol": p, "host": "127.0.0.1", "port": ports[p]} for p in PROTOCOLS],
        "env_parent_dir": ws.demo_projects(),
        "limits": {"max_body_bytes": corpus.MAX_BODY},
    }
    ws.write("gatewayd.json", json.dumps(config))
    ctx = Ctx(ws, ports=ports)
    ctx.procs.append(start_gatewayd(ws, ["--config", ws.path("gatewayd.json")], port=ports["ajp"]))
    return ctx


def send_and_read(port, data, timeout=10):
    """Sends `data`, half-closes, reads until the server closes. Returns the
    bytes received; fails if the server resets the connection or keeps it
    open."""
    out = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before everything was sent: the answer is still read
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                raise TestFailure(f"connection reset after {len(out)} bytes: {bytes(out[:200])!r}")
            except socket.timeout:
                raise TestFailure(f"connection still open after {timeout}s; got {bytes(out[:200])!r}")
            if not chunk:
                return bytes(out)
            out += chunk


def fcgi_stdout(answer):
    """The STDOUT bytes of a FastCGI answer (records of any request id)."""
    pos, stdout = 0, b""
    while pos + 8 <= len(answer):
        _, rtype, _, length, padding = struct.unpack(">BBHHBx", answer[pos:pos + 8])
        if rtype == fcgi.FCGI_STDOUT:
            stdout += answer[pos + 8:pos + 8 + length]
        pos += 8 + length + padding
    return stdout


def served_echo(protocol, answer):
    """The echo JSON of a 200 answer (the corpus has such entries only for FastCGI)."""
    check(protocol == "fcgi", f"no echo reader for {protocol}")
    head, _, body = fcgi_stdout(answer).partition(b"\r\n\r\n")
    check(head.startswith(b"Status: 200"), f"not a 200: {head[:80]!r}")
    return json.loads(body)


def normal_request(ctx, protocol):
    """A plain GET on a fresh connection must get the echo project's 200."""
    port = ctx.ports[protocol]
    if protocol == "http":
        answer = send_and_read(port, b"GET /echo/after?ok=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200 "), f"follow-up HTTP request: {head[:100]!r}")
    elif protocol == "fcgi":
        with fcgi.Conn(port) as c:
            c.send(fcgi.request_bytes(1, fcgi.cgi_params(path="/echo/after", query="ok=1")))
            status, _, body = c.read_response(1).cgi()
        check(status == 200, f"follow-up FastCGI request: status {status}")
    elif protocol == "scgi":
        status, _, body = scgi.parse_response(send_and_read(port, scgi.request_bytes(path="/echo/after",
                                                                                     query="ok=1")))
        check(status == 200, f"follow-up SCGI request: status {status}")
    else:
        with ajp.Conn(port) as c:
            r = c.exchange(corpus.fwd(uri="/echo/after", query="ok=1"))
        check(r.status == 200, f"follow-up AJP request: status {r.status}")
        body = bytes(r.body)
    j = json.loads(body)
    check(j.get("path_info") == "/after" and j.get("query") == "ok=1", f"follow-up echo: {j!r}")


def make_case(protocol, name, data, expected):
    def case(ctx):
        answer = send_and_read(ctx.ports[protocol], data)
        if protocol == "http":
            answer = re.sub(rb"Date: [^\r\n]*\r\n", b"", answer, count=1)
        if isinstance(expected, corpus.Served):
            j = served_echo(protocol, answer)
            for key, want in expected.checks.items():
                check(j.get(key) == want, f"echo {key} = {j.get(key)!r}, expected {want!r}")
        elif answer != expected:
            raise TestFailure(f"answer {answer[:300]!r}\n  expected {expected[:300]!r}")
        normal_request(ctx, protocol)
    return (name, case, 30)


def suites():
    out = []
    for protocol, entries in (("http", corpus.HTTP), ("fcgi", corpus.FCGI), ("scgi", corpus.SCGI),
                              ("ajp", corpus.AJP)):
        cases = [make_case(protocol, name, data, expected) for name, data, expected in entries]
        out.append(Suite(f"malformed-{protocol}", setup, cases))
    return out
