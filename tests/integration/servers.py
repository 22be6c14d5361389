"""Starting gatewayd and private instances of nginx, lighttpd and Apache
httpd: each web server gets a test-only main config (pid file, logs and
temporary files in the workspace, a second listener whose FastCGI upstream
is down) that includes the site part filled in from packaging/examples/.
Each start checks the config first (nginx -t, lighttpd -tt, apache2 -t) and
waits, bounded, until the server accepts connections."""

import base64
import hashlib
import os
import shutil
import subprocess

from support import Skip, TestFailure, dead_port, gatewayd_binary, tcp_accepts, unix_accepts, wait_until

APACHE_MODULES = "/usr/lib/apache2/modules"


def start_gatewayd(ws, args, name="gatewayd", port=None, unix_path=None, env=None, timeout=10):
    """Starts gatewayd in the foreground (logs to its stderr -> NAME.log) and
    waits until its TCP port or unix socket accepts."""
    binary = gatewayd_binary()
    if not os.access(binary, os.X_OK):
        raise TestFailure(f"gatewayd binary not found at {binary}")
    p = ws.start(name, [binary] + args, env=env)
    if port is not None:
        wait_until(lambda: tcp_accepts(port), timeout, f"{name} on port {port}", proc=p)
    if unix_path is not None:
        wait_until(lambda: unix_accepts(unix_path), timeout, f"{name} on {unix_path}", proc=p)
    return p


def have(*programs):
    missing = [p for p in programs if shutil.which(p) is None and not os.path.exists(p)]
    if missing:
        raise Skip("not installed: " + ", ".join(missing))


NGINX_MAIN = """# Test-only wrapper: the server part comes from packaging/examples.
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log info;
{user}
events {{ worker_connections 256; }}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {dir}/tmp/body;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    proxy_temp_path {dir}/tmp/proxy;
    # A client connection may carry many requests (the 1000-request test).
    keepalive_requests 100000;
    include {dir}/site.conf;
    # A location whose FastCGI upstream is down: nginx must answer 502.
    server {{
        listen {dead_http_port};
        location / {{
            include fastcgi_params;
            fastcgi_pass 127.0.0.1:{dead_port};
        }}
    }}
}}
"""


def start_nginx(ws, site_text, http_port, dead_http_port, timeout=10):
    have("nginx")
    ws.mkdir("tmp")
    shutil.copy("/etc/nginx/fastcgi_params", ws.path("fastcgi_params"))
    ws.write("site.conf", site_text)
    user = "user root;" if os.geteuid() == 0 else ""
    conf = ws.write("nginx.conf", NGINX_MAIN.format(
        dir=ws.dir, user=user, dead_http_port=dead_http_port, dead_port=dead_port()))
    argv = ["nginx", "-p", ws.dir + "/", "-e", ws.path("nginx-error.log"), "-c", conf, "-g", "daemon off;"]
    test = subprocess.run(argv[:-2] + ["-t"], capture_output=True, text=True, timeout=timeout)
    if test.returncode != 0:
        raise TestFailure("nginx -t: " + test.stderr.strip().replace("\n", " | "))
    p = ws.start("nginx", argv)
    p.extra_logs.append(ws.path("nginx-error.log"))
    wait_until(lambda: tcp_accepts(http_port) and tcp_accepts(dead_http_port), timeout, "nginx", proc=p)
    return p


LIGHTTPD_MAIN = """# Test-only wrapper: the FastCGI part comes from packaging/examples.
server.document-root = "{dir}/docroot"
server.bind = "127.0.0.1"
server.port = {http_port}
server.errorlog = "{dir}/lighttpd-error.log"
server.upload-dirs = ( "{dir}/tmp" )
# A client connection may carry many requests (the 1000-request test).
server.max-keep-alive-requests = 100000
include "{dir}/site.conf"
# A FastCGI backend that is down: lighttpd must answer with an error.
$SERVER["socket"] == "127.0.0.1:{dead_http_port}" {{
    fastcgi.server = ( "/" => (( "host" => "127.0.0.1", "port" => {dead_port},
                                 "check-local" => "disable" )) )
}}
"""


def start_lighttpd(ws, site_text, http_port, dead_http_port, timeout=15):
    have("lighttpd")
    ws.mkdir("docroot")
    ws.mkdir("tmp")
    ws.write("site.conf", site_text)
    conf = ws.write("lighttpd.conf", LIGHTTPD_MAIN.format(
        dir=ws.dir, http_port=http_port, dead_http_port=dead_http_port, dead_port=dead_port()))
    test = subprocess.run(["lighttpd", "-tt", "-f", conf], capture_output=True, text=True, timeout=timeout)
    if test.returncode != 0:
        raise TestFailure("lighttpd -tt: " + (test.stderr + test.stdout).strip().replace("\n", " | "))
    p = ws.start("lighttpd", ["lighttpd", "-D", "-f", conf])
    p.extra_logs.append(ws.path("lighttpd-error.log"))
    wait_until(lambda: tcp_accepts(http_port) and tcp_accepts(dead_http_port), timeout, "lighttpd", proc=p)
    return p


