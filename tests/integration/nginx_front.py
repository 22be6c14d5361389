"""gatewayd serving a projects directory over FastCGI on 127.0.0.1, with
nginx in front of it (packaging/examples/nginx-fastcgi.conf, a keepalive
upstream and fastcgi_keep_conn on): the setup of the suites that reload or
signal a gatewayd while traffic goes through a web server (test_lifecycle,
test_reload)."""

from servers import start_gatewayd, start_nginx
from support import clean_env, fill_template, free_port


def gatewayd_behind_nginx(ws, ctx, args, fcgi_port):
    """Starts gatewayd with the command line `args` (its FastCGI listener on
    127.0.0.1:`fcgi_port`, the environment clean_env()) as ctx.gatewayd,
    then nginx in front of it on ctx.http_port (and ctx.dead_http_port, the
    test wrapper's listener whose upstream is down). Both are added to
    ctx.procs, whose death the runner reports."""
    ctx.http_port, ctx.dead_http_port = free_port(), free_port()
    ctx.gatewayd = start_gatewayd(ws, args, port=fcgi_port, env=clean_env())
    ctx.procs.append(ctx.gatewayd)
    site = fill_template("nginx-fastcgi.conf", {"HTTP_PORT": f"127.0.0.1:{ctx.http_port}",
                                                "GATEWAYD_ADDR": f"127.0.0.1:{fcgi_port}",
                                                "KEEP_CONN": "on"})
    ctx.procs.append(start_nginx(ws, site, ctx.http_port, ctx.dead_http_port))
    return ctx
