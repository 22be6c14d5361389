"""The example configurations of packaging/examples/ that the other suites do
not already run, each started with gatewayd behind it and asked for the
echo project: nginx with basic auth over FastCGI, lighttpd with two
projects, with a site-wide htpasswd login and with the /chrome/common
alias, Apache mod_fcgid with ScriptAlias and DefaultInitEnv, mod_jk with the
IIS workers.properties and gatewayd-ajp.json; the gatewayd.json of the
systemd service; and the unix-socket self-check, which names the directory
that keeps the web server's user from the socket.

(nginx-fastcgi, nginx-scgi, lighttpd-fastcgi, lighttpd-scgi,
apache-proxy-fcgi/-scgi/-ajp, apache-fcgid and apache-mod-jk with
workers.properties / uriworkermap.properties run in test_fronts, test_scgi
and test_ajp. apache-mod-fastcgi, litespeed, cherokee and
isapi_redirect.properties are documentation only: Debian 12 has neither
mod_fastcgi, LiteSpeed, Cherokee nor IIS; the Cherokee command line runs in
test_scgi.)
"""

import json
import os
import re
import shutil
import subprocess

import test_fronts
from servers import (APACHE_AUTH_MODULES, AUTH_USER, basic_auth_header, have, start_apache, start_gatewayd,
                     start_lighttpd, start_nginx, write_htpasswd)
from support import (EXAMPLES, Ctx, Skip, Suite, check, fill_template, free_port, gatewayd_binary, request,
                     tcp_accepts, wait_until)

expect_echo = test_fronts.expect_echo


def example_json(name):
    """packaging/examples/NAME: JSON with // comment lines, as gatewayd reads it."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    return json.loads(re.sub(r"(?m)^\s*//.*$", "", text))


def case_auth_required(ctx):
    """Without credentials the web server answers 401 itself; a wrong
    password too."""
    for target in ctx.auth_targets:
        r = request(ctx.http_port, "GET", target)
        check(r.status == 401, f"GET {target} without credentials: status {r.status}, want 401")
    r = request(ctx.http_port, "GET", ctx.auth_targets[0],
                headers={"Authorization": basic_auth_header(password="wrong")})
    check(r.status == 401, f"GET {ctx.auth_targets[0]} with a wrong password: status {r.status}, want 401")


def case_remote_user(ctx):
    """With credentials the echo project answers and sees the user as
    REMOTE_USER, with AUTH_TYPE Basic."""
    target = ctx.auth_targets[0] + "?who=1"
    r = request(ctx.http_port, "GET", target, headers={"Authorization": basic_auth_header()})
    j = expect_echo(r, f"GET {target} with credentials", project="echo", query="who=1")
    check(j.get("remote_user") == AUTH_USER, f"remote_user = {j.get('remote_user')!r}, want {AUTH_USER!r}")
    check((j.get("auth_type") or "").lower() == "basic", f"auth_type = {j.get('auth_type')!r}, want 'Basic'")


def case_echo(ctx):
    """A plain request reaches the echo project with the path split as the
    example's comments say."""
    r = request(ctx.http_port, "GET", ctx.echo_target, headers=ctx.headers)
    expect_echo(r, f"GET {ctx.echo_target}", **ctx.echo_want)


# ---------------------------------------------------------------------------
# nginx-fastcgi-auth.conf: basic auth for the whole site, REMOTE_USER passed


def nginx_auth_setup(ws):
    have("nginx")
    projects = ws.demo_projects()
    ctx = Ctx(ws, http_port=free_port(), auth_targets=["/echo/private/page", "/"])
    sock = ws.path("gatewayd-fcgi.sock")
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "--unix-socket", sock, "-e", projects], unix_path=sock))
    site = fill_template("nginx-fastcgi-auth.conf", {"HTTP_PORT": f"127.0.0.1:{ctx.http_port}",
                                                     "GATEWAYD_ADDR": f"unix:{sock}",
                                                     "HTPASSWD": write_htpasswd(ws)})
    ctx.procs.append(start_nginx(ws, site, ctx.http_port, free_port()))
    return ctx


# ---------------------------------------------------------------------------
# lighttpd-two-projects.conf: /wiki and /tracker, each its own spawned gatewayd


