"""Signals of the single-process daemon, as admins use them.

lifecycle-reload: nginx fastcgi_pass (keepalive upstream) in front of a
gatewayd run from a --config file alone; wrk runs through nginx for the
whole case while the config file changes ten times, each followed by a
SIGHUP: the base_path of a second (HTTP) listener, an extra listener
opened and then closed again, one more project each time. After each
reload the change is visible (the new base_path answers and the old one no
longer does, the extra listener answers or refuses, the new project
answers) and a keep-alive connection accepted by a listener the reload
closed still gets its answer. wrk then reports no answer other than 2xx
and no socket error. A broken config file on SIGHUP is logged in the very
words --check-config uses and the old configuration keeps serving; so is a
new listener whose port is taken; settings only a restart can change are
logged as such.

lifecycle-stop: slow requests (a CGI that sleeps, then sends 200 KB) in
flight when SIGQUIT or SIGTERM arrives all complete with their whole
response, an idle keep-alive connection is closed at once, new connections
are refused, and the process exits with status 0 once they are done; past
--graceful-timeout what is left is cut; SIGINT stops at once. SIGUSR1
after the error log was moved: new lines go to a new file at the old path.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

from nginx_front import gatewayd_behind_nginx
from servers import have, start_gatewayd
from support import (Background, Ctx, LogWatch, Suite, TestFailure, check, check_wrk, clean_env, free_port,
                     gatewayd_binary, request, sighup, wait_until, write_project)

ECHO = {"backend": {"type": "echo"}}
SLOW_BODY = 200_000

# /slow sleeps 2 s, /long 30 s; each says it started in a file named by
# its query string first, so that the test knows it is in flight.
SLOW_CGI = r"""#!/bin/sh
: > "$MARK_DIR/$QUERY_STRING.started"
if [ "$PATH_INFO" = "/long" ]; then sleep 30; else sleep 2; fi
printf 'Content-Type: text/plain\r\n\r\n'
head -c 200000 /dev/zero | tr '\0' 'x'
"""


def refused(port):
    """True when a connect to the port is refused (not merely slow)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


# ---------------------------------------------------------------------------
# lifecycle-reload


def write_config(ctx, base, extra_port=None, **more):
    listeners = [{"protocol": "fcgi", "host": "127.0.0.1", "port": ctx.fcgi_port},
                 {"protocol": "http", "host": "127.0.0.1", "port": ctx.direct_port, "base_path": base}]
    if extra_port is not None:
        listeners.append({"protocol": "http", "host": "127.0.0.1", "port": extra_port})
    cfg = {"listeners": listeners, "env_parent_dir": ctx.parent}
    cfg.update(more)
    with open(ctx.config, "w") as f:
        json.dump(cfg, f, indent=1)


def reload_setup(ws):
    have("nginx", "wrk")
    parent = ws.mkdir("projects")
    write_project(parent, "echo", ECHO)
    ctx = Ctx(ws, parent=parent, config=ws.path("gatewayd.json"), fcgi_port=free_port(),
              direct_port=free_port())
    write_config(ctx, "/b0")
    return gatewayd_behind_nginx(ws, ctx, ["--config", ctx.config], ctx.fcgi_port)


def sighup_and_wait(ctx, done=r"reload: done\n"):
    log = sighup(ctx.gatewayd)
    log.wait_for(done + "|reload failed")
    return log


def wrk_output(proc):
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TestFailure("wrk did not stop on SIGINT")
    return out.decode("utf-8", "replace")


