// raise_fd_limit: the soft open-file limit goes up to the hard one, and a
// hard limit too low for limits.max_connections is reported.
#include "gateway/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <string>

#include <doctest/doctest.h>

namespace gw {

TEST_CASE("fd limit: the soft limit is raised to the hard limit") {
  struct rlimit before {};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &before) == 0);
  struct rlimit lowered = before;
  lowered.rlim_cur = std::min<rlim_t>(512, before.rlim_max);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  CHECK_FALSE(raise_fd_limit(100).has_value());
  struct rlimit after {};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &after) == 0);
  CHECK(after.rlim_cur == before.rlim_max);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &before) == 0);
}

TEST_CASE("fd limit: a hard limit below max_connections is named in the warning") {
  struct rlimit rl {};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_max == RLIM_INFINITY) return;  // nothing can be too low
  auto warning = raise_fd_limit(static_cast<size_t>(rl.rlim_max));
  REQUIRE(warning.has_value());
  CHECK(warning->find("limits.max_connections (" + std::to_string(rl.rlim_max) + ")") !=
        std::string::npos);
  CHECK(warning->find("open file limit " + std::to_string(rl.rlim_max)) == 0);
}

}  // namespace gw