def lighttpd_two_setup(ws):
    have("lighttpd")
    projects = ws.demo_projects(extra={"tracker": {"backend": {"type": "echo"}}})
    ctx = Ctx(ws, http_port=free_port())
    site = fill_template("lighttpd-two-projects.conf", {
        "GATEWAYD": ws.gatewayd_copy(), "SOCKET_DIR": ws.mkdir("sockets"),
        "FIRST_PROJECT": os.path.join(projects, "echo"), "SECOND_PROJECT": os.path.join(projects, "tracker")})
    ctx.procs.append(start_lighttpd(ws, site, ctx.http_port, free_port()))
    return ctx


def case_two_projects(ctx):
    for prefix, project in (("/wiki", "echo"), ("/tracker", "tracker")):
        target = f"{prefix}/sub/page?x=1"
        r = request(ctx.http_port, "GET", target)
        expect_echo(r, f"GET {target}", project=project, script_name=prefix, path_info="/sub/page", query="x=1",
                    origin="fcgi")
    r = request(ctx.http_port, "GET", "/elsewhere/x")
    check(r.status == 404, f"GET /elsewhere/x (no mount): status {r.status}, want 404 from lighttpd")


# ---------------------------------------------------------------------------
# lighttpd-auth.conf: every project behind one htpasswd file


def lighttpd_auth_setup(ws):
    have("lighttpd")
    projects = ws.demo_projects()
    ctx = Ctx(ws, http_port=free_port(), auth_targets=["/echo/any/page", "/"])
    port = free_port()
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(port), "-e", projects],
                                    port=port))
    site = fill_template("lighttpd-auth.conf", {"GATEWAYD_HOST": "127.0.0.1", "GATEWAYD_PORT": port,
                                                "HTPASSWD": write_htpasswd(ws)})
    ctx.procs.append(start_lighttpd(ws, site, ctx.http_port, free_port()))
    return ctx


def case_index_with_login(ctx):
    r = request(ctx.http_port, "GET", "/", headers={"Authorization": basic_auth_header()})
    check(r.status == 200, f"GET / with credentials: status {r.status}")
    check(b"echo" in r.body and b"static" in r.body, f"GET /: the project list is missing: {r.body[:200]!r}")


# ---------------------------------------------------------------------------
# lighttpd-static-alias.conf: /chrome/common from a directory, the rest to gatewayd

CHROME_CSS = b"/* shared style */\nbody { margin: 0 }\n"


def lighttpd_alias_setup(ws):
    have("lighttpd")
    projects = ws.demo_projects()
    ctx = Ctx(ws, http_port=free_port(), headers={},
              echo_target="/echo/chrome/common/x.css",
              echo_want={"project": "echo", "path_info": "/chrome/common/x.css", "origin": "fcgi"})
    static = ws.mkdir("htdocs-common")
    with open(os.path.join(static, "style.css"), "wb") as f:
        f.write(CHROME_CSS)
    os.chmod(os.path.join(static, "style.css"), 0o644)
    port = free_port()
    ctx.gatewayd_port = port
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(port), "-e", projects],
                                    port=port))
    site = fill_template("lighttpd-static-alias.conf", {"GATEWAYD_HOST": "127.0.0.1", "GATEWAYD_PORT": port,
                                                        "STATIC_DIR": static + "/"})
    ctx.procs.append(start_lighttpd(ws, site, ctx.http_port, free_port()))
    return ctx


def case_chrome_alias(ctx):
    """/chrome/common/ comes from the directory, byte for byte, without
    gatewayd (its log does not see the request)."""
    gatewayd = ctx.procs[0]
    gatewayd.mark_logs()
    r = request(ctx.http_port, "GET", "/chrome/common/style.css")
    check(r.status == 200, f"GET /chrome/common/style.css: status {r.status}, body {r.body[:200]!r}")
    check(r.body == CHROME_CSS, f"GET /chrome/common/style.css: {r.body[:200]!r}")
    r = request(ctx.http_port, "GET", "/chrome/common/missing.css")
    check(r.status == 404, f"GET /chrome/common/missing.css: status {r.status}, want 404 from lighttpd")
    check("chrome/common" not in gatewayd.log_text_since_mark(), "gatewayd saw a /chrome/common request")


# ---------------------------------------------------------------------------
# apache-fcgid-scriptalias.conf: ScriptAlias /projects/ with DefaultInitEnv

