// The `http` backend: a reverse proxy to an HTTP/1.1 app server on TCP or a
// unix socket, with a keep-alive pool of upstream connections.
//
// The app sees the URL the client used (the raw target), the client's
// headers minus the hop-by-hop ones, and X-Forwarded-For / -Proto / -Host
// (plus X-Forwarded-Prefix: the mount prefix, when there is one). Request
// and response bodies stream with backpressure both ways. Failures map to
// 502 (refused, reset, closed early, malformed) and 504 (timeouts); after the
// response head was sent the sink cuts the response instead.
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

struct HttpProxyOptions {
  std::string upstream;  // "host:port", "[v6]:port" or "unix:/path"
  uint32_t connect_timeout_ms = 5000;
  // Longest wait for the upstream: for the first response byte, then between
  // two reads (and for a stalled request body).
  uint32_t timeout_ms = 60000;
  uint32_t keepalive = 16;  // idle upstream connections kept; 0: one per request
};

// The header fields sent upstream for `request`, before framing (pure;
// exposed for tests). Drops the hop-by-hop fields (and those the Connection
// field names), "Proxy" (httpoxy) and the client's own X-Forwarded-Proto,
// -Host and -Prefix, which it replaces; appends the client address to
// X-Forwarded-For. A request without Host gets one from server_name, else
// `fallback_host`.
std::vector<Header> upstream_request_headers(const Request& request,
                                             std::string_view fallback_host);

struct HttpProxyShared;

class HttpProxyBackend : public Backend {
 public:
  // Parses options.upstream; a host name (not a numeric address) is resolved
  // here, once and synchronously, keeping the first address. When that fails
  // every request is answered 502 and setup_error() says why.
  HttpProxyBackend(uv_loop_s* loop, HttpProxyOptions options);
  // Safe with exchanges still alive: they share the pool, which closes its
  // idle connections now and refuses more.
  ~HttpProxyBackend() override;
  void shutdown() override;
  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "http"; }

  // Why the upstream is unusable, "" when it is fine.
  const std::string& setup_error() const { return setup_error_; }
  // The upstream as log lines name it: "app:8080 (10.0.0.7:8080)".
  const std::string& upstream_name() const { return name_; }
  size_t idle_connections() const;

 private:
  uv_loop_s* loop_;
  HttpProxyOptions options_;
  std::string name_;
  std::string setup_error_;
  std::shared_ptr<HttpProxyShared> shared_;  // null when setup failed
};

}  // namespace gw
