// Internal to the supervised backend (spawn_core.cpp, spawned_exchange.h,
// spawned_backend.cpp): the instance slots and their processes ("runs"),
// and the requests waiting for a ready one. See spawned_backend.h for the
// behaviour.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "gateway/spawn/app_address.h"
#include "gateway/spawn/app_process.h"
#include "gateway/spawn/spawned_backend.h"

namespace gw {

class SpawnCore;

// One process of an instance slot and the inner backend that reaches it.
// Exchanges share it, so it outlives the core's interest in it; `core` is
// null from then on.
struct Run {
  enum class Phase { Starting, Ready, Draining, Stopping };
  SpawnCore* core = nullptr;
  uint32_t slot = 0;
  uint64_t number = 0;               // per backend, for socket names
  AppProcess* process = nullptr;     // frees itself after release()
  std::unique_ptr<Backend> backend;  // the instance's fastcgi/scgi/http backend
  std::string upstream;
  std::string socket_path;  // fd0, unix: removed when the run ends
  Phase phase = Phase::Starting;
  int pid = 0;
  uint64_t requests = 0;
  uint64_t served = 0;  // requests that got a response head
  uint32_t in_flight = 0;
  std::chrono::steady_clock::time_point started;
  std::unique_ptr<io::Timer> probe_timer;
  std::shared_ptr<io::Stream::PendingConnect> probe;
};

// Closes the run's idle connections first, then sends SIGTERM: php-cgi
// ignores SIGTERM while it waits on an open connection (a kept-alive one).
void stop_run(Run& run);

class SpawnedExchange;

class SpawnCore {
 public:
  SpawnCore(uv_loop_s* loop, const ProjectConfig& project, InstanceBackendFactory factory,
            std::string launcher)
      : loop_(loop),
        name_(project.name),
        dir_(project.dir),
        backend_config_(project.backend),
        options_(*project.spawn),
        factory_(std::move(factory)),
        launcher_(std::move(launcher)),
        kick_timer_(loop),
        idle_timer_(loop),
        live_(std::make_shared<size_t>(0)) {
    slots_.resize(std::max<uint32_t>(options_.processes, 1));
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      slots_[i].index = i;
      slots_[i].backoff_timer = std::make_unique<io::Timer>(loop);
    }
    // Started on the loop, after gatewayd dropped its privileges.
    if (!options_.on_demand) kick_timer_.start(0, [this] { start_all(); });
  }
  ~SpawnCore() { close(); }

  uv_loop_s* loop() const { return loop_; }
  const std::string& type() const { return backend_config_.type; }
  const SpawnOptions& options() const { return options_; }

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink);
  void close();
  SpawnStatus status() const;
  void retry();

  // From SpawnedExchange.
  void remove_waiting(SpawnedExchange* exchange);
  void on_request_done(Run& run);

 private:
  struct Slot {
    uint32_t index = 0;
    std::shared_ptr<Run> current;
    std::vector<std::shared_ptr<Run>> retiring;  // draining or stopping
    uint32_t failures = 0;                       // failed starts in a row
    uint32_t restarts = 0;
    uint64_t requests = 0;
    bool gave_up = false;
    bool backoff_pending = false;
    std::unique_ptr<io::Timer> backoff_timer;
  };

  std::string tag(uint32_t slot) const {
    return "project " + name_ + " instance " + std::to_string(slot);
  }
  bool all_gave_up() const {
    return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.gave_up; });
  }
  uint32_t total_in_flight() const;

  void start_all();
  void start_slot(uint32_t index);
  bool prepare_dir(std::string& error);
  void set_ready(const std::shared_ptr<Run>& run);
  void probe(const std::shared_ptr<Run>& run);
  void on_run_exit(const std::shared_ptr<Run>& run, int64_t exit_status, int term_signal);
  void on_start_failed(uint32_t index, const std::string& why);
  void detach(const std::shared_ptr<Run>& run);
  void retire(Slot& slot);
  void stop_all_for_idle();
  void arm_idle_timer();
  Run* pick();
  void dispatch(SpawnedExchange& exchange, const Request& request, Run& run);
  void drain_waiting();
  void fail_waiting(int status, const std::string& why);

  uv_loop_s* loop_;
  std::string name_;
  std::string dir_;
  BackendConfig backend_config_;
  SpawnOptions options_;
  InstanceBackendFactory factory_;
  std::string launcher_;
  std::vector<Slot> slots_;
  std::list<SpawnedExchange*> waiting_;
  std::unique_ptr<RuntimeDir> runtime_dir_;
  io::Timer kick_timer_;
  io::Timer idle_timer_;
  std::shared_ptr<size_t> live_;  // AppProcess objects not yet freed
  uint64_t run_counter_ = 0;
  uint32_t cursor_ = 0;   // round robin among equally loaded instances
  bool running_ = false;  // instances are (to be) kept running
  bool closed_ = false;
  bool draining_queue_ = false;
};

}  // namespace gw
