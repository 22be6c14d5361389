#include "gateway/server.h"

#include <uv.h>

#include "gateway/backend_factory.h"
#include "gateway/connection.h"
#include "gateway/io/timer.h"
#include "gateway/listener.h"
#include "gateway/log.h"

namespace gw {

Server::Server(uv_loop_t* loop, ServerConfig config, std::vector<ProjectConfig> projects)
    : loop_(loop), config_(std::move(config)), project_configs_(std::move(projects)) {}

Server::~Server() {
  stop();
  for (Connection* c : connections_) delete c;
}

std::optional<std::string> Server::start() {
  for (const auto& pc : project_configs_) {
    Project p;
    p.name = pc.name;
    p.description = pc.description;
    p.dir = pc.dir;
    p.backend = make_project_backend(loop_, pc);
    names_.push_back(pc.name);
    projects_.push_back(std::move(p));
    log::info("project " + pc.name + " (" + pc.backend.type + ") from " + pc.dir);
  }
  for (const auto& lc : config_.listeners) {
    auto listener = std::make_unique<Listener>(*this, lc);
    if (auto err = listener->open(config_.umask)) return err;
    listeners_.push_back(std::move(listener));
  }
  return std::nullopt;
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& l : listeners_) l->close();
  std::vector<Connection*> live(connections_.begin(), connections_.end());
  for (Connection* c : live) c->close(false);
  for (auto& p : projects_) p.backend->shutdown();
}

Route Server::route(const Request& request, const ListenerConfig& listener) const {
  const auto& base = listener.base_path ? listener.base_path : config_.base_path;
  return route_request(request, names_, config_.single_env, base);
}

std::string Server::index_page(std::string_view script_name) const {
  std::vector<ProjectSummary> list;
  for (const auto& p : projects_) list.push_back({p.name, p.description});
  return render_project_index(list, script_name);
}

void Server::adopt(std::unique_ptr<Connection> connection) {
  connections_.insert(connection.release());
}

void Server::release(Connection* connection) {
  if (connections_.erase(connection) == 0) return;
  io::defer(loop_, [connection] { delete connection; });
}

}  // namespace gw
