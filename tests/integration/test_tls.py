"""gatewayd's HTTPS front end (curl and openssl against it, with the test
CA in tests/vectors/tls), and one gatewayd process serving every protocol
at once from one config file: FastCGI on a unix socket, SCGI, AJP13, HTTP
and HTTPS on TCP ports, reached directly, with requests interleaved.
"""

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import ajp
import fcgi
import scgi
from servers import TLS_CA, TLS_CERT, TLS_KEY, have, start_gatewayd
from support import (BIG_STATIC, Ctx, PatternBody, Skip, Suite, TestFailure, check, free_port, tcp_accepts,
                     wait_until)

BIG_POST = 100 * 1024 * 1024


def need_tls_files():
    missing = [p for p in (TLS_CA, TLS_CERT, TLS_KEY) if not os.path.exists(p)]
    if missing:
        raise TestFailure("test TLS files missing: " + ", ".join(missing))


def client_context():
    return ssl.create_default_context(cafile=TLS_CA)


def https_conn(port, timeout=30):
    return http.client.HTTPSConnection("localhost", port, timeout=timeout, context=client_context())


def https_request(port, method, target, body=None, headers=None, conn=None, timeout=30):
    own = conn is None
    conn = conn or https_conn(port, timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        if own:
            conn.close()


def echo_json(status, body, what, **want):
    check(status == 200, f"{what}: status {status}, body {body[:300]!r}")
    try:
        j = json.loads(body)
    except ValueError:
        raise TestFailure(f"{what}: body is not JSON: {body[:200]!r}")
    for key, value in want.items():
        check(j.get(key) == value, f"{what}: {key} = {j.get(key)!r}, want {value!r}")
    return j


# ---------------------------------------------------------------------------
# HTTPS


def tls_setup(ws):
    have("curl", "openssl")
    need_tls_files()
    projects = ws.demo_projects()
    ctx = Ctx(ws, port=free_port(), projects=projects)
    ctx.gatewayd = start_gatewayd(ws, ["--protocol=https", "-b", "127.0.0.1", "-p", str(ctx.port),
                                       "--certfile", TLS_CERT, "--keyfile", TLS_KEY, "-e", projects], port=ctx.port)
    ctx.procs.append(ctx.gatewayd)
    return ctx


def curl(ctx, url_path, *args, host="localhost", cacert=True, timeout=60):
    """Runs curl -v; returns (exit status, HTTP status, body, verbose log)."""
    out = ctx.ws.path("curl-body")
    argv = ["curl", "-sS", "-v", "-o", out, "-w", "%{http_code}"]
    if cacert:
        argv += ["--cacert", TLS_CA]
    argv += list(args) + [f"https://{host}:{ctx.port}{url_path}"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"curl {url_path} still running after {timeout}s")
    body = b""
    if os.path.exists(out):
        with open(out, "rb") as f:
            body = f.read()
        os.unlink(out)
    return r.returncode, r.stdout.strip(), body, r.stderr


def tls_version(log):
    m = re.search(r"SSL connection using (TLSv[0-9.]+)", log)
    return m.group(1) if m else None


def case_curl_get(ctx):
    rc, status, body, log = curl(ctx, "/echo/sub/path?x=1&y=%20z", "-H", "X-Custom-Header: over tls")
    check(rc == 0, f"curl exited {rc}: {log.strip().splitlines()[-1:]}")
    j = echo_json(int(status), body, "GET over TLS", origin="http", method="GET", script_name="/echo",
                  path_info="/sub/path", query="x=1&y=%20z", https=True, server_port=ctx.port)
    headers = {str(k).lower(): v for k, v in j.get("headers") or []}
    check(headers.get("x-custom-header") == "over tls", f"headers {j.get('headers')!r}")
    version = tls_version(log)
    check(version in ("TLSv1.2", "TLSv1.3"), f"curl negotiated {version!r}")
    # The certificate names 127.0.0.1 too.
    rc, status, body, log = curl(ctx, "/echo/by-ip", host="127.0.0.1")
    check(rc == 0 and status == "200", f"https://127.0.0.1: curl {rc}, status {status}")
    # Without the test CA, curl must refuse the certificate: the checks
    # above really verified it.
    rc, status, _, log = curl(ctx, "/echo/untrusted", cacert=False)
    check(rc == 60, f"curl without --cacert: exit status {rc}, want 60 (certificate not trusted)")


def case_curl_post(ctx):
    body = PatternBody(5 * 1024 * 1024 + 7)
    path = ctx.ws.path("post.bin")
    with open(path, "wb") as f:
        for b in body.blocks():
            f.write(b)
    rc, status, out, log = curl(ctx, "/echo/upload", "-H", "Expect:", "-H", "Content-Type: application/octet-stream",
                                "--data-binary", "@" + path)
    os.unlink(path)
    check(rc == 0, f"curl exited {rc}: {log.strip().splitlines()[-1:]}")
    j = echo_json(int(status), out, "POST over TLS", method="POST", https=True, body_length=body.size)
    check(j.get("body_sha256") == body.digest(), "body_sha256 differs from what curl sent")


def case_tls12(ctx):
    rc, status, body, log = curl(ctx, "/echo/tls12", "--tls-max", "1.2")
    check(rc == 0, f"curl --tls-max 1.2 exited {rc}: {log.strip().splitlines()[-1:]}")
    check(tls_version(log) == "TLSv1.2", f"curl --tls-max 1.2 negotiated {tls_version(log)!r}")
    echo_json(int(status), body, "GET over TLS 1.2", https=True, path_info="/tls12")


def s_client(ctx, port, *args, timeout=10):
    """openssl s_client with no system config (Debian's raises the minimum
    to TLS 1.2 on the client side too) and every cipher allowed, so that
    only the server decides; True when a handshake completed."""
    conf = ctx.ws.write("openssl-empty.cnf", "")
    env = dict(os.environ, OPENSSL_CONF=conf)
    try:
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                            "-CAfile", TLS_CA, "-cipher", "ALL:@SECLEVEL=0", *args],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"openssl s_client {' '.join(args)} still running after {timeout}s")
    out = r.stdout + r.stderr
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    return bool(m and m.group(2) != "(NONE)"), out


