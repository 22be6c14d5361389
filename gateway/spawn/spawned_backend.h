// A backend whose app processes gatewayd starts and supervises ("spawn" in
// project.json).
//
// Instances: `processes` slots, each running one app process at a time with
// an address of its own and its own inner backend (fastcgi, scgi or http,
// built by the InstanceBackendFactory for that address):
//  * listen fd0: gatewayd binds a unix socket in a private runtime directory
//    and hands the listening socket to the app as fd 0 (FastCGI's own
//    convention); the instance is ready as soon as it runs.
//  * listen unix / port: the app binds {socket} / 127.0.0.1:{port} itself;
//    the instance is ready once a connect succeeds (probed every 50 ms for
//    at most start_timeout_ms).
// Processes start through gatewayd's launcher (app_launcher.h): they end
// when gatewayd ends, even by SIGKILL. Each is a process group of its own;
// stopping one is SIGTERM to the group and SIGKILL stop_timeout_ms later.
// Their stdout and stderr go to the error log line by line.
//
// Requests go to the ready instance with the fewest requests in flight
// (round robin among equals). While none is ready they wait, at most
// kMaxWaiting of them and at most start_timeout_ms each, then get 503.
//
// Respawn: an instance whose process exits is started again, at once after
// a normal end, after backoff_initial_ms doubling up to backoff_max_ms after
// a failed start (the process could not start, did not listen in time,
// exited before it answered a request, or exited with an error within a
// second). After give_up_after failed starts in a row (0: never) the
// instance gives up; when every instance has, requests get 503 at once
// until retry() or a reload.
//
// max_requests: an instance that was sent that many requests gets no more;
// a new process takes its place at once and the old one is stopped when its
// last request ends. on_demand: nothing starts before the first request;
// with idle_timeout_ms the instances stop after that long without requests
// and start again with the next one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/backend.h"
#include "gateway/config.h"

struct uv_loop_s;

namespace gw {

// Builds the plain backend for one app instance from the project's
// BackendConfig with `upstream` filled in for that instance.
using InstanceBackendFactory = std::function<std::unique_ptr<Backend>(const BackendConfig&)>;

enum class SpawnState {
  Stopped,   // not started (on_demand, idle) or stopped
  Starting,  // running, not yet listening (unix, port)
  Ready,     // takes requests
  Backoff,   // waiting to start again after a failure
  GaveUp,    // too many failed starts in a row
};
std::string_view spawn_state_name(SpawnState state);

struct SpawnInstanceStatus {
  uint32_t index = 0;
  SpawnState state = SpawnState::Stopped;
  int pid = 0;             // the current process, 0 when none
  std::string address;     // its upstream: "unix:/tmp/gatewayd-x/0-1.sock", "127.0.0.1:4711"
  uint64_t requests = 0;   // sent to this instance, all its processes together
  uint32_t in_flight = 0;  // requests running, on the current and retiring processes
  uint32_t restarts = 0;   // processes started after the first
  uint32_t failures = 0;   // failed starts in a row
  uint32_t retiring = 0;   // older processes finishing their requests or stopping
};

struct SpawnStatus {
  bool gave_up = false;  // every instance gave up: requests get 503
  bool stopped = false;  // shutdown() ran
  size_t waiting = 0;    // requests waiting for a ready instance
  size_t processes = 0;  // app processes not yet reaped, stopping ones included
  std::vector<SpawnInstanceStatus> instances;
};

class SpawnCore;

class SpawnedBackend final : public Backend {
 public:
  // Requests waiting for a ready instance; more get 503.
  static constexpr size_t kMaxWaiting = 1024;

  // Nothing starts inside the constructor: instances start on the loop's
  // next turn (after gatewayd dropped its privileges), or with the first
  // request for on_demand. `launcher`: the gatewayd executable that runs in
  // launcher mode (tests name the built one).
  SpawnedBackend(uv_loop_s* loop, const ProjectConfig& project, InstanceBackendFactory factory,
                 std::string launcher = "/proc/self/exe");
  // Stops every instance as shutdown() does; processes still stopping free
  // themselves once they are gone (the loop must keep running until then).
  ~SpawnedBackend() override;

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override;
  // Stops every instance (SIGTERM, SIGKILL after stop_timeout_ms), fails
  // the waiting requests with 503 and removes the runtime directory.
  void shutdown() override;

  SpawnStatus status() const;
  // Its instances' processes, and the upstream connections of each.
  void report(BackendReport& out) const override;
  // Leaves the give-up state: instances that gave up start again.
  void retry();

 private:
  std::unique_ptr<SpawnCore> core_;
};

// The backend of a project with "spawn": a SpawnedBackend.
std::unique_ptr<Backend> make_spawned_backend(uv_loop_s* loop, const ProjectConfig& project,
                                              InstanceBackendFactory make_instance_backend);

}  // namespace gw
