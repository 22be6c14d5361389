// The `fastcgi` backend: a client to a FastCGI app (PHP-FPM, trac.fcgi, a
// flup app, php-cgi -b) on TCP or a unix socket.
//
// Connections:
//  * One request at a time on a connection, always request id 1 (no
//    multiplexing: no real app needs it). With keepalive > 0 requests ask
//    for FCGI_KEEP_CONN and up to `keepalive` idle connections are kept; an
//    idle connection the app closes, resets or writes to is dropped at once.
//  * A cap on the connections open to the app (idle, busy, connecting and
//    those draining after an abort, all counted): options.max_conns, or with
//    0 what the app answers to FCGI_GET_VALUES (the smaller of FCGI_MAX_CONNS
//    and FCGI_MAX_REQS) on the first connection, before its request goes.
//    An app that answers nothing within get_values_timeout_ms, answers
//    FCGI_UNKNOWN_TYPE or closes the connection gets no cap (its request goes
//    on, on a new connection if it closed). Requests over the cap wait in a
//    FIFO of at most max_waiting: 503 when it is full or after waiting
//    connect_timeout_ms. Requests arriving while the first connection asks
//    wait the same way.
//  * Without a cap (PHP-FPM answers GET_VALUES with FCGI_MPXS_CONNS only)
//    the app may have fewer workers than we open connections, and each of
//    its workers stays with its kept connection: a new connection then waits
//    in the app's accept queue. So while a request sent on a new connection
//    has had no answer yet, connections coming back are closed rather than
//    kept. For PHP-FPM, max_conns = pm.max_children avoids the guesswork.
//  * Retried once, on a new connection: END_REQUEST{FCGI_OVERLOADED} before
//    any STDOUT, and a reused connection (pooled, or the one that asked
//    GET_VALUES) that ends (EOF, reset, failed write) before any answer to
//    the request, as long as no request body byte went on it or all that
//    went is still held (bodies up to 64 KiB, and every body of unknown
//    length, are). Otherwise: 502 (503 for an app overloaded twice).
//  * cancel() (the client went away) sends FCGI_ABORT_REQUEST (after ending
//    STDIN if it was not); the connection goes back to the pool only if the
//    app's END_REQUEST arrives within min(timeout_ms, 5 s) with nothing after
//    it, else it is closed. Any other failure closes the connection: one of
//    unknown state never goes back.
//
// Request: the variables of fastcgi_request_vars() in PARAMS, the body as
// STDIN records streamed with backpressure (body_congested() above 256 KiB
// queued). A body of unknown length (chunked) is held until its end and sent
// with its CONTENT_LENGTH, as PHP needs one (nginx does the same); one over
// max_buffered_body gets 411.
//
// Response: STDOUT is a CGI response (CgiResponseParser: Status, Location,
// an HTTP status line); its body streams to the sink and the app is not read
// while the sink is congested. A local redirect (Location: /path, no Status)
// becomes a 302 with that Location, as in the cgi and scgi backends: a
// backend cannot route, so it never re-runs the request. STDERR goes to
// sink.log_error line by line, each line quoted (quote_for_log) and bounded
// (1 KiB a line, 64 KiB a request). The response ends with END_REQUEST.
//
// Errors: refused, reset, closed early, malformed records or head, a
// request ended without a head, FCGI_UNKNOWN_ROLE/CANT_MPX_CONN: 502;
// timeouts (connect; the first answer byte, then between reads): 504; a
// request body that stops coming: 408. After the head was sent the sink
// cuts the response instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/backend.h"

struct uv_loop_s;

namespace gw {

struct FastCgiBackendOptions {
  std::string upstream;  // "host:port", "[v6]:port" or "unix:/path"
  uint32_t connect_timeout_ms = 5000;
  // Longest wait for the app: for the first response byte, then between two
  // reads (and for a stalled request body).
  uint32_t timeout_ms = 60000;
  uint32_t keepalive = 16;  // idle connections kept (FCGI_KEEP_CONN); 0: one per request
  // Cap on connections open to the app; 0: ask the app (FCGI_GET_VALUES),
  // and none when it does not say.
  uint32_t max_conns = 0;
  // With script_filename empty, requests map to files below it, PHP-style
  // (see fastcgi_request_vars). Sent as DOCUMENT_ROOT.
  std::string document_root;
  // A fixed SCRIPT_FILENAME (a front controller such as /srv/app/index.php);
  // SCRIPT_NAME and PATH_INFO stay as routed.
  std::string script_filename;
  // Appended to a directory path (empty or ending in '/') in document_root
  // mode; "" to leave such paths alone.
  std::string index = "index.php";
  // Extra variables sent with every request; one named like a variable of
  // the request replaces it. CONTENT_LENGTH is never taken from here.
  std::vector<Header> params;
  // The most request body of unknown length held before sending; beyond: 411.
  size_t max_buffered_body = 16 * 1024 * 1024;
  size_t max_waiting = 1024;              // requests queued for a connection
  uint32_t get_values_timeout_ms = 1000;  // wait for the FCGI_GET_VALUES answer
};

// The FastCGI variables for `request` (pure; exposed for tests), in order:
// cgi_from_request() with DOCUMENT_ROOT and SCRIPT_FILENAME, then
// REDIRECT_STATUS=200 (php-cgi refuses to run without it), then
// options.params replacing same-named variables in place or appended (the
// last of them wins; CONTENT_LENGTH and empty names skipped).
//
// SCRIPT_FILENAME: options.script_filename when set. Otherwise, with a
// document_root, path_info is mapped below it without touching the file
// system (the app may run on another host), as nginx's usual PHP setup does:
//  * up to the first segment ending in ".php" ("/a/x.php/b"): that is the
//    script (SCRIPT_FILENAME = root + "/a/x.php", SCRIPT_NAME = script_name
//    + "/a/x.php") and the rest is PATH_INFO ("/b");
//  * else a directory (path_info empty or ending in '/') with options.index
//    set: root + path_info + index, SCRIPT_NAME likewise, PATH_INFO "";
//  * else root + path_info, SCRIPT_NAME and PATH_INFO as routed.
// The router guarantees path_info is normalised (no "..", no "//").
std::vector<Header> fastcgi_request_vars(const Request& request,
                                         const FastCgiBackendOptions& options);

class FastCgiPool;

class FastCgiBackend : public Backend {
 public:
  // Parses options.upstream; a host name (not a numeric address) is resolved
  // here, once and synchronously, keeping the first address. When that fails
  // every request is answered 502 and setup_error() says why.
  FastCgiBackend(uv_loop_s* loop, FastCgiBackendOptions options);
  // Safe with exchanges still alive: they share the pool, which closes its
  // idle connections now and keeps none from then on.
  ~FastCgiBackend() override;
  // Closes idle connections and those draining after an abort; exchanges
  // still running finish (their connections are closed, not kept).
  void shutdown() override;
  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "fastcgi"; }

  // Why the upstream is unusable, "" when it is fine.
  const std::string& setup_error() const { return setup_error_; }
  // The upstream as log lines name it: "app:9000 (10.0.0.7:9000)".
  const std::string& upstream_name() const { return name_; }
  size_t idle_connections() const;
  size_t open_connections() const;    // idle, busy, connecting or draining
  uint32_t connection_limit() const;  // 0: none (yet)
  void report(BackendReport& out) const override {
    out.upstreams.push_back({name_, open_connections(), idle_connections(), connection_limit()});
  }

 private:
  std::string name_;
  std::string setup_error_;
  std::shared_ptr<FastCgiPool> pool_;  // null when setup failed
};

}  // namespace gw