def case_tls11_refused(ctx):
    # Control: the same client command completes a TLS 1.1 handshake with a
    # server that allows it, so a refusal below is gatewayd's.
    port = free_port()
    conf = ctx.ws.write("openssl-empty.cnf", "")
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", TLS_CERT,
                               "-key", TLS_KEY, "-tls1_1", "-cipher", "ALL:@SECLEVEL=0"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, OPENSSL_CONF=conf), start_new_session=True)
    try:
        wait_until(lambda: tcp_accepts(port), 10, "openssl s_server")
        ok, out = s_client(ctx, port, "-tls1_1")
        if not ok:
            raise Skip("this OpenSSL cannot do a TLS 1.1 handshake even with a server that allows it")
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    ok, out = s_client(ctx, ctx.port, "-tls1_1")
    check(not ok, "gatewayd completed a TLS 1.1 handshake: " + " | ".join(
        line.strip() for line in out.splitlines() if "Protocol" in line or "Cipher" in line))
    ok, out = s_client(ctx, ctx.port, "-tls1_2")
    check(ok, "the same s_client with -tls1_2 did not complete a handshake")


def read_until_closed(sock, timeout):
    out = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(out), True
        except socket.timeout:
            return bytes(out), False
        if not chunk:
            return bytes(out), True
        out += chunk


