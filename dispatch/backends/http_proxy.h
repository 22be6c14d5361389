// The `http` backend: a reverse proxy to an HTTP/1.1 app server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dispatch/backend.h"

struct uv_loop_s;

namespace gw {

struct HttpProxyOptions {
  std::string upstream;  // "host:port", "[v6]:port" or "unix:/path"
  uint32_t connect_timeout_ms = 5000;
  uint32_t timeout_ms = 60000;
  uint32_t keepalive = 16;
};

class HttpProxyBackend : public Backend {
 public:
  HttpProxyBackend(uv_loop_s* loop, HttpProxyOptions options);
  ~HttpProxyBackend() override;
  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "http"; }

 private:
  uv_loop_s* loop_;
  HttpProxyOptions options_;
};

}  // namespace gw
