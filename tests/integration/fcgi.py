"""A minimal FastCGI client, built from the spec with struct, for sending
gatewayd well-formed and deliberately malformed records."""

import socket
import struct
import time

FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_DATA = 8
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11

FCGI_RESPONDER = 1
FCGI_AUTHORIZER = 2
FCGI_FILTER = 3
FCGI_KEEP_CONN = 1

FCGI_REQUEST_COMPLETE = 0
FCGI_CANT_MPX_CONN = 1
FCGI_OVERLOADED = 2
FCGI_UNKNOWN_ROLE = 3

TYPE_NAMES = {
    1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST", 4: "PARAMS", 5: "STDIN", 6: "STDOUT",
    7: "STDERR", 8: "DATA", 9: "GET_VALUES", 10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE",
}


def record(rtype, request_id, content=b"", padding=0, version=FCGI_VERSION_1):
    if len(content) > 65535:
        raise ValueError("record content over 65535 bytes")
    return struct.pack(">BBHHBB", version, rtype, request_id, len(content), padding, 0) + content + b"\0" * padding


def stream(rtype, request_id, data, piece=65535):
    """A whole stream: non-empty records of at most `piece` bytes, then the
    empty record that ends it."""
    out = bytearray()
    for i in range(0, len(data), piece):
        out += record(rtype, request_id, data[i:i + piece])
    out += record(rtype, request_id)
    return bytes(out)


def begin_request(request_id, role=FCGI_RESPONDER, flags=0):
    return record(FCGI_BEGIN_REQUEST, request_id, struct.pack(">HB5x", role, flags))


def _length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_pairs(pairs):
    out = bytearray()
    for name, value in pairs:
        name = name.encode("latin-1") if isinstance(name, str) else name
        value = value.encode("latin-1") if isinstance(value, str) else value
        out += _length(len(name)) + _length(len(value)) + name + value
    return bytes(out)


def decode_pairs(data):
    pairs = []
    i = 0

    def length():
        nonlocal i
        if data[i] & 0x80:
            n = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
            i += 4
        else:
            n = data[i]
            i += 1
        return n

    while i < len(data):
        nl = length()
        vl = length()
        pairs.append((data[i:i + nl].decode("latin-1"), data[i + nl:i + nl + vl].decode("latin-1")))
        i += nl + vl
    return pairs


def cgi_params(method="GET", path="/echo/raw", query="", body_length=None, extra=()):
    """What a front end like mod_fcgid sends: SCRIPT_NAME "" and the whole
    path in PATH_INFO (an unambiguous split)."""
    params = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_METHOD", method),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", path),
        ("REQUEST_URI", path + ("?" + query if query else "")),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("HTTP_HOST", "localhost"),
        ("CONTENT_LENGTH", "" if body_length is None else str(body_length)),
    ]
    return params + list(extra)


def request_bytes(request_id, params, body=b"", flags=0):
    return (begin_request(request_id, flags=flags) + stream(FCGI_PARAMS, request_id, encode_pairs(params))
            + stream(FCGI_STDIN, request_id, body))


class Conn:
    """A FastCGI connection with a record reader."""

    def __init__(self, port, host="127.0.0.1", timeout=10, unix_path=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix_path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.eof = False

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
            chunk = self.sock.recv(65536)
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
        return True

    def read_record(self):
        """(type, request_id, content) or None at EOF. Raises on a header
        that is not version 1 (gatewayd must never send one)."""
        if not self._fill(8):
            if self.buf:
                raise ValueError(f"EOF inside a record header ({len(self.buf)} bytes)")
            return None
        version, rtype, rid, clen, pad, _ = struct.unpack(">BBHHBB", self.buf[:8])
        if version != FCGI_VERSION_1:
            raise ValueError(f"record with version {version}")
        if not self._fill(8 + clen + pad):
            raise ValueError("EOF inside a record")
        content = bytes(self.buf[8:8 + clen])
        del self.buf[:8 + clen + pad]
        return rtype, rid, content

    def read_until_closed(self, timeout=10):
        """Reads records until EOF; returns them. A reset counts as EOF.
        Raises TimeoutError if the peer keeps the connection open."""
        records = []
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                r = self.read_record()
            except (ConnectionResetError, BrokenPipeError):
                return records
            except socket.timeout:
                raise TimeoutError(f"connection still open after {timeout}s ({len(records)} records read)")
            if r is None:
                return records
            records.append(r)

    def closed_within(self, timeout):
        """True if the peer closes (EOF or reset) within `timeout`, draining
        whatever it sends first."""
        try:
            self.read_until_closed(timeout)
            return True
        except TimeoutError:
            return False

    def read_response(self, request_id, timeout=10):
        """Reads records until END_REQUEST for request_id. Returns a Reply;
        records for other ids are kept in self.other."""
        return read_responses(self, [request_id], timeout)[request_id]


class Reply:
    def __init__(self):
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stdout_ended = False
        self.app_status = None
        self.protocol_status = None
        self.records = []

    @property
    def ended(self):
        return self.protocol_status is not None

    def cgi(self):
        """(status, headers, body) of the CGI response in STDOUT."""
        data = bytes(self.stdout)
        sep = data.find(b"\r\n\r\n")
        seplen = 4
        if sep < 0:
            sep = data.find(b"\n\n")
            seplen = 2
        if sep < 0:
            raise ValueError(f"no header end in STDOUT: {data[:200]!r}")
        headers = []
        for line in data[:sep].decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        status = 200
        for name, value in headers:
            if name.lower() == "status":
                status = int(value.split()[0])
        return status, headers, data[sep + seplen:]


def read_responses(conn, request_ids, timeout=10):
    """Reads until every id in request_ids has its END_REQUEST."""
    replies = {rid: Reply() for rid in request_ids}
    deadline = time.monotonic() + timeout
    while not all(r.ended for r in replies.values()):
        conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            rec = conn.read_record()
        except socket.timeout:
            raise TimeoutError("no END_REQUEST within %ss for ids %s" % (
                timeout, [rid for rid, r in replies.items() if not r.ended]))
        if rec is None:
            raise ConnectionError("connection closed before END_REQUEST for ids %s" % (
                [rid for rid, r in replies.items() if not r.ended]))
        rtype, rid, content = rec
        if rid not in replies:
            raise ValueError(f"record {TYPE_NAMES.get(rtype, rtype)} for unexpected request id {rid}")
        r = replies[rid]
        r.records.append((rtype, len(content)))
        if r.ended:
            raise ValueError(f"record {TYPE_NAMES.get(rtype, rtype)} after END_REQUEST for id {rid}")
        if rtype == FCGI_STDOUT:
            if not content:
                r.stdout_ended = True
            elif r.stdout_ended:
                raise ValueError("STDOUT data after the empty STDOUT record")
            r.stdout += content
        elif rtype == FCGI_STDERR:
            r.stderr += content
        elif rtype == FCGI_END_REQUEST:
            if len(content) != 8:
                raise ValueError(f"END_REQUEST body of {len(content)} bytes")
            r.app_status, r.protocol_status = struct.unpack(">IB3x", content)
        else:
            raise ValueError(f"unexpected record type {TYPE_NAMES.get(rtype, rtype)} for id {rid}")
    return replies
