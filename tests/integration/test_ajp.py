"""gatewayd's AJP13 front end: behind Apache mod_proxy_ajp (secret=, ping=)
and Apache mod_jk set up the way an IIS isapi_redirect install is
(workers.properties + uriworkermap.properties, ping_mode=A, a second worker
with 64 KiB packets), each from its template in packaging/examples/; and
hand-built AJP packets, good and bad, straight to gatewayd's port.

Between Apache's main worker and gatewayd sits a counting relay (ajp.Relay)
that proves what the web server did on the wire: how many AJP connections
it opened and how many CPINGs it sent and got answered.
"""

import hashlib
import json
import os
import socket
import subprocess
import time

import ajp
import test_fronts
import test_scgi
from servers import (APACHE_AUTH_MODULES, have, listening_addresses, start_apache, start_gatewayd, tcp_sockets,
                     write_htpasswd)
from support import (CRASH_MARKERS, Ctx, PatternBody, Skip, Suite, TestFailure, check, fill_template, free_port,
                     gatewayd_binary, make_world_readable, request, tcp_accepts, wait_until)

SECRET = "Correct0Horse1Battery2Staple3"
WRONG_SECRET = "NotTheSecret"
ALLOWED_ATTRIBUTE = "X_SITE_TAG"
CHUNKED_SIZE = 3 * 1024 * 1024 + 12345
MID_SIZE = 200 * 1024 + 17  # a response of 26 packets of 8 KiB
DOWNLOAD_SIZE = 3 * 1024 * 1024 + 5
# Apache and gatewayd both started once per suite; 1000 requests on one
# client connection may open at most this many AJP connections (one per
# Apache thread at worst), not one per request.
MAX_AJP_CONNECTIONS = 40


def pattern(size, seed):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def add_static_files(projects):
    """Files for the large-response cases, in the static project; returns
    {url: content}."""
    htdocs = os.path.join(projects, "static", "htdocs")
    files = {"/static/mid.bin": pattern(MID_SIZE, b"mid"),
             "/static/downloads/big.bin": pattern(DOWNLOAD_SIZE, b"download")}
    os.makedirs(os.path.join(htdocs, "downloads"), exist_ok=True)
    for url, data in files.items():
        with open(os.path.join(htdocs, url[len("/static/"):]), "wb") as f:
            f.write(data)
    make_world_readable(projects)
    return files


# ---------------------------------------------------------------------------
# Cases through Apache (the shared ones come from test_fronts / test_scgi)


def case_chunked_curl(ctx):
    """A chunked upload sent by curl: the web server forwards it without a
    Content-Length and gatewayd must ask for every packet (GET_BODY_CHUNK)
    until the empty one."""
    have("curl")
    body = PatternBody(CHUNKED_SIZE)
    path = ctx.ws.path("chunked-upload.bin")
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for b in body.blocks([65536, 1000, 300000]):
            f.write(b)
            h.update(b)
    out = ctx.ws.path("chunked-answer.json")
    r = subprocess.run(["curl", "-sS", "-o", out, "-w", "%{http_code}", "-H", "Transfer-Encoding: chunked",
                        "-H", "Expect:", "-H", "Content-Type: application/octet-stream", "--data-binary", "@" + path,
                        f"http://127.0.0.1:{ctx.http_port}/echo/chunked"], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, f"curl exited {r.returncode}: {r.stderr.strip()}")
    with open(out, "rb") as f:
        answer = f.read()
    check(r.stdout == "200", f"chunked upload: status {r.stdout}, body {answer[:300]!r}")
    j = json.loads(answer)
    check(j.get("origin") == "ajp" and j.get("path_info") == "/chunked", f"echo {j!r}")
    check(j.get("body_length") == CHUNKED_SIZE, f"body_length {j.get('body_length')}, want {CHUNKED_SIZE}")
    check(j.get("body_sha256") == h.hexdigest(), "body_sha256 differs from what curl sent")
    check(j.get("content_length") in (None, CHUNKED_SIZE), f"content_length = {j.get('content_length')!r}")
    os.unlink(path)


def case_mid_response(ctx):
    """A response of many packets (200 KiB; 8184 bytes per SEND_BODY_CHUNK
    at the default packet size), byte-exact."""
    want = ctx.files["/static/mid.bin"]
    r = request(ctx.http_port, "GET", "/static/mid.bin", timeout=30)
    check(r.status == 200, f"status {r.status}, body {r.body[:200]!r}")
    check(r.body == want, f"{len(r.body)} bytes differ from the {len(want)}-byte file")


