// The `http` backend: a reverse proxy to an HTTP/1.1 app server on TCP or a
// unix socket, with a keep-alive pool of upstream connections.
//
// The app sees the target below the mount prefix (upstream_target), the
// client's headers minus the hop-by-hop ones, X-Forwarded-For / -Proto /
// -Host, X-Forwarded-Prefix (the mount prefix taken off the target: the
// SCRIPT_NAME of a CGI-style backend) and X-Remote-User (the user the front
// end or gatewayd authenticated; a client's own X-Remote-User is dropped).
// Apps behind a prefix-stripping proxy (werkzeug's ProxyFix, Spring's
// ForwardedHeaderFilter, ASP.NET's forwarded headers) read them so. Request
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

// The request target sent upstream (pure; exposed for tests): the raw
// target with the raw form of script_name taken off ("/app/a%20b?q" with
// script_name "/app" gives "/a%20b?q"; "/" when nothing is left), so the
// path reaches the app encoded as the client sent it. When the raw path does
// not start with script_name's encoded form (a front end that rewrote the
// path), the path is path_info re-encoded. The query stays raw.
std::string upstream_target(const Request& request);

// The header fields sent upstream for `request`, before framing (pure;
// exposed for tests). Drops the hop-by-hop fields (and those the Connection
// field names), "Proxy" (httpoxy) and the client's own X-Forwarded-Proto,
// -Host, -Prefix and X-Remote-User, which it replaces; appends the client
// address to X-Forwarded-For (a client's list is kept: the app decides how
// many hops to trust). A request without Host gets one from server_name,
// else `fallback_host`. X-Remote-User: request.remote_user, when set.
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
  void report(BackendReport& out) const override {
    out.upstreams.push_back({name_, std::nullopt, idle_connections(), std::nullopt});
  }

 private:
  uv_loop_s* loop_;
  HttpProxyOptions options_;
  std::string name_;
  std::string setup_error_;
  std::shared_ptr<HttpProxyShared> shared_;  // null when setup failed
};

}  // namespace gw
