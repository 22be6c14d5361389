#include "gateway/startup.h"

#include <algorithm>

#include "gateway/cgi_mode.h"
#include "gateway/listener.h"

namespace gw {

namespace {

// With no listener named, how the process was started decides: a web server
// that spawned us handed its socket on fd 0 (lighttpd bin-path, mod_fcgid,
// spawn-fcgi: FastCGI, as the spec says), a CGI environment means one
// request, and otherwise HTTP on port 80 as tracd does.
void choose_listener(Startup& s) {
  ServerConfig& config = s.config;
  // Status listeners (--status-listen) never stand in for the listener
  // that serves the projects.
  const auto serving = std::count_if(config.listeners.begin(), config.listeners.end(),
                                     [](const ListenerConfig& l) { return !l.status; });
  if (s.cli.protocol_given && !s.cli.address_given && serving == 1 && fd0_is_listening_socket()) {
    // Spawned with the socket on fd 0 and only a --protocol: serve fd 0.
    config.listeners[0].inherited_fd0 = true;
    config.listeners[0].host.clear();
    config.listeners[0].port = 0;
  }
  if (serving != 0) return;
  ListenerConfig l;
  if (fd0_is_listening_socket()) {
    l.protocol = Protocol::FastCgi;
    l.inherited_fd0 = true;
  } else if (cgi_environment_present()) {
    s.cgi_mode = true;
    return;
  } else {
    l.protocol = Protocol::Http;
    l.port = 80;
  }
  config.listeners.insert(config.listeners.begin(), l);
}

}  // namespace

std::optional<ConfigError> load_startup(const std::vector<std::string>& args, EnvLookup env,
                                        Startup& out) {
  out = Startup{};
  std::vector<const char*> argv = {"gatewayd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  if (auto err = parse_cli(static_cast<int>(argv.size()), argv.data(), env, out.cli)) return err;
  if (out.cli.action != CliResult::Action::Run) return std::nullopt;
  out.config = out.cli.config;
  if (!out.cli.config_file.empty()) {
    if (auto err = load_config_file(out.cli.config_file, out.config)) return err;
  }
  choose_listener(out);
  if (auto err = validate(out.config)) return err;
  if (auto err = load_projects(out.config, out.projects)) return err;
  if (!out.config.index_template.empty()) {
    IndexTemplate parsed;
    if (auto err = load_index_template(out.config.index_template, parsed)) {
      return ConfigError{"--index-template", *err};
    }
    out.index_template = std::move(parsed);
  }
  return std::nullopt;
}

}  // namespace gw
