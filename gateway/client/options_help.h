// The --help text of gatewayd-client, kept apart from the parser so that the
// parser reads as code.
#pragma once

#include <string_view>

namespace gw::client {

inline constexpr std::string_view kClientHelpText =
    R"(Usage: gatewayd-client [options] URL-or-ADDRESS [PATH]

Sends one request over FastCGI, SCGI, AJP13 or HTTP/1.1 and prints the
response body on stdout: is it the app or the web server that fails? With
--bench, sends many and prints requests/s and latency percentiles.

URL-or-ADDRESS:
  fcgi://HOST[:PORT]/PATH?QUERY   also scgi://, ajp://, http:// (default
                                  ports 8000, 4000, 8009, 80, as gatewayd's)
  HOST:PORT, [V6]:PORT            with --protocol
  unix:/PATH/TO.SOCK              a unix socket, with --protocol
  'unix:/PATH/TO.SOCK|fcgi://localhost/PATH'   a socket and a URL (Apache)
PATH is the path and query when the URL has none (default "/").

Options:
  --version             show the version number and exit
  -h, --help            show this help message and exit
  --protocol=PROTOCOL   fcgi, scgi, ajp or http (or the URL's scheme)
  -X METHOD, --request=METHOD
                        the method (default GET, or POST with -d)
  -H 'NAME: VALUE', --header='NAME: VALUE'
                        a request header (repeatable); FastCGI and SCGI
                        send it as HTTP_NAME. Host defaults to the URL's
  --param=NAME=VALUE    set a CGI variable for FastCGI or SCGI, replacing the
                        one gatewayd-client would send (repeatable): e.g.
                        SCRIPT_FILENAME=/srv/www/index.php for PHP-FPM
  -d DATA, --data=DATA, --data-binary=DATA
                        the request body: DATA as given, @FILE streamed from
                        a file as it is, or @- streamed from standard input
                        (not SCGI, which needs the length first). The
                        Content-Type defaults to
                        application/x-www-form-urlencoded, as curl's
  --ajp-secret=SECRET   the AJP secret attribute (mod_jk "secret")
  --ajp-packet-size=SIZE
                        the AJP packet size, 8192 (default) to 65536; must
                        match the container's
  -m SECONDS, --timeout=SECONDS
                        give up when connecting, or when nothing moves in
                        either direction, for SECONDS (default 30)
  -i, --include         print the response head (status line and headers)
                        before the body
  -v, --verbose         print on stderr what is sent (variables, headers)
                        and the protocol's events (FCGI_STDERR, END_REQUEST
                        statuses, GET_BODY_CHUNK, END_RESPONSE, ...)
  -f, --fail            exit with status 22 when the status is not 2xx
  --keep-conn           ask to keep the connection (FastCGI FCGI_KEEP_CONN,
                        HTTP keep-alive, AJP reuse); --bench then sends many
                        requests per connection
  --cping               AJP: send a CPING and print the time to its CPONG
  --get-values          FastCGI: ask FCGI_GET_VALUES (FCGI_MAX_CONNS,
                        FCGI_MAX_REQS, FCGI_MPXS_CONNS) and print the answer

Load generation:
  --bench               send the request many times over several connections
  -c N, --connections=N connections at once (default 8)
  -n COUNT, --requests=COUNT
                        stop after COUNT requests
  -t SECONDS, --duration=SECONDS
                        stop issuing requests after SECONDS (default 10 when
                        no -n is given)
  --rate=R              at most R requests per second in all; latencies are
                        then counted from when each request was due
  --abort-ratio=R       abandon a fraction R (0 to 1) of the requests on
                        purpose, each at a random point: part way through
                        the request head, the body or the response, by
                        closing the connection; counted as aborted, not as
                        failed
  Prints requests/s, latency p50/p90/p99/max, statuses and failures by kind;
  exits with status 1 when any request failed (with --fail: or got a status
  outside 2xx).

Exit status: 0 a response (any status); 1 the peer broke its protocol,
refused the request or closed the connection early (the error says which);
2 bad command line; 6 the host name did not resolve; 7 no connection
(refused, no such socket); 22 --fail and a status outside 2xx; 23 stdout
could not be written; 26 the body could not be read; 28 timed out.
)";

}  // namespace gw::client
