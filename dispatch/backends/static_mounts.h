// Static mounts served before a project's backend: "/chrome/common" -> a
// directory, as Trac's htdocs or an app's assets, without a trip to the app.
#pragma once

#include <memory>
#include <vector>

#include "dispatch/backend.h"
#include "dispatch/backends/mount_options.h"

namespace gw {

// Wraps `inner`: a request whose path_info is a mount's prefix or lies below
// it at a segment boundary ("/chrome/common/x", not "/chrome/commonx") is
// served from that mount's directory by a StaticBackend (index.html for a
// directory), with script_name extended by the prefix and path_info the
// rest; the longest prefix wins. Every other request goes to `inner`.
// Prefixes must be normalised (config_files.cpp does it). No mounts:
// returns `inner`.
std::unique_ptr<Backend> wrap_static_mounts(std::unique_ptr<Backend> inner,
                                            const std::vector<StaticMount>& mounts);

}  // namespace gw
