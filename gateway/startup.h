// Everything gatewayd learns before it serves: the command line, the config
// file, the projects and the index template, checked. main reads it once at
// start; a SIGHUP reads it again from the same arguments, so that a reload
// sees exactly what a restart would.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dispatch/index_template.h"
#include "gateway/config.h"

namespace gw {

struct Startup {
  CliResult cli;  // the command line's own result (action, flags given)
  ServerConfig config;
  std::vector<ProjectConfig> projects;
  std::optional<IndexTemplate> index_template;
  // No listener and a CGI environment: answer one request as a CGI program.
  bool cgi_mode = false;
};

// Parses `args` (argv without argv[0]), merges the config file, picks the
// listener when none is named (fd 0 when it is a listening socket, else
// HTTP on port 80), validates, loads the projects and the index template.
// For --help and --version only `cli` is filled. `env` as in parse_cli.
std::optional<ConfigError> load_startup(const std::vector<std::string>& args, EnvLookup env,
                                        Startup& out);

}  // namespace gw
