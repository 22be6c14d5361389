"""gatewayd as a program: unix sockets (stale, live, modes, owner), IPv6,
FCGI_WEB_SERVER_ADDRS, CGI mode, the command line and its exit statuses,
--config with two listeners, -d/--pidfile, the http backend end to end, and
bad input on the HTTP front. Every case runs against a real gatewayd.

Processes expected to exit on their own run with a bounded
subprocess.run; the ones that serve are started through the workspace, so
the suite's clean-shutdown case checks they exit 0 on SIGTERM.
"""

import grp
import hashlib
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import fcgi
from fcgi import Conn
from servers import start_gatewayd
from support import (CRASH_MARKERS, DEMO, Ctx, PatternBody, Skip, Suite, TestFailure, check, dead_port,
                     free_port, gatewayd_binary, request, tcp_accepts, wait_until)

ECHO_PROJECT = {"backend": {"type": "echo"}}
# What a sanitizer build needs from the environment of a gatewayd run with
# a hand-made one (CGI mode).
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


# ---------------------------------------------------------------------------
# Helpers


def clean_env(**extra):
    """The environment without anything that changes gatewayd's behaviour
    (TRAC_ENV*, FCGI_*, GATEWAY_INTERFACE), plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRAC_ENV", "FCGI_")) and k != "GATEWAY_INTERFACE"}
    env.update(extra)
    return env


def run_gatewayd(args, env=None, stdin_data=None, timeout=10, cwd=None):
    """Runs gatewayd to completion (bounded); fails on a crash report."""
    binary = gatewayd_binary()
    if not os.access(binary, os.X_OK):
        raise TestFailure(f"gatewayd binary not found at {binary}")
    try:
        r = subprocess.run([binary] + args, input=stdin_data if stdin_data is not None else b"",
                           capture_output=True, timeout=timeout, env=env if env is not None else clean_env(),
                           cwd=cwd)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"gatewayd {' '.join(args)} still running after {timeout}s (killed)")
    err = r.stderr.decode("utf-8", "replace")
    for line in err.splitlines():
        if CRASH_MARKERS.search(line):
            raise TestFailure(f"crash or sanitizer report from gatewayd {' '.join(args)}: {line}")
    r.err = err
    return r


def start(ctx, name, args, port=None, unix_path=None, env=None):
    return start_gatewayd(ctx.ws, args, name=name, port=port, unix_path=unix_path,
                          env=env if env is not None else clean_env())


def stop_ok(p, what):
    """SIGTERM; the process must exit 0 within the bounded wait."""
    p.stop()
    check(p.stopped_by == "term", f"{what}: stopped by {p.stopped_by}, not by SIGTERM")
    check(p.returncode() == 0, f"{what}: exit status {p.returncode()} on SIGTERM")


def fcgi_call(port=None, unix_path=None, method="GET", path="/echo/x", query="", body=b"", timeout=15):
    """One FastCGI request; returns (status, headers, body) of the reply."""
    length = len(body) if method in ("POST", "PUT") else None
    try:
        with Conn(port, unix_path=unix_path, timeout=timeout) as c:
            c.send(fcgi.request_bytes(1, fcgi.cgi_params(method=method, path=path, query=query,
                                                         body_length=length), body))
            reply = c.read_response(1, timeout=timeout)
            return reply.cgi()
    except (OSError, ValueError, TimeoutError) as e:
        raise TestFailure(f"FastCGI {method} {path}: {type(e).__name__}: {e}")


def echo_json(status, body, what):
    check(status == 200, f"{what}: status {status}, body {body[:200]!r}")
    try:
        return json.loads(body)
    except ValueError:
        raise TestFailure(f"{what}: body is not JSON: {body[:200]!r}")


def http_call(host, port, method, target, body=None, timeout=15):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers={"Host": "localhost"})
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    except OSError as e:
        raise TestFailure(f"HTTP {method} [{host}]:{port}{target}: {type(e).__name__}: {e}")
    finally:
        conn.close()


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def sha(data):
    return hashlib.sha256(data).hexdigest()


def parse_cgi(out):
    """(header lines, headers, body) of a CGI response on stdout."""
    sep, n = out.find(b"\r\n\r\n"), 4
    if sep < 0:
        sep, n = out.find(b"\n\n"), 2
    if sep < 0:
        raise TestFailure(f"no end of headers in the CGI output: {out[:300]!r}")
    lines = out[:sep].decode("latin-1").replace("\r\n", "\n").split("\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    return lines, headers, out[sep + n:]


def projects_dir(ws, extra=None):
    return ws.demo_projects(extra)


# ---------------------------------------------------------------------------
# 1. Unix sockets


def unix_setup(ws):
    ctx = Ctx(ws, projects=projects_dir(ws))
    ctx.n = 0
    return ctx


def sock_path(ctx):
    ctx.n += 1
    return ctx.ws.path(f"s{ctx.n}.sock")


def unix_args(ctx, path, *extra):
    return ["--protocol=fcgi", "--unix-socket", path, *extra, "-e", ctx.projects]


def check_serves_unix(path, what):
    status, _, body = fcgi_call(unix_path=path, path="/echo/unix", query="u=1")
    j = echo_json(status, body, what)
    check(j.get("project") == "echo" and j.get("path_info") == "/unix" and j.get("query") == "u=1",
          f"{what}: unexpected echo {j!r}")


def case_stale_socket(ctx):
    path = sock_path(ctx)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nothing listens: what a killed process leaves
    check(stat.S_ISSOCK(os.lstat(path).st_mode), "could not create the stale socket file")
    p = start(ctx, "gatewayd-stale", unix_args(ctx, path), unix_path=path)
    check_serves_unix(path, "on the replaced stale socket")
    stop_ok(p, "gatewayd on the replaced stale socket")


def case_live_socket(ctx):
    path = sock_path(ctx)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(path)
        s.listen(16)
        r = run_gatewayd(unix_args(ctx, path))
        check(r.returncode != 0, f"started on a socket another process listens on (status {r.returncode})")
        check(path in r.err, f"the message does not name {path}: {r.err.strip()!r}")
        check(stat.S_ISSOCK(os.lstat(path).st_mode), "the live socket file was removed or replaced")
        # The other process still owns it and still accepts.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(2)
            c.connect(path)
    finally:
        s.close()


def case_regular_file(ctx):
    path = sock_path(ctx)
    content = b"not a socket: must survive\n"
    with open(path, "wb") as f:
        f.write(content)
    r = run_gatewayd(unix_args(ctx, path))
    check(r.returncode != 0, f"started on top of a regular file (status {r.returncode})")
    check(path in r.err, f"the message does not name {path}: {r.err.strip()!r}")
    st = os.lstat(path)
    check(stat.S_ISREG(st.st_mode), "the regular file was replaced")
    with open(path, "rb") as f:
        check(f.read() == content, "the regular file's content changed")


def case_socket_mode(ctx):
    path = sock_path(ctx)
    p = start(ctx, "gatewayd-mode", unix_args(ctx, path, "--socket-mode", "0660"), unix_path=path)
    st = os.lstat(path)
    check(stat.S_ISSOCK(st.st_mode), "not a socket")
    check(stat.S_IMODE(st.st_mode) == 0o660, f"mode {oct(stat.S_IMODE(st.st_mode))}, want 0o660")
    check_serves_unix(path, "socket with mode 0660")
    stop_ok(p, "gatewayd --socket-mode 0660")


def case_socket_group(ctx):
    group = None
    for name in ("www-data", "nogroup"):
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        if os.geteuid() == 0 or g.gr_gid in os.getgroups():
            group = g
            break
    if group is None:
        raise Skip("no group www-data/nogroup this user may chown a file to")
    path = sock_path(ctx)
    p = start(ctx, "gatewayd-group",
              unix_args(ctx, path, "--socket-mode", "0660", "--socket-group", group.gr_name), unix_path=path)
    st = os.lstat(path)
    check(st.st_gid == group.gr_gid, f"socket group id {st.st_gid}, want {group.gr_gid} ({group.gr_name})")
    check(stat.S_IMODE(st.st_mode) == 0o660, f"mode {oct(stat.S_IMODE(st.st_mode))}, want 0o660")
    stop_ok(p, "gatewayd --socket-group")


def case_umask(ctx):
    path = sock_path(ctx)
    p = start(ctx, "gatewayd-umask", unix_args(ctx, path, "--umask", "077"), unix_path=path)
    st = os.lstat(path)
    check(stat.filemode(st.st_mode) == "srwx------", f"socket is {stat.filemode(st.st_mode)}, want srwx------")
    check_serves_unix(path, "socket made with umask 077")
    stop_ok(p, "gatewayd --umask 077")


def case_removed_on_sigterm(ctx):
    path = sock_path(ctx)
    p = start(ctx, "gatewayd-unlink", unix_args(ctx, path), unix_path=path)
    check_serves_unix(path, "before SIGTERM")
    stop_ok(p, "gatewayd on a unix socket")
    check(not os.path.lexists(path), f"{path} still exists after gatewayd stopped")


UNIX_CASES = [
    ("stale-socket-replaced", case_stale_socket, 15),
    ("live-socket-refused", case_live_socket, 15),
    ("regular-file-refused", case_regular_file, 15),
    ("socket-mode-0660", case_socket_mode, 15),
    ("socket-group", case_socket_group, 15),
    ("umask-077", case_umask, 15),
    ("socket-removed-on-sigterm", case_removed_on_sigterm, 15),
]


# ---------------------------------------------------------------------------
# 2. IPv6


def free_dual_port():
    """A port free on both 127.0.0.1 and ::1 (bound dual-stack, released)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        return s.getsockname()[1]


