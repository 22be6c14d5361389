// Static mounts served before a project's backend.
#pragma once

#include <memory>
#include <vector>

#include "dispatch/backend.h"
#include "dispatch/backends/mount_options.h"

namespace gw {

// Wraps `inner`: a request whose path_info lies below one of `mounts` is
// served from that directory; every other goes to `inner`.
std::unique_ptr<Backend> wrap_static_mounts(std::unique_ptr<Backend> inner,
                                            const std::vector<StaticMount>& mounts);

}  // namespace gw
