"""Real app servers from Debian for the integration tests (test_apps.py):
private PHP-FPM pools and uWSGI instances, each with its own config, pid
file and log in the suite's workspace, on a unix socket or a 127.0.0.1
port, stopped with the suite. Also gatewayd started from a config file
(several listeners) and the parsing of what the test apps answer.

The apps themselves are in apps/: echo.php (PHP), echo_wsgi.py (WSGI),
env.cgi (a shell CGI script).
"""

import glob
import json
import os
import shutil

from servers import have, start_gatewayd
from support import TestFailure, check, tcp_accepts, unix_accepts, wait_until

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")

PHP_FPM_CONF = """; php-fpm for one integration suite: everything in its workspace.
[global]
pid = {dir}/php-fpm.pid
error_log = {dir}/php-fpm.log
daemonize = no

[{name}]
{user}
listen = {listen}
listen.mode = 0666
pm = static
pm.max_children = {children}
pm.max_requests = 0
catch_workers_output = yes
; A 10 MiB upload of application/octet-stream: PHP refuses any POST body over
; post_max_size, whatever its type.
php_admin_value[post_max_size] = 64M
php_admin_value[upload_max_filesize] = 64M
"""


def app_copy(ws, name, mode=0o644):
    """apps/NAME copied into the workspace (readable by every worker user)."""
    dst = ws.mkdir("apps")
    dst = os.path.join(dst, name)
    shutil.copy(os.path.join(APPS, name), dst)
    os.chmod(dst, mode)
    return dst


def php_fpm_binary():
    found = sorted(glob.glob("/usr/sbin/php-fpm*"))
    if not found:
        have("php-fpm")  # raises Skip
    return found[-1]


def start_php_fpm(ws, listen, children=2, name="php-fpm"):
    """A php-fpm master with a static pool of `children` workers, listening
    on `listen` (a unix socket path or "127.0.0.1:PORT")."""
    binary = php_fpm_binary()
    user = "user = root\ngroup = root" if os.geteuid() == 0 else ""
    conf = ws.write(f"{name}.conf", PHP_FPM_CONF.format(dir=ws.dir, name=name, user=user, listen=listen,
                                                        children=children))
    argv = [binary, "-F", "-y", conf]
    if os.geteuid() == 0:
        argv.append("-R")
    p = ws.start(name, argv)
    p.extra_logs.append(ws.path("php-fpm.log"))
    _wait_listening(p, listen, name)
    return p


def start_uwsgi(ws, kind, listen, name, env=None):
    """uWSGI running apps/echo_wsgi.py on one socket: kind "scgi" or "http"
    (--scgi-socket, --http-socket), `listen` a unix path or 127.0.0.1:PORT.
    `env`: extra variables for the app (uWSGI's --env)."""
    have("uwsgi")
    if not os.path.exists("/usr/lib/uwsgi/plugins/python3_plugin.so"):
        have("/usr/lib/uwsgi/plugins/python3_plugin.so")
    app = app_copy(ws, "echo_wsgi.py")
    argv = ["uwsgi", "--plugin", "python3", f"--{kind}-socket", listen, "--chmod-socket=666",
            "--wsgi-file", app, "--master", "--processes", "2", "--die-on-term",
            "--pidfile", ws.path(f"{name}.pid"), "--buffer-size", "32768"]
    for k, v in (env or {}).items():
        argv += ["--env", f"{k}={v}"]
    p = ws.start(name, argv)
    _wait_listening(p, listen, name)
    return p


def _wait_listening(proc, listen, name):
    if listen.startswith("127.0.0.1:"):
        port = int(listen.rsplit(":", 1)[1])
        wait_until(lambda: tcp_accepts(port), 15, f"{name} on {listen}", proc=proc)
    else:
        wait_until(lambda: unix_accepts(listen), 15, f"{name} on {listen}", proc=proc)


def start_gatewayd_config(ws, config, name="gatewayd"):
    """gatewayd from a --config file holding `config` (a dict); waits for
    its first listener."""
    path = ws.write(f"{name}.json", json.dumps(config, indent=2))
    first = config["listeners"][0]
    if "unix_socket" in first:
        return start_gatewayd(ws, ["--config", path], name=name, unix_path=first["unix_socket"])
    return start_gatewayd(ws, ["--config", path], name=name, port=first["port"])


def write_project(ws, parent, name, config, files=None):
    """PARENT/NAME/project.json holding `config`; `files`: {name: text}."""
    d = ws.mkdir(parent, name)
    ws.write(os.path.join(parent, name, "project.json"), json.dumps(config))
    for fname, (text, mode) in (files or {}).items():
        ws.write(os.path.join(parent, name, fname), text, mode=mode)
    return d


# ---------------------------------------------------------------------------
# What the apps answer, as one {NAME: value} dict of CGI-style variables


def php_vars(resp, what):
    check(resp.status == 200, f"{what}: status {resp.status}, body {resp.body[:300]!r}")
    j = resp.json()
    return j["server"], j


def wsgi_vars(resp, what):
    check(resp.status == 200, f"{what}: status {resp.status}, body {resp.body[:300]!r}")
    j = resp.json()
    return j["environ"], j


def cgi_vars(resp, what):
    """env.cgi's answer: NAME=value lines (values without newlines)."""
    check(resp.status == 200, f"{what}: status {resp.status}, body {resp.body[:300]!r}")
    out = {}
    for line in resp.body.decode("utf-8", "surrogateescape").splitlines():
        name, sep, value = line.partition("=")
        if not sep:
            raise TestFailure(f"{what}: not NAME=value: {line!r}")
        out[name] = value
    return out, {"body_sha256": out.get("BODY_SHA256")}
