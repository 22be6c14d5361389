#include "gateway/server.h"

#include <uv.h>

#include <exception>
#include <map>

#include "gateway/backend_factory.h"
#include "gateway/connection.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls.h"
#include "gateway/listener.h"
#include "gateway/listener_plan.h"
#include "gateway/log.h"

namespace gw {

namespace {

void log_project(const ProjectConfig& pc) {
  log::info("project " + pc.name + " (" + pc.backend.type + ") from " + pc.dir);
}

}  // namespace

std::string ReloadPlan::summary() const {
  return "added " + name_list(added) + "; changed " + name_list(changed) + "; removed " +
         name_list(removed) + "; kept " + name_list(kept);
}

ReloadPlan plan_reload(const std::vector<ProjectConfig>& running,
                       const std::vector<ProjectConfig>& next) {
  std::map<std::string_view, const ProjectConfig*> old_by_name;
  for (const auto& pc : running) old_by_name.emplace(pc.name, &pc);
  std::map<std::string_view, bool> in_next;
  ReloadPlan plan;
  for (const auto& pc : next) {
    in_next.emplace(pc.name, true);
    auto it = old_by_name.find(pc.name);
    if (it == old_by_name.end()) {
      plan.added.push_back(pc.name);
    } else if (*it->second == pc) {
      plan.kept.push_back(pc.name);
    } else {
      plan.changed.push_back(pc.name);
    }
  }
  for (const auto& pc : running) {
    if (!in_next.contains(pc.name)) plan.removed.push_back(pc.name);
  }
  return plan;
}

Server::Server(uv_loop_t* loop, ServerConfig config, std::vector<ProjectConfig> projects,
               std::optional<IndexTemplate> index_template)
    : loop_(loop),
      config_(std::move(config)),
      project_configs_(std::move(projects)),
      index_template_(std::move(index_template)) {}

Server::~Server() {
  stop();
  for (auto& [c, open] : connections_) delete c;
}

size_t Server::requests_in_flight() const {
  size_t n = 0;
  for (const auto& [c, open] : connections_) n += c->requests_in_flight();
  return n;
}

Project Server::build(const ProjectConfig& pc) {
  Project p;
  p.name = pc.name;
  p.description = pc.description;
  p.dir = pc.dir;
  p.backend = share_backend(make_project_backend(loop_, pc));
  return p;
}

std::optional<std::string> Server::start() {
  if (!index_template_ && !config_.index_template.empty()) {
    IndexTemplate t;
    if (auto err = load_index_template(config_.index_template, t))
      return "--index-template " + *err;
    index_template_ = std::move(t);
  }
  started_ = true;
  for (const auto& pc : project_configs_) {
    projects_.push_back(build(pc));
    names_.push_back(pc.name);
    log_project(pc);
  }
  for (const auto& lc : config_.listeners) {
    auto listener = std::make_unique<Listener>(*this, lc);
    if (auto err = listener->open(config_.umask)) return err;
    listeners_.push_back(std::move(listener));
  }
  return std::nullopt;
}

void Server::shutdown_backends() {
  if (backends_down_) return;
  backends_down_ = true;
  for (auto& p : projects_) p.backend->shutdown();
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (draining_) {
    draining_ = false;
    drain_timer_.reset();
    size_t cut = requests_in_flight();
    log::warn("graceful stop: " + std::to_string(cut) + " request" + (cut == 1 ? "" : "s") +
              " still in flight after " + std::to_string(uv_now(loop_) - drain_started_ms_) +
              " ms: cut");
  }
  for (auto& l : listeners_) l->close();
  std::vector<Connection*> live = live_connections();
  for (Connection* c : live) c->close(false);
  shutdown_backends();
}

void Server::stop_gracefully(uint64_t timeout_ms) {
  if (stopping_) return;
  stopping_ = true;
  draining_ = true;
  drain_started_ms_ = uv_now(loop_);
  for (auto& l : listeners_) l->close();
  size_t requests = requests_in_flight();
  log::info("graceful stop: " + std::to_string(requests) + " request" + (requests == 1 ? "" : "s") +
            " in flight on " + std::to_string(connections_.size()) + " connection" +
            (connections_.size() == 1 ? "" : "s") + "; waiting up to " +
            std::to_string(timeout_ms) + " ms");
  std::vector<Connection*> live = live_connections();
  for (Connection* c : live) c->drain();
  if (connections_.empty()) {
    finish_drain();
    return;
  }
  drain_timer_ = std::make_unique<io::Timer>(loop_);
  drain_timer_->start(timeout_ms, [this] { stop(); });
}

void Server::finish_drain() {
  draining_ = false;
  stopped_ = true;  // nothing is left to cut
  drain_timer_.reset();
  log::info("graceful stop: every request has finished, after " +
            std::to_string(uv_now(loop_) - drain_started_ms_) + " ms");
  shutdown_backends();
}

std::optional<std::string> Server::reload_index_template() {
  if (config_.index_template.empty()) return std::nullopt;
  IndexTemplate t;
  if (auto err = load_index_template(config_.index_template, t)) {
    std::string why = "--index-template " + *err;
    log::error("reload: keeping the running index template: " + why);
    return why;
  }
  index_template_ = std::move(t);
  return std::nullopt;
}

std::optional<std::string> Server::build_projects(const std::vector<ProjectConfig>& next,
                                                  std::vector<Project>& out) {
  std::map<std::string_view, size_t> running;
  for (size_t i = 0; i < project_configs_.size(); ++i) running.emplace(project_configs_[i].name, i);
  out.clear();
  try {
    for (const auto& pc : next) {
      auto it = running.find(pc.name);
      if (it != running.end() && project_configs_[it->second] == pc) {
        out.push_back(projects_[it->second]);  // the very same backend object
      } else {
        out.push_back(build(pc));
        log_project(pc);
      }
    }
  } catch (const std::exception& e) {
    // Backends built so far are dropped with `out`.
    out.clear();
    return std::string("building the new projects failed: ") + e.what();
  }
  return std::nullopt;
}

ReloadPlan Server::commit_projects(std::vector<ProjectConfig> next, std::vector<Project> built) {
  ReloadPlan plan = plan_reload(project_configs_, next);
  // Swapped in at once: the retired backends are released when `built`
  // (now the old set) goes out of scope, each destroyed there unless
  // requests still hold it.
  projects_.swap(built);
  names_.clear();
  for (const auto& pc : next) names_.push_back(pc.name);
  project_configs_ = std::move(next);
  return plan;
}

std::optional<std::string> Server::reload(ReloadPlan* applied) {
  if (stopping_ || !started_) return "the server is not running";
  std::string errors = reload_index_template().value_or("");

  std::vector<ProjectConfig> next;
  if (auto err = load_projects(config_, next)) {
    std::string why = err->message();
    log::error("reload: keeping the running projects: " + why);
    return errors.empty() ? why : errors + "; " + why;
  }
  if (config_.single_env && next.size() != 1) {
    std::string why = "a single project must be configured, found " + std::to_string(next.size());
    log::error("reload: keeping the running projects: " + why);
    return errors.empty() ? why : errors + "; " + why;
  }
  std::vector<Project> built;
  if (auto why = build_projects(next, built)) {
    log::error("reload: keeping the running projects: " + *why);
    return errors.empty() ? *why : errors + "; " + *why;
  }
  ReloadPlan plan = commit_projects(std::move(next), std::move(built));
  log::info("reload: " + plan.summary());
  if (applied) *applied = std::move(plan);
  if (errors.empty()) return std::nullopt;
  return errors;
}

std::optional<std::string> Server::reload(Startup next, ReloadPlan* applied,
                                          ListenerPlan* listeners_applied) {
  if (stopping_ || !started_) return "the server is not running";
  std::vector<ListenerConfig>& specs = next.config.listeners;
  if (!next.index_template && !next.config.index_template.empty()) {
    IndexTemplate t;
    if (auto err = load_index_template(next.config.index_template, t)) {
      return "--index-template " + *err;
    }
    next.index_template = std::move(t);
  }
  ListenerPlan lplan = plan_listeners(config_.listeners, specs);

  // Everything that can fail comes first, while the running state is
  // untouched: certificates (read again for kept sockets too, so that a
  // renewed certificate applies), new sockets, new backends.
  std::vector<std::unique_ptr<io::TlsContext>> tls(specs.size());
  std::vector<std::unique_ptr<Listener>> opened(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!lplan.source[i]) continue;
    if (auto err = load_listener_tls(specs[i], tls[i])) return err;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (lplan.source[i]) continue;
    opened[i] = std::make_unique<Listener>(*this, specs[i]);
    // On failure the new sockets opened so far close with `opened`.
    if (auto err = opened[i]->open(next.config.umask)) return err;
  }
  std::vector<Project> built;
  if (auto err = build_projects(next.projects, built)) return err;

