"""gatewayd's start modes: systemd socket activation (systemd-socket-activate
passing sockets of two protocols, matched by name) with Type=notify
readiness on a notification socket the test opens; --daemonize with
--user (the drop read from /proc); and --workers: the master, its worker
processes, a killed worker replaced, a SIGHUP replacing the workers one at
a time under a client loop with no failed request, SIGQUIT ending them all.

test_daemon.py already covers -d/--pidfile alone; this module adds what
those start modes do together with the others.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from support import (CRASH_MARKERS, Ctx, Skip, Suite, TestFailure, check, free_port, gatewayd_binary,
                     pid_alive, request, tcp_accepts, wait_until)

ACTIVATE = "/usr/bin/systemd-socket-activate"
KEEP_OUT = ("TRAC_ENV", "FCGI_", "LISTEN_", "NOTIFY_SOCKET")
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


# ---------------------------------------------------------------------------
# Helpers


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(KEEP_OUT) and k != "GATEWAY_INTERFACE"}
    env.update(extra)
    return env


def client_binary():
    env = os.environ.get("GATEWAYD_CLIENT")
    if env:
        return os.path.abspath(env)
    sibling = os.path.join(os.path.dirname(gatewayd_binary()), "client", "gatewayd-client")
    return sibling if os.access(sibling, os.X_OK) else (shutil.which("gatewayd-client") or sibling)


def client_echo(ctx, url, proto, what):
    """One request with gatewayd-client to the echo project; checks that it
    arrived over `proto`."""
    try:
        r = subprocess.run([ctx.client, url], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{what}: gatewayd-client {url} did not end within 20s")
    check(r.returncode == 0, f"{what}: gatewayd-client {url} exited {r.returncode}: {r.stderr[:300]!r}")
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise TestFailure(f"{what}: not JSON: {r.stdout[:200]!r}")
    check(j.get("project") == "echo" and j.get("origin") == proto,
          f"{what}: project {j.get('project')!r} origin {j.get('origin')!r}, want echo over {proto}")
    return j


class NotifySocket:
    """The service manager's end of Type=notify: a unix datagram socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.seen = []  # every datagram, in order

    def wait_for(self, line, timeout, what, after=0):
        """Reads datagrams until one (from index `after` on) holds `line` as
        one of its lines; returns its index."""
        for i in range(after, len(self.seen)):
            if line in self.seen[i]:
                return i
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"no {line} on NOTIFY_SOCKET within {timeout}s for {what}; got {self.seen!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            lines = data.decode("utf-8", "replace").split("\n")
            self.seen.append(lines)
            if line in lines and len(self.seen) > after:
                return len(self.seen) - 1

    def close(self):
        self.sock.close()


def main_pid(lines):
    for line in lines:
        if line.startswith("MAINPID="):
            return int(line.split("=", 1)[1])
    return None


def children(pid):
    """Pids whose parent is `pid` (zombies excluded)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(d))
    return sorted(out)


def ids(pid, key):
    """The four ids of the Uid: or Gid: line of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return [int(x) for x in line.split()[1:5]]
    raise TestFailure(f"no {key} line in /proc/{pid}/status")


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def no_crash(text, what):
    for line in text.splitlines():
        check(not CRASH_MARKERS.search(line), f"crash report in {what}: {line}")


def get_ok(port, target, what):
    r = request(port, "GET", target, headers={"Connection": "close"}, timeout=15)
    check(r.status == 200, f"{what}: GET {target} answered {r.status}")
    return r