FCGID_GLOBAL = """FcgidIPCDir {dir}/fcgid
FcgidProcessTableFile {dir}/fcgid-shm
"""


def fcgid_scriptalias_setup(ws):
    have("apache2")
    projects = ws.demo_projects()
    ctx = Ctx(ws, http_port=free_port(), headers={}, echo_target="/projects/echo/sub/path?q=2",
              echo_want={"project": "echo", "path_info": "/sub/path", "query": "q=2", "origin": "fcgi"})
    site = fill_template("apache-fcgid-scriptalias.conf", {"HTTP_PORT": ctx.http_port, "GATEWAYD": ws.gatewayd_copy(),
                                                          "PROJECTS_DIR": projects})
    ctx.procs.append(start_apache(ws, site, ctx.http_port, free_port(), modules=["fcgid"],
                                  extra=FCGID_GLOBAL.format(dir=ws.dir)))
    return ctx


def case_fcgid_script_name(ctx):
    """The prefix stays in SCRIPT_NAME: the project's links point below /projects."""
    r = request(ctx.http_port, "GET", "/projects/echo/a")
    j = expect_echo(r, "GET /projects/echo/a", project="echo", path_info="/a")
    check(j.get("script_name") == "/projects/echo", f"script_name = {j.get('script_name')!r}, want '/projects/echo'")
    r = request(ctx.http_port, "GET", "/projects/")
    check(r.status == 200 and b"echo" in r.body, f"GET /projects/ (index): status {r.status}, {r.body[:200]!r}")


# ---------------------------------------------------------------------------
# gatewayd-ajp.json + workers.properties + uriworkermap.properties, via mod_jk


def jk_json_setup(ws):
    have("apache2")
    if not os.path.exists("/usr/lib/apache2/modules/mod_jk.so"):
        raise Skip("libapache2-mod-jk not installed")
    projects = ws.demo_projects()
    ctx = Ctx(ws, http_port=free_port(), auth_targets=["/echo/login"], headers={},
              echo_target="/echo/jk/x?y=1",
              echo_want={"project": "echo", "path_info": "/jk/x", "query": "y=1", "origin": "ajp"})
    config = example_json("gatewayd-ajp.json")
    port, big_port = free_port(), free_port()
    config["listeners"][0]["port"] = port
    config["listeners"][1]["port"] = big_port
    config["env_parent_dir"] = projects
    secret = config["listeners"][0]["secret"]
    conf = ws.write("gatewayd-ajp.json", json.dumps(config, indent=2))
    gatewayd = start_gatewayd(ws, ["--config", conf], port=port)
    ctx.procs.append(gatewayd)
    wait_until(lambda: tcp_accepts(big_port), 10, "gatewayd's second AJP listener", proc=gatewayd)
    workers = fill_template("workers.properties", {"AJP_HOST": "127.0.0.1", "AJP_PORT": port,
                                                   "AJP_BIG_PORT": big_port, "AJP_SECRET": secret})
    jk_log = ws.path("mod_jk.log")
    site = fill_template("apache-mod-jk.conf", {
        "HTTP_PORT": ctx.http_port, "WORKERS_FILE": ws.write("workers.properties", workers),
        "URIWORKERMAP_FILE": ws.write("uriworkermap.properties", fill_template("uriworkermap.properties", {})),
        "JK_LOG_FILE": jk_log, "JK_SHM_FILE": ws.path("jk-runtime-status"), "HTPASSWD": write_htpasswd(ws)})
    apache = start_apache(ws, site, ctx.http_port, free_port(), modules=["jk"] + APACHE_AUTH_MODULES)
    apache.extra_logs.append(jk_log)
    ctx.procs.append(apache)
    return ctx


def case_jk_big_worker(ctx):
    """/*/downloads/* goes to the second worker (64 KiB packets, the second
    listener of gatewayd-ajp.json)."""
    r = request(ctx.http_port, "GET", "/echo/downloads/file?z=3")
    expect_echo(r, "GET /echo/downloads/file", project="echo", path_info="/downloads/file", origin="ajp")


# ---------------------------------------------------------------------------
# gatewayd.json (the systemd service's configuration), and the socket self-check


