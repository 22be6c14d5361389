"""Supervised app processes ("spawn" in project.json) through a running
gatewayd on an HTTP listener: Debian's php-cgi with its socket on fd 0 (four
instances serving four requests at once, one SIGKILLed and replaced,
max_requests recycling), a crashing app that backs off and gives up, and
python3 -m http.server told its {port}. Two more gatewayds are stopped with
SIGTERM and SIGKILL and must leave no app process behind.
"""

import json
import os
import re
import shutil
import signal
import threading
import time

from servers import have, start_gatewayd
from support import Ctx, Suite, TestFailure, check, free_port, pid_alive, request, wait_until

PHP_CGI = "/usr/bin/php-cgi"

INDEX_PHP = r"""<?php
header('Content-Type: text/plain');
if (isset($_GET['sleep'])) usleep((int)$_GET['sleep'] * 1000);
echo "pid=" . getmypid() . "\n";
echo "script=" . $_SERVER['SCRIPT_NAME'] . "\n";
echo "app=" . getenv('APP_MARK') . "\n";
"""

CRASH_APP = "#!/bin/sh\necho \"crash-app: cannot start\" >&2\nexit 3\n"


def php_spawn(processes, **extra):
    spawn = {"command": [PHP_CGI], "processes": processes,
             "env": {"APP_MARK": "{name}-{instance}"}}
    spawn.update(extra)
    return spawn


def write_php_project(ws, parent, name, spawn):
    ws.mkdir(parent, name, "htdocs")
    ws.write(os.path.join(parent, name, "htdocs", "index.php"), INDEX_PHP)
    cfg = {"backend": {"type": "fastcgi", "document_root": "htdocs"}, "spawn": spawn}
    ws.write(os.path.join(parent, name, "project.json"), json.dumps(cfg))


def setup(ws):
    have(PHP_CGI, "python3")
    parent = ws.mkdir("projects")
    write_php_project(ws, "projects", "php", php_spawn(4))
    write_php_project(ws, "projects", "recycle", php_spawn(1, max_requests=3))
    ws.mkdir("projects", "crash")
    ws.write(os.path.join("projects", "crash", "app.sh"), CRASH_APP, mode=0o755)
    ws.write(os.path.join("projects", "crash", "project.json"), json.dumps({
        "backend": {"type": "fastcgi"},
        "spawn": {"command": ["app.sh"], "backoff_initial_ms": 50, "backoff_max_ms": 100,
                  "give_up_after": 3}}))
    ws.mkdir("projects", "pyhttp", "files")
    ws.write(os.path.join("projects", "pyhttp", "files", "hello.txt"), "hello over http\n")
    ws.write(os.path.join("projects", "pyhttp", "project.json"), json.dumps({
        "backend": {"type": "http"},
        "spawn": {"command": [shutil.which("python3"), "-m", "http.server", "--bind", "127.0.0.1",
                              "{port}"],
                  "listen": "port", "cwd": "files", "pass_env": ["PATH", "HOME"]}}))
    port = free_port()
    ctx = Ctx(ws, port=port, parent=parent)
    ctx.front = start_gatewayd(ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(port),
                                    "-e", parent], name="front", port=port)
    ctx.procs.append(ctx.front)
    return ctx


def log_text(proc):
    with open(proc.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def php_get(ctx, project, query=""):
    r = request(ctx.port, "GET", f"/{project}/index.php{query}")
    check(r.status == 200, f"/{project}/index.php{query}: {r}")
    body = r.body.decode()
    m = re.search(r"pid=(\d+)", body)
    check(m is not None, f"no pid in {body!r}")
    return int(m.group(1)), body


def children_of(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry))
    return kids


def case_php_get(ctx):
    pid, body = php_get(ctx, "php")
    check("script=/php/index.php" in body, f"SCRIPT_NAME: {body!r}")
    check(re.search(r"app=php-[0-3]\n", body), f"the app's environment: {body!r}")
    kids = children_of(ctx.front.pid)
    check(pid in kids, f"php-cgi pid {pid} is not a child of gatewayd ({kids})")


def case_php_four_at_once(ctx):
    results, errors = [], []

    def one():
        try:
            results.append(php_get(ctx, "php", "?sleep=1000")[0])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    php_get(ctx, "php")
    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    took = time.monotonic() - started
    check(not errors, f"errors: {errors}")
    check(len(set(results)) == 4, f"4 requests at once went to pids {results}")
    check(took < 1.9, f"4 requests sleeping 1 s each took {took:.2f} s: not served at once")