def case_ten_reloads_under_wrk(ctx):
    port = ctx.http_port
    r = request(port, "GET", "/echo/x")
    check(r.status == 200, f"echo through nginx before the reloads: {r}")
    # Stopped with SIGINT once the reloads are done (wrk then prints its totals).
    wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d120s", f"http://127.0.0.1:{port}/echo/load"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    stopped = False
    try:
        time.sleep(0.5)  # wrk has connections open before the first reload
        check(wrk.poll() is None, "wrk exited before the first reload")
        previous_extra = None
        old_conn = None
        for i in range(1, 11):
            write_project(ctx.parent, f"p{i}", ECHO)
            extra = free_port() if i % 2 == 1 else None
            write_config(ctx, f"/b{i}", extra)
            log = sighup_and_wait(ctx)
            check("reload failed" not in log.text(), f"reload {i} failed: {log.text()[-600:]}")
            check(re.search(rf"reload: added p{i}; changed none; removed none;", log.text()),
                  f"reload {i}: the project log line: {log.text()[-600:]}")

            # The new base_path answers, the old one no longer does.
            r = request(ctx.direct_port, "GET", f"/b{i}/echo/x")
            check(r.status == 200 and r.json()["script_name"] == f"/b{i}/echo",
                  f"reload {i}: /b{i}/echo/x on the changed listener: {r}")
            r = request(ctx.direct_port, "GET", f"/b{i - 1}/echo/x")
            check(r.status == 404, f"reload {i}: the old base path /b{i - 1} still answers: {r}")
            # The new project answers through nginx.
            r = request(port, "GET", f"/p{i}/x")
            check(r.status == 200 and r.json()["project"] == f"p{i}", f"reload {i}: /p{i}/x: {r}")

            if extra is not None:
                r = request(extra, "GET", "/echo/x")
                check(r.status == 200, f"reload {i}: the extra listener on {extra}: {r}")
                old_conn = http.client.HTTPConnection("127.0.0.1", extra, timeout=10)
                r = request(extra, "GET", "/echo/first", conn=old_conn)
                check(r.status == 200, f"reload {i}: keep-alive request on the extra listener: {r}")
            if previous_extra is not None:
                check(refused(previous_extra), f"reload {i}: the removed listener {previous_extra} accepts")
                # Accepted before the reload closed its listener: still served.
                r = request(previous_extra, "GET", "/echo/second", conn=old_conn)
                check(r.status == 200 and r.json()["script_name"] == "/echo",
                      f"reload {i}: keep-alive connection of the removed listener: {r}")
                old_conn.close()
            previous_extra = extra
            check(wrk.poll() is None, f"wrk ended during reload {i}")
        wrk.send_signal(signal.SIGINT)
        stopped = True
        text = wrk_output(wrk)
    finally:
        if not stopped:
            wrk.kill()
            wrk.communicate()
    check_wrk(text)


def case_broken_config_keeps_serving(ctx):
    good = open(ctx.config).read()
    base = json.loads(good)["listeners"][1]["base_path"]
    try:
        # A config file --check-config rejects: the reload logs the same words.
        cfg = json.loads(good)
        cfg["listeners"][1]["port"] = 0
        cfg["no_such_key"] = 1
        with open(ctx.config, "w") as f:
            json.dump(cfg, f)
        write_project(ctx.parent, "never", ECHO)
        r = subprocess.run([gatewayd_binary(), "--check-config", "--config", ctx.config],
                           capture_output=True, timeout=10, env=clean_env())
        err = r.stderr.decode().strip()
        check(r.returncode == 2 and err.startswith("gatewayd: "), f"--check-config: {r.returncode} {err!r}")
        log = sighup_and_wait(ctx)
        want = "reload failed, keeping the running configuration: " + err[len("gatewayd: "):]
        check(want in log.text(), f"log {log.text()[-500:]!r}, want {want!r}")
        check("reload: done" not in log.text(), "a broken config was applied")

        # Not JSON at all.
        with open(ctx.config, "w") as f:
            f.write('{"listeners": [')
        log = sighup_and_wait(ctx)
        log.wait_for(r"reload failed, keeping the running configuration: " + re.escape(ctx.config) + ": ")

        # A new listener on a port someone else holds: nothing is applied.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            write_config(ctx, "/moved", taken.getsockname()[1])
            log = sighup_and_wait(ctx)
        log.wait_for(r"reload failed, keeping the running configuration: http:127\.0\.0\.1:\d+: bind: ")

        # Still serving on the old configuration.
        r = request(ctx.direct_port, "GET", f"{base}/echo/x")
        check(r.status == 200, f"the running base path {base} after failed reloads: {r}")
        check(request(ctx.direct_port, "GET", "/moved/echo/x").status == 404, "a failed reload applied /moved")
        check(request(ctx.http_port, "GET", "/echo/x").status == 200, "nginx after failed reloads")
        check(request(ctx.http_port, "GET", "/never/x").status == 404, "a project of a failed reload answers")
    finally:
        with open(ctx.config, "w") as f:
            f.write(good)
    # Restart-only settings are named, the rest applies.
    cfg = json.loads(good)
    cfg["umask"] = "077"
    cfg["pidfile"] = ctx.ws.path("later.pid")
    with open(ctx.config, "w") as f:
        json.dump(cfg, f)
    log = sighup_and_wait(ctx)
    text = log.text()
    check("pidfile: needs a restart (running: '', new: '" + ctx.ws.path("later.pid") + "')" in text,
          f"no pidfile line: {text[-800:]}")
    check("umask: needs a restart for the sockets already open (running: 022, new: 077)" in text,
          f"no umask line: {text[-800:]}")
    check("reload: done" in text, f"the reload was not applied: {text[-800:]}")
    check(not os.path.exists(ctx.ws.path("later.pid")), "a pid file was written by a reload")
    check(request(ctx.http_port, "GET", "/never/x").status == 200, "the project added with the repair")


