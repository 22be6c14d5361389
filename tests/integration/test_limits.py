"""Limits that are hit give the protocol's own answer and an error-log line
naming the setting to change (README "Limits and timeouts").

One gatewayd: an HTTP listener "bounded" with its own max_connections of 3,
an HTTP listener "open" without one, two FastCGI listeners (one bounded),
an AJP listener, and a status listener (--status-listen); limits.header_bytes
4096, limits.max_body_bytes 1000, limits.max_connections 12.

  fourth-connection-closed  3 connections held on "bounded": the 4th is
                            closed at once with nothing sent, the log line
                            names the listener's max_connections, the status
                            JSON counts 3 on it; "open" still takes 5.
  room-after-close          closing one of the 3 lets the next one in.
  server-wide-bound         12 connections held on "open": the 13th, and one
                            on "bounded" (which holds none), are closed; the
                            log line names limits.max_connections.
  fcgi-max-conns            FCGI_GET_VALUES answers FCGI_MAX_CONNS 2 on the
                            bounded FastCGI listener, 12 on the other.
  header-bytes-431          a 5000-byte request head: 431, log names
                            limits.header_bytes.
  body-413                  a body over max_body_bytes, on HTTP and FastCGI
                            (with and without FCGI_KEEP_CONN; a kept
                            connection serves the next request): 413, log
                            names limits.max_body_bytes.
  ajp-packet-size           an AJP packet over the listener's 8192 bytes:
                            closed, log names the listener's packet_size.
"""

import json
import socket
import time

import ajp
import fcgi
from servers import start_gatewayd
from support import Ctx, Suite, TestFailure, check, free_port, request, tcp_accepts, wait_until

BOUND = 3
FCGI_BOUND = 2
SERVER_BOUND = 12
HEADER_BYTES = 4096
MAX_BODY = 1000


def setup(ws):
    ports = {name: free_port() for name in ("bounded", "open", "fcgi_bounded", "fcgi", "ajp", "status")}
    config = {
        "listeners": [
            {"protocol": "http", "host": "127.0.0.1", "port": ports["bounded"], "name": "bounded",
             "max_connections": BOUND},
            {"protocol": "http", "host": "127.0.0.1", "port": ports["open"], "name": "open"},
            {"protocol": "fcgi", "host": "127.0.0.1", "port": ports["fcgi_bounded"], "name": "fcgi-bounded",
             "max_connections": FCGI_BOUND},
            {"protocol": "fcgi", "host": "127.0.0.1", "port": ports["fcgi"], "name": "fcgi"},
            {"protocol": "ajp", "host": "127.0.0.1", "port": ports["ajp"], "name": "ajp"},
        ],
        "env_parent_dir": ws.demo_projects(),
        "limits": {"header_bytes": HEADER_BYTES, "max_body_bytes": MAX_BODY,
                   "max_connections": SERVER_BOUND},
    }
    ws.write("gatewayd.json", json.dumps(config))
    ctx = Ctx(ws, ports=ports)
    ctx.gatewayd = start_gatewayd(ws, ["--config", ws.path("gatewayd.json"),
                                       "--status-listen", f"127.0.0.1:{ports['status']}"],
                                  port=ports["bounded"])
    ctx.procs.append(ctx.gatewayd)
    for name in ("open", "fcgi_bounded", "fcgi", "ajp", "status"):
        wait_until(lambda: tcp_accepts(ports[name]), 10, f"the {name} listener", proc=ctx.gatewayd)
    return ctx


# ---- helpers ---------------------------------------------------------------


def log_since_mark(ctx):
    return ctx.gatewayd.log_text_since_mark()


def wait_for_log(ctx, *needles, timeout=5):
    """Waits for one error-log line (written since mark_logs) holding every needle."""
    def found():
        return any(all(n in line for n in needles) for line in log_since_mark(ctx).splitlines())
    try:
        wait_until(found, timeout, "a log line with " + " and ".join(repr(n) for n in needles))
    except TestFailure:
        raise TestFailure(f"no log line with {needles!r}; log since the mark: {log_since_mark(ctx)[-1500:]!r}")


def read_response(s, timeout=10):
    """One whole HTTP response (by Content-Length) from a kept-alive socket."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise TestFailure(f"closed before a whole response head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise TestFailure("closed inside a response body")
        body += chunk
    return head, body


def served_connection(port):
    """A connection on which gatewayd has answered a request (so it has
    been accepted and counted), kept open."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /echo/held HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = read_response(s)
    check(head.startswith(b"HTTP/1.1 200 "), f"a held connection's request: {head[:100]!r}")
    return s


