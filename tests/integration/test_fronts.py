"""gatewayd behind each real web server (and on its own HTTP front end):
the same requests through every front, checked at the echo project.

Each front is one suite: its servers start once, then every case runs
against them. The web-server configs are the templates in packaging/examples/.
"""

import os
import socket
import time

from servers import have, start_apache, start_gatewayd, start_lighttpd, start_nginx
from support import (BIG_STATIC, DEMO, Ctx, PatternBody, Suite, TestFailure, check, fill_template, free_port, request,
                     tcp_accepts, wait_until)

BIG_POST = 100 * 1024 * 1024
CHUNKED_SIZE = 3 * 1024 * 1024 + 12345
CHUNK_SIZES = [1, 7, 1000, 65536, 300000, 12293, 4096]
KEEPALIVE_REQUESTS = 1000


# ---------------------------------------------------------------------------
# The cases, shared by every front


def expect_echo(resp, what, **want):
    check(resp.status == 200, f"{what}: status {resp.status}, body {resp.body[:300]!r}")
    j = resp.json()
    for key, value in want.items():
        check(j.get(key) == value, f"{what}: {key} = {j.get(key)!r}, want {value!r}")
    return j


def case_get(ctx):
    target = f"{ctx.echo_prefix}/sub/path?x=1&y=%20z"
    r = request(ctx.http_port, "GET", target, headers={"X-Custom-Header": "hello there"})
    j = expect_echo(r, "GET " + target, project=ctx.echo_project, method="GET", script_name=ctx.echo_prefix,
                    path_info="/sub/path", query="x=1&y=%20z")
    check(j.get("origin") == ctx.origin, f"origin = {j.get('origin')!r}, want {ctx.origin!r}")
    check(j.get("server_protocol") == "HTTP/1.1", f"server_protocol = {j.get('server_protocol')!r}")
    check(j.get("server_port") == ctx.http_port, f"server_port = {j.get('server_port')!r}, want {ctx.http_port}")
    check(j.get("https") is False, f"https = {j.get('https')!r} on plain HTTP")
    check(j.get("remote_addr") == "127.0.0.1", f"remote_addr = {j.get('remote_addr')!r}")
    check(j.get("content_length") in (None, 0), f"content_length = {j.get('content_length')!r} for a GET")
    check(j.get("body_length") == 0, f"body_length = {j.get('body_length')!r} for a GET")
    headers = {str(k).lower(): v for k, v in j.get("headers") or []}
    check(headers.get("x-custom-header") == "hello there",
          f"X-Custom-Header not passed through: headers = {j.get('headers')!r}")
    ctype = r.header("Content-Type") or ""
    check("json" in ctype, f"Content-Type = {ctype!r}")


