"""Any front-end protocol to any backend protocol, with real apps from
Debian: what the app sees must not depend on how the request came in.

  nginx (FastCGI)        -> gatewayd -> PHP-FPM (fastcgi backend)
  Apache mod_jk (AJP13)  -> gatewayd -> uWSGI's SCGI socket (scgi backend)
  nginx (SCGI)           -> gatewayd -> a shell CGI script (cgi backend)
  lighttpd (FastCGI)     -> gatewayd -> uWSGI's HTTP socket (http backend)

In each: a GET with a doubly encoded and a UTF-8 path, a query left raw,
hop-by-hop and spoofing headers; a POST of 10 MiB hashed by the app; and the
variables the app saw (SCRIPT_NAME = mount prefix + project, PATH_INFO
decoded exactly once, HTTP_HOST with the client's port, QUERY_STRING raw,
CONTENT_LENGTH, HTTPS, REMOTE_USER from the web server's auth and never
from a client header, no HTTP_PROXY). The same WSGI app deployed as two
projects of one parent directory builds absolute links and a redirect from
SCRIPT_NAME, HTTP_HOST and wsgi.url_scheme: correct under / and under a
prefix (/apps, by --base-path or by the front end's split).

nginx's stock Debian fastcgi_params and scgi_params send HTTP_HOST as
$host, which drops the port the client used; the sites below add
"fastcgi_param HTTP_HOST $http_host;" as a deployment must.
"""

import os

import apps
from servers import (APACHE_AUTH_MODULES, AUTH_USER, basic_auth_header, have, start_apache, start_lighttpd,
                     start_nginx, start_nginx_scgi, write_htpasswd)
from support import Ctx, PatternBody, Suite, check, free_port, request, wait_until, tcp_accepts

BODY = PatternBody(10 * 1024 * 1024)
SECRET = "AppsSuiteSecret42"

# A path segment encoded twice ("%2520" is "%20" once decoded: PATH_INFO
# must show "%20") and a UTF-8 one ("café").
RAW_PATH = "/a%2520b/caf%C3%A9"
DECODED_PATH = "/a%20b/café"
RAW_QUERY = "x=%2520&y=caf%C3%A9&z=a+b"

# Headers no app may see as sent: hop-by-hop ones (X-Hop is named in
# Connection), Proxy (httpoxy) and a client's try at REMOTE_USER.
SPOOF_HEADERS = {
    "Connection": "keep-alive, X-Hop",
    "X-Hop": "hop-value",
    "Keep-Alive": "timeout=5",
    "Proxy": "http://evil.example:3128",
    "Remote-User": "mallory",
    "X-Remote-User": "mallory",
    "X-Trace": "trace-1",
}


