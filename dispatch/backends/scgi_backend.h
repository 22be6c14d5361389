// The `scgi` backend: a client to an SCGI app (tracd --protocol=scgi,
// uWSGI's SCGI socket, flup) on TCP or a unix socket.
//
// One connection per request, as SCGI has it: the netstring of CGI
// variables (cgi_from_request, then options.params), the body, and the app's
// CGI response read until it closes the connection. Request and response
// bodies stream with backpressure both ways.
//
// SCGI sends CONTENT_LENGTH before the body. A request of unknown length
// (chunked, or from a FastCGI/AJP front end that did not say) is held in
// memory until its end and then sent with its length; one that grows past
// options.max_buffered_body is answered 411 Length Required, so that a client
// cannot make us hold more than that bound. (nginx and lighttpd behave the
// same way: they buffer, or refuse with 411.)
//
// Failures map to 502 (refused, reset, closed early, malformed response) and
// 504 (connect timeout, no response, stalled response); after the response
// head was sent the sink cuts the response instead. A local redirect
// (a "Location: /path" with no Status) is passed on as a 302 with that
// Location: the backend cannot route, so it never re-runs the request.
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

struct ScgiBackendOptions {
  std::string upstream;  // "host:port", "[v6]:port" or "unix:/path"
  uint32_t connect_timeout_ms = 5000;
  // Longest wait for the app: for the first response byte, then between two
  // reads (and for a stalled request body).
  uint32_t timeout_ms = 60000;
  // Extra variables sent with every request; one named like a variable of
  // the request replaces it. CONTENT_LENGTH and SCGI are never taken from here.
  std::vector<Header> params;
  // The most request body of unknown length held before sending; beyond: 411.
  size_t max_buffered_body = 16 * 1024 * 1024;
};

// The CGI variables sent for `request` (pure; exposed for tests):
// cgi_from_request(), then `params` replacing same-named variables in place
// or appended, each name once (the last of `params` wins).
std::vector<Header> scgi_request_vars(const Request& request, const std::vector<Header>& params);

struct ScgiShared;

class ScgiBackend : public Backend {
 public:
  // Parses options.upstream; a host name (not a numeric address) is resolved
  // here, once and synchronously, keeping the first address. When that fails
  // every request is answered 502 and setup_error() says why.
  ScgiBackend(uv_loop_s* loop, ScgiBackendOptions options);
  // Safe with exchanges still alive: they share what they need.
  ~ScgiBackend() override;
  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "scgi"; }

  // Why the upstream is unusable, "" when it is fine.
  const std::string& setup_error() const { return setup_error_; }
  // The upstream as log lines name it: "app:4000 (10.0.0.7:4000)".
  const std::string& upstream_name() const { return name_; }
  // One connection per request: nothing is kept open between requests.
  void report(BackendReport& out) const override { out.upstreams.push_back({name_, {}, {}, {}}); }

 private:
  std::string name_;
  std::string setup_error_;
  std::shared_ptr<const ScgiShared> shared_;  // null when setup failed
};

}  // namespace gw
