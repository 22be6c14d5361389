"""What the benchmark scripts (tests/bench/run, capacity, instructions) and
the soak test (tests/soak/run) share: logging, files, packages, building
and finding gatewayd and gatewayd-client, starting and stopping processes
in groups of their own, readiness checks, free ports, the load average,
and what /proc says about a process (memory, CPU time, children).

The scripts import it from this directory (tests/soak/run adds it to
sys.path); it is not a script of its own.
"""

import os
import signal
import socket
import subprocess
import sys
import time

# The top of the source tree.
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What building gatewayd needs on Debian.
BUILD_PACKAGES = ["meson", "ninja-build", "g++", "pkg-config", "libuv1-dev",
                  "nlohmann-json3-dev", "libssl-dev"]

# The small file the static rows serve (tests/bench/run, instructions).
STATIC_BODY = ("gatewayd benchmark: a small static file.\n" * 6).encode()


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def write(path, data, mode=0o644):
    """Writes text or bytes to `path`, creating its directory."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def raise_on_signals():
    """SIGINT, SIGTERM and SIGHUP become KeyboardInterrupt, so that the
    scripts' clean-up runs whichever stops them."""
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


# ---------------------------------------------------------------- packages and builds

def install(packages):
    """The Debian packages, installed by packaging/install-deps when missing."""
    r = subprocess.run([os.path.join(TOP, "packaging", "install-deps"), *packages])
    if r.returncode != 0:
        raise BenchError("missing packages (see above)")


def quiet_run(argv, timeout):
    """Runs a build step; its output is shown only when it fails."""
    r = subprocess.run(argv, cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    if r.returncode != 0:
        text = r.stdout.decode("utf-8", "replace")
        raise BenchError(f"{argv[0]} failed:\n" + "\n".join(text.splitlines()[-40:]))


def build_gatewayd(name, options=(), install_first=False):
    """gatewayd and gatewayd-client built in build/NAME (release, without the
    unit tests, plus `options` for meson); returns gatewayd's path.
    `install_first`: the build dependencies are installed before."""
    if install_first:
        install(BUILD_PACKAGES)
    build = os.path.join(TOP, "build", name)
    os.makedirs(os.path.dirname(build), exist_ok=True)
    if not os.path.exists(os.path.join(build, "build.ninja")):
        log(f"configuring {build} (release)")
        quiet_run(["meson", "setup", build, "--buildtype=release", *options, "-Dtests=disabled"],
                  300)
    log("building gatewayd and gatewayd-client")
    quiet_run(["ninja", "-C", build, "gateway/gatewayd", "gateway/client/gatewayd-client"], 1800)
    return os.path.join(build, "gateway", "gatewayd")


def gatewayd_binary(build_name, options=(), install_first=False):
    """$GATEWAYD (which must be an executable), else build_gatewayd()."""
    given = os.environ.get("GATEWAYD")
    if given:
        if not os.access(given, os.X_OK):
            raise BenchError(f"GATEWAYD={given} is not an executable")
        return os.path.abspath(given)
    return build_gatewayd(build_name, options, install_first)


def client_binary(gatewayd):
    """$GATEWAYD_CLIENT, or the gatewayd-client built next to `gatewayd`
    (client/gatewayd-client beside it)."""
    path = os.environ.get("GATEWAYD_CLIENT") or os.path.join(
        os.path.dirname(gatewayd), "client", "gatewayd-client")
    if not os.access(path, os.X_OK):
        raise BenchError(f"no gatewayd-client at {path} (set GATEWAYD_CLIENT)")
    return os.path.abspath(path)


def binaries(build_name, options=(), install_first=False):
    """(gatewayd, gatewayd-client): gatewayd_binary() and client_binary()."""
    gatewayd = gatewayd_binary(build_name, options, install_first)
    return gatewayd, client_binary(gatewayd)


# ---------------------------------------------------------------- processes

def start_process(argv, logfile, cwd=None, env=None):
    """Starts `argv` in a session (and process group) of its own, stdin from
    /dev/null, stdout and stderr appended to `logfile`."""
    out = open(logfile, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                cwd=cwd, env=env, start_new_session=True)
    finally:
        out.close()


class Processes:
    """Every process a run starts, each in its own process group, so that
    stopping one stops its workers too (nginx, php-fpm and uWSGI fork)."""

    def __init__(self, grace=5.0):
        self.procs = []  # (name, Popen)
        self.grace = grace  # how long a process gets after SIGTERM

    def start(self, name, argv, logfile, cwd=None, env=None):
        proc = start_process(argv, logfile, cwd=cwd, env=env)
        self.procs.append((name, proc))
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                pass
        # The leader may be gone while its workers linger: always sweep the
        # group with SIGKILL (an empty group just raises ProcessLookupError).
        self._signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            log(f"warning: process {proc.pid} did not exit")

    def stop_all(self):
        for _, proc in reversed(self.procs):
            self.stop(proc)
        self.procs = []

    @staticmethod
    def _signal_group(proc, sig):
        try:
            os.killpg(proc.pid, sig)  # the group id is the leader's pid
        except (ProcessLookupError, PermissionError):
            pass


def wait_until(what, check, proc=None, timeout=15.0):
    """Polls check() until it is true (an OSError counts as not yet); fails
    after `timeout` seconds or when `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what}: the process exited with status {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"{what}: not ready after {timeout:.0f} s")


def tcp_open(port):
    """True when 127.0.0.1:port accepts a connection (else OSError)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def unix_open(path):
    """True when the unix socket accepts a connection (else OSError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        s.connect(path)
        return True


def free_ports(names):
    """A free 127.0.0.1 port for each name, all different: every socket is
    held until all are chosen."""
    socks = []
    try:
        for _ in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return {name: s.getsockname()[1] for name, s in zip(names, socks)}
    finally:
        for s in socks:
            s.close()


def settle(limit_seconds=60):
    """Waits (a bounded time) for the load average to fall below half the
    cores, e.g. after a build; returns the last reading."""
    limit = busy_load()
    deadline = time.monotonic() + limit_seconds
    load = os.getloadavg()[0]
    if load > limit:
        log(f"load average {load:.2f}: waiting up to {limit_seconds} s for it to settle")
    while load > limit and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def busy_load():
    """The load average above which the machine counts as busy."""
    return 0.5 * (os.cpu_count() or 1)


# ---------------------------------------------------------------- /proc

def vm(pid, field):
    """A /proc/PID/status size in KiB (VmRSS: resident set; VmHWM: its peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


def process_table():
    """{pid: (ppid, process group, user + system CPU ticks)} of every live
    process (all its threads)."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3, state
        # fields 4, 5: ppid, pgrp; 14, 15: utime, stime
        procs[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]))
    return procs


def group_cpu_seconds(pgids, descendants=True):
    """User plus system CPU time of the live processes in the process groups
    `pgids` (services and their workers; all threads of each), and, with
    `descendants`, of their descendants in other groups (app processes
    gatewayd starts)."""
    procs = process_table()
    counted = {pid for pid, (_, pgrp, _) in procs.items() if pgrp in pgids}
    grew = descendants
    while grew:
        grew = False
        for pid, (ppid, _, _) in procs.items():
            if pid not in counted and ppid in counted:
                counted.add(pid)
                grew = True
    return sum(procs[pid][2] for pid in counted) / os.sysconf("SC_CLK_TCK")


def children_of(pid):
    """The live (or unreaped) child processes of `pid`."""
    return [child for child, (ppid, _, _) in process_table().items() if ppid == pid]
