"""Malformed input for each protocol gatewayd serves, with the exact answer
each must get. Every entry is (name, bytes sent, expected answer); the
sender half-closes after the bytes, so the answer always ends with the
connection closed. Expected answers:

  CLOSED              nothing at all, then the close
  bytes               exactly these bytes (HTTP: with the Date line removed)
  Served(checks)      a normal echo answer (the input is odd but valid, and
                      this is what it means); checks: echo JSON fields

The answers follow each protocol's own way of saying no: an HTTP status
line, a CGI Status header in FCGI_STDOUT with FCGI_END_REQUEST (or
FCGI_UNKNOWN_ROLE / FCGI_UNKNOWN_TYPE), an SCGI CGI response, an AJP
SEND_HEADERS and END_RESPONSE; input that cannot be answered in the
protocol (a wrong version, wrong magic, a record only the other side may
send) is met by closing the connection."""

import struct

import ajp
import fcgi
import scgi

CLOSED = b""
MAX_BODY = 1 << 20  # the suite's limits.max_body_bytes


class Served:
    def __init__(self, **checks):
        self.checks = checks


PHRASES = {400: "Bad Request", 403: "Forbidden", 413: "Content Too Large", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 501: "Not Implemented",
           505: "HTTP Version Not Supported"}


# ---- HTTP/1.1 -------------------------------------------------------------

def http_error(status, why):
    """gatewayd's HTTP codec refusing a request: the reason in the body."""
    body = f"{PHRASES[status]}: {why}\n".encode()
    return (f"HTTP/1.1 {status} {PHRASES[status]}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


# A request the codec accepted but the router refused (a '.' or '..' segment).
HTTP_ROUTER_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   b"Server: gatewayd\r\nContent-Length: 16\r\n\r\n400 Bad Request\n")

H = b"Host: x\r\n"


def req(line, headers=H, body=b""):
    return line + b"\r\n" + headers + b"\r\n" + body


def post(headers, body=b""):
    return req(b"POST /echo/x HTTP/1.1", H + headers, body)


CHUNKED = b"Transfer-Encoding: chunked\r\n"

