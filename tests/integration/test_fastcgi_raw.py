"""Hand-built FastCGI records straight to gatewayd's TCP port: the protocol
rules a web server never exercises (bad records, unknown roles, oversized
params, management records, keep-conn, multiplexing). After every bad input
a fresh connection must still get a normal answer."""

import hashlib
import json
import socket

import fcgi
from fcgi import Conn
from servers import start_gatewayd
from support import Ctx, Suite, TestFailure, check, free_port


def setup(ws):
    projects = ws.demo_projects()
    port = free_port()
    ctx = Ctx(ws, port=port)
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(port), "-e", projects],
                                    port=port))
    return ctx


def echo_reply(reply, what):
    """Checks a Reply is a complete 200 echo answer; returns the JSON."""
    check(reply.protocol_status == fcgi.FCGI_REQUEST_COMPLETE,
          f"{what}: END_REQUEST protocolStatus {reply.protocol_status}")
    check(reply.stdout_ended, f"{what}: no empty STDOUT record before END_REQUEST")
    try:
        status, _, body = reply.cgi()
    except ValueError as e:
        raise TestFailure(f"{what}: {e}")
    check(status == 200, f"{what}: status {status}, body {body[:200]!r}")
    try:
        return json.loads(body)
    except ValueError:
        raise TestFailure(f"{what}: body is not JSON: {body[:200]!r}")


def normal_request(ctx, what="follow-up request"):
    """A plain GET on a new connection; fails unless echo answers 200."""
    try:
        with Conn(ctx.port) as c:
            c.send(fcgi.request_bytes(1, fcgi.cgi_params(path="/echo/health", query="ok=1")))
            j = echo_reply(c.read_response(1), what)
    except (OSError, ValueError, TimeoutError) as e:
        raise TestFailure(f"{what}: {type(e).__name__}: {e}")
    check(j.get("project") == "echo" and j.get("path_info") == "/health" and j.get("query") == "ok=1",
          f"{what}: unexpected echo {j!r}")


def expect_closed(c, what, timeout=10):
    """The peer must close the connection; it may first send an error
    response, but never a 200."""
    try:
        records = c.read_until_closed(timeout)
    except TimeoutError as e:
        raise TestFailure(f"{what}: {e}")
    except ValueError as e:
        raise TestFailure(f"{what}: malformed reply: {e}")
    out = b"".join(content for rtype, _, content in records if rtype == fcgi.FCGI_STDOUT)
    check(not out.startswith(b"Status: 200") and b"\"body_sha256\"" not in out,
          f"{what}: answered as if the request were fine: {out[:200]!r}")


def send_tolerant(c, data):
    """Sends; the peer may legitimately close while we are still writing."""
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


# ---------------------------------------------------------------------------


def case_bad_version(ctx):
    with Conn(ctx.port) as c:
        bad = fcgi.begin_request(1)
        bad = bytes([2]) + bad[1:]  # version 2
        send_tolerant(c, bad + fcgi.stream(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(fcgi.cgi_params())))
        expect_closed(c, "record with version 2")
    normal_request(ctx)


def case_unknown_role(ctx):
    with Conn(ctx.port) as c:
        c.send(fcgi.begin_request(1, role=fcgi.FCGI_AUTHORIZER)
               + fcgi.stream(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(fcgi.cgi_params()))
               + fcgi.stream(fcgi.FCGI_STDIN, 1, b""))
        try:
            reply = c.read_response(1)
        except (OSError, ValueError, TimeoutError) as e:
            raise TestFailure(f"no END_REQUEST for the AUTHORIZER request: {type(e).__name__}: {e}")
        check(reply.protocol_status == fcgi.FCGI_UNKNOWN_ROLE,
              f"protocolStatus {reply.protocol_status}, want FCGI_UNKNOWN_ROLE (3)")
        check(not reply.stdout, f"STDOUT sent for an unknown role: {bytes(reply.stdout[:100])!r}")
    normal_request(ctx)