def case_head(ctx):
    target = f"{ctx.echo_prefix}/head"
    with socket.create_connection(("127.0.0.1", ctx.http_port), timeout=15) as s:
        s.sendall(f"HEAD {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    check(sep, f"no end of headers in the reply to HEAD: {bytes(data[:300])!r}")
    status_line = head.split(b"\r\n", 1)[0]
    check(status_line.split()[1:2] == [b"200"], f"HEAD status line {status_line!r}")
    check(body == b"", f"HEAD answered with {len(body)} body bytes: {body[:100]!r}")


def case_index(ctx):
    r = request(ctx.http_port, "GET", "/")
    check(r.status == 200, f"GET /: status {r.status}")
    check("text/html" in (r.header("Content-Type") or ""), f"GET /: Content-Type {r.header('Content-Type')!r}")
    text = r.body.decode("utf-8", "replace")
    for name in ("echo", "static"):
        check(name in text, f"GET /: project {name!r} not listed in {text[:300]!r}")


def case_post_big(ctx):
    body = PatternBody(BIG_POST)
    want = body.digest()
    target = f"{ctx.echo_prefix}/upload?big=1"
    r = request(ctx.http_port, "POST", target, body=body.blocks(), timeout=120,
                headers={"Content-Length": str(BIG_POST), "Content-Type": "application/octet-stream"})
    j = expect_echo(r, "POST 100 MiB", method="POST", path_info="/upload", body_length=BIG_POST)
    check(j.get("body_sha256") == want, f"body_sha256 {j.get('body_sha256')!r}, want {want!r}")
    check(j.get("content_length") == BIG_POST, f"content_length = {j.get('content_length')!r}")


def case_chunked(ctx):
    body = PatternBody(CHUNKED_SIZE)
    want = body.digest(CHUNK_SIZES)
    r = request(ctx.http_port, "POST", f"{ctx.echo_prefix}/chunked", body=body.blocks(CHUNK_SIZES),
                encode_chunked=True, timeout=60,
                headers={"Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream"})
    j = expect_echo(r, "chunked POST", method="POST", path_info="/chunked", body_length=CHUNKED_SIZE)
    check(j.get("body_sha256") == want, f"body_sha256 {j.get('body_sha256')!r}, want {want!r}")
    check(j.get("content_length") in (None, CHUNKED_SIZE), f"content_length = {j.get('content_length')!r}")


def case_keepalive(ctx):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", ctx.http_port, timeout=15)
    try:
        first_sock = None
        first_port = None
        for i in range(KEEPALIVE_REQUESTS):
            r = request(ctx.http_port, "GET", f"{ctx.echo_prefix}/ka?i={i}", conn=conn)
            if r.status != 200:
                raise TestFailure(f"request {i + 1}: status {r.status}, body {r.body[:200]!r}")
            j = r.json()
            if j.get("query") != f"i={i}":
                raise TestFailure(f"request {i + 1}: query {j.get('query')!r}, want 'i={i}'")
            if first_sock is None:
                first_sock, first_port = conn.sock, j.get("remote_port")
            elif conn.sock is not first_sock or j.get("remote_port") != first_port:
                raise TestFailure(f"request {i + 1} did not use the first connection "
                                  f"(remote_port {j.get('remote_port')} vs {first_port}; "
                                  f"the server closed it after {r.header('Connection')!r})")
    finally:
        conn.close()


def case_static(ctx):
    htdocs = os.path.join(DEMO, "static", "htdocs")
    for target, fname, ctype in (("/static/", "index.html", "text/html"),
                                 ("/static/style.css", "style.css", "text/css")):
        with open(os.path.join(htdocs, fname), "rb") as f:
            want = f.read()
        r = request(ctx.http_port, "GET", target)
        check(r.status == 200, f"GET {target}: status {r.status}, body {r.body[:200]!r}")
        check(r.body == want, f"GET {target}: {len(r.body)} bytes differ from {fname} ({len(want)} bytes)")
        got = r.header("Content-Type") or ""
        check(got.startswith(ctype), f"GET {target}: Content-Type {got!r}, want {ctype}")
    r = request(ctx.http_port, "GET", "/static/big.bin", timeout=60)
    check(r.status == 200, f"GET /static/big.bin: status {r.status}")
    check(len(r.body) == len(BIG_STATIC) and r.body == BIG_STATIC,
          f"GET /static/big.bin: {len(r.body)} bytes, want {len(BIG_STATIC)} equal bytes")


def case_dead(ctx):
    r = request(ctx.dead_http_port, "GET", ctx.dead_target, timeout=40)
    check(r.status in ctx.dead_status,
          f"GET {ctx.dead_target} with the upstream down: status {r.status}, want {ctx.dead_status}")


def established_to(port):
    """Established TCP connections whose local end is 127.0.0.1:port (the
    server side of connections accepted on that port)."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "01" and int(local.split(":")[1], 16) == port:
                count += 1
    return count


def case_backend_reuse(ctx):
    """With fastcgi_keep_conn on, nginx keeps its connections to gatewayd
    open between requests (so gatewayd honoured FCGI_KEEP_CONN); with it
    off, gatewayd closes each one after END_REQUEST."""
    for i in range(20):
        r = request(ctx.http_port, "GET", f"{ctx.echo_prefix}/reuse?i={i}")
        check(r.status == 200, f"request {i + 1}: status {r.status}")
    if ctx.keep_conn:
        n = established_to(ctx.gatewayd_port)
        check(1 <= n <= 8, f"{n} established connections from nginx to gatewayd after 20 requests, want 1..8")
    else:
        deadline = time.monotonic() + 3
        while established_to(ctx.gatewayd_port) and time.monotonic() < deadline:
            time.sleep(0.05)
        n = established_to(ctx.gatewayd_port)
        check(n == 0, f"{n} connections to gatewayd still open without fastcgi_keep_conn")


def front_cases(big_post):
    cases = [
        ("get", case_get, 30),
        ("head", case_head, 30),
        ("index", case_index, 30),
        ("static", case_static, 30),
        ("chunked-upload", case_chunked, 60),
        ("keepalive-1000", case_keepalive, 120),
    ]
    if big_post:
        cases.append(("post-100mib", case_post_big, 180))
    cases.append(("dead-upstream", case_dead, 60))
    return cases


def parent_ctx(ws, **kw):
    """Defaults for a front that serves the demo parent dir at "/"."""
    kw.setdefault("echo_prefix", "/echo")
    kw.setdefault("echo_project", "echo")
    kw.setdefault("dead_target", "/echo/dead")
    kw.setdefault("origin", "fcgi")  # the protocol gatewayd was reached with
    return Ctx(ws, **kw)


# ---------------------------------------------------------------------------
# nginx: fastcgi_pass over TCP or a unix socket, with and without keep-conn


def nginx_setup(transport, keep_conn):
    def setup(ws):
        have("nginx")
        projects = ws.demo_projects()
        ctx = parent_ctx(ws, http_port=free_port(), dead_http_port=free_port(), dead_status=(502,),
                         keep_conn=keep_conn)
        if transport == "tcp":
            port = ctx.gatewayd_port = free_port()
            ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(port),
                                                 "-e", projects], port=port))
            addr = f"127.0.0.1:{port}"
        else:
            sock = ws.path("gatewayd-fcgi.sock")
            ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "--unix-socket", sock, "-e", projects],
                                            unix_path=sock))
            addr = f"unix:{sock}"
        site = fill_template("nginx-fastcgi.conf", {"HTTP_PORT": f"127.0.0.1:{ctx.http_port}",
                                                    "GATEWAYD_ADDR": addr,
                                                    "KEEP_CONN": "on" if keep_conn else "off"})
        ctx.procs.append(start_nginx(ws, site, ctx.http_port, ctx.dead_http_port))
        return ctx

    return setup


# ---------------------------------------------------------------------------
# lighttpd: mod_fastcgi spawning gatewayd (bin-path, listening socket on fd 0)


def case_lighttpd_single(ctx):
    """The /single mount: TRAC_ENV names one project; lighttpd sends
    SCRIPT_NAME=/single and PATH_INFO=the rest."""
    r = request(ctx.http_port, "GET", "/single/sub/path?x=1", headers={"X-Custom-Header": "single"})
    expect_echo(r, "GET /single/sub/path", project="echo", method="GET", script_name="/single",
                path_info="/sub/path", query="x=1")


def lighttpd_setup(ws):
    have("lighttpd")
    projects = ws.demo_projects()
    # lighttpd answers 503 when it cannot connect to a FastCGI backend.
    ctx = parent_ctx(ws, http_port=free_port(), dead_http_port=free_port(), dead_status=(503,))
    binary = ws.gatewayd_copy()
    site = fill_template("lighttpd-fastcgi.conf", {"GATEWAYD": binary, "SOCKET_DIR": ws.mkdir("sockets"),
                                                   "PROJECTS_DIR": projects,
                                                   "SINGLE_PROJECT_DIR": os.path.join(projects, "echo")})
    ctx.procs.append(start_lighttpd(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


# ---------------------------------------------------------------------------
# Apache: mod_proxy_fcgi to a gatewayd on TCP


def apache_proxy_setup(ws):
    have("apache2")
    projects = ws.demo_projects()
    # mod_proxy answers 503 when it cannot connect to the backend.
    ctx = parent_ctx(ws, http_port=free_port(), dead_http_port=free_port(), dead_status=(503,))
    port = free_port()
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(port), "-e", projects],
                                    port=port))
    site = fill_template("apache-proxy-fcgi.conf", {"HTTP_PORT": ctx.http_port,
                                                    "GATEWAYD_ADDR": f"127.0.0.1:{port}"})
    ctx.procs.append(start_apache(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


# ---------------------------------------------------------------------------
# Apache: mod_fcgid spawning gatewayd (listening unix socket on fd 0)

FCGID_GLOBAL = """FcgidIPCDir {dir}/fcgid
FcgidProcessTableFile {dir}/fcgid-shm
"""

FCGID_DEAD = """# Test-only: a mod_fcgid mount whose gatewayd cannot start (no such
# projects directory), so mod_fcgid has no backend to talk to.
Listen 127.0.0.1:{port}
<VirtualHost *:{port}>
    FcgidInitialEnv TRAC_ENV_PARENT_DIR {dir}/no-such-dir
    Alias / {binary}/
    <Location />
        SetHandler fcgid-script
        Options +ExecCGI
        Require all granted
    </Location>
</VirtualHost>
"""


def apache_fcgid_setup(ws):
    have("apache2")
    projects = ws.demo_projects()
    # mod_fcgid answers 500 ("End of script output before headers") when the
    # program it spawned exits without answering.
    ctx = parent_ctx(ws, http_port=free_port(), dead_http_port=free_port(), dead_status=(500,))
    binary = ws.gatewayd_copy()
    # FcgidIPCDir is left for mod_fcgid to create: it makes it owned by
    # Apache's user, which binds the sockets there.
    site = fill_template("apache-fcgid.conf", {"HTTP_PORT": ctx.http_port, "GATEWAYD": binary,
                                               "PROJECTS_DIR": projects})
    # The wrapper's own dead vhost (mod_proxy_fcgi to a closed port) is not
    # what this front is about: point dead_http_port at a fcgid mount instead.
    fcgid_dead_port = free_port()
    site += FCGID_DEAD.format(port=fcgid_dead_port, dir=ws.dir, binary=binary)
    ctx.procs.append(start_apache(ws, site, ctx.http_port, ctx.dead_http_port, modules=["fcgid"],
                                  extra=FCGID_GLOBAL.format(dir=ws.dir)))
    wait_until(lambda: tcp_accepts(fcgid_dead_port), 10, "apache2 on the fcgid dead port", proc=ctx.procs[-1])
    ctx.dead_http_port = fcgid_dead_port
    return ctx


# ---------------------------------------------------------------------------
# gatewayd's own HTTP/1.1 front end


def http_setup(ws):
    projects = ws.demo_projects()
    ctx = parent_ctx(ws, http_port=free_port(), dead_status=(502,), origin="http")
    ctx.procs.append(start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(ctx.http_port),
                                         "-e", projects], port=ctx.http_port))
    # The dead upstream here is a project whose http backend is down; it
    # lives in its own gatewayd so that the main one does not depend on the
    # http backend type.
    dead_dir = ws.mkdir("dead-projects", "dead")
    with open(os.path.join(dead_dir, "project.json"), "w") as f:
        f.write('{"backend": {"type": "http", "upstream": "127.0.0.1:%d", "connect_timeout_ms": 2000}}\n'
                % free_port())
    ctx.dead_http_port = free_port()
    ctx.dead_target = "/dead/x"
    ctx.dead_setup = lambda: ctx.procs.append(start_gatewayd(
        ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(ctx.dead_http_port), "-e", ws.path("dead-projects")],
        name="gatewayd-dead", port=ctx.dead_http_port))
    return ctx


def case_http_dead(ctx):
    ctx.dead_setup()
    case_dead(ctx)


def case_http_pipelined(ctx):
    """Two requests written at once on one connection: both answered, in order."""
    req = (f"GET {ctx.echo_prefix}/one HTTP/1.1\r\nHost: x\r\n\r\n"
           f"GET {ctx.echo_prefix}/two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", ctx.http_port), timeout=15) as s:
        s.sendall(req)
        data = bytearray()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    text = bytes(data)
    check(text.count(b"HTTP/1.1 200") == 2, f"want two 200 responses, got {text[:400]!r}")
    check(text.find(b'"/one"') < text.find(b'"/two"') and text.find(b'"/one"') >= 0,
          "responses out of order or paths missing")


def http_cases():
    cases = [c for c in front_cases(big_post=True) if c[0] != "dead-upstream"]
    cases.append(("pipelined", case_http_pipelined, 30))
    cases.append(("dead-upstream", case_http_dead, 60))
    return cases


def suites():
    out = []
    for transport in ("tcp", "unix"):
        for keep in (True, False):
            name = f"nginx-{transport}-{'keepconn' if keep else 'nokeep'}"
            # The 100 MiB upload runs once for nginx, on the TCP keep-conn pair.
            big = transport == "tcp" and keep
            cases = front_cases(big)
            if transport == "tcp":
                cases.insert(1, ("backend-connections", case_backend_reuse, 30))
            out.append(Suite(name, nginx_setup(transport, keep), cases))
    out.append(Suite("lighttpd-spawn", lighttpd_setup,
                     front_cases(True)[:1] + [("get-single", case_lighttpd_single, 30)] + front_cases(True)[1:]))
    out.append(Suite("apache-proxy-fcgi", apache_proxy_setup, front_cases(True)))
    out.append(Suite("apache-fcgid", apache_fcgid_setup, front_cases(True)))
    out.append(Suite("http", http_setup, http_cases()))
    return out

