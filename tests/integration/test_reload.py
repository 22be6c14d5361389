"""Reloading projects on SIGHUP, and the index page from a template.

reload-nginx: one nginx fastcgi_pass in front of gatewayd serving a parent
directory: "echo" (echo backend), "files" (static), "cgi" (a CGI shell
script) and "retiring" (another CGI). While wrk runs against echo and files,
and a slow request (the CGI sleeps 1 s) is in flight to cgi and to
retiring, a fourth project is added, retiring is removed and cgi's
project.json changes; then SIGHUP. The new project answers, the removed one
is 404, the changed one answers with its new config, both slow requests
complete on the config they started with, and wrk saw only 2xx answers and
no socket error. A project.json broken on the next SIGHUP leaves the
running set serving.

index-template: --index-template and TRAC_ENV_INDEX_TEMPLATE through a
running gatewayd (the page byte for byte, values escaped, read again on
SIGHUP, a broken template kept out at reload), and a broken template at
start: exit status 2 and the line named.
"""

import os
import re
import shutil
import subprocess
import time

from nginx_front import gatewayd_behind_nginx
from servers import have, start_gatewayd
from support import (Background, Ctx, Suite, TestFailure, check, check_wrk, clean_env, free_port, gatewayd_binary,
                     request, sighup, wait_until, wrk_summary, write_project)

WRK_SECONDS = 4
# How long a log line after SIGHUP may take.
LOG_TIMEOUT = 10

# Sleeps on /slow after saying so in a file, so the test knows the request
# is in flight; VERSION comes from project.json and tells which config
# served the request.
CGI_SCRIPT = r"""#!/bin/sh
if [ "$PATH_INFO" = "/slow" ]; then
    : > "$MARK_DIR/$NAME.started"
    sleep 1
fi
printf 'Content-Type: text/plain\r\n\r\n'
echo "name=$NAME version=$VERSION script=$SCRIPT_NAME path=$PATH_INFO"
"""

ECHO = {"description": "echoes the request", "backend": {"type": "echo"}}
FILES = {"description": "static files", "backend": {"type": "static", "root": "htdocs"}}


def cgi_project(ws, name, version):
    return {"description": f"cgi {name}",
            "backend": {"type": "cgi", "script": "app.cgi", "timeout_ms": 20000,
                        "env": {"NAME": name, "VERSION": str(version), "MARK_DIR": ws.path("marks")}}}


# ---------------------------------------------------------------------------
# reload-nginx


def reload_setup(ws):
    have("nginx", "wrk")
    parent = ws.mkdir("projects")
    ws.mkdir("marks", mode=0o777)
    write_project(parent, "echo", ECHO)
    write_project(parent, "files", FILES)
    ws.mkdir("projects", "files", "htdocs")
    ws.write(os.path.join("projects", "files", "htdocs", "index.html"), "<p>static index</p>\n")
    for name in ("cgi", "retiring"):
        write_project(parent, name, cgi_project(ws, name, 1))
        ws.write(os.path.join("projects", name, "app.cgi"), CGI_SCRIPT, mode=0o755)
    ctx = Ctx(ws, parent=parent, gatewayd_port=free_port())
    return gatewayd_behind_nginx(ws, ctx, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(ctx.gatewayd_port),
                                           "-e", parent], ctx.gatewayd_port)


