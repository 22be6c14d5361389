// The supervised backend's public face: see spawned_backend.h. The work is
// done by SpawnCore (spawn_core.h).
#include "gateway/spawn/spawned_backend.h"

#include "gateway/spawn/spawn_core.h"

namespace gw {

std::string_view spawn_state_name(SpawnState state) {
  switch (state) {
    case SpawnState::Stopped:
      return "stopped";
    case SpawnState::Starting:
      return "starting";
    case SpawnState::Ready:
      return "ready";
    case SpawnState::Backoff:
      return "backoff";
    case SpawnState::GaveUp:
      return "gave-up";
  }
  return "?";
}

SpawnedBackend::SpawnedBackend(uv_loop_s* loop, const ProjectConfig& project,
                               InstanceBackendFactory factory, std::string launcher)
    : core_(std::make_unique<SpawnCore>(loop, project, std::move(factory), std::move(launcher))) {}

SpawnedBackend::~SpawnedBackend() = default;

std::unique_ptr<Exchange> SpawnedBackend::start(const Request& request, ResponseSink& sink) {
  return core_->start(request, sink);
}

std::string_view SpawnedBackend::kind() const {
  return core_->type();
}

void SpawnedBackend::shutdown() {
  core_->close();
}

SpawnStatus SpawnedBackend::status() const {
  return core_->status();
}

void SpawnedBackend::report(BackendReport& out) const {
  for (const SpawnInstanceStatus& i : core_->status().instances) {
    out.processes.push_back({i.index, i.pid, std::string(spawn_state_name(i.state)), i.address,
                             i.requests, i.in_flight, i.restarts});
  }
}

void SpawnedBackend::retry() {
  core_->retry();
}

std::unique_ptr<Backend> make_spawned_backend(uv_loop_s* loop, const ProjectConfig& project,
                                              InstanceBackendFactory make_instance_backend) {
  return std::make_unique<SpawnedBackend>(loop, project, std::move(make_instance_backend));
}

}  // namespace gw
