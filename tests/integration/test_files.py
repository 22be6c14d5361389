"""Files a project serves itself: a static mount in front of a CGI script,
X-Sendfile / X-Accel-Redirect answers served by gatewayd from an allowed
directory (and refused outside it), and the pass mode with nginx in front:
gatewayd turns the script's X-Sendfile into X-Accel-Redirect and nginx's
`internal` location sends the file.
"""

import json
import os

from servers import have, start_gatewayd, start_nginx
from support import Ctx, Suite, check, free_port, make_world_readable, request, wait_until

# Answers by PATH_INFO; FILES and SECRET come from the project's env.
CGI_SCRIPT = r"""#!/bin/sh
case "$PATH_INFO" in
  /allowed)
    printf 'Content-Type: text/plain\r\nX-App: cgi\r\nX-Sendfile: %s\r\n\r\n' "$FILES/report.txt"
    echo "the app's own body"
    ;;
  /escape)
    printf 'X-Sendfile: %s\r\n\r\n' "$FILES/escape" ;;
  /disallowed)
    printf 'X-Sendfile: %s\r\n\r\n' "$SECRET" ;;
  /accel)
    printf 'X-Accel-Redirect: /protected/report.txt\r\n\r\n' ;;
  *)
    printf 'Content-Type: text/plain\r\n\r\ncgi %s\n' "$PATH_INFO" ;;
esac
"""

REPORT = b"".join(b"line %05d of the report\n" % i for i in range(4000))  # ~96 KiB
SECRET = b"the secret outside every allowed directory\n"
STYLE = b"body { color: #333; }\n"

NGINX_SITE = """
server {{
    listen 127.0.0.1:{port};
    location / {{
        include {dir}/fastcgi_params;
        fastcgi_pass 127.0.0.1:{fcgi_port};
    }}
    # Only reachable through an X-Accel-Redirect from the upstream.
    location /protected/ {{
        internal;
        alias {files}/;
    }}
}}
"""


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def project(ws, parent, name, cfg):
    d = os.path.join(parent, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "project.json"), "w") as f:
        json.dump(cfg, f)
    script = os.path.join(d, "app.cgi")
    with open(script, "w") as f:
        f.write(CGI_SCRIPT)
    os.chmod(script, 0o755)
    return d


def setup(ws):
    parent = ws.mkdir("projects")
    app = os.path.join(parent, "app")
    files = os.path.join(app, "files")
    os.makedirs(os.path.join(app, "htdocs", "common"))
    os.makedirs(files)
    write_bytes(os.path.join(app, "htdocs", "common", "style.css"), STYLE)
    write_bytes(os.path.join(files, "report.txt"), REPORT)
    secret = os.path.join(app, "secret.txt")
    write_bytes(secret, SECRET)
    os.symlink(secret, os.path.join(files, "escape"))
    env = {"FILES": files, "SECRET": secret}
    project(ws, parent, "app", {
        "backend": {"type": "cgi", "script": "app.cgi", "timeout_ms": 20000, "env": env},
        "static": {"/chrome/common": "htdocs/common"},
        "sendfile": {"mode": "serve", "dirs": ["files"], "locations": {"/protected": "files"}},
    })
    project(ws, parent, "passapp", {
        "backend": {"type": "cgi", "script": "app.cgi", "timeout_ms": 20000, "env": env},
        "sendfile": {"mode": "pass", "pass_as": "X-Accel-Redirect",
                     "locations": {"/protected": files}},
    })
    make_world_readable(parent)
    ctx = Ctx(ws, port=free_port(), fcgi_port=free_port(), secret=secret, files=files)
    ctx.front = start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(ctx.port), "-e", parent],
                               name="gatewayd-http", port=ctx.port)
    ctx.procs.append(ctx.front)
    return ctx


def case_static_mount(ctx):
    r = request(ctx.port, "GET", "/app/chrome/common/style.css")
    check(r.status == 200 and r.body == STYLE, f"mounted file: {r}")
    check(r.header("Content-Type") == "text/css; charset=utf-8", f"type {r.header('Content-Type')!r}")
    r = request(ctx.port, "GET", "/app/chrome/common/missing.css")
    check(r.status == 404 and b"cgi" not in r.body, f"missing file below the mount: {r}")
    for path in ("/chrome/commonx", "/chrome", "/wiki/page"):
        r = request(ctx.port, "GET", "/app" + path)
        check(r.status == 200 and r.body == f"cgi {path}\n".encode(), f"{path} should reach the script: {r}")