def v6_accepts(port):
    try:
        with socket.create_connection(("::1", port), timeout=0.5):
            return True
    except OSError:
        return False


def ipv6_setup(ws):
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise Skip(f"no IPv6 loopback here: {e}")
    return Ctx(ws, projects=projects_dir(ws))


def case_v6_only(ctx):
    port = free_dual_port()
    p = start(ctx, "gatewayd-v6", ["--protocol=http", "-b", "::1", "-p", str(port), "-e", ctx.projects])
    wait_until(lambda: v6_accepts(port), 10, f"gatewayd on [::1]:{port}", proc=p)
    status, _, body = http_call("::1", port, "GET", "/echo/six")
    j = echo_json(status, body, "GET over [::1]")
    check(j.get("remote_addr") == "::1", f"remote_addr {j.get('remote_addr')!r}, want '::1'")
    check(not tcp_accepts(port), f"-b ::1 also accepts on 127.0.0.1:{port}")
    stop_ok(p, "gatewayd -b ::1")


def case_dual_stack(ctx):
    port = free_dual_port()
    p = start(ctx, "gatewayd-dual", ["--protocol=http", "-p", str(port), "-e", ctx.projects])
    wait_until(lambda: v6_accepts(port) and tcp_accepts(port), 10, f"gatewayd on 127.0.0.1 and ::1 port {port}",
               proc=p)
    for host, want in (("127.0.0.1", ("127.0.0.1", "::ffff:127.0.0.1")), ("::1", ("::1",))):
        status, _, body = http_call(host, port, "GET", "/echo/dual")
        j = echo_json(status, body, f"GET over {host}")
        check(j.get("remote_addr") in want, f"over {host}: remote_addr {j.get('remote_addr')!r}")
    stop_ok(p, "gatewayd without -b")


