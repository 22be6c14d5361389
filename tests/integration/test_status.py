"""Access logs, the slow-request log and the status listener, through nginx.

status-nginx: nginx fastcgi_pass in front of gatewayd serving "echo",
"files" (static) and "cgi" (a CGI script answering any status asked for,
and a slow path), with --access-log (default format), a second listener's
own access log in a format naming every gatewayd field, "cgi"'s own
access_log, --slow-request-ms and --status-listen.

  access-log     requests of every status class 2xx-5xx: each line parsed
                 field by field against what was sent and answered; values
                 a client controls escaped; the project's own log holds
                 exactly its requests; status requests are not logged.
  slow-log       a slow CGI request is in the error log with its project,
                 path and backend times.
  status-json    /status.json counts exactly what was sent, per project and
                 per listener, and nothing from the status listener itself.
  metrics        /metrics parses as Prometheus text and agrees with the JSON.
  not-routed     the status listener never reaches a project.
  page-chromium  the HTML page in headless Chromium: a screenshot shows the
                 charts drawn; the numbers in the page (--dump-dom) equal
                 the JSON endpoint's. Chromium is required (tests/run
                 installs it): missing, the case fails.
  reopen         SIGUSR1 after the log was renamed: new lines in a new file.
"""

import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
import urllib.parse
import zlib

from servers import have, start_gatewayd, start_nginx
from support import Ctx, Suite, TestFailure, check, fill_template, free_port, request, wait_until

CGI_SCRIPT = r"""#!/bin/sh
case "$PATH_INFO" in
/status/*)
    code=${PATH_INFO#/status/}
    printf 'Status: %s Chosen\r\nContent-Type: text/plain\r\n\r\n' "$code"
    echo "answered $code"
    ;;
/slow)
    sleep 0.6
    printf 'Content-Type: text/plain\r\n\r\nslow\n'
    ;;
*)
    printf 'Content-Type: text/plain\r\n\r\ncgi %s\n' "$PATH_INFO"
    ;;
esac
"""

SLOW_MS = 300

# The default format: Combined plus project, protocol, backend, backend ms, total ms.
DEFAULT_LINE = re.compile(
    r'^(?P<host>\S+) - (?P<user>\S+) \[(?P<time>\d\d/[A-Z][a-z][a-z]/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<bytes>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)" '
    r'(?P<project>\S+) (?P<protocol>\S+) (?P<backend>\S+) (?P<backend_ms>\d+\.\d{3}|-) '
    r'(?P<total_ms>\d+\.\d{3})$')


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith(("TRAC_ENV", "FCGI_"))}


def write_json(path, obj):
    import json
    with open(path, "w") as f:
        json.dump(obj, f)