def case_keepalive_reuse(ctx):
    """1000 requests on one client keep-alive connection: all answered,
    quickly, and over a handful of AJP connections (counted at the relay
    and at gatewayd's port), not one per request."""
    before = ctx.relay.counts()
    tw_before = tcp_sockets(ctx.gatewayd_port).get("TIME_WAIT", 0)
    t0 = time.monotonic()
    test_fronts.case_keepalive(ctx)
    elapsed = time.monotonic() - t0
    opened = ctx.relay.counts()["connections"] - before["connections"]
    check(opened <= MAX_AJP_CONNECTIONS,
          f"{opened} AJP connections opened for 1000 requests, want at most {MAX_AJP_CONNECTIONS}")
    sockets = tcp_sockets(ctx.gatewayd_port)
    closed = sockets.get("TIME_WAIT", 0) - tw_before
    check(closed <= MAX_AJP_CONNECTIONS, f"{closed} AJP connections closed (TIME_WAIT) during 1000 requests")
    check(sockets.get("ESTABLISHED", 0) >= 2, f"no AJP connection kept open after the requests: {sockets}")
    check(elapsed < 60, f"1000 requests took {elapsed:.1f}s")


def case_cping(ctx):
    """The web server's CPING health checks (mod_jk ping_mode=A,
    mod_proxy_ajp ping=): one before each request, every one answered with
    a CPONG, and the requests served."""
    before = ctx.relay.counts()
    for i in range(5):
        r = request(ctx.http_port, "GET", f"/echo/ping?i={i}")
        check(r.status == 200, f"request {i + 1}: status {r.status}")
    wait_until(lambda: ctx.relay.counts()["cpongs"] >= ctx.relay.counts()["cpings"], 5, "CPONGs for every CPING")
    after = ctx.relay.counts()
    pings = after["cpings"] - before["cpings"]
    pongs = after["cpongs"] - before["cpongs"]
    forwarded = after["forward_requests"] - before["forward_requests"]
    check(forwarded == 5, f"{forwarded} Forward Requests crossed the relay for 5 requests")
    check(pings >= forwarded, f"{pings} CPINGs for {forwarded} requests, want one before each")
    check(pongs == pings, f"{pings} CPINGs but {pongs} CPONGs")
    check(not ctx.relay.errors, f"relay: {ctx.relay.errors[:3]}")


def case_wrong_secret(ctx):
    """A web server configured with another secret: gatewayd refuses every
    request (the client sees 403, or a 5xx from the web server) and logs
    why; the correctly configured path keeps working."""
    r = request(ctx.wrong_port, "GET", ctx.wrong_target)
    check(r.status == 403 or 500 <= r.status <= 599, f"wrong secret: status {r.status}, want 403 or 5xx")
    check(b"body_sha256" not in r.body, f"wrong secret: the echo project answered: {r.body[:200]!r}")
    wait_until(lambda: "secret" in ctx.gatewayd.log_text_since_mark(), 5, "gatewayd to log the refused secret")
    r = request(ctx.http_port, "GET", "/echo/after-wrong-secret")
    check(r.status == 200, f"request with the right secret afterwards: status {r.status}")


def ajp_front_cases():
    return [
        ("get", test_fronts.case_get, 30),
        ("head", test_fronts.case_head, 30),
        ("index", test_fronts.case_index, 30),
        ("static", test_fronts.case_static, 60),
        ("response-200kib", case_mid_response, 30),
        ("chunked-upload-curl", case_chunked_curl, 60),
        ("remote-user", test_scgi.case_remote_user, 30),
        ("cping", case_cping, 30),
        ("keepalive-1000", case_keepalive_reuse, 120),
        ("wrong-secret", case_wrong_secret, 30),
        ("post-100mib", test_fronts.case_post_big, 180),
    ]


def front_ctx(ws, projects):
    ctx = Ctx(ws, http_port=free_port(), dead_http_port=free_port(), wrong_port=free_port(), echo_prefix="/echo",
              echo_project="echo", origin="ajp", projects=projects)
    ctx.files = add_static_files(projects)
    ctx.gatewayd_port = free_port()
    return ctx


def start_relay(ws, ctx):
    ctx.relay = ajp.Relay(ctx.gatewayd_port)
    # Closed with the suite's processes (a Proc-like object for stop_all).
    ws.procs.append(_RelayHandle(ctx.relay))


class _RelayHandle:
    name = "ajp-relay"

    def __init__(self, relay):
        self.relay = relay

    def stop(self, timeout=0):
        self.relay.close()

    def crash_report(self, since_mark=False):
        return []

    def log_tail(self, *a, **kw):
        return [f"[ajp-relay] {e}" for e in self.relay.errors[-5:]]


# ---------------------------------------------------------------------------
# Apache mod_proxy_ajp

WRONG_SECRET_VHOST = """
# Test-only: a second mount to the same gatewayd with the wrong secret.
Listen 127.0.0.1:{port}
<VirtualHost *:{port}>
    ProxyPass / ajp://127.0.0.1:{gateway_port}/ secret={secret}
</VirtualHost>
"""