def service_config_setup(ws):
    projects = ws.demo_projects()
    ctx = Ctx(ws, projects=projects)
    config = example_json("gatewayd.json")
    ctx.sock = ws.path("run", "fcgi.sock")
    ws.mkdir("run")
    ctx.ports = {}
    for listener in config["listeners"]:
        if "unix_socket" in listener:
            listener["unix_socket"] = ctx.sock
        else:
            listener["port"] = ctx.ports[listener["name"]] = free_port()
    config["env_parent_dir"] = projects
    config["access_log"] = ws.path("access.log")
    ctx.config = ws.write("gatewayd.json", json.dumps(config, indent=2))
    return ctx


def case_service_config_checks(ctx):
    r = subprocess.run([gatewayd_binary(), "--check-config", "--config", ctx.config], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0, f"--check-config: status {r.returncode}: {r.stdout} {r.stderr}")
    check("configuration OK" in r.stdout and "4 listeners" in r.stdout, f"--check-config said {r.stdout!r}")
    check("warning" not in r.stderr, f"--check-config warned: {r.stderr!r}")


def case_service_config_serves(ctx):
    """Every listener of the service's config accepts, and the FastCGI one
    answers (through gatewayd-client when it is built next to gatewayd)."""
    gatewayd = start_gatewayd(ctx.ws, ["--config", ctx.config], unix_path=ctx.sock)
    ctx.procs.append(gatewayd)
    for name, port in ctx.ports.items():
        wait_until(lambda: tcp_accepts(port), 10, f"listener {name} on port {port}", proc=gatewayd)
    mode = os.stat(ctx.sock).st_mode & 0o777
    check(mode == 0o660, f"socket mode {oct(mode)}, want 0o660 (socket_mode)")
    client = os.path.join(os.path.dirname(os.path.dirname(gatewayd_binary())), "gateway", "client",
                          "gatewayd-client")
    if os.access(client, os.X_OK):
        r = subprocess.run([client, "--protocol=fcgi", f"unix:{ctx.sock}", "/echo/svc?a=b"], capture_output=True,
                           timeout=30)
        check(r.returncode == 0, f"gatewayd-client: status {r.returncode}: {r.stderr[:300]!r}")
        j = json.loads(r.stdout)
        check(j.get("project") == "echo" and j.get("query") == "a=b", f"echo answered {j!r}")
    # The next case starts the same configuration with passed sockets.
    ctx.procs.remove(gatewayd)
    gatewayd.stop()
    check(gatewayd.stopped_by == "term" and gatewayd.returncode() == 0,
          f"gatewayd stopped by {gatewayd.stopped_by}, status {gatewayd.returncode()}")


def case_service_config_socket_activation(ctx):
    """The service's config with the sockets of gatewayd.socket,
    gatewayd-scgi.socket and gatewayd-ajp.socket passed the way systemd
    passes them (names fcgi, scgi, ajp): the listeners of those names serve
    the passed sockets and do not bind their own addresses."""
    if not shutil.which("systemd-socket-activate"):
        raise Skip("systemd-socket-activate not installed (Debian package systemd)")
    client = os.path.join(os.path.dirname(gatewayd_binary()), "client", "gatewayd-client")
    if not os.access(client, os.X_OK):
        raise Skip(f"no gatewayd-client at {client}")
    sock = ctx.ws.path("run", "passed-fcgi.sock")
    scgi_port, ajp_port = free_port(), free_port()
    p = ctx.ws.start("socket-activate", [
        "systemd-socket-activate", "-l", sock, "-l", f"127.0.0.1:{scgi_port}", "-l", f"127.0.0.1:{ajp_port}",
        "--fdname=fcgi:scgi:ajp", gatewayd_binary(), "--config", ctx.config])
    ctx.procs.append(p)
    wait_until(lambda: os.path.exists(sock), 10, "systemd-socket-activate's socket", proc=p)
    for url in (f"unix:{sock}", f"scgi://127.0.0.1:{scgi_port}/echo/passed?via=scgi",
                f"ajp://127.0.0.1:{ajp_port}/echo/passed?via=ajp"):
        argv = [client, "-m", "20"] + (["--protocol=fcgi", url, "/echo/passed?via=fcgi"] if url.startswith("unix:")
                                       else [url])
        r = subprocess.run(argv, capture_output=True, timeout=30)
        check(r.returncode == 0, f"{' '.join(argv[3:])}: status {r.returncode}: {r.stderr[:300]!r}")
        j = json.loads(r.stdout)
        check(j.get("project") == "echo" and j.get("query", "").startswith("via="), f"{url}: echo answered {j!r}")
    for name in ("scgi", "ajp"):
        check(not tcp_accepts(ctx.ports[name]), f"the {name} listener bound its own port {ctx.ports[name]} too")
    check(tcp_accepts(ctx.ports["status"]), "the status listener (no passed socket) did not bind its port")


