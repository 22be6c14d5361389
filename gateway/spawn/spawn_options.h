// "spawn" in project.json: app processes gatewayd starts and supervises for
// a project's fastcgi, scgi or http backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/request.h"

namespace gw {

struct SpawnOptions {
  enum class Listen {
    Fd0,   // gatewayd binds a unix socket per instance and passes it as fd 0
    Unix,  // the app binds the unix socket named by {socket}
    Port,  // the app binds 127.0.0.1:{port}
  };
  // argv; placeholders {port}, {socket}, {project} (directory), {name},
  // {instance}. command[0] is absolute or relative to the project directory.
  std::vector<std::string> command;
  Listen listen = Listen::Fd0;
  uint32_t processes = 1;
  std::vector<Header> env;            // the app's environment (placeholders allowed)
  std::vector<std::string> pass_env;  // names copied from gatewayd's own environment
  std::string cwd;                    // absolute; the project directory by default
  std::string user, group;            // when gatewayd runs as root
  uint64_t max_requests = 0;          // recycle an instance after this many (0: never)
  bool on_demand = false;             // start on the first request
  uint32_t idle_timeout_ms = 0;       // on_demand: stop after this long without requests
  uint32_t start_timeout_ms = 10000;  // Unix/Port: how long the app may take to listen
  uint32_t stop_timeout_ms = 5000;    // SIGTERM, then SIGKILL after this long
  uint32_t backoff_initial_ms = 250;  // first respawn delay, doubled per failure
  uint32_t backoff_max_ms = 30000;
  uint32_t give_up_after = 5;  // failed starts in a row before giving up

  bool operator==(const SpawnOptions&) const = default;
};

}  // namespace gw
