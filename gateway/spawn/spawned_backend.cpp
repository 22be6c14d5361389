// Placeholder: replaced by the supervised backend.
#include "gateway/spawn/spawned_backend.h"

namespace gw {

std::unique_ptr<Backend> make_spawned_backend(uv_loop_s*, const ProjectConfig& project,
                                              InstanceBackendFactory make_instance_backend) {
  return make_instance_backend(project.backend);
}

}  // namespace gw
