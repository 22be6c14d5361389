"""gatewayd's SCGI front end: behind nginx (scgi_pass), Apache
(mod_proxy_scgi) and lighttpd (mod_scgi), each configured from its template
in packaging/examples/; the Cherokee deployment command line run verbatim
(daemonized, pid file) behind nginx; and hand-built SCGI requests, good and
bad, straight to gatewayd's port.

Every request is checked at the echo project, which answers with the request
as gatewayd understood it.
"""

import os
import signal
import socket
import subprocess
import time

import scgi
import test_fronts
from servers import (APACHE_AUTH_MODULES, AUTH_USER, basic_auth_header, have, listening_addresses, start_apache,
                     start_gatewayd, start_lighttpd, start_nginx_scgi, tcp_sockets, write_htpasswd)
from support import (CRASH_MARKERS, Ctx, Suite, TestFailure, check, fill_template, free_port, gatewayd_binary,
                     request, tcp_accepts, wait_until)

# ---------------------------------------------------------------------------
# Cases through a web server (the shared ones come from test_fronts)


def case_remote_user(ctx):
    """Basic auth at the web server on /PROJECT/login: without credentials
    the web server answers 401 itself; with them the echo project sees the
    user as REMOTE_USER."""
    r = request(ctx.http_port, "GET", "/echo/login")
    check(r.status == 401, f"GET /echo/login without credentials: status {r.status}, want 401")
    r = request(ctx.http_port, "GET", "/echo/login?from=test", headers={"Authorization": basic_auth_header()})
    j = test_fronts.expect_echo(r, "GET /echo/login with credentials", project="echo", path_info="/login",
                                query="from=test")
    check(j.get("remote_user") == AUTH_USER, f"remote_user = {j.get('remote_user')!r}, want {AUTH_USER!r}")
    check((j.get("auth_type") or "").lower() == "basic", f"auth_type = {j.get('auth_type')!r}, want 'Basic'")
    # And never on an unauthenticated path, whatever the client sends.
    r = request(ctx.http_port, "GET", "/echo/open", headers={"Authorization": basic_auth_header()})
    j = test_fronts.expect_echo(r, "GET /echo/open with credentials", path_info="/open")
    check(j.get("remote_user") == "", f"remote_user = {j.get('remote_user')!r} outside the login area")


