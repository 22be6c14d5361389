// What the single-process daemon does on its signals: SIGHUP reloads the
// configuration and the projects, SIGQUIT and SIGTERM stop gracefully,
// SIGINT stops at once, SIGUSR1 reopens the log files.
//
// A reload reads everything again exactly as a start would (load_startup
// with the same arguments), so that what a reload accepts is what a restart
// (and --check-config) would accept, in the same words. A broken new
// configuration is logged and the running one stays.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/startup.h"

namespace gw {

class Observability;
class Server;

// The settings a reload cannot apply (the process has already become what
// they say): one line for each that differs, "user: needs a restart
// (running: 'a', new: 'b')".
std::vector<std::string> restart_only_changes(const ServerConfig& running,
                                              const ServerConfig& next);

class Lifecycle {
 public:
  // `started`: the configuration the process started with (what the
  // restart-only settings still are). `observability` may be null.
  Lifecycle(Server& server, Observability* observability, std::vector<std::string> args,
            EnvLookup env, const ServerConfig& started);

  // Run on every reloaded Startup before it is applied, as main runs it at
  // start (e.g. to give listeners the sockets systemd passed). Returns why
  // the Startup cannot be used, or nullopt.
  using Prepare = std::function<std::optional<std::string>(Startup&)>;
  void set_prepare(Prepare prepare) { prepare_ = std::move(prepare); }

  // SIGHUP. Returns why nothing was applied (also logged), or nullopt.
  std::optional<std::string> reload();
  // SIGQUIT, SIGTERM: with the running --graceful-timeout.
  void stop_gracefully();
  // SIGINT.
  void stop_now();
  // SIGUSR1: the error log, then the access logs.
  void reopen_logs();

 private:
  Server& server_;
  Observability* observability_;
  std::vector<std::string> args_;
  EnvLookup env_;
  ServerConfig started_;
  Prepare prepare_;
};

}  // namespace gw
