"""Shared machinery for the integration tests: temporary workspaces, ports,
process start/stop with bounded waits, the config templates from
packaging/examples/, HTTP helpers and the small suite protocol that run.py
drives. Starting gatewayd and the web servers is in servers.py.

Everything started here runs in its own process group and is stopped at the
end of its suite, or at interpreter exit, whatever happened in between.
"""

import atexit
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "packaging", "examples")
DEMO = os.path.join(ROOT, "packaging", "demo")
BIG_STATIC = bytes(range(251)) * (20 * 1024 * 1024 // 251)  # ~20 MiB, period 251


class Skip(Exception):
    """A test (or a whole suite) cannot run here: prints SKIP, not FAIL."""


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def gatewayd_binary():
    """The binary under test: $GATEWAYD, else the first build found."""
    env = os.environ.get("GATEWAYD")
    if env:
        return os.path.abspath(env)
    for rel in ("build-integ/gateway/gatewayd", "build/release/gateway/gatewayd"):
        p = os.path.join(ROOT, rel)
        if os.access(p, os.X_OK):
            return p
    return os.path.join(ROOT, "build", "release", "gateway", "gatewayd")


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dead_port():
    """A port that refuses connections (bound, never listened on, released)."""
    return free_port()


# ---------------------------------------------------------------------------
# Processes


_all_procs = []

# Lines that report a crash: from ASan, LSan or UBSan (a sanitizer build of
# gatewayd logs them to stderr, which every log here captures), and the
# lines lighttpd and mod_fcgid log when a gatewayd they spawned dies of a
# fatal signal (SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV).
CRASH_MARKERS = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer"
                           r"|child signalled: (4|6|7|8|11)\b|unexpected signal (4|6|7|8|11)\b")


