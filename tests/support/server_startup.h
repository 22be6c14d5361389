// A parent directory of projects for the tests that run a Server on a real
// loop, and the Startup (config and loaded projects) such a Server is made
// from, for a given set of listeners.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config.h"
#include "gateway/startup.h"
#include "tests/support/temp_dir.h"

namespace gw::test {

class ProjectsDir : public TempDir {
 public:
  // /tmp/gw-LABEL-XXXXXX, holding an echo project for each of `echo_projects`.
  explicit ProjectsDir(std::string_view label,
                       std::initializer_list<std::string> echo_projects = {})
      : TempDir(label) {
    for (const std::string& name : echo_projects) echo(name);
  }
  // Adds (or rewrites) the echo project `name`.
  void echo(const std::string& name) const {
    write(name + "/project.json", R"({"backend": {"type": "echo"}})");
  }
};

// A listener on 127.0.0.1:`port` (HTTP unless said otherwise).
inline ListenerConfig loopback_listener(uint16_t port, Protocol protocol = Protocol::Http) {
  ListenerConfig l;
  l.protocol = protocol;
  l.host = "127.0.0.1";
  l.port = port;
  return l;
}

// The projects of `dir` loaded for a Server with `listeners`; a project that
// does not load fails the test.
inline gw::Startup startup_for(const ProjectsDir& dir, std::vector<ListenerConfig> listeners) {
  gw::Startup s;
  s.config.env_parent_dir = dir.path();
  s.config.listeners = std::move(listeners);
  auto err = gw::load_projects(s.config, s.projects);
  if (err) FAIL("load_projects: " << err->message());
  return s;
}

}  // namespace gw::test
