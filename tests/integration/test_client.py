"""gatewayd-client against gatewayd: one gatewayd per protocol (FastCGI on TCP
and on a unix socket, SCGI, AJP13 with a secret, HTTP) serving the echo
project, and the client run as an admin would run it: GET, POST with a file
body and from a pipe, -i, -v, --param, --fail, the exit statuses for a
refused connection, a missing socket and a peer that never answers, --cping,
--get-values, and a short --bench on every protocol.

The client binary is $GATEWAYD_CLIENT, else the one built next to the
gatewayd under test (BUILD/gateway/client/gatewayd-client).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time

from servers import start_gatewayd
from support import Ctx, PatternBody, Suite, TestFailure, check, dead_port, free_port, gatewayd_binary

AJP_SECRET = "client-test-secret"
POST_SIZE = 3 * 1024 * 1024 + 17  # several AJP packets, FastCGI records and read() calls
RUN_TIMEOUT = 60


def client_binary():
    env = os.environ.get("GATEWAYD_CLIENT")
    if env:
        return os.path.abspath(env)
    sibling = os.path.join(os.path.dirname(gatewayd_binary()), "client", "gatewayd-client")
    if os.access(sibling, os.X_OK):
        return sibling
    return shutil.which("gatewayd-client") or sibling


class Run:
    def __init__(self, proc, elapsed):
        self.status = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr.decode("utf-8", "replace")
        self.elapsed = elapsed

    def json(self, what):
        try:
            return json.loads(self.out)
        except ValueError:
            raise TestFailure(f"{what}: status {self.status}, stdout is not JSON: {self.out[:200]!r}, "
                              f"stderr {self.err[:300]!r}")

    def __repr__(self):
        return f"<status {self.status}, stdout {self.out[:160]!r}, stderr {self.err[:300]!r}>"


def run(ctx, *args, stdin=None, timeout=RUN_TIMEOUT):
    t0 = time.monotonic()
    try:
        proc = subprocess.run([ctx.client] + [str(a) for a in args], input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"gatewayd-client {' '.join(map(str, args))} did not end within {timeout}s")
    return Run(proc, time.monotonic() - t0)


def expect_status(r, status, what):
    check(r.status == status, f"{what}: exit status {r.status}, want {status}: {r!r}")


def one_error_line(r, what, pattern):
    """stderr is exactly one line, "gatewayd-client: ...", matching `pattern`."""
    lines = r.err.splitlines()
    check(len(lines) == 1, f"{what}: want one line on stderr, got {lines!r}")
    check(lines[0].startswith("gatewayd-client: "), f"{what}: stderr {lines[0]!r}")
    check(re.search(pattern, lines[0]), f"{what}: stderr {lines[0]!r} does not match {pattern!r}")


# ---------------------------------------------------------------------------


def setup(ws):
    client = client_binary()
    if not os.access(client, os.X_OK):
        raise TestFailure(f"gatewayd-client binary not found at {client}")
    projects = ws.demo_projects()
    ctx = Ctx(ws, client=client)
    ctx.ports = {}
    for proto, extra in (("fcgi", []), ("scgi", []), ("ajp", ["--ajp-secret", AJP_SECRET]), ("http", [])):
        port = free_port()
        ctx.ports[proto] = port
        ctx.procs.append(start_gatewayd(ws, [f"--protocol={proto}", "-b", "127.0.0.1", "-p", str(port)] + extra +
                                        ["-e", projects], name=f"gatewayd-{proto}", port=port))
    ctx.sock = ws.path("fcgi.sock")
    ctx.procs.append(start_gatewayd(ws, ["--protocol=fcgi", "--unix-socket", ctx.sock, "-e", projects],
                                    name="gatewayd-fcgi-unix", unix_path=ctx.sock))
    ctx.dead_port = dead_port()
    # A peer that accepts (the kernel's backlog does) and never answers.
    ctx.silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.silent.bind(("127.0.0.1", 0))
    ctx.silent.listen(16)
    ctx.silent_port = ctx.silent.getsockname()[1]
    ctx.body = PatternBody(POST_SIZE)
    ctx.body_path = ws.path("body.bin")
    with open(ctx.body_path, "wb") as f:
        for block in ctx.body.blocks():
            f.write(block)
    ctx.body_sha = ctx.body.digest()
    return ctx


def url(ctx, proto, path="/echo/sub/path?x=1"):
    return f"{proto}://127.0.0.1:{ctx.ports[proto]}{path}"


def secret_args(proto):
    return ["--ajp-secret", AJP_SECRET] if proto == "ajp" else []


def expect_echo(r, what, proto, **fields):
    expect_status(r, 0, what)
    j = r.json(what)
    check(j.get("project") == "echo", f"{what}: project {j.get('project')!r}")
    check(j.get("origin") == proto, f"{what}: origin {j.get('origin')!r}, want {proto!r}")
    for k, v in fields.items():
        check(j.get(k) == v, f"{what}: {k} = {j.get(k)!r}, want {v!r}")
    return j


def header(j, name):
    for k, v in j.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None


def case_get(proto):
    def case(ctx):
        r = run(ctx, *secret_args(proto), url(ctx, proto))
        j = expect_echo(r, f"GET over {proto}", proto, method="GET", path_info="/sub/path", query="x=1",
                        script_name="/echo", remote_addr="127.0.0.1", body_length=0)
        want_host = f"127.0.0.1:{ctx.ports[proto]}"
        check(header(j, "Host") == want_host, f"Host {header(j, 'Host')!r}, want {want_host!r}")
        check((header(j, "User-Agent") or "").startswith("gatewayd-client/"), f"User-Agent {header(j, 'User-Agent')!r}")
        check(r.err == "", f"stderr without -v: {r.err!r}")
    return case


def case_post_file(proto):
    def case(ctx):
        r = run(ctx, *secret_args(proto), "-d", "@" + ctx.body_path, url(ctx, proto, "/echo/upload"))
        expect_echo(r, f"POST -d @file over {proto}", proto, method="POST", path_info="/upload",
                    body_length=POST_SIZE, body_sha256=ctx.body_sha, content_length=POST_SIZE)
    return case


def case_post_stdin(proto):
    def case(ctx):
        with open(ctx.body_path, "rb") as f:
            data = f.read()
        r = run(ctx, *secret_args(proto), "--data-binary", "@-", url(ctx, proto, "/echo/piped"), stdin=data)
        # A pipe has no length: FastCGI ends the body with the empty STDIN
        # record, HTTP chunks it, AJP sends it on request.
        expect_echo(r, f"POST -d @- over {proto}", proto, method="POST", path_info="/piped",
                    body_length=POST_SIZE, body_sha256=ctx.body_sha, content_length=None)
    return case


def case_include(proto):
    def case(ctx):
        r = run(ctx, *secret_args(proto), "-i", url(ctx, proto, "/echo/i"))
        expect_status(r, 0, f"-i over {proto}")
        head, sep, body = r.out.partition(b"\r\n\r\n")
        check(sep, f"-i over {proto}: no empty line after the head: {r.out[:300]!r}")
        lines = head.decode("latin-1").split("\r\n")
        check(lines[0] == "HTTP/1.1 200 OK", f"-i over {proto}: status line {lines[0]!r}")
        check("Content-Type: application/json" in lines[1:], f"-i over {proto}: head {lines!r}")
        j = json.loads(body)
        check(j.get("path_info") == "/i", f"-i over {proto}: body {j!r}")
    return case


def case_unix_socket(ctx):
    r = run(ctx, f"unix:{ctx.sock}|fcgi://localhost/echo/over-unix")
    j = expect_echo(r, "FastCGI over a unix socket", "fcgi", path_info="/over-unix", server_name="localhost")
    check(header(j, "Host") == "localhost", f"Host {header(j, 'Host')!r}")
    r = run(ctx, "--protocol=fcgi", ctx.sock, "/echo/plain-path")
    expect_echo(r, "--protocol=fcgi SOCKET PATH", "fcgi", path_info="/plain-path")


def case_verbose(ctx):
    r = run(ctx, "-v", url(ctx, "fcgi", "/echo/v"))
    expect_status(r, 0, "-v")
    for want in ("> BEGIN_REQUEST id 1, role FCGI_RESPONDER, flags 0", "> PARAMS REQUEST_METHOD='GET'",
                 "> PARAMS SCRIPT_NAME=''", "> PARAMS REQUEST_URI='/echo/v'", "< HTTP/1.1 200 OK",
                 "< STDOUT end (empty record)", "< END_REQUEST protocolStatus FCGI_REQUEST_COMPLETE, appStatus 0"):
        check(want in r.err.splitlines(), f"-v: no line {want!r} in {r.err[:1500]!r}")
    r = run(ctx, "-v", "--ajp-secret", AJP_SECRET, url(ctx, "ajp", "/echo/v"))
    expect_status(r, 0, "-v over AJP")
    check(AJP_SECRET not in r.err, "-v shows the AJP secret")
    for want in ("> attribute secret (18 bytes, not shown)", "< END_RESPONSE reuse 1"):
        check(want in r.err.splitlines(), f"-v over AJP: no line {want!r} in {r.err[:1500]!r}")


def case_params_and_headers(ctx):
    r = run(ctx, "--param", "REMOTE_USER=alice", "--param", "X_CUSTOM=1", "-H", "X-Trace: abc",
            url(ctx, "fcgi", "/echo/p"))
    j = expect_echo(r, "--param and -H over FastCGI", "fcgi", remote_user="alice")
    check(["X_CUSTOM", "1"] in j.get("params", []), f"params {j.get('params')!r}")
    check(header(j, "X-Trace") == "abc", f"headers {j.get('headers')!r}")
    r = run(ctx, "-X", "PUT", "-H", "X-Trace: def", "-d", "x=1", url(ctx, "scgi", "/echo/p"))
    j = expect_echo(r, "-X PUT -H over SCGI", "scgi", method="PUT", body_length=3)
    check(header(j, "X-Trace") == "def", f"headers {j.get('headers')!r}")
    check(header(j, "Content-Type") == "application/x-www-form-urlencoded", f"headers {j.get('headers')!r}")


def case_fail(ctx):
    for proto in ("fcgi", "scgi", "ajp", "http"):
        r = run(ctx, *secret_args(proto), url(ctx, proto, "/no-such-project/"))
        expect_status(r, 0, f"a 404 over {proto} without --fail")
        r = run(ctx, *secret_args(proto), "--fail", url(ctx, proto, "/no-such-project/"))
        expect_status(r, 22, f"a 404 over {proto} with --fail")
        one_error_line(r, f"--fail over {proto}", r"the response status is 404 \(--fail\)$")


def case_ajp_secret(ctx):
    r = run(ctx, "-f", url(ctx, "ajp", "/echo/s"))
    expect_status(r, 22, "AJP without the secret")
    one_error_line(r, "AJP without the secret", r"^gatewayd-client: AJP: the response status is 403")
    r = run(ctx, "-f", "--ajp-secret", "wrong", url(ctx, "ajp", "/echo/s"))
    expect_status(r, 22, "AJP with a wrong secret")


def case_refused(ctx):
    for proto in ("fcgi", "scgi", "ajp", "http"):
        r = run(ctx, f"{proto}://127.0.0.1:{ctx.dead_port}/echo/")
        expect_status(r, 7, f"{proto} to a closed port")
        one_error_line(r, f"{proto} to a closed port",
                       rf": cannot connect to 127\.0\.0\.1:{ctx.dead_port}: connection refused \(ECONNREFUSED\)$")
    r = run(ctx, "--protocol=fcgi", "unix:" + ctx.ws.path("no-such.sock"))
    expect_status(r, 7, "a missing unix socket")
    one_error_line(r, "a missing unix socket", r"no such file or directory \(ENOENT\)$")


def case_timeout(ctx):
    for proto, waiting in (("fcgi", "the response"), ("ajp", "SEND_HEADERS"), ("http", "the response head")):
        r = run(ctx, "-m", "1", f"{proto}://127.0.0.1:{ctx.silent_port}/echo/", timeout=20)
        expect_status(r, 28, f"{proto} to a silent peer")
        one_error_line(r, f"{proto} to a silent peer", rf"timed out after 1 s waiting for {waiting}")
        check(r.elapsed < 6, f"{proto}: gave up after {r.elapsed:.1f}s with -m 1")


def case_usage(ctx):
    r = run(ctx, "127.0.0.1:1")
    expect_status(r, 2, "no protocol")
    one_error_line(r, "no protocol", r"which protocol\?")
    r = run(ctx, "--cping", url(ctx, "fcgi"))
    expect_status(r, 2, "--cping over FastCGI")
    one_error_line(r, "--cping over FastCGI", r"^gatewayd-client: --cping: is an AJP message")


def case_cping(ctx):
    r = run(ctx, "--cping", f"ajp://127.0.0.1:{ctx.ports['ajp']}")
    expect_status(r, 0, "--cping")
    out = r.out.decode()
    check(re.fullmatch(rf"CPONG from 127\.0\.0\.1:{ctx.ports['ajp']} in \d+\.\d{{3}} ms\n", out), f"--cping: {out!r}")
    r = run(ctx, "--cping", "-m", "1", f"ajp://127.0.0.1:{ctx.silent_port}", timeout=20)
    expect_status(r, 28, "--cping to a silent peer")
    one_error_line(r, "--cping to a silent peer", r"AJP: timed out after 1 s waiting for CPONG$")


def case_get_values(ctx):
    for target in (url(ctx, "fcgi", ""), f"unix:{ctx.sock}|fcgi://localhost"):
        r = run(ctx, "--get-values", target)
        expect_status(r, 0, f"--get-values {target}")
        values = dict(line.split("=", 1) for line in r.out.decode().splitlines())
        check(set(values) == {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"}, f"--get-values: {values!r}")
        check(all(v.isdigit() and int(v) > 0 for v in values.values()), f"--get-values: {values!r}")
        check(values["FCGI_MPXS_CONNS"] == "1", f"gatewayd multiplexes: {values!r}")


BENCH_LINE = re.compile(r"^  (\d+) responses in (\d+\.\d+) s: (\d+\.\d) requests/s$", re.M)
LATENCY_LINE = re.compile(r"^  latency p50 (\d+\.\d+) ms, p90 (\d+\.\d+) ms, p99 (\d+\.\d+) ms, max (\d+\.\d+) ms$", re.M)


def case_bench(proto, keep):
    def case(ctx):
        args = ["--bench", "-n", "200", "-c", "4"] + (["--keep-conn"] if keep else []) + secret_args(proto)
        r = run(ctx, *args, url(ctx, proto, "/echo/bench"), timeout=60)
        what = f"--bench over {proto}" + (" --keep-conn" if keep else "")
        expect_status(r, 0, what)
        out = r.out.decode()
        m = BENCH_LINE.search(out)
        check(m and m.group(1) == "200", f"{what}: {out!r}")
        check(float(m.group(3)) > 0, f"{what}: {out!r}")
        lat = LATENCY_LINE.search(out)
        check(lat, f"{what}: no latency line in {out!r}")
        p50, p90, p99, top = (float(x) for x in lat.groups())
        check(0 < p50 <= p90 <= p99 <= top, f"{what}: percentiles out of order: {lat.group(0)!r}")
        check("  statuses: 200 x 200\n" in out and "  failed: 0\n" in out, f"{what}: {out!r}")
    return case


def case_bench_post(ctx):
    for proto in ("fcgi", "ajp"):
        r = run(ctx, "--bench", "-n", "20", "-c", "2", "--keep-conn", *secret_args(proto), "-d",
                "@" + ctx.body_path, url(ctx, proto, "/echo/bench-post"), timeout=120)
        expect_status(r, 0, f"--bench POST over {proto}")
        check("  statuses: 200 x 20\n" in r.out.decode(), f"--bench POST over {proto}: {r.out!r}")


def case_bench_failures(ctx):
    r = run(ctx, "--bench", "-n", "20", "-c", "2", f"fcgi://127.0.0.1:{ctx.dead_port}/", timeout=30)
    expect_status(r, 1, "--bench to a closed port")
    out = r.out.decode()
    check("  failed: 20\n" in out and "    connect x 20, the first: FastCGI: cannot connect to" in out,
          f"--bench to a closed port: {out!r}")
    r = run(ctx, "--bench", "-n", "10", "-c", "2", "--fail", url(ctx, "http", "/no-such-project/"), timeout=30)
    expect_status(r, 1, "--bench --fail with 404s")
    check("  statuses: 404 x 10\n" in r.out.decode(), f"--bench --fail: {r.out!r}")
    # Bounded by time: -t stops issuing requests.
    r = run(ctx, "--bench", "-t", "1", "-c", "2", "--keep-conn", url(ctx, "http", "/echo/t"), timeout=30)
    expect_status(r, 0, "--bench -t 1")
    check(r.elapsed < 10, f"--bench -t 1 took {r.elapsed:.1f}s")
    m = BENCH_LINE.search(r.out.decode())
    check(m and int(m.group(1)) > 0 and 0.9 < float(m.group(2)) < 5, f"--bench -t 1: {r.out!r}")


ABORTED_LINE = re.compile(r"^  aborted: (\d+) \(head x (\d+), body x (\d+), response x (\d+)\)$", re.M)


def case_bench_abort(ctx):
    """--abort-ratio: half the requests abandoned at random points of the
    head, the body or the response, over every protocol, kept connections
    (dropped mid-request) and not; they are reported as aborted, not as
    failures, and gatewayd serves every request correctly afterwards."""
    body_path = ctx.ws.path("abort-body.bin")
    body = PatternBody(96 * 1024 + 5)  # several records and packets, a cut can fall inside
    with open(body_path, "wb") as f:
        for block in body.blocks():
            f.write(block)
    for proto in ("fcgi", "scgi", "ajp", "http"):
        keep = [] if proto == "scgi" else ["--keep-conn"]
        for extra, points in (([], ("head", "response")), (["-d", "@" + body_path], ("head", "body", "response"))):
            what = f"--bench --abort-ratio 0.5 over {proto}" + (" with a body" if extra else "")
            r = run(ctx, "--bench", "-n", "400", "-c", "8", "--abort-ratio", "0.5", *keep, *extra,
                    *secret_args(proto), url(ctx, proto, "/echo/abort"), timeout=120)
            expect_status(r, 0, what)
            out = r.out.decode()
            m, a = BENCH_LINE.search(out), ABORTED_LINE.search(out)
            check(m and a and "  failed: 0\n" in out, f"{what}: {out!r}")
            responses, aborted = int(m.group(1)), int(a.group(1))
            by_point = dict(zip(("head", "body", "response"), (int(x) for x in a.groups()[1:])))
            check(responses + aborted == 400, f"{what}: {responses} responses + {aborted} aborted: {out!r}")
            # Binomial(400, 1/2): outside 100..300 once in 10^20 runs.
            check(100 < aborted < 300, f"{what}: {aborted} of 400 aborted at ratio 0.5")
            check(sum(by_point.values()) == aborted and all(by_point[p] > 0 for p in points)
                  and (extra or by_point["body"] == 0), f"{what}: {a.group(0)!r}")
            check(f"  statuses: 200 x {responses}\n" in out, f"{what}: {out!r}")
        # The same gatewayd, after the burst: every request answered, and right.
        r = run(ctx, "--bench", "-n", "100", "-c", "4", *keep, *secret_args(proto), "-d", "@" + body_path,
                url(ctx, proto, "/echo/after"), timeout=60)
        expect_status(r, 0, f"--bench over {proto} after the aborts")
        check("  statuses: 200 x 100\n" in r.out.decode(), f"after the aborts over {proto}: {r.out!r}")
        r = run(ctx, *secret_args(proto), "-d", "@" + body_path, url(ctx, proto, "/echo/after"))
        expect_echo(r, f"a POST over {proto} after the aborts", proto, body_length=body.size,
                    body_sha256=body.digest())
    r = run(ctx, "--bench", "-n", "50", "-c", "2", "--abort-ratio", "1", url(ctx, "http", "/echo/all"))
    expect_status(r, 0, "--abort-ratio 1")
    check(re.search(r"^  0 responses in .*^  failed: 0\n  aborted: 50 \(", r.out.decode(), re.M | re.S),
          f"--abort-ratio 1: {r.out!r}")
    for value in ("1.5", "-0.1", "x"):
        r = run(ctx, "--bench", f"--abort-ratio={value}", url(ctx, "http", "/echo/"))
        expect_status(r, 2, f"--abort-ratio {value}")
        one_error_line(r, f"--abort-ratio {value}",
                       rf"^gatewayd-client: --abort-ratio: '{re.escape(value)}' is not a fraction of the requests \(0 to 1\)$")
    r = run(ctx, "--abort-ratio", "0.5", url(ctx, "http", "/echo/"))
    expect_status(r, 2, "--abort-ratio without --bench")
    one_error_line(r, "--abort-ratio without --bench", r"^gatewayd-client: --abort-ratio: needs --bench$")


CASES = (
    [(f"get-{p}", case_get(p), 30) for p in ("fcgi", "scgi", "ajp", "http")]
    + [(f"post-file-{p}", case_post_file(p), 60) for p in ("fcgi", "scgi", "ajp", "http")]
    + [(f"post-stdin-{p}", case_post_stdin(p), 60) for p in ("fcgi", "ajp", "http")]
    + [(f"include-head-{p}", case_include(p), 30) for p in ("fcgi", "scgi", "ajp", "http")]
    + [
        ("unix-socket", case_unix_socket, 30),
        ("verbose", case_verbose, 30),
        ("params-and-headers", case_params_and_headers, 30),
        ("fail-exit-22", case_fail, 30),
        ("ajp-secret", case_ajp_secret, 30),
        ("refused-exit-7", case_refused, 30),
        ("timeout-exit-28", case_timeout, 40),
        ("usage-exit-2", case_usage, 30),
        ("cping", case_cping, 30),
        ("get-values", case_get_values, 30),
    ]
    + [(f"bench-{p}", case_bench(p, False), 60) for p in ("fcgi", "scgi", "ajp", "http")]
    + [(f"bench-{p}-keep-conn", case_bench(p, True), 60) for p in ("fcgi", "ajp", "http")]
    + [
        ("bench-post", case_bench_post, 120),
        ("bench-failures", case_bench_failures, 60),
        ("bench-abort", case_bench_abort, 300),
    ]
)


def suites():
    return [Suite("client", setup, CASES)]