IPV6_CASES = [
    ("http-on-v6-loopback", case_v6_only, 15),
    ("http-default-both-families", case_dual_stack, 15),
]


# ---------------------------------------------------------------------------
# 3. FCGI_WEB_SERVER_ADDRS


def addrs_setup(ws):
    projects = projects_dir(ws)
    ctx = Ctx(ws, projects=projects, port_deny=free_port(), port_allow=free_port())
    args = ["--protocol=fcgi", "-b", "127.0.0.1", "-e", projects]
    ctx.deny = start_gatewayd(ws, args + ["-p", str(ctx.port_deny)], name="gatewayd-deny", port=ctx.port_deny,
                              env=clean_env(FCGI_WEB_SERVER_ADDRS="10.9.9.9"))
    ctx.allow = start_gatewayd(ws, args + ["-p", str(ctx.port_allow)], name="gatewayd-allow",
                               port=ctx.port_allow, env=clean_env(FCGI_WEB_SERVER_ADDRS=" 10.9.9.9 , 127.0.0.1 "))
    ctx.procs += [ctx.deny, ctx.allow]
    return ctx


def case_addrs_refused(ctx):
    with Conn(ctx.port_deny, timeout=10) as c:
        try:
            c.send(fcgi.request_bytes(1, fcgi.cgi_params(path="/echo/denied")))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            records = c.read_until_closed(10)
        except TimeoutError as e:
            raise TestFailure(f"peer not in FCGI_WEB_SERVER_ADDRS: {e}")
        check(not records and not c.buf, f"a refused peer got {len(records)} records: {records[:3]!r}")
    wait_until(lambda: "FCGI_WEB_SERVER_ADDRS" in ctx.deny.log_text_since_mark()
               and "127.0.0.1" in ctx.deny.log_text_since_mark(),
               5, "a log line about the refused peer 127.0.0.1")