def case_sendfile_serve(ctx):
    r = request(ctx.port, "GET", "/app/allowed")
    check(r.status == 200, f"X-Sendfile of an allowed file: {r}")
    check(r.body == REPORT, f"body is not the file ({len(r.body)} bytes)")
    check(r.header("Content-Length") == str(len(REPORT)), f"Content-Length {r.header('Content-Length')!r}")
    check(r.header("X-App") == "cgi", "the script's other headers are kept")
    check(r.header("Content-Type") == "text/plain", "the script's Content-Type is kept")
    check(r.header("X-Sendfile") is None, "X-Sendfile reached the client")
    check(r.header("ETag"), "no ETag on the file")
    r = request(ctx.port, "HEAD", "/app/allowed")
    check(r.status == 200 and r.body == b"" and r.header("Content-Length") == str(len(REPORT)), f"HEAD: {r}")
    r = request(ctx.port, "GET", "/app/accel")
    check(r.status == 200 and r.body == REPORT, f"X-Accel-Redirect through a location: {r}")
    check(r.header("Content-Type") == "text/plain; charset=utf-8", f"type {r.header('Content-Type')!r}")


def case_sendfile_range_and_conditional(ctx):
    etag = request(ctx.port, "GET", "/app/allowed").header("ETag")
    r = request(ctx.port, "GET", "/app/allowed", headers={"Range": "bytes=100-199"})
    check(r.status == 206 and r.body == REPORT[100:200], f"range: {r}")
    check(r.header("Content-Range") == f"bytes 100-199/{len(REPORT)}", f"{r.header('Content-Range')!r}")
    r = request(ctx.port, "GET", "/app/allowed", headers={"If-None-Match": etag})
    check(r.status == 304 and r.body == b"", f"If-None-Match: {r}")


def case_sendfile_refused(ctx):
    for path in ("/app/disallowed", "/app/escape"):
        r = request(ctx.port, "GET", path)
        check(r.status == 404, f"{path}: {r}, want 404")
        check(SECRET not in r.body and b"secret" not in r.body, f"{path}: the body names the file")
    wait_until(lambda: ctx.secret in ctx.front.log_text_since_mark(), 5,
               "a log line naming the refused file")
    log = ctx.front.log_text_since_mark()
    check("leads outside the allowed directories" in log, "the log line says why")


def setup_nginx(ws):
    have("nginx")
    ctx = setup(ws)
    parent = ws.path("projects")
    ctx.nginx_port = free_port()
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(ctx.fcgi_port),
                                         "-e", parent], name="gatewayd-fcgi", port=ctx.fcgi_port))
    site = NGINX_SITE.format(port=ctx.nginx_port, dir=ws.dir, fcgi_port=ctx.fcgi_port, files=ctx.files)
    ctx.procs.append(start_nginx(ws, site, ctx.nginx_port, free_port()))
    return ctx


def case_nginx_pass(ctx):
    r = request(ctx.nginx_port, "GET", "/passapp/allowed")
    check(r.status == 200, f"nginx internal location through X-Accel-Redirect: {r}")
    check(r.body == REPORT, f"body is not the file ({len(r.body)} bytes: {r.body[:80]!r})")
    check(r.header("X-Accel-Redirect") is None and r.header("X-Sendfile") is None,
          "a sendfile header reached the client")
    r = request(ctx.nginx_port, "GET", "/passapp/allowed", headers={"Range": "bytes=0-9"})
    check(r.status == 206 and r.body == REPORT[:10], f"range served by nginx: {r}")
    r = request(ctx.nginx_port, "GET", "/protected/report.txt")
    check(r.status == 404, f"the internal location from outside: {r}, want 404")
    # A file no location holds cannot be named to nginx: gatewayd refuses it.
    r = request(ctx.nginx_port, "GET", "/passapp/disallowed")
    check(r.status == 404 and SECRET not in r.body, f"pass of a path outside the locations: {r}")
    # The served project behind nginx too.
    r = request(ctx.nginx_port, "GET", "/app/allowed")
    check(r.status == 200 and r.body == REPORT, f"serve mode behind nginx: {r}")


CASES = [
    ("static-mount-before-cgi", case_static_mount, 20),
    ("sendfile-serve", case_sendfile_serve, 20),
    ("sendfile-range-conditional", case_sendfile_range_and_conditional, 20),
    ("sendfile-refused-404", case_sendfile_refused, 20),
]

NGINX_CASES = [
    ("nginx-pass-x-accel-redirect", case_nginx_pass, 20),
]


def suites():
    return [Suite("files", setup, CASES), Suite("files-nginx", setup_nginx, NGINX_CASES)]
