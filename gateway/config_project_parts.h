// Internal to the project.json loader (config_project.cpp): the readers of
// its optional top-level sections, each in a file of its own.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/config_json.h"

namespace gw {

// "spawn" (config_spawn.cpp). `backend` is already read: its type decides
// what the spawned app must speak.
std::optional<ConfigError> read_spawn(const config_json::Obj& top, const std::string& dir,
                                      const BackendConfig& backend,
                                      std::optional<SpawnOptions>& out);

// "auth" (config_auth.cpp).
std::optional<ConfigError> read_auth(const config_json::Obj& top, const std::string& dir,
                                     std::optional<AuthOptions>& out);

// "static" and "sendfile" (config_files.cpp).
std::optional<ConfigError> read_static_mounts(const config_json::Obj& top, const std::string& dir,
                                              std::vector<StaticMount>& out);
std::optional<ConfigError> read_sendfile(const config_json::Obj& top, const std::string& dir,
                                         SendfileOptions& out);

}  // namespace gw