class Proc:
    """A started process in its own process group, with its log file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None, pass_fds=()):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.extra_logs = []  # other files worth showing on failure
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=env, cwd=cwd, start_new_session=True, pass_fds=pass_fds)
        _all_procs.append(self)

    @property
    def pid(self):
        return self.popen.pid

    # The leader is reaped only at the very end of stop(): while it is an
    # unreaped zombie its pid, and so the process group id we signal, cannot
    # be reused by an unrelated process.

    def _exit_status(self):
        """None while running; else the status as Popen reports it (negative:
        killed by that signal), without reaping."""
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def alive(self):
        return self._exit_status() is None

    def returncode(self):
        return self._exit_status()

    def stop(self, timeout=5.0):
        """SIGTERM to the group, then SIGKILL after `timeout`; always reaps.
        Sets stopped_by: "exited" (was already gone), "term" or "kill"."""
        if self.alive():
            _signal_group(self.popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.stopped_by = "kill" if self.alive() else "term"
        elif not hasattr(self, "stopped_by"):
            self.stopped_by = "exited"
        # Children the server spawned (lighttpd bin-path, mod_fcgid) stay in
        # the group after the leader exits: make sure they are gone too.
        _signal_group(self.popen.pid, signal.SIGKILL)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        if not self._log.closed:
            self._log.close()
        if self in _all_procs:
            _all_procs.remove(self)

    def log_text_since_mark(self, limit=1 << 20):
        out = []
        for path in [self.log_path] + self.extra_logs:
            start = getattr(self, "_marks", {}).get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(start)
                    out.append(f.read(limit).decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)

    def crash_report(self, since_mark=False):
        """The first lines of a crash or sanitizer report in the logs, or []."""
        if since_mark:
            text = self.log_text_since_mark()
        else:
            saved = getattr(self, "_marks", None)
            self._marks = {}
            text = self.log_text_since_mark()
            if saved is not None:
                self._marks = saved
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if CRASH_MARKERS.search(line):
                return [r for r in lines[i:i + 12] if r.strip()]
        return []

    def mark_logs(self):
        """Remembers the log sizes: log_tail(since_mark=True) then shows only
        what was written after this point."""
        self._marks = {}
        for path in [self.log_path] + self.extra_logs:
            try:
                self._marks[path] = os.path.getsize(path)
            except OSError:
                self._marks[path] = 0

    def log_tail(self, lines=15, since_mark=False):
        out = []
        for path in [self.log_path] + self.extra_logs:
            start = getattr(self, "_marks", {}).get(path, 0) if since_mark else None
            out += tail_file(path, lines, label=os.path.basename(path), start=start)
        return out


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail_file(path, lines=15, label=None, start=None):
    """The last `lines` non-empty lines of a file (written after byte
    offset `start`, if given)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(start or 0, size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    rows = [r for r in text.splitlines() if r.strip()][-lines:]
    prefix = f"[{label}] " if label else ""
    return [prefix + r for r in rows]


@atexit.register
def _stop_everything():
    for p in list(_all_procs):
        p.stop(timeout=2.0)


def wait_until(pred, timeout, what, proc=None, interval=0.05):
    """Polls pred() until true; fails after `timeout` or when proc exits."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if proc is not None and not proc.alive():
            raise TestFailure(f"{proc.name} exited with status {proc.returncode()} while waiting for {what}")
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid):
    """Whether process `pid` still runs. A zombie counts as dead: it only
    waits for its parent to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tcp_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unix_accepts(path):
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(path)
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Workspace: one temporary directory and the processes of one suite


class Workspace:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"gw-{name}-")
        # Reachable by web-server children that drop privileges (www-data).
        os.chmod(self.dir, 0o755)
        self.procs = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mkdir(self, *parts, mode=0o755):
        p = self.path(*parts)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        return p

    def write(self, rel, text, mode=0o644):
        p = self.path(rel)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def demo_projects(self, extra=None):
        """Copies packaging/demo into the workspace (world-readable) and
        returns the parent directory. `extra`: {name: project.json dict}."""
        parent = self.path("projects")
        shutil.copytree(DEMO, parent)
        # A file large enough to need flow control on every path (it is far
        # over any socket buffer and gatewayd's output high-water mark).
        with open(os.path.join(parent, "static", "htdocs", "big.bin"), "wb") as f:
            f.write(BIG_STATIC)
        for name, cfg in (extra or {}).items():
            d = os.path.join(parent, name)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "project.json"), "w") as f:
                json.dump(cfg, f)
        make_world_readable(parent)
        return parent

    def gatewayd_copy(self):
        """gatewayd copied into the workspace, so a web server's unprivileged
        user can run it wherever the build lives."""
        src = gatewayd_binary()
        if not os.access(src, os.X_OK):
            raise TestFailure(f"gatewayd binary not found at {src}")
        dst = self.mkdir("bin")
        dst = os.path.join(dst, "gatewayd")
        shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
        return dst

    def start(self, name, argv, env=None, cwd=None, log=None):
        log_path = log or self.path(f"{name}.log")
        p = Proc(name, argv, log_path, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []

    def cleanup(self, keep=False):
        self.stop_all()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def make_world_readable(top):
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o755)
        for f in files:
            p = os.path.join(root, f)
            os.chmod(p, os.stat(p).st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


# ---------------------------------------------------------------------------
# Templates


def fill_template(name, values):
    """packaging/examples/NAME with every @KEY@ replaced from `values`.
    A placeholder left unfilled is an error, so the examples and the tests
    cannot drift apart silently."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    return fill(text, values, name)


def fill(text, values, what="template"):
    def sub(m):
        key = m.group(1)
        if key not in values:
            raise TestFailure(f"{what}: no value for @{key}@")
        return str(values[key])

    return re.sub(r"@([A-Z][A-Z0-9_]*)@", sub, text)


# ---------------------------------------------------------------------------
# HTTP helpers


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise TestFailure(f"status {self.status}, body is not JSON: {self.body[:200]!r}")

    def __repr__(self):
        return f"<{self.status} {self.body[:120]!r}>"


def request(port, method, target, body=None, headers=None, timeout=20, conn=None, encode_chunked=False):
    """One HTTP request on a new connection (or on `conn`)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {}, encode_chunked=encode_chunked)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        if own:
            conn.close()