def socket_check_setup(ws):
    return Ctx(ws, projects=ws.demo_projects())


def case_socket_check_names_directory(ctx):
    """A socket under a 0700 directory, for www-data: gatewayd starts, and
    its log names the directory and the fix; --check-config says the same."""
    locked = ctx.ws.mkdir("locked", mode=0o700)
    sock = os.path.join(locked, "fcgi.sock")
    args = ["--protocol=fcgi", "--unix-socket", sock, "--socket-owner", "www-data", "-e", ctx.projects]
    want = (f"{sock}: user www-data cannot reach the socket: directory {locked} (owner root, group root, "
            f"mode 0700) gives user www-data no search (x) permission; fix: chgrp www-data {locked} && "
            f"chmod g+x {locked}")
    if os.geteuid() != 0:
        raise Skip("needs root (chown of the socket to www-data)")
    r = subprocess.run([gatewayd_binary(), "--check-config"] + args, capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"--check-config: status {r.returncode}: {r.stderr}")
    check(f"gatewayd: warning: {want}\n" in r.stderr, f"--check-config stderr: {r.stderr!r}")
    gatewayd = start_gatewayd(ctx.ws, args, name="gatewayd-locked", unix_path=sock)
    ctx.procs.append(gatewayd)
    wait_until(lambda: want in gatewayd.log_text_since_mark(), 10, "the self-check warning", proc=gatewayd)
    check("[warn] " + want in gatewayd.log_text_since_mark(), "the warning is not at level warn")
    # Fixed as the message says: a new start is silent.
    ctx.procs.remove(gatewayd)
    gatewayd.stop()
    subprocess.run(["chgrp", "www-data", locked], check=True)
    os.chmod(locked, 0o710)
    gatewayd = start_gatewayd(ctx.ws, args, name="gatewayd-fixed", unix_path=sock)
    wait_until(lambda: "listening on" in gatewayd.log_text_since_mark(), 10, "gatewayd-fixed listening",
               proc=gatewayd)
    # Its shutdown is the other suites' business: this one stops it here.
    gatewayd.stop()
    check("cannot reach" not in gatewayd.log_text_since_mark(), "a warning after the fix")


def suites():
    return [
        Suite("examples-nginx-fastcgi-auth", nginx_auth_setup, [
            ("auth-required", case_auth_required, 30),
            ("remote-user", case_remote_user, 30),
        ]),
        Suite("examples-lighttpd-two-projects", lighttpd_two_setup, [
            ("two-projects", case_two_projects, 30),
        ]),
        Suite("examples-lighttpd-auth", lighttpd_auth_setup, [
            ("auth-required", case_auth_required, 30),
            ("remote-user", case_remote_user, 30),
            ("index", case_index_with_login, 30),
        ]),
        Suite("examples-lighttpd-static-alias", lighttpd_alias_setup, [
            ("echo", case_echo, 30),
            ("chrome-common", case_chrome_alias, 30),
        ]),
        Suite("examples-apache-fcgid-scriptalias", fcgid_scriptalias_setup, [
            ("echo", case_echo, 30),
            ("script-name", case_fcgid_script_name, 30),
        ]),
        Suite("examples-mod-jk-iis-workers", jk_json_setup, [
            ("echo", case_echo, 30),
            ("big-packet-worker", case_jk_big_worker, 30),
            ("auth-required", case_auth_required, 30),
            ("remote-user", case_remote_user, 30),
        ]),
        Suite("examples-service-config", service_config_setup, [
            ("check-config", case_service_config_checks, 30),
            ("serves", case_service_config_serves, 30),
            ("socket-activation", case_service_config_socket_activation, 60),
        ]),
        Suite("examples-socket-check", socket_check_setup, [
            ("names-blocking-directory", case_socket_check_names_directory, 30),
        ]),
    ]
