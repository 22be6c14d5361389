"""A minimal AJP13 client (the web server's side), built from the protocol
with struct, for sending gatewayd well-formed and deliberately malformed
packets: Forward Request, request body packets, CPING, and a reader for
SEND_HEADERS / SEND_BODY_CHUNK / END_RESPONSE / GET_BODY_CHUNK / CPONG.

Also a counting relay: a TCP forwarder that sits between a web server and
gatewayd and counts connections, CPINGs and CPONGs, so a test can prove
that a real mod_jk / mod_proxy_ajp pinged and reused its connections.
"""

import socket
import struct
import threading
import time

# Web server -> container packets start with 0x12 0x34, the other way "AB".
MAGIC_IN = b"\x12\x34"
MAGIC_OUT = b"AB"

FORWARD_REQUEST = 2
SEND_BODY_CHUNK = 3
SEND_HEADERS = 4
END_RESPONSE = 5
GET_BODY_CHUNK = 6
SHUTDOWN = 7
CPONG = 9
CPING = 10

TYPE_NAMES = {2: "FORWARD_REQUEST", 3: "SEND_BODY_CHUNK", 4: "SEND_HEADERS", 5: "END_RESPONSE",
              6: "GET_BODY_CHUNK", 7: "SHUTDOWN", 8: "PING", 9: "CPONG", 10: "CPING"}

