// The daemon's state on one loop: listeners, projects with their backends,
// and the live connections. Connections ask it to route requests.
//
// Reload (SIGHUP): a new Startup (configuration, projects, index template,
// read as a restart would) is applied without refusing a request. Projects
// are compared with the running ones by name. An unchanged project keeps
// its very backend object; a changed or removed one is retired: the Server
// lets go of it, the requests that started on it keep it alive (each holds
// a shared_ptr), and when the last of them is gone it is shut down and
// destroyed. New requests only ever see the new set. Listeners follow
// plan_listeners (gateway/listener_plan.h): a socket at an unchanged
// address stays open and keeps accepting; connections already accepted keep
// the listener settings they started with.
//
// Stopping: stop() cuts everything at once; stop_gracefully() closes the
// listeners, lets every request in flight finish (each connection closes
// as soon as it is idle) and then shuts the backends down, or cuts what is
// left when the timeout runs out.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dispatch/index_template.h"
#include "dispatch/project.h"
#include "dispatch/router.h"
#include "gateway/config.h"
#include "gateway/listener_plan.h"
#include "gateway/request_record.h"
#include "gateway/startup.h"

struct uv_loop_s;

namespace gw {

class Connection;
class Listener;
namespace io {
class Timer;
}

// What a reload changes, by project name. added, changed and kept are in
// the new set's order, removed in the running set's order.
struct ReloadPlan {
  std::vector<std::string> added, changed, removed, kept;
  // "added a, b; changed none; removed c; kept d" (for the log).
  std::string summary() const;
  bool operator==(const ReloadPlan&) const = default;
};

// Compares two project sets by name (names are unique within a set): a
// name in both with equal configs is kept, with different configs changed.
ReloadPlan plan_reload(const std::vector<ProjectConfig>& running,
                       const std::vector<ProjectConfig>& next);

class Server {
 public:
  // `index_template`: config.index_template already parsed (main does so to
  // fail early); when absent and a path is configured, start() reads it.
  Server(uv_loop_s* loop, ServerConfig config, std::vector<ProjectConfig> projects,
         std::optional<IndexTemplate> index_template = std::nullopt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Builds the backends and opens every listener. Returns an error text.
  std::optional<std::string> start();
  // Closes the listeners and every connection; the loop then runs dry.
  void stop();
  // Closes the listeners; each connection closes once no request is in
  // flight on it; when the last has closed the backends are shut down and
  // the loop runs dry. After `timeout_ms` whatever is left is cut (stop()).
  // Logs a line as it begins and one as it ends.
  void stop_gracefully(uint64_t timeout_ms);
  bool stopping() const { return stopping_; }
  bool draining() const { return draining_; }
  size_t requests_in_flight() const;

  // Loads the project set (and the index template) again from the running
  // configuration and applies the difference (see the top of this file);
  // logs one line saying what changed. When the new set cannot be loaded
  // the running one stays as it is and the error is logged and returned;
  // the same for the template (the running template stays). Does nothing
  // once stopping.
  std::optional<std::string> reload(ReloadPlan* applied = nullptr);
  // Applies a whole new Startup: listeners, projects, index template and the
  // rest of the configuration (limits, base_path, ...) for new connections
  // and requests. All or nothing: when a certificate cannot be read, a new
  // socket cannot be opened or a backend cannot be built, the running state
  // is left exactly as it was and the error is returned (not logged).
  // Otherwise logs what changed: listeners (kept, changed, opened,
  // closed) and projects (as the other reload).
  // Settings only a restart can change (user, umask, ...) are the caller's.
  std::optional<std::string> reload(Startup next, ReloadPlan* applied = nullptr,
                                    ListenerPlan* listeners_applied = nullptr);

  uv_loop_s* loop() const { return loop_; }
  const Limits& limits() const { return config_.limits; }

  // A Route's project index is valid only until the next reload: use it at
  // once (the loop runs reload between callbacks, never inside one).
  Route route(const Request& request, const ListenerConfig& listener) const;
  Backend& backend(size_t project) { return *projects_[project].backend; }
  // The same, for a request to hold: it keeps the backend alive past a reload.
  std::shared_ptr<Backend> shared_backend(size_t project) const {
    return projects_[project].backend;
  }
  const std::string& project_name(size_t project) const { return projects_[project].name; }
  size_t project_count() const { return projects_.size(); }
  std::string index_page(std::string_view script_name) const;

  // Who hears of every request (access logs, metrics); null: nobody.
  void set_observer(RequestObserver* observer) { observer_ = observer; }
  RequestObserver* observer() const { return observer_; }
  // What answers on status listeners (ListenerConfig::status); null: 404.
  void set_status_backend(std::shared_ptr<Backend> backend) {
    status_backend_ = std::move(backend);
  }
  std::shared_ptr<Backend> status_backend() const { return status_backend_; }

  const ServerConfig& config() const { return config_; }
  const std::vector<ProjectConfig>& project_configs() const { return project_configs_; }
  size_t listener_count() const { return listeners_.size(); }
  const Listener& listener(size_t i) const { return *listeners_[i]; }
  size_t connection_count() const { return connections_.size(); }
  // Bytes held by the connections' input and output buffers.
  size_t connection_buffer_bytes() const;
  // `listener_open`: the accepting listener's count of open connections,
  // one up now and one down when release() frees the connection.
  void adopt(std::unique_ptr<Connection> connection,
             std::shared_ptr<size_t> listener_open = nullptr);
  // Called by a connection whose socket has closed; frees it later.
  void release(Connection* connection);

 private:
  Project build(const ProjectConfig& pc);
  std::optional<std::string> reload_index_template();
  // The new project set: kept projects with their running backend, others
  // built. Returns why it cannot be built.
  std::optional<std::string> build_projects(const std::vector<ProjectConfig>& next,
                                            std::vector<Project>& out);
  ReloadPlan commit_projects(std::vector<ProjectConfig> next, std::vector<Project> built);
  void shutdown_backends();
  void finish_drain();
  // A copy: closing a connection may release it from connections_.
  std::vector<Connection*> live_connections() const;

  uv_loop_s* loop_;
  ServerConfig config_;
  std::vector<ProjectConfig> project_configs_;
  std::vector<Project> projects_;  // parallel to project_configs_
  std::vector<std::string> names_;
  std::optional<IndexTemplate> index_template_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  // Owned (deleted in release()), each with its listener's open count.
  std::unordered_map<Connection*, std::shared_ptr<size_t>> connections_;
  RequestObserver* observer_ = nullptr;
  std::shared_ptr<Backend> status_backend_;
  bool started_ = false;
  bool stopping_ = false;  // stop() or stop_gracefully() was called
  bool stopped_ = false;   // stop(): everything cut
  bool draining_ = false;  // stop_gracefully() waits for requests in flight
  bool backends_down_ = false;
  uint64_t drain_started_ms_ = 0;
  std::unique_ptr<io::Timer> drain_timer_;
};

}  // namespace gw