class PatternBody:
    """A deterministic body of `size` bytes, yielded in blocks; its sha256
    is known once the last block has been produced (and up front via
    digest())."""

    def __init__(self, size, block=1 << 20, seed=b"gatewayd"):
        self.size = size
        self.block = block
        base = bytearray()
        counter = 0
        while len(base) < block + 4096:
            base += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        self._base = bytes(base)

    def blocks(self, sizes=None):
        """Yields the body; `sizes` (an iterable of block sizes, cycled)
        shapes the pieces, e.g. for irregular chunked uploads."""
        sent = 0
        i = 0
        sizes = list(sizes) if sizes else [self.block]
        while sent < self.size:
            n = min(sizes[i % len(sizes)], self.size - sent)
            off = (i * 4093) % 4096
            piece = self._base[off:off + n] if n <= len(self._base) - off else self._piece(off, n)
            yield piece
            sent += n
            i += 1

    def _piece(self, off, n):
        out = bytearray()
        while len(out) < n:
            out += self._base[off:off + n - len(out)]
            off = 0
        return bytes(out)

    def digest(self, sizes=None):
        h = hashlib.sha256()
        for b in self.blocks(sizes):
            h.update(b)
        return h.hexdigest()


# ---------------------------------------------------------------------------
# Projects, logs and requests of a running gatewayd


def clean_env(**extra):
    """The environment without the variables that change what gatewayd
    serves (TRAC_ENV*, FCGI_*), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAC_ENV", "FCGI_"))}
    env.update(extra)
    return env


def write_project(parent, name, cfg):
    """PARENT/NAME/project.json holding `cfg`; returns PARENT/NAME."""
    d = os.path.join(parent, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "project.json"), "w") as f:
        json.dump(cfg, f)
    return d


class LogWatch:
    """Lines a file (a process's log) receives from now on. `timeout`: how
    long wait_for() waits unless told otherwise."""

    def __init__(self, path, proc=None, timeout=15):
        self.path = path
        self.proc = proc
        self.timeout = timeout
        self.start = os.path.getsize(path) if os.path.exists(path) else 0

    def text(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout=None):
        """The first match of `pattern` in the new lines, waited for (bounded,
        and failing at once if the process exits)."""
        found = []

        def seen():
            m = re.search(pattern, self.text())
            if m:
                found.append(m)
            return bool(m)

        wait_until(seen, self.timeout if timeout is None else timeout,
                   f"a line matching {pattern!r} in {os.path.basename(self.path)}", proc=self.proc)
        return found[0]


def sighup(proc, timeout=15):
    """SIGHUP to `proc`; returns a LogWatch of its log from just before."""
    log = LogWatch(proc.log_path, proc, timeout)
    os.kill(proc.pid, signal.SIGHUP)
    return log


class Background(threading.Thread):
    """One GET in a thread: .result is the Response or the exception,
    .finished_at its monotonic time and .done set once it is over."""

    def __init__(self, port, target, timeout=60):
        super().__init__(daemon=True)
        self.port, self.target, self.timeout = port, target, timeout
        self.result = None
        self.finished_at = None
        self.done = threading.Event()

    def run(self):
        try:
            self.result = request(self.port, "GET", self.target, timeout=self.timeout)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.result = e
        self.finished_at = time.monotonic()
        self.done.set()


def wrk_summary(text):
    """wrk's output on one line, for failure messages."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def check_wrk(text, what="wrk"):
    """Checks wrk's output: requests were made, every answer 2xx, no socket
    error (connect, read, write or timeout); returns the request count."""
    summary = wrk_summary(text)
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    check(m is not None, f"{what}: no request count in its output: {summary}")
    check(int(m.group(1)) > 0, f"{what}: no request made: {summary}")
    check("Non-2xx" not in text, f"{what}: answers that were not 2xx: {summary}")
    check("Socket errors" not in text, f"{what}: socket errors: {summary}")
    return int(m.group(1))


# ---------------------------------------------------------------------------
# Suites


class Suite:
    """A group of test cases sharing one setup (servers started once).

    setup(ws) -> ctx; each case is (name, fn(ctx), timeout_seconds).
    watch(ctx) -> list of Proc whose death is reported before each case.
    """

    def __init__(self, name, setup, cases, watch=None):
        self.name = name
        self.setup = setup
        self.cases = cases
        self.watch = watch or (lambda ctx: [])


class Ctx:
    """Per-suite state handed to the cases."""

    def __init__(self, ws, **kw):
        self.ws = ws
        self.procs = []
        self.__dict__.update(kw)

    def mark_logs(self):
        for p in self.procs:
            p.mark_logs()

    def log_tail(self, lines=12, since_mark=False):
        out = []
        for p in self.procs:
            out += p.log_tail(lines, since_mark)
        return out

