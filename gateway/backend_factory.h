// Builds the backend chain of a project from its ProjectConfig:
//   auth -> static mounts -> X-Sendfile -> the app backend
// where the app backend is static, echo, http, fastcgi, scgi or cgi, and
// spawned app processes stand behind it when "spawn" is set.
#pragma once

#include <memory>

#include "dispatch/backend.h"
#include "gateway/config.h"

struct uv_loop_s;

namespace gw {

// The plain backend of `backend` (no spawn, auth or mounts).
std::unique_ptr<Backend> make_app_backend(uv_loop_s* loop, const std::string& project_name,
                                          const BackendConfig& backend);

// The whole chain for `project`.
std::unique_ptr<Backend> make_project_backend(uv_loop_s* loop, const ProjectConfig& project);

}  // namespace gw
