// The backend behind status listeners (Server::set_status_backend):
//   GET /                      the HTML status page (status_page.h)
//   GET /status, /status.json  JSON (render_status_json)
//   GET /metrics               Prometheus text format 0.0.4
// HEAD too; any other method gets 405, any other path 404. Every answer is
// made at once from a fresh StatusReport and is never cached.
#pragma once

#include <functional>
#include <memory>

#include "dispatch/backend.h"
#include "gateway/status_render.h"

namespace gw {

class StatusBackend final : public Backend {
 public:
  using ReportSource = std::function<StatusReport()>;
  explicit StatusBackend(ReportSource source) : source_(std::move(source)) {}

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "status"; }

 private:
  ReportSource source_;
};

}  // namespace gw
