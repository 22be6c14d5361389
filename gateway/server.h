// The daemon's state on one loop: listeners, projects with their backends,
// and the live connections. Connections ask it to route requests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "dispatch/project.h"
#include "dispatch/router.h"
#include "gateway/config.h"

struct uv_loop_s;

namespace gw {

class Connection;
class Listener;

class Server {
 public:
  Server(uv_loop_s* loop, ServerConfig config, std::vector<ProjectConfig> projects);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Builds the backends and opens every listener. Returns an error text.
  std::optional<std::string> start();
  // Closes the listeners and every connection; the loop then runs dry.
  void stop();

  uv_loop_s* loop() const { return loop_; }
  const Limits& limits() const { return config_.limits; }

  Route route(const Request& request, const ListenerConfig& listener) const;
  Backend& backend(size_t project) { return *projects_[project].backend; }
  const std::string& project_name(size_t project) const { return projects_[project].name; }
  std::string index_page(std::string_view script_name) const;

  size_t connection_count() const { return connections_.size(); }
  void adopt(std::unique_ptr<Connection> connection);
  // Called by a connection whose socket has closed; frees it later.
  void release(Connection* connection);

 private:
  uv_loop_s* loop_;
  ServerConfig config_;
  std::vector<ProjectConfig> project_configs_;
  std::vector<Project> projects_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<Connection*> connections_;  // owned; deleted in release()
  bool stopping_ = false;
};

}  // namespace gw