def case_addrs_allowed(ctx):
    status, _, body = fcgi_call(ctx.port_allow, path="/echo/allowed")
    j = echo_json(status, body, "peer listed in FCGI_WEB_SERVER_ADDRS with spaces")
    check(j.get("path_info") == "/allowed", f"echo {j!r}")
    text = ctx.allow.log_text_since_mark()
    check("refused" not in text, f"allowed peer logged as refused: {text.strip()[:300]!r}")


ADDRS_CASES = [
    ("fcgi-web-server-addrs-refuses", case_addrs_refused, 20),
    ("fcgi-web-server-addrs-spaces-allowed", case_addrs_allowed, 20),
]


# ---------------------------------------------------------------------------
# 4. CGI mode


def cgi_setup(ws):
    return Ctx(ws)


def cgi_run(method, path_info, query="", body=b""):
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENV}
    env.update(GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD=method, SCRIPT_NAME="", PATH_INFO=path_info,
               QUERY_STRING=query, SERVER_PROTOCOL="HTTP/1.1", SERVER_NAME="localhost", SERVER_PORT="80",
               REMOTE_ADDR="192.0.2.7", REMOTE_PORT="5555", HTTP_HOST="localhost",
               REQUEST_URI=path_info + ("?" + query if query else ""), TRAC_ENV_PARENT_DIR=DEMO)
    if method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/octet-stream"
    r = run_gatewayd([], env=env, stdin_data=body, timeout=15)
    check(r.returncode == 0, f"CGI {method} {path_info}: exit status {r.returncode}, stderr {r.err.strip()[:300]!r}")
    lines, headers, out = parse_cgi(r.stdout)
    return lines, headers, out


def case_cgi_post(ctx):
    body = PatternBody(300 * 1024 + 17)
    data = b"".join(body.blocks([65536, 1000]))
    lines, headers, out = cgi_run("POST", "/echo/x", "a=1", data)
    check("Status: 200 OK" in lines, f"no 'Status: 200 OK' line in {lines!r}")
    try:
        j = json.loads(out)
    except ValueError:
        raise TestFailure(f"body is not JSON: {out[:200]!r}")
    for key, want in (("project", "echo"), ("method", "POST"), ("path_info", "/x"), ("query", "a=1"),
                      ("body_length", len(data)), ("body_sha256", sha(data)), ("remote_addr", "192.0.2.7")):
        check(j.get(key) == want, f"{key} = {j.get(key)!r}, want {want!r}")


def case_cgi_static(ctx):
    with open(os.path.join(DEMO, "static", "htdocs", "style.css"), "rb") as f:
        want = f.read()
    lines, headers, out = cgi_run("GET", "/static/style.css")
    check("Status: 200 OK" in lines, f"no 'Status: 200 OK' line in {lines!r}")
    check(out == want, f"body differs from style.css ({len(out)} bytes, want {len(want)})")
    ctype = header(headers, "Content-Type") or ""
    check(ctype.startswith("text/css"), f"Content-Type {ctype!r}")


