#include "gateway/fd_limit.h"

#include <sys/resource.h>

namespace gw {

namespace {

// Listening sockets, log files, backend connections and pipes of CGI
// scripts need descriptors beside the clients'.
constexpr rlim_t kSpare = 256;

}  // namespace

std::optional<std::string> raise_fd_limit(size_t max_connections) {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return std::nullopt;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const rlim_t want = static_cast<rlim_t>(max_connections) + kSpare;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return std::nullopt;
  return "open file limit " + std::to_string(rl.rlim_cur) + " is below limits.max_connections (" +
         std::to_string(max_connections) + ") + " + std::to_string(kSpare) +
         ": connections past it fail to be accepted; raise the hard limit (LimitNOFILE= in the "
         "systemd unit, ulimit -Hn) or lower limits.max_connections";
}

}  // namespace gw
