// The daemon's state on one loop: listeners, projects with their backends,
// and the live connections. Connections ask it to route requests.
//
// Reload (SIGHUP): the project set is loaded again from the same
// ServerConfig and compared with the running one by name. An unchanged
// project keeps its very backend object; a changed or removed one is
// retired: the Server lets go of it, the requests that started on it keep
// it alive (each holds a shared_ptr), and when the last of them is gone it
// is shut down and destroyed. New requests only ever see the new set.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "dispatch/index_template.h"
#include "dispatch/project.h"
#include "dispatch/router.h"
#include "gateway/config.h"
#include "gateway/request_record.h"

struct uv_loop_s;

namespace gw {

class Connection;
class Listener;

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

  // Loads the project set (and the index template) again and applies the
  // difference (see the top of this file); logs one line saying what
  // changed. When the new set cannot be loaded the running one stays as it
  // is and the error is logged and returned; the same for the template
  // (the running template stays). Does nothing once stopping.
  std::optional<std::string> reload(ReloadPlan* applied = nullptr);

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

  size_t connection_count() const { return connections_.size(); }
  void adopt(std::unique_ptr<Connection> connection);
  // Called by a connection whose socket has closed; frees it later.
  void release(Connection* connection);

 private:
  Project build(const ProjectConfig& pc);
  std::optional<std::string> reload_index_template();

  uv_loop_s* loop_;
  ServerConfig config_;
  std::vector<ProjectConfig> project_configs_;
  std::vector<Project> projects_;  // parallel to project_configs_
  std::vector<std::string> names_;
  std::optional<IndexTemplate> index_template_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<Connection*> connections_;  // owned; deleted in release()
  RequestObserver* observer_ = nullptr;
  std::shared_ptr<Backend> status_backend_;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace gw