def case_cgi_404(ctx):
    lines, headers, out = cgi_run("GET", "/no-such-project/x")
    status = header(headers, "Status") or ""
    check(status.startswith("404"), f"Status {status!r}, want 404; headers {lines!r}")


CGI_CASES = [
    ("cgi-post-echo", case_cgi_post, 20),
    ("cgi-static-file", case_cgi_static, 20),
    ("cgi-unknown-project-404", case_cgi_404, 20),
]


# ---------------------------------------------------------------------------
# 5. Command line


def cli_setup(ws):
    good = projects_dir(ws)
    bad = ws.mkdir("bad-projects")
    ws.mkdir("bad-projects", "broken")
    ws.write("bad-projects/broken/project.json", json.dumps({"backend": {"type": "nope"}}))
    return Ctx(ws, projects=good, bad_projects=bad)


def one_line_error(r, name, what):
    check(r.returncode == 2, f"{what}: exit status {r.returncode}, want 2 (stderr {r.err.strip()!r})")
    lines = [line for line in r.err.splitlines() if line.strip()]
    check(len(lines) == 1, f"{what}: {len(lines)} lines on stderr, want 1: {r.err.strip()!r}")
    check(name in lines[0], f"{what}: the message does not name {name}: {lines[0]!r}")


def case_unknown_flag(ctx):
    r = run_gatewayd(["--no-such-flag", "-e", ctx.projects])
    one_line_error(r, "--no-such-flag", "unknown flag")


def case_bad_port(ctx):
    r = run_gatewayd(["--port", "abc", "-e", ctx.projects])
    one_line_error(r, "--port", "--port abc")


def case_check_ok(ctx):
    for flag in ("-t", "--check-config"):
        r = run_gatewayd([flag, "--protocol=http", "-b", "127.0.0.1", "-p", str(free_port()), "-e", ctx.projects])
        out = r.stdout.decode("utf-8", "replace") + r.err
        check(r.returncode == 0, f"{flag}: exit status {r.returncode}: {out.strip()!r}")
        check("configuration OK" in out, f"{flag}: no 'configuration OK' in {out.strip()!r}")


def case_check_bad_project(ctx):
    r = run_gatewayd(["-t", "-e", ctx.bad_projects])
    check(r.returncode == 2, f"exit status {r.returncode}, want 2: {r.err.strip()!r}")
    check("broken/project.json" in r.err, f"the message does not name the file: {r.err.strip()!r}")
    check("backend.type" in r.err, f"the message does not name the field backend.type: {r.err.strip()!r}")
    check("configuration OK" not in r.stdout.decode("utf-8", "replace"), "said 'configuration OK' anyway")


def case_version_help(ctx):
    r = run_gatewayd(["--version"])
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0, f"--version: exit status {r.returncode}")
    check(out.startswith("gatewayd "), f"--version printed {out!r}")
    for flag in ("--help", "-h"):
        r = run_gatewayd([flag])
        out = r.stdout.decode("utf-8", "replace")
        check(r.returncode == 0, f"{flag}: exit status {r.returncode}")
        check("Usage:" in out and "--unix-socket" in out, f"{flag} printed {out[:200]!r}")


CLI_CASES = [
    ("cli-unknown-flag-exit-2", case_unknown_flag, 15),
    ("cli-bad-port-exit-2", case_bad_port, 15),
    ("cli-check-config-ok", case_check_ok, 15),
    ("cli-check-config-bad-project", case_check_bad_project, 15),
    ("cli-version-and-help", case_version_help, 15),
]


# ---------------------------------------------------------------------------
# 6. --config with two listeners


def config_setup(ws):
    projects = projects_dir(ws)
    sock = ws.path("fcgi.sock")
    port = free_port()
    conf = ws.write("gatewayd.json", json.dumps({
        "listeners": [
            {"protocol": "fcgi", "unix_socket": sock, "socket_mode": "0660"},
            {"protocol": "http", "host": "127.0.0.1", "port": port},
        ],
        "env_parent_dir": projects,
        "limits": {"max_connections": 3},
    }))
    ctx = Ctx(ws, sock=sock, port=port)
    p = start_gatewayd(ws, ["--config", conf], name="gatewayd-config", port=port, unix_path=sock, env=clean_env())
    ctx.procs.append(p)
    return ctx