def proxy_ajp_setup(ws):
    have("apache2")
    projects = ws.demo_projects()
    ctx = front_ctx(ws, projects)
    ctx.gatewayd = start_gatewayd(ws, ["--protocol=ajp", "-p", str(ctx.gatewayd_port), "--ajp-secret", SECRET,
                                       "-e", projects], port=ctx.gatewayd_port)
    ctx.procs.append(ctx.gatewayd)
    start_relay(ws, ctx)
    site = fill_template("apache-proxy-ajp.conf", {"HTTP_PORT": ctx.http_port,
                                                   "GATEWAYD_ADDR": f"127.0.0.1:{ctx.relay.port}",
                                                   "AJP_SECRET": SECRET, "HTPASSWD": write_htpasswd(ws)})
    site += WRONG_SECRET_VHOST.format(port=ctx.wrong_port, gateway_port=ctx.gatewayd_port,
                                      secret=WRONG_SECRET)
    ctx.wrong_target = "/echo/wrong-secret"
    apache = start_apache(ws, site, ctx.http_port, ctx.dead_http_port, modules=["proxy_ajp"] + APACHE_AUTH_MODULES)
    ctx.procs.append(apache)
    wait_until(lambda: tcp_accepts(ctx.wrong_port), 10, "apache2 on the wrong-secret port", proc=apache)
    return ctx


# ---------------------------------------------------------------------------
# Apache mod_jk, configured as an IIS isapi_redirect install

WRONG_SECRET_WORKER = """
# Test-only: a worker to the same gatewayd with the wrong secret.
worker.list=gatewayd_wrong
worker.gatewayd_wrong.type=ajp13
worker.gatewayd_wrong.host=127.0.0.1
worker.gatewayd_wrong.port={port}
worker.gatewayd_wrong.secret={secret}
"""


def jk_setup(ws):
    have("apache2")
    if not os.path.exists("/usr/lib/apache2/modules/mod_jk.so"):
        raise Skip("libapache2-mod-jk not installed")
    projects = ws.demo_projects()
    ctx = front_ctx(ws, projects)
    ctx.big_port = free_port()
    # One gatewayd, two AJP listeners from a config file: 8 KiB and 64 KiB packets.
    conf = ws.write("gatewayd.json", json.dumps({
        "listeners": [
            {"protocol": "ajp", "host": "127.0.0.1", "port": ctx.gatewayd_port, "secret": SECRET},
            {"protocol": "ajp", "host": "127.0.0.1", "port": ctx.big_port, "secret": SECRET, "packet_size": 65536},
        ],
        "env_parent_dir": projects,
    }, indent=2))
    ctx.gatewayd = start_gatewayd(ws, ["--config", conf], port=ctx.gatewayd_port)
    ctx.procs.append(ctx.gatewayd)
    wait_until(lambda: tcp_accepts(ctx.big_port), 10, "gatewayd's 64 KiB AJP listener", proc=ctx.gatewayd)
    start_relay(ws, ctx)
    workers = fill_template("workers.properties", {"AJP_HOST": "127.0.0.1", "AJP_PORT": ctx.relay.port,
                                                   "AJP_BIG_PORT": ctx.big_port, "AJP_SECRET": SECRET})
    workers += WRONG_SECRET_WORKER.format(port=ctx.gatewayd_port, secret=WRONG_SECRET)
    mounts = fill_template("uriworkermap.properties", {})
    mounts += "\n# Test-only: the wrong-secret worker.\n/echo/wrong-secret/*=gatewayd_wrong\n"
    jk_log = ws.path("mod_jk.log")
    site = fill_template("apache-mod-jk.conf", {
        "HTTP_PORT": ctx.http_port, "WORKERS_FILE": ws.write("workers.properties", workers),
        "URIWORKERMAP_FILE": ws.write("uriworkermap.properties", mounts), "JK_LOG_FILE": jk_log,
        "JK_SHM_FILE": ws.path("jk-runtime-status"), "HTPASSWD": write_htpasswd(ws)})
    # The wrong-secret worker is reached through the main virtual host.
    ctx.wrong_port = ctx.http_port
    ctx.wrong_target = "/echo/wrong-secret/x"
    # A request header of 16 KiB for the 64 KiB-packet case (Apache's own
    # limit is 8 KiB).
    apache = start_apache(ws, site, ctx.http_port, ctx.dead_http_port, modules=["jk"] + APACHE_AUTH_MODULES,
                          extra="LimitRequestFieldSize 65536")
    apache.extra_logs.append(jk_log)
    ctx.procs.append(apache)
    return ctx