def case_oversized_params(ctx):
    with Conn(ctx.port) as c:
        pairs = fcgi.cgi_params() + [("HTTP_X_HUGE", "a" * (2 * 1024 * 1024))]
        send_tolerant(c, fcgi.begin_request(1) + fcgi.stream(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(pairs))
                      + fcgi.stream(fcgi.FCGI_STDIN, 1, b""))
        expect_closed(c, "2 MiB param value")
    normal_request(ctx)


def case_body_over_content_length(ctx):
    with Conn(ctx.port) as c:
        send_tolerant(c, fcgi.begin_request(1)
                      + fcgi.stream(fcgi.FCGI_PARAMS, 1,
                                    fcgi.encode_pairs(fcgi.cgi_params(method="POST", body_length=10)))
                      + fcgi.stream(fcgi.FCGI_STDIN, 1, b"x" * 20))
        expect_closed(c, "STDIN of 20 bytes with CONTENT_LENGTH=10")
    normal_request(ctx)


def case_get_values(ctx):
    names = ["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"]
    with Conn(ctx.port) as c:
        c.send(fcgi.record(fcgi.FCGI_GET_VALUES, 0, fcgi.encode_pairs([(n, "") for n in names])))
        c.sock.settimeout(10)
        try:
            rec = c.read_record()
        except (OSError, ValueError) as e:
            raise TestFailure(f"no GET_VALUES_RESULT: {type(e).__name__}: {e}")
        check(rec is not None, "connection closed instead of GET_VALUES_RESULT")
        rtype, rid, content = rec
        check(rtype == fcgi.FCGI_GET_VALUES_RESULT and rid == 0,
              f"got {fcgi.TYPE_NAMES.get(rtype, rtype)} id {rid}, want GET_VALUES_RESULT id 0")
        values = dict(fcgi.decode_pairs(content))
        for n in names:
            check(n in values, f"{n} missing from GET_VALUES_RESULT {values!r}")
        for n in ("FCGI_MAX_CONNS", "FCGI_MAX_REQS"):
            check(values[n].isdigit() and int(values[n]) > 0, f"{n} = {values[n]!r}")
        check(values["FCGI_MPXS_CONNS"] in ("0", "1"), f"FCGI_MPXS_CONNS = {values['FCGI_MPXS_CONNS']!r}")
        ctx.mpxs = values["FCGI_MPXS_CONNS"] == "1"
        # The connection stays usable for a request afterwards.
        c.send(fcgi.request_bytes(1, fcgi.cgi_params(path="/echo/after-values")))
        echo_reply(c.read_response(1), "request after GET_VALUES")


def case_unknown_management_type(ctx):
    with Conn(ctx.port) as c:
        c.send(fcgi.record(42, 0, b""))
        c.sock.settimeout(10)
        rec = c.read_record()
        check(rec is not None, "connection closed instead of UNKNOWN_TYPE")
        rtype, rid, content = rec
        check((rtype, rid, content) == (fcgi.FCGI_UNKNOWN_TYPE, 0, bytes([42]) + b"\0" * 7),
              f"got {fcgi.TYPE_NAMES.get(rtype, rtype)} id {rid} {content!r}, want UNKNOWN_TYPE(42)")


def case_keep_conn(ctx):
    with Conn(ctx.port) as c:
        for i in (1, 2):
            c.send(fcgi.request_bytes(1, fcgi.cgi_params(path=f"/echo/keep{i}"), flags=fcgi.FCGI_KEEP_CONN))
            try:
                j = echo_reply(c.read_response(1), f"request {i} with FCGI_KEEP_CONN")
            except (OSError, ValueError, TimeoutError) as e:
                raise TestFailure(f"request {i} with FCGI_KEEP_CONN: {type(e).__name__}: {e}")
            check(j.get("path_info") == f"/keep{i}", f"request {i}: path_info {j.get('path_info')!r}")
        # Still open: nothing more arrives, and no EOF, for a moment.
        check(not c.buf, f"unexpected bytes after END_REQUEST: {bytes(c.buf[:40])!r}")
        c.sock.settimeout(0.3)
        try:
            extra = c.sock.recv(1)
            check(extra != b"", "connection closed after a FCGI_KEEP_CONN request")
            raise TestFailure(f"unexpected byte after END_REQUEST: {extra!r}")
        except socket.timeout:
            pass


