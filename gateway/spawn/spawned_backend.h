// A backend whose app processes gatewayd starts and supervises.
#pragma once

#include <functional>
#include <memory>

#include "dispatch/backend.h"
#include "gateway/config.h"

struct uv_loop_s;

namespace gw {

// Builds the plain backend for one app instance from the project's
// BackendConfig with `upstream` filled in for that instance.
using InstanceBackendFactory = std::function<std::unique_ptr<Backend>(const BackendConfig&)>;

// The backend of a project with "spawn": starts and watches its instances
// and spreads requests over them.
std::unique_ptr<Backend> make_spawned_backend(uv_loop_s* loop, const ProjectConfig& project,
                                              InstanceBackendFactory make_instance_backend);

}  // namespace gw