def fixed(value):
    """A WSGI environ value (bytes as latin-1, PEP 3333) as text."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def get_vars(ctx, parse, target, headers=None, wsgi=False):
    r = request(ctx.http_port, "GET", target, headers=headers)
    env, raw = parse(r, f"GET {target}")
    if wsgi:
        env = {k: fixed(v) for k, v in env.items()}
    return env, raw, r


def check_common(env, ctx, what, script_name, path_info, query=RAW_QUERY, http_backend=False):
    """The variables every CGI-style app must see the same way."""
    def want(name, value):
        check(env.get(name) == value, f"{what}: {name} = {env.get(name)!r}, want {value!r}")

    want("SCRIPT_NAME", script_name)
    want("PATH_INFO", path_info)
    want("QUERY_STRING", query)
    want("HTTP_HOST", f"127.0.0.1:{ctx.http_port}")
    want("REQUEST_METHOD", "GET")
    want("HTTP_X_TRACE", "trace-1")
    check(env.get("REMOTE_USER", "") == "", f"{what}: REMOTE_USER = {env.get('REMOTE_USER')!r} from a client header")
    for name in ("HTTP_PROXY", "HTTP_X_HOP", "HTTP_KEEP_ALIVE"):
        check(name not in env, f"{what}: {name} = {env.get(name)!r} reached the app")
    if not http_backend:
        check("HTTP_CONNECTION" not in env, f"{what}: HTTP_CONNECTION = {env.get('HTTP_CONNECTION')!r}")
    check(env.get("CONTENT_LENGTH", "") in ("", "0"), f"{what}: CONTENT_LENGTH = {env.get('CONTENT_LENGTH')!r}")


def post_10mib(ctx, target, parse, wsgi=False):
    r = request(ctx.http_port, "POST", target, body=BODY.blocks(),
                headers={"Content-Length": str(BODY.size), "Content-Type": "application/octet-stream"},
                timeout=60)
    env, raw = parse(r, f"POST {target}")
    check(raw.get("body_sha256") == BODY.digest(), f"POST {target}: the app hashed another body")
    check(env.get("CONTENT_LENGTH") == str(BODY.size),
          f"POST {target}: CONTENT_LENGTH = {env.get('CONTENT_LENGTH')!r}, want {BODY.size}")
    check(env.get("REQUEST_METHOD") == "POST", f"POST {target}: REQUEST_METHOD = {env.get('REQUEST_METHOD')!r}")
    check(env.get("CONTENT_TYPE") == "application/octet-stream",
          f"POST {target}: CONTENT_TYPE = {env.get('CONTENT_TYPE')!r}")
    return env


def check_links(ctx, prefix, project):
    """The WSGI app's absolute links and redirect, deployed at PREFIX/PROJECT."""
    base = f"http://127.0.0.1:{ctx.http_port}{prefix}/{project}"
    target = f"{prefix}/{project}/page/caf%C3%A9"
    r = request(ctx.http_port, "GET", target)
    env, raw = apps.wsgi_vars(r, f"GET {target}")
    links = raw["links"]
    check(links["home"] == base + "/", f"GET {target}: home link {links['home']!r}, want {base + '/'!r}")
    check(links["self"] == base + "/page/caf%C3%A9", f"GET {target}: self link {links['self']!r}")
    r = request(ctx.http_port, "GET", f"{prefix}/{project}/go")
    check(r.status == 302, f"GET {prefix}/{project}/go: status {r.status}, want 302")
    check(r.header("Location") == base + "/landed",
          f"GET {prefix}/{project}/go: Location {r.header('Location')!r}, want {base + '/landed'!r}")


def case_links(ctx):
    for prefix in ctx.link_prefixes:
        for project in ("wiki", "blog"):
            check_links(ctx, prefix, project)


# ---------------------------------------------------------------------------
# nginx (FastCGI) -> gatewayd -> PHP-FPM; the WSGI pair over uWSGI SCGI

NGINX_FCGI_SITE = """
server {{
    listen 127.0.0.1:{http_port};
    server_name localhost;
    client_max_body_size 64m;

    location / {{
        include fastcgi_params;
        fastcgi_param HTTP_HOST $http_host;
        fastcgi_pass unix:{gw_sock};
    }}
    # gatewayd's second listener has --base-path /apps.
    location /apps/ {{
        include fastcgi_params;
        fastcgi_param HTTP_HOST $http_host;
        fastcgi_pass unix:{gw_apps_sock};
    }}
    # The front end splits: SCRIPT_NAME=/split (the stock params send
    # $fastcgi_script_name), PATH_INFO=the rest.
    location /split/ {{
        fastcgi_split_path_info ^(/split)(/.*)$;
        include fastcgi_params;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        fastcgi_param HTTP_HOST $http_host;
        fastcgi_pass unix:{gw_sock};
    }}
    location /php/login {{
        auth_basic "apps";
        auth_basic_user_file {htpasswd};
        include fastcgi_params;
        fastcgi_param HTTP_HOST $http_host;
        fastcgi_pass unix:{gw_sock};
    }}
    location /php/tls/ {{
        include fastcgi_params;
        fastcgi_param HTTP_HOST $http_host;
        fastcgi_param HTTPS on;
        fastcgi_pass unix:{gw_sock};
    }}
}}
"""