def case_no_keep_conn_closes(ctx):
    with Conn(ctx.port) as c:
        c.send(fcgi.request_bytes(1, fcgi.cgi_params(path="/echo/once")))
        echo_reply(c.read_response(1), "request without FCGI_KEEP_CONN")
        check(c.closed_within(5), "connection still open 5s after END_REQUEST without FCGI_KEEP_CONN")


def case_params_split(ctx):
    """PARAMS is a stream: one pair cut across records (even inside its
    length prefix) must parse as if sent whole."""
    data = fcgi.encode_pairs(fcgi.cgi_params(path="/echo/split", query="a=b")
                             + [("HTTP_X_LONG", "v" * 300)])
    cut = data.find(b"HTTP_X_LONG") - 2  # inside the 4-byte value length of the long pair
    with Conn(ctx.port) as c:
        c.send(fcgi.begin_request(1) + fcgi.record(fcgi.FCGI_PARAMS, 1, data[:cut])
               + fcgi.record(fcgi.FCGI_PARAMS, 1, data[cut:cut + 3], padding=5)
               + fcgi.record(fcgi.FCGI_PARAMS, 1, data[cut + 3:]) + fcgi.record(fcgi.FCGI_PARAMS, 1)
               + fcgi.stream(fcgi.FCGI_STDIN, 1, b""))
        j = echo_reply(c.read_response(1), "params split across records")
    check(j.get("path_info") == "/split" and j.get("query") == "a=b", f"echo {j!r}")
    headers = {str(k).lower(): v for k, v in j.get("headers") or []}
    check(headers.get("x-long") == "v" * 300, "header X-Long lost or altered")


def case_multiplexed(ctx):
    """Two request ids interleaved on one connection, record by record."""
    mpxs = getattr(ctx, "mpxs", None)
    p1 = fcgi.encode_pairs(fcgi.cgi_params(method="POST", path="/echo/one", body_length=5))
    p2 = fcgi.encode_pairs(fcgi.cgi_params(method="POST", path="/echo/two", body_length=7))
    h1, h2 = len(p1) // 2, len(p2) // 2
    with Conn(ctx.port) as c:
        c.send(fcgi.begin_request(1, flags=fcgi.FCGI_KEEP_CONN) + fcgi.begin_request(2, flags=fcgi.FCGI_KEEP_CONN)
               + fcgi.record(fcgi.FCGI_PARAMS, 1, p1[:h1]) + fcgi.record(fcgi.FCGI_PARAMS, 2, p2[:h2])
               + fcgi.record(fcgi.FCGI_PARAMS, 2, p2[h2:]) + fcgi.record(fcgi.FCGI_PARAMS, 1, p1[h1:])
               + fcgi.record(fcgi.FCGI_PARAMS, 2) + fcgi.record(fcgi.FCGI_PARAMS, 1)
               + fcgi.record(fcgi.FCGI_STDIN, 2, b"seven..") + fcgi.record(fcgi.FCGI_STDIN, 1, b"five.")
               + fcgi.record(fcgi.FCGI_STDIN, 1) + fcgi.record(fcgi.FCGI_STDIN, 2))
        try:
            replies = fcgi.read_responses(c, [1, 2])
        except (OSError, ValueError, TimeoutError) as e:
            raise TestFailure(f"{type(e).__name__}: {e}")
    if mpxs is False:
        # Without multiplexing the spec's answer to the second id is
        # FCGI_CANT_MPX_CONN, and the first is served.
        j = echo_reply(replies[1], "request id 1")
        check(replies[2].protocol_status == fcgi.FCGI_CANT_MPX_CONN,
              f"FCGI_MPXS_CONNS=0 but id 2 got protocolStatus {replies[2].protocol_status}")
        check(j.get("path_info") == "/one", f"id 1: {j!r}")
        return
    j1 = echo_reply(replies[1], "request id 1")
    j2 = echo_reply(replies[2], "request id 2")
    check(j1.get("path_info") == "/one" and j1.get("body_length") == 5, f"id 1 echo: {j1!r}")
    check(j2.get("path_info") == "/two" and j2.get("body_length") == 7, f"id 2 echo: {j2!r}")