def case_big_packet_download(ctx):
    """/*/downloads/* goes to the 64 KiB-packet worker: a 3 MiB file
    arrives byte-exact, over a connection to gatewayd's 64 KiB listener."""
    want = ctx.files["/static/downloads/big.bin"]
    r = request(ctx.http_port, "GET", "/static/downloads/big.bin", timeout=30)
    check(r.status == 200, f"status {r.status}, body {r.body[:200]!r}")
    check(r.body == want, f"{len(r.body)} bytes differ from the {len(want)}-byte file")
    established = tcp_sockets(ctx.big_port).get("ESTABLISHED", 0)
    check(established >= 2, f"no connection to the 64 KiB listener (port {ctx.big_port}) after the download")


def case_big_packet_header(ctx):
    """A 16 KiB request header fits only in 64 KiB packets: through the
    gatewayd_big worker it reaches the echo project whole, which proves
    both ends use 64 KiB packets."""
    value = "".join(chr(ord("a") + i % 26) for i in range(16 * 1024))
    r = request(ctx.http_port, "GET", "/echo/downloads/with-big-header", headers={"X-Big": value}, timeout=30)
    j = test_fronts.expect_echo(r, "16 KiB header via the 64 KiB worker", origin="ajp",
                                path_info="/downloads/with-big-header")
    got = {str(k).lower(): v for k, v in j.get("headers") or []}.get("x-big") or ""
    check(got == value, f"X-Big arrived with {len(got)} bytes, want {len(value)}")


def jk_cases():
    return ajp_front_cases() + [("big-packet-download", case_big_packet_download, 30),
                                ("big-packet-16kib-header", case_big_packet_header, 30)]


# ---------------------------------------------------------------------------
# Raw AJP13 straight to gatewayd


def raw_setup(ws):
    projects = ws.demo_projects()
    ctx = Ctx(ws, port=free_port(), big_port=free_port(), projects=projects)
    ctx.files = add_static_files(projects)
    # No --hostname: AJP must listen on 127.0.0.1 only.
    ctx.gatewayd = start_gatewayd(ws, ["--protocol=ajp", "-p", str(ctx.port), "--ajp-secret", SECRET,
                                       "--ajp-allow-attribute", ALLOWED_ATTRIBUTE, "-e", projects], port=ctx.port)
    ctx.procs.append(ctx.gatewayd)
    ctx.procs.append(start_gatewayd(ws, ["--protocol=ajp", "-b", "127.0.0.1", "-p", str(ctx.big_port),
                                         "--ajp-packet-size", "65536", "-e", projects], name="gatewayd-64k",
                                    port=ctx.big_port))
    return ctx


def fwd(**kw):
    """A Forward Request as mod_jk sends it, with the right secret."""
    kw.setdefault("secret", SECRET)
    kw.setdefault("attributes", [("AJP_REMOTE_PORT", "40000"), ("AJP_LOCAL_ADDR", "127.0.0.1"),
                                 ("JK_LB_ACTIVATION", "ACT")])
    headers = list(kw.pop("headers", [("Host", "localhost")]))
    if "body_length" in kw:
        headers.append(("Content-Length", str(kw.pop("body_length"))))
    return ajp.forward_request(headers=headers, **kw)


def echo_of(resp, what):
    check(resp.status == 200, f"{what}: status {resp.status}, body {bytes(resp.body[:200])!r}")
    try:
        return json.loads(bytes(resp.body))
    except ValueError:
        raise TestFailure(f"{what}: body is not JSON: {bytes(resp.body[:200])!r}")


def raw_call(port, packet, what, **kw):
    try:
        with ajp.Conn(port, packet_size=kw.pop("packet_size", ajp.DEFAULT_PACKET_SIZE)) as c:
            return c.exchange(packet, **kw)
    except (OSError, ValueError, TimeoutError) as e:
        raise TestFailure(f"{what}: {type(e).__name__}: {e}")


def normal_request(ctx, what="follow-up request"):
    r = raw_call(ctx.port, fwd(uri="/echo/health", query="ok=1"), what)
    j = echo_of(r, what)
    check(j.get("origin") == "ajp" and j.get("path_info") == "/health" and j.get("query") == "ok=1",
          f"{what}: unexpected echo {j!r}")


def expect_closed(ctx, data, what, answer_statuses=(400,), timeout=5):
    """Sends `data`; gatewayd must close the connection within `timeout`,
    having sent nothing or one error answer (SEND_HEADERS with a status in
    answer_statuses + END_RESPONSE reuse=0). Then a normal request works."""
    with ajp.Conn(ctx.port) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        check(c.closed_within(timeout), f"{what}: connection still open after {timeout}s")
        got = bytes(c.last_unread)
    check_error_answer(got, what, answer_statuses)
    normal_request(ctx, f"request after {what}")