  // Commit: nothing below fails.
  std::vector<std::unique_ptr<Listener>> listeners(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (lplan.source[i]) {
      listeners[i] = std::move(listeners_[*lplan.source[i]]);
      listeners[i]->reconfigure(specs[i], std::move(tls[i]));
    } else {
      listeners[i] = std::move(opened[i]);
    }
  }
  for (size_t j : lplan.closed) {
    // Connections it accepted keep its settings (shared) and finish.
    log::info("reload: closing " + listeners_[j]->describe());
    listeners_[j]->close();
  }
  listeners_ = std::move(listeners);
  ReloadPlan plan = commit_projects(std::move(next.projects), std::move(built));
  index_template_ = std::move(next.index_template);
  config_ = std::move(next.config);
  log::info("reload: listeners: " + lplan.summary());
  log::info("reload: " + plan.summary());
  if (applied) *applied = std::move(plan);
  if (listeners_applied) *listeners_applied = std::move(lplan);
  return std::nullopt;
}

Route Server::route(const Request& request, const ListenerConfig& listener) const {
  const auto& base = listener.base_path ? listener.base_path : config_.base_path;
  return route_request(request, names_, config_.single_env, base);
}

std::string Server::index_page(std::string_view script_name) const {
  std::vector<ProjectSummary> list;
  for (const auto& p : projects_) list.push_back({p.name, p.description});
  if (index_template_) return index_template_->render(list, script_name);
  return render_project_index(list, script_name);
}

void Server::adopt(std::unique_ptr<Connection> connection, std::shared_ptr<size_t> listener_open) {
  if (listener_open) ++*listener_open;
  connections_.emplace(connection.release(), std::move(listener_open));
}

size_t Server::connection_buffer_bytes() const {
  size_t bytes = 0;
  for (const auto& [connection, open] : connections_) bytes += connection->buffer_bytes();
  return bytes;
}

std::vector<Connection*> Server::live_connections() const {
  std::vector<Connection*> live;
  live.reserve(connections_.size());
  for (const auto& [c, open] : connections_) live.push_back(c);
  return live;
}

void Server::release(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  if (it->second) --*it->second;
  connections_.erase(it);
  io::defer(loop_, [connection] { delete connection; });
  if (draining_ && connections_.empty()) finish_drain();
}

}  // namespace gw