# ---------------------------------------------------------------------------
# lifecycle-stop


def stop_setup(ws):
    parent = ws.mkdir("projects")
    marks = ws.mkdir("marks", mode=0o777)
    write_project(parent, "echo", ECHO)
    write_project(parent, "cgi", {"backend": {"type": "cgi", "script": "slow.cgi", "timeout_ms": 60000,
                                              "env": {"MARK_DIR": marks}}})
    ws.write(os.path.join("projects", "cgi", "slow.cgi"), SLOW_CGI, mode=0o755)
    return Ctx(ws, parent=parent, marks=marks)


def start_own(ctx, name, *extra, exits=True):
    """A gatewayd of the case's own. One the case stops (`exits`) is not
    watched by the runner, which reports any watched process that exits."""
    port = free_port()
    p = start_gatewayd(ctx.ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(port), "-e", ctx.parent]
                       + list(extra), name=name, port=port, env=clean_env())
    if not exits:
        ctx.procs.append(p)
    return p, port


def reaped(ctx, p):
    """A process that was meant to exit: reaped and no longer the runner's."""
    p.stop()
    if p in ctx.ws.procs:
        ctx.ws.procs.remove(p)


def start_slow(ctx, port, path, tag, count):
    reqs = [Background(port, f"/cgi/{path}?{tag}{i}") for i in range(count)]
    for t in reqs:
        t.start()
    marks = [os.path.join(ctx.marks, f"{tag}{i}.started") for i in range(count)]
    wait_until(lambda: all(os.path.exists(m) for m in marks), 15, f"{count} slow requests to start")
    return reqs


def graceful(ctx, sig, name):
    p, port = start_own(ctx, f"gatewayd-{name}")
    try:
        graceful_checks(ctx, p, port, sig, name)
    finally:
        reaped(ctx, p)


def graceful_checks(ctx, p, port, sig, name):
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    check(request(port, "GET", "/echo/x", conn=idle).status == 200, "a keep-alive request")
    slow = start_slow(ctx, port, "slow", name, 3)
    log = LogWatch(p.log_path, p)
    os.kill(p.pid, sig)
    log.wait_for(rf"received {name}: stopping gracefully")
    log.wait_for(r"graceful stop: 3 requests in flight on 4 connections; waiting up to 30000 ms")
    check(not any(t.done.is_set() for t in slow), "a slow request ended before the stop began")
    check(refused(port), "a new connection was accepted after the stop began")
    idle.sock.settimeout(10)
    check(idle.sock.recv(1) == b"", "the idle keep-alive connection was not closed")
    for t in slow:
        check(t.done.wait(20), f"{t.target} did not finish")
        r = t.result
        check(not isinstance(r, Exception), f"{t.target}: {r!r}")
        check(r.status == 200 and r.body == b"x" * SLOW_BODY,
              f"{t.target}: status {r.status}, {len(r.body)} bytes, want 200 and {SLOW_BODY}")
    wait_until(lambda: not p.alive(), 20, f"gatewayd to exit after {name}")
    check(p.returncode() == 0, f"exit status {p.returncode()} after {name}")
    log.wait_for(r"graceful stop: every request has finished, after \d+ ms\n")
    log.wait_for(r"\[info\] stopped\n")


