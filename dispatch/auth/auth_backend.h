// Authentication in front of a project's backend.
#pragma once

#include <memory>

#include "dispatch/auth/auth_options.h"
#include "dispatch/backend.h"

namespace gw {

// Wraps `inner` so that requests in `options.scope` must authenticate first.
std::unique_ptr<Backend> wrap_auth(std::unique_ptr<Backend> inner, const AuthOptions& options);

}  // namespace gw
