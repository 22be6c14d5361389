// Access logs, request metrics, the slow-request log and the status
// listener's pages, wired to one Server: it becomes the Server's
// RequestObserver and status backend.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace gw {

class Server;

class Observability {
 public:
  virtual ~Observability() = default;

  // Opens the logs `config` and `projects` name and installs itself on
  // `server` (observer and status backend). Returns null and sets `error`
  // when a log cannot be opened.
  static std::unique_ptr<Observability> attach(Server& server, const ServerConfig& config,
                                               const std::vector<ProjectConfig>& projects,
                                               std::string& error);

  // SIGUSR1: reopen every log file (logrotate has moved them).
  virtual void reopen_logs() = 0;
  // SIGHUP: new log paths, formats and thresholds. Returns why the new
  // settings cannot be used (the running ones stay), or nullopt.
  virtual std::optional<std::string> reconfigure(const ServerConfig& config,
                                                 const std::vector<ProjectConfig>& projects) = 0;
};

}  // namespace gw