def case_one_connection_per_request(ctx):
    """SCGI is one request per connection: after 20 requests no connection
    to gatewayd stays open (gatewayd closed each one after its response)."""
    for i in range(20):
        r = request(ctx.http_port, "GET", f"/echo/conn?i={i}")
        check(r.status == 200, f"request {i + 1}: status {r.status}")
    deadline = time.monotonic() + 3
    while tcp_sockets(ctx.gatewayd_port).get("ESTABLISHED", 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    n = tcp_sockets(ctx.gatewayd_port).get("ESTABLISHED", 0)
    check(n == 0, f"{n} established connections to gatewayd's SCGI port 3s after the last response")


def front_cases(chunked=True):
    cases = [
        ("get", test_fronts.case_get, 30),
        ("head", test_fronts.case_head, 30),
        ("index", test_fronts.case_index, 30),
        ("static", test_fronts.case_static, 60),
        ("remote-user", case_remote_user, 30),
        ("connection-per-request", case_one_connection_per_request, 30),
        ("keepalive-1000", test_fronts.case_keepalive, 120),
        ("post-100mib", test_fronts.case_post_big, 180),
    ]
    if chunked:
        cases.insert(4, ("chunked-upload", test_fronts.case_chunked, 60))
    return cases


def scgi_gatewayd(ws, ctx, projects):
    ctx.gatewayd_port = free_port()
    ctx.procs.append(start_gatewayd(ws, ["--protocol=scgi", "--port", str(ctx.gatewayd_port), "-e", projects],
                                    port=ctx.gatewayd_port))


def front_ctx(ws, **kw):
    kw.setdefault("echo_prefix", "/echo")
    kw.setdefault("echo_project", "echo")
    kw.setdefault("origin", "scgi")
    return Ctx(ws, http_port=free_port(), dead_http_port=free_port(), **kw)


# ---------------------------------------------------------------------------
# nginx scgi_pass, and the Cherokee command line behind it

CHEROKEE_SERVER = """
# Test-only: the Cherokee-style daemonized gatewayd, reached the same way.
server {{
    listen 127.0.0.1:{http_port};
    location / {{
        include scgi_params;
        scgi_pass 127.0.0.1:{scgi_port};
    }}
}}
"""


def nginx_setup(ws):
    have("nginx")
    projects = ws.demo_projects()
    ctx = front_ctx(ws, projects=projects)
    scgi_gatewayd(ws, ctx, projects)
    site = fill_template("nginx-scgi.conf", {"HTTP_PORT": f"127.0.0.1:{ctx.http_port}",
                                            "GATEWAYD_ADDR": f"127.0.0.1:{ctx.gatewayd_port}",
                                            "HTPASSWD": write_htpasswd(ws)})
    ctx.cherokee_http_port = free_port()
    ctx.cherokee_scgi_port = free_port()
    site += CHEROKEE_SERVER.format(http_port=ctx.cherokee_http_port, scgi_port=ctx.cherokee_scgi_port)
    ctx.procs.append(start_nginx_scgi(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def parent_pid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def pids_with_arg(arg):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if arg.encode() in f.read().split(b"\0"):
                        out.append(int(d))
            except OSError:
                pass
    return out


def case_cherokee(ctx):
    """The command line Cherokee's SCGI "information source" runs, verbatim:
    gatewayd --single-env --daemonize --protocol=scgi --hostname=localhost
    --port=PORT --pidfile F /path/to/project/ ; reached through nginx."""
    pidfile = ctx.ws.path("cherokee-gatewayd.pid")
    out_path = ctx.ws.path("cherokee-gatewayd.out")
    project = os.path.join(ctx.projects, "echo") + "/"
    port = ctx.cherokee_scgi_port
    argv = [gatewayd_binary(), "--single-env", "--daemonize", "--protocol=scgi", "--hostname=localhost",
            f"--port={port}", "--pidfile", pidfile, project]
    try:
        # As a shell runs it: output to a file, the launcher must return.
        with open(out_path, "wb") as out:
            t0 = time.monotonic()
            launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            try:
                status = launcher.wait(timeout=10)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()
                raise TestFailure("the --daemonize launcher was still running after 10s")
        check(status == 0, f"launcher exited {status}: {tail(out_path)}")
        check(time.monotonic() - t0 < 5, "the --daemonize launcher took over 5s to return")

        def pid_written():
            try:
                with open(pidfile) as f:
                    text = f.read()
                return text.endswith("\n") and text.strip().isdigit()
            except OSError:
                return False

        wait_until(pid_written, 10, f"the pid file {pidfile}")
        with open(pidfile) as f:
            pid = int(f.read().strip())
        check(pid_alive(pid), f"pid {pid} from the pid file is not running")
        check(pid in pids_with_arg(pidfile), f"pid {pid} from the pid file is not the gatewayd we started")
        check(pid != launcher.pid, f"the pid file names the launcher ({pid}), not the daemon")
        ppid = parent_pid(pid)
        check(ppid not in (os.getpid(), launcher.pid),
              f"the daemon's parent is {ppid}: the launching shell (us, {os.getpid()}) or the launcher")
        check(os.getsid(pid) != os.getsid(0), f"the daemon ({pid}) is still in the caller's session")
        wait_until(lambda: tcp_accepts(port), 10, f"the daemon on 127.0.0.1:{port}")
        check(listening_addresses(port) == ["127.0.0.1"],
              f"--hostname=localhost listens on {listening_addresses(port)}, want only 127.0.0.1")
        r = request(ctx.cherokee_http_port, "GET", "/sub/path?x=1", headers={"X-Custom-Header": "cherokee"})
        j = test_fronts.expect_echo(r, "GET /sub/path via the daemon", project="echo", origin="scgi",
                                    script_name="", path_info="/sub/path", query="x=1")
        headers = {str(k).lower(): v for k, v in j.get("headers") or []}
        check(headers.get("x-custom-header") == "cherokee", f"X-Custom-Header lost: {j.get('headers')!r}")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 5, f"the daemon (pid {pid}) to exit on SIGTERM")
        check(not tcp_accepts(port), f"port {port} still accepts after the daemon stopped")
        with open(out_path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                check(not CRASH_MARKERS.search(line), f"crash report from the daemon: {line}")
    finally:
        for pid in pids_with_arg(pidfile):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def tail(path, n=600):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace").strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# Apache mod_proxy_scgi


def case_apache_chunked_411(ctx):
    """mod_proxy_scgi cannot forward a body of unknown length: it answers
    411 itself (documented in apache-proxy-scgi.conf) and gatewayd is not
    involved; the next request is served normally."""
    r = request(ctx.http_port, "POST", "/echo/chunked", body=iter([b"abc", b"defg"]), encode_chunked=True,
                headers={"Transfer-Encoding": "chunked"})
    check(r.status == 411, f"chunked POST through mod_proxy_scgi: status {r.status}, want 411 (as documented)")
    r = request(ctx.http_port, "GET", "/echo/after-411")
    check(r.status == 200, f"GET after the 411: status {r.status}")


def apache_setup(ws):
    have("apache2")
    projects = ws.demo_projects()
    ctx = front_ctx(ws)
    scgi_gatewayd(ws, ctx, projects)
    site = fill_template("apache-proxy-scgi.conf", {"HTTP_PORT": ctx.http_port,
                                                    "GATEWAYD_ADDR": f"127.0.0.1:{ctx.gatewayd_port}",
                                                    "HTPASSWD": write_htpasswd(ws)})
    ctx.procs.append(start_apache(ws, site, ctx.http_port, ctx.dead_http_port,
                                  modules=["proxy_scgi"] + APACHE_AUTH_MODULES))
    return ctx


# ---------------------------------------------------------------------------
# lighttpd mod_scgi


def lighttpd_setup(ws):
    have("lighttpd")
    projects = ws.demo_projects()
    ctx = front_ctx(ws)
    scgi_gatewayd(ws, ctx, projects)
    site = fill_template("lighttpd-scgi.conf", {"GATEWAYD_HOST": "127.0.0.1", "GATEWAYD_PORT": ctx.gatewayd_port,
                                                "HTPASSWD": write_htpasswd(ws)})
    # The wrapper's "dead backend" listener is a FastCGI mount.
    site = 'server.modules += ( "mod_fastcgi" )\n' + site
    ctx.procs.append(start_lighttpd(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


# ---------------------------------------------------------------------------
# Raw SCGI: well-formed and malformed requests straight to gatewayd


def raw_setup(ws):
    projects = ws.demo_projects()
    ctx = Ctx(ws, port=free_port())
    # No --hostname: SCGI must listen on 127.0.0.1 only.
    ctx.procs.append(start_gatewayd(ws, ["--protocol=scgi", "-p", str(ctx.port), "-e", projects], port=ctx.port))
    return ctx


def raw_echo(ctx, data, what, timeout=15):
    try:
        out = scgi.exchange(ctx.port, data, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise TestFailure(f"{what}: {type(e).__name__}: {e}")
    try:
        status, headers, body = scgi.parse_response(out)
    except ValueError as e:
        raise TestFailure(f"{what}: {e}")
    check(status == 200, f"{what}: status {status}, body {body[:200]!r}")
    first = out.split(b"\r\n", 1)[0]
    check(first.startswith(b"Status: 200"), f"{what}: first line {first!r}, want a CGI 'Status: 200' line")
    try:
        import json
        return json.loads(body), headers, body
    except ValueError:
        raise TestFailure(f"{what}: body is not JSON: {body[:200]!r}")


def normal_request(ctx, what="follow-up request"):
    j, _, _ = raw_echo(ctx, scgi.request_bytes(path="/echo/health", query="ok=1"), what)
    check(j.get("origin") == "scgi" and j.get("path_info") == "/health" and j.get("query") == "ok=1",
          f"{what}: unexpected echo {j!r}")


def expect_refused(ctx, data, what, shut_write=False, timeout=10):
    """The request must get an error answer (4xx) or a clean close, within
    `timeout` and without being served; then a normal request works."""
    try:
        out = scgi.exchange(ctx.port, data, timeout=timeout, shut_write=shut_write)
    except TimeoutError as e:
        raise TestFailure(f"{what}: {e}")
    except OSError as e:
        raise TestFailure(f"{what}: {type(e).__name__}: {e}")
    if out:
        try:
            status, _, body = scgi.parse_response(out)
        except ValueError as e:
            raise TestFailure(f"{what}: neither an answer nor a clean close: {e}")
        check(400 <= status <= 499, f"{what}: status {status}, want 4xx; body {body[:200]!r}")
        check(b"body_sha256" not in body, f"{what}: served as if fine: {body[:200]!r}")
    normal_request(ctx, f"request after {what}")


def case_raw_get(ctx):
    j, headers, body = raw_echo(ctx, scgi.request_bytes(path="/echo/a%20b/c", query="q=%41&r=2",
                                                        extra=[("HTTP_X_CUSTOM_HEADER", "raw one")]), "GET")
    check(j.get("method") == "GET" and j.get("script_name") == "/echo" and j.get("path_info") == "/a b/c",
          f"echo {j!r}")
    check(j.get("query") == "q=%41&r=2" and j.get("target") == "/echo/a%20b/c?q=%41&r=2", f"echo {j!r}")
    hdrs = {str(k).lower(): v for k, v in j.get("headers") or []}
    check(hdrs.get("x-custom-header") == "raw one", f"headers {j.get('headers')!r}")
    length = dict((k.lower(), v) for k, v in headers).get("content-length")
    check(length is None or int(length) == len(body), f"Content-Length {length} for a {len(body)}-byte body")


def case_raw_post(ctx):
    import hashlib
    body = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4, sent in pieces
    data = scgi.netstring(scgi.headers_block(scgi.request_headers("POST", "/echo/post", "", len(body))))
    pieces = [data] + [body[i:i + 70000] for i in range(0, len(body), 70000)]
    j, _, _ = raw_echo(ctx, pieces, "POST 1 MiB")
    check(j.get("body_length") == len(body) and j.get("body_sha256") == hashlib.sha256(body).hexdigest(),
          f"body_length {j.get('body_length')}, sha {j.get('body_sha256')}")
    check(j.get("content_length") == len(body), f"content_length {j.get('content_length')!r}")


def case_raw_head(ctx):
    out = scgi.exchange(ctx.port, scgi.request_bytes(method="HEAD", path="/echo/head"))
    status, headers, body = scgi.parse_response(out)
    check(status == 200, f"HEAD: status {status}")
    check(body == b"", f"HEAD answered with {len(body)} body bytes: {body[:100]!r}")


def case_raw_default_bind(ctx):
    addrs = listening_addresses(ctx.port)
    check(addrs == ["127.0.0.1"], f"--protocol=scgi without --hostname listens on {addrs}, want only 127.0.0.1")


def case_truncated_netstring(ctx):
    full = scgi.request_bytes(path="/echo/cut")
    expect_refused(ctx, full[:len(full) // 2], "netstring cut in the middle, then EOF", shut_write=True)


def case_truncated_length(ctx):
    expect_refused(ctx, b"12", "netstring length without ':', then EOF", shut_write=True)


def case_oversized_length(ctx):
    # Far over any header limit: refused from the length alone, at once.
    expect_refused(ctx, b"99999999999:CONTENT_LENGTH\x000\x00", "an 11-digit netstring length")
    expect_refused(ctx, b"1048576:CONTENT_LENGTH\x000\x00", "a 1 MiB netstring length")


def case_missing_content_length(ctx):
    pairs = [p for p in scgi.request_headers(path="/echo/nocl") if p[0] != "CONTENT_LENGTH"]
    expect_refused(ctx, scgi.netstring(scgi.headers_block(pairs)), "headers without CONTENT_LENGTH")


def case_bad_comma(ctx):
    good = scgi.request_bytes(path="/echo/comma")
    colon = good.index(b":")
    length = int(good[:colon])
    bad = good[:colon + 1 + length] + b";"
    expect_refused(ctx, bad, "netstring ended by ';' instead of ','")


def case_non_digit_length(ctx):
    expect_refused(ctx, b"1x:CONTENT_LENGTH\x000\x00,", "netstring length '1x'")


def case_body_short(ctx):
    """CONTENT_LENGTH 100 but the client sends 10 bytes and EOF: never
    answered as a complete request."""
    data = scgi.netstring(scgi.headers_block(scgi.request_headers("POST", "/echo/short", "", 100))) + b"x" * 10
    expect_refused(ctx, data, "a body 90 bytes short, then EOF", shut_write=True)


def case_client_gone_mid_response(ctx):
    """The web server drops the connection while a 20 MiB response is being
    written (closed, then reset): gatewayd cleans up and serves on."""
    for reset in (False, True):
        with socket.create_connection(("127.0.0.1", ctx.port), timeout=5) as s:
            s.sendall(scgi.request_bytes(path="/static/big.bin"))
            got = 0
            while got < 100000:
                chunk = s.recv(65536)
                check(chunk, "connection closed before 100 KB of the response")
                got += len(chunk)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        normal_request(ctx, f"request after a client {'reset' if reset else 'close'} mid-response")


def case_encoded_slash_stays_in_project(ctx):
    """An encoded slash is data inside a segment: "/echo/..%2Fstatic/..."
    is never answered by the static project."""
    for target in ("/echo/..%2Fstatic/style.css", "/echo/x%2F..%2F..%2Fstatic/style.css",
                   "/echo/%2E%2E%2Fstatic/style.css"):
        out = scgi.exchange(ctx.port, scgi.request_bytes(path=target))
        status, headers, body = scgi.parse_response(out)
        check(status in (400, 404) or b'"project": "echo"' in body,
              f"{target}: status {status}: answered outside the project the first segment names: {body[:60]!r}")


RAW_CASES = [
    ("get", case_raw_get, 20),
    ("head", case_raw_head, 20),
    ("post-1mib-in-pieces", case_raw_post, 30),
    ("default-bind-loopback", case_raw_default_bind, 10),
    ("truncated-netstring", case_truncated_netstring, 30),
    ("truncated-length", case_truncated_length, 30),
    ("oversized-length", case_oversized_length, 30),
    ("non-digit-length", case_non_digit_length, 30),
    ("missing-content-length", case_missing_content_length, 30),
    ("bad-comma", case_bad_comma, 30),
    ("body-short-then-eof", case_body_short, 30),
    ("client-gone-mid-response", case_client_gone_mid_response, 30),
    ("encoded-slash-stays-in-project", case_encoded_slash_stays_in_project, 20),
]


def suites():
    nginx_cases = front_cases() + [("cherokee-daemonize", case_cherokee, 40)]
    apache_cases = front_cases(chunked=False) + [("chunked-411", case_apache_chunked_411, 30)]
    return [
        Suite("scgi-raw", raw_setup, RAW_CASES),
        Suite("scgi-nginx", nginx_setup, nginx_cases),
        Suite("scgi-apache-proxy", apache_setup, apache_cases),
        Suite("scgi-lighttpd", lighttpd_setup, front_cases()),
    ]
