// The `cgi` backend: one process per request (RFC 3875), as a web server's
// CGI module runs a script.
//
// The process:
//  * is options.script itself, with no arguments (the RFC's search-string
//    arguments are never derived from the query: a query becoming argv is
//    how php-cgi's "-s"/"-d" injection worked), started in options.working_dir
//    (default: the script's directory) in a session and process group of its
//    own;
//  * gets only the RFC 3875 environment (cgi_from_request with
//    SCRIPT_FILENAME = the script and DOCUMENT_ROOT when configured), then
//    options.env replacing same-named variables, and PATH (from options.env,
//    else gatewayd's own, else a default). Nothing else of gatewayd's
//    environment is passed. Header-derived HTTP_* variables are attacker
//    data: cgi_from_request already drops Proxy (httpoxy) and names that
//    could collide;
//  * reads the request body on stdin, streamed, closed at its end. A body of
//    unknown length (chunked) is held until its end first, up to
//    options.max_buffered_body (else 411), so that CONTENT_LENGTH is always
//    set when there is a body, as RFC 3875 4.1.2 requires, and never without
//    one (a length of 0, as an SCGI front end sends for every GET, gives no
//    CONTENT_LENGTH). A script that does not read its body is fine: the rest
//    is dropped;
//  * writes a CGI response on stdout, parsed by CgiResponseParser and
//    streamed to the sink; stdout is not read while the sink is congested.
//    What it writes before the request body came whole is held (up to 256
//    KiB, then it streams): nginx stops sending a request body once the
//    response head arrived, which would leave a script that answers first
//    and reads its stdin after waiting forever.
//    A local redirect (Location: /path, no Status) becomes a 302 with that
//    Location: the backend cannot route, so it never re-runs the request;
//  * has its stderr logged through sink.log_error, line by line, each line
//    quoted (quote_for_log) and bounded (1 KiB a line, 64 KiB a request).
//
// The response ends once the script has exited and its stdout and stderr
// reached EOF. If the script exited but something it started keeps them open,
// they are closed after options.exit_grace_ms and the response ends anyway.
// When an exchange ends, for whatever reason, what is left of its process
// group gets SIGTERM, then SIGKILL 2 s later: a script that wants a job to
// outlive its request must start it in a session of its own (setsid).
//
// Errors:
//  * a script that cannot be started (missing, not executable, bad working
//    directory): 500, the path and the reason in the log line;
//  * more than options.max_processes running: 503;
//  * a script that ends (or fails) before a complete head, or writes a
//    malformed one: 502, with its exit status in the log line;
//  * options.timeout_ms over the whole request: the process group is ended
//    and 504 (or, after the head was sent, the response cut);
//  * killed by a signal after the head: the response is cut (it is likely
//    incomplete). A non-zero exit status after the head is only logged.
//  * cancel() (the client went away) ends the process group.
// Every child is reaped. shutdown() ends every process group of the backend
// (exchanges still running then see their script die and end).
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

struct CgiBackendOptions {
  std::string script;       // absolute path of the program to run
  std::string working_dir;  // default: the script's directory
  // The whole request, from the start of the process, not counting the time
  // the client is slow to take the response (its connection's timeouts apply
  // then); then the process group gets TERM, KILL after 2 s, and 504.
  uint32_t timeout_ms = 60000;
  // Extra environment (TRAC_ENV, LC_TIME, ...); replaces same-named
  // variables. CONTENT_LENGTH is never taken from here. Nothing else is
  // inherited but PATH.
  std::vector<Header> env;
  size_t max_processes = 64;  // running at once; over it 503
  std::string document_root;  // sent as DOCUMENT_ROOT when set
  // How long stdout/stderr may stay open after the script exited (held by
  // something it started) before they are closed and the response ended.
  uint32_t exit_grace_ms = 1000;
  // The most request body of unknown length held before starting; beyond: 411.
  size_t max_buffered_body = 16 * 1024 * 1024;
};

// The environment for `request`, as NAME=VALUE strings in order (pure;
// exposed for tests). `inherited_path` is PATH unless options.env sets one.
// Variables whose name is empty or holds '=' or NUL, or whose value holds
// NUL, are left out: they cannot be passed.
std::vector<std::string> cgi_environment(const Request& request, const CgiBackendOptions& options,
                                         std::string_view inherited_path);

struct CgiShared;

class CgiBackend : public Backend {
 public:
  // A script path that is not absolute makes every request 500, and
  // setup_error() says why. The script's existence is checked per request.
  CgiBackend(uv_loop_s* loop, CgiBackendOptions options);
  // Ends every process group still running (as shutdown()); the children
  // are reaped later by the loop, as long as it runs.
  ~CgiBackend() override;
  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "cgi"; }
  // Ends every process group of this backend now (TERM, KILL after 2 s) and
  // refuses new requests with 503.
  void shutdown() override;

  const std::string& setup_error() const { return setup_error_; }
  // Children not yet reaped, or whose group's KILL is still pending.
  size_t live_processes() const;
  void report(BackendReport& out) const override {
    out.cgi_processes = out.cgi_processes.value_or(0) + live_processes();
  }

 private:
  std::string setup_error_;
  std::shared_ptr<CgiShared> shared_;
};

}  // namespace gw