def case_config_fcgi_unix(ctx):
    body = b"over the unix socket" * 100
    status, _, out = fcgi_call(unix_path=ctx.sock, method="POST", path="/echo/via-unix", body=body)
    j = echo_json(status, out, "FastCGI on the config's unix socket")
    check(j.get("origin") == "fcgi" and j.get("path_info") == "/via-unix" and j.get("body_sha256") == sha(body),
          f"echo {j!r}")
    mode = stat.S_IMODE(os.lstat(ctx.sock).st_mode)
    check(mode == 0o660, f"socket_mode \"0660\" gave {oct(mode)}")


def case_config_http_tcp(ctx):
    r = request(ctx.port, "GET", "/echo/via-http?h=1")
    check(r.status == 200, f"status {r.status}: {r.body[:200]!r}")
    j = r.json()
    check(j.get("origin") == "http" and j.get("path_info") == "/via-http" and j.get("query") == "h=1",
          f"echo {j!r}")


def case_config_max_connections(ctx):
    # limits.max_connections = 3: a fourth connection is closed at once, and
    # once the others go, new ones are served again.
    time.sleep(0.5)  # connections of the cases before are closed by now
    held = []
    try:
        for i in range(3):
            # Each held connection is proven accepted by one keep-alive request.
            c = http.client.HTTPConnection("127.0.0.1", ctx.port, timeout=5)
            c.request("GET", f"/echo/held{i}")
            r = c.getresponse()
            r.read()
            check(r.status == 200, f"held connection {i}: status {r.status}")
            held.append(c)
        extra = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
        try:
            extra.sendall(b"GET /echo/x HTTP/1.1\r\nHost: a\r\n\r\n")
        except OSError:
            pass
        try:
            got = extra.recv(100)
        except ConnectionResetError:
            got = b""
        extra.close()
        check(got == b"", f"a 4th connection over max_connections=3 got {got[:60]!r}")
    finally:
        for c in held:
            c.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            r = request(ctx.port, "GET", "/echo/after")
            if r.status == 200:
                break
        except OSError:
            pass
        check(time.monotonic() < deadline, "not served again after the held connections closed")
        time.sleep(0.1)


CONFIG_CASES = [
    ("config-fcgi-unix-listener", case_config_fcgi_unix, 15),
    ("config-http-tcp-listener", case_config_http_tcp, 15),
    ("config-max-connections", case_config_max_connections, 20),
]


# ---------------------------------------------------------------------------
# 7. -d --pidfile


