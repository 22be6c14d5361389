"""A WSGI app for the integration tests: answers every request with what it
saw (its environ's string values, the body's length and sha256) and with
absolute links built from it, as an app builds them (wsgiref's
application_uri). PATH_INFO "/go" answers a redirect to "/landed" instead.

Behind an HTTP hop (uWSGI's --http-socket) the app trusts the X-Forwarded-*
fields the way werkzeug's ProxyFix does when TRUST_FORWARDED is set in its
environment: Proto and Host replace the scheme and host, Prefix becomes
SCRIPT_NAME (the part of the path the proxy took off).
"""

import hashlib
import json
import os
from urllib.parse import quote

TRUST_FORWARDED = os.environ.get("TRUST_FORWARDED") == "1"


def _proxy_fix(environ):
    proto = environ.get("HTTP_X_FORWARDED_PROTO")
    host = environ.get("HTTP_X_FORWARDED_HOST")
    prefix = environ.get("HTTP_X_FORWARDED_PREFIX")
    if proto:
        environ["wsgi.url_scheme"] = proto
    if host:
        environ["HTTP_HOST"] = host
    if prefix:
        environ["SCRIPT_NAME"] = prefix


def base_url(environ):
    scheme = environ["wsgi.url_scheme"]
    host = environ.get("HTTP_HOST") or environ["SERVER_NAME"] + ":" + environ["SERVER_PORT"]
    return scheme + "://" + host + quote_bytes(environ.get("SCRIPT_NAME", ""))


def quote_bytes(value):
    """A path from the environ (bytes as latin-1, PEP 3333) URL-encoded."""
    return quote(value.encode("latin-1"))


def application(environ, start_response):
    if TRUST_FORWARDED:
        _proxy_fix(environ)
    digest = hashlib.sha256()
    length = 0
    stream = environ["wsgi.input"]
    while True:
        block = stream.read(65536)
        if not block:
            break
        digest.update(block)
        length += len(block)
    base = base_url(environ)
    if environ.get("PATH_INFO") == "/go":
        start_response("302 Found", [("Location", base + "/landed"), ("Content-Length", "0")])
        return [b""]
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    seen["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
    answer = {
        "environ": seen,
        "body_length": length,
        "body_sha256": digest.hexdigest(),
        "links": {"home": base + "/", "self": base + quote_bytes(environ.get("PATH_INFO", ""))},
    }
    out = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
