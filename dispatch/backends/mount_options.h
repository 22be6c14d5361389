// Files a project serves itself besides its backend: static mounts
// ("/chrome/common" -> a directory) and X-Sendfile / X-Accel-Redirect
// answers from the backend.
#pragma once

#include <string>
#include <vector>

namespace gw {

struct StaticMount {
  std::string prefix;  // normalised URL path below the project: "/chrome/common"
  std::string dir;     // absolute directory
  bool operator==(const StaticMount&) const = default;
};

struct SendfileOptions {
  enum class Mode {
    Off,    // the headers are passed to the client as any other
    Serve,  // gatewayd serves the named file from an allowed directory
    Pass,   // handed on to the front end in the form it understands
  };
  Mode mode = Mode::Off;
  std::vector<std::string> dirs;  // Serve: absolute directories files may come from
  bool operator==(const SendfileOptions&) const = default;
};

}  // namespace gw