def detach_setup(ws):
    return Ctx(ws, projects=projects_dir(ws))


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pids_with_arg(arg):
    """Pids whose command line holds `arg` (a path unique to this test)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if arg.encode() in f.read().split(b"\0"):
                    out.append(int(d))
        except OSError:
            pass
    return out


def case_detach(ctx):
    pidfile = ctx.ws.path("gatewayd.pid")
    log = ctx.ws.path("gatewayd-detached.log")
    port = free_port()
    args = ["-d", "--pidfile", pidfile, "--error-log", log, "--protocol=http", "-b", "127.0.0.1",
            "-p", str(port), "-e", ctx.projects]
    try:
        t0 = time.monotonic()
        r = run_gatewayd(args, timeout=10)
        elapsed = time.monotonic() - t0
        check(r.returncode == 0, f"-d: launching command exited {r.returncode}: {r.err.strip()!r}")
        check(elapsed < 5, f"-d: launching command took {elapsed:.1f}s to return")

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
        check(pid in pids_with_arg(pidfile), f"pid {pid} is not the gatewayd we started")
        wait_until(lambda: tcp_accepts(port), 10, f"the detached gatewayd on port {port}")
        r2 = request(port, "GET", "/echo/detached")
        check(r2.status == 200 and r2.json().get("path_info") == "/detached", f"request: {r2!r}")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 5, f"pid {pid} to exit on SIGTERM")
        check(not tcp_accepts(port), f"port {port} still accepts after the daemon stopped")
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for line in text.splitlines():
            check(not CRASH_MARKERS.search(line), f"crash report in the detached gatewayd's log: {line}")
    finally:
        # Whatever happened: no detached gatewayd of ours outlives the case.
        for pid in pids_with_arg(pidfile):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


DETACH_CASES = [
    ("daemonize-pidfile", case_detach, 30),
]


# ---------------------------------------------------------------------------
# 8. The http backend


UPSTREAM = r'''
import hashlib, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(200, ("upstream GET " + self.path + "\n").encode())

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):
        body = self.read_body()
        self.reply(200, body, [("X-Body-Sha256", hashlib.sha256(body).hexdigest()),
                               ("X-Seen-Path", self.path)])


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def proxy_setup(ws):
    up_port = free_port()
    projects = projects_dir(ws, {
        "app": {"backend": {"type": "http", "upstream": f"127.0.0.1:{up_port}"}},
        "down": {"backend": {"type": "http", "upstream": f"127.0.0.1:{dead_port()}", "connect_timeout_ms": 2000}},
    })
    script = ws.write("upstream.py", UPSTREAM)
    ctx = Ctx(ws, http_port=free_port(), fcgi_port=free_port(), projects=projects)
    up = ws.start("upstream", [sys.executable, script, str(up_port)])
    wait_until(lambda: tcp_accepts(up_port), 10, "the Python upstream", proc=up)
    conf = ws.write("gatewayd.json", json.dumps({
        "listeners": [
            {"protocol": "http", "host": "127.0.0.1", "port": ctx.http_port},
            {"protocol": "fcgi", "host": "127.0.0.1", "port": ctx.fcgi_port},
        ],
        "env_parent_dir": projects,
    }))
    gw = start_gatewayd(ws, ["--config", conf], name="gatewayd-proxy", port=ctx.http_port, env=clean_env())
    wait_until(lambda: tcp_accepts(ctx.fcgi_port), 10, "gatewayd's FastCGI listener", proc=gw)
    ctx.procs += [up, gw]
    return ctx


POST_SIZE = 2 * 1024 * 1024 + 333


def post_body():
    return b"".join(PatternBody(POST_SIZE, seed=b"proxy").blocks([70000]))


def check_post(status, headers, body, sent, what):
    check(status == 200, f"{what}: status {status}, body {body[:200]!r}")
    seen = header(headers, "X-Body-Sha256")
    check(seen == sha(sent), f"{what}: upstream received a body with sha256 {seen}, want {sha(sent)}")
    check(len(body) == len(sent) and sha(body) == sha(sent),
          f"{what}: echoed body of {len(body)} bytes differs from the {len(sent)} sent")


def case_proxy_http_get(ctx):
    status, _, body = http_call("127.0.0.1", ctx.http_port, "GET", "/app/hello?q=1")
    check(status == 200, f"status {status}, body {body[:200]!r}")
    check(body == b"upstream GET /hello?q=1\n", f"body {body[:200]!r}")


def case_proxy_http_post(ctx):
    sent = post_body()
    status, headers, body = http_call("127.0.0.1", ctx.http_port, "POST", "/app/upload", body=sent, timeout=30)
    check_post(status, headers, body, sent, "HTTP POST through the http backend")


def case_proxy_http_down(ctx):
    status, _, body = http_call("127.0.0.1", ctx.http_port, "GET", "/down/x")
    check(status == 502, f"upstream down: status {status}, want 502; body {body[:200]!r}")


def case_proxy_fcgi_get(ctx):
    status, _, body = fcgi_call(ctx.fcgi_port, path="/app/hello", query="q=2")
    check(status == 200, f"status {status}, body {body[:200]!r}")
    check(body == b"upstream GET /hello?q=2\n", f"body {body[:200]!r}")


def case_proxy_fcgi_post(ctx):
    sent = post_body()
    status, headers, body = fcgi_call(ctx.fcgi_port, method="POST", path="/app/upload", body=sent, timeout=30)
    check_post(status, headers, body, sent, "FastCGI POST through the http backend")


def case_proxy_fcgi_down(ctx):
    status, _, body = fcgi_call(ctx.fcgi_port, path="/down/x")
    check(status == 502, f"upstream down: status {status}, want 502; body {body[:200]!r}")


def case_proxy_sigterm_with_idle_upstream(ctx):
    """An idle kept-alive upstream connection must not keep gatewayd from
    stopping on SIGTERM (the Python upstream never closes idle ones)."""
    port = free_port()
    p = start(ctx, "gatewayd-proxy-term", ["--protocol=http", "-b", "127.0.0.1", "-p", str(port),
                                           "-e", ctx.projects], port=port)
    # This case judges the exit itself; clean-shutdown need not report it twice.
    ctx.ws.procs.remove(p)
    status, _, body = http_call("127.0.0.1", port, "GET", "/app/idle")
    check(status == 200 and body == b"upstream GET /idle\n", f"status {status}, body {body[:200]!r}")
    p.stop(timeout=3)
    check(p.stopped_by == "term",
          "still running 3s after SIGTERM with an idle upstream connection in the pool (killed)")
    check(p.returncode() == 0, f"exit status {p.returncode()} on SIGTERM")


PROXY_CASES = [
    ("http-backend-get-via-http", case_proxy_http_get, 15),
    ("http-backend-post-via-http", case_proxy_http_post, 30),
    ("http-backend-down-502-via-http", case_proxy_http_down, 15),
    ("http-backend-get-via-fcgi", case_proxy_fcgi_get, 15),
    ("http-backend-post-via-fcgi", case_proxy_fcgi_post, 30),
    ("http-backend-down-502-via-fcgi", case_proxy_fcgi_down, 15),
    ("http-backend-sigterm-with-idle-upstream", case_proxy_sigterm_with_idle_upstream, 15),
]


# ---------------------------------------------------------------------------
# 9. Bad input on the HTTP front


def front_setup(ws):
    ctx = Ctx(ws, port=free_port())
    ctx.procs.append(start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(ctx.port),
                                         "-e", projects_dir(ws)], name="gatewayd-front", port=ctx.port,
                                    env=clean_env()))
    return ctx


def raw_exchange(port, data, timeout=10):
    """Sends `data`, reads until the server closes; fails if it does not."""
    out = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise TestFailure(f"connection still open {timeout}s after a bad request; got {bytes(out[:200])!r}")
            if not chunk:
                break
            out += chunk
    return bytes(out)


def expect_400_then_ok(ctx, data, what):
    out = raw_exchange(ctx.port, data)
    status_line = out.split(b"\r\n", 1)[0]
    check(status_line.split()[1:2] == [b"400"], f"{what}: status line {status_line!r}, want 400")
    check(out.count(b"HTTP/1.") == 1, f"{what}: more than one response: {out[:300]!r}")
    r = request(ctx.port, "GET", "/echo/after")
    check(r.status == 200, f"after {what}: a normal request got {r.status}")


def case_cl_and_te(ctx):
    expect_400_then_ok(ctx, b"POST /echo/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                            b"GET /echo/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
                       "Content-Length with Transfer-Encoding")


def case_bad_chunk_size(ctx):
    expect_400_then_ok(ctx, b"POST /echo/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"zz\r\nhello\r\n0\r\n\r\n", "chunk size 'zz'")


def case_obs_fold(ctx):
    expect_400_then_ok(ctx, b"GET /echo/x HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n",
                       "obs-fold header")


FRONT_CASES = [
    ("http-front-cl-and-te-400", case_cl_and_te, 20),
    ("http-front-bad-chunk-size-400", case_bad_chunk_size, 20),
    ("http-front-obs-fold-400", case_obs_fold, 20),
]


def suites():
    return [
        Suite("daemon-unix", unix_setup, UNIX_CASES),
        Suite("daemon-ipv6", ipv6_setup, IPV6_CASES),
        Suite("daemon-addrs", addrs_setup, ADDRS_CASES),
        Suite("daemon-cgi", cgi_setup, CGI_CASES),
        Suite("daemon-cli", cli_setup, CLI_CASES),
        Suite("daemon-config", config_setup, CONFIG_CASES),
        Suite("daemon-detach", detach_setup, DETACH_CASES),
        Suite("daemon-http-backend", proxy_setup, PROXY_CASES),
        Suite("daemon-http-front", front_setup, FRONT_CASES),
    ]
