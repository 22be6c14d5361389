"""Slow and stalled clients against the front-end timeouts (config file
"limits"): a request head that trickles in is cut by header_timeout_ms (408
on HTTP), a body that stops by body_timeout_ms (408), an idle connection by
keepalive_timeout_ms, a request that takes too long by request_timeout_ms
(504). And 500 slowloris connections held open while wrk measures normal
requests: every normal request succeeds, and the slow ones are cut."""

import json
import os
import socket
import threading
import time

import fcgi
from servers import have, start_gatewayd
from support import Ctx, Suite, TestFailure, check, free_port, wait_until
from test_reload import start_wrk, wrk_result

SLOW_CGI = "#!/bin/sh\nsleep 30\n"


def setup_with(ws, limits):
    parent = ws.demo_projects()
    ws.mkdir("slow")
    ws.write("slow/project.json", json.dumps({"backend": {"type": "cgi", "script": "slow.cgi",
                                                          "timeout_ms": 60000}}))
    ws.write("slow/slow.cgi", SLOW_CGI, mode=0o755)
    ports = {"http": free_port(), "fcgi": free_port()}
    config = {"listeners": [{"protocol": p, "host": "127.0.0.1", "port": port} for p, port in ports.items()],
              "projects": [os.path.join(parent, "echo"), ws.path("slow")], "limits": limits}
    ws.write("gatewayd.json", json.dumps(config))
    ctx = Ctx(ws, ports=ports)
    ctx.procs.append(start_gatewayd(ws, ["--config", ws.path("gatewayd.json")], port=ports["fcgi"]))
    return ctx


def setup_timeouts(ws):
    return setup_with(ws, {"header_timeout_ms": 800, "body_timeout_ms": 800, "keepalive_timeout_ms": 800,
                           "request_timeout_ms": 1500})


def read_until_closed(s, timeout=15):
    """Everything the server sends until it closes; fails if it does not."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            raise TestFailure(f"still open after {timeout}s; got {bytes(out[:200])!r}")
        except ConnectionResetError:
            raise TestFailure(f"reset after {bytes(out[:200])!r}")
        if not chunk:
            return bytes(out)
        out += chunk


def trickle_until_closed(s, data, interval=0.2, timeout=15):
    """Sends `data` one byte per interval (never all of it); returns what the
    server answered once it closed the connection."""
    s.setblocking(False)
    out = bytearray()
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        if i < len(data) - 1:  # the last byte never comes
            try:
                s.send(data[i:i + 1])
                i += 1
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            chunk = s.recv(65536)
            if not chunk:
                return bytes(out)
            out += chunk
        except BlockingIOError:
            pass
        except ConnectionResetError:
            raise TestFailure(f"reset after {bytes(out[:200])!r}")
        time.sleep(interval)
    s.setblocking(True)
    return read_until_closed(s, 5) if not out else bytes(out)


def case_http_head_trickle(ctx):
    ctx.mark_logs()
    with socket.create_connection(("127.0.0.1", ctx.ports["http"])) as s:
        answer = trickle_until_closed(s, b"GET /echo/x HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), f"answer {answer[:120]!r}")
    wait_until(lambda: "limits.header_timeout_ms" in "\n".join(ctx.log_tail(20, since_mark=True)), 5,
               "a log line naming limits.header_timeout_ms")


def case_fastcgi_head_trickle(ctx):
    data = fcgi.begin_request(1) + fcgi.record(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(fcgi.cgi_params()))
    with socket.create_connection(("127.0.0.1", ctx.ports["fcgi"])) as s:
        answer = trickle_until_closed(s, data)
    check(answer == b"", f"FastCGI has no answer for a head that never came, got {answer[:80]!r}")


def case_body_stall(ctx):
    ctx.mark_logs()
    with socket.create_connection(("127.0.0.1", ctx.ports["http"])) as s:
        s.sendall(b"POST /echo/up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"b" * 10)
        answer = read_until_closed(s)
    check(answer.startswith(b"HTTP/1.1 408 "), f"answer {answer[:120]!r}")
    wait_until(lambda: "limits.body_timeout_ms" in "\n".join(ctx.log_tail(20, since_mark=True)), 5,
               "a log line naming limits.body_timeout_ms")


def case_keepalive_idle(ctx):
    with socket.create_connection(("127.0.0.1", ctx.ports["http"])) as s:
        s.sendall(b"GET /echo/x HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(s)
    check(answer.startswith(b"HTTP/1.1 200 ") and b'"project": "echo"' in answer,
          f"the request before the idle time: {answer[:120]!r}")


def case_request_timeout(ctx):
    ctx.mark_logs()
    with socket.create_connection(("127.0.0.1", ctx.ports["http"])) as s:
        s.sendall(b"GET /slow/ HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(s)
    check(answer.startswith(b"HTTP/1.1 504 "), f"answer {answer[:120]!r}")
    wait_until(lambda: "limits.request_timeout_ms" in "\n".join(ctx.log_tail(20, since_mark=True)), 5,
               "a log line naming limits.request_timeout_ms")


# ---- 500 slowloris connections under load ----------------------------------

SLOWLORIS = 500


def setup_slowloris(ws):
    have("wrk")
    return setup_with(ws, {"header_timeout_ms": 4000})


def case_slowloris_under_load(ctx):
    port = ctx.ports["http"]
    conns = []
    for _ in range(SLOWLORIS):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /echo/slow HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        conns.append(s)
    stop = threading.Event()

    def trickle():  # a header byte per connection every half second
        while not stop.is_set():
            for s in conns:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            stop.wait(0.5)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        wrk = start_wrk(port, "/echo/load")
        count = wrk_result(wrk, "/echo/load")
        check(count > 0, "wrk made no request")

        closed = set()

        def all_closed():
            for i, s in enumerate(conns):
                while i not in closed:
                    try:
                        if not s.recv(65536):  # the 408 comes first, then the close
                            closed.add(i)
                    except BlockingIOError:
                        break
                    except OSError:
                        closed.add(i)
            return len(closed) == len(conns)

        wait_until(all_closed, 30, f"the {SLOWLORIS} slowloris connections cut by the header timeout")
    finally:
        stop.set()
        t.join()
        for s in conns:
            s.close()


def suites():
    return [
        Suite("timeouts", setup_timeouts, [
            ("http-head-trickle-408", case_http_head_trickle, 30),
            ("fastcgi-head-trickle-closed", case_fastcgi_head_trickle, 30),
            ("body-stall-408", case_body_stall, 30),
            ("keepalive-idle-closed", case_keepalive_idle, 30),
            ("request-timeout-504", case_request_timeout, 30),
        ]),
        Suite("slowloris", setup_slowloris, [("500-slow-heads-under-wrk", case_slowloris_under_load, 90)]),
    ]
