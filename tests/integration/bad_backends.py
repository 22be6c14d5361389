"""Misbehaving app servers for the fault tests: one speaks HTTP/1.1, one
FastCGI, one SCGI. The last path segment of each request picks what the
server does ("ok", "die-mid-body", ...; see FAULTS). Every request is
logged with the number of the connection it came on, so a test can tell
whether gatewayd reused a connection after a fault; FastCGI
FCGI_ABORT_REQUEST records and closes are logged too."""

import socket
import struct
import threading
import time

import fcgi

BIG = 200 * 1024  # over every response head limit

# What each server can be asked to do wrong. Before the response head:
# the client must get 502. After it: the response is cut.
BEFORE_HEAD = ["die-before-head", "reset-before-head", "malformed-head", "oversized-head",
               "crlf-in-value", "nul-in-value"]
AFTER_HEAD = ["die-mid-body"]


class Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []  # (connection number, what, detail)

    def add(self, conn_no, what, detail=""):
        with self.lock:
            self.events.append((conn_no, what, detail))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def requests(self):
        return [(c, d) for c, w, d in self.snapshot() if w == "request"]


class BadServer:
    """A threaded TCP server; `serve(sock, conn_no)` is the protocol."""

    def __init__(self):
        self.log = Log()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.conn_count = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopping = True
        self.listener.close()

    def _accept(self):
        while not self.stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.conn_count += 1
            threading.Thread(target=self._run, args=(sock, self.conn_count), daemon=True).start()

    def _run(self, sock, conn_no):
        sock.settimeout(30)
        try:
            self.serve(sock, conn_no)
        except (OSError, ValueError) as e:
            self.log.add(conn_no, "error", str(e))
        finally:
            self.log.add(conn_no, "closed")
            try:
                sock.close()
            except OSError:
                pass


def reset(sock):
    """Closes with a TCP reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def ends_before_head(sock, mode):
    """The faults every server shares that end the connection without a
    byte of answer; True when `mode` was one of them."""
    if mode == "die-before-head":
        return True
    if mode == "reset-before-head":
        reset(sock)
        return True
    return False


def recv_exact(sock, n, buf):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


def cgi_head(mode):
    """A CGI-style response head (FastCGI STDOUT, SCGI) for `mode`, or None
    when the mode is not about the head."""
    return {
        "malformed-head": b"this line has no colon\r\n\r\nbody",
        "oversized-head": b"X-Big: " + b"b" * BIG + b"\r\n\r\n",
        "crlf-in-value": b"Content-Type: text/plain\r\nX-Split: a\rb\r\n\r\nok",
        "nul-in-value": b"Content-Type: text/plain\r\nX-Nul: a\0b\r\n\r\nok",
        "die-mid-body": b"Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n" + b"p" * 10,
    }.get(mode)


class HttpBackend(BadServer):
    HEADS = {
        "malformed-head": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
        "oversized-head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * BIG + b"\r\n\r\n",
        "crlf-in-value": b"HTTP/1.1 200 OK\r\nX-Split: a\rb\r\nContent-Length: 2\r\n\r\nok",
        "nul-in-value": b"HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\nContent-Length: 2\r\n\r\nok",
        "die-mid-body": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"p" * 10,
        # More bytes than Content-Length: what follows would be read as the
        # next response if the connection were reused.
        "overrun": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n"
                   b"Content-Length: 6\r\n\r\nforged",
        "ok": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
    }

    def serve(self, sock, conn_no):
        buf = bytearray()
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            end = buf.index(b"\r\n\r\n") + 4
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end]
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            recv_exact(sock, length, buf)
            path = head.split(" ")[1].split("?")[0]
            mode = path.rsplit("/", 1)[-1]
            self.log.add(conn_no, "request", mode)
            if not self.respond(sock, mode):
                return

    def respond(self, sock, mode):
        """False when the connection must end."""
        if ends_before_head(sock, mode):
            return False
        if mode == "slow":
            time.sleep(10)
            return False
        sock.sendall(self.HEADS.get(mode, self.HEADS["ok"]))
        return mode not in ("die-mid-body", "oversized-head")


class FastCgiBackend(BadServer):
    def serve(self, sock, conn_no):
        buf = bytearray()
        params, keep = {}, {}
        while True:
            try:
                header = recv_exact(sock, 8, buf)
            except EOFError:
                return
            _, rtype, rid, length, padding = struct.unpack(">BBHHBx", header)
            content = recv_exact(sock, length, buf)
            recv_exact(sock, padding, buf)
            if rtype == fcgi.FCGI_BEGIN_REQUEST:
                keep[rid] = bool(content[2] & fcgi.FCGI_KEEP_CONN)
                params[rid] = b""
            elif rtype == fcgi.FCGI_ABORT_REQUEST:
                self.log.add(conn_no, "abort", str(rid))
                sock.sendall(fcgi.record(fcgi.FCGI_END_REQUEST, rid, struct.pack(">IB3x", 0, 0)))
            elif rtype == fcgi.FCGI_PARAMS:
                params[rid] += content
            elif rtype == fcgi.FCGI_STDIN and not content:
                env = dict(fcgi.decode_pairs(params[rid]))
                mode = env.get("PATH_INFO", "").rsplit("/", 1)[-1]
                self.log.add(conn_no, "request", mode)
                if not self.respond(sock, rid, mode, keep[rid]):
                    return

    def respond(self, sock, rid, mode, keep_conn):
        if ends_before_head(sock, mode):
            return False
        if mode == "slow":
            # Waits for gatewayd to give up on the request (ABORT or close).
            sock.settimeout(10)
            return True
        if mode == "wrong-request-id":
            sock.sendall(fcgi.record(fcgi.FCGI_STDOUT, rid + 1, b"Content-Type: text/plain\r\n\r\nx"))
            return True
        out = cgi_head(mode) or b"Content-Type: text/plain\r\n\r\nok"
        if mode == "die-mid-body":
            sock.sendall(fcgi.record(fcgi.FCGI_STDOUT, rid, out))
            return False
        sock.sendall(fcgi.stream(fcgi.FCGI_STDOUT, rid, out)
                     + fcgi.record(fcgi.FCGI_END_REQUEST, rid, struct.pack(">IB3x", 0, 0)))
        return keep_conn


class ScgiBackend(BadServer):
    def serve(self, sock, conn_no):
        buf = bytearray()
        while b":" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        n = int(bytes(buf[:buf.index(b":")]))
        del buf[:buf.index(b":") + 1]
        block = recv_exact(sock, n + 1, buf)[:-1]
        fields = block.split(b"\0")
        env = dict(zip(fields[0::2], fields[1::2]))
        recv_exact(sock, int(env.get(b"CONTENT_LENGTH", b"0")), buf)
        mode = env.get(b"PATH_INFO", b"").decode().rsplit("/", 1)[-1]
        self.log.add(conn_no, "request", mode)
        if ends_before_head(sock, mode):
            return
        if mode == "slow":
            time.sleep(10)
            return
        sock.sendall(cgi_head(mode) or b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok")