METHODS = {name: i + 1 for i, name in enumerate([
    "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY",
    "MOVE", "LOCK", "UNLOCK", "ACL", "REPORT", "VERSION-CONTROL", "CHECKIN", "CHECKOUT", "UNCHECKOUT",
    "SEARCH", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY"])}
METHOD_STORED = 0xFF

REQUEST_HEADER_CODES = {name: 0xA001 + i for i, name in enumerate([
    "accept", "accept-charset", "accept-encoding", "accept-language", "authorization", "connection",
    "content-type", "content-length", "cookie", "cookie2", "host", "pragma", "referer", "user-agent"])}
RESPONSE_HEADER_NAMES = {0xA001 + i: name for i, name in enumerate([
    "Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified", "Location",
    "Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate"])}

ATTR_REMOTE_USER = 0x03
ATTR_AUTH_TYPE = 0x04
ATTR_QUERY_STRING = 0x05
ATTR_REQ_ATTRIBUTE = 0x0A
ATTR_SECRET = 0x0C
ATTR_STORED_METHOD = 0x0D
ATTR_ARE_DONE = 0xFF

DEFAULT_PACKET_SIZE = 8192
CPING_PACKET = MAGIC_IN + b"\x00\x01\x0a"
EMPTY_BODY_PACKET = MAGIC_IN + b"\x00\x00"  # mod_jk's end of an unknown-length body


def packet(payload):
    if len(payload) > 0xFFFF:
        raise ValueError("AJP payload over 65535 bytes")
    return MAGIC_IN + struct.pack(">H", len(payload)) + payload


def string(value):
    """An AJP string: length, bytes, NUL; None is the null string."""
    if value is None:
        return b"\xff\xff"
    if isinstance(value, str):
        value = value.encode("latin-1")
    return struct.pack(">H", len(value)) + value + b"\0"


def forward_request_payload(method="GET", uri="/echo/x", query=None, headers=(), protocol="HTTP/1.1",
                            remote_addr="127.0.0.1", remote_host=None, server_name="localhost", server_port=80,
                            is_ssl=False, remote_user=None, auth_type=None, secret=None, attributes=(),
                            raw_attributes=b""):
    """The payload of a FORWARD_REQUEST, in the order mod_jk writes it.
    headers: (name, value) pairs; known names are sent coded. attributes:
    (name, value) pairs sent as req_attribute. A method without a code is
    sent as 0xFF plus the stored_method attribute."""
    code = METHODS.get(method, METHOD_STORED)
    out = bytearray([FORWARD_REQUEST, code])
    out += string(protocol) + string(uri) + string(remote_addr) + string(remote_host) + string(server_name)
    out += struct.pack(">HBH", server_port, 1 if is_ssl else 0, len(headers))
    for name, value in headers:
        coded = REQUEST_HEADER_CODES.get(name.lower())
        out += struct.pack(">H", coded) if coded else string(name)
        out += string(value)
    if secret is not None:
        out += bytes([ATTR_SECRET]) + string(secret)
    if remote_user is not None:
        out += bytes([ATTR_REMOTE_USER]) + string(remote_user)
    if auth_type is not None:
        out += bytes([ATTR_AUTH_TYPE]) + string(auth_type)
    if query is not None:
        out += bytes([ATTR_QUERY_STRING]) + string(query)
    if code == METHOD_STORED:
        out += bytes([ATTR_STORED_METHOD]) + string(method)
    for name, value in attributes:
        out += bytes([ATTR_REQ_ATTRIBUTE]) + string(name) + string(value)
    out += raw_attributes
    out += bytes([ATTR_ARE_DONE])
    return bytes(out)


def forward_request(**kw):
    return packet(forward_request_payload(**kw))


def body_packet(data):
    """One request body packet: chunk length, then the data."""
    return packet(struct.pack(">H", len(data)) + data)


class Response:
    def __init__(self):
        self.status = None
        self.reason = None
        self.headers = []  # (name, value)
        self.body = bytearray()
        self.reuse = None
        self.body_requests = []  # the lengths asked for with GET_BODY_CHUNK
        self.chunks = 0  # SEND_BODY_CHUNK packets with data
        self.largest_packet = 0  # largest payload received, for packet-size checks

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<AJP {self.status} {bytes(self.body[:120])!r} reuse={self.reuse}>"


class ProtocolError(ValueError):
    pass


class Reader:
    """Bounds-checked reads from one packet payload."""

    def __init__(self, payload):
        self.data = payload
        self.pos = 0

    def need(self, n, what):
        if self.pos + n > len(self.data):
            raise ProtocolError(f"{what} runs past the end of a {len(self.data)}-byte packet")

    def byte(self, what="byte"):
        self.need(1, what)
        self.pos += 1
        return self.data[self.pos - 1]

    def integer(self, what="integer"):
        self.need(2, what)
        self.pos += 2
        return struct.unpack(">H", self.data[self.pos - 2:self.pos])[0]

    def string(self, what="string"):
        n = self.integer(what)
        if n == 0xFFFF:
            return None
        self.need(n + 1, what)
        value = bytes(self.data[self.pos:self.pos + n])
        if self.data[self.pos + n] != 0:
            raise ProtocolError(f"{what} not NUL-terminated")
        self.pos += n + 1
        return value.decode("latin-1")


class Conn:
    """One AJP connection to gatewayd with a packet reader."""

    def __init__(self, port, host="127.0.0.1", timeout=10, packet_size=DEFAULT_PACKET_SIZE):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.packet_size = packet_size

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(262144)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_packet(self):
        """The payload of the next packet, or None at a clean EOF. Raises
        ProtocolError for bad magic or a cut packet."""
        if not self._fill(4):
            if self.buf:
                raise ProtocolError(f"EOF inside a packet header ({len(self.buf)} bytes)")
            return None
        if bytes(self.buf[:2]) != MAGIC_OUT:
            raise ProtocolError(f"packet with magic {bytes(self.buf[:2])!r}, want b'AB'")
        n = struct.unpack(">H", self.buf[2:4])[0]
        if not self._fill(4 + n):
            raise ProtocolError(f"EOF inside a {n}-byte packet")
        payload = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return payload

    def closed_within(self, timeout):
        """True if the peer closes (EOF or reset) within `timeout`; what it
        sends first is read and returned in self.last_unread."""
        deadline = time.monotonic() + timeout
        self.last_unread = bytearray(self.buf)
        while True:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
            if not chunk:
                return True
            self.last_unread += chunk

    def cping(self, timeout=10):
        """Sends a CPING; True if the next packet is a CPONG."""
        self.send(CPING_PACKET)
        self.sock.settimeout(timeout)
        p = self.read_packet()
        return p == bytes([CPONG])

    def exchange(self, request_packet, body=b"", chunked=False, timeout=30, first_packet=None):
        """Sends a request and its body the way mod_jk does, answering each
        GET_BODY_CHUNK, until END_RESPONSE. `body`: bytes or an iterable of
        bytes. With a Content-Length (chunked False) and a body, the first
        body packet goes unasked; with chunked, nothing goes before it is
        asked for, and the end is an empty packet."""
        feeder = _BodyFeeder(body, self.packet_size)
        self.send(request_packet)
        if first_packet is not None:
            self.send(first_packet)
        elif not chunked and not feeder.empty():
            self.send(body_packet(feeder.take(self.packet_size - 6)))
        return self.read_response(feeder=feeder, timeout=timeout)

    def read_response(self, feeder=None, timeout=30):
        r = Response()
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                p = self.read_packet()
            except socket.timeout:
                raise TimeoutError(f"no END_RESPONSE within {timeout}s (so far {r!r})")
            if p is None:
                raise ConnectionError(f"connection closed before END_RESPONSE (so far {r!r})")
            if not p:
                raise ProtocolError("empty packet from the container")
            r.largest_packet = max(r.largest_packet, len(p) + 4)
            kind = p[0]
            rd = Reader(p)
            rd.byte()
            if kind == SEND_HEADERS:
                if r.status is not None:
                    raise ProtocolError("a second SEND_HEADERS")
                r.status = rd.integer("status")
                r.reason = rd.string("reason")
                count = rd.integer("header count")
                for _ in range(count):
                    code = struct.unpack(">H", p[rd.pos:rd.pos + 2])[0] if rd.pos + 2 <= len(p) else None
                    if code is not None and code >> 8 == 0xA0:
                        rd.pos += 2
                        name = RESPONSE_HEADER_NAMES.get(code)
                        if name is None:
                            raise ProtocolError(f"unknown response header code {code:#x}")
                    else:
                        name = rd.string("header name")
                    value = rd.string("header value")
                    if name is None or value is None:
                        raise ProtocolError("null header name or value")
                    r.headers.append((name, value))
                if rd.pos != len(p):
                    raise ProtocolError(f"{len(p) - rd.pos} bytes after the SEND_HEADERS headers")
            elif kind == SEND_BODY_CHUNK:
                if r.status is None:
                    raise ProtocolError("SEND_BODY_CHUNK before SEND_HEADERS")
                n = rd.integer("chunk length")
                rd.need(n, "chunk data")
                if len(p) not in (3 + n, 4 + n):
                    raise ProtocolError(f"SEND_BODY_CHUNK of {n} bytes in a {len(p)}-byte payload")
                if n:
                    r.chunks += 1
                r.body += p[3:3 + n]
            elif kind == END_RESPONSE:
                if len(p) != 2:
                    raise ProtocolError(f"END_RESPONSE payload of {len(p)} bytes")
                r.reuse = p[1]
                return r
            elif kind == GET_BODY_CHUNK:
                want = rd.integer("requested length")
                r.body_requests.append(want)
                if feeder is None:
                    raise ProtocolError("GET_BODY_CHUNK with no body to send")
                data = feeder.take(min(want, self.packet_size - 6))
                self.send(body_packet(data) if data else EMPTY_BODY_PACKET)
            else:
                raise ProtocolError(f"unexpected packet {TYPE_NAMES.get(kind, kind)} ({len(p)} bytes)")


class _BodyFeeder:
    """Hands out a body (bytes or an iterable of bytes) in bounded pieces."""

    def __init__(self, body, packet_size):
        self.it = iter([body] if isinstance(body, (bytes, bytearray)) else body)
        self.pending = bytearray()
        self.done = False

    def _refill(self, n):
        while len(self.pending) < n and not self.done:
            try:
                self.pending += next(self.it)
            except StopIteration:
                self.done = True

    def empty(self):
        self._refill(1)
        return not self.pending

    def take(self, n):
        self._refill(n)
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out


# ---------------------------------------------------------------------------
# The counting relay


class Relay:
    """Forwards 127.0.0.1:port to 127.0.0.1:target and counts, per
    direction, what crosses it: connections, CPING packets from the web
    server and CPONG packets back. The counts come from parsing each
    direction as a stream of AJP packets (every packet, body packets
    included, carries the 4-byte header), so they are exact."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.cpings = 0
        self.cpongs = 0
        self.forward_requests = 0
        self.errors = []
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def counts(self):
        with self.lock:
            return {"connections": self.connections, "cpings": self.cpings, "cpongs": self.cpongs,
                    "forward_requests": self.forward_requests}

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in list(self.socks):
            try:
                s.close()
            except OSError:
                pass

    def _accept_loop(self):
        while not self.closed:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                upstream.settimeout(None)
            except OSError as e:
                with self.lock:
                    self.errors.append(f"connect to {self.target}: {e}")
                client.close()
                continue
            with self.lock:
                self.connections += 1
            self.socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, MAGIC_IN), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, MAGIC_OUT), daemon=True).start()

    def _pump(self, src, dst, magic):
        parse = bytearray()
        need_resync = False
        while True:
            try:
                data = src.recv(262144)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                try:
                    src.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
                return
            if need_resync:
                continue
            parse += data
            while len(parse) >= 4:
                if bytes(parse[:2]) != magic:
                    with self.lock:
                        self.errors.append(f"bad magic {bytes(parse[:4])!r} in the {magic!r} direction")
                    need_resync = True
                    break
                n = struct.unpack(">H", parse[2:4])[0]
                if len(parse) < 4 + n:
                    break
                kind = parse[4] if n else None
                with self.lock:
                    if magic == MAGIC_IN and n == 1 and kind == CPING:
                        self.cpings += 1
                    elif magic == MAGIC_IN and kind == FORWARD_REQUEST and n > 1:
                        # Body packets can start with byte 2 too; a body
                        # packet's first two bytes are its chunk length
                        # (n - 2), which tells them apart.
                        if struct.unpack(">H", parse[4:6])[0] != n - 2:
                            self.forward_requests += 1
                    elif magic == MAGIC_OUT and n == 1 and kind == CPONG:
                        self.cpongs += 1
                del parse[:4 + n]
