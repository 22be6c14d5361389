// The --help text, laid out like tracd's (optparse) so that people who know
// tracd find every option where they expect it. Kept apart from the parser
// so that the parser reads as code.
#pragma once

#include <string_view>

namespace gw {

inline constexpr std::string_view kHelpText =
    R"(Usage: gatewayd [options] [projenv] ...

Serves projects to web servers over HTTP/1.1, HTTPS, FastCGI, SCGI or AJP13.
Each projenv is a project directory holding a project.json; its name is the
URL segment.

Options:
  --version             show program's version number and exit
  -h, --help            show this help message and exit
  --protocol=PROTOCOL   the server protocol: http (default), https, scgi,
                        ajp or fcgi
  -p PORT, --port=PORT  the port number to bind to (default: 80 for http,
                        443 for https, 4000 for scgi, 8009 for ajp, 8000 for
                        fcgi)
  -b HOST, --hostname=HOST
                        the host name or IP address to bind to (default: all
                        interfaces for http and https, 127.0.0.1 for scgi,
                        ajp and fcgi)
  --unix-socket=PATH    listen on a unix socket instead of TCP
  --socket-mode=MODE    octal permissions of the unix socket (e.g. 0660)
  --socket-owner=USER   owner of the unix socket (name or numeric id)
  --socket-group=GROUP  group of the unix socket (name or numeric id)
  -e PARENTDIR, --env-parent-dir=PARENTDIR
                        serve every subdirectory of PARENTDIR that holds a
                        project.json (hidden ones skipped) as a project
  -s, --single-env      serve the one project given at the root, without a
                        project list
  --base-path=BASE_PATH
                        the initial portion of the request URL's path
  --certfile=CERTFILE   PEM certificate chain for https
  --keyfile=KEYFILE     PEM private key for https
  --ajp-secret=SECRET   the secret every AJP request must carry (mod_jk
                        "secret", mod_proxy_ajp "secret="); requests without
                        it get 403
  --ajp-insecure        allow an AJP listener on a non-loopback address
                        without a secret (not recommended)
  --ajp-allow-attribute=NAME
                        accept AJP request attribute NAME besides
                        AJP_REMOTE_PORT, AJP_LOCAL_ADDR, AJP_SSL_PROTOCOL and
                        JK_LB_ACTIVATION (repeatable); any other attribute
                        gets 403
  --ajp-packet-size=SIZE
                        AJP packet size, 8192 (default) to 65536; must match
                        mod_jk max_packet_size / ProxyIOBufferSize
  -a DIGESTAUTH, --auth=DIGESTAUTH
                        [projectdir],[htdigest_file],[realm]: Digest
                        authentication for a project ("*" for every project);
                        repeatable
  --basic-auth=BASICAUTH
                        [projectdir],[htpasswd_file],[realm]: Basic
                        authentication for a project ("*" for every project);
                        repeatable
  --auth-scope=SCOPE    where --auth/--basic-auth apply: login (the /login
                        path, as tracd; default) or project (every path)
  --index-template=FILE a template for the project index page
  -q, --unquote         accepted for tracd compatibility; paths are always
                        percent-decoded exactly once, so it changes nothing
  --http10              accepted for tracd compatibility; no effect
  --http11              accepted for tracd compatibility; no effect (HTTP/1.1
                        with keep-alive is the default)
  -d, --daemonize       run in the background as a daemon
  --pidfile=PIDFILE     when daemonizing, file to which to write pid
  --umask=MASK          when daemonizing, file mode creation mask to use, in
                        octal notation (default 022)
  --group=GROUP         the group to run as (name or numeric id)
  --user=USER           the user to run as (name or numeric id)
  --error-log=FILE      write the error log to FILE (default: stderr)
  --config=FILE         a JSON configuration file: several listeners, limits,
                        logs; command-line options take precedence
  -t, --check-config    check the configuration and the projects, then exit
  --workers=N           run N worker processes under a master that restarts
                        them and reloads them one at a time (default 1: no
                        master)
  --graceful-timeout=SECONDS
                        on SIGQUIT or SIGTERM, wait this long for requests in
                        flight before exiting (default 30)
  --log-level=LEVEL     debug, info (default), warn or error
  --access-log=FILE     the access log of every listener (Combined Log
                        Format plus project, protocol, backend and times)
  --access-log-format=FORMAT
                        the access log's format (see gatewayd(8))
  --status-listen=ADDR  serve the status page, JSON and Prometheus metrics on
                        ADDR: PORT (on 127.0.0.1), HOST:PORT or unix:/PATH
  --slow-request-ms=MS  log requests that take longer than MS milliseconds
  --slow-log=FILE       where slow requests are logged (default: the error
                        log)

Environment:
  TRAC_ENV              a project directory to serve alone (as -s DIR), used
                        when no project is given on the command line
  TRAC_ENV_PARENT_DIR   a parent directory of projects (as -e DIR), used when
                        no project is given and TRAC_ENV is unset
  TRAC_ENV_INDEX_TEMPLATE
                        a template for the project index page (as
                        --index-template)
  FCGI_WEB_SERVER_ADDRS comma-separated addresses of the web servers allowed
                        to connect to a FastCGI listener
)";

}  // namespace gw
