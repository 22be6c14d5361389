// Placeholder: replaced by the static mounts backend.
#include "dispatch/backends/static_mounts.h"

namespace gw {

std::unique_ptr<Backend> wrap_static_mounts(std::unique_ptr<Backend> inner,
                                            const std::vector<StaticMount>&) {
  return inner;
}

}  // namespace gw