def start_wrk(port, path):
    argv = ["wrk", "-t1", "-c8", f"-d{WRK_SECONDS}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wrk_result(proc, path):
    """wrk's output, checked: requests were made, every answer 2xx, no
    socket error (connect, read, write or timeout)."""
    try:
        out, _ = proc.communicate(timeout=WRK_SECONDS + 15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TestFailure(f"wrk {path} did not finish")
    text = out.decode("utf-8", "replace")
    check(proc.returncode == 0, f"wrk {path} exited with {proc.returncode}: {wrk_summary(text)}")
    return check_wrk(text, f"wrk {path}")


def expect_cgi(r, name, version, path):
    check(r.status == 200, f"/{name}{path}: {r}")
    want = f"name={name} version={version} script=/{name} path={path}\n"
    check(r.body.decode() == want, f"/{name}{path}: {r.body!r}, want {want!r}")


def case_reload_under_load(ctx):
    port = ctx.http_port
    # Before: every project answers.
    check(request(port, "GET", "/echo/x").status == 200, "echo before the reload")
    check(request(port, "GET", "/files/index.html").body == b"<p>static index</p>\n", "files before")
    expect_cgi(request(port, "GET", "/cgi/x"), "cgi", 1, "/x")
    expect_cgi(request(port, "GET", "/retiring/x"), "retiring", 1, "/x")
    check(request(port, "GET", "/fourth/").status == 404, "fourth exists before it was added")

    wrks = [(start_wrk(port, "/echo/load"), "/echo/load"), (start_wrk(port, "/files/index.html"),
                                                              "/files/index.html")]
    try:
        slow = [Background(port, "/cgi/slow", timeout=30), Background(port, "/retiring/slow", timeout=30)]
        for t in slow:
            t.start()
        marks = [ctx.ws.path("marks", f"{n}.started") for n in ("cgi", "retiring")]
        wait_until(lambda: all(os.path.exists(m) for m in marks), 10, "both slow CGI requests to start")
        time.sleep(0.3)  # wrk has been running a while

        write_project(ctx.parent, "fourth", {"description": "added <later>", "backend": {"type": "echo"}})
        shutil.rmtree(os.path.join(ctx.parent, "retiring"))
        write_project(ctx.parent, "cgi", cgi_project(ctx.ws, "cgi", 2))
        log = sighup(ctx.gatewayd, LOG_TIMEOUT)
        log.wait_for(r"reload: added fourth; changed cgi; removed retiring; kept echo, files\n")
        in_flight = [t for t in slow if t.finished_at is None]
        check(len(in_flight) == 2, "a slow request finished before the reload was applied: "
                                   "the test did not test requests in flight")

        # After: the new set answers at once.
        r = request(port, "GET", "/fourth/y")
        check(r.status == 200 and r.json()["script_name"] == "/fourth", f"the added project: {r}")
        r = request(port, "GET", "/retiring/x")
        check(r.status == 404, f"the removed project: {r}, want 404")
        expect_cgi(request(port, "GET", "/cgi/x"), "cgi", 2, "/x")
        index = request(port, "GET", "/").body.decode()
        check('href="/fourth/"' in index and "added &lt;later&gt;" in index, f"index: {index[:400]}")
        check('href="/retiring/"' not in index, "the removed project is still on the index page")

        # The slow requests finish on the backends they started on.
        for t in slow:
            t.join(10)
            check(t.finished_at is not None, f"{t.target} still running")
            check(not isinstance(t.result, Exception), f"{t.target}: {t.result!r}")
        expect_cgi(slow[0].result, "cgi", 1, "/slow")
        expect_cgi(slow[1].result, "retiring", 1, "/slow")
    finally:
        counts = [wrk_result(p, path) for p, path in wrks]
    check(all(n > 0 for n in counts), f"wrk counts {counts}")


def case_broken_project_keeps_old_set(ctx):
    port = ctx.http_port
    broken = os.path.join(ctx.parent, "echo", "project.json")
    with open(broken) as f:
        good = f.read()
    try:
        with open(broken, "w") as f:
            f.write('{"backend": {"type": "echo"')
        write_project(ctx.parent, "fifth", ECHO)
        log = sighup(ctx.gatewayd, LOG_TIMEOUT)
        log.wait_for(r"reload failed, keeping the running configuration: " + re.escape(broken)
                     + r": invalid JSON")
        check("reload: added" not in log.text(), "a reload was applied from a broken set")
        check(request(port, "GET", "/echo/x").status == 200, "echo after a failed reload")
        check(request(port, "GET", "/fourth/x").status == 200, "fourth after a failed reload")
        check(request(port, "GET", "/files/index.html").status == 200, "files after a failed reload")
        check(request(port, "GET", "/fifth/x").status == 404, "fifth came from a set that failed to load")
    finally:
        with open(broken, "w") as f:
            f.write(good)
    # Repaired: the next SIGHUP applies, echo kept (unchanged config).
    log = sighup(ctx.gatewayd, LOG_TIMEOUT)
    log.wait_for(r"reload: added fifth; changed none; removed none; kept cgi, echo, files, fourth\n")
    check(request(port, "GET", "/fifth/x").status == 200, "fifth after the repaired reload")


# ---------------------------------------------------------------------------
# index-template

TEMPLATE = ("<h1>{{ count }} projects at [{{ script_name }}]</h1>\n<ul>\n"
            "{% for project in projects %}<li><a href=\"{{ project.href }}\">{{ project.name }}</a>"
            " - {{ project.description }}</li>\n{% endfor %}</ul>\n{# not a tag #} { } }}\n")


def template_setup(ws):
    parent = ws.mkdir("projects")
    write_project(parent, "alpha", {"description": "first <one> & \"only\"", "backend": {"type": "echo"}})
    write_project(parent, "b c", {"backend": {"type": "echo"}})
    ctx = Ctx(ws, parent=parent, template=ws.write("index.html", TEMPLATE))
    ctx.port = free_port()
    ctx.gatewayd = start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(ctx.port), "-e", parent,
                                       "--index-template", ctx.template], port=ctx.port, env=clean_env())
    ctx.procs.append(ctx.gatewayd)
    # The same template named by the environment instead, under a base path.
    ctx.env_port = free_port()
    ctx.procs.append(start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(ctx.env_port),
                                         "-e", parent, "--base-path", "/my apps"], name="gatewayd-env",
                                    port=ctx.env_port, env=clean_env(TRAC_ENV_INDEX_TEMPLATE=ctx.template)))
    return ctx


