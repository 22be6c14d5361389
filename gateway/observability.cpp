// Observability for one Server: the RequestObserver that feeds the access
// logs, the slow-request log and the request metrics, and the status
// listener's backend that shows them (see observability.h).
#include "gateway/observability.h"

#include <unistd.h>

#include <chrono>

#include "gateway/access_logs.h"
#include "gateway/io/timer.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/request_metrics.h"
#include "gateway/server.h"
#include "gateway/status_backend.h"

namespace gw {

namespace {

// What the deferred flush and the status backend reach; shared so that
// either may outlive the Observability (a flush queued on the loop, a
// status request in flight during shutdown) without dangling.
struct State {
  Server* server = nullptr;  // null once the Observability is gone
  AccessLogs logs;
  RequestMetrics metrics;
  uint32_t slow_request_ms = 0;
  bool flush_queued = false;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

StatusReport make_report(const State& s) {
  StatusReport r;
  r.version = GATEWAYD_VERSION;
  r.pid = static_cast<int>(::getpid());
  r.uptime_seconds = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.started)
          .count());
  r.slow_request_ms = s.slow_request_ms;
  r.metrics = s.metrics.snapshot();
  if (!s.server) return r;
  const Server& server = *s.server;
  r.connections = server.connection_count();
  r.connection_buffer_bytes = server.connection_buffer_bytes();
  for (size_t i = 0; i < server.listener_count(); ++i) {
    const Listener& listener = server.listener(i);
    const ListenerConfig& l = listener.config();
    r.listeners.push_back({l.name.empty() ? describe_listener(l) : l.name,
                           std::string(listener_protocol_name(l)), l.status,
                           listener.connection_count()});
  }
  for (size_t i = 0; i < server.project_count(); ++i) {
    StatusReport::Project p;
    p.name = server.project_name(i);
    std::shared_ptr<Backend> backend = server.shared_backend(i);
    if (backend) {
      p.backend = std::string(backend->kind());
      backend->report(p.report);
    }
    r.projects.push_back(std::move(p));
  }
  return r;
}

class ServerObservability final : public Observability, public RequestObserver {
 public:
  explicit ServerObservability(Server& server)
      : server_(server), state_(std::make_shared<State>()) {
    state_->server = &server;
  }
  ~ServerObservability() override {
    if (server_.observer() == this) server_.set_observer(nullptr);
    state_->logs.flush();
    state_->server = nullptr;
  }

  std::optional<std::string> configure(const ServerConfig& config,
                                       const std::vector<ProjectConfig>& projects) {
    if (std::string e = state_->logs.configure(config, projects); !e.empty()) return e;
    state_->slow_request_ms = config.slow_request_ms;
    return std::nullopt;
  }

  void install() {
    server_.set_observer(this);
    std::weak_ptr<State> weak = state_;
    server_.set_status_backend(std::make_shared<StatusBackend>([weak] {
      auto s = weak.lock();
      return s ? make_report(*s) : StatusReport{};
    }));
  }

  void reopen_logs() override {
    for (const std::string& e : state_->logs.reopen()) log::error("reopening a log: " + e);
  }

  std::optional<std::string> reconfigure(const ServerConfig& config,
                                         const std::vector<ProjectConfig>& projects) override {
    return configure(config, projects);
  }

  void request_started(const RequestRecord& record) override { state_->metrics.started(record); }

  void request_finished(const RequestRecord& record) override {
    bool slow = state_->logs.is_slow(record);
    state_->metrics.finished(record, slow);
    if (state_->logs.log(record, slow)) queue_flush();
  }

 private:
  // Lines written in one loop turn go out together at its end: one write(2)
  // per file per turn, never one per request, and never an fsync.
  void queue_flush() {
    if (state_->flush_queued) return;
    state_->flush_queued = true;
    std::weak_ptr<State> weak = state_;
    io::defer(server_.loop(), [weak] {
      if (auto s = weak.lock()) {
        s->flush_queued = false;
        s->logs.flush();
      }
    });
  }

  Server& server_;
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<Observability> Observability::attach(Server& server, const ServerConfig& config,
                                                     const std::vector<ProjectConfig>& projects,
                                                     std::string& error) {
  auto o = std::make_unique<ServerObservability>(server);
  if (auto e = o->configure(config, projects)) {
    error = *e;
    return nullptr;
  }
  o->install();
  return o;
}

}  // namespace gw