def closed_silently(s, timeout=5):
    """True when the server closes `s` within `timeout` without sending a byte."""
    s.settimeout(timeout)
    try:
        data = s.recv(65536)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    check(data == b"", f"the refused connection got bytes: {data[:100]!r}")
    return True


def listener_connections(ctx, name):
    r = request(ctx.ports["status"], "GET", "/status.json")
    check(r.status == 200, f"/status.json: {r}")
    for listener in r.json()["listeners"]:
        if listener["name"] == name:
            return listener["connections"]
    raise TestFailure(f"no listener {name!r} in /status.json")


def wait_connections(ctx, name, want):
    def counted():
        try:
            return listener_connections(ctx, name) == want
        except OSError:  # refused while closed connections are still counted
            return False
    wait_until(counted, 5, f"/status.json counting {want} connections on {name}")


def close_all(socks):
    for s in socks:
        s.close()


# ---- connections per listener ------------------------------------------------


def case_fourth_connection_closed(ctx):
    held = []
    try:
        for _ in range(BOUND):
            held.append(served_connection(ctx.ports["bounded"]))
        check(listener_connections(ctx, "bounded") == BOUND,
              f"/status.json: {listener_connections(ctx, 'bounded')} connections on bounded, want {BOUND}")
        ctx.mark_logs()
        fourth = socket.create_connection(("127.0.0.1", ctx.ports["bounded"]), timeout=10)
        held.append(fourth)
        check(closed_silently(fourth), "the 4th connection on bounded is still open after 5 s")
        wait_for_log(ctx, "refused 127.0.0.1", f"{BOUND} connections open on this listener",
                     "(max_connections of listener bounded)")
        check(listener_connections(ctx, "bounded") == BOUND, "the refused connection was counted")
        # The held ones still work.
        for s in held[:BOUND]:
            s.sendall(b"GET /echo/again HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = read_response(s)
            check(head.startswith(b"HTTP/1.1 200 "), f"a held connection after the refusal: {head[:100]!r}")
        # The other listener has no bound of its own.
        for _ in range(BOUND + 2):
            held.append(served_connection(ctx.ports["open"]))
        check(listener_connections(ctx, "open") == BOUND + 2, "connections on open miscounted")
    finally:
        close_all(held)
    wait_connections(ctx, "bounded", 0)
    wait_connections(ctx, "open", 0)


def case_room_after_close(ctx):
    held = [served_connection(ctx.ports["bounded"]) for _ in range(BOUND)]
    try:
        extra = socket.create_connection(("127.0.0.1", ctx.ports["bounded"]), timeout=10)
        check(closed_silently(extra), "a connection past the bound was not closed")
        extra.close()
        held.pop(0).close()
        wait_connections(ctx, "bounded", BOUND - 1)
        held.append(served_connection(ctx.ports["bounded"]))
        check(listener_connections(ctx, "bounded") == BOUND, "the connection after the close was not counted")
    finally:
        close_all(held)
    wait_connections(ctx, "bounded", 0)


def status_json(ctx):
    r = request(ctx.ports["status"], "GET", "/status.json")
    check(r.status == 200, f"/status.json: {r}")
    return r.json()


def case_server_wide_bound(ctx):
    # Only the status request's own connection open: the bound is all ours.
    wait_until(lambda: status_json(ctx)["connections"] == 1, 5, "no connection but the status request's")
    time.sleep(0.3)  # that request's connection closes too
    held = []
    try:
        for _ in range(SERVER_BOUND):
            held.append(served_connection(ctx.ports["open"]))
        ctx.mark_logs()
        for name in ("open", "bounded"):
            extra = socket.create_connection(("127.0.0.1", ctx.ports[name]), timeout=10)
            held.append(extra)
            check(closed_silently(extra), f"a connection on {name} past limits.max_connections is still open")
        wait_for_log(ctx, "refused 127.0.0.1", f"{SERVER_BOUND} connections open (limits.max_connections)")
        lines = [line for line in log_since_mark(ctx).splitlines() if "limits.max_connections" in line]
        check(len(lines) == 2, f"want one line per refused connection: {lines!r}")
    finally:
        close_all(held)
    wait_connections(ctx, "open", 0)


def max_conns_of(port):
    with fcgi.Conn(port) as c:
        c.send(fcgi.record(fcgi.FCGI_GET_VALUES, 0, fcgi.encode_pairs([("FCGI_MAX_CONNS", "")])))
        c.sock.settimeout(10)
        rec = c.read_record()
    check(rec is not None, "closed instead of GET_VALUES_RESULT")
    rtype, rid, content = rec
    check(rtype == fcgi.FCGI_GET_VALUES_RESULT and rid == 0, f"got record type {rtype} id {rid}")
    return dict(fcgi.decode_pairs(content)).get("FCGI_MAX_CONNS")


def case_fcgi_max_conns(ctx):
    got = max_conns_of(ctx.ports["fcgi_bounded"])
    check(got == str(FCGI_BOUND), f"bounded FastCGI listener advertises FCGI_MAX_CONNS {got!r}")
    got = max_conns_of(ctx.ports["fcgi"])
    check(got == str(SERVER_BOUND), f"FastCGI listener without a bound advertises {got!r}")


# ---- other limits name themselves in the log ---------------------------------


def read_until_closed(s, timeout=10):
    s.settimeout(timeout)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            return out
        out += chunk
    raise TestFailure(f"still open after {timeout}s; got {out[:200]!r}")


def case_header_bytes_431(ctx):
    ctx.mark_logs()
    with socket.create_connection(("127.0.0.1", ctx.ports["open"]), timeout=10) as s:
        s.sendall(b"GET /echo/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (HEADER_BYTES + 1000) + b"\r\n\r\n")
        answer = read_until_closed(s)
    check(answer.startswith(b"HTTP/1.1 431 "), f"answer {answer[:120]!r}")
    wait_for_log(ctx, "protocol error", f"request head over {HEADER_BYTES} bytes (limits.header_bytes)")


def case_body_413(ctx):
    ctx.mark_logs()
    with socket.create_connection(("127.0.0.1", ctx.ports["open"]), timeout=10) as s:
        s.sendall(b"POST /echo/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        answer = read_until_closed(s)
    check(answer.startswith(b"HTTP/1.1 413 "), f"HTTP answer {answer[:120]!r}")
    wait_for_log(ctx, "protocol error", "body too large (limits.max_body_bytes)")

    ctx.mark_logs()
    with fcgi.Conn(ctx.ports["fcgi"]) as c:
        c.send(fcgi.request_bytes(1, fcgi.cgi_params(method="POST", path="/echo/up", body_length=MAX_BODY + 1)))
        status, _, _ = c.read_response(1).cgi()
        check(c.closed_within(5), "FastCGI connection still open after its 413 (no FCGI_KEEP_CONN)")
    check(status == 413, f"FastCGI status {status}")
    wait_for_log(ctx, "protocol error", f"exceeds {MAX_BODY} (limits.max_body_bytes)")

    # With FCGI_KEEP_CONN the connection carries on, and the refusal is
    # still logged with the limit's name.
    ctx.mark_logs()
    with fcgi.Conn(ctx.ports["fcgi"]) as c:
        c.send(fcgi.request_bytes(1, fcgi.cgi_params(method="POST", path="/echo/up", body_length=MAX_BODY + 1),
                                  flags=fcgi.FCGI_KEEP_CONN))
        status, _, _ = c.read_response(1).cgi()
        check(status == 413, f"FastCGI keep-conn status {status}")
        c.send(fcgi.request_bytes(2, fcgi.cgi_params(path="/echo/after"), flags=fcgi.FCGI_KEEP_CONN))
        status, _, _ = c.read_response(2).cgi()
        check(status == 200, f"the next request on the kept connection: status {status}")
    wait_for_log(ctx, "refused: FastCGI request id 1", f"exceeds {MAX_BODY} (limits.max_body_bytes)")


def case_ajp_packet_size(ctx):
    ctx.mark_logs()
    with ajp.Conn(ctx.ports["ajp"]) as c:
        # A packet header announcing 9000 payload bytes, over 8192 with its header.
        c.send(ajp.MAGIC_IN + (9000).to_bytes(2, "big") + b"\x02")
        check(c.closed_within(5), "AJP connection still open after a packet over the packet size")
    wait_for_log(ctx, "protocol error", "over the AJP packet size 8192",
                 "the listener's packet_size / --ajp-packet-size")


def suites():
    return [
        Suite("limits", setup, [
            ("fourth-connection-closed", case_fourth_connection_closed, 40),
            ("room-after-close", case_room_after_close, 30),
            ("server-wide-bound", case_server_wide_bound, 30),
            ("fcgi-max-conns", case_fcgi_max_conns, 20),
            ("header-bytes-431", case_header_bytes_431, 20),
            ("body-413", case_body_413, 20),
            ("ajp-packet-size", case_ajp_packet_size, 20),
        ]),
    ]