EXPECTED_PAGE = ("<h1>2 projects at []</h1>\n<ul>\n"
                 "<li><a href=\"/alpha/\">alpha</a> - first &lt;one&gt; &amp; &quot;only&quot;</li>\n"
                 "<li><a href=\"/b%20c/\">b c</a> - </li>\n"
                 "</ul>\n{# not a tag #} { } }}\n")


def case_template_page(ctx):
    r = request(ctx.port, "GET", "/")
    check(r.status == 200, f"index: {r}")
    check(r.header("Content-Type") == "text/html; charset=utf-8", f"Content-Type {r.header('Content-Type')}")
    check(r.body.decode() == EXPECTED_PAGE, f"index page: {r.body!r}")


def case_template_from_environment(ctx):
    r = request(ctx.env_port, "GET", "/my%20apps/")
    check(r.status == 200, f"index under the base path: {r}")
    want = (EXPECTED_PAGE.replace("at []", "at [/my%20apps]")
            .replace('"/alpha/"', '"/my%20apps/alpha/"').replace('"/b%20c/"', '"/my%20apps/b%20c/"'))
    check(r.body.decode() == want, f"index page: {r.body!r}")


def case_template_reload(ctx):
    with open(ctx.template, "w") as f:
        f.write("{% for p in projects %}{{ p.name }};{% endfor %}")
    write_project(ctx.parent, "delta", {"backend": {"type": "echo"}})
    log = sighup(ctx.gatewayd, LOG_TIMEOUT)
    log.wait_for(r"reload: added delta;")
    r = request(ctx.port, "GET", "/")
    check(r.body == b"alpha;b c;delta;", f"the page after a reload: {r.body!r}")
    # A broken template at reload: logged with its line (as at start), and
    # nothing of that reload applied.
    with open(ctx.template, "w") as f:
        f.write("line 1\n{% for p in projects %}{{ p.url }}{% endfor %}")
    write_project(ctx.parent, "epsilon", {"backend": {"type": "echo"}})
    log = sighup(ctx.gatewayd, LOG_TIMEOUT)
    log.wait_for(r"reload failed, keeping the running configuration: --index-template: "
                 + re.escape(ctx.template) + r": line 2: unknown field 'url'")
    check("reload: added" not in log.text(), "a reload with a broken template was applied")
    check(request(ctx.port, "GET", "/epsilon/").status == 404, "a project of a failed reload answers")
    r = request(ctx.port, "GET", "/")
    check(r.body == b"alpha;b c;delta;", f"the page after a failed template reload: {r.body!r}")


def case_template_broken_at_start(ctx):
    bad = ctx.ws.write("bad.html", "ok\n\n{% for p in projects %}\n")
    try:
        r = subprocess.run([gatewayd_binary(), "--protocol=http", "-b", "127.0.0.1", "-p", str(free_port()),
                            "-e", ctx.parent, "--index-template", bad],
                           capture_output=True, timeout=10, env=clean_env())
    except subprocess.TimeoutExpired:
        raise TestFailure("gatewayd with a broken template kept running")
    err = r.stderr.decode("utf-8", "replace").strip()
    check(r.returncode == 2, f"exit status {r.returncode}, want 2: {err}")
    want = f"gatewayd: --index-template: {bad}: line 3: '{{% for %}}' is not closed by '{{% endfor %}}'"
    check(err == want, f"stderr {err!r}, want {want!r}")
    # --check-config reads the template too.
    r = subprocess.run([gatewayd_binary(), "--check-config", "-e", ctx.parent, "--index-template",
                        ctx.ws.path("missing.html")], capture_output=True, timeout=10, env=clean_env())
    check(r.returncode == 2 and b"missing.html: cannot open" in r.stderr,
          f"--check-config with a missing template: {r.returncode} {r.stderr!r}")


def suites():
    return [
        Suite("reload-nginx", reload_setup, [
            ("add-remove-change-under-wrk", case_reload_under_load, 40),
            ("broken-project-keeps-old-set", case_broken_project_keeps_old_set, 20),
        ]),
        Suite("index-template", template_setup, [
            ("page", case_template_page, 10),
            ("from-environment-with-base-path", case_template_from_environment, 10),
            ("reload", case_template_reload, 15),
            ("broken-at-start-exit-2", case_template_broken_at_start, 15),
        ]),
    ]