def check_error_answer(got, what, statuses=range(400, 600)):
    """`got` (all gatewayd sent before closing) is nothing, or one error
    answer: SEND_HEADERS with a status in `statuses`, then
    END_RESPONSE(reuse=0); never a served request."""
    if not got:
        return
    check(got.startswith(b"AB") and len(got) >= 7 and got[4] == ajp.SEND_HEADERS,
          f"{what}: answered with {got[:40]!r}, not an AJP SEND_HEADERS")
    status = int.from_bytes(got[5:7], "big")
    check(status in statuses, f"{what}: answered with status {status}, want {statuses} or a close")
    check(got.endswith(b"AB\x00\x02\x05\x00"), f"{what}: the answer does not end with END_RESPONSE(reuse=0): "
                                                 f"{got[-20:]!r}")
    check(b"body_sha256" not in got, f"{what}: served as if fine")


def case_raw_get(ctx):
    r = raw_call(ctx.port, fwd(uri="/echo/a%20b/c", query="x=1&y=%20z", remote_user="bob", auth_type="Basic",
                               headers=[("Host", "localhost"), ("User-Agent", "ajp-test"), ("X-Custom-Header", "v 1")],
                               server_port=8081), "GET")
    j = echo_of(r, "GET")
    for key, want in (("origin", "ajp"), ("method", "GET"), ("script_name", "/echo"), ("path_info", "/a b/c"),
                      ("query", "x=1&y=%20z"), ("target", "/echo/a%20b/c?x=1&y=%20z"), ("remote_user", "bob"),
                      ("auth_type", "Basic"), ("server_port", 8081), ("remote_port", 40000), ("https", False)):
        check(j.get(key) == want, f"{key} = {j.get(key)!r}, want {want!r}")
    headers = {str(k).lower(): v for k, v in j.get("headers") or []}
    check(headers.get("user-agent") == "ajp-test" and headers.get("x-custom-header") == "v 1",
          f"headers {j.get('headers')!r}")
    check(r.reuse == 1, f"END_RESPONSE reuse={r.reuse} after a normal request, want 1")
    check("json" in (r.header("Content-Type") or ""), f"Content-Type {r.header('Content-Type')!r}")
    length = r.header("Content-Length")
    check(length is None or int(length) == len(r.body), f"Content-Length {length} for {len(r.body)} bytes")


def case_raw_head(ctx):
    r = raw_call(ctx.port, fwd(method="HEAD", uri="/echo/head"), "HEAD")
    check(r.status == 200, f"HEAD: status {r.status}")
    check(not r.body and r.chunks == 0, f"HEAD answered with {len(r.body)} body bytes")
    check(r.reuse == 1, f"HEAD: reuse={r.reuse}")


def case_raw_keepalive_and_cping(ctx):
    with ajp.Conn(ctx.port) as c:
        check(c.cping(), "no CPONG for a CPING on a new connection")
        for i in range(3):
            r = c.exchange(fwd(uri=f"/echo/ka{i}"))
            j = echo_of(r, f"request {i + 1} on one connection")
            check(j.get("path_info") == f"/ka{i}" and r.reuse == 1, f"request {i + 1}: {j.get('path_info')}, "
                                                                     f"reuse={r.reuse}")
            check(c.cping(), f"no CPONG for the CPING after request {i + 1}")