def case_abort(ctx):
    """FCGI_ABORT_REQUEST for a request still reading its body: the spec
    wants an END_REQUEST for it, and the connection serves on."""
    with Conn(ctx.port) as c:
        c.send(fcgi.begin_request(1, flags=fcgi.FCGI_KEEP_CONN)
               + fcgi.stream(fcgi.FCGI_PARAMS, 1,
                             fcgi.encode_pairs(fcgi.cgi_params(method="POST", path="/echo/abort", body_length=1000)))
               + fcgi.record(fcgi.FCGI_STDIN, 1, b"x" * 10) + fcgi.record(fcgi.FCGI_ABORT_REQUEST, 1))
        try:
            reply = c.read_response(1)
        except (OSError, ValueError, TimeoutError) as e:
            raise TestFailure(f"no END_REQUEST after ABORT_REQUEST: {type(e).__name__}: {e}")
        check(reply.protocol_status == fcgi.FCGI_REQUEST_COMPLETE,
              f"END_REQUEST protocolStatus {reply.protocol_status} after ABORT_REQUEST")
        c.send(fcgi.request_bytes(1, fcgi.cgi_params(path="/echo/after-abort"), flags=fcgi.FCGI_KEEP_CONN))
        j = echo_reply(c.read_response(1), "request after the aborted one")
        check(j.get("path_info") == "/after-abort", f"echo {j!r}")


def case_large_body_records(ctx):
    """A 1 MiB body in full 65535-byte STDIN records with padding."""
    body = bytes(range(256)) * 4096
    with Conn(ctx.port, timeout=30) as c:
        out = bytearray(fcgi.begin_request(1) + fcgi.stream(
            fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(fcgi.cgi_params(method="POST", path="/echo/big",
                                                                   body_length=len(body)))))
        for i in range(0, len(body), 65535):
            out += fcgi.record(fcgi.FCGI_STDIN, 1, body[i:i + 65535], padding=255)
        out += fcgi.record(fcgi.FCGI_STDIN, 1)
        c.send(bytes(out))
        j = echo_reply(c.read_response(1, timeout=30), "1 MiB body")
    check(j.get("body_length") == len(body) and j.get("body_sha256") == hashlib.sha256(body).hexdigest(),
          f"body_length {j.get('body_length')}, sha {j.get('body_sha256')}")


CASES = [
    ("get-values", case_get_values, 20),
    ("bad-version-closes", case_bad_version, 30),
    ("unknown-role", case_unknown_role, 30),
    ("oversized-params-closes", case_oversized_params, 30),
    ("body-over-content-length-closes", case_body_over_content_length, 30),
    ("unknown-management-type", case_unknown_management_type, 20),
    ("keep-conn-two-requests", case_keep_conn, 20),
    ("no-keep-conn-closes", case_no_keep_conn_closes, 20),
    ("params-split-across-records", case_params_split, 20),
    ("multiplexed-ids", case_multiplexed, 20),
    ("abort-request", case_abort, 20),
    ("large-stdin-records", case_large_body_records, 40),
]


def suites():
    return [Suite("fcgi-raw", setup, CASES)]