def case_php_kill_comes_back(ctx):
    pids = set()
    for _ in range(12):
        pids.add(php_get(ctx, "php")[0])
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: f"pid {victim} killed by signal 9" in log_text(ctx.front), 10,
               f"gatewayd to notice pid {victim} died", proc=ctx.front)
    def restarted():
        after = log_text(ctx.front).split(f"pid {victim} killed by signal 9", 1)[1]
        return re.search(r"project php instance \d+: started pid \d+", after)

    wait_until(restarted, 10, "the killed instance to be started again", proc=ctx.front)
    seen = set()
    for _ in range(40):
        seen.add(php_get(ctx, "php")[0])
    check(victim not in seen, f"the killed pid {victim} still answered")
    check(len(seen - pids) >= 1, f"no new pid among {seen} (before: {pids})")


def case_max_requests_recycles(ctx):
    pids = [php_get(ctx, "recycle")[0] for _ in range(7)]
    check(pids[0] == pids[1] == pids[2], f"the first three requests: {pids}")
    check(pids[3] == pids[4] == pids[5] and pids[3] != pids[0], f"the next three: {pids}")
    check(pids[6] not in (pids[0], pids[3]), f"the seventh: {pids}")
    wait_until(lambda: not pid_alive(pids[0]) and not pid_alive(pids[3]), 10,
               f"the recycled pids {pids[0]} and {pids[3]} to end")


def case_crash_gives_up(ctx):
    deadline = time.monotonic() + 15
    statuses = []
    while time.monotonic() < deadline:
        r = request(ctx.port, "GET", "/crash/")
        statuses.append(r.status)
        if "gave up after 3 failed starts" in log_text(ctx.front):
            break
        time.sleep(0.05)
    text = log_text(ctx.front)
    check("project crash instance 0: pid" in text and "failed start 1 of 3, starting again in 50 ms" in text,
          "no backoff line in the log")
    check("failed start 2 of 3, starting again in 100 ms" in text, "no second backoff line")
    check("gave up after 3 failed starts in a row" in text, "no give-up line in the log")
    check("stderr: crash-app: cannot start" in text, "the app's stderr is not in the log")
    check(all(s in (502, 503) for s in statuses), f"statuses before giving up: {statuses}")
    started = time.monotonic()
    r = request(ctx.port, "GET", "/crash/")
    check(r.status == 503, f"after giving up: {r}, want 503")
    check(time.monotonic() - started < 1, "the 503 after giving up was not immediate")
    r = request(ctx.port, "GET", "/php/index.php")
    check(r.status == 200, f"another project while crash gave up: {r}")


def case_port_placeholder_http(ctx):
    r = request(ctx.port, "GET", "/pyhttp/hello.txt")
    check(r.status == 200 and r.body == b"hello over http\n", f"{r}")
    text = log_text(ctx.front)
    check(re.search(r"project pyhttp instance 0: started pid \d+ on 127\.0\.0\.1:\d+", text),
          "no start line with a port for pyhttp")


def start_own_gatewayd(ctx, name):
    port = free_port()
    parent = ctx.ws.mkdir(name)
    write_php_project(ctx.ws, name, "php", php_spawn(2))
    p = start_gatewayd(ctx.ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(port), "-e",
                                parent], name=name, port=port)
    r = request(port, "GET", "/php/index.php")
    check(r.status == 200, f"{name}: {r}")
    wait_until(lambda: len(children_of(p.pid)) == 2, 10, f"{name}: two php-cgi children")
    return p, children_of(p.pid)


def case_sigterm_leaves_nothing(ctx):
    p, kids = start_own_gatewayd(ctx, "termed")
    os.kill(p.pid, signal.SIGTERM)
    wait_until(lambda: not p.alive(), 10, "gatewayd to exit on SIGTERM")
    check(p.returncode() == 0, f"gatewayd exit status {p.returncode()}")
    wait_until(lambda: not any(pid_alive(k) for k in kids), 10, f"app processes {kids} to end")
    p.stop()


def case_sigkill_leaves_nothing(ctx):
    p, kids = start_own_gatewayd(ctx, "killed")
    os.kill(p.pid, signal.SIGKILL)
    wait_until(lambda: not p.alive(), 10, "gatewayd to die")
    try:
        wait_until(lambda: not any(pid_alive(k) for k in kids), 10,
                   f"app processes {kids} to end after gatewayd was SIGKILLed")
    except TestFailure:
        for k in kids:
            if pid_alive(k):
                os.kill(k, signal.SIGKILL)
        raise
    p.stop()


CASES = [
    ("php-cgi-fd0-get", case_php_get, 20),
    ("php-cgi-4-at-once", case_php_four_at_once, 30),
    ("php-cgi-sigkill-comes-back", case_php_kill_comes_back, 40),
    ("max-requests-new-pids", case_max_requests_recycles, 30),
    ("crash-backs-off-gives-up-503", case_crash_gives_up, 30),
    ("port-placeholder-http", case_port_placeholder_http, 30),
    ("gatewayd-sigterm-no-app-left", case_sigterm_leaves_nothing, 30),
    ("gatewayd-sigkill-no-app-left", case_sigkill_leaves_nothing, 30),
]


def suites():
    return [Suite("spawn", setup, CASES, watch=lambda ctx: [ctx.front])]