HTTP = [
    ("http09-no-version", b"GET /echo/x\r\n\r\n", http_error(400, "malformed request line")),
    ("version-2", req(b"GET /echo/x HTTP/2.0"), http_error(505, "HTTP version not supported")),
    ("version-garbage", req(b"GET /echo/x HTTP/1.x"), http_error(400, "malformed HTTP version")),
    ("version-lowercase", req(b"GET /echo/x http/1.1"), http_error(400, "malformed HTTP version")),
    ("no-host-11", b"GET /echo/x HTTP/1.1\r\n\r\n", http_error(400, "missing Host")),
    ("two-hosts", req(b"GET /echo/x HTTP/1.1", H + H), http_error(400, "duplicate Host")),
    ("space-before-colon", req(b"GET /echo/x HTTP/1.1", b"Host : x\r\n"),
     http_error(400, "invalid character in header name")),
    ("obs-fold", req(b"GET /echo/x HTTP/1.1", H + b"X-A: 1\r\n  2\r\n"),
     http_error(400, "obsolete line folding")),
    ("leading-space-header", req(b"GET /echo/x HTTP/1.1", b" Host: x\r\n"),
     http_error(400, "obsolete line folding")),
    ("cl-and-te", post(b"Content-Length: 3\r\n" + CHUNKED, b"3\r\nabc\r\n0\r\n\r\n"),
     http_error(400, "both Content-Length and Transfer-Encoding")),
    ("te-gzip-only", post(b"Transfer-Encoding: gzip\r\n", b"abc"),
     http_error(501, "unsupported transfer coding")),
    ("te-chunked-twice", post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
     http_error(400, "invalid Transfer-Encoding")),
    ("http10-chunked", req(b"POST /echo/x HTTP/1.0", H + CHUNKED, b"0\r\n\r\n"),
     http_error(400, "Transfer-Encoding in an HTTP/1.0 request")),
    ("bad-chunk-size", post(CHUNKED, b"zz\r\nabc\r\n0\r\n\r\n"), http_error(400, "bad chunk size")),
    ("chunk-size-overflow", post(CHUNKED, b"fffffffffffffffff1\r\nabc\r\n"),
     http_error(400, "chunk size has too many digits")),
    ("chunk-data-too-long", post(CHUNKED, b"3\r\nabcXY0\r\n\r\n"),
     http_error(400, "chunk data longer than its size")),
    ("cl-negative", post(b"Content-Length: -1\r\n"), http_error(400, "invalid Content-Length")),
    ("cl-plus", post(b"Content-Length: +3\r\n", b"abc"), http_error(400, "invalid Content-Length")),
    ("cl-hex", post(b"Content-Length: 0x10\r\n"), http_error(400, "invalid Content-Length")),
    ("cl-overflow", post(b"Content-Length: 99999999999999999999999\r\n"),
     http_error(400, "invalid Content-Length")),
    ("cl-list-differs", post(b"Content-Length: 3, 4\r\n", b"abcd"),
     http_error(400, "conflicting Content-Length values")),
    ("cl-over-max", post(b"Content-Length: %d\r\n" % (MAX_BODY + 1)), http_error(413, "body too large (limits.max_body_bytes)")),
    ("cl-twice-differs", post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
     http_error(400, "conflicting Content-Length values")),
    ("header-name-paren", req(b"GET /echo/x HTTP/1.1", H + b"Foo(bar): x\r\n"),
     http_error(400, "invalid character in header name")),
    ("header-empty-name", req(b"GET /echo/x HTTP/1.1", H + b": x\r\n"),
     http_error(400, "empty header name")),
    ("header-no-colon", req(b"GET /echo/x HTTP/1.1", H + b"NoColonHere\r\n"),
     http_error(400, "header line without colon")),
    ("header-nul-value", req(b"GET /echo/x HTTP/1.1", H + b"X-A: a\0b\r\n"),
     http_error(400, "invalid character in header value")),
    ("header-bare-cr-value", req(b"GET /echo/x HTTP/1.1", H + b"X-A: a\rb\r\n"),
     http_error(400, "invalid character in header value")),
    ("target-no-slash", req(b"GET echo/x HTTP/1.1"), http_error(400, "invalid request target")),
    ("target-star-get", req(b"GET * HTTP/1.1"),
     http_error(400, "'*' target on a method other than OPTIONS")),
    ("method-bad-char", req(b"G@T /echo/x HTTP/1.1"), http_error(400, "invalid method")),
    ("double-space", req(b"GET  /echo/x HTTP/1.1"), http_error(400, "malformed HTTP version")),
    ("raw-space-in-target", req(b"GET /echo/a b HTTP/1.1"), http_error(400, "malformed HTTP version")),
    ("control-char-target", req(b"GET /echo/a\x01b HTTP/1.1"),
     http_error(400, "invalid character in request target")),
    ("request-line-too-long", req(b"GET /echo/" + b"a" * 20000 + b" HTTP/1.1"),
     http_error(414, "request line too long (limits.request_line_bytes)")),
    ("too-many-headers", req(b"GET /echo/x HTTP/1.1", H + b"".join(b"X-%d: v\r\n" % i for i in range(300))),
     http_error(431, "too many header fields (limits.header_count)")),
    ("dotdot-path", req(b"GET /echo/../static/x HTTP/1.1"), HTTP_ROUTER_400),
    ("encoded-dotdot", req(b"GET /echo/%2e%2e/static/x HTTP/1.1"), HTTP_ROUTER_400),
    ("nul-in-path", req(b"GET /echo/a%00b HTTP/1.1"), http_error(400, "bad percent-encoding in path")),
    ("bad-percent", req(b"GET /echo/a%zzb HTTP/1.1"), http_error(400, "bad percent-encoding in path")),
    ("truncated-percent", req(b"GET /echo/a% HTTP/1.1"), http_error(400, "bad percent-encoding in path")),
]


