"""gatewayd's own authentication through its HTTP listener: Basic with every
hash kind of tests/vectors/auth/htpasswd (made by htpasswd and openssl
passwd), Digest with the htdigest file and curl --digest, stale nonces,
scope login against project, the "*" spec of the command line, a password
file changed on disk, and the remote_user the echo app reports. A client's
Remote-User header never becomes an identity.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

from servers import have, start_gatewayd
from support import Ctx, PatternBody, Suite, check, free_port, request

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors",
                       "auth")

# User -> password in tests/vectors/auth/htpasswd (see its README.md).
HTPASSWD_USERS = {
    "bcrypt": "bcrypt-secret", "bcrypt2a": "bcrypt-secret", "bcrypt2b": "bcrypt-secret",
    "apr1": "apr1-secret", "sha1": "sha1-secret", "des": "des-sec",
    "md5crypt": "md5crypt-secret", "sha256": "sha256-secret", "sha512": "sha512-secret",
}
DIGEST_REALM = "Trac Realm"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sha_line(user, password):
    return f"{user}:{{SHA}}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()


def setup(ws):
    port = free_port()
    shutil.copy(os.path.join(VECTORS, "htpasswd"), ws.path("htpasswd"))
    shutil.copy(os.path.join(VECTORS, "htdigest"), ws.path("htdigest"))
    ws.write("changing.htpasswd", sha_line("before", "pw-before") + "\n")
    ws.write("star.htpasswd", sha_line("star", "star-pw") + "\n")
    parent = ws.mkdir("front")
    echo = {"type": "echo"}
    projects = {
        "whole": {"backend": echo, "auth": {"type": "basic", "file": "../../htpasswd",
                                           "realm": "Whole", "scope": "project"}},
        "trac": {"backend": echo, "auth": {"type": "basic", "file": ws.path("htpasswd"),
                                          "realm": "Trac"}},
        "dig": {"backend": echo, "auth": {"type": "digest", "file": ws.path("htdigest"),
                                         "realm": DIGEST_REALM, "scope": "project",
                                         "nonce_lifetime_s": 2}},
        "changing": {"backend": echo, "auth": {"type": "basic", "scope": "project",
                                              "file": ws.path("changing.htpasswd"),
                                              "realm": "Changing"}},
        "star": {"backend": echo},  # gets the command line's "*"
    }
    for name, cfg in projects.items():
        ws.mkdir("front", name)
        ws.write(os.path.join("front", name, "project.json"), json.dumps(cfg))
    ctx = Ctx(ws, port=port)
    ctx.procs.append(start_gatewayd(
        ws, ["--protocol=http", "-b", "127.0.0.1", "-p", str(port), "-e", parent,
             "--basic-auth", "*," + ws.path("star.htpasswd") + ",Star Realm",
             "--auth-scope", "project"], name="gatewayd", port=port))
    return ctx


def echo_user(r, what):
    check(r.status == 200, f"{what}: {r}")
    j = r.json()
    return j["remote_user"], j["auth_type"], [h for h, _ in j["headers"]]


def case_each_hash_kind(ctx):
    for user, password in HTPASSWD_USERS.items():
        r = request(ctx.port, "GET", "/whole/x", headers={"Authorization": basic(user, password)})
        remote_user, auth_type, headers = echo_user(r, user)
        check(remote_user == user and auth_type == "Basic", f"{user}: {remote_user!r} {auth_type!r}")
        check("Authorization" not in headers, f"{user}: the app saw Authorization: {headers}")


def case_wrong_password(ctx):
    ctx.mark_logs()
    for user, password in HTPASSWD_USERS.items():
        r = request(ctx.port, "GET", "/whole/x",
                    headers={"Authorization": basic(user, password + "x")})
        check(r.status == 401, f"{user} with a wrong password: {r}")
        check(r.header("WWW-Authenticate") == 'Basic realm="Whole", charset="UTF-8"',
              f"challenge {r.header('WWW-Authenticate')!r}")
    r = request(ctx.port, "GET", "/whole/x")
    check(r.status == 401, f"no credentials: {r}")
    r = request(ctx.port, "GET", "/whole/x", headers={"Authorization": basic("nobody", "x")})
    check(r.status == 401, f"unknown user: {r}")
    time.sleep(0.2)
    log = ctx.procs[0].log_text_since_mark()
    check("user 'sha512': wrong password" in log, f"no log line for a wrong password: {log[-500:]!r}")
    check("-secretx" not in log, "a password reached the log")


def case_body_after_slow_hash(ctx):
    body = PatternBody(3 * 1024 * 1024 + 7)
    r = request(ctx.port, "POST", "/whole/upload", body=body.blocks(),
                headers={"Authorization": basic("sha512", "sha512-secret"),
                         "Content-Length": str(body.size)})
    check(r.status == 200, f"POST after sha512-crypt: {r}")
    j = r.json()
    check(j["body_length"] == body.size and j["body_sha256"] == body.digest(),
          f"body {j['body_length']} {j['body_sha256']}")
    r = request(ctx.port, "POST", "/whole/upload", body=b"x" * 100000,
                headers={"Authorization": basic("sha512", "wrong")})
    check(r.status == 401, f"POST with a wrong password: {r}")


def case_client_remote_user_header(ctx):
    r = request(ctx.port, "GET", "/trac/wiki", headers={"Remote-User": "admin",
                                                        "X-Remote-User": "admin"})
    remote_user, auth_type, headers = echo_user(r, "Remote-User header")
    check(remote_user == "" and auth_type == "", f"a header set remote_user: {remote_user!r}")
    r = request(ctx.port, "GET", "/whole/", headers={"Remote-User": "admin"})
    check(r.status == 401, f"Remote-User header on a protected project: {r}")


def case_scope_login(ctx):
    r = request(ctx.port, "GET", "/trac/wiki")
    check(r.status == 200, f"outside /login: {r}")
    for path in ("/trac/login", "/trac/login/sub"):
        r = request(ctx.port, "GET", path)
        check(r.status == 401, f"{path}: {r}")
        check(r.header("WWW-Authenticate") == 'Basic realm="Trac", charset="UTF-8"',
              f"{path}: {r.header('WWW-Authenticate')!r}")
    r = request(ctx.port, "GET", "/trac/login", headers={"Authorization": basic("apr1", "apr1-secret")})
    remote_user, _, _ = echo_user(r, "/trac/login")
    check(remote_user == "apr1", f"remote_user {remote_user!r}")
    # Browsers send the credentials to the whole project: the app never sees them.
    r = request(ctx.port, "GET", "/trac/wiki", headers={"Authorization": basic("apr1", "apr1-secret")})
    remote_user, _, headers = echo_user(r, "/trac/wiki with credentials")
    check(remote_user == "" and "Authorization" not in headers, f"{remote_user!r} {headers}")


def case_star_from_command_line(ctx):
    r = request(ctx.port, "GET", "/star/any")
    check(r.status == 401, f"--basic-auth '*' ...: {r}")
    check('realm="Star Realm"' in (r.header("WWW-Authenticate") or ""), f"{r.header('WWW-Authenticate')!r}")
    r = request(ctx.port, "GET", "/star/any", headers={"Authorization": basic("star", "star-pw")})
    remote_user, _, _ = echo_user(r, "star")
    check(remote_user == "star", f"remote_user {remote_user!r}")
    # project.json's own "auth" wins over "*".
    r = request(ctx.port, "GET", "/whole/", headers={"Authorization": basic("star", "star-pw")})
    check(r.status == 401, f"the '*' file used for a project with its own auth: {r}")


def curl_digest(ctx, user, password, path):
    p = subprocess.run(["curl", "-sS", "--digest", "-u", f"{user}:{password}", "-o", "-",
                        "-w", "\n%{http_code}", f"http://127.0.0.1:{ctx.port}{path}"],
                       capture_output=True, text=True, timeout=20)
    check(p.returncode == 0, f"curl: {p.stderr}")
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def case_digest_curl(ctx):
    have("curl")
    code, body = curl_digest(ctx, "alice", "digest-secret", "/dig/page?x=1")
    check(code == 200, f"curl --digest: {code} {body[:200]}")
    j = json.loads(body)
    check(j["remote_user"] == "alice" and j["auth_type"] == "Digest", f"{j['remote_user']!r}")
    code, _ = curl_digest(ctx, "alice", "other-secret", "/dig/page")
    check(code == 401, f"alice with the password of another realm: {code}")
    code, _ = curl_digest(ctx, "bob", "bob-secret", "/dig/")
    check(code == 200, f"bob: {code}")


def digest_authorization(challenge, user, password, method, uri):
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    ha1 = hashlib.md5(f"{user}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce, nc = "abcdef0123", "00000001"
    response = hashlib.md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{uri}", qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}", '
            f'opaque="{params["opaque"]}", algorithm=MD5')


def case_digest_stale(ctx):
    r = request(ctx.port, "GET", "/dig/x")
    check(r.status == 401, f"no credentials: {r}")
    challenge = r.header("WWW-Authenticate")
    check(challenge.startswith('Digest realm="Trac Realm", qop="auth", algorithm=MD5, nonce="'),
          f"challenge {challenge!r}")
    auth = digest_authorization(challenge, "alice", "digest-secret", "GET", "/dig/x")
    r = request(ctx.port, "GET", "/dig/x", headers={"Authorization": auth})
    remote_user, _, _ = echo_user(r, "digest with a fresh nonce")
    check(remote_user == "alice", f"remote_user {remote_user!r}")
    time.sleep(3.2)  # nonce_lifetime_s is 2
    r = request(ctx.port, "GET", "/dig/x", headers={"Authorization": auth})
    check(r.status == 401, f"stale nonce: {r}")
    again = r.header("WWW-Authenticate")
    check(again.endswith("stale=true"), f"stale challenge {again!r}")
    retry = digest_authorization(again, "alice", "digest-secret", "GET", "/dig/x")
    r = request(ctx.port, "GET", "/dig/x", headers={"Authorization": retry})
    check(r.status == 200, f"retry with the fresh nonce: {r}")
    wrong = digest_authorization(challenge, "alice", "wrong", "GET", "/dig/x")
    r = request(ctx.port, "GET", "/dig/x", headers={"Authorization": wrong})
    check(r.status == 401 and "stale" not in r.header("WWW-Authenticate"),
          f"a wrong password with an old nonce must not be called stale: {r.header('WWW-Authenticate')!r}")


def case_file_changed(ctx):
    h = {"Authorization": basic("before", "pw-before")}
    r = request(ctx.port, "GET", "/changing/", headers=h)
    check(r.status == 200, f"before the change: {r}")
    tmp = ctx.ws.path("changing.tmp")
    with open(tmp, "w") as f:
        f.write(sha_line("after", "pw-after") + "\n")
    os.rename(tmp, ctx.ws.path("changing.htpasswd"))
    time.sleep(1.2)  # stat at most once a second
    r = request(ctx.port, "GET", "/changing/", headers=h)
    check(r.status == 401, f"a user removed from the file: {r}")
    r = request(ctx.port, "GET", "/changing/", headers={"Authorization": basic("after", "pw-after")})
    remote_user, _, _ = echo_user(r, "the user added")
    check(remote_user == "after", f"remote_user {remote_user!r}")
    os.unlink(ctx.ws.path("changing.htpasswd"))
    time.sleep(1.2)
    r = request(ctx.port, "GET", "/changing/", headers={"Authorization": basic("after", "pw-after")})
    check(r.status == 500, f"a file that went away must fail closed: {r}")
    with open(ctx.ws.path("changing.htpasswd"), "w") as f:
        f.write(sha_line("after", "pw-after") + "\n")
    time.sleep(1.2)
    r = request(ctx.port, "GET", "/changing/", headers={"Authorization": basic("after", "pw-after")})
    check(r.status == 200, f"the file is back: {r}")


CASES = [
    ("each-hash-kind", case_each_hash_kind, 30),
    ("wrong-password-401", case_wrong_password, 30),
    ("body-after-slow-hash", case_body_after_slow_hash, 30),
    ("remote-user-header-ignored", case_client_remote_user_header, 20),
    ("scope-login", case_scope_login, 20),
    ("star-from-command-line", case_star_from_command_line, 20),
    ("digest-curl", case_digest_curl, 20),
    ("digest-stale-nonce", case_digest_stale, 20),
    ("file-changed-on-disk", case_file_changed, 30),
]


def suites():
    return [Suite("auth", setup, CASES)]
