// Answers on status listeners (see status_backend.h).
#include "gateway/status_backend.h"

#include "gateway/status_page.h"

namespace gw {

namespace {

// The answer is complete before start() returns; the request body, if any,
// is read and dropped.
class DoneExchange final : public Exchange {
 public:
  void send_body(std::string_view) override {}
  void finish_body() override {}
  void cancel() override {}
};

void answer(ResponseSink& sink, int status, std::string_view content_type, std::string_view body,
            bool head_only, std::vector<Header> extra = {}) {
  ResponseHead head;
  head.status = status;
  head.headers = std::move(extra);
  head.headers.push_back({"Content-Type", std::string(content_type)});
  head.headers.push_back({"Content-Length", std::to_string(body.size())});
  head.headers.push_back({"Cache-Control", "no-store"});
  sink.on_head(std::move(head));
  if (!head_only && !body.empty()) sink.on_body(body);
  sink.on_end();
}

}  // namespace

std::unique_ptr<Exchange> StatusBackend::start(const Request& request, ResponseSink& sink) {
  const bool head_only = request.method == "HEAD";
  if (request.method != "GET" && !head_only) {
    answer(sink, 405, "text/plain; charset=utf-8", "405 Method Not Allowed\n", false,
           {{"Allow", "GET, HEAD"}});
  } else if (request.path == "/") {
    answer(sink, 200, "text/html; charset=utf-8", kStatusPageHtml, head_only,
           {{"Content-Security-Policy",
             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
             "connect-src 'self'"}});
  } else if (request.path == "/status" || request.path == "/status.json") {
    answer(sink, 200, "application/json", render_status_json(source_()), head_only);
  } else if (request.path == "/metrics") {
    answer(sink, 200, "text/plain; version=0.0.4; charset=utf-8", render_prometheus(source_()),
           head_only);
  } else {
    answer(sink, 404, "text/plain; charset=utf-8", "404 Not Found\n", false);
  }
  return std::make_unique<DoneExchange>();
}

}  // namespace gw