# ---- FastCGI --------------------------------------------------------------

def fcgi_answer(status, rid=1):
    """A request refused by the codec: a CGI answer in STDOUT, then
    END_REQUEST with protocolStatus FCGI_REQUEST_COMPLETE."""
    body = f"{status} {PHRASES[status]}\n".encode()
    head = (f"Status: {status} {PHRASES[status]}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return (fcgi.record(fcgi.FCGI_STDOUT, rid, head + body) + fcgi.record(fcgi.FCGI_STDOUT, rid)
            + fcgi_end(fcgi.FCGI_REQUEST_COMPLETE, rid))


def fcgi_end(protocol_status, rid=1):
    return fcgi.record(fcgi.FCGI_END_REQUEST, rid, struct.pack(">IB3x", 0, protocol_status))


def fcgi_unknown_type(rtype):
    return fcgi.record(fcgi.FCGI_UNKNOWN_TYPE, 0, struct.pack(">B7x", rtype))


def fcgi_params(rid, pairs):
    return fcgi.record(fcgi.FCGI_PARAMS, rid, fcgi.encode_pairs(pairs)) + fcgi.record(fcgi.FCGI_PARAMS, rid)


def fcgi_with(name, value):
    """A GET whose param `name` is replaced by `value` (None: left out)."""
    pairs = [(n, v) for n, v in fcgi.cgi_params() if n != name]
    if value is not None:
        pairs.append((name, value))
    return fcgi.begin_request(1) + fcgi_params(1, pairs) + fcgi.record(fcgi.FCGI_STDIN, 1)


BEGIN_BODY = struct.pack(">HB5x", fcgi.FCGI_RESPONDER, 0)
B1 = fcgi.begin_request(1)
STDIN_END = fcgi.record(fcgi.FCGI_STDIN, 1)
GET_PAIRS = fcgi.cgi_params()