def kill_quietly(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# ---------------------------------------------------------------------------
# 1. systemd socket activation


def activation_setup(ws):
    if not os.access(ACTIVATE, os.X_OK):
        raise Skip(f"{ACTIVATE} not installed (Debian package systemd)")
    client = client_binary()
    if not os.access(client, os.X_OK):
        raise TestFailure(f"gatewayd-client binary not found at {client}")
    return Ctx(ws, projects=ws.demo_projects(), client=client, n=0)


def activate(ctx, name, listen, gatewayd_args, extra=(), notify=None):
    """gatewayd under systemd-socket-activate (which binds `listen`, then
    execs gatewayd at the first connection: the pid stays the same)."""
    argv = [ACTIVATE]
    for address in listen:
        argv += ["-l", address]
    # It hands gatewayd only TERM, PATH, HOME, LISTEN_* and what -E names.
    passed = {k: v for k, v in os.environ.items() if k in SANITIZER_ENV}
    if notify:
        passed["NOTIFY_SOCKET"] = notify.path
    for k, v in passed.items():
        argv += ["-E", f"{k}={v}"]
    argv += list(extra) + [gatewayd_binary()] + gatewayd_args
    return ctx.ws.start(name, argv, env=clean_env())


def notify_socket(ctx):
    ctx.n += 1
    return NotifySocket(ctx.ws.path(f"notify{ctx.n}.sock"))


def case_two_protocols(ctx):
    p1, p2 = free_port(), free_port()
    notify = notify_socket(ctx)
    try:
        p = activate(ctx, "activate-two", [f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"], ["-e", ctx.projects],
                     extra=["--fdname=fcgi:scgi"], notify=notify)
        wait_until(lambda: tcp_accepts(p1) and tcp_accepts(p2), 10, "systemd-socket-activate's sockets", proc=p)
        client_echo(ctx, f"fcgi://127.0.0.1:{p1}/echo/one", "fcgi", "FastCGI on the socket named fcgi")
        client_echo(ctx, f"scgi://127.0.0.1:{p2}/echo/two", "scgi", "SCGI on the socket named scgi")
        ready = notify.seen[notify.wait_for("READY=1", 10, "gatewayd under systemd-socket-activate")]
        check(main_pid(ready) == p.pid, f"READY=1 came with MAINPID {main_pid(ready)}, want {p.pid}: {ready!r}")
        exe = os.readlink(f"/proc/{p.pid}/exe")
        check(os.path.samefile(exe, gatewayd_binary()), f"pid {p.pid} runs {exe}, not gatewayd")
        log = read_text(p.log_path)
        for want in (f"listening on fcgi:127.0.0.1:{p1}", f"listening on scgi:127.0.0.1:{p2}"):
            check(want in log, f"the log does not say '{want}':\n{log[-1500:]}")
        p.stop()
        check(p.stopped_by == "term" and p.returncode() == 0,
              f"stopped by {p.stopped_by}, exit status {p.returncode()}")
        notify.wait_for("STOPPING=1", 5, "gatewayd stopping on SIGTERM")
        no_crash(read_text(p.log_path), "gatewayd's log")
    finally:
        notify.close()


def case_unnamed_with_protocol(ctx):
    port = free_port()
    p = activate(ctx, "activate-unnamed", [f"127.0.0.1:{port}"], ["--protocol=scgi", "-e", ctx.projects])
    wait_until(lambda: tcp_accepts(port), 10, "systemd-socket-activate's socket", proc=p)
    client_echo(ctx, f"scgi://127.0.0.1:{port}/echo/u", "scgi", "SCGI on an unnamed socket with --protocol=scgi")
    p.stop()
    check(p.returncode() == 0, f"exit status {p.returncode()} on SIGTERM")


def wait_exit(p, timeout, what):
    wait_until(lambda: not p.alive(), timeout, what)
    return p.returncode(), read_text(p.log_path)


def case_datagram_refused(ctx):
    port = free_port()
    p = activate(ctx, "activate-dgram", [f"127.0.0.1:{port}"], ["-e", ctx.projects], extra=["-d", "--fdname=fcgi"])
    # systemd-socket-activate starts gatewayd on the socket's first activity.
    deadline = time.monotonic() + 10
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while p.alive() and "Execing" not in read_text(p.log_path) and time.monotonic() < deadline:
            s.sendto(b"x", ("127.0.0.1", port))
            time.sleep(0.1)
    status, log = wait_exit(p, 10, "gatewayd to refuse a datagram socket")
    check(status not in (0, None), f"gatewayd served a datagram socket (exit status {status})")
    want = f"systemd socket 'fcgi' (fd 3): not a stream socket"
    check(want in log, f"the error does not say '{want}':\n{log[-800:]}")


def case_unknown_name_refused(ctx):
    port = free_port()
    p = activate(ctx, "activate-web", [f"127.0.0.1:{port}"], ["-e", ctx.projects], extra=["--fdname=web"])
    wait_until(lambda: tcp_accepts(port) or not p.alive(), 10, "systemd-socket-activate's socket")
    status, log = wait_exit(p, 10, "gatewayd to refuse a socket it cannot match")
    check(status == 2, f"exit status {status}, want 2 (a configuration error)")
    check("systemd socket 'web' (fd 3): no listener is named 'web'" in log,
          f"the error does not name the socket:\n{log[-800:]}")


def case_activation_with_workers(ctx):
    p1, p2 = free_port(), free_port()
    notify = notify_socket(ctx)
    try:
        p = activate(ctx, "activate-workers", [f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"],
                     ["--workers", "2", "-e", ctx.projects], extra=["--fdname=fcgi:http"], notify=notify)
        wait_until(lambda: tcp_accepts(p1), 10, "systemd-socket-activate's sockets", proc=p)
        ready = notify.seen[notify.wait_for("READY=1", 15, "the master under systemd-socket-activate")]
        check(main_pid(ready) == p.pid, f"READY=1 came with MAINPID {main_pid(ready)}, want {p.pid}")
        workers = children(p.pid)
        check(len(workers) == 2, f"the master's children: {workers}, want two workers")
        client_echo(ctx, f"fcgi://127.0.0.1:{p1}/echo/w1", "fcgi", "FastCGI through the workers")
        client_echo(ctx, f"http://127.0.0.1:{p2}/echo/w2", "http", "HTTP through the workers")
        log = read_text(p.log_path)
        for w in workers:
            for want in (f"worker {w}: listening on fcgi:127.0.0.1:{p1}", f"worker {w}: listening on http:127.0.0.1:{p2}"):
                check(want in log, f"the log does not say '{want}':\n{log[-1500:]}")
        check("master: listening" not in log, "the master bound a socket systemd had passed")
        p.stop(timeout=15)
        check(p.stopped_by == "term" and p.returncode() == 0,
              f"stopped by {p.stopped_by}, exit status {p.returncode()}")
        check(not any(pid_alive(w) for w in workers), "a worker outlived the master")
    finally:
        notify.close()


ACTIVATION_CASES = [
    ("activate-with-workers", case_activation_with_workers, 30),
    ("activate-fcgi-and-scgi-notify-ready", case_two_protocols, 30),
    ("activate-unnamed-socket-with-protocol", case_unnamed_with_protocol, 20),
    ("activate-datagram-socket-refused", case_datagram_refused, 20),
    ("activate-unknown-name-refused", case_unknown_name_refused, 20),
]


# ---------------------------------------------------------------------------
# 2. --daemonize with --user (and with --workers)


def daemon_setup(ws):
    if os.geteuid() != 0:
        raise Skip("--user needs root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise Skip("no user nobody")
    return Ctx(ws, projects=ws.demo_projects(), nobody=nobody)


def start_detached(ctx, name, extra):
    """gatewayd -d ...: the launching command returns once it serves;
    returns (pid from the pid file, port, error log path)."""
    pidfile = ctx.ws.path(f"{name}.pid")
    log = ctx.ws.path(f"{name}.log")
    port = free_port()
    args = [gatewayd_binary(), "-d", "--pidfile", pidfile, "--error-log", log, "--protocol=http",
            "-b", "127.0.0.1", "-p", str(port), "-e", ctx.projects] + extra
    try:
        r = subprocess.run(args, capture_output=True, timeout=20, env=clean_env())
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{name}: the launching command did not return within 20s")
    check(r.returncode == 0, f"{name}: launching command exited {r.returncode}: {r.stderr[:400]!r}")
    text = read_text(pidfile)
    check(text.endswith("\n") and text.strip().isdigit(), f"{name}: pid file holds {text!r}")
    pid = int(text)
    check(pid_alive(pid), f"{name}: pid {pid} from the pid file is not running")
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        check(pidfile.encode() in f.read().split(b"\0"), f"{name}: pid {pid} is not the gatewayd we started")
    return pid, port, log, pidfile


def stop_detached(pid, pids, what):
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not any(pid_alive(p) for p in pids), 15, f"{what} to exit on SIGTERM")


def case_daemonize_user(ctx):
    pid = None
    try:
        pid, port, log, pidfile = start_detached(ctx, "daemon-user", ["--user", "nobody"])
        uid = ids(pid, "Uid")
        check(uid == [ctx.nobody.pw_uid] * 4, f"Uid line of the daemon: {uid}, want {ctx.nobody.pw_uid} four times")
        gid = ids(pid, "Gid")
        check(gid == [ctx.nobody.pw_gid] * 4, f"Gid line of the daemon: {gid}, want {ctx.nobody.pw_gid} four times")
        r = get_ok(port, "/echo/as-nobody", "the daemon running as nobody")
        check(r.json().get("path_info") == "/as-nobody", f"echo: {r!r}")
        stop_detached(pid, [pid], "the daemon")
        no_crash(read_text(log), "the daemon's log")
    finally:
        if pid:
            kill_quietly([pid])


def case_daemonize_workers_user(ctx):
    pids = []
    try:
        master, port, log, pidfile = start_detached(ctx, "daemon-workers", ["--workers", "2", "--user", "nobody"])
        pids = [master]
        wait_until(lambda: len(children(master)) == 2, 10, "two workers under the daemonized master")
        workers = children(master)
        pids += workers
        check(ids(master, "Uid")[0] == 0, "the master dropped its privileges; it keeps them to bind on a reload")
        for w in workers:
            check(ids(w, "Uid") == [ctx.nobody.pw_uid] * 4, f"worker {w}: Uid {ids(w, 'Uid')}, want nobody's")
        get_ok(port, "/echo/workers", "the daemonized workers")
        text = read_text(log)
        for w in workers:
            check(f"worker {w}: listening on http:127.0.0.1:{port}" in text,
                  f"the error log has no line from worker {w}:\n{text[-1500:]}")
        stop_detached(master, pids, "the master and its workers")
        check(not os.path.exists(pidfile), "the master left its pid file behind")
        no_crash(read_text(log), "the daemon's log")
    finally:
        kill_quietly(pids)


DAEMON_CASES = [
    ("daemonize-user-nobody-from-proc", case_daemonize_user, 30),
    ("daemonize-workers-user-nobody", case_daemonize_workers_user, 30),
]


# ---------------------------------------------------------------------------
# 3. --workers


def workers_setup(ws):
    ctx = Ctx(ws, projects=ws.demo_projects(), port=free_port())
    ctx.notify = NotifySocket(ws.path("notify-workers.sock"))
    args = ["--workers", "2", "--graceful-timeout", "10", "--protocol=http", "-b", "127.0.0.1",
            "-p", str(ctx.port), "-e", ctx.projects]
    ctx.master = ws.start("gatewayd-workers", [gatewayd_binary()] + args,
                          env=clean_env(NOTIFY_SOCKET=ctx.notify.path))
    ctx.procs.append(ctx.master)
    wait_until(lambda: tcp_accepts(ctx.port), 10, "the master's socket", proc=ctx.master)
    return ctx


def two_workers(ctx, what):
    wait_until(lambda: len(children(ctx.master.pid)) == 2, 15, what, proc=ctx.master)
    return children(ctx.master.pid)


def master_log(ctx):
    return read_text(ctx.master.log_path)


def case_workers_ready(ctx):
    ready = ctx.notify.seen[ctx.notify.wait_for("READY=1", 15, "the master")]
    check(main_pid(ready) == ctx.master.pid, f"READY=1 with MAINPID {main_pid(ready)}, want the master's {ctx.master.pid}")
    workers = two_workers(ctx, "two workers")
    text = master_log(ctx)
    for w in workers:
        check(f"worker {w}: listening on http:127.0.0.1:{ctx.port}" in text,
              f"no line from worker {w} with its pid:\n{text[-1500:]}")
    get_ok(ctx.port, "/echo/w", "the workers")


def case_each_worker_serves(ctx):
    """With one worker stopped (SIGSTOP), the other alone answers: so each
    of them accepts on the shared socket."""
    workers = two_workers(ctx, "two workers")
    for w in workers:
        os.kill(w, signal.SIGSTOP)
        try:
            for i in range(5):
                r = get_ok(ctx.port, f"/echo/alone{i}", f"with worker {w} stopped")
                check(r.json().get("path_info") == f"/alone{i}", f"echo: {r!r}")
        finally:
            os.kill(w, signal.SIGCONT)


def case_killed_worker_replaced(ctx):
    before = two_workers(ctx, "two workers")
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in children(ctx.master.pid) and len(children(ctx.master.pid)) == 2, 15,
               f"a worker in place of the killed {victim}", proc=ctx.master)
    after = children(ctx.master.pid)
    new = [p for p in after if p not in before]
    check(len(new) == 1 and before[1] in after, f"workers before {before}, after {after}")
    wait_until(lambda: f"worker {new[0]} is ready" in master_log(ctx), 15, f"worker {new[0]} ready")
    check(f"worker {victim} was killed by SIGKILL" in master_log(ctx), "the master did not log the death")
    for i in range(4):
        get_ok(ctx.port, f"/echo/after-kill{i}", "after a worker was replaced")


class ClientLoop:
    """Requests one after another, each on a new connection, until stopped;
    counts answers and records every failure."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                r = request(self.port, "GET", f"/echo/loop{i}", headers={"Connection": "close"}, timeout=15)
                if r.status == 200 and r.json().get("path_info") == f"/loop{i}":
                    self.ok += 1
                else:
                    self.failures.append(f"request {i}: {r!r}")
            except (OSError, TestFailure) as e:
                self.failures.append(f"request {i}: {type(e).__name__}: {e}")

    def finish(self):
        self.stop.set()
        self.thread.join(20)


def case_sighup_one_by_one(ctx):
    old = two_workers(ctx, "two workers")
    r = request(ctx.port, "GET", "/added/x", headers={"Connection": "close"})
    check(r.status == 404, f"/added/ before the reload: {r.status}")
    added = os.path.join(ctx.projects, "added")
    os.makedirs(added)
    with open(os.path.join(added, "project.json"), "w") as f:
        json.dump({"backend": {"type": "echo"}}, f)
    os.chmod(added, 0o755)
    loop = ClientLoop(ctx.port)
    try:
        wait_until(lambda: loop.ok >= 20 or loop.failures, 15, "the client loop's first answers")
        mark = len(master_log(ctx))
        os.kill(ctx.master.pid, signal.SIGHUP)
        wait_until(lambda: "reload: done" in master_log(ctx)[mark:], 30, "the reload to finish", proc=ctx.master)
        wait_until(lambda: not any(p in children(ctx.master.pid) for p in old), 20, "the old workers to exit")
        ok_at_done = loop.ok
        wait_until(lambda: loop.ok >= ok_at_done + 20 or loop.failures, 15, "answers from the new workers")
    finally:
        loop.finish()
    check(not loop.failures, f"{len(loop.failures)} failed requests during the reload, first: {loop.failures[:3]}")
    new = two_workers(ctx, "two new workers")
    check(not set(new) & set(old), f"workers before {old}, after {new}: not all replaced")
    reloading = ctx.notify.wait_for("RELOADING=1", 5, "the reload")
    ctx.notify.wait_for("READY=1", 5, "the end of the reload", after=reloading + 1)
    # One at a time, in the master's own order of events: each new worker
    # is ready before its old one is told to go, and the second new worker
    # is started only after the first replacement.
    text = master_log(ctx)[mark:]
    events = []
    for line in text.splitlines():
        m = re.search(r"master: (started worker (\d+)|worker (\d+) is ready|reload: worker (\d+) replaced by (\d+))",
                      line)
        if m:
            events.append(m.group(1))
    replaced = [re.match(r"reload: worker (\d+) replaced by (\d+)", e).groups() for e in events
                if e.startswith("reload:")]
    check(sorted(int(o) for o, _ in replaced) == sorted(old), f"replacements {replaced}, old workers {old}")
    check(sorted(int(n) for _, n in replaced) == sorted(new), f"replacements {replaced}, new workers {new}")
    first_old, first_new = replaced[0]
    second_old, second_new = replaced[1]
    index = {e: i for i, e in enumerate(events)}
    check(index[f"worker {first_new} is ready"] < index[f"reload: worker {first_old} replaced by {first_new}"]
          < index[f"started worker {second_new}"] < index[f"worker {second_new} is ready"]
          < index[f"reload: worker {second_old} replaced by {second_new}"], f"not one at a time: {events}")
    r = get_ok(ctx.port, "/added/x", "the project added before the SIGHUP")
    check(r.json().get("project") == "added", f"/added/x: {r!r}")


def case_sigquit_ends_all(ctx):
    workers = two_workers(ctx, "two workers")
    # This case ends the master itself: the suite's watch and its
    # clean-shutdown (SIGTERM) check no longer apply to it.
    ctx.procs.remove(ctx.master)
    ctx.ws.procs.remove(ctx.master)
    os.kill(ctx.master.pid, signal.SIGQUIT)
    wait_until(lambda: not ctx.master.alive(), 30, "the master to exit on SIGQUIT")
    check(ctx.master.returncode() == 0, f"the master exited with status {ctx.master.returncode()}")
    wait_until(lambda: not any(pid_alive(w) for w in workers), 10, "the workers to exit")
    check(not tcp_accepts(ctx.port), f"port {ctx.port} still accepts")
    ctx.notify.wait_for("STOPPING=1", 5, "the master stopping")
    text = master_log(ctx)
    for w in workers:
        check(f"worker {w}: stopped" in text, f"worker {w} did not stop gracefully:\n{text[-1500:]}")
    no_crash(text, "the log of the master and its workers")
    ctx.master.stop()  # reaps it


WORKERS_CASES = [
    ("workers-ready-two-children", case_workers_ready, 30),
    ("workers-each-serves", case_each_worker_serves, 30),
    ("workers-killed-worker-replaced", case_killed_worker_replaced, 30),
    ("workers-sighup-one-by-one-no-failures", case_sighup_one_by_one, 60),
    ("workers-sigquit-ends-all", case_sigquit_ends_all, 40),
]


def suites():
    return [
        Suite("startmodes-activation", activation_setup, ACTIVATION_CASES),
        Suite("startmodes-daemon", daemon_setup, DAEMON_CASES),
        Suite("startmodes-workers", workers_setup, WORKERS_CASES),
    ]
