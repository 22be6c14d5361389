// The open-file limit, raised at startup so that limits.max_connections can
// be reached: a service manager's default soft limit (1024 under systemd) is
// below the default of 4096 connections, and libuv has no select() that a
// large descriptor number would break.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace gw {

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns a warning when
// even that leaves too few descriptors for `max_connections` connections
// (plus some for listeners, logs and backends); nullopt otherwise.
std::optional<std::string> raise_fd_limit(size_t max_connections);

}  // namespace gw
