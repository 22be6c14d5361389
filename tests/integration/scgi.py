"""A minimal SCGI client (the web server's side) for sending gatewayd
well-formed and deliberately malformed requests: the netstring of
NUL-separated headers, the body, and a reader for the CGI-style response
that ends when gatewayd closes the connection."""

import socket
import time


def headers_block(pairs):
    out = bytearray()
    for name, value in pairs:
        name = name.encode("latin-1") if isinstance(name, str) else name
        value = value.encode("latin-1") if isinstance(value, str) else value
        out += name + b"\0" + value + b"\0"
    return bytes(out)


def netstring(data):
    return str(len(data)).encode() + b":" + data + b","


def request_headers(method="GET", path="/echo/raw", query="", body_length=0, extra=()):
    """What nginx's scgi_pass sends: CONTENT_LENGTH first, SCGI=1, the CGI
    variables, then HTTP_* headers from `extra`."""
    return [
        ("CONTENT_LENGTH", str(body_length)),
        ("SCGI", "1"),
        ("REQUEST_METHOD", method),
        ("REQUEST_URI", path + ("?" + query if query else "")),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("SERVER_PORT", "80"),
        ("SERVER_NAME", "localhost"),
        ("HTTP_HOST", "localhost"),
    ] + list(extra)


def request_bytes(method="GET", path="/echo/raw", query="", body=b"", extra=()):
    return netstring(headers_block(request_headers(method, path, query, len(body), extra))) + body


def exchange(port, data, timeout=10, host="127.0.0.1", shut_write=False):
    """Sends `data` (bytes, or an iterable of bytes), reads until the
    server closes and returns everything it sent. A reset after some bytes
    counts as the end; TimeoutError if the server keeps the connection."""
    out = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            for piece in ([data] if isinstance(data, (bytes, bytearray)) else data):
                s.sendall(piece)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(262144)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise TimeoutError(f"connection still open after {timeout}s; got {bytes(out[:200])!r}")
            if not chunk:
                break
            out += chunk
    return bytes(out)


def parse_response(data):
    """(status, headers, body) of a CGI response. Raises ValueError when
    there is no end of headers."""
    sep, n = data.find(b"\r\n\r\n"), 4
    if sep < 0:
        sep, n = data.find(b"\n\n"), 2
    if sep < 0:
        raise ValueError(f"no end of headers in the response: {data[:200]!r}")
    headers = []
    for line in data[:sep].decode("latin-1").replace("\r\n", "\n").split("\n"):
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    status = 200
    for name, value in headers:
        if name.lower() == "status":
            status = int(value.split()[0])
    return status, headers, data[sep + n:]