FCGI = [
    ("version-0", fcgi.record(1, 1, BEGIN_BODY, version=0), CLOSED),
    ("version-2", fcgi.record(1, 1, BEGIN_BODY, version=2), CLOSED),
    ("unknown-role", fcgi.begin_request(1, role=7), fcgi_end(fcgi.FCGI_UNKNOWN_ROLE)),
    ("filter-role", fcgi.begin_request(1, role=fcgi.FCGI_FILTER), fcgi_end(fcgi.FCGI_UNKNOWN_ROLE)),
    ("authorizer-role", fcgi.begin_request(1, role=fcgi.FCGI_AUTHORIZER), fcgi_end(fcgi.FCGI_UNKNOWN_ROLE)),
    ("begin-short-body", fcgi.record(1, 1, b"\0\1\0"), CLOSED),
    # Id 0 is for management records: an unknown management type there.
    ("begin-on-id-0", fcgi.record(1, 0, BEGIN_BODY), fcgi_unknown_type(1)),
    ("unknown-management-type", fcgi.record(99, 0), fcgi_unknown_type(99)),
    ("begin-twice", B1 + B1, CLOSED),
    ("stdin-before-params-end",
     B1 + fcgi.record(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(GET_PAIRS)) + fcgi.record(fcgi.FCGI_STDIN, 1, b"x"),
     CLOSED),
    ("params-after-params-end", B1 + fcgi_params(1, GET_PAIRS) + fcgi.record(fcgi.FCGI_PARAMS, 1, b"\1\1AB"),
     CLOSED),
    ("pair-truncated",
     B1 + fcgi.record(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs(GET_PAIRS)[:-3]) + fcgi.record(fcgi.FCGI_PARAMS, 1)
     + STDIN_END, CLOSED),
    ("pair-name-with-equals", fcgi_with("A=B", "x"), CLOSED),
    ("pair-value-with-nul", fcgi_with("HTTP_X", "a\0b"), CLOSED),
    ("pair-length-huge", B1 + fcgi.record(fcgi.FCGI_PARAMS, 1, b"\x7f\xff\xff\xff\x01A"), fcgi_answer(431)),
    ("params-too-big",
     B1 + b"".join(fcgi.record(fcgi.FCGI_PARAMS, 1, fcgi.encode_pairs([("HTTP_X_%d" % i, "v" * 60000)]))
                   for i in range(3)), fcgi_answer(431)),
    ("params-too-many", B1 + fcgi_params(1, GET_PAIRS + [("HTTP_X_%d" % i, "v") for i in range(300)]),
     fcgi_answer(431)),
    ("name-too-long", B1 + fcgi_params(1, GET_PAIRS + [("HTTP_" + "N" * 2000, "v")]), fcgi_answer(431)),
    ("no-request-method", fcgi_with("REQUEST_METHOD", None), fcgi_answer(400)),
    ("bad-request-method", fcgi_with("REQUEST_METHOD", "G T"), fcgi_answer(400)),
    ("nul-in-request-uri", fcgi_with("REQUEST_URI", "/echo/a%00b"), fcgi_answer(400)),
    ("bad-percent-uri", fcgi_with("REQUEST_URI", "/echo/a%zz"), fcgi_answer(400)),
    # The suite runs with limits.max_body_bytes = MAX_BODY.
    ("content-length-over-max", fcgi_with("CONTENT_LENGTH", str(MAX_BODY + 1)), fcgi_answer(413)),
    ("stdin-over-content-length",
     B1 + fcgi_params(1, fcgi.cgi_params(method="POST", body_length=2)) + fcgi.record(fcgi.FCGI_STDIN, 1, b"abcdef"),
     CLOSED),
    # The front end ended the body early: its client went away (the
    # request ends without a response, as an FCGI_ABORT_REQUEST would).
    ("stdin-short-of-content-length",
     B1 + fcgi_params(1, fcgi.cgi_params(method="POST", body_length=10)) + fcgi.record(fcgi.FCGI_STDIN, 1, b"abc")
     + STDIN_END, fcgi.record(fcgi.FCGI_STDOUT, 1) + fcgi_end(fcgi.FCGI_REQUEST_COMPLETE)),
    ("type-0", fcgi.record(0, 1), CLOSED),
    ("type-0-on-active-id", B1 + fcgi.record(0, 1), CLOSED),
    ("end-request-from-peer", B1 + fcgi_end(0), CLOSED),
    ("stdout-from-peer", B1 + fcgi.record(fcgi.FCGI_STDOUT, 1, b"hi"), CLOSED),
    ("data-record-for-responder", B1 + fcgi_params(1, GET_PAIRS) + fcgi.record(fcgi.FCGI_DATA, 1, b"x"), CLOSED),
    ("get-values-bad-pairs", fcgi.record(fcgi.FCGI_GET_VALUES, 0, b"\x05\x00FCG"), CLOSED),
    ("truncated-header", b"\x01\x01\x00", CLOSED),
    ("http-on-fastcgi-port", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", CLOSED),
    # Records for an id that is not active are ignored (spec 3.3).
    ("abort-unknown-id", fcgi.record(fcgi.FCGI_ABORT_REQUEST, 7), CLOSED),
    ("params-unknown-id", fcgi_params(5, GET_PAIRS) + fcgi.record(fcgi.FCGI_STDIN, 5), CLOSED),
    # CONTENT_LENGTH is advisory in FastCGI (the body ends with the empty
    # STDIN record), so a non-number is read as "unknown", as caddy's -1.
    ("content-length-text", fcgi_with("CONTENT_LENGTH", "ten"), Served(method="GET", body_length=0)),
    # Values may hold any byte but NUL; CR/LF stay inside the value (an
    # HTTP backend drops such a header, see test_backends).
    ("crlf-in-header-value", fcgi_with("HTTP_X_EVIL", "a\r\nSet-Cookie: x=1"), Served(method="GET")),
]


# ---- SCGI -----------------------------------------------------------------

def scgi_answer(status):
    body = f"{status} {PHRASES[status]}\n".encode()
    return (f"Status: {status} {PHRASES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def scgi_vars(**kw):
    return scgi.request_headers(**kw)


def scgi_without(name):
    return [(n, v) for n, v in scgi_vars() if n != name]


def scgi_replaced(name, value):
    return [(n, value if n == name else v) for n, v in scgi_vars()]


def ns(pairs, body=b""):
    return scgi.netstring(scgi.headers_block(pairs)) + body


GOOD_NS = ns(scgi_vars())

SCGI = [
    ("empty-input", b"", CLOSED),
    ("no-colon-before-eof", b"12345", CLOSED),
    ("netstring-cut-by-eof", GOOD_NS[:-10], CLOSED),
    ("length-non-digit", b"1a:xx,", scgi_answer(400)),
    ("length-leading-zero", b"05:A\0b\0,", scgi_answer(400)),
    ("length-empty", b":,", scgi_answer(400)),
    ("length-huge", b"99999999999999999999:", scgi_answer(431)),
    ("length-over-limit", b"9999999:", scgi_answer(431)),
    ("missing-comma", GOOD_NS[:-1] + b";", scgi_answer(400)),
    ("block-not-nul-terminated", scgi.netstring(b"CONTENT_LENGTH\x000\x00SCGI\x001"), scgi_answer(400)),
    ("odd-number-of-strings", scgi.netstring(b"CONTENT_LENGTH\x000\x00SCGI\x00"), scgi_answer(400)),
    ("content-length-not-first", ns([("SCGI", "1"), ("CONTENT_LENGTH", "0")] + scgi_vars()[2:]), scgi_answer(400)),
    ("content-length-missing", ns(scgi_without("CONTENT_LENGTH")), scgi_answer(400)),
    ("content-length-empty", ns(scgi_replaced("CONTENT_LENGTH", "")), scgi_answer(400)),
    ("content-length-negative", ns(scgi_replaced("CONTENT_LENGTH", "-1")), scgi_answer(400)),
    ("content-length-hex", ns(scgi_replaced("CONTENT_LENGTH", "0x10")), scgi_answer(400)),
    ("content-length-space", ns(scgi_replaced("CONTENT_LENGTH", " 3"), b"abc"), scgi_answer(400)),
    ("content-length-overflow", ns(scgi_replaced("CONTENT_LENGTH", "9" * 23)), scgi_answer(400)),
    ("scgi-missing", ns(scgi_without("SCGI")), scgi_answer(400)),
    ("scgi-version-2", ns(scgi_replaced("SCGI", "2")), scgi_answer(400)),
    ("duplicate-name", ns(scgi_vars() + [("REQUEST_METHOD", "POST")]), scgi_answer(400)),
    ("empty-name", ns(scgi_vars() + [("", "x")]), scgi_answer(400)),
    ("name-with-equals", ns(scgi_vars() + [("A=B", "x")]), scgi_answer(400)),
    ("name-control-char", ns(scgi_vars() + [("A\x01B", "x")]), scgi_answer(400)),
    ("no-request-method", ns(scgi_without("REQUEST_METHOD")), scgi_answer(400)),
    ("bad-request-method", ns(scgi_replaced("REQUEST_METHOD", "G T")), scgi_answer(400)),
    ("dotdot-uri", ns(scgi_vars(path="/echo/../static/x")), scgi_answer(400)),
    ("nul-percent-uri", ns(scgi_vars(path="/echo/a%00b")), scgi_answer(400)),
    ("bad-percent-uri", ns(scgi_vars(path="/echo/a%zz")), scgi_answer(400)),
    ("too-many-vars", ns(scgi_vars() + [("HTTP_X_%d" % i, "v") for i in range(300)]), scgi_answer(431)),
    ("name-too-long", ns(scgi_vars() + [("HTTP_" + "N" * 2000, "v")]), scgi_answer(431)),
    ("http-on-scgi-port", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", scgi_answer(400)),
    # The body stops short of CONTENT_LENGTH and the front end closes: the
    # request is abandoned, nothing is answered.
    ("content-length-over-max", ns(scgi_vars(method="POST", body_length=MAX_BODY + 1)), scgi_answer(413)),
    ("body-short-of-content-length", ns(scgi_vars(method="POST", body_length=10), b"abc"), CLOSED),
]


# ---- AJP13 ----------------------------------------------------------------

def ajp_refused(status):
    """SEND_HEADERS with the status and no header, then END_RESPONSE without
    reuse: how the AJP codec refuses a Forward Request."""
    phrase = PHRASES[status].encode()
    head = bytes([ajp.SEND_HEADERS]) + struct.pack(">H", status) + ajp.string(phrase) + b"\0\0"
    return (b"AB" + struct.pack(">H", len(head)) + head + b"AB\x00\x02" + bytes([ajp.END_RESPONSE, 0]))


def ajp_local(status, reuse):
    """A plain-text answer given after routing (SEND_HEADERS with
    Content-Type and Content-Length, one body chunk, END_RESPONSE)."""
    phrase = PHRASES[status].encode()
    body = f"{status} {PHRASES[status]}\n".encode()
    head = (bytes([ajp.SEND_HEADERS]) + struct.pack(">H", status) + ajp.string(phrase) + struct.pack(">H", 2)
            + b"\xa0\x01" + ajp.string("text/plain; charset=utf-8") + b"\xa0\x03" + ajp.string(str(len(body))))
    chunk = bytes([ajp.SEND_BODY_CHUNK]) + struct.pack(">H", len(body)) + body + b"\0"
    end = bytes([ajp.END_RESPONSE, 1 if reuse else 0])
    return b"".join(b"AB" + struct.pack(">H", len(p)) + p for p in (head, chunk, end))


AJP_H = [("Host", "localhost")]


def fwd_payload(**kw):
    kw.setdefault("headers", AJP_H)
    return ajp.forward_request_payload(**kw)


def fwd(**kw):
    return ajp.packet(fwd_payload(**kw))


def with_byte(payload, index, value):
    b = bytearray(payload)
    b[index] = value
    return bytes(b)


def forward_prefix(header_count):
    """A Forward Request up to its header count: GET, the usual strings."""
    return (bytes([ajp.FORWARD_REQUEST, ajp.METHODS["GET"]]) + ajp.string("HTTP/1.1") + ajp.string("/echo/x")
            + ajp.string("127.0.0.1") + ajp.string(None) + ajp.string("localhost")
            + struct.pack(">HBH", 80, 0, header_count))


AJP = [
    ("wrong-magic", b"\x12\x35\x00\x01\x0a", CLOSED),
    ("container-magic-from-peer", b"AB\x00\x01\x0a", CLOSED),
    ("http-on-ajp-port", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", CLOSED),
    ("zero-length-packet", ajp.MAGIC_IN + b"\x00\x00", CLOSED),
    ("oversized-announced", ajp.MAGIC_IN + b"\xff\xf0\x02\x02", CLOSED),
    ("over-8188", ajp.MAGIC_IN + b"\x20\x00\x02\x02", CLOSED),
    ("unknown-packet-type", ajp.packet(b"\x63"), CLOSED),
    ("send-headers-from-peer", ajp.packet(b"\x04\x00\xc8"), CLOSED),
    # SHUTDOWN asks the container to stop: never obeyed from the network.
    ("shutdown-packet", ajp.packet(bytes([ajp.SHUTDOWN])), CLOSED),
    ("method-code-0", ajp.packet(with_byte(fwd_payload(), 1, 0)), ajp_refused(400)),
    ("method-code-200", ajp.packet(with_byte(fwd_payload(), 1, 200)), ajp_refused(400)),
    ("stored-method-missing", ajp.packet(with_byte(fwd_payload(), 1, 0xFF)), ajp_refused(400)),
    ("forward-cut-in-string", ajp.packet(fwd_payload()[:12]), ajp_refused(400)),
    ("no-are-done", ajp.packet(fwd_payload()[:-1]), ajp_refused(400)),
    ("bytes-after-are-done", ajp.packet(fwd_payload() + b"\0\0"), ajp_refused(400)),
    ("string-without-nul", ajp.packet(bytes([2, 2]) + struct.pack(">H", 8) + b"HTTP/1.1X"), ajp_refused(400)),
    ("string-past-packet", ajp.packet(bytes([2, 2]) + struct.pack(">H", 5000) + b"HTTP"), ajp_refused(400)),
    ("null-uri", ajp.packet(bytes([2, 2]) + ajp.string("HTTP/1.1") + b"\xff\xff" + ajp.string("127.0.0.1")
                            + ajp.string(None) + ajp.string("localhost") + struct.pack(">HBH", 80, 0, 0) + b"\xff"),
     ajp_refused(400)),
    ("header-count-huge", ajp.packet(forward_prefix(65000) + b"\xff"), ajp_refused(431)),
    ("unknown-coded-header", ajp.packet(forward_prefix(1) + b"\xa0\x99" + ajp.string("v") + b"\xff"),
     ajp_refused(400)),
    ("unknown-attribute-code", fwd(raw_attributes=b"\x42" + ajp.string("x")), ajp_refused(400)),
    ("attribute-cut", ajp.packet(fwd_payload(raw_attributes=b"\x0a" + ajp.string("name"))[:-1]), ajp_refused(400)),
    ("uri-not-absolute", fwd(uri="echo/x"), ajp_refused(400)),
    ("uri-dotdot", fwd(uri="/echo/../static/x"), ajp_local(400, reuse=True)),
    ("uri-percent-nul", fwd(uri="/echo/a%00b"), ajp_refused(400)),
    ("uri-bad-percent", fwd(uri="/echo/a%zz"), ajp_refused(400)),
    ("uri-control-char", fwd(uri="/echo/a\x01b"), ajp_refused(400)),
    ("header-value-crlf", fwd(headers=AJP_H + [("X-Evil", "a\r\nSet-Cookie: x=1")]), ajp_refused(400)),
    ("header-name-not-token", fwd(headers=AJP_H + [("Bad Name", "v")]), ajp_refused(400)),
    ("content-length-text", fwd(method="POST", headers=AJP_H + [("Content-Length", "ten")]), ajp_refused(400)),
    ("content-length-two-values",
     fwd(method="POST", headers=AJP_H + [("Content-Length", "3"), ("Content-Length", "4")]), ajp_refused(400)),
    ("content-length-over-max", fwd(method="POST", headers=AJP_H + [("Content-Length", str(MAX_BODY + 1))]),
     ajp_refused(413)),
    ("body-over-content-length",
     fwd(method="POST", headers=AJP_H + [("Content-Length", "2")]) + ajp.body_packet(b"abcdef"), ajp_refused(400)),
    ("body-chunk-length-mismatch",
     fwd(method="POST", headers=AJP_H + [("Content-Length", "3")]) + ajp.packet(struct.pack(">H", 10) + b"abc"),
     ajp_refused(400)),
    # Ghostcat: request attributes that steer a servlet container are refused.
    ("include-attribute", fwd(attributes=[("javax.servlet.include.path_info", "/WEB-INF/web.xml")]),
     ajp_local(403, reuse=False)),
    ("too-many-headers", fwd(headers=AJP_H + [("X-%d" % i, "v") for i in range(300)]), ajp_refused(431)),
]