APACHE_MAIN = """# Test-only wrapper: the virtual host comes from packaging/examples.
ServerRoot {dir}
DefaultRuntimeDir {dir}/run
PidFile {dir}/run/httpd.pid
Mutex file:{dir}/run default
ErrorLog {dir}/apache-error.log
LogLevel {loglevel}
ServerName localhost
{user}
{modules}
Listen 127.0.0.1:{http_port}
Listen 127.0.0.1:{dead_http_port}
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 4
MaxSpareThreads 32
KeepAlive On
# A client connection may carry many requests (the 1000-request test).
MaxKeepAliveRequests 0
TypesConfig /etc/mime.types
<Directory />
    Require all denied
</Directory>
{extra}
Include {dir}/site.conf
# A FastCGI backend that is down: Apache must answer with an error.
<VirtualHost *:{dead_http_port}>
    ProxyPass / fcgi://127.0.0.1:{dead_port}/
</VirtualHost>
"""

APACHE_BASE_MODULES = ["mpm_event", "authz_core", "unixd", "mime", "alias", "proxy", "proxy_fcgi"]


def start_apache(ws, site_text, http_port, dead_http_port, modules=(), extra="", timeout=15):
    have("apache2")
    mods = list(APACHE_BASE_MODULES) + [m for m in modules if m not in APACHE_BASE_MODULES]
    compiled_in = subprocess.run(["apache2", "-l"], capture_output=True, text=True, timeout=timeout).stdout
    lines = []
    for m in mods:
        if f"mod_{m}.c" in compiled_in:
            continue
        so = os.path.join(APACHE_MODULES, f"mod_{m}.so")
        if not os.path.exists(so):
            raise Skip(f"Apache module {m} not installed ({so})")
        lines.append(f"LoadModule {m}_module {so}")
    ws.mkdir("run")
    user = ""
    if os.geteuid() == 0:
        # Apache refuses to run its children as root.
        user = "User www-data\nGroup www-data"
    ws.write("site.conf", site_text)
    conf = ws.write("httpd.conf", APACHE_MAIN.format(
        dir=ws.dir, user=user, modules="\n".join(lines), http_port=http_port, dead_http_port=dead_http_port,
        dead_port=dead_port(), extra=extra, loglevel="info"))
    env = dict(os.environ, APACHE_RUN_DIR=ws.path("run"), APACHE_LOCK_DIR=ws.path("run"),
               APACHE_LOG_DIR=ws.dir, APACHE_PID_FILE=ws.path("run", "httpd.pid"))
    test = subprocess.run(["apache2", "-d", ws.dir, "-f", conf, "-t"], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if test.returncode != 0:
        raise TestFailure("apache2 -t: " + (test.stderr + test.stdout).strip().replace("\n", " | "))
    p = ws.start("apache2", ["apache2", "-d", ws.dir, "-f", conf, "-DFOREGROUND"], env=env)
    p.extra_logs.append(ws.path("apache-error.log"))
    wait_until(lambda: tcp_accepts(http_port) and tcp_accepts(dead_http_port), timeout, "apache2", proc=p)
    return p


# ---------------------------------------------------------------------------
# SCGI, AJP13 and TLS fronts: helpers shared by test_scgi, test_ajp, test_tls

# What Apache needs for basic auth with a password file.
APACHE_AUTH_MODULES = ["auth_basic", "authn_core", "authn_file", "authz_user"]

# The one account of every password file the tests write.
AUTH_USER = "alice"
AUTH_PASSWORD = "s3cret-pass"

TLS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "tls")
# The test CA and the certificate it signed for localhost and 127.0.0.1.
TLS_CA = os.path.join(TLS_DIR, "ca.pem")
TLS_CERT = os.path.join(TLS_DIR, "server.pem")
TLS_KEY = os.path.join(TLS_DIR, "server.key")


def write_htpasswd(ws, users=None, name="htpasswd"):
    """A password file in the {SHA} format (base64 of the SHA-1 of the
    password), which Apache, nginx and lighttpd all read; made without
    htpasswd or crypt()."""
    users = users or {AUTH_USER: AUTH_PASSWORD}
    lines = [f"{u}:{{SHA}}{base64.b64encode(hashlib.sha1(p.encode()).digest()).decode()}"
             for u, p in users.items()]
    return ws.write(name, "\n".join(lines) + "\n", mode=0o644)


def basic_auth_header(user=AUTH_USER, password=AUTH_PASSWORD):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def start_nginx_scgi(ws, site_text, http_port, dead_http_port, timeout=10):
    """start_nginx for a site that uses scgi_pass: the stock scgi_params
    next to the config, and nginx's SCGI response buffers in the workspace."""
    have("nginx")
    ws.mkdir("tmp")
    shutil.copy("/etc/nginx/scgi_params", ws.path("scgi_params"))
    site = f"scgi_temp_path {ws.dir}/tmp/scgi;\n" + site_text
    return start_nginx(ws, site, http_port, dead_http_port, timeout=timeout)


def tcp_sockets(port):
    """TCP sockets with `port` at either end, as {state: count} from
    /proc/net/tcp (states: "ESTABLISHED", "TIME_WAIT", "LISTEN", ...)."""
    names = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
             "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
             "0B": "CLOSING"}
    counts = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.split(":")[1], 16) == port or int(remote.split(":")[1], 16) == port:
                name = names.get(state, state)
                counts[name] = counts.get(name, 0) + 1
    return counts


def listening_addresses(port):
    """The local IPv4 addresses of sockets listening on `port` ("127.0.0.1",
    "0.0.0.0"), plus "::..." entries from /proc/net/tcp6."""
    out = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            f = open(path)
        except OSError:
            continue
        with f:
            next(f)
            for line in f:
                fields = line.split()
                addr, p = fields[1].split(":")
                if fields[3] != "0A" or int(p, 16) != port:
                    continue
                if v6:
                    out.append("v6:" + addr)
                else:
                    out.append(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
    return out