def wsgi_pair(ws, parent, upstream):
    for name in ("wiki", "blog"):
        apps.write_project(ws, parent, name, {"backend": {"type": "scgi", "upstream": upstream}})


def nginx_php_setup(ws):
    have("nginx", "uwsgi")
    ctx = Ctx(ws, http_port=free_port(), dead_http_port=free_port(), link_prefixes=("", "/apps", "/split"))
    php_sock = ws.path("php.sock")
    uwsgi_sock = ws.path("uwsgi.sock")
    ctx.procs.append(apps.start_php_fpm(ws, php_sock, children=2))
    ctx.procs.append(apps.start_uwsgi(ws, "scgi", uwsgi_sock, "uwsgi-scgi"))
    script = apps.app_copy(ws, "echo.php")
    ws.mkdir("projects")
    # php-fpm announces no FCGI_MAX_CONNS: the cap is its pm.max_children.
    apps.write_project(ws, "projects", "php", {"backend": {
        "type": "fastcgi", "upstream": "unix:" + php_sock, "script_filename": script, "max_conns": 2}})
    wsgi_pair(ws, "projects", "unix:" + uwsgi_sock)
    gw_sock, gw_apps_sock = ws.path("gw.sock"), ws.path("gw-apps.sock")
    ctx.procs.append(apps.start_gatewayd_config(ws, {
        "listeners": [
            {"protocol": "fcgi", "unix_socket": gw_sock, "socket_mode": "0666"},
            {"protocol": "fcgi", "unix_socket": gw_apps_sock, "socket_mode": "0666", "base_path": "/apps"},
        ],
        "env_parent_dir": ws.path("projects"),
    }))
    wait_until(lambda: os.path.exists(gw_apps_sock), 5, "gatewayd's /apps listener")
    site = NGINX_FCGI_SITE.format(http_port=ctx.http_port, gw_sock=gw_sock, gw_apps_sock=gw_apps_sock,
                                  htpasswd=write_htpasswd(ws))
    ctx.procs.append(start_nginx(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


def case_php_get(ctx):
    env, _, _ = get_vars(ctx, apps.php_vars, f"/php{RAW_PATH}?{RAW_QUERY}", headers=dict(SPOOF_HEADERS))
    check_common(env, ctx, "PHP-FPM", "/php", DECODED_PATH)
    check(env.get("HTTPS", "") in ("", "off"), f"PHP-FPM: HTTPS = {env.get('HTTPS')!r} on plain HTTP")
    check(env.get("REQUEST_URI") == f"/php{RAW_PATH}?{RAW_QUERY}", f"PHP-FPM: REQUEST_URI {env.get('REQUEST_URI')!r}")
    env, _, _ = get_vars(ctx, apps.php_vars, "/php/tls/x")
    check(env.get("HTTPS") == "on", f"PHP-FPM behind a front that sets HTTPS: HTTPS = {env.get('HTTPS')!r}")


def case_php_post(ctx):
    post_10mib(ctx, "/php/upload", apps.php_vars)


def case_php_remote_user(ctx):
    r = request(ctx.http_port, "GET", "/php/login")
    check(r.status == 401, f"/php/login without credentials: status {r.status}, want 401")
    env, _, _ = get_vars(ctx, apps.php_vars, "/php/login/x",
                         headers={"Authorization": basic_auth_header(), "Remote-User": "mallory"})
    check(env.get("REMOTE_USER") == AUTH_USER, f"REMOTE_USER = {env.get('REMOTE_USER')!r}, want {AUTH_USER!r}")
    env, _, _ = get_vars(ctx, apps.php_vars, "/php/open", headers={"Remote-User": "mallory"})
    check(env.get("REMOTE_USER", "") == "",
          f"a client's Remote-User header became REMOTE_USER={env.get('REMOTE_USER')!r}")


def nginx_php_cases():
    return [("php-get-variables", case_php_get, 20), ("php-post-10mib", case_php_post, 60),
            ("php-remote-user-from-auth-basic", case_php_remote_user, 20),
            ("wsgi-links-root-base-path-split", case_links, 30)]


# ---------------------------------------------------------------------------
# Apache mod_jk (AJP13) -> gatewayd -> uWSGI's SCGI socket

JK_WORKERS = """worker.list=gw,gw_apps
worker.gw.type=ajp13
worker.gw.host=127.0.0.1
worker.gw.port={port}
worker.gw.secret={secret}
worker.gw_apps.type=ajp13
worker.gw_apps.host=127.0.0.1
worker.gw_apps.port={apps_port}
worker.gw_apps.secret={secret}
"""

JK_SITE = """JkWorkersFile {workers}
JkLogFile {dir}/mod_jk.log
JkLogLevel info
JkShmFile {dir}/jk-runtime-status
<VirtualHost *:{http_port}>
    ServerName localhost
    JkMount /* gw
    JkMount /apps/* gw_apps
    LimitRequestBody 209715200
    <LocationMatch "^/[^/]+/login(/|$)">
        AuthType Basic
        AuthName "apps"
        AuthBasicProvider file
        AuthUserFile {htpasswd}
        Require valid-user
    </LocationMatch>
</VirtualHost>
"""


def jk_setup(ws):
    have("apache2", "uwsgi")
    if not os.path.exists("/usr/lib/apache2/modules/mod_jk.so"):
        have("/usr/lib/apache2/modules/mod_jk.so")
    ctx = Ctx(ws, http_port=free_port(), dead_http_port=free_port(), link_prefixes=("", "/apps"))
    uwsgi_addr = f"127.0.0.1:{free_port()}"
    ctx.procs.append(apps.start_uwsgi(ws, "scgi", uwsgi_addr, "uwsgi-scgi"))
    ws.mkdir("projects")
    wsgi_pair(ws, "projects", uwsgi_addr)
    port, apps_port = free_port(), free_port()
    ctx.procs.append(apps.start_gatewayd_config(ws, {
        "listeners": [
            {"protocol": "ajp", "host": "127.0.0.1", "port": port, "secret": SECRET},
            {"protocol": "ajp", "host": "127.0.0.1", "port": apps_port, "secret": SECRET, "base_path": "/apps"},
        ],
        "env_parent_dir": ws.path("projects"),
    }))
    wait_until(lambda: tcp_accepts(apps_port), 5, "gatewayd's /apps listener")
    workers = ws.write("workers.properties", JK_WORKERS.format(port=port, apps_port=apps_port, secret=SECRET))
    site = JK_SITE.format(workers=workers, dir=ws.dir, http_port=ctx.http_port, htpasswd=write_htpasswd(ws))
    apache = start_apache(ws, site, ctx.http_port, ctx.dead_http_port, modules=["jk"] + APACHE_AUTH_MODULES)
    apache.extra_logs.append(ws.path("mod_jk.log"))
    ctx.procs.append(apache)
    return ctx


def case_jk_get(ctx):
    env, _, _ = get_vars(ctx, apps.wsgi_vars, f"/wiki{RAW_PATH}?{RAW_QUERY}", headers=dict(SPOOF_HEADERS),
                         wsgi=True)
    check_common(env, ctx, "uWSGI SCGI via AJP", "/wiki", DECODED_PATH)
    check(env.get("CONTENT_LENGTH") == "0", f"SCGI: CONTENT_LENGTH = {env.get('CONTENT_LENGTH')!r}, want '0'")
    check(env.get("wsgi.url_scheme") == "http", f"wsgi.url_scheme = {env.get('wsgi.url_scheme')!r}")
    env, _, _ = get_vars(ctx, apps.wsgi_vars, f"/apps/blog{RAW_PATH}?{RAW_QUERY}", headers=dict(SPOOF_HEADERS),
                         wsgi=True)
    check_common(env, ctx, "uWSGI SCGI via AJP under /apps", "/apps/blog", DECODED_PATH)


def case_jk_post(ctx):
    post_10mib(ctx, "/wiki/upload", apps.wsgi_vars, wsgi=True)


def case_jk_remote_user(ctx):
    r = request(ctx.http_port, "GET", "/wiki/login")
    check(r.status == 401, f"/wiki/login without credentials: status {r.status}, want 401")
    env, _, _ = get_vars(ctx, apps.wsgi_vars, "/wiki/login",
                         headers={"Authorization": basic_auth_header(), "Remote-User": "mallory"}, wsgi=True)
    check(env.get("REMOTE_USER") == AUTH_USER, f"REMOTE_USER = {env.get('REMOTE_USER')!r}, want {AUTH_USER!r}")
    env, _, _ = get_vars(ctx, apps.wsgi_vars, "/wiki/open", headers={"Remote-User": "mallory"}, wsgi=True)
    check(env.get("REMOTE_USER", "") == "",
          f"a client's Remote-User header became REMOTE_USER={env.get('REMOTE_USER')!r}")


def jk_cases():
    return [("uwsgi-scgi-get-variables", case_jk_get, 20), ("uwsgi-scgi-post-10mib", case_jk_post, 60),
            ("uwsgi-scgi-remote-user", case_jk_remote_user, 20), ("wsgi-links-root-base-path", case_links, 30)]


# ---------------------------------------------------------------------------
# nginx (SCGI) -> gatewayd -> a shell CGI script

NGINX_SCGI_SITE = """
server {{
    listen 127.0.0.1:{http_port};
    server_name localhost;
    client_max_body_size 64m;
    location / {{
        include {params};
        scgi_pass 127.0.0.1:{gw_port};
    }}
    location /sh/login {{
        auth_basic "apps";
        auth_basic_user_file {htpasswd};
        include {params};
        scgi_param REMOTE_USER $remote_user;
        scgi_param AUTH_TYPE Basic;
        scgi_pass 127.0.0.1:{gw_port};
    }}
    location /sh/tls/ {{
        include {params};
        scgi_param HTTPS on;
        scgi_pass 127.0.0.1:{gw_port};
    }}
}}
"""


def scgi_params_keeping_port(ws):
    """Debian's scgi_params without its "HTTP_HOST $host" line (which drops
    the client's port): a second scgi_param HTTP_HOST would send the
    variable twice, which SCGI forbids and gatewayd refuses."""
    with open("/etc/nginx/scgi_params") as f:
        lines = [line for line in f if not line.strip().startswith("scgi_param  HTTP_HOST")
                 and not line.strip().startswith("scgi_param HTTP_HOST")]
    return ws.write("scgi_params_port", "".join(lines) + "scgi_param  HTTP_HOST  $http_host;\n")


def nginx_cgi_setup(ws):
    have("nginx")
    ctx = Ctx(ws, http_port=free_port(), dead_http_port=free_port())
    ws.mkdir("projects")
    with open(os.path.join(apps.APPS, "env.cgi")) as f:
        script = f.read()
    apps.write_project(ws, "projects", "sh", {"backend": {"type": "cgi", "script": "env.cgi", "timeout_ms": 30000}},
                       files={"env.cgi": (script, 0o755)})
    gw_port = free_port()
    ctx.procs.append(apps.start_gatewayd_config(ws, {
        "listeners": [{"protocol": "scgi", "host": "127.0.0.1", "port": gw_port}],
        "env_parent_dir": ws.path("projects"),
    }))
    site = NGINX_SCGI_SITE.format(http_port=ctx.http_port, gw_port=gw_port, htpasswd=write_htpasswd(ws),
                                  params=scgi_params_keeping_port(ws))
    ctx.procs.append(start_nginx_scgi(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


def case_cgi_get(ctx):
    env, _, _ = get_vars(ctx, apps.cgi_vars, f"/sh{RAW_PATH}?{RAW_QUERY}", headers=dict(SPOOF_HEADERS))
    check_common(env, ctx, "CGI via SCGI", "/sh", DECODED_PATH)
    check("CONTENT_LENGTH" not in env, f"CGI: CONTENT_LENGTH = {env.get('CONTENT_LENGTH')!r} without a body")
    check("HTTPS" not in env, f"CGI: HTTPS = {env.get('HTTPS')!r} on plain HTTP")
    env, _, _ = get_vars(ctx, apps.cgi_vars, "/sh/tls/x")
    check(env.get("HTTPS") == "on", f"CGI behind a front that sets HTTPS: HTTPS = {env.get('HTTPS')!r}")
    check(env.get("PATH_INFO") == "/tls/x", f"CGI: PATH_INFO = {env.get('PATH_INFO')!r}")


def case_cgi_post(ctx):
    post_10mib(ctx, "/sh/upload", apps.cgi_vars)


def case_cgi_remote_user(ctx):
    env, _, _ = get_vars(ctx, apps.cgi_vars, "/sh/login",
                         headers={"Authorization": basic_auth_header(), "Remote-User": "mallory"})
    check(env.get("REMOTE_USER") == AUTH_USER, f"REMOTE_USER = {env.get('REMOTE_USER')!r}, want {AUTH_USER!r}")
    check(env.get("AUTH_TYPE") == "Basic", f"AUTH_TYPE = {env.get('AUTH_TYPE')!r}")
    env, _, _ = get_vars(ctx, apps.cgi_vars, "/sh/open", headers={"Remote-User": "mallory"})
    check("REMOTE_USER" not in env, f"a client's Remote-User header became REMOTE_USER={env.get('REMOTE_USER')!r}")


def nginx_cgi_cases():
    return [("cgi-get-variables", case_cgi_get, 20), ("cgi-post-10mib", case_cgi_post, 60),
            ("cgi-remote-user", case_cgi_remote_user, 20)]


# ---------------------------------------------------------------------------
# lighttpd (FastCGI) -> gatewayd -> uWSGI's HTTP socket

LIGHTTPD_SITE = """
server.modules += ( "mod_auth", "mod_authn_file", "mod_fastcgi" )
server.max-request-size = 65536
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "{htpasswd}"
$HTTP["url"] =~ "^(/apps)?/[^/]+/login(/|$)" {{
    auth.require = ( "" => ( "method" => "basic", "realm" => "apps", "require" => "valid-user" ) )
}}
fastcgi.server = (
    "/apps" => (( "host" => "127.0.0.1", "port" => {gw_port}, "check-local" => "disable" )),
    "/" => (( "host" => "127.0.0.1", "port" => {gw_port}, "check-local" => "disable",
              "fix-root-scriptname" => "enable" )),
)
"""


def lighttpd_setup(ws):
    have("lighttpd", "uwsgi")
    ctx = Ctx(ws, http_port=free_port(), dead_http_port=free_port(), link_prefixes=("", "/apps"))
    uwsgi_addr = f"127.0.0.1:{free_port()}"
    ctx.procs.append(apps.start_uwsgi(ws, "http", uwsgi_addr, "uwsgi-http", env={"TRUST_FORWARDED": "1"}))
    ws.mkdir("projects")
    for name in ("wiki", "blog"):
        apps.write_project(ws, "projects", name, {"backend": {"type": "http", "upstream": uwsgi_addr}})
    gw_port = free_port()
    ctx.procs.append(apps.start_gatewayd_config(ws, {
        "listeners": [{"protocol": "fcgi", "host": "127.0.0.1", "port": gw_port}],
        "env_parent_dir": ws.path("projects"),
    }))
    site = LIGHTTPD_SITE.format(gw_port=gw_port, htpasswd=write_htpasswd(ws))
    ctx.procs.append(start_lighttpd(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx


def case_http_get(ctx):
    for prefix in ("", "/apps"):
        target = f"{prefix}/wiki{RAW_PATH}?{RAW_QUERY}"
        env, _, _ = get_vars(ctx, apps.wsgi_vars, target,
                             headers=dict(SPOOF_HEADERS, **{"X-Forwarded-For": "203.0.113.7",
                                                            "X-Forwarded-Host": "evil.example",
                                                            "X-Forwarded-Proto": "https"}), wsgi=True)
        what = f"uWSGI HTTP via lighttpd FastCGI ({target})"
        # The app applied X-Forwarded-Prefix/-Host/-Proto (ProxyFix-style).
        check_common(env, ctx, what, f"{prefix}/wiki", DECODED_PATH, http_backend=True)
        got = env.get("REQUEST_URI")
        check(got == f"{RAW_PATH}?{RAW_QUERY}", f"{what}: the target the app got: {got!r}")
        check(env.get("HTTP_X_FORWARDED_PREFIX") == f"{prefix}/wiki",
              f"{what}: X-Forwarded-Prefix {env.get('HTTP_X_FORWARDED_PREFIX')!r}")
        check(env.get("HTTP_X_FORWARDED_FOR") == "203.0.113.7, 127.0.0.1",
              f"{what}: X-Forwarded-For {env.get('HTTP_X_FORWARDED_FOR')!r}, want the client's list + 127.0.0.1")
        check(env.get("wsgi.url_scheme") == "http", f"{what}: X-Forwarded-Proto {env.get('wsgi.url_scheme')!r}")
        check(env.get("HTTP_X_FORWARDED_HOST") == f"127.0.0.1:{ctx.http_port}",
              f"{what}: X-Forwarded-Host {env.get('HTTP_X_FORWARDED_HOST')!r}")
        check(env.get("HTTP_X_REMOTE_USER") is None,
              f"{what}: a client's X-Remote-User reached the app: {env.get('HTTP_X_REMOTE_USER')!r}")
        conn = env.get("HTTP_CONNECTION", "")
        check("x-hop" not in conn.lower(), f"{what}: Connection {conn!r} still names the client's hop-by-hop field")


def case_http_post(ctx):
    post_10mib(ctx, "/wiki/upload", apps.wsgi_vars, wsgi=True)


def case_http_remote_user(ctx):
    env, _, _ = get_vars(ctx, apps.wsgi_vars, "/wiki/login",
                         headers={"Authorization": basic_auth_header(), "X-Remote-User": "mallory"}, wsgi=True)
    check(env.get("HTTP_X_REMOTE_USER") == AUTH_USER,
          f"X-Remote-User = {env.get('HTTP_X_REMOTE_USER')!r}, want {AUTH_USER!r}")
    env, _, _ = get_vars(ctx, apps.wsgi_vars, "/wiki/open", headers={"X-Remote-User": "mallory"}, wsgi=True)
    check("HTTP_X_REMOTE_USER" not in env, f"a client's X-Remote-User reached the app: {env.get('HTTP_X_REMOTE_USER')}")


def lighttpd_cases():
    return [("uwsgi-http-get-variables", case_http_get, 20), ("uwsgi-http-post-10mib", case_http_post, 60),
            ("uwsgi-http-remote-user-header", case_http_remote_user, 20),
            ("wsgi-links-root-prefix", case_links, 30)]


def suites():
    return [
        Suite("apps-nginx-fcgi-phpfpm", nginx_php_setup, nginx_php_cases()),
        Suite("apps-modjk-ajp-uwsgi-scgi", jk_setup, jk_cases()),
        Suite("apps-nginx-scgi-cgi", nginx_cgi_setup, nginx_cgi_cases()),
        Suite("apps-lighttpd-fcgi-uwsgi-http", lighttpd_setup, lighttpd_cases()),
    ]

