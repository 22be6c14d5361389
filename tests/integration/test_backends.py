"""The fastcgi, scgi and cgi backends through a running gatewayd, with no
other peer: the apps behind them are gatewayd itself (its echo project on a
FastCGI unix socket and on an SCGI port) and a /bin/sh CGI script. Checks
the path split, the variables, 10 MiB bodies by sha256 and the error
answers when the app is down. Real app servers (PHP-FPM, uWSGI) come in
later suites.
"""

import json
import os

from servers import start_gatewayd
from support import Ctx, PatternBody, Suite, check, dead_port, free_port, pid_alive, request, wait_until

CGI_SCRIPT = r"""#!/bin/sh
printf 'Status: 201 Created\r\nContent-Type: text/plain\r\nX-Seen: %s\r\n\r\n' "$HTTP_X_TRACE"
echo "method=$REQUEST_METHOD script=$SCRIPT_NAME path=$PATH_INFO query=$QUERY_STRING"
echo "len=$CONTENT_LENGTH lc=$LC_TIME proxy=${HTTP_PROXY:-none} home=${HOME:-none}"
sha256sum | cut -d' ' -f1
"""

# Sleeps past its project's timeout, with a grandchild in its process group;
# both write their pids where the test can find them.
SLOW_CGI_SCRIPT = r"""#!/bin/sh
sleep 60 &
echo "$$ $!" > "$PIDS_FILE"
sleep 60
"""

BODY = PatternBody(10 * 1024 * 1024 + 3)


def setup(ws):
    fcgi_sock = ws.path("app-fcgi.sock")
    scgi_port = free_port()
    http_port = free_port()
    app_projects = ws.demo_projects()
    parent = ws.mkdir("front")
    for name, cfg in {
        "viafcgi": {"backend": {"type": "fastcgi", "upstream": "unix:" + fcgi_sock,
                                "params": {"X_DEPLOYMENT": "test"}}},
        "viascgi": {"backend": {"type": "scgi", "upstream": f"127.0.0.1:{scgi_port}"}},
        "deadfcgi": {"backend": {"type": "fastcgi", "upstream": f"127.0.0.1:{dead_port()}"}},
        "cgi": {"backend": {"type": "cgi", "script": "app.cgi", "timeout_ms": 20000,
                            "env": {"LC_TIME": "C"}}},
        "slowcgi": {"backend": {"type": "cgi", "script": "slow.cgi", "timeout_ms": 1000,
                                "env": {"PIDS_FILE": ws.path("slow.pids")}}},
    }.items():
        ws.mkdir("front", name)
        ws.write(os.path.join("front", name, "project.json"), json.dumps(cfg))
    ws.write(os.path.join("front", "cgi", "app.cgi"), CGI_SCRIPT, mode=0o755)
    ws.write(os.path.join("front", "slowcgi", "slow.cgi"), SLOW_CGI_SCRIPT, mode=0o755)
    ctx = Ctx(ws, port=http_port)
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "--unix-socket", fcgi_sock, "-s",
                                         os.path.join(app_projects, "echo")],
                                    name="app-fcgi", unix_path=fcgi_sock))
    ctx.procs.append(start_gatewayd(ws, ["--protocol=scgi", "-p", str(scgi_port), "-s",
                                         os.path.join(app_projects, "echo")],
                                    name="app-scgi", port=scgi_port))
    ctx.procs.append(start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(http_port),
                                         "-e", parent], name="front", port=http_port))
    return ctx


def echo_via(ctx, project, origin):
    r = request(ctx.port, "GET", f"/{project}/a%20b/c?q=1", headers={"X-Trace": "t1", "Proxy": "evil"})
    check(r.status == 200, f"{project}: {r}")
    j = r.json()
    check(j["origin"] == origin, f"{project}: origin {j['origin']}")
    check(j["script_name"] == f"/{project}" and j["path_info"] == "/a b/c",
          f"{project}: split {j['script_name']!r} {j['path_info']!r}")
    check(j["query"] == "q=1", f"{project}: query {j['query']!r}")
    headers = dict((k.lower(), v) for k, v in j["headers"])
    check(headers.get("x-trace") == "t1", f"{project}: headers {j['headers']}")
    check("proxy" not in headers, f"{project}: the Proxy header reached the app (httpoxy)")
    return j


def case_fastcgi_get(ctx):
    j = echo_via(ctx, "viafcgi", "fcgi")
    params = dict(j["params"])
    check(params.get("X_DEPLOYMENT") == "test", f"configured param missing: {j['params']}")


def case_scgi_get(ctx):
    echo_via(ctx, "viascgi", "scgi")


def post_10mib(ctx, project):
    r = request(ctx.port, "POST", f"/{project}/up", body=BODY.blocks(),
                headers={"Content-Length": str(BODY.size), "Content-Type": "application/octet-stream"},
                timeout=60)
    check(r.status == 200, f"{project}: {r}")
    j = r.json()
    check(j["content_length"] == BODY.size, f"{project}: content_length {j['content_length']}")
    check(j["body_sha256"] == BODY.digest(), f"{project}: body changed on the way")


def case_fastcgi_post(ctx):
    post_10mib(ctx, "viafcgi")


def case_scgi_post(ctx):
    post_10mib(ctx, "viascgi")


def case_cgi(ctx):
    r = request(ctx.port, "POST", "/cgi/x/y?z=2", body=BODY.blocks(),
                headers={"Content-Length": str(BODY.size), "X-Trace": "t2", "Proxy": "evil"}, timeout=60)
    check(r.status == 201, f"cgi: {r}")
    check(r.header("X-Seen") == "t2", f"cgi: X-Seen {r.header('X-Seen')!r}")
    lines = r.body.decode().splitlines()
    check(lines[0] == "method=POST script=/cgi path=/x/y query=z=2", f"cgi: {lines[0]!r}")
    check(lines[1] == f"len={BODY.size} lc=C proxy=none home=none", f"cgi: environment {lines[1]!r}")
    check(lines[2] == BODY.digest(), "cgi: the script read another body")


def case_dead_app(ctx):
    r = request(ctx.port, "GET", "/deadfcgi/x")
    check(r.status == 502, f"an app that is down: {r}, want 502")
    r = request(ctx.port, "GET", "/viafcgi/still-serving")
    check(r.status == 200, f"after a failed backend: {r}")


def case_cgi_timeout(ctx):
    r = request(ctx.port, "GET", "/slowcgi/")
    check(r.status == 504, f"a CGI past its timeout: {r}, want 504")
    with open(ctx.ws.path("slow.pids")) as f:
        pids = [int(p) for p in f.read().split()]
    check(len(pids) == 2, f"pids written: {pids}")
    wait_until(lambda: not any(pid_alive(p) for p in pids), 10,
               f"the script and its grandchild ({pids}) to be ended")
    r = request(ctx.port, "GET", "/cgi/after")
    check(r.status == 201, f"after a timed-out CGI: {r}")


CASES = [
    ("fastcgi-get", case_fastcgi_get, 20),
    ("scgi-get", case_scgi_get, 20),
    ("fastcgi-post-10mib", case_fastcgi_post, 60),
    ("scgi-post-10mib", case_scgi_post, 60),
    ("cgi-post-10mib", case_cgi, 60),
    ("app-down-502", case_dead_app, 20),
    ("cgi-timeout-504-group-ended", case_cgi_timeout, 30),
]


def suites():
    return [Suite("backends", setup, CASES)]