def case_raw_post(ctx):
    body = pattern(100 * 1024 + 3, b"post")
    r = raw_call(ctx.port, fwd(method="POST", uri="/echo/post", body_length=len(body)), "POST 100 KiB", body=body)
    j = echo_of(r, "POST 100 KiB")
    check(j.get("body_length") == len(body) and j.get("body_sha256") == hashlib.sha256(body).hexdigest(),
          f"body_length {j.get('body_length')}, sha {j.get('body_sha256')}")
    check(j.get("content_length") == len(body), f"content_length {j.get('content_length')!r}")
    # 8186 bytes per packet: the first one unasked, the rest asked for.
    check(len(r.body_requests) >= len(body) // 8186, f"only {len(r.body_requests)} GET_BODY_CHUNKs")
    check(all(0 < n <= 8186 for n in r.body_requests), f"GET_BODY_CHUNK lengths {sorted(set(r.body_requests))}")


def case_raw_chunked(ctx):
    body = pattern(50000, b"chunked")
    pieces = [body[i:i + 7000] for i in range(0, len(body), 7000)]
    r = raw_call(ctx.port, fwd(method="POST", uri="/echo/chunked",
                               headers=[("Host", "localhost"), ("Transfer-Encoding", "chunked")]),
                 "POST without Content-Length", body=pieces, chunked=True)
    j = echo_of(r, "POST without Content-Length")
    check(j.get("body_length") == len(body) and j.get("body_sha256") == hashlib.sha256(body).hexdigest(),
          f"body_length {j.get('body_length')}")
    check(j.get("content_length") is None, f"content_length {j.get('content_length')!r}, want null")
    check(r.body_requests, "no GET_BODY_CHUNK: the body of unknown length was never asked for")


def case_raw_packets_8k(ctx):
    want = ctx.files["/static/mid.bin"]
    r = raw_call(ctx.port, fwd(uri="/static/mid.bin"), "GET 200 KiB")
    check(r.status == 200 and bytes(r.body) == want, f"status {r.status}, {len(r.body)} bytes (want {len(want)})")
    check(r.largest_packet <= 8192, f"a {r.largest_packet}-byte packet on an 8 KiB listener")
    check(r.chunks >= len(want) // 8184, f"{r.chunks} SEND_BODY_CHUNKs for {len(want)} bytes")


def case_raw_packets_64k(ctx):
    want = ctx.files["/static/downloads/big.bin"]
    r = raw_call(ctx.big_port, fwd(uri="/static/downloads/big.bin", secret=None), "GET 3 MiB", packet_size=65536)
    check(r.status == 200 and bytes(r.body) == want, f"status {r.status}, {len(r.body)} bytes (want {len(want)})")
    check(8192 < r.largest_packet <= 65536,
          f"largest packet {r.largest_packet} bytes with --ajp-packet-size 65536, want 8193..65536")
    # A Forward Request over 8 KiB (a 20 KiB header) fits in a 64 KiB packet.
    value = "h" * 20000
    r = raw_call(ctx.big_port, fwd(uri="/echo/bighead", secret=None, headers=[("Host", "x"), ("X-Big", value)]),
                 "20 KiB header", packet_size=65536)
    j = echo_of(r, "20 KiB header on the 64 KiB listener")
    headers = {str(k).lower(): v for k, v in j.get("headers") or []}
    check(headers.get("x-big") == value, "X-Big lost or cut")


def case_raw_default_bind(ctx):
    addrs = listening_addresses(ctx.port)
    check(addrs == ["127.0.0.1"], f"--protocol=ajp without --hostname listens on {addrs}, want only 127.0.0.1")


def case_cping_cpong(ctx):
    with ajp.Conn(ctx.port) as c:
        c.send(ajp.CPING_PACKET)
        c.sock.settimeout(5)
        p = c.read_packet()
        check(p == bytes([ajp.CPONG]), f"answer to CPING: {p!r}, want CPONG (09)")
        c.send(ajp.CPING_PACKET * 3)
        for i in range(3):
            p = c.read_packet()
            check(p == bytes([ajp.CPONG]), f"answer to pipelined CPING {i + 1}: {p!r}")
        r = c.exchange(fwd(uri="/echo/after-cping"))
        echo_of(r, "request after CPINGs on the same connection")


def case_wrong_magic(ctx):
    expect_closed(ctx, b"\x12\x35\x00\x01\x0a", "a packet with magic 12 35")
    expect_closed(ctx, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP on the AJP port", answer_statuses=(400,))


def case_oversized_packet(ctx):
    # Announced 65520 bytes on an 8 KiB listener: refused from the header,
    # without waiting for the payload.
    expect_closed(ctx, b"\x12\x34\xff\xf0\x02\x02", "a packet announcing 65520 bytes")
    expect_closed(ctx, b"\x12\x34\x20\x00\x02\x02", "a packet announcing 8192 bytes (over 8188)")


def case_truncated_forward(ctx):
    payload = ajp.forward_request_payload(uri="/echo/truncated", headers=[("Host", "localhost")], secret=SECRET)
    cut = payload[:len(payload) // 2]  # ends inside a string: the packet length is honest
    expect_closed(ctx, ajp.packet(cut), "a Forward Request cut in the middle of a string")
    # The packet header promises more than arrives before EOF.
    with ajp.Conn(ctx.port) as c:
        c.send(ajp.packet(payload)[:20])
        c.sock.shutdown(socket.SHUT_WR)
        check(c.closed_within(5), "a packet cut by EOF: connection still open after 5s")
        check(b"body_sha256" not in bytes(c.last_unread), "a cut packet was served")
    normal_request(ctx, "request after a packet cut by EOF")


def case_bad_method(ctx):
    payload = bytearray(ajp.forward_request_payload(uri="/echo/m", headers=[("Host", "x")], secret=SECRET))
    payload[1] = 0  # no method has code 0
    expect_closed(ctx, ajp.packet(bytes(payload)), "method code 0", answer_statuses=(400, 500, 501))


def case_disallowed_attribute(ctx):
    """Ghostcat: javax.servlet.include.request_uri is not on the allowlist:
    403, the connection closed, and the path is not served."""
    attrs = [("AJP_REMOTE_PORT", "1"), ("javax.servlet.include.request_uri", "/WEB-INF/web.xml")]
    with ajp.Conn(ctx.port) as c:
        r = c.exchange(fwd(uri="/echo/ghost", attributes=attrs))
        check(r.status == 403, f"status {r.status}, want 403; body {bytes(r.body[:200])!r}")
        check(b"body_sha256" not in r.body, "the echo project answered a refused request")
        check(r.reuse == 0, f"END_RESPONSE reuse={r.reuse} after a refusal, want 0")
        check(c.closed_within(5), "connection still open 5s after a refused request")
    wait_until(lambda: "javax.servlet.include.request_uri" in ctx.gatewayd.log_text_since_mark(), 5,
               "gatewayd to log the refused attribute")
    normal_request(ctx, "request after the refused attribute")


def case_allowed_attribute(ctx):
    r = raw_call(ctx.port, fwd(uri="/echo/tagged", attributes=[("AJP_REMOTE_PORT", "1"),
                                                             (ALLOWED_ATTRIBUTE, "blue")]),
                 "--ajp-allow-attribute name")
    echo_of(r, f"request with attribute {ALLOWED_ATTRIBUTE} (allowed by --ajp-allow-attribute)")


def case_secret(ctx):
    for secret, what in ((None, "no secret"), (WRONG_SECRET, "a wrong secret"),
                         (SECRET[:-1], "a prefix of the secret")):
        with ajp.Conn(ctx.port) as c:
            r = c.exchange(fwd(uri="/echo/secret", secret=secret))
            check(r.status == 403, f"{what}: status {r.status}, want 403")
            check(b"body_sha256" not in r.body, f"{what}: the echo project answered")
            check(r.reuse == 0 and c.closed_within(5), f"{what}: connection not closed (reuse={r.reuse})")
    wait_until(lambda: "secret" in ctx.gatewayd.log_text_since_mark(), 5, "gatewayd to log the refusals")
    normal_request(ctx, "request with the right secret")


def case_refused_body_drained(ctx):
    """A refused POST's body is still read exactly: the 403 comes, and the
    body packets do not turn into requests."""
    body = b"x" * 20000
    with ajp.Conn(ctx.port) as c:
        r = c.exchange(fwd(method="POST", uri="/echo/refused-post", secret=WRONG_SECRET, body_length=len(body)),
                       body=body)
        check(r.status == 403, f"status {r.status}, want 403")
    normal_request(ctx)


def case_shutdown_ignored(ctx):
    """SHUTDOWN (type 7) must never stop gatewayd: the connection closes,
    the daemon serves on."""
    with ajp.Conn(ctx.port) as c:
        c.send(ajp.packet(bytes([ajp.SHUTDOWN])))
        check(c.closed_within(5), "connection still open 5s after SHUTDOWN")
    time.sleep(0.3)
    check(ctx.gatewayd.alive(), "gatewayd exited on an AJP SHUTDOWN packet")
    normal_request(ctx, "request after SHUTDOWN")


def case_body_aborted(ctx):
    """mod_jk's client abort: an empty body packet before Content-Length is
    reached. The request is not served; the connection closes (after at
    most an error answer); the daemon serves on."""
    with ajp.Conn(ctx.port) as c:
        c.send(fwd(method="POST", uri="/echo/aborted", body_length=20000) + ajp.body_packet(b"a" * 8186))
        c.sock.settimeout(5)
        p = c.read_packet()
        check(p is not None and p[0] == ajp.GET_BODY_CHUNK, f"after the first body packet: {p!r}, want GET_BODY_CHUNK")
        c.send(ajp.EMPTY_BODY_PACKET)
        check(c.closed_within(5), "connection still open 5s after an aborted body")
        check_error_answer(bytes(c.last_unread), "aborted body")
    normal_request(ctx, "request after an aborted body")


def case_body_over_length(ctx):
    """A body packet carrying more than Content-Length: an error, never a
    served request, and the extra bytes never parsed as a new request."""
    smuggled = fwd(uri="/echo/smuggled")
    with ajp.Conn(ctx.port) as c:
        c.send(fwd(method="POST", uri="/echo/over", body_length=10) + ajp.body_packet(b"0123456789" + smuggled))
        check(c.closed_within(5), "connection still open 5s after a body over Content-Length")
        got = bytes(c.last_unread)
        check_error_answer(got, "body over Content-Length")
        check(b"/smuggled" not in got, "the bytes after Content-Length were served as a request")
    normal_request(ctx, "request after a body over Content-Length")


def case_client_gone_mid_response(ctx):
    """The web server drops the connection while a 20 MiB response is being
    written (closed, then reset): gatewayd cleans up and serves on."""
    for reset in (False, True):
        with ajp.Conn(ctx.port) as c:
            c.send(fwd(uri="/static/big.bin"))
            c.sock.settimeout(5)
            got = 0
            while got < 100000:
                chunk = c.sock.recv(65536)
                check(chunk, "connection closed before 100 KB of the response")
                got += len(chunk)
            if reset:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        normal_request(ctx, f"request after a client {'reset' if reset else 'close'} mid-response")


ESCAPES = ["/echo/..%2Fstatic/style.css", "/echo/x%2F..%2F..%2Fstatic/style.css",
           "/echo/%2E%2E%2Fstatic/style.css"]


def case_encoded_slash_stays_in_project(ctx):
    """An encoded slash is data inside a segment, not a separator: a
    req_uri whose first segment is "echo" must never be answered by another
    project because "%2F.." was decoded and then resolved as a parent step
    (the HTTP, FastCGI and SCGI fronts answer these 400)."""
    for target in ESCAPES:
        r = raw_call(ctx.port, fwd(uri=target), target)
        check(r.status in (400, 404) or b'"project": "echo"' in bytes(r.body),
              f"{target}: status {r.status}, {r.header('Content-Type')!r}: answered outside the project "
              f"the first segment names: {bytes(r.body[:60])!r}")


def case_non_loopback_refused(ctx):
    """A non-loopback AJP listener without a secret does not start (exit
    status 2 with a message naming the way out); with --ajp-insecure or a
    secret the same configuration passes --check-config."""
    port = free_port()
    binary = gatewayd_binary()
    base = [binary, "--protocol=ajp", "-b", "0.0.0.0", "-p", str(port), "-e", ctx.projects]
    r = run_bounded(base)
    check(r.returncode == 2, f"AJP on 0.0.0.0 without a secret: exit status {r.returncode}, want 2; {r.err!r}")
    check("secret" in r.err.lower() and "insecure" in r.err.lower(),
          f"the message names neither --ajp-secret nor --ajp-insecure: {r.err.strip()!r}")
    check(not tcp_accepts(port), f"port {port} accepts although gatewayd refused to start")
    conf = ctx.ws.write("nonloopback.json", json.dumps({
        "listeners": [{"protocol": "ajp", "host": "0.0.0.0", "port": port}], "env_parent_dir": ctx.projects}))
    r = run_bounded([binary, "--config", conf])
    check(r.returncode == 2, f"config listener on 0.0.0.0 without a secret: exit status {r.returncode}, want 2; "
                             f"{r.err!r}")
    for extra in (["--ajp-insecure"], ["--ajp-secret", SECRET]):
        r = run_bounded(base[:1] + ["--check-config"] + base[1:] + extra)
        check(r.returncode == 0, f"--check-config with {extra[0]}: exit status {r.returncode}: {r.err.strip()!r}")


def run_bounded(argv, timeout=10):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{' '.join(argv[1:])}: still running after {timeout}s")
    r.err = (r.stdout + r.stderr).decode("utf-8", "replace")
    for line in r.err.splitlines():
        check(not CRASH_MARKERS.search(line), f"crash report: {line}")
    return r


RAW_CASES = [
    ("get", case_raw_get, 20),
    ("head", case_raw_head, 20),
    ("keepalive-and-cping", case_raw_keepalive_and_cping, 20),
    ("post-100kib-get-body-chunk", case_raw_post, 30),
    ("post-unknown-length", case_raw_chunked, 30),
    ("response-packets-8k", case_raw_packets_8k, 30),
    ("response-packets-64k", case_raw_packets_64k, 30),
    ("default-bind-loopback", case_raw_default_bind, 10),
    ("cping-cpong", case_cping_cpong, 20),
    ("wrong-magic", case_wrong_magic, 30),
    ("oversized-packet-length", case_oversized_packet, 30),
    ("truncated-forward-request", case_truncated_forward, 30),
    ("bad-method-code", case_bad_method, 30),
    ("disallowed-attribute-403", case_disallowed_attribute, 30),
    ("allowed-attribute", case_allowed_attribute, 20),
    ("secret-missing-or-wrong-403", case_secret, 30),
    ("refused-post-body-drained", case_refused_body_drained, 20),
    ("shutdown-ignored", case_shutdown_ignored, 20),
    ("body-aborted", case_body_aborted, 20),
    ("body-over-content-length", case_body_over_length, 20),
    ("client-gone-mid-response", case_client_gone_mid_response, 30),
    ("encoded-slash-stays-in-project", case_encoded_slash_stays_in_project, 20),
    ("non-loopback-needs-secret", case_non_loopback_refused, 40),
]


def suites():
    return [
        Suite("ajp-raw", raw_setup, RAW_CASES),
        Suite("ajp-apache-proxy", proxy_ajp_setup, ajp_front_cases()),
        Suite("ajp-apache-jk", jk_setup, jk_cases()),
    ]