def case_plain_http_refused(ctx):
    """Plain HTTP to the TLS port: a 400 answer or a closed connection,
    promptly; never a served request. The daemon keeps serving TLS."""
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as s:
        s.sendall(b"GET /echo/plain HTTP/1.1\r\nHost: localhost\r\n\r\n")
        out, closed = read_until_closed(s, 10)
    check(closed, f"connection still open 10s after plain HTTP on the TLS port; got {out[:100]!r}")
    if out and out.startswith(b"HTTP/"):
        status = out.split(b"\r\n", 1)[0]
        check(status.split()[1:2] == [b"400"], f"plain HTTP answered with {status!r}, want 400 or a close")
    check(b"body_sha256" not in out, "plain HTTP on the TLS port was served")
    # Half a ClientHello, then the client goes away.
    with socket.create_connection(("127.0.0.1", ctx.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    status, _, body = https_request(ctx.port, "GET", "/echo/after-plain")
    echo_json(status, body, "HTTPS after plain HTTP", https=True)


def case_keepalive(ctx):
    conn = https_conn(ctx.port)
    try:
        first = None
        for i in range(300):
            status, _, body = https_request(ctx.port, "GET", f"/echo/ka?i={i}", conn=conn)
            j = echo_json(status, body, f"request {i + 1} on one TLS connection", query=f"i={i}")
            if first is None:
                first = (conn.sock, j.get("remote_port"))
            check((conn.sock, j.get("remote_port")) == first, f"request {i + 1} did not reuse the TLS connection")
    finally:
        conn.close()


def case_static_big(ctx):
    status, _, body = https_request(ctx.port, "GET", "/static/big.bin", timeout=60)
    check(status == 200, f"status {status}")
    check(body == BIG_STATIC, f"{len(body)} bytes, want {len(BIG_STATIC)} equal bytes")


def case_post_big(ctx):
    body = PatternBody(BIG_POST)
    status, _, out = https_request(ctx.port, "POST", "/echo/upload", body=body.blocks(), timeout=120,
                                   headers={"Content-Length": str(BIG_POST)})
    j = echo_json(status, out, "POST 100 MiB over TLS", body_length=BIG_POST, https=True)
    check(j.get("body_sha256") == body.digest(), "body_sha256 differs")


def case_client_gone_mid_response(ctx):
    """The client drops the TLS connection while a 20 MiB response is being
    written (closed, then reset): gatewayd cleans up and serves on."""
    for reset in (False, True):
        raw = socket.create_connection(("127.0.0.1", ctx.port), timeout=10)
        s = client_context().wrap_socket(raw, server_hostname="localhost")
        try:
            s.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            got = 0
            while got < 100000:
                chunk = s.recv(65536)
                check(chunk, "connection closed before 100 KB of the response")
                got += len(chunk)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        finally:
            s.close()
        status, _, body = https_request(ctx.port, "GET", "/echo/after-gone")
        echo_json(status, body, f"request after a client {'reset' if reset else 'close'} mid-response")


TLS_CASES = [
    ("curl-get", case_curl_get, 30),
    ("curl-post", case_curl_post, 60),
    ("tls12-forced", case_tls12, 30),
    ("tls11-refused", case_tls11_refused, 40),
    ("plain-http-refused", case_plain_http_refused, 30),
    ("client-gone-mid-response", case_client_gone_mid_response, 30),
    ("keepalive-300", case_keepalive, 60),
    ("static-20mib", case_static_big, 60),
    ("post-100mib", case_post_big, 180),
]


# ---------------------------------------------------------------------------
# One process, every protocol

AJP_SECRET = "all-protocols-secret"


def all_setup(ws):
    need_tls_files()
    projects = ws.demo_projects()
    ctx = Ctx(ws, sock=ws.path("fcgi.sock"), scgi_port=free_port(), ajp_port=free_port(), http_port=free_port(),
              https_port=free_port())
    conf = ws.write("gatewayd.json", json.dumps({
        "listeners": [
            {"protocol": "fcgi", "unix_socket": ctx.sock},
            {"protocol": "scgi", "host": "127.0.0.1", "port": ctx.scgi_port},
            {"protocol": "ajp", "host": "127.0.0.1", "port": ctx.ajp_port, "secret": AJP_SECRET},
            {"protocol": "http", "host": "127.0.0.1", "port": ctx.http_port},
            {"protocol": "https", "host": "127.0.0.1", "port": ctx.https_port, "certfile": TLS_CERT,
             "keyfile": TLS_KEY},
        ],
        "env_parent_dir": projects,
    }, indent=2))
    p = start_gatewayd(ws, ["--config", conf], name="gatewayd-all", unix_path=ctx.sock)
    ctx.procs.append(p)
    for port in (ctx.scgi_port, ctx.ajp_port, ctx.http_port, ctx.https_port):
        wait_until(lambda: tcp_accepts(port), 10, f"gatewayd-all on port {port}", proc=p)
    return ctx


def body_for(name):
    return hashlib.sha256(name.encode()).digest() * 190  # 6080 bytes: one AJP packet


def request_for(ctx, name):
    """(how to connect, the whole request) for one protocol."""
    body = body_for(name)
    path = f"/echo/{name}"
    if name == "fcgi":
        return fcgi.request_bytes(1, fcgi.cgi_params(method="POST", path=path, body_length=len(body)), body)
    if name == "scgi":
        return scgi.request_bytes(method="POST", path=path, body=body)
    if name == "ajp":
        return ajp.forward_request(method="POST", uri=path, secret=AJP_SECRET,
                                   headers=[("Host", "localhost"), ("Content-Length", str(len(body)))]) \
            + ajp.body_packet(body)
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def connect(ctx, name):
    if name == "fcgi":
        return fcgi.Conn(None, unix_path=ctx.sock, timeout=15)
    if name == "ajp":
        return ajp.Conn(ctx.ajp_port, timeout=15)
    port = {"scgi": ctx.scgi_port, "http": ctx.http_port, "https": ctx.https_port}[name]
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    if name == "https":
        s = client_context().wrap_socket(s, server_hostname="localhost")
    return s


def send(conn, data):
    (conn.sock if hasattr(conn, "sock") else conn).sendall(data)


def answer(conn, name):
    """The echo JSON of the one response on `conn`."""
    if name == "fcgi":
        status, _, body = conn.read_response(1, timeout=15).cgi()
    elif name == "ajp":
        r = conn.read_response(timeout=15)
        status, body = r.status, bytes(r.body)
    else:
        out, closed = read_until_closed(conn, 15)
        check(closed, f"{name}: connection still open after the response")
        if name == "scgi":
            status, _, body = scgi.parse_response(out)
        else:
            head, _, body = out.partition(b"\r\n\r\n")
            status = int(head.split()[1])
    return echo_json(status, body, name)


PROTOCOLS = ("fcgi", "scgi", "ajp", "http", "https")
ORIGINS = {"fcgi": "fcgi", "scgi": "scgi", "ajp": "ajp", "http": "http", "https": "http"}


def check_answer(j, name):
    body = body_for(name)
    check(j.get("origin") == ORIGINS[name], f"{name}: origin {j.get('origin')!r}")
    check(j.get("https") is (name == "https"), f"{name}: https = {j.get('https')!r}")
    check(j.get("path_info") == f"/{name}", f"{name}: path_info {j.get('path_info')!r}")
    check(j.get("body_length") == len(body) and j.get("body_sha256") == hashlib.sha256(body).hexdigest(),
          f"{name}: body_length {j.get('body_length')}, sha {j.get('body_sha256')}")


def case_each_protocol(ctx):
    for name in PROTOCOLS:
        conn = connect(ctx, name)
        try:
            send(conn, request_for(ctx, name))
            check_answer(answer(conn, name), name)
        except (OSError, ValueError, TimeoutError, ConnectionError) as e:
            raise TestFailure(f"{name}: {type(e).__name__}: {e}")
        finally:
            conn.close()


def case_interleaved(ctx):
    """Five connections, one per protocol, each request sent in three parts
    taking turns: the one event loop must keep every partial request apart
    and answer all five."""
    conns = {}
    try:
        for name in PROTOCOLS:
            conns[name] = connect(ctx, name)
        parts = {}
        for name in PROTOCOLS:
            data = request_for(ctx, name)
            a, b = len(data) // 3, 2 * len(data) // 3
            parts[name] = [data[:a], data[a:b], data[b:]]
        for i in range(3):
            for name in PROTOCOLS:
                send(conns[name], parts[name][i])
            time.sleep(0.05)
        for name in reversed(PROTOCOLS):
            try:
                check_answer(answer(conns[name], name), name)
            except (OSError, ValueError, TimeoutError, ConnectionError) as e:
                raise TestFailure(f"{name}: {type(e).__name__}: {e}")
    finally:
        for c in conns.values():
            c.close()


ALL_CASES = [
    ("each-protocol", case_each_protocol, 30),
    ("interleaved", case_interleaved, 30),
]


def suites():
    return [
        Suite("tls", tls_setup, TLS_CASES),
        Suite("all-protocols", all_setup, ALL_CASES),
    ]