def case_sigquit_graceful(ctx):
    graceful(ctx, signal.SIGQUIT, "SIGQUIT")


def case_sigterm_graceful(ctx):
    graceful(ctx, signal.SIGTERM, "SIGTERM")


def case_graceful_timeout_cuts(ctx):
    p, port = start_own(ctx, "gatewayd-timeout", "--graceful-timeout", "1")
    try:
        timeout_checks(ctx, p, port)
    finally:
        reaped(ctx, p)


def timeout_checks(ctx, p, port):
    slow = start_slow(ctx, port, "long", "timeout", 1)
    log = LogWatch(p.log_path, p)
    os.kill(p.pid, signal.SIGTERM)
    log.wait_for(r"graceful stop: 1 request in flight on 1 connection; waiting up to 1000 ms")
    wait_until(lambda: not p.alive(), 20, "gatewayd to exit after its graceful timeout")
    check(p.returncode() == 0, f"exit status {p.returncode()}")
    log.wait_for(r"graceful stop: 1 request still in flight after \d+ ms: cut")
    check(slow[0].done.wait(10), "the cut request is still waiting")
    r = slow[0].result
    check(isinstance(r, Exception) or r.status != 200 or len(r.body) != SLOW_BODY,
          f"a request sleeping 30 s was answered in full: {r!r}")


def case_sigint_stops_at_once(ctx):
    p, port = start_own(ctx, "gatewayd-sigint")
    try:
        sigint_checks(ctx, p, port)
    finally:
        reaped(ctx, p)


def sigint_checks(ctx, p, port):
    slow = start_slow(ctx, port, "long", "sigint", 1)
    log = LogWatch(p.log_path, p)
    os.kill(p.pid, signal.SIGINT)
    log.wait_for(r"received SIGINT: stopping now")
    # The request in flight sleeps 30 s: an exit now means it was not waited for.
    wait_until(lambda: not p.alive(), 20, "gatewayd to exit after SIGINT")
    check(p.returncode() == 0, f"exit status {p.returncode()}")
    check(slow[0].done.wait(10), "the request in flight is still waiting")
    r = slow[0].result
    check(isinstance(r, Exception) or r.status != 200 or len(r.body) != SLOW_BODY,
          f"the request in flight was answered in full: {r!r}")
    check("graceful stop" not in log.text(), "SIGINT stopped gracefully")


def case_sigusr1_reopens_error_log(ctx):
    error_log = ctx.ws.path("error.log")
    p, port = start_own(ctx, "gatewayd-usr1", "--error-log", error_log, exits=False)
    wait_until(lambda: os.path.exists(error_log) and "listening on" in open(error_log).read(), 10,
               "the error log's first lines", proc=p)
    os.rename(error_log, error_log + ".1")
    old = LogWatch(error_log + ".1", p)
    os.kill(p.pid, signal.SIGUSR1)
    wait_until(lambda: os.path.exists(error_log), 10, "a new error log at the old path", proc=p)
    new = LogWatch(error_log, p)
    new.start = 0
    new.wait_for(r"\[info\] SIGUSR1: log files reopened\n")
    old.wait_for(r"received SIGUSR1: reopening the log files\n")
    check("log files reopened" not in old.text(), "the reopen was logged to the moved file")
    os.kill(p.pid, signal.SIGHUP)
    new.wait_for(r"reload: done\n")
    check("reload" not in old.text(), "a line after SIGUSR1 went to the moved file")
    check(request(port, "GET", "/echo/x").status == 200, "serving after SIGUSR1")


def suites():
    return [
        Suite("lifecycle-reload", reload_setup, [
            ("ten-sighups-under-wrk", case_ten_reloads_under_wrk, 45),
            ("broken-config-keeps-serving", case_broken_config_keeps_serving, 30),
        ]),
        Suite("lifecycle-stop", stop_setup, [
            ("sigquit-finishes-requests-in-flight", case_sigquit_graceful, 30),
            ("sigterm-finishes-requests-in-flight", case_sigterm_graceful, 30),
            ("graceful-timeout-cuts", case_graceful_timeout_cuts, 30),
            ("sigint-stops-at-once", case_sigint_stops_at_once, 30),
            ("sigusr1-reopens-error-log", case_sigusr1_reopens_error_log, 20),
        ]),
    ]
