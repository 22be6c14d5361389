// Placeholder until the proxy lands: answers 502 so that a project that
// names an http backend fails loudly rather than silently.
#include "dispatch/backends/http_proxy.h"

namespace gw {

namespace {
class FailedExchange : public Exchange {
 public:
  void send_body(std::string_view) override {}
  void finish_body() override {}
  void cancel() override {}
};
}  // namespace

HttpProxyBackend::HttpProxyBackend(uv_loop_s* loop, HttpProxyOptions options)
    : loop_(loop), options_(std::move(options)) {}
HttpProxyBackend::~HttpProxyBackend() = default;

std::unique_ptr<Exchange> HttpProxyBackend::start(const Request&, ResponseSink& sink) {
  (void)loop_;
  sink.on_error(502, "http backend not available yet");
  return std::make_unique<FailedExchange>();
}

}  // namespace gw