def status_setup(ws):
    have("nginx")
    parent = ws.mkdir("projects")
    for name in ("echo", "files", "cgi"):
        ws.mkdir("projects", name)
    write_json(ws.path("projects", "echo", "project.json"), {"backend": {"type": "echo"}})
    ws.mkdir("projects", "files", "htdocs")
    ws.write("projects/files/htdocs/index.html", "<p>static index</p>\n")
    write_json(ws.path("projects", "files", "project.json"),
               {"backend": {"type": "static", "root": "htdocs"}})
    ws.write("projects/cgi/app.cgi", CGI_SCRIPT, mode=0o755)
    write_json(ws.path("projects", "cgi", "project.json"),
               {"backend": {"type": "cgi", "script": "app.cgi", "timeout_ms": 20000},
                "access_log": ws.path("cgi-access.log")})
    ctx = Ctx(ws, parent=parent, http_port=free_port(), dead_http_port=free_port(),
              gatewayd_port=free_port(), second_port=free_port(), status_port=free_port(),
              access_log=ws.path("access.log"), second_log=ws.path("second.log"),
              cgi_log=ws.path("cgi-access.log"), sent=[], second_requests=0, second_bytes=0)
    ws.write("gatewayd.json", _config_json(ctx))
    ctx.gatewayd = start_gatewayd(
        ws, ["--protocol=fcgi", "-b", "127.0.0.1", "-p", str(ctx.gatewayd_port), "-e", parent,
             "--config", ws.path("gatewayd.json"),
             "--access-log", ctx.access_log, "--slow-request-ms", str(SLOW_MS),
             "--status-listen", f"127.0.0.1:{ctx.status_port}"],
        port=ctx.gatewayd_port, env=clean_env())
    wait_until(lambda: _accepts(ctx.status_port) and _accepts(ctx.second_port), 10,
               "the status and second listeners", proc=ctx.gatewayd)
    ctx.procs.append(ctx.gatewayd)
    site = fill_template("nginx-fastcgi.conf", {"HTTP_PORT": f"127.0.0.1:{ctx.http_port}",
                                                "GATEWAYD_ADDR": f"127.0.0.1:{ctx.gatewayd_port}",
                                                "KEEP_CONN": "on"})
    ctx.procs.append(start_nginx(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


def _config_json(ctx):
    import json
    return json.dumps({
        "listeners": [{"protocol": "http", "host": "127.0.0.1", "port": ctx.second_port,
                       "name": "second", "access_log": ctx.second_log}],
    })


def _accepts(port):
    from support import tcp_accepts
    return tcp_accepts(port)


# ---------------------------------------------------------------------------
# helpers


def unescape_apache(text):
    """Reverses the access log's escaping (\\" \\\\ \\n ... \\xHH)."""
    out = bytearray()
    i = 0
    simple = {'"': b'"', "\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "v": b"\v"}
    raw = text.encode("latin-1")
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"\\" and i + 1 < len(raw):
            n = chr(raw[i + 1])
            if n in simple:
                out += simple[n]
                i += 2
                continue
            if n == "x":
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
        out += c
        i += 1
    return bytes(out)


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return f.read().decode("latin-1").splitlines()


def wait_for_lines(path, count, proc, what):
    wait_until(lambda: len(read_lines(path)) >= count, 10, f"{count} lines in {what}", proc=proc)
    lines = read_lines(path)
    check(len(lines) == count, f"{what}: {len(lines)} lines, want {count}: {lines[-3:]}")
    return lines


def get_json(ctx, path="/status.json"):
    r = request(ctx.status_port, "GET", path)
    check(r.status == 200, f"{path}: {r}")
    check(r.header("Content-Type") == "application/json", f"{path}: {r.header('Content-Type')}")
    return r.json()


def send(ctx, target, headers=None, want=None):
    r = request(ctx.http_port, "GET", target, headers=headers)
    if want is not None:
        check(r.status == want, f"GET {target}: {r.status}, want {want}: {r.body[:200]!r}")
    ctx.sent.append({"target": target, "status": r.status, "bytes": len(r.body),
                     "headers": headers or {}})
    return r


# ---------------------------------------------------------------------------
# cases


def case_access_log(ctx):
    agent = 'probe "quoted" \\ back\x01ctl\x7f'
    referer = "http://example.org/from?x=1"
    plan = [
        ("/echo/hello?x=1&y=%22", 200, "echo", "echo"),
        ("/files/", 200, "files", "static"),
        ("/files/missing.html", 404, "files", "static"),
        ("/cgi/status/201", 201, "cgi", "cgi"),
        ("/cgi/status/302", 302, "cgi", "cgi"),
        ("/cgi/status/410", 410, "cgi", "cgi"),
        ("/cgi/status/503", 503, "cgi", "cgi"),
        ("/cgi/slow", 200, "cgi", "cgi"),
        ("/nosuchproject/", 404, "-", "-"),
    ]
    for target, status, _, _ in plan:
        send(ctx, target, {"User-Agent": agent, "Referer": referer}, want=status)
    # A status request in between: it must not be in the access log.
    get_json(ctx)
    lines = wait_for_lines(ctx.access_log, len(plan), ctx.gatewayd, "access.log")
    for line, (target, status, project, backend), sent in zip(lines, plan, ctx.sent):
        m = DEFAULT_LINE.match(line)
        check(m is not None, f"not in the default format: {line!r}")
        f = m.groupdict()
        check(f["host"] == "127.0.0.1", f"host: {line!r}")
        check(f["user"] == "-", f"user: {line!r}")
        when = time.strptime(f["time"][:20], "%d/%b/%Y:%H:%M:%S")
        check(abs(time.mktime(when) - time.time()) < 3600 * 24, f"time: {line!r}")
        check(unescape_apache(f["request"]) == f"GET {target} HTTP/1.1".encode(),
              f"request line: {line!r}")
        check(f["status"] == str(status), f"status {f['status']}, want {status}: {line!r}")
        want_bytes = "-" if sent["bytes"] == 0 else str(sent["bytes"])
        check(f["bytes"] == want_bytes, f"bytes {f['bytes']}, client got {sent['bytes']}: {line!r}")
        check(unescape_apache(f["referer"]) == referer.encode(), f"referer: {line!r}")
        check(unescape_apache(f["agent"]) == agent.encode("latin-1"), f"agent: {line!r}")
        check(f["project"] == project, f"project {f['project']}, want {project}: {line!r}")
        check(f["protocol"] == "fcgi", f"protocol: {line!r}")
        check(f["backend"] == backend, f"backend {f['backend']}, want {backend}: {line!r}")
        total = float(f["total_ms"])
        if backend == "-":
            check(f["backend_ms"] == "-", f"backend_ms without a backend: {line!r}")
        else:
            check(float(f["backend_ms"]) <= total, f"backend time over total: {line!r}")
        if target == "/cgi/slow":
            check(total >= 600, f"the slow request took {total} ms: {line!r}")
    # The client's bytes are escaped: no raw control byte, quotes backslashed.
    check('\\"quoted\\" \\\\ back\\x01ctl\\x7f' in lines[0], f"escaping: {lines[0]!r}")
    for line in lines:
        check(all(0x20 <= ord(c) < 0x7f for c in line), f"raw byte in {line!r}")
    check(not any("status.json" in line for line in lines), "a status request was logged")
    # The project's own log: exactly its requests, the same lines.
    cgi_lines = wait_for_lines(ctx.cgi_log, 5, ctx.gatewayd, "cgi-access.log")
    check(cgi_lines == [line for line in lines if " cgi fcgi cgi " in line],
          f"cgi-access.log differs: {cgi_lines}")


def case_second_listener(ctx):
    before = len(read_lines(ctx.access_log))
    r = request(ctx.second_port, "POST", "/echo/posted?q=1", body=b"0123456789")
    check(r.status == 200, f"POST on the second listener: {r}")
    lines = wait_for_lines(ctx.second_log, 1, ctx.gatewayd, "second.log")
    m = DEFAULT_LINE.match(lines[0])
    check(m is not None, f"not in the default format: {lines[0]!r}")
    f = m.groupdict()
    check(unescape_apache(f["request"]) == b"POST /echo/posted?q=1 HTTP/1.1", f"request: {lines[0]!r}")
    check((f["status"], f["bytes"], f["project"], f["protocol"], f["backend"])
          == ("200", str(len(r.body)), "echo", "http", "echo"), f"fields: {lines[0]!r}")
    check(float(f["backend_ms"]) <= float(f["total_ms"]), f"times: {lines[0]!r}")
    # A listener with a log of its own does not write to the server-wide one.
    time.sleep(0.3)
    check(len(read_lines(ctx.access_log)) == before, "the second listener's request is in access.log")
    ctx.second_requests = 1
    ctx.second_bytes = len(r.body)


def case_slow_log(ctx):
    text = open(ctx.gatewayd.log_path, "rb").read().decode("utf-8", "replace")
    m = re.search(r"\[warn\] slow request: project cgi, GET /cgi/slow, status 200, "
                  r"total (\d+\.\d{3}) ms, backend first byte (\d+\.\d{3}) ms, "
                  r"backend end (\d+\.\d{3}) ms, listener (\S+)", text)
    check(m is not None, "no slow-request line for /cgi/slow in the error log")
    total, first, end = (float(m.group(i)) for i in (1, 2, 3))
    check(total >= 600 and first >= 590 and first <= end <= total, f"times: {m.group(0)}")
    check("slow request: project echo" not in text, "a fast request was logged as slow")


def classes(sent):
    out = {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    for s in sent:
        out[f"{s['status'] // 100}xx"] += 1
    return out


def case_status_json(ctx):
    s = get_json(ctx)
    sent = ctx.sent
    extra = ctx.second_requests
    total = s["total"]
    check(total["requests"] == len(sent) + extra, f"total requests {total['requests']}, sent {len(sent)} + {extra}")
    want = classes(sent)
    want["2xx"] += extra
    check({k: total["status"][k] for k in want} == want, f"classes {total['status']}, want {want}")
    check(total["in_flight"] == 0, f"in flight: {total['in_flight']}")
    check(total["slow"] == 1, f"slow: {total['slow']}")
    check(total["latency_ms"]["count"] == len(sent) + extra, "latency count")
    check(sum(total["latency_ms"]["buckets"]) == total["latency_ms"]["count"], "bucket sum")
    check(total["latency_ms"]["p99"] >= total["latency_ms"]["p50"] > 0, f"percentiles: {total['latency_ms']}")
    check(total["bytes_in"] == 10 * extra, f"bytes_in: {total['bytes_in']}")
    projects = {p["name"]: p for p in s["projects"]}
    check(set(projects) == {"echo", "files", "cgi"}, f"projects: {sorted(projects)}")
    for name in projects:
        prefix = f"/{name}/"
        mine = [x for x in sent if x["target"].startswith(prefix)]
        p = projects[name]
        want_p = classes(mine)
        if name == "echo":
            want_p["2xx"] += extra
        check(p["requests"] == len(mine) + (extra if name == "echo" else 0),
              f"{name}: requests {p['requests']}, sent {len(mine)}")
        check({k: p["status"][k] for k in want_p} == want_p, f"{name}: {p['status']} != {want_p}")
        want_bytes = sum(x["bytes"] for x in mine) + (ctx.second_bytes if name == "echo" else 0)
        check(p["bytes_out"] == want_bytes, f"{name}: bytes_out {p['bytes_out']}, want {want_bytes}")
    check(projects["cgi"]["slow"] == 1 and projects["echo"]["slow"] == 0, "slow per project")
    check(projects["cgi"]["backend"] == "cgi" and projects["files"]["backend"] == "static",
          "backend kinds")
    check(projects["cgi"]["cgi_processes"] == 0, f"cgi processes: {projects['cgi']['cgi_processes']}")
    listeners = {l["name"]: l for l in s["listeners"]}
    fcgi = [l for l in listeners.values() if l["protocol"] == "fcgi"]
    check(len(fcgi) == 1 and fcgi[0]["requests"] == len(sent), f"fcgi listener: {fcgi}")
    check(listeners["second"]["requests"] == extra, f"second listener: {listeners['second']}")
    status = [l for l in listeners.values() if l["status_listener"]]
    check(len(status) == 1 and status[0]["requests"] >= 1, f"status listener: {status}")
    check(s["pid"] == ctx.gatewayd.pid, f"pid {s['pid']}, want {ctx.gatewayd.pid}")
    check(s["connections"] >= 1, "connections")
    check(s["slow_request_ms"] == SLOW_MS, "slow_request_ms")
    check(re.fullmatch(r"\d+\.\d+\.\d+.*", s["version"]) is not None, f"version {s['version']}")
    # Same answer at /status.
    check(get_json(ctx, "/status")["total"]["requests"] == total["requests"], "/status")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_prometheus(text):
    """{(name, frozenset(labels)): value}, checking the text format 0.0.4."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            check(kind in ("counter", "gauge", "histogram"), f"type: {line}")
            check(name not in types, f"typed twice: {line}")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        check(m is not None, f"not a sample: {line!r}")
        labels = {}
        rest = m.group(2) or ""
        pos = 0
        while pos < len(rest):
            lm = LABEL.match(rest, pos)
            check(lm is not None, f"bad labels: {line!r}")
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        check(m.group(1) in types or base in types, f"sample without TYPE: {line!r}")
        value = float(m.group(3))
        samples[(m.group(1), frozenset(labels.items()))] = value
    return samples


def case_metrics(ctx):
    r = request(ctx.status_port, "GET", "/metrics")
    check(r.status == 200, f"/metrics: {r}")
    check(r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.header("Content-Type"))
    samples = parse_prometheus(r.body.decode())
    s = get_json(ctx)

    def value(name, **labels):
        key = (name, frozenset(labels.items()))
        check(key in samples, f"no sample {name}{labels}")
        return samples[key]

    for c in ("2xx", "3xx", "4xx", "5xx"):
        check(value("gatewayd_requests_total", **{"class": c}) == s["total"]["status"][c], c)
        for p in s["projects"]:
            check(value("gatewayd_project_requests_total", project=p["name"], **{"class": c})
                  == p["status"][c], f"{p['name']} {c}")
    check(value("gatewayd_slow_requests_total") == 1, "slow")
    check(value("gatewayd_request_duration_seconds_count") == s["total"]["requests"], "count")
    check(value("gatewayd_request_duration_seconds_bucket", le="+Inf") == s["total"]["requests"], "+Inf")
    check(value("gatewayd_pid") == ctx.gatewayd.pid, "pid")
    check(value("gatewayd_project_slow_requests_total", project="cgi") == 1, "cgi slow")
    # Buckets are cumulative.
    les = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items()
                  if k[0] == "gatewayd_request_duration_seconds_bucket"), key=lambda x: x[0])
    check(all(a[1] <= b[1] for a, b in zip(les, les[1:])), f"buckets not cumulative: {les}")


def case_not_routed(ctx):
    for target in ("/echo/", "/files/", "/cgi/status/200"):
        r = request(ctx.status_port, "GET", target)
        check(r.status == 404, f"status listener {target}: {r}")
    r = request(ctx.status_port, "GET", "/")
    check(r.status == 200 and b"<canvas" in r.body, f"status page: {r.status}")
    check(r.header("Content-Type") == "text/html; charset=utf-8", r.header("Content-Type"))


# --- the page in Chromium -------------------------------------------------


def decode_png(path):
    """(width, height, rows of (r, g, b) tuples) for an 8-bit RGB/RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    pos = 8
    idat = b""
    width = height = ctype = depth = interlace = None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    check(depth == 8 and ctype in (2, 6) and interlace == 0, f"PNG kind: depth {depth} type {ctype}")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows = []
    prev = bytearray(stride)
    i = 0
    for _ in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def chromium(ctx, *args):
    if shutil.which("chromium") is None:
        raise TestFailure("chromium is not installed (Debian packages chromium and chromium-driver)")
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={ctx.ws.path('chromium-profile')}", "--virtual-time-budget=5000"]
    argv += list(args) + [f"http://127.0.0.1:{ctx.status_port}/"]
    p = subprocess.run(argv, capture_output=True, timeout=90)
    check(p.returncode == 0, f"chromium exited with {p.returncode}: {p.stderr.decode()[-500:]}")
    return p.stdout.decode("utf-8", "replace")


def case_page_chromium(ctx):
    # Load while the screenshot is taken, so that the charts have a curve.
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                request(ctx.http_port, "GET", "/echo/load")
            except Exception:  # noqa: BLE001 - the count is checked below
                pass

    loaders = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for loader in loaders:
        loader.start()
    shot = ctx.ws.path("status.png")
    try:
        chromium(ctx, "--window-size=1100,900", f"--screenshot={shot}")
    finally:
        stop.set()
        for loader in loaders:
            loader.join(30)
    check(os.path.exists(shot) and os.path.getsize(shot) > 0, "no screenshot")
    width, height, rows = decode_png(shot)
    check((width, height) == (1100, 900), f"screenshot size {width}x{height}")
    colours = {px for row in rows for px in row}
    check(len(colours) > 20, f"the screenshot is nearly blank ({len(colours)} colours)")

    # The charts' lines: blue (requests/s, p50) and red (p99), as drawn.
    def near(px, rgb):
        return all(abs(a - b) <= 40 for a, b in zip(px, rgb))

    blue = sum(1 for row in rows for px in row if near(px, (0x1f, 0x77, 0xb4)))
    red = sum(1 for row in rows for px in row if near(px, (0xd6, 0x27, 0x28)))
    check(blue >= 72, f"no requests/s or p50 curve in the screenshot ({blue} blue pixels)")
    check(red >= 36, f"no p99 curve in the screenshot ({red} red pixels)")

    # No load now: the page's numbers must equal the endpoint's.
    dom = chromium(ctx, "--dump-dom")
    s = get_json(ctx)

    def shown(element_id):
        m = re.search(r'id="' + re.escape(element_id) + r'"[^>]*>([^<]*)<', dom)
        check(m is not None, f"no element {element_id} in the page")
        return m.group(1)

    check(int(shown("polls")) >= 3, f"the page polled {shown('polls')} times")
    check(shown("error") == "", f"the page shows an error: {shown('error')}")
    check(shown("pid") == str(s["pid"]), "pid")
    check(shown("version") == s["version"], "version")
    check(shown("total-requests") == str(s["total"]["requests"]),
          f"requests: page {shown('total-requests')}, JSON {s['total']['requests']}")
    for c in ("2xx", "3xx", "4xx", "5xx"):
        check(shown("total-" + c) == str(s["total"]["status"][c]), c)
    check(shown("total-slow") == str(s["total"]["slow"]), "slow")
    check(shown("total-p99") == str_number(s["total"]["latency_ms"]["p99"]), "p99")
    for p in s["projects"]:
        check(shown("project-requests-" + p["name"]) == str(p["requests"]), p["name"])
        check(shown("project-5xx-" + p["name"]) == str(p["status"]["5xx"]), p["name"])
    for listener in s["listeners"]:
        if not listener["status_listener"]:
            check(shown("listener-requests-" + listener["name"]) == str(listener["requests"]),
                  listener["name"])


def str_number(v):
    """A JSON number as JavaScript's String() writes it."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def case_reopen(ctx):
    os.rename(ctx.access_log, ctx.access_log + ".1")
    send(ctx, "/echo/before-reopen", want=200)
    wait_until(lambda: any("before-reopen" in l for l in read_lines(ctx.access_log + ".1")), 10,
               "the line in the renamed file", proc=ctx.gatewayd)
    os.kill(ctx.gatewayd.pid, signal.SIGUSR1)
    wait_until(lambda: os.path.exists(ctx.access_log), 10, "access.log created again",
               proc=ctx.gatewayd)
    send(ctx, "/echo/after-reopen", want=200)
    lines = wait_for_lines(ctx.access_log, 1, ctx.gatewayd, "the new access.log")
    check("/echo/after-reopen" in lines[0], f"new file: {lines}")
    check(not any("after-reopen" in l for l in read_lines(ctx.access_log + ".1")),
          "a line went to the renamed file after SIGUSR1")


CASES = [
    ("access-log", case_access_log, 30),
    ("second-listener", case_second_listener, 15),
    ("slow-log", case_slow_log, 10),
    ("status-json", case_status_json, 15),
    ("metrics", case_metrics, 15),
    ("not-routed", case_not_routed, 15),
    ("page-chromium", case_page_chromium, 150),
    ("reopen", case_reopen, 20),
]


def suites():
    return [Suite("status-nginx", status_setup, CASES)]
