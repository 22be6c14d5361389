// X-Sendfile and X-Accel-Redirect answers from a backend.
#pragma once

#include <memory>

#include "dispatch/backend.h"
#include "dispatch/backends/mount_options.h"

namespace gw {

// Wraps `inner` so that its X-Sendfile / X-Accel-Redirect answers are
// served or handed on as `options` say.
std::unique_ptr<Backend> wrap_sendfile(std::unique_ptr<Backend> inner,
                                       const SendfileOptions& options);

}  // namespace gw
